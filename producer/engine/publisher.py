"""Publishing one shard's intervals into Kafka, and recording progress only once Kafka acknowledged.

:class:`IntervalPublisher` owns the Kafka side of the engine: the sink (transactional or plain), the
dataset's topics, sending with retry, one transaction per interval, and the durable resume point.
Every send is retried until acknowledged (:meth:`IntervalPublisher.deliver`); progress
(``next_interval``, ``entities_through``) is written only after the acknowledgement, so a crash at
any moment resumes at the first interval Kafka does not hold. The run modes
(:mod:`producer.engine.modes`) and the sidecar's re-initialisation after a clean publish through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from producer.config import SeedstreamConfig
from producer.engine.lifecycle import Lifecycle
from producer.engine.logs import EventLog
from producer.engine.retry import MAX_BACKOFF_SECONDS, RETRIED, StopRequested
from producer.engine.state import ProducerState, StateStore
from producer.engine.stats import EngineStats
from producer.generation.clock import align_down, interval_count, interval_id
from producer.generation.fault_labels import fault_kinds, label_topic
from producer.generation.faults import faulted_interval
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.kafka.records import RecordFactory, last_committed_interval
from producer.kafka.sink import KafkaSink, Outgoing
from producer.kafka.topics import ensure_topics, topic_layouts

RECONNECT_TIMEOUT = 10.0


class IntervalPublisher:
    """Publishes the intervals of one dataset shard and persists the resume point after each ack.

    ``state`` is persisted through ``store``; ``lock`` guards it against the control calls that run
    on other threads (pause, resume, reset).
    """

    def __init__(
        self,
        config: SeedstreamConfig,
        factory: RecordFactory,
        state: ProducerState,
        store: StateStore,
        lock: threading.RLock,
        lifecycle: Lifecycle,
        stats: EngineStats,
        log: EventLog,
        connect_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.factory = factory
        self.state = state
        self.store = store
        self.lock = lock
        self.lifecycle = lifecycle
        self.stats = stats
        self.log = log
        self.connect_timeout = connect_timeout
        self.length = factory.length
        self._sink: KafkaSink | None = None
        self.publishing = asyncio.Lock()
        """Held while an interval is published: the sidecar's clean waits for it (its deletion and
        marker must not interleave with an interval's transaction)."""

    # -- the sink and the topics ------------------------------------------------------------------

    @property
    def sink(self) -> KafkaSink:
        """The current Kafka sink."""
        assert self._sink is not None, "the publisher is not connected"
        return self._sink

    @property
    def transactional(self) -> bool:
        """Whether the current sink is transactional."""
        return self._sink is not None and self._sink.transactional_id is not None

    async def use_sink(self, transactional: bool, timeout: float | None = None) -> None:
        """Connect a transactional or plain sink (replacing the current one if it is the other kind).

        Raises:
            KafkaUnavailableError: when no broker answered within ``timeout`` (default: connect_timeout).
        """
        if self._sink is not None and self.transactional == transactional:
            return
        if self._sink is not None:
            await self._sink.close()
        factory = self.factory
        transactional_id = (
            f"seedstream.{self.config.kafka.topic_prefix}{factory.scenario.name}."
            f"{factory.shard.index}-of-{factory.shard.count}"
            if transactional
            else None
        )
        self._sink = KafkaSink(self.config.kafka, self.stats, self.log, transactional_id)
        await self._sink.connect(self.connect_timeout if timeout is None else timeout)
        self.log.info(
            "kafka", "connected", bootstrap=self.config.kafka.bootstrap_servers, transactional=transactional
        )

    async def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the sink, if any."""
        if self._sink is not None:
            await self._sink.close(timeout=timeout)

    async def ensure_topics(self, labels: bool = False) -> None:
        """Create the dataset's topics when absent, with the fault-label topic when ``labels`` or when
        any fault setting of the dataset (configured or changed since) is on."""
        scenario = self.factory.scenario
        specs = scenario.topics()
        if labels or any(faults.enabled for faults in self.factory.dataset.all_faults()):
            specs = (*specs, label_topic(scenario.name))
        created = await ensure_topics(topic_layouts(specs, self.config.kafka), self.config.kafka)
        if created:
            self.log.info("kafka", "created topics", topics=created)

    async def last_committed(self) -> datetime | None:
        """The newest interval whose ground truth this shard committed to Kafka."""
        factory = self.factory
        return await last_committed_interval(
            self.config.kafka,
            factory.topics.name(factory.topics.ground_truth),
            factory.dataset,
            factory.shard,
        )

    # -- sending ------------------------------------------------------------------------------------

    async def deliver(self, batches: Sequence[Outgoing], committed_check: datetime | None = None) -> bool:
        """Send ``batches`` until acknowledged: one transaction with a transactional sink, else in order.

        Returns False when the retry found the interval ``committed_check`` already committed (see
        :meth:`until_sent`).
        """

        async def send() -> None:
            sink = self.sink
            if sink.transactional_id is not None:
                await sink.transaction(batches)
            else:
                for outgoing in batches:
                    await sink.send(outgoing)

        return await self.until_sent(send, committed_check)

    async def until_sent(
        self, operation: Callable[[], Awaitable[None]], committed_check: datetime | None = None
    ) -> bool:
        """Run ``operation`` until it succeeds, reconnecting with backoff; False if Kafka already had it.

        Only transient Kafka failures (:data:`producer.engine.retry.RETRIED`) are retried, forever,
        each one logged, counted, dropping the producer (aborting its open transaction) and waiting
        before the next try; anything else propagates. With ``committed_check``, each retry first
        asks Kafka whether that interval's ground truth was committed after all (a commit whose
        acknowledgement was lost), and then skips it.

        Raises:
            StopRequested: when a stop arrives while retrying.
        """
        delay, attempt = 0.5, 0
        while True:
            if attempt and self.lifecycle.stopping:
                raise StopRequested
            sink = self.sink
            try:
                if not sink.started:
                    await sink.connect(timeout=RECONNECT_TIMEOUT)
                if attempt and committed_check is not None:
                    newest = await self.last_committed()
                    if newest is not None and newest >= committed_check:
                        self.log.info(
                            "kafka", "interval was committed before the failure", interval=committed_check
                        )
                        return False
                await operation()
                if attempt:
                    self.log.info("kafka", "reconnected", attempts=attempt)
                self.stats.connected = True
                return True
            except RETRIED as error:
                attempt += 1
                self.stats.error(str(error))
                self.stats.reconnects += 1
                self.log.warning(
                    "kafka", "send failed; retrying", error=str(error), attempt=attempt, backoff=delay
                )
                await sink.reset()
                await self.lifecycle.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    # -- intervals ----------------------------------------------------------------------------------

    def interval_output(self, interval_start: datetime) -> IntervalOutput:
        """The events (with the configured faults), fault labels and ground truth of the interval
        starting at ``interval_start``."""
        factory = self.factory
        return faulted_interval(factory.scenario, factory.dataset, interval_start, factory.shard)

    def closing(self, output: IntervalOutput) -> list[Outgoing]:
        """What closes an interval's publication: its fault labels (if any), then its ground truth."""
        factory = self.factory
        labels = [] if output.labels is None else [factory.events(output.labels, output.interval_id)]
        return [*labels, factory.ground_truth(output.ground_truth, output.interval_id)]

    def entity_records(self, start: datetime, end: datetime) -> tuple[Records, ...]:
        """The shard's entity records in ``[start, end)``, one per entity topic."""
        factory = self.factory
        return factory.scenario.entities(factory.dataset, start, end, factory.shard)

    async def publish_older_entities(self, interval_start: datetime) -> dict[str, int]:
        """Publish the entity records in ``[entities_through, interval_start)`` (the baseline, or
        those of skipped intervals) and record them; returns how many were sent per topic.

        Every entity an interval's events refer to is so acknowledged before that interval starts.
        """
        through = self.state.entities_through
        assert through is not None
        if through >= interval_start:
            return {}
        outgoing = self.factory.entities(through, interval_start)
        await self.deliver(outgoing)
        self.record_entities(interval_start)
        sent = {batch.topic: len(batch.records) for batch in outgoing}
        self.log.info(
            "engine",
            "entities published",
            count=sum(sent.values()),
            created_from=through,
            created_to=interval_start,
        )
        return sent

    async def publish_interval(self, interval_start: datetime) -> IntervalOutput:
        """Publish one interval, after its older entities: its new entities, its events, its fault
        labels and its ground truth in one transaction (in order with a plain sink); then record it."""
        async with self.publishing:
            return await self._publish_interval(interval_start)

    async def _publish_interval(self, interval_start: datetime) -> IntervalOutput:
        await self.publish_older_entities(interval_start)
        factory = self.factory
        output = self.interval_output(interval_start)
        entities = factory.entities(interval_start, interval_start + self.length)
        batches = [
            *entities,
            *(factory.events(records, output.interval_id) for records in output.events),
            *self.closing(output),
        ]
        await self.deliver(batches, committed_check=interval_start)
        self.record_interval(interval_start, output.event_count, output.labels)
        self.log.info(
            "engine",
            "interval published",
            batch_id=output.interval_id,
            events=output.event_count,
            entities=sum(len(batch.records) for batch in entities),
        )
        return output

    # -- durable progress -----------------------------------------------------------------------------

    @property
    def next_interval(self) -> datetime:
        """The first interval not yet acknowledged (the resume point)."""
        assert self.state.next_interval is not None
        return self.state.next_interval

    def record_entities(self, through: datetime) -> None:
        """Entities created before ``through`` are acknowledged: persist it."""
        with self.lock:
            self.state.entities_through = through
            self.store.save(self.state)
        self.stats.entity_batches += 1
        self.stats.last_entity_batch_at = datetime.now(UTC)

    def record_interval(self, interval_start: datetime, events: int, labels: Records | None = None) -> None:
        """An interval (and its new entities, and its fault ``labels``) is acknowledged: advance the
        resume point, persist it, count the faults per kind."""
        interval_end = interval_start + self.length
        with self.lock:
            self.state.next_interval = interval_end
            assert self.state.entities_through is not None
            self.state.entities_through = max(self.state.entities_through, interval_end)
            self.state.last_batch_id = interval_id(interval_start, self.length)
            self.state.intervals_published += 1
            self.state.events_published += events
            self.store.save(self.state)
        if labels is not None:
            self.stats.count_faults(fault_kinds(labels.values))
        self.stats.interval_batches += 1
        self.stats.last_interval_batch_at = datetime.now(UTC)
        self.stats.last_interval_end = interval_end

    def skip_to_current(self, reason: str) -> None:
        """Record the intervals before the current one as skipped (after a pause) and jump there."""
        current = align_down(self.lifecycle.now(), self.length)
        with self.lock:
            first = self.next_interval
            if first >= current:
                return
            count = interval_count(first, current, self.length)
            self.state.record_skip(first, current, count, "paused")
            self.state.next_interval = current
            self.store.save(self.state)
        self.stats.skipped_intervals += count
        self.log.warning(
            "engine", f"skipped {count} interval(s) while {reason}", first_interval=first, resumed_at=current
        )
