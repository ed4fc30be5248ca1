"""The producer's side of a clean: the marker record, the range it names, the pipeline reset's guards."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.engine.engine import Engine
from producer.errors import BadInputError, SeedstreamError
from producer.generation.control import CONTROL_HEADER, CleanMarker
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_config, make_dataset
from producer.kafka.records import RecordFactory
from producer.stack.clean import RECENT_PROGRESS_SECONDS, reset_pipeline
from producer.stack.up import single_instance

CLEANED_AT = datetime(2025, 11, 8, 12, 40, 1, tzinfo=UTC)


def test_the_marker_names_the_range_and_carries_no_interval_headers() -> None:
    dataset = make_dataset("emulated.5s")
    factory = RecordFactory(get_scenario("fleet"), dataset, Shard.parse("1/2"), "p.")
    through = datetime(2025, 11, 8, 12, 39, 55, tzinfo=UTC)
    marker = factory.clean_marker(through, CLEANED_AT)
    assert marker.topic == "p.fleet.driver-batches"
    assert dict(marker.headers) == {CONTROL_HEADER: b"clean", "shard": b"1/2"}  # type: ignore[arg-type]
    value = json.loads(marker.records.values[0])
    assert value == {
        "seedstream_control": "clean",
        "cleaned_through": "20251108T123955Z",
        "cleaned_at": "2025-11-08T12:40:01.000000Z",
        "shard": "1/2",
    }
    CleanMarker.model_validate(value)


def test_the_cleaned_range_covers_what_was_published_and_a_paced_interval_in_progress(tmp_path: Path) -> None:
    now = datetime(2025, 11, 8, 12, 40, 2, tzinfo=UTC)
    engine = Engine(make_config("emulated.5s", seed=7), tmp_path, now=lambda: now)
    try:
        assert engine.published_through() == datetime(2025, 11, 8, 12, 40, tzinfo=UTC)  # never started
        engine.state.next_interval = datetime(2025, 11, 8, 12, 35, tzinfo=UTC)
        assert engine.published_through() == datetime(2025, 11, 8, 12, 34, 55, tzinfo=UTC)
        engine._paced.move(datetime(2025, 11, 8, 12, 35, tzinfo=UTC), 3)
        assert engine.published_through() == datetime(2025, 11, 8, 12, 35, tzinfo=UTC)
    finally:
        engine.log.close()


def pipeline_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for name in ("delta/silver/driver_events", "checkpoints/silver", "producer", "kafka"):
        (data / name).mkdir(parents=True)
    (data / "producer" / "state.json").write_text("{}")
    (data / "logs").mkdir()
    (data / "logs" / "checks.jsonl").write_text("{}\n")
    progress = data / "logs" / "streaming-progress.jsonl"
    progress.write_text("{}\n")
    old = time.time() - RECENT_PROGRESS_SECONDS - 5
    os.utime(progress, (old, old))
    return data


def test_a_pipeline_reset_deletes_tables_checkpoints_and_logs_only(tmp_path: Path) -> None:
    data = pipeline_dir(tmp_path)
    deleted = reset_pipeline(data)
    assert {path.relative_to(data).as_posix() for path in deleted} == {
        "delta", "checkpoints", "logs/streaming-progress.jsonl", "logs/checks.jsonl",
    }  # fmt: skip
    assert sorted(p.name for p in data.iterdir()) == ["kafka", "logs", "producer"]
    assert (data / "producer" / "state.json").exists()
    assert reset_pipeline(data) == []


def test_a_pipeline_reset_refuses_while_the_stack_or_a_job_runs(tmp_path: Path) -> None:
    data = pipeline_dir(tmp_path)
    with single_instance(data), pytest.raises(SeedstreamError, match=r"seedstream up runs for .* stop it"):
        reset_pipeline(data)
    (data / "logs" / "streaming-progress.jsonl").write_text("{}\n")  # written just now
    with pytest.raises(SeedstreamError, match="a streaming job wrote .* s ago: stop it first"):
        reset_pipeline(data)
    assert (data / "delta").is_dir() and (data / "checkpoints").is_dir()


def test_a_pipeline_reset_never_follows_a_symlink_out_of_the_data_dir(tmp_path: Path) -> None:
    data = pipeline_dir(tmp_path)
    outside = tmp_path / "precious"
    (outside / "table").mkdir(parents=True)
    shutil.rmtree(data / "checkpoints")
    (data / "checkpoints").symlink_to(outside)
    with pytest.raises(BadInputError, match="symlink or resolves outside the data dir"):
        reset_pipeline(data)
    assert (outside / "table").is_dir() and (data / "delta").is_dir()


def test_up_reset_pipeline_resets_under_its_own_lock_and_says_what_it_deleted(tmp_path: Path) -> None:
    from rich.console import Console

    from producer.stack.up import Stack, UpSettings

    data = pipeline_dir(tmp_path)
    settings = UpSettings(api_port=1, spark_ui_port=2, metrics_port=3, data_dir=data, reset_pipeline=True)
    stack = Stack(settings, console=Console(record=True, width=200))
    with single_instance(data):  # as Stack.run holds it
        stack._reset_pipeline()
    assert sorted(p.name for p in data.iterdir()) == ["kafka", "logs", "producer", "up.lock"]
    said = stack.console.export_text()
    assert "pipeline reset: delta, checkpoints, logs/streaming-progress.jsonl, logs/checks.jsonl" in said
    # A streaming job that wrote its progress just now (another process) still stops it.
    (data / "delta").mkdir()
    (data / "logs" / "streaming-progress.jsonl").write_text("{}\n")
    with single_instance(data), pytest.raises(SeedstreamError, match="a streaming job wrote"):
        stack._reset_pipeline()
    assert (data / "delta").is_dir()


def test_up_offers_the_reset_as_a_flag() -> None:
    from typer.testing import CliRunner

    from producer.cli import app

    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--reset-pipeline" in result.output
