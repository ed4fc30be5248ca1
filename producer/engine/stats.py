"""The engine's counters: plain data the sidecar turns into ``/api/health`` and Prometheus metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

EngineStatus = Literal["starting", "running", "paused", "stopping", "stopped"]
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass
class TopicCounters:
    """Records, bytes (keys + values) and batches (intervals or entity batches) sent to one topic."""

    records: int = 0
    bytes: int = 0
    batches: int = 0


@dataclass
class LatencyHistogram:
    """Send-to-acknowledgement latency in seconds, cumulative buckets as Prometheus expects."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        for index, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[index] += 1


@dataclass
class EngineStats:
    """Everything the engine counts. Mutated only by the engine; read (as a snapshot) by anyone."""

    run_id: str = ""
    shard: str = "0/1"
    mode: str = "realtime"
    status: EngineStatus = "starting"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    topics: dict[str, TopicCounters] = field(default_factory=dict)
    send_errors: int = 0
    stalls: int = 0
    send_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    connected: bool = False
    last_error: str | None = None
    last_error_at: datetime | None = None
    reconnects: int = 0
    entity_batches: int = 0
    last_entity_batch_at: datetime | None = None
    interval_batches: int = 0
    last_interval_batch_at: datetime | None = None
    last_interval_end: datetime | None = None
    skipped_intervals: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    backfill_total: int | None = None
    backfill_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def uptime_seconds(self) -> float:
        """Seconds since the engine was created."""
        return time.monotonic() - self.started_monotonic

    def count(self, topic: str, records: int, size: int, batches: int = 1) -> None:
        """Add sent records to ``topic``'s counters."""
        with self._lock:
            counters = self.topics.setdefault(topic, TopicCounters())
            counters.records += records
            counters.bytes += size
            counters.batches += batches

    def count_faults(self, kinds: Mapping[str, int]) -> None:
        """Add faults whose labels Kafka acknowledged, per kind."""
        with self._lock:
            for kind, count in kinds.items():
                self.faults_injected[kind] = self.faults_injected.get(kind, 0) + count

    def error(self, message: str) -> None:
        """Record a send error and mark the engine disconnected."""
        with self._lock:
            self.send_errors += 1
            self.connected = False
            self.last_error = message
            self.last_error_at = datetime.now(UTC)

    def stalled(self, message: str) -> None:
        """Record a send the broker has not acknowledged for a while: disconnected until it answers."""
        with self._lock:
            self.stalls += 1
            self.connected = False
            self.last_error = message
            self.last_error_at = datetime.now(UTC)

    def total_records(self, topic: str | None = None) -> int:
        """Records sent to ``topic`` (all topics when None)."""
        with self._lock:
            if topic is not None:
                return self.topics.get(topic, TopicCounters()).records
            return sum(counters.records for counters in self.topics.values())

    def snapshot(self) -> dict[str, object]:
        """A consistent, JSON-ready copy of every counter."""
        with self._lock:
            return {
                "run_id": self.run_id,
                "shard": self.shard,
                "mode": self.mode,
                "status": self.status,
                "started_at": self.started_at,
                "uptime_seconds": self.uptime_seconds,
                "connected": self.connected,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
                "reconnects": self.reconnects,
                "send_errors": self.send_errors,
                "stalls": self.stalls,
                "send_latency": {
                    "buckets": list(self.send_latency.buckets),
                    "counts": list(self.send_latency.counts),
                    "count": self.send_latency.count,
                    "sum": self.send_latency.total,
                    "max": self.send_latency.maximum,
                },
                "topics": {
                    name: {"records": c.records, "bytes": c.bytes, "batches": c.batches}
                    for name, c in self.topics.items()
                },
                "entity_batches": self.entity_batches,
                "last_entity_batch_at": self.last_entity_batch_at,
                "interval_batches": self.interval_batches,
                "last_interval_batch_at": self.last_interval_batch_at,
                "last_interval_end": self.last_interval_end,
                "skipped_intervals": self.skipped_intervals,
                "faults_injected": dict(self.faults_injected),
                "backfill_total": self.backfill_total,
                "backfill_done": self.backfill_done,
            }
