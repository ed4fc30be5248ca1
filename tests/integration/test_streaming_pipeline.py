"""The streaming job end to end on a real broker, real Spark and real Delta tables."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from streaming_support import (
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

from streaming.submit import run_stream

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

INTERVALS = 4


def test_backfill_then_available_now_equals_generate(
    spark: SparkSession, kafka_bootstrap: str, data_dir_factory: Callable[[str], Path], unique_name: Callable[[str], str]
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("bf") + ".")
    produce_backfill(case, INTERVALS)
    expected = generate(case, INTERVALS)

    summary = run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    assert silver_events(spark, case) == event_tuples(expected["events"])
    assert table(spark, case, "silver", "driver_events").count() == len(expected["events"])
    companies = table(spark, case, "silver", "companies").collect()
    assert sorted(row.company_id for row in companies) == sorted(c["company_id"] for c in expected["entities"])
    assert table(spark, case, "silver", "quarantine").count() == 0
    checks = table(spark, case, "checks", "interval_checks").collect()
    assert len(checks) == INTERVALS * 3
    assert {row.status for row in checks} == {"complete"}
    assert sum(row.observed for row in checks) == len(expected["events"])
    for role, topic in case.topics.items():
        assert table(spark, case, "bronze", topic).count() == len(expected[role])
    assert summary.intervals_checked == INTERVALS
    assert summary.metrics_port is not None
    body = urllib.request.urlopen(f"http://127.0.0.1:{summary.metrics_port}/metrics", timeout=10).read().decode()
    assert "seedstream_streaming_input_rows" in body
    progress = (case.data_dir / "logs" / "streaming-progress.jsonl").read_text().splitlines()
    assert any(json.loads(line)["event"] == "progress" for line in progress)
