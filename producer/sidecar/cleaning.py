"""What ``POST /api/clean`` deletes: this shard's state and manifest files, and the topics' records.

Files: only regular files (or symlinks, unlinked themselves) whose resolved path lies inside the
resolved data dir are removed; anything else is reported as skipped and left alone. Kafka: each
partition of the scenario's topics is truncated up to its end offset by
:func:`producer.kafka.truncate.delete_topic_records`, so topics, their configuration and running
consumers survive. Then one clean marker (:mod:`producer.generation.control`) is published on the
ground-truth topic, naming the newest interval that may have lost records, so a pipeline reading the
topics reports that range as cleaned instead of missing data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from producer.engine.engine import Engine
from producer.errors import KafkaUnavailableError, SeedstreamError
from producer.generation.clock import interval_id
from producer.generation.fault_labels import label_topic
from producer.kafka.topics import topic_layouts
from producer.kafka.truncate import delete_topic_records


@dataclass
class CleanReport:
    """What a clean deleted and what it refused to touch."""

    deleted_files: list[str] = field(default_factory=list)
    deleted_records: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cleaned_through: str | None = None

    @property
    def deleted_count(self) -> int:
        """Files removed plus Kafka records deleted."""
        return len(self.deleted_files) + sum(self.deleted_records.values())

    @property
    def removed(self) -> list[str]:
        """The removed files and the emptied topics (``kafka:<topic>``), for ``auto_reinit.missing_files``."""
        return self.deleted_files + [
            f"kafka:{topic}" for topic, count in self.deleted_records.items() if count
        ]


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies inside the resolved ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def generated_files(engine: Engine) -> list[Path]:
    """This shard's generated files: state, manifest and leftover temporary files of both."""
    paths = engine.paths
    candidates = [paths.state_file, paths.manifest_file]
    directory = paths.producer_dir
    if directory.is_dir():
        for name in (paths.state_file.name, paths.manifest_file.name):
            candidates.extend(sorted(directory.glob(f".{name}.*.tmp")))
    return candidates


def remove_files(candidates: list[Path], data_dir: Path, report: CleanReport) -> None:
    """Remove each candidate that is safely inside ``data_dir``; record the rest as skipped."""
    root = data_dir.resolve()
    for path in candidates:
        if not path.exists() and not path.is_symlink():
            continue
        if not path.parent.resolve().is_relative_to(root):
            report.skipped.append((str(path), f"its directory resolves outside the data dir {root}"))
            continue
        if path.is_symlink():
            if not inside(path, root):
                report.skipped.append(
                    (str(path), f"a symlink to {path.resolve()}, outside the data dir {root}")
                )
                continue
        elif not path.is_file():
            report.skipped.append((str(path), "not a regular file"))
            continue
        path.unlink()
        report.deleted_files.append(str(path))


MARKER_TIMEOUT = 30.0


async def publish_clean_marker(engine: Engine) -> str | None:
    """Publish the clean marker; returns the cleaned range's newest interval id (None before the
    engine connected to Kafka: nothing of this run was published then).

    Raises:
        SeedstreamError: when Kafka does not acknowledge the marker in time.
    """
    publisher = engine.publisher
    if publisher is None:
        return None
    through = engine.published_through()
    marker = publisher.factory.clean_marker(through, datetime.now(UTC))
    try:
        await asyncio.wait_for(publisher.deliver([marker]), MARKER_TIMEOUT)
    except TimeoutError:
        raise SeedstreamError(
            f"the records were deleted but Kafka did not acknowledge the clean marker within "
            f"{MARKER_TIMEOUT:.0f} s: check that the broker runs, then clean again"
        ) from None
    return interval_id(through, publisher.length)


async def clean(engine: Engine) -> CleanReport:
    """Delete the generated data of a paused engine and restart its progress from the baseline.

    Raises:
        SeedstreamError: when Kafka fails (files are then left alone, so a retry can finish the job).
    """
    publisher = engine.publisher
    if publisher is None:
        return await _clean(engine)
    # A pause takes effect between intervals: wait for the interval being published, if any.
    try:
        await asyncio.wait_for(publisher.publishing.acquire(), MARKER_TIMEOUT)
    except TimeoutError:
        raise KafkaUnavailableError(
            f"the interval being published was not acknowledged within {MARKER_TIMEOUT:.0f} s: "
            "check that the broker runs, then clean again"
        ) from None
    try:
        return await _clean(engine)
    finally:
        publisher.publishing.release()


async def _clean(engine: Engine) -> CleanReport:
    report = CleanReport()
    specs = (*engine.scenario.topics(), label_topic(engine.scenario.name))  # labels of earlier runs too
    topics = [layout.name for layout in topic_layouts(specs, engine.config.kafka)]
    report.deleted_records = await delete_topic_records(engine.config.kafka, topics)
    report.cleaned_through = await publish_clean_marker(engine)
    remove_files(generated_files(engine), engine.paths.data_dir, report)
    engine.reset_progress()
    engine.log.warning(
        "lifecycle",
        "cleaned",
        deleted_files=report.deleted_files,
        deleted_records=report.deleted_records,
        cleaned_through=report.cleaned_through,
        skipped=[path for path, _ in report.skipped],
    )
    return report
