"""The one serializer: compact UTF-8 JSON bytes, timestamps ISO 8601 UTC with microseconds and ``Z``.

:func:`dumps` handles any record (pydantic model or plain data) through orjson. Scenarios build
their high-volume event values with the vectorized column helpers here (:func:`uuid_strings`,
:func:`timestamp_strings`), whose output is byte-for-byte what :func:`dumps` gives for the same
record (a unit test holds them to it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel

from producer.generation.clock import format_instant

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_PAIRS = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)
_UUID_DIGIT_COLUMNS = np.array([*range(0, 8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)])


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(record: BaseModel | dict[str, Any]) -> bytes:
    """Compact JSON bytes of a record; field order is the model's."""
    data = record.model_dump(mode="python") if isinstance(record, BaseModel) else record
    return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def fixed_width_rows(parts: list[npt.NDArray[np.uint8] | bytes], rows: int) -> list[bytes]:
    """Concatenate per-row byte columns into one ``bytes`` per row, vectorized.

    Each part is either constant ``bytes`` (the same for every row) or a ``(rows, width)`` uint8
    matrix. The last byte of a row must not be NUL (numpy's fixed-width bytes drop trailing NULs).
    """
    widths = [len(part) if isinstance(part, bytes) else part.shape[1] for part in parts]
    matrix = np.empty((rows, sum(widths)), dtype=np.uint8)
    column = 0
    for part, width in zip(parts, widths, strict=True):
        if isinstance(part, bytes):
            matrix[:, column : column + width] = np.frombuffer(part, dtype=np.uint8)
        else:
            matrix[:, column : column + width] = part
        column += width
    return matrix.view(f"S{column}").ravel().tolist()


def uuid_matrix(high: npt.NDArray[np.uint64], low: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """Canonical UUID text (``(n, 36)`` ASCII) of 128-bit values split in big-endian halves."""
    count = high.size
    raw = np.empty((count, 16), dtype=np.uint8)
    raw[:, :8] = high.astype(">u8").view(np.uint8).reshape(count, 8)
    raw[:, 8:] = low.astype(">u8").view(np.uint8).reshape(count, 8)
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGIT_COLUMNS] = _HEX_PAIRS[raw].reshape(count, 32)
    return text


def uuid_strings(high: npt.NDArray[np.uint64], low: npt.NDArray[np.uint64]) -> list[str]:
    """Canonical UUID strings of 128-bit values split in big-endian halves."""
    return uuid_matrix(high, low).view("S36").ravel().astype("U36").tolist()


def uuid4_bits(
    high: npt.NDArray[np.uint64], low: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Set the RFC 4122 version-4 and variant bits on random 128-bit values."""
    high = (high & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x0000000000004000)
    low = (low & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    return high, low


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + 48).astype(np.uint8)


def timestamp_matrix(micros: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """``2025-11-08T12:15:00.000123Z`` as ``(n, 27)`` ASCII, for instants in years 0001–9999."""
    days, micros_of_day = np.divmod(micros, 86_400_000_000)
    # Howard Hinnant's civil_from_days, vectorized.
    shifted = days + 719_468
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = np.where(month_index < 10, month_index + 3, month_index - 9)
    year = year_of_era + era * 400 + (month <= 2)
    seconds_of_day, fraction = np.divmod(micros_of_day, 1_000_000)
    hour, rest = np.divmod(seconds_of_day, 3600)
    minute, second = np.divmod(rest, 60)
    text = np.empty((micros.size, 27), dtype=np.uint8)
    text[:, 0:4] = _digits(year, 4)
    text[:, 5:7] = _digits(month, 2)
    text[:, 8:10] = _digits(day, 2)
    text[:, 11:13] = _digits(hour, 2)
    text[:, 14:16] = _digits(minute, 2)
    text[:, 17:19] = _digits(second, 2)
    text[:, 20:26] = _digits(fraction, 6)
    for column, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (26, "Z")):
        text[:, column] = ord(char)
    return text


def timestamp_strings(micros: npt.NDArray[np.int64]) -> list[str]:
    """``2025-11-08T12:15:00.000123Z`` for each instant given as microseconds since the Unix epoch."""
    return timestamp_matrix(micros).view("S27").ravel().astype("U27").tolist()
