"""A partial ground truth counts exactly the records sent; the rest of the record is kept."""

from __future__ import annotations

import numpy as np
import orjson

from producer.generation.partial import partial_ground_truth
from producer.generation.testing import make_dataset, make_interval
from producer.kafka.records import subset


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
