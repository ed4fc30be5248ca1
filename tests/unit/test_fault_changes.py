"""Fault settings changed while producing (``PUT /api/faults``), without Kafka.

The faults of an interval are a pure function of the dataset (configuration plus the changes recorded
in its descriptor) and the interval: a change applies from its interval on, earlier intervals keep
theirs, late records decided before a change still arrive, and a descriptor read back (a restart)
gives the same faults. The sidecar routes run on an engine whose dataset and publisher are set up as
``Engine.run`` does, with topic creation recorded instead of sent to Kafka.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from producer.config import ApiSettings
from producer.engine.engine import Engine
from producer.engine.publisher import IntervalPublisher
from producer.generation.dataset import (
    Dataset,
    load_or_create_descriptor,
    read_descriptor,
    record_fault_change,
)
from producer.generation.fault_labels import FaultLabel, fault_kinds
from producer.generation.fault_settings import FAULT_KINDS, FaultChange, FaultsConfig
from producer.generation.faults import faulted_interval
from producer.generation.scenarios.base import IntervalOutput
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_config, make_dataset
from producer.kafka.records import RecordFactory
from producer.sidecar.app import create_app

LENGTH = timedelta(minutes=15)
RECORDED = datetime(2025, 11, 8, tzinfo=UTC)
NO_LATE = {"drop": {"rate": 0.1}, "malformed_json": {"rate": 0.1}, "duplicate": {"rate": 0.1}}


def change(dataset: Dataset, index: int, **faults: Any) -> FaultChange:
    """Settings ``faults`` from the dataset's ``index``-th interval on."""
    return FaultChange(
        from_interval=dataset.epoch + index * LENGTH,
        faults=FaultsConfig.model_validate(faults),
        recorded_at=RECORDED,
    )


def run(dataset: Dataset, count: int) -> list[IntervalOutput]:
    scenario = get_scenario(dataset.config.scenario)
    return [
        faulted_interval(scenario, dataset, start, Shard(), generation_time=start + LENGTH)
        for start in (dataset.epoch + index * LENGTH for index in range(count))
    ]


def labels_of(output: IntervalOutput) -> list[FaultLabel]:
    return [] if output.labels is None else [FaultLabel.model_validate_json(v) for v in output.labels.values]


def published(output: IntervalOutput) -> list[tuple[list[bytes], list[bytes]]]:
    return [(records.keys, records.values) for records in output.events]


def test_faults_at_follows_the_recorded_changes_in_order() -> None:
    dataset = make_dataset("small", faults__drop__rate=0.01)
    first, second = change(dataset, 2, drop={"rate": 0.2}), change(dataset, 5)
    scheduled = dataset.with_fault_change(first).with_fault_change(second)
    rates = [scheduled.faults_at(dataset.epoch + index * LENGTH).drop.rate for index in range(7)]
    assert rates == [0.01, 0.01, 0.2, 0.2, 0.2, 0.0, 0.0]
    # a change from an earlier interval replaces the changes recorded from there on
    replaced = scheduled.with_fault_change(change(dataset, 4, drop={"rate": 0.3}))
    assert [each.from_interval for each in replaced.fault_changes] == [
        dataset.epoch + 2 * LENGTH,
        dataset.epoch + 4 * LENGTH,
    ]
    assert replaced.faults_at(dataset.epoch + 6 * LENGTH).drop.rate == 0.3


def test_a_change_applies_from_its_interval_and_leaves_earlier_ones_alone() -> None:
    clean = make_dataset("small")
    changed = clean.with_fault_change(change(clean, 3, **NO_LATE))
    everywhere = make_dataset("small", seed=clean.seed, **{
        f"faults__{kind}__rate": 0.1 for kind in ("drop", "malformed_json", "duplicate")
    })  # fmt: skip
    before, after, reference = run(clean, 6), run(changed, 6), run(everywhere, 6)
    for index in range(3):
        assert after[index].labels is None
        assert published(after[index]) == published(before[index])
    for index in range(3, 6):
        assert labels_of(after[index]) == labels_of(reference[index]) != []
        assert published(after[index]) == published(reference[index])
        assert after[index].ground_truth.values == before[index].ground_truth.values


def test_late_records_decided_before_a_change_still_arrive_after_it() -> None:
    """Late faults switched off from interval 4: the late records of intervals 2 and 3 are still
    published, in the intervals their labels name."""
    base = make_dataset("small", faults__late__rate=0.2, faults__late__delay=["PT30M", "PT40M"])
    dataset = base.with_fault_change(change(base, 4))
    outputs = run(dataset, 7)
    assert all(not labels_of(output) for output in outputs[4:])
    by_id = {output.interval_id: output for output in outputs}
    late = [label for output in outputs[:4] for label in labels_of(output) if label.kind == "late"]
    due = [label for label in late if label.published_batch_id in by_id]
    assert any(str(label.published_batch_id) >= outputs[4].interval_id for label in due)
    for label in due:
        carrier = by_id[str(label.published_batch_id)]
        values = [value for records in carrier.events for value in records.values]
        assert any(label.record_id.encode() in value for value in values), label


