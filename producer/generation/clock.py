"""Interval math: ISO 8601 durations, alignment to interval multiples, interval ids, onboarding ticks.

Every instant is timezone-aware UTC. Internally instants are integer microseconds since the Unix
epoch, so interval arithmetic is exact and vectorizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_SECOND = 1_000_000
DAY = timedelta(days=1)

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration made of weeks, days, hours, minutes and seconds (``PT15M``).

    Years and months are rejected: their length is not fixed, so they cannot define intervals.

    Raises:
        ValueError: when ``text`` is not such a duration or is not positive.
    """
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like PT15M, PT10S or PT1H")
    parts = {name: float(value) for name, value in match.groupdict().items() if value is not None}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} must be a positive duration")
    return duration


def format_duration(duration: timedelta) -> str:
    """Format a positive duration as ISO 8601 (``PT15M``, ``P1DT2H``, ``PT0.5S``)."""
    micros = to_micros_delta(duration)
    days, micros = divmod(micros, 86_400 * MICROS_PER_SECOND)
    hours, micros = divmod(micros, 3600 * MICROS_PER_SECOND)
    minutes, micros = divmod(micros, 60 * MICROS_PER_SECOND)
    seconds, micros = divmod(micros, MICROS_PER_SECOND)
    date_part = f"P{days}D" if days else "P"
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or micros:
        time_part += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if not time_part and date_part == "P":
        return "PT0S"
    return date_part + ("T" + time_part if time_part else "")


def to_micros_delta(duration: timedelta) -> int:
    """A duration as whole microseconds."""
    return (duration.days * 86_400 + duration.seconds) * MICROS_PER_SECOND + duration.microseconds


def to_micros(instant: datetime) -> int:
    """An aware instant as microseconds since the Unix epoch."""
    return to_micros_delta(ensure_utc(instant) - UNIX_EPOCH)


def from_micros(micros: int) -> datetime:
    """Microseconds since the Unix epoch as an aware UTC datetime."""
    return UNIX_EPOCH + timedelta(microseconds=int(micros))


def ensure_utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is taken to be UTC already."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant (``2025-11-08T00:00Z``); without an offset it is taken as UTC."""
    try:
        return ensure_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 instant like 2025-11-08T00:00Z") from None


def format_instant(instant: datetime) -> str:
    """ISO 8601 UTC with microseconds and ``Z``: ``2025-11-08T12:15:00.000000Z``."""
    return ensure_utc(instant).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_interval_length(length: timedelta) -> None:
    """Raise ValueError unless ``length`` is positive, whole microseconds, and divides a day."""
    micros = to_micros_delta(length)
    if micros <= 0:
        raise ValueError("must be positive")
    if (86_400 * MICROS_PER_SECOND) % micros:
        raise ValueError(f"{format_duration(length)} must divide a day (e.g. PT5S, PT10S, PT15M, PT1H)")


def align_down(instant: datetime, length: timedelta) -> datetime:
    """The start of the interval containing ``instant`` (multiples of ``length`` since the Unix epoch)."""
    micros = to_micros(instant)
    step = to_micros_delta(length)
    return from_micros(micros - micros % step)


def is_aligned(instant: datetime, length: timedelta) -> bool:
    """Whether ``instant`` is an interval start."""
    return to_micros(instant) % to_micros_delta(length) == 0


def interval_end(interval_start: datetime, length: timedelta) -> datetime:
    """The exclusive end of the interval that starts at ``interval_start``."""
    return interval_start + length


def interval_index(interval_start: datetime, length: timedelta) -> int:
    """The interval's number since the Unix epoch (a stable logical id for random streams)."""
    return to_micros(interval_start) // to_micros_delta(length)


def intervals(start: datetime, end: datetime, length: timedelta) -> Iterator[datetime]:
    """Interval starts in ``[start, end)``, beginning at ``start`` (which must be aligned)."""
    current = ensure_utc(start)
    end = ensure_utc(end)
    while current < end:
        yield current
        current += length


def interval_count(start: datetime, end: datetime, length: timedelta) -> int:
    """How many intervals :func:`intervals` yields for ``[start, end)``, without listing them."""
    span = to_micros(ensure_utc(end)) - to_micros(ensure_utc(start))
    step = to_micros_delta(length)
    return max(0, -(-span // step))


def interval_id(interval_start: datetime, length: timedelta) -> str:
    """Compact ISO id of an interval of ``length``: ``20251108T1215Z`` for whole-minute lengths,
    ``20251108T121505Z`` for whole seconds, with microseconds otherwise.

    One width per interval length, so the ids of a dataset sort as text in time order. Records carry
    it as their ``batch_id`` (header and JSON field)."""
    start = ensure_utc(interval_start)
    step = to_micros_delta(length)
    if step % 60_000_000 == 0 and not start.second and not start.microsecond:
        return start.strftime("%Y%m%dT%H%MZ")
    if step % 1_000_000 == 0 and not start.microsecond:
        return start.strftime("%Y%m%dT%H%M%SZ")
    return start.strftime("%Y%m%dT%H%M%S.%fZ")


def parse_interval_id(text: str) -> datetime:
    """The interval_start an :func:`interval_id` names (inverse of :func:`interval_id`)."""
    for pattern in ("%Y%m%dT%H%MZ", "%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S.%fZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a batch id like 20251108T1215Z")


def onboarding_tick(epoch: datetime, cadence: timedelta, k: int) -> datetime:
    """The k-th onboarding instant (k ≥ 1): ``epoch + k × cadence``."""
    if k < 1:
        raise ValueError("onboarding ticks are numbered from 1")
    return epoch + k * cadence


def onboarding_ticks_before(epoch: datetime, cadence: timedelta, instant: datetime) -> int:
    """How many onboarding ticks (k ≥ 1) happen strictly before ``instant``."""
    elapsed = to_micros(instant) - to_micros(epoch)
    if elapsed <= 0:
        return 0
    return (elapsed - 1) // to_micros_delta(cadence)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 duration string like PT15M")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
"""A positive ISO 8601 duration (``PT15M``), serialized back to ISO 8601."""
