"""One interval's identity events as columns: content engagements, campaign exposures, responses.

Every individual of the shard takes part (all are created at the snapshot, before the epoch).

* **Content engagements**: Poisson(activity per day / 24 × ∫ diurnal curve over the interval) per
  individual, the curve in the local time of its household's state (evening peak, weekends busier);
  times by inverting the curve. Category drawn from the individual's affinities; type from the type
  weights; device the primary one with the loyalty share, else from the device weights; views last
  an exponential number of seconds (no duration for other types); the content item is log-uniform
  in the category's catalogue (a few items are popular); the session is the individual's device in
  this interval.
* **Campaign exposures**: Poisson(exposures per day × activity / mean activity / 24 × ∫ curve),
  only while campaigns are in flight (the whole UTC day of the interval lies in their dates). With
  ``targeted_share`` the campaign is one targeting the individual's segment (when any does), else
  any in-flight campaign; the channel one of the campaign's; frequency ``1 + Poisson(mean − 1)``;
  cost ``frequency × CPM / 1000`` with ±25 % log-normal jitter (4 decimals).
* **Responses**: an exposure gets a response with the individual's propensity; its type from the
  type weights, its delay a truncated exponential (mean per type, at most ``max_delay``) rounded up
  to whole 36-second steps, so ``time_to_conversion_hours`` is exact; conversions carry a log-normal
  value. A response is published in the interval its instant falls in, which is why the exposures
  of the ``max_delay`` before an interval are (re)generated, and cached, to find its responses.

**Record ids** are integers: ``((interval number since the epoch) × 10^E + individual id) × 10^6 +
sequence``, with ``E`` the digits of the largest individual id the config can yield and
``sequence`` the event's number among the individual's events of that topic in that interval. A
response's id is the id of the exposure it answers. Streams are keyed by (seed, topic, interval,
individual), never by the shard.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Self

import numpy as np
import numpy.typing as npt

from producer.generation.blocks.counts import (
    EXACT_POISSON_MEAN,
    expand_counts,
    normal,
    poisson,
    weighted_choice,
)
from producer.generation.blocks.rates import RateCurve
from producer.generation.scenarios.identity.models import (
    CHANNELS,
    CONTENT_CATEGORIES,
    DEVICE_TYPES,
    ENGAGEMENT_TYPES,
    RESPONSE_TYPES,
)
from producer.generation.scenarios.identity.population import MICROS_PER_DAY, OFFSETS, Members, Population
from producer.generation.scenarios.identity.settings import RESPONSE_DELAY_STEP, DiurnalSettings
from producer.generation.shard import Shard
from producer.generation.streams import seed_key, stream_states, tag, unit_floats, words

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

ENGAGEMENT_TAG = tag("identity.content-engagements")
EXPOSURE_TAG = tag("identity.campaign-exposures")
SESSION_TAG = tag("identity.sessions")
SEQUENCE_SPACE = 1_000_000
MAX_VIEW_SECONDS = 14_400
STEP_US = int(RESPONSE_DELAY_STEP.total_seconds()) * 1_000_000
VIEW = 0
CONVERSION = RESPONSE_TYPES.index("conversion")
PLACEMENTS: tuple[tuple[str, ...], ...] = (
    (),
    ("feed", "stories", "sidebar"),
    ("homepage_banner", "sidebar", "article_inline"),
    ("pre_roll", "mid_roll"),
    ("ctv_pre_roll", "ctv_mid_roll"),
)
"""Placements per channel (index into CHANNELS); email has none (null)."""
PLACEMENT_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for names in PLACEMENTS for name in names))
NO_PLACEMENT = -1
COST_JITTER = 0.25
SCREEN_MARGIN = 1e-9
"""How far below ``poisson``'s second cumulative term a float must lie to be settled as a count of 1
without it (far more than the rounding of the term)."""


def record_ids(interval_number: int, individual_ids: I64, sequence: I64, digits: int) -> I64:
    """``(interval_number × 10^digits + individual id) × 10^6 + sequence`` per event."""
    ids: I64 = ((interval_number * 10**digits + individual_ids) * SEQUENCE_SPACE + sequence).astype(np.int64)
    return ids


@lru_cache(maxsize=32)
def activity_curve(settings: DiurnalSettings, utc_offset_hours: float) -> RateCurve:
    """The activity shape in one UTC offset (normalised: long-run mean 1 per hour)."""
    return RateCurve(
        windows=settings.windows,
        base_level=settings.base_level,
        weekday_factor=settings.weekday_factor,
        weekend_factor=settings.weekend_factor,
        utc_offset_hours=utc_offset_hours,
    )


@dataclass(frozen=True)
class Columns:
    """Base of the event column sets: equal-length arrays, sortable by (timestamp, id)."""

    ids: I64
    individual: I64
    timestamp_us: I64

    def __len__(self) -> int:
        return int(self.ids.size)

    def take(self, rows: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Self:
        """The rows ``rows``, same type."""
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def sorted(self) -> Self:
        """Ordered by (timestamp, id)."""
        return self.take(np.lexsort((self.ids, self.timestamp_us)))


@dataclass(frozen=True)
class Engagements(Columns):
    """Content engagements."""

    category: I64
    engagement_type: I64
    device: I64
    duration: I64
    """Seconds for views, -1 (null) otherwise."""
    content: I64
    session: U64


@dataclass(frozen=True)
class Exposures(Columns):
    """Campaign exposures, with the response each will get (``response_type`` -1: none)."""

    campaign: I64
    """Campaign ordinal."""
    channel: I64
    frequency: I64
    placement: I64
    """Index into PLACEMENT_NAMES, -1 for none."""
    cost: I64
    """Ten-thousandths of a US dollar."""
    response_type: I64
    response_us: I64
    delay_steps: I64
    value_cents: I64
    """-1 (null) unless a conversion."""


@dataclass(frozen=True)
class Responses(Columns):
    """Responses: ``ids`` (= the exposure ids), ``timestamp_us`` the response instant."""

    campaign: I64
    response_type: I64
    exposure_us: I64
    delay_steps: I64
    value_cents: I64


@dataclass(frozen=True)
class IntervalColumns:
    """One shard's events of one interval."""

    interval_start_us: int
    interval_end_us: int
    interval_number: int
    engagements: Engagements
    exposures: Exposures
    responses: Responses
    campaigns_in_flight: int

    @property
    def event_count(self) -> int:
        """Events over all three topics."""
        return len(self.engagements) + len(self.exposures) + len(self.responses)

    @staticmethod
    def counts(values: I64, names: tuple[str, ...]) -> dict[str, int]:
        """Count per name (every name present)."""
        tally = np.bincount(values, minlength=len(names)).tolist()
        return {name: int(tally[k]) for k, name in enumerate(names)}

    def truth_counts(self) -> dict[str, object]:
        """The ground truth's event counts."""
        e, x, r = self.engagements, self.exposures, self.responses
        return {
            "content_engagements": len(e),
            "content_engagements_by_content_category": self.counts(e.category, CONTENT_CATEGORIES),
            "content_engagements_by_engagement_type": self.counts(e.engagement_type, ENGAGEMENT_TYPES),
            "content_engagements_by_device_type": self.counts(e.device, DEVICE_TYPES),
            "campaign_exposures": len(x),
            "campaign_exposures_by_channel": self.counts(x.channel, CHANNELS),
            "response_events": len(r),
            "response_events_by_response_type": self.counts(r.response_type, RESPONSE_TYPES),
        }


