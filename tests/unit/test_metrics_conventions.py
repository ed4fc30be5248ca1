"""Both Prometheus endpoints pass ``promtool check metrics`` (Debian package ``prometheus``).

The sidecar's ``/metrics`` comes from an app on an engine that was never run, its counters filled in
by hand; the streaming job's exposition from :class:`streaming.observability.Metrics` fed one
progress event in-process (no Spark session). promtool must exit 0 and print nothing: its warnings
(a gauge named ``_total``, a counter without it, a missing HELP) count as failures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producer.config import ApiSettings
from producer.engine.engine import Engine
from producer.generation.fault_settings import FAULT_KINDS
from producer.generation.scenarios.base import Topics
from producer.generation.testing import make_config
from producer.sidecar.app import create_app
from streaming.checks import CheckLog
from streaming.observability import Metrics, ProgressListener, end_torn_line, json_lines
from tests.fixtures.runtime import runtime_missing

Promtool = Callable[[bytes], tuple[int, str]]


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    """``promtool(exposition)`` → (exit status, everything promtool printed)."""
    found = shutil.which("promtool")
    if found is None:
        runtime_missing("promtool is not installed (Debian package `prometheus`)")

    def check(exposition: bytes) -> tuple[int, str]:
        result = subprocess.run(  # noqa: S603 - the promtool binary found on PATH, fixed arguments
            [found, "check", "metrics"], input=exposition, capture_output=True, timeout=60, check=False
        )
        return result.returncode, (result.stdout + result.stderr).decode()

    return check


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine that was never run, with records counted on each of its scenario's topics."""
    built = Engine(make_config("emulated.5s", seed=7), tmp_path / "data")
    topics = Topics.of(built.scenario, built.config.kafka.topic_prefix)
    for records, spec in enumerate(topics.specs, start=1):
        built.stats.count(spec.full_name(topics.prefix), records * 10, records * 1000)
    built.stats.send_latency.observe(0.02)
    built.stats.count_faults({"late": 2, "drop": 1})
    built.stats.last_interval_end = datetime(2025, 11, 8, 12, 15, tzinfo=UTC)
    yield built
    built.log.close()


async def _sidecar_metrics(engine: Engine) -> bytes:
    app = create_app(engine, ApiSettings.model_validate({}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.content


def _streaming_metrics() -> bytes:
    metrics = Metrics.create()
    listener = ProgressListener(metrics, None, checks=lambda: (4, 3))
    progress = SimpleNamespace(
        name="bronze-fleet.driver-events",
        id="5f0c",
        inputRowsPerSecond=120.0,
        processedRowsPerSecond=240.0,
        batchDuration=1500,
        numInputRows=180,
        batchId=7,
        stateOperators=[SimpleNamespace(numRowsTotal=12, numRowsDroppedByWatermark=1)],
        eventTime={"watermark": "2025-11-08T12:15:00.000Z"},
        sources=[SimpleNamespace(endOffset='{"fleet.driver-events": {"0": 180}}')],
        json=json.dumps({"name": "bronze-fleet.driver-events", "batchId": 7}),
    )
    listener.onQueryProgress(SimpleNamespace(progress=progress))
    assert listener.processed() == {"bronze-fleet.driver-events": {("fleet.driver-events", 0): 180}}
    metrics.kafka_lag_records.labels("bronze-fleet.driver-events").set(20)  # KafkaLag's poll needs Kafka
    metrics.silver_rows.labels("driver_events").set(180)  # TableCounts' poll needs Spark
    return generate_latest(metrics.registry)


def _samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


async def test_sidecar_metrics_pass_promtool(promtool: Promtool, engine: Engine) -> None:
    exposition = await _sidecar_metrics(engine)
    assert promtool(exposition) == (0, "")


async def test_events_produced_counts_event_records_only(engine: Engine) -> None:
    samples = _samples(await _sidecar_metrics(engine))
    topics = Topics.of(engine.scenario, engine.config.kafka.topic_prefix)
    events = {key: value for key, value in samples.items() if key[0] == "seedstream_events_produced_total"}
    assert events == {("seedstream_events_produced_total", (("topic", topics.name("events")),)): 20.0}
    for role, records in (("entities", 10.0), ("events", 20.0), ("ground_truth", 30.0)):
        labels = (("role", role), ("topic", topics.name(role)))
        assert samples[("seedstream_records_produced_total", labels)] == records
        assert samples[("seedstream_batches_produced_total", labels)] == 1.0
        assert samples[("seedstream_produced_bytes_total", labels)] == records * 100


async def test_faults_injected_are_counted_per_kind_every_kind_listed(engine: Engine) -> None:
    samples = _samples(await _sidecar_metrics(engine))
    injected = {
        dict(labels)["kind"]: value
        for (name, labels), value in samples.items()
        if name == "seedstream_faults_injected_total"
    }
    assert injected == {**dict.fromkeys(FAULT_KINDS, 0.0), "late": 2.0, "drop": 1.0}


def test_streaming_metrics_pass_promtool(promtool: Promtool) -> None:
    exposition = _streaming_metrics()
    samples = _samples(exposition)
    query = (("query", "bronze-fleet.driver-events"),)
    assert samples[("seedstream_streaming_micro_batches_total", query)] == 1.0
    assert samples[("seedstream_streaming_watermark_timestamp_seconds", query)] == 1762604100.0
    assert samples[("seedstream_interval_checks", ())] == 4.0
    assert samples[("seedstream_interval_checks_complete", ())] == 3.0
    assert promtool(exposition) == (0, "")


def test_promtool_reports_a_gauge_named_total(promtool: Promtool) -> None:
    """The check can fail: the streaming job's former ``_total`` gauge is reported."""
    broken = b"# HELP seedstream_interval_checks_total Intervals.\n"
    broken += b"# TYPE seedstream_interval_checks_total gauge\nseedstream_interval_checks_total 4.0\n"
    status, output = promtool(broken)
    assert 'non-counter metrics should not have "_total" suffix' in output, (status, output)


def test_a_progress_log_torn_by_a_killed_run_gets_its_next_lines_whole(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "streaming-progress.jsonl"
    log.parent.mkdir()
    log.write_text('{"event":"progress","name":"silver"}\n{"event":"progr')  # kill -9 mid-write
    listener = ProgressListener(Metrics.create(), log)
    listener.onQueryStarted(SimpleNamespace(name="silver", id="5f0c", runId="a1"))
    lines = log.read_text().splitlines()
    assert lines[:2] == ['{"event":"progress","name":"silver"}', '{"event":"progr']
    assert json.loads(lines[2])["event"] == "started"
    end_torn_line(log)  # a whole file is left as it is
    assert log.read_text().splitlines() == lines


def test_a_check_log_torn_by_a_killed_run_gets_its_next_lines_whole_and_readers_skip_the_torn_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logs" / "checks.jsonl"
    path.parent.mkdir()
    path.write_text('{"batch_id":"a","status":"complete"}\n{"batch_id":"b","sta')  # kill -9 mid-write
    check_log = CheckLog(path)
    summary = {"batch_id": "c", "status": "missing", "provisional": False}
    check_log.record([summary])
    check_log.record([{**summary, "batch_id": "d"}])
    assert path.read_text().splitlines()[1] == '{"batch_id":"b","sta'
    assert [line["batch_id"] for line in json_lines(path)] == ["a", "c", "d"]
    assert check_log.counts() == (2, 0)
    assert json_lines(tmp_path / "absent.jsonl") == []
