"""The run modes (backfill, realtime) and how one interval is published: in one transaction
(backfill, delivery ``batch``) or paced.

Both first make sure every entity created before interval_start is acknowledged (in its own
transaction or sends), so no event ever refers to an entity a consumer cannot have seen yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from producer.generation.clock import from_micros, intervals, to_micros
from producer.kafka.records import subset

if TYPE_CHECKING:
    from producer.engine.engine import Engine


async def _publish_older_entities(engine: Engine, interval_start: datetime, transactional: bool) -> None:
    """Entities created in ``[entities_through, interval_start)`` (baseline, or after a skip)."""
    through = engine.state.entities_through
    assert through is not None
    if through >= interval_start:
        return
    outgoing = engine.factory.entities(through, interval_start)

    async def send() -> None:
        if transactional:
            await engine.sink.transaction([outgoing])
        else:
            await engine.sink.send(outgoing)

    await engine.retrying(send)
    engine.record_entities(interval_start)
    engine.log.info(
        "engine",
        "entities published",
        count=len(outgoing.records),
        created_from=through,
        created_to=interval_start,
    )


async def publish_transactional(engine: Engine, interval_start: datetime) -> None:
    """Publish one interval in one transaction: its new entities, its events, its ground truth."""
    await _publish_older_entities(engine, interval_start, transactional=True)
    factory = engine.factory
    assert engine.dataset is not None
    interval_end = interval_start + engine.length
    output = engine.scenario.interval(engine.dataset, interval_start, engine.shard)
    batches = [
        factory.entities(interval_start, interval_end),
        factory.events(output.events, output.batch_id),
        factory.ground_truth(output.ground_truth, output.batch_id),
    ]

    async def send() -> None:
        await engine.sink.transaction(batches)

    await engine.retrying(send, committed_check=interval_start)
    engine.record_interval(interval_start, len(output.events))
    engine.log.info(
        "engine",
        "interval published",
        batch_id=output.batch_id,
        events=len(output.events),
        entities=len(batches[0].records),
    )


async def publish_paced(engine: Engine, interval_start: datetime) -> bool:
    """Publish one interval record by record at the records' instants; False when paused or stopped.

    Progress within the interval is kept, so a resume inside the same interval continues where the
    pause stopped; records already acknowledged are never sent twice by the same process.
    """
    if not await engine.sleep_until(interval_start):
        return False
    await _publish_older_entities(engine, interval_start, transactional=False)
    factory = engine.factory
    assert engine.dataset is not None
    interval_end = interval_start + engine.length
    output = engine.scenario.interval(engine.dataset, interval_start, engine.shard)
    entities = engine.scenario.entities(engine.dataset, interval_start, interval_end, engine.shard)
    timestamps = np.concatenate([entities.timestamps_us, output.events.timestamps_us])
    is_event = np.concatenate(
        [np.zeros(len(entities), dtype=np.int8), np.ones(len(output.events), dtype=np.int8)]
    )
    order = np.lexsort((is_event, timestamps))
    sorted_times = timestamps[order]
    position = engine.paced_position(interval_start)
    while position < order.size:
        if not await engine.sleep_until(from_micros(int(sorted_times[position]))):
            engine.set_paced_position(interval_start, position)
            return False
        due = int(np.searchsorted(sorted_times, to_micros(engine.now()), side="right"))
        chunk = order[position : max(due, position + 1)]
        entity_rows = chunk[is_event[chunk] == 0]
        event_rows = chunk[is_event[chunk] == 1] - len(entities)

        async def send(entity_rows: np.ndarray = entity_rows, event_rows: np.ndarray = event_rows) -> None:
            if entity_rows.size:
                await engine.sink.send(factory.entity_outgoing(subset(entities, entity_rows)))
            if event_rows.size:
                await engine.sink.send(factory.events(subset(output.events, event_rows), output.batch_id))

        await engine.retrying(send)
        position += chunk.size
        engine.set_paced_position(interval_start, position)
    if not await engine.sleep_until(interval_end):
        return False

    async def send_truth() -> None:
        await engine.sink.send(factory.ground_truth(output.ground_truth, output.batch_id))

    await engine.retrying(send_truth)
    engine.record_interval(interval_start, len(output.events))
    engine.set_paced_position(interval_start, 0)
    engine.log.info(
        "engine",
        "interval published",
        batch_id=output.batch_id,
        events=len(output.events),
        entities=len(entities),
        delivery="paced",
    )
    return True


async def run_backfill(engine: Engine, end: datetime) -> None:
    """Publish the intervals up to ``end`` as fast as the broker takes them (pausable)."""
    assert engine.state.next_interval is not None
    engine.stats.mode = "backfill"
    engine.stats.backfill_total = len(list(intervals(engine.state.next_interval, end, engine.length)))
    while engine.state.next_interval < end and not engine.lifecycle.stopping:
        if engine.lifecycle.paused and not await engine.lifecycle.wait_while_paused():
            break
        await publish_transactional(engine, engine.state.next_interval)
        engine.stats.backfill_done += 1
    engine.log.info(
        "engine",
        "backfill done" if engine.state.next_interval >= end else "backfill interrupted",
        next_interval=engine.state.next_interval,
        end=end,
    )


async def run_realtime(engine: Engine) -> None:
    """Follow the wall clock until stopped: batch delivery at each close, or paced."""
    transactional = engine.config.delivery == "batch"
    await engine.use_sink(transactional, engine.connect_timeout)
    engine.stats.mode = "realtime"
    while not engine.lifecycle.stopping:
        if engine.lifecycle.paused:
            if not await engine.lifecycle.wait_while_paused():
                break
            engine.skip_to_current("paused")
            continue
        if engine.topics_missing:
            await engine.retrying(engine.ensure_topics)
        assert engine.state.next_interval is not None
        interval_start = engine.state.next_interval
        if transactional:
            if await engine.sleep_until(interval_start + engine.length):
                await publish_transactional(engine, interval_start)
        else:
            await publish_paced(engine, interval_start)
