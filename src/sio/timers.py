"""The asyncio driver of the core's hierarchical timer wheel.

One :class:`LoopTimerWheel` per event loop carries every heartbeat and timeout of
the server. It keeps **one** loop callback, scheduled for the next moment the wheel
has something due, so that 100,000 armed timers cost one wake-up per distinct due
millisecond and an idle server sleeps.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import uvloop

from sio._sio_core import Timer, TimerWheel

__all__ = ["LoopTimerWheel"]


class LoopTimerWheel:
    """A :class:`~sio._sio_core.TimerWheel` advanced by an asyncio loop.

    ``tick`` is the wheel's resolution in seconds: a timer fires no earlier than its
    deadline and, on an unloaded loop, within about a tick (plus the loop's own
    wake-up latency) after it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, tick: float = 0.001) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.wheel = TimerWheel(tick, clock=self.loop.time, on_wakeup=self._schedule)
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._wake_at = 0.0  # what _handle was scheduled for
        # uvloop rounds a delay to the nearest millisecond (it may fire up to half a
        # millisecond early); round it up instead. The default loop keeps exact times.
        self._millisecond_timers = isinstance(self.loop, uvloop.Loop)

    def timer(self, callback: Callable[[], object]) -> Timer:
        """Create an idle timer that calls ``callback()`` when it fires."""
        return self.wheel.timer(callback)

    @property
    def armed(self) -> int:
        """How many timers are armed."""
        return self.wheel.count

    @property
    def scheduled(self) -> bool:
        """Whether a loop callback is scheduled (False exactly when nothing is armed)."""
        return self._handle is not None

    @property
    def next_wakeup(self) -> float | None:
        """The loop time the wheel's one callback is scheduled for (None when none is)."""
        return self._wake_at if self._handle is not None else None

    def close(self) -> None:
        """Stop driving the wheel (armed timers stay armed but no longer fire)."""
        self.wheel.on_wakeup = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, when: float) -> None:
        """Wake up at ``when`` (loop time) instead of whatever was scheduled."""
        if self._handle is not None:
            self._handle.cancel()
        loop = self.loop
        self._wake_at = when
        if self._millisecond_timers:
            delay = math.ceil((when - loop.time()) * 1000.0 - 1e-6) / 1000.0
            self._handle = loop.call_later(max(delay, 0.0), self._on_due)
        else:
            self._handle = loop.call_at(when, self._on_due)

    def _on_due(self) -> None:
        self._handle = None
        wheel = self.wheel
        wheel.advance(self.loop.time())
        when = wheel.next_deadline()
        if when is not None and wheel.on_wakeup is not None:
            self._schedule(when)
