"""TapFlow generation: determinism, sharding, distributions, integrity, status, churn, MRR, peaks, schemas."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from producer.config import load_config
from producer.errors import BadInputError
from producer.generation.blocks.markov import MarkovStates
from producer.generation.clock import to_micros
from producer.generation.dataset import Dataset
from producer.generation.scenarios.registry import get_scenario
from producer.generation.scenarios.tapflow import changes, events
from producer.generation.scenarios.tapflow import population as population_module
from producer.generation.scenarios.tapflow.models import (
    DeviceHeartbeat,
    FeatureUsage,
    TapEvent,
)
from producer.generation.scenarios.tapflow.population import OFFLINE, ONLINE, Population
from producer.generation.scenarios.tapflow.scenario import TapflowScenario
from producer.generation.serialization import dumps
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
TAPFLOW = get_scenario("tapflow")
assert isinstance(TAPFLOW, TapflowScenario)
QUARTER = timedelta(minutes=15)
MONDAY = datetime(2025, 12, 1, tzinfo=UTC)  # a Monday and the first day of a month
ENTITY_TOPICS = ("accounts", "locations", "devices", "users", "subscriptions")
EVENT_TOPICS = ("tap-events", "device-heartbeats", "feature-usage")


def churny(**overrides: Any) -> Dataset:
    """tapflow.small with a lot of churn and growth (1-day months) so changes show within a day or two."""
    return make_dataset(
        "tapflow.small",
        epoch=MONDAY,
        tapflow__monthly_churn_rate=(0.25, 0.3),
        tapflow__monthly_growth_rate=(0.3, 0.5),
        **overrides,
    )


def collect(
    dataset: Dataset, intervals: int, shard: Shard | None = None, scenario: TapflowScenario = TAPFLOW
) -> dict[str, list[bytes]]:
    """topic → every value generated for the baseline and ``intervals`` intervals (generate's order)."""
    shard = shard or Shard()
    out: dict[str, list[bytes]] = defaultdict(list)
    epoch = dataset.epoch
    for records in scenario.entities(dataset, epoch - QUARTER, epoch, shard):
        out[records.topic.name].extend(records.values)
    for k in range(intervals):
        start = epoch + k * QUARTER
        for records in scenario.entities(dataset, start, start + QUARTER, shard):
            out[records.topic.name].extend(records.values)
        output = scenario.interval(dataset, start, shard, generation_time=start + QUARTER)
        for records in (*output.events, output.ground_truth):
            out[records.topic.name].extend(records.values)
    return out


def parsed(values: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(value) for value in values]


@pytest.fixture(scope="module")
def churn_run() -> tuple[Dataset, dict[str, list[bytes]]]:
    dataset = churny()
    return dataset, collect(dataset, 192)  # two days of 15-minute intervals


# -- determinism and sharding -------------------------------------------------------------------------


def test_two_runs_from_scratch_are_identical(churn_run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    dataset, first = churn_run
    population_module._populations.clear()
    changes.entity_columns.cache_clear()
    second = collect(dataset, 192, scenario=TapflowScenario())
    assert second == first
    assert all(first[f"tapflow.{topic}"] for topic in (*ENTITY_TOPICS, *EVENT_TOPICS))


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_shards_union_equals_the_whole_and_truth_adds_up(
    shards: int, churn_run: tuple[Dataset, dict[str, list[bytes]]]
) -> None:
    dataset, whole = churn_run
    parts = [collect(dataset, 192, Shard(index, shards)) for index in range(shards)]
    for topic in whole:
        if topic == "tapflow.interval-truth":
            continue
        union = Counter(value for part in parts for value in part[topic])
        assert union == Counter(whole[topic]), topic
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for part in parts:
        for truth in parsed(part["tapflow.interval-truth"]):
            sums[truth["batch_id"]] += _counts(truth)
    truths = parsed(whole["tapflow.interval-truth"])
    assert {truth["batch_id"]: +_counts(truth) for truth in truths} == {k: +v for k, v in sums.items()}


def _counts(truth: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, value in truth.items():
        if isinstance(value, int) and field != "seed":
            counts[field] += value
        elif isinstance(value, dict):
            counts.update({f"{field}.{name}": count for name, count in value.items()})
    return counts


def test_truth_counts_match_the_records(churn_run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = churn_run
    by_batch: dict[str, Counter[str]] = defaultdict(Counter)
    for topic, category in (
        ("tap-events", "venue_type"),
        ("device-heartbeats", "status"),
        ("feature-usage", "feature"),
    ):
        for record in parsed(out[f"tapflow.{topic}"]):
            by_batch[record["batch_id"]][topic] += 1
            by_batch[record["batch_id"]][f"{topic}:{record[category]}"] += 1
    truths = parsed(out["tapflow.interval-truth"])
    assert len(truths) == 192
    for truth in truths:
        counted = by_batch[truth["batch_id"]]
        assert truth["tap_events"] == counted["tap-events"]
        assert truth["heartbeats"] == counted["device-heartbeats"]
        assert truth["feature_usage"] == counted["feature-usage"]
        assert all(counted[f"tap-events:{k}"] == v for k, v in truth["tap_events_by_venue_type"].items())
        assert all(counted[f"device-heartbeats:{k}"] == v for k, v in truth["heartbeats_by_status"].items())
        assert all(counted[f"feature-usage:{k}"] == v for k, v in truth["feature_usage_by_feature"].items())
    changed = sum(t["accounts_changed"] + t["subscriptions_changed"] for t in truths)
    assert changed > 0  # churn and growth happened
    assert sum(t["devices_changed"] for t in truths) > 0


# -- integrity and temporal order -----------------------------------------------------------------------


def _versions(out: dict[str, list[bytes]], topic: str, key: str) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in parsed(out[f"tapflow.{topic}"]):
        found[record[key]].append(record)
    return found


def test_references_exist_and_precede_their_events(churn_run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = churn_run
    accounts = _versions(out, "accounts", "account_id")
    locations = _versions(out, "locations", "location_id")
    devices = _versions(out, "devices", "device_id")
    users = _versions(out, "users", "user_id")
    subscriptions = _versions(out, "subscriptions", "subscription_id")
    # no child before its parent; versions increase with updated_at
    for versions in (accounts, locations, devices, users, subscriptions):
        for history in versions.values():
            assert [v["version"] for v in history] == sorted({v["version"] for v in history})
            assert [v["updated_at"] for v in history] == sorted(v["updated_at"] for v in history)
    for location in (h[0] for h in locations.values()):
        assert location["created_at"] > accounts[location["account_id"]][0]["created_at"]
    for device in (h[0] for h in devices.values()):
        location = locations[device["location_id"]][0]
        assert (
            device["installed_at"] > location["created_at"] and device["account_id"] == location["account_id"]
        )
    for user in (h[0] for h in users.values()):
        assert user["created_at"] > accounts[user["account_id"]][0]["created_at"]
    for subscription in (h[0] for h in subscriptions.values()):
        assert subscription["account_id"] in accounts

    def interval_start(record: dict[str, Any]) -> str:
        start = datetime.strptime(record["batch_id"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        return start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def valid_before(history: list[dict[str, Any]], instant: str) -> dict[str, Any] | None:
        earlier = [v for v in history if v["updated_at"] < instant]
        return earlier[-1] if earlier else None

    checked = 0
    for topic in EVENT_TOPICS:
        for record in parsed(out[f"tapflow.{topic}"])[::7]:
            start = interval_start(record)
            assert start <= record["timestamp"]
            account = valid_before(accounts[record["account_id"]], start)
            assert account is not None and account["status"] == "active"
            churned = [v for v in accounts[record["account_id"]] if v["status"] == "churned"]
            assert not churned or record["timestamp"] < churned[0]["updated_at"]
            if "device_id" in record:
                device = valid_before(devices[record["device_id"]], start)
                assert device is not None and device["account_id"] == record["account_id"]
                assert device["location_id"] == record["location_id"]
                assert valid_before(locations[record["location_id"]], start) is not None
            else:
                user = valid_before(users[record["user_id"]], start)
                assert user is not None and user["account_id"] == record["account_id"]
            checked += 1
    assert checked > 1000


def test_churned_accounts_and_their_devices_fall_silent(
    churn_run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    _, out = churn_run
    churned = {
        a["account_id"]: a["updated_at"] for a in parsed(out["tapflow.accounts"]) if a["status"] == "churned"
    }
    assert churned
    decommissioned = [d for d in parsed(out["tapflow.devices"]) if d["status"] == "decommissioned"]
    assert {d["account_id"] for d in decommissioned} == set(churned)
    assert all(d["updated_at"] == churned[d["account_id"]] for d in decommissioned)
    for topic in EVENT_TOPICS:
        for record in parsed(out[f"tapflow.{topic}"]):
            assert record["timestamp"] < churned.get(record["account_id"], "9999")
    cancelled = [s for s in parsed(out["tapflow.subscriptions"]) if s["status"] == "cancelled"]
    assert {s["account_id"] for s in cancelled} == set(churned)


def test_subscription_plan_and_mrr_follow_the_device_count(
    churn_run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    dataset, out = churn_run
    plans = dataset.config.tapflow.plans
    thresholds = [(name, plan.min_devices, plan.monthly_price) for name, plan in plans]
    devices = parsed(out["tapflow.devices"])
    first_record = {d["device_id"]: d for d in devices if d["version"] == 1}
    grew = 0
    for subscription in parsed(out["tapflow.subscriptions"]):
        name, _, price = [t for t in thresholds if t[1] <= subscription["device_count"]][-1]
        assert subscription["plan"] == name and subscription["mrr"] == price
        installed = [
            d for d in first_record.values()
            if d["account_id"] == subscription["account_id"] and d["updated_at"] <= subscription["updated_at"]
        ]  # fmt: skip
        assert subscription["device_count"] == len(installed)
        grew += subscription["version"] > 1 and subscription["status"] == "active"
    assert grew > 0


# -- device status and heartbeats -------------------------------------------------------------------------


def test_heartbeats_every_five_minutes_and_offline_devices_send_none(
    churn_run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    dataset, out = churn_run
    beats: dict[int, list[datetime]] = defaultdict(list)
    for beat in parsed(out["tapflow.device-heartbeats"]):
        beats[beat["device_id"]].append(datetime.fromisoformat(beat["timestamp"]))
    pop = TAPFLOW.population(dataset)
    gaps: Counter[timedelta] = Counter()
    for device_id, times in beats.items():
        steps = np.diff(np.array([to_micros(t) for t in times]))
        assert np.all(steps % 300_000_000 == 0), device_id  # on the device's 5-minute grid
        gaps.update(timedelta(microseconds=int(s)) for s in steps)
    assert gaps.most_common(1)[0][0] == timedelta(minutes=5)
    # every (device, step) of one interval: a heartbeat exactly when not offline
    start = dataset.epoch + 40 * QUARTER
    view = pop.through(to_micros(start + QUARTER))
    columns = TAPFLOW.event_columns(dataset, start)
    alive = np.flatnonzero(view.device_first_us < to_micros(start))
    alive = alive[view.account_churn_us[view.device_account[alive]] > to_micros(start + QUARTER)]
    grid = events.status_grid(pop, view, alive.astype(np.int64), to_micros(start), to_micros(start + QUARTER))
    expected = {
        (int(d), int(t))
        for d, t, s in zip(
            np.repeat(grid.ordinals, 3),
            grid.instants()[:, 1:].ravel(),
            grid.statuses[:, 1:].ravel(),
            strict=True,
        )
        if s != OFFLINE
    }
    got = set(zip(columns.heartbeats.entity.tolist(), columns.heartbeats.timestamp_us.tolist(), strict=True))
    assert got == expected and expected


def test_device_status_shares_match_the_weights() -> None:
    pop = TAPFLOW.population(make_dataset("tapflow"))
    devices = np.arange(pop.baseline.device_location.size, dtype=np.int64)
    steps = 5_900_000 + 97 * np.arange(20, dtype=np.int64)  # far apart: nearly independent samples
    statuses = pop.statuses(devices[:, None], steps[None, :], np.zeros((devices.size, 1), dtype=np.int64))
    shares = np.bincount(statuses.ravel(), minlength=3) / statuses.size
    assert shares == pytest.approx([0.85, 0.10, 0.05], abs=0.006)  # ~700,000 samples


@pytest.mark.parametrize("scan_limit", [3, 256])
def test_consecutive_states_equal_the_stepwise_states(scan_limit: int) -> None:
    chain = MarkovStates(7, 11, (0.85, 0.10, 0.05), 0.9, scan_limit=scan_limit)
    ordinals = np.arange(4000, dtype=np.int64)
    start = 1000 + ordinals % 13
    first = np.where(ordinals % 3 == 0, 0, 990 + ordinals % 20)  # some chains start inside the window
    block = chain.at_consecutive(ordinals, start, 6, first)
    steps = start[:, None] + np.arange(6)[None, :]
    assert np.array_equal(block, chain.at(ordinals[:, None], steps, first[:, None]))


def test_pours_only_from_online_tap_controllers() -> None:
    dataset = make_dataset("tapflow.small", epoch=MONDAY)
    pop = TAPFLOW.population(dataset)
    for k in (70, 80, 90):
        start = dataset.epoch + k * QUARTER
        columns = TAPFLOW.event_columns(dataset, start)
        pours = columns.pours
        view = pop.through(to_micros(start + QUARTER))
        assert np.all(view.device_type[pours.entity] == 0)
        phase = pop.device_phase_us(pours.entity)
        step = (pours.timestamp_us - phase) // pop.heartbeat_us
        chain = pop.first_step(view, pours.entity, phase)
        assert np.all(pop.statuses(pours.entity, step, chain) == ONLINE)


# -- distributions ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big() -> Population:
    dataset = make_dataset("tapflow")
    return TAPFLOW.population(dataset)


def test_baseline_counts_ranges_and_weights(big: Population) -> None:
    config = big.config
    base = big.baseline
    assert np.bincount(base.account_tier, minlength=4).tolist() == [105, 30, 12, 3]
    for parents, children, ranges in (
        (base.account_tier, base.location_account, config.locations_per_account.ranges()),
        (base.account_tier, base.user_account, config.users_per_account.ranges()),
        (
            base.account_tier[base.location_account],
            base.device_location,
            config.devices_per_location.ranges(),
        ),
    ):
        counts = np.bincount(children, minlength=parents.size)
        low = np.array([r[0] for r in ranges])[parents]
        high = np.array([r[1] for r in ranges])[parents]
        assert np.all((counts >= low) & (counts <= high))
    # ~35,000 devices, ~2,200 users, ~1,000 locations
    assert np.bincount(base.device_type) / base.device_type.size == pytest.approx([0.6, 0.3, 0.1], abs=0.01)
    assert np.bincount(base.user_role) / base.user_role.size == pytest.approx([0.1, 0.3, 0.6], abs=0.03)
    assert np.bincount(base.location_region) / base.location_region.size == pytest.approx(
        [0.40, 0.25, 0.20, 0.15], abs=0.04
    )


def test_account_ages_and_health_scores_on_a_large_sample() -> None:
    dataset = make_dataset(
        "tapflow.small",
        tapflow__accounts={"small": 3000, "medium": 0, "large": 0, "enterprise": 0},
        tapflow__locations_per_account={
            "small": [1, 1],
            "medium": [1, 1],
            "large": [1, 1],
            "enterprise": [1, 1],
        },
        tapflow__users_per_account={"small": [1, 1], "medium": [1, 1], "large": [1, 1], "enterprise": [1, 1]},
        tapflow__account_ids=[1, 3000],
        tapflow__subscription_ids=[1, 3000],
        tapflow__location_ids=[1, 3000],
        tapflow__device_ids=[1, 100_000],
    )
    base = TAPFLOW.population(dataset).baseline
    assert np.bincount(base.account_age_band) / 3000 == pytest.approx([0.2, 0.3, 0.3, 0.2], abs=0.03)
    age_days = (to_micros(dataset.epoch) - base.account_created_us) / 86_400e6
    bands = [(730, 1461), (365, 730), (182, 365), (1, 182)]
    for band, (low, high) in enumerate(bands):
        ages = age_days[base.account_age_band == band]
        assert ages.min() >= low - 1e-6 and ages.max() < high
    assert base.account_health.mean() == pytest.approx(0.75, abs=0.01)
    assert base.account_health.min() >= 0 and base.account_health.max() <= 1


def test_monthly_churn_and_growth_rates(big: Population) -> None:
    view = big.through(big.epoch_us + 12 * big.month_us)  # the device id range still has room
    active = np.ones(big.baseline.accounts, dtype=bool)
    churned = exposed = 0
    grown = before = 0
    grows = np.array([b.grows for b in big.config.account_ages.items()])[big.baseline.account_age_band]
    for month in range(12):
        start, end = big.epoch_us + month * big.month_us, big.epoch_us + (month + 1) * big.month_us
        exposed += int(active.sum())
        gone = (view.account_churn_us >= start) & (view.account_churn_us < end)
        churned += int(gone.sum())
        devices_then = np.bincount(view.device_account[view.device_first_us < start], minlength=active.size)
        new = np.bincount(
            view.device_account[(view.device_first_us >= start) & (view.device_first_us < end)],
            minlength=active.size,
        )
        growing = active & ~gone & grows
        grown += int(new[growing].sum())
        before += int(devices_then[growing].sum())
        assert not np.any(new[~growing])  # only growing, surviving accounts install devices
        active &= ~gone
    assert churned / exposed == pytest.approx(0.025, abs=0.011)  # ~1,700 account-months
    assert grown / before == pytest.approx(0.075, abs=0.01)


def test_diurnal_peaks_pour_volume_and_temperature(big: Population) -> None:
    dataset = make_dataset("tapflow", epoch=MONDAY)
    peak = TAPFLOW.event_columns(dataset, MONDAY + timedelta(hours=24, minutes=30))  # 19:30 US Eastern
    quiet = TAPFLOW.event_columns(dataset, MONDAY + timedelta(hours=9))  # 04:00 US Eastern
    assert len(peak.pours) / len(quiet.pours) > 2.5  # the curve's evening/base ratio is 3.2/0.6
    volume, tenths, anomalous = peak.pours.extra
    assert volume.min() >= 20 and volume.max() <= 200 and volume.mean() == pytest.approx(110, abs=3)
    normal = tenths[anomalous == 0]
    assert normal.min() >= 20 and normal.max() <= 60
    assert tenths[anomalous == 1].min() >= 65
    assert anomalous.mean() == pytest.approx(0.035, abs=0.008)  # 2–5 % per location, ~25,000 pours


def test_feature_usage_on_a_weekday_that_starts_a_month() -> None:
    dataset = make_dataset(
        "tapflow.small",
        epoch=MONDAY,
        tapflow__monthly_churn_rate=(0.0, 0.0),
        tapflow__users_per_account={
            "small": [40, 60],
            "medium": [40, 60],
            "large": [40, 60],
            "enterprise": [40, 60],
        },
    )
    pop = TAPFLOW.population(dataset)
    base = pop.baseline
    features: Counter[str] = Counter()
    per_user: Counter[tuple[int, int]] = Counter()
    api_per_account: Counter[int] = Counter()
    for k in range(104):  # 26 hours: every report time (9:00–17:00 local in US zones) of the Monday
        columns = TAPFLOW.event_columns(dataset, MONDAY + k * QUARTER)
        for user, feature in zip(columns.usage.entity.tolist(), columns.usage.category.tolist(), strict=True):
            features[("dashboard_view", "weekly_report", "monthly_report", "api_call")[feature]] += 1
            per_user[(user, feature)] += 1
            if feature == 3:
                api_per_account[int(base.user_account[user])] += 1
    users = base.user_account.size
    offsets = [r.utc_offset_hours for r in pop.config.regions.items()]
    expected_views = sum(
        base.user_dashboard_rate[u]
        / 24.0
        * events.office_curve(offsets[base.account_region[base.user_account[u]]]).integral(
            to_micros(MONDAY), to_micros(MONDAY + timedelta(hours=26))
        )
        for u in range(users)
    )
    assert features["dashboard_view"] == pytest.approx(expected_views, rel=0.05)
    admins_and_managers = int(np.isin(base.user_role, [0, 1]).sum())
    assert features["weekly_report"] == admins_and_managers
    assert features["monthly_report"] == int((base.user_role == 0).sum())
    devices = np.bincount(base.location_account[base.device_location], minlength=base.accounts)
    for account, calls in api_per_account.items():
        mean = 2.0 * devices[account] * 26 / 24
        assert calls == pytest.approx(mean, abs=4 * np.sqrt(mean) + 1)


# -- serialization and schemas -------------------------------------------------------------------------------


def _validator(topic: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{topic}.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_values_validate_against_the_committed_schemas(
    churn_run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    _, out = churn_run
    for topic, values in out.items():
        validator = _validator(topic)
        for value in values[:: max(1, len(values) // 300)]:
            validator.validate(json.loads(value))
    broken = json.loads(out["tapflow.tap-events"][0])
    broken["quality"] = "sour"
    with pytest.raises(jsonschema.ValidationError):
        _validator("tapflow.tap-events").validate(broken)


def test_vectorised_values_equal_the_models_dumped(churn_run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    dataset, out = churn_run
    start = dataset.epoch + 60 * QUARTER  # 10:00 US Eastern on a Monday
    columns = TAPFLOW.event_columns(dataset, start)
    records = TAPFLOW.serialize_events(dataset, columns)
    models = TAPFLOW.event_records(dataset, columns)
    for serialized, typed in zip(records, models, strict=True):
        assert serialized.values == [dumps(model) for model in typed]
        assert serialized.values
    assert isinstance(models[0][0], TapEvent) and isinstance(models[1][0], DeviceHeartbeat)
    assert isinstance(models[2][0], FeatureUsage)
    for spec in TAPFLOW.topics()[:5]:
        for value in out[spec.name][:200]:
            assert dumps(spec.model.model_validate_json(value)) == value


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        (
            {"tapflow.locations_per_account.small": [5, 2]},
            "tapflow.locations_per_account.small",
            "min <= max",
        ),
        ({"tapflow.device_types.sensor": 0.5}, "tapflow.device_types", "must sum to 1"),
        ({"tapflow.device_ids": [1, 500]}, "tapflow.device_ids", "holds 500 ids"),
        ({"tapflow.accounts.huge": 3}, "tapflow.accounts.huge", "unknown setting"),
        ({"tapflow.weekly_report_roles": ["owner"]}, "tapflow.weekly_report_roles.0", "'admin', 'manager'"),
        (
            {"tapflow.plans.business": {"min_devices": 5, "monthly_price": 2999}},
            "tapflow.plans",
            "increase strictly",
        ),
    ],
)
def test_inconsistent_numbers_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        load_config("tapflow", overrides)
    lines = str(refused.value).splitlines()
    assert any(field in line and rule in line for line in lines), lines


def test_every_problem_gets_its_own_line() -> None:
    with pytest.raises(BadInputError) as refused:
        load_config(
            "tapflow",
            {
                "tapflow.users_per_account.large": [9, 1],
                "tapflow.user_roles.admin": 0.2,
                "tapflow.location_ids": [0, 5],
            },
        )
    lines = str(refused.value).splitlines()
    assert len(lines) == 3
    assert "tapflow.users_per_account.large = [9, 1]" in lines[0] or any("[9, 1]" in line for line in lines)


def test_presets_load() -> None:
    for preset in ("tapflow", "tapflow.small", "tapflow.emulated"):
        config = load_config(preset)
        assert config.scenario == "tapflow"
    assert load_config("tapflow").seed == 42
