"""interval_checks on small static DataFrames: statuses, shard sums, closing by watermark; bronze shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from streaming import checks
from streaming.bronze import BRONZE_COLUMNS, to_bronze

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

TYPES = ("start driving", "stopped driving", "delivered")
NOW = datetime(2025, 11, 9, tzinfo=UTC)


def intervals(spark: SparkSession, *batch_ids: str) -> DataFrame:
    rows = []
    for batch_id in batch_ids:
        start = datetime.strptime(batch_id, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        rows.append((batch_id, start, start + timedelta(minutes=15)))
    return spark.createDataFrame(rows, "batch_id string, interval_start timestamp, interval_end timestamp")


def truth(spark: SparkSession, rows: list[tuple[str, str, dict[str, int]]]) -> DataFrame:
    return spark.createDataFrame(rows, "batch_id string, shard string, event_type_counts map<string, bigint>")


def events(spark: SparkSession, counts: dict[tuple[str, str], int]) -> DataFrame:
    rows = [(batch_id, event_type) for (batch_id, event_type), n in counts.items() for _ in range(n)]
    return spark.createDataFrame(rows, "batch_id string, event_type string")


def by_key(frame: DataFrame) -> dict[tuple[str, str], tuple[object, ...]]:
    return {
        (row.batch_id, row.event_type): (
            row.expected,
            row.observed,
            row.difference,
            row.status,
            row.shards_reported,
        )
        for row in frame.collect()
    }


def test_statuses_per_event_type(spark: SparkSession) -> None:
    a = "20251108T1200Z"
    result = checks.interval_checks(
        intervals(spark, a),
        truth(spark, [(a, "0/1", {"start driving": 2, "stopped driving": 1, "delivered": 0})]),
        events(spark, {(a, "start driving"): 2, (a, "delivered"): 1}),
        TYPES,
        NOW,
        NOW,
    )
    assert by_key(result) == {
        (a, "start driving"): (2, 2, 0, checks.COMPLETE, "1/1"),
        (a, "stopped driving"): (1, 0, -1, checks.MISSING, "1/1"),
        (a, "delivered"): (0, 1, 1, checks.SURPLUS, "1/1"),
    }


def test_shard_records_are_summed_and_missing_truth_is_reported(spark: SparkSession) -> None:
    a, b = "20251108T1200Z", "20251108T1215Z"
    shards = [
        (a, "0/2", {"start driving": 1, "stopped driving": 0, "delivered": 0}),
        (a, "1/2", {"start driving": 2, "stopped driving": 1, "delivered": 0}),
    ]
    result = checks.interval_checks(
        intervals(spark, a, b),
        truth(spark, shards),
        events(spark, {(a, "start driving"): 3, (a, "stopped driving"): 1, (b, "delivered"): 4}),
        TYPES,
        None,
        NOW,
    )
    rows = by_key(result)
    assert rows[(a, "start driving")] == (3, 3, 0, checks.COMPLETE, "2/2")
    assert rows[(a, "delivered")] == (0, 0, 0, checks.COMPLETE, "2/2")
    assert rows[(b, "delivered")] == (None, 4, None, checks.NO_GROUND_TRUTH, None)
    assert len(rows) == 6


def test_only_intervals_whose_end_plus_lateness_the_watermark_passed_are_closed(spark: SparkSession) -> None:
    frame = intervals(spark, "20251108T1200Z", "20251108T1215Z")
    watermark = datetime(2025, 11, 8, 12, 20, tzinfo=UTC)
    assert [r.batch_id for r in checks.closed(frame, watermark, timedelta(0)).collect()] == ["20251108T1200Z"]
    assert checks.closed(frame, watermark, timedelta(minutes=6)).count() == 0
    assert checks.closed(frame, None, timedelta(minutes=6)).count() == 2


def test_bronze_keeps_raw_key_value_headers_and_lineage(spark: SparkSession) -> None:
    kafka = spark.createDataFrame(
        [(b"k", b'{"a":1}', "t", 1, 7, NOW, 0, [("schema", b"DriverEvent")])],
        "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
        "timestampType int, headers array<struct<key: string, value: binary>>",
    )
    row = to_bronze(kafka).collect()[0]
    assert tuple(to_bronze(kafka).columns) == BRONZE_COLUMNS
    assert (row.key, row.value, row.topic, row.partition, row.offset) == ("k", '{"a":1}', "t", 1, 7)
    assert [(h.key, h.value) for h in row.headers] == [("schema", "DriverEvent")]
    assert row.ingest_date == row.ingest_time.date()
