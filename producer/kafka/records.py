"""Turning a scenario's output into Kafka records: topics, headers, and what Kafka already holds.

Headers carry the schema name and version, batch_id, seed and shard. An entity's
batch_id is the interval containing its creation instant. A clean leaves a control record on the
ground-truth topic (:meth:`RecordFactory.clean_marker`). :func:`last_committed_interval` reads the
tail of the ground-truth topic (``read_committed``) to find the newest interval this shard of this
dataset has committed: the resume point that survives a crash between a commit and the state write.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from producer.config import KafkaConfig
from producer.generation.clock import from_micros, interval_id, parse_interval_id, to_micros
from producer.generation.control import CLEAN, CLEAN_MARKER_KEY, CONTROL_HEADER, clean_marker_value
from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import Records, Scenario, Topics, TopicSpec
from producer.generation.shard import Shard
from producer.kafka.client import client_options
from producer.kafka.sink import Headers, Outgoing


class RecordFactory:
    """Builds :class:`Outgoing` batches with this dataset's and shard's headers."""

    def __init__(self, scenario: Scenario, dataset: Dataset, shard: Shard, prefix: str) -> None:
        self.scenario = scenario
        self.dataset = dataset
        self.shard = shard
        self.topics = Topics.of(scenario, prefix)
        self.length = scenario.interval_length(dataset.config)
        self._seed = str(dataset.seed).encode()
        self._shard = str(shard).encode()

    def headers(self, spec: TopicSpec, batch: str) -> Headers:
        """The headers of one record of ``spec`` in interval ``batch``."""
        return [
            ("schema", spec.schema_name.encode()),
            ("schema_version", str(spec.schema_version).encode()),
            ("batch_id", batch.encode()),
            ("seed", self._seed),
            ("shard", self._shard),
        ]

    def entities(self, start: datetime, end: datetime) -> list[Outgoing]:
        """The shard's entity records (creations and changes) in ``[start, end)``, one batch per entity
        topic in dependency order."""
        return [
            self.entity_outgoing(records)
            for records in self.scenario.entities(self.dataset, start, end, self.shard)
        ]

    def entity_outgoing(self, records: Records) -> Outgoing:
        """Entity records with per-record headers (batch_id of the creation interval)."""
        spec = records.topic
        cache: dict[int, Headers] = {}
        step = int(self.length.total_seconds() * 1_000_000)
        headers: list[Headers] = []
        for micros in (records.timestamps_us - records.timestamps_us % step).tolist():
            if micros not in cache:
                cache[micros] = self.headers(spec, interval_id(from_micros(micros), self.length))
            headers.append(cache[micros])
        return Outgoing(self.topics.name(spec), records, headers, per_record_headers=True)

    def events(self, records: Records, batch: str) -> Outgoing:
        """An interval's events (shared headers)."""
        return Outgoing(self.topics.name(records.topic), records, self.headers(records.topic, batch))

    def ground_truth(self, records: Records, batch: str, partial: bool = False) -> Outgoing:
        """An interval's ground-truth record; ``partial`` adds the header ``partial: true`` (a record
        covering only what paced delivery sent of an interval it did not finish)."""
        headers = self.headers(records.topic, batch)
        if partial:
            headers.append(("partial", b"true"))
        return Outgoing(self.topics.name(records.topic), records, headers)

    def clean_marker(self, cleaned_through: datetime, cleaned_at: datetime) -> Outgoing:
        """The clean marker (on the ground-truth topic): intervals through ``cleaned_through`` may
        have lost records to a clean at ``cleaned_at``. Headers: the control kind and the shard only."""
        spec = self.topics.ground_truth
        value = clean_marker_value(interval_id(cleaned_through, self.length), cleaned_at, str(self.shard))
        stamp = np.array([to_micros(cleaned_at)], dtype=np.int64)
        records = Records(spec, [CLEAN_MARKER_KEY], [value], stamp)
        headers: Headers = [(CONTROL_HEADER, CLEAN.encode()), ("shard", self._shard)]
        return Outgoing(self.topics.name(spec), records, headers)


def subset(records: Records, indices: np.ndarray) -> Records:
    """The records at ``indices`` (in that order)."""
    picked = indices.tolist()
    return Records(
        records.topic,
        [records.keys[i] for i in picked],
        [records.values[i] for i in picked],
        records.timestamps_us[indices],
    )


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partition ids of ``topic`` from fresh cluster metadata (empty when it does not exist)."""
    cluster = await consumer._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())


async def last_committed_interval(
    kafka: KafkaConfig, topic: str, dataset: Dataset, shard: Shard, timeout: float = 30.0
) -> datetime | None:
    """The newest interval_start whose ground truth this shard of ``dataset`` committed, or None.

    Reads the ground-truth topic backwards in growing windows until a match or its beginning.
    """
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
    )
    deadline = time.monotonic() + timeout
    await asyncio.wait_for(consumer.start(), timeout=timeout)
    try:
        partitions = await asyncio.wait_for(topic_partitions(consumer, topic), timeout=timeout)
        if not partitions:
            return None
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        begin = await consumer.beginning_offsets(assigned)
        end = await consumer.end_offsets(assigned)
        window = 256 * shard.count
        seed, wanted = str(dataset.seed).encode(), str(shard).encode()
        while True:
            newest: datetime | None = None
            exhausted = True
            for tp in assigned:
                start = max(begin[tp], end[tp] - window)
                exhausted &= start == begin[tp]
                if end[tp] <= start:
                    continue
                consumer.seek(tp, start)
                while await consumer.position(tp) < end[tp]:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"reading {topic} took longer than {timeout:.0f} s")
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    for message in batch.get(tp, []):
                        headers = dict(message.headers or ())
                        if CONTROL_HEADER in headers:
                            continue  # a clean marker: no interval of this shard
                        if headers.get("seed") == seed and headers.get("shard") == wanted:
                            interval = parse_interval_id(headers["batch_id"].decode())
                            newest = interval if newest is None else max(newest, interval)
            if newest is not None or exhausted:
                return newest
            window *= 8
    finally:
        await consumer.stop()
