"""What the Spark JVM prints past log4j goes to the streaming log, never to the user's terminal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streaming.submit import _jvm_stderr_to


def test_a_child_spawned_inside_writes_its_stderr_to_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "streaming.log"
    log.write_text("before\n")
    with _jvm_stderr_to(log):
        child = subprocess.Popen(["sh", "-c", "sleep 0.2; echo 'Exception in thread stream' >&2"])
    child.wait(timeout=10)  # it keeps the log as its stderr after the context ended
    subprocess.run(["sh", "-c", "echo ours >&2"], check=True, timeout=10)
    assert log.read_text() == "before\nException in thread stream\n"
    assert capfd.readouterr().err == "ours\n"


def test_without_a_log_file_nothing_changes(capfd: pytest.CaptureFixture[str]) -> None:
    with _jvm_stderr_to(None):
        subprocess.run(["sh", "-c", "echo shown >&2"], check=True, timeout=10)
    assert capfd.readouterr().err == "shown\n"
