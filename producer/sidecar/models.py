"""Pydantic models of every sidecar response, so Swagger shows real schemas.

Every field carries an example taken from a real fleet producer (``emulated.5s``), so Swagger UI and
ReDoc show what a response looks like instead of ``"string"`` and ``0``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from producer.engine.logs import Level
from producer.generation.fault_settings import FaultChange, FaultsConfig

_STARTED = "2025-11-08T12:00:04.512Z"
_LAST_BATCH = "2025-11-08T12:14:55.031Z"
_NOW = "2025-11-08T12:15:02.148Z"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Uptime(_Model):
    """How long this producer process has run."""

    seconds: float = Field(ge=0, examples=[897.6])
    hours: float = Field(ge=0, examples=[0.2493])
    start_time: datetime = Field(examples=[_STARTED])


class CompanyGenerator(_Model):
    """Entity (company) batches acknowledged by Kafka in this process."""

    total_batches: int = Field(ge=0, examples=[180])
    last_batch_time: datetime | None = Field(examples=[_LAST_BATCH])
    idle_seconds: float | None = Field(
        description="Seconds since the last batch; null before the first.", examples=[7.1]
    )


class DriverGenerator(_Model):
    """Interval (driver event) batches acknowledged by Kafka in this process."""

    total_batches: int = Field(ge=0, examples=[179])
    last_batch_time: datetime | None = Field(examples=[_LAST_BATCH])
    last_interval_end: datetime | None = Field(
        description="The end of the latest interval published.", examples=["2025-11-08T12:14:55Z"]
    )
    idle_seconds: float | None = Field(
        description="Seconds since the last batch; null before the first.", examples=[7.1]
    )


class Lifecycle(_Model):
    """Pause and stop flags, and the engine's phase."""

    paused: bool = Field(examples=[False])
    shutdown_requested: bool = Field(examples=[False])
    phase: Literal["starting", "running", "paused", "stopping", "stopped"] = Field(examples=["running"])


class StateInfo(_Model):
    """The durable state file, when it was last written, and whether the latest save succeeded."""

    last_saved: datetime | None = Field(examples=[_LAST_BATCH])
    state_file: str = Field(examples=["/home/ana/.seedstream/producer/state.json"])
    next_interval: datetime | None = Field(
        description="The start of the next interval to publish.", examples=["2025-11-08T12:15:00Z"]
    )
    intervals_published: int = Field(ge=0, examples=[179])
    events_published: int = Field(ge=0, examples=[1163])
    saved: bool = Field(
        True,
        description="False while the state file cannot be written (producing continues; each save retries).",
        examples=[True],
    )
    save_error: str | None = Field(
        None,
        description="Why the last save failed, while `saved` is false.",
        examples=["Not a directory: /home/ana/.seedstream/producer/.state.json.4242.tmp"],
    )


class EmulatedConfig(_Model):
    """The emulated-mode cadence and batch sizes."""

    company_interval_seconds: float = Field(examples=[5.0])
    driver_interval_seconds: float = Field(examples=[5.0])
    companies_per_batch: int = Field(examples=[10])
    events_per_batch_range: tuple[int, int] = Field(
        description="The fewest and most events in one interval.", examples=[[3, 10]]
    )


class AutoReinit(_Model):
    """The one-time re-initialisation the first resume after a clean performs (sticky once done)."""

    performed: bool = Field(False, examples=[True])
    at: datetime | None = Field(
        None, description="When the re-initialisation completed.", examples=["2025-11-08T12:20:31.904Z"]
    )
    actions: list[str] = Field(
        default_factory=list,
        description="What was republished (`topic:records`, the ground truth's interval) or `error:…`.",
        examples=[["fleet.companies:20", "fleet.driver-events:7", "fleet.driver-batches:20251108T1220Z"]],
    )
    missing_files: list[str] = Field(
        default_factory=list,
        description="What the clean removed (files and emptied topics).",
        examples=[["/home/ana/.seedstream/producer/state.json", "kafka:fleet.driver-events"]],
    )


class KafkaStatus(_Model):
    """The producer's connection to Kafka."""

    connected: bool = Field(examples=[True])
    bootstrap: str = Field(examples=["127.0.0.1:9092"])
    last_error: str | None = Field(
        description="The latest failure to reach Kafka, kept after a reconnect.",
        examples=["KafkaConnectionError: Unable to bootstrap from [('127.0.0.1', 9092)]"],
    )
    last_error_at: datetime | None = Field(examples=["2025-11-08T12:03:41.277Z"])
    reconnects: int = Field(ge=0, examples=[1])


class FaultCounts(_Model):
    """Faults whose labels Kafka acknowledged in this process, per kind (every kind listed)."""

    enabled: bool = Field(
        description="Whether the next interval to publish has a fault rate above 0.", examples=[True]
    )
    injected: dict[str, int] = Field(
        description="Faults per kind since this producer process started (like the Prometheus counters).",
        examples=[{"late": 3, "out_of_order": 4, "duplicate": 2, "malformed_json": 3, "drop": 1}],
    )
    injected_total: int = Field(ge=0, examples=[13])


