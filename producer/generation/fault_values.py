"""How the value-changing fault kinds rewrite one event record (the rules: :mod:`producer.generation.faults`).

Each change gets the record parsed as a dict, changes it in place and returns the kind applied and a
detail naming the field, or None when the topic has no field the kind can change (no category, no
reference). ``draws`` are words of the record's keyed random stream, for the change's parameters.
Only faults a strict validator sees are injected: a wrong JSON type is a number, boolean, patterned
or date-time field given a value of the other kind (a number in a free-text field would read as
text), and the record id is never touched, so a scorer can still match the record to its label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

import numpy as np
import orjson

from producer.generation.clock import format_instant, from_micros, parse_instant, to_micros_delta
from producer.generation.fault_settings import FaultKind
from producer.generation.scenarios.base import Records, TopicSpec
from producer.generation.serialization import uuid_strings

Draws = tuple[int, int, int]

UNKNOWN_FIELD = "unexpected_field"
_UNKNOWN_ID_BASE = 10**15
"""Integer keys of unknown references start here, beyond every scenario's id ranges."""


def record_ids(values: list[bytes], id_field: str) -> list[str]:
    """The record id in each compact JSON value (a string's text, or a number's digits)."""
    search = _id_pattern(id_field).search
    return [search(value)[1].strip(b'"').decode() for value in values]  # type: ignore[index]


def id_span(value: bytes, id_field: str) -> tuple[int, int]:
    """Where the id's JSON value (quotes included) lies in ``value``."""
    match = _id_pattern(id_field).search(value)
    assert match is not None
    return match.span(1)


@cache
def _id_pattern(id_field: str) -> re.Pattern[bytes]:
    """``"<id_field>":<value>``, the value (a string or a number) in group 1."""
    return re.compile(b'"' + re.escape(id_field.encode()) + b'":("[^"]*"|[^,}]*)')


def truncated(spec: TopicSpec, value: bytes, draws: Draws) -> tuple[bytes, str]:
    """``value`` cut at a drawn byte after its record id: no longer JSON, the id still readable."""
    assert spec.id_field is not None
    after_id = id_span(value, spec.id_field)[1] + 1
    cut = after_id + draws[0] % max(1, len(value) - 1 - after_id)
    return value[:cut], f"value truncated to {cut} of {len(value)} bytes"


Change = tuple[FaultKind, str] | None
"""The kind applied and its detail; None when the topic has no field the kind can change."""


class Place(Protocol):
    """Where the record is: its interval, and the entities first created in it."""

    @property
    def interval_start(self) -> datetime: ...

    @property
    def start_us(self) -> int: ...

    @property
    def length(self) -> timedelta: ...

    @property
    def new_entities(self) -> dict[str, list[tuple[int, Any]]]:
        """Entity topic → (instant, key) of the entities first created in the interval (see
        :func:`first_versions`)."""


