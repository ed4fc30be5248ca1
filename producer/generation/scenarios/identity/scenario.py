"""The identity-graph scenario behind the :class:`~producer.generation.scenarios.base.Scenario` interface.

Topics (before the configurable prefix), in publishing order: ``identity.households``,
``identity.individuals``, ``identity.identity-mappings``, ``identity.campaigns`` (compacted, keyed
by the entity id), ``identity.content-engagements``, ``identity.campaign-exposures``,
``identity.response-events`` (keyed by individual id) and ``identity.interval-truth`` (keyed by
batch id).

**Ids** are the seed's BIGINT keys as JSON integers: ``1 + ordinal`` for entities (see
:mod:`.population`), interval-encoded integers for events (see :mod:`.events`); Kafka keys are
their decimal text. Household ordinal ``h`` belongs to shard ``h % N`` with its individuals,
mappings and every event about them; campaign ``c``'s record belongs to shard ``c % N``. Campaigns
are the one entity another shard's events refer to: each is published at least a day before its
start date, so in realtime it is long acknowledged before any exposure; shards of a backfill run
independently and should be started together.

Entities are created once and never change. Event values are serialized as fixed-width byte
matrices (:mod:`producer.generation.rows`); entity records, far fewer, through orjson.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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
from producer.generation.scenarios.identity import events
from producer.generation.scenarios.identity.events import PLACEMENT_NAMES, IntervalColumns
from producer.generation.scenarios.identity.models import (
    CAMPAIGNS_TOPIC,
    CHANNELS,
    CONTENT_CATEGORIES,
    DEVICE_TYPES,
    EDUCATION_LEVELS,
    EMPLOYMENT,
    ENGAGEMENT_TYPES,
    ENGAGEMENTS_TOPIC,
    EXPOSURES_TOPIC,
    GENDERS,
    GOALS,
    HOUSEHOLDS_TOPIC,
    HOUSING_TYPES,
    IDENTIFIER_TYPES,
    INCOME_BRACKETS,
    INDIVIDUALS_TOPIC,
    MAPPINGS_TOPIC,
    RESPONSE_TYPES,
    RESPONSES_TOPIC,
    SCHEMA_VERSION,
    TRUTH_TOPIC,
    Campaign,
    CampaignExposure,
    ContentEngagement,
    Household,
    IdentityIntervalTruth,
    IdentityMapping,
    Individual,
    ResponseEvent,
)
from producer.generation.scenarios.identity.population import (
    MICROS_PER_DAY,
    OFFSETS,
    CampaignColumns,
    Population,
    population,
)
from producer.generation.serialization import dumps, timestamp_matrix, timestamp_strings
from producer.generation.shard import Shard


def _entity(name: str, model: type[Any], key: str) -> TopicSpec:
    return TopicSpec(name, "entities", model, key, True, SCHEMA_VERSION, time_field="created_at")


def _event(name: str, model: type[Any], id_field: str, time_field: str) -> TopicSpec:
    return TopicSpec(
        name,
        "events",
        model,
        "individual_id",
        False,
        SCHEMA_VERSION,
        time_field=time_field,
        id_field=id_field,
    )


HOUSEHOLDS = _entity(HOUSEHOLDS_TOPIC, Household, "household_id")
INDIVIDUALS = _entity(INDIVIDUALS_TOPIC, Individual, "individual_id")
MAPPINGS = _entity(MAPPINGS_TOPIC, IdentityMapping, "mapping_id")
CAMPAIGNS = _entity(CAMPAIGNS_TOPIC, Campaign, "campaign_id")
ENGAGEMENTS = _event(ENGAGEMENTS_TOPIC, ContentEngagement, "event_id", "timestamp")
EXPOSURES = _event(EXPOSURES_TOPIC, CampaignExposure, "exposure_id", "exposure_timestamp")
RESPONSES = _event(RESPONSES_TOPIC, ResponseEvent, "response_id", "response_timestamp")
INTERVAL_TRUTH = TopicSpec(
    TRUTH_TOPIC, "ground_truth", IdentityIntervalTruth, "batch_id", False, SCHEMA_VERSION
)

_SLUGS = tuple(name.lower() for name in CONTENT_CATEGORIES)
_CONTENT_TEXT = rows.words_table([f',"content_id":"{slug}-' for slug in _SLUGS])
_CATEGORY_TEXT = rows.words_table(
    [f'","content_category":"{name}","engagement_type":"' for name in CONTENT_CATEGORIES]
)
_TYPE_TEXT = rows.words_table([f'{name}","timestamp":"' for name in ENGAGEMENT_TYPES])
_DEVICE_TEXT = rows.words_table([f',"device_type":"{name}","session_id":"' for name in DEVICE_TYPES])
_CHANNEL_TEXT = rows.words_table([f'","channel":"{name}","frequency":' for name in CHANNELS])
_PLACEMENT_TEXT = rows.words_table(
    [*(f',"placement":"{name}","cost":' for name in PLACEMENT_NAMES), ',"placement":null,"cost":']
)
_RESPONSE_TEXT = rows.words_table(
    [f',"response_type":"{name}","response_timestamp":"' for name in RESPONSE_TYPES]
)
CONTENT_DIGITS = 6


class IdentityScenario(Scenario):
    """Households, individuals and their identifiers; campaigns over time; engagements, exposures and
    responses per interval; ground truth per interval and shard."""

    name: ClassVar[str] = "identity"

    def topics(self) -> tuple[TopicSpec, ...]:
        return (
            HOUSEHOLDS,
            INDIVIDUALS,
            MAPPINGS,
            CAMPAIGNS,
            ENGAGEMENTS,
            EXPOSURES,
            RESPONSES,
            INTERVAL_TRUTH,
        )

    def interval_length(self, config: SeedstreamConfig) -> timedelta:
        return config.identity.interval

    def zorder(self) -> dict[str, tuple[str, ...]]:
        """Seed 004's Z-order columns (its "Indexes" lines), silver and gold."""
        return {
            "households": ("income_bracket", "location_state"),
            "individuals": ("household_id", "age"),
            "identity_mappings": ("individual_id", "identifier_type"),
            "content_engagements": ("individual_id", "content_category"),
            "viewership_patterns": ("individual_id",),
            "audience_attributes": ("segment_primary", "behavioral_classification"),
            "campaigns": ("start_date", "goal"),
            "campaign_exposures": ("campaign_id", "individual_id"),
            "response_events": ("campaign_id", "response_type"),
            "outcome_metrics": ("campaign_id", "conversion_status"),
        }

    def validation_queries(self, config: SeedstreamConfig) -> list[ValidationQuery]:
        from producer.generation.scenarios.identity.validation import validation_queries

        return validation_queries(config)

    def report_accumulator(self, dataset: Dataset) -> ReportAccumulator:
        from producer.generation.scenarios.identity.report import IdentityReport

        return IdentityReport(dataset)

    # -- columnar API ----------------------------------------------------------------------------

    def population(self, dataset: Dataset) -> Population:
        """The dataset's entities and traits (cached)."""
        return population(dataset.config.identity, dataset.seed, to_micros(dataset.epoch))

    def event_columns(
        self, dataset: Dataset, interval_start: datetime, shard: Shard | None = None
    ) -> IntervalColumns:
        """The shard's (default: all) events of one interval as columns."""
        return events.interval_events(self.population(dataset), to_micros(interval_start), shard or Shard())

    def expected_records(self, dataset: Dataset, interval_start: datetime, shard: Shard) -> float:
        """Expected events of one interval from the rates (no generation), plus the ground truth."""
        pop = self.population(dataset)
        start = to_micros(interval_start)
        end = start + pop.interval_us
        mine = pop.owned(shard)
        integrals = np.array(
            [events.activity_curve(pop.config.diurnal, o).integral(start, end) for o in OFFSETS]
        )
        hours = integrals[pop.household_offset[pop.individual_household[mine]]]
        engagements = float(np.sum(pop.activity[mine] / 24.0 * hours))
        exposures = 0.0
        if len(pop.campaigns_in_flight(start // MICROS_PER_DAY)):
            per_day = pop.config.exposures.per_day
            exposures = float(np.sum(per_day * pop.activity[mine] / pop.mean_activity / 24.0 * hours))
        responses = exposures * float(np.mean(pop.propensity[mine])) if mine.size else 0.0
        return engagements + exposures + responses + 1.0

    # -- records ---------------------------------------------------------------------------------

    def entities(self, dataset: Dataset, start: datetime, end: datetime, shard: Shard) -> tuple[Records, ...]:
        pop = self.population(dataset)
        start_us, end_us = to_micros(start), to_micros(end)
        baseline = start_us <= pop.snapshot_us < end_us
        households = (
            np.flatnonzero(shard.owns(pop.household_ids() - 1)).astype(np.int64) if baseline else _none()
        )
        individuals = pop.owned(shard) if baseline else _none()
        mappings = (
            np.flatnonzero(shard.owns(pop.individual_household[pop.mapping_individual])).astype(np.int64)
            if baseline
            else _none()
        )
        campaigns = self._campaigns(pop, start_us, end_us, shard)
        snapshot = timestamp_strings(np.array([pop.snapshot_us], dtype=np.int64))[0]
        return (
            _records(HOUSEHOLDS, households + 1, pop.snapshot_us, _households(pop, households, snapshot)),
            _records(INDIVIDUALS, individuals + 1, pop.snapshot_us, _individuals(pop, individuals, snapshot)),
            _records(MAPPINGS, mappings + 1, pop.snapshot_us, _mappings(pop, mappings, snapshot)),
            Records(
                CAMPAIGNS,
                [str(c + 1).encode() for c in campaigns.ordinal.tolist()],
                _campaigns(pop, campaigns),
                pop.campaign_first_us(campaigns),
            ),
        )

    @staticmethod
    def _campaigns(pop: Population, start_us: int, end_us: int, shard: Shard) -> CampaignColumns:
        published = pop.campaigns_published(start_us, end_us)
        return published.take(shard.owns(published.ordinal))

    def interval(
        self,
        dataset: Dataset,
        interval_start: datetime,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> IntervalOutput:
        columns = self.event_columns(dataset, interval_start, shard)
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
            ),
        )

    def ground_truth(
        self,
        dataset: Dataset,
        columns: IntervalColumns,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> IdentityIntervalTruth:
        """The interval's ground-truth record for ``shard`` (counts of exactly ``columns`` and of the
        entity records in the interval)."""
        pop = self.population(dataset)
        start, end = columns.interval_start_us, columns.interval_end_us
        baseline = start <= pop.snapshot_us < end
        mine = pop.owned(shard)
        households = int(shard.owns(pop.household_ids() - 1).sum()) if baseline else 0
        mappings = int(shard.owns(pop.individual_household[pop.mapping_individual]).sum()) if baseline else 0
        return IdentityIntervalTruth.model_validate(
            {
                "batch_id": _batch_id(columns),
                "interval_start": from_micros(start),
                "interval_end": from_micros(end),
                **columns.truth_counts(),
                "households_changed": households,
                "individuals_changed": int(mine.size) if baseline else 0,
                "identity_mappings_changed": mappings,
                "campaigns_changed": len(self._campaigns(pop, start, end, shard)),
                "campaigns_in_flight": columns.campaigns_in_flight,
                "seed": dataset.seed,
                "shard": str(shard),
                "generation_time": generation_time or datetime.now(UTC),
            }
        )

    def serialize_events(self, dataset: Dataset, columns: IntervalColumns) -> tuple[Records, ...]:
        """Keys and compact JSON values of every event topic, vectorised (equal, byte for byte, to
        ``dumps`` of each :meth:`event_records` item)."""
        pop = self.population(dataset)
        tail_text = f',"batch_id":"{_batch_id(columns)}"}}'.encode()
        quoted_tail = b'"' + tail_text
        e, x, r = columns.engagements, columns.exposures, columns.responses
        engagement_values = rows.build(
            [
                b'{"event_id":',
                rows.integers(e.ids),
                b',"individual_id":',
                rows.integers(pop.individual_ids(e.individual)),
                _CONTENT_TEXT.take(e.category),
                rows.padded(e.content, CONTENT_DIGITS),
                _CATEGORY_TEXT.take(e.category),
                _TYPE_TEXT.take(e.engagement_type),
                timestamp_matrix(e.timestamp_us),
                b'","duration_seconds":',
                rows.nullable(rows.integers(np.maximum(e.duration, 0)), e.duration >= 0),
                _DEVICE_TEXT.take(e.device),
                rows.hexadecimal(e.session),
                quoted_tail,
            ],
            len(e),
        )
        exposure_values = rows.build(
            [
                b'{"exposure_id":',
                rows.integers(x.ids),
                b',"individual_id":',
                rows.integers(pop.individual_ids(x.individual)),
                b',"campaign_id":',
                rows.integers(x.campaign + 1),
                b',"exposure_timestamp":"',
                timestamp_matrix(x.timestamp_us),
                _CHANNEL_TEXT.take(x.channel),
                rows.integers(x.frequency),
                _PLACEMENT_TEXT.take(x.placement),
                rows.decimals(x.cost, 4),
                tail_text,
            ],
            len(x),
        )
        response_values = rows.build(
            [
                b'{"response_id":',
                rows.integers(r.ids),
                b',"individual_id":',
                rows.integers(pop.individual_ids(r.individual)),
                b',"campaign_id":',
                rows.integers(r.campaign + 1),
                b',"exposure_id":',
                rows.integers(r.ids),
                _RESPONSE_TEXT.take(r.response_type),
                timestamp_matrix(r.timestamp_us),
                b'","exposure_timestamp":"',
                timestamp_matrix(r.exposure_us),
                b'","time_to_conversion_hours":',
                rows.decimals(r.delay_steps, 2),
                b',"value":',
                rows.nullable(rows.decimals(np.maximum(r.value_cents, 0), 2), r.value_cents >= 0),
                tail_text,
            ],
            len(r),
        )
        keys = pop.individual_keys_text
        return (
            Records(ENGAGEMENTS, keys[e.individual].tolist(), engagement_values, e.timestamp_us),
            Records(EXPOSURES, keys[x.individual].tolist(), exposure_values, x.timestamp_us),
            Records(RESPONSES, keys[r.individual].tolist(), response_values, r.timestamp_us),
        )

    def event_records(
        self, columns: IntervalColumns
    ) -> tuple[list[ContentEngagement], list[CampaignExposure], list[ResponseEvent]]:
        """``columns`` as validated models (slow; for tests and small intervals)."""
        batch = _batch_id(columns)
        e, x, r = columns.engagements, columns.exposures, columns.responses
        engagements = [
            ContentEngagement(
                event_id=int(e.ids[i]),
                individual_id=int(e.individual[i]) + 1,
                content_id=f"{_SLUGS[int(e.category[i])]}-{int(e.content[i]):0{CONTENT_DIGITS}d}",
                content_category=CONTENT_CATEGORIES[int(e.category[i])],
                engagement_type=ENGAGEMENT_TYPES[int(e.engagement_type[i])],
                timestamp=from_micros(int(e.timestamp_us[i])),
                duration_seconds=int(e.duration[i]) if e.duration[i] >= 0 else None,
                device_type=DEVICE_TYPES[int(e.device[i])],
                session_id=f"{int(e.session[i]):016x}",
                batch_id=batch,
            )
            for i in range(len(e))
        ]
        exposures = [
            CampaignExposure(
                exposure_id=int(x.ids[i]),
                individual_id=int(x.individual[i]) + 1,
                campaign_id=int(x.campaign[i]) + 1,
                exposure_timestamp=from_micros(int(x.timestamp_us[i])),
                channel=CHANNELS[int(x.channel[i])],
                frequency=int(x.frequency[i]),
                placement=PLACEMENT_NAMES[int(x.placement[i])] if x.placement[i] >= 0 else None,
                cost=int(x.cost[i]) / 10_000,
                batch_id=batch,
            )
            for i in range(len(x))
        ]
        responses = [
            ResponseEvent(
                response_id=int(r.ids[i]),
                individual_id=int(r.individual[i]) + 1,
                campaign_id=int(r.campaign[i]) + 1,
                exposure_id=int(r.ids[i]),
                response_type=RESPONSE_TYPES[int(r.response_type[i])],
                response_timestamp=from_micros(int(r.timestamp_us[i])),
                exposure_timestamp=from_micros(int(r.exposure_us[i])),
                time_to_conversion_hours=int(r.delay_steps[i]) / 100,
                value=int(r.value_cents[i]) / 100 if r.value_cents[i] >= 0 else None,
                batch_id=batch,
            )
            for i in range(len(r))
        ]
        return engagements, exposures, responses


def _none() -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.zeros(0, dtype=np.int64)


def _records(
    spec: TopicSpec, ids: np.ndarray[Any, np.dtype[np.int64]], instant: int, values: list[bytes]
) -> Records:
    return Records(
        spec, [str(i).encode() for i in ids.tolist()], values, np.full(len(values), instant, dtype=np.int64)
    )


def _households(pop: Population, ordinals: np.ndarray[Any, np.dtype[np.int64]], created: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "household_id": h + 1,
                "location_city": pop.household_city[h],
                "location_state": pop.household_state[h],
                "location_zip": pop.household_zip[h],
                "income_bracket": INCOME_BRACKETS[b],
                "household_size": s,
                "housing_type": HOUSING_TYPES[t],
                "created_at": created,
            }
        )
        for h, b, s, t in zip(
            ordinals.tolist(),
            pop.household_income[ordinals].tolist(),
            pop.household_size[ordinals].tolist(),
            pop.household_housing[ordinals].tolist(),
            strict=True,
        )
    ]


