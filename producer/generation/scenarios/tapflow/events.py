"""One interval's TapFlow events as columns: pours, device heartbeats, feature usage.

Eligibility: an account is active in an interval when it has not churned before the interval
started; its devices installed (and users created) before the interval started take part, and
nothing of it is emitted at or after its churn instant. Per event topic:

* **Heartbeats**: at each of a device's status steps inside the interval (``n·H + phase``, see
  :mod:`.population`), with the step's status, unless the device is offline then.
* **Pours**: each tap controller draws Poisson(``pours_per_hour`` of its venue type × ∫ rate curve
  over the interval) pours, the curve in the local time of its location's region (lunch and evening
  peaks, weekday/weekend, summer peak); times by inverting the curve; volume uniform in
  ``volume_ml``; a pour is anomalous with its location's anomaly rate (temperature then in
  ``anomaly_temperature_c``, else ``temperature_c``). Pours at an instant whose status step is not
  online are not poured (thinning), so offline and maintenance taps stay silent.
* **Feature usage**: dashboard views Poisson(daily rate × ∫ office-hours curve), weekly reports each
  Monday and monthly reports each first day of the month at the user's report time (local), API
  calls Poisson(``api_calls_per_device_per_day`` × the account's devices × interval / day) at
  uniform instants, attributed to the account's first admin.

**Record ids** are integers: ``((interval number since the dataset epoch) × 10^E + entity id) ×
10^6 + sequence``, with ``E`` the number of digits of the entity id range's last id (devices for
pours and heartbeats, users for feature usage) and ``sequence`` the event's number among the
entity's events of that topic in that interval (feature usage: feature index × 200,000 + number).
The reserved id ranges are finite; an endless stream is not, so ids encode the interval instead.
They are unique per topic, and the same however the dataset is sharded. Streams are keyed by
(seed, topic, interval, entity ordinal).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.blocks.counts import expand_counts, poisson
from producer.generation.blocks.rates import RateCurve
from producer.generation.scenarios.tapflow.models import FEATURES, HEARTBEAT_STATUSES, QUALITIES, VENUE_TYPES
from producer.generation.scenarios.tapflow.population import (
    MAINTENANCE,
    MICROS_PER_DAY,
    ONLINE,
    Population,
    TimelineView,
)
from producer.generation.scenarios.tapflow.settings import RateCurveSettings
from producer.generation.shard import Shard
from producer.generation.streams import EntityKeys, below, seed_key, stream_states, tag, unit_floats, words

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

POUR_TAG = tag("tapflow.tap-events")
USAGE_TAG = tag("tapflow.feature-usage")
API_TAG = tag("tapflow.api-calls")
SEQUENCE_SPACE = 1_000_000
FEATURE_SPACE = 200_000
_WORDS_PER_POUR = 4
MICROS_PER_HOUR = 3_600_000_000


def id_digits(id_range: tuple[int, int]) -> int:
    """``E``: the number of decimal digits of a range's last id."""
    return len(str(id_range[1]))


def record_ids(interval_number: int, entity_ids: I64, sequence: I64, digits: int) -> I64:
    """``(interval_number × 10^digits + entity id) × 10^6 + sequence`` per event."""
    ids: I64 = ((interval_number * 10**digits + entity_ids) * SEQUENCE_SPACE + sequence).astype(np.int64)
    return ids


@lru_cache(maxsize=32)
def pour_curve(settings: RateCurveSettings, utc_offset_hours: float) -> RateCurve:
    """The pour-rate shape of one region (normalised: long-run mean 1 per hour)."""
    return RateCurve(
        windows=(settings.lunch, settings.evening),
        base_level=settings.base_level,
        weekday_factor=settings.weekday_factor,
        weekend_factor=settings.weekend_factor,
        seasonal_amplitude=settings.seasonal_amplitude,
        peak_day=settings.peak_day,
        utc_offset_hours=utc_offset_hours,
    )


@lru_cache(maxsize=32)
def office_curve(utc_offset_hours: float) -> RateCurve:
    """Dashboard activity: office hours 8:00–18:00 local, little at night, less at weekends."""
    return RateCurve(
        windows=((8.0, 18.0, 1.0),), base_level=0.05, weekday_factor=1.0, weekend_factor=0.4,
        utc_offset_hours=utc_offset_hours,
    )  # fmt: skip


