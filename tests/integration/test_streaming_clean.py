"""A producer clean while the pipeline runs: the cleaned range is reported as cleaned, the rest checked."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer

from producer.config import SeedstreamConfig
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset
from producer.kafka.records import RecordFactory
from producer.kafka.truncate import delete_topic_records
from streaming.submit import run_stream
from tests.integration.streaming_support import (
    Record,
    create_topics,
    generate,
    instant,
    make_case,
    publish,
    records_of,
    table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]


async def _clean(config: SeedstreamConfig, topics: list[str], through: datetime) -> None:
    """What ``POST /api/clean`` does to Kafka: delete every record, then publish the clean marker."""
    await delete_topic_records(config.kafka, topics)
    factory = RecordFactory(get_scenario("fleet"), make_dataset("small"), Shard(), config.kafka.topic_prefix)
    marker = factory.clean_marker(through, datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=config.kafka.bootstrap_servers, acks="all")
    await asyncio.wait_for(producer.start(), timeout=30)
    try:
        headers = list(marker.headers)
        await producer.send_and_wait(
            marker.topic, key=marker.records.keys[0], value=marker.records.values[0], headers=headers
        )
    finally:
        await producer.stop()


def test_intervals_cleaned_before_the_pipeline_read_them_are_cleaned_and_the_rest_checked(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("clean") + ".")
    create_topics(case)
    generated = generate(case, 4)
    first, second, third, fourth = sorted(t["batch_id"] for t in generated["ground_truth"])

    def interval(batch_id: str, truth: bool = True) -> list[Record]:
        events = [e for e in generated["events"] if e["batch_id"] == batch_id]
        truths = [t for t in generated["ground_truth"] if t["batch_id"] == batch_id and truth]
        return records_of(case, "events", events, "driver_id") + records_of(
            case, "ground_truth", truths, "batch_id"
        )

    entities = records_of(case, "entities", generated["entities"], "company_id")
    # before the clean: the pipeline reads the first interval and the second one's events; the
    # second's ground truth is deleted before the pipeline reads it
    publish(case, entities, interval(first), interval(second, truth=False))
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    second_truth = next(t for t in generated["ground_truth"] if t["batch_id"] == second)
    cleaning = _clean(case.config, list(case.topics.values()), instant(second_truth["interval_start"]))
    asyncio.run(asyncio.wait_for(cleaning, 120))
    # after the clean and the resume: the baseline again, then two new intervals
    publish(case, entities, interval(third), interval(fourth))
    with caplog.at_level(logging.INFO, logger="streaming.cleaned"):
        run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    rows = table(spark, case, "checks", "interval_checks").collect()
    statuses = {(r.batch_id, r.provisional): r.status for r in rows}
    by_interval: dict[tuple[str, bool], set[str]] = {}
    for (batch_id, provisional), status in statuses.items():
        by_interval.setdefault((batch_id, provisional), set()).add(status)
    final = {batch: found for (batch, provisional), found in by_interval.items() if not provisional}
    assert final == {first: {"complete"}, second: {"cleaned"}}, by_interval
    later = {batch: found for (batch, provisional), found in by_interval.items() if provisional}
    assert later == {third: {"complete"}, fourth: {"complete"}}, by_interval
    lines = [r.getMessage() for r in caplog.records if r.name == "streaming.cleaned"]
    assert len(lines) == 1 and f"intervals through {second} not checked" in lines[0], lines
    # the marker is neither a ground truth nor a quarantined record
    assert table(spark, case, "silver", "driver_batches").where("batch_id IS NULL").count() == 0
    quarantined = table(spark, case, "silver", "quarantine")
    assert quarantined.where("source_topic LIKE '%driver-batches'").count() == 0
    checks_log = (case.data_dir / "logs" / "checks.jsonl").read_text()
    summaries = [json.loads(line) for line in checks_log.splitlines()]
    assert {(s["batch_id"], s["status"]) for s in summaries if not s["provisional"]} == {
        (first, "complete"),
        (second, "cleaned"),
    }
