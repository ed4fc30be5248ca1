"""The ``tapflow`` section of the configuration: entity counts and ranges, weights, prices, rates, cadences.

Every number of the scenario is a setting here, with the scenario's default. Validators refuse
inconsistent numbers before anything is generated, one problem per field: a range whose min
exceeds its max, weights that do not sum to 1, plan thresholds out of order, an id range that
cannot hold the baseline entities the tiers can yield at their maximums (so no seed overflows it).

The reserved id ranges default to 1–150 accounts, 1–1500 locations, 1–100,000 devices, 1–6000
users and 1–200 subscriptions. Locations and devices are wider than 1–1000 and 1–30,000 because
those cannot hold what the default tier ranges yield (up to 1,410 locations; about 31,000 devices
on average, up to 68,100) plus the devices growing accounts install later; devices stop being
installed once their range is used up. Names of tiers, roles, venue types,
regions and plans are fields, so an undeclared name is an unknown setting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from producer.generation.clock import Duration, check_interval_length, format_duration, to_micros_delta

Tier = Literal["small", "medium", "large", "enterprise"]
TIERS: tuple[Tier, ...] = ("small", "medium", "large", "enterprise")

WEIGHT_TOLERANCE = 1e-9


def _check_range(value: tuple[float, float], low_bound: float = 0.0) -> tuple[float, float]:
    low, high = value
    if low < low_bound or high < low:
        raise ValueError(f"[{low}, {high}] needs min <= max and min >= {low_bound:g}")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Weights(_Section):
    """Named shares that must sum to 1."""

    @model_validator(mode="after")
    def _sum_to_one(self) -> _Weights:
        values = self.weights()
        if any(value < 0 for value in values):
            raise ValueError(f"weights {self._shown()} must be >= 0")
        total = sum(values)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"weights {self._shown()} sum to {total:.6g}; they must sum to 1")
        return self

    def weights(self) -> tuple[float, ...]:
        """The shares in field order."""
        return tuple(float(getattr(self, name)) for name in type(self).model_fields)

    def _shown(self) -> str:
        return "{" + ", ".join(f"{name}: {getattr(self, name)}" for name in type(self).model_fields) + "}"


class TierCounts(_Section):
    """Accounts per tier."""

    small: int = Field(105, ge=0)
    medium: int = Field(30, ge=0)
    large: int = Field(12, ge=0)
    enterprise: int = Field(3, ge=0)

    def counts(self) -> tuple[int, ...]:
        """Counts in tier order (small, medium, large, enterprise)."""
        return (self.small, self.medium, self.large, self.enterprise)

    @property
    def total(self) -> int:
        """All accounts."""
        return sum(self.counts())


class TierRanges(_Section):
    """An inclusive ``[min, max]`` per tier (children per parent of that tier)."""

    small: tuple[int, int]
    medium: tuple[int, int]
    large: tuple[int, int]
    enterprise: tuple[int, int]

    @field_validator("small", "medium", "large", "enterprise")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < 0 or high < low:
            raise ValueError(f"[{low}, {high}] needs 0 <= min <= max")
        return value

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """Ranges in tier order."""
        return (self.small, self.medium, self.large, self.enterprise)


class DeviceTypeWeights(_Weights):
    """Device types: tap controllers pour, sensors monitor, gateways connect."""

    tap_controller: float = 0.60
    sensor: float = 0.30
    gateway: float = 0.10


class UserRoleWeights(_Weights):
    """User roles."""

    admin: float = 0.10
    manager: float = 0.30
    staff: float = 0.60


class DeviceStatusWeights(_Weights):
    """Stationary shares of the device-status Markov chain."""

    online: float = 0.85
    offline: float = 0.10
    maintenance: float = 0.05


class RegionSettings(_Section):
    """A region's share of the locations and its (fixed) UTC offset for local time of day."""

    weight: float = Field(ge=0)
    utc_offset_hours: float = Field(ge=-14, le=14)


