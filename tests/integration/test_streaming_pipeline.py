"""The streaming job end to end on a real broker, real Spark and real Delta tables."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from streaming.submit import run_stream
from tests.integration.streaming_support import (
    Record,
    StreamCase,
    create_topics,
    event_tuples,
    generate,
    make_case,
    produce_backfill,
    publish,
    records_of,
    silver_events,
    table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

INTERVALS = 4


def test_backfill_then_available_now_equals_generate(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("bf") + ".")
    produce_backfill(case, INTERVALS)
    expected = generate(case, INTERVALS)

    summary = run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    assert silver_events(spark, case) == event_tuples(expected["events"])
    assert table(spark, case, "silver", "driver_events").count() == len(expected["events"])
    companies = table(spark, case, "silver", "companies").collect()
    assert sorted(row.company_id for row in companies) == sorted(
        c["company_id"] for c in expected["entities"]
    )
    assert table(spark, case, "silver", "quarantine").count() == 0
    checks = table(spark, case, "checks", "interval_checks").collect()
    assert len(checks) == INTERVALS * 3
    assert {row.status for row in checks} == {"complete"}
    assert sum(row.observed for row in checks) == len(expected["events"])
    for role, topic in case.topics.items():
        assert table(spark, case, "bronze", topic).count() == len(expected[role])
    # Intervals the watermark closed were checked during the micro-batch, the rest at end of input.
    assert 1 <= summary.intervals_checked <= INTERVALS
    logged = [json.loads(line) for line in (case.data_dir / "logs" / "checks.jsonl").read_text().splitlines()]
    assert {line["batch_id"] for line in logged} == {t["batch_id"] for t in expected["ground_truth"]}
    assert {line["status"] for line in logged} == {"complete"}
    assert summary.metrics_port is not None
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{summary.metrics_port}/metrics", timeout=10).read().decode()
    )
    assert "seedstream_streaming_input_rows" in body
    progress = (case.data_dir / "logs" / "streaming-progress.jsonl").read_text().splitlines()
    assert any(json.loads(line)["event"] == "progress" for line in progress)


def _grouped(
    case: StreamCase, generated: dict[str, list[dict[str, Any]]], batch_ids: set[str]
) -> list[Record]:
    """One interval set's events (in generate order), then their ground truth."""
    events = [e for e in generated["events"] if e["batch_id"] in batch_ids]
    truth = [t for t in generated["ground_truth"] if t["batch_id"] in batch_ids]
    return records_of(case, "events", events, "driver_id") + records_of(
        case, "ground_truth", truth, "batch_id"
    )


def test_duplicates_leave_silver_unchanged(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("dup") + ".")
    create_topics(case)
    generated = generate(case, 2)
    first, second = sorted({t["batch_id"] for t in generated["ground_truth"]})
    companies = records_of(case, "entities", generated["entities"], "company_id")
    second_events = [r for r in _grouped(case, generated, {second}) if r[0] == case.topics["events"]]
    # The second interval's events twice in the same micro-batch.
    publish(
        case,
        companies,
        _grouped(case, generated, {first}),
        second_events,
        _grouped(case, generated, {second}),
    )
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    expected = event_tuples(generated["events"])
    assert silver_events(spark, case) == expected
    assert table(spark, case, "silver", "driver_events").count() == len(expected)
    assert table(spark, case, "silver", "quarantine").count() == 0

    # Both intervals again, in a later micro-batch: the second dedups against silver, the first is late.
    publish(case, _grouped(case, generated, {first, second}))
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    assert silver_events(spark, case) == expected
    assert table(spark, case, "silver", "driver_events").count() == len(expected)
    assert {row.reason for row in table(spark, case, "silver", "quarantine").collect()} <= {"late"}
    bronze_events = table(spark, case, "bronze", case.topics["events"]).count()
    assert bronze_events == len(generated["events"]) * 2 + len(second_events)
    checks = table(spark, case, "checks", "interval_checks").collect()
    assert {row.status for row in checks} == {"complete"}


def test_events_dropped_before_the_ground_truth_are_reported_missing(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("miss") + ".")
    create_topics(case)
    generated = generate(case, 2)
    dropped_type = "start driving"
    first = min(t["batch_id"] for t in generated["ground_truth"])
    victims = [
        e["event_id"]
        for e in generated["events"]
        if e["batch_id"] == first and e["event_type"] == dropped_type
    ]
    assert len(victims) >= 3
    kept = [e for e in generated["events"] if e["event_id"] not in set(victims[:3])]
    publish(
        case,
        records_of(case, "entities", generated["entities"], "company_id"),
        records_of(case, "events", kept, "driver_id"),
        records_of(case, "ground_truth", generated["ground_truth"], "batch_id"),
    )
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    checks = {
        (r.batch_id, r.event_type): r for r in table(spark, case, "checks", "interval_checks").collect()
    }
    assert len(checks) == 6
    missing = checks[(first, dropped_type)]
    assert (missing.status, missing.difference, missing.expected - missing.observed) == ("missing", -3, 3)
    assert {r.status for key, r in checks.items() if key != (first, dropped_type)} == {"complete"}
