"""The fault-label contract: one :class:`FaultLabel` per injected fault, on ``<scenario>.fault-labels``.

The label topic is keyed by record id and created like the ground-truth topic (one partition). It is
not one of a scenario's :meth:`~producer.generation.scenarios.base.Scenario.topics`: the streaming
job validates and lands those, while labels are for scoring what a pipeline did with the faults.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from producer.generation.fault_settings import FaultKind
from producer.generation.scenarios.base import TopicSpec

LABEL_SCHEMA_VERSION = 1

Expected = Literal[
    "unparseable",
    "schema_violation",
    "unknown_category",
    "unknown_reference",
    "reference_not_yet_valid",
    "outside_interval",
    "late",
    "missing",
    "dropped_as_duplicate",
    "accepted",
]
EXPECTED: dict[FaultKind, Expected] = {
    "late": "late",
    "out_of_order": "accepted",
    "duplicate": "dropped_as_duplicate",
    "malformed_json": "unparseable",
    "schema_violation": "schema_violation",
    "unknown_category": "unknown_category",
    "unknown_reference": "unknown_reference",
    "reference_not_yet_valid": "reference_not_yet_valid",
    "outside_interval": "outside_interval",
    "drop": "missing",
}
"""What a correct pipeline does with a record of each fault kind: its quarantine reason, or
``missing`` (the interval check reports it), ``dropped_as_duplicate`` or ``accepted``."""


class FaultLabel(BaseModel):
    """One injected fault (topic ``<scenario>.fault-labels``, key ``record_id``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str = Field(description="The faulted record's id (its topic's id field), as text.")
    kind: FaultKind
    topic: str = Field(description="The scenario topic name (without the configured prefix).")
    key: str = Field(description="The record's Kafka key.")
    batch_id: str = Field(description="The record's interval.")
    published_batch_id: str | None = Field(
        description="The interval whose publication carries the record; null when dropped."
    )
    expected: Expected = Field(description="What a correct pipeline does with the record.")
    detail: str = Field(description="What was changed, naming the field.")


@cache
def label_topic(scenario_name: str) -> TopicSpec:
    """The label topic of the scenario ``scenario_name`` (not one of its :meth:`topics`)."""
    return TopicSpec(
        f"{scenario_name}.fault-labels", "labels", FaultLabel, "record_id", False, LABEL_SCHEMA_VERSION,
        id_field="record_id",
    )  # fmt: skip


def fault_kinds(values: Iterable[bytes]) -> Counter[str]:
    """How many of the label ``values`` (serialized :class:`FaultLabel` records) are of each kind."""
    return Counter(str(orjson.loads(value)["kind"]) for value in values)
