"""Every Delta table and checkpoint of the pipeline: where it lives, its schema, how it is created.

Tables are created empty before any query starts (schemas come from running the transformations on
an empty frame: plans only, no job), so readers never find one missing and the checks query can
stream from ``checks/observations`` from the first second. Bronze tables collect statistics only on
lineage columns (``delta.dataSkippingStatsColumns``), never on the raw key and value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from streaming.bronze import KAFKA_SCHEMA, to_bronze
from streaming.checks import CHECK_SCHEMA
from streaming.contract import PipelinePlan, TopicPlan
from streaming.silver import OBSERVATION_COLUMNS, event_observations, truth_observations
from streaming.validation import kafka_rows, parse, quarantine_rows, typed_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from producer.datadir import TableLocations

BRONZE_STATS_COLUMNS = "topic,partition,offset,kafka_timestamp,ingest_time"


@dataclass(frozen=True)
class Tables:
    """The pipeline's tables and checkpoints under one data dir."""

    spark: SparkSession
    plan: PipelinePlan
    locations: TableLocations

    def bronze(self, topic: TopicPlan) -> str:
        return self.locations.bronze(topic.kafka_topic)

    def silver(self, topic: TopicPlan) -> str:
        return self.locations.silver(topic.table)

    @property
    def quarantine(self) -> str:
        return self.locations.silver("quarantine")

    @property
    def observations(self) -> str:
        return self.locations.checks("observations")

    @property
    def checks(self) -> str:
        return self.locations.checks("interval_checks")

    def gold(self, name: str) -> str:
        return self.locations.gold(name)

    def checkpoint(self, query: str) -> str:
        return self.locations.checkpoint(query)

    def query_id(self, query: str) -> str:
        """The stable id Spark keeps in a query's checkpoint (new with every new checkpoint)."""
        first = self.spark.sparkContext.textFile(f"{self.checkpoint(query)}/metadata").first()
        return f"{query}:{json.loads(first)['id']}"

    def silver_paths(self) -> dict[str, str]:
        """Silver table name → path (every topic's table and the quarantine)."""
        paths = {topic.table: self.silver(topic) for topic in self.plan.topics}
        paths["quarantine"] = self.quarantine
        return paths

    def create(self) -> None:
        """Create every table that does not exist yet, empty, with its schema and properties."""
        spark = self.spark
        kafka = spark.createDataFrame([], KAFKA_SCHEMA)
        parsed = parse(kafka_rows(kafka), self.plan).withColumn("_late", F.lit(False))
        parsed = parsed.withColumn("_watermark_ms", F.lit(0).cast("long"))
        shapes: dict[str, tuple[DataFrame, str | None, dict[str, str]]] = {}
        bronze = to_bronze(kafka)
        for topic in self.plan.topics:
            shapes[self.bronze(topic)] = (
                bronze,
                "ingest_date",
                {"delta.dataSkippingStatsColumns": BRONZE_STATS_COLUMNS},
            )
            rows = typed_rows(parsed, topic)
            if topic.role == "entities":
                rows = rows.withColumn("valid_from", F.col(topic.time_field))
                shapes[self.silver(topic)] = (rows, None, {})
            elif topic.role == "events":
                shapes[self.silver(topic)] = (
                    rows.withColumn("event_date", F.to_date(topic.time_field)),
                    "event_date",
                    {},
                )
            else:
                shapes[self.silver(topic)] = (rows, None, {})
        shapes[self.quarantine] = (quarantine_rows(parsed), "quarantine_date", {})
        observed = truth_observations(parsed, self.plan, 0)
        events = event_observations(parsed, self.plan, 0)
        if events is not None:
            observed = observed.unionByName(events)
        shapes[self.observations] = (observed.select(*OBSERVATION_COLUMNS), None, {})
        shapes[self.checks] = (spark.createDataFrame([], CHECK_SCHEMA), None, {})
        for path, (frame, partition, properties) in shapes.items():
            builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(frame.schema)
            for key, value in properties.items():
                builder = builder.property(key, value)
            (builder.partitionedBy(partition) if partition else builder).execute()
