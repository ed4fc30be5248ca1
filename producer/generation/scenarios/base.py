"""The scenario contract: entity topics, event topics, one ground-truth topic, and their records.

A scenario turns a :class:`~producer.generation.dataset.Dataset` into serialized records; the engine,
the Kafka layer, the sidecar and the streaming job only see :class:`TopicSpec`, :class:`Records` and
:class:`IntervalOutput`, plus what the record models declare (:mod:`.declarations`).

- **Entity topics**, in dependency order (a parent's topic before its children's): compacted, keyed
  by the entity id; a record is an entity's creation or a later change (a new version of the whole
  entity with its change instant). :meth:`Scenario.entities` gives those in ``[start, end)``.
- **Event topics**: keyed records with a record id, an event time inside the interval and the
  interval's ``batch_id``; they refer to entities (:class:`~.declarations.Reference`) created before
  the interval started, so those are always published and acknowledged first.
- **One ground-truth topic**: per interval and shard, what the interval holds (counts per event
  topic and per declared category, entities created or changed), published after its records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from producer.generation.scenarios import declarations
from producer.generation.scenarios.sections import Section

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig
    from producer.generation.dataset import Dataset
    from producer.generation.shard import Shard

TopicRole = Literal["entities", "events", "ground_truth", "labels"]
"""``labels``: a scenario's fault-label topic (:mod:`producer.generation.faults`), never in its
:meth:`Scenario.topics`."""

DerivedTable = Callable[[Mapping[str, Any]], Any]
"""A gold table: a pure function from the silver DataFrames (by scenario topic name) to a DataFrame.

Typed loosely so this module needs no Spark; the streaming job passes and expects
``pyspark.sql.DataFrame``s.
"""


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a scenario. ``name`` excludes the configurable prefix (see :meth:`full_name`)."""

    name: str
    role: TopicRole
    model: type[BaseModel]
    key_field: str
    compacted: bool = False
    schema_version: int = 1
    time_field: str | None = None
    """Entities: the creation or change instant; events: the event time."""
    id_field: str | None = None
    """Events: the record id (unique per record, the deduplication key)."""

    def references(self) -> dict[str, str]:
        """Field → entity topic it references, as the model declares."""
        return declarations.references(self.model)

    def categories(self) -> dict[str, tuple[str, ...]]:
        """Categorical field → allowed values, as the model declares."""
        return declarations.categories(self.model)

    @property
    def schema_name(self) -> str:
        """The record model's name, as carried in the ``schema`` header and the schema file name."""
        return self.model.__name__

    def full_name(self, prefix: str = "") -> str:
        """The Kafka topic name with the configured prefix."""
        return f"{prefix}{self.name}"


@dataclass(frozen=True)
class Topics:
    """A scenario's topics under a prefix: the one map from a topic (or role) to a Kafka topic name."""

    specs: tuple[TopicSpec, ...]
    prefix: str

    @classmethod
    def of(cls, scenario: Scenario, prefix: str) -> Topics:
        """The topics of ``scenario`` with ``prefix``."""
        return cls(scenario.topics(), prefix)

    def of_role(self, role: TopicRole) -> tuple[TopicSpec, ...]:
        """The topics with ``role``, in publishing order."""
        return tuple(spec for spec in self.specs if spec.role == role)

    @property
    def ground_truth(self) -> TopicSpec:
        """The ground-truth topic."""
        return self.spec("ground_truth")

    def spec(self, role: TopicRole) -> TopicSpec:
        """The one topic with ``role`` (ValueError when the scenario has several)."""
        specs = self.of_role(role)
        if len(specs) != 1:
            raise ValueError(f"{len(specs)} topics have role {role!r}; name the topic instead")
        return specs[0]

    def name(self, spec: TopicSpec | TopicRole) -> str:
        """The Kafka topic name of ``spec`` (or of the one topic with that role)."""
        if isinstance(spec, str):
            spec = self.spec(spec)
        return spec.full_name(self.prefix)

    def all_names(self) -> dict[str, str]:
        """Scenario topic name → Kafka topic name, in publishing order."""
        return {spec.name: spec.full_name(self.prefix) for spec in self.specs}

    def names(self) -> dict[TopicRole, str]:
        """Role → Kafka topic name, for scenarios with one topic per role (ValueError otherwise)."""
        return {role: self.name(role) for role in ("entities", "events", "ground_truth")}


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
    """Everything one shard publishes for one interval: its events (one :class:`Records` per event
    topic, in topic order), then its fault labels (when faults are injected, see
    :mod:`producer.generation.faults`), then its ground-truth record."""

    interval_id: str
    interval_start: datetime
    interval_end: datetime
    events: tuple[Records, ...]
    ground_truth: Records
    labels: Records | None = None

    @property
    def event_count(self) -> int:
        """Events over all event topics."""
        return sum(len(records) for records in self.events)


@dataclass(frozen=True)
class ValidationQuery:
    """One of a scenario's post-load checks (``seedstream validate``): SQL returning one row whose
    first column is compared with ``expected``.

    ``sql`` names tables as ``{silver}.<table>`` (also ``{bronze}``, ``{gold}``, ``{checks}``): the
    runner substitutes the scenario's schemas. ``expected`` is exact unless ``tolerance`` is set
    (then ``|result - expected| <= tolerance``).
    """

    name: str
    sql: str
    expected: float
    tolerance: float | None = None


