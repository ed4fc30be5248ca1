"""Deterministic random streams keyed by logical ids, vectorized over many entities.

Every stream is identified by ``(seed, tag, interval, entity)``. The entity part and the interval
part each come from :class:`numpy.random.SeedSequence` (``SeedSequence([seed, tag, entity])`` and
``SeedSequence([seed, tag, interval])``); they are combined with the SplitMix64 finalizer into one
64-bit stream state per (interval, entity), and word ``j`` of a stream is SplitMix64's ``j``-th
output from that state. A stream therefore depends only on its logical ids, never on which other
entities are generated alongside it, nor on a shard index, so any subset of entities can be
generated alone and gives exactly the same values. Creating one numpy ``Generator`` per entity per
interval would cost ~60 µs each; this way a whole interval is a handful of array operations.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_DOUBLE_UNIT = 1.0 / float(1 << 53)


def tag(name: str) -> int:
    """A stable 32-bit stream tag from a short name (``tag("fleet.events")``)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "big")


def mix64(values: U64) -> U64:
    """The SplitMix64 finalizer: a bijective, avalanching 64-bit hash, element-wise."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _MUL1
    z ^= z >> np.uint64(27)
    z *= _MUL2
    z ^= z >> np.uint64(31)
    return z


def seed_key(*entropy: int) -> int:
    """One 64-bit key from ``SeedSequence(entropy)``."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0])


class EntityKeys:
    """``SeedSequence([seed, tag, ordinal])`` keys for entity ordinals 0, 1, 2, …, computed once and cached.

    Thread-safe; grows on demand so long-running producers pay for each entity once.
    """

    def __init__(self, seed: int, stream_tag: int) -> None:
        self._seed = seed
        self._tag = stream_tag
        self._keys: U64 = np.empty(0, dtype=np.uint64)
        self._lock = threading.Lock()

    def __getitem__(self, ordinals: npt.NDArray[np.int64]) -> U64:
        needed = int(ordinals.max()) + 1 if ordinals.size else 0
        if needed > self._keys.size:
            with self._lock:
                if needed > self._keys.size:
                    extra = np.array(
                        [
                            seed_key(self._seed, self._tag, ordinal)
                            for ordinal in range(self._keys.size, needed)
                        ],
                        dtype=np.uint64,
                    )
                    self._keys = np.concatenate([self._keys, extra])
        return self._keys[ordinals]


def stream_states(entity_keys: U64, interval_key: int) -> U64:
    """One stream state per entity for one interval."""
    interval_mixed = mix64(np.array([interval_key], dtype=np.uint64))[0]
    return mix64(entity_keys ^ interval_mixed)


def words(states: U64, counters: npt.NDArray[np.int64] | npt.NDArray[np.uint64]) -> U64:
    """Word ``counters[i]`` of stream ``states[i]`` (broadcasting): SplitMix64 output number counter+1."""
    steps = counters.astype(np.uint64) + np.uint64(1)
    return mix64(states + steps * _GOLDEN)


def unit_floats(raw: U64) -> npt.NDArray[np.float64]:
    """Uniform floats in [0, 1) from the top 53 bits of each word."""
    return (raw >> np.uint64(11)).astype(np.float64) * _DOUBLE_UNIT


def below(raw: U64, bound: int) -> npt.NDArray[np.int64]:
    """Integers in [0, bound) (bias < bound / 2**64, negligible for the bounds used here)."""
    return (raw % np.uint64(bound)).astype(np.int64)
