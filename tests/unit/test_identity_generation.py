"""Identity-graph generation: determinism, sharding, distributions, rules, integrity, schemas, bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from producer.config import load_config
from producer.errors import BadInputError
from producer.generation.blocks.counts import poisson
from producer.generation.clock import to_micros
from producer.generation.dataset import Dataset
from producer.generation.scenarios.identity import events as events_module
from producer.generation.scenarios.identity import population as population_module
from producer.generation.scenarios.identity.population import OFFSETS, Population
from producer.generation.scenarios.identity.scenario import IdentityScenario
from producer.generation.scenarios.identity.settings import expected_identifiers
from producer.generation.scenarios.registry import get_scenario
from producer.generation.serialization import dumps
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
IDENTITY = get_scenario("identity")
assert isinstance(IDENTITY, IdentityScenario)
QUARTER = timedelta(minutes=15)
INTERVALS = 128  # 32 hours: every response delay of identity.small (at most a day) shows up
ENTITY_TOPICS = ("households", "individuals", "identity-mappings", "campaigns")
EVENT_TOPICS = ("content-engagements", "campaign-exposures", "response-events")


def collect(
    dataset: Dataset, intervals: int, shard: Shard | None = None, scenario: IdentityScenario = IDENTITY
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
def run() -> tuple[Dataset, dict[str, list[bytes]]]:
    dataset = make_dataset("identity.small")
    return dataset, collect(dataset, INTERVALS)


@pytest.fixture(scope="module")
def big() -> tuple[Dataset, Population]:
    dataset = make_dataset("identity")
    return dataset, IDENTITY.population(dataset)


def _clear_caches() -> None:
    population_module._populations.clear()
    population_module._campaigns.cache_clear()
    population_module._in_flight.cache_clear()
    events_module._books.clear()


# -- determinism and sharding --


def test_two_runs_from_scratch_are_identical(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    dataset, first = run
    _clear_caches()
    second = collect(dataset, INTERVALS, scenario=IdentityScenario())
    assert second == first
    assert all(first[f"identity.{topic}"] for topic in (*ENTITY_TOPICS, *EVENT_TOPICS))


def test_a_run_started_mid_range_gives_the_same_intervals(
    run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    """Responses of a late interval come from exposures of earlier ones, regenerated from scratch."""
    dataset, whole = run
    responses = Counter(json.loads(v)["batch_id"] for v in whole["identity.response-events"])
    batch = max((b for b in responses if b >= "20251109"), key=responses.__getitem__)
    _clear_caches()
    start = datetime.strptime(batch, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    output = IdentityScenario().interval(dataset, start, Shard(), generation_time=start + QUARTER)
    for records in output.events:
        expected = [v for v in whole[records.topic.name] if json.loads(v)["batch_id"] == batch]
        assert records.values == expected and expected


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_shards_union_equals_the_whole_and_truth_adds_up(
    shards: int, run: tuple[Dataset, dict[str, list[bytes]]]
) -> None:
    dataset, whole = run
    parts = [collect(dataset, INTERVALS, Shard(index, shards)) for index in range(shards)]
    for topic in whole:
        if topic == "identity.interval-truth":
            continue
        union = Counter(value for part in parts for value in part[topic])
        assert union == Counter(whole[topic]), topic
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for part in parts:
        for truth in parsed(part["identity.interval-truth"]):
            sums[truth["batch_id"]] += _counts(truth)
    truths = parsed(whole["identity.interval-truth"])
    assert {truth["batch_id"]: +_counts(truth) for truth in truths} == {k: +v for k, v in sums.items()}


def _counts(truth: dict[str, Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, value in truth.items():
        if isinstance(value, int) and field not in ("seed", "campaigns_in_flight"):
            counts[field] += value
        elif isinstance(value, dict):
            counts.update({f"{field}.{name}": count for name, count in value.items()})
    return counts


def test_truth_counts_match_the_records(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = run
    by_batch: dict[str, Counter[str]] = defaultdict(Counter)
    categories = {
        "content-engagements": ("content_category", "engagement_type", "device_type"),
        "campaign-exposures": ("channel",),
        "response-events": ("response_type",),
    }
    for topic, fields in categories.items():
        for record in parsed(out[f"identity.{topic}"]):
            by_batch[record["batch_id"]][topic] += 1
            for field in fields:
                by_batch[record["batch_id"]][f"{topic}:{field}:{record[field]}"] += 1
    truths = parsed(out["identity.interval-truth"])
    assert len(truths) == INTERVALS
    for truth in truths:
        counted = by_batch[truth["batch_id"]]
        for topic, fields in categories.items():
            assert truth[topic.replace("-", "_")] == counted[topic]
            for field in fields:
                per_value = truth[f"{topic.replace('-', '_')}_by_{field}"]
                assert all(counted[f"{topic}:{field}:{k}"] == v for k, v in per_value.items())
    assert sum(t["response_events"] for t in truths) > 100
    assert sum(t["campaigns_changed"] for t in truths) == len(out["identity.campaigns"]) - sum(
        1 for c in parsed(out["identity.campaigns"]) if c["created_at"] < "2025-11-07T23:45:00.000001Z"
    )


# -- integrity and the seed's rules --


def _interval_start(record: dict[str, Any]) -> str:
    start = datetime.strptime(record["batch_id"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_references_exist_and_precede_their_events(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = run
    households = {h["household_id"]: h for h in parsed(out["identity.households"])}
    individuals = {i["individual_id"]: i for i in parsed(out["identity.individuals"])}
    campaigns = {c["campaign_id"]: c for c in parsed(out["identity.campaigns"])}
    assert all(i["household_id"] in households for i in individuals.values())
    sizes = Counter(i["household_id"] for i in individuals.values())
    assert all(sizes[h] == household["household_size"] for h, household in households.items())
    assert all(m["individual_id"] in individuals for m in parsed(out["identity.identity-mappings"]))
    for topic in EVENT_TOPICS:
        for record in parsed(out[f"identity.{topic}"]):
            start = _interval_start(record)
            assert individuals[record["individual_id"]]["created_at"] < start
            if "campaign_id" in record:
                assert campaigns[record["campaign_id"]]["created_at"] < start
            time = record.get("response_timestamp") or record.get("exposure_timestamp") or record["timestamp"]
            assert start <= time < (datetime.fromisoformat(start) + QUARTER).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_exposures_stay_inside_their_campaigns_dates_and_channels(
    run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    _, out = run
    campaigns = {c["campaign_id"]: c for c in parsed(out["identity.campaigns"])}
    exposures = parsed(out["identity.campaign-exposures"])
    assert len(exposures) > 1000
    for exposure in exposures:
        campaign = campaigns[exposure["campaign_id"]]
        day = exposure["exposure_timestamp"][:10]
        assert campaign["start_date"] <= day <= campaign["end_date"]
        assert exposure["channel"] in campaign["channels"]
        assert exposure["frequency"] >= 1 and exposure["cost"] > 0
        assert (exposure["placement"] is None) == (exposure["channel"] == "email")
    cost_per_view = [e["cost"] / e["frequency"] for e in exposures if e["channel"] == "ctv"]
    assert np.median(cost_per_view) == pytest.approx(28.0 / 1000, rel=0.15)  # the CPM, ±25 % jitter


def test_responses_answer_an_earlier_exposure_exactly(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = run
    exposures = {e["exposure_id"]: e for e in parsed(out["identity.campaign-exposures"])}
    responses = parsed(out["identity.response-events"])
    assert len(responses) > 100
    seen_ids = set()
    for response in responses:
        exposure = exposures[response["exposure_id"]]
        assert response["response_id"] == response["exposure_id"] and response["response_id"] not in seen_ids
        seen_ids.add(response["response_id"])
        assert (response["individual_id"], response["campaign_id"]) == (
            exposure["individual_id"],
            exposure["campaign_id"],
        )
        assert response["exposure_timestamp"] == exposure["exposure_timestamp"]
        assert exposure["batch_id"] <= response["batch_id"]
        delay = datetime.fromisoformat(response["response_timestamp"]) - datetime.fromisoformat(
            response["exposure_timestamp"]
        )
        assert delay > timedelta(0) and delay <= timedelta(days=1)
        assert response["time_to_conversion_hours"] == delay.total_seconds() / 3600  # exact, not approximate
        assert (response["value"] is not None) == (response["response_type"] == "conversion")
        assert response["value"] is None or response["value"] > 0
    types = Counter(r["response_type"] for r in responses)
    assert set(types) == {"click", "conversion", "engagement", "visit"}


def test_durations_only_for_views_and_sessions_group_an_interval(
    run: tuple[Dataset, dict[str, list[bytes]]],
) -> None:
    _, out = run
    engagements = parsed(out["identity.content-engagements"])
    assert len(engagements) > 3000
    for engagement in engagements:
        assert (engagement["duration_seconds"] is not None) == (engagement["engagement_type"] == "view")
        category = engagement["content_category"].lower()
        assert engagement["content_id"].startswith(f"{category}-")
    sessions: dict[str, set[tuple[int, str, str]]] = defaultdict(set)
    for engagement in engagements:
        sessions[engagement["session_id"]].add(
            (engagement["individual_id"], engagement["batch_id"], engagement["device_type"])
        )
    assert all(len(members) == 1 for members in sessions.values())
    views = [e["duration_seconds"] for e in engagements if e["duration_seconds"] is not None]
    assert np.mean(views) == pytest.approx(240, rel=0.1)  # exponential, mean view_seconds_mean


# -- entity distributions (identity preset: 20,000 households, ~51,000 individuals) --


def _rounded_clipped_normal(mean: float, sd: float) -> tuple[float, float]:
    """Mean and sd of round(Normal(mean, sd)) clipped to 1–10, computed exactly."""

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf((x - mean) / (sd * math.sqrt(2))))

    probabilities = {k: cdf(k + 0.5) - cdf(k - 0.5) for k in range(2, 10)}
    probabilities[1] = cdf(1.5)
    probabilities[10] = 1 - cdf(9.5)
    first = sum(k * p for k, p in probabilities.items())
    second = sum(k * k * p for k, p in probabilities.items())
    return first, math.sqrt(second - first * first)


def test_households(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    size = pop.household_size
    mean, sd = _rounded_clipped_normal(2.5, 1.2)
    assert size.min() >= 1 and size.max() <= 10 and np.sum(size == 1) > 0
    assert size.mean() == pytest.approx(mean, abs=0.03) and size.std() == pytest.approx(sd, abs=0.03)
    assert np.bincount(pop.household_income, minlength=5) / size.size == pytest.approx(
        [0.20, 0.21, 0.23, 0.16, 0.20], abs=0.015
    )
    assert np.bincount(pop.household_housing, minlength=4) / size.size == pytest.approx(
        [0.64, 0.25, 0.07, 0.04], abs=0.015
    )
    assert all(len(z) == 5 and z.isdigit() for z in pop.household_zip)
    states = Counter(pop.household_state)
    assert len(states) > 40 and states.most_common(1)[0][0] == "CA"  # weighted by city population


def test_individuals(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    n = pop.age.size
    assert pop.age.min() >= 18 and pop.age.max() <= 100 and pop.age.max() >= 90
    assert np.bincount(pop.gender, minlength=4) / n == pytest.approx([0.48, 0.48, 0.03, 0.01], abs=0.01)
    income = pop.income_cents / 100
    dependents = np.isin(pop.employment, [2, 3])
    assert np.array_equal(pop.income_cents < 0, dependents) and 0 < dependents.mean() < 0.2
    earning = ~dependents
    by_education = [income[earning & (pop.education == level)].mean() for level in range(5)]
    assert by_education == sorted(by_education)  # income rises with education
    young = income[earning & (pop.age <= 29)].mean()
    middle = income[earning & (pop.age >= 45) & (pop.age <= 64)].mean()
    assert middle > 1.3 * young  # and with age
    assert np.all(pop.education[pop.age < 24] <= 2) and np.all(pop.education[pop.age < 27] <= 3)
    assert np.mean(pop.employment[pop.age >= 67] == 4) > 0.7  # retired


def test_identity_mappings(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    n = pop.age.size
    counts = np.bincount(pop.mapping_individual, minlength=n)
    assert counts.min() >= 2 and counts.max() <= 15 and counts.max() >= 9
    assert counts.mean() == pytest.approx(4.0, abs=0.03)  # sd ≈ 1.5 over ~51,000 individuals
    has = np.zeros((n, 6), dtype=bool)
    has[pop.mapping_individual, pop.mapping_type] = True
    rates = {"email_hash": 0.6, "mobile_ad_id": 0.8, "ctv_id": 0.4, "cookie_id": 0.9, "hashed_phone": 0.3}
    order = ("email_hash", "cookie_id", "mobile_ad_id", "device_id", "ctv_id", "hashed_phone")
    for kind, rate in rates.items():
        assert has[:, order.index(kind)].mean() == pytest.approx(rate, abs=0.01), kind
    values = pop.identifier_values(np.arange(pop.mapping_individual.size, dtype=np.int64))
    assert len(set(zip(pop.mapping_type.tolist(), values, strict=True))) == len(values)  # unique within type
    assert np.all(pop.mapping_last_us >= pop.mapping_first_us)
    assert np.all(pop.mapping_last_us <= pop.snapshot_us)
    assert 0.05 < pop.mapping_active.mean() < 0.5


def test_the_identifier_mean_follows_the_config() -> None:
    dataset = make_dataset("identity", identity__households=4000, identity__identifiers={"mean": 7.5})
    pop = IDENTITY.population(dataset)
    counts = np.bincount(pop.mapping_individual)
    assert counts.mean() == pytest.approx(7.5, abs=0.1) and counts.min() >= 2 and counts.max() <= 15
    assert expected_identifiers((0.6, 0.8, 0.4, 0.9, 0.3), 0.0) == pytest.approx(3.0591, abs=1e-4)


def test_latent_traits(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    assert np.allclose(pop.affinity.sum(axis=1), 1.0)
    assert np.mean(pop.segment == pop.favourite) > 0.7  # noise can lift another category above it
    favourite_shares = np.bincount(pop.favourite, minlength=8) / pop.favourite.size
    assert favourite_shares == pytest.approx([0.16, 0.16, 0.22, 0.08, 0.12, 0.12, 0.07, 0.07], abs=0.01)
    assert np.median(pop.activity) == pytest.approx(6.0, rel=0.05)
    assert np.median(pop.propensity) == pytest.approx(0.05, rel=0.08)
    assert np.all((pop.propensity > 0) & (pop.propensity < 1))


def test_campaigns(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    columns = pop.campaigns(np.arange(3000, dtype=np.int64))
    duration = columns.end_day - columns.start_day + 1
    assert duration.min() == 7 and duration.max() == 90
    assert duration.mean() == pytest.approx(48.5, abs=1.5)
    assert np.all(columns.created_us <= columns.start_day * 86_400_000_000 - 86_400_000_000)
    assert np.all(columns.budget_cents > 0) and np.all(columns.channel_count >= 1)
    for k in range(len(columns)):
        chosen = columns.channels[k, : columns.channel_count[k]]
        assert len(set(chosen.tolist())) == chosen.size
        segments = columns.segments[k, : columns.segment_count[k]]
        assert 1 <= segments.size <= 3 and len(set(segments.tolist())) == segments.size
    used = np.bincount(np.concatenate([columns.channels[k, : columns.channel_count[k]] for k in range(3000)]))
    assert used.argmax() in (0, 1) and used.argmin() in (3, 4)  # email and social most, video and ctv least


# -- events driven by the traits --


def test_response_rate_rises_with_propensity(big: tuple[Dataset, Population]) -> None:
    dataset, pop = big
    responded: list[np.ndarray] = []
    propensity: list[np.ndarray] = []
    for k in range(0, 96, 4):
        columns = IDENTITY.event_columns(dataset, dataset.epoch + k * QUARTER)
        responded.append(columns.exposures.response_type >= 0)
        propensity.append(pop.propensity[columns.exposures.individual])
    hits, levels = np.concatenate(responded), np.concatenate(propensity)
    assert hits.size > 20_000
    edges = np.quantile(levels, [0.25, 0.5, 0.75])
    quartile = np.searchsorted(edges, levels)
    rates = [hits[quartile == q].mean() for q in range(4)]
    assert rates == sorted(rates) and rates[3] > 3 * rates[0]
    for q in range(4):
        mean = levels[quartile == q].mean()
        n = int((quartile == q).sum())
        assert rates[q] == pytest.approx(mean, abs=4 * math.sqrt(mean * (1 - mean) / n))


def test_engagements_follow_affinities_activity_and_the_daily_cycle(big: tuple[Dataset, Population]) -> None:
    dataset, pop = big
    monday = datetime(2025, 11, 10, tzinfo=UTC)
    evening = IDENTITY.event_columns(dataset, monday + timedelta(hours=26))  # 21:00 US Eastern
    night = IDENTITY.event_columns(dataset, monday + timedelta(hours=33))  # 04:00 US Eastern
    assert len(evening.engagements) > 4 * len(night.engagements)
    saturday = IDENTITY.event_columns(dataset, datetime(2025, 11, 15, 23, tzinfo=UTC))
    weekday = IDENTITY.event_columns(dataset, datetime(2025, 11, 12, 23, tzinfo=UTC))
    assert len(saturday.engagements) > 1.1 * len(weekday.engagements)
    e = evening.engagements
    # the category of an engagement follows its individual's affinities
    expected = pop.affinity[e.individual].sum(axis=0)
    observed = np.bincount(e.category, minlength=8)
    assert observed == pytest.approx(expected, rel=0.1, abs=40)
    assert np.mean(e.category == pop.favourite[e.individual]) > 0.35
    # busier individuals engage more
    per_individual = np.bincount(e.individual, minlength=pop.age.size)
    high = pop.activity > np.quantile(pop.activity, 0.9)
    low = pop.activity < np.quantile(pop.activity, 0.1)
    assert per_individual[high].mean() > 5 * per_individual[low].mean()
    assert np.bincount(e.engagement_type, minlength=5) / len(e) == pytest.approx(
        [0.55, 0.20, 0.05, 0.12, 0.08], abs=0.015
    )


# -- the shortcuts of the interval loop give the plain computation's values --


@pytest.mark.parametrize("scale", [0.0, 1e-6, 0.01, 0.2, 1.0, 5.0, 40.0, 250.0, 300.0, 5_000.0])
def test_screened_poisson_counts_equal_the_full_inversion(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 1000) + 1)
    raw = rng.integers(0, 2**64 - 1, 200_000, dtype=np.uint64, endpoint=True)
    means = scale * np.exp(rng.normal(0.0, 1.0, raw.size))
    means[:100] = 0.0
    raw[100:110] = [0, 1, 2**11 - 1, 2**11, 2**63, 2**64 - 1, 2**64 - 2**11, 2**32, 3, 2**53]
    counts = events_module._poisson(raw, means)
    assert np.array_equal(counts, poisson(raw, means))


def test_one_shifted_curve_gives_each_zones_times_and_integrals(big: tuple[Dataset, Population]) -> None:
    _, pop = big
    start = pop.epoch_us + 3 * 86_400_000_000 + 92 * pop.interval_us  # 23:00 UTC
    end = start + pop.interval_us
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 2**64 - 1, 20_000, dtype=np.uint64, endpoint=True)
    zone = rng.integers(0, len(OFFSETS), raw.size)
    times = events_module._times(pop, zone, raw, start, end)
    integrals = events_module._integrals(pop, start, end)
    for k, hours in enumerate(OFFSETS):
        curve = events_module.activity_curve(pop.config.diurnal, hours)
        assert np.array_equal(times[zone == k], curve.sample_times(raw[zone == k], start, end))
        assert integrals[k] == curve.integral(start, end)
    assert len(set(integrals.tolist())) > 2


# -- serialization and schemas --


def _validator(topic: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{topic}.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_values_validate_against_the_committed_schemas(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    _, out = run
    for topic, values in out.items():
        validator = _validator(topic)
        for value in values[:: max(1, len(values) // 400)]:
            validator.validate(json.loads(value))
    broken = json.loads(out["identity.response-events"][0])
    broken["response_type"] = "purchase"
    with pytest.raises(jsonschema.ValidationError):
        _validator("identity.response-events").validate(broken)


def test_vectorised_values_equal_the_models_dumped(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    dataset, out = run
    compared: Counter[str] = Counter()
    for k in range(96, 128, 2):
        columns = IDENTITY.event_columns(dataset, dataset.epoch + k * QUARTER)
        records = IDENTITY.serialize_events(dataset, columns)
        models = IDENTITY.event_records(columns)
        for serialized, typed in zip(records, models, strict=True):
            assert serialized.values == [dumps(model) for model in typed]
            assert serialized.keys == [str(model.individual_id).encode() for model in typed]
            compared[serialized.topic.name] += len(typed)
    assert min(compared.values()) > 20, compared
    for spec in IDENTITY.topics()[:4]:
        for value in out[spec.name][:300]:
            assert dumps(spec.model.model_validate_json(value)) == value


# -- bad input --


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        (
            {"identity.identifiers.presence.email_hash": 1.2},
            "identity.identifiers.presence.email_hash",
            "less than or equal to 1",
        ),
        (
            {"identity.exposures.targeted_share": -0.1},
            "identity.exposures.targeted_share",
            "greater than or equal to 0",
        ),
        (
            {"identity.engagements.device_loyalty": 2},
            "identity.engagements.device_loyalty",
            "less than or equal to 1",
        ),
        ({"identity.campaigns.duration_days": [0, 5]}, "identity.campaigns.duration_days", "at least 1 day"),
        ({"identity.campaigns.duration_days": [30, 7]}, "identity.campaigns.duration_days", "min <= max"),
        (
            {"identity.campaigns.target_segments": ["Sports Fan", "Cat Lovers"]},
            "identity",
            "campaigns.target_segments ['Cat Lovers'] are not in the segment list",
        ),
        ({"identity.identifiers.mean": 1.5}, "identity.identifiers.mean", "within [2, 15]"),
        ({"identity.identifiers.mean": 16}, "identity.identifiers.mean", "within [2, 15]"),
        (
            {"identity.identifiers.mean": 2.5},
            "identity.identifiers",
            "below 3.059, the mean the presence rates",
        ),
        ({"identity.gender.male": 0.6}, "identity.gender", "must sum to 1"),
        ({"identity.income_brackets.over_150k": 0.3}, "identity.income_brackets", "must sum to 1"),
        ({"identity.engagements.types.view": 0.5}, "identity.engagements.types", "must sum to 1"),
        ({"identity.segments.sports": "News Junkie"}, "identity.segments", "must be distinct"),
        ({"identity.households": 0}, "identity.households", "greater than or equal to 1"),
    ],
)
def test_inconsistent_numbers_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        load_config("identity", overrides)
    lines = str(refused.value).splitlines()
    assert any((f"{field}:" in line or f"{field} =" in line) and rule in line for line in lines), lines


def test_every_problem_gets_its_own_line() -> None:
    with pytest.raises(BadInputError) as refused:
        load_config(
            "identity",
            {
                "identity.responses.propensity_median": 1.5,
                "identity.campaigns.duration_days": [0, 3],
                "identity.identifiers.mean": 20,
            },
        )
    lines = str(refused.value).splitlines()
    assert len(lines) == 3
    assert any("identity.responses.propensity_median = 1.5" in line for line in lines)


def test_presets_load() -> None:
    for preset in ("identity", "identity.small"):
        assert load_config(preset).scenario == "identity"
    assert load_config("identity").identity.households == 20_000
    assert load_config("identity.small").identity.households == 40


def _seedstream(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
        env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip


def test_generate_refuses_a_bad_config_before_writing_anything(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "scenario: identity\nidentity:\n  households: 10\n  identifiers: {mean: 1}\n"
        "  campaigns: {duration_days: [0, 10], target_segments: [Gamers]}\n"
        "  exposures: {targeted_share: 1.5}\n"
    )
    out = tmp_path / "out"
    result = _seedstream("generate", "--config", str(config), "--from", "2025-11-08T00:00Z",
                         "--to", "2025-11-08T01:00Z", "--out", str(out))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    text = result.stderr
    for expected in (
        "identity.identifiers.mean = 1",
        "identity.campaigns.duration_days = [0, 10]",
        "identity.exposures.targeted_share = 1.5",
    ):
        assert expected in text, text


def test_generate_writes_every_topic(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _seedstream("generate", "--config", "identity.small", "--from", "2025-11-08T00:00Z",
                         "--to", "2025-11-08T02:00Z", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = {path.name for path in out.iterdir()}
    assert {f"identity.{topic}.jsonl" for topic in (*ENTITY_TOPICS, *EVENT_TOPICS, "interval-truth")} <= names
    truths = (out / "identity.interval-truth.jsonl").read_text().splitlines()
    assert len(truths) == 8 and date.fromisoformat("2025-11-08")


def test_entity_records_carry_their_snapshot_instant(run: tuple[Dataset, dict[str, list[bytes]]]) -> None:
    dataset, out = run
    snapshot = to_micros(dataset.epoch - QUARTER)
    records = IDENTITY.entities(dataset, dataset.epoch - QUARTER, dataset.epoch, Shard())
    assert all(int(t) == snapshot for batch in records[:3] for t in batch.timestamps_us)
    campaigns = records[3]
    assert len(campaigns) and np.all(campaigns.timestamps_us == snapshot)
    later = parsed(out["identity.campaigns"])[len(campaigns) :]
    assert later and all(c["created_at"] >= "2025-11-08" for c in later)
