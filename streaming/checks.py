"""Interval checks: a streaming aggregation over ``checks/observations`` closed by Spark's watermark.

The silver query appends, per micro-batch, observed counts of accepted events (per interval, event
topic, category and Kafka partition) and expected counts from ground-truth records to
``checks/observations``. The ``checks`` query reads that table as one stream in branches: one per
event topic and Kafka partition (its observed counts, each with ``withWatermark("event_time", delay
+ allowed_lateness)``, so Spark's global watermark is their minimum, mirroring the silver query's
sources) and one for the ground truth (not watermarked: it runs ahead of the events and must not
close intervals). It aggregates per ``window(event_time, interval)`` (intervals are aligned to the
epoch like Spark's windows), event topic, category field and category in **append** mode: a group
is emitted once, when Spark's watermark passes the window end, i.e. when every event partition's
largest accepted event time is at least ``interval_end + watermark_delay + allowed_lateness``. By
then the silver query's watermark (the same minimum over all of each partition's records) has
passed ``interval_end + allowed_lateness``: every later record of the interval is quarantined as
late, so the counts are final.

Status per row: ``complete`` (observed = expected), ``missing`` (<), ``surplus`` (>), or
``no_ground_truth`` (events but no ground-truth record by the time the watermark passed); a row
that is not complete of an interval a producer clean may have emptied is ``cleaned`` instead
(:mod:`streaming.cleaned`: clean markers are kept out of the aggregation and read when intervals
close). Cleaned intervals are not counted as checked. Shards'
ground-truth records are summed; a republished identical record counts once. Rows are appended
(``provisional`` false) exactly once (idempotent writes keyed by the micro-batch).

``--available-now`` ends with :func:`write_provisional`: intervals the watermark has not closed get
the same rows computed from the observations so far, marked ``provisional``; they replace the
previous provisional rows (one overwrite of ``provisional = true``) and are superseded by the final
rows the stream appends once the watermark passes (which then deletes the provisional ones).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from streaming.cleaned import CLEANED, CleanMarkers, is_marker_row
from streaming.observability import end_torn_line

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming.catalog import Names
    from streaming.contract import PipelinePlan
    from streaming.score import QualityScoreWriter
    from streaming.tables import Tables

log = logging.getLogger(__name__)

COMPLETE = "complete"
MISSING = "missing"
SURPLUS = "surplus"
NO_GROUND_TRUTH = "no_ground_truth"
STATUS_ORDER = (NO_GROUND_TRUTH, MISSING, SURPLUS, CLEANED, COMPLETE)
"""An interval's overall status is the first of these that any of its rows has."""

CHECK_SCHEMA = (
    "batch_id string, topic string, category_field string, category string, interval_start timestamp, "
    "interval_end timestamp, expected long, observed long, difference long, status string, "
    "shards_reported string, provisional boolean, checked_at timestamp"
)
GROUP = ("batch_id", "topic", "category_field", "category")


def _seconds(plan: PipelinePlan) -> tuple[str, str]:
    close = (plan.delay + plan.lateness).total_seconds()
    return f"{int(close * 1000)} milliseconds", f"{int(plan.interval.total_seconds() * 1000)} milliseconds"


def aggregate(observations: DataFrame, plan: PipelinePlan) -> DataFrame:
    """Observations → one row per (interval, topic, category field, category) with ``observed``,
    the distinct ground-truth ``truth`` entries (shard, expected) and ``shard_count``."""
    _, interval = _seconds(plan)
    return observations.groupBy(F.window("event_time", interval).alias("window"), *GROUP).agg(
        F.sum("observed").alias("observed"),
        F.collect_set(F.when(F.col("shard").isNotNull(), F.struct("shard", "expected"))).alias("truth"),
        F.max("shard_count").alias("shard_count"),
    )


