"""Event-loop lag: how late a periodic timer of the engine's wheel fires.

The wheel is the clock of every heartbeat and timeout (a ping is due on it), so its lateness is
both the loop's lag (callbacks that held the loop) and how late a ping goes out. The wheel never
fires early; on an idle loop the figure is about its tick (1 ms) and the loop's wake-up.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from sio._sio_core import Timer
from sio.engine.server import EngineServer
from sio.metrics.histogram import LoopHistogram
from sio.timers import LoopTimerWheel

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LagMonitor:
    """One wheel timer, re-armed every ``interval`` seconds, observing its own lateness."""

    def __init__(self, engine: EngineServer, registry: CollectorRegistry, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self.histogram = LoopHistogram(
            "socketio_event_loop_lag_seconds",
            f"How late a timer of the engine's wheel fired (one sample every {interval:g} s).",
            LAG_BUCKETS,
            registry=registry,
        )
        self._observe = self.histogram.labels().observe
        self._wheel: LoopTimerWheel | None = None
        self._timer: Timer | None = None
        self._due = 0.0

    def ensure_started(self) -> None:
        """Run on the engine's current wheel (a loop must be running; a new wheel after a restart)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        wheel = self.engine.wheel
        if wheel is self._wheel:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._wheel = wheel
        self._timer = wheel.timer(self._on_timer)
        self._arm()

    def stop(self) -> None:
        """Stop sampling."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._wheel = None

    def _arm(self) -> None:
        assert self._wheel is not None and self._timer is not None
        self._due = self._wheel.loop.time() + self.interval
        self._timer.arm_at(self._due)

    def _on_timer(self) -> None:
        assert self._wheel is not None
        self._observe(max(self._wheel.loop.time() - self._due, 0.0))
        self._arm()
