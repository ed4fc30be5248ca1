"""TapFlow record models: the values published on the tapflow topics (and exported to ``schemas/``).

Entities carry their creation instant (``created_at``/``installed_at``, possibly years before the
dataset's epoch), the instant of this version (``updated_at``: the baseline snapshot, a creation or
a change) and ``version``, which orders one entity's records: ``1 +`` the microseconds from the
entity's first record to this one. Ids are integers from the configured reserved ranges.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producer.generation.scenarios.declarations import Category, Counts, EntityChanges, Reference

SCHEMA_VERSION = 1

ACCOUNTS_TOPIC = "tapflow.accounts"
LOCATIONS_TOPIC = "tapflow.locations"
DEVICES_TOPIC = "tapflow.devices"
USERS_TOPIC = "tapflow.users"
SUBSCRIPTIONS_TOPIC = "tapflow.subscriptions"
TAP_EVENTS_TOPIC = "tapflow.tap-events"
HEARTBEATS_TOPIC = "tapflow.device-heartbeats"
FEATURE_USAGE_TOPIC = "tapflow.feature-usage"
TRUTH_TOPIC = "tapflow.interval-truth"

Tier = Literal["small", "medium", "large", "enterprise"]
AgeBand = Literal["established", "growing", "scaling", "new"]
AccountStatus = Literal["active", "churned"]
Region = Literal["Northeast", "West Coast", "Southeast", "Midwest"]
VenueType = Literal["restaurant", "bar", "hotel", "stadium"]
DeviceType = Literal["tap_controller", "sensor", "gateway"]
DeviceStatus = Literal["online", "offline", "maintenance", "decommissioned"]
HeartbeatStatus = Literal["online", "maintenance"]
Role = Literal["admin", "manager", "staff"]
Plan = Literal["starter", "professional", "business", "enterprise"]
SubscriptionStatus = Literal["active", "cancelled"]
Quality = Literal["normal", "temperature_anomaly"]
Feature = Literal["dashboard_view", "weekly_report", "monthly_report", "api_call"]

TIERS: tuple[Tier, ...] = ("small", "medium", "large", "enterprise")
AGE_BANDS: tuple[AgeBand, ...] = ("established", "growing", "scaling", "new")
REGIONS: tuple[Region, ...] = ("Northeast", "West Coast", "Southeast", "Midwest")
VENUE_TYPES: tuple[VenueType, ...] = ("restaurant", "bar", "hotel", "stadium")
DEVICE_TYPES: tuple[DeviceType, ...] = ("tap_controller", "sensor", "gateway")
DEVICE_STATUSES: tuple[DeviceStatus, ...] = ("online", "offline", "maintenance", "decommissioned")
HEARTBEAT_STATUSES: tuple[HeartbeatStatus, ...] = ("online", "maintenance")
ROLES: tuple[Role, ...] = ("admin", "manager", "staff")
PLANS: tuple[Plan, ...] = ("starter", "professional", "business", "enterprise")
QUALITIES: tuple[Quality, ...] = ("normal", "temperature_anomaly")
FEATURES: tuple[Feature, ...] = ("dashboard_view", "weekly_report", "monthly_report", "api_call")

_TIME = "ISO 8601 UTC with microseconds and Z, e.g. 2025-11-08T12:15:00.000000Z."
_VERSION = "Orders the entity's records: 1 for its first, then 1 + microseconds since the first."
_EVENT_ID = (
    "((interval number since the dataset epoch) × 10^E + entity id) × 10^6 + sequence, E the digits of "
    "the entity id range's last id; unique per topic and independent of sharding."
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(_Record):
    """A customer (topic ``tapflow.accounts``, key ``account_id``)."""

    account_id: int = Field(ge=1)
    name: str
    tier: Tier
    age_band: AgeBand
    health_score: float = Field(ge=0, le=1)
    status: AccountStatus
    created_at: AwareDatetime = Field(description="When the customer signed up. " + _TIME)
    updated_at: AwareDatetime = Field(description="Instant of this version. " + _TIME)
    version: int = Field(ge=1, description=_VERSION)


class Location(_Record):
    """A venue of an account (topic ``tapflow.locations``, key ``location_id``)."""

    location_id: int = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    name: str
    venue_type: VenueType
    region: Region
    city: str
    state: str
    zip_code: str
    latitude: float
    longitude: float
    street_address: str
    created_at: AwareDatetime = Field(description="Opened (after its account was created). " + _TIME)
    updated_at: AwareDatetime = Field(description="Instant of this version. " + _TIME)
    version: int = Field(ge=1, description=_VERSION)


class Device(_Record):
    """A tap controller, sensor or gateway at a location (topic ``tapflow.devices``, key ``device_id``)."""

    device_id: int = Field(ge=1)
    location_id: Annotated[int, Reference(LOCATIONS_TOPIC)] = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    device_type: DeviceType
    status: DeviceStatus = Field(description="Status from updated_at until the next version.")
    installed_at: AwareDatetime = Field(description="Installed (after its location opened). " + _TIME)
    updated_at: AwareDatetime = Field(description="Instant of this version. " + _TIME)
    version: int = Field(ge=1, description=_VERSION)


class User(_Record):
    """A person using the platform for an account (topic ``tapflow.users``, key ``user_id``)."""

    user_id: int = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    name: str
    role: Role
    created_at: AwareDatetime = Field(description="Invited (after its account was created). " + _TIME)
    updated_at: AwareDatetime = Field(description="Instant of this version. " + _TIME)
    version: int = Field(ge=1, description=_VERSION)


class Subscription(_Record):
    """An account's one subscription (topic ``tapflow.subscriptions``, key ``subscription_id``); its plan
    and MRR follow from the account's device count."""

    subscription_id: int = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    plan: Plan
    device_count: int = Field(ge=0)
    mrr: int = Field(ge=0, description="Monthly recurring revenue in US dollars: the plan's price.")
    status: SubscriptionStatus
    started_at: AwareDatetime = Field(description="When the account signed up. " + _TIME)
    updated_at: AwareDatetime = Field(description="Instant of this version. " + _TIME)
    version: int = Field(ge=1, description=_VERSION)


