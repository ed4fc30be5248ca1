"""Shards: which part of a dataset one producer instance generates.

Entity ordinal ``k`` belongs to shard ``k % N``; every record about an entity is produced by its
shard, so the union of all N shards is exactly the single-instance output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producer.errors import BadInputError


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

    @property
    def file_suffix(self) -> str:
        """``""`` for the single instance, ``"-1-of-3"`` for shard 1/3: per-shard file names."""
        return "" if self.is_whole else f"-{self.index}-of-{self.count}"
