"""silver: the routed micro-batch written to the entity, event, ground-truth and quarantine tables.

:class:`SilverWriter` is the ``foreachBatch`` function of the ``silver`` query. Per micro-batch it
persists the routed frame, collects which topics it holds rows of, and then, over the rows that
are not duplicates:

1. checks references (:func:`check_references`) against :func:`entity_view`: the entity table as
   it stands *plus* this micro-batch's valid versions, so an entity in the same micro-batch as its
   first event (or its first child entity) is known to it. Entity topics are checked first, parents
   before children (:func:`entity_order`), then event topics. Only the topics present are planned,
   and what later steps build on (each entity topic's versions and view, the checked rows) is
   computed into a :func:`leaf`: Spark analyses a plan anew, whole, for every step built on it, so a
   scenario with many topics spent seconds per micro-batch analysing plans that had grown with every
   join and union (measured: TapFlow's 150-record micro-batches ~7.5 s → ~1.4 s). The checked rows
   are counted per topic and verdict once (the micro-batch's second and last ``collect``), and the
   same aggregation carries what the observations need (:func:`observation_keys`: per accepted
   event its interval, partition and categories; each accepted ground truth whole), so they are
   built from its few rows instead of two more passes over the micro-batch (measured in one
   process over 200,000 cached events of ``scaling``, 8 alternating runs: counting and
   observations 0.51 → 0.30 s);
2. writes every table at once, one thread per table (independent Delta tables, so the commits
   overlap instead of queueing): each entity topic's latest versions into ``silver/<entity>`` (a
   plain append when none of the keys is known yet, else a MERGE where the latest version per key
   wins by (time field, Kafka timestamp, partition, offset) and ``valid_from`` keeps the first
   version's time), valid events to ``silver/<event topic>``, valid ground truth to
   ``silver/<truth topic>``, every rejected record to ``silver/quarantine`` and the micro-batch's
   counts per interval, event topic and category to ``checks/observations`` (the interval checks'
   one input, so they see one consistent cut of every table; :func:`observations_of`). Beside
   those writes, every routed row (duplicates and late ones included) is appended to its topic's
   bronze table (:func:`streaming.bronze.bronze_rows`, one thread per table, only the topics
   present).

A micro-batch without entity records (its offsets in every entity topic end where the previous
micro-batch's ended: Spark writes both before running it; :meth:`SilverWriter.without_entities`)
takes a shorter way with the same rules: references see the entity tables as they stand, so they
are joined in the pass that routes the rows, that pass is the micro-batch's one cache, and one
aggregation of it gives the topics present and the verdicts (measured on 4 h of ``scaling``, where
every micro-batch but the first is one: steady micro-batches ~5.7 → ~5.3 s per 200,000 events, the
whole job 88.5–89.2 → 83.1–84.8 s, its CPU 162 → 154 s). The first micro-batch of a checkpoint
always takes the long way: where it starts is not written down.

Exactly once: a MERGE applied twice changes nothing, and every append records
``{"writer": <checkpoint's query id>, "micro_batch_id": N}`` as the commit's ``userMetadata``
(:class:`AppendLedger`). A micro-batch is replayed only by the first run after a crash, so the
ledger reads each table's recent history once per run and skips the tables that already hold
micro-batch N; only a micro-batch whose offsets the checkpoint held before this run can be a
replay, so a later one needs no history. Delta's own idempotent writes (``txnAppId``/
``txnVersion``) give the same guarantee but cost a log replay per append: measured 0.6 s against
0.2 s per 100-row append on this machine, and silver appends up to four tables per micro-batch.

Reference rules, after the intrinsic checks and before ``late``: ``unknown_reference`` (no entity
with that key in ``silver/<entity>`` or this micro-batch), ``reference_not_yet_valid`` (events only:
the entity's first version is at or after the start of the event's interval, or its declared
``Active`` field says inactive in a version from at or before that start).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial, reduce
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

from delta.tables import DeltaTable
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

from streaming.bronze import bronze_rows
from streaming.cleaned import is_clean_marker, marker_observations
from streaming.contract import INTERVAL_FIELD, SHARD_FIELD, PipelinePlan, TopicPlan
from streaming.validation import (
    CONTROL_INDEX,
    LATE,
    REFERENCE_NOT_YET_VALID,
    UNKNOWN_REFERENCE,
    Check,
    first_failure,
    quarantine_rows,
    typed_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

    from streaming.tables import Tables

log = logging.getLogger(__name__)

OBSERVATION_SCHEMA = (
    "batch_id string, interval_start long, topic string, category_field string, category string, "
    "observed long, expected long, shard string, shard_count int, event_time long, source_partition int, "
    "micro_batch_id long"
)
"""``checks/observations`` as :func:`observations_of` builds its rows: times in microseconds."""
OBSERVATION_COLUMNS = (
    "batch_id",
    "interval_start",
    "topic",
    "category_field",
    "category",
    "observed",
    "expected",
    "shard",
    "shard_count",
    "event_time",
    "source_partition",
    "micro_batch_id",
)


def is_active(frame_column: Column, topic: TopicPlan) -> Column:
    """Whether an entity row is active by its declared ``Active`` field (always, without one)."""
    if topic.active is None:
        return F.lit(True)
    _, values = topic.active
    return frame_column.isin(*values) if values else frame_column.cast("boolean")


def latest_versions(rows: DataFrame, topic: TopicPlan) -> DataFrame:
    """One row per key: the latest version, with ``valid_from`` = the earliest version's time."""
    key, time = topic.spec.key_field, topic.time_field
    order = [
        F.col(time).desc(),
        F.col("kafka_timestamp").desc(),
        F.col("source_partition").desc(),
        F.col("source_offset").desc(),
    ]
    by_key = Window.partitionBy(key)
    return (
        rows.withColumn("valid_from", F.min(time).over(by_key))
        .withColumn("_n", F.row_number().over(by_key.orderBy(*order)))
        .where(F.col("_n") == 1)
        .drop("_n")
    )


