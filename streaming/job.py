"""The streaming job: named queries over a scenario's topics, started, watched and drained together.

Queries (one Spark session, FAIR scheduler pools, each with its own checkpoint under ``D/checkpoints``):

- ``bronze-<label topic>``: the scenario's fault-label topic when it exists at start
  (``seedstream stream`` creates it; read by :mod:`streaming.score`): Kafka → Delta's native
  streaming sink (pool ``bronze``). The scenario's own topics are landed in bronze by the silver
  query (:mod:`streaming.bronze`).
- ``silver``: one Kafka source per event topic partition (``assign``; each capped by its share of
  ``max_offsets_per_trigger``, which so bounds each event topic per micro-batch; each read by
  :attr:`Pipeline.splits` tasks; each →
  :func:`streaming.validation.parse` → its own ``withWatermark``), then one uncapped source for the
  entity and ground-truth topics → :func:`streaming.router.routed` →
  :class:`streaming.silver.SilverWriter` (pool ``silver``, the heaviest weight), which also appends
  every record to its topic's bronze table. Spark's global
  watermark is the minimum of the partitions' (policy ``min``). Why: a capped source spreads a
  micro-batch over its partitions by backlog, not by event time, so the partitions of one source
  drift apart in event time, by hours over a week-long backlog; with one watermark per source the
  partition ahead made the others' records late (measured: 1,622 events ``late`` and 7 of 672
  intervals ``missing`` in 7 days of ``identity`` with a watermark per topic; 6,609 and 2 of 24
  in 6 hours with one watermark for all). Spark keeps one watermark per source, so the source is
  the partition, as Flink's per-partition watermarks. The price is Spark's: an event partition
  that has received nothing yet holds the watermark back, and a quiet one delays closing until
  its next event; the partition count is fixed for the life of the checkpoint (checked at start:
  :meth:`Pipeline.check_checkpoint`). The event sources'
  latest offsets are fetched before the entities' (sources are planned in plan order), and the
  producer acknowledges an entity before publishing events that reference it, so every entity an
  event of a micro-batch references is in that micro-batch or an earlier one.
- ``checks``: ``checks/observations`` → :func:`streaming.checks.streaming_checks` →
  :class:`streaming.checks.CheckWriter` (pool ``checks``).

The label bronze and checks queries run on a trigger twice as long as silver's, at least 30 s:
nothing waits on them, and on 2 cores their micro-batches otherwise take the CPU silver needs
(measured with ``bench/bench_freshness.py``: silver p50 freshness 14.9 s with them on 10 s, 12.8 s
on 30 s). ``--available-now`` runs bronze and silver to the end of what Kafka holds, then the
checks, then writes provisional checks for intervals the watermark has not closed.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from itertools import pairwise
from typing import TYPE_CHECKING

from pyspark.util import inheritable_thread_target

from producer.datadir import local_path
from producer.errors import BadInputError, SeedstreamError
from producer.generation.clock import format_duration
from producer.kafka.client import spark_kafka_options
from streaming import catalog, checks
from streaming.bronze import to_bronze
from streaming.contract import plan_for
from streaming.create import create_bronze_tables, create_silver_tables
from streaming.router import routed, watermarked
from streaming.score import QualityScoreWriter
from streaming.silver import SilverWriter
from streaming.tables import Tables
from streaming.topics import existing_topics, wait_for_topics
from streaming.validation import kafka_rows, parse

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from producer.config import SeedstreamConfig
    from producer.datadir import TableLocations
    from streaming.contract import TopicPlan

log = logging.getLogger(__name__)

SILVER = "silver"
CHECKS = "checks"
MIN_SIDE_TRIGGER = timedelta(seconds=30)
FETCH_MAX_WAIT_MS = 20
MAX_SPLITS = 8


def read_splits(sources: int, slots: int) -> int:
    """Tasks per event partition in the silver query's read stage, so that its tasks come in whole
    rounds of ``slots`` (the session's parallelism; :data:`MAX_SPLITS` at most).

    The stage reads, parses and shuffles every event, one task per source unless split, and the
    sources are the event partitions: 3 tasks on 2 cores ran as two rounds, the second with one
    core idle. Measured over 4 h of ``scaling`` (3 event partitions, ``local[2]``): the steady
    silver micro-batches' read-and-route step 5.1–5.4 s → 4.1–4.7 s per 200,000 events."""
    sources, slots = max(sources, 1), max(slots, 1)
    return min(slots // math.gcd(sources, slots), MAX_SPLITS)


def _sources(count: int) -> str:
    return f"{count} source{'' if count == 1 else 's'}"


def bronze_query_name(kafka_topic: str) -> str:
    return f"bronze-{kafka_topic}"


PYTHON_PROXY = "An exception was raised by the Python Proxy"
MAX_LINE = 400


def first_line(error: BaseException | str) -> str:
    """The line of a (Java) error a user reads; the rest goes to the log.

    A failure inside the silver ``foreachBatch`` arrives as py4j's "exception raised by the Python
    Proxy" followed by a Python traceback: the line that says what failed is the Java error after
    it (``: org.apache.spark.SparkException: …``), not the first."""
    text = str(error).strip()
    if not text:
        return repr(error)
    lines = text.splitlines()
    if lines[0].startswith(PYTHON_PROXY):
        java = [line.removeprefix(": ").strip() for line in lines if line.startswith(": ")]
        python = [line.strip() for line in lines if not line.startswith((" ", "\t")) and ": " in line]
        cause = java[0] if java else python[-1] if len(python) > 1 else lines[0]
        return cause if len(cause) <= MAX_LINE else cause[: MAX_LINE - 1] + "…"
    return lines[0]


@dataclass
class Pipeline:
    """The job's queries for one scenario, config and data dir."""

    spark: SparkSession
    config: SeedstreamConfig
    locations: TableLocations
    checks_log: Path | None = None
    partitions: Mapping[str, int] | None = None
    """Scenario topic name → its Kafka partition count; looked up on the broker when not given."""
    labels: bool | None = None
    """Whether the fault-label topic exists (then it is landed in bronze); looked up when not given."""
    queries: list[StreamingQuery] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.plan = plan_for(self.config)
        if self.partitions is None:
            counts = wait_for_topics(self.config, [topic.kafka_topic for topic in self.plan.topics])
            self.partitions = {topic.name: counts[topic.kafka_topic] for topic in self.plan.topics}
        if self.labels is None:
            self.labels = bool(existing_topics(self.config, [self.plan.labels_topic]))
        self.tables = Tables(self.spark, self.plan, self.locations, self.config.streaming.catalog)
        self.log = checks.CheckLog(self.checks_log)
        self.silver_writer = SilverWriter(self.spark, self.plan, self.tables)
        self.names = catalog.Names(self.spark, self.tables)

    # -- sources and queries --------------------------------------------------------------------

    def _kafka(
        self, topics: list[str], capped: bool, headers: bool = False, partition: int | None = None
    ) -> DataFrame:
        """A Kafka source over ``topics``, or over one ``partition`` of the one topic given (its cap
        then the topic's cap shared among its partitions)."""
        cap = self.config.streaming.max_offsets_per_trigger
        assign = {"assign": json.dumps({topics[0]: [partition]})} if partition is not None else {}
        if partition is not None and cap is not None:
            topic = next(topic for topic in self.plan.topics if topic.kafka_topic == topics[0])
            cap = max(1, cap // self.count(topic.name))
        reader = (
            self.spark.readStream.format("kafka")
            .options(**spark_kafka_options(self.config.kafka))
            .options(**(assign or {"subscribe": ",".join(topics)}))
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "false")
            .option("kafka.isolation.level", "read_committed")
            .option("includeHeaders", str(headers).lower())
            # An empty fetch (the transaction marker after the last record of a range) would
            # otherwise hold every task for the broker's 500 ms default.
            .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
        )
        if capped and cap is not None:
            reader = reader.option("maxOffsetsPerTrigger", cap)
        splits = self.splits if partition is not None else 1
        if splits > 1:
            reader = reader.option("minPartitions", splits)
        return reader.load()

    @property
    def splits(self) -> int:
        """:func:`read_splits` for this scenario's event partitions and the session's parallelism."""
        sources = sum(self.count(topic.name) for topic in self.plan.of_role("events"))
        return read_splits(sources, self.spark.sparkContext.defaultParallelism)

    def _labels_now(self) -> DataFrame:
        """The label topic as it is now (committed records), read in batch."""
        return (
            self.spark.read.format("kafka")
            .options(**spark_kafka_options(self.config.kafka))
            .option("subscribe", self.plan.labels_topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .option("kafka.isolation.level", "read_committed")
            .load()
            .select("value")
        )

    def count(self, topic_name: str) -> int:
        """The partition count of the scenario topic ``topic_name``."""
        assert self.partitions is not None
        return self.partitions[topic_name]

    def _trigger(self, writer: object, available_now: bool, every: timedelta) -> object:
        if available_now:
            return writer.trigger(availableNow=True)  # type: ignore[attr-defined]
        return writer.trigger(processingTime=f"{every.total_seconds()} seconds")  # type: ignore[attr-defined]

    def _start(self, pool: str, start: object) -> StreamingQuery:
        self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", pool)
        try:
            query: StreamingQuery = start()  # type: ignore[operator]
        finally:
            self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
        self.queries.append(query)
        return query

    @property
    def side_trigger(self) -> timedelta:
        return max(self.config.streaming.trigger_interval * 2, MIN_SIDE_TRIGGER)

    def start_bronze(self, available_now: bool) -> list[StreamingQuery]:
        """The fault-label topic's bronze query when the topic exists (for :mod:`streaming.score`;
        its table is created empty either way). The scenario's topics are landed by silver."""
        started = []
        landed = [(self.plan.labels_topic, self.tables.labels)] if self.labels else []
        for kafka_topic, path in landed:
            name = bronze_query_name(kafka_topic)
            writer = (
                to_bronze(self._kafka([kafka_topic], capped=True, headers=True))
                .writeStream.format("delta")
                .queryName(name)
                .outputMode("append")
                .partitionBy("ingest_date")
                .option("checkpointLocation", self.tables.checkpoint(name))
            )
            writer = self._trigger(writer, available_now, self.side_trigger)  # type: ignore[assignment]
            started.append(self._start("bronze", lambda w=writer, p=path: w.start(p)))
        return started

    def _event_partitions(self) -> list[tuple[TopicPlan, int]]:
        """The silver query's event sources in order: (event topic, partition)."""
        return [
            (topic, partition)
            for topic in self.plan.of_role("events")
            for partition in range(self.count(topic.name))
        ]

    def _entity_source_topics(self) -> list[TopicPlan]:
        """The topics of the silver query's last source: the entity and ground-truth topics."""
        return [t for t in self.plan.topics if t.role in ("entities", "ground_truth")]

    def silver_inputs(self) -> list[tuple[DataFrame, list[TopicPlan], bool]]:
        """The silver query's sources in order as Kafka rows (:func:`kafka_rows`, headers included,
        for bronze), each with the topics it reads and whether it is an event topic partition: one
        capped source per event topic partition, then one uncapped source for the entity and
        ground-truth topics."""
        inputs: list[tuple[DataFrame, list[TopicPlan], bool]] = [
            (
                kafka_rows(self._kafka([topic.kafka_topic], capped=True, headers=True, partition=partition)),
                [topic],
                True,
            )
            for topic, partition in self._event_partitions()
        ]
        rest = self._entity_source_topics()
        source = self._kafka([t.kafka_topic for t in rest], capped=False, headers=True)
        inputs.append((kafka_rows(source), rest, False))
        return inputs

    def silver_frame(self) -> DataFrame:
        """The silver query's routed frame (before the ``foreachBatch`` sink): :meth:`silver_inputs`
        parsed, each event topic partition's watermarked."""
        delay = self.plan.delay.total_seconds()
        parsed = [
            watermarked(parse(rows, self.plan, topics), delay) if event else parse(rows, self.plan, topics)
            for rows, topics, event in self.silver_inputs()
        ]
        # Each source parses only its own topics; the others' typed columns are null in its rows.
        return routed(reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parsed))

    def start_silver(self, available_now: bool, frame: DataFrame | None = None) -> StreamingQuery:
        """Start the silver query (over ``frame``, :meth:`silver_frame` when not given)."""
        self.silver_writer.planned_before = self.tables.planned_micro_batch(SILVER)
        writer = (
            (frame if frame is not None else self.silver_frame())
            .writeStream.queryName(SILVER)
            .option("checkpointLocation", self.tables.checkpoint(SILVER))
            .foreachBatch(self.silver_writer)
        )
        writer = self._trigger(writer, available_now, self.config.streaming.trigger_interval)  # type: ignore[assignment]
        return self._start(SILVER, writer.start)

    def start_checks(self, available_now: bool) -> StreamingQuery:
        writer_fn = checks.CheckWriter(
            self.spark,
            self.plan,
            self.tables,
            self.log,
            checks.has_provisional(self.spark, self.tables),
            names=self.names,
            scores=QualityScoreWriter(self.spark, self.tables, self._labels_now) if self.labels else None,
            gold=not available_now,
        )
        writer = (
            checks.streaming_checks(
                self.spark,
                self.plan,
                self.tables.observations,
                {topic.name: self.count(topic.name) for topic in self.plan.of_role("events")},
            )
            .writeStream.queryName(CHECKS)
            .outputMode("append")
            .option("checkpointLocation", self.tables.checkpoint(CHECKS))
            .foreachBatch(writer_fn)
        )
        writer = self._trigger(writer, available_now, self.side_trigger)  # type: ignore[assignment]
        return self._start(CHECKS, writer.start)

    # -- runs -------------------------------------------------------------------------------------

    def describe(self) -> str:
        plan = self.plan
        return (
            f"scenario {plan.scenario}: topics {', '.join(t.kafka_topic for t in plan.topics)}; interval "
            f"{format_duration(plan.interval)}, "
            f"watermark delay {format_duration(plan.delay) if plan.delay else 'PT0S'}, "
            f"allowed lateness {format_duration(plan.lateness) if plan.lateness else 'PT0S'}"
        )

    def silver_sources(self) -> list[dict[str, list[int]]]:
        """The silver query's sources in order (:meth:`silver_frame`): topic → partitions."""
        sources = [{topic.kafka_topic: [partition]} for topic, partition in self._event_partitions()]
        sources.append({t.kafka_topic: list(range(self.count(t.name))) for t in self._entity_source_topics()})
        return sources

    def check_checkpoint(self) -> None:
        """Refuse to start when the silver query's checkpoint was made for other sources.

        Spark cannot continue a checkpoint whose sources changed, and the silver query has one
        source per event topic partition, then one for the entity and ground-truth topics: with
        partitions added (or topics recreated with another count, or another topic prefix, or a
        checkpoint of an earlier version with one source per event topic) Spark would fail the
        query with an assertion about source counts. Partitions added to an entity topic are
        fine: that source subscribes, and Spark follows them. Raises :class:`BadInputError`
        naming what differs and the ways out."""
        self._check_no_bronze_queries()
        checkpointed = self.tables.checkpoint_sources(SILVER)
        if not checkpointed:
            return
        expected = self.silver_sources()
        # A source Spark recorded without an offset ("-") is unknown: it cannot tell a difference.
        if len(checkpointed) == len(expected) and all(
            old is None or old == new for old, new in zip(checkpointed[:-1], expected[:-1], strict=True)
        ):
            entities = checkpointed[-1]
            if entities is None or set(entities) == set(expected[-1]):
                return

        def counts(sources: list[dict[str, list[int]] | None]) -> dict[str, tuple[int, int]]:
            """topic → (sources, partitions) over the event sources."""
            found: dict[str, tuple[int, int]] = {}
            for source in sources:
                for topic, numbers in (source or {}).items():
                    reads, partitions = found.get(topic, (0, 0))
                    found[topic] = (reads + 1, partitions + len(numbers))
            return found

        before, now = counts(checkpointed[:-1]), counts(list(expected[:-1]))
        unknown = sum(source is None for source in checkpointed[:-1])
        differences = []
        for topic in sorted(set(before) | set(now)):
            (old_reads, old_partitions), (new_reads, new_partitions) = (
                before.get(topic, (0, 0)),
                now.get(topic, (0, 0)),
            )
            if old_partitions != new_partitions and not unknown:
                differences.append(
                    f"{topic}: {old_partitions} partitions in the checkpoint, {new_partitions} now"
                )
            elif old_reads != new_reads and not unknown:
                differences.append(f"{topic}: {_sources(old_reads)} in the checkpoint, {new_reads} now")
        if unknown:
            total = _sources(len(checkpointed))
            differences.append(
                f"{total} in the checkpoint ({unknown} without an offset), {len(expected)} now"
            )
        old, new = set(checkpointed[-1] or ()), set(expected[-1])
        differences += [f"{topic}: read in the checkpoint, not now" for topic in sorted(old - new)]
        differences += [f"{topic}: read now, not in the checkpoint" for topic in sorted(new - old)]
        if not differences:
            differences = [f"{_sources(len(checkpointed))} in the checkpoint, {len(expected)} now"]
        raise BadInputError(
            f"the silver query's checkpoint ({self.tables.checkpoint(SILVER)}) was made for other Kafka "
            f"sources ({'; '.join(differences)}), and Spark cannot continue a checkpoint whose sources "
            "changed: recreate the topics with the checkpoint's partitions (or use its topic prefix), "
            f"use another --data-dir, or {self._afresh()}"
        )

    def _afresh(self) -> str:
        root = self.locations.root
        local = local_path(root)
        afresh = (
            f"seedstream clean --pipeline --data-dir {shlex.quote(str(local))} --yes"
            if local is not None
            else f"delete {root}/checkpoints and {root}/delta"
        )
        return f"start the pipeline afresh: {afresh}"

    def _check_no_bronze_queries(self) -> None:
        """Refuse a data dir whose scenario topics had bronze queries of their own (seedstream before
        bronze moved into the silver query): their bronze tables end where those queries stopped,
        not where silver did, so continuing would leave a gap or land records twice."""
        earlier = [
            topic.kafka_topic
            for topic in self.plan.topics
            if self.tables.checkpoint_sources(bronze_query_name(topic.kafka_topic))
        ]
        if earlier:
            raise BadInputError(
                f"the data dir {self.locations.root} was written by an earlier seedstream that landed "
                f"bronze in queries of its own ({', '.join(earlier)}); bronze is now landed by the silver "
                f"query and cannot continue from those checkpoints: use another --data-dir, or "
                f"{self._afresh()}"
            )

    def start(self, available_now: bool = False) -> list[StreamingQuery]:
        """Create the tables and start every query (``available_now``: bronze and silver only),
        after :meth:`check_checkpoint`.

        The silver query's plan is built while the bronze tables are created (the one needs the
        driver's Python, the other mostly waits on Delta); the silver and checks tables take their
        shapes from that plan's schema instead of planning the parse again. Silver, the query
        everything waits for, starts first."""
        self.check_checkpoint()
        began = time.monotonic()
        with ThreadPoolExecutor(1, thread_name_prefix="create-tables") as pool:
            bronze = pool.submit(inheritable_thread_target(self.spark)(create_bronze_tables), self.tables)
            frame = self.silver_frame()
            planned = time.monotonic()
            bronze.result()
        create_silver_tables(self.tables, frame)
        log.info(
            "starting the streaming job: %s (tables ready in %.1f s, silver planned in %.1f s)",
            self.describe(), time.monotonic() - began, planned - began,
        )  # fmt: skip
        began = time.monotonic()
        self.start_silver(available_now, frame)
        self.start_bronze(available_now)
        if not available_now:
            self.start_checks(available_now)
        log.info("%d queries started in %.1f s", len(self.queries), time.monotonic() - began)
        return list(self.queries)

    def register_tables_in_background(self) -> None:
        """:meth:`register_tables` for the tables that exist now, off the queries' critical path."""
        threading.Thread(target=self.register_tables, name="register-tables", daemon=True).start()

    def register_tables(self) -> None:
        """Register the tables by name (:mod:`streaming.catalog`); a failure is logged, not fatal."""
        names = self.names.ensure()
        if names:
            log.info("tables by name: %s", ", ".join(names))

    def stop(self) -> None:
        for query in self.queries:
            try:
                query.stop()
            except Exception:  # noqa: BLE001 - stopping is best effort; the cause was logged
                log.exception("stopping %s", query.name)
        self.queries.clear()

    def failure(self) -> tuple[str, BaseException] | None:
        """The first query that stopped with an error, if any."""
        for query in self.queries:
            if not query.isActive and query.exception() is not None:
                return query.name, query.exception()  # type: ignore[return-value]
        return None

    def _await(self, queries: list[StreamingQuery]) -> None:
        while any(query.isActive for query in queries):
            if self.failure() is not None:
                break
            time.sleep(0.5)
        failed = self.failure()
        if failed is not None:
            name, error = failed
            log.error("query %s failed: %s", name, error)
            self.stop()
            raise SeedstreamError(f"the streaming query {name} failed: {first_line(error)}")

    def run_available_now(self) -> int:
        """Drain Kafka into bronze and silver, close what the watermark closes, then check the rest
        provisionally. Returns the number of intervals checked provisionally."""
        queries = self.start(available_now=True)
        self.register_tables_in_background()  # the gold tables come at the end
        self._await(queries)
        steps = [("drained", time.monotonic())]
        self._await([self.start_checks(available_now=True)])
        steps.append(("checks", time.monotonic()))
        provisional = checks.write_provisional(self.spark, self.plan, self.tables, self.log)
        steps.append(("provisional checks", time.monotonic()))
        checks.refresh_gold(self.spark, self.plan, self.tables, self.names)
        steps.append(("gold", time.monotonic()))
        self.register_tables()
        steps.append(("names", time.monotonic()))
        log.info(
            "after the drain: %s",
            ", ".join(f"{name} {end - begin:.1f} s" for (_, begin), (name, end) in pairwise(steps)),
        )
        return provisional

    def micro_batches(self) -> int:
        """Micro-batches the silver query completed in this run."""
        silver = next((q for q in self.queries if q.name == SILVER), None)
        progress = silver.lastProgress if silver is not None else None
        return int(progress["batchId"]) + 1 if progress else 0
