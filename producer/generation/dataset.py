"""A dataset: a configuration with its resolved seed and epoch, plus shards and the descriptor.

The records of an interval depend only on (scenario config, seed, epoch, interval_start); a
:class:`Dataset` carries exactly those. The :class:`DatasetDescriptor` is its durable form, written
once (``dataset.json``) and reused on every restart so a generated seed is never drawn twice.
Fault settings changed while producing (``PUT /api/faults``) are appended to it
(:func:`record_fault_change`), each in effect from an interval on, so the faults of an interval are
:meth:`Dataset.faults_at` that interval, whenever and however often it is regenerated.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

import producer
from producer.config import MAX_SEED, SeedstreamConfig
from producer.datadir import write_durably
from producer.errors import BadInputError
from producer.generation.clock import ensure_utc, format_duration, is_aligned
from producer.generation.fault_settings import FaultChange, FaultsConfig, faults_in_effect, scheduled


@dataclass(frozen=True)
class Dataset:
    """A configuration whose seed is resolved, the dataset's epoch (its first interval_start), and the
    fault settings changed since (oldest first)."""

    config: SeedstreamConfig
    seed: int
    epoch: datetime
    fault_changes: tuple[FaultChange, ...] = ()

    def faults_at(self, interval_start: datetime) -> FaultsConfig:
        """The fault settings of the interval starting at ``interval_start``: the latest recorded change
        in effect by then, else the configuration's ``faults``."""
        return faults_in_effect(self.config.faults, self.fault_changes, interval_start)

    def all_faults(self) -> tuple[FaultsConfig, ...]:
        """Every fault setting some interval may have: the configuration's, then each change's."""
        return (self.config.faults, *(change.faults for change in self.fault_changes))

    def with_fault_change(self, change: FaultChange) -> Dataset:
        """This dataset with ``change`` recorded (it replaces changes from its interval on)."""
        return replace(self, fault_changes=scheduled(self.fault_changes, change))

    @classmethod
    def create(
        cls, config: SeedstreamConfig, epoch: datetime, length: timedelta, seed: int | None = None
    ) -> Dataset:
        """Build a dataset whose intervals last ``length`` (the scenario's); ``seed`` defaults to the
        config's, else a fresh one (see :func:`new_seed`).

        Raises:
            BadInputError: when ``epoch`` is not an interval start.
        """
        epoch = ensure_utc(epoch)
        if not is_aligned(epoch, length):
            raise BadInputError(
                f"epoch {epoch.isoformat()} is not aligned to the interval {format_duration(length)}"
            )
        resolved = seed if seed is not None else config.seed if config.seed is not None else new_seed()
        return cls(config=config, seed=resolved, epoch=epoch)

    def descriptor(self, created_at: datetime | None = None) -> DatasetDescriptor:
        """The durable description of this dataset."""
        return DatasetDescriptor(
            scenario=self.config.scenario,
            seed=self.seed,
            epoch=self.epoch,
            config=self.config.model_dump(mode="json"),
            fault_changes=list(self.fault_changes),
            created_at=created_at or datetime.now(UTC),
            seedstream_version=producer.__version__,
        )


def new_seed() -> int:
    """A fresh random seed (0 ≤ seed < 2**31, short enough to read in truck ids)."""
    return secrets.randbelow(2**31)


class DatasetDescriptor(BaseModel):
    """What makes a dataset reproducible, recorded once when it is created."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["seedstream.dataset"] = "seedstream.dataset"
    scenario: str
    seed: int = Field(ge=0, le=MAX_SEED)
    epoch: AwareDatetime
    config: dict[str, Any] = Field(description="The full configuration, as loaded, with the seed as drawn.")
    fault_changes: list[FaultChange] = Field(
        default_factory=list,
        description="Fault settings changed while producing, oldest first, each in effect from its "
        "interval on (until the next); before the first, the configuration's faults apply.",
    )
    created_at: AwareDatetime
    seedstream_version: str

    def dataset(self, config: SeedstreamConfig) -> Dataset:
        """The dataset this descriptor records, for ``config`` (whose own seed, if any, must agree)."""
        if config.seed is not None and config.seed != self.seed:
            raise BadInputError(
                f"the config's seed {config.seed} differs from the dataset's recorded seed {self.seed}; "
                "remove the seed from the config or start a new dataset (clean the data dir)"
            )
        return Dataset(
            config=config, seed=self.seed, epoch=self.epoch, fault_changes=tuple(self.fault_changes)
        )


def read_descriptor(path: Path) -> DatasetDescriptor:
    """The dataset descriptor at ``path``.

    Raises:
        BadInputError: naming the file, the problem and the fix when it is not a descriptor.
    """
    try:
        return DatasetDescriptor.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as error:
        raise BadInputError(
            f"{path}: not a dataset descriptor ({str(error).splitlines()[0]}); restore it, or remove the "
            "data dir's dataset.json and producer/ to start a new dataset (or pass a fresh --data-dir)"
        ) from None


def load_or_create_descriptor(
    path: Path, config: SeedstreamConfig, epoch: datetime, length: timedelta
) -> Dataset:
    """The dataset recorded at ``path``, or a new one (seed drawn if the config has none) written there."""
    if path.is_file():
        return read_descriptor(path).dataset(config)
    dataset = Dataset.create(config, epoch, length)
    write_durably(path, dataset.descriptor().model_dump_json(indent=2).encode("utf-8") + b"\n")
    return dataset


def record_fault_change(path: Path, change: FaultChange) -> DatasetDescriptor:
    """Add ``change`` to the fault changes of the descriptor at ``path`` (rewritten atomically), as
    recorded there (by any shard's process), replacing those from its interval on; returns the result.

    Raises:
        BadInputError: when ``path`` holds no descriptor (see :func:`read_descriptor`).
    """
    descriptor = read_descriptor(path)
    changes = list(scheduled(descriptor.fault_changes, change))
    updated = descriptor.model_copy(update={"fault_changes": changes})
    write_durably(path, updated.model_dump_json(indent=2).encode("utf-8") + b"\n")
    return updated
