"""Pydantic models of every sidecar response, so Swagger shows real schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from producer.engine.logs import Level


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Uptime(_Model):
    """How long this producer process has run."""

    seconds: float = Field(ge=0)
    hours: float = Field(ge=0)
    start_time: datetime


class CompanyGenerator(_Model):
    """Entity (company) batches acknowledged by Kafka in this process."""

    total_batches: int = Field(ge=0)
    last_batch_time: datetime | None
    idle_seconds: float | None = Field(description="Seconds since the last batch; null before the first.")


class DriverGenerator(_Model):
    """Interval (driver event) batches acknowledged by Kafka in this process."""

    total_batches: int = Field(ge=0)
    last_batch_time: datetime | None
    last_interval_end: datetime | None
    idle_seconds: float | None = Field(description="Seconds since the last batch; null before the first.")


class Lifecycle(_Model):
    """Pause and stop flags, and the engine's phase."""

    paused: bool
    shutdown_requested: bool
    phase: Literal["starting", "running", "paused", "stopping", "stopped"]


class StateInfo(_Model):
    """The durable state file and when it was last written."""

    last_saved: datetime | None
    state_file: str
    next_interval: datetime | None
    intervals_published: int = Field(ge=0)
    events_published: int = Field(ge=0)


class EmulatedConfig(_Model):
    """The emulated-mode cadence and batch sizes."""

    company_interval_seconds: float
    driver_interval_seconds: float
    companies_per_batch: int
    events_per_batch_range: tuple[int, int]


class AutoReinit(_Model):
    """The one-time re-initialisation the first resume after a clean performs (sticky once done)."""

    performed: bool = False
    at: datetime | None = Field(None, description="When the re-initialisation completed.")
    actions: list[str] = Field(
        default_factory=list,
        description="What was republished (`companies:20`, `driver_batch:…`) or `error:…`.",
    )
    missing_files: list[str] = Field(
        default_factory=list, description="What the clean removed (files and emptied topics)."
    )


class KafkaStatus(_Model):
    """The producer's connection to Kafka."""

    connected: bool
    bootstrap: str
    last_error: str | None
    last_error_at: datetime | None
    reconnects: int = Field(ge=0)


class Health(_Model):
    """``GET /api/health``: status, counters and cadence, plus mode, re-init and Kafka status."""

    status: Literal["running", "paused"]
    timestamp: datetime
    uptime: Uptime
    company_generator: CompanyGenerator
    driver_generator: DriverGenerator
    lifecycle: Lifecycle
    state: StateInfo
    generation_mode: Literal["emulated", "realtime", "backfill"]
    run_mode: Literal["realtime", "backfill"]
    emulated_config: EmulatedConfig | None
    auto_reinit: AutoReinit
    kafka: KafkaStatus
    scenario: str
    seed: int | None
    shard: str
    run_id: str


class ControlResult(_Model):
    """The state after ``POST /api/pause`` or ``POST /api/resume``."""

    status: Literal["running", "paused"]
    changed: bool = Field(description="False when the producer already was in that state (idempotent).")
    paused: bool
    timestamp: datetime
    auto_reinit: AutoReinit


class SkippedPath(_Model):
    """A path clean refused to touch, and why."""

    path: str
    reason: str


class CleanResult(_Model):
    """``POST /api/clean``: what was deleted."""

    status: Literal["cleaned"]
    deleted_count: int = Field(ge=0, description="Files removed plus Kafka records deleted.")
    deleted_files: list[str]
    deleted_records: dict[str, int] = Field(description="Records deleted per topic (topics are kept).")
    skipped: list[SkippedPath]
    timestamp: datetime


class LogEntryOut(_Model):
    """One structured log entry."""

    ts: datetime
    level: Level
    component: str
    message: str
    metadata: dict[str, Any]


class LogPage(_Model):
    """``GET /api/logs``: entries oldest first; pass ``nextSince`` as ``since`` for the next page."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entries: list[LogEntryOut]
    total_returned: int = Field(ge=0, alias="totalReturned")
    next_since: datetime | None = Field(alias="nextSince")


class ErrorResponse(_Model):
    """Every error: a machine-readable code and a message saying what was wrong and what to do."""

    error: str
    message: str
    details: list[dict[str, Any]] | None = None
