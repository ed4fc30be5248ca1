"""Interval checks and the router on small static frames: statuses, shard sums, late, dedup; bronze shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from producer.config import load_config
from streaming import checks
from streaming.bronze import BRONZE_COLUMNS, to_bronze
from streaming.contract import plan_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

NOW = datetime(2025, 11, 9, tzinfo=UTC)
PLAN = plan_for(load_config("small"))
A, B = "20251108T1200Z", "20251108T1215Z"
OBSERVATIONS = (
    "batch_id string, topic string, category_field string, category string, observed long, expected long, "
    "shard string, shard_count int, event_time timestamp"
)


def observations(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, OBSERVATIONS)


def start(batch_id: str) -> datetime:
    return datetime.strptime(batch_id, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def seen(batch_id: str, category: str, n: int) -> tuple[object, ...]:
    return (
        batch_id,
        "fleet.driver-events",
        "event_type",
        category,
        n,
        None,
        None,
        None,
        start(batch_id) + timedelta(minutes=5),
    )


def truth(batch_id: str, category: str, n: int, shard: str = "0/1") -> tuple[object, ...]:
    total = int(shard.split("/")[1])
    return (batch_id, "fleet.driver-events", "event_type", category, 0, n, shard, total, start(batch_id))


def by_key(frame: DataFrame) -> dict[tuple[str, str], tuple[object, ...]]:
    return {
        (row.batch_id, row.category): (
            row.expected,
            row.observed,
            row.difference,
            row.status,
            row.shards_reported,
        )
        for row in frame.collect()
    }


def test_statuses_per_category(spark: SparkSession) -> None:
    rows = [truth(A, "start driving", 2), truth(A, "stopped driving", 1), truth(A, "delivered", 0)]
    rows += [seen(A, "start driving", 2), seen(A, "delivered", 1)]
    result = checks.statuses(checks.aggregate(observations(spark, rows), PLAN), provisional=False)
    assert by_key(result) == {
        (A, "start driving"): (2, 2, 0, checks.COMPLETE, "1/1"),
        (A, "stopped driving"): (1, 0, -1, checks.MISSING, "1/1"),
        (A, "delivered"): (0, 1, 1, checks.SURPLUS, "1/1"),
    }
    first = result.collect()[0]
    assert (first.interval_start, first.interval_end, first.provisional) == (
        datetime(2025, 11, 8, 12, 0),
        datetime(2025, 11, 8, 12, 15),
        False,
    )


def test_shards_are_summed_a_repeated_record_counts_once_and_missing_truth_is_reported(
    spark: SparkSession,
) -> None:
    rows = [
        truth(A, "start driving", 1, "0/2"),
        truth(A, "start driving", 2, "1/2"),
        truth(A, "start driving", 2, "1/2"),
    ]
    rows += [seen(A, "start driving", 3), seen(B, "delivered", 4)]
    result = by_key(checks.statuses(checks.aggregate(observations(spark, rows), PLAN), provisional=True))
    assert result[(A, "start driving")] == (3, 3, 0, checks.COMPLETE, "2/2")
    assert result[(B, "delivered")] == (None, 4, None, checks.NO_GROUND_TRUTH, None)


def test_interval_summaries_take_the_worst_status() -> None:
    rows = [
        {"batch_id": A, "status": checks.COMPLETE, "category_field": None, "expected": 3, "observed": 3, "provisional": False},  # noqa: E501
        {"batch_id": A, "status": checks.MISSING, "category_field": "event_type", "expected": 1, "observed": 0, "provisional": False},  # noqa: E501
    ]  # fmt: skip
    assert checks.interval_summaries(rows) == [
        {"batch_id": A, "status": checks.MISSING, "expected": 3, "observed": 3, "provisional": False}
    ]


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
