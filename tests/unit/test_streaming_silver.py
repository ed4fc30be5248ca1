"""silver's pure transformations on small static DataFrames: parsing, validation, dedup, latest-wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from producer.generation.scenarios.fleet.models import Company, DriverEvent, DriverEventBatch
from streaming import silver
from streaming.schemas import field_rules, parse_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

BRONZE_SCHEMA = (
    "key string, value string, topic string, partition int, offset long, kafka_timestamp timestamp, "
    "headers array<struct<key: string, value: string>>, ingest_time timestamp, ingest_date date"
)
COMPANY = "0b4b2f6e-9a0c-4c3e-8f7a-0123456789ab"
OTHER_COMPANY = "11111111-2222-4333-8444-555555555555"
EVENT = {
    "event_id": "6f1c1e0a-3b6a-4f7e-9d2b-0a1b2c3d4e5f",
    "driver_id": f"DRV-{COMPANY}-001",
    "company_id": COMPANY,
    "truck_id": "TRK-100-0001",
    "event_type": "delivered",
    "timestamp": "2025-11-08T12:20:00.000000Z",
    "batch_id": "20251108T1215Z",
}
NOW = datetime(2025, 11, 9, tzinfo=UTC)


def bronze(spark: SparkSession, values: list[str | None], topic: str = "fleet.driver-events") -> DataFrame:
    rows = [("k", value, topic, 0, offset, NOW, [], NOW, NOW.date()) for offset, value in enumerate(values)]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


def event(**changes: Any) -> str:
    record = {**EVENT, **changes}
    return json.dumps({key: value for key, value in record.items() if value is not ...})


def companies(spark: SparkSession, created_at: datetime = datetime(2025, 11, 8, tzinfo=UTC)) -> DataFrame:
    return spark.createDataFrame([(COMPANY, created_at)], "company_id string, created_at timestamp")


def reasons(frame: DataFrame) -> list[str | None]:
    return [row.reason for row in frame.orderBy("offset").collect()]


def test_rules_and_spark_schema_come_from_the_model() -> None:
    assert [rule.name for rule in field_rules(DriverEvent)] == list(DriverEvent.model_fields)
    schema = parse_schema(DriverEventBatch)
    assert schema["event_count"].dataType.simpleString() == "bigint"
    assert schema["event_type_counts"].dataType.simpleString() == "map<string,bigint>"
    assert schema["interval_start"].dataType.simpleString() == "string"
    assert {rule.name for rule in field_rules(Company) if rule.required} == {"company_id", "created_at"}


def test_a_valid_event_parses_to_typed_columns(spark: SparkSession) -> None:
    parsed = silver.parse_records(bronze(spark, [event()]), DriverEvent).collect()
    assert parsed[0].reason is None
    assert parsed[0].timestamp == datetime(2025, 11, 8, 12, 20)
    assert parsed[0].event_id == EVENT["event_id"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not json", silver.UNPARSEABLE),
        ("[1, 2]", silver.UNPARSEABLE),
        ('"a string"', silver.UNPARSEABLE),
        (None, silver.UNPARSEABLE),
        (event(event_id=...), silver.SCHEMA_VIOLATION),
        (event(event_id=None), silver.SCHEMA_VIOLATION),
        (event(event_id="not-a-uuid"), silver.SCHEMA_VIOLATION),
        (event(timestamp="yesterday"), silver.SCHEMA_VIOLATION),
        (event(timestamp="2025-11-08T12:20:00"), silver.SCHEMA_VIOLATION),
        (event(timestamp=12), silver.SCHEMA_VIOLATION),
        (event(extra="field"), silver.SCHEMA_VIOLATION),
        (event(event_type="parked"), silver.UNKNOWN_EVENT_TYPE),
    ],
)
def test_bad_records_get_their_reason(spark: SparkSession, value: str | None, reason: str) -> None:
    assert reasons(silver.parse_records(bronze(spark, [value]), DriverEvent)) == [reason]


def test_ground_truth_rules_minimum_and_map_keys(spark: SparkSession) -> None:
    good = {
        "batch_id": "20251108T1215Z",
        "interval_start": "2025-11-08T12:15:00.000000Z",
        "interval_end": "2025-11-08T12:30:00.000000Z",
        "event_count": 3,
        "event_type_counts": {"start driving": 1, "stopped driving": 1, "delivered": 1},
        "eligible_companies": 1,
        "seed": 1,
        "shard": "0/1",
        "generation_time": "2025-11-08T12:30:00.000000Z",
    }
    values = [
        json.dumps(good),
        json.dumps({**good, "event_count": -1}),
        json.dumps({**good, "event_type_counts": {"parked": 1}}),
        json.dumps({**good, "shard": "first"}),
        json.dumps({**good, "event_count": 2.5}),
    ]
    parsed = silver.parse_records(bronze(spark, values, "fleet.driver-batches"), DriverEventBatch)
    assert reasons(parsed) == [None] + [silver.SCHEMA_VIOLATION] * 4


def validate(
    spark: SparkSession, values: list[str], watermark: datetime | None = None, **kw: Any
) -> DataFrame:
    parsed = silver.parse_records(bronze(spark, values), DriverEvent)
    return silver.validate_events(parsed, kw.get("known", companies(spark)), timedelta(minutes=15), watermark)


def test_interval_company_and_watermark_checks(spark: SparkSession) -> None:
    values = [
        event(),
        event(timestamp="2025-11-08T12:30:00.000000Z"),
        event(timestamp="2025-11-08T12:14:59.999999Z"),
        event(company_id=OTHER_COMPANY, driver_id=f"DRV-{OTHER_COMPANY}-001"),
        event(batch_id="soon"),
        event(event_type="parked", timestamp="2025-11-08T13:00:00.000000Z"),
    ]
    assert reasons(validate(spark, values)) == [
        None,
        silver.OUTSIDE_INTERVAL,
        silver.OUTSIDE_INTERVAL,
        silver.UNKNOWN_COMPANY,
        silver.SCHEMA_VIOLATION,
        silver.UNKNOWN_EVENT_TYPE,
    ]


def test_company_created_at_or_after_interval_start_is_not_yet_onboarded(spark: SparkSession) -> None:
    at_start = companies(spark, datetime(2025, 11, 8, 12, 15, tzinfo=UTC))
    assert reasons(validate(spark, [event()], known=at_start)) == [silver.COMPANY_NOT_YET_ONBOARDED]
    before = companies(spark, datetime(2025, 11, 8, 12, 14, 59, tzinfo=UTC))
    assert reasons(validate(spark, [event()], known=before)) == [None]


def test_events_older_than_the_watermark_are_late(spark: SparkSession) -> None:
    values = [event(), event(timestamp="2025-11-08T12:25:00.000000Z")]
    watermark = datetime(2025, 11, 8, 12, 21, tzinfo=UTC)
    assert reasons(validate(spark, values, watermark)) == [silver.LATE, None]


def test_quarantine_keeps_the_raw_payload_and_source(spark: SparkSession) -> None:
    rows = silver.quarantine(validate(spark, [event(), "oops"])).collect()
    assert [(row.reason, row.raw_value, row.source_offset, row.source_topic) for row in rows] == [
        (silver.UNPARSEABLE, "oops", 1, "fleet.driver-events")
    ]


def test_dedup_keeps_one_per_event_id_and_drops_ids_silver_has(spark: SparkSession) -> None:
    second = "7f1c1e0a-3b6a-4f7e-9d2b-0a1b2c3d4e5f"
    third = "8f1c1e0a-3b6a-4f7e-9d2b-0a1b2c3d4e5f"
    valid = silver.valid(validate(spark, [event(), event(), event(event_id=second), event(event_id=third)]))
    existing = spark.createDataFrame([(third,)], "event_id string")
    rows = silver.dedup_events(valid, existing).orderBy("source_offset").collect()
    assert [(row.event_id, row.source_offset) for row in rows] == [(EVENT["event_id"], 0), (second, 2)]


def test_latest_record_per_key_wins(spark: SparkSession) -> None:
    values = [
        json.dumps({"company_id": COMPANY, "created_at": "2025-11-08T00:00:00.000000Z", "active": True}),
        json.dumps({"company_id": COMPANY, "created_at": "2025-11-08T00:00:00.000000Z", "active": False}),
    ]
    parsed = silver.valid(silver.parse_records(bronze(spark, values, "fleet.companies"), Company))
    rows = silver.latest_per_key(parsed, ["company_id"]).collect()
    assert [(row.company_id, row.active) for row in rows] == [(COMPANY, False)]


def test_interval_start_of_batch_ids(spark: SparkSession) -> None:
    frame = spark.createDataFrame([("20251108T1215Z",), ("20251108T121505Z",), ("x",)], "batch_id string")
    rows = frame.select(silver.interval_start_of(frame.batch_id).alias("start")).collect()
    assert [row.start for row in rows] == [
        datetime(2025, 11, 8, 12, 15),
        datetime(2025, 11, 8, 12, 15, 5),
        None,
    ]
