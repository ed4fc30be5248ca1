"""TapFlow's entity records in a time range, as columns: baseline versions, creations and changes.

What has an instant in ``[start, end)`` for the shard's accounts:

* the baseline snapshot (``epoch − interval``): every account, location, device, user and
  subscription, version 1;
* churn: the account (status ``churned``), its subscription (``cancelled``) and every device it
  has (``decommissioned``), at the churn instant;
* growth: the new devices (their first record) and the subscription (new device count, plan, MRR);
* device status: a version at each heartbeat step whose status differs from the step before,
  after the device's first record and before its account churned.

A record's ``version`` is ``1 +`` the microseconds from the entity's first record to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.scenarios.tapflow.events import status_grid
from producer.generation.scenarios.tapflow.population import DECOMMISSIONED, Population, TimelineView
from producer.generation.shard import Shard

I64 = npt.NDArray[np.int64]

MAX_GRID_CELLS = 2_000_000
"""Status grids are computed in time chunks of at most this many (device, step) cells."""


@dataclass(frozen=True)
class Versions:
    """One entity topic's records in a range: entity ordinal, instant, status (and a count for
    subscriptions), sorted by (instant, ordinal)."""

    ordinal: I64
    updated_us: I64
    status: I64
    device_count: I64

    def __len__(self) -> int:
        return int(self.ordinal.size)

    @classmethod
    def of(cls, ordinal: I64, updated_us: I64, status: I64, device_count: I64 | None = None) -> Versions:
        """Build, sorted by (instant, ordinal)."""
        count = device_count if device_count is not None else np.zeros(ordinal.size, dtype=np.int64)
        order = np.lexsort((ordinal, updated_us))
        return cls(ordinal[order], updated_us[order], status[order], count[order])


@dataclass(frozen=True)
class EntityColumns:
    """The shard's entity records with instants in ``[start, end)``, per entity topic."""

    accounts: Versions
    locations: Versions
    devices: Versions
    users: Versions
    subscriptions: Versions


def _empty() -> Versions:
    nothing = np.zeros(0, dtype=np.int64)
    return Versions(nothing, nothing, nothing, nothing)


@lru_cache(maxsize=16)
def entity_columns(population: Population, shard: Shard, start_us: int, end_us: int) -> EntityColumns:
    """The shard's entity records in ``[start_us, end_us)`` (cached: the interval's ground truth and
    its entity records share them)."""
    if end_us <= start_us:
        return EntityColumns(_empty(), _empty(), _empty(), _empty(), _empty())
    base = population.baseline
    view = population.through(end_us)
    snapshot = base.snapshot_us
    accounts = np.flatnonzero(shard.owns(np.arange(base.accounts, dtype=np.int64))).astype(np.int64)
    churn = view.account_churn_us
    with_snapshot = start_us <= snapshot < end_us
    churned = accounts[(churn[accounts] >= start_us) & (churn[accounts] < end_us)]
    owned = np.zeros(base.accounts, dtype=bool)
    owned[accounts] = True

    # accounts
    parts_a = [(churned, churn[churned], np.ones(churned.size, dtype=np.int64))]
    if with_snapshot:
        parts_a.append((accounts, np.full(accounts.size, snapshot), np.zeros(accounts.size, dtype=np.int64)))
    account_versions = Versions.of(*_concat(parts_a))

    def baseline_of(parents: I64) -> Versions:
        if not with_snapshot:
            return _empty()
        ordinals = np.flatnonzero(owned[parents]).astype(np.int64)
        return Versions.of(
            ordinals, np.full(ordinals.size, snapshot), np.zeros(ordinals.size, dtype=np.int64)
        )

    # subscriptions
    devices_at = view.device_first_us
    parts_s: list[tuple[I64, I64, I64, I64]] = []
    if with_snapshot:
        counts = np.bincount(view.device_account[devices_at <= snapshot], minlength=base.accounts)[accounts]
        parts_s.append(
            (accounts, np.full(accounts.size, snapshot), np.zeros(accounts.size, dtype=np.int64), counts)
        )
    grew = np.flatnonzero(
        owned[view.growth_account] & (view.growth_us >= start_us) & (view.growth_us < end_us)
    )
    parts_s.append((view.growth_account[grew], view.growth_us[grew], np.zeros(grew.size, dtype=np.int64),
                    view.growth_device_count[grew]))  # fmt: skip
    churn_counts = np.array(
        [int(np.sum((view.device_account == a) & (devices_at < churn[a]))) for a in churned.tolist()],
        dtype=np.int64,
    )
    parts_s.append((churned, churn[churned], np.ones(churned.size, dtype=np.int64), churn_counts))
    subscription_versions = Versions.of(*_concat4(parts_s))

    device_versions = _device_versions(population, view, owned, start_us, end_us)
    return EntityColumns(
        accounts=account_versions,
        locations=baseline_of(base.location_account),
        devices=device_versions,
        users=baseline_of(base.user_account),
        subscriptions=subscription_versions,
    )


