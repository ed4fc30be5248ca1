"""A ground-truth record for part of an interval: what paced delivery really sent before it stopped.

Paced delivery sends an interval's records at their instants. When it is stopped, or paused until the
interval is over, part of the interval is already in Kafka; without a ground-truth record those
events could never be checked. :func:`partial_ground_truth` rewrites the interval's ground truth so
that every count the model declares (:class:`~producer.generation.scenarios.declarations.Counts`,
:class:`~producer.generation.scenarios.declarations.EntityChanges`) covers exactly the records sent;
every other field (interval, seed, shard, …) is kept. The record is published with the header
``partial: true``; a complete interval's record is never touched, so its bytes do not change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import orjson

from producer.generation.scenarios import declarations
from producer.generation.scenarios.base import Records


def partial_ground_truth(truth: Records, sent: Sequence[Records]) -> Records:
    """``truth`` with its declared counts recomputed over the records in ``sent`` (any topics)."""
    model = truth.topic.model
    counted = declarations.counts(model)
    changed = declarations.entity_changes(model)
    by_topic: dict[str, list[bytes]] = {}
    for records in sent:
        by_topic.setdefault(records.topic.name, []).extend(records.values)
    values = []
    for value in truth.values:
        record = orjson.loads(value)
        for name, counts in counted.items():
            sent_values = by_topic.get(counts.topic, [])
            if counts.field is None:
                record[name] = len(sent_values)
            else:
                tally = Counter(str(orjson.loads(item)[counts.field]) for item in sent_values)
                record[name] = {category: tally[category] for category in record[name]}
        for name, topic in changed.items():
            record[name] = len(by_topic.get(topic, []))
        values.append(orjson.dumps(record))
    return Records(truth.topic, list(truth.keys), values, np.array(truth.timestamps_us, copy=True))
