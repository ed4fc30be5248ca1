"""Parse every Kafka record once and apply the checks that need nothing but the record itself.

Pure ``DataFrame -> DataFrame`` functions. :func:`parse` turns Kafka rows of any of the scenario's
topics into one flat frame: lineage, the raw key and value, each topic's typed fields in columns
``_c<topic>_<field>`` (null on other topics' rows), and the first failing check as ``reason`` and
``detail`` (null when the record passed). ``from_json`` runs once per record, only with its own
topic's schema (a ``CASE`` on the topic), in PERMISSIVE mode, so nothing here can fail a query;
``json_object_keys`` tokenizes the value once more to find unknown and wrongly typed fields.

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

from datetime import timedelta
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from producer.generation.clock import to_micros_delta
from producer.generation.control import CLEAN, CONTROL_FIELD, SHARD_PATTERN, CleanMarker
from streaming.contract import INTERVAL_FIELD, PipelinePlan, TopicPlan
from streaming.schemas import CORRUPT_RECORD, ISO_INSTANT_PATTERN, FieldRule, allows_extra, parse_schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import Column, DataFrame

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


def kafka_rows(kafka_records: DataFrame) -> DataFrame:
    """Kafka source rows → raw key and value as strings, lineage, and the micro-batch's ingest time."""
    return kafka_records.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.current_timestamp().alias("ingest_time"),
    )


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


def plus(instant: Column, duration: timedelta) -> Column:
    """``instant + duration`` at microsecond precision."""
    return F.timestamp_micros(F.unix_micros(instant) + F.lit(to_micros_delta(duration)))


def _field_checks(topic: TopicPlan, rule: FieldRule, record: Column, keys: Column) -> list[Check]:
    """Checks of one field; ``record`` is the raw parsed struct, typed values are ``_c`` columns."""
    value = record[rule.name]
    name = rule.name
    present = value.isNotNull()
    checks: list[Check] = []
    if rule.required:
        checks.append((~F.array_contains(keys, name), SCHEMA_VIOLATION, f"{name}: required field missing"))
    if not rule.nullable:
        checks.append(
            (
                F.array_contains(keys, name) & value.isNull(),
                SCHEMA_VIOLATION,
                f"{name}: null or not a JSON {rule.json_type}",
            )
        )
    if rule.pattern is not None:
        checks.append((present & ~value.rlike(rule.pattern), SCHEMA_VIOLATION, f"{name}: not {rule.pattern}"))
    if rule.timestamp:
        bad_instant = ~value.rlike(ISO_INSTANT_PATTERN) | F.col(topic.column(name)).isNull()
        checks.append((present & bad_instant, SCHEMA_VIOLATION, f"{name}: not an ISO 8601 instant"))
    if rule.date:
        checks.append((present & F.col(topic.column(name)).isNull(), SCHEMA_VIOLATION, f"{name}: not a date"))
    if rule.minimum is not None:
        checks.append(
            (present & (value < F.lit(rule.minimum)), SCHEMA_VIOLATION, f"{name}: < {rule.minimum}")
        )
    if rule.exclusive_minimum is not None:
        low = rule.exclusive_minimum
        checks.append((present & (value <= F.lit(low)), SCHEMA_VIOLATION, f"{name}: <= {low}"))
    if rule.maximum is not None:
        checks.append(
            (present & (value > F.lit(rule.maximum)), SCHEMA_VIOLATION, f"{name}: > {rule.maximum}")
        )
    if rule.min_items is not None:
        checks.append(
            (
                present & (F.size(value) < rule.min_items),
                SCHEMA_VIOLATION,
                f"{name}: fewer than {rule.min_items} items",
            )
        )
    if rule.item_enum is not None:
        allowed = F.array(*map(F.lit, rule.item_enum))
        unknown = F.array_except(value, allowed)
        checks.append(
            (
                present & (F.size(unknown) > 0),
                SCHEMA_VIOLATION,
                F.concat(F.lit(f"{name}: unknown item "), unknown[0]),
            )
        )
    if rule.map_keys is not None:
        unknown = F.array_except(F.map_keys(value), F.array(*map(F.lit, rule.map_keys)))
        checks.append(
            (
                present & (F.size(unknown) > 0),
                SCHEMA_VIOLATION,
                F.concat(F.lit(f"{name}: unknown key "), unknown[0]),
            )
        )
    if rule.enum is not None:
        code = UNKNOWN_CATEGORY if name in topic.categories else SCHEMA_VIOLATION
        checks.append((present & ~value.isin(*rule.enum), code, f"{name}: not one of {list(rule.enum)}"))
    return checks