def _device_versions(
    population: Population, view: TimelineView, owned: npt.NDArray[np.bool_], start_us: int, end_us: int
) -> Versions:
    churn = view.account_churn_us[view.device_account]
    first = view.device_first_us
    mine = owned[view.device_account]
    ordinal_parts: list[I64] = []
    instant_parts: list[I64] = []
    status_parts: list[I64] = []
    # first records (baseline snapshot or installation), with the status of their step
    created = np.flatnonzero(mine & (first >= start_us) & (first < end_us)).astype(np.int64)
    if created.size:
        phase = population.device_phase_us(created)
        step = np.floor_divide(first[created] - phase, population.heartbeat_us)
        chain = population.first_step(view, created, phase)
        ordinal_parts.append(created)
        instant_parts.append(first[created])
        status_parts.append(population.statuses(created, step, chain))
    # decommissioned at churn
    gone = np.flatnonzero(mine & (churn >= start_us) & (churn < end_us) & (first < churn)).astype(np.int64)
    ordinal_parts.append(gone)
    instant_parts.append(churn[gone])
    status_parts.append(np.full(gone.size, DECOMMISSIONED, dtype=np.int64))
    # status changes while the account is active
    live = np.flatnonzero(mine & (first < end_us) & (churn > start_us)).astype(np.int64)
    if live.size:
        span = max(population.heartbeat_us, MAX_GRID_CELLS // live.size * population.heartbeat_us)
        chunk_start = start_us
        while chunk_start < end_us:
            chunk_end = min(end_us, chunk_start + span)
            grid = status_grid(population, view, live, chunk_start, chunk_end)
            instants = grid.instants()[:, 1:]
            changed = grid.statuses[:, 1:] != grid.statuses[:, :-1]
            valid = (
                changed
                & (instants < chunk_end)
                & (instants > first[live][:, None])
                & (instants < churn[live][:, None])
            )
            rows, columns = np.nonzero(valid)
            ordinal_parts.append(live[rows])
            instant_parts.append(instants[rows, columns])
            status_parts.append(grid.statuses[:, 1:][rows, columns])
            chunk_start = chunk_end
    return Versions.of(
        np.concatenate(ordinal_parts),
        np.concatenate(instant_parts),
        np.concatenate(status_parts).astype(np.int64),
    )


def _concat(parts: list[tuple[I64, I64, I64]]) -> tuple[I64, I64, I64]:
    return (
        np.concatenate([p[0] for p in parts]).astype(np.int64),
        np.concatenate([p[1] for p in parts]).astype(np.int64),
        np.concatenate([p[2] for p in parts]).astype(np.int64),
    )


def _concat4(parts: list[tuple[I64, I64, I64, I64]]) -> tuple[I64, I64, I64, I64]:
    a, b, c = _concat([(p[0], p[1], p[2]) for p in parts])
    return a, b, c, np.concatenate([p[3] for p in parts]).astype(np.int64)
