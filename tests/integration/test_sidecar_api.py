"""The sidecar against a real engine and broker, through an in-process httpx ASGI client."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from producer.config import SeedstreamConfig
from producer.engine.engine import Engine
from producer.generation.clock import interval_id
from producer.generation.control import CONTROL_HEADER
from producer.generation.dataset import read_descriptor
from producer.generation.fault_labels import FaultLabel, label_topic
from producer.generation.fault_settings import FAULT_KINDS
from producer.sidecar.app import create_app
from tests.fixtures.waiting import wait_for_async
from tests.integration.producer_support import producer_config, read_topic, topic_names

pytestmark = pytest.mark.kafka


@dataclass
class Sidecar:
    """A running engine, its app and a client talking to the app in this event loop."""

    engine: Engine
    config: SeedstreamConfig
    client: httpx.AsyncClient
    topics: dict[str, str]


SidecarFactory = Callable[..., Awaitable[Sidecar]]


@pytest.fixture
async def sidecar_factory(
    kafka_bootstrap: str, unique_name: Callable[[str], str], data_dir_factory: Callable[[str], Path]
) -> AsyncIterator[SidecarFactory]:
    """``await sidecar_factory(delivery="batch")``: a started engine (PT1S intervals) and a client."""
    started: list[tuple[Engine, asyncio.Task[None], httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> Sidecar:
        settings: dict[str, Any] = {
            "seed": 7,
            "fleet__interval": "PT1S",
            "fleet__company_onboarding_interval": "PT2S",
            **overrides,
        }
        config = producer_config("emulated.5s", kafka_bootstrap, unique_name("side") + ".", **settings)
        engine = Engine(config, data_dir_factory("producer"), connect_timeout=30)
        task = asyncio.create_task(engine.run())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(engine)), base_url="http://localhost"
        )
        started.append((engine, task, client))
        return Sidecar(engine, config, client, topic_names(config))

    yield make
    for engine, task, client in started:
        await client.aclose()
        engine.request_stop("test")
        await asyncio.wait_for(task, timeout=15)


async def test_health_has_the_seed_schema_plus_mode_reinit_and_kafka(sidecar_factory: SidecarFactory) -> None:
    side = await sidecar_factory()
    await wait_for_async(lambda: side.engine.state.intervals_published >= 1, 30, "a first interval")
    response = await side.client.get("/api/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "running"
    assert set(health["uptime"]) == {"seconds", "hours", "start_time"} and health["uptime"]["seconds"] > 0
    assert health["company_generator"]["total_batches"] >= 1
    assert set(health["company_generator"]) == {"total_batches", "last_batch_time", "idle_seconds"}
    driver = health["driver_generator"]
    assert driver["total_batches"] >= 1 and driver["last_interval_end"] and driver["idle_seconds"] >= 0
    assert health["lifecycle"] == {"paused": False, "shutdown_requested": False, "phase": "running"}
    assert (
        health["state"]["state_file"] == str(side.engine.paths.state_file) and health["state"]["last_saved"]
    )
    assert health["generation_mode"] == "emulated"
    assert health["emulated_config"] == {
        "company_interval_seconds": 2.0,
        "driver_interval_seconds": 1.0,
        "companies_per_batch": 10,
        "events_per_batch_range": [3, 10],
    }
    assert health["auto_reinit"] == {"performed": False, "at": None, "actions": [], "missing_files": []}
    assert health["kafka"]["connected"] is True
    assert health["kafka"]["bootstrap"] == side.config.kafka.bootstrap_servers
    assert health["seed"] == 7 and health["shard"] == "0/1"


async def test_pause_stops_production_resume_restarts_both_idempotent(
    sidecar_factory: SidecarFactory,
) -> None:
    side = await sidecar_factory(delivery="batch")
    engine = side.engine
    await wait_for_async(lambda: engine.state.intervals_published >= 1, 30, "a first interval")
    first = (await side.client.post("/api/pause")).json()
    assert first["status"] == "paused" and first["paused"] is True and first["changed"] is True
    again = (await side.client.post("/api/pause")).json()
    assert again["status"] == "paused" and again["changed"] is False
    await asyncio.sleep(0.5)  # an interval already in flight may still be acknowledged
    records = engine.stats.total_records()
    truth = len((await read_topic(engine.config.kafka.bootstrap_servers, side.topics["ground_truth"])).values)
    await asyncio.sleep(2.5)
    assert engine.stats.total_records() == records
    assert (
        len((await read_topic(engine.config.kafka.bootstrap_servers, side.topics["ground_truth"])).values)
        == truth
    )
    health = (await side.client.get("/api/health")).json()
    assert health["status"] == "paused" and health["lifecycle"]["paused"] is True
    assert "seedstream_paused 1.0" in (await side.client.get("/metrics")).text

    resumed = (await side.client.post("/api/resume")).json()
    assert resumed["status"] == "running" and resumed["changed"] is True
    assert (await side.client.post("/api/resume")).json()["changed"] is False
    assert resumed["auto_reinit"]["performed"] is False
    await wait_for_async(lambda: engine.stats.total_records() > records, 15, "records after resume")
    assert "seedstream_paused 0.0" in (await side.client.get("/metrics")).text


async def test_clean_while_running_is_409_with_a_clear_message(sidecar_factory: SidecarFactory) -> None:
    side = await sidecar_factory()
    await wait_for_async(lambda: side.engine.state.intervals_published >= 1, 30, "a first interval")
    response = await side.client.post("/api/clean")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "not_paused" and "POST /api/pause" in body["message"]
    assert "Traceback" not in response.text
    assert side.engine.paths.state_file.exists()


async def cleanup_policy(bootstrap: str, topic: str) -> str:
    """The topic's ``cleanup.policy`` as the broker reports it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), 30)
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
    return str(entries["cleanup.policy"])


