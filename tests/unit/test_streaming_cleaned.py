"""Clean markers in the pipeline, on small static frames: parse, observation rows, the cleaned status."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from producer.config import load_config
from producer.generation.control import clean_marker_value
from streaming import checks, cleaned, silver, validation
from streaming.contract import plan_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

KAFKA_SCHEMA = "key string, value string, topic string, partition int, offset long, timestamp timestamp"
NOW = datetime(2025, 11, 9, tzinfo=UTC)
PLAN = plan_for(load_config("small"))
TRUTH = PLAN.ground_truth
CLEANED_AT = datetime(2025, 11, 8, 12, 40, 1, 250000, tzinfo=UTC)
MARKER = clean_marker_value("20251108T1230Z", CLEANED_AT, "0/1").decode()
GOOD_TRUTH = {
    "batch_id": "20251108T1215Z", "interval_start": "2025-11-08T12:15:00.000000Z",
    "interval_end": "2025-11-08T12:30:00.000000Z", "event_count": 3,
    "event_type_counts": {"start driving": 1, "stopped driving": 1, "delivered": 1},
    "eligible_companies": 1, "seed": 1, "shard": "0/1", "generation_time": "2025-11-08T12:30:00.000000Z",
}  # fmt: skip
A, B, C = "20251108T1215Z", "20251108T1230Z", "20251108T1245Z"
START = {A: datetime(2025, 11, 8, 12, 15), B: datetime(2025, 11, 8, 12, 30), C: datetime(2025, 11, 8, 12, 45)}
"""Interval starts as Spark returns them (naive, in the test process's time zone: UTC)."""


def parsed(spark: SparkSession, values: list[str], topic: str = TRUTH.kafka_topic) -> DataFrame:
    rows = [("k", value, topic, 0, offset, NOW) for offset, value in enumerate(values)]
    return validation.parse(validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA)), PLAN)


def test_a_marker_is_a_control_record_not_a_ground_truth(spark: SparkSession) -> None:
    frame = parsed(spark, [MARKER, json.dumps(GOOD_TRUTH)]).orderBy("offset")
    rows = frame.select("_t", "reason", cleaned.is_clean_marker().alias("marker")).collect()
    assert [(row._t, row.reason, row.marker) for row in rows] == [
        (validation.CONTROL_INDEX, None, True),
        (TRUTH.index, None, False),
    ]
    # the ground-truth table gets the real record only
    assert [row.batch_id for row in validation.typed_rows(frame, TRUTH).collect()] == [A]
    # a marker sent to an event topic is no marker: that topic's checks reject it
    (event_row,) = parsed(spark, [MARKER], "fleet.driver-events").collect()
    assert event_row._t != validation.CONTROL_INDEX and event_row.reason == validation.SCHEMA_VIOLATION


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"seedstream_control": "purge"}, "seedstream_control: not one of ['clean']"),
        ({"cleaned_through": "yesterday"}, "cleaned_through: not an interval id like 20251108T1215Z"),
        ({"cleaned_at": "2025-11-08 12:40"}, "cleaned_at: not an ISO 8601 instant"),
        ({"shard": "first"}, "shard: not ^\\d+/\\d+$"),
        ({"extra": 1}, "unknown field extra"),
    ],
)
def test_a_malformed_marker_is_a_schema_violation_naming_the_field(
    spark: SparkSession, change: dict[str, object], detail: str
) -> None:
    value = json.dumps({**json.loads(MARKER), **change})
    (row,) = parsed(spark, [value]).collect()
    assert (row._t, row.reason, row.detail) == (validation.CONTROL_INDEX, validation.SCHEMA_VIOLATION, detail)
    assert not cleaned.marker_observations(parsed(spark, [value]), 3).collect()


def test_a_marker_becomes_one_observation_row_of_the_silver_shape(spark: SparkSession) -> None:
    observations = cleaned.marker_observations(parsed(spark, [MARKER, json.dumps(GOOD_TRUTH)]), 7)
    assert tuple(observations.columns) == silver.OBSERVATION_COLUMNS
    (row,) = observations.collect()
    start = START[B]
    assert row.asDict() == {
        "batch_id": B, "interval_start": start, "topic": None, "category_field": cleaned.CLEANED_AT,
        "category": "2025-11-08T12:40:01.250000Z", "observed": 0, "expected": None, "shard": "0/1",
        "shard_count": 1, "event_time": start, "source_partition": None, "micro_batch_id": 7,
    }  # fmt: skip


