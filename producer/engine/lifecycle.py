"""Pause, resume and stop for an asyncio run loop, callable from any thread.

The run loop waits with :meth:`Lifecycle.sleep_until` and :meth:`Lifecycle.wait_while_paused`,
which return as soon as a pause or stop arrives; control calls from other threads (a signal
handler, an HTTP server thread) are handed to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime

POLL_SECONDS = 1.0


class Lifecycle:
    """The paused and stopping flags of one run loop, and interruptible waits on them."""

    def __init__(self, paused: bool, now: Callable[[], datetime]) -> None:
        self.paused = paused
        self._now = now
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop that runs the engine."""
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The bound loop, if any."""
        return self._loop

    def now(self) -> datetime:
        """The run loop's clock (the wall clock unless one was injected)."""
        return self._now()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def on_loop(self) -> bool:
        """Whether the caller runs on the bound loop (or no loop is bound yet)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return self._loop is None
        return self._loop is None or running is self._loop

    def set_paused(self, paused: bool) -> bool:
        """Set the paused flag; False when it already had that value."""
        with self._lock:
            if self.paused == paused:
                return False
            self.paused = paused
        self.notify()
        return True

    def stop(self) -> bool:
        """Request a stop (on the loop thread); False when one was already requested."""
        if self._stop.is_set():
            return False
        self._stop.set()
        self._wake.set()
        return True

    def notify(self) -> None:
        """Wake any waiter so it re-checks the flags."""
        loop = self._loop
        if loop is not None and not self.on_loop():
            loop.call_soon_threadsafe(self._wake.set)
        else:
            self._wake.set()

    async def sleep_until(self, instant: datetime) -> bool:
        """Wait until ``instant``; False when a pause or stop came first."""
        while True:
            self._wake.clear()
            if self._stop.is_set() or self.paused:
                return False
            delay = (instant - self._now()).total_seconds()
            if delay <= 0:
                return True
            await self._nap(min(delay, POLL_SECONDS))

    async def wait_while_paused(self) -> bool:
        """Wait until resumed; False when a stop came first."""
        while True:
            self._wake.clear()
            if self._stop.is_set():
                return False
            if not self.paused:
                return True
            await self._nap(POLL_SECONDS)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a stop arrives."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _nap(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