@asynccontextmanager
async def running_consumer(bootstrap: str, topic: str) -> AsyncIterator[list[bytes]]:
    """A consumer that keeps reading ``topic`` (every partition, from the beginning) into a list."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await asyncio.wait_for(consumer.start(), 30)
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
    seen: list[bytes] = []

    async def pump() -> None:
        async for message in consumer:
            assert message.value is not None
            seen.append(message.value)

    task = asyncio.create_task(pump())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()


async def test_clean_empties_files_and_topics_then_first_resume_reinitialises_once(
    sidecar_factory: SidecarFactory,
) -> None:
    side = await sidecar_factory(delivery="batch")
    engine, client = side.engine, side.client
    bootstrap = engine.config.kafka.bootstrap_servers
    await wait_for_async(lambda: engine.state.intervals_published >= 2, 30, "two intervals")
    async with running_consumer(bootstrap, side.topics["events"]) as seen:
        await wait_for_async(lambda: len(seen) > 0, 15, "the running consumer reading events")
        assert (await client.post("/api/pause")).status_code == 200
        await asyncio.sleep(0.5)
        state_file, manifest = engine.paths.state_file, engine.paths.manifest_file
        assert state_file.exists() and manifest.exists()
        response = await client.post("/api/clean")
        assert response.status_code == 200, response.text
        cleaned = response.json()
        assert cleaned["status"] == "cleaned"
        assert set(cleaned["deleted_files"]) == {str(state_file), str(manifest)}
        assert set(cleaned["deleted_records"]) == set(side.topics.values())
        assert all(count > 0 for count in cleaned["deleted_records"].values()), cleaned
        assert cleaned["deleted_count"] == 2 + sum(cleaned["deleted_records"].values())
        assert cleaned["skipped"] == []
        for role, topic in side.topics.items():
            left = await read_topic(bootstrap, topic)
            if role != "ground_truth":
                assert left.values == [], f"{topic} still holds old records"
                continue
            # only the clean marker, naming the newest interval that may have lost records
            assert left.headers == [{CONTROL_HEADER: b"clean", "shard": b"0/1"}], left.headers
            marker = json.loads(left.values[0])
            assert marker["seedstream_control"] == "clean" and marker["shard"] == "0/1"
            assert marker["cleaned_through"] == cleaned["cleaned_through"] is not None
        assert await cleanup_policy(bootstrap, side.topics["entities"]) == "compact"  # restored
        state = json.loads(state_file.read_text())  # rewritten fresh (still paused, counters at zero)
        assert (
            state["paused"] is True and state["intervals_published"] == 0 and state["last_batch_id"] is None
        )
        before_resume = len(seen)

        resumed = (await client.post("/api/resume")).json()
        reinit = resumed["auto_reinit"]
        assert resumed["status"] == "running" and reinit["performed"] is True and reinit["at"]
        entities_action, events_action, truth_action = reinit["actions"]
        assert (
            entities_action.startswith(side.topics["entities"] + ":")
            and int(entities_action.split(":")[1]) >= 10
        )
        assert events_action.startswith(side.topics["events"] + ":")
        assert truth_action.startswith(side.topics["ground_truth"] + ":")
        assert str(state_file) in reinit["missing_files"]
        assert f"kafka:{side.topics['events']}" in reinit["missing_files"]
        # the consumer that was running through the clean keeps receiving the new records
        await wait_for_async(lambda: len(seen) > before_resume, 15, "new events on the running consumer")

    companies = await read_topic(bootstrap, side.topics["entities"])
    assert len(companies.values) >= int(entities_action.split(":")[1])
    truth = await read_topic(bootstrap, side.topics["ground_truth"])
    assert CONTROL_HEADER in truth.headers[0]  # the marker stays first
    assert json.loads(truth.values[1])["batch_id"] == truth_action.split(":", 1)[1]

    # once: a later pause/resume does not re-initialise again, and health keeps reporting it
    assert (await client.post("/api/pause")).status_code == 200
    again = (await client.post("/api/resume")).json()
    assert again["auto_reinit"] == reinit
    assert (await client.get("/api/health")).json()["auto_reinit"] == reinit


async def test_logs_filter_by_level_and_since_and_page_with_next_since(
    sidecar_factory: SidecarFactory,
) -> None:
    side = await sidecar_factory()
    engine, client = side.engine, side.client
    marker = engine.log.info("test", "marker").timestamp
    for index in range(7):
        engine.log.info("test", f"entry {index}", index=index)
    engine.log.warning("test", "a warning", detail={"nested": True})

    latest = (await client.get("/api/logs", params={"limit": 2})).json()
    assert latest["totalReturned"] == len(latest["entries"]) <= 2
    assert set(latest["entries"][0]) == {"ts", "level", "component", "message", "metadata"}

    warnings = (await client.get("/api/logs", params={"level": "warning", "limit": 500})).json()["entries"]
    assert warnings and all(entry["level"] in {"warning", "error"} for entry in warnings)
    assert any(
        entry["message"] == "a warning" and entry["metadata"] == {"detail": {"nested": True}}
        for entry in warnings
    )

    pages: list[str] = []
    since = marker.isoformat()  # "+00:00" sent as "%2B00:00" by httpx
    for _ in range(10):
        page = (await client.get("/api/logs", params={"since": since, "limit": 3})).json()
        mine = [entry["message"] for entry in page["entries"] if entry["component"] == "test"]
        pages += mine
        if page["totalReturned"] == 0:
            assert page["nextSince"] is not None
            break
        since = page["nextSince"]
    assert pages[:8] == [f"entry {index}" for index in range(7)] + ["a warning"]

    # an unencoded "+" arrives as a space and is still understood
    raw = marker.isoformat()
    unencoded = await client.get(f"/api/logs?limit=500&since={raw}")
    assert unencoded.status_code == 200
    assert [e["message"] for e in unencoded.json()["entries"] if e["component"] == "test"][:1] == ["entry 0"]

    for params, name in (
        ({"since": "yesterday"}, "since"),
        ({"level": "loud"}, "level"),
        ({"limit": 0}, "limit"),
    ):
        bad = await client.get("/api/logs", params=params)
        assert bad.status_code == 422 and name in bad.json()["message"], bad.text


async def test_metrics_expose_production_per_topic(sidecar_factory: SidecarFactory) -> None:
    side = await sidecar_factory()
    await wait_for_async(lambda: side.engine.state.intervals_published >= 1, 30, "a first interval")
    response = await side.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("seedstream_")
    }
    # events count event records only; entities and ground truth are their own series
    events_series = f'seedstream_events_produced_total{{topic="{side.topics["events"]}"}}'
    assert [name for name in samples if name.startswith("seedstream_events_")] == [events_series]
    assert samples[events_series] > 0
    for role in ("entities", "events", "ground_truth"):
        records = samples[f'seedstream_records_produced_total{{role="{role}",topic="{side.topics[role]}"}}']
        assert records > 0, role
    records_series = f'seedstream_records_produced_total{{role="events",topic="{side.topics["events"]}"}}'
    assert samples[records_series] == samples[events_series]
    for name in (
        "seedstream_batches_produced_total{",
        "seedstream_produced_bytes_total{",
        "seedstream_send_errors_total ",
        'seedstream_send_latency_seconds_bucket{le="+Inf"}',
        "seedstream_send_latency_seconds_count ",
        "seedstream_paused 0.0",
        "seedstream_kafka_connected 1.0",
        "seedstream_last_interval_end_timestamp_seconds ",
    ):
        assert name in text, name
    # each app has its own registry: a second app on the same engine serves the same metrics
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(side.engine)), base_url="http://127.0.0.1:18000"
    )
    async with other:
        assert "seedstream_events_produced_total" in (await other.get("/metrics")).text


async def test_put_faults_injects_from_the_next_interval_and_health_and_metrics_count_them(
    sidecar_factory: SidecarFactory,
) -> None:
    side = await sidecar_factory(delivery="batch")
    engine, client = side.engine, side.client
    bootstrap = engine.config.kafka.bootstrap_servers
    await wait_for_async(lambda: engine.state.intervals_published >= 1, 30, "a first interval")
    bad = await client.put("/api/faults", json={"drop": {"rate": 2.0}})
    assert bad.status_code == 422 and "'drop.rate'" in bad.json()["message"], bad.text
    assert read_descriptor(engine.paths.descriptor_file).fault_changes == []

    response = await client.put("/api/faults", json={"drop": {"rate": 0.4}, "malformed_json": {"rate": 0.4}})
    assert response.status_code == 200, response.text
    applies = datetime.fromisoformat(response.json()["changes"][0]["from_interval"])
    length = engine.length
    (recorded,) = read_descriptor(engine.paths.descriptor_file).fault_changes
    assert recorded.from_interval == applies and recorded.faults.drop.rate == 0.4

    def published_past_the_change() -> bool:
        return engine.state.next_interval is not None and engine.state.next_interval >= applies + 3 * length

    await wait_for_async(published_past_the_change, 30, "three intervals with faults")
    assert (await client.post("/api/pause")).status_code == 200
    await asyncio.sleep(0.5)  # an interval already in flight may still be acknowledged
    label_topic_name = label_topic("fleet").full_name(engine.config.kafka.topic_prefix)
    labels = [
        FaultLabel.model_validate_json(v) for v in (await read_topic(bootstrap, label_topic_name)).values
    ]
    assert labels and all(label.batch_id >= interval_id(applies, length) for label in labels)
    assert {label.kind for label in labels} <= {"drop", "malformed_json"}
    counted = Counter(label.kind for label in labels)
    expected = {kind: counted.get(kind, 0) for kind in FAULT_KINDS}

    health = (await client.get("/api/health")).json()["faults"]
    assert health == {"enabled": True, "injected": expected, "injected_total": len(labels)}
    metrics = (await client.get("/metrics")).text
    for kind, count in expected.items():
        assert f'seedstream_faults_injected_total{{kind="{kind}"}} {float(count)}' in metrics, kind
    schedule = (await client.get("/api/faults")).json()
    assert schedule["in_effect"]["drop"]["rate"] == 0.4 and len(schedule["changes"]) == 1
    logged = (await client.get("/api/logs", params={"limit": 500})).json()["entries"]
    assert any(entry["message"] == "fault settings changed" for entry in logged)
