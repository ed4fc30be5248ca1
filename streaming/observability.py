"""Streaming progress out of the JVM: Prometheus gauges on the driver and a JSON-lines progress log.

A :class:`ProgressListener` (a ``StreamingQueryListener``) receives every query's progress after
each micro-batch and exports, labelled by query name: input and processed rows/s, batch duration,
input rows, Spark's event-time watermark, state rows and rows dropped by the watermark. Two
pollers run beside it, off the micro-batch path: :class:`KafkaLag` (the brokers' end offsets, read
committed, minus each query's processed end offsets) and :class:`TableCounts` (rows in each silver
table, read from the committed Delta snapshots, so a replayed micro-batch is never counted twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pyspark.sql.streaming.listener import StreamingQueryListener

from producer.kafka.client import client_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.config import KafkaConfig

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    """The job's Prometheus metrics, in their own registry (one per job, so tests can run several).

    Names follow Prometheus conventions (``promtool check metrics`` passes): only counters end in
    ``_total``, times are ``_seconds`` (``_timestamp_seconds`` for Unix times).
    """

    registry: CollectorRegistry
    input_rows_per_second: Gauge
    processed_rows_per_second: Gauge
    batch_duration_seconds: Gauge
    input_rows: Gauge
    micro_batch_id: Gauge
    watermark_seconds: Gauge
    state_rows: Gauge
    rows_dropped_by_watermark: Gauge
    kafka_lag_records: Gauge
    micro_batches: Counter
    silver_rows: Gauge
    interval_checks: Gauge
    interval_checks_complete: Gauge
    interval_checks_cleaned: Gauge

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()

        def gauge(name: str, text: str) -> Gauge:
            return Gauge(f"seedstream_streaming_{name}", text, ["query"], registry=registry)

        return cls(
            registry=registry,
            input_rows_per_second=gauge("input_rows_per_second", "Input rate of the last micro-batch."),
            processed_rows_per_second=gauge(
                "processed_rows_per_second", "Processing rate of the last micro-batch."
            ),
            batch_duration_seconds=gauge("batch_duration_seconds", "Duration of the last micro-batch."),
            input_rows=gauge("input_rows", "Rows read by the last micro-batch."),
            micro_batch_id=gauge("micro_batch_id", "Id of the last completed micro-batch."),
            watermark_seconds=gauge(
                "watermark_timestamp_seconds", "Spark's event-time watermark (Unix seconds)."
            ),
            state_rows=gauge("state_rows", "Rows held in the query's state stores."),
            rows_dropped_by_watermark=gauge(
                "rows_dropped_by_watermark",
                "Rows Spark's stateful operators dropped as late, last micro-batch.",
            ),
            kafka_lag_records=gauge(
                "kafka_lag_records", "Records in Kafka (end offsets, read committed) not yet processed."
            ),
            micro_batches=Counter(
                "seedstream_streaming_micro_batches_total",
                "Micro-batches completed since the job started.",
                ["query"],
                registry=registry,
            ),
            silver_rows=Gauge(
                "seedstream_silver_rows", "Rows committed to a silver table.", ["table"], registry=registry
            ),
            interval_checks=Gauge(
                "seedstream_interval_checks",
                "Intervals checked (final) by this job.",
                registry=registry,
            ),
            interval_checks_complete=Gauge(
                "seedstream_interval_checks_complete",
                "Intervals checked complete by this job.",
                registry=registry,
            ),
            interval_checks_cleaned=Gauge(
                "seedstream_interval_checks_cleaned",
                "Intervals a producer clean emptied, reported as cleaned instead of checked, by this job.",
                registry=registry,
            ),
        )

    def serve(self, host: str, port: int) -> int:
        """Expose the registry on ``http://host:port/metrics``; returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)


def _watermark_seconds(progress: Any) -> float | None:
    text = (progress.eventTime or {}).get("watermark")
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def processed_offsets(progress: Any) -> dict[tuple[str, int], int]:
    """(topic, partition) → next offset to read, from a progress's Kafka sources' end offsets."""
    return offsets_of(source.endOffset for source in progress.sources)


def offsets_of(values: Iterable[object]) -> dict[tuple[str, int], int]:
    """(topic, partition) → next offset to read, from sources' ``endOffset`` values (a Kafka
    source's is ``{topic: {partition: offset}}``, as JSON text or parsed; others are skipped)."""
    offsets: dict[tuple[str, int], int] = {}
    for value in values:
        try:
            end = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            continue
        if not isinstance(end, dict):
            continue
        for topic, partitions in end.items():
            if isinstance(partitions, dict):
                for partition, offset in partitions.items():
                    offsets[(topic, int(partition))] = int(offset)
    return offsets


def end_torn_line(path: Path) -> None:
    """End the last line of the JSON-lines file ``path`` if a killed run left it half-written, so
    that the lines appended next stay whole (the torn line itself stays, unreadable, on its own)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as file:
        file.seek(-1, 2)
        if file.read(1) != b"\n":
            file.write(b"\n")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The whole JSON lines of ``path`` (none when it does not exist), skipping a line that is not
    whole JSON: one a killed run left half-written (see :func:`end_torn_line`)."""
    if not path.exists():
        return []
    read = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            log.warning("%s: skipped a line that is not whole JSON (a killed run's): %.80s", path, line)
            continue
        if isinstance(value, dict):
            read.append(value)
    return read