class TapEvent(_Record):
    """One pour by an online tap controller (topic ``tapflow.tap-events``, key ``device_id``)."""

    event_id: int = Field(ge=0, description=_EVENT_ID)
    device_id: Annotated[int, Reference(DEVICES_TOPIC)] = Field(ge=1)
    location_id: Annotated[int, Reference(LOCATIONS_TOPIC)] = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    venue_type: Annotated[VenueType, Category()]
    volume_ml: int = Field(ge=0)
    temperature_c: float = Field(description="One decimal.")
    quality: Annotated[Quality, Category()]
    timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    batch_id: str = Field(description="The interval's batch id, e.g. 20251108T1215Z.")


class DeviceHeartbeat(_Record):
    """A device's heartbeat (topic ``tapflow.device-heartbeats``, key ``device_id``); offline devices send
    none."""

    heartbeat_id: int = Field(ge=0, description=_EVENT_ID)
    device_id: Annotated[int, Reference(DEVICES_TOPIC)] = Field(ge=1)
    location_id: Annotated[int, Reference(LOCATIONS_TOPIC)] = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    device_type: Annotated[DeviceType, Category()]
    status: Annotated[HeartbeatStatus, Category()]
    timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    batch_id: str = Field(description="The interval's batch id, e.g. 20251108T1215Z.")


class FeatureUsage(_Record):
    """A user's use of a platform feature (topic ``tapflow.feature-usage``, key ``user_id``)."""

    usage_id: int = Field(ge=0, description=_EVENT_ID)
    user_id: Annotated[int, Reference(USERS_TOPIC)] = Field(ge=1)
    account_id: Annotated[int, Reference(ACCOUNTS_TOPIC)] = Field(ge=1)
    feature: Annotated[Feature, Category()]
    timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    batch_id: str = Field(description="The interval's batch id, e.g. 20251108T1215Z.")


class TapflowIntervalTruth(_Record):
    """An interval's ground truth for one shard (topic ``tapflow.interval-truth``, key ``batch_id``)."""

    batch_id: str
    interval_start: AwareDatetime
    interval_end: AwareDatetime
    tap_events: Annotated[int, Counts(TAP_EVENTS_TOPIC)] = Field(ge=0)
    tap_events_by_venue_type: Annotated[dict[VenueType, int], Counts(TAP_EVENTS_TOPIC, "venue_type")]
    tap_events_by_quality: Annotated[dict[Quality, int], Counts(TAP_EVENTS_TOPIC, "quality")]
    heartbeats: Annotated[int, Counts(HEARTBEATS_TOPIC)] = Field(ge=0)
    heartbeats_by_device_type: Annotated[dict[DeviceType, int], Counts(HEARTBEATS_TOPIC, "device_type")]
    heartbeats_by_status: Annotated[dict[HeartbeatStatus, int], Counts(HEARTBEATS_TOPIC, "status")]
    feature_usage: Annotated[int, Counts(FEATURE_USAGE_TOPIC)] = Field(ge=0)
    feature_usage_by_feature: Annotated[dict[Feature, int], Counts(FEATURE_USAGE_TOPIC, "feature")]
    accounts_changed: Annotated[int, EntityChanges(ACCOUNTS_TOPIC)] = Field(ge=0)
    locations_changed: Annotated[int, EntityChanges(LOCATIONS_TOPIC)] = Field(ge=0)
    devices_changed: Annotated[int, EntityChanges(DEVICES_TOPIC)] = Field(ge=0)
    users_changed: Annotated[int, EntityChanges(USERS_TOPIC)] = Field(ge=0)
    subscriptions_changed: Annotated[int, EntityChanges(SUBSCRIPTIONS_TOPIC)] = Field(ge=0)
    active_accounts: int = Field(ge=0, description="This shard's accounts active at interval_start.")
    seed: int = Field(ge=0)
    shard: str = Field(pattern=r"^\d+/\d+$", description="i/N (0-based); 0/1 when unsharded.")
    generation_time: AwareDatetime = Field(
        description="Wall clock when published (the only non-deterministic field); "
        "`seedstream generate` writes interval_end."
    )
