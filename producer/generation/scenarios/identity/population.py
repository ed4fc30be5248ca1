"""The identity graph's entities as columns: households, individuals (with latent traits), identity
mappings, and the endless schedule of campaigns.

**Ids.** Integers, ``1 + ordinal``: households ``0 … H-1``; individuals numbered consecutively in
household order; mappings consecutively in individual order; campaigns in start order. The whole
population is drawn for every shard (it is small) and then filtered, so ids never depend on the
shard count. Household ordinal ``h`` belongs to shard ``h % N`` with its individuals, their mappings
and all their events; campaign ordinal ``c`` belongs to shard ``c % N`` (its record only: exposures
of any shard may show it).

**Streams.** Household ``h``'s key is word ``h`` of the stream of ``SeedSequence([seed, tag])``;
an individual's key is a word of its household's stream (by member number), and every attribute is
a fixed word of its entity's stream, so a value depends only on its entity's logical id.

**Households**: city, state and ZIP from the offline GeoNames/USPS data (cities of 15,000+ people,
weighted by population, every state); income bracket and housing type from the configured weights;
size ``round(Normal(mean, sd))`` clipped to 1–10, which is also its number of individuals.

**Individuals** (adults): age from census-like age bands (18–100), gender and education from the
configured weights (education capped by age), employment by age group, and an income (2 decimals)
that grows with the household's bracket, education and age (up to ~45) and drops in retirement;
students and the unemployed (dependents) have none. **Latent traits**: category affinities (the
favourite category boosted, log-normal noise, normalised to 1; the strongest one gives the
individual's segment), an activity level (engagements per day, log-normal), a propensity to respond
(logit-normal) and a primary device.

**Identity mappings**: each typed identifier is present with its presence rate; an individual has
``max(present types, clip(2 + Poisson(λ), 2, 15))`` identifiers, λ solved so the mean is the
configured one; the ones beyond the present types are device ids, or extra cookies or mobile ad ids
where those exist. Values are hex (UUID-shaped for mobile and CTV ids) whose first 64 bits are a
bijective mix of the mapping's ordinal, so they are unique. ``first_seen`` lies within the history
before the snapshot, ``last_seen`` between it and the snapshot; active when last seen recently.

**Campaigns**: ``per_day`` start each day, the first ones ``max duration`` days before the epoch
(so the epoch sees a steady state); each is created ``lead_days`` before its start date, targets
1–3 segments of the target list and uses 1–3 distinct channels (weighted), with a log-uniform
budget and a goal. Baseline entities and campaigns created before the snapshot (one interval
before the epoch) are published at the snapshot; later campaigns when they are created.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.blocks.counts import expand_counts, normal, poisson, uniform_ints, weighted_choice
from producer.generation.blocks.places import Places, Region
from producer.generation.clock import to_micros_delta
from producer.generation.scenarios.identity.settings import (
    MAX_IDENTIFIERS,
    MIN_IDENTIFIERS,
    IdentityConfig,
    extra_identifier_mean,
)
from producer.generation.shard import Shard
from producer.generation.streams import seed_key, tag, unit_floats, words

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]

MICROS_PER_DAY = 86_400_000_000
HOUSEHOLD_TAG = tag("identity.households")
MAPPING_TAG = tag("identity.identity-mappings")
CAMPAIGN_TAG = tag("identity.campaigns")

UTC_OFFSETS: dict[str, float] = {
    **dict.fromkeys(
        (
            "CT",
            "DC",
            "DE",
            "FL",
            "GA",
            "IN",
            "KY",
            "MA",
            "MD",
            "ME",
            "MI",
            "NC",
            "NH",
            "NJ",
            "NY",
            "OH",
            "PA",
            "RI",
            "SC",
            "VA",
            "VT",
            "WV",
        ),
        -5.0,
    ),
    **dict.fromkeys(
        ("AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TN", "TX", "WI"), -6.0
    ),
    **dict.fromkeys(("AZ", "CO", "ID", "MT", "NM", "UT", "WY"), -7.0),
    **dict.fromkeys(("CA", "NV", "OR", "WA"), -8.0),
    "AK": -9.0,
    "HI": -10.0,
}
"""Standard-time UTC offset of each state (its most populous zone): households' local time."""
OFFSETS = tuple(sorted(set(UTC_OFFSETS.values())))
US = Region("United States", 1.0, tuple(sorted(UTC_OFFSETS)))