class Regions(_Section):
    """Where locations are: cities weighted by population within each region's states."""

    northeast: RegionSettings = RegionSettings(weight=0.40, utc_offset_hours=-5)
    west_coast: RegionSettings = RegionSettings(weight=0.25, utc_offset_hours=-8)
    southeast: RegionSettings = RegionSettings(weight=0.20, utc_offset_hours=-5)
    midwest: RegionSettings = RegionSettings(weight=0.15, utc_offset_hours=-6)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Regions:
        total = sum(self.weights())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"region weights {list(self.weights())} sum to {total:.6g}; they must sum to 1")
        return self

    def items(self) -> tuple[RegionSettings, ...]:
        """Regions in field order (Northeast, West Coast, Southeast, Midwest)."""
        return (self.northeast, self.west_coast, self.southeast, self.midwest)

    def weights(self) -> tuple[float, ...]:
        """Shares in field order."""
        return tuple(region.weight for region in self.items())


class AgeBand(_Section):
    """Accounts created ``[min_days, max_days)`` days before the dataset's epoch; ``grows``: whether
    they install more devices month by month."""

    weight: float = Field(ge=0)
    min_days: float = Field(ge=0)
    max_days: float = Field(gt=0)
    grows: bool

    @model_validator(mode="after")
    def _ordered(self) -> AgeBand:
        if self.max_days <= self.min_days:
            raise ValueError(f"min_days {self.min_days} must be below max_days {self.max_days}")
        return self


class AccountAges(_Section):
    """Account creation ages (established 2+ years, growing 1–2 years, scaling 6–12 months, new)."""

    established: AgeBand = AgeBand(weight=0.20, min_days=730, max_days=1461, grows=False)
    growing: AgeBand = AgeBand(weight=0.30, min_days=365, max_days=730, grows=True)
    scaling: AgeBand = AgeBand(weight=0.30, min_days=182, max_days=365, grows=True)
    new: AgeBand = AgeBand(weight=0.20, min_days=1, max_days=182, grows=True)

    @model_validator(mode="after")
    def _sum_to_one(self) -> AccountAges:
        total = sum(self.weights())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(
                f"age band weights {list(self.weights())} sum to {total:.6g}; they must sum to 1"
            )
        return self

    def items(self) -> tuple[AgeBand, ...]:
        """Bands in field order."""
        return (self.established, self.growing, self.scaling, self.new)

    def weights(self) -> tuple[float, ...]:
        """Shares in field order."""
        return tuple(band.weight for band in self.items())


class VenueSettings(_Section):
    """A venue type's share of locations and its tap controllers' mean pours per hour (long run)."""

    weight: float = Field(ge=0)
    pours_per_hour: float = Field(ge=0, le=10_000)


class VenueTypes(_Section):
    """Venue types of locations."""

    restaurant: VenueSettings = VenueSettings(weight=0.45, pours_per_hour=3.0)
    bar: VenueSettings = VenueSettings(weight=0.30, pours_per_hour=6.0)
    hotel: VenueSettings = VenueSettings(weight=0.20, pours_per_hour=2.0)
    stadium: VenueSettings = VenueSettings(weight=0.05, pours_per_hour=10.0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> VenueTypes:
        total = sum(self.weights())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"venue weights {list(self.weights())} sum to {total:.6g}; they must sum to 1")
        return self

    def items(self) -> tuple[VenueSettings, ...]:
        """Venue types in field order."""
        return (self.restaurant, self.bar, self.hotel, self.stadium)

    def weights(self) -> tuple[float, ...]:
        """Shares in field order."""
        return tuple(venue.weight for venue in self.items())


class PlanSettings(_Section):
    """A subscription plan: it applies from ``min_devices`` devices up to the next plan's threshold."""

    min_devices: int = Field(ge=0)
    monthly_price: int = Field(ge=0, description="US dollars per month (the subscription's MRR).")


