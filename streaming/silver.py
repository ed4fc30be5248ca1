"""silver: typed, valid, deduplicated records, and a quarantine for everything rejected.

Pure ``DataFrame -> DataFrame`` functions over bronze rows; :mod:`streaming.job` wires them.

Every record gets at most one reason code, the first that applies, in this order:
``unparseable`` (not a UTF-8 JSON object), ``schema_violation`` (wrong type, missing or unknown
field, pattern, minimum, bad instant, unparseable ``batch_id``), ``unknown_event_type``,
``outside_interval`` (timestamp not in its batch's ``[start, end)``), ``unknown_company``,
``company_not_yet_onboarded`` (``created_at >= interval_start``), ``late`` (older than the
watermark). Intrinsic faults come first, then references, then timing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel
from pyspark.sql import Window
from pyspark.sql import functions as F

from producer.generation.clock import to_micros_delta
from streaming.schemas import (
    CORRUPT_RECORD,
    ISO_INSTANT_PATTERN,
    FieldRule,
    allows_extra,
    field_rules,
    parse_schema,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

UNPARSEABLE = "unparseable"
SCHEMA_VIOLATION = "schema_violation"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
OUTSIDE_INTERVAL = "outside_interval"
UNKNOWN_COMPANY = "unknown_company"
COMPANY_NOT_YET_ONBOARDED = "company_not_yet_onboarded"
LATE = "late"
REASONS = (
    UNPARSEABLE,
    SCHEMA_VIOLATION,
    UNKNOWN_EVENT_TYPE,
    OUTSIDE_INTERVAL,
    UNKNOWN_COMPANY,
    COMPANY_NOT_YET_ONBOARDED,
    LATE,
)

SOURCE_COLUMNS = ("topic", "partition", "offset", "kafka_timestamp", "ingest_time")
"""Bronze lineage kept on every silver row (``topic`` is dropped from typed tables)."""

BATCH_ID_FORMATS = ("yyyyMMdd'T'HHmm'Z'", "yyyyMMdd'T'HHmmss'Z'", "yyyyMMdd'T'HHmmss.SSSSSS'Z'")
EVENT_TYPE_FIELD = "event_type"

QUARANTINE_COLUMNS = (
    "reason",
    "detail",
    "source_topic",
    "source_partition",
    "source_offset",
    "kafka_timestamp",
    "key",
    "raw_value",
    "quarantined_at",
    "quarantine_date",
)


def _first_failure(checks: list[tuple[Column, str, str]]) -> tuple[Column, Column]:
    """``(reason, detail)`` of the first failing check (each check: failed?, reason, detail)."""
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for failed, code, text in reversed(checks):
        reason = F.when(failed, F.lit(code)).otherwise(reason)
        detail = F.when(failed, F.lit(text)).otherwise(detail)
    return reason, detail


def _field_checks(rule: FieldRule, record: Column) -> list[tuple[Column, str, str]]:
    value = record[rule.name]
    checks: list[tuple[Column, str, str]] = []
    if rule.required:
        checks.append((value.isNull(), SCHEMA_VIOLATION, f"{rule.name}: required field missing or null"))
    present = value.isNotNull()
    if rule.pattern is not None:
        checks.append(
            (present & ~value.rlike(rule.pattern), SCHEMA_VIOLATION, f"{rule.name}: not {rule.pattern}")
        )
    if rule.timestamp:
        bad_instant = ~value.rlike(ISO_INSTANT_PATTERN) | F.try_to_timestamp(value).isNull()
        checks.append((present & bad_instant, SCHEMA_VIOLATION, f"{rule.name}: not an ISO 8601 instant"))
    if rule.minimum is not None:
        checks.append(
            (present & (value < F.lit(rule.minimum)), SCHEMA_VIOLATION, f"{rule.name}: < {rule.minimum}")
        )
    if rule.map_keys is not None:
        unknown_keys = F.size(F.array_except(F.map_keys(value), F.array(*map(F.lit, rule.map_keys)))) > 0
        checks.append((present & unknown_keys, SCHEMA_VIOLATION, f"{rule.name}: unknown key"))
    if rule.enum is not None:
        code = UNKNOWN_EVENT_TYPE if rule.name == EVENT_TYPE_FIELD else SCHEMA_VIOLATION
        checks.append((present & ~value.isin(*rule.enum), code, f"{rule.name}: not one of {list(rule.enum)}"))
    return checks


def parse_records(bronze: DataFrame, model: type[BaseModel]) -> DataFrame:
    """Bronze rows → typed model columns, lineage columns, ``reason`` and ``detail`` (null when valid).

    ``from_json`` runs in PERMISSIVE mode: a type mismatch fills the corrupt-record column instead of
    failing; instants go through ``try_to_timestamp``, so nothing here can fail the query.
    """
    rules = field_rules(model)
    value = F.col("value")
    record = F.from_json(
        value, parse_schema(model), {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    )
    keys = F.expr("json_object_keys(value)")
    not_object = value.isNull() | ~F.is_valid_utf8(value) | F.try_parse_json(value).isNull() | keys.isNull()
    checks: list[tuple[Column, str, str]] = [
        (not_object, UNPARSEABLE, "not a UTF-8 JSON object"),
        (F.col("_record")[CORRUPT_RECORD].isNotNull(), SCHEMA_VIOLATION, "a field has the wrong JSON type"),
    ]
    if not allows_extra(model):
        known = F.array(*(F.lit(rule.name) for rule in rules))
        checks.append((F.size(F.array_except(keys, known)) > 0, SCHEMA_VIOLATION, "unknown field"))
    for rule in rules:
        checks.extend(_field_checks(rule, F.col("_record")))
    reason, detail = _first_failure(checks)
    typed = [
        (
            F.try_to_timestamp(F.col("_record")[rule.name]) if rule.timestamp else F.col("_record")[rule.name]
        ).alias(rule.name)
        for rule in rules
    ]
    return (
        bronze.withColumn("_record", record)
        .withColumn("reason", reason)
        .withColumn("detail", detail)
        .select(*typed, "key", "value", *SOURCE_COLUMNS, "reason", "detail")
    )


def interval_start_of(batch_id: Column) -> Column:
    """The interval start a batch id names (``20251108T1215Z`` → 2025-11-08 12:15 UTC), or null."""
    return F.coalesce(*(F.try_to_timestamp(batch_id, F.lit(fmt)) for fmt in BATCH_ID_FORMATS))


def _plus(instant: Column, duration: timedelta) -> Column:
    return F.timestamp_micros(F.unix_micros(instant) + F.lit(to_micros_delta(duration)))


def validate_events(
    events: DataFrame,
    companies: DataFrame,
    interval: timedelta,
    watermark: datetime | None,
    entity_key: str = "company_id",
    event_time: str = "timestamp",
) -> DataFrame:
    """Add the interval, reference and timing checks to parsed events.

    Args:
        events: :func:`parse_records` output for the events topic.
        companies: silver companies (``entity_key``, ``created_at``), one row per key.
        interval: the scenario's interval length (``interval_end = interval_start + interval``).
        watermark: events older than this are ``late``; None before any event was seen.

    Returns ``events`` with ``interval_start`` and ``interval_end`` added and ``reason``/``detail``
    filled for rows that were valid so far and fail one of these checks.
    """
    known = companies.select(
        F.col(entity_key).alias("_company_key"), F.col("created_at").alias("_company_created_at")
    )
    start = interval_start_of(F.col("batch_id"))
    joined = (
        events.withColumn("interval_start", start)
        .withColumn("interval_end", _plus(F.col("interval_start"), interval))
        .join(known, F.col(entity_key) == F.col("_company_key"), "left")
    )
    instant = F.col(event_time)
    late = instant < F.lit(watermark) if watermark is not None else F.lit(False)
    reason, detail = _first_failure(
        [
            (F.col("reason").isNotNull(), "", ""),
            (
                F.col("interval_start").isNull(),
                SCHEMA_VIOLATION,
                "batch_id: not a batch id like 20251108T1215Z",
            ),
            (
                (instant < F.col("interval_start")) | (instant >= F.col("interval_end")),
                OUTSIDE_INTERVAL,
                f"{event_time} not in [interval_start, interval_end) of batch_id",
            ),
            (F.col("_company_key").isNull(), UNKNOWN_COMPANY, f"{entity_key} not in silver companies"),
            (
                F.col("_company_created_at") >= F.col("interval_start"),
                COMPANY_NOT_YET_ONBOARDED,
                "company created_at >= interval_start",
            ),
            (late, LATE, "older than the watermark"),
        ]
    )
    return (
        joined.withColumn("reason", F.coalesce(F.col("reason"), F.nullif(reason, F.lit(""))))
        .withColumn("detail", F.coalesce(F.col("detail"), F.nullif(detail, F.lit(""))))
        .drop("_company_key", "_company_created_at")
    )


def valid(rows: DataFrame) -> DataFrame:
    """Rows without a reason, typed columns and lineage only (raw key/value dropped)."""
    return (
        rows.where(F.col("reason").isNull())
        .drop("reason", "detail", "key", "value", "topic")
        .withColumnRenamed("partition", "source_partition")
        .withColumnRenamed("offset", "source_offset")
    )


def quarantine(rows: DataFrame) -> DataFrame:
    """Rejected rows in the quarantine table's shape: reason, detail, source coordinates, raw payload."""
    return rows.where(F.col("reason").isNotNull()).select(
        F.col("reason"),
        F.col("detail"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.col("kafka_timestamp"),
        F.col("key"),
        F.col("value").alias("raw_value"),
        F.col("ingest_time").alias("quarantined_at"),
        F.to_date(F.col("ingest_time")).alias("quarantine_date"),
    )


def dedup_events(events: DataFrame, existing_ids: DataFrame, event_id: str = "event_id") -> DataFrame:
    """Valid events minus duplicates: one row per ``event_id`` within the batch, none already in silver.

    ``existing_ids`` holds the ids silver already has within the watermark window; together with the
    ``late`` check (anything older than the watermark is quarantined) this keeps exactly what
    ``dropDuplicatesWithinWatermark`` keeps, see :mod:`streaming.job` for why it is done here.
    """
    first = Window.partitionBy(event_id).orderBy("source_partition", "source_offset")
    unique = events.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1).drop("_n")
    return unique.join(existing_ids.select(event_id).distinct(), event_id, "left_anti")


def latest_per_key(rows: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key: the latest Kafka record (timestamp, then partition and offset) wins."""
    newest = Window.partitionBy(*keys).orderBy(
        F.col("kafka_timestamp").desc(), F.col("source_partition").desc(), F.col("source_offset").desc()
    )
    return rows.withColumn("_n", F.row_number().over(newest)).where(F.col("_n") == 1).drop("_n")


def with_event_date(events: DataFrame, event_time: str = "timestamp") -> DataFrame:
    """Add the ``event_date`` partition column."""
    return events.withColumn("event_date", F.to_date(F.col(event_time)))
