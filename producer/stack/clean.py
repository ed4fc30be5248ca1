"""``seedstream clean --pipeline`` and ``seedstream up --reset-pipeline``: reset the streaming job's
tables and checkpoints under a data dir.

The producer's clean (``POST /api/clean``) empties the topics and the producer's state; the Delta
tables keep what the pipeline already wrote. This resets the pipeline too, so the next
``seedstream up`` (or ``seedstream stream``) starts from Kafka's earliest offsets into empty tables.
It deletes ``D/delta``, ``D/checkpoints`` and the job's progress and checks logs — nothing else.

Preconditions, checked before anything is deleted: no ``seedstream up`` holds the data dir's lock,
no streaming job wrote its progress log in the last :data:`RECENT_PROGRESS_SECONDS`, and every
path to delete resolves inside the data dir (a symlink pointing elsewhere is refused, not followed).
"""

from __future__ import annotations

import fcntl
import shutil
import time
from pathlib import Path

from producer.datadir import DataDir
from producer.errors import BadInputError, SeedstreamError

RECENT_PROGRESS_SECONDS = 60.0
RECENT_PROGRESS_SECONDS_UP = 15.0
"""For ``up --reset-pipeline``, which holds the lock: a job that reads records writes its progress
every micro-batch, and a user restarting ``up`` right after Ctrl-C should not wait a minute."""


def pipeline_paths(data_dir: Path) -> list[Path]:
    """What a pipeline reset deletes: Delta tables, checkpoints, progress and checks logs."""
    files = DataDir(data_dir)
    return [data_dir / "delta", data_dir / "checkpoints", files.streaming_progress_log, files.checks_log]


def up_owner(data_dir: Path) -> str | None:
    """The pid written by the ``seedstream up`` that holds ``D/up.lock``, or None when none does."""
    lock = DataDir(data_dir).up_lock
    if not lock.is_file():
        return None
    with lock.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def check_stopped(data_dir: Path, now: float | None = None, by_up: bool = False) -> None:
    """Refuse (one line) while ``seedstream up`` or a streaming job uses ``data_dir``; ``by_up``: the
    caller is the ``up`` that holds the lock, before it starts its streaming job."""
    owner = None if by_up else up_owner(data_dir)
    if owner is not None:
        raise SeedstreamError(
            f"seedstream up runs for {data_dir} (pid {owner}): stop it (Ctrl-C), then clean the pipeline"
        )
    progress = DataDir(data_dir).streaming_progress_log
    if progress.is_file():
        age = (now if now is not None else time.time()) - progress.stat().st_mtime
        if age < (RECENT_PROGRESS_SECONDS_UP if by_up else RECENT_PROGRESS_SECONDS):
            raise SeedstreamError(
                f"a streaming job wrote {progress} {age:.0f} s ago: stop it first, then clean the pipeline"
            )


def reset_pipeline(data_dir: Path, by_up: bool = False) -> list[Path]:
    """Delete the pipeline's tables, checkpoints and logs under ``data_dir``; returns what was deleted.
    ``by_up``: called by ``seedstream up --reset-pipeline`` holding the data dir's lock.

    Raises:
        BadInputError: when the data dir does not exist or a path to delete resolves outside it.
        SeedstreamError: when ``seedstream up`` or a streaming job still uses it.
    """
    if not data_dir.is_dir():
        raise BadInputError(f"--data-dir {data_dir} is not a directory: pass the data dir `up` used")
    root = data_dir.resolve()
    check_stopped(data_dir, by_up=by_up)
    doomed = [path for path in pipeline_paths(data_dir) if path.exists() or path.is_symlink()]
    for path in doomed:
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise BadInputError(
                f"{path} is a symlink or resolves outside the data dir {root}: remove it yourself; "
                "nothing was deleted"
            )
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return doomed
