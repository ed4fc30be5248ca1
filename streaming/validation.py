"""Parse every Kafka record once and apply the checks that need nothing but the record itself.

Pure ``DataFrame -> DataFrame`` functions. :func:`parse` turns Kafka rows of any of the scenario's
topics into one flat frame: lineage, the raw key and value, each topic's typed fields in columns
``_c<topic>_<field>`` (null on other topics' rows), and the first failing check as ``reason`` and
``detail`` (null when the record passed). The parsing and the checks are one JVM function,
``dev.seedstream.streaming.Parser`` (:file:`streaming/java`), called once per record with a spec
that :func:`parser_spec` derives from the scenario's record models (fields, JSON types, rules and
every detail text): it tokenizes the value once, types each field as its model declares (a value of
another JSON type is a violation, never coerced), and nothing in it can fail a query.

Why the JVM: as Spark expressions the same checks were thousands of ``CASE`` branches per plan,
which PySpark built with thousands of py4j calls and Spark generated, compiled and the JIT warmed up
for every plan. Measured with ``bench/bench_streaming.py`` (README): see the figures there.

Reasons, in the order they are tried (intrinsic faults first; references and timing come later in
:mod:`streaming.silver` and :mod:`streaming.router`): ``unparseable`` (no UTF-8 JSON object),
``schema_violation`` (missing, null, unknown or wrongly typed field, pattern, minimum, bad instant,
unknown map key, a value outside a non-categorical enum, an unparseable ``batch_id``),
``unknown_category`` (a declared category with a value outside its ``Literal``), and for events
``outside_interval`` (event time not in the interval its ``batch_id`` names). Every rejected row's
``detail`` names the field.

A clean marker (:mod:`producer.generation.control`) on the ground-truth topic is a control record,
not a ground truth: :func:`parse` gives it ``_t`` = :data:`CONTROL_INDEX` (so nothing that selects
a topic's rows by its index sees it) and checks it against its own model; :mod:`streaming.cleaned`
turns valid markers into observations.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from producer.generation.clock import to_micros_delta
from producer.generation.control import CLEAN, CONTROL_FIELD, SHARD_PATTERN, CleanMarker
from streaming.contract import INTERVAL_FIELD, PipelinePlan, TopicPlan
from streaming.schemas import ISO_INSTANT_PATTERN, FieldRule, allows_extra

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import Column

UNPARSEABLE = "unparseable"
SCHEMA_VIOLATION = "schema_violation"
UNKNOWN_CATEGORY = "unknown_category"
OUTSIDE_INTERVAL = "outside_interval"
UNKNOWN_REFERENCE = "unknown_reference"
REFERENCE_NOT_YET_VALID = "reference_not_yet_valid"
LATE = "late"
REASONS = (
    UNPARSEABLE,
    SCHEMA_VIOLATION,
    UNKNOWN_CATEGORY,
    OUTSIDE_INTERVAL,
    UNKNOWN_REFERENCE,
    REFERENCE_NOT_YET_VALID,
    LATE,
)

CONTROL_INDEX = -1
"""``_t`` of a control record (a clean marker read from the ground-truth topic): no topic's index."""

BATCH_ID_FORMATS = ("yyyyMMdd'T'HHmm'Z'", "yyyyMMdd'T'HHmmss'Z'", "yyyyMMdd'T'HHmmss.SSSSSS'Z'")
LINEAGE = ("topic", "partition", "offset", "kafka_timestamp", "ingest_time")

Check = tuple["Column", str, "Column | str"]
"""(failed?, reason, detail) — the detail a literal or a column."""


HEADERS = "array<struct<key: string, value: string>>"
"""Kafka headers as bronze keeps them: values as text (a cast, not ``transform``: Spark generates
code for casts of arrays and structs, while a higher-order function is interpreted row by row, 8 %
of the job's task time in a profile)."""


