"""``seedstream produce`` as a process: kill -9 and restart, signals, unreachable bootstrap."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from producer.config import SeedstreamConfig
from producer.engine.logs import LIBRARY_LINES_PER_WINDOW
from producer.errors import SeedstreamError
from producer.generation.fault_labels import label_topic
from producer.generation.fault_settings import FAULT_KINDS
from producer.stack.broker import LocalBroker, free_port
from tests.fixtures.processes import ProcessFactory
from tests.fixtures.runtime import SEEDSTREAM
from tests.fixtures.waiting import wait_for
from tests.integration.producer_support import (
    config_file,
    expected,
    producer_config,
    read_all,
    read_topic,
    without_generation_time,
)

pytestmark = pytest.mark.kafka

START = datetime(2025, 11, 8, tzinfo=UTC)


def _state(data_dir: Path) -> dict[str, object]:
    try:
        return dict(json.loads((data_dir / "producer" / "state.json").read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def _flags(config: Path, bootstrap: str, data_dir: Path) -> tuple[str, ...]:
    return ("--config", str(config), "--bootstrap-servers", bootstrap, "--data-dir", str(data_dir))


def _assert_published_exactly(config: SeedstreamConfig, start: datetime, end: datetime, work: Path) -> None:
    """Kafka (read_committed) holds exactly what `seedstream generate` makes for [start, end)."""
    want = expected(config, start, end, work / "generated")
    got = asyncio.run(read_all(config))
    # exactly once for events and ground truth: nothing missing, nothing extra, no interval twice
    assert Counter(got["events"].values) == Counter(want["events"])
    assert without_generation_time(got["ground_truth"].values) == without_generation_time(
        want["ground_truth"]
    )
    # entities: the same set (an entity batch may repeat identically; the topic is compacted)
    assert set(got["entities"].values) == set(want["entities"])


def test_kill_9_mid_backfill_then_restart_publishes_exactly_the_expected_records(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    """With every fault kind on: the records (faulted ones included) and their labels come out as
    ``generate`` makes them across the kill, so faults do not depend on restarts."""
    prefix = unique_name("kill") + "."
    rates = {f"faults__{kind}__rate": 0.03 for kind in FAULT_KINDS}
    config = producer_config("base", kafka_bootstrap, prefix, **rates)
    config_path = config_file(config, tmp_path)
    data_dir = data_dir_factory("producer")
    end = START + timedelta(hours=12)
    window = ("--from", "2025-11-08T00:00Z", "--to", "2025-11-08T12:00Z")

    first = producer_process(*_flags(config_path, kafka_bootstrap, data_dir), *window)
    try:
        wait_for(lambda: int(_state(data_dir).get("intervals_published", 0)) >= 4, 90, "4 intervals")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = int(_state(data_dir).get("intervals_published", 0))
    assert 4 <= killed_at < 48, "the kill must land mid-backfill"

    second = producer_process(*_flags(config_path, kafka_bootstrap, data_dir), *window)
    _, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr

    _assert_published_exactly(config, START, end, tmp_path)
    assert _state(data_dir)["next_interval"] == "2025-11-08T12:00:00Z"
    topic = label_topic("fleet").full_name(prefix)
    labels = asyncio.run(read_topic(kafka_bootstrap, topic)).values
    generated = (tmp_path / "generated" / f"{topic}.jsonl").read_bytes().splitlines()
    assert Counter(labels) == Counter(generated)
    assert {json.loads(label)["kind"] for label in labels} == set(FAULT_KINDS)


def test_signals_pause_resume_and_sigterm_exit_0_with_state_saved(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config(
        "emulated.5s", kafka_bootstrap, unique_name("sig") + ".", seed=3, delivery="batch",
        fleet__interval="PT1S", fleet__company_onboarding_interval="PT1S",
    )  # fmt: skip
    config_path = config_file(config, tmp_path)
    data_dir = data_dir_factory("producer")
    process = producer_process(*_flags(config_path, kafka_bootstrap, data_dir))
    try:
        wait_for(
            lambda: int(_state(data_dir).get("intervals_published", 0)) >= 2, 60, "2 realtime intervals"
        )
        process.send_signal(signal.SIGUSR1)
        wait_for(lambda: _state(data_dir).get("paused") is True, 10, "paused in the state file")
        paused_at = int(_state(data_dir)["intervals_published"])
        time.sleep(3)
        assert int(_state(data_dir)["intervals_published"]) <= paused_at + 1
        process.send_signal(signal.SIGUSR2)
        wait_for(lambda: _state(data_dir).get("paused") is False, 10, "resumed in the state file")
        wait_for(
            lambda: int(_state(data_dir)["intervals_published"]) >= paused_at + 2, 20, "publishing again"
        )
        assert _state(data_dir)["skipped"], "intervals passed while paused are recorded as skipped"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - sent < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, stderr
    assert "producer stopped" in stderr
    log = [json.loads(line) for line in (data_dir / "logs" / "producer.jsonl").read_text().splitlines()]
    messages = [entry["message"] for entry in log]
    assert {"paused", "resumed", "stop requested", "stopped"} <= set(messages)
    assert all({"timestamp", "level", "component", "run_id", "message", "metadata"} <= set(e) for e in log)
    state = _state(data_dir)
    assert state["paused"] is False and state["next_interval"] is not None

    # restart while paused comes back paused (and publishes nothing)
    restart = producer_process(*_flags(config_path, kafka_bootstrap, data_dir))
    try:
        log_file = data_dir / "logs" / "producer.jsonl"
        wait_for(lambda: "starting" in log_file.read_text().split("stopped")[-1], 30, "the restart")
        restart.send_signal(signal.SIGUSR1)
        wait_for(lambda: _state(data_dir).get("paused") is True, 10, "paused")
        restart.send_signal(signal.SIGTERM)
        restart.communicate(timeout=10)
    finally:
        if restart.poll() is None:
            restart.kill()
    assert restart.returncode == 0
    published = int(_state(data_dir)["intervals_published"])
    again = producer_process(*_flags(config_path, kafka_bootstrap, data_dir))
    try:
        time.sleep(4)
        assert int(_state(data_dir)["intervals_published"]) == published
        assert _state(data_dir)["paused"] is True
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=10)
    finally:
        if again.poll() is None:
            again.kill()
    assert again.returncode == 0
    lines = (data_dir / "logs" / "producer.jsonl").read_text().splitlines()
    assert any(json.loads(line)["metadata"].get("paused") is True for line in lines[-6:])


def test_unreachable_bootstrap_fails_with_one_clear_line_in_bounded_time(
    data_dir_factory: Callable[[str], Path],
) -> None:
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [SEEDSTREAM, "produce", "--config", "small", "--bootstrap-servers", f"127.0.0.1:{port}",
         "--data-dir", str(data_dir_factory("producer")),
         "--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "3"},
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert f"cannot reach Kafka at 127.0.0.1:{port} within 3 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_then_follow_continues_into_realtime_without_a_gap(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config(
        "emulated.5s", kafka_bootstrap, unique_name("follow") + ".", seed=23, delivery="batch"
    )
    config_path = config_file(config, tmp_path)
    data_dir = data_dir_factory("producer")
    length = timedelta(seconds=5)
    now = datetime.now(UTC)
    current = now - timedelta(seconds=now.second % 5, microseconds=now.microsecond)
    start, end = current - 6 * length, current - 3 * length
    process = producer_process(
        *_flags(config_path, kafka_bootstrap, data_dir), "--from", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--to", end.strftime("%Y-%m-%dT%H:%M:%SZ"), "--follow",
    )  # fmt: skip
    try:
        # realtime must first catch up [end, current) and then publish intervals as they close
        target = (current + 2 * length).strftime("%Y-%m-%dT%H:%M:%SZ")
        reached_target = lambda: str(_state(data_dir).get("next_interval", "")) >= target  # noqa: E731
        wait_for(reached_target, 60, f"intervals up to {target}")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr

    reached = datetime.fromisoformat(str(_state(data_dir)["next_interval"]).replace("Z", "+00:00"))
    assert reached >= current + 2 * length
    _assert_published_exactly(config, start, reached, tmp_path)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Lines:
    """Drains a child's text stream on a thread, so a flood can neither block the child nor be missed."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def join(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def _log_entries(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "logs" / "producer.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_broker_outage_with_a_send_in_flight_stays_quiet_idle_and_loses_nothing(
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    broker = LocalBroker(data_dir_factory("broker"), port=free_port(), heap_mb=384)
    try:
        info = broker.start(120)
    except SeedstreamError as error:
        pytest.skip(f"no dedicated broker: {error}")
    try:
        config = producer_config(
            "emulated.5s", info.bootstrap, unique_name("quiet") + ".", seed=7, delivery="batch",
            fleet__interval="PT1S", fleet__company_onboarding_interval="PT2S",
        )  # fmt: skip
        config_path = config_file(config, tmp_path)
        data_dir = data_dir_factory("producer")
        process = producer_process(
            *_flags(config_path, info.bootstrap, data_dir), "--api-port", str(free_port())
        )
        assert process.stderr is not None
        stderr = _Lines(process.stderr)
        wait_for(lambda: int(_state(data_dir).get("intervals_published", 0)) >= 3, 90, "3 intervals")
        # one transaction a second: the broker goes away while one is in flight or about to be
        lines_before, cpu_before = len(stderr.lines), _cpu_seconds(process.pid)
        outage_began = time.monotonic()
        broker.stop(30)
        time.sleep(max(0.0, 20 - (time.monotonic() - outage_began)))
        cpu_share = (_cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - outage_began)
        outage_lines = stderr.lines[lines_before:]
        assert process.poll() is None, stderr.join()
        published_during_outage = int(_state(data_dir)["intervals_published"])
        broker.start(120)
        wait_for(
            lambda: int(_state(data_dir)["intervals_published"]) >= published_during_outage + 3,
            120, "publishing after the outage",
        )  # fmt: skip
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        output = stderr.join()
        epoch = datetime.fromisoformat(
            json.loads((data_dir / "dataset.json").read_text())["epoch"].replace("Z", "+00:00")
        )
        state = _state(data_dir)
        reached = datetime.fromisoformat(str(state["next_interval"]).replace("Z", "+00:00"))
        _assert_published_exactly(config, epoch, reached, tmp_path)  # read_committed equals generate
    finally:
        broker.stop(30)
    assert process.returncode == 0, output
    assert len(outage_lines) <= 1, f"{len(outage_lines)} lines on stderr: {outage_lines[:5]}"
    assert "Traceback" not in output
    assert cpu_share < 0.30, f"the producer used {cpu_share:.0%} of a core while the broker was down"

    log = _log_entries(data_dir)
    library = [entry for entry in log if "logger" in entry["metadata"]]
    assert library, "the Kafka client's complaints during the outage reach the structured log"
    per_window = Counter(
        (entry["metadata"]["logger"], entry["timestamp"][:18]) for entry in library
    )  # wall-clock tens of seconds; each overlaps at most two of the bridge's 10-second windows
    assert max(per_window.values()) <= 2 * (LIBRARY_LINES_PER_WINDOW + 1), per_window.most_common(3)
    assert not state["skipped"]


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def test_state_directory_unwritable_mid_run_keeps_producing_and_says_so(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config(
        "emulated.5s", kafka_bootstrap, unique_name("unsaved") + ".", seed=13, delivery="batch",
        fleet__interval="PT1S", fleet__company_onboarding_interval="PT2S",
    )  # fmt: skip
    config_path = config_file(config, tmp_path)
    data_dir, port = data_dir_factory("producer"), free_port()
    process = producer_process(*_flags(config_path, kafka_bootstrap, data_dir), "--api-port", str(port))
    try:
        wait_for(lambda: int(_state(data_dir).get("intervals_published", 0)) >= 2, 60, "2 intervals")
        state_dir = data_dir / "producer"
        state_dir.rename(tmp_path / "state-aside")
        state_dir.write_text("a file where the state directory was\n")
        wait_for(lambda: _health(port)["state"]["saved"] is False, 15, "health showing the state unsaved")
        unsaved = _health(port)["state"]
        assert unsaved["save_error"] and "producer" in unsaved["save_error"]
        wait_for(
            lambda: _health(port)["state"]["intervals_published"] >= unsaved["intervals_published"] + 2,
            20, "publishing while the state cannot be saved",
        )  # fmt: skip
        assert process.poll() is None
        state_dir.unlink()
        wait_for(lambda: _health(port)["state"]["saved"] is True, 15, "the state saved again")
        assert int(_state(data_dir)["intervals_published"]) >= unsaved["intervals_published"] + 2
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    log = _log_entries(data_dir)
    failures = [entry for entry in log if entry["component"] == "state" and entry["level"] == "error"]
    assert len(failures) == 1 and failures[0]["metadata"]["error"], failures
    assert any(entry["message"] == "producer state saved again" for entry in log)


def test_counters_include_the_intervals_adopted_from_kafka_after_a_crash(
    kafka_bootstrap: str,
    producer_process: ProcessFactory,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    config = producer_config("base", kafka_bootstrap, unique_name("adopt") + ".")
    config_path = config_file(config, tmp_path)
    data_dir = data_dir_factory("producer")
    window = ("--from", "2025-11-08T00:00Z", "--to", "2025-11-08T12:00Z")
    flags = (*_flags(config_path, kafka_bootstrap, data_dir), "--api-port", str(free_port()))
    state_file = data_dir / "producer" / "state.json"

    first = producer_process(*flags, *window)
    try:
        wait_for(lambda: int(_state(data_dir).get("intervals_published", 0)) >= 2, 90, "2 intervals")
        older = state_file.read_bytes()
        wait_for(lambda: int(_state(data_dir).get("intervals_published", 0)) >= 5, 90, "5 intervals")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    # the commits after the older state was written are in Kafka, not in the state (a kill between
    # commit and save, many times over)
    state_file.write_bytes(older)
    assert int(_state(data_dir)["intervals_published"]) < 5

    second = producer_process(*flags, *window)
    _, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr

    got = asyncio.run(read_all(config))
    state = _state(data_dir)
    manifest = json.loads((data_dir / "producer" / "manifest.json").read_text())
    assert len(got["ground_truth"].values) == 48
    assert state["intervals_published"] == manifest["total_intervals"] == 48
    assert state["events_published"] == manifest["total_events"] == len(got["events"].values)
