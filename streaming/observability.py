"""Streaming progress out of the JVM: Prometheus gauges on the driver and a JSON-lines progress log.

A :class:`ProgressListener` (a ``StreamingQueryListener``) receives every query's progress after
each micro-batch and exports input and processed rows/s, batch duration, rows, the watermark,
state rows and Kafka lag (``maxOffsetsBehindLatest`` where the source reports it). The job's own
watermark (see :mod:`streaming.job`) comes from a callback, since Spark's progress only knows
watermarks declared with ``withWatermark``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from pyspark.sql.streaming.listener import StreamingQueryListener

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PipelineStatus:
    """What the job knows beyond Spark's progress: its watermark, rows written, interval statuses."""

    watermark: datetime | None = None
    rows_written: dict[str, int] = field(default_factory=dict)
    intervals_checked: dict[str, str] = field(default_factory=dict)


@dataclass
class Metrics:
    """The job's Prometheus gauges, in their own registry (one per job, so tests can run several)."""

    registry: CollectorRegistry
    input_rows_per_second: Gauge
    processed_rows_per_second: Gauge
    batch_duration_seconds: Gauge
    input_rows: Gauge
    micro_batch_id: Gauge
    watermark_seconds: Gauge
    state_rows: Gauge
    kafka_offsets_behind_latest: Gauge
    batches_total: Gauge
    silver_rows: Gauge
    interval_checks_total: Gauge
    interval_checks_complete: Gauge

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
            micro_batch_id=gauge("batch_id", "Id of the last completed micro-batch."),
            watermark_seconds=gauge("watermark_seconds", "Event-time watermark (Unix seconds)."),
            state_rows=gauge("state_rows", "Rows held in state stores."),
            kafka_offsets_behind_latest=gauge(
                "kafka_offsets_behind_latest", "Max offsets behind the latest, over partitions."
            ),
            batches_total=gauge("batches_total", "Micro-batches completed since the job started."),
            silver_rows=Gauge(
                "seedstream_silver_rows",
                "Rows this job appended to a silver table.",
                ["table"],
                registry=registry,
            ),
            interval_checks_total=Gauge(
                "seedstream_interval_checks_total", "Intervals checked by this job.", registry=registry
            ),
            interval_checks_complete=Gauge(
                "seedstream_interval_checks_complete",
                "Intervals checked complete by this job.",
                registry=registry,
            ),
        )

    def serve(self, host: str, port: int) -> int:
        """Expose the registry on ``http://host:port/metrics``; returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)


def _watermark_seconds(progress: Any, own: datetime | None) -> float | None:
    if own is not None:
        return own.timestamp()
    text = (progress.eventTime or {}).get("watermark")
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _offsets_behind(progress: Any) -> float | None:
    behind = [
        float(source.metrics["maxOffsetsBehindLatest"])
        for source in progress.sources
        if source.metrics and source.metrics.get("maxOffsetsBehindLatest") not in (None, "NaN")
    ]
    return max(behind) if behind else None


class ProgressListener(StreamingQueryListener):
    """Updates :class:`Metrics` and appends one JSON line per progress event to the progress log."""

    def __init__(
        self,
        metrics: Metrics,
        log_path: Path | None,
        status: Callable[[], PipelineStatus] = lambda: PipelineStatus(),
    ) -> None:
        self.metrics = metrics
        self.log_path = log_path
        self.status = status
        self._lock = threading.Lock()
        self._batches: dict[str, int] = {}
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        with self._lock, self.log_path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 - Spark's interface
        self._write(
            {
                "event": "started",
                "query": event.name,
                "id": str(event.id),
                "run_id": str(event.runId),
                "time": datetime.now(UTC).isoformat(),
            }
        )

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        progress = event.progress
        query = progress.name or str(progress.id)
        metrics = self.metrics
        metrics.input_rows_per_second.labels(query).set(progress.inputRowsPerSecond or 0.0)
        metrics.processed_rows_per_second.labels(query).set(progress.processedRowsPerSecond or 0.0)
        metrics.batch_duration_seconds.labels(query).set((progress.batchDuration or 0) / 1000.0)
        metrics.input_rows.labels(query).set(progress.numInputRows or 0)
        metrics.micro_batch_id.labels(query).set(progress.batchId)
        metrics.state_rows.labels(query).set(sum(op.numRowsTotal for op in progress.stateOperators))
        status = self.status()
        own = status.watermark
        for table, rows in status.rows_written.items():
            metrics.silver_rows.labels(table).set(rows)
        metrics.interval_checks_total.set(len(status.intervals_checked))
        metrics.interval_checks_complete.set(
            sum(1 for value in status.intervals_checked.values() if value == "complete")
        )
        watermark = _watermark_seconds(progress, own)
        if watermark is not None:
            metrics.watermark_seconds.labels(query).set(watermark)
        behind = _offsets_behind(progress)
        if behind is not None:
            metrics.kafka_offsets_behind_latest.labels(query).set(behind)
        with self._lock:
            self._batches[query] = self._batches.get(query, 0) + 1
            metrics.batches_total.labels(query).set(self._batches[query])
        record = {"event": "progress", **json.loads(progress.json)}
        if own is not None:
            record["pipelineWatermark"] = own.isoformat()
        self._write(record)

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        """Nothing to export while a query waits for data."""

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        self._write(
            {
                "event": "terminated",
                "id": str(event.id),
                "run_id": str(event.runId),
                "exception": event.exception,
                "time": datetime.now(UTC).isoformat(),
            }
        )
