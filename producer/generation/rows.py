"""Vectorised compact JSON rows with variable-width parts (integers, decimals, cached fragments).

A row is a sequence of parts: constant ``bytes`` or a :class:`Text` column (a left-aligned
``(n, width)`` byte matrix plus each row's length). Rows are grouped by the lengths of their
variable parts; each group is one fixed-width byte matrix
(:func:`~producer.generation.serialization.fixed_width_rows`), so serialization is a handful of
numpy operations per group, never a per-record ``json.dumps``. The output equals, byte for byte,
:func:`~producer.generation.serialization.dumps` of the same record (a unit test holds it to that).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producer.generation.serialization import fixed_width_rows

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Text:
    """A variable-width text column: row ``i`` is ``matrix[i, :lengths[i]]``."""

    matrix: U8
    lengths: I64

    def take(self, rows: I64) -> Text:
        """The rows ``rows`` of this column."""
        return Text(self.matrix[rows], self.lengths[rows])


def integers(values: I64) -> Text:
    """Decimal text of non-negative integers (no leading zeros)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return Text(np.zeros((0, 1), dtype=np.uint8), np.zeros(0, dtype=np.int64))
    lengths = np.ones(values.size, dtype=np.int64)
    bound = 10
    while bound <= int(values.max()):
        lengths += values >= bound
        bound *= 10
    width = int(lengths.max())
    exponents = np.maximum(lengths[:, None] - 1 - np.arange(width)[None, :], 0)
    digits = (values[:, None] // (10**exponents)) % 10 + 48
    return Text(digits.astype(np.uint8), lengths)


def tenths(values: I64) -> Text:
    """Decimal text of non-negative tenths with one decimal: 43 → ``4.3``, 120 → ``12.0``."""
    whole = integers(np.asarray(values, dtype=np.int64) // 10)
    n = whole.lengths.size
    matrix = np.zeros((n, whole.matrix.shape[1] + 2), dtype=np.uint8)
    matrix[:, : whole.matrix.shape[1]] = whole.matrix
    rows = np.arange(n)
    matrix[rows, whole.lengths] = ord(".")
    matrix[rows, whole.lengths + 1] = (np.asarray(values, dtype=np.int64) % 10 + 48).astype(np.uint8)
    return Text(matrix, whole.lengths + 2)


def words_table(words: Sequence[str]) -> Text:
    """A lookup column of short strings (index with :meth:`Text.take`)."""
    encoded = [word.encode() for word in words]
    width = max(map(len, encoded))
    matrix = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)
    return Text(matrix.copy(), np.array(list(map(len, encoded)), dtype=np.int64))


def build(parts: Sequence[bytes | U8 | Text], rows: int) -> list[bytes]:
    """One ``bytes`` per row: the concatenation of ``parts``: constant ``bytes``, fixed-width
    ``(rows, width)`` byte matrices, or variable-width :class:`Text` columns."""
    if rows == 0:
        return []
    columns = [part for part in parts if isinstance(part, Text)]
    code = np.zeros(rows, dtype=np.int64)
    for column in columns:
        code = code * (column.matrix.shape[1] + 1) + column.lengths
    order = np.argsort(code, kind="stable")
    boundaries = np.flatnonzero(np.diff(code[order])) + 1
    values: list[bytes] = []
    for group in np.split(order, boundaries):
        first = int(group[0])
        pieces: list[U8 | bytes] = []
        for part in parts:
            if isinstance(part, Text):
                pieces.append(part.matrix[group, : int(part.lengths[first])])
            elif isinstance(part, bytes):
                pieces.append(part)
            else:
                pieces.append(part[group])
        values += fixed_width_rows(pieces, group.size)
    in_order = np.empty(rows, dtype=object)
    in_order[order] = values
    result: list[bytes] = in_order.tolist()
    return result


class Fragments:
    """Per-entity JSON fragments (``"device_id":7,"location_id":2,…,``) as one growing :class:`Text`,
    with each entity's key, indexed by entity ordinal; built once per entity (thread-safe)."""

    def __init__(self) -> None:
        self.text = Text(np.zeros((0, 1), dtype=np.uint8), np.zeros(0, dtype=np.int64))
        self.keys = np.empty(0, dtype=object)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self.text.lengths.size)

    def extend(self, fragments: list[bytes], keys: list[bytes]) -> None:
        """Append fragments (and keys) for the next ordinals."""
        with self._lock:
            width = max([self.text.matrix.shape[1], *map(len, fragments)])
            new = np.array(fragments, dtype=f"S{width}").view(np.uint8).reshape(len(fragments), width)
            old = np.zeros((self.text.matrix.shape[0], width), dtype=np.uint8)
            old[:, : self.text.matrix.shape[1]] = self.text.matrix
            lengths = np.array(list(map(len, fragments)), dtype=np.int64)
            self.text = Text(np.concatenate([old, new]), np.concatenate([self.text.lengths, lengths]))
            self.keys = np.concatenate([self.keys, np.array(keys, dtype=object)])


def decimals(values: I64, places: int) -> Text:
    """The shortest decimal text of ``values / 10**places`` with at least one decimal, as a float's
    JSON (``orjson``) reads: 12345 with 4 places → ``1.2345``, 30 → ``0.003``, 20000 → ``2.0``."""
    values = np.asarray(values, dtype=np.int64)
    scale = 10**places
    whole = integers(values // scale)
    fraction = values % scale
    powers = 10 ** np.arange(places - 1, -1, -1, dtype=np.int64)
    digits = ((fraction[:, None] // powers) % 10 + 48).astype(np.uint8)
    kept = np.full(values.size, places, dtype=np.int64)
    for _ in range(places - 1):
        trailing = (kept > 1) & (digits[np.arange(values.size), np.maximum(kept - 1, 0)] == 48)
        kept -= trailing
    n = values.size
    width = whole.matrix.shape[1] + 1 + places
    matrix = np.zeros((n, width), dtype=np.uint8)
    matrix[:, : whole.matrix.shape[1]] = whole.matrix
    rows = np.arange(n)
    matrix[rows, whole.lengths] = ord(".")
    columns = whole.lengths[:, None] + 1 + np.arange(places)[None, :]
    matrix[rows[:, None], columns] = np.where(np.arange(places)[None, :] < kept[:, None], digits, 0)
    return Text(matrix, whole.lengths + 1 + kept)


def nullable(text: Text, present: npt.NDArray[np.bool_]) -> Text:
    """``text`` where ``present``, else ``null``."""
    width = max(text.matrix.shape[1], 4)
    matrix = np.zeros((text.lengths.size, width), dtype=np.uint8)
    matrix[:, : text.matrix.shape[1]] = text.matrix
    matrix[~present, :4] = np.frombuffer(b"null", dtype=np.uint8)
    matrix[~present, 4:] = 0
    return Text(matrix, np.where(present, text.lengths, 4).astype(np.int64))


def padded(values: I64, width: int) -> U8:
    """Zero-padded decimal digits of non-negative integers below ``10**width``, ``(n, width)``."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    matrix: U8 = ((np.asarray(values, dtype=np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)
    return matrix


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hexadecimal(values: npt.NDArray[np.uint64]) -> U8:
    """16 lowercase hex digits of each 64-bit value, ``(n, 16)``."""
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (np.asarray(values, dtype=np.uint64)[:, None] >> shifts) & np.uint64(15)
    matrix: U8 = _HEX_DIGITS[nibbles.astype(np.int64)]
    return matrix
