"""Topic creation on a real broker: created topics are served at once, so a fresh start logs no errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from producer.config import KafkaConfig
from producer.kafka.topics import TopicLayout, ensure_topics

pytestmark = pytest.mark.kafka


async def test_created_topics_are_served_before_ensure_topics_returns(
    kafka_bootstrap: str, unique_name: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    kafka = KafkaConfig(bootstrap_servers=kafka_bootstrap)
    layouts = [
        TopicLayout(unique_name("events"), partitions=3, replication_factor=1, compacted=False),
        TopicLayout(unique_name("entities"), partitions=3, replication_factor=1, compacted=True),
        TopicLayout(unique_name("truth"), partitions=1, replication_factor=1, compacted=False),
    ]
    caplog.set_level(logging.INFO, logger="aiokafka")
    created = await ensure_topics(layouts, kafka)
    assert created == [layout.name for layout in layouts]

    # what the producer does next on a fresh start: assign the new partitions and read positions
    partitions = [TopicPartition(layout.name, n) for layout in layouts for n in range(layout.partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), timeout=30)
    try:
        consumer.assign(partitions)
        for partition in partitions:
            assert await asyncio.wait_for(consumer.position(partition), timeout=30) == 0
    finally:
        await consumer.stop()
    alarming = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert not [message for message in alarming if "NotLeader" in message or "LeaderNotAvailable" in message]
    assert await ensure_topics(layouts, kafka) == []  # already there: nothing created, nothing waited for


async def test_end_offsets_are_what_a_read_committed_query_reaches(
    kafka_bootstrap: str, topic_factory: Callable[..., Awaitable[str]]
) -> None:
    """The Kafka-lag gauge and the freshness bench compare a query's end offsets with these: a
    committed transaction counts through its marker, an open one not at all."""
    from aiokafka import AIOKafkaProducer

    from streaming.observability import end_offsets

    topic = await topic_factory("ends", partitions=2)
    committed = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"{topic}-a")
    pending = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"{topic}-b")
    await asyncio.wait_for(committed.start(), timeout=30)
    await asyncio.wait_for(pending.start(), timeout=30)
    try:
        async with committed.transaction():
            for _ in range(3):
                await committed.send_and_wait(topic, b"x", partition=0)
        await pending.begin_transaction()
        await pending.send_and_wait(topic, b"y", partition=1)  # open: not visible to read_committed
        ends = await end_offsets(KafkaConfig(bootstrap_servers=kafka_bootstrap), {(topic, 0), (topic, 1)})
        assert ends == {(topic, 0): 4, (topic, 1): 0}  # 3 records + the commit marker; the open one's LSO
        await pending.abort_transaction()
    finally:
        await committed.stop()
        await pending.stop()