def kafka_rows(kafka_records: DataFrame) -> DataFrame:
    """Kafka source rows → the raw key and value (bytes as they came), lineage, the micro-batch's
    ingest time, and the headers when the source reads them (``includeHeaders``), as bronze keeps
    them (:data:`HEADERS`)."""
    headers = (
        [F.coalesce(F.col("headers"), F.array()).cast(HEADERS).alias("headers")]
        if "headers" in kafka_records.columns
        else []
    )
    return kafka_records.select(
        F.col("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.current_timestamp().alias("ingest_time"),
        *headers,
    )


def as_text(column: str) -> Column:
    """A raw key or value as text for silver: invalid UTF-8 bytes become U+FFFD (bronze keeps the bytes)."""
    return F.make_valid_utf8(F.col(column).cast("string"))


def first_failure(checks: list[Check]) -> tuple[Column, Column]:
    """``(reason, detail)`` of the first failing check, both null when none fails."""
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for failed, code, text in reversed(checks):
        reason = F.when(failed, F.lit(code)).otherwise(reason)
        detail = F.when(failed, text if not isinstance(text, str) else F.lit(text)).otherwise(detail)
    return reason, detail


def interval_start_of(batch_id: Column) -> Column:
    """The interval start a batch id names (``20251108T1215Z`` → 2025-11-08 12:15 UTC), or null."""
    return F.coalesce(*(F.try_to_timestamp(batch_id, F.lit(fmt)) for fmt in BATCH_ID_FORMATS))


def control_field(name: str) -> Column:
    """A string field of a control record's value (null when absent; parsed only on the rows asked)."""
    return F.get_json_object(F.col("value").cast("string"), f"$.{name}")


PARSER_CLASS = "dev.seedstream.streaming.Parser"
PARSED = "_parsed"
HEAD: tuple[tuple[str, DataType], ...] = (
    ("_t", IntegerType()),
    ("reason", StringType()),
    ("detail", StringType()),
    ("_interval_start", TimestampType()),
    ("_event_time", TimestampType()),
    ("_record_id", StringType()),
)
"""The parser's output slots before the typed fields, in its slot order: sent in the spec as ``head``,
which ``dev.seedstream.streaming.Parser`` refuses unless it names its own slots in its order."""


def typed_type(rule: FieldRule) -> DataType:
    """A field's type in the parsed frame: instants and dates typed, the rest as in the JSON."""
    if rule.timestamp:
        return TimestampType()
    if rule.date:
        return DateType()
    return rule.spark_type


def _field_spec(topic: TopicPlan, rule: FieldRule, slot: int) -> dict[str, Any]:
    """One field of the parser's spec: its JSON type, rules and the detail of each rule it can fail."""
    name = rule.name
    details = {
        "missing": f"{name}: required field missing",
        "null": f"{name}: null or not a JSON {rule.json_type}",
    }
    if rule.pattern is not None:
        details["pattern"] = f"{name}: not {rule.pattern}"
    if rule.timestamp:
        details["instant"] = f"{name}: not an ISO 8601 instant"
    if rule.date:
        details["date"] = f"{name}: not a date"
    if rule.minimum is not None:
        details["minimum"] = f"{name}: < {rule.minimum}"
    if rule.exclusive_minimum is not None:
        details["exclusive_minimum"] = f"{name}: <= {rule.exclusive_minimum}"
    if rule.maximum is not None:
        details["maximum"] = f"{name}: > {rule.maximum}"
    if rule.min_items is not None:
        details["min_items"] = f"{name}: fewer than {rule.min_items} items"
    if rule.item_enum is not None:
        details["item_enum"] = f"{name}: unknown item "  # + the first unknown item
    if rule.map_keys is not None:
        details["map_keys"] = f"{name}: unknown key "  # + the first unknown key
    if rule.enum is not None:
        details["enum"] = f"{name}: not one of {list(rule.enum)}"
    return {
        "name": name,
        "slot": slot,
        "json_type": rule.json_type,
        "item_type": rule.item_type,
        "map_value_type": rule.map_value_type,
        "required": rule.required,
        "nullable": rule.nullable,
        "timestamp": rule.timestamp,
        "date": rule.date,
        "pattern": rule.pattern,
        "minimum": rule.minimum,
        "exclusive_minimum": rule.exclusive_minimum,
        "maximum": rule.maximum,
        "min_items": rule.min_items,
        "item_enum": rule.item_enum,
        "map_keys": rule.map_keys,
        "enum": rule.enum,
        "enum_reason": UNKNOWN_CATEGORY if name in topic.categories else SCHEMA_VIOLATION,
        "details": details,
    }


def parser_spec(plan: PipelinePlan, topics: Sequence[TopicPlan]) -> tuple[str, StructType]:
    """The parser's spec (JSON) for ``topics`` and its output struct: :data:`HEAD`, then each
    topic's typed fields as columns ``_c<topic>_<field>`` (:meth:`TopicPlan.column`)."""
    output = [StructField(name, kind, True) for name, kind in HEAD]
    specs = []
    for topic in topics:
        fields = []
        for rule in topic.rules:
            fields.append(_field_spec(topic, rule, len(output)))
            output.append(StructField(topic.column(rule.name), typed_type(rule), True))
        events, interval = topic.role == "events", topic.role in ("events", "ground_truth")
        specs.append(
            {
                "kafka_topic": topic.kafka_topic,
                "index": topic.index,
                "role": topic.role,
                "closed": not allows_extra(topic.spec.model),
                "fields": fields,
                "interval_field": INTERVAL_FIELD if interval else None,
                "time_field": topic.time_field if events else None,
                "id_field": topic.id_field if events else None,
                "outside_detail": (
                    f"{topic.time_field}: not in [start, end) of the interval {INTERVAL_FIELD} names"
                    if events
                    else None
                ),
            }
        )
    truth = plan.ground_truth
    control = None
    if any(topic.index == truth.index for topic in topics):
        control = {
            "topic_index": truth.index,
            "field": CONTROL_FIELD,
            "clean": CLEAN,
            "fields": list(CleanMarker.model_fields),
            "shard_pattern": SHARD_PATTERN,
            "details": {
                "kind": f"{CONTROL_FIELD}: not one of {[CLEAN]}",
                "cleaned_through": "cleaned_through: not an interval id like 20251108T1215Z",
                "cleaned_at": "cleaned_at: not an ISO 8601 instant",
                "shard": f"shard: not {SHARD_PATTERN}",
            },
        }
    spec = {
        "head": [name for name, _ in HEAD],
        "interval_micros": to_micros_delta(plan.interval),
        "iso_pattern": ISO_INSTANT_PATTERN,
        "reasons": {
            "unparseable": UNPARSEABLE,
            "schema_violation": SCHEMA_VIOLATION,
            "outside_interval": OUTSIDE_INTERVAL,
        },
        "details": {
            "unparseable": "value: not a UTF-8 JSON object",
            "unknown_field": "unknown field ",  # + the first undeclared field
            "wrong_type": "value: a field has the wrong JSON type",
            "interval_id": f"{INTERVAL_FIELD}: not an interval id like 20251108T1215Z",
        },
        "topics": specs,
        "control": control,
    }
    return json.dumps(spec), StructType(output)


def parse(rows: DataFrame, plan: PipelinePlan, topics: Sequence[TopicPlan] | None = None) -> DataFrame:
    """:func:`kafka_rows` output → the flat parsed frame (see the module docstring).

    Adds ``_t`` (the topic's index), ``_interval_start`` (events and ground truth), ``_event_time``
    and ``_record_id`` (events that passed every check here; null otherwise).

    ``topics``: the topics ``rows`` can hold (default: all of the plan's). Only their typed columns
    are produced: :func:`~streaming.job.Pipeline.silver_frame` parses each source with its own
    topics and unions the sources by name, the missing columns null. A row of a topic outside
    ``topics`` gets a null ``_t``.

    One call of ``dev.seedstream.streaming.Parser`` per record (:data:`PARSER_CLASS`, built by
    :mod:`streaming.javabuild`) does the parsing and checks; this function only builds its spec
    from the plan and spreads its struct into columns.
    """
    mine = list(plan.topics if topics is None else topics)
    spec, output = parser_spec(plan, mine)
    spark = rows.sparkSession
    parser = spark._jvm.dev.seedstream.streaming.Parser  # type: ignore[union-attr]  # noqa: SLF001
    staged = DataFrame(parser.parse(rows._jdf, spec, output.json(), PARSED), spark)  # noqa: SLF001
    typed = [field.name for field in output.fields[len(HEAD) :]]
    # The raw key and value stay bytes (bronze lands them as they came; :func:`as_text` makes
    # silver's text of them): bytes also cross the router's row conversion as a copy, where text
    # is decoded and encoded again.
    return staged.select(
        F.col(f"{PARSED}._t").alias("_t"),
        *LINEAGE,
        F.col("key"),
        F.col("value"),
        *(["headers"] if "headers" in rows.columns else []),
        *(F.col(f"{PARSED}.{name}").alias(name) for name in ("reason", "detail", "_interval_start")),
        *(F.col(f"{PARSED}.{name}").alias(name) for name in ("_event_time", "_record_id", *typed)),
    )


def typed_rows(frame: DataFrame, topic: TopicPlan) -> DataFrame:
    """One topic's rows of the parsed frame as its model's fields plus lineage (renamed ``source_*``)."""
    return frame.where(F.col("_t") == topic.index).select(
        *(F.col(topic.column(rule.name)).alias(rule.name) for rule in topic.rules),
        F.col("kafka_timestamp"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.col("ingest_time"),
    )


def quarantine_rows(frame: DataFrame) -> DataFrame:
    """Rows with a reason, in the quarantine table's shape: reason, detail, source, raw payload
    (invalid UTF-8 bytes replaced by U+FFFD; bronze keeps the bytes as they came)."""
    return frame.where(F.col("reason").isNotNull()).select(
        F.col("reason"),
        F.col("detail"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.col("kafka_timestamp"),
        as_text("key").alias("key"),
        as_text("value").alias("raw_value"),
        F.col("ingest_time").alias("quarantined_at"),
        F.to_date(F.col("ingest_time")).alias("quarantine_date"),
    )