AGE_BANDS = (
    (18, 24, 0.12),
    (25, 34, 0.17),
    (35, 44, 0.16),
    (45, 54, 0.16),
    (55, 64, 0.17),
    (65, 74, 0.13),
    (75, 84, 0.07),
    (85, 100, 0.02),
)
"""US adults by age band (inclusive bounds, share), uniform within a band."""
EMPLOYMENT_BY_AGE = (
    (0, 24, (0.40, 0.04, 0.10, 0.46, 0.00)),
    (25, 66, (0.77, 0.11, 0.05, 0.02, 0.05)),
    (67, 100, (0.13, 0.05, 0.01, 0.00, 0.81)),
)
"""(min age, max age, shares of Employed, Self-Employed, Unemployed, Student, Retired)."""
EDUCATION_MIN_AGE = (18, 18, 21, 24, 27)
BRACKET_INCOME = (22_000.0, 45_000.0, 80_000.0, 125_000.0, 210_000.0)
"""Typical household income of each bracket, US dollars."""
EDUCATION_FACTOR = (0.75, 0.9, 1.15, 1.35, 1.6)
EMPLOYMENT_FACTOR = (1.0, 1.1, 0.0, 0.0, 0.6)
INCOME_SPREAD = 0.35
EARNER_SHARE = 0.6
"""An earner's income is about this share of the household's, before education, age and noise."""
NO_INCOME = (2, 3)
"""Unemployed and students: dependents without an income of their own."""
EXTRA_TYPES = (3, 1, 2)
"""Identifiers beyond the present types: device_id, or another cookie_id or mobile_ad_id where present."""
PRESENCE_TYPES = (0, 2, 4, 1, 5)
"""The identifier type (index into IDENTIFIER_TYPES) of each presence rate, in field order."""