def statuses(groups: DataFrame, provisional: bool, checked_at: Column | None = None) -> DataFrame:
    """:func:`aggregate` output → check rows (the ``interval_checks`` schema)."""
    has_truth = F.size("truth") > 0
    expected = F.when(
        has_truth, F.aggregate("truth", F.lit(0).cast("long"), lambda acc, x: acc + x["expected"])
    )
    observed = F.coalesce(F.col("observed"), F.lit(0)).cast("long")
    status = (
        F.when(~has_truth, F.lit(NO_GROUND_TRUTH))
        .when(observed == expected, F.lit(COMPLETE))
        .when(observed < expected, F.lit(MISSING))
        .otherwise(F.lit(SURPLUS))
    )
    shards = F.when(
        has_truth,
        F.concat(
            F.size(F.array_distinct(F.col("truth.shard"))).cast("string"),
            F.lit("/"),
            F.col("shard_count").cast("string"),
        ),
    )
    return groups.select(
        "batch_id",
        "topic",
        "category_field",
        "category",
        F.col("window.start").alias("interval_start"),
        F.col("window.end").alias("interval_end"),
        expected.alias("expected"),
        observed.alias("observed"),
        (observed - expected).alias("difference"),
        status.alias("status"),
        shards.alias("shards_reported"),
        F.lit(provisional).alias("provisional"),
        (checked_at if checked_at is not None else F.current_timestamp()).alias("checked_at"),
    )


def mark_cleaned(rows: DataFrame, through: datetime) -> DataFrame:
    """Check rows with every row that is not complete of an interval starting at or before
    ``through`` (the newest cleaned interval) reported as ``cleaned``."""
    cleaned = (F.col("status") != F.lit(COMPLETE)) & (F.col("interval_start") <= F.lit(through))
    return rows.withColumn("status", F.when(cleaned, F.lit(CLEANED)).otherwise(F.col("status")))


def lost_intervals(rows: list[Any]) -> dict[str, datetime]:
    """Collected check rows → the intervals with a row that is not complete (batch_id → start)."""
    return {row["batch_id"]: row["interval_start"] for row in rows if row["status"] != COMPLETE}


def streaming_checks(
    spark: SparkSession, plan: PipelinePlan, observations_path: str, partitions: Mapping[str, int]
) -> DataFrame:
    """The checks query's input: ``checks/observations`` (without clean markers) as a stream,
    watermarked per event topic and Kafka partition (``partitions``: event topic name → its
    partition count, as the silver query reads them) and aggregated."""
    close, _ = _seconds(plan)
    # One source, several branches: Spark maps every occurrence of one streaming relation to one
    # source (one offset and one Delta log read per micro-batch), while each branch keeps its own
    # watermark. A source per branch made the checks query plan and fetch one per event partition.
    observations = spark.readStream.format("delta").load(observations_path).where(~is_marker_row())
    observed = [
        observations.where(
            (F.col("topic") == topic.name) & (F.col("source_partition") == partition)
        ).withWatermark("event_time", close)
        for topic in plan.of_role("events")
        for partition in range(partitions[topic.name])
    ]
    truth = observations.where(F.col("shard").isNotNull())
    return aggregate(reduce(lambda a, b: a.unionByName(b), [*observed, truth]), plan)


def interval_summaries(rows: list[Any]) -> list[dict[str, Any]]:
    """Check rows (collected) → one summary per interval: worst status, sums, provisional."""
    by_interval: dict[str, list[Any]] = {}
    for row in rows:
        by_interval.setdefault(row["batch_id"], []).append(row)
    summaries = []
    for batch_id in sorted(by_interval):
        group = by_interval[batch_id]
        found = {row["status"] for row in group}
        status = next(s for s in STATUS_ORDER if s in found)
        summaries.append(
            {
                "batch_id": batch_id,
                "status": status,
                "expected": sum(row["expected"] or 0 for row in group if row["category_field"] is None),
                "observed": sum(row["observed"] or 0 for row in group if row["category_field"] is None),
                "provisional": bool(group[0]["provisional"]),
            }
        )
    return summaries


@dataclass
class CheckLog:
    """``checks.jsonl`` (one line per checked interval) and the counts the metrics export."""

    path: Path | None
    checked: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _appended: bool = False
    """Whether this job appended to :attr:`path` yet (before its first line, a line a killed run
    left half-written is ended: :func:`~streaming.observability.end_torn_line`)."""

    def record(self, summaries: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC).isoformat()
        lines = []
        with self._lock:
            for summary in summaries:
                if not summary["provisional"]:
                    self.checked[summary["batch_id"]] = summary["status"]
                lines.append(json.dumps({**summary, "checked_at": now}, separators=(",", ":")))
        if self.path is not None and lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                if not self._appended:
                    end_torn_line(self.path)
                    self._appended = True
                with self.path.open("a", encoding="utf-8") as file:
                    file.write("\n".join(lines) + "\n")

    def counts(self) -> tuple[int, int]:
        """(intervals checked final by this job, of which complete); cleaned intervals are not checked."""
        with self._lock:
            statuses = [status for status in self.checked.values() if status != CLEANED]
            return len(statuses), statuses.count(COMPLETE)

    def cleaned(self) -> int:
        """Intervals this job reported as cleaned (final) instead of checking them."""
        with self._lock:
            return sum(1 for status in self.checked.values() if status == CLEANED)