def merge_entities(spark: SparkSession, path: str, versions: DataFrame, topic: TopicPlan) -> None:
    """Merge :func:`latest_versions` into the entity table (idempotent)."""
    key, time = topic.spec.key_field, topic.time_field

    def rank(side: str) -> Column:
        return F.struct(
            *(F.col(f"{side}.{c}") for c in (time, "kafka_timestamp", "source_partition", "source_offset"))
        )

    earliest = F.least(F.col("t.valid_from"), F.col("s.valid_from"))
    columns = {name: F.col(f"s.{name}") for name in versions.columns}
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(versions.alias("s"), f"t.`{key}` = s.`{key}`")
        .whenMatchedUpdate(condition=rank("s") > rank("t"), set={**columns, "valid_from": earliest})
        .whenMatchedUpdate(
            condition=F.col("s.valid_from") < F.col("t.valid_from"), set={"valid_from": earliest}
        )
        .whenNotMatchedInsertAll()
        .execute()
    )


def leaf(frame: DataFrame) -> DataFrame:
    """``frame`` computed now into the block manager (memory, then disk) and returned as a leaf:
    the plans built on it no longer carry (and analyse again) the plan that made it."""
    return frame.localCheckpoint(eager=True)


def release(frame: DataFrame) -> None:
    """Drop the blocks of a :func:`leaf` (``unpersist`` does not reach a checkpointed frame's RDD)."""
    plan = frame._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)


RANK_COLUMNS = ("kafka_timestamp", "source_partition", "source_offset")
"""After the time field, what orders two versions of one entity (the later publish wins)."""


def entity_order(plan: PipelinePlan) -> list[TopicPlan]:
    """Entity topics, every topic after the entity topics it references (stable otherwise)."""
    entities = {topic.name: topic for topic in plan.of_role("entities")}
    graph = {
        name: [target for target in topic.references.values() if target in entities and target != name]
        for name, topic in entities.items()
    }
    sorter: TopologicalSorter[str] = TopologicalSorter(graph)
    order = {name: number for number, name in enumerate(entities)}
    sorter.prepare()
    ordered: list[TopicPlan] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=order.__getitem__)
        ordered += [entities[name] for name in ready]
        sorter.done(*ready)
    return ordered


def entity_view(table: DataFrame, batch: DataFrame | None, topic: TopicPlan) -> DataFrame:
    """What references see of an entity topic: one row per key of the table and this micro-batch's
    versions (``batch``), with the first ``valid_from`` and the latest version's time and
    ``Active`` field."""
    key, time = topic.spec.key_field, topic.time_field
    latest = [time, *([topic.active[0]] if topic.active else [])]
    columns = [key, "valid_from", *latest, *RANK_COLUMNS]
    if batch is None:  # the table holds one row per key (the latest version)
        return table.select(key, "valid_from", *latest)
    rows = table.select(*columns).unionByName(batch.select(*columns))
    rank = F.struct(*(F.col(c) for c in (time, *RANK_COLUMNS)))
    return (
        rows.groupBy(key)
        .agg(F.min("valid_from").alias("valid_from"), F.max_by(F.struct(*latest), rank).alias("_latest"))
        .select(key, "valid_from", *(F.col(f"_latest.{c}").alias(c) for c in latest))
    )


class EntityViews(dict[str, "DataFrame"]):
    """Entity topic name → :func:`entity_view`; a topic not set is built on first use by ``load``."""

    def __init__(self, load: Callable[[str], DataFrame]) -> None:
        super().__init__()
        self._load = load

    def __missing__(self, name: str) -> DataFrame:
        view = self[name] = self._load(name)
        return view


