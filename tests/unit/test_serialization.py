"""Serialization: the vectorized event path equals the model path, and every value matches schemas/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import numpy as np
import orjson
import pytest

from producer.generation.clock import format_instant, from_micros
from producer.generation.scenarios.fleet.models import Company
from producer.generation.scenarios.registry import get_scenario
from producer.generation.schema_export import SCHEMAS_DIR, schema_documents, schema_drift, write_schemas
from producer.generation.serialization import dumps, timestamp_strings, uuid_strings
from producer.generation.testing import make_dataset, make_interval

FLEET = get_scenario("fleet")


def validator(topic: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / f"{topic}.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("preset", ["small", "emulated", "scaling"])
def test_vectorized_events_equal_the_model_serializer(preset: str) -> None:
    dataset = make_dataset(preset)
    events = FLEET.event_columns(dataset, dataset.epoch)  # type: ignore[attr-defined]
    records = FLEET.event_records(events)  # type: ignore[attr-defined]
    serialized = FLEET.serialize_events(events)  # type: ignore[attr-defined]
    assert serialized.values == [dumps(record) for record in records]
    assert serialized.keys == [record.driver_id.encode() for record in records]


def test_every_topic_value_validates_against_its_schema() -> None:
    dataset = make_dataset("small")
    output = make_interval(dataset)
    companies = FLEET.entities(
        dataset, dataset.epoch - FLEET.interval_length(dataset.config), dataset.epoch, output_shard()
    )
    for topic, values in (
        ("fleet.driver-events", output.events[0].values),
        ("fleet.driver-batches", output.ground_truth.values),
        ("fleet.companies", companies[0].values),
    ):
        check = validator(topic)
        assert values
        for value in values:
            check.validate(orjson.loads(value))
    with pytest.raises(jsonschema.ValidationError):
        validator("fleet.driver-events").validate(
            {**orjson.loads(output.events[0].values[0]), "event_type": "parked"}
        )


def output_shard():  # type: ignore[no-untyped-def]
    from producer.generation.shard import Shard

    return Shard()


def test_values_are_compact_json_with_z_timestamps() -> None:
    value = dumps(
        Company(
            company_id="5eed5eed-0000-4000-8000-00000000f1ee", created_at=datetime(2025, 11, 8, tzinfo=UTC)
        )
    )
    assert value == (
        b'{"company_id":"5eed5eed-0000-4000-8000-00000000f1ee","geography":"US","active":true,'
        b'"created_at":"2025-11-08T00:00:00.000000Z"}'
    )


def test_vectorized_timestamps_match_the_clock() -> None:
    micros = np.random.default_rng(1).integers(0, 4_102_444_800_000_000, 5000)
    assert timestamp_strings(micros) == [format_instant(from_micros(value)) for value in micros.tolist()]


def test_uuid_strings_match_the_uuid_module() -> None:
    import uuid

    rng = np.random.default_rng(2)
    high, low = rng.integers(0, 2**64, 100, dtype=np.uint64), rng.integers(0, 2**64, 100, dtype=np.uint64)
    expected = [str(uuid.UUID(int=(int(h) << 64) | int(lo))) for h, lo in zip(high, low, strict=True)]
    assert uuid_strings(high, low) == expected


def test_committed_schemas_match_the_models() -> None:
    assert schema_drift() == [], "run `seedstream schemas` and commit schemas/"


def test_schema_drift_is_detected(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert schema_drift(tmp_path) == []
    (tmp_path / "fleet.companies.json").write_text("{}")
    assert schema_drift(tmp_path) == ["fleet.companies.json"]
    assert set(schema_documents()) >= {
        "fleet.companies.json",
        "fleet.driver-events.json",
        "fleet.driver-batches.json",
    }
