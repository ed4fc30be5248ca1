"""silver's pure transformations on small static DataFrames: parsing, validation, references, latest-wins."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from pyspark.sql import functions as F

from producer.config import load_config
from producer.generation.scenarios.fleet.models import Company, DriverEvent, DriverEventBatch
from streaming import silver, validation
from streaming.contract import plan_for
from streaming.schemas import field_rules, parse_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming.contract import PipelinePlan

pytestmark = pytest.mark.spark

KAFKA_SCHEMA = "key string, value string, topic string, partition int, offset long, timestamp timestamp"
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
BATCH = "20251108T1215Z"
UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TYPES = ["start driving", "stopped driving", "delivered"]
OUTSIDE = "timestamp: not in [start, end) of the interval batch_id names"
PLAN = plan_for(load_config("small"))
EVENTS, COMPANIES = PLAN.by_name("fleet.driver-events"), PLAN.by_name("fleet.companies")


def parsed(spark: SparkSession, values: list[str | None], topic: str = "fleet.driver-events") -> DataFrame:
    rows = [("k", value, topic, 0, offset, NOW) for offset, value in enumerate(values)]
    return validation.parse(validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA)), PLAN)


def event(**changes: Any) -> str:
    record = {**EVENT, **changes}
    return json.dumps({key: value for key, value in record.items() if value is not ...})


def verdicts(frame: DataFrame) -> list[tuple[str | None, str | None]]:
    return [(row.reason, row.detail) for row in frame.orderBy("offset").collect()]


def test_rules_and_spark_schema_come_from_the_model() -> None:
    assert [rule.name for rule in field_rules(DriverEvent)] == list(DriverEvent.model_fields)
    schema = parse_schema(DriverEventBatch)
    assert schema["event_count"].dataType.simpleString() == "bigint"
    assert schema["event_type_counts"].dataType.simpleString() == "map<string,bigint>"
    assert {rule.name for rule in field_rules(Company) if rule.required} == {"company_id", "created_at"}


def test_a_valid_event_parses_to_typed_columns(spark: SparkSession) -> None:
    row = validation.typed_rows(parsed(spark, [event()]), EVENTS).collect()[0]
    assert row.timestamp == datetime(2025, 11, 8, 12, 20)
    assert (row.event_id, row.source_offset) == (EVENT["event_id"], 0)
    assert parsed(spark, [event()]).collect()[0]._record_id == EVENT["event_id"]


BAD_EVENTS = [
    ("not json", validation.UNPARSEABLE, "value: not a UTF-8 JSON object"),
    ("[1, 2]", validation.UNPARSEABLE, "value: not a UTF-8 JSON object"),
    (None, validation.UNPARSEABLE, "value: not a UTF-8 JSON object"),
    (event(event_id=...), validation.SCHEMA_VIOLATION, "event_id: required field missing"),
    (event(event_id=None), validation.SCHEMA_VIOLATION, "event_id: null or not a JSON string"),
    (event(event_id="x"), validation.SCHEMA_VIOLATION, f"event_id: not {UUID}"),
    (event(timestamp="yesterday"), validation.SCHEMA_VIOLATION, "timestamp: not an ISO 8601 instant"),
    (event(extra="field"), validation.SCHEMA_VIOLATION, "unknown field extra"),
    (event(event_type="parked"), validation.UNKNOWN_CATEGORY, f"event_type: not one of {TYPES}"),
    (event(batch_id="soon"), validation.SCHEMA_VIOLATION, f"batch_id: not an interval id like {BATCH}"),
    (event(timestamp="2025-11-08T12:30:00.000000Z"), validation.OUTSIDE_INTERVAL, OUTSIDE),
]


def test_bad_records_get_their_reason_and_a_detail_naming_the_field(spark: SparkSession) -> None:
    values = [value for value, _, _ in BAD_EVENTS]
    assert verdicts(parsed(spark, values)) == [(reason, detail) for _, reason, detail in BAD_EVENTS]


def test_unknown_field_test_is_not_fooled_by_a_repeated_key(spark: SparkSession) -> None:
    """More keys than declared fields present flags a row only when one of them is undeclared."""
    repeated = event()[:-1] + f', "event_id": "{EVENT["event_id"]}"}}'
    extra_and_repeated = event(extra="field")[:-1] + f', "event_id": "{EVENT["event_id"]}"}}'
    assert verdicts(parsed(spark, [repeated, extra_and_repeated])) == [
        (None, None),
        (validation.SCHEMA_VIOLATION, "unknown field extra"),
    ]


TRUTH = {
    "batch_id": "20251108T1215Z", "interval_start": "2025-11-08T12:15:00.000000Z",
    "interval_end": "2025-11-08T12:30:00.000000Z", "event_count": 3,
    "event_type_counts": {"start driving": 1, "stopped driving": 0, "delivered": 2},
    "eligible_companies": 1, "seed": 1, "shard": "1/2", "generation_time": "2025-11-08T12:30:00.000000Z",
}  # fmt: skip
TRUTH_TOPIC = PLAN.ground_truth


def test_ground_truth_rules_minimum_and_map_keys(spark: SparkSession) -> None:
    good = TRUTH
    values = [
        json.dumps(good),
        json.dumps({**good, "event_count": -1}),
        json.dumps({**good, "event_type_counts": {"parked": 1}}),
        json.dumps({**good, "event_count": 2.5}),
    ]
    assert verdicts(parsed(spark, values, "fleet.driver-batches")) == [
        (None, None),
        (validation.SCHEMA_VIOLATION, "event_count: < 0"),
        (validation.SCHEMA_VIOLATION, "event_type_counts: unknown key parked"),
        (validation.SCHEMA_VIOLATION, "event_count: null or not a JSON integer"),
    ]


def references(
    spark: SparkSession, plan: PipelinePlan, values: list[str], created: datetime, late: bool = False
) -> DataFrame:
    frame = (
        parsed(spark, values)
        .withColumn("_late", F.lit(late))
        .withColumn("_watermark_ms", F.lit(0).cast("long"))
    )
    companies = spark.createDataFrame(
        [(COMPANY, created, created, True)],
        "company_id string, valid_from timestamp, created_at timestamp, active boolean",
    )
    return silver.check_references(frame, EVENTS, plan, {"fleet.companies": companies})


def test_references_unknown_not_yet_valid_then_late(spark: SparkSession) -> None:
    before = datetime(2025, 11, 8, 12, 14, 59, tzinfo=UTC)
    stranger = event(company_id=OTHER_COMPANY, driver_id=f"DRV-{OTHER_COMPANY}-001")
    assert verdicts(references(spark, PLAN, [event(), stranger], before)) == [
        (None, None),
        (validation.UNKNOWN_REFERENCE, "company_id: no fleet.companies entity with this key"),
    ]
    at_start = datetime(2025, 11, 8, 12, 15, tzinfo=UTC)
    created_late = "company_id: the fleet.companies entity was created at or after the interval start"
    assert verdicts(references(spark, PLAN, [event()], at_start)) == [
        (validation.REFERENCE_NOT_YET_VALID, created_late)
    ]
    late = verdicts(references(spark, PLAN, [event()], before, late=True))
    assert late == [(validation.LATE, "timestamp: at or before the watermark 1970-01-01T00:00:00.000000Z")]


def test_latest_version_wins_and_valid_from_is_the_first(spark: SparkSession) -> None:
    values = [
        json.dumps({"company_id": COMPANY, "created_at": "2025-11-08T01:00:00.000000Z", "active": True}),
        json.dumps({"company_id": COMPANY, "created_at": "2025-11-08T00:00:00.000000Z", "active": False}),
    ]
    rows = validation.typed_rows(parsed(spark, values, "fleet.companies"), COMPANIES)
    latest = silver.latest_versions(rows, COMPANIES).collect()
    assert [(r.company_id, r.active, r.valid_from) for r in latest] == [
        (COMPANY, True, datetime(2025, 11, 8))
    ]


def test_quarantine_keeps_the_raw_payload_and_source(spark: SparkSession) -> None:
    rows = validation.quarantine_rows(parsed(spark, [event(), "oops"])).collect()
    assert [(row.reason, row.raw_value, row.source_offset, row.source_topic) for row in rows] == [
        (validation.UNPARSEABLE, "oops", 1, "fleet.driver-events")
    ]


def test_observations_count_per_declared_dimension(spark: SparkSession) -> None:
    frame = parsed(spark, [event(), event(event_type="start driving")])
    rows = silver.event_observations(frame, PLAN, 7)
    assert rows is not None
    got = {(r.category_field, r.category): r.observed for r in rows.collect()}
    assert got == {(None, None): 2, ("event_type", "delivered"): 1, ("event_type", "start driving"): 1}




def test_the_counting_pass_gives_the_observations_the_frame_functions_give(spark: SparkSession) -> None:
    """:func:`silver.observations_of` over one :func:`silver.counting_pass` equals
    :func:`silver.event_observations` and :func:`silver.truth_observations` over the accepted rows:
    events of two intervals and two partitions, a duplicate and an invalid event (neither
    observed), two ground-truth shards and an invalid ground truth (not expected)."""
    later = {"timestamp": "2025-11-08T12:31:00.000000Z", "batch_id": "20251108T1230Z"}
    events = [
        event(), event(event_type="start driving"), event(**later), event(**later, event_type="started"),
        event(), event(timestamp="2025-11-08T12:29:00.000000Z"),
    ]
    truths = [json.dumps(TRUTH), json.dumps({**TRUTH, "shard": "0/2"}), json.dumps({**TRUTH, "seed": -1})]
    rows = [("k", value, EVENTS.kafka_topic, offset % 2, offset, NOW) for offset, value in enumerate(events)]
    rows += [("k", value, TRUTH_TOPIC.kafka_topic, 0, offset, NOW) for offset, value in enumerate(truths)]
    frame = validation.parse(validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA)), PLAN)
    duplicate = (F.col("topic") == "fleet.driver-events") & (F.col("offset") == 4)
    frame = frame.withColumn("_duplicate", duplicate).cache()
    accepted = frame.where(~F.col("_duplicate"))
    seen = silver.event_observations(accepted, PLAN, 7)
    assert seen is not None
    expected = seen.unionByName(silver.truth_observations(accepted, PLAN, 7))
    expected = expected.select(*silver.OBSERVATION_COLUMNS)

    keys = [F.col("_t"), F.col("_duplicate"), F.col("reason").isNull().alias("ok"), F.lit(False).alias("k")]
    counted = silver.counting_pass(frame, PLAN, keys)
    mine = silver.tally((row for row in counted if not row["_duplicate"]), PLAN, 7)
    got = silver.observation_frame(spark, mine.observations)

    def key(row: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(map(str, row))

    want = sorted((tuple(row) for row in expected.collect()), key=key)
    assert sorted((tuple(row) for row in got.collect()), key=key) == want
    assert got.schema.simpleString() == expected.schema.simpleString().replace(":bigint not null", ":bigint")
    # per (interval, partition) with accepted events — (12:15, 0), (12:15, 1), (12:30, 0) — all of them
    # and each type present; per valid ground truth, all and each type
    assert len(want) == 2 + 3 + 2 + 2 * (1 + 3)
    assert mine.verdicts == {
        (EVENTS.index, True): 4, (EVENTS.index, False): 1,
        (TRUTH_TOPIC.index, True): 2, (TRUTH_TOPIC.index, False): 1,
    }  # fmt: skip
    frame.unpersist()


TAPFLOW = plan_for(load_config("tapflow.small"))


def test_entity_order_puts_every_entity_topic_after_the_topics_it_references() -> None:
    order = [topic.name for topic in silver.entity_order(TAPFLOW)]
    assert sorted(order) == sorted(topic.name for topic in TAPFLOW.of_role("entities"))
    for position, name in enumerate(order):
        for target in TAPFLOW.by_name(name).references.values():
            assert order.index(target) < position, (name, target)
    assert [topic.name for topic in silver.entity_order(PLAN)] == ["fleet.companies"]


COMPANY_ROWS = (
    "company_id string, valid_from timestamp, created_at timestamp, active boolean, "
    "kafka_timestamp timestamp, source_partition int, source_offset long"
)


def test_entity_view_merges_the_table_with_this_micro_batch(spark: SparkSession) -> None:
    early, late = datetime(2025, 11, 8, 1), datetime(2025, 11, 8, 2)
    table = spark.createDataFrame([(COMPANY, early, early, True, NOW, 0, 1)], COMPANY_ROWS)
    batch = spark.createDataFrame(
        [(COMPANY, late, late, False, NOW, 0, 7), (OTHER_COMPANY, late, late, True, NOW, 0, 8)], COMPANY_ROWS
    )
    view = {row.company_id: row for row in silver.entity_view(table, batch, COMPANIES).collect()}
    assert COMPANIES.active is None  # fleet declares no Active field: a company is always active
    assert (view[COMPANY].valid_from, view[COMPANY].created_at) == (early, late)
    assert (view[OTHER_COMPANY].valid_from, view[OTHER_COMPANY].created_at) == (late, late)
    alone = silver.entity_view(table, None, COMPANIES).collect()
    assert [(row.company_id, row.created_at) for row in alone] == [(COMPANY, early)]


def test_an_entity_referencing_an_unknown_entity_is_quarantined(spark: SparkSession) -> None:
    locations, accounts = TAPFLOW.by_name("tapflow.locations"), TAPFLOW.by_name("tapflow.accounts")
    rows = [("k", "{}", locations.kafka_topic, 0, 0, NOW)]
    frame = (
        validation.parse(validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA)), TAPFLOW)
        .withColumn(locations.column("account_id"), F.lit(5).cast("long"))
        .withColumn("reason", F.lit(None).cast("string"))
        .withColumn("detail", F.lit(None).cast("string"))
        .withColumn("_late", F.lit(False))
        .withColumn("_watermark_ms", F.lit(0).cast("long"))
    )
    key = accounts.spec.key_field
    known = spark.createDataFrame(
        [(4, NOW, NOW)], f"{key} long, valid_from timestamp, {accounts.time_field} timestamp"
    )
    if accounts.active:
        known = known.withColumn(accounts.active[0], F.lit(True))
    checked = silver.check_references(frame, locations, TAPFLOW, {accounts.name: known}).collect()
    assert [(row.reason, row.detail) for row in checked] == [
        (validation.UNKNOWN_REFERENCE, "account_id: no tapflow.accounts entity with this key")
    ]
    matched = known.withColumn(key, F.lit(5).cast("long"))
    passed = silver.check_references(frame, locations, TAPFLOW, {accounts.name: matched}).collect()
    assert [(row.reason, row.detail) for row in passed] == [(None, None)]


def test_the_append_ledger_appends_each_micro_batch_once_across_runs(
    spark: SparkSession, tmp_path: Any
) -> None:
    path = str(tmp_path / "table")
    rows = spark.range(3)
    first = silver.AppendLedger(spark, "silver:query-a")
    assert first.append(rows, path, 0) and first.append(rows, path, 1)
    assert not first.append(rows, path, 1)
    # A new run of the same query (the crash replays micro-batch 1) reads the table's history.
    replay = silver.AppendLedger(spark, "silver:query-a")
    assert replay.recorded(path) == 1
    assert not replay.append(rows, path, 1)
    assert replay.append(rows, path, 2)
    # Another checkpoint (a new query id) is another writer: its micro-batch 1 is new.
    other = silver.AppendLedger(spark, "silver:query-b")
    assert other.append(rows, path, 1)
    assert spark.read.format("delta").load(path).count() == 3 * 4


IDENTITY_PLAN = plan_for(load_config("identity.small"))


def _identity_entities() -> dict[str, dict[str, Any]]:
    """One real record of each identity entity topic (the snapshot before the epoch)."""
    from datetime import timedelta

    from producer.generation.scenarios.registry import get_scenario
    from producer.generation.shard import Shard
    from producer.generation.testing import make_dataset

    dataset = make_dataset("identity.small")
    scenario = get_scenario("identity")
    start = dataset.epoch - timedelta(minutes=15)
    firsts = {}
    for records in scenario.entities(dataset, start, dataset.epoch, Shard()):
        if records.values:
            firsts[records.topic.name] = json.loads(records.values[0])
    return firsts


def _identity_parsed(spark: SparkSession, topic: str, values: list[str]) -> DataFrame:
    rows = [("k", value, topic, 0, offset, NOW) for offset, value in enumerate(values)]
    return validation.parse(validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA)), IDENTITY_PLAN)


def test_nullable_fields_arrays_dates_and_bounds_come_from_the_model(spark: SparkSession) -> None:
    """identity's models use what fleet's do not: null values, arrays of enums, dates, maxima."""
    records = _identity_entities()
    campaign, individual = records["identity.campaigns"], records["identity.individuals"]

    def verdicts_of(topic: str, changes: list[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
        base = campaign if topic == "identity.campaigns" else individual
        values = [json.dumps({**base, **change}) for change in changes]
        return verdicts(_identity_parsed(spark, topic, values))

    assert verdicts_of(
        "identity.campaigns",
        [{}, {"end_date": "soon"}, {"budget": 0}, {"channels": []}, {"channels": ["email", "fax"]}],
    ) == [
        (None, None),
        (validation.SCHEMA_VIOLATION, "end_date: not a date"),
        (validation.SCHEMA_VIOLATION, "budget: <= 0"),
        (validation.SCHEMA_VIOLATION, "channels: fewer than 1 items"),
        (validation.SCHEMA_VIOLATION, "channels: unknown item fax"),
    ]
    assert verdicts_of(
        "identity.individuals", [{"income_individual": None}, {"age": 101}, {"income_individual": -5.0}]
    ) == [
        (None, None),  # null where the model allows it
        (validation.SCHEMA_VIOLATION, "age: > 100"),
        (validation.SCHEMA_VIOLATION, "income_individual: < 0"),
    ]
    topic = IDENTITY_PLAN.by_name("identity.campaigns")
    frame = _identity_parsed(spark, topic.kafka_topic, [json.dumps(campaign)])
    typed = validation.typed_rows(frame, topic).collect()[0]
    assert typed.start_date.isoformat() == campaign["start_date"]
    assert typed.channels == campaign["channels"]


def test_a_source_of_one_topic_parses_as_the_whole_plan_does(spark: SparkSession) -> None:
    """The silver query parses each event source with its own topic only: same verdicts and
    values, and only that topic's typed columns."""
    values = [event(), *(value for value, _, _ in BAD_EVENTS)]
    rows = [("k", value, "fleet.driver-events", 0, offset, NOW) for offset, value in enumerate(values)]
    kafka = validation.kafka_rows(spark.createDataFrame(rows, KAFKA_SCHEMA))
    whole = validation.parse(kafka, PLAN)
    alone = validation.parse(kafka, PLAN, [EVENTS])
    assert verdicts(alone) == verdicts(whole)
    assert {c for c in alone.columns if c.startswith("_c")} == {EVENTS.column(r.name) for r in EVENTS.rules}
    shared = [c for c in alone.columns if c != "ingest_time"]
    ordered = [frame.select(shared).orderBy("offset").collect() for frame in (alone, whole)]
    assert ordered[0] == ordered[1]


