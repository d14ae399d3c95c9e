"""The asyncio driver of the core's hashed timer wheel.

One :class:`LoopTimerWheel` per event loop carries every heartbeat and timeout of
the server. It asks the loop for one callback per tick, and only while at least
one timer is armed, so an idle server costs nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from sio._sio_core import Timer, TimerWheel

__all__ = ["LoopTimerWheel"]


class LoopTimerWheel:
    """A :class:`~sio._sio_core.TimerWheel` advanced by an asyncio loop.

    ``tick`` is the wheel's resolution in seconds: a timer fires no earlier than
    its deadline and about one tick after it at the latest.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, *, tick: float = 0.05, slots: int = 512
    ) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.wheel = TimerWheel(tick, slots, clock=self.loop.time, on_wakeup=self._wake)
        self._handle: asyncio.TimerHandle | None = None

    def timer(self, callback: Callable[[], object]) -> Timer:
        """Create an idle timer that calls ``callback()`` when it fires."""
        return self.wheel.timer(callback)

    @property
    def armed(self) -> int:
        """How many timers are armed."""
        return self.wheel.count

    def close(self) -> None:
        """Stop ticking (armed timers stay armed but no longer fire)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _wake(self) -> None:
        if self._handle is None:
            self._schedule()

    def _schedule(self) -> None:
        tick = self.wheel.tick
        # The start of the next tick, a hair later so that the loop's clock has
        # certainly crossed the boundary when the callback runs.
        when = (math.floor(self.loop.time() / tick) + 1) * tick + tick * 0.01
        self._handle = self.loop.call_at(when, self._on_tick)

    def _on_tick(self) -> None:
        self._handle = None
        self.wheel.advance(self.loop.time())
        if self.wheel.count and self._handle is None:
            self._schedule()
