"""The TapFlow scenario behind the :class:`~producer.generation.scenarios.base.Scenario` interface.

Topics (before the configurable prefix), in publishing order: ``tapflow.accounts``,
``tapflow.locations``, ``tapflow.devices``, ``tapflow.users``, ``tapflow.subscriptions`` (compacted,
keyed by the entity id), ``tapflow.tap-events``, ``tapflow.device-heartbeats`` (keyed by device id),
``tapflow.feature-usage`` (keyed by user id) and ``tapflow.interval-truth`` (keyed by batch id).

Account ordinal ``k`` belongs to shard ``k % N``; every record about an account (its locations,
devices, users, subscription and all their events) is produced by that shard. Event values are
serialized as fixed-width byte matrices (:mod:`.rows`); entity records, far fewer, through orjson.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import orjson

from producer.config import SeedstreamConfig
from producer.generation import rows
from producer.generation.clock import from_micros, interval_id, to_micros
from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import (
    IntervalOutput,
    Records,
    ReportAccumulator,
    Scenario,
    TopicSpec,
    ValidationQuery,
)
from producer.generation.scenarios.tapflow import changes, events
from producer.generation.scenarios.tapflow.models import (
    ACCOUNTS_TOPIC,
    AGE_BANDS,
    DEVICE_STATUSES,
    DEVICE_TYPES,
    DEVICES_TOPIC,
    FEATURE_USAGE_TOPIC,
    FEATURES,
    HEARTBEAT_STATUSES,
    HEARTBEATS_TOPIC,
    LOCATIONS_TOPIC,
    PLANS,
    QUALITIES,
    REGIONS,
    ROLES,
    SCHEMA_VERSION,
    SUBSCRIPTIONS_TOPIC,
    TAP_EVENTS_TOPIC,
    TIERS,
    TRUTH_TOPIC,
    USERS_TOPIC,
    VENUE_TYPES,
    Account,
    Device,
    DeviceHeartbeat,
    FeatureUsage,
    Location,
    Subscription,
    TapEvent,
    TapflowIntervalTruth,
    User,
)
from producer.generation.scenarios.tapflow.population import Population, population
from producer.generation.serialization import dumps, timestamp_matrix, timestamp_strings
from producer.generation.shard import Shard


def _entity(name: str, model: type[Any], key: str) -> TopicSpec:
    return TopicSpec(name, "entities", model, key, True, SCHEMA_VERSION, time_field="updated_at")


def _event(name: str, model: type[Any], key: str, id_field: str) -> TopicSpec:
    return TopicSpec(
        name, "events", model, key, False, SCHEMA_VERSION, time_field="timestamp", id_field=id_field
    )


ACCOUNTS = _entity(ACCOUNTS_TOPIC, Account, "account_id")
LOCATIONS = _entity(LOCATIONS_TOPIC, Location, "location_id")
DEVICES = _entity(DEVICES_TOPIC, Device, "device_id")
USERS = _entity(USERS_TOPIC, User, "user_id")
SUBSCRIPTIONS = _entity(SUBSCRIPTIONS_TOPIC, Subscription, "subscription_id")
TAP_EVENTS = _event(TAP_EVENTS_TOPIC, TapEvent, "device_id", "event_id")
HEARTBEATS = _event(HEARTBEATS_TOPIC, DeviceHeartbeat, "device_id", "heartbeat_id")
FEATURE_USAGE = _event(FEATURE_USAGE_TOPIC, FeatureUsage, "user_id", "usage_id")
INTERVAL_TRUTH = TopicSpec(
    TRUTH_TOPIC, "ground_truth", TapflowIntervalTruth, "batch_id", False, SCHEMA_VERSION
)

_VENUE_TEXT = rows.words_table([f'"venue_type":"{name}",' for name in VENUE_TYPES])
_QUALITY_TEXT = rows.words_table([f',"quality":"{name}","timestamp":"' for name in QUALITIES])
_STATUS_TEXT = rows.words_table([f'"status":"{name}","timestamp":"' for name in HEARTBEAT_STATUSES])
_FEATURE_TEXT = rows.words_table([f'"feature":"{name}","timestamp":"' for name in FEATURES])


class _Fragments:
    """Per-device and per-user JSON fragments of one population, built as entities appear."""

    def __init__(self, population: Population) -> None:
        self.population = population
        self.devices = rows.Fragments()
        self.users = rows.Fragments()
        self._lock = threading.Lock()

    def device_text(self, count: int) -> rows.Fragments:
        """Fragments ``"device_id":…,"location_id":…,"account_id":…,`` of devices ``0 … count-1``."""
        with self._lock:
            have = len(self.devices)
            if count > have:
                pop = self.population
                view = pop.through(pop.epoch_us)
                while view.devices < count:
                    view = pop.through(pop.epoch_us + (view.months + 1) * pop.month_us)
                ordinals = np.arange(have, count, dtype=np.int64)
                device_ids = pop.device_ids(ordinals).tolist()
                location_ids = pop.location_ids(view.device_location[ordinals]).tolist()
                account_ids = pop.account_ids(view.device_account[ordinals]).tolist()
                self.devices.extend(
                    [
                        f'"device_id":{d},"location_id":{loc},"account_id":{a},'.encode()
                        for d, loc, a in zip(device_ids, location_ids, account_ids, strict=True)
                    ],
                    [str(d).encode() for d in device_ids],
                )
            return self.devices

    def user_text(self) -> rows.Fragments:
        """Fragments ``"user_id":…,"account_id":…,`` of every user."""
        with self._lock:
            pop = self.population
            count = pop.baseline.user_account.size
            if len(self.users) < count:
                user_ids = pop.user_ids(np.arange(count, dtype=np.int64)).tolist()
                account_ids = pop.account_ids(pop.baseline.user_account).tolist()
                self.users.extend(
                    [
                        f'"user_id":{u},"account_id":{a},'.encode()
                        for u, a in zip(user_ids, account_ids, strict=True)
                    ],
                    [str(u).encode() for u in user_ids],
                )
            return self.users


class TapflowScenario(Scenario):
    """Accounts, their locations, devices, users and subscriptions changing month by month; pours,
    heartbeats and feature usage per interval; ground truth per interval and shard."""

    name: ClassVar[str] = "tapflow"

    def __init__(self) -> None:
        self._fragments: dict[int, _Fragments] = {}
        self._lock = threading.Lock()

    def topics(self) -> tuple[TopicSpec, ...]:
        return (ACCOUNTS, LOCATIONS, DEVICES, USERS, SUBSCRIPTIONS, TAP_EVENTS, HEARTBEATS, FEATURE_USAGE,
                INTERVAL_TRUTH)  # fmt: skip

    def interval_length(self, config: SeedstreamConfig) -> timedelta:
        return config.tapflow.interval

    def validation_queries(self, config: SeedstreamConfig) -> list[ValidationQuery]:
        from producer.generation.scenarios.tapflow.validation import validation_queries

        return validation_queries(config)

    def report_accumulator(self, dataset: Dataset) -> ReportAccumulator:
        from producer.generation.scenarios.tapflow.report import TapflowReport

        return TapflowReport(dataset)

    # -- columnar API --------------------------------------------------------------------------------

    def population(self, dataset: Dataset) -> Population:
        """The dataset's entities and timeline (cached)."""
        return population(dataset.config.tapflow, dataset.seed, dataset.epoch)

    def event_columns(
        self, dataset: Dataset, interval_start: datetime, shard: Shard | None = None
    ) -> events.IntervalColumns:
        """The shard's (default: all) events of one interval as columns."""
        return events.interval_events(self.population(dataset), to_micros(interval_start), shard or Shard())

    def entity_columns(
        self, dataset: Dataset, start: datetime, end: datetime, shard: Shard | None = None
    ) -> changes.EntityColumns:
        """The shard's (default: all) entity records in ``[start, end)`` as columns."""
        return changes.entity_columns(
            self.population(dataset), shard or Shard(), to_micros(start), to_micros(end)
        )

    # -- records -------------------------------------------------------------------------------------

    def entities(self, dataset: Dataset, start: datetime, end: datetime, shard: Shard) -> tuple[Records, ...]:
        pop = self.population(dataset)
        columns = changes.entity_columns(pop, shard, to_micros(start), to_micros(end))
        return (
            _records(ACCOUNTS, columns.accounts, pop.account_ids, lambda v: _accounts(pop, v)),
            _records(LOCATIONS, columns.locations, pop.location_ids, lambda v: _locations(pop, v)),
            _records(DEVICES, columns.devices, pop.device_ids, lambda v: _devices(pop, v)),
            _records(USERS, columns.users, pop.user_ids, lambda v: _users(pop, v)),
            _records(
                SUBSCRIPTIONS, columns.subscriptions, pop.subscription_ids, lambda v: _subscriptions(pop, v)
            ),
        )

    def interval(
        self,
        dataset: Dataset,
        interval_start: datetime,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> IntervalOutput:
        pop = self.population(dataset)
        columns = events.interval_events(pop, to_micros(interval_start), shard)
        batch = interval_id(interval_start, self.interval_length(dataset.config))
        truth = self.ground_truth(dataset, columns, shard, generation_time)
        return IntervalOutput(
            interval_id=batch,
            interval_start=truth.interval_start,
            interval_end=truth.interval_end,
            events=self.serialize_events(dataset, columns),
            ground_truth=Records(
                INTERVAL_TRUTH,
                [batch.encode()],
                [dumps(truth)],
                np.array([columns.interval_end_us], dtype=np.int64),
            ),  # fmt: skip
        )

    def ground_truth(
        self,
        dataset: Dataset,
        columns: events.IntervalColumns,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> TapflowIntervalTruth:
        """The interval's ground-truth record for ``shard`` (counts of exactly ``columns`` and of the
        entity records with instants in the interval)."""
        pop = self.population(dataset)
        changed = changes.entity_columns(pop, shard, columns.interval_start_us, columns.interval_end_us)
        return TapflowIntervalTruth.model_validate(
            {
                "batch_id": _batch_id(columns),
                "interval_start": from_micros(columns.interval_start_us),
                "interval_end": from_micros(columns.interval_end_us),
                **columns.truth_counts(),
                "accounts_changed": len(changed.accounts),
                "locations_changed": len(changed.locations),
                "devices_changed": len(changed.devices),
                "users_changed": len(changed.users),
                "subscriptions_changed": len(changed.subscriptions),
                "active_accounts": columns.active_accounts,
                "seed": dataset.seed,
                "shard": str(shard),
                "generation_time": generation_time or datetime.now(UTC),
            }
        )

    def serialize_events(self, dataset: Dataset, columns: events.IntervalColumns) -> tuple[Records, ...]:
        """Keys and compact JSON values of every event topic, vectorised (equal, byte for byte, to
        ``dumps`` of each :meth:`event_records` item)."""
        pop = self.population(dataset)
        fragments = self._fragments_of(pop)
        tail = f'","batch_id":"{_batch_id(columns)}"}}'.encode()
        pours, beats, usage = columns.pours, columns.heartbeats, columns.usage
        count = int(max(pours.entity.max(initial=-1), beats.entity.max(initial=-1))) + 1
        devices = fragments.device_text(count)
        users = fragments.user_text()
        pour_values = rows.build(
            [b'{"event_id":', rows.integers(pours.ids), b",", devices.text.take(pours.entity),
             _VENUE_TEXT.take(pours.category), b'"volume_ml":', rows.integers(pours.extra[0]),
             b',"temperature_c":', rows.tenths(pours.extra[1]), _QUALITY_TEXT.take(pours.extra[2]),
             timestamp_matrix(pours.timestamp_us), tail],
            len(pours),
        )  # fmt: skip
        beat_values = rows.build(
            [b'{"heartbeat_id":', rows.integers(beats.ids), b",", devices.text.take(beats.entity),
             _DEVICE_TYPE_TEXT.take(beats.extra[0]), _STATUS_TEXT.take(beats.category),
             timestamp_matrix(beats.timestamp_us), tail],
            len(beats),
        )  # fmt: skip
        usage_values = rows.build(
            [b'{"usage_id":', rows.integers(usage.ids), b",", users.text.take(usage.entity),
             _FEATURE_TEXT.take(usage.category), timestamp_matrix(usage.timestamp_us), tail],
            len(usage),
        )  # fmt: skip
        return (
            Records(TAP_EVENTS, devices.keys[pours.entity].tolist(), pour_values, pours.timestamp_us),
            Records(HEARTBEATS, devices.keys[beats.entity].tolist(), beat_values, beats.timestamp_us),
            Records(FEATURE_USAGE, users.keys[usage.entity].tolist(), usage_values, usage.timestamp_us),
        )

    def event_records(
        self, dataset: Dataset, columns: events.IntervalColumns
    ) -> tuple[list[TapEvent], list[DeviceHeartbeat], list[FeatureUsage]]:
        """``columns`` as validated models (slow; for tests and small intervals)."""
        pop = self.population(dataset)
        view = pop.through(columns.interval_end_us)
        batch = _batch_id(columns)
        pours, beats, usage = columns.pours, columns.heartbeats, columns.usage
        tap_events = [
            TapEvent(
                event_id=int(pours.ids[i]),
                device_id=int(pop.device_ids(pours.entity[i : i + 1])[0]),
                location_id=int(pop.location_ids(view.device_location[pours.entity[i : i + 1]])[0]),
                account_id=int(pop.account_ids(view.device_account[pours.entity[i : i + 1]])[0]),
                venue_type=VENUE_TYPES[int(pours.category[i])],
                volume_ml=int(pours.extra[0][i]),
                temperature_c=int(pours.extra[1][i]) / 10,
                quality=QUALITIES[int(pours.extra[2][i])],
                timestamp=from_micros(int(pours.timestamp_us[i])),
                batch_id=batch,
            )
            for i in range(len(pours))
        ]
        heartbeats = [
            DeviceHeartbeat(
                heartbeat_id=int(beats.ids[i]),
                device_id=int(pop.device_ids(beats.entity[i : i + 1])[0]),
                location_id=int(pop.location_ids(view.device_location[beats.entity[i : i + 1]])[0]),
                account_id=int(pop.account_ids(view.device_account[beats.entity[i : i + 1]])[0]),
                device_type=DEVICE_TYPES[int(beats.extra[0][i])],
                status=HEARTBEAT_STATUSES[int(beats.category[i])],
                timestamp=from_micros(int(beats.timestamp_us[i])),
                batch_id=batch,
            )
            for i in range(len(beats))
        ]
        usages = [
            FeatureUsage(
                usage_id=int(usage.ids[i]),
                user_id=int(pop.user_ids(usage.entity[i : i + 1])[0]),
                account_id=int(pop.account_ids(pop.baseline.user_account[usage.entity[i : i + 1]])[0]),
                feature=FEATURES[int(usage.category[i])],
                timestamp=from_micros(int(usage.timestamp_us[i])),
                batch_id=batch,
            )
            for i in range(len(usage))
        ]
        return tap_events, heartbeats, usages

    def _fragments_of(self, pop: Population) -> _Fragments:
        with self._lock:
            key = id(pop)
            found = self._fragments.get(key)
            if found is None or found.population is not pop:
                if len(self._fragments) >= 8:
                    self._fragments.pop(next(iter(self._fragments)))
                found = self._fragments[key] = _Fragments(pop)
            return found


_DEVICE_TYPE_TEXT = rows.words_table([f'"device_type":"{name}",' for name in DEVICE_TYPES])


def _records(spec: TopicSpec, versions: changes.Versions, ids: Any, values: Any) -> Records:
    keys = [str(key).encode() for key in ids(versions.ordinal).tolist()]
    return Records(spec, keys, values(versions), versions.updated_us)


def _version(updated_us: np.ndarray, first_us: np.ndarray | int) -> list[int]:
    result: list[int] = (1 + (updated_us - first_us)).tolist()
    return result


def _dump_all(items: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(item) for item in items]


def _accounts(pop: Population, v: changes.Versions) -> list[bytes]:
    base = pop.baseline
    o = v.ordinal
    return _dump_all(
        [
            {"account_id": i, "name": base.account_names[k], "tier": TIERS[t], "age_band": AGE_BANDS[b],
             "health_score": h, "status": ("active", "churned")[s], "created_at": c, "updated_at": u,
             "version": ver}
            for i, k, t, b, h, s, c, u, ver in zip(
                pop.account_ids(o).tolist(), o.tolist(), base.account_tier[o].tolist(),
                base.account_age_band[o].tolist(), base.account_health[o].tolist(), v.status.tolist(),
                timestamp_strings(base.account_created_us[o]), timestamp_strings(v.updated_us),
                _version(v.updated_us, base.snapshot_us), strict=True,
            )
        ]
    )  # fmt: skip


def _locations(pop: Population, v: changes.Versions) -> list[bytes]:
    base = pop.baseline
    o = v.ordinal
    items = []
    for i, k, a, c, u in zip(
        pop.location_ids(o).tolist(), o.tolist(), pop.account_ids(base.location_account[o]).tolist(),
        timestamp_strings(base.location_created_us[o]), timestamp_strings(v.updated_us), strict=True,
    ):  # fmt: skip
        place = base.places[k]
        items.append(
            {"location_id": i, "account_id": a, "name": base.location_names[k],
             "venue_type": VENUE_TYPES[int(base.location_venue[k])],
             "region": REGIONS[int(base.location_region[k])],
             "city": place.city, "state": place.state, "zip_code": place.zip_code, "latitude": place.latitude,
             "longitude": place.longitude, "street_address": place.street_address, "created_at": c,
             "updated_at": u, "version": 1}
        )  # fmt: skip
    return _dump_all(items)


def _devices(pop: Population, v: changes.Versions) -> list[bytes]:
    view = pop.through(int(v.updated_us.max(initial=pop.epoch_us)) + 1)
    o = v.ordinal
    return _dump_all(
        [
            {"device_id": i, "location_id": loc, "account_id": a, "device_type": DEVICE_TYPES[t],
             "status": DEVICE_STATUSES[s], "installed_at": inst, "updated_at": u, "version": ver}
            for i, loc, a, t, s, inst, u, ver in zip(
                pop.device_ids(o).tolist(), pop.location_ids(view.device_location[o]).tolist(),
                pop.account_ids(view.device_account[o]).tolist(), view.device_type[o].tolist(),
                v.status.tolist(),
                timestamp_strings(view.device_installed_us[o]), timestamp_strings(v.updated_us),
                _version(v.updated_us, view.device_first_us[o]), strict=True,
            )
        ]
    )  # fmt: skip


def _users(pop: Population, v: changes.Versions) -> list[bytes]:
    base = pop.baseline
    o = v.ordinal
    return _dump_all(
        [
            {"user_id": i, "account_id": a, "name": base.user_names[k], "role": ROLES[r], "created_at": c,
             "updated_at": u, "version": 1}
            for i, k, a, r, c, u in zip(
                pop.user_ids(o).tolist(), o.tolist(), pop.account_ids(base.user_account[o]).tolist(),
                base.user_role[o].tolist(), timestamp_strings(base.user_created_us[o]),
                timestamp_strings(v.updated_us), strict=True,
            )
        ]
    )  # fmt: skip


def _subscriptions(pop: Population, v: changes.Versions) -> list[bytes]:
    base = pop.baseline
    o = v.ordinal
    plan = pop.plan_of(v.device_count)
    return _dump_all(
        [
            {"subscription_id": i, "account_id": a, "plan": PLANS[p], "device_count": n,
             "mrr": int(pop.plan_prices[p]), "status": ("active", "cancelled")[s], "started_at": c,
             "updated_at": u, "version": ver}
            for i, a, p, n, s, c, u, ver in zip(
                pop.subscription_ids(o).tolist(), pop.account_ids(o).tolist(), plan.tolist(),
                v.device_count.tolist(), v.status.tolist(), timestamp_strings(base.account_created_us[o]),
                timestamp_strings(v.updated_us), _version(v.updated_us, base.snapshot_us), strict=True,
            )
        ]
    )  # fmt: skip


def _batch_id(columns: events.IntervalColumns) -> str:
    """The batch id of the interval ``columns`` belong to."""
    length = timedelta(microseconds=columns.interval_end_us - columns.interval_start_us)
    return interval_id(from_micros(columns.interval_start_us), length)
