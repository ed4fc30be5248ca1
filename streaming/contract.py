"""What the pipeline needs to know about a scenario, read from its contract (topics and declarations).

Nothing here names a scenario: topics, their roles and fields, categories, references, the optional
``Active`` field and the ground truth's ``Counts`` come from the record models. Two conventions of
the contract are relied on and checked: every event and ground-truth record carries its interval as
``batch_id`` (``20251108T1215Z``), and a ground-truth record names its shard as ``shard`` (``i/N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from producer.errors import BadInputError
from producer.generation.fault_labels import label_topic
from producer.generation.scenarios import declarations
from producer.generation.scenarios.registry import get_scenario
from streaming import gold
from streaming.schemas import FieldRule, field_rules

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig
    from producer.generation.scenarios.base import DerivedTable, TopicRole, TopicSpec

INTERVAL_FIELD = "batch_id"
SHARD_FIELD = "shard"


def table_name(topic: TopicSpec) -> str:
    """The silver table of a topic: ``fleet.driver-events`` → ``driver_events``."""
    return topic.name.split(".", 1)[-1].replace("-", "_")


@dataclass(frozen=True)
class TopicPlan:
    """One topic as the pipeline sees it; ``index`` numbers the topic's typed columns."""

    index: int
    spec: TopicSpec
    kafka_topic: str
    rules: tuple[FieldRule, ...]
    categories: dict[str, tuple[str, ...]]
    references: dict[str, str]
    active: tuple[str, tuple[str, ...]] | None

    @property
    def role(self) -> TopicRole:
        return self.spec.role

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def table(self) -> str:
        return table_name(self.spec)

    def column(self, field: str) -> str:
        """The flat column that holds ``field`` of this topic's records in the routed frame."""
        return f"_c{self.index}_{[rule.name for rule in self.rules].index(field)}"

    @property
    def time_field(self) -> str:
        if self.spec.time_field is None:
            raise ValueError(f"{self.name} declares no time_field")
        return self.spec.time_field

    @property
    def id_field(self) -> str:
        if self.spec.id_field is None:
            raise ValueError(f"{self.name} declares no id_field")
        return self.spec.id_field


@dataclass(frozen=True)
class CountDimension:
    """One ``Counts`` declaration of the ground truth: ``truth_field`` counts events of ``topic``,
    in total (``category_field`` None) or per value of ``category_field``."""

    truth_field: str
    topic: str
    category_field: str | None


@dataclass(frozen=True)
class PipelinePlan:
    """A scenario's topics under the configured prefix, with the timing the config gives them."""

    scenario: str
    topics: tuple[TopicPlan, ...]
    dimensions: tuple[CountDimension, ...]
    interval: timedelta
    delay: timedelta
    lateness: timedelta
    derived: dict[str, DerivedTable]
    labels_topic: str = ""
    """The Kafka topic of the scenario's fault labels (:mod:`producer.generation.fault_labels`): landed
    in bronze only, for scoring (:mod:`streaming.score`)."""

    def of_role(self, role: TopicRole) -> tuple[TopicPlan, ...]:
        return tuple(topic for topic in self.topics if topic.role == role)

    @property
    def ground_truth(self) -> TopicPlan:
        return self.of_role("ground_truth")[0]

    def by_name(self, name: str) -> TopicPlan:
        return next(topic for topic in self.topics if topic.name == name)

    def dimensions_of(self, topic: str) -> tuple[CountDimension, ...]:
        return tuple(dimension for dimension in self.dimensions if dimension.topic == topic)


def _require_fields(topic: TopicPlan, fields: tuple[str, ...]) -> None:
    names = {rule.name for rule in topic.rules}
    missing = [field for field in fields if field not in names]
    if missing:
        raise BadInputError(
            f"topic {topic.name}: the streaming job needs field(s) {', '.join(missing)} "
            f"in {topic.spec.schema_name}"
        )


def plan_for(config: SeedstreamConfig) -> PipelinePlan:
    """The pipeline plan of ``config``'s scenario (BadInputError when the models break a convention)."""
    scenario = get_scenario(config.scenario)
    prefix = config.kafka.topic_prefix
    topics = tuple(
        TopicPlan(
            index=index,
            spec=spec,
            kafka_topic=spec.full_name(prefix),
            rules=field_rules(spec.model),
            categories=spec.categories(),
            references=spec.references(),
            active=declarations.active_field(spec.model) if spec.role == "entities" else None,
        )
        for index, spec in enumerate(scenario.topics())
    )
    for topic in topics:
        if topic.role == "events":
            _require_fields(topic, (INTERVAL_FIELD, topic.id_field, topic.time_field))
        elif topic.role == "ground_truth":
            _require_fields(topic, (INTERVAL_FIELD, SHARD_FIELD))
        else:
            _require_fields(topic, (topic.spec.key_field, topic.time_field))
    truth = next(topic for topic in topics if topic.role == "ground_truth")
    dimensions = tuple(
        CountDimension(field, counted.topic, counted.field)
        for field, counted in declarations.counts(truth.spec.model).items()
    )
    interval = scenario.interval_length(config)
    return PipelinePlan(
        scenario=scenario.name,
        topics=topics,
        dimensions=dimensions,
        interval=interval,
        delay=config.streaming.delay(interval),
        lateness=config.streaming.lateness(),
        derived={**scenario.derived_tables(), **gold.derived_tables(config)},
        labels_topic=label_topic(scenario.name).full_name(prefix),
    )
