"""What the Spark JVM prints past log4j goes to the streaming log, never to the user's terminal."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from streaming.submit import _jvm_stderr_to, _log_to_file


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


def test_records_without_a_handler_go_to_the_log_not_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyspark's Ctrl-C handler logs a failed cancelAllJobs with its traceback; without a handler on
    the root logger Python's last resort would print it on the terminal."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    for name in ("streaming", "py4j", "pyspark", "aiokafka", "asyncio"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", [])
        monkeypatch.setattr(logger, "propagate", logger.propagate)
        monkeypatch.setattr(logger, "level", logger.level)
    log = tmp_path / "validate.log"
    _log_to_file(log)
    try:
        raise RuntimeError("cancelAllJobs failed")
    except RuntimeError:
        logging.getLogger("pyspark.core.context").exception("while cancelling")
        logging.getLogger("elsewhere").error("no handler of its own")
    for handler in root.handlers:
        handler.close()
    assert capfd.readouterr().err == ""
    text = log.read_text()
    assert "while cancelling" in text and "RuntimeError: cancelAllJobs failed" in text
    assert "no handler of its own" in text
