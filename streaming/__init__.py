"""seedstream streaming: the reference Spark Structured Streaming pipeline into Delta Lake.

Generic over the scenario contract (:mod:`streaming.contract`): topics, roles, fields, categories,
references and ground-truth counts come from the scenario's record models, so a new scenario needs
no code here beyond optional gold tables (:mod:`~streaming.gold`, pure DataFrame functions).

Modules: :mod:`~streaming.validation` (parse once, intrinsic checks), :mod:`~streaming.router`
(Spark's watermark applied to every event: ``late`` and deduplication), :mod:`~streaming.silver`
(the silver micro-batch: entity merges, references, appends), :mod:`~streaming.checks` (interval
checks as a watermark-closed aggregation), :mod:`~streaming.bronze`, :mod:`~streaming.tables` and
:mod:`~streaming.create` (where tables live, their creation), :mod:`~streaming.topics` (the
topics' partition counts), :mod:`~streaming.job` (the queries),
:mod:`~streaming.submit` (running them), :mod:`~streaming.observability`, :mod:`~streaming.session`,
:mod:`~streaming.javabuild` (the parser's and router's Java code, compiled once), :mod:`~streaming.catalog`
(tables by name), :mod:`~streaming.validate` and :mod:`~streaming.optimize` (``seedstream validate``
and ``optimize``).

Two queries, not one: ``silver`` (which also lands bronze) and ``checks``, in FAIR pools of one
session (plus the fault-label topic's bronze query when it exists). Measured on 2 cores
(``bench/bench_streaming.py``, README): the checks have their own checkpoint and trigger, so the
silver micro-batch — what freshness waits for — does not carry them; they read one consistent cut
(``checks/observations``, written by silver in one commit per micro-batch) and their watermark is
Spark's, visible in the UI. Bronze is appended by the silver micro-batch from the rows it already
read, on threads beside its other steps: a bronze query per topic with Delta's native sink read
Kafka a second time, and cost the 1 h and 4 h backfills more than these appends (README). One
query for everything would serialize the checks inside the silver ``foreachBatch``, the shape that
made micro-batches take tens of seconds. Silver stays one query over every
non-bronze topic because an event must see the entity published before it (same micro-batch or
earlier), which separate queries per topic cannot promise.

May import: ``producer.config``, ``producer.errors``, ``producer.datadir``, ``producer.generation``,
``producer.kafka.client``, ``producer.stack.jvm``. Only ``producer.cli`` imports this package.
"""
