"""The ``identity`` section of the configuration: population, distributions, traits, campaigns, rates.

Every number of the identity-graph scenario is a setting here, with a census-like default.
Validators refuse inconsistent numbers before anything is generated, one problem per line naming
the field, the value and the rule: a rate outside [0, 1], weights that do not sum to 1, a campaign
shorter than one day, target segments missing from the segment list, a mean identifier count
outside 2–15 or below what the presence rates already imply.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from producer.generation.clock import Duration, check_interval_length, format_duration, to_micros_delta

WEIGHT_TOLERANCE = 1e-9
MIN_IDENTIFIERS = 2
MAX_IDENTIFIERS = 15
"""Identifiers per individual: always within ``[MIN_IDENTIFIERS, MAX_IDENTIFIERS]``."""
RESPONSE_DELAY_STEP = timedelta(seconds=36)
"""Response delays are whole multiples of 36 s: ``time_to_conversion_hours`` is an exact 2-decimal number."""

Rate = float


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Weights(_Section):
    """Named shares that must sum to 1; ``LABELS`` are the values written in records, in field order."""

    LABELS: ClassVar[tuple[str, ...]] = ()

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


class IncomeBrackets(_Weights):
    """Household income brackets (US household income, roughly the census's shares)."""

    LABELS = ("<30K", "30-60K", "60-100K", "100-150K", "150K+")
    under_30k: float = 0.20
    from_30k_to_60k: float = 0.21
    from_60k_to_100k: float = 0.23
    from_100k_to_150k: float = 0.16
    over_150k: float = 0.20


class HousingTypes(_Weights):
    """Housing types of households."""

    LABELS = ("house", "apartment", "condo", "other")
    house: float = 0.64
    apartment: float = 0.25
    condo: float = 0.07
    other: float = 0.04


class Genders(_Weights):
    """Gender identity of individuals."""

    LABELS = ("Male", "Female", "Non-Binary", "Prefer not to say")
    male: float = 0.48
    female: float = 0.48
    non_binary: float = 0.03
    prefer_not_to_say: float = 0.01


class EducationLevels(_Weights):
    """Highest education (adults; capped by age: no Master before 24, no Doctorate before 27)."""

    LABELS = ("High School", "Some College", "Bachelor", "Master", "Doctorate")
    high_school: float = 0.37
    some_college: float = 0.27
    bachelor: float = 0.23
    master: float = 0.10
    doctorate: float = 0.03


class ContentCategories(_Weights):
    """Content categories, and how often each is an individual's favourite."""

    LABELS = ("News", "Sports", "Entertainment", "Education", "Technology", "Lifestyle", "Finance", "Health")
    news: float = 0.16
    sports: float = 0.16
    entertainment: float = 0.22
    education: float = 0.08
    technology: float = 0.12
    lifestyle: float = 0.12
    finance: float = 0.07
    health: float = 0.07


class Segments(_Section):
    """The audience segment of each content category: an individual's primary segment is the one of
    its strongest category affinity. Together they are the segment list campaigns may target."""

    news: str = Field("News Junkie", min_length=1)
    sports: str = Field("Sports Fan", min_length=1)
    entertainment: str = Field("Entertainment Seeker", min_length=1)
    education: str = Field("Lifelong Learner", min_length=1)
    technology: str = Field("Tech Enthusiast", min_length=1)
    lifestyle: str = Field("Lifestyle Enthusiast", min_length=1)
    finance: str = Field("Finance Follower", min_length=1)
    health: str = Field("Health Conscious", min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Segments:
        names = self.names()
        if len(set(names)) != len(names):
            raise ValueError(f"segment names {list(names)} must be distinct")
        return self

    def names(self) -> tuple[str, ...]:
        """Segment names in category order."""
        return tuple(str(getattr(self, name)) for name in type(self).model_fields)


class IdentifierPresence(_Section):
    """Share of individuals with at least one identifier of each type (device ids fill the rest)."""

    email_hash: Rate = Field(0.60, ge=0, le=1)
    mobile_ad_id: Rate = Field(0.80, ge=0, le=1)
    ctv_id: Rate = Field(0.40, ge=0, le=1)
    cookie_id: Rate = Field(0.90, ge=0, le=1)
    hashed_phone: Rate = Field(0.30, ge=0, le=1)

    def rates(self) -> tuple[float, ...]:
        """Rates in field order."""
        return tuple(float(getattr(self, name)) for name in type(self).model_fields)


def present_type_distribution(rates: tuple[float, ...]) -> list[float]:
    """P(an individual has exactly k of the typed identifiers), k = 0 … len(rates) (Poisson binomial)."""
    distribution = [1.0]
    for rate in rates:
        nxt = [0.0] * (len(distribution) + 1)
        for k, p in enumerate(distribution):
            nxt[k] += p * (1 - rate)
            nxt[k + 1] += p * rate
        distribution = nxt
    return distribution


def expected_identifiers(rates: tuple[float, ...], extra_mean: float) -> float:
    """Identifiers per individual on average: the mean of
    ``max(present types, clip(2 + Poisson(extra_mean), 2, 15))``."""
    present = present_type_distribution(rates)
    wanted = [0.0] * (MAX_IDENTIFIERS + 1)
    term = math.exp(-extra_mean)
    for extra in range(0, 400):
        wanted[min(MIN_IDENTIFIERS + extra, MAX_IDENTIFIERS)] += term
        term *= extra_mean / (extra + 1)
    return sum(pk * pn * max(k, n) for k, pk in enumerate(present) for n, pn in enumerate(wanted))


def extra_identifier_mean(rates: tuple[float, ...], mean: float) -> float:
    """The Poisson mean of identifiers beyond 2 that makes the expected count ``mean`` (bisection)."""
    low, high = 0.0, 2.0 * MAX_IDENTIFIERS
    for _ in range(100):
        middle = (low + high) / 2
        if expected_identifiers(rates, middle) < mean:
            low = middle
        else:
            high = middle
    return (low + high) / 2


class IdentifierSettings(_Section):
    """Identity mappings: 2–15 per individual with mean ``mean``; presence rates per type."""

    mean: float = Field(4.0, description="Mean identifiers per individual, in [2, 15].")
    presence: IdentifierPresence = IdentifierPresence()
    history: Duration = Field(
        timedelta(days=730), description="first_seen lies up to this long before the dataset's epoch."
    )
    active_within: Duration = Field(
        timedelta(days=90),
        description="A mapping is active when last seen at most this long before the epoch.",
    )

    @field_validator("mean")
    @classmethod
    def _in_range(cls, value: float) -> float:
        if not MIN_IDENTIFIERS <= value <= MAX_IDENTIFIERS:
            raise ValueError(
                f"must lie within [{MIN_IDENTIFIERS}, {MAX_IDENTIFIERS}] identifiers per individual"
            )
        return value

    @model_validator(mode="after")
    def _reachable(self) -> IdentifierSettings:
        floor = expected_identifiers(self.presence.rates(), 0.0)
        if self.mean < floor - 1e-9:
            raise ValueError(
                f"mean {self.mean} is below {floor:.3f}, the mean the presence rates already imply "
                "(every present type has an identifier, and each individual has at least 2): raise mean "
                "or lower the presence rates"
            )
        if self.history <= timedelta(days=1) or self.active_within <= timedelta(0):
            raise ValueError("history must exceed 1 day and active_within must be positive")
        return self


class EngagementTypes(_Weights):
    """Engagement types of content engagements."""

    LABELS = ("view", "click", "share", "like", "comment")
    view: float = 0.55
    click: float = 0.20
    share: float = 0.05
    like: float = 0.12
    comment: float = 0.08


class DeviceTypes(_Weights):
    """Device types of content engagements (an individual's primary device is drawn from these)."""

    LABELS = ("mobile", "desktop", "tablet", "ctv")
    mobile: float = 0.48
    desktop: float = 0.27
    tablet: float = 0.10
    ctv: float = 0.15


class DiurnalSettings(_Section):
    """The shape of activity over local time: peak windows over a night-time base, weekend factor.
    Normalised, so the per-day rates are long-run means."""

    windows: tuple[tuple[float, float, float], ...] = Field(
        ((7.0, 23.0, 1.0), (12.0, 14.0, 1.5), (19.0, 23.0, 2.5)),
        description="(start hour, end hour, level) windows; overlapping windows add up.",
    )
    base_level: float = Field(0.25, ge=0)
    weekday_factor: float = Field(1.0, ge=0)
    weekend_factor: float = Field(1.25, ge=0)

    @field_validator("windows")
    @classmethod
    def _windows(
        cls, value: tuple[tuple[float, float, float], ...]
    ) -> tuple[tuple[float, float, float], ...]:
        for start, end, level in value:
            if not (0 <= start < end <= 24) or level < 0:
                raise ValueError(f"{[start, end, level]} must be (start, end, level), 0 <= start < end <= 24")
        return value


class EngagementSettings(_Section):
    """Content engagements: each individual's activity level (log-normal around ``per_day_median``)
    drives its rate; types, devices, view durations and a per-category content catalogue."""

    per_day_median: float = Field(
        6.0, gt=0, le=10_000, description="Median engagements per individual per day."
    )
    activity_spread: float = Field(0.8, ge=0, le=3, description="σ of log activity across individuals.")
    types: EngagementTypes = EngagementTypes()
    devices: DeviceTypes = DeviceTypes()
    device_loyalty: Rate = Field(0.7, ge=0, le=1, description="Share of engagements on the primary device.")
    view_seconds_mean: float = Field(240.0, gt=0, le=14_400)
    catalog_size: int = Field(5000, ge=1, le=999_999, description="Content items per category.")
    favourite_boost: float = Field(4.0, ge=1, le=100, description="Weight of the favourite category.")
    affinity_spread: float = Field(0.6, ge=0, le=3, description="σ of log affinities around their weights.")


class Channels(_Weights):
    """Campaign channels and how often a campaign uses each."""

    LABELS = ("email", "social", "display", "video", "ctv")
    email: float = 0.25
    social: float = 0.25
    display: float = 0.20
    video: float = 0.15
    ctv: float = 0.15


class Goals(_Weights):
    """Campaign goals."""

    LABELS = ("awareness", "consideration", "conversion")
    awareness: float = 0.40
    consideration: float = 0.35
    conversion: float = 0.25


class ChannelCpm(_Section):
    """Cost per thousand exposures by channel, US dollars."""

    email: float = Field(0.5, ge=0, le=1000)
    social: float = Field(7.0, ge=0, le=1000)
    display: float = Field(3.0, ge=0, le=1000)
    video: float = Field(12.0, ge=0, le=1000)
    ctv: float = Field(28.0, ge=0, le=1000)

    def values(self) -> tuple[float, ...]:
        """CPMs in channel order."""
        return tuple(float(getattr(self, name)) for name in type(self).model_fields)


def _ordered(value: tuple[int, int], low_bound: int, what: str) -> tuple[int, int]:
    low, high = value
    if low < low_bound or high < low:
        raise ValueError(f"[{low}, {high}] needs {low_bound} <= min <= max {what}")
    return value


class CampaignSettings(_Section):
    """Campaigns: ``per_day`` start each day (created ``lead_days`` before), each running
    ``duration_days`` (inclusive of both dates), targeting segments over channels."""

    per_day: int = Field(1, ge=1, le=1000, description="Campaigns starting each day.")
    duration_days: tuple[int, int] = Field((7, 90), description="Duration range in days [min, max].")
    lead_days: tuple[int, int] = Field((1, 14), description="Created this many days before the start date.")
    target_segments: tuple[str, ...] | None = Field(
        None, description="Segments campaigns may target (default: every segment of the segment list)."
    )
    segments_per_campaign: tuple[int, int] = (1, 3)
    channels: Channels = Channels()
    channels_per_campaign: tuple[int, int] = (1, 3)
    budget: tuple[float, float] = Field(
        (5_000.0, 500_000.0), description="Budget range, US dollars (log-uniform)."
    )
    goals: Goals = Goals()

    @field_validator("duration_days")
    @classmethod
    def _duration(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 1:
            raise ValueError(f"{list(value)}: a campaign must last at least 1 day")
        _ordered(value, 1, "days")
        if value[1] > 366:
            raise ValueError(f"{list(value)}: a campaign lasts at most 366 days")
        return value

    @field_validator("lead_days")
    @classmethod
    def _lead(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _ordered(value, 1, "days (a campaign is created before it starts)")

    @field_validator("segments_per_campaign", "channels_per_campaign")
    @classmethod
    def _per_campaign(cls, value: tuple[int, int]) -> tuple[int, int]:
        _ordered(value, 1, "(at least one)")
        if value[1] > 5:
            raise ValueError(f"{list(value)}: at most 5")
        return value

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high < 1e10:
            raise ValueError(f"{list(value)} needs 0 < min <= max < 10,000,000,000 (a budget must be > 0)")
        return value


class ResponseTypes(_Weights):
    """Response types."""

    LABELS = ("click", "conversion", "engagement", "visit")
    click: float = 0.50
    conversion: float = 0.10
    engagement: float = 0.15
    visit: float = 0.25


class ResponseDelays(_Section):
    """Mean hours from exposure to response, by response type (truncated exponential)."""

    click: float = Field(0.5, gt=0, le=1000)
    conversion: float = Field(30.0, gt=0, le=1000)
    engagement: float = Field(8.0, gt=0, le=1000)
    visit: float = Field(4.0, gt=0, le=1000)

    def values(self) -> tuple[float, ...]:
        """Means in response-type order."""
        return tuple(float(getattr(self, name)) for name in type(self).model_fields)


class ExposureSettings(_Section):
    """Campaign exposures: rate per individual (scaled by its activity), targeting, frequency, cost."""

    per_day: float = Field(2.0, ge=0, le=10_000, description="Mean exposures per individual per day.")
    targeted_share: Rate = Field(
        0.85, ge=0, le=1, description="Share of exposures from campaigns targeting the individual's segment."
    )
    frequency_mean: float = Field(1.4, ge=1, le=100, description="Mean exposures per session (>= 1).")
    cpm: ChannelCpm = ChannelCpm()


class ResponseSettings(_Section):
    """Responses: an exposure gets a response with the individual's propensity (logit-normal around
    ``propensity_median``), after a delay; conversions carry a value."""

    propensity_median: Rate = Field(0.05, gt=0, lt=1)
    propensity_spread: float = Field(1.0, ge=0, le=5, description="σ of the logit of propensity.")
    types: ResponseTypes = ResponseTypes()
    delay_hours: ResponseDelays = ResponseDelays()
    max_delay: Duration = Field(timedelta(days=3), description="Longest exposure-to-response delay.")
    conversion_value_median: float = Field(60.0, gt=0, le=100_000, description="US dollars.")
    conversion_value_spread: float = Field(0.8, ge=0, le=3, description="σ of log value.")

    @field_validator("max_delay")
    @classmethod
    def _delay(cls, value: timedelta) -> timedelta:
        if not RESPONSE_DELAY_STEP <= value <= timedelta(days=14):
            raise ValueError(f"{format_duration(value)} must lie within [PT36S, P14D]")
        return value


class IdentityConfig(_Section):
    """A consumer identity graph: households → individuals → identity mappings, campaigns; content
    engagements, campaign exposures and response events per interval."""

    interval: Duration = Field(timedelta(minutes=15), description="Event interval length; must divide a day.")
    households: int = Field(20_000, ge=1, le=2_000_000)
    household_size_mean: float = Field(
        2.5, ge=1, le=10, description="Normal mean, rounded and clipped to 1–10."
    )
    household_size_sd: float = Field(1.2, ge=0, le=10)
    income_brackets: IncomeBrackets = IncomeBrackets()
    housing_types: HousingTypes = HousingTypes()
    gender: Genders = Genders()
    education: EducationLevels = EducationLevels()
    identifiers: IdentifierSettings = IdentifierSettings()
    content_categories: ContentCategories = ContentCategories()
    segments: Segments = Segments()
    engagements: EngagementSettings = EngagementSettings()
    diurnal: DiurnalSettings = DiurnalSettings()
    campaigns: CampaignSettings = CampaignSettings()
    exposures: ExposureSettings = ExposureSettings()
    responses: ResponseSettings = ResponseSettings()

    @field_validator("interval")
    @classmethod
    def _divides_a_day(cls, value: timedelta) -> timedelta:
        check_interval_length(value)
        if to_micros_delta(value) % 1_000_000:
            raise ValueError(f"{format_duration(value)} must be whole seconds")
        return value

    @model_validator(mode="after")
    def _targets_known(self) -> IdentityConfig:
        known = self.segments.names()
        unknown = [name for name in self.campaigns.target_segments or () if name not in known]
        if unknown:
            raise ValueError(
                f"campaigns.target_segments {unknown} are not in the segment list {list(known)}: "
                "use names from identity.segments"
            )
        if self.campaigns.target_segments is not None and not self.campaigns.target_segments:
            raise ValueError("campaigns.target_segments is empty: list at least one segment, or omit it")
        return self

    def target_segments(self) -> tuple[str, ...]:
        """The segments campaigns may target."""
        return self.campaigns.target_segments or self.segments.names()
