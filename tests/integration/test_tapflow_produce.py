"""TapFlow into a real broker: backfill equals ``seedstream generate`` on every topic (1–3 shards), and
kill -9 mid-backfill then restart publishes exactly the expected records."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.config import SeedstreamConfig
from producer.engine.engine import Engine, RunRequest
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from tests.fixtures.processes import ProcessFactory
from tests.fixtures.waiting import wait_for
from tests.integration.producer_support import (
    config_file,
    expected_every_topic,
    producer_config,
    read_every_topic,
    without_generation_time,
)

pytestmark = pytest.mark.kafka

START = datetime(2025, 11, 8, tzinfo=UTC)
TRUTH = "tapflow.interval-truth"


def _assert_kafka_holds(config: SeedstreamConfig, end: datetime, work: Path, shards: int = 1) -> None:
    """Kafka (read_committed) holds exactly what `generate` makes for [START, end), topic by topic."""
    want = expected_every_topic(config, START, end, work / "generated")
    got = asyncio.run(read_every_topic(config))
    scenario = get_scenario("tapflow")
    for spec in scenario.topics():
        records = got[spec.name]
        if spec.role == "events":
            assert Counter(records.values) == Counter(want[spec.name]), spec.name
        elif spec.role == "entities":
            # an entity batch may be re-sent identically after a crash; the topic is compacted
            assert set(records.values) == set(want[spec.name]), spec.name
        # every record's key is its key field
        assert [str(json.loads(v)[spec.key_field]).encode() for v in records.values] == records.keys
    truth = got[TRUTH].values
    if shards == 1:
        assert without_generation_time(truth) == without_generation_time(want[TRUTH])
    else:
        summed: dict[str, Counter[str]] = {}
        for value in truth:
            record = json.loads(value)
            counts = summed.setdefault(record["batch_id"], Counter())
            counts.update({k: v for k, v in record.items() if k.endswith(("events", "heartbeats", "usage"))})
        for value in want[TRUTH]:
            record = json.loads(value)
            assert summed[record["batch_id"]] == Counter(
                {k: v for k, v in record.items() if k.endswith(("events", "heartbeats", "usage"))}
            )


@pytest.mark.parametrize("shards", [1, 3])
async def test_backfill_equals_generate_on_every_topic(
    shards: int,
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config("tapflow.small", kafka_bootstrap, unique_name("tf") + ".", delivery="batch")
    end = START + timedelta(hours=3)
    data_dir = data_dir_factory("producer")
    engines = [Engine(config, data_dir, Shard(index, shards), connect_timeout=30) for index in range(shards)]
    await asyncio.wait_for(
        asyncio.gather(*(engine.run(RunRequest(START, end)) for engine in engines)), timeout=180
    )
    await asyncio.to_thread(_assert_kafka_holds, config, end, tmp_path, shards)


def test_kill_9_mid_backfill_then_restart_publishes_exactly_the_expected_records(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config("tapflow.small", kafka_bootstrap, unique_name("tfkill") + ".")
    config_path = config_file(config, tmp_path)
    data_dir = data_dir_factory("producer")
    end = START + timedelta(days=2)  # 192 intervals, with churn, growth and status changes
    window = ("--from", "2025-11-08T00:00Z", "--to", "2025-11-10T00:00Z")
    flags = ("--config", str(config_path), "--bootstrap-servers", kafka_bootstrap,
             "--data-dir", str(data_dir), *window)  # fmt: skip
    state_file = data_dir / "producer" / "state.json"

    def published() -> int:
        try:
            return int(json.loads(state_file.read_text()).get("intervals_published", 0))
        except (FileNotFoundError, ValueError):
            return 0

    first = producer_process(*flags)
    try:
        wait_for(lambda: published() >= 8, 180, "8 intervals")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = published()
    assert 8 <= killed_at < 192, "the kill must land mid-backfill"

    second = producer_process(*flags)
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr
    _assert_kafka_holds(config, end, tmp_path)
