"""JSON Schemas of every topic's record value (and the dataset descriptor), generated from the models.

``schemas/<topic>.json`` per scenario topic, e.g. ``schemas/fleet.driver-events.json``, and per
scenario fault-label topic (``schemas/fleet.fault-labels.json``); the files
are committed, ``seedstream schemas`` regenerates them and a unit test fails when they drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import producer
from producer.datadir import BatchManifest, write_durably
from producer.generation.dataset import DatasetDescriptor
from producer.generation.fault_labels import label_topic
from producer.generation.scenarios.registry import SCENARIOS, get_scenario

SCHEMAS_DIR = Path(producer.__file__).resolve().parent.parent / "schemas"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], name: str, version: int, extra: dict[str, Any]) -> bytes:
    schema: dict[str, Any] = {"$schema": _DIALECT, "$id": f"seedstream:{name}:v{version}"}
    schema.update(model.model_json_schema(mode="serialization"))
    schema["x-schema-version"] = version
    schema.update(extra)
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def schema_documents() -> dict[str, bytes]:
    """File name → JSON Schema bytes, for every scenario topic, fault-label topic and the dataset
    descriptor."""
    documents: dict[str, bytes] = {}
    for scenario_name in SCENARIOS:
        for spec in (*get_scenario(scenario_name).topics(), label_topic(scenario_name)):
            documents[f"{spec.name}.json"] = _schema(
                spec.model,
                spec.name,
                spec.schema_version,
                {
                    "x-topic": spec.name,
                    "x-role": spec.role,
                    "x-key": spec.key_field,
                    "x-compacted": spec.compacted,
                    **({"x-time-field": spec.time_field} if spec.time_field else {}),
                    **({"x-id-field": spec.id_field} if spec.id_field else {}),
                },
            )
    documents["batch-manifest.json"] = _schema(BatchManifest, "batch-manifest", 1, {})
    documents["dataset-descriptor.json"] = _schema(DatasetDescriptor, "dataset-descriptor", 1, {})
    return documents


def write_schemas(out_dir: Path = SCHEMAS_DIR) -> list[Path]:
    """(Re)write all schema files into ``out_dir``; returns the paths written."""
    written = []
    for name, data in schema_documents().items():
        write_durably(out_dir / name, data)
        written.append(out_dir / name)
    return written


def schema_drift(schemas_dir: Path = SCHEMAS_DIR) -> list[str]:
    """Names of schema files that are missing or differ from what the models generate."""
    return [
        name
        for name, data in schema_documents().items()
        if not (schemas_dir / name).is_file() or (schemas_dir / name).read_bytes() != data
    ]