class ReportAccumulator(Protocol):
    """A scenario's own figures, fed the same records as the generic report."""

    def add_entities(self, records: Records) -> None:
        """Entity records (creations and versions) of one entity topic, in publishing order."""

    def add_interval(self, output: IntervalOutput) -> None:
        """One interval's events and ground truth."""

    def sections(self) -> list[Section]:
        """The scenario's sections."""


def share(part: int, whole: int) -> float:
    """``part / whole``, 0 when ``whole`` is 0."""
    return part / whole if whole else 0.0


class Scenario(ABC):
    """A self-contained scenario; implementations are pure (no I/O) and thread-safe."""

    name: ClassVar[str]

    @abstractmethod
    def topics(self) -> tuple[TopicSpec, ...]:
        """The scenario's topics: entity topics in dependency order, then event topics, then the
        ground-truth topic (see :func:`check_topics`)."""

    @abstractmethod
    def interval_length(self, config: SeedstreamConfig) -> timedelta:
        """The length of the scenario's event intervals under ``config``."""

    @abstractmethod
    def entities(
        self, dataset: Dataset, start: datetime, end: datetime, shard: Shard
    ) -> tuple[Records, ...]:
        """The shard's entity records (creations and changes) with instants in ``[start, end)``: one
        :class:`Records` per entity topic, in topic order, each ordered by instant."""

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

    def expected_records(self, dataset: Dataset, interval_start: datetime, shard: Shard) -> float:
        """About how many records (events, ground truth and new entities) one interval publishes, for
        size estimates before a long range is generated. The default generates the interval; a
        scenario whose volume grows over time overrides it with a formula that costs nothing."""
        output = self.interval(dataset, interval_start, shard, generation_time=interval_start)
        end = interval_start + self.interval_length(dataset.config)
        entities = self.entities(dataset, interval_start, end, shard)
        return float(output.event_count + len(output.ground_truth) + sum(len(batch) for batch in entities))

    def report_accumulator(self, dataset: Dataset) -> ReportAccumulator | None:
        """The scenario's own ``seedstream report`` figures (None: the generic report only)."""
        del dataset
        return None

    def derived_tables(self) -> dict[str, DerivedTable]:
        """Gold tables the streaming job materializes from silver: table name → pure function of the
        silver DataFrames (entity topics: latest version per key; event topics: valid deduplicated
        rows; the ground-truth topic: its valid records), keyed by scenario topic name. None by
        default."""
        return {}

    def validation_queries(self, config: SeedstreamConfig) -> list[ValidationQuery]:
        """The scenario's own validation queries, beyond the ones every scenario gets from its
        declarations (referential integrity, the interval rule). None by default."""
        del config
        return []

    def zorder(self) -> dict[str, tuple[str, ...]]:
        """Z-order columns per silver or gold table (``seedstream optimize``): by default each event
        table by its key field."""
        return {
            spec.name.split(".", 1)[-1].replace("-", "_"): (spec.key_field,)
            for spec in self.topics()
            if spec.role == "events"
        }

    def topic_names(self, prefix: str) -> Topics:
        """The scenario's topics under ``prefix`` (see :class:`Topics`)."""
        return Topics.of(self, prefix)

    def topic(self, role: TopicRole) -> TopicSpec:
        """The (first) topic with ``role``."""
        return next(spec for spec in self.topics() if spec.role == role)


def check_topics(specs: tuple[TopicSpec, ...]) -> None:
    """Raise ValueError unless ``specs`` follow the contract: entity topics (each referencing only
    earlier entity topics), then event topics (referencing entity topics), then exactly one
    ground-truth topic whose count declarations name the scenario's own topics."""
    roles = [spec.role for spec in specs]
    order = {"entities": 0, "events": 1, "ground_truth": 2}
    if roles != sorted(roles, key=order.__getitem__) or roles.count("ground_truth") != 1:
        raise ValueError(f"topics must be entities, then events, then one ground truth: {roles}")
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"topic names repeat: {names}")
    seen_entities: set[str] = set()
    for spec in specs:
        for field, target in spec.references().items():
            if target not in seen_entities:
                raise ValueError(
                    f"{spec.name}.{field} references {target!r}, which is not an earlier entity topic"
                )
        spec.categories()  # raises on a Category that is not a Literal
        if spec.role == "entities":
            seen_entities.add(spec.name)
        if spec.role == "events" and (spec.id_field is None or spec.time_field is None):
            raise ValueError(f"event topic {spec.name} needs id_field and time_field")
        if spec.role == "ground_truth":
            events = {s.name for s in specs if s.role == "events"}
            for field, counted in declarations.counts(spec.model).items():
                if counted.topic not in events:
                    raise ValueError(f"{spec.name}.{field} counts {counted.topic!r}, not an event topic")
            for field, topic in declarations.entity_changes(spec.model).items():
                if topic not in seen_entities:
                    raise ValueError(f"{spec.name}.{field} counts {topic!r}, not an entity topic")