def _individuals(pop: Population, ordinals: np.ndarray[Any, np.dtype[np.int64]], created: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "individual_id": i + 1,
                "household_id": h + 1,
                "age": a,
                "gender": GENDERS[g],
                "education_level": EDUCATION_LEVELS[e],
                "employment_status": EMPLOYMENT[m],
                "income_individual": c / 100 if c >= 0 else None,
                "created_at": created,
            }
        )
        for i, h, a, g, e, m, c in zip(
            ordinals.tolist(),
            pop.individual_household[ordinals].tolist(),
            pop.age[ordinals].tolist(),
            pop.gender[ordinals].tolist(),
            pop.education[ordinals].tolist(),
            pop.employment[ordinals].tolist(),
            pop.income_cents[ordinals].tolist(),
            strict=True,
        )
    ]


def _mappings(pop: Population, ordinals: np.ndarray[Any, np.dtype[np.int64]], created: str) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "mapping_id": m + 1,
                "individual_id": i + 1,
                "identifier_type": IDENTIFIER_TYPES[t],
                "identifier_value": v,
                "first_seen": f,
                "last_seen": s,
                "active": a,
                "created_at": created,
            }
        )
        for m, i, t, v, f, s, a in zip(
            ordinals.tolist(),
            pop.mapping_individual[ordinals].tolist(),
            pop.mapping_type[ordinals].tolist(),
            pop.identifier_values(ordinals),
            timestamp_strings(pop.mapping_first_us[ordinals]),
            timestamp_strings(pop.mapping_last_us[ordinals]),
            pop.mapping_active[ordinals].tolist(),
            strict=True,
        )
    ]


def _day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _campaigns(pop: Population, columns: CampaignColumns) -> list[bytes]:
    names = pop.config.segments.names()
    values = []
    for k in range(len(columns)):
        segments = [names[s] for s in columns.segments[k, : columns.segment_count[k]].tolist()]
        channels = [CHANNELS[c] for c in columns.channels[k, : columns.channel_count[k]].tolist()]
        goal = GOALS[int(columns.goal[k])]
        campaign_id = int(columns.ordinal[k]) + 1
        values.append(
            orjson.dumps(
                {
                    "campaign_id": campaign_id,
                    "campaign_name": f"{goal.title()}: {segments[0]} #{campaign_id}",
                    "start_date": _day(int(columns.start_day[k])),
                    "end_date": _day(int(columns.end_day[k])),
                    "target_segment": segments,
                    "channels": channels,
                    "budget": int(columns.budget_cents[k]) / 100,
                    "goal": goal,
                    "created_at": timestamp_strings(columns.created_us[k : k + 1])[0],
                }
            )
        )
    return values


def _batch_id(columns: IntervalColumns) -> str:
    length = timedelta(microseconds=columns.interval_end_us - columns.interval_start_us)
    return interval_id(from_micros(columns.interval_start_us), length)
