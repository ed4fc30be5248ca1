"""TapFlow's entities as columns: the baseline snapshot and the monthly timeline of churn and growth.

**Baseline.** Accounts hold ordinals ``0 … A-1`` (tiers shuffled over the ordinals by a keyed
permutation, exactly the configured count per tier); their locations, devices and users get
consecutive ordinals in account order, and ids ``first id + ordinal`` of the reserved ranges. The
whole baseline is drawn for every shard (it is small) and then filtered, so ids never depend on
the shard count. Creation instants go backwards from the snapshot (``epoch − interval``, when every
baseline entity publishes its first version): an account is created ``age`` days before the epoch
(its age band's range), a location between its account's creation and the snapshot, a device
between its location's opening and the snapshot, a user between its account's creation and the
snapshot. A realised count that overflows its id range is refused (:class:`BadInputError`).

**Timeline.** Month ``m`` covers ``[epoch + m·month, epoch + (m+1)·month)``. Each month draws a
churn rate in ``monthly_churn_rate``; every account still active churns with that probability at a
uniform instant of the month (the account, its subscription and its devices get new versions;
afterwards nothing of it emits). Each account of a growing age band that did not churn installs
``growth × devices`` new devices (stochastically rounded, growth drawn in ``monthly_growth_rate``) at
one uniform instant of the month, at its existing locations; its subscription gets a new version
with the new device count and the plan (and MRR) that count implies. New devices take the next
free device ids in (month, account ordinal) order; once the reserved range is used up, no more
devices are installed. Months are computed in order, once, for all accounts, and cached.

**Device status** is a persistent Markov chain per device
(:class:`~producer.generation.blocks.markov.MarkovStates`), stepped every ``heartbeat_interval``:
step ``n`` of device ``d`` is the instant ``n·H + phase_d`` (a fixed per-device phase in ``[0, H)``),
its heartbeat instant. A device emits a new version at a
step whose status differs from the previous step's, while its account is active.

All draws come from keyed streams (seed, tag, entity ordinal or month), never from the shard.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.errors import BadInputError
from producer.generation.blocks.counts import (
    children_per_parent,
    clipped_normal,
    expand_counts,
    weighted_choice,
)
from producer.generation.blocks.markov import MarkovStates
from producer.generation.blocks.places import (
    TAPFLOW_REGIONS,
    Place,
    Places,
    Region,
    business_names,
    person_names,
)
from producer.generation.clock import to_micros, to_micros_delta
from producer.generation.scenarios.tapflow.settings import TapflowConfig
from producer.generation.streams import EntityKeys, seed_key, stream_states, tag, unit_floats, words

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]

NEVER = np.iinfo(np.int64).max
MICROS_PER_DAY = 86_400_000_000
ONLINE, OFFLINE, MAINTENANCE, DECOMMISSIONED = 0, 1, 2, 3

ACCOUNT_TAG = tag("tapflow.accounts")
LOCATION_TAG = tag("tapflow.locations")
DEVICE_TAG = tag("tapflow.devices")
USER_TAG = tag("tapflow.users")
CHURN_TAG = tag("tapflow.churn")
GROWTH_TAG = tag("tapflow.growth")
STATUS_TAG = tag("tapflow.device-status")


def _uniform_between(raw: U64, low: I64 | int, high: I64 | int) -> I64:
    """Integers in ``[low, high)`` (``low`` where the span is empty)."""
    span = np.maximum(np.asarray(high, dtype=np.int64) - np.asarray(low, dtype=np.int64), 1)
    return (np.asarray(low, dtype=np.int64) + (unit_floats(raw) * span).astype(np.int64)).astype(np.int64)


@dataclass(frozen=True)
class Baseline:
    """The entities of the snapshot, as columns indexed by ordinal (ids are ``first id + ordinal``)."""

    snapshot_us: int
    account_tier: I64
    account_age_band: I64
    account_created_us: I64
    account_health: F64
    account_names: list[str]
    account_region: I64
    """The region of each account's first location (its users' local time)."""
    location_account: I64
    location_venue: I64
    location_region: I64
    location_created_us: I64
    location_anomaly_rate: F64
    location_names: list[str]
    places: list[Place]
    device_location: I64
    device_type: I64
    device_installed_us: I64
    user_account: I64
    user_role: I64
    user_created_us: I64
    user_names: list[str]
    user_dashboard_rate: F64
    """Mean dashboard views per day."""
    user_report_offset_us: I64
    """Local time of day of the user's reports (9:00–17:00), µs after local midnight."""
    account_api_user: I64
    """The user ordinal an account's API calls are attributed to (its first admin, else first user)."""

    @property
    def accounts(self) -> int:
        """Number of accounts."""
        return int(self.account_tier.size)


