"""The one structured logger: JSON lines to a file under the data dir, and an in-memory ring.

Every entry has ``timestamp`` (ISO 8601 UTC), ``level``, ``component``, ``run_id``, ``message`` and
``metadata``. The ring holds the latest entries for the sidecar's
``GET /api/logs?limit&since&level``; the file keeps everything (``<data-dir>/logs/producer.jsonl``).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson

from producer.generation.clock import format_instant

Level = Literal["debug", "info", "warning", "error"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class LogEntry:
    """One structured log entry."""

    timestamp: datetime
    level: Level
    component: str
    run_id: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (timestamps ISO 8601 with ``Z``)."""
        return {
            "timestamp": format_instant(self.timestamp),
            "level": self.level,
            "component": self.component,
            "run_id": self.run_id,
            "message": self.message,
            "metadata": self.metadata,
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


class EventLog:
    """A thread-safe JSON-lines log with an in-memory ring of the latest ``capacity`` entries."""

    def __init__(self, path: Path | None, run_id: str | None = None, capacity: int = 2000) -> None:
        self.path = path
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._ring: deque[LogEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def log(self, level: Level, component: str, message: str, **metadata: Any) -> LogEntry:
        """Record an entry (ring and file) and return it."""
        entry = LogEntry(datetime.now(UTC), level, component, self.run_id, message, dict(metadata))
        line = (
            orjson.dumps(
                entry.to_dict(), default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME
            ).decode()
            + "\n"
        )
        with self._lock:
            self._ring.append(entry)
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
        return entry

    def info(self, component: str, message: str, **metadata: Any) -> LogEntry:
        """An ``info`` entry."""
        return self.log("info", component, message, **metadata)

    def warning(self, component: str, message: str, **metadata: Any) -> LogEntry:
        """A ``warning`` entry."""
        return self.log("warning", component, message, **metadata)

    def error(self, component: str, message: str, **metadata: Any) -> LogEntry:
        """An ``error`` entry."""
        return self.log("error", component, message, **metadata)

    def entries(
        self, limit: int = 100, since: datetime | None = None, level: Level | None = None
    ) -> list[LogEntry]:
        """The latest ``limit`` ring entries after ``since`` at ``level`` or above, oldest first."""
        with self._lock:
            selected = [
                entry
                for entry in self._ring
                if (since is None or entry.timestamp > since)
                and (level is None or _RANK[entry.level] >= _RANK[level])
            ]
        return selected[-limit:] if limit > 0 else []

    def close(self) -> None:
        """Close the file (the ring stays readable)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def reopen(self) -> None:
        """Reopen the file after it was removed (by ``clean``)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