def _topic_checks(topic: TopicPlan, record: Column, keys: Column, interval: timedelta) -> list[Check]:
    checks: list[Check] = [
        (record.isNull(), UNPARSEABLE, "value: not a JSON object of this topic"),
    ]
    if not allows_extra(topic.spec.model):
        unknown = F.array_except(keys, F.array(*(F.lit(rule.name) for rule in topic.rules)))
        # More keys than declared fields present is the cheap test (the same array_contains as the
        # required-field checks); array_except, a hash set per row, runs only for the rows it flags
        # (codegen evaluates AND lazily), so a repeated declared key is still not an unknown field.
        declared = reduce(
            lambda total, name: total + F.array_contains(keys, name).cast("int"),
            (rule.name for rule in topic.rules),
            F.lit(0),
        )
        extra = (F.size(keys) > declared) & (F.size(unknown) > 0)
        checks.append((extra, SCHEMA_VIOLATION, F.concat(F.lit("unknown field "), unknown[0])))
    for rule in topic.rules:
        checks.extend(_field_checks(topic, rule, record, keys))
    checks.append(
        (record[CORRUPT_RECORD].isNotNull(), SCHEMA_VIOLATION, "value: a field has the wrong JSON type")
    )
    start = F.col("_interval_start")
    if topic.role in ("events", "ground_truth"):
        checks.append(
            (start.isNull(), SCHEMA_VIOLATION, f"{INTERVAL_FIELD}: not an interval id like 20251108T1215Z")
        )
    if topic.role == "events":
        instant = F.col(topic.column(topic.time_field))
        outside = (instant < start) | (instant >= plus(start, interval))
        checks.append(
            (
                outside,
                OUTSIDE_INTERVAL,
                f"{topic.time_field}: not in [start, end) of the interval {INTERVAL_FIELD} names",
            )
        )
    return checks


def control_field(name: str) -> Column:
    """A string field of a control record's value (null when absent; parsed only on the rows asked)."""
    return F.get_json_object(F.col("value"), f"$.{name}")


def _control_checks(keys: Column) -> list[Check]:
    """Checks of a clean marker against :class:`~producer.generation.control.CleanMarker`."""
    fields = list(CleanMarker.model_fields)
    unknown = F.array_except(keys, F.array(*map(F.lit, fields)))
    through, at, shard = control_field("cleaned_through"), control_field("cleaned_at"), control_field("shard")
    return [
        (F.size(unknown) > 0, SCHEMA_VIOLATION, F.concat(F.lit("unknown field "), unknown[0])),
        (
            F.coalesce(control_field(CONTROL_FIELD) != F.lit(CLEAN), F.lit(True)),
            SCHEMA_VIOLATION,
            f"{CONTROL_FIELD}: not one of {[CLEAN]}",
        ),
        (
            interval_start_of(through).isNull(),
            SCHEMA_VIOLATION,
            "cleaned_through: not an interval id like 20251108T1215Z",
        ),
        (
            F.coalesce(~at.rlike(ISO_INSTANT_PATTERN) | F.try_to_timestamp(at).isNull(), F.lit(True)),
            SCHEMA_VIOLATION,
            "cleaned_at: not an ISO 8601 instant",
        ),
        (
            F.coalesce(~shard.rlike(SHARD_PATTERN), F.lit(True)),
            SCHEMA_VIOLATION,
            f"shard: not {SHARD_PATTERN}",
        ),
    ]


def _by_topic(values: dict[int, Column], otherwise: Column) -> Column:
    """``values[_t]`` for the row's topic (a CASE: only that topic's expression is evaluated)."""
    result = otherwise
    for index in sorted(values, reverse=True):
        result = F.when(F.col("_t") == index, values[index]).otherwise(result)
    return result


