"""Emptying topics without deleting them: DeleteRecords up to each partition's end offset.

Topics, their configuration and running consumers survive (a consumer reading from the beginning
sees nothing old). Compacted topics refuse DeleteRecords, so their cleanup policy becomes
``compact,delete`` for the deletion and is restored afterwards (only the topic's own dynamic
settings are written back, so broker defaults stay defaults).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from producer.config import KafkaConfig
from producer.kafka.client import (
    AUTHENTICATION_FAILURES,
    FAILURES,
    admin_failure,
    client_options,
    describe_listener,
    quietly,
)

KAFKA_TIMEOUT = 30.0
DYNAMIC_TOPIC_CONFIG = 1
"""``config_source`` of a topic setting made with ``--alter`` / at creation (DescribeConfigs v1+)."""


async def delete_topic_records(kafka: KafkaConfig, topics: list[str]) -> dict[str, int]:
    """Truncate every partition of ``topics`` up to its end offset; returns records deleted per topic.

    Raises:
        KafkaAuthenticationError: when the broker refuses the credentials.
        SeedstreamError: when Kafka refuses or does not answer.
    """
    options = client_options(kafka)
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=int(KAFKA_TIMEOUT * 1000))
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
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
    except (*AUTHENTICATION_FAILURES, *FAILURES) as error:
        failed = (
            f"deleting the records of {', '.join(topics)} on {describe_listener(kafka)} failed: "
            f"{type(error).__name__}: {error}; check that the broker runs, then pause and clean again"
        )
        raise await admin_failure(kafka, error, failed) from None
    finally:
        await quietly(consumer.stop(), 10.0)
        await quietly(admin.close(), 10.0)


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
