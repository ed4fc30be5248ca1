"""Bad input on the command line: one line naming what was wrong, exit 2, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from producer.stack.broker import free_port
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM


def _run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False,
        env={**os.environ, "COLUMNS": "300", **env},
    )  # fmt: skip


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_an_api_port_flag_out_of_range_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = _run("produce", "--config", "small", "--api-port", "70000", "--data-dir", str(data))
    assert result.returncode == 2
    assert "api.port = 70000" in _one_error_line(result)
    assert not data.exists()


@pytest.mark.parametrize("bootstrap", ["not a host:abc", "kafka", "kafka:99999", "a:1,,b:2"])
def test_a_malformed_bootstrap_list_is_refused_before_anything_is_written(
    tmp_path: Path, bootstrap: str
) -> None:
    data = tmp_path / "data"
    result = _run("produce", "--config", "small", "--bootstrap-servers", bootstrap, "--data-dir", str(data))
    assert result.returncode == 2
    assert "is not host:port; give host:port[,host:port]" in _one_error_line(result)
    assert not data.exists()


@pytest.mark.parametrize(
    "command",
    [
        ("produce", "--config", "small"),
        ("kafka", "start"),
        ("stream", "--config", "small", "--available-now"),
        ("up", "--run-for", "1"),
    ],
)
def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path, command: tuple[str, ...]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    result = _run(*command, "--data-dir", str(afile))
    assert result.returncode == 2
    assert f"--data-dir {afile} is a file, not a directory" in _one_error_line(result)
    assert afile.read_text() == "keep me"


def test_generate_refuses_a_non_empty_out_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    window = ("--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z")
    refused = _run("generate", "--config", "small", *window, "--out", str(out))
    assert refused.returncode == 2
    assert "is not empty (1 entries, e.g. notes.txt)" in _one_error_line(refused)
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    forced = _run("generate", "--config", "small", *window, "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "fleet.driver-events.jsonl").is_file() and (out / "notes.txt").read_text() == "mine"


def test_generate_refuses_a_century_quickly_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    started = time.monotonic()
    result = _run("generate", "--config", "small", "--from", "2000-01-01T00:00Z", "--to", "2100-01-01T00:00Z",
                  "--out", str(out))  # fmt: skip
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    line = _one_error_line(result)
    assert "would generate about" in line and "3,506,400 intervals" in line
    assert "--yes" in line or "free under" in line
    assert not out.exists()


def test_ctrl_c_while_waiting_for_kafka_exits_130_with_one_line(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [SEEDSTREAM, "produce", "--config", "small", "--bootstrap-servers", f"127.0.0.1:{free_port()}",
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "60"},
    )  # fmt: skip
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.strip() == "interrupted"
    assert not (tmp_path / "data").exists()


def test_an_unknown_top_level_environment_variable_is_refused_by_name(tmp_path: Path) -> None:
    result = _run("generate", "--config", "small", "--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z",
                  "--out", str(tmp_path / "out"), SEEDSTREAM_SEDE="7")  # fmt: skip
    assert result.returncode == 2
    assert "environment SEEDSTREAM_SEDE: unknown setting 'sede'" in _one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_bad_json_in_an_environment_variable_names_the_variable(tmp_path: Path) -> None:
    result = _run("generate", "--config", "small", "--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z",
                  "--out", str(tmp_path / "out"), SEEDSTREAM_FLEET="{bad")  # fmt: skip
    assert result.returncode == 2
    line = _one_error_line(result)
    assert "environment SEEDSTREAM_FLEET: not valid JSON for fleet" in line and "small.yaml" not in line
