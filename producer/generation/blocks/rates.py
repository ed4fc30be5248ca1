"""A smooth event-rate curve λ(t) with daily peaks, weekday/weekend factors and a seasonal swing.

The *shape* ``f(t)`` is dimensionless and, by default, averages 1 over a week and a year, so an
entity's expected number of events in ``[a, b)`` is ``base_rate × ∫_a^b f(t) dt`` with ``base_rate``
in events per entity per hour and the integral in hours (:meth:`RateCurve.integral`).

``f(t) = daily(local hour) × day_factor(local weekday) × seasonal(t)`` where

* ``daily`` is ``base_level`` plus, for each window ``(start_hour, end_hour, multiplier)``, the
  bump ``(multiplier − base_level) × w(h)`` with ``w`` the window's indicator whose edges are
  raised-cosine ramps ``ramp_hours`` wide (centred on the edges); windows may wrap past midnight
  (``(22, 2, m)``); overlapping windows add up; the result is floored at 0;
* ``day_factor`` is ``weekday_factor`` Monday–Friday and ``weekend_factor`` Saturday–Sunday;
* ``seasonal = 1 + amplitude · cos(2π (day_of_year − peak_day) / 365.2425)`` with a continuous day of
  year (days since 1970-01-01 local, modulo the mean Gregorian year: within a day of the calendar's
  day of year, and with no jump at New Year);

all in local time ``UTC + utc_offset_hours`` (a fixed offset: no daylight-saving changes).

The curve is *defined* as the linear interpolation of ``f`` between the points of a fixed
one-minute grid of each local day (the day's own weekday factor at both of its ends). That makes it
exact rather than approximate to integrate (trapezoids) and to invert (a quadratic per minute),
both from one cumulative table per local day, cached. Every result is computed from the tables
of the days it touches, so a row's value depends only on its own interval, never on the other rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.streams import unit_floats

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 24 * MICROS_PER_HOUR
STEPS_PER_DAY = 1440
"""Grid points per local day (one a minute); the curve is linear between them."""
STEP_US = MICROS_PER_DAY // STEPS_PER_DAY
STEP_HOURS = 24.0 / STEPS_PER_DAY
YEAR_DAYS = 365.2425
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0).

TAPFLOW_WINDOWS: tuple[tuple[float, float, float], ...] = ((11.0, 14.0, 2.6), (18.0, 23.0, 3.2))
"""TapFlow's peaks: lunch 11:00–14:00 and the evening 18:00–23:00, relative to a base level of 1."""