def test_a_restart_reproduces_the_faults_from_the_descriptor(tmp_path: Path) -> None:
    config = make_config("small")
    path = tmp_path / "dataset.json"
    created = load_or_create_descriptor(path, config, make_dataset("small").epoch, LENGTH)
    with_change = created.with_fault_change(change(created, 2, **NO_LATE))
    path.write_text(with_change.descriptor(RECORDED).model_dump_json())
    restarted = load_or_create_descriptor(path, config, created.epoch + 9 * LENGTH, LENGTH)
    assert restarted.fault_changes == with_change.fault_changes
    assert [labels_of(output) for output in run(restarted, 4)] == [
        labels_of(output) for output in run(with_change, 4)
    ]
    recorded = json.loads(path.read_text())["fault_changes"]
    assert recorded[0]["faults"]["drop"] == {"rate": 0.1}
    assert recorded[0]["faults"]["late"]["delay"] == ["PT30M", "PT45M"]  # ISO 8601, as configured


def test_recording_keeps_changes_another_process_recorded(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    created = load_or_create_descriptor(path, make_config("small"), make_dataset("small").epoch, LENGTH)
    record_fault_change(path, change(created, 2, drop={"rate": 0.1}))
    recorded = record_fault_change(path, change(created, 5, drop={"rate": 0.2}))  # from a stale dataset
    assert [each.faults.drop.rate for each in recorded.fault_changes] == [0.1, 0.2]
    replaced = record_fault_change(path, change(created, 3))
    assert [each.from_interval for each in replaced.fault_changes] == [
        created.epoch + 2 * LENGTH,
        created.epoch + 3 * LENGTH,
    ]
    assert read_descriptor(path).fault_changes == replaced.fault_changes


# -- the sidecar ------------------------------------------------------------------------------------

Client = Callable[..., httpx.AsyncClient]
TOKEN = {"Authorization": "Bearer s3cret"}
EMULATED = timedelta(seconds=5)


@pytest.fixture
def topics_ensured(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Start ``engine`` as ``Engine.run`` prepares it (descriptor, resume point, publisher), without
    Kafka: each topic creation it asks for is recorded (whether the label topic was wanted)."""
    epoch = datetime(2025, 11, 8, 12, tzinfo=UTC)
    dataset = load_or_create_descriptor(engine.paths.descriptor_file, engine.config, epoch, EMULATED)
    engine.dataset = dataset
    engine.state.next_interval = epoch + 2 * EMULATED
    engine.state.entities_through = epoch
    factory = RecordFactory(engine.scenario, dataset, engine.shard, engine.config.kafka.topic_prefix)
    engine.publisher = IntervalPublisher(
        engine.config, factory, engine.state, engine.store, engine._state_lock, engine.lifecycle,
        engine.stats, engine.log,
    )  # fmt: skip
    calls: list[bool] = []

    async def ensure_topics(labels: bool = False) -> None:
        calls.append(labels)

    monkeypatch.setattr(engine.publisher, "ensure_topics", ensure_topics)
    return calls


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    """``client(token=…)``: an httpx client on a fresh app for ``engine``."""
    opened: list[httpx.AsyncClient] = []

    def make(**settings: object) -> httpx.AsyncClient:
        app = create_app(engine, ApiSettings.model_validate({"token": None, **settings}))
        opened.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost"))
        return opened[-1]

    yield make
    for each in opened:
        await each.aclose()


async def test_put_needs_the_token_and_is_refused_from_other_origins(
    client: Client, engine: Engine, topics_ensured: list[bool]
) -> None:
    secured = client(token="s3cret")
    body = {"drop": {"rate": 0.1}}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await secured.put("/api/faults", json=body, headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    other = await secured.put(
        "/api/faults", json=body, headers={**TOKEN, "Origin": "http://attacker.example"}
    )
    assert other.status_code == 403 and other.json()["error"] == "cross_origin_refused"
    assert engine.dataset is not None and engine.dataset.fault_changes == ()
    assert (await secured.get("/api/faults")).status_code == 200  # reads stay open
    assert (await secured.put("/api/faults", json=body, headers=TOKEN)).status_code == 200


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"drop": {"rate": 2.0}}, "'drop.rate': Input should be less than or equal to 1"),
        ({"drop": {"rate": -0.5}}, "'drop.rate': Input should be greater than or equal to 0"),
        ({"lateness": {"rate": 0.1}}, "'lateness': Extra inputs are not permitted"),
        ({"drop": {"rate": 0.1, "delay": ["PT1S", "PT2S"]}}, "'drop.delay': Extra inputs"),
        ({"drop": {"rate": 0.7}, "malformed_json": {"rate": 0.6}}, "the rates sum to 1.3"),
        ({"late": {"rate": 0.1, "delay": ["PT5S", "PT8S"]}}, "faults.late.delay = ['PT5S', 'PT8S']: "),
        ({"late": {"rate": 0.1, "delay": ["PT9S", "PT1M"]}}, "make it at least PT10S"),
        ({"out_of_order": {"rate": 0.1, "delay": ["PT3S", "PT1S"]}}, "'out_of_order.delay': Value error"),
    ],
    ids=["rate-2", "rate-negative", "unknown-kind", "unknown-setting", "sum", "late-too-short",
         "late-just-short", "delay-unordered"],
)  # fmt: skip
async def test_bad_settings_are_422_naming_the_field_and_change_nothing(
    client: Client, engine: Engine, topics_ensured: list[bool], body: dict[str, Any], named: str
) -> None:
    descriptor = engine.paths.descriptor_file.read_bytes()
    response = await client().put("/api/faults", json=body)
    assert response.status_code == 422, response.text
    assert named in response.json()["message"] and "Traceback" not in response.text
    assert len(response.json()["message"].splitlines()) == 1
    assert engine.paths.descriptor_file.read_bytes() == descriptor
    assert engine.dataset is not None and engine.dataset.fault_changes == ()
    assert topics_ensured == []  # Kafka was not asked anything
    assert (await client().get("/api/faults")).json()["changes"] == []


async def test_a_put_applies_from_the_next_interval_is_recorded_logged_and_counted(
    client: Client, engine: Engine, topics_ensured: list[bool]
) -> None:
    app = client()
    assert (await app.get("/api/health")).json()["faults"]["enabled"] is False
    next_interval = engine.state.next_interval
    assert next_interval is not None
    body = {"drop": {"rate": 0.3}, "malformed_json": {"rate": 0.3}, "late": {"rate": 0.1}}
    response = await app.put("/api/faults", json=body)
    assert response.status_code == 200, response.text
    schedule = response.json()
    applies = next_interval + EMULATED
    assert [each["from_interval"] for each in schedule["changes"]] == [
        applies.isoformat().replace("+00:00", "Z")
    ]
    assert schedule["in_effect"]["drop"]["rate"] == 0.0  # the interval being published is unchanged
    assert schedule["changes"][0]["faults"]["late"] == {"rate": 0.1, "delay": ["PT30M", "PT45M"]}
    assert topics_ensured == [True]  # the label topic exists before any interval needs it

    recorded = read_descriptor(engine.paths.descriptor_file)
    assert [(each.from_interval, each.faults.drop.rate) for each in recorded.fault_changes] == [
        (applies, 0.3)
    ]
    (entry,) = [e for e in engine.log.entries(limit=100) if e.message == "fault settings changed"]
    assert entry.metadata["from_interval"] == applies and entry.metadata["source"] == "api"
    assert entry.metadata["rates"] == {"late": 0.1, "malformed_json": 0.3, "drop": 0.3}

    publisher = engine.publisher
    assert publisher is not None
    current, following = publisher.interval_output(next_interval), publisher.interval_output(applies)
    assert current.labels is None and following.labels is not None and len(following.labels) > 0
    publisher.record_interval(next_interval, current.event_count, current.labels)
    publisher.record_interval(applies, following.event_count, following.labels)
    expected = fault_kinds(following.labels.values)
    assert engine.faults_in_effect().drop.rate == 0.3

    health = (await app.get("/api/health")).json()["faults"]
    assert health["enabled"] is True
    assert health["injected"] == {kind: expected.get(kind, 0) for kind in FAULT_KINDS}
    assert health["injected_total"] == len(following.labels)
    samples = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families((await app.get("/metrics")).text)
        for sample in family.samples
        if sample.name == "seedstream_faults_injected_total"
    }
    assert samples == {kind: float(expected.get(kind, 0)) for kind in FAULT_KINDS}

    # a restart on the same data dir reads the schedule back: the same faults for every interval
    restarted = Engine(engine.config, engine.paths.data_dir)
    try:
        dataset = load_or_create_descriptor(
            restarted.paths.descriptor_file, restarted.config, applies + 9 * EMULATED, EMULATED
        )
    finally:
        restarted.log.close()
    scenario = get_scenario("fleet")
    for start in (next_interval, applies, applies + EMULATED):
        again = faulted_interval(scenario, dataset, start, Shard())
        assert published(again) == published(publisher.interval_output(start))
        assert labels_of(again) == labels_of(publisher.interval_output(start))


async def test_before_the_engine_started_get_shows_the_configuration_and_put_is_409(
    client: Client, engine: Engine
) -> None:
    app = client()
    schedule = (await app.get("/api/faults")).json()
    assert schedule["changes"] == [] and schedule["next_interval"] is None
    assert schedule["in_effect"] == json.loads(engine.config.faults.model_dump_json())
    refused = await app.put("/api/faults", json={"drop": {"rate": 0.1}})
    assert refused.status_code == 409 and refused.json()["error"] == "not_started"
    assert "GET /api/health" in refused.json()["message"]
    health = (await app.get("/api/health")).json()
    assert health["faults"] == {
        "enabled": False, "injected": dict.fromkeys(FAULT_KINDS, 0), "injected_total": 0
    }  # fmt: skip