class ProgressListener(StreamingQueryListener):
    """Updates :class:`Metrics` and appends one JSON line per progress event to the progress log."""

    def __init__(
        self,
        metrics: Metrics,
        log_path: Path | None,
        checks: Callable[[], tuple[int, int]] = lambda: (0, 0),
        cleaned: Callable[[], int] = lambda: 0,
    ) -> None:
        self.metrics = metrics
        self.log_path = log_path
        self.checks = checks
        self.cleaned = cleaned
        self.offsets: dict[str, dict[tuple[str, int], int]] = {}
        self._lock = threading.Lock()
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            end_torn_line(log_path)

    def _write(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        with self._lock, self.log_path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's interface
        self._write(
            {"event": "started", "query": event.name, "id": str(event.id), "run_id": str(event.runId),
             "time": datetime.now(UTC).isoformat()}
        )  # fmt: skip

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        progress = event.progress
        query = progress.name or str(progress.id)
        m = self.metrics
        m.input_rows_per_second.labels(query).set(progress.inputRowsPerSecond or 0.0)
        m.processed_rows_per_second.labels(query).set(progress.processedRowsPerSecond or 0.0)
        m.batch_duration_seconds.labels(query).set((progress.batchDuration or 0) / 1000.0)
        m.input_rows.labels(query).set(progress.numInputRows or 0)
        m.micro_batch_id.labels(query).set(progress.batchId)
        m.state_rows.labels(query).set(sum(op.numRowsTotal for op in progress.stateOperators))
        m.rows_dropped_by_watermark.labels(query).set(
            sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)
        )
        watermark = _watermark_seconds(progress)
        if watermark is not None:
            m.watermark_seconds.labels(query).set(watermark)
        offsets = processed_offsets(progress)
        with self._lock:
            if offsets:
                self.offsets[query] = offsets
            m.micro_batches.labels(query).inc()
        total, complete = self.checks()
        m.interval_checks.set(total)
        m.interval_checks_complete.set(complete)
        m.interval_checks_cleaned.set(self.cleaned())
        self._write({"event": "progress", **json.loads(progress.json)})

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        """Nothing to export while a query waits for data."""

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        self._write(
            {"event": "terminated", "id": str(event.id), "run_id": str(event.runId),
             "exception": event.exception,
             "time": datetime.now(UTC).isoformat()}
        )  # fmt: skip

    def processed(self) -> dict[str, dict[tuple[str, int], int]]:
        with self._lock:
            return {query: dict(offsets) for query, offsets in self.offsets.items()}


async def end_offsets(kafka: KafkaConfig, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """(topic, partition) → its end offset as a ``read_committed`` consumer sees it (the offset a
    query that has read everything committed reports as its end offset)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **client_options(kafka), isolation_level="read_committed", enable_auto_commit=False
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout=10)
        ends = await asyncio.wait_for(
            consumer.end_offsets([TopicPartition(t, p) for t, p in partitions]), timeout=10
        )
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}


class Poller(threading.Thread):
    """Runs ``poll`` every ``every`` seconds until stopped; a failed poll is logged, never raised."""

    def __init__(self, name: str, every: float) -> None:
        super().__init__(name=name, daemon=True)
        self.every = every
        self.stopped = threading.Event()

    def poll(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - metrics must never stop the job
                log.debug("%s failed", self.name, exc_info=True)

    def stop(self) -> None:
        self.stopped.set()


class KafkaLag(Poller):
    """Per query: Σ over its partitions of (end offset, read committed) − (processed end offset)."""

    def __init__(
        self, kafka: KafkaConfig, listener: ProgressListener, metrics: Metrics, every: float = 5.0
    ) -> None:
        super().__init__("kafka-lag", every)
        self.kafka = kafka
        self.listener = listener
        self.metrics = metrics

    def poll(self) -> None:
        processed = self.listener.processed()
        partitions = {key for offsets in processed.values() for key in offsets}
        if not partitions:
            return
        ends = asyncio.run(end_offsets(self.kafka, partitions))
        for query, offsets in processed.items():
            lag = sum(max(0, ends.get(key, offset) - offset) for key, offset in offsets.items())
            self.metrics.kafka_lag_records.labels(query).set(lag)


class TableCounts(Poller):
    """``seedstream_silver_rows{table}`` from each silver table's latest committed snapshot."""

    def __init__(
        self, spark: SparkSession, paths: dict[str, str], metrics: Metrics, every: float = 30.0
    ) -> None:
        super().__init__("silver-counts", every)
        self.spark = spark
        self.paths = paths
        self.metrics = metrics

    def poll(self) -> None:
        for table, path in self.paths.items():
            rows = self.spark.read.format("delta").load(path).count()
            self.metrics.silver_rows.labels(table).set(rows)
