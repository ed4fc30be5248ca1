"""The streaming job end to end on a real broker, real Spark and real Delta tables."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from delta.tables import DeltaTable

from producer.datadir import TableLocations
from streaming.contract import PipelinePlan, TopicPlan, plan_for
from streaming.create import QUARANTINE_STATS_COLUMNS, STATS_COLUMNS, event_stats_columns
from streaming.submit import run_stream
from streaming.tables import Tables
from streaming.validate import run_validation
from tests.integration.streaming_support import (
    Record,
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


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    if isinstance(value, list):
        return tuple(value)
    return value


def _rows(frame: Any, fields: list[str]) -> list[tuple[Any, ...]]:
    return sorted(tuple(_normal(row[name]) for name in fields) for row in frame.select(*fields).collect())


def _records(topic: TopicPlan, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    fields = [name for name in topic.spec.model.model_fields if name != "generation_time"]
    dumped = [topic.spec.model.model_validate(record).model_dump() for record in records]
    return sorted(tuple(_normal(record[name]) for name in fields) for record in dumped)


def _latest(topic: TopicPlan, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[Any, tuple[str, int, dict[str, Any]]] = {}
    for position, record in enumerate(records):
        rank = (record[topic.time_field], position, record)
        key = record[topic.spec.key_field]
        if key not in latest or rank[:2] > latest[key][:2]:
            latest[key] = rank
    return [record for _, _, record in latest.values()]


def _partition_maxima(spark: SparkSession, case: Any, plan: PipelinePlan) -> dict[tuple[str, int], datetime]:
    """(event topic, Kafka partition) → the largest event time in it, from bronze."""
    maxima: dict[tuple[str, int], datetime] = {}
    for topic in plan.of_role("events"):
        for row in table(spark, case, "bronze", topic.kafka_topic).select("partition", "value").collect():
            instant = datetime.fromisoformat(json.loads(row.value)[topic.time_field])
            key = (topic.name, row.partition)
            maxima[key] = max(maxima.get(key, instant), instant)
    return maxima


def _written_as_configured(case: Any, topic: TopicPlan) -> None:
    """An event table's files store timestamps as INT64 microseconds (not INT96), and its commits
    carry statistics on exactly :func:`~streaming.create.event_stats_columns`."""
    import pyarrow.parquet as pq

    root = case.data_dir / "delta" / "silver" / topic.table
    adds = [
        json.loads(line)["add"]
        for commit in sorted((root / "_delta_log").glob("*.json"))
        for line in commit.read_text().splitlines()
        if '"add"' in line
    ]
    assert adds, topic.name
    wanted = set(event_stats_columns(topic).split(","))
    for add in adds:
        assert set(json.loads(add["stats"])["minValues"]) == wanted, topic.name
    schema = pq.ParquetFile(root / adds[0]["path"]).schema_arrow
    assert str(schema.field(topic.time_field).type) == "timestamp[us, tz=UTC]", topic.name
    assert str(schema.field("ingest_time").type) == "timestamp[us, tz=UTC]", topic.name


@pytest.mark.parametrize("preset", ["small", "tapflow.small", "identity.small"])
def test_backfill_then_available_now_equals_generate(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
    preset: str,
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("bf") + ".", preset=preset)
    produce_backfill(case, INTERVALS)
    expected = generate(case, INTERVALS)

    summary = run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    plan = plan_for(case.config)
    for topic in plan.topics:
        records = expected[topic.name]
        bronze = table(spark, case, "bronze", topic.kafka_topic)
        assert bronze.count() == len(records), topic.name
        assert bronze.select("partition", "offset").distinct().count() == len(records), topic.name
        silver = table(spark, case, "silver", topic.table)
        fields = [name for name in topic.spec.model.model_fields if name != "generation_time"]
        wanted = _latest(topic, records) if topic.role == "entities" else records
        assert _rows(silver, fields) == _records(topic, wanted), topic.name
    assert table(spark, case, "silver", "quarantine").count() == 0
    for topic in plan.of_role("events"):
        _written_as_configured(case, topic)
    quarantine = DeltaTable.forPath(spark, str(case.data_dir / "delta" / "silver" / "quarantine"))
    assert quarantine.detail().first()["properties"][STATS_COLUMNS] == QUARANTINE_STATS_COLUMNS
    for name in plan.derived:  # gold tables, recomputed from silver after the run
        assert table(spark, case, "gold", name).count() > 0, name
    # seedstream validate's queries (referential integrity, interval rule, the scenario's own) all pass
    results = run_validation(spark, case.config, Tables(spark, plan, TableLocations(str(case.data_dir))))
    assert [result.query.name for result in results if not result.passed] == []
    if preset == "identity.small":
        weights = (
            table(spark, case, "gold", "outcome_metrics")
            .groupBy("response_id", "attribution_model")
            .sum("attribution_weight")
        )
        assert {round(row[2], 9) for row in weights.collect()} == {1.0}
    checks = table(spark, case, "checks", "interval_checks").collect()
    per_interval = sum(
        1 if d.category_field is None else len(plan.by_name(d.topic).categories[d.category_field])
        for d in plan.dimensions
    )
    assert len(checks) == INTERVALS * per_interval
    assert {row.status for row in checks} == {"complete"}
    assert {row.batch_id for row in checks} == {t["batch_id"] for t in expected["ground_truth"]}
    # Spark's watermark, the minimum over the event topics' Kafka partitions of their largest event
    # time minus the delay, closed the intervals that end (plus the lateness) at or before it: final
    # rows; the rest are provisional.
    watermark = min(_partition_maxima(spark, case, plan).values()) - plan.delay - plan.lateness
    closed = {row.batch_id: row.interval_end.replace(tzinfo=UTC) <= watermark for row in checks}
    assert {(row.batch_id, not row.provisional) for row in checks} == set(closed.items())
    if preset == "small":
        assert set(closed.values()) == {False, True}
    assert summary.intervals_checked == INTERVALS
    logged = [json.loads(line) for line in (case.data_dir / "logs" / "checks.jsonl").read_text().splitlines()]
    assert {line["batch_id"] for line in logged} == {t["batch_id"] for t in expected["ground_truth"]}
    assert {line["status"] for line in logged} == {"complete"}
    assert summary.metrics_port is not None
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{summary.metrics_port}/metrics", timeout=10).read().decode()
    )
    assert 'seedstream_streaming_input_rows{query="silver"}' in body
    events = plan.of_role("events")[0]
    assert f'seedstream_silver_rows{{table="{events.table}"}} {float(len(expected[events.name]))}' in body
    log = (case.data_dir / "logs" / "streaming-progress.jsonl").read_text().splitlines()
    names = {line.get("name") for line in map(json.loads, log) if line["event"] == "progress"}
    assert {"silver", "checks"} <= names
    assert not names & {f"bronze-{topic.kafka_topic}" for topic in plan.topics}  # silver lands bronze
    # Without faults there is no label topic: its table is there, empty, and nothing is scored.
    assert f"bronze-{plan.labels_topic}" not in names
    assert table(spark, case, "bronze", plan.labels_topic).count() == 0
    assert table(spark, case, "checks", "quality_score").count() == 0


def test_events_removed_before_the_ground_truth_are_missing_and_a_second_run_supersedes_provisional(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(kafka_bootstrap, data_dir_factory("stream"), unique_name("miss") + ".")
    create_topics(case)
    generated = generate(case, 3)
    first, second, third = sorted(t["batch_id"] for t in generated["ground_truth"])
    dropped_type = "start driving"
    victims = [
        e["event_id"]
        for e in generated["events"]
        if e["batch_id"] == first and e["event_type"] == dropped_type
    ]
    assert len(victims) >= 3
    kept = [e for e in generated["events"] if e["event_id"] not in set(victims[:3])]

    def interval(batch_id: str) -> list[Record]:
        events = [e for e in kept if e["batch_id"] == batch_id]
        truth = [t for t in generated["ground_truth"] if t["batch_id"] == batch_id]
        return records_of(case, "events", events, "driver_id") + records_of(
            case, "ground_truth", truth, "batch_id"
        )

    publish(
        case,
        records_of(case, "entities", generated["entities"], "company_id"),
        interval(first),
        interval(second),
    )
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    rows = table(spark, case, "checks", "interval_checks").collect()
    # Nothing closed the watermark yet: both intervals are checked provisionally.
    assert {(r.batch_id, r.provisional) for r in rows} == {(first, True), (second, True)}
    missing = next(r for r in rows if (r.batch_id, r.category) == (first, dropped_type))
    assert (missing.status, missing.difference, missing.expected - missing.observed) == ("missing", -3, 3)

    publish(case, interval(third))
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)
    rows = table(spark, case, "checks", "interval_checks").collect()
    # The third interval's events moved the watermark past the first (its final rows replace the
    # provisional ones); the second and third stay provisional.
    assert {(r.batch_id, r.provisional) for r in rows} == {(first, False), (second, True), (third, True)}
    assert len(rows) == 3 * 4
    checks = {(r.batch_id, r.category): r for r in rows}
    missing = checks[(first, dropped_type)]
    assert (missing.status, missing.difference) == ("missing", -3)
    assert checks[(first, None)].difference == -3
    assert {r.status for key, r in checks.items() if key[0] != first} == {"complete"}
    assert silver_events(spark, case) == event_tuples(kept)
