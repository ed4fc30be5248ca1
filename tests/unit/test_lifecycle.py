"""Pause, resume and stop wake waiters at once, from the loop or from another thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from producer.engine.lifecycle import Lifecycle


def _now() -> datetime:
    return datetime.now(UTC)


async def test_pause_interrupts_sleep_and_resume_ends_the_wait() -> None:
    lifecycle = Lifecycle(paused=False, now=_now)
    lifecycle.bind(asyncio.get_running_loop())
    sleeper = asyncio.create_task(lifecycle.sleep_until(_now() + timedelta(hours=1)))
    await asyncio.sleep(0.05)
    assert lifecycle.set_paused(True) and not lifecycle.set_paused(True)
    assert await asyncio.wait_for(sleeper, 2) is False
    waiter = asyncio.create_task(lifecycle.wait_while_paused())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    threading.Thread(target=lifecycle.set_paused, args=(False,)).start()
    assert await asyncio.wait_for(waiter, 2) is True
    assert await lifecycle.sleep_until(_now() - timedelta(seconds=1)) is True


async def test_stop_ends_every_wait() -> None:
    lifecycle = Lifecycle(paused=True, now=_now)
    lifecycle.bind(asyncio.get_running_loop())
    waiter = asyncio.create_task(lifecycle.wait_while_paused())
    sleeper = asyncio.create_task(lifecycle.sleep(60))
    await asyncio.sleep(0.05)
    assert lifecycle.stop() and not lifecycle.stop() and lifecycle.stopping
    assert await asyncio.wait_for(waiter, 2) is False
    await asyncio.wait_for(sleeper, 2)
    assert await lifecycle.sleep_until(_now() + timedelta(hours=1)) is False
