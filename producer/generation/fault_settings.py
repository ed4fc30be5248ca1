"""The ``faults`` section of the configuration: which labelled faults to inject, how often, how.

One sub-section per fault kind, the same for every scenario; each has a ``rate`` (the probability
that an event record gets this fault, 0 by default) and the kind's parameters. A record gets at most
one fault, so the rates must sum to at most 1. The kinds, in the fixed order that partitions
``[0, 1)`` by cumulative rate (:data:`FAULT_KINDS`): ``late``, ``out_of_order``, ``duplicate``,
``malformed_json``, ``schema_violation``, ``unknown_category``, ``unknown_reference``,
``reference_not_yet_valid``, ``outside_interval``, ``drop``.

Delays are ``[min, max]`` ISO 8601 durations. A ``late`` delay must be at least the effective
watermark delay plus the interval length: only then is the record published in an interval whose
records have moved Spark's watermark past its event time. ``out_of_order`` and ``duplicate`` delays
must keep the record within the watermark delay, so it is still accepted (or dropped as a
duplicate) rather than late. Both rules are in :func:`check_fault_timing`, run by the configuration
tree because they need the scenario's interval and the streaming settings.

The settings can change while a producer runs (the sidecar's ``PUT /api/faults``): each change is a
:class:`FaultChange` in effect from an interval on, recorded in the dataset descriptor, so the
faults of an interval stay a pure function of the dataset and the interval (:func:`faults_in_effect`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from producer.generation.clock import Duration, format_duration

FaultKind = Literal[
    "late",
    "out_of_order",
    "duplicate",
    "malformed_json",
    "schema_violation",
    "unknown_category",
    "unknown_reference",
    "reference_not_yet_valid",
    "outside_interval",
    "drop",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
"""The kinds in their fixed order (the order of :data:`FaultKind`)."""

_RATE = Field(
    0.0, ge=0, le=1, description="Probability that an event record gets this fault.", examples=[0.02]
)


class Fault(BaseModel):
    """A fault kind without parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = _RATE


class DelayedFault(Fault):
    """A fault kind that publishes the record later than its event time, by a delay in ``[min, max]``."""

    delay: tuple[Duration, Duration] = Field(
        (timedelta(seconds=1), timedelta(minutes=1)),
        description="[min, max] publication delay (ISO 8601).",
        examples=[["PT1S", "PT4S"]],
    )

    @field_validator("delay")
    @classmethod
    def _ordered(cls, value: tuple[timedelta, timedelta]) -> tuple[timedelta, timedelta]:
        low, high = value
        if high < low:
            raise ValueError(
                f"must be [min, max] with min <= max, not [{format_duration(low)}, {format_duration(high)}]"
            )
        return value


class LateFault(DelayedFault):
    """``late``: its delay must exceed the watermark delay plus one interval, so its default is long."""

    delay: tuple[Duration, Duration] = Field(
        (timedelta(minutes=30), timedelta(minutes=45)),
        description="[min, max] publication delay (ISO 8601), at least the watermark delay + one interval.",
        examples=[["PT10S", "PT20S"]],
    )


