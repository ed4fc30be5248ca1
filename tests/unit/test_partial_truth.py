"""A partial ground truth counts exactly the records sent; the rest of the record is kept."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import orjson

from producer.engine.modes import _counted, _PacedPlan
from producer.generation.fault_settings import FAULT_KINDS
from producer.generation.faults import faulted_interval
from producer.generation.partial import partial_ground_truth
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset, make_interval
from producer.kafka.records import RecordFactory, subset


def test_partial_truth_counts_the_sent_events_and_keeps_every_other_field() -> None:
    output = make_interval(make_dataset("small"))
    events = output.events[0]
    sent = subset(events, np.arange(0, len(events), 3))
    truth = partial_ground_truth(output.ground_truth, [sent])
    whole, part = orjson.loads(output.ground_truth.values[0]), orjson.loads(truth.values[0])
    kinds = [orjson.loads(value)["event_type"] for value in sent.values]
    assert part["event_count"] == len(sent) < whole["event_count"]
    assert part["event_type_counts"] == {name: kinds.count(name) for name in whole["event_type_counts"]}
    assert list(part["event_type_counts"]) == list(whole["event_type_counts"])
    counts = ("event_count", "event_type_counts")
    unchanged = {key: value for key, value in whole.items() if key not in counts}
    assert {key: part[key] for key in unchanged} == unchanged
    assert truth.keys == output.ground_truth.keys


def test_partial_truth_of_everything_is_the_complete_truth() -> None:
    output = make_interval(make_dataset("small"))
    truth = partial_ground_truth(output.ground_truth, list(output.events))
    assert orjson.loads(truth.values[0]) == orjson.loads(output.ground_truth.values[0])


def test_with_faults_a_partial_truth_counts_the_clean_events_up_to_the_last_instant_sent() -> None:
    """Faulted values need not parse, and the truth stays that of the clean data: the partial truth
    of paced delivery counts the interval's clean events up to the last instant it sent."""
    dataset = make_dataset("small", **{f"faults__{kind}__rate": 0.09 for kind in FAULT_KINDS})
    scenario = get_scenario("fleet")
    factory = RecordFactory(scenario, dataset, Shard(), "")
    publisher = SimpleNamespace(
        factory=factory,
        length=factory.length,
        interval_output=lambda start: faulted_interval(scenario, dataset, start, Shard()),
        entity_records=lambda start, end: scenario.entities(dataset, start, end, Shard()),
    )
    start = dataset.epoch + 2 * factory.length
    plan = _PacedPlan.of(publisher, start)  # type: ignore[arg-type]
    position = plan.order.size // 2
    counted = _counted(publisher, plan, plan.parts(plan.order[:position]), position)  # type: ignore[arg-type]
    truth = orjson.loads(partial_ground_truth(plan.output.ground_truth, counted).values[0])
    clean = scenario.interval(dataset, start, Shard()).events[0]
    assert truth["event_count"] == int(np.sum(clean.timestamps_us <= plan.sorted_times[position - 1])) > 0
