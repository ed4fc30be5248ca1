"""A dataset: a configuration with its resolved seed and epoch, plus shards and the descriptor.

The records of an interval depend only on (scenario config, seed, epoch, interval_start); a
:class:`Dataset` carries exactly those. The :class:`DatasetDescriptor` is its durable form, written
once (``dataset.json``) and reused on every restart so a generated seed is never drawn twice.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

import producer
from producer.config import MAX_SEED, SeedstreamConfig
from producer.errors import BadInputError
from producer.generation.clock import ensure_utc, format_duration, is_aligned


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based: ``0/3``, ``1/3``, ``2/3``).

    Entity ordinal ``k`` belongs to shard ``k % count``; every record about an entity (a company and
    all its drivers' events) is produced by that entity's shard.
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise BadInputError(f"shard {self.index}/{self.count}: need 0 <= i < N, e.g. 0/3, 1/3, 2/3")

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """Parse ``"i/N"`` (0-based); ``None`` means the single, unsharded instance ``0/1``."""
        if text is None:
            return cls()
        parts = text.strip().split("/")
        if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
            raise BadInputError(f"--shard {text!r}: expected i/N with 0 <= i < N, e.g. 0/3, 1/3, 2/3")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, ordinals: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of ``ordinals`` belong to this shard."""
        return np.asarray(ordinals % self.count == self.index, dtype=np.bool_)

    def ordinals(self, stop: int, start: int = 0) -> npt.NDArray[np.int64]:
        """This shard's ordinals in ``[start, stop)``."""
        first = start + (self.index - start) % self.count
        return np.arange(first, max(first, stop), self.count, dtype=np.int64)

    @property
    def is_whole(self) -> bool:
        """Whether this is the single, unsharded instance."""
        return self.count == 1


@dataclass(frozen=True)
class Dataset:
    """A configuration whose seed is resolved, and the dataset's epoch (its first interval_start)."""

    config: SeedstreamConfig
    seed: int
    epoch: datetime

    @classmethod
    def create(cls, config: SeedstreamConfig, epoch: datetime, seed: int | None = None) -> Dataset:
        """Build a dataset; ``seed`` defaults to the config's, else a fresh one (see :func:`new_seed`)."""
        from producer.generation.scenarios import get_scenario

        epoch = ensure_utc(epoch)
        length = get_scenario(config.scenario).interval_length(config)
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
    created_at: AwareDatetime
    seedstream_version: str

    def dataset(self, config: SeedstreamConfig) -> Dataset:
        """The dataset this descriptor records, for ``config`` (whose own seed, if any, must agree)."""
        if config.seed is not None and config.seed != self.seed:
            raise BadInputError(
                f"the config's seed {config.seed} differs from the dataset's recorded seed {self.seed}; "
                "remove the seed from the config or start a new dataset (clean the data dir)"
            )
        return Dataset(config=config, seed=self.seed, epoch=self.epoch)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def load_or_create_descriptor(path: Path, config: SeedstreamConfig, epoch: datetime) -> Dataset:
    """The dataset recorded at ``path``, or a new one (seed drawn if the config has none) written there."""
    if path.is_file():
        try:
            descriptor = DatasetDescriptor.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as error:
            raise BadInputError(f"{path}: not a dataset descriptor ({str(error).splitlines()[0]})") from None
        return descriptor.dataset(config)
    dataset = Dataset.create(config, epoch)
    write_atomically(path, dataset.descriptor().model_dump_json(indent=2).encode("utf-8") + b"\n")
    return dataset
