"""The producer's durable state: where to resume, whether it is paused, what was skipped.

One JSON file per shard under ``<data-dir>/producer/`` (``state.json``, or ``state-1-of-3.json``
for shard 1/3), always replaced atomically (temporary file, fsync, rename, fsync of the directory)
(:func:`~producer.datadir.write_durably`) so a kill -9 at any moment leaves either the old or the
new state, never half of one. Each save also refreshes the :class:`~producer.datadir.BatchManifest`
(``manifest.json``), the running summary readers poll; the dataset descriptor
(``<data-dir>/dataset.json``) is written once by :mod:`producer.generation.dataset`.

A save that fails (the directory removed, replaced by a file, full or read-only) does not stop the
producer: Kafka's last committed ground truth is the resume point a restart adopts anyway, so the
state stays in memory, :attr:`StateStore.saved` turns False with :attr:`StateStore.save_error`, the
failure is logged once, and every later save (each interval, pause or resume) retries it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from producer.datadir import BatchManifest, ShardFiles, write_durably
from producer.errors import SeedstreamError

STATE_VERSION = 1
MAX_SKIPPED_RANGES = 1000


class SkippedRange(BaseModel):
    """Intervals ``[first_interval, end)`` that were never published, and why."""

    model_config = ConfigDict(extra="forbid")

    first_interval: AwareDatetime
    end: AwareDatetime
    intervals: int = Field(ge=1)
    reason: Literal["paused", "abandoned"]
    recorded_at: AwareDatetime


class ProducerState(BaseModel):
    """What a restarted producer needs to continue exactly where the last one stopped."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    shard: str = "0/1"
    seed: int | None = None
    epoch: AwareDatetime | None = None
    next_interval: AwareDatetime | None = Field(
        None, description="The first interval not yet published (the resume point)."
    )
    entities_through: AwareDatetime | None = Field(
        None, description="Entities created before this instant are published."
    )
    paused: bool = False
    last_batch_id: str | None = None
    intervals_published: int = 0
    events_published: int = 0
    skipped: list[SkippedRange] = Field(default_factory=list)
    updated_at: AwareDatetime | None = None

    def record_skip(
        self, first_interval: datetime, end: datetime, intervals: int, reason: Literal["paused", "abandoned"]
    ) -> SkippedRange:
        """Record intervals that will never be published (keeps the latest ranges only)."""
        skipped = SkippedRange(
            first_interval=first_interval,
            end=end,
            intervals=intervals,
            reason=reason,
            recorded_at=datetime.now(UTC),
        )
        self.skipped.append(skipped)
        del self.skipped[:-MAX_SKIPPED_RANGES]
        return skipped


class StoreLog(Protocol):
    """Where save failures and recoveries are reported (the engine's log satisfies it)."""

    def info(self, component: str, message: str, **metadata: Any) -> object:
        """Log at INFO."""

    def error(self, component: str, message: str, **metadata: Any) -> object:
        """Log at ERROR."""


class StateStore:
    """Loads and saves one shard's :class:`ProducerState` and :class:`BatchManifest`."""

    def __init__(self, paths: ShardFiles, log: StoreLog | None = None) -> None:
        self.paths = paths
        self.log = log
        self.saved = True
        self.save_error: str | None = None
        self.failed_saves = 0

    def load(self) -> ProducerState:
        """The saved state, or a fresh one when there is none."""
        path = self.paths.state_file
        if not path.is_file():
            return ProducerState(shard=str(self.paths.shard))
        try:
            state = ProducerState.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as error:
            raise SeedstreamError(
                f"{path}: unreadable producer state ({str(error).splitlines()[0]}); "
                "remove it to start the dataset afresh"
            ) from None
        if state.shard != str(self.paths.shard):
            raise SeedstreamError(f"{path}: records shard {state.shard}, not {self.paths.shard}")
        return state

    def save(self, state: ProducerState) -> bool:
        """Persist ``state`` (atomically) and refresh the manifest; False (logged once) when it failed."""
        previous, state.updated_at = state.updated_at, datetime.now(UTC)
        try:
            self._write(state, state.updated_at)
        except OSError as error:
            state.updated_at = previous
            self.failed_saves += 1
            message = f"{error.strerror or type(error).__name__}: {error.filename or self.paths.state_file}"
            if self.saved and self.log is not None:
                self.log.error(
                    "state",
                    "cannot save the producer state; producing continues and every save retries "
                    "(a restart resumes from Kafka)",
                    error=message,
                    state_file=self.paths.state_file,
                )
            self.saved, self.save_error = False, message
            return False
        if not self.saved and self.log is not None:
            self.log.info("state", "producer state saved again", failed_saves=self.failed_saves)
        self.saved, self.save_error = True, None
        return True

    def _write(self, state: ProducerState, now: datetime) -> None:
        write_durably(self.paths.state_file, state.model_dump_json(indent=2).encode() + b"\n")
        manifest = BatchManifest(
            last_batch_id=state.last_batch_id,
            total_events=state.events_published,
            total_intervals=state.intervals_published,
            shard=state.shard,
            last_updated=now,
        )
        write_durably(self.paths.manifest_file, manifest.model_dump_json(indent=2).encode() + b"\n")
