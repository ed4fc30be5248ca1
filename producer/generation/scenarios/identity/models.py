"""Identity-graph record models: the values published on the identity topics (and exported to ``schemas/``).

Ids are integers (the seed's BIGINT keys): ``1 + ordinal`` for households, individuals, identity
mappings and campaigns; event ids encode the interval (see :mod:`.events`). Entities are created
once and never change: ``created_at`` is the instant of their one record. Money is a JSON number
with at most 2 decimals (4 for exposure costs), like the seed's DECIMAL columns.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producer.generation.scenarios.declarations import Active, Category, Counts, EntityChanges, Reference

SCHEMA_VERSION = 1

HOUSEHOLDS_TOPIC = "identity.households"
INDIVIDUALS_TOPIC = "identity.individuals"
MAPPINGS_TOPIC = "identity.identity-mappings"
CAMPAIGNS_TOPIC = "identity.campaigns"
ENGAGEMENTS_TOPIC = "identity.content-engagements"
EXPOSURES_TOPIC = "identity.campaign-exposures"
RESPONSES_TOPIC = "identity.response-events"
TRUTH_TOPIC = "identity.interval-truth"

IncomeBracket = Literal["<30K", "30-60K", "60-100K", "100-150K", "150K+"]
HousingType = Literal["house", "apartment", "condo", "other"]
Gender = Literal["Male", "Female", "Non-Binary", "Prefer not to say"]
Education = Literal["High School", "Some College", "Bachelor", "Master", "Doctorate"]
Employment = Literal["Employed", "Self-Employed", "Unemployed", "Student", "Retired"]
IdentifierType = Literal["email_hash", "cookie_id", "mobile_ad_id", "device_id", "ctv_id", "hashed_phone"]
ContentCategory = Literal[
    "News", "Sports", "Entertainment", "Education", "Technology", "Lifestyle", "Finance", "Health"
]
EngagementType = Literal["view", "click", "share", "like", "comment"]
DeviceType = Literal["mobile", "desktop", "tablet", "ctv"]
Channel = Literal["email", "social", "display", "video", "ctv"]
Goal = Literal["awareness", "consideration", "conversion"]
ResponseType = Literal["click", "conversion", "engagement", "visit"]

INCOME_BRACKETS: tuple[IncomeBracket, ...] = ("<30K", "30-60K", "60-100K", "100-150K", "150K+")
HOUSING_TYPES: tuple[HousingType, ...] = ("house", "apartment", "condo", "other")
GENDERS: tuple[Gender, ...] = ("Male", "Female", "Non-Binary", "Prefer not to say")
EDUCATION_LEVELS: tuple[Education, ...] = ("High School", "Some College", "Bachelor", "Master", "Doctorate")
EMPLOYMENT: tuple[Employment, ...] = ("Employed", "Self-Employed", "Unemployed", "Student", "Retired")
IDENTIFIER_TYPES: tuple[IdentifierType, ...] = (
    "email_hash",
    "cookie_id",
    "mobile_ad_id",
    "device_id",
    "ctv_id",
    "hashed_phone",
)
CONTENT_CATEGORIES: tuple[ContentCategory, ...] = (
    "News",
    "Sports",
    "Entertainment",
    "Education",
    "Technology",
    "Lifestyle",
    "Finance",
    "Health",
)
ENGAGEMENT_TYPES: tuple[EngagementType, ...] = ("view", "click", "share", "like", "comment")
DEVICE_TYPES: tuple[DeviceType, ...] = ("mobile", "desktop", "tablet", "ctv")
CHANNELS: tuple[Channel, ...] = ("email", "social", "display", "video", "ctv")
GOALS: tuple[Goal, ...] = ("awareness", "consideration", "conversion")
RESPONSE_TYPES: tuple[ResponseType, ...] = ("click", "conversion", "engagement", "visit")

_TIME = "ISO 8601 UTC with microseconds and Z, e.g. 2025-11-08T12:15:00.000000Z."
_CREATED = (
    "When this entity's one record was published: the dataset's snapshot (one interval before its epoch) "
)
_EVENT_ID = (
    "((interval number since the dataset epoch) × 10^E + individual_id) × 10^6 + sequence, E the digits "
    "of the largest individual id the config allows (households × 10); unique per topic and independent "
    "of sharding."
)
_BATCH = "The interval's batch id, e.g. 20251108T1215Z."


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Household(_Record):
    """A residential unit (topic ``identity.households``, key ``household_id``)."""

    household_id: int = Field(ge=1)
    location_city: str
    location_state: str = Field(pattern=r"^[A-Z]{2}$")
    location_zip: str = Field(pattern=r"^\d{5}$")
    income_bracket: IncomeBracket
    household_size: int = Field(ge=1, le=10, description="Number of individuals in the household.")
    housing_type: HousingType
    created_at: AwareDatetime = Field(description=_CREATED + _TIME)


class Individual(_Record):
    """An adult of a household (topic ``identity.individuals``, key ``individual_id``)."""

    individual_id: int = Field(ge=1)
    household_id: Annotated[int, Reference(HOUSEHOLDS_TOPIC)] = Field(ge=1)
    age: int = Field(ge=18, le=100)
    gender: Gender
    education_level: Education
    employment_status: Employment
    income_individual: float | None = Field(
        ge=0, description="US dollars, 2 decimals; null for dependents (students and the unemployed)."
    )
    created_at: AwareDatetime = Field(description=_CREATED + _TIME)


class IdentityMapping(_Record):
    """One of an individual's cross-device identifiers (topic ``identity.identity-mappings``, key
    ``mapping_id``); ``identifier_value`` is pseudonymous and unique within its type."""

    mapping_id: int = Field(ge=1)
    individual_id: Annotated[int, Reference(INDIVIDUALS_TOPIC)] = Field(ge=1)
    identifier_type: IdentifierType
    identifier_value: str = Field(min_length=16)
    first_seen: AwareDatetime = Field(description=_TIME)
    last_seen: AwareDatetime = Field(description="At or after first_seen. " + _TIME)
    active: Annotated[bool, Active()] = Field(
        description="Last seen recently (identity.identifiers.active_within)."
    )
    created_at: AwareDatetime = Field(description=_CREATED + _TIME)


class Campaign(_Record):
    """A marketing campaign (topic ``identity.campaigns``, key ``campaign_id``), created before its start
    date; exposures happen from ``start_date`` 00:00 UTC to the end of ``end_date``."""

    campaign_id: int = Field(ge=1)
    campaign_name: str
    start_date: date
    end_date: date = Field(description="Inclusive; at or after start_date.")
    target_segment: list[str] = Field(min_length=1, description="Targeted audience segments.")
    channels: list[Channel] = Field(min_length=1)
    budget: float = Field(gt=0, description="US dollars, 2 decimals.")
    goal: Goal
    created_at: AwareDatetime = Field(
        description="When the campaign was created (before start_date; published then, or at the snapshot "
        "when earlier). " + _TIME
    )


class ContentEngagement(_Record):
    """An individual's interaction with content (topic ``identity.content-engagements``, key
    ``individual_id``)."""

    event_id: int = Field(ge=0, description=_EVENT_ID)
    individual_id: Annotated[int, Reference(INDIVIDUALS_TOPIC)] = Field(ge=1)
    content_id: str
    content_category: Annotated[ContentCategory, Category()]
    engagement_type: Annotated[EngagementType, Category()]
    timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    duration_seconds: int | None = Field(ge=0, description="Views only; null for other engagement types.")
    device_type: Annotated[DeviceType, Category()]
    session_id: str | None = Field(description="The individual's session on this device in this interval.")
    batch_id: str = Field(description=_BATCH)


class CampaignExposure(_Record):
    """An individual exposed to a campaign (topic ``identity.campaign-exposures``, key ``individual_id``),
    inside the campaign's dates and on one of its channels."""

    exposure_id: int = Field(ge=0, description=_EVENT_ID)
    individual_id: Annotated[int, Reference(INDIVIDUALS_TOPIC)] = Field(ge=1)
    campaign_id: Annotated[int, Reference(CAMPAIGNS_TOPIC)] = Field(ge=1)
    exposure_timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    channel: Annotated[Channel, Category()]
    frequency: int = Field(ge=1, description="Exposures in this session.")
    placement: str | None = Field(description="Ad placement; null for email.")
    cost: float = Field(ge=0, description="frequency × the channel's CPM / 1000, US dollars, 4 decimals.")
    batch_id: str = Field(description=_BATCH)


