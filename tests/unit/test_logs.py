"""The structured log: JSON lines with the fixed fields, and a ring filtered by since and level."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

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
