"""A start that fails writes nothing: busy API port, corrupt dataset descriptor, unreachable Kafka."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from producer.stack.broker import free_port
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM

pytestmark = pytest.mark.kafka


def _produce(data_dir: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, "produce", "--config", "emulated.5s", "--data-dir", str(data_dir), *flags],
        capture_output=True, text=True, timeout=90, cwd=REPO_ROOT, check=False,
        env={**os.environ, "COLUMNS": "300", **env},
    )  # fmt: skip


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_a_busy_api_port_is_refused_before_any_file_is_written(tmp_path: Path, kafka_bootstrap: str) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _produce(data, "--bootstrap-servers", kafka_bootstrap, "--api-port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in _error_line(result)
    assert not data.exists() or not any(data.rglob("*"))


def test_a_corrupt_dataset_descriptor_is_refused_with_a_fix_and_nothing_else_written(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.json").write_text("{not json")
    result = _produce(data, "--bootstrap-servers", kafka_bootstrap, "--api-port", str(free_port()))
    assert result.returncode == 2
    line = _error_line(result)
    assert "dataset.json: not a dataset descriptor" in line and "--data-dir" in line
    assert sorted(path.name for path in data.rglob("*")) == ["dataset.json"]


def test_an_unreachable_kafka_at_first_start_records_no_seed_or_epoch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = _produce(data, "--bootstrap-servers", f"127.0.0.1:{free_port()}",
                      SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS="2")  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach Kafka" in _error_line(result)
    assert not data.exists()
