"""The producer engine: drives a scenario interval by interval into Kafka, and survives anything.

Modes (:mod:`producer.engine.modes`): **backfill** publishes ``[from, to)`` as fast as the broker
takes it; **realtime** follows the wall clock, with delivery ``batch`` (the whole interval at its
close) or ``paced`` (each record when its simulated instant arrives); emulated presets are realtime
with short intervals. Publishing goes through one :class:`~producer.engine.publisher.IntervalPublisher`
(built when the run starts, :attr:`Engine.publisher`): one Kafka transaction per interval in backfill
and batch delivery, entities an interval's events refer to always acknowledged earlier, state advanced
only after Kafka acknowledged and written atomically, so a kill -9 at any moment resumes at the first
interval not committed (see :mod:`producer.engine.state` and
:func:`producer.kafka.records.last_committed_interval`). Transient broker failures are retried with
backoff forever; only an unreachable bootstrap at start is fatal (after a bounded wait).

Control (thread-safe, idempotent): :meth:`Engine.pause`, :meth:`Engine.resume`,
:meth:`Engine.request_stop`, :meth:`Engine.reset_progress`, :meth:`Engine.change_faults` (fault
settings from the interval after the one being published on, recorded in the dataset descriptor);
observation: :attr:`Engine.stats` and :attr:`Engine.log` (the ring the sidecar serves).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from producer.config import SeedstreamConfig
from producer.datadir import ShardFiles
from producer.engine.lifecycle import Lifecycle
from producer.engine.logs import EventLog, LibraryLogBridge
from producer.engine.modes import PacedCursor, run_backfill, run_realtime
from producer.engine.publisher import IntervalPublisher
from producer.engine.retry import StopRequested
from producer.engine.state import StateStore
from producer.engine.stats import EngineStats
from producer.errors import BadInputError, NotStartedError, SeedstreamError
from producer.generation.clock import align_down, format_duration, format_instant, interval_id
from producer.generation.dataset import Dataset, load_or_create_descriptor, record_fault_change
from producer.generation.fault_settings import FAULT_KINDS, FaultChange, FaultsConfig, check_fault_timing
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.kafka.records import RecordFactory

STOP_GRACE_SECONDS = 8.0


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
        self.paths = ShardFiles(data_dir, self.shard)
        self.store = StateStore(self.paths)
        self.state = self.store.load()
        self.log = EventLog(self.paths.log_file)
        self.store.log = self.log
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
        self.publisher: IntervalPublisher | None = None
        self._paced = PacedCursor()
        # aiokafka's and asyncio's own logging goes into self.log (rate limited) while running
        self._library_log = LibraryLogBridge(self.log)

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

    def published_through(self) -> datetime:
        """The newest interval this engine may have records of in Kafka: the one before the resume
        point, or the interval paced delivery stopped inside (before a first start: the current one)."""
        with self._state_lock:
            if self.state.next_interval is None:
                newest = align_down(self._now(), self.length)
            else:
                newest = self.state.next_interval - self.length
            if self._paced.interval_start is not None:
                newest = max(newest, self._paced.interval_start)
        return newest

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
        self._paced.clear()

    def check_faults(self, faults: FaultsConfig) -> None:
        """Refuse fault settings whose delays break the timing rules of this scenario's interval and
        the configured watermark (as the configuration does).

        Raises:
            BadInputError: naming each ``faults.<kind>.delay``, its value and the rule.
        """
        problems = check_fault_timing(faults, self.length, self.config.streaming.delay(self.length))
        if problems:
            raise BadInputError(
                "; ".join(
                    f"faults.{kind}.delay = {[format_duration(each) for each in delay]}: {rule}"
                    for kind, delay, rule in problems
                )
            )

    def started_publisher(self) -> IntervalPublisher:
        """The publisher of the running dataset.

        Raises:
            NotStartedError: before the engine loaded its dataset (it has nothing to record changes in).
        """
        if self.publisher is None or self.dataset is None or self.state.next_interval is None:
            raise NotStartedError(
                "the producer has not started yet, so it has no dataset to record fault settings in: "
                "retry once GET /api/health reports a next_interval"
            )
        return self.publisher

    def change_faults(self, faults: FaultsConfig, source: str = "api") -> FaultChange:
        """Inject ``faults`` from the interval after the one being published (or next due) on.

        The change is recorded in the dataset descriptor before it is applied, so a restart or a
        replay gives every interval the same faults; nothing changes when recording fails.

        Raises:
            BadInputError: when a delay breaks a timing rule (:meth:`check_faults`).
            NotStartedError: before the engine loaded its dataset.
            SeedstreamError: when the descriptor cannot be rewritten.
        """
        self.check_faults(faults)
        publisher = self.started_publisher()
        with self._state_lock:
            dataset, next_interval = self.dataset, self.state.next_interval
            assert dataset is not None and next_interval is not None
            change = FaultChange(
                from_interval=next_interval + self.length,
                faults=faults,
                recorded_at=datetime.now(UTC),
                source=source,
            )
            path = self.paths.descriptor_file
            try:
                recorded = record_fault_change(path, change)
            except OSError as error:
                raise SeedstreamError(
                    f"cannot record the fault settings in {path} ({error.strerror or error}); nothing "
                    "changed: make the data dir writable and retry"
                ) from None
            updated = replace(dataset, fault_changes=tuple(recorded.fault_changes))
            self.dataset = publisher.factory.dataset = updated
        self.log.info(
            "faults",
            "fault settings changed",
            from_interval=change.from_interval,
            rates={kind: rate for kind, rate in zip(FAULT_KINDS, faults.rates(), strict=True) if rate},
            source=source,
        )
        return change

    def faults_in_effect(self) -> FaultsConfig:
        """The fault settings of the next interval to publish (the configuration's before a start)."""
        with self._state_lock:
            if self.dataset is None or self.state.next_interval is None:
                return self.config.faults
            return self.dataset.faults_at(self.state.next_interval)

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
        self._library_log.install()
        try:
            publisher = await self._prepare(request)
            if request.backfill:
                assert request.end is not None
                await run_backfill(publisher, self.lifecycle, request.end)
                if not request.follow:
                    return
            if not self.lifecycle.stopping:
                await run_realtime(publisher, self.lifecycle, self.config.delivery, self._paced)
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

    async def _prepare(self, request: RunRequest) -> IntervalPublisher:
        now = self._now()
        epoch_hint = request.start if request.start is not None else align_down(now, self.length)
        dataset = load_or_create_descriptor(self.paths.descriptor_file, self.config, epoch_hint, self.length)
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
        self.publisher = publisher = IntervalPublisher(
            self.config,
            RecordFactory(self.scenario, dataset, self.shard, self.config.kafka.topic_prefix),
            self.state,
            self.store,
            self._state_lock,
            self.lifecycle,
            self.stats,
            self.log,
            self.connect_timeout,
        )
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
        await publisher.use_sink(transactional)
        await publisher.ensure_topics()
        await self._adopt_kafka_resume_point(publisher)
        return publisher

    async def _adopt_kafka_resume_point(self, publisher: IntervalPublisher) -> None:
        """Continue after the newest interval Kafka holds for this shard, counting what it adds.

        Intervals are committed in order and a skip is saved before anything later is published,
        so the intervals between the saved resume point and Kafka's are exactly those committed
        after the last save (a kill between commit and save, or an older state file): they are
        added to ``intervals_published`` and, regenerated, to ``events_published``.
        """
        newest = await publisher.last_committed()
        assert self.state.next_interval is not None
        adopted, adopted_events = 0, 0
        if newest is not None:
            cursor = self.state.next_interval
            while cursor <= newest:
                adopted += 1
                adopted_events += publisher.interval_output(cursor).event_count
                cursor += self.length
        with self._state_lock:
            assert self.state.next_interval is not None and self.state.entities_through is not None
            if newest is not None and newest + self.length > self.state.next_interval:
                self.log.info(
                    "engine",
                    "resume point taken from the last committed ground truth in Kafka",
                    state_next_interval=self.state.next_interval,
                    kafka_next_interval=newest + self.length,
                    intervals_adopted=adopted,
                    events_adopted=adopted_events,
                )
                self.state.intervals_published += adopted
                self.state.events_published += adopted_events
                self.state.next_interval = newest + self.length
                self.state.entities_through = max(self.state.entities_through, self.state.next_interval)
                self.state.last_batch_id = interval_id(newest, self.length)
            self.store.save(self.state)

    async def _shutdown(self) -> None:
        self.stats.status = "stopping"
        if self.publisher is not None:
            await self.publisher.close(timeout=3.0)
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
        self._library_log.uninstall()
        self.log.close()

    # -- internals ---------------------------------------------------------------------------------

    def _force_stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._forced = True
            self._task.cancel()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self.lifecycle.stopping

    def now(self) -> datetime:
        """The engine's clock (wall clock unless injected)."""
        return self._now()