class ResponseEvent(_Record):
    """A response to an earlier exposure (topic ``identity.response-events``, key ``individual_id``): same
    individual and campaign, at or after the exposure."""

    response_id: int = Field(ge=0, description="The exposure_id it answers (an exposure gets at most one).")
    individual_id: Annotated[int, Reference(INDIVIDUALS_TOPIC)] = Field(ge=1)
    campaign_id: Annotated[int, Reference(CAMPAIGNS_TOPIC)] = Field(ge=1)
    exposure_id: int = Field(ge=0, description="The campaign exposure this responds to (an earlier event).")
    response_type: Annotated[ResponseType, Category()]
    response_timestamp: AwareDatetime = Field(description="In [interval_start, interval_end). " + _TIME)
    exposure_timestamp: AwareDatetime = Field(description="The exposure's timestamp. " + _TIME)
    time_to_conversion_hours: float = Field(
        ge=0,
        description="(response_timestamp − exposure_timestamp) / 3600 s, exactly "
        "(delays are multiples of 36 s).",
    )
    value: float | None = Field(ge=0, description="US dollars, 2 decimals; conversions only, else null.")
    batch_id: str = Field(description=_BATCH)


class IdentityIntervalTruth(_Record):
    """An interval's ground truth for one shard (topic ``identity.interval-truth``, key ``batch_id``)."""

    batch_id: str
    interval_start: AwareDatetime
    interval_end: AwareDatetime
    content_engagements: Annotated[int, Counts(ENGAGEMENTS_TOPIC)] = Field(ge=0)
    content_engagements_by_content_category: Annotated[
        dict[ContentCategory, int], Counts(ENGAGEMENTS_TOPIC, "content_category")
    ]
    content_engagements_by_engagement_type: Annotated[
        dict[EngagementType, int], Counts(ENGAGEMENTS_TOPIC, "engagement_type")
    ]
    content_engagements_by_device_type: Annotated[
        dict[DeviceType, int], Counts(ENGAGEMENTS_TOPIC, "device_type")
    ]
    campaign_exposures: Annotated[int, Counts(EXPOSURES_TOPIC)] = Field(ge=0)
    campaign_exposures_by_channel: Annotated[dict[Channel, int], Counts(EXPOSURES_TOPIC, "channel")]
    response_events: Annotated[int, Counts(RESPONSES_TOPIC)] = Field(ge=0)
    response_events_by_response_type: Annotated[
        dict[ResponseType, int], Counts(RESPONSES_TOPIC, "response_type")
    ]
    households_changed: Annotated[int, EntityChanges(HOUSEHOLDS_TOPIC)] = Field(ge=0)
    individuals_changed: Annotated[int, EntityChanges(INDIVIDUALS_TOPIC)] = Field(ge=0)
    identity_mappings_changed: Annotated[int, EntityChanges(MAPPINGS_TOPIC)] = Field(ge=0)
    campaigns_changed: Annotated[int, EntityChanges(CAMPAIGNS_TOPIC)] = Field(ge=0)
    campaigns_in_flight: int = Field(ge=0, description="Campaigns running during the interval (all shards).")
    seed: int = Field(ge=0)
    shard: str = Field(pattern=r"^\d+/\d+$", description="i/N (0-based); 0/1 when unsharded.")
    generation_time: AwareDatetime = Field(
        description="Wall clock when published (the only non-deterministic field); "
        "`seedstream generate` writes interval_end."
    )
