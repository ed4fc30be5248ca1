"""Pure, columnar fleet generation: companies and one interval's driver events as numpy arrays.

Companies are numbered by ordinal: the baseline ``0 … number_of_companies-1`` is onboarded one
interval before the epoch; onboarding tick ``k ≥ 1`` (at ``epoch + k × company_onboarding_interval``)
adds the next ``onboarding_batch_size`` ordinals. A company drives in every interval that starts
after its ``created_at``. Company ``k`` belongs to shard ``k % N``.

Random streams (see :mod:`producer.generation.streams`): Poisson mode keys one stream per (seed, interval,
company): words ``0 … D-1`` give the drivers' Poisson counts, then four words per event give its
type, timestamp and event id. Emulated mode keys one stream per (seed, interval): word 0 gives the
interval's total, then five words per event choose its driver, type, timestamp and id; every shard
computes that small stream whole and keeps its companies' events.
"""

from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.blocks.counts import expand_counts
from producer.generation.clock import (
    interval_id,
    interval_index,
    onboarding_ticks_before,
    to_micros,
    to_micros_delta,
)
from producer.generation.dataset import Dataset
from producer.generation.scenarios.fleet.models import EVENT_TYPE_WEIGHTS, EVENT_TYPES
from producer.generation.scenarios.fleet.settings import FleetConfig
from producer.generation.serialization import uuid4_bits
from producer.generation.shard import Shard
from producer.generation.streams import EntityKeys, below, seed_key, stream_states, tag, unit_floats, words

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

COMPANY_NAMESPACE = uuid.UUID("5eed5eed-0000-4000-8000-00000000f1ee")
"""uuid5 namespace of company ids: ``uuid5(COMPANY_NAMESPACE, f"{seed}/{ordinal}")``."""

EVENTS_TAG = tag("fleet.driver-events")
EMULATED_TAG = tag("fleet.emulated-events")
REFERENCE_INTERVAL_US = 15 * 60 * 1_000_000
"""``event_rate_per_driver`` is per 15 minutes; λ scales linearly with the interval length."""

_WORDS_PER_EVENT = 4
_TYPE_THRESHOLDS = np.cumsum(EVENT_TYPE_WEIGHTS)[:-1]


@dataclass(frozen=True)
class CompanyColumns:
    """Companies as columns, ordered by ordinal (which orders them by ``created_at`` too)."""

    ordinals: I64
    created_at_us: I64
    company_ids: list[str]

    def __len__(self) -> int:
        return int(self.ordinals.size)


@dataclass(frozen=True)
class EventColumns:
    """One shard's driver events of one interval, sorted by (timestamp, event_id)."""

    interval_start_us: int
    interval_end_us: int
    interval_id: str
    seed: int
    drivers_per_company: int
    eligible_companies: int
    company_ordinal: I64
    driver_seq: I64
    event_type: npt.NDArray[np.uint8]
    timestamp_us: I64
    event_id_high: U64
    event_id_low: U64

    def __len__(self) -> int:
        return int(self.timestamp_us.size)

    @property
    def driver_number(self) -> I64:
        """The global driver number n of ``TRK-{seed}-{n:04d}`` (from 1)."""
        return self.company_ordinal * self.drivers_per_company + self.driver_seq

    def event_type_counts(self) -> dict[str, int]:
        """Events per event type, all types present."""
        counts = np.bincount(self.event_type, minlength=len(EVENT_TYPES))
        return {name: int(count) for name, count in zip(EVENT_TYPES, counts, strict=True)}


class CompanyIds:
    """Company UUID strings by ordinal for one seed, computed once and cached (thread-safe)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._ids: list[str] = []
        self._lock = threading.Lock()

    def ensure(self, count: int) -> list[str]:
        """The id list, grown to at least ``count`` entries."""
        if count > len(self._ids):
            with self._lock:
                self._ids.extend(
                    str(uuid.uuid5(COMPANY_NAMESPACE, f"{self._seed}/{ordinal}"))
                    for ordinal in range(len(self._ids), count)
                )
        return self._ids

    def __getitem__(self, ordinal: int) -> str:
        return self.ensure(ordinal + 1)[ordinal]


@lru_cache(maxsize=64)
def company_ids(seed: int) -> CompanyIds:
    """The cached company-id table of ``seed``."""
    return CompanyIds(seed)


@lru_cache(maxsize=64)
def _event_keys(seed: int) -> EntityKeys:
    return EntityKeys(seed, EVENTS_TAG)


def company_id(seed: int, ordinal: int) -> str:
    """The UUID of company ``ordinal`` (uuid5 of the seed and ordinal)."""
    return company_ids(seed)[ordinal]


def companies_created_before(fleet: FleetConfig, epoch: datetime, instant: datetime) -> int:
    """How many companies have ``created_at < instant``; they hold ordinals ``0 … count-1``."""
    if to_micros(instant) <= to_micros(epoch) - to_micros_delta(fleet.interval):
        return 0
    ticks = onboarding_ticks_before(epoch, fleet.company_onboarding_interval, instant)
    return fleet.number_of_companies + fleet.onboarding_batch_size * ticks


def created_at_us(fleet: FleetConfig, epoch: datetime, ordinals: I64) -> I64:
    """Each company's onboarding instant, in microseconds since the Unix epoch."""
    epoch_us = to_micros(epoch)
    ticks = np.maximum(ordinals - fleet.number_of_companies, -1) // fleet.onboarding_batch_size + 1
    cadence_us = to_micros_delta(fleet.company_onboarding_interval)
    baseline_us = epoch_us - to_micros_delta(fleet.interval)
    return np.where(ticks == 0, baseline_us, epoch_us + ticks * cadence_us).astype(np.int64)