def change(
    kind: FaultKind, place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    """Apply the value-changing fault ``kind`` (not ``malformed_json``: see :func:`truncated`) to
    ``record``, whose publication instant is ``instant``."""
    return _CHANGES[kind](place, spec, record, instant, draws)


def first_versions(entities: tuple[Records, ...], since: datetime) -> dict[str, list[tuple[int, Any]]]:
    """Entity topic → (instant, key) of the first versions (no ``version`` field, or version 1) in
    ``entities`` whose time field is at or after ``since``, in instant order."""
    found: dict[str, list[tuple[int, Any]]] = {}
    for records in entities:
        spec = records.topic
        assert spec.time_field is not None
        for instant, value in zip(records.timestamps_us.tolist(), records.values, strict=True):
            entity = orjson.loads(value)
            if entity.get("version", 1) == 1 and parse_instant(entity[spec.time_field]) >= since:
                found.setdefault(spec.name, []).append((instant, entity[spec.key_field]))
    return found


def _schema_violation(
    place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    del place, instant
    typed = [name for name in _retypable_fields(spec) if record.get(name) is not None]
    required = [name for name in _required_fields(spec) if name in record]
    variants = [name for name, fields in (("wrong_type", typed), ("missing_field", required)) if fields]
    variants.append("unknown_field")
    variant = variants[draws[0] % len(variants)]
    if variant == "unknown_field":
        record[UNKNOWN_FIELD] = True
        return "schema_violation", f"unknown field {UNKNOWN_FIELD}"
    fields = typed if variant == "wrong_type" else required
    name = fields[draws[1] % len(fields)]
    if variant == "missing_field":
        del record[name]
        return "schema_violation", f"{name}: required field missing"
    record[name] = 0 if isinstance(record[name], str) else "not a number"
    return "schema_violation", f"{name}: wrong JSON type ({record[name]!r})"


def _unknown_category(
    place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    del place, instant
    categories = spec.categories()
    if not categories:
        return None
    name = sorted(categories)[draws[0] % len(categories)]
    new = f"{record[name]}_unknown"
    while new in categories[name]:
        new += "_unknown"
    detail = f"{name}: {record[name]!r} -> {new!r}"
    record[name] = new
    return "unknown_category", detail


def _unknown_reference(
    place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    del place, instant
    fields = list(spec.references())
    if not fields:
        return None
    name = fields[draws[0] % len(fields)]
    old = record[name]
    if isinstance(old, int):
        record[name] = _UNKNOWN_ID_BASE + draws[1] % _UNKNOWN_ID_BASE
    else:
        high, low = (np.array([draw], dtype=np.uint64) for draw in draws[1:])
        record[name] = uuid_strings(high, low)[0]
    return "unknown_reference", f"{name}: {old!r} -> {record[name]!r} (no such entity)"


def _not_yet_valid(
    place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    new = place.new_entities
    choices = {
        name: [key for created, key in new.get(topic, []) if created <= instant]
        for name, topic in spec.references().items()
    }
    usable = [name for name, keys in choices.items() if keys]
    if not usable:
        changed = _unknown_reference(place, spec, record, instant, draws)
        if changed is None:
            return None
        window = f"[{format_instant(place.interval_start)}, {format_instant(from_micros(instant))}]"
        return "unknown_reference", f"{changed[1]}; no entity referenced here was created in {window}"
    name = usable[draws[0] % len(usable)]
    old = record[name]
    record[name] = choices[name][draws[1] % len(choices[name])]
    return "reference_not_yet_valid", f"{name}: {old!r} -> {record[name]!r} (created in this interval)"


def _outside_interval(
    place: Place, spec: TopicSpec, record: dict[str, Any], instant: int, draws: Draws
) -> Change:
    del instant
    assert spec.time_field is not None
    moved = place.start_us - 1 - draws[0] % to_micros_delta(place.length)
    old = record[spec.time_field]
    record[spec.time_field] = format_instant(from_micros(moved))
    return "outside_interval", f"{spec.time_field}: {old} -> {record[spec.time_field]} (before the interval)"


_CHANGES: dict[str, Callable[[Place, TopicSpec, dict[str, Any], int, Draws], Change]] = {
    "schema_violation": _schema_violation,
    "unknown_category": _unknown_category,
    "unknown_reference": _unknown_reference,
    "reference_not_yet_valid": _not_yet_valid,
    "outside_interval": _outside_interval,
}


@cache
def _retypable_fields(spec: TopicSpec) -> tuple[str, ...]:
    """Fields whose wrong JSON type every validator sees: numbers and booleans (given a string), and
    patterned or date-time strings (given a number); never the record id or a category."""
    properties = spec.model.model_json_schema(mode="serialization")["properties"]
    found = []
    for name, schema in properties.items():
        branch = next((item for item in schema.get("anyOf", [schema]) if item.get("type") != "null"), schema)
        strict_string = branch.get("type") == "string" and ("pattern" in branch or "format" in branch)
        if name not in (spec.id_field, *spec.categories()) and (
            branch.get("type") in ("integer", "number", "boolean") or strict_string
        ):
            found.append(name)
    return tuple(found)


@cache
def _required_fields(spec: TopicSpec) -> tuple[str, ...]:
    """Required fields other than the record id."""
    return tuple(
        name
        for name, field in spec.model.model_fields.items()
        if field.is_required() and name != spec.id_field
    )
