"""The one structured logger: JSON lines to a file under the data dir, and an in-memory ring.

Every entry has ``timestamp`` (ISO 8601 UTC), ``level``, ``component``, ``run_id``, ``message`` and
``metadata``. The ring holds the latest entries for the sidecar's
``GET /api/logs?limit&since&level``; the file keeps everything (``<data-dir>/logs/producer.jsonl``).

Libraries log through Python's :mod:`logging`; with no handler configured their warnings would reach
stderr unformatted through the last-resort handler (thousands of lines a second while a broker is
away). :class:`LibraryLogBridge` routes the loggers of :data:`LIBRARY_LOGGERS` into the event log
instead, at most :data:`LIBRARY_LINES_PER_WINDOW` entries per logger per
:data:`LIBRARY_WINDOW_SECONDS`, followed by one entry saying how many similar ones were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson

from producer.generation.clock import format_instant

Level = Literal["debug", "info", "warning", "error"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}

LIBRARY_LOGGERS: tuple[str, ...] = ("aiokafka", "kafka", "asyncio")
"""The libraries whose :mod:`logging` output goes into the event log (never to stderr)."""
LIBRARY_LINES_PER_WINDOW = 5
"""At most this many entries per library logger per window; the rest are counted, then summarised."""
LIBRARY_WINDOW_SECONDS = 10.0


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


def _level_of(record: logging.LogRecord) -> Level:
    if record.levelno >= logging.ERROR:
        return "error"
    if record.levelno >= logging.WARNING:
        return "warning"
    return "info" if record.levelno >= logging.INFO else "debug"


class LibraryLogBridge(logging.Handler):
    """A :mod:`logging` handler writing library records into an :class:`EventLog`, rate limited.

    Each logger (``aiokafka.producer.sender`` and ``aiokafka.conn`` count separately) gets
    :data:`LIBRARY_LINES_PER_WINDOW` entries per window of :data:`LIBRARY_WINDOW_SECONDS`; the next
    record after a window with suppressed ones logs ``suppressed K similar messages`` first. The
    entry's component is the library (the logger's first name), its metadata the full logger name.
    """

    def __init__(
        self,
        log: EventLog,
        lines_per_window: int = LIBRARY_LINES_PER_WINDOW,
        window_seconds: float = LIBRARY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.INFO)
        self.log = log
        self.lines_per_window = lines_per_window
        self.window_seconds = window_seconds
        self._clock = clock
        # logger name -> (window start, entries logged in it, records suppressed in it)
        self._windows: dict[str, tuple[float, int, int]] = {}
        self._installed: list[tuple[logging.Logger, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` unless its logger used up its window (then count it)."""
        try:
            now = self._clock()
            name = record.name
            component = name.split(".", 1)[0]
            with self.lock or threading.Lock():
                start, logged, suppressed = self._windows.get(name, (now, 0, 0))
                if now - start >= self.window_seconds:
                    if suppressed:
                        self.log.log(
                            "warning", component, f"suppressed {suppressed} similar messages",
                            logger=name, window_seconds=self.window_seconds,
                        )  # fmt: skip
                    start, logged, suppressed = now, 0, 0
                if logged >= self.lines_per_window:
                    self._windows[name] = (start, logged, suppressed + 1)
                    return
                self._windows[name] = (start, logged + 1, suppressed)
            metadata: dict[str, Any] = {"logger": name}
            if record.exc_info and record.exc_info[1] is not None:
                metadata["error"] = repr(record.exc_info[1])
            self.log.log(_level_of(record), component, record.getMessage(), **metadata)
        except Exception:  # noqa: BLE001 - a log line must never break the caller
            self.handleError(record)

    def flush_suppressed(self) -> None:
        """Log the pending ``suppressed K similar messages`` entries (before closing the log)."""
        with self.lock or threading.Lock():
            pending = [(name, suppressed) for name, (_, _, suppressed) in self._windows.items() if suppressed]
            self._windows.clear()
        for name, suppressed in pending:
            self.log.log(
                "warning", name.split(".", 1)[0], f"suppressed {suppressed} similar messages",
                logger=name, window_seconds=self.window_seconds,
            )  # fmt: skip

    def install(self, names: tuple[str, ...] = LIBRARY_LOGGERS) -> None:
        """Route the ``names`` loggers here only (no propagation to the root, no last-resort stderr)."""
        for name in names:
            logger = logging.getLogger(name)
            logger.addHandler(self)
            self._installed.append((logger, logger.propagate))
            logger.propagate = False

    def uninstall(self) -> None:
        """Undo :meth:`install` and log what is still suppressed."""
        for logger, propagate in self._installed:
            logger.removeHandler(self)
            logger.propagate = propagate
        self._installed.clear()
        self.flush_suppressed()
