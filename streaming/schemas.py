"""Spark schemas and validation rules derived from a record model's JSON Schema.

The topic models (``producer/scenarios/<name>/models.py``) are the one definition of each record;
``schemas/*.json`` are generated from them. Here the same JSON Schema becomes a list of
:class:`FieldRule` (the pipeline's parser's spec, :mod:`streaming.validation`) and a Spark
``StructType`` for ``from_json`` (the benchmark's plain query), so no field list is written twice.
Timestamps (``format: date-time``) and dates (``format: date``) arrive as strings; the parser types
them, so a bad instant is a schema violation and never an ANSI error. A property that may be null
(``anyOf`` of a type and ``null``) is ``nullable``; arrays of scalars (``items``, ``minItems``, item
``enum``) become Spark arrays and objects with typed values (``additionalProperties``) maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

CORRUPT_RECORD = "_corrupt_record"
ISO_INSTANT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$"


@dataclass(frozen=True)
class FieldRule:
    """What the JSON Schema says about one property."""

    name: str
    json_type: str
    required: bool
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    timestamp: bool = False
    map_value_type: str | None = None
    map_keys: tuple[str, ...] | None = None
    nullable: bool = False
    """The value may be JSON ``null`` (a missing property is still a violation when required)."""
    date: bool = False
    exclusive_minimum: float | None = None
    maximum: float | None = None
    item_type: str | None = None
    """Arrays: the items' JSON type (items are never null)."""
    item_enum: tuple[str, ...] | None = None
    min_items: int | None = None

    @property
    def spark_type(self) -> DataType:
        """The type ``from_json`` parses the property as (timestamps and dates stay strings)."""
        if self.json_type == "object":
            return MapType(StringType(), _scalar(self.map_value_type or "string"))
        if self.json_type == "array":
            return ArrayType(_scalar(self.item_type or "string"), False)
        return _scalar(self.json_type)


def _scalar(json_type: str) -> DataType:
    return {"integer": LongType(), "number": DoubleType(), "boolean": BooleanType()}.get(
        json_type, StringType()
    )


def _rule(name: str, spec: dict[str, Any], required: bool) -> FieldRule:
    nullable = False
    options = spec.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
        nullable = True
        spec = {**spec, **next(option for option in options if option != {"type": "null"})}
    items: dict[str, Any] = spec["items"] if isinstance(spec.get("items"), dict) else {}
    enum = spec.get("enum")
    if enum is None and "const" in spec:
        enum = [spec["const"]]
    additional = spec.get("additionalProperties")
    names = spec.get("propertyNames", {}).get("enum")
    return FieldRule(
        name=name,
        json_type=str(spec.get("type", "string")),
        required=required,
        pattern=spec.get("pattern"),
        enum=tuple(str(value) for value in enum)
        if enum is not None and spec.get("type") == "string"
        else None,
        minimum=spec.get("minimum"),
        timestamp=spec.get("format") == "date-time",
        map_value_type=str(additional.get("type")) if isinstance(additional, dict) else None,
        map_keys=tuple(names) if names else None,
        nullable=nullable,
        date=spec.get("format") == "date",
        exclusive_minimum=spec.get("exclusiveMinimum"),
        maximum=spec.get("maximum"),
        item_type=str(items["type"]) if "type" in items else None,
        item_enum=tuple(str(value) for value in items["enum"]) if "enum" in items else None,
        min_items=spec.get("minItems"),
    )


@cache
def field_rules(model: type[BaseModel]) -> tuple[FieldRule, ...]:
    """The model's properties, in declaration order, as validation rules."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return tuple(_rule(name, spec, name in required) for name, spec in schema["properties"].items())


def parse_schema(model: type[BaseModel]) -> StructType:
    """The ``from_json`` schema of the model's JSON, plus the corrupt-record column."""
    fields = [StructField(rule.name, rule.spark_type, True) for rule in field_rules(model)]
    return StructType([*fields, StructField(CORRUPT_RECORD, StringType(), True)])


def allows_extra(model: type[BaseModel]) -> bool:
    """Whether the model accepts properties it does not declare."""
    return bool(model.model_json_schema().get("additionalProperties", True) is not False)