@dataclass(frozen=True)
class StatusGrid:
    """Device statuses at the steps around ``[start, end)``: column ``j`` is step ``first_step + j``
    of each device (its instant ``(first_step + j)·H + phase``); column 0 precedes ``start``."""

    ordinals: I64
    phase_us: I64
    first_step: I64
    statuses: I64
    heartbeat_us: int

    def instants(self) -> I64:
        """The instant of every grid cell."""
        columns = np.arange(self.statuses.shape[1], dtype=np.int64)
        return (self.first_step[:, None] + columns[None, :]) * self.heartbeat_us + self.phase_us[:, None]


def status_grid(
    population: Population, view: TimelineView, ordinals: I64, start_us: int, end_us: int
) -> StatusGrid:
    """Statuses of ``ordinals`` at every step in ``[start, end)`` plus the step before."""
    h = population.heartbeat_us
    phase = population.device_phase_us(ordinals)
    # first step at or after start, minus one
    first = -((phase - start_us) // h) - 1
    columns = -((start_us - end_us) // h) + 1
    chain_start = population.first_step(view, ordinals, phase)
    statuses = population.status.at_consecutive(ordinals, np.maximum(first, 0), columns, chain_start)
    return StatusGrid(ordinals, phase, first, statuses, h)


@dataclass(frozen=True)
class EventColumns:
    """One topic's events of one interval, sorted by (timestamp, id)."""

    ids: I64
    entity: I64
    """Device ordinal (pours, heartbeats) or user ordinal (feature usage)."""
    category: I64
    """Venue type (pours), status index into HEARTBEAT_STATUSES (heartbeats) or feature."""
    timestamp_us: I64
    extra: tuple[I64, ...] = ()
    """Pours: (volume_ml, temperature in tenths, quality); heartbeats: (device type,)."""

    def __len__(self) -> int:
        return int(self.ids.size)

    def sorted(self) -> EventColumns:
        """The same events ordered by (timestamp, id)."""
        order = np.lexsort((self.ids, self.timestamp_us))
        return EventColumns(
            self.ids[order], self.entity[order], self.category[order], self.timestamp_us[order],
            tuple(column[order] for column in self.extra),
        )  # fmt: skip


@dataclass(frozen=True)
class IntervalColumns:
    """One shard's events of one interval (every topic) and what its ground truth needs."""

    interval_start_us: int
    interval_end_us: int
    interval_number: int
    pours: EventColumns
    heartbeats: EventColumns
    usage: EventColumns
    active_accounts: int

    @property
    def event_count(self) -> int:
        """Events over all topics."""
        return len(self.pours) + len(self.heartbeats) + len(self.usage)

    def counts(self, column: I64, names: tuple[str, ...]) -> dict[str, int]:
        """Events per category value, every value present."""
        found = np.bincount(column, minlength=len(names))
        return {name: int(count) for name, count in zip(names, found, strict=True)}

    def truth_counts(self) -> dict[str, object]:
        """The ground-truth counts of these events."""
        return {
            "tap_events": len(self.pours),
            "tap_events_by_venue_type": self.counts(self.pours.category, VENUE_TYPES),
            "tap_events_by_quality": self.counts(self.pours.extra[2], QUALITIES),
            "heartbeats": len(self.heartbeats),
            "heartbeats_by_device_type": self.counts(
                self.heartbeats.extra[0], ("tap_controller", "sensor", "gateway")
            ),
            "heartbeats_by_status": self.counts(self.heartbeats.category, HEARTBEAT_STATUSES),
            "feature_usage": len(self.usage),
            "feature_usage_by_feature": self.counts(self.usage.category, FEATURES),
        }


def interval_events(population: Population, interval_start_us: int, shard: Shard) -> IntervalColumns:
    """The shard's events of the interval starting at ``interval_start_us``."""
    start, length = interval_start_us, population.interval_us
    if start % length or start < population.epoch_us:
        raise ValueError(f"{start} µs is not an interval start of this dataset")
    end = start + length
    number = (start - population.epoch_us) // length
    index = start // length
    view = population.through(end)
    base = population.baseline
    churn = view.account_churn_us
    accounts = np.arange(base.accounts, dtype=np.int64)
    active = shard.owns(accounts) & (churn >= start)
    devices = np.flatnonzero(active[view.device_account] & (view.device_first_us < start)).astype(np.int64)
    grid = status_grid(population, view, devices, start, end)
    heartbeats = _heartbeats(population, view, grid, start, end, number)
    pours = _pours(population, view, grid, start, end, number, index)
    usage = _usage(population, view, active, start, end, number, index)
    return IntervalColumns(
        interval_start_us=start,
        interval_end_us=end,
        interval_number=number,
        pours=pours.sorted(),
        heartbeats=heartbeats.sorted(),
        usage=usage.sorted(),
        active_accounts=int(active.sum()),
    )


def _heartbeats(
    population: Population, view: TimelineView, grid: StatusGrid, start: int, end: int, number: int
) -> EventColumns:
    instants = grid.instants()[:, 1:]
    statuses = grid.statuses[:, 1:]
    churn = view.account_churn_us[view.device_account[grid.ordinals]]
    sends = (instants < end) & (statuses != 1) & (instants < churn[:, None])
    rows, columns = np.nonzero(sends)
    device = grid.ordinals[rows]
    status = np.where(statuses[rows, columns] == MAINTENANCE, 1, 0).astype(np.int64)
    ids = record_ids(number, population.device_ids(device), columns.astype(np.int64),
                     id_digits(population.config.device_ids))  # fmt: skip
    return EventColumns(ids, device, status, instants[rows, columns], (view.device_type[device],))


def _pours(
    population: Population,
    view: TimelineView,
    grid: StatusGrid,
    start: int,
    end: int,
    number: int,
    index: int,
) -> EventColumns:
    config = population.config
    base = population.baseline
    taps = np.flatnonzero(view.device_type[grid.ordinals] == 0)
    device = grid.ordinals[taps]
    location = view.device_location[device]
    venue = base.location_venue[location]
    region = base.location_region[location]
    rates = np.array([v.pours_per_hour for v in config.venue_types.items()], dtype=np.float64)[venue]
    offsets = [r.utc_offset_hours for r in config.regions.items()]
    integrals = np.array([pour_curve(config.rate_curve, o).integral(start, end) for o in offsets])
    means = rates * integrals[region]
    states = stream_states(
        _keys(population.seed, POUR_TAG)[device], seed_key(population.seed, POUR_TAG, index)
    )
    counts = np.minimum(
        poisson(words(states, np.zeros(device.size, dtype=np.int64)), means), SEQUENCE_SPACE - 1
    )
    row, sequence = expand_counts(counts)
    pour_states = states[row]
    counter = 1 + _WORDS_PER_POUR * sequence
    timestamps = np.empty(row.size, dtype=np.int64)
    pour_region = region[row]
    time_words = words(pour_states, counter)
    for r, offset in enumerate(offsets):
        mine = pour_region == r
        if np.any(mine):
            timestamps[mine] = pour_curve(config.rate_curve, offset).sample_times(
                time_words[mine], start, end
            )
    # thinning: only pours at an online step happen
    column = (timestamps - grid.phase_us[taps][row]) // grid.heartbeat_us - grid.first_step[taps][row]
    online = grid.statuses[taps[row], column] == ONLINE
    churn = view.account_churn_us[view.device_account[device]][row]
    keep = online & (timestamps < churn)
    row, sequence, timestamps, counter, pour_states = (
        row[keep],
        sequence[keep],
        timestamps[keep],
        counter[keep],
        pour_states[keep],
    )
    v_low, v_high = config.volume_ml
    volume = v_low + below(words(pour_states, counter + 1), v_high - v_low + 1)
    anomalous = unit_floats(words(pour_states, counter + 3)) < base.location_anomaly_rate[location[row]]
    t_low, t_high = (
        np.where(anomalous, config.anomaly_temperature_c[0], config.temperature_c[0]),
        np.where(anomalous, config.anomaly_temperature_c[1], config.temperature_c[1]),
    )
    low_tenths = np.ceil(np.round(t_low * 10, 6)).astype(np.int64)
    high_tenths = np.floor(np.round(t_high * 10, 6)).astype(np.int64)
    span = np.maximum(high_tenths - low_tenths + 1, 1)
    temperature = low_tenths + (unit_floats(words(pour_states, counter + 2)) * span).astype(np.int64)
    ids = record_ids(number, population.device_ids(device[row]), sequence, id_digits(config.device_ids))
    return EventColumns(
        ids, device[row], venue[row], timestamps, (volume, temperature, anomalous.astype(np.int64))
    )


def _usage(
    population: Population,
    view: TimelineView,
    active: npt.NDArray[np.bool_],
    start: int,
    end: int,
    number: int,
    index: int,
) -> EventColumns:
    config = population.config
    base = population.baseline
    users = np.flatnonzero(active[base.user_account] & (base.user_created_us < start)).astype(np.int64)
    account = base.user_account[users]
    offsets = [r.utc_offset_hours for r in config.regions.items()]
    region = base.account_region[account]
    parts: list[tuple[I64, I64, I64, I64]] = []  # user, feature, timestamp, sequence

    # dashboard views
    integrals = np.array([office_curve(o).integral(start, end) for o in offsets])
    means = base.user_dashboard_rate[users] / 24.0 * integrals[region]
    states = stream_states(
        _keys(population.seed, USAGE_TAG)[users], seed_key(population.seed, USAGE_TAG, index)
    )
    counts = np.minimum(
        poisson(words(states, np.zeros(users.size, dtype=np.int64)), means), FEATURE_SPACE - 1
    )
    row, sequence = expand_counts(counts)
    time_words = words(states[row], 1 + sequence)
    timestamps = np.empty(row.size, dtype=np.int64)
    for r, offset in enumerate(offsets):
        mine = region[row] == r
        if np.any(mine):
            timestamps[mine] = office_curve(offset).sample_times(time_words[mine], start, end)
    parts.append((users[row], np.zeros(row.size, dtype=np.int64), timestamps, sequence))

    # reports at the user's report time (local), Mondays (weekly) and first days of months (monthly)
    local_shift = -np.round(np.array(offsets)[region] * MICROS_PER_HOUR).astype(np.int64)
    report_at = base.user_report_offset_us[users] + local_shift
    role = base.user_role[users]
    role_index = {"admin": 0, "manager": 1, "staff": 2}
    weekly_roles = np.isin(role, [role_index[r] for r in config.weekly_report_roles])
    week = 7 * MICROS_PER_DAY
    monday = 4 * MICROS_PER_DAY + report_at
    weekly_at = monday + -((monday - start) // week) * week
    weekly = weekly_roles & (weekly_at < end)
    parts.append((users[weekly], np.ones(int(weekly.sum()), dtype=np.int64), weekly_at[weekly],
                  np.zeros(int(weekly.sum()), dtype=np.int64)))  # fmt: skip
    monthly_roles = np.isin(role, [role_index[r] for r in config.monthly_report_roles])
    for probe in (start, start - 2 * MICROS_PER_DAY):
        first_day = int(np.datetime64(probe, "us").astype("M8[M]").astype("M8[D]").astype(np.int64))
        monthly_at = first_day * MICROS_PER_DAY + report_at
        monthly = monthly_roles & (monthly_at >= start) & (monthly_at < end)
        parts.append((users[monthly], np.full(int(monthly.sum()), 2, dtype=np.int64), monthly_at[monthly],
                      np.zeros(int(monthly.sum()), dtype=np.int64)))  # fmt: skip

    # API calls, proportional to the account's devices
    accounts = np.flatnonzero(active & (base.account_api_user >= 0))
    api_users = base.account_api_user[accounts]
    device_counts = np.bincount(view.device_account[view.device_first_us < start], minlength=base.accounts)[
        accounts
    ]
    means = config.api_calls_per_device_per_day * device_counts * (end - start) / MICROS_PER_DAY
    states = stream_states(
        _keys(population.seed, API_TAG)[api_users], seed_key(population.seed, API_TAG, index)
    )
    counts = np.minimum(
        poisson(words(states, np.zeros(accounts.size, dtype=np.int64)), means), FEATURE_SPACE - 1
    )
    row, sequence = expand_counts(counts)
    timestamps = start + below(words(states[row], 1 + sequence), end - start)
    parts.append((api_users[row], np.full(row.size, 3, dtype=np.int64), timestamps, sequence))

    user = np.concatenate([p[0] for p in parts])
    feature = np.concatenate([p[1] for p in parts])
    timestamps = np.concatenate([p[2] for p in parts])
    sequence = np.concatenate([p[3] for p in parts])
    churn = view.account_churn_us[base.user_account[user]]
    keep = timestamps < churn
    user, feature, timestamps, sequence = user[keep], feature[keep], timestamps[keep], sequence[keep]
    ids = record_ids(number, population.user_ids(user), feature * FEATURE_SPACE + sequence,
                     id_digits(config.user_ids))  # fmt: skip
    return EventColumns(ids, user, feature, timestamps)


_key_tables: dict[tuple[int, int], EntityKeys] = {}


def _keys(seed: int, stream_tag: int) -> EntityKeys:
    key = (seed, stream_tag)
    table = _key_tables.get(key)
    if table is None:
        table = _key_tables.setdefault(key, EntityKeys(seed, stream_tag))
    return table
