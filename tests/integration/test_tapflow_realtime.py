"""TapFlow in realtime (paced), and through the sidecar's pause, clean and auto re-initialisation."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from producer.engine.engine import Engine
from producer.generation.clock import parse_instant
from producer.generation.scenarios.registry import get_scenario
from producer.sidecar.app import create_app
from tests.fixtures.waiting import wait_for_async
from tests.integration.producer_support import expected_every_topic, producer_config, read_every_topic

pytestmark = pytest.mark.kafka

FAST = {"seed": 9, "tapflow__interval": "PT2S", "tapflow__heartbeat_interval": "PT2S"}


def _instant(record: dict[str, object], time_field: str) -> datetime:
    return parse_instant(str(record[time_field]))


async def test_paced_realtime_publishes_every_topic_as_generate_and_accounts_for_the_unfinished_interval(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config(
        "tapflow.emulated", kafka_bootstrap, unique_name("tfp") + ".", delivery="paced", **FAST
    )
    engine = Engine(config, data_dir_factory("producer"))
    task = asyncio.create_task(engine.run())
    await wait_for_async(lambda: engine.state.intervals_published >= 3, 60, "3 paced TapFlow intervals")
    engine.request_stop("test")
    await asyncio.wait_for(task, timeout=15)

    assert engine.dataset is not None and engine.state.next_interval is not None
    epoch, end = engine.dataset.epoch, engine.state.next_interval
    seeded = config.model_copy(update={"seed": engine.dataset.seed})
    want = expected_every_topic(seeded, epoch, end, tmp_path / "generated")
    got = await read_every_topic(config)
    scenario = get_scenario("tapflow")
    unfinished: Counter[str] = Counter()
    for spec in scenario.topics():
        records = got[spec.name]
        if spec.role == "ground_truth":
            complete = [
                v for v, h in zip(records.values, records.headers, strict=True) if h.get("partial") != b"true"
            ]
            partial = [
                v for v, h in zip(records.values, records.headers, strict=True) if h.get("partial") == b"true"
            ]
            strip = lambda values: Counter(  # noqa: E731
                json.dumps({k: v for k, v in json.loads(x).items() if k != "generation_time"}) for x in values
            )
            assert strip(complete) == strip(want[spec.name])
            continue
        assert spec.time_field is not None
        closed = [v for v in records.values if _instant(json.loads(v), spec.time_field) < end]
        later = [v for v in records.values if _instant(json.loads(v), spec.time_field) >= end]
        assert Counter(closed) == Counter(want[spec.name]), spec.name
        if spec.role == "events":
            unfinished[spec.name] = len(later)
    if sum(unfinished.values()):
        (truth,) = (json.loads(value) for value in partial)
        assert truth["tap_events"] == unfinished["tapflow.tap-events"]
        assert truth["heartbeats"] == unfinished["tapflow.device-heartbeats"]
        assert truth["feature_usage"] == unfinished["tapflow.feature-usage"]


async def test_pause_clean_resume_reinitialises_every_tapflow_topic(
    kafka_bootstrap: str, unique_name: Callable[[str], str], data_dir_factory: Callable[[str], Path]
) -> None:
    config = producer_config(
        "tapflow.emulated", kafka_bootstrap, unique_name("tfc") + ".", delivery="batch", **FAST
    )
    engine = Engine(config, data_dir_factory("producer"), connect_timeout=30)
    task = asyncio.create_task(engine.run())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(engine)), base_url="http://localhost"
    )
    try:
        await wait_for_async(lambda: engine.state.intervals_published >= 2, 60, "two intervals")
        assert (await client.post("/api/pause")).status_code == 200
        response = await client.post("/api/clean")
        assert response.status_code == 200, response.text
        cleaned = response.json()
        names = get_scenario("tapflow").topic_names(config.kafka.topic_prefix).all_names()
        assert set(cleaned["deleted_records"]) == set(names.values())
        emptied = await read_every_topic(config)
        truth_topic = get_scenario("tapflow").topic_names(config.kafka.topic_prefix).ground_truth.name
        left = {name: records.values for name, records in emptied.items() if name != truth_topic}
        assert left == {name: [] for name in names if name != truth_topic}
        (marker,) = emptied[truth_topic].values  # only the clean marker
        assert json.loads(marker)["cleaned_through"] == cleaned["cleaned_through"]
        resumed = (await client.post("/api/resume")).json()
        actions = resumed["auto_reinit"]["actions"]
        published = {action.split(":")[0]: action.split(":", 1)[1] for action in actions}
        assert set(published) == set(names.values()), actions
        assert int(published[names["tapflow.accounts"]]) == 6 and int(published[names["tapflow.devices"]]) > 0
        await wait_for_async(lambda: engine.state.intervals_published >= 2, 30, "intervals after the resume")
        after = await read_every_topic(config)
        assert len(after["tapflow.accounts"].values) >= 6 and after["tapflow.interval-truth"].values
        health = (await client.get("/api/health")).json()
        assert health["status"] == "running" and health["auto_reinit"]["performed"] is True
    finally:
        await client.aclose()
        engine.request_stop("test")
        await asyncio.wait_for(task, timeout=15)