class Plans(_Section):
    """Plans by device count: starter < 10, professional 10–49, business 50–199, enterprise 200+."""

    starter: PlanSettings = PlanSettings(min_devices=0, monthly_price=299)
    professional: PlanSettings = PlanSettings(min_devices=10, monthly_price=999)
    business: PlanSettings = PlanSettings(min_devices=50, monthly_price=2999)
    enterprise: PlanSettings = PlanSettings(min_devices=200, monthly_price=9999)

    @model_validator(mode="after")
    def _increasing(self) -> Plans:
        thresholds = [plan.min_devices for plan in self.items()]
        if thresholds[0] != 0 or any(b <= a for a, b in zip(thresholds, thresholds[1:], strict=False)):
            raise ValueError(f"plan min_devices {thresholds} must start at 0 (starter) and increase strictly")
        return self

    def items(self) -> tuple[PlanSettings, ...]:
        """Plans in field order."""
        return (self.starter, self.professional, self.business, self.enterprise)


class RateCurveSettings(_Section):
    """The shape of pour rates over local time: peak windows over a base level, weekday/weekend,
    a seasonal (summer) peak. Rates are normalised so ``pours_per_hour`` is the long-run mean."""

    lunch: tuple[float, float, float] = Field((11.0, 14.0, 2.6), description="(start hour, end hour, level)")
    evening: tuple[float, float, float] = Field(
        (18.0, 23.0, 3.2), description="(start hour, end hour, level)"
    )
    base_level: float = Field(0.6, ge=0)
    weekday_factor: float = Field(1.0, ge=0)
    weekend_factor: float = Field(1.3, ge=0)
    seasonal_amplitude: float = Field(0.2, ge=0, lt=1)
    peak_day: float = Field(
        196.0, ge=0, lt=366, description="Day of the year of the seasonal peak (mid-July)."
    )

    @field_validator("lunch", "evening")
    @classmethod
    def _window(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        start, end, level = value
        if not (0 <= start < end <= 24) or level < 0:
            raise ValueError(
                f"{list(value)} must be (start, end, level) with 0 <= start < end <= 24, level >= 0"
            )
        return value


def _id_range(value: tuple[int, int]) -> tuple[int, int]:
    low, high = value
    if low < 1 or high < low:
        raise ValueError(f"[{low}, {high}] needs 1 <= first <= last")
    return value


class TapflowConfig(_Section):
    """A B2B beverage-dispensing SaaS: accounts → locations → devices, users, subscriptions; pours,
    device heartbeats and feature usage per interval; churn, growth and device status over time."""

    interval: Duration = Field(timedelta(minutes=15), description="Event interval length; must divide a day.")
    accounts: TierCounts = TierCounts()
    locations_per_account: TierRanges = TierRanges(
        small=(1, 2), medium=(3, 10), large=(10, 50), enterprise=(50, 100)
    )
    devices_per_location: TierRanges = TierRanges(
        small=(5, 10), medium=(10, 20), large=(20, 50), enterprise=(30, 100)
    )
    users_per_account: TierRanges = TierRanges(
        small=(2, 5), medium=(5, 20), large=(20, 100), enterprise=(100, 500)
    )
    device_types: DeviceTypeWeights = DeviceTypeWeights()
    user_roles: UserRoleWeights = UserRoleWeights()
    regions: Regions = Regions()
    account_ages: AccountAges = AccountAges()
    venue_types: VenueTypes = VenueTypes()
    plans: Plans = Plans()
    health_score_mean: float = Field(0.75, ge=0, le=1)
    health_score_std: float = Field(0.12, ge=0, le=1)
    month: Duration = Field(
        timedelta(days=30), description="Length of a billing month (churn and growth cadence)."
    )
    monthly_churn_rate: tuple[float, float] = Field(
        (0.02, 0.03), description="Each month's churn probability per active account, drawn in [min, max]."
    )
    monthly_growth_rate: tuple[float, float] = Field(
        (0.05, 0.10),
        description="Growing accounts add this share of their devices each month, drawn in [min, max].",
    )
    device_status: DeviceStatusWeights = DeviceStatusWeights()
    status_persistence: float = Field(
        0.95, ge=0, lt=1, description="Probability a device keeps its status for one heartbeat step."
    )
    heartbeat_interval: Duration = Field(
        timedelta(minutes=5), description="Heartbeat cadence and device-status step; must divide a day."
    )
    rate_curve: RateCurveSettings = RateCurveSettings()
    volume_ml: tuple[int, int] = Field((20, 200), description="Pour volume range, ml.")
    temperature_c: tuple[float, float] = Field((2.0, 6.0), description="Normal pour temperature range, °C.")
    anomaly_temperature_c: tuple[float, float] = Field(
        (6.5, 12.0), description="Anomalous temperature range, °C."
    )
    anomaly_rate: tuple[float, float] = Field(
        (0.02, 0.05), description="Each location's share of anomalous pours, drawn in [min, max]."
    )
    dashboard_views_per_user_per_day: tuple[float, float] = Field(
        (2.0, 10.0), description="Each user's mean dashboard views per day, drawn in [min, max]."
    )
    weekly_report_roles: tuple[Literal["admin", "manager", "staff"], ...] = ("admin", "manager")
    monthly_report_roles: tuple[Literal["admin", "manager", "staff"], ...] = ("admin",)
    api_calls_per_device_per_day: float = Field(2.0, ge=0, le=100_000)
    account_ids: tuple[int, int] = Field((1, 150), description="Reserved account ids [first, last].")
    location_ids: tuple[int, int] = Field((1, 1500), description="Reserved location ids [first, last].")
    device_ids: tuple[int, int] = Field((1, 100_000), description="Reserved device ids [first, last].")
    user_ids: tuple[int, int] = Field((1, 6000), description="Reserved user ids [first, last].")
    subscription_ids: tuple[int, int] = Field(
        (1, 200), description="Reserved subscription ids [first, last]."
    )

    @field_validator("interval", "heartbeat_interval")
    @classmethod
    def _divides_a_day(cls, value: timedelta) -> timedelta:
        check_interval_length(value)
        if to_micros_delta(value) % 1_000_000:
            raise ValueError(f"{format_duration(value)} must be whole seconds")
        return value

    @field_validator("monthly_churn_rate", "monthly_growth_rate", "anomaly_rate")
    @classmethod
    def _probability_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        _check_range(value)
        if value[1] > 1:
            raise ValueError(f"{list(value)} must lie within [0, 1]")
        return value

    @field_validator("volume_ml", "temperature_c", "anomaly_temperature_c")
    @classmethod
    def _value_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        _check_range(value)
        if value[1] >= 1000:
            raise ValueError(f"{list(value)} must stay below 1000")
        return value

    @field_validator("dashboard_views_per_user_per_day")
    @classmethod
    def _rate_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _check_range(value)

    @field_validator("account_ids", "location_ids", "device_ids", "user_ids", "subscription_ids")
    @classmethod
    def _fits(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        _id_range(value)
        if value[1] >= 10**9:
            raise ValueError(f"{list(value)}: ids must stay below 1,000,000,000")
        need = _maximum_counts(info.data).get(str(info.field_name))
        size = value[1] - value[0] + 1
        if need is not None and need > size:
            raise ValueError(
                f"{list(value)} holds {size:,} ids but the configured counts can need {need:,} "
                "(every tier at its maximum); widen the range or lower the counts"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TapflowConfig:
        if self.accounts.total == 0:
            raise ValueError("accounts: at least one account is needed")
        return self


def _maximum_counts(data: dict[str, Any]) -> dict[str, int]:
    """The most baseline entities per id range the tiers can yield (an exact count for accounts and
    subscriptions, one per account); no entry when an input failed validation itself."""
    accounts, locations, devices, users = (
        data.get(name)
        for name in ("accounts", "locations_per_account", "devices_per_location", "users_per_account")
    )
    if not isinstance(accounts, TierCounts):
        return {}
    result = {"account_ids": accounts.total, "subscription_ids": accounts.total}
    if isinstance(locations, TierRanges):
        per_tier = [
            count * high for count, (_, high) in zip(accounts.counts(), locations.ranges(), strict=True)
        ]
        result["location_ids"] = sum(per_tier)
        if isinstance(devices, TierRanges):
            result["device_ids"] = sum(
                n * high for n, (_, high) in zip(per_tier, devices.ranges(), strict=True)
            )
    if isinstance(users, TierRanges):
        result["user_ids"] = sum(
            count * high for count, (_, high) in zip(accounts.counts(), users.ranges(), strict=True)
        )
    return result
