"""fleet generation: boundaries, eligibility, sharding, emulated ranges, statistics, determinism."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.generation.clock import to_micros
from producer.generation.scenarios.fleet import generate
from producer.generation.scenarios.fleet.models import EVENT_TYPE_WEIGHTS, EVENT_TYPES, DriverEventBatch
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset, make_interval

FLEET = get_scenario("fleet")
QUARTER = timedelta(minutes=15)


def events_of(dataset, start, shard="0/1"):  # type: ignore[no-untyped-def]
    return generate.interval_events(dataset, start, Shard.parse(shard))


def test_timestamps_stay_inside_the_interval() -> None:
    dataset = make_dataset("base")
    for k in range(8):
        start = dataset.epoch + k * QUARTER
        events = events_of(dataset, start)
        assert len(events) > 0
        assert events.timestamp_us.min() >= to_micros(start)
        assert events.timestamp_us.max() < to_micros(start + QUARTER)


def test_events_are_sorted_by_timestamp_then_event_id() -> None:
    records = FLEET.event_records(events_of(make_dataset("small"), make_dataset("small").epoch))  # type: ignore[attr-defined]
    keys = [(record.timestamp, record.event_id) for record in records]
    assert keys == sorted(keys)
    assert len({record.event_id for record in records}) == len(records)


def test_company_lifecycle_baseline_then_onboarding_ticks() -> None:
    dataset = make_dataset("small")  # 5 baseline, +1 every 30 minutes
    epoch = dataset.epoch
    everything = generate.companies(dataset, epoch - QUARTER, epoch + timedelta(hours=2), Shard())
    created = everything.created_at_us.tolist()
    assert created[:5] == [to_micros(epoch - QUARTER)] * 5
    assert created[5:] == [to_micros(epoch + k * timedelta(minutes=30)) for k in (1, 2, 3)]
    assert len(set(everything.company_ids)) == 8


def test_no_event_for_a_company_created_at_or_after_interval_start() -> None:
    dataset = make_dataset("small", fleet__company_onboarding_interval="PT15M")
    everything = generate.companies(
        dataset, dataset.epoch - QUARTER, dataset.epoch + timedelta(hours=3), Shard()
    )
    created = dict(zip(everything.ordinals.tolist(), everything.created_at_us.tolist(), strict=True))
    for k in range(12):
        start = dataset.epoch + k * QUARTER
        events = events_of(dataset, start)
        assert all(created[ordinal] < to_micros(start) for ordinal in set(events.company_ordinal.tolist()))
        # the company onboarded exactly at this interval_start does not drive yet, the next interval it does
        assert events.eligible_companies == 5 + max(0, k - 1)


def test_ground_truth_counts_equal_the_records() -> None:
    output = make_interval(make_dataset("base"))
    truth = DriverEventBatch.model_validate_json(output.ground_truth.values[0])
    types = [orjson.loads(value)["event_type"] for value in output.events[0].values]
    assert truth.event_count == output.event_count == len(types)
    assert truth.event_type_counts == {name: types.count(name) for name in EVENT_TYPES}
    assert truth.shard == "0/1"
    assert truth.eligible_companies == 100
    assert output.ground_truth.keys == [truth.batch_id.encode()]
    assert all(orjson.loads(value)["batch_id"] == truth.batch_id for value in output.events[0].values)


@pytest.mark.parametrize(
    "preset_overrides", [{"fleet__event_rate_per_driver": 1e-9}, {"fleet__events_per_batch_range": [0, 0]}]
)
def test_empty_interval_still_has_a_zero_ground_truth(preset_overrides: dict[str, object]) -> None:
    output = make_interval(make_dataset("small", **preset_overrides))
    truth = orjson.loads(output.ground_truth.values[0])
    assert output.event_count == 0
    assert truth["event_count"] == 0
    assert truth["event_type_counts"] == dict.fromkeys(EVENT_TYPES, 0)


def _union(dataset, start, count):  # type: ignore[no-untyped-def]
    outputs = [FLEET.interval(dataset, start, Shard(i, count), generation_time=start) for i in range(count)]
    values = sorted(value for output in outputs for value in output.events[0].values)
    truths = [orjson.loads(output.ground_truth.values[0]) for output in outputs]
    return values, truths


@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("preset", ["small", "base", "emulated"])
def test_shards_partition_the_single_instance_output(preset: str, shards: int) -> None:
    dataset = make_dataset(preset)
    length = FLEET.interval_length(dataset.config)
    start = dataset.epoch + 5 * length
    whole = FLEET.interval(dataset, start, Shard(), generation_time=start)
    values, truths = _union(dataset, start, shards)
    assert values == sorted(whole.events[0].values)
    assert len(values) == len(set(values))
    whole_truth = orjson.loads(whole.ground_truth.values[0])
    assert sum(truth["event_count"] for truth in truths) == whole_truth["event_count"]
    assert sum(truth["eligible_companies"] for truth in truths) == whole_truth["eligible_companies"]
    for name in EVENT_TYPES:
        assert (
            sum(truth["event_type_counts"][name] for truth in truths)
            == whole_truth["event_type_counts"][name]
        )
    assert [truth["shard"] for truth in truths] == [f"{i}/{shards}" for i in range(shards)]
    companies = [
        FLEET.entities(dataset, dataset.epoch - length, start + length, Shard(i, shards))[0].values
        for i in range(shards)
    ]
    whole_companies = FLEET.entities(dataset, dataset.epoch - length, start + length, Shard())[0].values
    assert sorted(value for part in companies for value in part) == sorted(whole_companies)
    assert sum(map(len, companies)) == len(whole_companies)


def test_shard_owns_company_ordinal_modulo_n() -> None:
    dataset = make_dataset("base")
    events = events_of(dataset, dataset.epoch, "1/3")
    assert set((events.company_ordinal % 3).tolist()) == {1}
    with pytest.raises(Exception, match="0 <= i < N"):
        Shard.parse("3/3")
    with pytest.raises(Exception, match="expected i/N"):
        Shard.parse("1of3")


@pytest.mark.parametrize(
    ("preset", "low", "high"), [("emulated.5s", 3, 10), ("emulated", 5, 20), ("emulated.30s", 10, 50)]
)
def test_emulated_batches_stay_in_the_preset_range(preset: str, low: int, high: int) -> None:
    dataset = make_dataset(preset)
    length = FLEET.interval_length(dataset.config)
    sizes = [len(events_of(dataset, dataset.epoch + k * length)) for k in range(300)]
    assert min(sizes) >= low and max(sizes) <= high
    assert min(sizes) < (low + high) / 2 < max(sizes)  # spread over the range, not stuck


def test_identifiers_follow_the_documented_patterns() -> None:
    dataset = make_dataset("small", seed=100)
    records = FLEET.event_records(events_of(dataset, dataset.epoch))  # type: ignore[attr-defined]
    first = next(record for record in records if record.driver_id.endswith("-001"))
    company_zero = generate.company_id(100, 0)
    zero = [record for record in records if record.company_id == company_zero]
    assert {record.truck_id for record in zero} <= {f"TRK-100-{n:04d}" for n in range(1, 6)}
    assert first.driver_id == f"DRV-{first.company_id}-001"
    assert records[0].event_id[14] == "4"  # version-4 UUIDs


def test_ids_depend_on_the_seed() -> None:
    assert generate.company_id(1, 0) != generate.company_id(2, 0)
    a, b = make_interval(make_dataset("small", seed=1)), make_interval(make_dataset("small", seed=2))
    assert a.events[0].values != b.events[0].values


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**40),
    k=st.integers(min_value=0, max_value=500),
    shards=st.integers(min_value=1, max_value=4),
)
def test_interval_output_depends_only_on_logical_ids(seed: int, k: int, shards: int) -> None:
    dataset = make_dataset("small", seed=seed)
    start = dataset.epoch + k * QUARTER
    once = FLEET.interval(dataset, start, Shard(), generation_time=start)
    again = FLEET.interval(dataset, start, Shard(), generation_time=start)
    assert once.events[0].values == again.events[0].values
    assert once.ground_truth.values == again.ground_truth.values
    values, truths = _union(dataset, start, shards)
    assert values == sorted(once.events[0].values)
    # generating a later interval first changes nothing (no hidden state between intervals)
    FLEET.interval(dataset, start + QUARTER, Shard(), generation_time=start)
    first_again = FLEET.interval(dataset, start, Shard(), generation_time=start)
    assert first_again.events[0].values == once.events[0].values


# -- statistics ----------------------------------------------------------------------------------


def test_batch_counts_keep_the_poisson_mean_over_a_rolling_window() -> None:
    # SC-012: base preset, 10-batch rolling mean within 10% of companies × drivers × rate
    dataset = make_dataset(
        "base", fleet__companies_per_onboarding_batch=1, fleet__company_onboarding_interval="P7D"
    )
    counts = np.array([len(events_of(dataset, dataset.epoch + k * QUARTER)) for k in range(100)])
    expected = 100 * 10 * 3.5
    rolling = np.convolve(counts, np.ones(10) / 10, mode="valid")
    assert np.all(np.abs(rolling / expected - 1) < 0.10)
    # and per driver the variance equals the mean (Poisson), within sampling error
    per_driver = np.concatenate(
        [
            np.bincount(events_of(dataset, dataset.epoch + k * QUARTER).driver_number - 1, minlength=1000)
            for k in range(20)
        ]
    )
    assert abs(per_driver.mean() - 3.5) < 0.1
    assert abs(per_driver.var() / per_driver.mean() - 1) < 0.1


def test_rate_scales_with_interval_length() -> None:
    dataset = make_dataset("base", fleet__interval="PT5M", fleet__company_onboarding_interval="P7D")
    counts = [len(events_of(dataset, dataset.epoch + k * timedelta(minutes=5))) for k in range(30)]
    assert abs(np.mean(counts) / (1000 * 3.5 / 3) - 1) < 0.05


def test_event_types_pass_a_chi_square_test() -> None:
    dataset = make_dataset("base")
    observed = np.zeros(3)
    for k in range(20):
        observed += np.bincount(events_of(dataset, dataset.epoch + k * QUARTER).event_type, minlength=3)
    expected = observed.sum() * np.array(EVENT_TYPE_WEIGHTS)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert statistic < 13.82  # chi-square, 2 degrees of freedom, p = 0.001


def test_timestamps_pass_a_uniformity_test() -> None:
    dataset = make_dataset("base")
    events = events_of(dataset, dataset.epoch)
    offsets = (events.timestamp_us - events.interval_start_us) / (
        events.interval_end_us - events.interval_start_us
    )
    bins = 50
    observed = np.bincount((offsets * bins).astype(int), minlength=bins)
    expected = offsets.size / bins
    statistic = float(((observed - expected) ** 2 / expected).sum())
    assert statistic < 86.66  # chi-square, 49 degrees of freedom, p = 0.001
    ordered = np.sort(offsets)
    ks = np.max(
        np.maximum(
            np.arange(1, ordered.size + 1) / ordered.size - ordered,
            ordered - np.arange(ordered.size) / ordered.size,
        )
    )
    assert ks < 1.95 / np.sqrt(ordered.size)  # Kolmogorov–Smirnov, p = 0.001