@dataclass(frozen=True)
class DueResponses:
    """One interval's exposures that get a response, ordered by the response's instant, and where
    the responses of each interval from it on begin."""

    exposures: Exposures
    cuts: list[int]
    """``cuts[k]``: the first exposure whose response lies at or after the start of the ``k``-th
    interval from this one (``k`` from 0 to :func:`lookback` + 1)."""

    def due_in(self, k: int) -> slice:
        """The exposures answered in the ``k``-th interval from this one."""
        return slice(self.cuts[k], self.cuts[k + 1])


class ResponseBook:
    """Due responses of recent intervals per shard (the responses still to be published).

    Holds ``capacity`` intervals of each of the last few shards asked for, dropping the earliest
    interval first (a run moves forward).
    """

    SHARDS = 4

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._shards: OrderedDict[Shard, dict[int, DueResponses]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, shard: Shard, numbers: range) -> list[DueResponses | None]:
        """The due responses of intervals ``numbers``, None where unknown."""
        with self._lock:
            intervals = self._shards.get(shard, {})
            return [intervals.get(number) for number in numbers]

    def put(self, shard: Shard, number: int, due: DueResponses) -> None:
        """Remember the due responses of interval ``number``."""
        with self._lock:
            intervals = self._shards.setdefault(shard, {})
            self._shards.move_to_end(shard)
            intervals[number] = due
            while len(intervals) > self.capacity:
                del intervals[min(intervals)]
            while len(self._shards) > self.SHARDS:
                self._shards.popitem(last=False)