@dataclass(frozen=True)
class RateCurve:
    """The shape of an event rate over time (see the module docstring for the formula).

    Attributes:
        windows: ``(start_hour, end_hour, multiplier)`` peak windows in local hours ``[0, 24]``.
        base_level: The daily level outside the windows (``>= 0``; 0 for venues closed outside them).
        ramp_hours: Width of the raised-cosine ramps at each window edge (``0 < ramp <= 6``).
        weekday_factor: Factor Monday–Friday.
        weekend_factor: Factor Saturday–Sunday.
        seasonal_amplitude: Seasonal swing in ``[0, 1)``; 0 disables it.
        peak_day: Day of the year (0 = 1 January) of the seasonal peak.
        utc_offset_hours: Fixed local offset from UTC in hours (``-5`` for US Eastern standard time).
        normalize: Scale the daily and weekly factors so they average 1 over a week (the seasonal
            factor already averages 1 over a year); then ``base_rate`` is the long-run hourly rate.
    """

    windows: tuple[tuple[float, float, float], ...] = TAPFLOW_WINDOWS
    base_level: float = 1.0
    ramp_hours: float = 1.0
    weekday_factor: float = 1.0
    weekend_factor: float = 1.0
    seasonal_amplitude: float = 0.0
    peak_day: float = 196.0
    utc_offset_hours: float = 0.0
    normalize: bool = True
    _scale: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        windows = tuple((float(a), float(b), float(m)) for a, b, m in self.windows)
        object.__setattr__(self, "windows", windows)
        for start, end, multiplier in windows:
            if not (0.0 <= start <= 24.0 and 0.0 <= end <= 24.0) or start == end:
                raise ValueError(f"window ({start}, {end}) needs distinct hours within [0, 24]")
            if not multiplier >= 0.0 or not math.isfinite(multiplier):
                raise ValueError(f"window multiplier must be finite and >= 0, got {multiplier}")
        if not self.base_level >= 0.0 or not math.isfinite(self.base_level):
            raise ValueError(f"base_level must be finite and >= 0, got {self.base_level}")
        if not 0.0 < self.ramp_hours <= 6.0:
            raise ValueError(f"ramp_hours must be in (0, 6], got {self.ramp_hours}")
        if not (self.weekday_factor >= 0.0 and self.weekend_factor >= 0.0):
            raise ValueError("weekday_factor and weekend_factor must be >= 0")
        if not 0.0 <= self.seasonal_amplitude < 1.0:
            raise ValueError(f"seasonal_amplitude must be in [0, 1), got {self.seasonal_amplitude}")
        if not -14.0 <= self.utc_offset_hours <= 14.0:
            raise ValueError(f"utc_offset_hours must be in [-14, 14], got {self.utc_offset_hours}")
        hours = np.arange(STEPS_PER_DAY + 1, dtype=np.float64) * STEP_HOURS
        profile = self.daily(hours)
        daily_mean = float(np.sum(profile[:-1] + profile[1:]) / (2 * STEPS_PER_DAY))
        weekly_mean = (5.0 * self.weekday_factor + 2.0 * self.weekend_factor) / 7.0
        if daily_mean <= 0.0 or weekly_mean <= 0.0:
            raise ValueError("the rate curve is zero everywhere")
        object.__setattr__(self, "_scale", 1.0 / (daily_mean * weekly_mean) if self.normalize else 1.0)

    @classmethod
    def tapflow(cls, utc_offset_hours: float = -5.0) -> RateCurve:
        """TapFlow-like defaults: lunch and evening peaks over a quiet base, busier weekends, a
        summer peak (mid-July, ±20 %), US Eastern standard time."""
        return cls(
            windows=TAPFLOW_WINDOWS,
            base_level=0.6,
            ramp_hours=1.0,
            weekday_factor=1.0,
            weekend_factor=1.3,
            seasonal_amplitude=0.2,
            peak_day=196.0,
            utc_offset_hours=utc_offset_hours,
        )

    @property
    def _offset_us(self) -> int:
        return round(self.utc_offset_hours * MICROS_PER_HOUR)

    def daily(self, hours: F64) -> F64:
        """The unnormalised daily profile at local hours in ``[0, 24]`` (periodic), vectorised."""
        hours = np.asarray(hours, dtype=np.float64)
        profile = np.full(hours.shape, self.base_level, dtype=np.float64)
        for start, end, multiplier in self.windows:
            stop = end if end > start else end + 24.0
            weight = np.zeros(hours.shape, dtype=np.float64)
            for shift in (-24.0, 0.0, 24.0):
                weight += _ramp(hours + shift - start, self.ramp_hours)
                weight -= _ramp(hours + shift - stop, self.ramp_hours)
            profile += (multiplier - self.base_level) * weight
        result: F64 = np.maximum(profile, 0.0)
        return result

    def _day_table(self, day: int) -> tuple[F64, F64]:
        return _day_table(self, day)

    def rate(self, t_us: I64 | int) -> F64:
        """The shape ``f`` at instants (µs since the Unix epoch, UTC), as the interpolated curve."""
        t = np.asarray(t_us, dtype=np.int64)
        day, offset = self._locate(t)
        values = np.empty(t.shape, dtype=np.float64)
        for unique_day in np.unique(day).tolist():
            mask = day == unique_day
            points, _ = self._day_table(unique_day)
            values[mask] = np.interp(offset[mask] / STEP_US, np.arange(STEPS_PER_DAY + 1), points)
        return values

    def _locate(self, t: I64) -> tuple[I64, I64]:
        """Local day index and µs into that local day."""
        local = t + self._offset_us
        return local // MICROS_PER_DAY, local % MICROS_PER_DAY

    def _cumulative(self, day: I64, offset_us: I64) -> F64:
        """``∫`` of the curve (hours) from the local day's start to ``offset_us`` into it, per row."""
        result = np.zeros(day.shape, dtype=np.float64)
        for unique_day in np.unique(day).tolist():
            mask = day == unique_day
            points, cumulative = self._day_table(unique_day)
            step = np.minimum(offset_us[mask] // STEP_US, STEPS_PER_DAY - 1)
            x = (offset_us[mask] - step * STEP_US) / STEP_US
            left, right = points[step], points[step + 1]
            result[mask] = cumulative[step] + STEP_HOURS * x * (left + 0.5 * (right - left) * x)
        return result

    def integrals(self, start_us: I64 | int, end_us: I64 | int) -> F64:
        """``∫_start^end f(t) dt`` in hours per row (bounds broadcast; empty intervals give 0).

        Sums whole local days from their tables and the partial first and last days, so a row's
        result depends only on its own bounds.
        """
        start_b, end_b = np.broadcast_arrays(
            np.asarray(start_us, dtype=np.int64), np.asarray(end_us, dtype=np.int64)
        )
        start = start_b.astype(np.int64)
        end = np.maximum(end_b, start).astype(np.int64)
        start_day, start_offset = self._locate(start)
        end_day, end_offset = self._locate(end)
        total = self._cumulative(end_day, end_offset) - self._cumulative(start_day, start_offset)
        spanned = end_day - start_day
        for k in range(int(spanned.max()) if spanned.size else 0):
            rows = spanned > k
            days = start_day[rows] + k
            total[rows] += self._day_totals(days)
        return total

    def integral(self, start_us: int, end_us: int) -> float:
        """``∫_start^end f(t) dt`` in hours: the expected count per unit of hourly base rate."""
        return float(self.integrals(np.array([start_us]), np.array([end_us]))[0])

    def expected_counts(self, base_rates: F64 | float, start_us: I64 | int, end_us: I64 | int) -> F64:
        """Expected events per row in ``[start, end)``: ``base_rates × integral`` (events per hour).

        For one interval shared by many entities pass scalar bounds (one integral, then a
        multiplication); per-row bounds (an entity created mid-interval) broadcast too.
        """
        means: F64 = np.asarray(base_rates, dtype=np.float64) * self.integrals(start_us, end_us)
        return means

    def _day_totals(self, days: I64) -> F64:
        totals = np.empty(days.shape, dtype=np.float64)
        for unique_day in np.unique(days).tolist():
            totals[days == unique_day] = self._day_table(unique_day)[1][-1]
        return totals

    def sample_times(self, raw: U64, start_us: I64 | int, end_us: I64 | int) -> I64:
        """Event timestamps (µs) inside ``[start, end)``, distributed like the curve within it.

        Inverts the curve's cumulative integral at ``start + u × (integral of the interval)`` with
        ``u`` the word's uniform float: whole days by their totals, then the minute by the day's
        table, then the exact quadratic within the minute. Bounds broadcast against ``raw``; a row
        whose interval has zero mass gets a uniform position instead.

        Args:
            raw: One 64-bit word per event.
            start_us: Interval start per event (or one for all).
            end_us: Interval end per event (exclusive, ``> start``).

        Returns:
            Timestamps in ``[start, end - 1]``.
        """
        raw_b, start_b, end_b = np.broadcast_arrays(raw, np.asarray(start_us), np.asarray(end_us))
        start = start_b.astype(np.int64).ravel()
        end = end_b.astype(np.int64).ravel()
        if np.any(end <= start):
            raise ValueError("sample_times needs end > start in every row")
        u = unit_floats(raw_b.astype(np.uint64).ravel())
        start_day, start_offset = self._locate(start)
        end_day, end_offset = self._locate(end)
        lower = self._cumulative(start_day, start_offset)
        mass_total = self.integrals(start, end)
        target = u * mass_total
        # Walk the days: subtract each day's remaining mass until the target falls inside one.
        result = np.empty(start.size, dtype=np.int64)
        pending = np.arange(start.size)
        day, base = start_day, lower
        remaining = target
        while pending.size:
            day_end_mass = np.where(day == end_day[pending], self._cumulative(day, end_offset[pending]),
                                    self._day_totals(day))  # fmt: skip
            here = (remaining < day_end_mass - base) | (day >= end_day[pending])
            rows = pending[here]
            if rows.size:
                result[rows] = self._invert_in_day(day[here], base[here] + remaining[here])
            remaining = remaining[~here] - (day_end_mass[~here] - base[~here])
            pending, day = pending[~here], day[~here] + 1
            base = np.zeros(pending.size, dtype=np.float64)
        zero_mass = mass_total <= 0.0
        if np.any(zero_mass):
            result[zero_mass] = start[zero_mass] + (u[zero_mass] * (end - start)[zero_mass]).astype(np.int64)
        return np.clip(result, start, end - 1).reshape(raw_b.shape)

    def _invert_in_day(self, day: I64, mass: F64) -> I64:
        """The instant (µs) where the day's cumulative integral reaches ``mass``, per row."""
        times = np.empty(day.shape, dtype=np.int64)
        for unique_day in np.unique(day).tolist():
            mask = day == unique_day
            points, cumulative = self._day_table(unique_day)
            target = mass[mask]
            step = np.clip(np.searchsorted(cumulative, target, side="right") - 1, 0, STEPS_PER_DAY - 1)
            left, right = points[step], points[step + 1]
            rest = np.maximum(target - cumulative[step], 0.0) / STEP_HOURS
            # Solve left·x + (right − left)·x²/2 = rest for x in [0, 1] (stable form).
            slope = right - left
            root = np.sqrt(np.maximum(left * left + 2.0 * slope * rest, 0.0))
            denominator = left + root
            safe = np.where(denominator > 0.0, denominator, 1.0)
            x = np.clip(np.where(denominator > 0.0, 2.0 * rest / safe, 0.0), 0.0, 1.0)
            local = unique_day * MICROS_PER_DAY + step * STEP_US + np.floor(x * STEP_US).astype(np.int64)
            times[mask] = local - self._offset_us
        return times


def _ramp(x: F64, width: float) -> F64:
    """0 below ``-width/2``, 1 above ``width/2``, a raised-cosine rise in between."""
    t = np.clip((x + 0.5 * width) / width, 0.0, 1.0)
    result: F64 = 0.5 - 0.5 * np.cos(math.pi * t)
    return result


@lru_cache(maxsize=1024)
def _day_table(curve: RateCurve, day: int) -> tuple[F64, F64]:
    """The curve's grid values on local day ``day`` and their cumulative integral (hours)."""
    minutes = np.arange(STEPS_PER_DAY + 1, dtype=np.float64)
    weekday = (day + _EPOCH_WEEKDAY) % 7
    day_factor = curve.weekend_factor if weekday >= 5 else curve.weekday_factor
    fractional_day = day + minutes / STEPS_PER_DAY
    seasonal = 1.0 + curve.seasonal_amplitude * np.cos(
        2.0 * math.pi * ((fractional_day % YEAR_DAYS) - curve.peak_day) / YEAR_DAYS
    )
    points = curve.daily(minutes * STEP_HOURS) * (day_factor * curve._scale) * seasonal
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * STEP_HOURS * (points[:-1] + points[1:]))])
    points.setflags(write=False)
    cumulative.setflags(write=False)
    return points, cumulative
