"""TapFlow's own report figures, against the configuration and the business rules.

Entity shares (tiers, device types, roles, regions, account ages) and the health score against the
config; every active subscription's plan and MRR against its device count (must hold exactly);
device uptime during business hours (online heartbeats over the heartbeats active devices owe);
the location operational rate (locations with at least :data:`OPERATIONAL_SHARE` of their active
devices online, at each interval start); churn and growth per billing month; tap-event volumes per
venue type and the peak-hour to off-peak rate ratio in local time.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

import orjson

from producer.generation.clock import parse_instant, to_micros, to_micros_delta
from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.generation.scenarios.sections import Section, share
from producer.generation.scenarios.tapflow import models

BUSINESS_HOURS = (10, 23)
"""Local hours ``[start, end)`` counted as business hours for uptime."""
PEAK_HOURS = ((11, 14), (18, 23))
"""Local lunch and evening peaks."""
OPERATIONAL_SHARE = 0.75
"""A location is operational when at least this share of its active devices is online."""
TOLERANCE_SIGMAS = 4.0


def _within(observed: float, expected: float, n: int) -> bool:
    """Whether a share observed over ``n`` draws is within :data:`TOLERANCE_SIGMAS` of ``expected``."""
    if n == 0:
        return True
    return abs(observed - expected) <= TOLERANCE_SIGMAS * math.sqrt(expected * (1 - expected) / n) + 1e-9


class TapflowReport:
    """Tracks the latest version of every entity and tallies events, interval by interval."""

    def __init__(self, dataset: Dataset) -> None:
        self.config = dataset.config.tapflow
        self.epoch_us = to_micros(dataset.epoch)
        self.month_us = to_micros_delta(self.config.month)
        self.length = self.config.interval
        self.steps_per_interval = self.config.interval / self.config.heartbeat_interval
        offsets = [region.utc_offset_hours for region in self.config.regions.items()]
        self.offset_us: dict[str, int] = {
            name: int(hours * 3_600_000_000) for name, hours in zip(models.REGIONS, offsets, strict=True)
        }
        self.accounts: dict[int, dict[str, object]] = {}
        self.first_accounts: dict[int, dict[str, object]] = {}
        self.locations: dict[int, dict[str, object]] = {}
        self.devices: dict[int, dict[str, object]] = {}
        self.device_types: dict[int, str] = {}
        self.roles: Counter[str] = Counter()
        self.subscriptions: dict[int, dict[str, object]] = {}
        self.churned_by_month: Counter[int] = Counter()
        self.installed_by_month: Counter[int] = Counter()
        self.owed_heartbeats = 0.0
        self.online_heartbeats = 0
        self.operational_samples = 0
        self.operational = 0
        self.pours: dict[str, Counter[str]] = defaultdict(Counter)
        self.pour_hours = 0.0
        self.peak_hours = 0.0

    # -- entities ---------------------------------------------------------------------------------

    def _month(self, updated_at: str) -> int:
        instant = to_micros(_parse(updated_at))
        return (instant - self.epoch_us) // self.month_us

    def add_entities(self, records: Records) -> None:
        name = records.topic.name
        for value in records.values:
            record = orjson.loads(value)
            if name == models.ACCOUNTS_TOPIC:
                key = int(record["account_id"])
                self.first_accounts.setdefault(key, record)
                before = self.accounts.get(key)
                if record["status"] == "churned" and (before is None or before["status"] != "churned"):
                    self.churned_by_month[self._month(record["updated_at"])] += 1
                self.accounts[key] = record
            elif name == models.LOCATIONS_TOPIC:
                self.locations[int(record["location_id"])] = record
            elif name == models.DEVICES_TOPIC:
                key = int(record["device_id"])
                if key not in self.devices and record["installed_at"] == record["updated_at"]:
                    self.installed_by_month[self._month(record["updated_at"])] += 1
                self.devices[key] = record
                self.device_types.setdefault(key, str(record["device_type"]))
            elif name == models.USERS_TOPIC:
                if int(record["version"]) == 1:
                    self.roles[str(record["role"])] += 1
            elif name == models.SUBSCRIPTIONS_TOPIC:
                self.subscriptions[int(record["subscription_id"])] = record

    # -- intervals ------------------------------------------------------------------------------

    def _local_hour(self, instant_us: int, region: str) -> float:
        local = instant_us + self.offset_us[region]
        return (local % 86_400_000_000) / 3_600_000_000

    def add_interval(self, output: IntervalOutput) -> None:
        start_us = to_micros(output.interval_start)
        self._sample_devices(start_us)
        for records in output.events:
            name = records.topic.name
            if name == models.HEARTBEATS_TOPIC:
                for value in records.values:
                    record = orjson.loads(value)
                    region = str(self.locations[int(record["location_id"])]["region"])
                    if record["status"] == "online" and self._business(start_us, region):
                        self.online_heartbeats += 1
            elif name == models.TAP_EVENTS_TOPIC:
                for value in records.values:
                    record = orjson.loads(value)
                    region = str(self.locations[int(record["location_id"])]["region"])
                    hour = int(self._local_hour(to_micros(_parse(record["timestamp"])), region))
                    peak = any(low <= hour < high for low, high in PEAK_HOURS)
                    self.pours[str(record["venue_type"])]["peak" if peak else "off-peak"] += 1
        hours = self.length / timedelta(hours=1)
        local = self._local_hour(start_us, "Northeast")
        in_peak = any(low <= local < high for low, high in PEAK_HOURS)
        self.peak_hours += hours if in_peak else 0.0
        self.pour_hours += hours

    def _business(self, instant_us: int, region: str) -> bool:
        low, high = BUSINESS_HOURS
        return low <= self._local_hour(instant_us, region) < high

    def _sample_devices(self, start_us: int) -> None:
        """Owed heartbeats in business hours, and operational locations, at this interval's start."""
        online: Counter[int] = Counter()
        active: Counter[int] = Counter()
        for device in self.devices.values():
            account = self.accounts.get(int(device["account_id"]))  # type: ignore[call-overload]
            if device["status"] == "decommissioned" or account is None or account["status"] != "active":
                continue
            location = int(device["location_id"])  # type: ignore[call-overload]
            active[location] += 1
            online[location] += device["status"] == "online"
            region = str(self.locations[location]["region"])
            if self._business(start_us, region):
                self.owed_heartbeats += self.steps_per_interval
        for location, count in active.items():
            self.operational_samples += 1
            self.operational += online[location] >= OPERATIONAL_SHARE * count

    # -- sections -------------------------------------------------------------------------------

    def sections(self) -> list[Section]:
        return [self._entities(), self._revenue(), self._operations(), self._volumes()]

    def _shares(
        self, section: Section, label: str, counts: Counter[str], weights: Mapping[str, float]
    ) -> None:
        total = sum(counts.values())
        for name, weight in weights.items():
            observed = share(counts[name], total)
            within = _within(observed, weight, total)
            section.add(f"{label} = {name}", f"{observed:.1%}", f"{weight:.0%}", within)

    def _entities(self) -> Section:
        config = self.config
        section = Section("tapflow: entities")
        tiers = Counter(str(record["tier"]) for record in self.first_accounts.values())
        for tier, expected in zip(models.TIERS, config.accounts.counts(), strict=True):
            section.add(f"accounts, tier {tier}", tiers[tier], f"{expected}", None)
        ages = Counter(str(record["age_band"]) for record in self.first_accounts.values())
        age_weights = {str(band): float(getattr(config.account_ages, band).weight)
                       for band in models.AGE_BANDS}  # fmt: skip
        self._shares(section, "account age", ages, age_weights)
        health = [float(record["health_score"]) for record in self.first_accounts.values()]  # type: ignore[arg-type]
        mean = sum(health) / len(health) if health else 0.0
        bound = TOLERANCE_SIGMAS * config.health_score_std / math.sqrt(max(len(health), 1))
        section.add("health score mean", f"{mean:.3f}", f"{config.health_score_mean:.2f}",
                    abs(mean - config.health_score_mean) <= bound + 0.02)  # fmt: skip
        regions = Counter(str(record["region"]) for record in self.locations.values())
        weights = config.regions.weights()
        region_weights = {str(name): w for name, w in zip(models.REGIONS, weights, strict=True)}
        self._shares(section, "location region", regions, region_weights)
        types = Counter(self.device_types.values())
        type_weights = {str(name): float(getattr(config.device_types, name)) for name in models.DEVICE_TYPES}
        self._shares(section, "device type", types, type_weights)
        role_weights = {str(name): float(getattr(config.user_roles, name)) for name in models.ROLES}
        self._shares(section, "user role", self.roles, role_weights)
        return section

    def _plan_for(self, device_count: int) -> tuple[str, int]:
        chosen = models.PLANS[0], self.config.plans.starter.monthly_price
        for name, plan in zip(models.PLANS, self.config.plans.items(), strict=True):
            if device_count >= plan.min_devices:
                chosen = name, plan.monthly_price
        return chosen

    def _revenue(self) -> Section:
        section = Section("tapflow: subscriptions and revenue")
        active = [record for record in self.subscriptions.values() if record["status"] == "active"]
        wrong = [
            record for record in active
            if (record["plan"], record["mrr"]) != self._plan_for(int(record["device_count"]))  # type: ignore[call-overload]
        ]  # fmt: skip
        devices_by_account: Counter[int] = Counter(
            int(device["account_id"])  # type: ignore[call-overload]
            for device in self.devices.values()
            if device["status"] != "decommissioned"
        )
        miscounted = [
            record for record in active
            if int(record["device_count"]) != devices_by_account[int(record["account_id"])]  # type: ignore[call-overload]
        ]  # fmt: skip
        section.add("active subscriptions", len(active))
        section.add("plan and MRR against device-count pricing (mismatches)", len(wrong), "0", not wrong)
        metric = "device_count against the account's devices (mismatches)"
        section.add(metric, len(miscounted), "0", not miscounted)
        total = sum(int(record["mrr"]) for record in active)  # type: ignore[call-overload]
        section.add("MRR, total (US$)", f"{total:,}")
        section.add("MRR per active account, mean (US$)", f"{share(total, len(active)):,.0f}")
        plans = Counter(str(record["plan"]) for record in active)
        for plan in models.PLANS:
            section.add(f"plan = {plan}", plans[plan])
        low, high = self.config.monthly_churn_rate
        accounts = len(self.first_accounts)
        for month in sorted(set(self.churned_by_month) | set(self.installed_by_month)):
            if month < 0:
                continue
            churned = self.churned_by_month[month]
            expected = f"{low:.0%}–{high:.0%} of {accounts}"
            section.add(f"month {month + 1}: accounts churned", churned, expected)
            section.add(f"month {month + 1}: devices installed", self.installed_by_month[month])
        return section

    def _operations(self) -> Section:
        section = Section("tapflow: operations")
        uptime = share(self.online_heartbeats, int(self.owed_heartbeats))
        section.add("device uptime in business hours (online heartbeats / owed)", f"{uptime:.1%}", "≥ 75%")
        rate = share(self.operational, self.operational_samples)
        metric = f"locations operational (≥ {OPERATIONAL_SHARE:.0%} devices online)"
        section.add(metric, f"{rate:.1%}", "≥ 70%")
        return section

    def _volumes(self) -> Section:
        section = Section("tapflow: tap events by venue type (local time)")
        for venue in models.VENUE_TYPES:
            counts = self.pours[venue]
            total = counts["peak"] + counts["off-peak"]
            section.add(f"{venue}: pours", total)
        peak = sum(counts["peak"] for counts in self.pours.values())
        off = sum(counts["off-peak"] for counts in self.pours.values())
        peak_hours, off_hours = self.peak_hours, self.pour_hours - self.peak_hours
        if peak_hours and off_hours and off:
            ratio = (peak / peak_hours) / (off / off_hours)
            section.add("pours per hour, peak (11–14, 18–23) / off-peak", f"{ratio:.2f}", "> 1", ratio > 1)
        return section


def _parse(text: object) -> datetime:
    return parse_instant(str(text))