def test_the_parser_types_each_field_as_declared_and_never_coerces(spark: SparkSession) -> None:
    """JSON types are the model's: a number where a string is declared is a violation (not text), a
    wrong type in a nullable field is one too, and the bytes must be one UTF-8 JSON object."""
    values = [
        event(truck_id=100),
        event(timestamp="2025-11-08T13:20:00.5+01:00"),  # any offset, fraction of any length
        event(batch_id="20251108T121500Z"),  # the interval id with seconds
        event() + " {}",  # trailing content
        "",
    ]
    assert verdicts(parsed(spark, values)) == [
        (validation.SCHEMA_VIOLATION, "truck_id: null or not a JSON string"),
        (None, None),
        (None, None),
        (validation.UNPARSEABLE, "value: not a UTF-8 JSON object"),
        (validation.UNPARSEABLE, "value: not a UTF-8 JSON object"),
    ]
    row = validation.typed_rows(parsed(spark, [values[1]]), EVENTS).collect()[0]
    assert row.timestamp == datetime(2025, 11, 8, 12, 20, 0, 500000)
    invalid = event().encode()[:-2] + b'\xff"}'  # one byte that is no UTF-8, inside a string
    frame = validation.parse(
        validation.kafka_rows(
            spark.createDataFrame(
                [(b"k\xfe", invalid, "fleet.driver-events", 0, 0, NOW)],
                "key binary, value binary, topic string, partition int, offset long, timestamp timestamp",
            )
        ),
        PLAN,
    )
    (quarantined,) = validation.quarantine_rows(frame).collect()
    unparseable = (validation.UNPARSEABLE, "value: not a UTF-8 JSON object")
    assert (quarantined.reason, quarantined.detail) == unparseable
    assert quarantined.raw_value.endswith('\ufffd"}') and quarantined.key == "k\ufffd"
    records = _identity_entities()
    individual = records["identity.individuals"]
    wrong = json.dumps({**individual, "income_individual": "rich"})  # nullable, but not a number
    assert verdicts(_identity_parsed(spark, "identity.individuals", [wrong])) == [
        (validation.SCHEMA_VIOLATION, "value: a field has the wrong JSON type")
    ]


