"""The identity graph's validation queries (``seedstream validate``): seed 004's four post-generation
queries verbatim apart from the namespace (``bryan_li.synthetic_data`` → ``{silver}``), then one per
CHECK constraint and validation rule the seed states, on silver and on the gold tables.

Referential integrity per reference and the interval rule come from the contract for every scenario
(:mod:`streaming.validate`); this module adds what only the identity graph declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from producer.generation.scenarios.base import ValidationQuery
from producer.generation.scenarios.identity.models import (
    CONTENT_CATEGORIES,
    EDUCATION_LEVELS,
    EMPLOYMENT,
    ENGAGEMENT_TYPES,
    GENDERS,
    GOALS,
    HOUSING_TYPES,
    IDENTIFIER_TYPES,
    INCOME_BRACKETS,
    RESPONSE_TYPES,
)

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig

IDENTIFIER_TOLERANCE = 0.15
"""Relative tolerance of the mean identifiers per individual against the configured mean."""


def _values(values: tuple[str, ...]) -> str:
    return ", ".join("'" + value.replace("'", "\\'") + "'" for value in values)


def _none(name: str, table: str, condition: str) -> ValidationQuery:
    """``name``: no row of ``table`` (``{layer}.<name>``) meets ``condition``."""
    return ValidationQuery(name, f"SELECT COUNT(*) FROM {table} WHERE {condition}", 0)  # noqa: S608 - our SQL


SEED_QUERIES = (
    ValidationQuery(
        "orphaned_individuals (seed)",
        """SELECT COUNT(*) AS orphaned_individuals
FROM {silver}.individuals i
LEFT JOIN {silver}.households h ON i.household_id = h.household_id
WHERE h.household_id IS NULL""",
        0,
    ),
    ValidationQuery(
        "temporal_violations (seed)",
        """SELECT COUNT(*) AS temporal_violations
FROM {silver}.response_events
WHERE response_timestamp < exposure_timestamp""",
        0,
    ),
    ValidationQuery(
        "out_of_campaign_period (seed)",
        """SELECT COUNT(*) AS out_of_campaign_period
FROM {silver}.campaign_exposures e
JOIN {silver}.campaigns c ON e.campaign_id = c.campaign_id
WHERE e.exposure_timestamp < CAST(c.start_date AS TIMESTAMP)
   OR e.exposure_timestamp > CAST(c.end_date AS TIMESTAMP) + INTERVAL 1 DAY""",
        0,
    ),
)


def validation_queries(config: SeedstreamConfig) -> list[ValidationQuery]:
    settings = config.identity
    mean = settings.identifiers.mean
    segments = settings.segments.names()
    return [
        SEED_QUERIES[0],
        SEED_QUERIES[1],
        ValidationQuery(
            "avg_identifiers_per_person (seed)",
            """SELECT AVG(id_count) AS avg_identifiers_per_person
