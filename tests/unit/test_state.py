"""Durable producer state: atomic writes, round trips, per-shard files, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.datadir import ShardFiles, write_durably
from producer.engine.state import MAX_SKIPPED_RANGES, ProducerState, StateStore
from producer.errors import SeedstreamError
from producer.generation.shard import Shard

EPOCH = datetime(2025, 11, 8, tzinfo=UTC)


def test_write_durably_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "state.json"
    write_durably(target, b"first")
    write_durably(target, b"second")
    assert target.read_bytes() == b"second"
    assert [path.name for path in target.parent.iterdir()] == ["state.json"]


def test_state_round_trip_and_manifest(tmp_path: Path) -> None:
    store = StateStore(ShardFiles(tmp_path, Shard()))
    state = store.load()
    assert state.next_interval is None and not state.paused and state.shard == "0/1"
    state.seed, state.epoch, state.next_interval = 100, EPOCH, EPOCH + timedelta(minutes=30)
    state.paused, state.last_batch_id, state.events_published, state.intervals_published = True, "x", 12, 2
    state.record_skip(EPOCH, EPOCH + timedelta(minutes=30), 2, "paused")
    store.save(state)
    loaded = store.load()
    assert loaded == state
    manifest = json.loads((tmp_path / "producer" / "manifest.json").read_text())
    assert manifest["last_batch_id"] == "x" and manifest["total_events"] == 12 and manifest["shard"] == "0/1"


def test_each_shard_has_its_own_files(tmp_path: Path) -> None:
    whole, part = ShardFiles(tmp_path, Shard()), ShardFiles(tmp_path, Shard(1, 3))
    assert whole.state_file.name == "state.json" and part.state_file.name == "state-1-of-3.json"
    assert part.log_file.name == "producer-1-of-3.jsonl" and part.descriptor_file == whole.descriptor_file
    StateStore(part).save(ProducerState(shard="1/3"))
    with pytest.raises(SeedstreamError, match="records shard 1/3, not 2/3"):
        part.state_file.rename(ShardFiles(tmp_path, Shard(2, 3)).state_file)
        StateStore(ShardFiles(tmp_path, Shard(2, 3))).load()


def test_unreadable_state_is_a_clear_error(tmp_path: Path) -> None:
    paths = ShardFiles(tmp_path, Shard())
    paths.producer_dir.mkdir(parents=True)
    paths.state_file.write_text("{not json")
    with pytest.raises(SeedstreamError, match="unreadable producer state .* remove it"):
        StateStore(paths).load()


def test_skipped_ranges_are_bounded() -> None:
    state = ProducerState()
    for index in range(MAX_SKIPPED_RANGES + 5):
        state.record_skip(EPOCH + timedelta(hours=index), EPOCH + timedelta(hours=index + 1), 4, "paused")
    assert len(state.skipped) == MAX_SKIPPED_RANGES
    assert state.skipped[-1].first_interval == EPOCH + timedelta(hours=MAX_SKIPPED_RANGES + 4)
