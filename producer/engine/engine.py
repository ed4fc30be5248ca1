"""The producer engine: drives a scenario interval by interval into Kafka, and survives anything.

Modes: **backfill** publishes ``[from, to)`` as fast as the broker takes it; **realtime** follows the
wall clock, with delivery ``batch`` (the whole interval at its close) or ``paced`` (each record when
its simulated instant arrives); emulated presets are realtime with short intervals. Backfill and
batch delivery use one Kafka transaction per interval (its new entities, events and ground truth);
entities an interval's events refer to (created before interval_start) are always committed in an
earlier transaction. State advances only after Kafka acknowledged, and is written atomically, so a
kill -9 at any moment resumes at the first interval not committed (see :mod:`producer.engine.state` and
:func:`producer.kafka.records.last_committed_interval`). Broker failures are retried with backoff forever;
only an unreachable bootstrap at start is fatal (after a bounded wait).

Control (thread-safe, idempotent): :meth:`Engine.pause`, :meth:`Engine.resume`,
:meth:`Engine.request_stop`, :meth:`Engine.clean`; observation: :attr:`Engine.stats` and
:attr:`Engine.log` (the ring the sidecar serves).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from producer.config import SeedstreamConfig
from producer.engine.lifecycle import Lifecycle
from producer.engine.logs import EventLog
from producer.engine.modes import run_backfill, run_realtime
from producer.engine.retry import StopRequested, until_sent
from producer.engine.state import DataPaths, StateStore
from producer.engine.stats import EngineStats
from producer.errors import BadInputError, SeedstreamError
from producer.generation.clock import align_down, batch_id, format_instant, intervals
from producer.generation.dataset import Dataset, Shard, load_or_create_descriptor
from producer.generation.scenarios import get_scenario
from producer.kafka.records import RecordFactory, last_committed_interval
from producer.kafka.sink import KafkaSink
from producer.kafka.topics import ensure_topics, topic_layouts

STOP_GRACE_SECONDS = 8.0


class EngineNotPaused(SeedstreamError):
    """``clean`` was asked of a producer that is not paused."""


@dataclass(frozen=True)
class RunRequest:
    """What to run: a backfill of ``[start, end)`` (then realtime if ``follow``), or realtime."""

    start: datetime | None = None
    end: datetime | None = None
    follow: bool = False

    @property
    def backfill(self) -> bool:
        """Whether this run starts with a backfill."""
        return self.start is not None and self.end is not None


class Engine:
    """One producer instance (one shard) of one dataset, with its durable state under ``data_dir``."""

    def __init__(
        self,
        config: SeedstreamConfig,
        data_dir: Path,
        shard: Shard | None = None,
        connect_timeout: float = 30.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.shard = shard or Shard()
        self.paths = DataPaths(data_dir, self.shard)
        self.store = StateStore(self.paths)
        self.state = self.store.load()
        self.log = EventLog(self.paths.log_file)
        self.stats = EngineStats(run_id=self.log.run_id, shard=str(self.shard))
        self.scenario = get_scenario(config.scenario)
        self.length = self.scenario.interval_length(config)
        self.connect_timeout = connect_timeout
        self.dataset: Dataset | None = None
        self._now = now or (lambda: datetime.now(UTC))
        self.lifecycle = Lifecycle(self.state.paused, self._now)
        self._state_lock = threading.RLock()
        self._task: asyncio.Task[None] | None = None
        self._forced = False
        self._sink: KafkaSink | None = None
        self._factory: RecordFactory | None = None
        self.topics_missing = True
        self._paced_cursor: tuple[datetime, int] | None = None

    # -- control (thread-safe) -------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Whether publishing is paused."""
        return self.lifecycle.paused

    def pause(self, source: str = "api") -> bool:
        """Stop sending records (persisted); False when already paused."""
        with self._state_lock:
            if not self.lifecycle.set_paused(True):
                return False
            self.state.paused = True
            self.store.save(self.state)
        self.stats.status = "paused"
        self.log.info("lifecycle", "paused", source=source, next_interval=self.state.next_interval)
        return True

    def resume(self, source: str = "api") -> bool:
        """Continue sending (persisted); False when not paused."""
        with self._state_lock:
            if not self.lifecycle.set_paused(False):
                return False
            self.state.paused = False
            self.store.save(self.state)
        self.stats.status = "running"
        self.log.info("lifecycle", "resumed", source=source)
        return True

    def request_stop(self, source: str = "api") -> None:
        """Stop gracefully: finish or abort the open interval, persist state, return from :meth:`run`."""
        loop = self.lifecycle.loop
        if loop is not None and not self.lifecycle.on_loop():
            loop.call_soon_threadsafe(self.request_stop, source)
            return
        if not self.lifecycle.stop():
            return
        self.log.info("lifecycle", "stop requested", source=source)
        self.stats.status = "stopping"
        if loop is not None:
            loop.call_later(STOP_GRACE_SECONDS, self._force_stop)

    def reset_progress(self) -> None:
        """After the published data was deleted: restart at the current interval, baseline first.

        Entities are republished from the baseline on, the counters restart at zero and the state is
        persisted (still paused). Used by the sidecar's clean (``producer.sidecar.cleaning``).
        """
        with self._state_lock:
            self.state.next_interval = align_down(self._now(), self.length)
            self.state.entities_through = self.state.epoch and self.state.epoch - self.length
            self.state.last_batch_id = None
            self.state.intervals_published = self.state.events_published = 0
            self.state.skipped.clear()
            self.store.save(self.state)
        self._paced_cursor = None

    def install_signal_handlers(self) -> None:
        """SIGUSR1 pauses, SIGUSR2 resumes, SIGTERM and SIGINT stop gracefully."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.pause, "SIGUSR1")
        loop.add_signal_handler(signal.SIGUSR2, self.resume, "SIGUSR2")
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")

    # -- run -------------------------------------------------------------------------------------

    async def run(self, request: RunRequest | None = None) -> None:
        """Run until the backfill ends (without ``follow``) or a stop is requested."""
        request = request or RunRequest()
        self.lifecycle.bind(asyncio.get_running_loop())
        self._task = asyncio.current_task()
        try:
            await self._prepare(request)
            if request.backfill:
                assert request.end is not None
                await run_backfill(self, request.end)
                if not request.follow:
                    return
            if not self.lifecycle.stopping:
                await run_realtime(self)
        except StopRequested:
            pass
        except asyncio.CancelledError:
            if not self._forced:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self.log.warning("lifecycle", "stop grace period over: the open interval was abandoned")
        finally:
            await self._shutdown()

    async def _prepare(self, request: RunRequest) -> None:
        now = self._now()
        epoch_hint = request.start if request.start is not None else align_down(now, self.length)
        dataset = load_or_create_descriptor(self.paths.descriptor_file, self.config, epoch_hint)
        if request.start is not None and request.start < dataset.epoch:
            raise BadInputError(
                f"--from {format_instant(request.start)} is before the dataset's epoch "
                f"{format_instant(dataset.epoch)} ({self.paths.descriptor_file}); use a later --from "
                "or a fresh --data-dir"
            )
        if self.state.seed is not None and self.state.seed != dataset.seed:
            raise SeedstreamError(
                f"{self.paths.state_file} belongs to seed {self.state.seed}, the dataset has {dataset.seed}: "
                "use a fresh --data-dir"
            )
        self.dataset = dataset
        with self._state_lock:
            self.state.seed, self.state.epoch = dataset.seed, dataset.epoch
            if self.state.entities_through is None:
                self.state.entities_through = dataset.epoch - self.length
            if self.state.next_interval is None:
                self.state.next_interval = request.start or dataset.epoch
        self._factory = RecordFactory(self.scenario, dataset, self.shard, self.config.kafka.topic_prefix)
        self.stats.status = "paused" if self.lifecycle.paused else "running"
        transactional = request.backfill or self.config.delivery == "batch"
        self.log.info(
            "engine",
            "starting",
            seed=dataset.seed,
            epoch=dataset.epoch,
            shard=str(self.shard),
            next_interval=self.state.next_interval,
            paused=self.lifecycle.paused,
            backfill=request.backfill,
            delivery=self.config.delivery,
        )
        await self.use_sink(transactional, self.connect_timeout)
        await self.ensure_topics()
        await self._adopt_kafka_resume_point()

    async def use_sink(self, transactional: bool, timeout: float) -> None:
        """Connect a transactional or plain sink (replacing the current one if it is the other kind)."""
        if self._sink is not None and (self._sink.transactional_id is not None) == transactional:
            return
        if self._sink is not None:
            await self._sink.close()
        prefix = self.config.kafka.topic_prefix
        transactional_id = (
            f"seedstream.{prefix}{self.scenario.name}.{self.shard.index}-of-{self.shard.count}"
            if transactional
            else None
        )
        self._sink = KafkaSink(self.config.kafka, self.stats, self.log, transactional_id)
        await self._sink.connect(timeout)
        self.log.info(
            "kafka", "connected", bootstrap=self.config.kafka.bootstrap_servers, transactional=transactional
        )

    async def ensure_topics(self) -> None:
        """Create the dataset's topics when absent."""
        created = await ensure_topics(
            topic_layouts(self.scenario.topics(), self.config.kafka), self.config.kafka.bootstrap_servers
        )
        if created:
            self.log.info("kafka", "created topics", topics=created)
        self.topics_missing = False

    async def _adopt_kafka_resume_point(self) -> None:
        newest = await self._last_committed()
        with self._state_lock:
            assert self.state.next_interval is not None and self.state.entities_through is not None
            if newest is not None and newest + self.length > self.state.next_interval:
                self.log.info(
                    "engine",
                    "resume point taken from the last committed ground truth in Kafka",
                    state_next_interval=self.state.next_interval,
                    kafka_next_interval=newest + self.length,
                )
                self.state.next_interval = newest + self.length
                self.state.entities_through = max(self.state.entities_through, self.state.next_interval)
                self.state.last_batch_id = batch_id(newest)
            self.store.save(self.state)

    async def _last_committed(self) -> datetime | None:
        assert self._factory is not None and self.dataset is not None
        topic = self._factory.topics.name(self._factory.topics.ground_truth)
        return await last_committed_interval(
            self.config.kafka.bootstrap_servers, topic, self.dataset, self.shard
        )

    async def _shutdown(self) -> None:
        self.stats.status = "stopping"
        if self._sink is not None:
            await self._sink.close(timeout=3.0)
        with self._state_lock:
            self.state.paused = self.lifecycle.paused
            self.store.save(self.state)
        self.stats.status = "stopped"
        self.log.info(
            "lifecycle",
            "stopped",
            next_interval=self.state.next_interval,
            intervals_published=self.state.intervals_published,
            events_published=self.state.events_published,
        )
        self.log.close()

    # -- modes -----------------------------------------------------------------------------------

    def skip_to_current(self, reason: str) -> None:
        """Record the intervals before the current one as skipped (after a pause) and jump there."""
        current = align_down(self._now(), self.length)
        with self._state_lock:
            assert self.state.next_interval is not None
            first = self.state.next_interval
            if first >= current:
                return
            count = len(list(intervals(first, current, self.length)))
            self.state.record_skip(first, current, count, "paused")
            self.state.next_interval = current
            self.store.save(self.state)
        self.stats.skipped_intervals += count
        self.log.warning(
            "engine", f"skipped {count} interval(s) while {reason}", first_interval=first, resumed_at=current
        )

    # -- waiting and retrying ----------------------------------------------------------------------

    def _force_stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._forced = True
            self._task.cancel()

    @property
    def factory(self) -> RecordFactory:
        """The record factory of the running dataset."""
        assert self._factory is not None, "the engine is not running"
        return self._factory

    @property
    def sink(self) -> KafkaSink:
        """The current Kafka sink."""
        assert self._sink is not None, "the engine is not connected"
        return self._sink

    def record_entities(self, through: datetime) -> None:
        """Entities created before ``through`` are acknowledged: persist it."""
        with self._state_lock:
            self.state.entities_through = through
            self.store.save(self.state)
        self.stats.entity_batches += 1
        self.stats.last_entity_batch_at = datetime.now(UTC)

    def record_interval(self, interval_start: datetime, events: int) -> None:
        """An interval (and its new entities) is acknowledged: advance the resume point, persist it."""
        interval_end = interval_start + self.length
        with self._state_lock:
            self.state.next_interval = interval_end
            assert self.state.entities_through is not None
            self.state.entities_through = max(self.state.entities_through, interval_end)
            self.state.last_batch_id = batch_id(interval_start)
            self.state.intervals_published += 1
            self.state.events_published += events
            self.store.save(self.state)
        self.stats.interval_batches += 1
        self.stats.last_interval_batch_at = datetime.now(UTC)
        self.stats.last_interval_end = interval_end

    def paced_position(self, interval_start: datetime) -> int:
        """How many of ``interval_start``'s records paced delivery already sent (this process)."""
        cursor = self._paced_cursor
        return cursor[1] if cursor is not None and cursor[0] == interval_start else 0

    def set_paced_position(self, interval_start: datetime, position: int) -> None:
        """Remember paced delivery's progress within ``interval_start``."""
        self._paced_cursor = (interval_start, position)

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self.lifecycle.stopping

    def now(self) -> datetime:
        """The engine's clock (wall clock unless injected)."""
        return self._now()

    async def sleep_until(self, instant: datetime) -> bool:
        """Wait until ``instant``; False when a pause or stop came first."""
        return await self.lifecycle.sleep_until(instant)

    async def retrying(
        self, operation: Callable[[], Awaitable[None]], committed_check: datetime | None = None
    ) -> bool:
        """Run ``operation`` until it succeeds (see :func:`producer.engine.retry.until_sent`)."""
        return await until_sent(self, operation, committed_check)

    async def last_committed(self) -> datetime | None:
        """The newest interval whose ground truth this shard committed to Kafka."""
        return await self._last_committed()
