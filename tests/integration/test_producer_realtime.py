"""Realtime and emulated runs in-process: cadence, paced delivery, pause/resume, broker outage."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from producer.config import SeedstreamConfig
from producer.engine.engine import Engine
from producer.errors import SeedstreamError
from producer.generation.clock import parse_instant
from producer.stack.broker import LocalBroker, free_port
from tests.fixtures.waiting import wait_for_async
from tests.integration.producer_support import (
    expected,
    producer_config,
    read_all,
    read_topic,
    topic_names,
    without_generation_time,
)

pytestmark = pytest.mark.kafka


async def _stop(engine: Engine, task: asyncio.Task[None]) -> None:
    engine.request_stop("test")
    await asyncio.wait_for(task, timeout=10)


async def _assert_complete(
    config: SeedstreamConfig, engine: Engine, tmp_path: Path
) -> dict[str, list[bytes]]:
    """Kafka holds exactly the intervals [epoch, next_interval) minus the skipped ones."""
    assert engine.dataset is not None and engine.state.next_interval is not None
    seeded = config.model_copy(update={"seed": engine.dataset.seed})
    want = expected(seeded, engine.dataset.epoch, engine.state.next_interval, tmp_path / "generated")
    skipped = set()
    for skip in engine.state.skipped:
        cursor = skip.first_interval
        while cursor < skip.end:
            skipped.add(cursor)
            cursor += engine.length
    got = await read_all(config)

    epoch, length, end = engine.dataset.epoch, engine.length, engine.state.next_interval

    def interval_of(value: bytes) -> datetime:
        record = json.loads(value)
        instant = parse_instant(
            record.get("interval_start") or record.get("timestamp") or record["created_at"]
        )
        return instant - (instant - epoch) % length

    def published(value: bytes) -> bool:
        return interval_of(value) not in skipped

    # paced delivery may have sent part of the interval running at the stop: it is not complete, and
    # its ground truth (header partial: true) counts exactly the part that was sent
    events = [value for value in got["events"].values if interval_of(value) < end]
    unfinished = [value for value in got["events"].values if interval_of(value) >= end]
    assert all(interval_of(value) == end for value in unfinished)
    assert Counter(events) == Counter(v for v in want["events"] if published(v))
    truth = got["ground_truth"]
    partial = [v for v, h in zip(truth.values, truth.headers, strict=True) if h.get("partial") == b"true"]
    complete = [v for v, h in zip(truth.values, truth.headers, strict=True) if h.get("partial") != b"true"]
    assert without_generation_time(complete) == without_generation_time(
        [v for v in want["ground_truth"] if published(v)]
    )
    if unfinished:
        assert [json.loads(value)["event_count"] for value in partial] == [len(unfinished)]
    else:
        assert partial == []
    entities = {value for value in got["entities"].values if interval_of(value) < end}
    assert entities == set(want["entities"])
    return {role: records.values for role, records in got.items()}


async def test_emulated_preset_publishes_at_its_cadence_paced(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config("emulated.5s", kafka_bootstrap, unique_name("emu") + ".")
    engine = Engine(config, data_dir_factory("producer"))
    task = asyncio.create_task(engine.run())
    await wait_for_async(lambda: engine.state.intervals_published >= 3, 30, "3 emulated intervals")
    await _stop(engine, task)

    truth = await read_topic(kafka_bootstrap, topic_names(config)["ground_truth"])
    closed = [  # the interval running at the stop gets a partial ground truth right away
        (ms, value)
        for ms, value, headers in zip(truth.timestamps_ms, truth.values, truth.headers, strict=True)
        if headers.get("partial") != b"true"
    ]
    received = sorted(ms for ms, _ in closed)
    gaps = [(later - earlier) / 1000 for earlier, later in zip(received, received[1:], strict=False)]
    assert gaps and all(3.0 <= gap <= 8.0 for gap in gaps), gaps
    for _, value in closed:
        assert 3 <= json.loads(value)["event_count"] <= 10
    events = await read_topic(kafka_bootstrap, topic_names(config)["events"])
    late_sent = [
        (ms, parse_instant(json.loads(value)["timestamp"]).timestamp() * 1000)
        for ms, value in zip(events.timestamps_ms, events.values, strict=True)
    ]
    # paced: nothing is sent before its simulated instant (except the interval running at start-up)
    first_full = engine.dataset.epoch.timestamp() * 1000 + 5000  # type: ignore[union-attr]
    assert all(sent >= at - 50 for sent, at in late_sent if at >= first_full)
    await _assert_complete(config, engine, tmp_path)
    assert engine.stats.snapshot()["status"] == "stopped"


async def test_pause_stops_records_resume_continues_and_skips_are_recorded(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config(
        "emulated.5s", kafka_bootstrap, unique_name("pause") + ".", seed=11, delivery="batch",
        fleet__interval="PT1S", fleet__company_onboarding_interval="PT2S",
    )  # fmt: skip
    engine = Engine(config, data_dir_factory("producer"))
    task = asyncio.create_task(engine.run())
    await wait_for_async(lambda: engine.state.intervals_published >= 2, 30, "2 intervals")
    assert engine.pause() and not engine.pause()
    await asyncio.sleep(0.5)
    truth_topic = topic_names(config)["ground_truth"]
    during = len((await read_topic(kafka_bootstrap, truth_topic)).values)
    await asyncio.sleep(2.5)
    assert len((await read_topic(kafka_bootstrap, truth_topic)).values) == during
    assert engine.stats.status == "paused"
    assert engine.resume() and not engine.resume()
    await wait_for_async(
        lambda: engine.state.intervals_published >= during + 2, 20, "2 intervals after resume"
    )
    await _stop(engine, task)
    assert engine.state.skipped and engine.state.skipped[0].reason == "paused"
    assert engine.stats.skipped_intervals >= 2
    assert any(entry.message.startswith("skipped") for entry in engine.log.entries(level="warning"))
    await _assert_complete(config, engine, tmp_path)
    snapshot = engine.stats.snapshot()
    assert snapshot["interval_batches"] == engine.state.intervals_published
    assert snapshot["send_errors"] == 0 and snapshot["uptime_seconds"] > 0  # type: ignore[operator]


async def test_paced_stop_and_pause_mid_interval_publish_a_partial_truth_of_what_was_sent(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    """Paused past an interval's end, and stopped inside one: every event sent is counted by a
    ground-truth record (partial: true), so no event is left without ground truth."""
    config = producer_config(
        "emulated.5s", kafka_bootstrap, unique_name("partial") + ".", seed=5, delivery="paced",
        fleet__events_per_batch_range=[40, 60], fleet__company_onboarding_interval="PT1H",
    )  # fmt: skip  # no onboarding during the test: a paced cursor past 0 means events were sent
    engine = Engine(config, data_dir_factory("producer"))
    task = asyncio.create_task(engine.run())
    await wait_for_async(lambda: engine.state.intervals_published >= 1, 30, "a first interval")
    events_topic = topic_names(config)["events"]

    def sent_in_open_interval() -> bool:
        return engine._paced.position > 0  # noqa: SLF001 - the paced cursor is the observable here

    await wait_for_async(sent_in_open_interval, 15, "part of an interval sent")
    assert engine.pause()
    await asyncio.sleep(6)  # the paused interval is over: it will not be finished
    assert engine.resume()
    await wait_for_async(lambda: engine.state.intervals_published >= 3, 30, "two more intervals")
    await wait_for_async(sent_in_open_interval, 15, "part of the next interval sent")
    await _stop(engine, task)

    events = await read_topic(kafka_bootstrap, events_topic)
    truth = await read_topic(kafka_bootstrap, topic_names(config)["ground_truth"])
    sent = Counter(json.loads(value)["batch_id"] for value in events.values)
    counted: dict[str, int] = {}
    partial_ids = []
    for value, headers in zip(truth.values, truth.headers, strict=True):
        record = json.loads(value)
        counted[record["batch_id"]] = record["event_count"]
        assert sum(record["event_type_counts"].values()) == record["event_count"]
        if headers.get("partial") == b"true":
            partial_ids.append(record["batch_id"])
    assert len(partial_ids) == 2, partial_ids  # the paused interval, and the one running at the stop
    assert counted == dict(sent), "every event sent is counted by exactly its interval's ground truth"
    messages = [entry.message for entry in engine.log.entries()]
    assert messages.count("partial interval published") == 2


async def test_broker_outage_is_survived_and_nothing_is_lost(
    unique_name: Callable[[str], str], data_dir_factory: Callable[[str], Path], tmp_path: Path
) -> None:
    broker = LocalBroker(data_dir_factory("broker"), port=free_port(), heap_mb=384)
    try:
        info = await asyncio.to_thread(broker.start, 120)
    except SeedstreamError as error:
        pytest.skip(f"no dedicated broker: {error}")
    try:
        config = producer_config(
            "emulated.5s", info.bootstrap, unique_name("outage") + ".", seed=5, delivery="batch",
            fleet__interval="PT1S", fleet__company_onboarding_interval="PT2S",
        )  # fmt: skip
        engine = Engine(config, data_dir_factory("producer"))
        task = asyncio.create_task(engine.run())
        await wait_for_async(lambda: engine.state.intervals_published >= 3, 60, "3 intervals")
        await asyncio.to_thread(broker.stop, 30)
        await wait_for_async(lambda: not engine.stats.connected, 30, "disconnected while the broker is down")
        assert not task.done()
        before = engine.state.intervals_published
        await asyncio.to_thread(broker.start, 120)
        await wait_for_async(
            lambda: engine.state.intervals_published >= before + 4, 120, "publishing after the outage"
        )
        await _stop(engine, task)
        assert engine.stats.send_errors + engine.stats.stalls >= 1 and engine.stats.last_error
        assert any(
            "retrying" in entry.message or "waiting for the broker" in entry.message
            for entry in engine.log.entries(level="warning")
        )
        assert not engine.state.skipped
        await _assert_complete(config, engine, tmp_path)
    finally:
        await asyncio.to_thread(broker.stop, 30)
