"""Retrying a send until Kafka acknowledges it: reconnect with exponential backoff, forever.

A broker outage never crashes the producer: each failure is logged, counted, marks the engine
disconnected, drops the producer (aborting its open transaction) and waits before the next try;
only a stop request ends the loop (:class:`StopRequested`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from producer.errors import SeedstreamError
from producer.kafka.sink import FAILURES, SinkError

if TYPE_CHECKING:
    from producer.engine.engine import Engine

MAX_BACKOFF_SECONDS = 10.0
RETRIED: tuple[type[BaseException], ...] = (SinkError, SeedstreamError, *FAILURES)


class StopRequested(Exception):
    """Raised when a stop interrupts a retry."""


async def until_sent(
    engine: Engine, operation: Callable[[], Awaitable[None]], committed_check: datetime | None = None
) -> bool:
    """Run ``operation`` until it succeeds, reconnecting with backoff; False if Kafka already had it.

    With ``committed_check``, each retry first asks Kafka whether that interval's ground truth
    was committed after all (a commit whose acknowledgement was lost), and then skips it.
    """
    delay, attempt = 0.5, 0
    while True:
        if attempt and engine.lifecycle.stopping:
            raise StopRequested
        sink = engine.sink
        try:
            if not sink.started:
                await sink.connect(timeout=10.0)
            if attempt and committed_check is not None:
                newest = await engine.last_committed()
                if newest is not None and newest >= committed_check:
                    engine.log.info(
                        "kafka", "interval was committed before the failure", interval=committed_check
                    )
                    return False
            await operation()
            if attempt:
                engine.log.info("kafka", "reconnected", attempts=attempt)
            engine.stats.connected = True
            return True
        except RETRIED as error:
            attempt += 1
            engine.stats.error(str(error))
            engine.stats.reconnects += 1
            engine.log.warning(
                "kafka", "send failed; retrying", error=str(error), attempt=attempt, backoff=delay
            )
            await sink.reset()
            await engine.lifecycle.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