def test_the_parser_refuses_a_spec_whose_output_slots_are_not_its_own(spark: SparkSession) -> None:
    """The slots before the typed fields are named once in Python (``HEAD``, with their types) and
    once in the parser: a spec naming other slots, or the same in another order, fails when the
    plan is built (on the driver), not in a task."""
    from pyspark.errors import IllegalArgumentException

    spec, output = validation.parser_spec(PLAN, [EVENTS])
    rows = validation.kafka_rows(spark.createDataFrame([], KAFKA_SCHEMA))
    parser = spark._jvm.dev.seedstream.streaming.Parser  # type: ignore[union-attr]  # noqa: SLF001
    parser.parse(rows._jdf, spec, output.json(), validation.PARSED)  # noqa: SLF001 - the spec as built
    swapped = json.loads(spec)
    swapped["head"][2:4] = swapped["head"][3:1:-1]  # reason and detail swapped
    with pytest.raises(IllegalArgumentException, match="names the output slots"):
        parser.parse(rows._jdf, json.dumps(swapped), output.json(), validation.PARSED)  # noqa: SLF001
    fields = output.fields
    renamed = type(output)([fields[1], fields[0], *fields[2:]])  # _t and reason swapped in the schema
    with pytest.raises(IllegalArgumentException, match="output schema starts with"):
        parser.parse(rows._jdf, spec, renamed.json(), validation.PARSED)  # noqa: SLF001


