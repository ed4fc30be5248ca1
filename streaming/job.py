"""The streaming job: one Kafka query over all of a scenario's topics, bronze → silver → checks.

Why one query with ``foreachBatch``: a company is published (and acknowledged) before any event
that references it, so a micro-batch whose end offsets include an event also includes its company.
Processing each micro-batch in a fixed order (bronze, then entities, ground truth, events, then
checks) makes the company checks exact; separate queries per topic could run events ahead of
companies. It also gives every table the same exactly-once mechanism: appends use Delta's
idempotent writes (``txnAppId`` = this checkpoint's stable query id + table, ``txnVersion`` = the
micro-batch id) and MERGEs are idempotent by construction, so a micro-batch replayed after a crash
changes nothing it already wrote.

Watermark: Spark's ``dropDuplicatesWithinWatermark`` drops rows older than the watermark
silently, but the contract quarantines them as ``late``. So the job keeps the watermark itself,
with Spark's semantics: the watermark used for micro-batch N is (max valid event time of batches
before N) − ``watermark_delay``, recorded per micro-batch in ``checks/watermarks`` (so a replay sees
the same value). Events older than it are quarantined as ``late``; the others are deduplicated by
``event_id`` within the batch and against silver's ids newer than the watermark, which keeps
exactly the rows ``dropDuplicatesWithinWatermark`` would keep.

Tables (under ``D/delta``): ``bronze/<topic>`` (append-only), ``silver/companies`` (MERGE, latest
record per company_id wins), ``silver/driver_events`` (append, deduplicated), ``silver/driver_batches``
(every valid ground-truth record, append-only; checks use the latest per batch_id and shard),
``silver/quarantine`` (append), ``checks/interval_checks`` (MERGE on batch_id + event_type) and
``checks/watermarks`` (max event time per micro-batch, append).

Checks: after each micro-batch, intervals whose ``interval_end + allowed_lateness`` the new
watermark has passed are checked. An ``--available-now`` run ends like bounded input in Flink: the
watermark goes to +∞ and every interval seen and not yet closed is checked
(:meth:`Pipeline.final_checks`, rows with a null ``watermark``); the persisted watermark is not
advanced, so a later run still accepts on-time records and re-checks those intervals when they close.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from producer.datadir import TableLocations
from producer.generation.clock import format_duration, parse_interval_id
from producer.generation.scenarios.registry import get_scenario
from producer.kafka.client import spark_kafka_options
from streaming import checks as interval_checks
from streaming import silver
from streaming.bronze import append_idempotent, to_bronze, write_bronze

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from producer.config import SeedstreamConfig
    from producer.generation.scenarios.base import TopicRole, TopicSpec

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


@dataclass
class Pipeline:
    """The per-micro-batch work of the job, for one scenario, config and data dir."""

    spark: SparkSession
    config: SeedstreamConfig
    layout: TableLocations
    query_id: str | None = None
    checks_log: Path | None = None
    last_watermark: datetime | None = field(default=None, init=False)
    rows_written: dict[str, int] = field(default_factory=dict, init=False)
    intervals_checked: dict[str, str] = field(default_factory=dict, init=False)
    _max_seen: tuple[int, datetime | None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        scenario = get_scenario(self.config.scenario)
        self.entities = scenario.topic("entities")
        self.events = scenario.topic("events")
        self.truth = scenario.topic("ground_truth")
        self.interval = scenario.interval_length(self.config)
        self.delay = self.config.streaming.delay(self.interval)
        self.lateness = self.config.streaming.lateness()
        prefix = self.config.kafka.topic_prefix
        self.topics = scenario.topic_names(prefix).names()
        event_schema = self.events.model.model_json_schema()["properties"]
        self.event_types: tuple[str, ...] = tuple(event_schema[silver.EVENT_TYPE_FIELD]["enum"])
        self.paths = {
            "companies": self.layout.silver(table_name(self.entities)),
            "events": self.layout.silver(table_name(self.events)),
            "truth": self.layout.silver(table_name(self.truth)),
            "quarantine": self.layout.silver("quarantine"),
            "checks": self.layout.checks(),
            "watermarks": self.layout.checks("watermarks"),
        }

    def bronze_tables(self) -> dict[str, str]:
        """Topic → bronze table path."""
        return {topic: self.layout.bronze(topic) for topic in self.topics.values()}

    def _table(self, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.paths[name])

    def _parsed(self, bronze: DataFrame, role: TopicRole, model: type[BaseModel]) -> DataFrame:
        return silver.parse_records(bronze.where(F.col("topic") == self.topics[role]), model)

    def _validated_events(
        self, bronze: DataFrame, watermark: datetime | None, companies: DataFrame
    ) -> DataFrame:
        parsed = self._parsed(bronze, "events", self.events.model)
        return silver.validate_events(parsed, companies, self.interval, watermark, self.entities.key_field)

    def _event_rows(self, valid_events: DataFrame) -> DataFrame:
        return silver.with_event_date(valid_events.drop("interval_start", "interval_end"))

    # -- setup ----------------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create every table, empty, with its schema, so readers never find one missing.

        Schemas come from running the transformations on an empty micro-batch (plans only, no job).
        """
        bronze = to_bronze(self.spark.createDataFrame([], KAFKA_SCHEMA))
        no_companies = self.spark.createDataFrame(
            [], f"{self.entities.key_field} string, created_at timestamp"
        )
        events = self._validated_events(bronze, None, no_companies)
        truth = silver.valid(self._parsed(bronze, "ground_truth", self.truth.model))
        no_intervals = events.select("batch_id", "interval_start", "interval_end")
        shapes: dict[str, tuple[DataFrame, str | None]] = {
            path: (bronze, "ingest_date") for path in self.bronze_tables().values()
        }
        shapes[self.paths["companies"]] = (
            silver.valid(self._parsed(bronze, "entities", self.entities.model)),
            None,
        )
        shapes[self.paths["truth"]] = (truth, None)
        shapes[self.paths["events"]] = (self._event_rows(silver.valid(events)), "event_date")
        shapes[self.paths["quarantine"]] = (silver.quarantine(events), "quarantine_date")
        shapes[self.paths["checks"]] = (
            interval_checks.interval_checks(
                no_intervals, truth, events, self.event_types, None, datetime.now(UTC)
            ),
            None,
        )
        shapes[self.paths["watermarks"]] = (self.spark.createDataFrame([], WATERMARK_SCHEMA), None)
        for path, (frame, partition) in shapes.items():
            builder = DeltaTable.createIfNotExists(self.spark).location(path).addColumns(frame.schema)
            (builder.partitionedBy(partition) if partition else builder).execute()

    # -- one micro-batch ------------------------------------------------------------------------

    def _writer_id(self, table: str) -> str:
        return f"seedstream:{self.query_id or QUERY_NAME}:{table}"

    def _max_seen_before(self, micro_batch_id: int) -> datetime | None:
        """Max valid event time of the micro-batches before ``micro_batch_id`` (memory, else the table)."""
        if self._max_seen is not None and self._max_seen[0] == micro_batch_id - 1:
            return self._max_seen[1]
        value = (
            self._table("watermarks")
            .where(
                (F.col("query_id") == (self.query_id or QUERY_NAME)) & (F.col("batch_id") < micro_batch_id)
            )
            .agg(F.max("max_event_time"))
            .collect()[0][0]
        )
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None

    def process_batch(self, batch: DataFrame, micro_batch_id: int) -> None:
        """Write one micro-batch of Kafka records to bronze, silver and checks, exactly once."""
        bronze = to_bronze(batch).persist()
        cached: list[DataFrame] = [bronze]
        try:
            counts = {row["topic"]: int(row["count"]) for row in bronze.groupBy("topic").count().collect()}
            present = {topic: path for topic, path in self.bronze_tables().items() if counts.get(topic)}
            write_bronze(bronze, present, self._writer_id("bronze"), micro_batch_id)
            rejected: list[DataFrame] = []
            touched: set[str] = set()
            if counts.get(self.topics["entities"]):
                parsed = self._parsed(bronze, "entities", self.entities.model).persist()
                cached.append(parsed)
                self._merge_entities(parsed)
                rejected.append(silver.quarantine(parsed))
            if counts.get(self.topics["ground_truth"]):
                parsed = self._parsed(bronze, "ground_truth", self.truth.model).persist()
                cached.append(parsed)
                truth = silver.valid(parsed)
                append_idempotent(truth, self.paths["truth"], self._writer_id("truth"), micro_batch_id)
                touched.update(row["batch_id"] for row in truth.select("batch_id").distinct().collect())
                rejected.append(silver.quarantine(parsed))
            max_seen = self._max_seen_before(micro_batch_id)
            watermark = max_seen - self.delay if max_seen is not None else None
            if counts.get(self.topics["events"]):
                events = self._validated_events(bronze, watermark, self._table("companies")).persist()
                cached.append(events)
                batch_max, interval_ids = self._append_events(events, watermark, micro_batch_id)
                touched.update(interval_ids)
                rejected.append(silver.quarantine(events))
                if batch_max is not None and (max_seen is None or batch_max > max_seen):
                    max_seen = batch_max
                    self._record_watermark(micro_batch_id, max_seen)
            self._write_quarantine(rejected, micro_batch_id)
            self._max_seen = (micro_batch_id, max_seen)
            new_watermark = max_seen - self.delay if max_seen is not None else None
            self.last_watermark = new_watermark
            self._check_closed(watermark, new_watermark, touched)
        finally:
            for frame in cached:
                frame.unpersist()

    def _merge_entities(self, parsed: DataFrame) -> None:
        latest = silver.latest_per_key(silver.valid(parsed), [self.entities.key_field])
        key = self.entities.key_field
        (
            DeltaTable.forPath(self.spark, self.paths["companies"])
            .alias("t")
            .merge(latest.alias("s"), f"t.{key} = s.{key}")
            .whenMatchedUpdateAll(condition="s.kafka_timestamp >= t.kafka_timestamp")
            .whenNotMatchedInsertAll()
            .execute()
        )

    def _append_events(
        self, events: DataFrame, watermark: datetime | None, micro_batch_id: int
    ) -> tuple[datetime | None, list[str]]:
        """Append the new valid events; returns their max event time and interval ids (with duplicates)."""
        existing = self._table("events")
        if watermark is not None:
            existing = existing.where(
                (F.col("event_date") >= F.lit(watermark.date())) & (F.col("timestamp") >= F.lit(watermark))
            )
        accepted = silver.valid(events)
        fresh = silver.dedup_events(self._event_rows(accepted), existing.select("event_id")).persist()
        try:
            writer = self._writer_id("events")
            append_idempotent(fresh, self.paths["events"], writer, micro_batch_id, "event_date")
            self._count("driver_events", fresh)
        finally:
            fresh.unpersist()
        summary = accepted.agg(F.max("timestamp"), F.collect_set("batch_id")).collect()[0]
        batch_max = summary[0].replace(tzinfo=UTC) if summary[0] is not None else None
        return batch_max, list(summary[1])

    def _count(self, table: str, frame: DataFrame) -> int:
        rows = int(frame.count())
        self.rows_written[table] = self.rows_written.get(table, 0) + rows
        return rows

    def _write_quarantine(self, rejected: list[DataFrame], micro_batch_id: int) -> None:
        if not rejected:
            return
        frame = reduce(lambda left, right: left.unionByName(right), rejected).persist()
        try:
            if self._count("quarantine", frame):
                path = self.paths["quarantine"]
                writer = self._writer_id("quarantine")
                append_idempotent(frame, path, writer, micro_batch_id, "quarantine_date")
        finally:
            frame.unpersist()

    def _record_watermark(self, micro_batch_id: int, max_seen: datetime) -> None:
        row = self.spark.createDataFrame(
            [(self.query_id or QUERY_NAME, micro_batch_id, max_seen, max_seen - self.delay)], WATERMARK_SCHEMA
        )
        append_idempotent(row, self.paths["watermarks"], self._writer_id("watermarks"), micro_batch_id)

    # -- checks ---------------------------------------------------------------------------------

    def _closed(self, interval_ids: set[str], watermark: datetime | None) -> list[str]:
        """The interval ids whose interval_end + allowed lateness ``watermark`` passed (None: all)."""
        closed = []
        for interval_id in interval_ids:
            try:
                end = parse_interval_id(interval_id) + self.interval
            except ValueError:
                continue
            if watermark is None or end + self.lateness <= watermark:
                closed.append(interval_id)
        return sorted(closed)

    def _check_closed(self, previous: datetime | None, current: datetime | None, touched: set[str]) -> None:
        """Check intervals touched by this micro-batch or closed by its watermark advance."""
        if current is None:
            return
        candidates = set(touched)
        if previous is None or current > previous:
            upper = current - self.lateness
            events = self._table("events").where(F.col("timestamp") < F.lit(upper))
            truth = self._table("truth").where(F.col("interval_end") <= F.lit(upper))
            if previous is not None:
                lower = previous - self.lateness - self.interval
                events = events.where(
                    (F.col("event_date") >= F.lit(lower.date())) & (F.col("timestamp") >= F.lit(lower))
                )
                truth = truth.where(F.col("interval_end") > F.lit(previous - self.lateness))
            closing = events.select("batch_id").union(truth.select("batch_id")).distinct().collect()
            candidates.update(row["batch_id"] for row in closing)
        closed = self._closed(candidates, current)
        if closed:
            self._merge_checks(closed, current)

    def final_checks(self) -> int:
        """End of input: check every interval not yet closed by the watermark. Returns how many."""
        seen = self._table("events").select("batch_id").union(self._table("truth").select("batch_id"))
        final = self._table("checks").where(F.col("watermark").isNotNull()).select("batch_id")
        pending = {row["batch_id"] for row in seen.subtract(final).collect()}
        closed = self._closed(pending, None)
        if closed:
            self._merge_checks(closed, None)
        return len(closed)

    def _merge_checks(self, interval_ids: list[str], watermark: datetime | None) -> None:
        bounds = [(b, parse_interval_id(b), parse_interval_id(b) + self.interval) for b in interval_ids]
        intervals = self.spark.createDataFrame(
            bounds, "batch_id string, interval_start timestamp, interval_end timestamp"
        )
        first_day = min(start for _, start, _ in bounds).date()
        last_day = max(end for _, _, end in bounds).date()
        events = self._table("events").where(
            F.col("event_date").between(F.lit(first_day), F.lit(last_day))
            & F.col("batch_id").isin(interval_ids)
        )
        truth = silver.latest_per_key(
            self._table("truth").where(F.col("batch_id").isin(interval_ids)), ["batch_id", "shard"]
        )
        rows = interval_checks.interval_checks(
            intervals, truth, events, self.event_types, watermark, datetime.now(UTC)
        ).persist()
        try:
            (
                DeltaTable.forPath(self.spark, self.paths["checks"])
                .alias("t")
                .merge(rows.alias("s"), "t.batch_id = s.batch_id AND t.event_type = s.event_type")
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
            self._log_checks(rows)
        finally:
            rows.unpersist()

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
            record = {
                "batch_id": row["batch_id"],
                "status": status,
                "expected": row["expected"],
                "observed": row["observed"],
                "watermark": row["watermark"].isoformat() if row["watermark"] else None,
                "checked_at": datetime.now(UTC).isoformat(),
            }
            lines.append(json.dumps(record, separators=(",", ":")))
        if self.checks_log is not None and lines:
            self.checks_log.parent.mkdir(parents=True, exist_ok=True)
            with self.checks_log.open("a", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")

    # -- the query ------------------------------------------------------------------------------

    def start(self, bootstrap_servers: str, available_now: bool) -> StreamingQuery:
        """Start the Kafka → foreachBatch query (tables are created first).

        ``max_offsets_per_trigger`` limits only the events topic: entities and ground truth are
        always read up to their latest offsets, so the companies an event references are in its
        micro-batch or an earlier one even when the events are rate-limited.
        """
        self.ensure_tables()
        settings = self.config.streaming
        limit = settings.max_offsets_per_trigger

        def kafka(topics: list[str], max_offsets: int | None) -> DataFrame:
            reader = (
                self.spark.readStream.format("kafka")
                .options(**spark_kafka_options(self.config.kafka))
                .option("kafka.bootstrap.servers", bootstrap_servers)
                .option("subscribe", ",".join(topics))
                .option("startingOffsets", "earliest")
                .option("failOnDataLoss", "false")
                .option("kafka.isolation.level", "read_committed")
                .option("includeHeaders", "true")
            )
            if max_offsets is not None:
                reader = reader.option("maxOffsetsPerTrigger", max_offsets)
            return reader.load()

        if limit is None:
            source = kafka(list(self.topics.values()), None)
        else:
            unlimited = [self.topics["entities"], self.topics["ground_truth"]]
            source = kafka(unlimited, None).unionByName(kafka([self.topics["events"]], limit))
        writer = (
            source.writeStream.queryName(QUERY_NAME)
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

    def _process_with_query_id(self, batch: DataFrame, micro_batch_id: int) -> None:
        if self.query_id is None:
            self.query_id = _checkpoint_query_id(self.spark, self.layout.checkpoint())
        self.process_batch(batch, micro_batch_id)


def _checkpoint_query_id(spark: SparkSession, checkpoint: str) -> str:
    """The stable query id Spark stores in the checkpoint (survives restarts, new per checkpoint)."""
    lines = spark.sparkContext.textFile(f"{checkpoint}/metadata").collect()
    return str(json.loads(lines[0])["id"])
