"""Create the pipeline's Delta tables before any query starts: empty, with their schemas and properties.

Schemas come from running the transformations on an empty frame (plans only, no job), so readers
never find a table missing and the checks query can stream from ``checks/observations`` from the
first second. Tables collect statistics (``delta.dataSkippingStatsColumns``) only on the columns
queries filter by: bronze on its lineage columns, never on the raw key and value; the event tables
on :func:`event_stats_columns`; the quarantine on its reason and source, never on the raw payload.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

from streaming.bronze import KAFKA_SCHEMA, to_bronze
from streaming.checks import CHECK_SCHEMA
from streaming.cleaned import marker_observations
from streaming.contract import INTERVAL_FIELD
from streaming.score import SCORE_SCHEMA
from streaming.silver import OBSERVATION_COLUMNS, event_observations, truth_observations
from streaming.validation import kafka_rows, parse, quarantine_rows, typed_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming.contract import TopicPlan
    from streaming.tables import Tables

BRONZE_STATS_COLUMNS = "topic,partition,offset,kafka_timestamp,ingest_time"
QUARANTINE_STATS_COLUMNS = "reason,source_topic,source_partition,source_offset,kafka_timestamp,quarantined_at"
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


def event_stats_columns(topic: TopicPlan) -> str:
    """The columns an event table collects statistics on: those that queries filter by — the
    time field, the interval, the references and categories the contract declares — and the Kafka
    source position. Not the record id or other free-form text: their per-file minimum and maximum
    never skip a file, and computing them costs every append (measured: appending the 1 h job's
    398,707 ``silver/driver_events`` rows took 0.74 s with these against 0.84 s with every column)."""
    declared = {rule.name for rule in topic.rules}
    wanted = [topic.time_field, INTERVAL_FIELD, *topic.references, *topic.categories]
    fields = [name for name in dict.fromkeys(wanted) if name in declared]
    return ",".join([*fields, "source_partition", "source_offset"])


CREATE_THREADS = 4
"""Tables created at once: the first creations wait on Delta's start-up together, then each is
mostly the driver waiting on its own commit."""


def create_tables(tables: Tables) -> None:
    """Create every table that does not exist yet (:func:`create_bronze_tables`, then
    :func:`create_silver_tables`, their shapes from the parse of an empty frame)."""
    create_bronze_tables(tables)
    create_silver_tables(tables)


def create_bronze_tables(tables: Tables) -> None:
    """Create the bronze tables (one per topic, and the fault labels') that do not exist yet; their
    shape needs no parsing."""
    spark = tables.spark
    bronze = to_bronze(spark.createDataFrame([], KAFKA_SCHEMA))
    properties = {STATS_COLUMNS: BRONZE_STATS_COLUMNS}
    paths = [*(tables.bronze(topic) for topic in tables.plan.topics), tables.labels]
    _create_all(spark, {path: (bronze, "ingest_date", properties) for path in paths})


def create_silver_tables(tables: Tables, routed: DataFrame | None = None) -> None:
    """Create the silver and checks tables that do not exist yet. ``routed``: a frame of the silver
    query's routed rows (its schema is what counts), so that the parse is not planned a second
    time; without it, the parse of an empty Kafka frame gives the shapes."""
    _create_all(tables.spark, _silver_and_checks_shapes(tables, routed))


def _create_all(spark: SparkSession, shapes: dict[str, tuple[DataFrame, str | None, dict[str, str]]]) -> None:
    """Create the tables of ``shapes`` (path → (frame, partition column, properties)) on
    :data:`CREATE_THREADS` threads."""
    run = inheritable_thread_target(spark)
    with ThreadPoolExecutor(CREATE_THREADS, thread_name_prefix="create-tables") as pool:
        started = [
            pool.submit(run(_create), spark, path, frame, partition, properties)
            for path, (frame, partition, properties) in shapes.items()
        ]
        for future in started:
            future.result()


def _create(
    spark: SparkSession, path: str, frame: DataFrame, partition: str | None, properties: dict[str, str]
) -> None:
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(frame.schema)
    for key, value in properties.items():
        builder = builder.property(key, value)
    (builder.partitionedBy(partition) if partition else builder).execute()


def _silver_and_checks_shapes(
    tables: Tables, routed: DataFrame | None = None
) -> dict[str, tuple[DataFrame, str | None, dict[str, str]]]:
    """Path → (an empty frame of the table's shape, its partition column, its properties);
    ``routed``: see :func:`create_silver_tables`."""
    spark = tables.spark
    if routed is not None:
        # An empty frame of that schema: the shapes below are then planned over a local relation.
        parsed = spark.createDataFrame([], routed.schema)
    else:
        kafka = spark.createDataFrame([], KAFKA_SCHEMA)
        parsed = parse(kafka_rows(kafka), tables.plan).withColumn("_late", F.lit(False))
        parsed = parsed.withColumn("_duplicate", F.lit(False))
        parsed = parsed.withColumn("_watermark_ms", F.lit(0).cast("long"))
    shapes: dict[str, tuple[DataFrame, str | None, dict[str, str]]] = {}
    for topic in tables.plan.topics:
        rows = typed_rows(parsed, topic)
        if topic.role == "entities":
            rows = rows.withColumn("valid_from", F.col(topic.time_field))
            shapes[tables.silver(topic)] = (rows, None, {})
        elif topic.role == "events":
            shapes[tables.silver(topic)] = (
                rows.withColumn("event_date", F.to_date(topic.time_field)),
                "event_date",
                {STATS_COLUMNS: event_stats_columns(topic)},
            )
        else:
            shapes[tables.silver(topic)] = (rows, None, {})
    shapes[tables.quarantine] = (
        quarantine_rows(parsed),
        "quarantine_date",
        {STATS_COLUMNS: QUARANTINE_STATS_COLUMNS},
    )
    observed = truth_observations(parsed, tables.plan, 0)
    events = event_observations(parsed, tables.plan, 0)
    if events is not None:
        observed = observed.unionByName(events)
    observed = observed.unionByName(marker_observations(parsed, 0))  # a marker's topic is null
    shapes[tables.observations] = (observed.select(*OBSERVATION_COLUMNS), None, {})
    shapes[tables.checks] = (spark.createDataFrame([], CHECK_SCHEMA), None, {})
    shapes[tables.quality_score] = (spark.createDataFrame([], SCORE_SCHEMA), None, {})
    return shapes