@dataclass
class Timeline:
    """Churn and growth through month ``months - 1``, and the device table they imply (appended to)."""

    months: int = 0
    account_churn_us: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_location: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_account: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_type: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_installed_us: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device_first_us: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The instant of each device's first record (the snapshot for baseline devices)."""
    growth_account: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    growth_us: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    growth_device_count: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """After each growth (one row per account and month that grew): the account's device count."""


@dataclass(frozen=True)
class TimelineView:
    """An immutable snapshot of :class:`Timeline` (arrays are never written after publication)."""

    months: int
    account_churn_us: I64
    device_location: I64
    device_account: I64
    device_type: I64
    device_installed_us: I64
    device_first_us: I64
    growth_account: I64
    growth_us: I64
    growth_device_count: I64

    @property
    def devices(self) -> int:
        """Devices installed through the computed months."""
        return int(self.device_account.size)


class Population:
    """The baseline and the (lazily extended) timeline of one dataset, shared by all shards."""

    def __init__(self, config: TapflowConfig, seed: int, epoch_us: int) -> None:
        self.config = config
        self.seed = seed
        self.epoch_us = epoch_us
        self.interval_us = to_micros_delta(config.interval)
        self.month_us = to_micros_delta(config.month)
        self.heartbeat_us = to_micros_delta(config.heartbeat_interval)
        self.baseline = _draw_baseline(config, seed, epoch_us - self.interval_us)
        self.status = MarkovStates(
            seed, STATUS_TAG, config.device_status.weights(), config.status_persistence
        )
        self._device_keys = EntityKeys(seed, DEVICE_TAG)
        self._account_keys = EntityKeys(seed, ACCOUNT_TAG)
        self._lock = threading.Lock()
        base = self.baseline
        timeline = Timeline(
            account_churn_us=np.full(base.accounts, NEVER, dtype=np.int64),
            device_location=base.device_location,
            device_account=base.location_account[base.device_location],
            device_type=base.device_type,
            device_installed_us=base.device_installed_us,
            device_first_us=np.full(base.device_location.size, base.snapshot_us, dtype=np.int64),
        )
        self._timeline = timeline
        self._view = self._freeze()
        self.plan_thresholds = np.array([plan.min_devices for plan in config.plans.items()], dtype=np.int64)
        self.plan_prices = np.array([plan.monthly_price for plan in config.plans.items()], dtype=np.int64)

    # -- ids ------------------------------------------------------------------------------------------

    def account_ids(self, ordinals: I64) -> I64:
        """Account ids of account ordinals."""
        return ordinals + self.config.account_ids[0]

    def location_ids(self, ordinals: I64) -> I64:
        """Location ids of location ordinals."""
        return ordinals + self.config.location_ids[0]

    def device_ids(self, ordinals: I64) -> I64:
        """Device ids of device ordinals."""
        return ordinals + self.config.device_ids[0]

    def user_ids(self, ordinals: I64) -> I64:
        """User ids of user ordinals."""
        return ordinals + self.config.user_ids[0]

    def subscription_ids(self, account_ordinals: I64) -> I64:
        """Subscription ids (one per account, by account ordinal)."""
        return account_ordinals + self.config.subscription_ids[0]

    def plan_of(self, device_count: I64) -> I64:
        """The plan index a device count implies (the highest plan whose threshold it reaches)."""
        return (np.searchsorted(self.plan_thresholds, device_count, side="right") - 1).astype(np.int64)

    # -- timeline -------------------------------------------------------------------------------------

    def month_of(self, instant_us: int) -> int:
        """The month containing ``instant_us`` (negative before the epoch)."""
        return (instant_us - self.epoch_us) // self.month_us

    def through(self, instant_us: int) -> TimelineView:
        """The timeline with every month that starts before ``instant_us`` computed."""
        months = max(0, self.month_of(instant_us - 1) + 1)
        view = self._view
        if view.months >= months:
            return view
        with self._lock:
            while self._timeline.months < months:
                self._extend_month()
            self._view = self._freeze()
            return self._view

    def _freeze(self) -> TimelineView:
        t = self._timeline
        return TimelineView(
            t.months, t.account_churn_us.copy(), t.device_location, t.device_account, t.device_type,
            t.device_installed_us, t.device_first_us, t.growth_account, t.growth_us, t.growth_device_count,
        )  # fmt: skip

    def _extend_month(self) -> None:
        config, base, t = self.config, self.baseline, self._timeline
        month = t.months
        start_us = self.epoch_us + month * self.month_us
        ordinals = np.arange(base.accounts, dtype=np.int64)
        active = t.account_churn_us == NEVER
        month_state = stream_states(np.zeros(1, dtype=np.uint64), seed_key(self.seed, CHURN_TAG, month))
        low, high = config.monthly_churn_rate
        churn_rate = low + (high - low) * float(
            unit_floats(words(month_state, np.zeros(1, dtype=np.int64)))[0]
        )
        states = stream_states(self._account_keys[ordinals], seed_key(self.seed, GROWTH_TAG, month))

        def word(j: int) -> U64:
            return words(states, np.full(ordinals.size, j, dtype=np.int64))

        churns = active & (unit_floats(word(0)) < churn_rate)
        churn_at = start_us + _uniform_between(word(1), 0, self.month_us)
        t.account_churn_us = np.where(churns, churn_at, t.account_churn_us)

        grows = np.array([band.grows for band in config.account_ages.items()], dtype=bool)[
            base.account_age_band
        ]
        growing = active & ~churns & grows
        g_low, g_high = config.monthly_growth_rate
        rate = g_low + (g_high - g_low) * unit_floats(word(2))
        current = np.bincount(t.device_account, minlength=base.accounts)
        new = np.floor(rate * current + unit_floats(word(3))).astype(np.int64)
        new = np.where(growing, new, 0)
        room = config.device_ids[1] - config.device_ids[0] + 1 - t.device_account.size
        cumulative = np.cumsum(new)
        new = np.clip(new - np.maximum(cumulative - room, 0), 0, None)
        t.months = month + 1
        if not new.sum():
            return
        grow_at = start_us + _uniform_between(word(4), 0, self.month_us)
        row, k = expand_counts(new)
        account = ordinals[row]
        device_states = states[account]
        first_location = np.searchsorted(base.location_account, account, side="left")
        location_count = np.bincount(base.location_account, minlength=base.accounts)[account]
        location = first_location + _uniform_between(words(device_states, 8 + 2 * k), 0, location_count)
        device_type = weighted_choice(words(device_states, 9 + 2 * k), config.device_types.weights())
        installed = grow_at[account]
        t.device_location = np.concatenate([t.device_location, location])
        t.device_account = np.concatenate([t.device_account, account])
        t.device_type = np.concatenate([t.device_type, device_type])
        t.device_installed_us = np.concatenate([t.device_installed_us, installed])
        t.device_first_us = np.concatenate([t.device_first_us, installed])
        grew = np.flatnonzero(new)
        t.growth_account = np.concatenate([t.growth_account, grew])
        t.growth_us = np.concatenate([t.growth_us, grow_at[grew]])
        t.growth_device_count = np.concatenate([t.growth_device_count, (current + new)[grew]])

    # -- device status --------------------------------------------------------------------------------

    def device_phase_us(self, ordinals: I64) -> I64:
        """Each device's heartbeat phase in ``[0, heartbeat_interval)``."""
        raw = words(self._device_keys[ordinals], np.full(ordinals.size, 7, dtype=np.int64))
        return (raw % np.uint64(self.heartbeat_us)).astype(np.int64)

    def first_step(self, view: TimelineView, ordinals: I64, phase: I64) -> I64:
        """The status chain's first step per device: 0 for baseline devices, the step of the install
        instant for devices installed later."""
        first = view.device_first_us[ordinals]
        steps = np.floor_divide(first - phase, self.heartbeat_us)
        baseline = first == self.baseline.snapshot_us
        return np.where(baseline, 0, np.maximum(steps, 0)).astype(np.int64)

    def statuses(self, ordinals: I64, steps: I64, first_step: I64) -> I64:
        """Status index (online, offline, maintenance) per device and step (broadcast)."""
        return self.status.at(ordinals, np.maximum(steps, 0), first_step)