def test_a_leaf_is_computed_once_without_its_plan_and_released(spark: SparkSession) -> None:
    source = spark.range(50).withColumn("half", F.col("id") % 2)
    computed = silver.leaf(source.groupBy("half").count())
    plan = computed._jdf.queryExecution().analyzed()
    assert plan.getClass().getSimpleName() == "LogicalRDD"  # no Aggregate or Range left to analyse
    rdd = plan.rdd()
    assert rdd.isLocallyCheckpointed()
    assert sorted(tuple(row) for row in computed.collect()) == [(0, 25), (1, 25)]
    assert rdd.id() in {info.id() for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()}
    silver.release(computed)
    assert rdd.id() not in {info.id() for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()}


def test_entity_views_load_a_topic_without_rows_only_when_a_reference_asks() -> None:
    loaded: list[str] = []

    def load(name: str) -> Any:
        loaded.append(name)
        return f"table of {name}"

    views = silver.EntityViews(load)
    views["tapflow.accounts"] = "versions view"  # type: ignore[assignment]
    assert views["tapflow.accounts"] == "versions view"
    assert views["tapflow.locations"] == views["tapflow.locations"] == "table of tapflow.locations"
    assert loaded == ["tapflow.locations"]  # once, and never for a topic nobody asked about


def test_references_among_other_topics_check_only_their_own_rows(spark: SparkSession) -> None:
    """The events-only micro-batch joins references over every row it routed: the companies' and
    ground truth's rows pass through as they were, the events get what they get alone."""
    before = datetime(2025, 11, 8, 12, 14, 59, tzinfo=UTC)
    stranger = event(company_id=OTHER_COMPANY, driver_id=f"DRV-{OTHER_COMPANY}-001")
    company = json.dumps({"company_id": OTHER_COMPANY, "geography": "US", "active": True,
                          "created_at": "2025-11-08T00:00:00.000000Z"})  # fmt: skip
    mixed = (
        parsed(spark, [event(), stranger])
        .unionByName(parsed(spark, [company, "{not json"], "fleet.companies"))
        .withColumn("_late", F.lit(False))
        .withColumn("_watermark_ms", F.lit(0).cast("long"))
    )
    companies = spark.createDataFrame(
        [(COMPANY, before, before, True)],
        "company_id string, valid_from timestamp, created_at timestamp, active boolean",
    )
    checked = silver.check_references(mixed, EVENTS, PLAN, {"fleet.companies": companies}, among_others=True)
    assert sorted(checked.columns) == sorted(mixed.columns)
    rows = {(row.topic, row.offset): (row.reason, row.detail) for row in checked.collect()}
    assert rows == {
        ("fleet.driver-events", 0): (None, None),
        ("fleet.driver-events", 1): (
            validation.UNKNOWN_REFERENCE,
            "company_id: no fleet.companies entity with this key",
        ),
        ("fleet.companies", 0): (None, None),
        ("fleet.companies", 1): ("unparseable", "value: not a UTF-8 JSON object"),
    }
    alone = references(spark, PLAN, [event(), stranger], before)
    assert verdicts(alone) == [rows[("fleet.driver-events", 0)], rows[("fleet.driver-events", 1)]]


