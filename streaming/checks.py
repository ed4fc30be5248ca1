"""interval_checks: each closed interval's ground truth against silver, per event type.

An interval is *closed* once the watermark passes ``interval_end + allowed_lateness``; from then on
late records are quarantined, so silver's counts for it can no longer change and the check is
final. Ground truth may come as several shard records (``i/N``) per interval: their counts are
summed. Status per (batch_id, event_type): ``complete`` (observed = expected), ``missing``
(observed < expected), ``surplus`` (observed > expected), or ``no_ground_truth`` when silver holds
events of the interval but no ground-truth record arrived. Checks are written with a MERGE on
(batch_id, event_type), so recomputing one is idempotent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from producer.generation.clock import to_micros_delta

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

COMPLETE = "complete"
MISSING = "missing"
SURPLUS = "surplus"
NO_GROUND_TRUTH = "no_ground_truth"

CHECK_COLUMNS = (
    "batch_id",
    "event_type",
    "interval_start",
    "interval_end",
    "expected",
    "observed",
    "difference",
    "status",
    "shards_reported",
    "watermark",
    "checked_at",
)


def closed(intervals: DataFrame, watermark: datetime | None, lateness: timedelta) -> DataFrame:
    """The intervals (``interval_end`` column) whose end plus ``lateness`` the watermark has passed.

    ``watermark=None`` means end of input (the watermark at +∞): every interval is closed.
    """
    if watermark is None:
        return intervals
    deadline = F.timestamp_micros(F.unix_micros(F.col("interval_end")) + F.lit(to_micros_delta(lateness)))
    return intervals.where(deadline <= F.lit(watermark))


def expected_counts(ground_truth: DataFrame) -> DataFrame:
    """Ground-truth records (one per batch_id and shard) → expected count per (batch_id, event_type)."""
    per_type = ground_truth.select(
        "batch_id", "shard", F.explode("event_type_counts").alias("event_type", "count")
    )
    shards = ground_truth.groupBy("batch_id").agg(
        F.concat(
            F.count_distinct("shard").cast("string"),
            F.lit("/"),
            F.max(F.split(F.col("shard"), "/").getItem(1)),
        ).alias("shards_reported")
    )
    sums = per_type.groupBy("batch_id", "event_type").agg(F.sum("count").alias("expected"))
    return sums.join(shards, "batch_id")


def observed_counts(events: DataFrame) -> DataFrame:
    """Silver events → observed count per (batch_id, event_type)."""
    return events.groupBy("batch_id", "event_type").agg(F.count(F.lit(1)).alias("observed"))


def interval_checks(
    intervals: DataFrame,
    ground_truth: DataFrame,
    events: DataFrame,
    event_types: tuple[str, ...],
    watermark: datetime | None,
    checked_at: datetime,
) -> DataFrame:
    """One check row per (interval, event type) for ``intervals`` (batch_id, interval_start, interval_end).

    Args:
        intervals: the intervals to check (already known to be closed).
        ground_truth: silver ground-truth records (batch_id, shard, event_type_counts).
        events: silver events (batch_id, event_type); only the intervals' rows are counted.
        event_types: every event type, so a type with no events still gets a row.
        watermark: recorded on each row (None: end of input).
        checked_at: when the check ran.
    """
    wanted = intervals.select("batch_id", "interval_start", "interval_end").distinct()
    types = wanted.crossJoin(
        wanted.sparkSession.createDataFrame([(name,) for name in event_types], "event_type string")
    )
    truth = expected_counts(ground_truth.join(wanted.select("batch_id"), "batch_id", "left_semi"))
    has_truth = truth.select("batch_id", "shards_reported").distinct()
    seen = observed_counts(events.join(wanted.select("batch_id"), "batch_id", "left_semi"))
    rows = (
        types.join(has_truth, "batch_id", "left")
        .join(truth.drop("shards_reported"), ["batch_id", "event_type"], "left")
        .join(seen, ["batch_id", "event_type"], "left")
        .withColumn("observed", F.coalesce(F.col("observed"), F.lit(0)).cast("long"))
        .withColumn(
            "expected",
            F.when(F.col("shards_reported").isNotNull(), F.coalesce(F.col("expected"), F.lit(0))).cast(
                "long"
            ),
        )
    )
    status = (
        F.when(F.col("shards_reported").isNull(), F.lit(NO_GROUND_TRUTH))
        .when(F.col("observed") == F.col("expected"), F.lit(COMPLETE))
        .when(F.col("observed") < F.col("expected"), F.lit(MISSING))
        .otherwise(F.lit(SURPLUS))
    )
    return rows.select(
        "batch_id",
        "event_type",
        "interval_start",
        "interval_end",
        "expected",
        "observed",
        (F.col("observed") - F.col("expected")).alias("difference"),
        status.alias("status"),
        "shards_reported",
        F.lit(watermark).cast("timestamp").alias("watermark"),
        F.lit(checked_at).cast("timestamp").alias("checked_at"),
    )
