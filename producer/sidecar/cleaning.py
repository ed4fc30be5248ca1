"""What ``POST /api/clean`` deletes: this shard's state and manifest files, and the topics' records.

Files: only regular files (or symlinks, unlinked themselves) whose resolved path lies inside the
resolved data dir are removed; anything else is reported as skipped and left alone. Kafka: each
partition of the scenario's topics is truncated with DeleteRecords up to its end offset, so topics,
their configuration and running consumers survive (a consumer reading from the beginning sees nothing
old). Compacted topics refuse DeleteRecords, so their cleanup policy becomes ``compact,delete`` for
the deletion and is restored afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from producer.engine.engine import Engine
from producer.errors import SeedstreamError
from producer.kafka.topics import topic_layouts

KAFKA_TIMEOUT = 30.0
DYNAMIC_TOPIC_CONFIG = 1
"""``config_source`` of a topic setting made with ``--alter`` / at creation (DescribeConfigs v1+)."""


@dataclass
class CleanReport:
    """What a clean deleted and what it refused to touch."""

    deleted_files: list[str] = field(default_factory=list)
    deleted_records: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

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


async def delete_topic_records(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Truncate every partition of ``topics`` up to its end offset; returns records deleted per topic.

    Raises:
        SeedstreamError: when Kafka refuses or does not answer.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(KAFKA_TIMEOUT * 1000))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await asyncio.wait_for(admin.start(), KAFKA_TIMEOUT)
        await asyncio.wait_for(consumer.start(), KAFKA_TIMEOUT)
        existing = set(await asyncio.wait_for(admin.list_topics(), KAFKA_TIMEOUT))
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in existing
            for partition in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        if not partitions:
            return {}
        begin = await asyncio.wait_for(consumer.beginning_offsets(partitions), KAFKA_TIMEOUT)
        end = await asyncio.wait_for(consumer.end_offsets(partitions), KAFKA_TIMEOUT)
        doomed = {tp: RecordsToDelete(end[tp]) for tp in partitions if end[tp] > begin[tp]}
        counts = {topic: 0 for topic in topics if topic in existing}
        for tp in doomed:
            counts[tp.topic] += end[tp] - begin[tp]
        if doomed:
            restore = await _allow_deletion(admin, sorted({tp.topic for tp in doomed}))
            try:
                await asyncio.wait_for(admin.delete_records(doomed), KAFKA_TIMEOUT)
            finally:
                if restore:
                    await asyncio.wait_for(admin.alter_configs(restore), KAFKA_TIMEOUT)
        return counts
    except (KafkaError, TimeoutError, OSError) as error:
        raise SeedstreamError(
            f"deleting the records of {', '.join(topics)} on {bootstrap} failed: {type(error).__name__}: "
            f"{error}; check that the broker runs, then pause and clean again"
        ) from None
    finally:
        await consumer.stop()
        await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await asyncio.wait_for(consumer._client.force_metadata_update(), KAFKA_TIMEOUT)  # noqa: SLF001
    return consumer.partitions_for_topic(topic) or set()


async def _allow_deletion(admin: AIOKafkaAdminClient, topics: list[str]) -> list[ConfigResource]:
    """Switch compact-only topics to ``compact,delete``; returns the resources that restore them."""
    responses = await asyncio.wait_for(
        admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]),
        KAFKA_TIMEOUT,
    )
    widened: list[ConfigResource] = []
    restore: list[ConfigResource] = []
    for response in responses:
        for _code, _message, _type, topic, entries, *_ in response.resources:
            dynamic = {entry[0]: entry[1] for entry in entries if entry[3] == DYNAMIC_TOPIC_CONFIG}
            policy = {entry[0]: entry[1] for entry in entries}.get("cleanup.policy", "delete")
            if "delete" in str(policy).split(","):
                continue
            widened.append(
                ConfigResource(
                    ConfigResourceType.TOPIC, topic, {**dynamic, "cleanup.policy": "compact,delete"}
                )
            )
            restore.append(ConfigResource(ConfigResourceType.TOPIC, topic, dynamic))
    if widened:
        await asyncio.wait_for(admin.alter_configs(widened), KAFKA_TIMEOUT)
    return restore


async def clean(engine: Engine) -> CleanReport:
    """Delete the generated data of a paused engine and restart its progress from the baseline.

    Raises:
        SeedstreamError: when Kafka fails (files are then left alone, so a retry can finish the job).
    """
    report = CleanReport()
    topics = [layout.name for layout in topic_layouts(engine.scenario.topics(), engine.config.kafka)]
    report.deleted_records = await delete_topic_records(engine.config.kafka.bootstrap_servers, topics)
    remove_files(generated_files(engine), engine.paths.data_dir, report)
    engine.reset_progress()
    engine.log.warning(
        "lifecycle",
        "cleaned",
        deleted_files=report.deleted_files,
        deleted_records=report.deleted_records,
        skipped=[path for path, _ in report.skipped],
    )
    return report
