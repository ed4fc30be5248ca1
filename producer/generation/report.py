"""``seedstream report``: a scenario's summary report, computed from generated output (no Kafka).

The generic part reads only what the scenario contract declares, so it covers every scenario:
entity records and distinct keys per entity topic, referential integrity (every declared reference
must name an entity published, and valid, before the record's interval started: violations must be
0), event volumes per event topic and category shares, and the ground truth's declared counts
against what was generated. A scenario adds its own business figures by returning a
:class:`ReportAccumulator` from ``Scenario.report_accumulator`` (fleet: event-type shares and the
Poisson mean against the config; TapFlow: uptime, operational rate, MRR, churn, volumes by venue
and hour).

Records are consumed interval by interval, so memory is bounded by the entities and the
accumulators, never by the range.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson

from producer.config import SeedstreamConfig
from producer.generation.clock import format_instant, intervals, to_micros
from producer.generation.dataset import Dataset
from producer.generation.scenarios import declarations
from producer.generation.scenarios.base import IntervalOutput, Records, ReportAccumulator, Scenario
from producer.generation.scenarios.registry import get_scenario
from producer.generation.scenarios.sections import Section, share
from producer.generation.shard import Shard


@dataclass
class Report:
    """A whole report: what was generated and the sections about it."""

    scenario: str
    seed: int
    start: datetime
    end: datetime
    intervals: int
    sections: list[Section]

    @property
    def failures(self) -> list[str]:
        """``section: metric`` of every row whose rule does not hold."""
        return [f"{s.title}: {r.metric}" for s in self.sections for r in s.rows if r.ok is False]

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "from": format_instant(self.start),
            "to": format_instant(self.end),
            "intervals": self.intervals,
            "sections": [
                {"title": s.title, "rows": [asdict(row) for row in s.rows]} for s in self.sections
            ],
            "failures": self.failures,
        }


class _Generic:
    """Entities, referential integrity, event volumes and ground-truth consistency, from declarations."""

    def __init__(self, scenario: Scenario) -> None:
        self.topics = scenario.topics()
        self.entity_records: Counter[str] = Counter()
        self.valid_from: dict[str, dict[str, int]] = defaultdict(dict)
        """Entity topic → key → instant (µs) of its first record (its creation)."""
        self.events: Counter[str] = Counter()
        self.categories: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.checked_references: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.truth_expected: Counter[str] = Counter()
        self.truth_observed: Counter[str] = Counter()

    def add_entities(self, records: Records) -> None:
        spec = records.topic
        known = self.valid_from[spec.name]
        self.entity_records[spec.name] += len(records)
        references = spec.references()
        for value, instant in zip(records.values, records.timestamps_us.tolist(), strict=True):
            record = orjson.loads(value)
            known.setdefault(str(record[spec.key_field]), instant)
            self._check_references(spec.name, references, record, instant + 1)

    def _check_references(
        self, topic: str, references: dict[str, str], record: dict[str, Any], before_us: int
    ) -> None:
        for field_name, target in references.items():
            key = record.get(field_name)
            if key is None:
                continue
            self.checked_references[f"{topic}.{field_name} → {target}"] += 1
            created = self.valid_from[target].get(str(key))
            if created is None or created >= before_us:
                self.violations[f"{topic}.{field_name} → {target}"] += 1

    def add_interval(self, output: IntervalOutput) -> None:
        start_us = to_micros(output.interval_start)
        for records in output.events:
            spec = records.topic
            self.events[spec.name] += len(records)
            references = spec.references()
            categories = spec.categories()
            for value in records.values:
                record = orjson.loads(value)
                self._check_references(spec.name, references, record, start_us)
                for name in categories:
                    self.categories[(spec.name, name)][str(record[name])] += 1
                    self.truth_observed[f"{spec.name}[{name}={record[name]}]"] += 1
            self.truth_observed[spec.name] += len(records)
        truth_model = output.ground_truth.topic.model
        for value in output.ground_truth.values:
            truth = orjson.loads(value)
            for name, counted in declarations.counts(truth_model).items():
                if counted.field is None:
                    self.truth_expected[counted.topic] += int(truth[name])
                else:
                    for category, count in truth[name].items():
                        self.truth_expected[f"{counted.topic}[{counted.field}={category}]"] += int(count)

    def sections(self) -> list[Section]:
        entities = Section("Entities")
        for spec in self.topics:
            if spec.role == "entities":
                keys = len(self.valid_from[spec.name])
                entities.add(f"{spec.name}: entities", keys)
                entities.add(f"{spec.name}: records (creations and versions)", self.entity_records[spec.name])
        integrity = Section("Referential integrity")
        for reference, checked in sorted(self.checked_references.items()):
            broken = self.violations[reference]
            integrity.add(f"{reference} (violations)", broken, f"0 of {checked:,} checked", broken == 0)
        events = Section("Events")
        for spec in self.topics:
            if spec.role == "events":
                events.add(f"{spec.name}: events", self.events[spec.name])
                for (topic, name), counter in sorted(self.categories.items()):
                    if topic != spec.name:
                        continue
                    total = sum(counter.values())
                    for category in spec.categories()[name]:
                        events.add(f"{topic}: {name} = {category}", f"{share(counter[category], total):.1%}")
        truth = Section("Ground truth against generated records")
        for key in sorted(set(self.truth_expected) | {k for k in self.truth_observed if "[" not in k}):
            expected, observed = self.truth_expected[key], self.truth_observed[key]
            truth.add(key, observed, f"{expected:,} in the ground truth", expected == observed)
        return [entities, integrity, events, truth]


def build_report(
    config: SeedstreamConfig, start: datetime, end: datetime, shard: Shard | None = None
) -> Report:
    """Generate ``[start, end)`` in memory (``start`` is the epoch) and report on it.

    Raises:
        BadInputError: when the range is not made of whole intervals.
    """
    from producer.generation.reference import check_range

    shard = shard or Shard()
    check_range(config, start, end)
    scenario = get_scenario(config.scenario)
    length = scenario.interval_length(config)
    dataset = Dataset.create(config, start, length)
    generic = _Generic(scenario)
    own = scenario.report_accumulator(dataset)
    consumers: list[ReportAccumulator] = [generic, *([own] if own is not None else [])]

    def feed_entities(first: datetime, stop: datetime) -> None:
        for records in scenario.entities(dataset, first, stop, shard):
            for consumer in consumers:
                consumer.add_entities(records)

    feed_entities(start - length, start)
    count = 0
    for interval_start in intervals(start, end, length):
        feed_entities(interval_start, interval_start + length)
        output = scenario.interval(dataset, interval_start, shard, generation_time=interval_start + length)
        for consumer in consumers:
            consumer.add_interval(output)
        count += 1
    sections = generic.sections() + (own.sections() if own is not None else [])
    return Report(scenario.name, dataset.seed, start, end, count, sections)
