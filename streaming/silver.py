"""silver: the routed micro-batch written to the entity, event, ground-truth and quarantine tables.

:class:`SilverWriter` is the ``foreachBatch`` function of the ``silver`` query. Per micro-batch it
persists the routed frame once and then:

1. merges each entity topic's valid versions into ``silver/<entity>`` (latest version per key wins
   by (time field, Kafka timestamp, partition, offset); ``valid_from`` keeps the first version's
   time), so an entity in the same micro-batch as its first event is known to that event;
2. checks each event's references against those tables (:func:`check_references`);
3. appends valid events to ``silver/<event topic>``, valid ground truth to ``silver/<truth topic>``,
   every rejected record to ``silver/quarantine`` and the micro-batch's counts per interval, event
   topic and category to ``checks/observations`` (the interval checks' one input, so they see one
   consistent cut of every table).

Exactly once: appends use Delta's idempotent writes (``txnAppId`` = the checkpoint's query id and
the table, ``txnVersion`` = the micro-batch id) and a merge applied twice changes nothing, so a
micro-batch replayed after a crash writes nothing twice.

Reference rules, after the intrinsic checks and before ``late``: ``unknown_reference`` (no entity
with that key in ``silver/<entity>``), ``reference_not_yet_valid`` (the entity's first version is at
or after the start of the event's interval, or its declared ``Active`` field says inactive in a
version from at or before that start).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import Window
from pyspark.sql import functions as F

from streaming.contract import INTERVAL_FIELD, SHARD_FIELD, PipelinePlan, TopicPlan
from streaming.validation import (
    LATE,
    REFERENCE_NOT_YET_VALID,
    UNKNOWN_REFERENCE,
    Check,
    first_failure,
    quarantine_rows,
    typed_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming.tables import Tables

log = logging.getLogger(__name__)

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


def check_references(
    events: DataFrame, topic: TopicPlan, plan: PipelinePlan, entities: dict[str, DataFrame]
) -> DataFrame:
    """Fill ``reason``/``detail`` of ``topic``'s rows that passed the intrinsic checks and fail a
    reference rule; ``entities``: entity topic name → its silver table."""
    checks: list[Check] = []
    frame = events
    start = F.col("_interval_start")
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
        frame = frame.join(
            F.broadcast(known), F.col(topic.column(field_name)) == F.col(f"{prefix}_key"), "left"
        )
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
            )
            .select("batch_id", "interval_start", "topic", "_pair.*", "event_time")
        )
    if not parts:
        return None
    return (
        reduce(lambda a, b: a.unionByName(b), parts)
        .groupBy("batch_id", "interval_start", "topic", "category_field", "category")
        .agg(F.count(F.lit(1)).alias("observed"), F.max("event_time").alias("event_time"))
        .select(
            "batch_id", "interval_start", "topic", "category_field", "category", "observed",
            F.lit(None).cast("long").alias("expected"), F.lit(None).cast("string").alias("shard"),
            F.lit(None).cast("int").alias("shard_count"), "event_time",
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
        F.lit(micro_batch_id).cast("long").alias("micro_batch_id"),
    )  # fmt: skip


@dataclass
class SilverWriter:
    """The ``silver`` query's ``foreachBatch`` function (see the module docstring)."""

    spark: SparkSession
    plan: PipelinePlan
    tables: Tables
    writer_id: str = ""
    accepted: dict[str, int] = field(default_factory=dict)

    def append(
        self, frame: DataFrame, path: str, table: str, micro_batch_id: int, partition_by: str | None = None
    ) -> None:
        writer = (
            frame.write.format("delta").mode("append")
            .option("txnAppId", f"{self.writer_id}:{table}").option("txnVersion", micro_batch_id)
        )  # fmt: skip
        (writer.partitionBy(partition_by) if partition_by else writer).save(path)

    def __call__(self, batch: DataFrame, micro_batch_id: int) -> None:
        if not self.writer_id:
            self.writer_id = self.tables.query_id("silver")
        self.steps: list[tuple[str, float]] = []
        self._mark = time.monotonic()
        routed = batch.persist()
        try:
            self._process(routed, micro_batch_id)
        finally:
            routed.unpersist()
        log.info(
            "silver micro-batch %d: %s",
            micro_batch_id,
            ", ".join(f"{name} {secs:.2f} s" for name, secs in self.steps),
        )

    def _step(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self._mark))
        self._mark = now

    def _process(self, routed: DataFrame, micro_batch_id: int) -> None:
        plan = self.plan
        present = {
            (row["_t"], row["ok"]): row["n"]
            for row in routed.groupBy("_t", F.col("reason").isNull().alias("ok"))
            .agg(F.count(F.lit(1)).alias("n"))
            .collect()
        }
        self._step("route+cache")
        if not present:
            return
        for topic in plan.of_role("entities"):
            if present.get((topic.index, True)):
                versions = latest_versions(typed_rows(routed.where(F.col("reason").isNull()), topic), topic)
                merge_entities(self.spark, self.tables.silver(topic), versions, topic)
                self._step(f"merge {topic.table}")
        events = [t for t in plan.of_role("events") if present.get((t.index, True))]
        checked = routed
        if events:
            entities = {
                t.name: self.spark.read.format("delta").load(self.tables.silver(t))
                for t in plan.of_role("entities")
            }
            for topic in events:
                mine = F.col("_t") == topic.index
                checked = check_references(checked.where(mine), topic, plan, entities).unionByName(
                    checked.where(~mine)
                )
        final = checked
        verdicts = {
            (row["_t"], row["ok"]): row["n"]
            for row in final.groupBy("_t", F.col("reason").isNull().alias("ok"))
            .agg(F.count(F.lit(1)).alias("n"))
            .collect()
        }
        self._step("references")
        valid = final.where(F.col("reason").isNull())
        for topic in events:
            if verdicts.get((topic.index, True)):
                rows = typed_rows(valid, topic).withColumn("event_date", F.to_date(topic.time_field))
                self.append(rows, self.tables.silver(topic), topic.table, micro_batch_id, "event_date")
                self._step(f"append {topic.table}")
        truth = plan.ground_truth
        observations = []
        if verdicts.get((truth.index, True)):
            self.append(typed_rows(valid, truth), self.tables.silver(truth), truth.table, micro_batch_id)
            self._step(f"append {truth.table}")
            observations.append(truth_observations(final, plan, micro_batch_id))
        if any(verdicts.get((t.index, False)) for t in plan.topics):
            self.append(
                quarantine_rows(final),
                self.tables.quarantine,
                "quarantine",
                micro_batch_id,
                "quarantine_date",
            )
            self._step("append quarantine")
        if events:
            seen = event_observations(final, plan, micro_batch_id)
            if seen is not None:
                observations.append(seen)
        if observations:
            feed = reduce(lambda a, b: a.unionByName(b), observations)
            self.append(
                feed.select(*OBSERVATION_COLUMNS),
                self.tables.observations,
                "observations",
                micro_batch_id,
            )
            self._step("append observations")