class FaultsConfig(BaseModel):
    """Seeded, labelled faults injected into the event topics (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    late: LateFault = LateFault()
    out_of_order: DelayedFault = DelayedFault()
    duplicate: DelayedFault = DelayedFault()
    malformed_json: Fault = Fault()
    schema_violation: Fault = Fault()
    unknown_category: Fault = Fault()
    unknown_reference: Fault = Fault()
    reference_not_yet_valid: Fault = Fault()
    outside_interval: Fault = Fault()
    drop: Fault = Fault()

    @model_validator(mode="after")
    def _at_most_one_fault_per_record(self) -> FaultsConfig:
        total = sum(self.rates())
        if total > 1 + 1e-9:
            shown = " + ".join(
                f"{kind} {rate:g}" for kind, rate in zip(FAULT_KINDS, self.rates(), strict=True) if rate
            )
            raise ValueError(
                f"the rates sum to {total:g} ({shown}); a record gets at most one fault: at most 1"
            )
        return self

    def rates(self) -> tuple[float, ...]:
        """Each kind's rate, in :data:`FAULT_KINDS` order."""
        return tuple(self.kind(name).rate for name in FAULT_KINDS)

    def kind(self, name: FaultKind) -> Fault:
        """The settings of the kind ``name``."""
        section: Fault = getattr(self, name)
        return section

    @property
    def enabled(self) -> bool:
        """Whether any kind has a rate above 0."""
        return any(self.rates())

    def late_reach(self, interval: timedelta) -> int:
        """How many intervals back a late record published in an interval may come from."""
        if not self.late.rate:
            return 0
        return -(-self.late.delay[1] // interval)


class FaultChange(BaseModel):
    """Fault settings changed while producing: in effect from the interval ``from_interval`` on (until
    a later change), recorded in the dataset descriptor so a restart or replay reproduces them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_interval: AwareDatetime = Field(
        description="The start of the first interval the settings apply to.",
        examples=["2025-11-08T12:15:10Z"],
    )
    faults: FaultsConfig
    recorded_at: AwareDatetime = Field(
        description="When the change was made (wall clock).", examples=["2025-11-08T12:15:03.481Z"]
    )
    source: str = Field("api", description="Who made the change.", examples=["api"])


def faults_in_effect(
    base: FaultsConfig, changes: Sequence[FaultChange], interval_start: datetime
) -> FaultsConfig:
    """The fault settings of the interval starting at ``interval_start``: the latest of ``changes``
    (ordered by ``from_interval``) in effect by then, else ``base`` (the configuration's)."""
    in_effect = base
    for change in changes:
        if change.from_interval > interval_start:
            break
        in_effect = change.faults
    return in_effect


def scheduled(changes: Sequence[FaultChange], change: FaultChange) -> tuple[FaultChange, ...]:
    """``changes`` with ``change`` added; it replaces those from its interval on (never reached yet)."""
    return (*(each for each in changes if each.from_interval < change.from_interval), change)


def check_fault_timing(
    faults: FaultsConfig, interval: timedelta, watermark_delay: timedelta
) -> list[tuple[str, tuple[timedelta, timedelta], str]]:
    """The timing problems of ``faults`` under this interval length and effective watermark delay,
    as ``(kind, delay, rule)``, each about ``faults.<kind>.delay``.

    A ``late`` delay minimum below ``watermark_delay + interval`` would not reliably be late. An
    ``out_of_order`` or ``duplicate`` record stays in its interval, published at most
    ``min(delay, interval)`` after its event time; beyond ``watermark_delay`` it could fall behind
    the watermark and be quarantined as late instead of accepted (or dropped as a duplicate).
    """
    problems = []
    needed = watermark_delay + interval
    if faults.late.rate and faults.late.delay[0] < needed:
        problems.append(
            (
                "late",
                faults.late.delay,
                f"the minimum {format_duration(faults.late.delay[0])} is shorter than the watermark delay "
                f"{format_duration(watermark_delay)} + the interval {format_duration(interval)} = "
                f"{format_duration(needed)}, so the record would not reliably be late: make it at least "
                f"{format_duration(needed)}",
            )
        )
    for kind in ("out_of_order", "duplicate"):
        section = faults.out_of_order if kind == "out_of_order" else faults.duplicate
        if section.rate and min(section.delay[1], interval) > watermark_delay:
            problems.append(
                (
                    kind,
                    section.delay,
                    f"the maximum {format_duration(section.delay[1])} exceeds the watermark delay "
                    f"{format_duration(watermark_delay)}, so the record could be late: make it at most "
                    f"{format_duration(watermark_delay)} (or raise streaming.watermark_delay)",
                )
            )
    return problems
