"""The data dir: where every file seedstream writes lives, and the one way files are replaced.

One layout for the producer (dataset descriptor, per-shard state, manifest and log), the sidecar's
clean, ``seedstream up`` (lock, child logs), the local broker and the streaming job (Delta tables,
checkpoints, progress and checks logs). Tables and checkpoints may live under any Hadoop URI
(``hdfs://…``, ``s3a://…``), so :class:`TableLocations` works on strings; everything else is local.

:func:`write_durably` replaces a file atomically and durably (temporary file, fsync, rename, fsync
of the directory): a kill -9 at any moment leaves the old or the new content, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producer.errors import BadInputError
from producer.generation.shard import Shard

DEFAULT_DATA_DIR = Path(".seedstream")
"""The data dir when none is given: ``.seedstream/`` in the working directory (git-ignored)."""


class BatchManifest(BaseModel):
    """The producer's running summary (``producer/manifest.json``): the last interval published and
    the events so far, refreshed with every state save. Readers poll it; ``schemas/`` exports it."""

    model_config = ConfigDict(extra="forbid")

    last_batch_id: str | None = Field(description="The newest interval published (compact ISO), if any.")
    total_events: int = Field(ge=0, description="Events published by this shard of the dataset.")
    total_intervals: int = Field(ge=0, description="Intervals published by this shard of the dataset.")
    shard: str = Field(pattern=r"^\d+/\d+$", description="i/N (0-based); 0/1 when unsharded.")
    last_updated: AwareDatetime


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: temp file, fsync, rename, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def check_writable_dir(path: Path, flag: str = "--data-dir") -> None:
    """Refuse, before anything is written, a directory seedstream could not write into.

    ``path`` must be a writable directory, or not exist yet under a writable directory (it is
    created later, by whoever writes first). Nothing is created here.

    Raises:
        BadInputError: naming the flag, the path and the fix.
    """
    if path.exists() and not path.is_dir():
        raise BadInputError(f"{flag} {path} is a file, not a directory: pass a directory path")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise BadInputError(f"{flag} {path}: {existing} is a file, not a directory: pass a directory path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInputError(
            f"{flag} {path}: {existing} is not writable by this user: pick a directory you can write to"
        )


def data_dir_uri(data_dir: str | Path) -> str:
    """A local path made absolute, or a Hadoop URI (``hdfs://…``) unchanged."""
    text = str(data_dir)
    scheme = urlparse(text).scheme
    if scheme and len(scheme) > 1:
        return text.rstrip("/")
    return str(Path(text).resolve())


def local_path(uri: str) -> Path | None:
    """The local directory of a data-dir URI, or None for a remote one (``hdfs://…``)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


@dataclass(frozen=True)
class TableLocations:
    """Delta tables and checkpoints under a data dir given as a path or any Hadoop URI."""

    root: str

    def bronze(self, topic: str) -> str:
        """``D/delta/bronze/<topic>``."""
        return f"{self.root}/delta/bronze/{topic}"

    def silver(self, table: str) -> str:
        """``D/delta/silver/<table>``."""
        return f"{self.root}/delta/silver/{table}"

    def gold(self, table: str) -> str:
        """``D/delta/gold/<table>``."""
        return f"{self.root}/delta/gold/{table}"

    def checks(self, table: str = "interval_checks") -> str:
        """``D/delta/checks/<table>``."""
        return f"{self.root}/delta/checks/{table}"

    def checkpoint(self, name: str = "pipeline") -> str:
        """``D/checkpoints/<name>``."""
        return f"{self.root}/checkpoints/{name}"


@dataclass(frozen=True)
class DataDir:
    """The local files under one data dir."""

    root: Path

    @property
    def descriptor_file(self) -> Path:
        """``dataset.json``: the dataset descriptor, shared by every shard."""
        return self.root / "dataset.json"

    @property
    def producer_dir(self) -> Path:
        """``producer/``: per-shard state and manifest files."""
        return self.root / "producer"

    @property
    def logs_dir(self) -> Path:
        """``logs/``: every component's JSON-lines log and ``up``'s child outputs."""
        return self.root / "logs"

    @property
    def broker_dir(self) -> Path:
        """``kafka/``: the local broker's storage, configuration and logs."""
        return self.root / "kafka"

    @property
    def up_lock(self) -> Path:
        """``up.lock``: held by the one ``seedstream up`` running on this data dir."""
        return self.root / "up.lock"

    @property
    def streaming_progress_log(self) -> Path:
        """The streaming job's per-micro-batch progress (JSON lines)."""
        return self.logs_dir / "streaming-progress.jsonl"

    @property
    def checks_log(self) -> Path:
        """The streaming job's interval-check results (JSON lines)."""
        return self.logs_dir / "checks.jsonl"

    def child_output(self, name: str) -> Path:
        """Where ``seedstream up`` writes a child process's stdout and stderr."""
        return self.logs_dir / f"{name}.out"

    def tables(self) -> TableLocations:
        """The Delta tables and checkpoints under this (local) data dir."""
        return TableLocations(str(self.root.resolve()))

    def shard(self, shard: Shard) -> ShardFiles:
        """The files of one producer shard."""
        return ShardFiles(self.root, shard)


@dataclass(frozen=True)
class ShardFiles:
    """Where one producer shard keeps its files under the data dir."""

    data_dir: Path
    shard: Shard

    @property
    def producer_dir(self) -> Path:
        """``<data-dir>/producer``: state and manifest files."""
        return DataDir(self.data_dir).producer_dir

    @property
    def state_file(self) -> Path:
        """This shard's state file (``state.json``, ``state-1-of-3.json``)."""
        return self.producer_dir / f"state{self.shard.file_suffix}.json"

    @property
    def manifest_file(self) -> Path:
        """This shard's manifest (``manifest.json``, ``manifest-1-of-3.json``)."""
        return self.producer_dir / f"manifest{self.shard.file_suffix}.json"

    @property
    def descriptor_file(self) -> Path:
        """The dataset descriptor (shared by all shards)."""
        return DataDir(self.data_dir).descriptor_file

    @property
    def log_file(self) -> Path:
        """This shard's JSON-lines log."""
        return DataDir(self.data_dir).logs_dir / f"producer{self.shard.file_suffix}.jsonl"
