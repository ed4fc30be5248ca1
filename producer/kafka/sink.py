"""The Kafka sink: an idempotent ``acks=all`` aiokafka producer, transactional when asked.

Records go out as whole record batches built here (``create_batch``/``send_batch``), partitioned
with Kafka's own murmur2 key partitioner (cached per key), which is several times faster than one
``send()`` per record and keeps keyed ordering. Every send is awaited until the broker acknowledged
it, so callers can rely on "acknowledged before the next step". Failures surface as
:class:`SinkError`; the engine decides whether to retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from producer.config import KafkaConfig
from producer.generation.scenarios.base import Records
from producer.kafka.client import (
    FAILURES,
    client_options,
    pace_metadata_updates,
    quietly,
    until_kafka_answers,
)

__all__ = ["FAILURES", "BATCH_BYTES", "Headers", "KafkaSink", "Outgoing", "SinkError"]

Headers = list[tuple[str, bytes]]

BATCH_BYTES = 512 * 1024
REQUEST_TIMEOUT_MS = 15_000
OPERATION_TIMEOUT = 60.0
STALL_SECONDS = 3.0


class LatencyObserver(Protocol):
    """Where send latencies go (the engine's histogram)."""

    def observe(self, seconds: float) -> None:
        """Record one send's latency in seconds."""


class SinkStats(Protocol):
    """What the sink reports to: connection state, errors, stalls, counts and latencies.

    The engine's stats satisfy it; the Kafka layer never imports the engine.
    """

    connected: bool

    @property
    def send_latency(self) -> LatencyObserver:
        """The latency histogram."""

    def error(self, message: str) -> None:
        """Record a failed send (and the disconnection it implies)."""

    def stalled(self, message: str) -> None:
        """Record a send the broker has not acknowledged for a while."""

    def count(self, topic: str, records: int, size: int, batches: int = 1) -> None:
        """Count records and bytes acknowledged on ``topic``."""


class SinkLog(Protocol):
    """The structured log the sink writes to (the engine's log satisfies it)."""

    def info(self, component: str, message: str, **metadata: Any) -> object:
        """Log at INFO."""

    def warning(self, component: str, message: str, **metadata: Any) -> object:
        """Log at WARNING."""


class SinkError(Exception):
    """A send, commit or connect that failed; the message says what and why."""


@dataclass(frozen=True)
class Outgoing:
    """Records for one topic with their headers: one shared list or one list per record."""

    topic: str
    records: Records
    headers: Headers | Sequence[Headers]
    per_record_headers: bool = False

    def size(self) -> int:
        """Bytes of keys and values."""
        return sum(map(len, self.records.keys)) + sum(map(len, self.records.values))


class KafkaSink:
    """One aiokafka producer; ``transactional_id`` makes it transactional (and fences older ones)."""

    def __init__(
        self,
        kafka: KafkaConfig,
        stats: SinkStats,
        log: SinkLog,
        transactional_id: str | None = None,
        client_id: str = "seedstream",
        linger_ms: int = 5,
    ) -> None:
        self.kafka = kafka
        self.stats = stats
        self.log = log
        self.transactional_id = transactional_id
        self.client_id = client_id
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self._partition_cache: dict[tuple[str, bytes], int] = {}

    @property
    def started(self) -> bool:
        """Whether a producer is connected."""
        return self._producer is not None

    async def connect(self, timeout: float) -> None:
        """Start the producer, retrying until ``timeout`` seconds have passed.

        Raises:
            KafkaAuthenticationError: at once when the broker refuses the credentials.
            KafkaUnavailableError: naming the listener and the fix when no broker answered in time.
        """

        def failed(error: BaseException) -> None:
            self.stats.error(f"connect: {error!r}")

        await until_kafka_answers(self.kafka, timeout, self._start, failed)

    async def _start(self, timeout: float) -> None:
        producer = AIOKafkaProducer(
            **client_options(self.kafka),
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            transactional_id=self.transactional_id,
            linger_ms=self.linger_ms,
            max_batch_size=BATCH_BYTES,
            max_request_size=4 * BATCH_BYTES,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            retry_backoff_ms=200,
            metadata_max_age_ms=30_000,
        )
        pace_metadata_updates(producer.client)
        try:
            await asyncio.wait_for(producer.start(), timeout=timeout)
        except BaseException:
            await quietly(producer.stop(), 5.0)
            raise
        self._producer = producer
        self.stats.connected = True

    async def reset(self) -> None:
        """Drop the producer after a failure (aborting an open transaction when possible)."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if self.transactional_id is not None:
            await quietly(producer.abort_transaction(), 5.0)
        await quietly(producer.stop(), 10.0)

    async def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await quietly(producer.stop(), timeout)
        self.stats.connected = False

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise SinkError("the Kafka producer is not connected")
        return self._producer

    async def send(self, outgoing: Outgoing) -> None:
        """Send every record of ``outgoing`` and wait until the broker acknowledged all of them."""
        await self._guard(self._send(outgoing), f"send to {outgoing.topic}")

    async def transaction(self, batches: Sequence[Outgoing]) -> None:
        """Send ``batches`` in one transaction, each acknowledged before the next starts, then commit."""
        producer = self._require()

        async def run() -> None:
            await producer.begin_transaction()
            try:
                for outgoing in batches:
                    await self._send(outgoing)
                await producer.commit_transaction()
            except BaseException:
                await quietly(producer.abort_transaction(), 5.0)
                raise

        await self._guard(run(), "transaction")

    async def _guard(self, operation: Any, what: str) -> None:
        """Await ``operation``; past :data:`STALL_SECONDS` mark the sink disconnected (aiokafka keeps
        retrying inside), past :data:`OPERATION_TIMEOUT` give up with :class:`SinkError`."""
        task = asyncio.ensure_future(operation)
        try:
            done, _ = await asyncio.wait({task}, timeout=STALL_SECONDS)
            if not done:
                self.stats.stalled(f"{what}: no acknowledgement from the broker for {STALL_SECONDS:.0f} s")
                self.log.warning(
                    "kafka", "waiting for the broker", operation=what, after_seconds=STALL_SECONDS
                )
                await asyncio.wait_for(task, timeout=OPERATION_TIMEOUT - STALL_SECONDS)
                self.log.info("kafka", "broker answered again", operation=what)
            task.result()
        except FAILURES as error:
            message = f"{what} failed: {type(error).__name__}: {error}"
            self.stats.error(message)
            raise SinkError(message) from error
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self.stats.connected = True

    async def _send(self, outgoing: Outgoing) -> None:
        producer = self._require()
        topic = outgoing.topic
        records = outgoing.records
        if not len(records):
            return
        partitions = sorted(await producer.partitions_for(topic))
        builders: dict[int, Any] = {}
        futures: list[asyncio.Future[Any]] = []
        started = time.monotonic()
        shared = None if outgoing.per_record_headers else outgoing.headers
        for index, (key, value) in enumerate(zip(records.keys, records.values, strict=True)):
            partition = self._partition(topic, key, partitions)
            headers = shared if shared is not None else outgoing.headers[index]
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[partition] = producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise SinkError(f"a record of {len(value)} bytes does not fit a {BATCH_BYTES}-byte batch")
        for partition, builder in builders.items():
            if builder.record_count():
                futures.append(await producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*futures)
        self.stats.send_latency.observe(time.monotonic() - started)
        self.stats.count(topic, len(records), outgoing.size())

    def _partition(self, topic: str, key: bytes, partitions: list[int]) -> int:
        cache_key = (topic, key)
        partition = self._partition_cache.get(cache_key)
        if partition is None:
            partition = int(self._partitioner(key, partitions, partitions))
            if len(self._partition_cache) > 1_000_000:
                self._partition_cache.clear()
            self._partition_cache[cache_key] = partition
        return partition