def parse(rows: DataFrame, plan: PipelinePlan, topics: Sequence[TopicPlan] | None = None) -> DataFrame:
    """:func:`kafka_rows` output → the flat parsed frame (see the module docstring).

    Adds ``_t`` (the topic's index), ``_interval_start`` (events and ground truth), ``_event_time``
    and ``_record_id`` (events that passed every check here; null otherwise).

    ``topics``: the topics ``rows`` can hold (default: all of the plan's). Only their parsing and
    checks are generated, and only their typed columns are produced: a source of one topic pays
    for one topic (code Spark generates, compiles and the JIT warms up once per plan, and a ``CASE``
    per row), and :func:`~streaming.job.Pipeline.silver_frame` unions the sources by name, the
    missing columns null. A row of a topic outside ``topics`` gets a null ``_t``.

    Built in stages, each a projection over the previous one's columns, so every derived value (the
    parsed struct, each typed field, the interval start, the index of the first failing check) is
    computed once per record.
    """
    mine = list(plan.topics if topics is None else topics)
    value = F.col("value")
    topic_index: Column = F.lit(None).cast("int")
    for topic in reversed(mine):
        topic_index = F.when(F.col("topic") == topic.kafka_topic, F.lit(topic.index)).otherwise(topic_index)
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    raw = [f"_p{topic.index}" for topic in mine]
    base = [*LINEAGE, "key", "value", "_t", "_keys", "_utf8"]
    staged = rows.withColumn("_t", topic_index).select(
        *LINEAGE,
        "key",
        "value",
        "_t",
        F.expr("json_object_keys(value)").alias("_keys"),
        F.is_valid_utf8(value).alias("_utf8"),  # the value's bytes scanned once for it
        *(
            F.when(
                F.col("_t") == topic.index, F.from_json(value, parse_schema(topic.spec.model), options)
            ).alias(f"_p{topic.index}")
            for topic in mine
        ),
    )
    truth = plan.ground_truth
    with_truth = any(topic.index == truth.index for topic in mine)
    if with_truth:
        control = (F.col("_t") == truth.index) & F.array_contains(F.col("_keys"), CONTROL_FIELD)
        staged = staged.withColumn("_t", F.when(control, F.lit(CONTROL_INDEX)).otherwise(F.col("_t")))
    typed: list[Column] = []
    starts: dict[int, Column] = {}
    for topic in mine:
        record = F.col(f"_p{topic.index}")
        for rule in topic.rules:
            field = record[rule.name]
            if rule.timestamp:
                field = F.try_to_timestamp(field)
            elif rule.date:
                field = F.to_date(F.try_to_timestamp(field, F.lit("yyyy-MM-dd")))
            typed.append(field.alias(topic.column(rule.name)))
        if topic.role in ("events", "ground_truth"):
            starts[topic.index] = interval_start_of(record[INTERVAL_FIELD])
    typed_names = [topic.column(rule.name) for topic in mine for rule in topic.rules]
    staged = staged.select(
        *base, *raw, *typed, _by_topic(starts, F.lit(None).cast("timestamp")).alias("_interval_start")
    )
    unparseable = value.isNull() | ~F.col("_utf8") | F.col("_keys").isNull()
    checks = {
        topic.index: [(unparseable, UNPARSEABLE, "value: not a UTF-8 JSON object")]
        + _topic_checks(topic, F.col(f"_p{topic.index}"), F.col("_keys"), plan.interval)
        for topic in mine
    }
    if with_truth:
        checks[CONTROL_INDEX] = [
            (unparseable, UNPARSEABLE, "value: not a UTF-8 JSON object"),
            *_control_checks(F.col("_keys")),
        ]
    failing: dict[int, Column] = {}
    for index, topic_checks in checks.items():
        first: Column = F.lit(None).cast("int")
        for number in reversed(range(len(topic_checks))):
            first = F.when(topic_checks[number][0], F.lit(number)).otherwise(first)
        failing[index] = first
    staged = staged.select(
        *base,
        *raw,
        *typed_names,
        "_interval_start",
        _by_topic(failing, F.lit(None).cast("int")).alias("_fail"),
    )
    verdicts: dict[int, Column] = {}
    none = F.lit(None).cast("string")
    passed = F.struct(none.alias("reason"), none.alias("detail"))
    for index, topic_checks in checks.items():
        verdict: Column = passed
        for number in reversed(range(len(topic_checks))):
            _, code, text = topic_checks[number]
            hit = F.col("_fail") == number
            found = F.struct(
                F.lit(code).alias("reason"),
                (text if not isinstance(text, str) else F.lit(text)).alias("detail"),
            )
            verdict = F.when(hit, found).otherwise(verdict)
        verdicts[index] = verdict
    staged = staged.select(
        *base,
        *raw,
        *typed_names,
        "_interval_start",
        _by_topic(verdicts, passed).alias("_verdict"),
        "_fail",
    ).select(*base, *raw, *typed_names, "_interval_start", "_verdict.reason", "_verdict.detail", "_fail")
    event_time: Column = F.lit(None).cast("timestamp")
    record_id: Column = F.lit(None).cast("string")
    valid = F.col("_fail").isNull()
    for topic in (t for t in mine if t.role == "events"):
        accepted = (F.col("_t") == topic.index) & valid
        event_time = F.when(accepted, F.col(topic.column(topic.time_field))).otherwise(event_time)
        record_id = F.when(accepted, F.col(topic.column(topic.id_field)).cast("string")).otherwise(record_id)
    return staged.select(
        "_t",
        *LINEAGE,
        F.make_valid_utf8("key").alias("key"),  # stored as text: invalid bytes become U+FFFD
        F.when(F.col("_utf8"), value).otherwise(F.make_valid_utf8(value)).alias("value"),
        "reason",
        "detail",
        "_interval_start",
        event_time.alias("_event_time"),
        record_id.alias("_record_id"),
        *typed_names,
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
        F.col("key"),
        F.col("value").alias("raw_value"),
        F.col("ingest_time").alias("quarantined_at"),
        F.to_date(F.col("ingest_time")).alias("quarantine_date"),
    )