class FaultSchedule(_Model):
    """``GET`` and ``PUT /api/faults``: the fault settings in effect and the changes recorded."""

    in_effect: FaultsConfig = Field(description="The settings of the next interval to publish.")
    next_interval: datetime | None = Field(
        description="The start of the next interval to publish; null before the first start.",
        examples=["2025-11-08T12:15:05Z"],
    )
    changes: list[FaultChange] = Field(
        description="Changes recorded in the dataset descriptor, oldest first, each in effect from its "
        "`from_interval` on; before the first, the configuration's `faults` apply.",
        examples=[
            [
                {
                    "from_interval": "2025-11-08T12:15:10Z",
                    "faults": {"drop": {"rate": 0.02}},
                    "recorded_at": "2025-11-08T12:15:03.481Z",
                    "source": "api",
                }
            ]
        ],
    )


class Health(_Model):
    """``GET /api/health``: status, counters and cadence, plus mode, re-init and Kafka status."""

    status: Literal["running", "paused"] = Field(examples=["running"])
    timestamp: datetime = Field(examples=[_NOW])
    uptime: Uptime
    company_generator: CompanyGenerator
    driver_generator: DriverGenerator
    lifecycle: Lifecycle
    state: StateInfo
    generation_mode: Literal["emulated", "realtime", "backfill"] = Field(examples=["emulated"])
    run_mode: Literal["realtime", "backfill"] = Field(examples=["realtime"])
    emulated_config: EmulatedConfig | None
    auto_reinit: AutoReinit
    kafka: KafkaStatus
    scenario: str = Field(examples=["fleet"])
    seed: int | None = Field(description="The dataset's seed; null before the first start.", examples=[42])
    shard: str = Field(description="This producer's shard: index/count.", examples=["0/1"])
    run_id: str = Field(description="Differs for every producer process.", examples=["e35615baa7c8"])
    faults: FaultCounts


class ControlResult(_Model):
    """The state after ``POST /api/pause`` or ``POST /api/resume``."""

    status: Literal["running", "paused"] = Field(examples=["paused"])
    changed: bool = Field(
        description="False when the producer already was in that state (idempotent).", examples=[True]
    )
    paused: bool = Field(examples=[True])
    timestamp: datetime = Field(examples=[_NOW])
    auto_reinit: AutoReinit


class SkippedPath(_Model):
    """A path clean refused to touch, and why."""

    path: str = Field(examples=["/etc/seedstream/state.json"])
    reason: str = Field(examples=["its directory resolves outside the data dir /home/ana/.seedstream"])


class CleanResult(_Model):
    """``POST /api/clean``: what was deleted."""

    status: Literal["cleaned"] = Field(examples=["cleaned"])
    deleted_count: int = Field(ge=0, description="Files removed plus Kafka records deleted.", examples=[1384])
    deleted_files: list[str] = Field(
        examples=[
            ["/home/ana/.seedstream/producer/state.json", "/home/ana/.seedstream/producer/manifest.json"]
        ]
    )
    deleted_records: dict[str, int] = Field(
        description="Records deleted per topic (topics are kept).",
        examples=[{"fleet.companies": 200, "fleet.driver-events": 1163, "fleet.driver-batches": 19}],
    )
    cleaned_through: str | None = Field(
        description=(
            "The newest interval that may have lost records, as named by the clean marker published "
            "on the ground-truth topic (a pipeline reports intervals up to it as cleaned); null when "
            "the producer had not connected to Kafka yet."
        ),
        examples=["20251108T121455Z"],
    )
    skipped: list[SkippedPath] = Field(examples=[[]])
    timestamp: datetime = Field(examples=[_NOW])


class LogEntryOut(_Model):
    """One structured log entry."""

    ts: datetime = Field(examples=["2025-11-08T12:14:55.044Z"])
    level: Level = Field(examples=["info"])
    component: str = Field(examples=["lifecycle"])
    message: str = Field(examples=["paused"])
    metadata: dict[str, Any] = Field(examples=[{"source": "api", "next_interval": "2025-11-08T12:15:00Z"}])


class LogPage(_Model):
    """``GET /api/logs``: entries oldest first; pass ``nextSince`` as ``since`` for the next page."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entries: list[LogEntryOut]
    total_returned: int = Field(ge=0, alias="totalReturned", examples=[1])
    next_since: datetime | None = Field(alias="nextSince", examples=["2025-11-08T12:14:55.044Z"])


class ErrorResponse(_Model):
    """Every error: a machine-readable code and a message saying what was wrong and what to do."""

    error: str = Field(examples=["not_paused"])
    message: str = Field(
        examples=["clean needs the producer paused: POST /api/pause first, then POST /api/clean"]
    )
    details: list[dict[str, Any]] | None = Field(
        None,
        description="For invalid requests: each problem's location and message.",
        examples=[[{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 10000"}]],
    )
