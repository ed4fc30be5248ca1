"""The run modes: backfill, and realtime with delivery ``batch`` or ``paced``.

Backfill and batch delivery publish each interval in one transaction
(:meth:`~producer.engine.publisher.IntervalPublisher.publish_interval`); paced delivery sends each
record when its simulated instant arrives (:func:`publish_paced`). Both first make sure every entity
created before interval_start is acknowledged, so no event ever refers to an entity a consumer cannot
have seen yet. The modes drive an :class:`~producer.engine.publisher.IntervalPublisher` and wait on a
:class:`~producer.engine.lifecycle.Lifecycle`; they never see the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from producer.engine.lifecycle import Lifecycle
from producer.engine.publisher import IntervalPublisher
from producer.generation.clock import align_down, from_micros, interval_count, to_micros
from producer.generation.partial import partial_ground_truth
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.kafka.records import subset
from producer.kafka.sink import Outgoing


@dataclass
class PacedCursor:
    """How far paced delivery got within one interval (this process only)."""

    interval_start: datetime | None = None
    position: int = 0

    def position_in(self, interval_start: datetime) -> int:
        """How many of ``interval_start``'s records were already sent."""
        return self.position if self.interval_start == interval_start else 0

    def move(self, interval_start: datetime, position: int) -> None:
        """Remember the progress within ``interval_start``."""
        self.interval_start, self.position = interval_start, position

    def clear(self) -> None:
        """Forget the progress (after the published data was deleted)."""
        self.interval_start, self.position = None, 0


@dataclass(frozen=True)
class _PacedPlan:
    """One interval's records in paced order: by instant, entity topics (in dependency order) before
    event topics at equal instants, so a record never precedes what it refers to. Deterministic, so
    a cursor position means the same records whenever the plan is rebuilt."""

    output: IntervalOutput
    sources: tuple[Records, ...]
    entity_sources: int
    order: npt.NDArray[np.int64]
    source: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]
    sorted_times: npt.NDArray[np.int64]

    @classmethod
    def of(cls, publisher: IntervalPublisher, interval_start: datetime) -> _PacedPlan:
        """The plan of the interval starting at ``interval_start``."""
        output = publisher.interval_output(interval_start)
        entities = publisher.entity_records(interval_start, interval_start + publisher.length)
        sources = (*entities, *output.events)
        timestamps = np.concatenate([records.timestamps_us for records in sources])
        source = np.concatenate(
            [np.full(len(records), rank, dtype=np.int64) for rank, records in enumerate(sources)]
        )
        row = np.concatenate([np.arange(len(records), dtype=np.int64) for records in sources])
        order = np.lexsort((source, timestamps))
        return cls(output, sources, len(entities), order, source, row, timestamps[order])

    def parts(self, chunk: npt.NDArray[np.int64]) -> list[tuple[bool, Records]]:
        """The records at ``chunk`` (positions into :attr:`order`), per source in topic order, each
        marked whether it is an entity topic."""
        parts = []
        for rank, records in enumerate(self.sources):
            rows = self.row[chunk[self.source[chunk] == rank]]
            if rows.size:
                parts.append((rank < self.entity_sources, subset(records, rows)))
        return parts


async def publish_paced(
    publisher: IntervalPublisher, lifecycle: Lifecycle, interval_start: datetime, cursor: PacedCursor
) -> bool:
    """Publish one interval record by record at the records' instants; False when paused or stopped.

    Progress within the interval is kept in ``cursor``, so a resume inside the same interval continues
    where the pause stopped; records already acknowledged are never sent twice by the same process.
    An interval left unfinished gets a partial ground truth (:func:`publish_partial_truth`).
    """
    if not await lifecycle.sleep_until(interval_start):
        return False
    await publisher.publish_older_entities(interval_start)
    factory = publisher.factory
    interval_end = interval_start + publisher.length
    plan = _PacedPlan.of(publisher, interval_start)
    output = plan.output
    position = cursor.position_in(interval_start)
    while position < plan.order.size:
        if not await lifecycle.sleep_until(from_micros(int(plan.sorted_times[position]))):
            cursor.move(interval_start, position)
            return False
        due = int(np.searchsorted(plan.sorted_times, to_micros(lifecycle.now()), side="right"))
        chunk = plan.order[position : max(due, position + 1)]
        batches: list[Outgoing] = [
            factory.entity_outgoing(part) if is_entity else factory.events(part, output.interval_id)
            for is_entity, part in plan.parts(chunk)
        ]
        await publisher.deliver(batches)
        position += chunk.size
        cursor.move(interval_start, position)
    if not await lifecycle.sleep_until(interval_end):
        return False
    await publisher.deliver(publisher.closing(output))
    publisher.record_interval(interval_start, output.event_count, output.labels)
    cursor.move(interval_start, 0)
    publisher.log.info(
        "engine",
        "interval published",
        batch_id=output.interval_id,
        events=output.event_count,
        entities=sum(len(records) for records in plan.sources[: plan.entity_sources]),
        delivery="paced",
    )
    return True