FROM (
    SELECT individual_id, COUNT(*) AS id_count
    FROM {silver}.identity_mappings
    GROUP BY individual_id
)""",
            mean,
            round(mean * IDENTIFIER_TOLERANCE, 6),
        ),
        SEED_QUERIES[2],
        # households
        _none(
            "households.income_bracket IN (…)",
            "{silver}.households",
            f"income_bracket NOT IN ({_values(INCOME_BRACKETS)})",
        ),
        _none(
            "households.household_size BETWEEN 1 AND 10",
            "{silver}.households",
            "household_size NOT BETWEEN 1 AND 10",
        ),
        _none(
            "households.housing_type IN (…)",
            "{silver}.households",
            f"housing_type NOT IN ({_values(HOUSING_TYPES)})",
        ),
        _none(
            "households.location_zip five digits",
            "{silver}.households",
            "NOT location_zip RLIKE '^[0-9]{{5}}$'",
        ),
        # individuals
        _none("individuals.age BETWEEN 18 AND 100", "{silver}.individuals", "age NOT BETWEEN 18 AND 100"),
        _none("individuals.gender IN (…)", "{silver}.individuals", f"gender NOT IN ({_values(GENDERS)})"),
        _none(
            "individuals.education_level IN (…)",
            "{silver}.individuals",
            f"education_level NOT IN ({_values(EDUCATION_LEVELS)})",
        ),
        _none(
            "individuals.employment_status IN (…)",
            "{silver}.individuals",
            f"employment_status NOT IN ({_values(EMPLOYMENT)})",
        ),
        # identity mappings
        _none(
            "identity_mappings.identifier_type IN (…)",
            "{silver}.identity_mappings",
            f"identifier_type NOT IN ({_values(IDENTIFIER_TYPES)})",
        ),
        _none(
            "identity_mappings.last_seen >= first_seen",
            "{silver}.identity_mappings",
            "last_seen < first_seen",
        ),
        ValidationQuery(
            "identity_mappings: identifier_value unique within identifier_type",
            "SELECT COUNT(*) FROM (SELECT identifier_type, identifier_value FROM {silver}.identity_mappings "
            "GROUP BY identifier_type, identifier_value HAVING COUNT(*) > 1)",
            0,
        ),
        ValidationQuery(
            "identity_mappings: 2-15 identifiers per individual",
            "SELECT COUNT(*) FROM (SELECT individual_id, COUNT(*) AS n FROM {silver}.identity_mappings "
            "GROUP BY individual_id) WHERE n NOT BETWEEN 2 AND 15",
            0,
        ),
        # campaigns
        _none("campaigns.end_date >= start_date", "{silver}.campaigns", "end_date < start_date"),
        _none(
            "campaigns: 7-90 days",
            "{silver}.campaigns",
            "datediff(end_date, start_date) + 1 NOT BETWEEN 7 AND 90",
        ),
        _none("campaigns.budget > 0", "{silver}.campaigns", "budget <= 0"),
        _none("campaigns: at least one channel", "{silver}.campaigns", "size(channels) < 1"),
        _none("campaigns.goal IN (…)", "{silver}.campaigns", f"goal NOT IN ({_values(GOALS)})"),
        _none(
            "campaigns.target_segment in the segment list",
            "{silver}.campaigns",
            f"size(array_except(target_segment, array({_values(segments)}))) > 0",
        ),
        # content engagements
        _none(
            "content_engagements.engagement_type IN (…)",
            "{silver}.content_engagements",
            f"engagement_type NOT IN ({_values(ENGAGEMENT_TYPES)})",
        ),
        _none(
            "content_engagements: duration_seconds only for views",
            "{silver}.content_engagements",
            "(engagement_type = 'view') <> (duration_seconds IS NOT NULL)",
        ),
        _none(
            "content_engagements.duration_seconds >= 0",
            "{silver}.content_engagements",
            "duration_seconds < 0",
        ),
        # exposures
        ValidationQuery(
            "campaign_exposures.channel in its campaign's channels",
            "SELECT COUNT(*) FROM {silver}.campaign_exposures e JOIN {silver}.campaigns c "
            "ON e.campaign_id = c.campaign_id WHERE NOT array_contains(c.channels, e.channel)",
            0,
        ),
        _none("campaign_exposures.frequency > 0", "{silver}.campaign_exposures", "frequency <= 0"),
        _none("campaign_exposures.cost >= 0", "{silver}.campaign_exposures", "cost < 0"),
        # responses
        ValidationQuery(
            "response_events.exposure_id: an earlier exposure, same individual and campaign",
            "SELECT COUNT(*) FROM {silver}.response_events r WHERE NOT EXISTS (SELECT 1 FROM "
            "{silver}.campaign_exposures e WHERE e.exposure_id = r.exposure_id AND e.individual_id = "
            "r.individual_id AND e.campaign_id = r.campaign_id AND e.exposure_timestamp = "
            "r.exposure_timestamp AND e.exposure_timestamp <= r.response_timestamp)",
            0,
        ),
        _none(
            "response_events.time_to_conversion_hours = (response - exposure) / 3600",
            "{silver}.response_events",
            "abs(time_to_conversion_hours - "
            "(unix_micros(response_timestamp) - unix_micros(exposure_timestamp)) / 3600000000.0) > 1e-9",
        ),
        _none(
            "response_events.response_type IN (…)",
            "{silver}.response_events",
            f"response_type NOT IN ({_values(RESPONSE_TYPES)})",
        ),
        _none("response_events.value >= 0", "{silver}.response_events", "value < 0"),
        _none(
            "response_events: value only for conversions",
            "{silver}.response_events",
            "(response_type = 'conversion') <> (value IS NOT NULL)",
        ),
        # gold
        _none(
            "viewership_patterns.peak_hour BETWEEN 0 AND 23",
            "{gold}.viewership_patterns",
            "peak_hour NOT BETWEEN 0 AND 23",
        ),
        _none(
            "viewership_patterns: at most 3 preferred categories",
            "{gold}.viewership_patterns",
            "size(preferred_categories) > 3",
        ),
        ValidationQuery(
            "viewership_patterns.recency_last_engagement = MAX(timestamp)",
            "SELECT COUNT(*) FROM {gold}.viewership_patterns p JOIN (SELECT individual_id, "
            "MAX(timestamp) AS newest FROM {silver}.content_engagements GROUP BY individual_id) e "
            "ON p.individual_id = e.individual_id WHERE p.recency_last_engagement <> e.newest",
            0,
        ),
        _none(
            "audience_attributes.propensity_to_convert BETWEEN 0 AND 1",
            "{gold}.audience_attributes",
            "propensity_to_convert NOT BETWEEN 0 AND 1",
        ),
        _none(
            "audience_attributes.affinity_scores sum to 1",
            "{gold}.audience_attributes",
            "abs(aggregate(map_values(affinity_scores), 0D, (a, b) -> a + b) - 1) > 1e-9",
        ),
        _none(
            "audience_attributes.affinity_scores keys are content categories",
            "{gold}.audience_attributes",
            f"size(array_except(map_keys(affinity_scores), array({_values(CONTENT_CATEGORIES)}))) > 0",
        ),
        _none(
            "outcome_metrics: revenue when converted",
            "{gold}.outcome_metrics",
            "conversion_status = 'converted' AND revenue IS NULL",
        ),
        _none(
            "outcome_metrics.attribution_weight BETWEEN 0 AND 1",
            "{gold}.outcome_metrics",
            "attribution_weight NOT BETWEEN 0 AND 1",
        ),
        ValidationQuery(
            "outcome_metrics: weights sum to 1 per response and model",
            "SELECT COUNT(*) FROM (SELECT response_id, attribution_model, SUM(attribution_weight) AS total "
            "FROM {gold}.outcome_metrics GROUP BY response_id, attribution_model) "
            "WHERE abs(total - 1) > 1e-9",
            0,
        ),
    ]