def check_rows(spark: SparkSession, rows: list[tuple[str, str, str | None, str, int, int]]) -> DataFrame:
    """(batch_id, topic, category_field, status, expected, observed) → check rows."""
    return spark.createDataFrame(
        [
            (batch, topic, field, None, START[batch], None, expected, observed,
             observed - expected, status, "1/1", False, datetime(2025, 11, 9))
            for batch, topic, field, status, expected, observed in rows
        ],  # fmt: skip
        checks.CHECK_SCHEMA,
    )


def test_rows_not_complete_through_the_cleaned_range_are_cleaned(spark: SparkSession) -> None:
    rows = check_rows(
        spark,
        [
            (A, "fleet.driver-events", None, checks.MISSING, 8, 3),
            (A, "fleet.driver-events", "event_type", checks.COMPLETE, 1, 1),
            (B, "fleet.driver-events", None, checks.NO_GROUND_TRUTH, 0, 4),
            (B, "fleet.driver-events", "event_type", checks.COMPLETE, 4, 4),
            (C, "fleet.driver-events", None, checks.MISSING, 9, 2),
        ],
    )
    through = START[B]
    marked = checks.mark_cleaned(rows, through).collect()
    assert [(row.batch_id, row.category_field, row.status) for row in marked] == [
        (A, None, cleaned.CLEANED),
        (A, "event_type", checks.COMPLETE),
        (B, None, cleaned.CLEANED),
        (B, "event_type", checks.COMPLETE),
        (C, None, checks.MISSING),  # after the cleaned range: a real alarm
    ]
    summaries = checks.interval_summaries(marked)
    assert [(s["batch_id"], s["status"]) for s in summaries] == [
        (A, cleaned.CLEANED),
        (B, cleaned.CLEANED),
        (C, checks.MISSING),
    ]
    log = checks.CheckLog(None)
    log.record(summaries)
    assert log.counts() == (1, 0) and log.cleaned() == 2


def test_markers_stay_out_of_the_aggregation_and_are_read_when_intervals_close(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "observations")
    events = spark.createDataFrame(
        [(A, datetime(2025, 11, 8, 12, 15), "fleet.driver-events", None, None, 3, None, None, None,
          datetime(2025, 11, 8, 12, 20), 0, 1)],  # fmt: skip
        ", ".join(f"{name} {kind}" for name, kind in zip(silver.OBSERVATION_COLUMNS, TYPES, strict=True)),
    )
    events.write.format("delta").save(path)
    markers = cleaned.CleanMarkers(spark, path)
    markers.start()
    assert markers.through({A: START[A]}) is None

    cleaned.marker_observations(parsed(spark, [MARKER]), 2).write.format("delta").mode("append").save(path)
    stored = spark.read.format("delta").load(path)
    assert stored.where(~cleaned.is_marker_row()).count() == 1  # what the checks aggregate
    with caplog.at_level(logging.INFO, logger="streaming.cleaned"):
        through = markers.through({A: START[A]})
        assert markers.through({}) == through  # logged once
    assert through == START[B]
    lines = [record.getMessage() for record in caplog.records if record.name == "streaming.cleaned"]
    assert lines == [
        f"producer data cleaned at 2025-11-08T12:40:01.250000Z: intervals through {B} not checked "
        f"(1 closed now reported as cleaned: {A})"
    ]
    # a writer started after the clean does not repeat it unless it turns a row into cleaned
    later = cleaned.CleanMarkers(spark, path)
    later.start()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streaming.cleaned"):
        assert later.through({C: START[C]}) == through
    assert not [record for record in caplog.records if record.name == "streaming.cleaned"]


TYPES = (
    "string", "timestamp", "string", "string", "string", "long", "long", "string", "int", "timestamp", "int",
    "long",
)  # fmt: skip
