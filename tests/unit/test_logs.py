"""The structured log: JSON lines with the fixed fields, and a ring filtered by since and level."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.engine.logs import EventLog


def test_entries_go_to_the_file_as_json_lines_with_every_field(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "logs" / "producer.jsonl", run_id="run-1")
    log.info("engine", "interval published", batch_id="20251108T0000Z", at=datetime(2025, 11, 8, tzinfo=UTC))
    log.close()
    (line,) = (tmp_path / "logs" / "producer.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert set(entry) == {"timestamp", "level", "component", "run_id", "message", "metadata"}
    assert entry["run_id"] == "run-1" and entry["level"] == "info" and entry["component"] == "engine"
    assert entry["metadata"] == {"batch_id": "20251108T0000Z", "at": "2025-11-08T00:00:00.000000Z"}
    assert entry["timestamp"].endswith("Z")


def test_ring_keeps_the_latest_and_filters_by_level_and_since() -> None:
    log = EventLog(None, capacity=5)
    for number in range(8):
        log.log("warning" if number % 2 else "info", "engine", f"message {number}")
    entries = log.entries(limit=100)
    assert [entry.message for entry in entries] == [f"message {n}" for n in range(3, 8)]
    assert [entry.message for entry in log.entries(level="warning")] == [
        "message 3",
        "message 5",
        "message 7",
    ]
    assert [entry.message for entry in log.entries(limit=2)] == ["message 6", "message 7"]
    assert [entry.message for entry in log.entries(since=entries[2].timestamp)] == ["message 6", "message 7"]
    assert log.entries(limit=0) == []


def test_library_logging_goes_to_the_event_log_rate_limited_and_never_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from producer.engine.logs import LIBRARY_LINES_PER_WINDOW, LibraryLogBridge

    log = EventLog(None)
    now = [100.0]
    bridge = LibraryLogBridge(log, clock=lambda: now[0])
    sender, conn = logging.getLogger("aiokafka.producer.sender"), logging.getLogger("aiokafka.conn")
    root = logging.getLogger("aiokafka")
    before = (list(root.handlers), root.propagate)  # other tests' capture handlers may be attached
    bridge.install()
    try:
        for _ in range(50):
            sender.warning("Unable to update metadata from %s", [1])
        conn.error("Unable connect to node with id %s", 1)
        now[0] += 10.0
        sender.warning("Unable to update metadata from %s", [1])
        for _ in range(3):
            sender.warning("still down")
    finally:
        bridge.uninstall()
    assert capsys.readouterr().err == ""
    messages = [(entry.level, entry.metadata["logger"], entry.message) for entry in log.entries(limit=100)]
    assert (
        messages[:LIBRARY_LINES_PER_WINDOW]
        == [("warning", "aiokafka.producer.sender", "Unable to update metadata from [1]")]
        * LIBRARY_LINES_PER_WINDOW
    )
    connect_failed = ("error", "aiokafka.conn", "Unable connect to node with id 1")
    assert messages[LIBRARY_LINES_PER_WINDOW] == connect_failed
    assert messages[LIBRARY_LINES_PER_WINDOW + 1] == (
        "warning", "aiokafka.producer.sender", f"suppressed {50 - LIBRARY_LINES_PER_WINDOW} similar messages",
    )  # fmt: skip
    assert len(messages) == LIBRARY_LINES_PER_WINDOW + 2 + 4
    assert all(entry.component == "aiokafka" for entry in log.entries())
    assert (list(root.handlers), root.propagate) == before, "uninstall leaves the logger as it was"
