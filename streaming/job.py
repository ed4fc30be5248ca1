"""The streaming job: one Kafka query over all of a scenario's topics, bronze → silver → checks.

Why one query with ``foreachBatch``: a company is published (and acknowledged) before any event
that references it, so a micro-batch whose end offsets include an event also includes its company.
Processing each micro-batch in a fixed order (bronze, then entities, ground truth, events, then
checks) makes the company checks exact; separate queries per topic could run events ahead of
companies. It also gives every table the same exactly-once mechanism: appends use Delta's
idempotent writes (``txnAppId`` = this checkpoint's stable query id, ``txnVersion`` = the
micro-batch id) and MERGEs are idempotent by construction, so a micro-batch replayed after a crash
changes nothing it already wrote.

Watermark: Spark's ``dropDuplicatesWithinWatermark`` drops rows older than the watermark
silently, but the contract quarantines them as ``late``. So the job keeps the watermark itself,
with Spark's semantics: the watermark used for micro-batch N is (max valid event time of batches
before N) − ``watermark_delay``, recorded per micro-batch in ``checks/watermarks`` (so a replay sees
the same value). Events older than it are quarantined as ``late``; the others are deduplicated by
``event_id`` within the batch and against silver's ids newer than the watermark, which keeps
exactly the rows ``dropDuplicatesWithinWatermark`` would keep.

Checks: after each micro-batch, intervals whose ``interval_end + allowed_lateness`` the new
watermark has passed are checked. An ``--available-now`` run ends like bounded input in Flink: the
watermark goes to +∞ and every interval seen is checked (:meth:`Pipeline.final_checks`); the
persisted watermark is not advanced, so a later run still accepts on-time records and re-checks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from producer.clock import format_duration
from producer.scenarios import get_scenario
from streaming import checks as interval_checks
from streaming import silver
from streaming.bronze import append_idempotent, to_bronze, write_bronze

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from producer.config import SeedstreamConfig
    from producer.scenarios import TopicSpec
    from producer.scenarios.base import TopicRole

log = logging.getLogger(__name__)

QUERY_NAME = "seedstream-pipeline"
KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key: string, value: binary>>"
)
WATERMARK_SCHEMA = "query_id string, batch_id long, max_event_time timestamp, watermark timestamp"


def table_name(topic: TopicSpec) -> str:
    """The silver table of a topic: ``fleet.driver-events`` → ``driver_events``."""
    return topic.name.split(".", 1)[-1].replace("-", "_")


@dataclass(frozen=True)
class Layout:
    """Where tables, checkpoints and logs live under a data dir (a path or any Hadoop URI)."""

    root: str

    def bronze(self, topic: str) -> str:
        return f"{self.root}/delta/bronze/{topic}"

    def silver(self, table: str) -> str:
        return f"{self.root}/delta/silver/{table}"

    def checks(self, table: str = "interval_checks") -> str:
        return f"{self.root}/delta/checks/{table}"

    def checkpoint(self, name: str = "pipeline") -> str:
        return f"{self.root}/checkpoints/{name}"

    def logs(self) -> str:
        return f"{self.root}/logs"


@dataclass
class Pipeline:
    """The per-micro-batch work of the job, for one scenario, config and data dir."""

    spark: SparkSession
    config: SeedstreamConfig
    layout: Layout
    query_id: str | None = None
    checks_log: Path | None = None
    last_watermark: datetime | None = field(default=None, init=False)
    batch_rows: dict[str, int] = field(default_factory=dict, init=False)
    rows_written: dict[str, int] = field(default_factory=dict, init=False)
    intervals_checked: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        scenario = get_scenario(self.config.scenario)
        self.entities = scenario.topic("entities")
        self.events = scenario.topic("events")
        self.truth = scenario.topic("ground_truth")
        self.interval = scenario.interval_length(self.config)
        self.delay = self.config.streaming.delay(self.interval)
        self.lateness = self.config.streaming.lateness()
        prefix = self.config.kafka.topic_prefix
        self.topics = {spec.role: spec.full_name(prefix) for spec in scenario.topics()}
        event_schema = self.events.model.model_json_schema()["properties"]
        self.event_types: tuple[str, ...] = tuple(event_schema[silver.EVENT_TYPE_FIELD]["enum"])

    # -- paths ----------------------------------------------------------------------------------

    @property
    def companies_path(self) -> str:
        return self.layout.silver(table_name(self.entities))

    @property
    def events_path(self) -> str:
        return self.layout.silver(table_name(self.events))

    @property
    def truth_path(self) -> str:
        return self.layout.silver(table_name(self.truth))

    @property
    def quarantine_path(self) -> str:
        return self.layout.silver("quarantine")

    @property
    def checks_path(self) -> str:
        return self.layout.checks()

    @property
    def watermarks_path(self) -> str:
        return self.layout.checks("watermarks")

    def bronze_tables(self) -> dict[str, str]:
        """Topic → bronze table path."""
        return {topic: self.layout.bronze(topic) for topic in self.topics.values()}

    # -- setup ----------------------------------------------------------------------------------

    def _parsed(self, bronze: DataFrame, role: TopicRole, model: type[BaseModel]) -> DataFrame:
        return silver.parse_records(bronze.where(F.col("topic") == self.topics[role]), model)

    def _silver_frames(self, bronze: DataFrame) -> dict[str, tuple[DataFrame, str | None]]:
        """The shape of every table (path → frame, partition column), from an empty micro-batch."""
        companies = silver.valid(self._parsed(bronze, "entities", self.entities.model))
        truth = silver.valid(self._parsed(bronze, "ground_truth", self.truth.model))
        events = self._validated_events(bronze, None)
        watermark = self.spark.createDataFrame([], WATERMARK_SCHEMA)
        empty_checks = interval_checks.interval_checks(
            events.select("batch_id", "interval_start", "interval_end").where(F.lit(False)),
            truth,
            events,
            self.event_types,
            None,
            datetime.now(UTC),
        )
        return {
            self.companies_path: (companies, None),
            self.truth_path: (truth, None),
            self.events_path: (self._event_rows(silver.valid(events)), "event_date"),
            self.quarantine_path: (silver.quarantine(events), "quarantine_date"),
            self.checks_path: (empty_checks, None),
            self.watermarks_path: (watermark, None),
        }

    def ensure_tables(self) -> None:
        """Create every table, empty, with its schema, so readers never find one missing."""
        empty = to_bronze(self.spark.createDataFrame([], KAFKA_SCHEMA))
        frames: dict[str, tuple[DataFrame, str | None]] = {
            path: (empty, "ingest_date") for path in self.bronze_tables().values()
        }
        frames.update(self._silver_frames(empty))
        for path, (frame, partition) in frames.items():
            if DeltaTable.isDeltaTable(self.spark, path):
                continue
            writer = frame.limit(0).write.format("delta").mode("append")
            (writer.partitionBy(partition) if partition else writer).save(path)

    # -- one micro-batch ------------------------------------------------------------------------

    def _validated_events(self, bronze: DataFrame, watermark: datetime | None) -> DataFrame:
        companies = (
            self.spark.read.format("delta").load(self.companies_path) if self._has_companies() else None
        )
        parsed = self._parsed(bronze, "events", self.events.model)
        if companies is None:
            companies = self.spark.createDataFrame(
                [], f"{self.entities.key_field} string, created_at timestamp"
            )
        return silver.validate_events(parsed, companies, self.interval, watermark, self.entities.key_field)

    def _has_companies(self) -> bool:
        return bool(DeltaTable.isDeltaTable(self.spark, self.companies_path))

    def _event_rows(self, valid_events: DataFrame) -> DataFrame:
        return silver.with_event_date(valid_events.drop("interval_start", "interval_end"))

    def _writer_id(self, table: str) -> str:
        return f"seedstream:{self.query_id or QUERY_NAME}:{table}"

    def _previous_max_event_time(self, batch_id: int) -> datetime | None:
        rows = (
            self.spark.read.format("delta")
            .load(self.watermarks_path)
            .where((F.col("query_id") == (self.query_id or QUERY_NAME)) & (F.col("batch_id") < batch_id))
            .agg(F.max("max_event_time").alias("max_event_time"))
            .collect()
        )
        value = rows[0]["max_event_time"] if rows else None
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None

    def process_batch(self, batch: DataFrame, batch_id: int) -> None:
        """Write one micro-batch of Kafka records to bronze, silver and checks, exactly once."""
        bronze = to_bronze(batch).persist()
        try:
            counts = {row["topic"]: int(row["count"]) for row in bronze.groupBy("topic").count().collect()}
            self.batch_rows = counts
            present = {topic: path for topic, path in self.bronze_tables().items() if counts.get(topic)}
            write_bronze(bronze, present, self._writer_id("bronze"), batch_id)
            rejected: list[DataFrame] = []
            if counts.get(self.topics["entities"]):
                rejected.append(self._merge_entities(bronze))
            if counts.get(self.topics["ground_truth"]):
                rejected.append(self._merge_truth(bronze))
            max_seen = self._previous_max_event_time(batch_id)
            watermark = max_seen - self.delay if max_seen is not None else None
            touched: list[DataFrame] = []
            if counts.get(self.topics["events"]):
                events = self._validated_events(bronze, watermark).persist()
                try:
                    accepted = self._append_events(events, watermark, batch_id)
                    rejected.append(silver.quarantine(events))
                    batch_max = accepted.agg(F.max("timestamp")).collect()[0][0]
                    if batch_max is not None:
                        batch_max = batch_max.replace(tzinfo=UTC)
                        max_seen = max(max_seen, batch_max) if max_seen is not None else batch_max
                    touched.append(accepted.select("batch_id"))
                    self._write_quarantine(rejected, batch_id)
                finally:
                    events.unpersist()
            elif rejected:
                self._write_quarantine(rejected, batch_id)
            self._record_watermark(batch_id, max_seen)
            new_watermark = max_seen - self.delay if max_seen is not None else None
            self.last_watermark = new_watermark
            if counts.get(self.topics["ground_truth"]):
                touched.append(self._parsed(bronze, "ground_truth", self.truth.model).select("batch_id"))
            self._check_closed(watermark, new_watermark, touched)
        finally:
            bronze.unpersist()

    def _merge_entities(self, bronze: DataFrame) -> DataFrame:
        parsed = self._parsed(bronze, "entities", self.entities.model)
        latest = silver.latest_per_key(silver.valid(parsed), [self.entities.key_field])
        key = self.entities.key_field
        (
            DeltaTable.forPath(self.spark, self.companies_path)
            .alias("t")
            .merge(latest.alias("s"), f"t.{key} = s.{key}")
            .whenMatchedUpdateAll(condition="s.kafka_timestamp >= t.kafka_timestamp")
            .whenNotMatchedInsertAll()
            .execute()
        )
        return silver.quarantine(parsed)

    def _merge_truth(self, bronze: DataFrame) -> DataFrame:
        parsed = self._parsed(bronze, "ground_truth", self.truth.model)
        latest = silver.latest_per_key(silver.valid(parsed), ["batch_id", "shard"])
        (
            DeltaTable.forPath(self.spark, self.truth_path)
            .alias("t")
            .merge(latest.alias("s"), "t.batch_id = s.batch_id AND t.shard = s.shard")
            .whenMatchedUpdateAll(condition="s.kafka_timestamp >= t.kafka_timestamp")
            .whenNotMatchedInsertAll()
            .execute()
        )
        return silver.quarantine(parsed)

    def _append_events(self, events: DataFrame, watermark: datetime | None, batch_id: int) -> DataFrame:
        existing = self.spark.read.format("delta").load(self.events_path)
        if watermark is not None:
            existing = existing.where(
                (F.col("event_date") >= F.lit(watermark.date())) & (F.col("timestamp") >= F.lit(watermark))
            )
        accepted = silver.valid(events)
        fresh = silver.dedup_events(self._event_rows(accepted), existing.select("event_id")).persist()
        try:
            append_idempotent(fresh, self.events_path, self._writer_id("events"), batch_id, "event_date")
            self._count("driver_events", fresh)
        finally:
            fresh.unpersist()
        return accepted

    def _count(self, table: str, frame: DataFrame) -> None:
        self.rows_written[table] = self.rows_written.get(table, 0) + int(frame.count())

    def _write_quarantine(self, rejected: list[DataFrame], batch_id: int) -> None:
        frame = reduce(lambda left, right: left.unionByName(right), rejected)
        append_idempotent(
            frame, self.quarantine_path, self._writer_id("quarantine"), batch_id, "quarantine_date"
        )

    def _record_watermark(self, batch_id: int, max_seen: datetime | None) -> None:
        watermark = max_seen - self.delay if max_seen is not None else None
        row = self.spark.createDataFrame(
            [(self.query_id or QUERY_NAME, batch_id, max_seen, watermark)], WATERMARK_SCHEMA
        )
        (
            row.write.format("delta")
            .mode("append")
            .option("txnAppId", self._writer_id("watermarks"))
            .option("txnVersion", batch_id)
            .save(self.watermarks_path)
        )

    # -- checks ---------------------------------------------------------------------------------

    def _intervals(self, batch_ids: DataFrame) -> DataFrame:
        start = silver.interval_start_of(F.col("batch_id"))
        end = F.timestamp_micros(F.unix_micros(start) + F.lit(int(self.interval.total_seconds() * 1_000_000)))
        return (
            batch_ids.select("batch_id")
            .distinct()
            .select("batch_id", start.alias("interval_start"), end.alias("interval_end"))
            .where(F.col("interval_start").isNotNull())
        )

    def _check_closed(
        self, previous: datetime | None, current: datetime | None, touched: list[DataFrame]
    ) -> None:
        """Check intervals touched by this micro-batch or closed by its watermark advance."""
        if current is None:
            return
        events = self.spark.read.format("delta").load(self.events_path)
        truth = self.spark.read.format("delta").load(self.truth_path)
        upper = current - self.lateness
        newly_closed_events = events.where(F.col("timestamp") < F.lit(upper))
        newly_closed_truth = truth.where(F.col("interval_end") <= F.lit(upper))
        if previous is not None:
            lower = previous - self.lateness - self.interval
            newly_closed_events = newly_closed_events.where(
                (F.col("event_date") >= F.lit(lower.date())) & (F.col("timestamp") >= F.lit(lower))
            )
            newly_closed_truth = newly_closed_truth.where(
                F.col("interval_end") > F.lit(previous - self.lateness)
            )
        candidates = reduce(
            lambda left, right: left.unionByName(right),
            [frame.select("batch_id") for frame in [*touched, newly_closed_events, newly_closed_truth]],
        )
        self._merge_checks(
            interval_checks.closed(self._intervals(candidates), current, self.lateness), current
        )

    def final_checks(self) -> int:
        """End of input: check every interval seen (watermark at +∞). Returns the intervals checked."""
        events = self.spark.read.format("delta").load(self.events_path).select("batch_id")
        truth = self.spark.read.format("delta").load(self.truth_path).select("batch_id")
        intervals = self._intervals(events.unionByName(truth)).persist()
        try:
            self._merge_checks(intervals, None)
            return int(intervals.count())
        finally:
            intervals.unpersist()

    def _merge_checks(self, intervals: DataFrame, watermark: datetime | None) -> None:
        events = self.spark.read.format("delta").load(self.events_path)
        truth = self.spark.read.format("delta").load(self.truth_path)
        rows = interval_checks.interval_checks(
            intervals, truth, events, self.event_types, watermark, datetime.now(UTC)
        ).persist()
        try:
            self._merge_check_rows(rows)
            self._log_checks(rows)
        finally:
            rows.unpersist()

    def _merge_check_rows(self, rows: DataFrame) -> None:
        (
            DeltaTable.forPath(self.spark, self.checks_path)
            .alias("t")
            .merge(rows.alias("s"), "t.batch_id = s.batch_id AND t.event_type = s.event_type")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    def _log_checks(self, rows: DataFrame) -> None:
        """Remember each checked interval's overall status; append it to the checks log (JSON lines)."""
        per_interval = (
            rows.groupBy("batch_id")
            .agg(
                F.sort_array(F.collect_set("status")).alias("statuses"),
                F.sum("expected").alias("expected"),
                F.sum("observed").alias("observed"),
                F.first("watermark").alias("watermark"),
            )
            .orderBy("batch_id")
            .collect()
        )
        lines = []
        for row in per_interval:
            statuses = [status for status in row["statuses"] if status != interval_checks.COMPLETE]
            status = statuses[0] if statuses else interval_checks.COMPLETE
            self.intervals_checked[row["batch_id"]] = status
            lines.append(
                json.dumps(
                    {
                        "batch_id": row["batch_id"],
                        "status": status,
                        "expected": row["expected"],
                        "observed": row["observed"],
                        "watermark": row["watermark"].isoformat() if row["watermark"] else None,
                        "checked_at": datetime.now(UTC).isoformat(),
                    },
                    separators=(",", ":"),
                )
            )
        if self.checks_log is not None and lines:
            self.checks_log.parent.mkdir(parents=True, exist_ok=True)
            with self.checks_log.open("a", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")

    # -- the query ------------------------------------------------------------------------------

    def start(
        self, bootstrap_servers: str, available_now: bool, listener: Any | None = None
    ) -> StreamingQuery:
        """Start the Kafka → foreachBatch query (tables are created first)."""
        self.ensure_tables()
        settings = self.config.streaming
        reader = (
            self.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap_servers)
            .option("subscribe", ",".join(self.topics.values()))
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "false")
            .option("kafka.isolation.level", "read_committed")
            .option("includeHeaders", "true")
        )
        if settings.max_offsets_per_trigger is not None:
            reader = reader.option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        writer = (
            reader.load()
            .writeStream.queryName(QUERY_NAME)
            .option("checkpointLocation", self.layout.checkpoint())
            .foreachBatch(self._process_with_query_id)
        )
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{settings.trigger_interval.total_seconds()} seconds")
        log.info(
            "starting %s: topics %s, watermark delay %s, allowed lateness %s",
            QUERY_NAME,
            ", ".join(self.topics.values()),
            format_duration(self.delay) if self.delay else "PT0S",
            format_duration(self.lateness) if self.lateness else "PT0S",
        )
        return writer.start()

    def _process_with_query_id(self, batch: DataFrame, batch_id: int) -> None:
        if self.query_id is None:
            self.query_id = _checkpoint_query_id(self.spark, self.layout.checkpoint())
        self.process_batch(batch, batch_id)


def _checkpoint_query_id(spark: SparkSession, checkpoint: str) -> str:
    """The stable query id Spark stores in the checkpoint (survives restarts, new per checkpoint)."""
    import json

    lines = spark.sparkContext.textFile(f"{checkpoint}/metadata").collect()
    return str(json.loads(lines[0])["id"])


def tables_of(config: SeedstreamConfig, data_dir: str) -> dict[str, str]:
    """Every table the job writes, by a short name (``bronze:<topic>``, ``companies``, …) → path."""
    pipeline_layout = Layout(data_dir)
    scenario = get_scenario(config.scenario)
    tables = {
        f"bronze:{spec.full_name(config.kafka.topic_prefix)}": pipeline_layout.bronze(
            spec.full_name(config.kafka.topic_prefix)
        )
        for spec in scenario.topics()
    }
    tables.update({table_name(spec): pipeline_layout.silver(table_name(spec)) for spec in scenario.topics()})
    tables["quarantine"] = pipeline_layout.silver("quarantine")
    tables["interval_checks"] = pipeline_layout.checks()
    tables["watermarks"] = pipeline_layout.checks("watermarks")
    return tables