def test_the_append_ledger_reads_no_history_for_a_micro_batch_planned_in_this_run(
    spark: SparkSession, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "table")
    rows = spark.range(2)
    assert silver.AppendLedger(spark, "silver:query-a").append(rows, path, 3)
    read: list[str] = []
    recorded = silver.AppendLedger.recorded
    monkeypatch.setattr(silver.AppendLedger, "recorded", lambda self, p: read.append(p) or recorded(self, p))
    # The checkpoint had planned micro-batch 3 before this run: 4 cannot be in any table yet.
    fresh = silver.AppendLedger(spark, "silver:query-a", planned_before=3)
    assert fresh.append(rows, path, 4) and read == []
    # Micro-batch 3 may be the crash's replay: the history says it is there already.
    replay = silver.AppendLedger(spark, "silver:query-a", planned_before=3)
    assert not replay.append(rows, path, 3) and read == [path]
    assert spark.read.format("delta").load(path).count() == 2 * 2


def test_an_event_topic_without_references_still_quarantines_late_rows(spark: SparkSession) -> None:
    """``late`` is the last rule check_references applies: an event topic that references nothing
    (none of the shipped scenarios has one) still gets it, alone or among other topics' rows."""
    bare = dataclasses.replace(EVENTS, references={})
    frame = (
        parsed(spark, [event(), event(event_id="7f1c1e0a-3b6a-4f7e-9d2b-0a1b2c3d4e5f")])
        .withColumn("_late", F.col("offset") == 1)
        .withColumn("_watermark_ms", F.lit(0).cast("long"))
    )
    late = (validation.LATE, "timestamp: at or before the watermark 1970-01-01T00:00:00.000000Z")
    assert verdicts(silver.check_references(frame, bare, PLAN, {})) == [(None, None), late]
    among = silver.check_references(frame, bare, PLAN, {}, among_others=True)
    assert verdicts(among) == [(None, None), late]
