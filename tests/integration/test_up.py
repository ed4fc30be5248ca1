"""`seedstream up` end to end: broker, producer with sidecar and streaming job in one command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from producer.stack.broker import free_port
from producer.stack.up import prometheus_sum, single_instance
from tests.fixtures.runtime import REPO_ROOT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STARTUP_BUDGET_SECONDS = 300.0


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (walking /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


def _wait_for(
    what: str, probe: Callable[[], bool], deadline: float, process: subprocess.Popen[bytes], log: Path
) -> None:
    while time.monotonic() < deadline:
        tail = log.read_text(errors="replace")[-3000:]
        assert process.poll() is None, f"seedstream up exited early:\n{tail}"
        try:
            if probe():
                return
        except (OSError, ValueError):
            pass
        time.sleep(1.0)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")


def test_up_runs_the_whole_stack_and_stops_cleanly(spark: SparkSession, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = {name: free_port() for name in ("kafka", "api", "ui", "metrics")}
    log = tmp_path / "up.log"
    command = [
        sys.executable,
        "-m",
        "producer.cli",
        "up",
        "--config",
        "emulated.5s",
        "--data-dir",
        str(data_dir),
        "--reset-pipeline",  # a fresh data dir: nothing to delete, and the stack still comes up
        "--kafka-port",
        str(ports["kafka"]),
        "--api-port",
        str(ports["api"]),
        "--spark-ui-port",
        str(ports["ui"]),
        "--metrics-port",
        str(ports["metrics"]),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ, "COLUMNS": "120", "FORCE_COLOR": "1"},  # colour is still off: not a TTY
        )
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        deadline = time.monotonic() + STARTUP_BUDGET_SECONDS
        _wait_for(
            "the sidecar to report running",
            lambda: _get_json(f"{api}/api/health")["status"] == "running",
            deadline,
            process,
            log,
        )
        _wait_for(
            "events in Kafka",
            lambda: prometheus_sum(_get_text(f"{api}/metrics"), "seedstream_events_produced_total") > 0,
            deadline,
            process,
            log,
        )
        silver = data_dir / "delta" / "silver" / "driver_events"
        checks = data_dir / "delta" / "checks" / "interval_checks"

        def rows(table: Path, where: str = "true") -> int:
            # The job makes `_delta_log/` before it commits version 0 into it: a table exists from
            # its first commit file on (a rename on a local disk, so never seen half-written).
            if not any((table / "_delta_log").glob("*.json")):
                return 0
            return int(spark.read.format("delta").load(str(table)).where(where).count())

        _wait_for("rows in silver", lambda: rows(silver) > 0, deadline, process, log)
        _wait_for(
            "a complete interval check",
            lambda: rows(checks, "status = 'complete'") > 0,
            deadline,
            process,
            log,
        )

        # A second `up` on the same data dir says so instead of fighting over ports.
        second = subprocess.run(
            [sys.executable, "-m", "producer.cli", "up", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            check=False,
        )
        assert second.returncode != 0
        assert "already runs" in second.stderr

        family = _descendants(process.pid)
        assert len(family) >= 3, "expected the producer, the streaming job and the broker below up"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"seedstream up did not stop within 90 s:\n{log.read_text(errors='replace')[-3000:]}")
    output = log.read_text(errors="replace")
    assert status == 0, output[-3000:]
    # redirected output: plain lines (no colours, no cursor movement), status lines, a final newline
    assert "\x1b" not in output, repr(output[-3000:])
    assert output.endswith("stopped\n"), repr(output[-300:])
    assert "status: producer running;" in output, output[-3000:]
    assert "pipeline reset: nothing to delete" in output, output[:2000]
    time.sleep(1.0)
    survivors = [pid for pid in family if _alive(pid)]
    assert survivors == [], f"processes left behind: {survivors}"


def test_single_instance_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    from producer.errors import SeedstreamError

    with single_instance(tmp_path):
        with pytest.raises(SeedstreamError, match="already runs"):
            with single_instance(tmp_path):
                pass
    with single_instance(tmp_path):  # released: a later `up` may start
        pass


def test_prometheus_sum_adds_every_labelled_sample() -> None:
    text = (
        "# HELP seedstream_records_produced_total records\n"
        "# TYPE seedstream_records_produced_total counter\n"
        'seedstream_records_produced_total{role="entities",topic="fleet.companies"} 10.0\n'
        'seedstream_records_produced_total{role="events",topic="fleet.driver-events"} 32.0\n'
        "seedstream_records_produced_created 1.7e9\n"
        "# TYPE seedstream_interval_checks gauge\n"
        "seedstream_interval_checks 5.0\n"
        "# TYPE seedstream_interval_checks_complete gauge\n"
        "seedstream_interval_checks_complete 4.0\n"
    )
    assert prometheus_sum(text, "seedstream_records_produced_total") == 42.0
    # a name that prefixes another one counts only its own samples
    assert prometheus_sum(text, "seedstream_interval_checks") == 5.0
    assert prometheus_sum(text, "seedstream_missing") == 0.0