@dataclass(frozen=True)
class CampaignColumns:
    """Campaigns by ordinal (dates as days since 1970-01-01, UTC)."""

    ordinal: I64
    start_day: I64
    end_day: I64
    created_us: I64
    goal: I64
    budget_cents: I64
    segments: I64
    """(n, 5) indices into the segment list, ``segment_count`` of them per row."""
    segment_count: I64
    channels: I64
    """(n, 5) channel indices, ``channel_count`` of them per row."""
    channel_count: I64

    def __len__(self) -> int:
        return int(self.ordinal.size)

    def take(self, rows: I64 | B) -> CampaignColumns:
        """The rows ``rows``."""
        return CampaignColumns(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


@dataclass(frozen=True)
class Members:
    """One shard's individuals with the per-individual values every interval needs, gathered once."""

    ordinals: I64
    keys: U64
    offset: I64
    """Index into OFFSETS of the individual's household's time zone."""
    engagement_rate: F64
    """Engagements per hour at a curve level of 1 (activity / 24)."""
    exposure_rate: F64
    """Exposures per hour at a curve level of 1 (per day × activity / mean activity / 24)."""


class Population:
    """One dataset's households, individuals, traits and mappings, and its campaign schedule."""

    def __init__(self, config: IdentityConfig, seed: int, epoch_us: int) -> None:
        self.config = config
        self.seed = seed
        self.epoch_us = epoch_us
        self.interval_us = to_micros_delta(config.interval)
        self.snapshot_us = epoch_us - self.interval_us
        self.id_digits = len(str(config.households * 10))
        """``E`` of the event ids: digits of the largest individual id the config can yield."""
        self._owned: dict[Shard, I64] = {}
        self._members: dict[Shard, Members] = {}
        self._lock = threading.Lock()
        self._households()
        self._individuals()
        self._mappings()
        self.individual_keys_text = np.array([str(i).encode() for i in (self.individual_ids())], dtype=object)

    # -- ids ------------------------------------------------------------------------------------

    def household_ids(self, ordinals: I64 | None = None) -> I64:
        """Household ids (all, or of ``ordinals``)."""
        return (np.arange(self.household_size.size, dtype=np.int64) if ordinals is None else ordinals) + 1

    def individual_ids(self, ordinals: I64 | None = None) -> I64:
        """Individual ids (all, or of ``ordinals``)."""
        return (
            np.arange(self.individual_household.size, dtype=np.int64) if ordinals is None else ordinals
        ) + 1

    def owned(self, shard: Shard) -> I64:
        """The shard's individual ordinals (those of its households)."""
        with self._lock:
            found = self._owned.get(shard)
            if found is None:
                found = self._owned[shard] = np.flatnonzero(shard.owns(self.individual_household)).astype(
                    np.int64
                )
            return found

    def members(self, shard: Shard) -> Members:
        """The shard's individuals and their interval inputs (cached per shard)."""
        mine = self.owned(shard)
        with self._lock:
            found = self._members.get(shard)
            if found is None:
                activity = self.activity[mine]
                found = self._members[shard] = Members(
                    ordinals=mine,
                    keys=self.individual_keys[mine],
                    offset=self.household_offset[self.individual_household[mine]],
                    engagement_rate=activity / 24.0,
                    exposure_rate=self.config.exposures.per_day * (activity / self.mean_activity) / 24.0,
                )
            return found

    # -- households -----------------------------------------------------------------------------

    def _households(self) -> None:
        config = self.config
        count = config.households
        ordinals = np.arange(count, dtype=np.int64)
        keys = words(np.full(count, seed_key(self.seed, HOUSEHOLD_TAG), dtype=np.uint64), ordinals)
        self.household_keys = keys
        places = _places().pick(keys, np.zeros(count, dtype=np.int64), street_addresses=False)
        self.household_city = [place.city for place in places]
        self.household_state = [place.state for place in places]
        self.household_zip = [place.zip_code for place in places]
        self.household_offset = np.array(
            [OFFSETS.index(UTC_OFFSETS[s]) for s in self.household_state], dtype=np.int64
        )
        self.household_income = weighted_choice(_word(keys, 10), config.income_brackets.weights())
        self.household_housing = weighted_choice(_word(keys, 11), config.housing_types.weights())
        size = normal(_word(keys, 12), _word(keys, 13), config.household_size_mean, config.household_size_sd)
        self.household_size = np.clip(np.round(size), 1, 10).astype(np.int64)

    # -- individuals ----------------------------------------------------------------------------

    def _individuals(self) -> None:
        config = self.config
        household, member = expand_counts(self.household_size)
        self.individual_household = household
        keys = words(self.household_keys[household], 100 + member)
        self.individual_keys = keys
        n = household.size
        band = weighted_choice(_word(keys, 0), [w for _, _, w in AGE_BANDS])
        low = np.array([a for a, _, _ in AGE_BANDS], dtype=np.int64)[band]
        high = np.array([b for _, b, _ in AGE_BANDS], dtype=np.int64)[band]
        self.age = uniform_ints(_word(keys, 1), low, high)
        self.gender = weighted_choice(_word(keys, 2), config.gender.weights())
        education = weighted_choice(_word(keys, 3), config.education.weights())
        for level in range(len(EDUCATION_MIN_AGE) - 1, 0, -1):
            education = np.where(
                (education == level) & (self.age < EDUCATION_MIN_AGE[level]), level - 1, education
            )
        self.education = education.astype(np.int64)
        employment = np.zeros(n, dtype=np.int64)
        employment_word = _word(keys, 4)
        for youngest, oldest, shares in EMPLOYMENT_BY_AGE:
            group = (self.age >= youngest) & (self.age <= oldest)
            employment[group] = weighted_choice(employment_word[group], shares)
        self.employment = employment
        age_factor = np.where(
            self.age <= 45, 0.55 + 0.45 * (self.age - 18) / 27.0, np.where(self.age <= 64, 1.0, 0.85)
        )
        noise = np.exp(normal(_word(keys, 5), _word(keys, 6), 0.0, INCOME_SPREAD))
        income = (
            np.array(BRACKET_INCOME)[self.household_income[household]]
            * EARNER_SHARE
            * np.array(EDUCATION_FACTOR)[self.education]
            * np.array(EMPLOYMENT_FACTOR)[employment]
            * age_factor
            * noise
        )
        cents = np.clip(np.round(income * 100), 50_000, 9_999_999_999).astype(np.int64)
        self.income_cents = np.where(np.isin(employment, NO_INCOME), -1, cents).astype(np.int64)
        self._traits(keys)

    def _traits(self, keys: U64) -> None:
        config = self.config
        engagements = config.engagements
        categories = len(config.content_categories.weights())
        self.favourite = weighted_choice(_word(keys, 7), config.content_categories.weights())
        base = np.array(config.content_categories.weights(), dtype=np.float64)
        raw = np.empty((keys.size, categories), dtype=np.float64)
        for k in range(categories):
            z = normal(_word(keys, 20 + 2 * k), _word(keys, 21 + 2 * k), 0.0, engagements.affinity_spread)
            raw[:, k] = np.maximum(base[k], 1e-3) * np.exp(z)
        raw[np.arange(keys.size), self.favourite] *= engagements.favourite_boost
        self.affinity = raw / raw.sum(axis=1, keepdims=True)
        self.affinity_cumulative = np.cumsum(self.affinity, axis=1)
        self.segment = np.argmax(self.affinity, axis=1).astype(np.int64)
        spread = engagements.activity_spread
        self.activity = engagements.per_day_median * np.exp(
            normal(_word(keys, 8), _word(keys, 9), 0.0, spread)
        )
        self.mean_activity = engagements.per_day_median * float(np.exp(spread * spread / 2))
        responses = config.responses
        logit = np.log(responses.propensity_median / (1 - responses.propensity_median))
        z = normal(_word(keys, 10), _word(keys, 11), logit, responses.propensity_spread)
        self.propensity = 1.0 / (1.0 + np.exp(-z))
        self.primary_device = weighted_choice(_word(keys, 12), engagements.devices.weights())

    # -- mappings -------------------------------------------------------------------------------

    def _mappings(self) -> None:
        settings = self.config.identifiers
        keys = self.individual_keys
        n = keys.size
        rates = settings.presence.rates()
        present = np.stack([unit_floats(_word(keys, 40 + j)) < rate for j, rate in enumerate(rates)], axis=1)
        present_count = present.sum(axis=1).astype(np.int64)
        extra_mean = extra_identifier_mean(rates, settings.mean)
        wanted = np.minimum(
            MIN_IDENTIFIERS + poisson(_word(keys, 45), np.full(n, extra_mean)), MAX_IDENTIFIERS
        )
        total = np.maximum(present_count, wanted).astype(np.int64)
        individual, slot = expand_counts(total)
        self.mapping_individual = individual
        # the slot-th present type for the first slots, then the extra types
        present_types = np.where(present, np.array(PRESENCE_TYPES, dtype=np.int64)[None, :], 99)
        ordered = np.sort(present_types, axis=1)  # present types first, in IDENTIFIER_TYPES order
        mapping_keys = words(keys[individual], 200 + slot)
        has_cookie = present[individual, 3]
        has_mobile = present[individual, 1]
        choices = 1 + has_cookie.astype(np.int64) + has_mobile.astype(np.int64)
        pick = (unit_floats(_word(mapping_keys, 0)) * choices).astype(np.int64)
        extra_type = np.where(
            pick == 0, EXTRA_TYPES[0], np.where((pick == 1) & has_cookie, EXTRA_TYPES[1], EXTRA_TYPES[2])
        )
        within = slot < present_count[individual]
        self.mapping_type = np.where(
            within, ordered[individual, np.minimum(slot, ordered.shape[1] - 1)], extra_type
        ).astype(np.int64)
        history = to_micros_delta(settings.history)
        age = MICROS_PER_DAY + (unit_floats(_word(mapping_keys, 1)) * (history - MICROS_PER_DAY)).astype(
            np.int64
        )
        self.mapping_first_us = self.snapshot_us - age
        self.mapping_last_us = self.mapping_first_us + (unit_floats(_word(mapping_keys, 2)) * age).astype(
            np.int64
        )
        self.mapping_active = (self.snapshot_us - self.mapping_last_us) <= to_micros_delta(
            settings.active_within
        )
        unique = words(
            np.full(individual.size, seed_key(self.seed, MAPPING_TAG), dtype=np.uint64),
            np.arange(individual.size, dtype=np.int64),
        )
        self.mapping_words = np.stack(
            [unique, _word(mapping_keys, 3), _word(mapping_keys, 4), _word(mapping_keys, 5)], axis=1
        )

    def identifier_values(self, ordinals: I64) -> list[str]:
        """The pseudonymous value of each mapping: 64 hex digits for hashed emails and phones, UUID text
        for mobile ad ids and CTV ids, 32 hex digits for cookies and device ids."""
        values = []
        for kind, row in zip(
            self.mapping_type[ordinals].tolist(), self.mapping_words[ordinals].tolist(), strict=True
        ):
            text = "".join(f"{int(word):016x}" for word in row)
            if kind in (0, 5):
                values.append(text)
            elif kind in (2, 4):
                values.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:32]}")
            else:
                values.append(text[:32])
        return values

    # -- campaigns ------------------------------------------------------------------------------

    @property
    def first_campaign_day(self) -> int:
        """The start day of campaign 0: the longest duration before the epoch's day."""
        return self.epoch_us // MICROS_PER_DAY - self.config.campaigns.duration_days[1]

    def campaign_range(self, first_day: int, last_day: int) -> I64:
        """Ordinals of the campaigns starting on days ``first_day … last_day``."""
        per_day = self.config.campaigns.per_day
        low = max(0, (first_day - self.first_campaign_day) * per_day)
        high = max(0, (last_day - self.first_campaign_day + 1) * per_day)
        return np.arange(low, high, dtype=np.int64)

    def campaigns(self, ordinals: I64) -> CampaignColumns:
        """The campaigns ``ordinals``."""
        return _campaigns(self, tuple(ordinals.tolist()))

    def campaigns_in_flight(self, day: int) -> CampaignColumns:
        """The campaigns running on ``day`` (days since 1970-01-01), by ordinal."""
        return _in_flight(self, day)

    def campaign_first_us(self, columns: CampaignColumns) -> I64:
        """The instant of each campaign's one record: its creation, or the snapshot when earlier."""
        return np.maximum(columns.created_us, self.snapshot_us)

    def campaigns_published(self, start_us: int, end_us: int) -> CampaignColumns:
        """The campaigns whose record falls in ``[start_us, end_us)``, by (instant, ordinal)."""
        lead_low, lead_high = self.config.campaigns.lead_days
        last_day = -(-end_us // MICROS_PER_DAY) + lead_high + 1
        first_day = start_us // MICROS_PER_DAY + lead_low - 1
        if start_us <= self.snapshot_us:
            first_day = self.first_campaign_day
        columns = self.campaigns(self.campaign_range(first_day, last_day))
        first = self.campaign_first_us(columns)
        chosen = columns.take((first >= start_us) & (first < end_us))
        order = np.lexsort((chosen.ordinal, self.campaign_first_us(chosen)))
        return chosen.take(order)


@lru_cache(maxsize=64)
def _campaigns(population: Population, ordinals: tuple[int, ...]) -> CampaignColumns:
    config = population.config.campaigns
    c = np.array(ordinals, dtype=np.int64)
    keys = words(np.full(c.size, seed_key(population.seed, CAMPAIGN_TAG), dtype=np.uint64), c)
    start_day = population.first_campaign_day + c // config.per_day
    duration = uniform_ints(_word(keys, 0), *config.duration_days)
    lead_low, lead_high = config.lead_days
    lead = lead_low * MICROS_PER_DAY + (
        unit_floats(_word(keys, 1)) * (lead_high - lead_low) * MICROS_PER_DAY
    ).astype(np.int64)
    created = start_day * MICROS_PER_DAY - lead
    goal = weighted_choice(_word(keys, 2), config.goals.weights())
    low, high = np.log(config.budget[0]), np.log(config.budget[1])
    budget = np.round(np.exp(low + unit_floats(_word(keys, 3)) * (high - low)) * 100).astype(np.int64)
    targets = population.config.target_segments()
    names = population.config.segments.names()
    target_index = np.array([names.index(name) for name in targets], dtype=np.int64)
    segment_count = np.minimum(uniform_ints(_word(keys, 4), *config.segments_per_campaign), target_index.size)
    order = np.argsort(
        unit_floats(words(keys[:, None], 10 + np.arange(target_index.size)[None, :])), axis=1, kind="stable"
    )
    segments = np.zeros((c.size, 5), dtype=np.int64)
    width = min(5, target_index.size)
    segments[:, :width] = target_index[order[:, :width]]
    weights = np.array(config.channels.weights(), dtype=np.float64)
    positive = int((weights > 0).sum())
    channel_count = np.minimum(uniform_ints(_word(keys, 5), *config.channels_per_campaign), positive)
    u = np.maximum(unit_floats(words(keys[:, None], 20 + np.arange(weights.size)[None, :])), 1e-300)
    priority = np.where(weights > 0, np.log(u) / np.where(weights > 0, weights, 1.0), -np.inf)
    channels = np.argsort(-priority, axis=1, kind="stable").astype(np.int64)
    return CampaignColumns(
        ordinal=c,
        start_day=start_day,
        end_day=start_day + duration - 1,
        created_us=created,
        goal=goal,
        budget_cents=budget,
        segments=segments,
        segment_count=segment_count,
        channels=channels,
        channel_count=channel_count,
    )


@lru_cache(maxsize=8)
def _in_flight(population: Population, day: int) -> CampaignColumns:
    longest = population.config.campaigns.duration_days[1]
    columns = population.campaigns(population.campaign_range(day - longest + 1, day))
    return columns.take((columns.start_day <= day) & (columns.end_day >= day))


def _word(keys: U64, number: int) -> U64:
    return words(keys, np.full(keys.shape, number, dtype=np.int64))


@lru_cache(maxsize=1)
def _places() -> Places:
    return Places((US,))


_populations: dict[tuple[IdentityConfig, int, int], Population] = {}
_populations_lock = threading.Lock()


def population(config: IdentityConfig, seed: int, epoch_us: int) -> Population:
    """The (cached, shared) population of a dataset."""
    key = (config, seed, epoch_us)
    with _populations_lock:
        found = _populations.get(key)
        if found is None:
            if len(_populations) >= 4:
                _populations.pop(next(iter(_populations)))
            found = _populations[key] = Population(config, seed, epoch_us)
        return found
