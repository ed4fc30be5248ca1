"""fleet's own report figures: event-type shares and the per-driver event rate against the config."""

from __future__ import annotations

import math
from collections import Counter

import orjson

from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.generation.scenarios.fleet.generate import event_rate
from producer.generation.scenarios.fleet.models import EVENT_TYPE_WEIGHTS, EVENT_TYPES
from producer.generation.scenarios.sections import Section, share

TOLERANCE_SIGMAS = 4.0
"""A figure is within expectation when it is within this many standard errors of the config."""


class FleetReport:
    """Counts event types and eligible driver-intervals from the ground truth."""

    def __init__(self, dataset: Dataset) -> None:
        self.fleet = dataset.config.fleet
        self.types: Counter[str] = Counter()
        self.driver_intervals = 0
        self.batch_sizes: list[int] = []

    def add_entities(self, records: Records) -> None:
        del records  # companies are covered by the generic report

    def add_interval(self, output: IntervalOutput) -> None:
        for value in output.ground_truth.values:
            truth = orjson.loads(value)
            self.types.update({name: int(count) for name, count in truth["event_type_counts"].items()})
            self.driver_intervals += int(truth["eligible_companies"]) * self.fleet.drivers_per_company
            self.batch_sizes.append(int(truth["event_count"]))

    def sections(self) -> list[Section]:
        section = Section("fleet")
        total = sum(self.types.values())
        for name, weight in zip(EVENT_TYPES, EVENT_TYPE_WEIGHTS, strict=True):
            observed = share(self.types[name], total)
            error = math.sqrt(weight * (1 - weight) / total) if total else 0.0
            within = total == 0 or abs(observed - weight) <= TOLERANCE_SIGMAS * error
            section.add(f"event_type = {name}", f"{observed:.2%}", f"{weight:.0%}", within)
        if self.fleet.events_per_batch_range is not None:
            low, high = self.fleet.events_per_batch_range
            inside = all(low <= size <= high for size in self.batch_sizes)
            section.add("events per interval (emulated)", f"{min(self.batch_sizes, default=0)}–"
                        f"{max(self.batch_sizes, default=0)}", f"{low}–{high}", inside)  # fmt: skip
        else:
            expected = event_rate(self.fleet)
            mean = total / self.driver_intervals if self.driver_intervals else 0.0
            error = math.sqrt(expected / self.driver_intervals) if self.driver_intervals else 0.0
            within = self.driver_intervals == 0 or abs(mean - expected) <= TOLERANCE_SIGMAS * error
            metric = "events per driver per interval (Poisson mean)"
            section.add(metric, f"{mean:.3f}", f"{expected:.3f}", within)
        return [section]
