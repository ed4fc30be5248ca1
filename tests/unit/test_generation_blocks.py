"""The generation building blocks: distributions within stated tolerances (fixed seeds, so
deterministic), shard/subset invariance and validation errors. Speed is not asserted."""

from __future__ import annotations

import math
import socket
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest
import zipcodes

from producer.generation.blocks import counts, markov, places, rates
from producer.generation.scenarios.fleet.generate import poisson_counts
from producer.generation.streams import EntityKeys, stream_states, tag, words

U64 = npt.NDArray[np.uint64]
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def _words(count: int, name: str = "blocks.test", counter: int = 0) -> U64:
    """``count`` words of one keyed stream (words ``counter × 10⁷ …``), cheap to make in bulk."""
    state = stream_states(EntityKeys(11, tag(name))[np.zeros(1, dtype=np.int64)], 3)
    return words(np.repeat(state, count), np.arange(count, dtype=np.int64) + counter * 10_000_000)


def _us(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000


# --- counts -------------------------------------------------------------------------------------


def test_weighted_choice_shares_match_weights_within_half_a_point() -> None:
    weights = [0.6, 0.3, 0.0, 0.1]
    chosen = counts.weighted_choice(_words(200_000), weights)
    shares = np.bincount(chosen, minlength=4) / chosen.size
    assert np.allclose(shares, weights, atol=0.005)
    assert shares[2] == 0.0


def test_weighted_choice_never_picks_a_trailing_zero_weight() -> None:
    top = np.array([np.iinfo(np.uint64).max] * 3, dtype=np.uint64)
    assert counts.weighted_choice(top, [0.5, 0.5, 0.0]).tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "non-empty"),
        ([0.5, -0.1, 0.6], "non-negative"),
        ([0.5, 0.4], "sum to 1"),
        ([1.0, math.nan], "finite"),
    ],
)
def test_weighted_choice_rejects_invalid_weights(weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        counts.weighted_choice(_words(3), weights)


def test_weights_within_1e_9_of_one_are_accepted() -> None:
    counts.weighted_choice(_words(3), [0.5, 0.5 + 5e-10])


def test_uniform_ints_are_inclusive_and_take_per_row_bounds() -> None:
    raw = _words(60_000)
    low = np.where(np.arange(60_000) % 2 == 0, 0, 10)
    high = low + 4
    values = counts.uniform_ints(raw, low, high)
    assert np.all((values >= low) & (values <= high))
    assert set(values[low == 0].tolist()) == {0, 1, 2, 3, 4}
    assert set(values[low == 10].tolist()) == {10, 11, 12, 13, 14}
    assert abs(values[low == 0].mean() - 2.0) < 0.03
    with pytest.raises(ValueError, match="low <= high"):
        counts.uniform_ints(raw[:1], 5, 4)


def test_children_per_parent_draws_within_the_range_of_each_category() -> None:
    ranges = [(1, 2), (3, 10), (10, 50), (50, 100)]
    category = counts.weighted_choice(_words(100_000, counter=1), [0.7, 0.2, 0.08, 0.02])
    children = counts.children_per_parent(_words(100_000, counter=2), category, ranges)
    for index, (low, high) in enumerate(ranges):
        mine = children[category == index]
        assert mine.min() == low and mine.max() == high
        assert abs(mine.mean() - (low + high) / 2) < 0.05 * (high - low + 1)


def test_children_per_parent_validates_ranges_and_categories() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        counts.children_per_parent(_words(2), np.array([0, 0]), [(3, 2)])
    with pytest.raises(ValueError, match="parent categories"):
        counts.children_per_parent(_words(2), np.array([0, 1]), [(1, 2)])


@pytest.mark.parametrize("mean", [0.01, 0.37, 1.0, 2.5, 7.0, 19.3, 40.0, 63.99, 64.0])
def test_poisson_matches_fleet_poisson_counts_exactly_for_equal_means(mean: float) -> None:
    raw = _words(50_000, name=f"poisson-{mean}")
    assert np.array_equal(counts.poisson(raw, np.full(raw.size, mean)), poisson_counts(raw, mean))


def test_poisson_with_per_row_means_has_the_right_moments_and_is_row_local() -> None:
    means = np.tile(np.array([0.0, 0.2, 3.0, 25.0, 200.0, 1_000.0, 50_000.0]), 30_000)
    raw = _words(means.size)
    drawn = counts.poisson(raw, means)
    for mean in np.unique(means).tolist():
        sample = drawn[means == mean]
        if mean == 0.0:
            assert np.all(sample == 0)
            continue
        # 30,000 draws: the sample mean is within 4 standard errors, the variance within 5 %.
        assert abs(sample.mean() - mean) < 4 * math.sqrt(mean / sample.size)
        assert abs(sample.var() / mean - 1.0) < 0.05
    subset = np.arange(0, means.size, 7)[::-3]
    assert np.array_equal(counts.poisson(raw[subset], means[subset]), drawn[subset])
    with pytest.raises(ValueError, match="non-negative"):
        counts.poisson(raw[:2], np.array([1.0, -1.0]))


def test_poisson_large_means_approximation_has_poisson_tail_probabilities() -> None:
    mean = 400.0
    drawn = counts.poisson(_words(200_000), np.full(200_000, mean))
    cdf_at = np.cumsum(np.exp([k * math.log(mean) - mean - math.lgamma(k + 1) for k in range(461)]))
    for k in (360, 380, 400, 420, 440, 460):
        assert abs(float(np.mean(drawn <= k)) - cdf_at[k]) < 0.004


def test_expand_counts_numbers_each_rows_items_from_zero_independently_of_other_rows() -> None:
    rows, sequence = counts.expand_counts(np.array([2, 0, 3, 1], dtype=np.int64))
    assert rows.tolist() == [0, 0, 2, 2, 2, 3]
    assert sequence.tolist() == [0, 1, 0, 1, 2, 0]
    drawn = counts.poisson(_words(5_000), np.full(5_000, 1.5))
    rows, sequence = counts.expand_counts(drawn)
    assert np.array_equal(np.bincount(rows, minlength=drawn.size), drawn)
    subset = np.arange(3, drawn.size, 4)
    sub_rows, sub_sequence = counts.expand_counts(drawn[subset])
    assert np.array_equal(subset[sub_rows], rows[np.isin(rows, subset)])
    assert np.array_equal(sub_sequence, sequence[np.isin(rows, subset)])
    empty_rows, empty_sequence = counts.expand_counts(np.zeros(0, dtype=np.int64))
    assert empty_rows.size == empty_sequence.size == 0
    with pytest.raises(ValueError, match="non-negative"):
        counts.expand_counts(np.array([1, -1], dtype=np.int64))


def test_normal_and_clipped_normal() -> None:
    first, second = _words(100_000, counter=1), _words(100_000, counter=2)
    values = counts.normal(first, second, 0.75, 0.1)
    assert abs(values.mean() - 0.75) < 0.002 and abs(values.std() - 0.1) < 0.002
    clipped = counts.clipped_normal(first, second, 0.75, 0.1, 0.5, 1.0)
    assert clipped.min() >= 0.5 and clipped.max() <= 1.0
    assert np.array_equal(clipped[values < 0.5], np.full(int((values < 0.5).sum()), 0.5))
    with pytest.raises(ValueError, match="low <= high"):
        counts.clipped_normal(_words(1), _words(1), 0.0, 1.0, 1.0, 0.0)


# --- rates --------------------------------------------------------------------------------------


def test_tapflow_peak_hours_are_more_than_twice_the_off_peak_hours() -> None:
    curve = rates.RateCurve.tapflow()  # UTC-5: local noon is 17:00 UTC
    day = _us(2024, 7, 10)  # a Wednesday
    lunch = curve.integral(day + 17 * HOUR_US, day + 18 * HOUR_US)  # 12:00-13:00 local
    evening = curve.integral(day + 25 * HOUR_US, day + 26 * HOUR_US)  # 20:00-21:00 local
    afternoon = curve.integral(day + 21 * HOUR_US, day + 22 * HOUR_US)  # 16:00-17:00 local
    night = curve.integral(day + 9 * HOUR_US, day + 10 * HOUR_US)  # 04:00-05:00 local
    assert lunch / afternoon > 2 and evening / afternoon > 2 and lunch / night > 2


def test_curve_is_normalised_and_has_weekend_and_seasonal_factors() -> None:
    curve = rates.RateCurve.tapflow()
    start = _us(2023, 1, 1)
    year_hours = 365.2425 * 24
    assert abs(curve.integral(start, start + round(year_hours * HOUR_US)) / year_hours - 1.0) < 2e-3
    week = _us(2024, 7, 8) + 5 * HOUR_US  # Monday 00:00 local
    weekday = curve.integral(week, week + DAY_US)
    saturday = curve.integral(week + 5 * DAY_US, week + 6 * DAY_US)
    assert abs(saturday / weekday - 1.3) < 0.01
    july = curve.integral(_us(2024, 7, 15), _us(2024, 7, 22))
    january = curve.integral(_us(2024, 1, 15), _us(2024, 1, 22))
    assert abs(july / january - 1.2 / 0.8) < 0.03


def test_integral_is_additive_matches_quadrature_and_is_row_local() -> None:
    curve = rates.RateCurve.tapflow(utc_offset_hours=-8.0)
    a, b, c = _us(2024, 3, 9, 7) + 123_456, _us(2024, 3, 10, 19) + 7, _us(2024, 3, 12, 2)
    assert math.isclose(curve.integral(a, b) + curve.integral(b, c), curve.integral(a, c), rel_tol=1e-12)
    grid = np.arange(a, c, 1_000_000, dtype=np.int64)  # 1-second midpoint rule on the interpolated curve
    riemann = float(curve.rate(grid + 500_000).sum()) / 3600
    assert math.isclose(curve.integral(a, c), riemann, rel_tol=1e-6)
    starts = np.array([a, b, a, c, b], dtype=np.int64)
    ends = np.array([b, c, c, c, b + HOUR_US], dtype=np.int64)
    together = curve.integrals(starts, ends)
    assert together.tolist() == [curve.integral(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
    assert together[3] == 0.0
    base_rates = np.array([2.0, 0.5, 1.0, 9.0, 4.0])
    assert np.array_equal(curve.expected_counts(base_rates, starts, ends), base_rates * together)


def test_utc_offset_shifts_the_curve() -> None:
    shifted = rates.RateCurve.tapflow(utc_offset_hours=-5.0)
    utc = rates.RateCurve.tapflow(utc_offset_hours=0.0)
    t = np.arange(_us(2024, 5, 1), _us(2024, 5, 3), 600_000_000, dtype=np.int64)
    assert np.allclose(shifted.rate(t), utc.rate(t - 5 * HOUR_US), rtol=1e-12)


def test_sample_times_follow_the_curve_within_the_interval() -> None:
    curve = rates.RateCurve.tapflow()
    start, end = _us(2024, 7, 12, 5), _us(2024, 7, 14, 5)  # Friday and Saturday, local midnights
    raw = _words(300_000, counter=5)
    times = curve.sample_times(raw, start, end)
    assert times.min() >= start and times.max() < end
    observed = np.bincount((times - start) // HOUR_US, minlength=48) / times.size
    expected = curve.integrals(start + np.arange(48) * HOUR_US, start + np.arange(1, 49) * HOUR_US)
    expected /= curve.integral(start, end)
    # Each hour's share within 4.5 binomial standard errors.
    assert np.all(np.abs(observed - expected) < 4.5 * np.sqrt(expected / times.size))
    subset = np.arange(0, raw.size, 13)
    assert np.array_equal(curve.sample_times(raw[subset], start, end), times[subset])


def test_sample_times_with_per_row_intervals_stay_inside_them() -> None:
    curve = rates.RateCurve(windows=((22.0, 2.0, 4.0),), base_level=0.0, seasonal_amplitude=0.1)
    raw = _words(20_000, counter=6)
    starts = _us(2024, 2, 1) + (np.arange(20_000) % 97) * 1_234_567_891
    ends = starts + 1 + (np.arange(20_000) % 89) * 3_000_000_000
    times = curve.sample_times(raw, starts, ends)
    assert np.all((times >= starts) & (times < ends))
    hours = (times // HOUR_US) % 24
    busy = curve.integrals(starts, ends) > 0
    assert np.all(np.isin(hours[busy & (ends - starts > DAY_US)], [21, 22, 23, 0, 1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": ((11.0, 11.0, 2.0),)}, "distinct hours"),
        ({"windows": ((11.0, 25.0, 2.0),)}, "within"),
        ({"windows": ((11.0, 14.0, -1.0),)}, "multiplier"),
        ({"ramp_hours": 0.0}, "ramp_hours"),
        ({"seasonal_amplitude": 1.0}, "seasonal_amplitude"),
        ({"utc_offset_hours": 20.0}, "utc_offset_hours"),
        ({"windows": (), "base_level": 0.0}, "zero everywhere"),
    ],
)
def test_rate_curve_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rates.RateCurve(**kwargs)  # type: ignore[arg-type]


# --- markov -------------------------------------------------------------------------------------

STATUS = [0.85, 0.10, 0.05]


def test_markov_shares_match_the_stationary_weights() -> None:
    chain = markov.MarkovStates(5, tag("tapflow.device-status"), STATUS, persistence=0.9)
    ordinals = np.arange(25_000, dtype=np.int64)
    for step in (0, 7, 500, 123_456):
        shares = np.bincount(chain.at(ordinals, step), minlength=3) / ordinals.size
        assert np.allclose(shares, STATUS, atol=0.012)  # ≈ 5 standard errors of the 0.85 share


def test_markov_runs_last_as_long_as_the_chain_says() -> None:
    p = 0.9
    chain = markov.MarkovStates(5, tag("tapflow.device-status"), STATUS, persistence=p)
    states = chain.at(np.arange(300, dtype=np.int64)[:, None], np.arange(5_000, dtype=np.int64)[None, :])
    redraws_changed = states[:, 1:] != states[:, :-1]
    for state, share in enumerate(STATUS):
        runs = []
        for row in states:
            boundaries = np.flatnonzero(np.diff(row)) + 1
            edges = np.concatenate([[0], boundaries, [row.size]])
            # Whole runs only (not cut by the window's ends: that biases them short by ~1 %).
            runs.extend((edges[2:-1] - edges[1:-2])[row[edges[1:-2]] == state].tolist())
        expected = 1 / ((1 - p) * (1 - share))
        assert abs(np.mean(runs) / expected - 1) < 0.06, (state, np.mean(runs), expected)
    # Steps at which the state changes are redraws: at most 1 − p of steps.
    assert redraws_changed.mean() < 1 - p


def test_markov_state_is_independent_of_other_entities_and_of_earlier_steps() -> None:
    chain = markov.MarkovStates(5, tag("tapflow.device-status"), STATUS, persistence=0.97)
    ordinals = np.arange(3_000, dtype=np.int64)
    first = (ordinals % 50) * 3
    everything = chain.at(ordinals[:, None], np.arange(300)[None, :], first[:, None])
    alone = np.array([chain.at(np.array([o]), 299, np.array([first[o]]))[0] for o in (0, 17, 2_999)])
    assert alone.tolist() == everything[[0, 17, 2_999], 299].tolist()
    fresh = markov.MarkovStates(5, tag("tapflow.device-status"), STATUS, persistence=0.97)
    picked = np.array([2_999, 5, 1_000])
    assert np.array_equal(fresh.at(picked, 250, first[picked]), everything[picked, 250])
    # Before its first step an entity is in its first step's state.
    assert np.array_equal(chain.at(ordinals, 0, first), everything[ordinals, first])
    other_seed = markov.MarkovStates(6, tag("tapflow.device-status"), STATUS, persistence=0.97)
    assert not np.array_equal(other_seed.at(ordinals, 100), chain.at(ordinals, 100))


def test_markov_changed_marks_steps_where_the_state_differs() -> None:
    chain = markov.MarkovStates(8, tag("tapflow.device-status"), STATUS, persistence=0.8)
    ordinals = np.arange(5_000, dtype=np.int64)
    first = ordinals % 7
    for step in (3, 40):
        expected = (chain.at(ordinals, step, first) != chain.at(ordinals, step - 1, first)) & (step > first)
        expected |= step == first
        assert np.array_equal(chain.changed(ordinals, step, first), expected)
    assert chain.changed(np.array([1]), 0, np.array([2])).tolist() == [False]


def test_markov_scan_limit_falls_back_to_the_first_draw() -> None:
    bounded = markov.MarkovStates(8, tag("s"), STATUS, persistence=0.999_999, scan_limit=4)
    ordinals = np.arange(1_000, dtype=np.int64)
    assert np.array_equal(bounded.at(ordinals, 10_000), bounded.at(ordinals, 0))


@pytest.mark.parametrize(
    ("weights", "persistence", "scan_limit", "message"),
    [([0.5, 0.6], 0.5, 8, "sum to 1"), (STATUS, 1.0, 8, "persistence"), (STATUS, 0.5, 0, "scan_limit")],
)
def test_markov_validation(weights: list[float], persistence: float, scan_limit: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        markov.MarkovStates(1, tag("s"), weights, persistence, scan_limit)


def test_markov_rejects_negative_ordinals() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        markov.MarkovStates(1, tag("s"), STATUS, 0.5).at(np.array([-1]), 3)


# --- places -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline_places() -> places.Places:
    """Places built with the network switched off and the package caches cleared first."""
    places._us_cities.cache_clear()
    places._us_state_codes.cache_clear()
    places._zip_index.cache_clear()
    places._city_zips.cache_clear()
    places._faker.cache_clear()

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        built = places.Places()
        keys = EntityKeys(3, tag("tapflow.locations"))[np.arange(50, dtype=np.int64)]
        built.pick(keys, np.zeros(50, dtype=np.int64))
        places.business_names(keys)
        places.person_names(keys)
    return built


def _location_keys(count: int) -> U64:
    return EntityKeys(3, tag("tapflow.locations"))[np.arange(count, dtype=np.int64)]


def test_places_are_real_us_addresses_in_their_region(offline_places: places.Places) -> None:
    keys = _location_keys(3_000)
    region = counts.weighted_choice(words(keys, np.full(keys.size, 9)), offline_places.region_weights)
    picked = offline_places.pick(keys, region)
    shares = np.bincount(region, minlength=4) / region.size
    assert np.allclose(shares, [0.40, 0.25, 0.20, 0.15], atol=0.03)
    for place, index in zip(picked, region.tolist(), strict=True):
        definition = places.TAPFLOW_REGIONS[index]
        assert place.region == definition.name and place.state in definition.states
        assert place.zip_code and zipcodes.matching(place.zip_code)[0]["state"] == place.state
        assert 24 < place.latitude < 50 and -125 < place.longitude < -66
        assert place.street_address and place.city
    # Population weighting: New York City leads the Northeast, Los Angeles the West Coast.
    northeast = Counter(p.city for p in picked if p.region == "Northeast").most_common(1)[0][0]
    west = Counter(p.city for p in picked if p.region == "West Coast").most_common(1)[0][0]
    assert (northeast, west) == ("New York City", "Los Angeles")


def test_places_are_deterministic_per_key(offline_places: places.Places) -> None:
    keys = _location_keys(400)
    region = np.arange(400, dtype=np.int64) % 4
    everything = offline_places.pick(keys, region)
    subset = np.array([399, 3, 250, 3])
    assert offline_places.pick(keys[subset], region[subset]) == [everything[i] for i in subset.tolist()]
    again = places.Places().pick(keys[:20], region[:20])
    assert again == everything[:20]
    names = places.business_names(keys)
    assert places.business_names(keys[subset]) == [names[i] for i in subset.tolist()]
    people = places.person_names(keys)
    assert len(set(people)) > 350 and all(" " in person for person in people)


def test_places_validation() -> None:
    with pytest.raises(ValueError, match="unknown US state codes"):
        places.Places([places.Region("Nowhere", 1.0, ("XX",))])
    with pytest.raises(ValueError, match="sum to 1"):
        places.Places([places.Region("Half", 0.5, ("NY",))])
    with pytest.raises(ValueError, match="region indices"):
        places.Places().pick(_location_keys(2), np.array([0, 4]))