def _draw_baseline(config: TapflowConfig, seed: int, snapshot_us: int) -> Baseline:
    account_count = config.accounts.total
    ordinals = np.arange(account_count, dtype=np.int64)
    account_keys = EntityKeys(seed, ACCOUNT_TAG)[ordinals]

    def account_word(j: int) -> U64:
        return words(account_keys, np.full(account_count, j, dtype=np.int64))

    tiers_in_order = np.repeat(np.arange(4, dtype=np.int64), config.accounts.counts())
    permutation = np.argsort(account_word(10), kind="stable")
    tier = np.empty(account_count, dtype=np.int64)
    tier[permutation] = tiers_in_order
    bands = config.account_ages.items()
    age_band = weighted_choice(account_word(11), config.account_ages.weights())
    min_us = np.array([round(b.min_days * MICROS_PER_DAY) for b in bands], dtype=np.int64)[age_band]
    max_us = np.array([round(b.max_days * MICROS_PER_DAY) for b in bands], dtype=np.int64)[age_band]
    epoch_us = snapshot_us + to_micros_delta(config.interval)
    created = epoch_us - _uniform_between(account_word(12), min_us, max_us)
    created = np.minimum(created, snapshot_us - 1)
    health = clipped_normal(account_word(13), account_word(14), config.health_score_mean,
                            config.health_score_std, 0.0, 1.0)  # fmt: skip
    health = np.round(health, 3)
    account_names = business_names(account_keys)

    location_counts = children_per_parent(account_word(15), tier, config.locations_per_account.ranges())
    _refuse_overflow("location_ids", config.location_ids, int(location_counts.sum()), "locations")
    location_account = np.repeat(ordinals, location_counts)
    location_ordinals = np.arange(location_account.size, dtype=np.int64)
    location_keys = EntityKeys(seed, LOCATION_TAG)[location_ordinals]

    def location_word(j: int) -> U64:
        return words(location_keys, np.full(location_ordinals.size, j, dtype=np.int64))

    venue = weighted_choice(location_word(10), config.venue_types.weights())
    region = weighted_choice(location_word(11), config.regions.weights())
    parent_created = created[location_account]
    location_created = _uniform_between(location_word(12), parent_created + 1, snapshot_us)
    low, high = config.anomaly_rate
    anomaly = low + (high - low) * unit_floats(location_word(13))
    places = _places(config.regions.weights()).pick(location_keys, region)
    location_names = business_names(location_keys)

    location_tier = tier[location_account]
    device_counts = children_per_parent(
        location_word(14), location_tier, config.devices_per_location.ranges()
    )
    _refuse_overflow("device_ids", config.device_ids, int(device_counts.sum()), "devices")
    device_location = np.repeat(location_ordinals, device_counts)
    device_ordinals = np.arange(device_location.size, dtype=np.int64)
    device_keys = EntityKeys(seed, DEVICE_TAG)[device_ordinals]
    device_type = weighted_choice(
        words(device_keys, np.full(device_ordinals.size, 10, dtype=np.int64)), config.device_types.weights()
    )
    installed = _uniform_between(
        words(device_keys, np.full(device_ordinals.size, 11, dtype=np.int64)),
        location_created[device_location] + 1,
        snapshot_us,
    )

    user_counts = children_per_parent(account_word(16), tier, config.users_per_account.ranges())
    _refuse_overflow("user_ids", config.user_ids, int(user_counts.sum()), "users")
    user_account = np.repeat(ordinals, user_counts)
    user_ordinals = np.arange(user_account.size, dtype=np.int64)
    user_keys = EntityKeys(seed, USER_TAG)[user_ordinals]

    def user_word(j: int) -> U64:
        return words(user_keys, np.full(user_ordinals.size, j, dtype=np.int64))

    role = weighted_choice(user_word(10), config.user_roles.weights())
    user_created = _uniform_between(user_word(11), created[user_account] + 1, snapshot_us)
    d_low, d_high = config.dashboard_views_per_user_per_day
    dashboard_rate = d_low + (d_high - d_low) * unit_floats(user_word(12))
    report_offset = 9 * 3_600_000_000 + _uniform_between(user_word(13), 0, 8 * 3_600_000_000)
    user_names = person_names(user_keys)

    first_location = np.searchsorted(location_account, ordinals, side="left")
    account_region = region[np.minimum(first_location, location_account.size - 1)]
    api_user = np.empty(account_count, dtype=np.int64)
    first_user = np.searchsorted(user_account, ordinals, side="left")
    for account in range(account_count):
        mine = np.flatnonzero(user_account == account)
        admins = mine[role[mine] == 0]
        api_user[account] = admins[0] if admins.size else (mine[0] if mine.size else -1)
    del first_user
    return Baseline(
        snapshot_us=snapshot_us,
        account_tier=tier,
        account_age_band=age_band,
        account_created_us=created,
        account_health=health,
        account_names=account_names,
        account_region=account_region,
        location_account=location_account,
        location_venue=venue,
        location_region=region,
        location_created_us=location_created,
        location_anomaly_rate=anomaly,
        location_names=location_names,
        places=places,
        device_location=device_location,
        device_type=device_type,
        device_installed_us=installed,
        user_account=user_account,
        user_role=role,
        user_created_us=user_created,
        user_names=user_names,
        user_dashboard_rate=dashboard_rate,
        user_report_offset_us=report_offset,
        account_api_user=api_user,
    )


def _refuse_overflow(field_name: str, id_range: tuple[int, int], count: int, what: str) -> None:
    size = id_range[1] - id_range[0] + 1
    if count > size:
        raise BadInputError(
            f"tapflow.{field_name} = {list(id_range)}: holds {size:,} ids but this seed's baseline has "
            f"{count:,} {what}; widen the range or lower the counts"
        )


@lru_cache(maxsize=4)
def _places(weights: tuple[float, ...]) -> Places:
    regions = tuple(Region(r.name, w, r.states) for r, w in zip(TAPFLOW_REGIONS, weights, strict=True))
    return Places(regions)


_populations: dict[tuple[TapflowConfig, int, int], Population] = {}
_populations_lock = threading.Lock()


def population(config: TapflowConfig, seed: int, epoch: datetime) -> Population:
    """The (cached, shared) population of a dataset."""
    key = (config, seed, to_micros(epoch))
    with _populations_lock:
        found = _populations.get(key)
        if found is None:
            if len(_populations) >= 8:
                _populations.pop(next(iter(_populations)))
            found = _populations[key] = Population(config, seed, key[2])
        return found
