"""Backfill into a real broker equals ``seedstream generate``, for 1, 2 and 3 shards."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.engine.engine import Engine, RunRequest
from producer.engine.state import StateStore
from producer.generation.shard import Shard
from tests.integration.producer_support import (
    events_per_batch,
    expected,
    producer_config,
    read_all,
    summed_truth,
    without_generation_time,
)

pytestmark = pytest.mark.kafka

START = datetime(2025, 11, 8, tzinfo=UTC)
END = START + timedelta(hours=2)  # 8 intervals of 15 minutes, 3 onboarding ticks (PT30M)


@pytest.mark.parametrize("shards", [1, 2, 3])
async def test_backfill_equals_generate(
    shards: int,
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config("small", kafka_bootstrap, unique_name("bf") + ".")
    data_dir = data_dir_factory("producer")
    engines = [Engine(config, data_dir, Shard(index, shards), connect_timeout=30) for index in range(shards)]
    await asyncio.wait_for(
        asyncio.gather(*(engine.run(RunRequest(START, END)) for engine in engines)), timeout=120
    )

    want = expected(config, START, END, tmp_path / "generated")
    got = await read_all(config)
    assert Counter(got["events"].values) == Counter(want["events"])
    assert Counter(got["entities"].values) == Counter(want["entities"])
    assert len(got["ground_truth"].values) == 8 * shards
    # keys are the records' key fields
    assert [json.loads(v)["driver_id"].encode() for v in got["events"].values] == got["events"].keys
    assert [json.loads(v)["company_id"].encode() for v in got["entities"].values] == got["entities"].keys
    assert [json.loads(v)["batch_id"].encode() for v in got["ground_truth"].values] == got[
        "ground_truth"
    ].keys
    # ground truth: per-shard records add up to the single-instance record, and match the events
    single = summed_truth(want["ground_truth"])
    assert summed_truth(got["ground_truth"].values) == single
    assert {batch: counts[0] for batch, counts in single.items()} == dict(
        events_per_batch(got["events"].values)
    )
    if shards == 1:
        assert without_generation_time(got["ground_truth"].values) == without_generation_time(
            want["ground_truth"]
        )
    assert {h["shard"] for h in got["ground_truth"].headers} == {
        str(Shard(i, shards)).encode() for i in range(shards)
    }
    # headers name the schema, batch, seed and shard
    event_headers = got["events"].headers[0]
    assert event_headers["schema"] == b"DriverEvent" and event_headers["schema_version"] == b"1"
    assert event_headers["seed"] == b"100"
    assert {h["batch_id"] for h in got["events"].headers} == {
        json.loads(v)["batch_id"].encode() for v in got["events"].values
    }
    # durable state and manifest
    for engine in engines:
        state = StateStore(engine.paths).load()
        assert state.next_interval == END and state.entities_through == END and not state.paused
        manifest = json.loads(engine.paths.manifest_file.read_text())
        assert manifest["last_batch_id"] == "20251108T0145Z"
    assert sum(StateStore(e.paths).load().events_published for e in engines) == len(want["events"])
    descriptor = json.loads((data_dir / "dataset.json").read_text())
    assert descriptor["seed"] == 100 and descriptor["epoch"].startswith("2025-11-08T00:00:00")


async def test_rerun_of_a_finished_backfill_publishes_nothing_new(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
) -> None:
    config = producer_config("small", kafka_bootstrap, unique_name("rerun") + ".")
    data_dir = data_dir_factory("producer")
    end = START + timedelta(minutes=45)
    await asyncio.wait_for(Engine(config, data_dir).run(RunRequest(START, end)), timeout=60)
    first = await read_all(config)
    # the state file is lost, but Kafka's last ground truth still gives the resume point
    (data_dir / "producer" / "state.json").unlink()
    await asyncio.wait_for(Engine(config, data_dir).run(RunRequest(START, end)), timeout=60)
    second = await read_all(config)
    assert second["events"].values == first["events"].values
    assert len(second["ground_truth"].values) == 3


async def test_from_before_the_dataset_epoch_is_refused(
    kafka_bootstrap: str, unique_name: Callable[[str], str], data_dir_factory: Callable[[str], Path]
) -> None:
    from producer.errors import BadInputError

    config = producer_config("small", kafka_bootstrap, unique_name("epoch") + ".")
    data_dir = data_dir_factory("producer")
    await asyncio.wait_for(Engine(config, data_dir).run(RunRequest(START, START + timedelta(minutes=15))), 60)
    with pytest.raises(BadInputError, match="before the dataset's epoch"):
        await Engine(config, data_dir).run(RunRequest(START - timedelta(hours=1), START))
