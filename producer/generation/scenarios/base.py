"""The scenario interface: entities, event streams, ground truth and topics.

A scenario turns a :class:`~producer.generation.dataset.Dataset` into serialized records; the engine, sinks,
API and streaming job only see :class:`TopicSpec`, :class:`Records` and :class:`IntervalOutput`.
Per interval a scenario yields its events and one ground-truth record per shard; entities (the
things events refer to) are created on their own cadence and published before their first event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig
    from producer.generation.dataset import Dataset
    from producer.generation.shard import Shard

TopicRole = Literal["entities", "events", "ground_truth"]


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a scenario. ``name`` excludes the configurable prefix (see :meth:`full_name`)."""

    name: str
    role: TopicRole
    model: type[BaseModel]
    key_field: str
    compacted: bool = False
    schema_version: int = 1

    @property
    def schema_name(self) -> str:
        """The record model's name, as carried in the ``schema`` header and the schema file name."""
        return self.model.__name__

    def full_name(self, prefix: str = "") -> str:
        """The Kafka topic name with the configured prefix."""
        return f"{prefix}{self.name}"


@dataclass(frozen=True)
class Topics:
    """A scenario's topics under a prefix, by role: the one map from a role to a Kafka topic name."""

    entities: TopicSpec
    events: TopicSpec
    ground_truth: TopicSpec
    prefix: str

    @classmethod
    def of(cls, scenario: Scenario, prefix: str) -> Topics:
        """The topics of ``scenario`` with ``prefix``."""
        return cls(
            scenario.topic("entities"), scenario.topic("events"), scenario.topic("ground_truth"), prefix
        )

    def name(self, spec: TopicSpec | TopicRole) -> str:
        """The Kafka topic name of ``spec`` (or of the topic with that role)."""
        if isinstance(spec, str):
            spec = self.spec(spec)
        return spec.full_name(self.prefix)

    def spec(self, role: TopicRole) -> TopicSpec:
        """The topic with ``role``."""
        specs: dict[TopicRole, TopicSpec] = {
            "entities": self.entities,
            "events": self.events,
            "ground_truth": self.ground_truth,
        }
        return specs[role]

    def names(self) -> dict[TopicRole, str]:
        """Role → Kafka topic name, in publishing order (entities, events, ground truth)."""
        return {spec.role: self.name(spec) for spec in (self.entities, self.events, self.ground_truth)}


@dataclass(frozen=True)
class Records:
    """Serialized records for one topic, in publishing order.

    ``timestamps_us`` is each record's simulated instant (microseconds since the Unix epoch): paced
    delivery publishes a record when its instant arrives.
    """

    topic: TopicSpec
    keys: list[bytes]
    values: list[bytes]
    timestamps_us: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class IntervalOutput:
    """Everything one shard publishes for one interval: its events, then its ground-truth record."""

    interval_id: str
    interval_start: datetime
    interval_end: datetime
    events: Records
    ground_truth: Records


class Scenario(ABC):
    """A self-contained scenario; implementations are pure (no I/O) and thread-safe."""

    name: ClassVar[str]

    @abstractmethod
    def topics(self) -> tuple[TopicSpec, ...]:
        """The scenario's topics: entities first, then events, then ground truth."""

    @abstractmethod
    def interval_length(self, config: SeedstreamConfig) -> timedelta:
        """The length of the scenario's event intervals under ``config``."""

    @abstractmethod
    def entities(self, dataset: Dataset, start: datetime, end: datetime, shard: Shard) -> Records:
        """The shard's entities created in ``[start, end)``, ordered by creation instant."""

    @abstractmethod
    def interval(
        self,
        dataset: Dataset,
        interval_start: datetime,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> IntervalOutput:
        """The shard's events of the interval starting at ``interval_start`` and its ground truth.

        ``generation_time`` stamps the ground-truth record; ``None`` means wall clock now.
        """

    def topic_names(self, prefix: str) -> Topics:
        """The scenario's topics under ``prefix`` (see :class:`Topics`)."""
        return Topics.of(self, prefix)

    def topic(self, role: TopicRole) -> TopicSpec:
        """The (first) topic with ``role``."""
        return next(spec for spec in self.topics() if spec.role == role)