def companies(dataset: Dataset, start: datetime, end: datetime, shard: Shard) -> CompanyColumns:
    """The shard's companies with ``start <= created_at < end``."""
    fleet = dataset.config.fleet
    first = companies_created_before(fleet, dataset.epoch, start)
    stop = companies_created_before(fleet, dataset.epoch, end)
    ordinals = shard.ordinals(stop, start=first)
    table = company_ids(dataset.seed).ensure(stop)
    return CompanyColumns(
        ordinals=ordinals,
        created_at_us=created_at_us(fleet, dataset.epoch, ordinals),
        company_ids=[table[ordinal] for ordinal in ordinals.tolist()],
    )


@lru_cache(maxsize=64)
def poisson_cdf(mean: float) -> npt.NDArray[np.float64]:
    """Cumulative Poisson(mean) probabilities up to far in the tail, for sampling by inversion."""
    last = int(mean + 12 * math.sqrt(mean) + 24)
    ks = np.arange(last + 1, dtype=np.float64)
    log_pmf = ks * math.log(mean) - mean - np.array([math.lgamma(k + 1) for k in range(last + 1)])
    return np.cumsum(np.exp(log_pmf))


def poisson_counts(raw: U64, mean: float) -> I64:
    """Poisson(mean) variates by inversion of uniform words (exact up to ~1e-16 in the tail)."""
    cdf = poisson_cdf(mean)
    return np.minimum(np.searchsorted(cdf, unit_floats(raw), side="right"), cdf.size - 1).astype(np.int64)


def event_rate(fleet: FleetConfig) -> float:
    """λ per driver for one interval: ``event_rate_per_driver`` scaled from 15 minutes."""
    return fleet.event_rate_per_driver * to_micros_delta(fleet.interval) / REFERENCE_INTERVAL_US


def interval_events(dataset: Dataset, interval_start: datetime, shard: Shard) -> EventColumns:
    """The shard's driver events for the interval that starts at ``interval_start`` (must be aligned,
    at or after the epoch)."""
    fleet = dataset.config.fleet
    start_us = to_micros(interval_start)
    length_us = to_micros_delta(fleet.interval)
    if start_us % length_us or start_us < to_micros(dataset.epoch):
        raise ValueError(f"{interval_start.isoformat()} is not an interval start of this dataset")
    eligible = companies_created_before(fleet, dataset.epoch, interval_start)
    index = interval_index(interval_start, fleet.interval)
    if fleet.events_per_batch_range is not None:
        columns = _emulated(dataset, index, eligible, shard, length_us)
    else:
        columns = _poisson(dataset, index, eligible, shard, length_us)
    ordinal, seq, event_type, offset, high, low = columns
    order = np.lexsort((low, high, offset))
    high, low = uuid4_bits(high[order], low[order])
    return EventColumns(
        interval_start_us=start_us,
        interval_end_us=start_us + length_us,
        interval_id=interval_id(interval_start, fleet.interval),
        seed=dataset.seed,
        drivers_per_company=fleet.drivers_per_company,
        eligible_companies=int(shard.ordinals(eligible).size),
        company_ordinal=ordinal[order],
        driver_seq=seq[order],
        event_type=event_type[order],
        timestamp_us=start_us + offset[order],
        event_id_high=high,
        event_id_low=low,
    )


_Columns = tuple[I64, I64, npt.NDArray[np.uint8], I64, U64, U64]


def _event_fields(type_words: U64, time_words: U64, length_us: int) -> tuple[npt.NDArray[np.uint8], I64]:
    event_type = np.searchsorted(_TYPE_THRESHOLDS, unit_floats(type_words), side="right").astype(np.uint8)
    return event_type, below(time_words, length_us)


def _poisson(dataset: Dataset, index: int, eligible: int, shard: Shard, length_us: int) -> _Columns:
    drivers = dataset.config.fleet.drivers_per_company
    ordinals = shard.ordinals(eligible)
    states = stream_states(_event_keys(dataset.seed)[ordinals], seed_key(dataset.seed, EVENTS_TAG, index))
    counts = poisson_counts(
        words(states[:, None], np.arange(drivers, dtype=np.int64)[None, :]), event_rate(dataset.config.fleet)
    )
    per_company = counts.sum(axis=1)
    company_row, event_number = expand_counts(per_company)
    seq = np.repeat(np.tile(np.arange(1, drivers + 1, dtype=np.int64), ordinals.size), counts.ravel())
    event_states = states[company_row]
    base = drivers + _WORDS_PER_EVENT * event_number
    event_type, offset = _event_fields(words(event_states, base), words(event_states, base + 1), length_us)
    high, low = words(event_states, base + 2), words(event_states, base + 3)
    return ordinals[company_row], seq, event_type, offset, high, low


def _emulated(dataset: Dataset, index: int, eligible: int, shard: Shard, length_us: int) -> _Columns:
    fleet = dataset.config.fleet
    assert fleet.events_per_batch_range is not None
    low_count, high_count = fleet.events_per_batch_range
    state = stream_states(np.zeros(1, dtype=np.uint64), seed_key(dataset.seed, EMULATED_TAG, index))
    total = low_count + int(below(words(state, np.zeros(1, dtype=np.int64)), high_count - low_count + 1)[0])
    base = 1 + 5 * np.arange(total, dtype=np.int64)
    driver = below(words(state, base), eligible * fleet.drivers_per_company)
    ordinal, seq = driver // fleet.drivers_per_company, driver % fleet.drivers_per_company + 1
    event_type, offset = _event_fields(words(state, base + 1), words(state, base + 2), length_us)
    high, low = words(state, base + 3), words(state, base + 4)
    mine = shard.owns(ordinal)
    return ordinal[mine], seq[mine], event_type[mine], offset[mine], high[mine], low[mine]
