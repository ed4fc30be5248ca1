"""Topic administration: create a scenario's topics when they are absent.

Entity and event topics get ``kafka.partitions`` partitions; the ground-truth topic gets one, so
its records stay in publishing order and the latest one is cheap to find; so does the fault-label
topic (created only when faults are injected). Entity topics are
compacted (the latest record per key is the entity). Replication comes from ``kafka.replication_factor``.
Creating returns once every new partition's leader answers, so the first reads and writes do not
meet ``NotLeaderForPartitionError``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producer.config import KafkaConfig
from producer.errors import SeedstreamError
from producer.generation.scenarios.base import TopicSpec
from producer.kafka.client import (
    AUTHENTICATION_FAILURES,
    FAILURES,
    admin_failure,
    client_options,
    describe_listener,
    quietly,
)

TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicLayout:
    """How one topic is created."""

    name: str
    partitions: int
    replication_factor: int
    compacted: bool

    def new_topic(self) -> NewTopic:
        """The admin-client request for this topic."""
        configs = {"cleanup.policy": "compact"} if self.compacted else {}
        return NewTopic(self.name, self.partitions, self.replication_factor, topic_configs=configs)


def topic_layouts(specs: tuple[TopicSpec, ...], kafka: KafkaConfig) -> list[TopicLayout]:
    """The layout of each of a scenario's topics under ``kafka``."""
    return [
        TopicLayout(
            name=spec.full_name(kafka.topic_prefix),
            partitions=1 if spec.role in ("ground_truth", "labels") else kafka.partitions,
            replication_factor=kafka.replication_factor,
            compacted=spec.compacted,
        )
        for spec in specs
    ]


async def ensure_topics(layouts: list[TopicLayout], kafka: KafkaConfig, timeout: float = 30.0) -> list[str]:
    """Create the topics of ``layouts`` that do not exist yet on ``kafka``; returns the names created.

    Raises:
        KafkaAuthenticationError: when the broker refuses the credentials.
        SeedstreamError: when the broker refuses a topic (e.g. replication above the broker count).
    """
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout)
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout=timeout))
        missing = [layout for layout in layouts if layout.name not in existing]
        if not missing:
            return []
        response = await asyncio.wait_for(
            admin.create_topics([layout.new_topic() for layout in missing], timeout_ms=int(timeout * 1000)),
            timeout=timeout,
        )
        _raise_refusals(response.topic_errors)
    except (*AUTHENTICATION_FAILURES, *FAILURES) as error:
        failed = f"cannot create topics on {describe_listener(kafka)}: {error!r}; check that the broker runs"
        raise await admin_failure(kafka, error, failed) from None
    finally:
        await quietly(admin.close(), 5.0)
    await _wait_until_served(missing, kafka, timeout)
    return [layout.name for layout in missing]


def _raise_refusals(topic_errors: list[tuple[Any, ...]]) -> None:
    """Raise for the first topic the broker refused to create (one that already exists is fine)."""
    for topic, code, *rest in topic_errors:
        if code not in (0, TOPIC_ALREADY_EXISTS):
            detail = rest[0] if rest and rest[0] else f"error code {code}"
            raise SeedstreamError(
                f"creating topic {topic} failed: {detail}; check kafka.partitions and "
                "kafka.replication_factor against the cluster"
            )


async def _wait_until_served(layouts: list[TopicLayout], kafka: KafkaConfig, timeout: float) -> None:
    """Wait until the leader of every partition of the just-created ``layouts`` answers, at most ``timeout``.

    Leaders are elected just after CreateTopics answers; a consumer that is assigned a partition
    before then logs ``NotLeaderForPartitionError`` as an error (and retries). Asking for the end
    offsets retries the same condition silently, so once it answers every partition is served.
    Past the timeout the clients' own retries take over, so running out of time is not an error.
    """
    partitions = [
        TopicPartition(layout.name, partition) for layout in layouts for partition in range(layout.partitions)
    ]
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), timeout=timeout)
        await asyncio.wait_for(consumer.end_offsets(partitions), timeout=timeout)
    except FAILURES:
        return
    finally:
        await quietly(consumer.stop(), 5.0)
