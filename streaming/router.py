"""Spark's watermark applied to every event, and deduplication by record id within it.

Spark's own stateful operators (``dropDuplicatesWithinWatermark``, aggregations, joins) drop rows
older than the watermark silently; the pipeline must quarantine them as ``late``. The one operator
that sees every row *and* Spark's watermark is ``flatMapGroupsWithState`` (or its Python twin
``applyInPandasWithState``) without a timeout: it is handed all of a group's rows and
``GroupState.getCurrentWatermarkMs()``. :func:`routed` applies that operator with the function
``dev.seedstream.streaming.Router`` (:file:`streaming/java`, built by :mod:`streaming.javabuild`).

Groups are (topic, bucket of the record id): all copies of an id meet in one group, and a group's
state holds the ids it has accepted with their event times. Per micro-batch and group:

- rows that are not events that passed the intrinsic checks pass through untouched;
- an event whose time is at or before the watermark is flagged ``_late`` (Spark's own predicate,
  ``event_time <= watermark``) and not remembered;
- of the others, the first copy of each id (by partition, offset) that the state does not hold is
  kept, the rest are flagged ``_duplicate`` (bronze lands them, silver drops them; duplicates are
  not quarantined);
- ids older than the watermark are evicted: any later copy of them is late anyway.

The decisions are a pure function of (rows, state, watermark), so a micro-batch replayed after a
crash produces the same rows.

Why the JVM: ``applyInPandasWithState`` moves every column of every row (the raw value and every
topic's typed fields) through Arrow to a Python worker and back. Measured with
``bench/bench_streaming.py`` (1 h of ``scaling``, 398,707 events, 2 cores), the silver rung took
92.2 s with the pandas router against 86.7 s with no router at all; the JVM router removes most of
that difference and the Python workers from the silver query.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BUCKETS = 16
"""Groups per topic; part of the state's key, so fixed for the life of a checkpoint."""
KEYS = ("_t", "_bucket")
ROUTER_CLASS = "dev.seedstream.streaming.Router"


def watermarked(parsed: DataFrame, delay_seconds: float) -> DataFrame:
    """One input's parsed frame with Spark's watermark declared on ``_event_time``.

    The silver query declares it once per event topic partition, each its own Kafka source: Spark's
    global watermark is then the minimum of theirs (``spark.sql.streaming.multipleWatermarkPolicy``
    ``min``, the default), so a partition whose capped backlog runs ahead in event time cannot make
    another partition's records late (:mod:`streaming.job`)."""
    return parsed.withWatermark("_event_time", f"{int(delay_seconds * 1000)} milliseconds")


def routed(parsed: DataFrame) -> DataFrame:
    """The router applied to a parsed frame whose first input is :func:`watermarked`: ``_late``,
    ``_duplicate`` and ``_watermark_ms`` (the watermark the decision used) added."""
    bucket = F.when(
        F.col("_record_id").isNotNull(), F.pmod(F.xxhash64("_record_id"), F.lit(BUCKETS))
    ).otherwise(F.pmod(F.col("offset"), F.lit(BUCKETS)))
    keyed = parsed.withColumn("_bucket", bucket.cast("int"))
    spark = keyed.sparkSession
    router = spark._jvm.dev.seedstream.streaming.Router  # type: ignore[union-attr]  # noqa: SLF001
    return DataFrame(router.route(keyed._jdf, ",".join(KEYS)), spark)  # noqa: SLF001