async def publish_partial_truth(publisher: IntervalPublisher, cursor: PacedCursor) -> None:
    """If paced delivery sent part of an interval it will not finish (stopped, or paused past the
    interval's end), publish a ground truth covering exactly that part, marked ``partial: true`` (no
    fault labels: the restart that republishes the interval publishes them).

    The interval stays unpublished in the durable state: a restart republishes it whole, and its
    complete ground truth supersedes the partial one.
    """
    interval_start, position = cursor.interval_start, cursor.position
    if interval_start is None or position == 0:
        return
    plan = _PacedPlan.of(publisher, interval_start)
    sent = plan.parts(plan.order[:position])
    cursor.clear()
    events = sum(len(part) for is_entity, part in sent if not is_entity)
    if not events:
        return  # only entities went out: they are published for good, no event needs a truth
    truth = partial_ground_truth(plan.output.ground_truth, _counted(publisher, plan, sent, position))
    await publisher.deliver([publisher.factory.ground_truth(truth, plan.output.interval_id, partial=True)])
    publisher.log.info(
        "engine",
        "partial interval published",
        batch_id=plan.output.interval_id,
        events=events,
        of_events=plan.output.event_count,
    )


def _counted(
    publisher: IntervalPublisher, plan: _PacedPlan, sent: list[tuple[bool, Records]], position: int
) -> list[Records]:
    """What a partial ground truth counts: the records sent; with faults injected, the sent entities
    and the interval's clean events up to the last instant sent instead (the truth stays the truth of
    the clean data, and faulted values need not even parse)."""
    if plan.output.labels is None:
        return [part for _, part in sent]
    factory = publisher.factory
    clean = factory.scenario.interval(factory.dataset, plan.output.interval_start, factory.shard)
    last = plan.sorted_times[position - 1]
    events = [subset(records, np.flatnonzero(records.timestamps_us <= last)) for records in clean.events]
    return [*(part for is_entity, part in sent if is_entity), *events]


async def run_backfill(publisher: IntervalPublisher, lifecycle: Lifecycle, end: datetime) -> None:
    """Publish the intervals up to ``end`` as fast as the broker takes them (pausable)."""
    stats = publisher.stats
    stats.mode = "backfill"
    stats.backfill_total = interval_count(publisher.next_interval, end, publisher.length)
    while publisher.next_interval < end and not lifecycle.stopping:
        if lifecycle.paused and not await lifecycle.wait_while_paused():
            break
        await publisher.publish_interval(publisher.next_interval)
        stats.backfill_done += 1
    publisher.log.info(
        "engine",
        "backfill done" if publisher.next_interval >= end else "backfill interrupted",
        next_interval=publisher.next_interval,
        end=end,
    )


async def run_realtime(
    publisher: IntervalPublisher, lifecycle: Lifecycle, delivery: str, cursor: PacedCursor
) -> None:
    """Follow the wall clock until stopped: the whole interval at its close (``batch``), or paced."""
    transactional = delivery == "batch"
    await publisher.use_sink(transactional)
    publisher.stats.mode = "realtime"
    while not lifecycle.stopping:
        if lifecycle.paused:
            if not await lifecycle.wait_while_paused():
                break
            current = align_down(lifecycle.now(), publisher.length)
            if cursor.interval_start is not None and cursor.interval_start < current:
                await publish_partial_truth(publisher, cursor)
            publisher.skip_to_current("paused")
            continue
        interval_start = publisher.next_interval
        if transactional:
            if await lifecycle.sleep_until(interval_start + publisher.length):
                await publisher.publish_interval(interval_start)
        else:
            await publish_paced(publisher, lifecycle, interval_start, cursor)
    if not transactional:
        await publish_partial_truth(publisher, cursor)
