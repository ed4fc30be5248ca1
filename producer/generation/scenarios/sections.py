"""Report sections: titled rows of figures with what the configuration or the rules expect."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One figure: its value, what the configuration or the rules expect, and whether it holds."""

    metric: str
    value: float | int | str
    expected: str = ""
    ok: bool | None = None


@dataclass
class Section:
    """A titled group of rows."""

    title: str
    rows: list[Row] = field(default_factory=list)

    def add(self, metric: str, value: float | int | str, expected: str = "", ok: bool | None = None) -> None:
        """Append a row."""
        self.rows.append(Row(metric, value, expected, ok))


def share(part: int, whole: int) -> float:
    """``part / whole``, 0 when ``whole`` is 0."""
    return part / whole if whole else 0.0
