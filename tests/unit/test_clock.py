"""Interval math: durations, alignment, interval ids, onboarding ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.generation import clock

LENGTHS = [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=15)]
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT5S", timedelta(seconds=5)),
        ("PT1H", timedelta(hours=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1W", timedelta(weeks=1)),
    ],
)
def test_parse_and_format_duration(text: str, expected: timedelta) -> None:
    assert clock.parse_duration(text) == expected
    assert clock.parse_duration(clock.format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["15m", "P", "PT", "P1M", "P1Y", "PT0S", "-PT5S", "PT5", ""])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        clock.parse_duration(text)


def test_interval_length_must_divide_a_day() -> None:
    clock.check_interval_length(timedelta(minutes=15))
    with pytest.raises(ValueError, match="must divide a day"):
        clock.check_interval_length(timedelta(minutes=7))


@given(instants, st.sampled_from(LENGTHS))
def test_align_down_is_the_containing_interval_start(instant: datetime, length: timedelta) -> None:
    start = clock.align_down(instant, length)
    assert start <= instant < clock.interval_end(start, length)
    assert clock.is_aligned(start, length)
    assert clock.align_down(start, length) == start


def test_fifteen_minute_intervals_start_on_quarter_hours() -> None:
    start = clock.align_down(datetime(2025, 11, 8, 12, 29, 59, 999999, tzinfo=UTC), timedelta(minutes=15))
    assert start == datetime(2025, 11, 8, 12, 15, tzinfo=UTC)
    assert clock.interval_id(start, timedelta(minutes=15)) == "20251108T1215Z"


@given(instants, st.sampled_from(LENGTHS))
def test_interval_id_round_trips(instant: datetime, length: timedelta) -> None:
    start = clock.align_down(instant, length)
    assert clock.parse_interval_id(clock.interval_id(start, length)) == start


def test_interval_ids_have_one_width_per_length_and_sort_as_text() -> None:
    five = timedelta(seconds=5)
    assert clock.interval_id(datetime(2025, 11, 8, 0, 0, 5, tzinfo=UTC), five) == "20251108T000005Z"
    assert clock.interval_id(datetime(2025, 11, 8, 13, 0, tzinfo=UTC), five) == "20251108T130000Z"
    starts = [datetime(2025, 11, 8, 12, 59, 50, tzinfo=UTC) + k * five for k in range(6)]
    ids = [clock.interval_id(start, five) for start in starts]
    assert sorted(ids) == ids and len(set(map(len, ids))) == 1
    quarter = timedelta(minutes=15)
    assert clock.interval_id(datetime(2025, 11, 8, 12, 15, tzinfo=UTC), quarter) == "20251108T1215Z"
    half = timedelta(milliseconds=500)
    assert clock.interval_id(datetime(2025, 11, 8, tzinfo=UTC), half).endswith(".000000Z")
    with pytest.raises(ValueError, match="batch id"):
        clock.parse_interval_id("2025-11-08")


@given(instants)
def test_micros_round_trip(instant: datetime) -> None:
    assert clock.from_micros(clock.to_micros(instant)) == instant


def test_parse_instant_defaults_to_utc_and_formats_with_z() -> None:
    assert clock.parse_instant("2025-11-08T00:00Z") == datetime(2025, 11, 8, tzinfo=UTC)
    assert clock.parse_instant("2025-11-08T01:00+01:00") == datetime(2025, 11, 8, tzinfo=UTC)
    assert clock.parse_instant("2025-11-08T00:00") == datetime(2025, 11, 8, tzinfo=UTC)
    assert clock.format_instant(datetime(2025, 11, 8, tzinfo=UTC)) == "2025-11-08T00:00:00.000000Z"
    with pytest.raises(ValueError, match="ISO 8601"):
        clock.parse_instant("yesterday")


@given(
    instants,
    st.integers(min_value=1, max_value=10_000),
    st.sampled_from([timedelta(minutes=30), timedelta(hours=2)]),
)
def test_onboarding_ticks_before_counts_ticks(epoch: datetime, elapsed_s: int, cadence: timedelta) -> None:
    instant = epoch + timedelta(seconds=elapsed_s)
    count = clock.onboarding_ticks_before(epoch, cadence, instant)
    assert count == 0 or clock.onboarding_tick(epoch, cadence, count) < instant
    assert clock.onboarding_tick(epoch, cadence, count + 1) >= instant


def test_intervals_cover_the_range() -> None:
    start = datetime(2025, 11, 8, tzinfo=UTC)
    starts = list(clock.intervals(start, start + timedelta(hours=1), timedelta(minutes=15)))
    assert [s.minute for s in starts] == [0, 15, 30, 45]
