"""The files the producer writes validate against their committed schemas in ``schemas/``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from producer.datadir import ShardFiles
from producer.engine.state import StateStore
from producer.generation.dataset import load_or_create_descriptor
from producer.generation.shard import Shard
from producer.generation.testing import make_config

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EPOCH = datetime(2025, 11, 8, tzinfo=UTC)


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.mark.parametrize("shard", ["0/1", "1/3"])
def test_written_manifest_validates_against_its_schema(tmp_path: Path, shard: str) -> None:
    files = ShardFiles(tmp_path, Shard.parse(shard))
    store = StateStore(files)
    state = store.load()
    store.save(state)  # before anything was published: last_batch_id is null
    manifest = _validator("batch-manifest.json")
    manifest.validate(_load(files.manifest_file))
    state.last_batch_id, state.events_published, state.intervals_published = "20251108T0000Z", 42, 1
    store.save(state)
    written = _load(files.manifest_file)
    manifest.validate(written)
    assert written["last_batch_id"] == "20251108T0000Z" and written["total_events"] == 42
    written["shard"] = "one of three"
    with pytest.raises(jsonschema.ValidationError):
        manifest.validate(written)


def test_written_dataset_descriptor_validates_against_its_schema(tmp_path: Path) -> None:
    path = ShardFiles(tmp_path, Shard()).descriptor_file
    load_or_create_descriptor(path, make_config("small"), EPOCH, timedelta(minutes=15))
    descriptor = _validator("dataset-descriptor.json")
    written = _load(path)
    descriptor.validate(written)
    written["seed"] = -1
    with pytest.raises(jsonschema.ValidationError):
        descriptor.validate(written)


def test_the_manifest_schema_is_the_model_that_is_written() -> None:
    """One manifest model: its schema file is generated from it, and no other manifest schema exists."""
    assert sorted(path.name for path in SCHEMAS.glob("*manifest*.json")) == ["batch-manifest.json"]
    assert set(_load(SCHEMAS / "batch-manifest.json")["properties"]) == {
        "last_batch_id", "total_events", "total_intervals", "shard", "last_updated"
    }  # fmt: skip