def check_references(
    events: DataFrame,
    topic: TopicPlan,
    plan: PipelinePlan,
    entities: dict[str, DataFrame],
    among_others: bool = False,
) -> DataFrame:
    """Fill ``reason``/``detail`` of ``topic``'s rows that passed the intrinsic checks and fail a
    reference rule; ``entities``: entity topic name → :func:`entity_view`. ``among_others``:
    ``events`` holds other topics' rows too, which pass through unchanged (the joins and rules
    apply to ``topic``'s rows only)."""
    checks: list[Check] = []
    frame = events
    start = F.col("_interval_start")
    mine = F.col("_t") == F.lit(topic.index)
    for number, (field_name, target) in enumerate(topic.references.items()):
        entity = plan.by_name(target)
        prefix = f"_ref{number}"
        known = entities[target].select(
            F.col(entity.spec.key_field).alias(f"{prefix}_key"),
            F.col("valid_from").alias(f"{prefix}_from"),
            F.col(entity.time_field).alias(f"{prefix}_time"),
            is_active(F.col(entity.active[0]) if entity.active else F.lit(True), entity).alias(
                f"{prefix}_active"
            ),
        )
        match = F.col(topic.column(field_name)) == F.col(f"{prefix}_key")
        frame = frame.join(F.broadcast(known), (mine & match) if among_others else match, "left")
        checks += [
            (
                F.col(f"{prefix}_key").isNull(),
                UNKNOWN_REFERENCE,
                f"{field_name}: no {target} entity with this key",
            ),
            (
                F.col(f"{prefix}_from") >= start,
                REFERENCE_NOT_YET_VALID,
                f"{field_name}: the {target} entity was created at or after the interval start",
            ),
            (
                ~F.col(f"{prefix}_active") & (F.col(f"{prefix}_time") <= start),
                REFERENCE_NOT_YET_VALID,
                f"{field_name}: the {target} entity was inactive at the interval start",
            ),
        ]
    watermark = F.date_format(F.timestamp_millis(F.col("_watermark_ms")), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    checks.append(
        (F.col("_late"), LATE, F.concat(F.lit(f"{topic.time_field}: at or before the watermark "), watermark))
    )
    if among_others:
        checks = [(mine & failed, code, text) for failed, code, text in checks]
    reason, detail = first_failure(checks)
    helpers = [c for c in frame.columns if c.startswith("_ref")]
    return (
        frame.withColumn("detail", F.when(F.col("reason").isNull(), detail).otherwise(F.col("detail")))
        .withColumn("reason", F.coalesce(F.col("reason"), reason))
        .drop(*helpers)
    )


def event_observations(frame: DataFrame, plan: PipelinePlan, micro_batch_id: int) -> DataFrame | None:
    """Accepted events → observed counts per (interval, event topic, declared dimension, category)."""
    parts = []
    for topic in plan.of_role("events"):
        dimensions = plan.dimensions_of(topic.name)
        if not dimensions:
            continue
        pairs = F.array(
            *(
                F.struct(
                    F.lit(d.category_field).cast("string").alias("category_field"),
                    (F.col(topic.column(d.category_field)) if d.category_field else F.lit(None))
                    .cast("string")
                    .alias("category"),
                )
                for d in dimensions
            )
        )
        parts.append(
            frame.where((F.col("_t") == topic.index) & F.col("reason").isNull())
            .select(
                F.col(topic.column(INTERVAL_FIELD)).alias("batch_id"),
                F.col("_interval_start").alias("interval_start"),
                F.lit(topic.name).alias("topic"),
                F.explode(pairs).alias("_pair"),
                F.col("_event_time").alias("event_time"),
                F.col("partition").alias("source_partition"),
            )
            .select("batch_id", "interval_start", "topic", "_pair.*", "event_time", "source_partition")
        )
    if not parts:
        return None
    return (
        reduce(lambda a, b: a.unionByName(b), parts)
        .groupBy("batch_id", "interval_start", "topic", "category_field", "category", "source_partition")
        .agg(F.count(F.lit(1)).alias("observed"), F.max("event_time").alias("event_time"))
        .select(
            "batch_id", "interval_start", "topic", "category_field", "category", "observed",
            F.lit(None).cast("long").alias("expected"), F.lit(None).cast("string").alias("shard"),
            F.lit(None).cast("int").alias("shard_count"), "event_time", "source_partition",
            F.lit(micro_batch_id).cast("long").alias("micro_batch_id"),
        )
    )  # fmt: skip


def truth_observations(frame: DataFrame, plan: PipelinePlan, micro_batch_id: int) -> DataFrame:
    """Valid ground-truth records → expected counts per (interval, event topic, dimension, category)."""
    truth = plan.ground_truth
    rows = frame.where((F.col("_t") == truth.index) & F.col("reason").isNull())
    parts = []
    for dimension in plan.dimensions:
        value = F.col(truth.column(dimension.truth_field))
        if dimension.category_field is None:
            pairs = F.array(
                F.struct(F.lit(None).cast("string").alias("category"), value.cast("long").alias("expected"))
            )
        else:
            pairs = F.transform(
                F.map_entries(value),
                lambda e: F.struct(
                    e["key"].cast("string").alias("category"), e["value"].cast("long").alias("expected")
                ),
            )
        parts.append(
            rows.select(
                F.col(truth.column(INTERVAL_FIELD)).alias("batch_id"),
                F.col("_interval_start").alias("interval_start"),
                F.lit(dimension.topic).alias("topic"),
                F.lit(dimension.category_field).cast("string").alias("category_field"),
                F.explode(pairs).alias("_pair"),
                F.col(truth.column(SHARD_FIELD)).alias("shard"),
            ).select("batch_id", "interval_start", "topic", "category_field", "_pair.*", "shard")
        )
    union = reduce(lambda a, b: a.unionByName(b), parts)
    return union.select(
        "batch_id", "interval_start", "topic", "category_field", "category",
        F.lit(0).cast("long").alias("observed"), "expected", "shard",
        F.split("shard", "/").getItem(1).cast("int").alias("shard_count"),
        F.col("interval_start").alias("event_time"),
        F.lit(None).cast("int").alias("source_partition"),
        F.lit(micro_batch_id).cast("long").alias("micro_batch_id"),
    )  # fmt: skip


OBSERVED_BATCH, OBSERVED_START, OBSERVED_PARTITION, OBSERVED_TIME, TRUTH_ROW = (
    "_ob", "_os", "_op", "_ot", "_or"
)


def _category_key(topic: TopicPlan, position: int) -> str:
    return f"_oc{topic.index}_{position}"


def observation_keys(plan: PipelinePlan) -> list[Column]:
    """What a micro-batch's observations need, as keys of its counting pass (:func:`counting_pass`),
    so that they come from the rows it counts anyway instead of two more passes over the cached
    micro-batch (:func:`observations_of` builds them from the counted rows).

    On an accepted event (valid, not a duplicate) of a topic that a count dimension names: its
    interval, the interval's start in microseconds, its source partition and each dimension's
    category as text; on an accepted ground-truth record: the record as JSON (a handful per
    interval). Null on every other row, so those add no groups."""
    accepted = F.col("reason").isNull() & ~F.coalesce(F.col("_duplicate"), F.lit(False))
    events = [t for t in plan.of_role("events") if plan.dimensions_of(t.name)]
    observing = accepted & F.col("_t").isin([t.index for t in events]) if events else F.lit(False)

    def on_event(value: Column) -> Column:
        return F.when(observing, value)

    interval = F.coalesce(
        *(F.when(F.col("_t") == t.index, F.col(t.column(INTERVAL_FIELD))) for t in events), F.lit(None)
    )
    keys = [
        on_event(interval.cast("string")).alias(OBSERVED_BATCH),
        on_event(F.unix_micros("_interval_start")).alias(OBSERVED_START),
        on_event(F.col("partition")).alias(OBSERVED_PARTITION),
    ]
    for topic in events:
        for position, dimension in enumerate(plan.dimensions_of(topic.name)):
            if dimension.category_field is not None:
                category = F.col(topic.column(dimension.category_field)).cast("string")
                on_topic = observing & (F.col("_t") == topic.index)
                keys.append(F.when(on_topic, category).alias(_category_key(topic, position)))
    truth = plan.ground_truth
    record = F.to_json(
        F.struct(
            F.col(truth.column(INTERVAL_FIELD)).cast("string").alias("batch_id"),
            F.unix_micros("_interval_start").alias("start"),
            F.col(truth.column(SHARD_FIELD)).cast("string").alias("shard"),
            *(F.col(truth.column(d.truth_field)).alias(d.truth_field) for d in plan.dimensions),
        )
    )
    keys.append(F.when(accepted & (F.col("_t") == truth.index), record).alias(TRUTH_ROW))
    return keys


def counting_pass(frame: DataFrame, plan: PipelinePlan, keys: list[Column]) -> list[Row]:
    """A micro-batch's one aggregation: its rows counted (``n``) per ``keys`` and
    :func:`observation_keys`, with the newest event time of each group's observed events."""
    keyed = frame.select(*keys, *observation_keys(plan), "_event_time")
    latest = F.when(F.col(OBSERVED_BATCH).isNotNull(), F.unix_micros("_event_time"))
    return (
        keyed.groupBy(*keyed.columns[:-1])
        .agg(F.count(F.lit(1)).alias("n"), F.max(latest).alias(OBSERVED_TIME))
        .collect()
    )


Observation = tuple[Any, ...]
"""A row of ``checks/observations`` in :data:`OBSERVATION_COLUMNS` order, times in microseconds."""


def observations_of(rows: Iterable[Row], plan: PipelinePlan, micro_batch_id: int) -> list[Observation]:
    """:func:`counting_pass`'s rows → the micro-batch's observations: what
    :func:`event_observations` and :func:`truth_observations` give over its accepted rows."""
    by_index = {topic.index: topic for topic in plan.topics}
    seen: dict[tuple[str, int, str, str | None, str | None, int], list[int]] = {}
    expected: list[Observation] = []
    for row in rows:
        if row[OBSERVED_BATCH] is not None:
            topic = by_index[row["_t"]]
            for position, dimension in enumerate(plan.dimensions_of(topic.name)):
                category = row[_category_key(topic, position)] if dimension.category_field else None
                key = (
                    row[OBSERVED_BATCH], row[OBSERVED_START], topic.name, dimension.category_field,
                    category, row[OBSERVED_PARTITION],
                )  # fmt: skip
                counted = seen.setdefault(key, [0, row[OBSERVED_TIME]])
                counted[0] += row["n"]
                counted[1] = max(counted[1], row[OBSERVED_TIME])
        if row[TRUTH_ROW] is not None:
            expected += _truth_rows(json.loads(row[TRUTH_ROW]), plan, micro_batch_id) * row["n"]
    observed: list[Observation] = [
        (batch, start, topic, field_, category, n, None, None, None, latest, partition, micro_batch_id)
        for (batch, start, topic, field_, category, partition), (n, latest) in seen.items()
    ]
    return observed + expected


def _truth_rows(record: dict[str, Any], plan: PipelinePlan, micro_batch_id: int) -> list[Observation]:
    """One accepted ground truth (as :func:`observation_keys` wrote it) → its expected counts, one
    row per dimension and category, as :func:`truth_observations` gives them."""
    batch_id, start, shard = record["batch_id"], record.get("start"), record.get("shard")
    parts = shard.split("/") if shard is not None else []
    shard_count = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    rows: list[Observation] = []
    for dimension in plan.dimensions:
        value = record.get(dimension.truth_field)
        pairs = [(None, value)] if dimension.category_field is None else list((value or {}).items())
        rows += [
            (
                batch_id, start, dimension.topic, dimension.category_field,
                None if category is None else str(category), 0, None if expected is None else int(expected),
                shard, shard_count, start, None, micro_batch_id,
            )  # fmt: skip
            for category, expected in pairs
        ]
    return rows


def observation_frame(spark: SparkSession, rows: list[Observation]) -> DataFrame:
    """:func:`observations_of`'s rows as a frame of ``checks/observations``' columns."""
    frame = spark.createDataFrame(rows, OBSERVATION_SCHEMA)
    return frame.select(
        *(
            F.timestamp_micros(name).alias(name) if name in ("interval_start", "event_time") else F.col(name)
            for name in OBSERVATION_COLUMNS
        )
    )


@dataclass
class AppendLedger:
    """Which micro-batch each table last received from one writer: appends exactly once without
    ``txnAppId`` (see the module docstring). ``last`` is filled per table from the table's recent
    history the first time the table is written in this run.

    ``planned_before``: the last micro-batch the query had planned before this run started (Spark
    writes a micro-batch's offsets before running it; -1: none, a new checkpoint). Only those can
    be replays, so a later micro-batch needs no history: nothing this writer recorded can be newer
    than ``planned_before``. None: unknown, the history is always read."""

    spark: SparkSession
    writer_id: str
    history_depth: int = 100
    last: dict[str, int] = field(default_factory=dict)
    planned_before: int | None = None

    def metadata(self, micro_batch_id: int) -> str:
        return json.dumps({"writer": self.writer_id, "micro_batch_id": micro_batch_id})

    def recorded(self, path: str) -> int:
        """The newest micro-batch id this writer recorded in ``path``'s recent commits (-1: none)."""
        if not DeltaTable.isDeltaTable(self.spark, path):
            return -1
        history = DeltaTable.forPath(self.spark, path).history(self.history_depth).select("userMetadata")
        newest = -1
        for row in history.collect():
            try:
                meta = json.loads(row["userMetadata"] or "null")
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("writer") == self.writer_id:
                newest = max(newest, int(meta.get("micro_batch_id", -1)))
        return newest

    def append(
        self, frame: DataFrame, path: str, micro_batch_id: int, partition_by: str | None = None
    ) -> bool:
        """Append ``frame`` unless micro-batch ``micro_batch_id`` is already in ``path``; whether it
        wrote."""
        if path not in self.last:
            if self.planned_before is not None and micro_batch_id > self.planned_before:
                self.last[path] = self.planned_before  # at most: see the class docstring
            else:
                self.last[path] = self.recorded(path)
        if micro_batch_id <= self.last[path]:
            log.info("%s already holds micro-batch %d: not appended again", path, micro_batch_id)
            return False
        writer = (
            frame.write.format("delta").mode("append").option("userMetadata", self.metadata(micro_batch_id))
        )
        (writer.partitionBy(partition_by) if partition_by else writer).save(path)
        self.last[path] = micro_batch_id
        return True


@dataclass(frozen=True)
class Counted:
    """What a micro-batch's counting pass found: (topic index, valid) → rows, the entity topics
    with valid rows whose key is already in their table (those are merged, the others appended),
    and the micro-batch's observations (:func:`observations_of`)."""

    verdicts: dict[tuple[int, bool], int]
    known: set[int]
    observations: list[Observation]


def tally(rows: Iterable[Row], plan: PipelinePlan, micro_batch_id: int) -> Counted:
    """Counted rows (``_t``, ``ok``: no reason, ``k``: the key is known, ``n``, and the
    :func:`observation_keys`) → :class:`Counted`."""
    rows = list(rows)
    verdicts: dict[tuple[int, bool], int] = {}
    known: set[int] = set()
    for row in rows:
        verdicts[(row["_t"], row["ok"])] = verdicts.get((row["_t"], row["ok"]), 0) + row["n"]
        if row["ok"] and row["k"]:
            known.add(row["_t"])
    return Counted(verdicts, known, observations_of(rows, plan, micro_batch_id))


def _timed(name: str, write: Callable[[], object]) -> tuple[str, float]:
    """(``name``, seconds ``write()`` took)."""
    started = time.monotonic()
    write()
    return name, time.monotonic() - started


Write = tuple[str, Callable[[], object]]
"""(step name, the write) — run on its own thread by :meth:`SilverWriter._write_all`."""


@dataclass
class SilverWriter:
    """The ``silver`` query's ``foreachBatch`` function (see the module docstring)."""

    spark: SparkSession
    plan: PipelinePlan
    tables: Tables
    writer_id: str = ""
    ledger: AppendLedger | None = None
    planned_before: int | None = None
    """:attr:`AppendLedger.planned_before` of the silver query (set when the query starts)."""
    offsets: dict[int, dict[str, dict[int, int]] | None] = field(default_factory=dict)

    def __call__(self, batch: DataFrame, micro_batch_id: int) -> None:
        if self.ledger is None:
            self.writer_id = self.writer_id or self.tables.query_id("silver")
            self.ledger = AppendLedger(self.spark, self.writer_id, planned_before=self.planned_before)
        self.steps: list[tuple[str, float]] = []
        self._mark = time.monotonic()
        self.versions: dict[int, DataFrame] = {}
        self.leaves: list[DataFrame] = []
        if self.without_entities(micro_batch_id):
            self._events_only(batch, micro_batch_id)
        else:
            self._every_topic(batch, micro_batch_id)
        log.info(
            "silver micro-batch %d: %s",
            micro_batch_id,
            ", ".join(f"{name} {secs:.2f} s" for name, secs in self.steps),
        )

    def without_entities(self, micro_batch_id: int) -> bool:
        """Whether micro-batch ``micro_batch_id`` holds no entity record: it ends where the one
        before it ended in every entity topic (the offsets Spark wrote for both before running
        them). Unknown (the first micro-batch of a checkpoint, offsets no longer kept): False."""
        entity_topics = [topic.kafka_topic for topic in self.plan.of_role("entities")]
        if not entity_topics:
            return True
        if micro_batch_id == 0:
            return False
        ends = self._batch_offsets(micro_batch_id)
        starts = self._batch_offsets(micro_batch_id - 1)
        if ends is None or starts is None:
            return False
        return all(ends.get(topic) == starts.get(topic) for topic in entity_topics)

    def _batch_offsets(self, micro_batch_id: int) -> dict[str, dict[int, int]] | None:
        """:meth:`Tables.batch_offsets` of the silver query, each micro-batch's read once."""
        if micro_batch_id not in self.offsets:
            self.offsets = {
                number: ends for number, ends in self.offsets.items() if number >= micro_batch_id - 1
            }
            self.offsets[micro_batch_id] = self.tables.batch_offsets("silver", micro_batch_id)
        return self.offsets[micro_batch_id]

    def _events_only(self, batch: DataFrame, micro_batch_id: int) -> None:
        """A micro-batch without entity records: references see the entity tables as they stand,
        so they are joined in the pass that routes the rows, and that pass is the micro-batch's one
        cache; one aggregation of it gives the topics present, the verdicts and the observations."""
        plan = self.plan
        views = EntityViews(lambda name: self._table_view(plan.by_name(name)))
        frame = batch
        for topic in plan.of_role("events"):  # with or without references: they check `late` too
            frame = check_references(frame, topic, plan, views, among_others=True)
        checked = frame.withColumn("_known", F.lit(None).cast("boolean")).persist()
        try:
            keys = [F.col("_t"), F.col("topic"), F.col("_duplicate"), F.col("reason").isNull().alias("ok")]
            counts = counting_pass(checked, plan, [*keys, F.lit(False).alias("k")])
            self._step("route and references")
            if counts:
                accepted = checked.where(~F.col("_duplicate") & F.col("_t").isNotNull())
                mine = (row for row in counts if not row["_duplicate"] and row["_t"] is not None)
                counted = tally(mine, plan, micro_batch_id)
                self._write_with_bronze(
                    checked, {row["topic"] for row in counts}, accepted, micro_batch_id, counted
                )
        finally:
            checked.unpersist()

    def _every_topic(self, batch: DataFrame, micro_batch_id: int) -> None:
        """Any micro-batch: the routed rows cached first, then the topics present planned on it
        (:meth:`_checked`)."""
        routed = batch.persist()
        try:
            held = routed.select("_t", "topic").distinct().collect()
            present = {row["_t"] for row in held}
            self._step("route")
            if present:
                checked = self._checked(routed.where(~F.col("_duplicate")), present)
                self._step("references")
                self._write_with_bronze(routed, {row["topic"] for row in held}, checked, micro_batch_id)
        finally:
            routed.unpersist()
            for leaf in self.leaves:
                release(leaf)

    def _write_with_bronze(
        self,
        routed: DataFrame,
        kafka_topics: set[str],
        checked: DataFrame,
        micro_batch_id: int,
        counted: Counted | None = None,
    ) -> None:
        """:meth:`_write` ``checked``, with every routed row landed in bronze beside those writes
        (:meth:`land_bronze`; beside the silver writes, which mostly wait on their commits: beside
        the references, CPU-bound joins, they slowed those down in TapFlow realtime)."""
        landing = ThreadPoolExecutor(max_workers=len(self.plan.topics), thread_name_prefix="bronze-write")
        try:
            bronze = self.land_bronze(landing, routed, kafka_topics, micro_batch_id)
            self._write(checked, micro_batch_id, counted)
            self.steps += [(f"[{name}]", secs) for name, secs in (f.result() for f in bronze)]
            self._step("bronze")
        finally:
            landing.shutdown(wait=True)  # on failure too: the caller's caches must outlive its readers

    def land_bronze(
        self, pool: ThreadPoolExecutor, routed: DataFrame, kafka_topics: set[str], micro_batch_id: int
    ) -> list[Future[tuple[str, float]]]:
        """Start appending the micro-batch's rows to the bronze table of each topic it holds rows of
        (``kafka_topics``) on ``pool``: every record, duplicates and late ones included (bronze is
        raw and complete). A topic without rows gets no commit."""
        assert self.ledger is not None
        ledger, timed = self.ledger, inheritable_thread_target(self.spark)(_timed)
        started = []
        for topic in self.plan.topics:
            if topic.kafka_topic not in kafka_topics:
                continue
            rows = bronze_rows(routed.where(F.col("topic") == topic.kafka_topic))
            append = partial(ledger.append, rows, self.tables.bronze(topic), micro_batch_id, "ingest_date")
            started.append(pool.submit(timed, f"append bronze {topic.table}", append))
        return started

    def _step(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self._mark))
        self._mark = now

    def _leaf(self, frame: DataFrame) -> DataFrame:
        """``frame`` computed now and kept as a leaf of later plans (:func:`leaf`), released after
        the micro-batch."""
        computed = leaf(frame)
        self.leaves.append(computed)
        return computed

    def _table(self, topic: TopicPlan) -> DataFrame:
        return self.spark.read.format("delta").load(self.tables.silver(topic))

    def _table_view(self, topic: TopicPlan) -> DataFrame:
        """:func:`entity_view` of an entity topic without rows in this micro-batch: its table."""
        return entity_view(self._table(topic), None, topic)

    def _checked(self, routed: DataFrame, present: set[int]) -> DataFrame:
        """Every routed row of the ``present`` topics (and clean markers) with its final ``reason``;
        entity rows also with ``_known`` (the key is already in the entity table); computed
        (:meth:`_leaf`).

        Only the topics with rows in this micro-batch are planned: an entity topic without any is
        seen by references as its table stands (one row per key; loaded only if one refers to it),
        an event topic without any adds nothing. Each entity topic's versions and view are leaves,
        so the plans built on them stay small (Spark analyses the whole plan again for every step
        built on it)."""
        plan = self.plan
        parts = {
            topic.index: routed.where(F.col("_t") == topic.index)
            for topic in plan.topics
            if topic.index in present
        }
        views = EntityViews(lambda name: self._table_view(plan.by_name(name)))
        for topic in entity_order(plan):
            if topic.index not in parts:
                continue  # seen as its table stands, loaded only if a present topic refers to it
            table = self._table(topic)
            part = parts[topic.index]
            if topic.references:
                part = check_references(part, topic, plan, views)
            key = topic.spec.key_field
            known = table.select(F.col(key).alias("_known_key"))
            parts[topic.index] = (
                part.join(F.broadcast(known), F.col(topic.column(key)) == F.col("_known_key"), "left")
                .withColumn("_known", F.col("_known_key").isNotNull())
                .drop("_known_key")
            )
            valid = typed_rows(parts[topic.index].where(F.col("reason").isNull()), topic)
            # Computed once for the references, then written as they are.
            self.versions[topic.index] = self._leaf(latest_versions(valid, topic))
            views[topic.name] = self._leaf(entity_view(table, self.versions[topic.index], topic))
        for topic in plan.of_role("events"):  # with or without references: they check `late` too
            if topic.index in parts:
                parts[topic.index] = check_references(parts[topic.index], topic, plan, views)
        frames = [
            frame if "_known" in frame.columns else frame.withColumn("_known", F.lit(None).cast("boolean"))
            for frame in parts.values()
        ]
        if CONTROL_INDEX in present:
            frames.append(routed.where(is_clean_marker()).withColumn("_known", F.lit(None).cast("boolean")))
        # One task per shuffle partition downstream, not one per topic and partition.
        union = reduce(lambda a, b: a.unionByName(b), frames)
        return self._leaf(union.coalesce(max(routed.rdd.getNumPartitions(), 1)))

    def _write(
        self,
        checked: DataFrame,
        micro_batch_id: int,
        counted: Counted | None = None,
    ) -> None:
        """Write ``checked`` to every table it has rows for; ``counted``: its counting pass, when
        the caller ran it already (:meth:`_verdicts`)."""
        plan, tables = self.plan, self.tables
        counted = counted if counted is not None else self._verdicts(checked, micro_batch_id)
        verdicts, known = counted.verdicts, counted.known
        if not verdicts:
            return
        valid = checked.where(F.col("reason").isNull())
        writes: list[Write] = []
        for topic in plan.of_role("entities"):
            if verdicts.get((topic.index, True)):
                versions = self.versions[topic.index]
                path = tables.silver(topic)
                if topic.index in known:
                    merge = partial(merge_entities, self.spark, path, versions, topic)
                    writes.append((f"merge {topic.table}", merge))
                else:
                    writes.append((f"append {topic.table}", self._append(versions, path, micro_batch_id)))
        events = [t for t in plan.of_role("events") if verdicts.get((t.index, True))]
        for topic in events:
            rows = typed_rows(valid, topic).withColumn("event_date", F.to_date(topic.time_field))
            writes.append(
                (
                    f"append {topic.table}",
                    self._append(rows, tables.silver(topic), micro_batch_id, "event_date"),
                )
            )
        truth = plan.ground_truth
        observations = []
        if verdicts.get((truth.index, True)):
            writes.append(
                (
                    f"append {truth.table}",
                    self._append(typed_rows(valid, truth), tables.silver(truth), micro_batch_id),
                )
            )
        if any(verdicts.get((index, False)) for index in [*(t.index for t in plan.topics), CONTROL_INDEX]):
            rejected = quarantine_rows(checked)
            writes.append(
                (
                    "append quarantine",
                    self._append(rejected, tables.quarantine, micro_batch_id, "quarantine_date"),
                )
            )
        if counted.observations:
            observations.append(observation_frame(self.spark, counted.observations))
        if verdicts.get((CONTROL_INDEX, True)):
            observations.append(marker_observations(checked, micro_batch_id))
        if observations:
            feed = reduce(lambda a, b: a.unionByName(b), observations).select(*OBSERVATION_COLUMNS)
            writes.append(("append observations", self._append(feed, tables.observations, micro_batch_id)))
        self._write_all(writes)

    def _verdicts(self, checked: DataFrame, micro_batch_id: int) -> Counted:
        """The counting pass over ``checked`` (:func:`tally`): its verdicts, the entity topics whose
        keys are known, its observations."""
        known = F.coalesce("_known", F.lit(False)).alias("k")
        keys = [F.col("_t"), F.col("reason").isNull().alias("ok"), known]
        counted = tally(counting_pass(checked, self.plan, keys), self.plan, micro_batch_id)
        self._step("verdicts")
        return counted

    def _append(
        self, frame: DataFrame, path: str, micro_batch_id: int, partition_by: str | None = None
    ) -> Callable[[], object]:
        assert self.ledger is not None
        ledger = self.ledger
        return lambda: ledger.append(frame, path, micro_batch_id, partition_by)

    def _write_all(self, writes: list[Write]) -> None:
        """Run the writes on one thread each (the Spark pool carried over); raise the first failure."""

        with ThreadPoolExecutor(max_workers=max(len(writes), 1), thread_name_prefix="silver-write") as pool:
            futures = [
                pool.submit(inheritable_thread_target(self.spark)(_timed), name, write)
                for name, write in writes
            ]
            results = [future.result() for future in futures]
        self._step("writes")
        self.steps += [(f"[{name}]", secs) for name, secs in results]