_books: dict[int, tuple[Population, ResponseBook]] = {}
_books_lock = threading.Lock()


def _book(population: Population) -> ResponseBook:
    with _books_lock:
        found = _books.get(id(population))
        if found is None or found[0] is not population:
            if len(_books) >= 4:
                _books.pop(next(iter(_books)))
            found = _books[id(population)] = (population, ResponseBook(lookback(population) + 2))
        return found[1]


def lookback(population: Population) -> int:
    """How many earlier intervals can hold an exposure whose response falls in an interval."""
    max_delay = int(population.config.responses.max_delay.total_seconds() * 1_000_000)
    return -(-max_delay // population.interval_us)


def interval_events(population: Population, interval_start_us: int, shard: Shard) -> IntervalColumns:
    """The shard's events of the interval starting at ``interval_start_us``."""
    start, length = interval_start_us, population.interval_us
    if start % length or start < population.epoch_us:
        raise ValueError(f"{start} µs is not an interval start of this dataset")
    end = start + length
    number = (start - population.epoch_us) // length
    mine = population.members(shard)
    engagements = _engagements(population, mine, start, end, number)
    exposures = _exposures(population, mine, start, end, number)
    book = _book(population)
    book.put(shard, number, _due(population, exposures, number))
    first = max(0, number - lookback(population))
    responding = book.get(shard, range(first, number + 1))
    for earlier, found in enumerate(responding, first):
        if found is None:
            generated = _exposures(population, mine, *_bounds(population, earlier), earlier)
            responding[earlier - first] = found = _due(population, generated, earlier)
            book.put(shard, earlier, found)
    responses = _responses(responding, first, number)
    return IntervalColumns(
        interval_start_us=start,
        interval_end_us=end,
        interval_number=number,
        engagements=engagements.sorted(),
        exposures=exposures.sorted(),
        responses=responses.sorted(),
        campaigns_in_flight=len(population.campaigns_in_flight(start // MICROS_PER_DAY)),
    )


def _due(population: Population, exposures: Exposures, number: int) -> DueResponses:
    """The responses interval ``number``'s exposures get, cut by the interval they fall in."""
    answered = exposures.take(np.flatnonzero(exposures.response_type >= 0))
    ordered = answered.take(np.argsort(answered.response_us, kind="stable"))
    starts = _bounds(population, number)[0] + population.interval_us * np.arange(lookback(population) + 2)
    return DueResponses(ordered, np.searchsorted(ordered.response_us, starts).tolist())


def _bounds(population: Population, number: int) -> tuple[int, int]:
    start = population.epoch_us + number * population.interval_us
    return start, start + population.interval_us


OFFSET_US = np.array([round(hours * 3_600_000_000) for hours in OFFSETS], dtype=np.int64)
"""The UTC offsets of OFFSETS in µs."""


def _utc_curve(population: Population) -> RateCurve:
    """The activity curve at UTC. A time zone's curve is this one shifted by its offset, so one
    call with shifted bounds serves every zone (the same values as each zone's own curve)."""
    return activity_curve(population.config.diurnal, 0.0)


def _integrals(population: Population, start: int, end: int) -> F64:
    """The activity integral over the interval in each zone of OFFSETS (hours)."""
    return _utc_curve(population).integrals(start + OFFSET_US, end + OFFSET_US)


def _times(population: Population, offset: I64, raw: U64, start: int, end: int) -> I64:
    """Event instants inside the interval following the curve of each event's zone (``offset``)."""
    shift = OFFSET_US[offset]
    times: I64 = _utc_curve(population).sample_times(raw, start + shift, end + shift) - shift
    return times


def _poisson(raw: U64, means: F64) -> I64:
    """``poisson(raw, means)`` bit for bit, inverting term by term only where the count may pass 1.

    Most individuals have no event in an interval, and most of the others one. ``poisson`` gives
    0 exactly where the word's float lies below ``exp(-mean)`` (its first cumulative term, computed
    here the same way) and 1 where it lies between that and the second, ``exp(-mean) + exp(log mean
    - mean)``. Here that second bound comes from ``np.log`` where ``poisson`` uses ``math.log``
    (they may round apart in the last bit), so the rows within :data:`SCREEN_MARGIN` of it, and
    those with larger counts, go through ``poisson`` itself.
    """
    u = unit_floats(raw)
    zero = np.exp(-means)
    some = np.flatnonzero((u >= zero) | (means > EXACT_POISSON_MEAN))
    mean = means[some]
    one = zero[some] + np.exp(np.log(mean) - mean)
    rest = some[(u[some] >= one - SCREEN_MARGIN) | (mean > EXACT_POISSON_MEAN)]
    counts = np.zeros(means.size, dtype=np.int64)
    counts[some] = 1
    counts[rest] = poisson(raw[rest], means[rest])
    return counts


def _states(population: Population, keys: U64, stream_tag: int, number: int) -> U64:
    index = (population.epoch_us // population.interval_us) + number
    return stream_states(keys, seed_key(population.seed, stream_tag, index))


def _engagements(population: Population, mine: Members, start: int, end: int, number: int) -> Engagements:
    settings = population.config.engagements
    means = mine.engagement_rate * _integrals(population, start, end)[mine.offset]
    states = _states(population, mine.keys, ENGAGEMENT_TAG, number)
    counts = np.minimum(
        _poisson(words(states, np.zeros(states.size, dtype=np.int64)), means), SEQUENCE_SPACE - 1
    )
    row, sequence = expand_counts(counts)
    individual = mine.ordinals[row]
    st = states[row]
    counter = 1 + 8 * sequence
    timestamps = _times(population, mine.offset[row], words(st, counter), start, end)
    u = unit_floats(words(st, counter + 1))
    cumulative = population.affinity_cumulative[individual]
    category = np.minimum((u[:, None] >= cumulative[:, :-1]).sum(axis=1), cumulative.shape[1] - 1).astype(
        np.int64
    )
    kind = weighted_choice(words(st, counter + 2), settings.types.weights())
    loyal = unit_floats(words(st, counter + 3)) < settings.device_loyalty
    device = np.where(
        loyal,
        population.primary_device[individual],
        weighted_choice(words(st, counter + 4), settings.devices.weights()),
    )
    seconds = np.ceil(-np.log1p(-unit_floats(words(st, counter + 5))) * settings.view_seconds_mean)
    duration = np.where(kind == VIEW, np.clip(seconds, 1, MAX_VIEW_SECONDS), -1).astype(np.int64)
    popularity = np.floor(float(settings.catalog_size) ** unit_floats(words(st, counter + 6)))
    content = np.clip(popularity, 1, settings.catalog_size).astype(np.int64)
    session_key = seed_key(
        population.seed, SESSION_TAG, (population.epoch_us // population.interval_us) + number
    )
    session = words(population.individual_keys[individual] ^ np.uint64(session_key), device)
    ids = record_ids(number, population.individual_ids(individual), sequence, population.id_digits)
    return Engagements(
        ids, individual, timestamps, category, kind, device.astype(np.int64), duration, content, session
    )


def _exposures(population: Population, mine: Members, start: int, end: int, number: int) -> Exposures:
    config = population.config
    settings = config.exposures
    campaigns = population.campaigns_in_flight(start // MICROS_PER_DAY)
    nothing = np.zeros(0, dtype=np.int64)
    if not len(campaigns) or settings.per_day == 0:
        return Exposures(*([nothing] * 13))
    means = mine.exposure_rate * _integrals(population, start, end)[mine.offset]
    states = _states(population, mine.keys, EXPOSURE_TAG, number)
    counts = np.minimum(
        _poisson(words(states, np.zeros(states.size, dtype=np.int64)), means), SEQUENCE_SPACE - 1
    )
    row, sequence = expand_counts(counts)
    individual = mine.ordinals[row]
    st = states[row]
    counter = 1 + 12 * sequence
    timestamps = _times(population, mine.offset[row], words(st, counter), start, end)
    # campaign: one targeting the individual's segment (with targeted_share), else any in flight
    segments = len(config.segments.names())
    targeting = np.zeros((segments, len(campaigns)), dtype=bool)
    for column in range(5):
        rows = np.flatnonzero(campaigns.segment_count > column)
        targeting[campaigns.segments[rows, column], rows] = True
    table = np.argsort(~targeting, axis=1, kind="stable")
    available = targeting.sum(axis=1)
    segment = population.segment[individual]
    targeted = (unit_floats(words(st, counter + 1)) < settings.targeted_share) & (available[segment] > 0)
    pick = unit_floats(words(st, counter + 2))
    position = np.where(
        targeted,
        table[
            segment,
            np.minimum((pick * available[segment]).astype(np.int64), np.maximum(available[segment] - 1, 0)),
        ],
        np.minimum((pick * len(campaigns)).astype(np.int64), len(campaigns) - 1),
    )
    count = campaigns.channel_count[position]
    channel_slot = np.minimum((unit_floats(words(st, counter + 3)) * count).astype(np.int64), count - 1)
    channel = campaigns.channels[position, channel_slot]
    frequency = 1 + _poisson(words(st, counter + 4), np.full(row.size, settings.frequency_mean - 1.0))
    placement = np.full(row.size, NO_PLACEMENT, dtype=np.int64)
    u = unit_floats(words(st, counter + 5))
    for index, names in enumerate(PLACEMENTS):
        rows = channel == index
        if names and np.any(rows):
            lookup = np.array([PLACEMENT_NAMES.index(name) for name in names], dtype=np.int64)
            placement[rows] = lookup[np.minimum((u[rows] * len(names)).astype(np.int64), len(names) - 1)]
    cpm = np.array(settings.cpm.values(), dtype=np.float64)[channel]
    jitter = np.exp(normal(words(st, counter + 6), words(st, counter + 7), 0.0, COST_JITTER))
    cost = np.maximum(np.round(frequency * cpm * jitter / 1000 * 10_000), 1).astype(np.int64)
    # the response this exposure will get, if any
    responses = config.responses
    responds = unit_floats(words(st, counter + 8)) < population.propensity[individual]
    kind = weighted_choice(words(st, counter + 9), responses.types.weights())
    mean_us = np.array(responses.delay_hours.values(), dtype=np.float64)[kind] * 3_600_000_000
    max_us = responses.max_delay.total_seconds() * 1_000_000
    cap = 1.0 - np.exp(-max_us / mean_us)
    delay = -mean_us * np.log1p(-unit_floats(words(st, counter + 10)) * cap)
    max_steps = int(max_us // STEP_US)
    steps = np.clip(np.ceil(delay / STEP_US), 1, max_steps).astype(np.int64)
    value = np.exp(
        normal(
            words(st, counter + 11),
            words(st, counter + 12),
            np.log(responses.conversion_value_median),
            responses.conversion_value_spread,
        )
    )
    value_cents = np.where(kind == CONVERSION, np.clip(np.round(value * 100), 1, 99_999_999_99), -1).astype(
        np.int64
    )
    ids = record_ids(number, population.individual_ids(individual), sequence, population.id_digits)
    return Exposures(
        ids,
        individual,
        timestamps,
        campaigns.ordinal[position],
        channel.astype(np.int64),
        frequency,
        placement,
        cost,
        np.where(responds, kind, -1).astype(np.int64),
        timestamps + steps * STEP_US,
        steps,
        value_cents,
    )


def _responses(responding: list[DueResponses | None], first: int, number: int) -> Responses:
    """The responses due in interval ``number`` from the exposures of intervals ``first`` on."""
    due = []
    for earlier, answered in enumerate(responding, first):
        assert answered is not None
        rows = answered.due_in(number - earlier)
        if rows.stop > rows.start:
            due.append((answered.exposures, rows))

    def pick(name: str) -> I64:
        column: I64 = np.concatenate([getattr(x, name)[rows] for x, rows in due] or [np.zeros(0, np.int64)])
        return column

    return Responses(
        pick("ids"),
        pick("individual"),
        pick("response_us"),
        pick("campaign"),
        pick("response_type"),
        pick("timestamp_us"),
        pick("delay_steps"),
        pick("value_cents"),
    )