@dataclass
class CheckWriter:
    """The ``checks`` query's ``foreachBatch``: append final rows, drop superseded provisional rows,
    log each interval, refresh the scenario's derived (gold) tables (see ``gold``), score the closed intervals
    against the fault labels (:mod:`streaming.score`)."""

    spark: SparkSession
    plan: PipelinePlan
    tables: Tables
    log: CheckLog
    provisional_pending: bool = False
    writer_id: str = ""
    cleans: CleanMarkers | None = None
    names: Names | None = None
    scores: QualityScoreWriter | None = None
    """Scores the closed intervals against the fault labels (when the job lands a label topic)."""
    gold: bool = True
    """Refresh the gold tables after each micro-batch with final rows (off for ``--available-now``,
    whose run refreshes them once after the drain: silver no longer changes by then)."""

    def __call__(self, batch: DataFrame, micro_batch_id: int) -> None:
        if not self.writer_id:
            self.writer_id = self.tables.query_id("checks")
        if self.cleans is None:
            self.cleans = CleanMarkers(self.spark, self.tables.observations)
            self.cleans.start()
        rows = statuses(batch, provisional=False).persist()
        try:
            collected = rows.collect()
            if not collected:
                return
            through = self.cleans.through(lost_intervals(collected))
            final = rows
            if through is not None:
                final = mark_cleaned(rows, through)
                collected = final.collect()
            (
                final.write.format("delta").mode("append")
                .option("txnAppId", f"{self.writer_id}:interval_checks").option("txnVersion", micro_batch_id)
                .save(self.tables.checks)
            )  # fmt: skip
            intervals = sorted({row["batch_id"] for row in collected})
            if self.provisional_pending:
                DeltaTable.forPath(self.spark, self.tables.checks).delete(
                    F.col("provisional") & F.col("batch_id").isin(intervals)
                )
            self.log.record(interval_summaries(collected))
            if self.gold:
                refresh_gold(self.spark, self.plan, self.tables, self.names)
            if self.scores is not None:
                self.scores(intervals, micro_batch_id, self.writer_id)
        finally:
            rows.unpersist()


def has_provisional(spark: SparkSession, tables: Tables) -> bool:
    """Whether the checks table holds provisional rows (read once at start)."""
    return bool(spark.read.format("delta").load(tables.checks).where("provisional").limit(1).count())


def write_provisional(spark: SparkSession, plan: PipelinePlan, tables: Tables, log: CheckLog) -> int:
    """Check every interval observed but not closed yet, as provisional rows; returns how many."""
    final = (
        spark.read.format("delta")
        .load(tables.checks)
        .where(~F.col("provisional"))
        .select("batch_id")
        .distinct()
    )
    observations = (
        spark.read.format("delta").load(tables.observations).where(~is_marker_row())
        .join(final, "batch_id", "left_anti")
    )  # fmt: skip
    rows = statuses(aggregate(observations, plan), provisional=True).persist()
    try:
        cleans = CleanMarkers(spark, tables.observations)
        cleans.start()
        through = cleans.through(lost_intervals(rows.collect()))
        output = rows if through is None else mark_cleaned(rows, through)  # a projection of the cache
        (
            output.write.format("delta").mode("overwrite").option("replaceWhere", "provisional = true")
            .save(tables.checks)
        )  # fmt: skip
        summaries = interval_summaries(output.collect())
    finally:
        rows.unpersist()
    log.record(summaries)
    return len(summaries)


def refresh_gold(spark: SparkSession, plan: PipelinePlan, tables: Tables, names: Names | None = None) -> None:
    """Recompute the scenario's derived tables from the current silver tables (overwrite), and
    register their names (``names``) the first time."""
    if not plan.derived:
        return
    silver = {topic.name: spark.read.format("delta").load(tables.silver(topic)) for topic in plan.topics}
    for name, derive in plan.derived.items():
        frame: DataFrame = derive(silver)
        frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
            tables.gold(name)
        )
    if names is not None:
        names.ensure(layers=("gold",))
