"""Scenario contract v2: what record models declare, and the topic rules every scenario must follow."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel

from producer.generation.scenarios.base import Topics, TopicSpec, check_topics
from producer.generation.scenarios.declarations import (
    Category,
    Counts,
    EntityChanges,
    Reference,
    categories,
    counts,
    entity_changes,
    references,
)
from producer.generation.scenarios.registry import SCENARIOS, get_scenario

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


class Parent(BaseModel):
    parent_id: str
    created_at: str


class Child(BaseModel):
    child_id: str
    parent_id: Annotated[str, Reference("demo.parents")]
    created_at: str


class Event(BaseModel):
    event_id: str
    child_id: Annotated[str, Reference("demo.children")]
    kind: Annotated[Literal["a", "b"], Category()]
    timestamp: str


class Truth(BaseModel):
    batch_id: str
    events: Annotated[int, Counts("demo.events")]
    by_kind: Annotated[dict[str, int], Counts("demo.events", "kind")]
    children_changed: Annotated[int, EntityChanges("demo.children")]


PARENTS = TopicSpec("demo.parents", "entities", Parent, "parent_id", True, time_field="created_at")
CHILDREN = TopicSpec("demo.children", "entities", Child, "child_id", True, time_field="created_at")
EVENTS = TopicSpec("demo.events", "events", Event, "child_id", time_field="timestamp", id_field="event_id")
TRUTH = TopicSpec("demo.truth", "ground_truth", Truth, "batch_id")


def test_models_declare_references_categories_and_counts() -> None:
    assert references(Child) == {"parent_id": "demo.parents"}
    assert EVENTS.references() == {"child_id": "demo.children"}
    assert categories(Event) == {"kind": ("a", "b")}
    assert {name: (c.topic, c.field) for name, c in counts(Truth).items()} == {
        "events": ("demo.events", None),
        "by_kind": ("demo.events", "kind"),
    }
    assert entity_changes(Truth) == {"children_changed": "demo.children"}


def test_declarations_reach_the_json_schema() -> None:
    properties = Event.model_json_schema()["properties"]
    assert properties["child_id"]["x-references"] == "demo.children"
    assert properties["kind"]["x-category"] is True
    truth = Truth.model_json_schema()["properties"]
    assert truth["by_kind"]["x-counts"] == {"topic": "demo.events", "field": "kind"}
    assert truth["children_changed"]["x-entity-changes"] == "demo.children"


def test_a_well_formed_scenario_passes_the_topic_rules() -> None:
    check_topics((PARENTS, CHILDREN, EVENTS, TRUTH))


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ((CHILDREN, PARENTS, EVENTS, TRUTH), "references 'demo.parents', which is not an earlier entity"),
        ((PARENTS, EVENTS, CHILDREN, TRUTH), "entities, then events, then one ground truth"),
        ((PARENTS, CHILDREN, EVENTS), "one ground truth"),
        ((PARENTS, CHILDREN, EVENTS, TRUTH, replace(TRUTH, name="demo.truth2")), "one ground truth"),
        ((PARENTS, CHILDREN, replace(EVENTS, id_field=None), TRUTH), "needs id_field and time_field"),
        ((PARENTS, CHILDREN, replace(EVENTS, name="demo.other"), TRUTH), "counts 'demo.events', not an"),
        ((PARENTS, PARENTS, CHILDREN, EVENTS, TRUTH), "topic names repeat"),
    ],
)
def test_topic_rules_refuse_what_breaks_the_contract(specs: tuple[TopicSpec, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_topics(specs)


def test_a_category_must_be_a_literal() -> None:
    class Loose(BaseModel):
        event_id: str
        kind: Annotated[str, Category()]
        timestamp: str

    loose = TopicSpec("demo.loose", "events", Loose, "event_id", time_field="timestamp", id_field="event_id")
    with pytest.raises(TypeError, match="must be a Literal"):
        check_topics((loose, TRUTH))


def test_topics_map_names_roles_and_refuses_ambiguous_roles() -> None:
    topics = Topics((PARENTS, CHILDREN, EVENTS, TRUTH), "dev.")
    assert topics.all_names() == {
        "demo.parents": "dev.demo.parents",
        "demo.children": "dev.demo.children",
        "demo.events": "dev.demo.events",
        "demo.truth": "dev.demo.truth",
    }
    assert topics.of_role("entities") == (PARENTS, CHILDREN)
    assert topics.name("events") == "dev.demo.events" and topics.ground_truth == TRUTH
    with pytest.raises(ValueError, match="2 topics have role 'entities'"):
        topics.name("entities")


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_follows_the_contract_and_its_schemas_carry_the_declarations(name: str) -> None:
    scenario = get_scenario(name)
    check_topics(scenario.topics())
    for spec in scenario.topics():
        schema = json.loads((SCHEMAS / f"{spec.name}.json").read_text())
        assert schema["x-role"] == spec.role
        for field, target in spec.references().items():
            assert schema["properties"][field]["x-references"] == target
        for field in spec.categories():
            assert schema["properties"][field]["x-category"] is True


def test_fleet_declares_its_reference_category_and_truth_counts() -> None:
    fleet = get_scenario("fleet")
    events = fleet.topic("events")
    assert events.references() == {"company_id": "fleet.companies"}
    assert events.categories() == {"event_type": ("start driving", "stopped driving", "delivered")}
    truth = counts(fleet.topic("ground_truth").model)
    assert {name: (c.topic, c.field) for name, c in truth.items()} == {
        "event_count": ("fleet.driver-events", None),
        "event_type_counts": ("fleet.driver-events", "event_type"),
    }
