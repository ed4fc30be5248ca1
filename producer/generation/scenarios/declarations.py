"""What a record model declares about its fields, as ``Annotated[...]`` metadata.

Downstream code (schema export, the streaming job's validation and interval checks) reads these
declarations instead of knowing any scenario::

    company_id: Annotated[str, Reference("fleet.companies")]      # an entity's key on that topic
    event_type: Annotated[EventType, Category()]                  # counted per value in the truth
    event_count: Annotated[int, Counts("fleet.driver-events")]    # ground truth: events of a topic
    event_type_counts: Annotated[dict[EventType, int], Counts("fleet.driver-events", "event_type")]
    accounts_changed: Annotated[int, EntityChanges("tapflow.accounts")]
    active: Annotated[bool, Active()] = True                      # entity: still active?

Each marker also writes itself into the field's JSON Schema (``x-references``, ``x-category``,
``x-counts``, ``x-entity-changes``, ``x-active``), so ``schemas/`` carries the same facts for other tools.
Topic names are the scenario's names, without the configurable prefix.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class _Marker:
    """A field declaration that also annotates the field's JSON Schema."""

    def schema_extra(self) -> dict[str, Any]:
        """The ``x-…`` keywords this declaration adds to the field's JSON Schema."""
        raise NotImplementedError

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.schema_extra())
        return schema


@dataclass(frozen=True)
class Reference(_Marker):
    """The field holds the key of an entity published on ``topic``.

    A valid record refers only to an entity created (and still valid) before the record's interval
    started: the producer publishes and acknowledges every such entity first.
    """

    topic: str

    def schema_extra(self) -> dict[str, Any]:
        return {"x-references": self.topic}


@dataclass(frozen=True)
class Category(_Marker):
    """The field is categorical (a ``Literal``): counts per value are part of the ground truth."""

    def schema_extra(self) -> dict[str, Any]:
        return {"x-category": True}


@dataclass(frozen=True)
class Counts(_Marker):
    """A ground-truth field: how many events of ``topic`` the interval holds (per value of ``field``
    when given, as a mapping value → count with every value present)."""

    topic: str
    field: str | None = None

    def schema_extra(self) -> dict[str, Any]:
        return {"x-counts": {"topic": self.topic, **({"field": self.field} if self.field else {})}}


@dataclass(frozen=True)
class EntityChanges(_Marker):
    """A ground-truth field: how many entities of ``topic`` were created or changed (new versions)
    in the interval."""

    topic: str

    def schema_extra(self) -> dict[str, Any]:
        return {"x-entity-changes": self.topic}


@dataclass(frozen=True)
class Active(_Marker):
    """An entity field saying whether the entity is still active: a ``bool`` (active when true), or a
    categorical field whose ``values`` count as active.

    Optional: without it every entity is active once created. The streaming job rejects an event as
    ``reference_not_yet_valid`` when the referenced entity's latest version is inactive and dates from
    at or before the start of the event's interval.
    """

    values: tuple[str, ...] = ()

    def schema_extra(self) -> dict[str, Any]:
        return {"x-active": list(self.values) if self.values else True}


def _markers(model: type[BaseModel], kind: type[_Marker]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        for item in field.metadata:
            if isinstance(item, kind):
                found[name] = item
    return found


def references(model: type[BaseModel]) -> dict[str, str]:
    """Field → the entity topic it references, in field order."""
    return {name: marker.topic for name, marker in _markers(model, Reference).items()}


def _literal_values(annotation: Any) -> tuple[str, ...]:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is not Literal:
        raise TypeError(f"a Category field must be a Literal, not {annotation!r}")
    return tuple(str(value) for value in get_args(annotation))


def categories(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Categorical field → its allowed values (in declaration order)."""
    return {
        name: _literal_values(model.model_fields[name].annotation)
        for name in _markers(model, Category)
    }


def counts(model: type[BaseModel]) -> dict[str, Counts]:
    """Ground-truth field → what it counts."""
    return dict(_markers(model, Counts))


def entity_changes(model: type[BaseModel]) -> dict[str, str]:
    """Ground-truth field → the entity topic whose creations and changes it counts."""
    return {name: marker.topic for name, marker in _markers(model, EntityChanges).items()}


def active_field(model: type[BaseModel]) -> tuple[str, tuple[str, ...]] | None:
    """The entity's :class:`Active` field and its active values (empty: a bool, active when true)."""
    found = _markers(model, Active)
    if len(found) > 1:
        raise ValueError(f"{model.__name__} declares {len(found)} Active fields; at most one")
    return next(((name, marker.values) for name, marker in found.items()), None)
