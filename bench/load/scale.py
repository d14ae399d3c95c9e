"""Scale: as many idle WebSocket sessions as one process may hold, at the default heartbeat.

``run_scale`` opens ``connections`` direct WebSocket sessions (spread over the 127.0.0.x source
addresses), then watches a window long enough for every session to see two pings. The figures:
server RSS per connection, server CPU % over the window, the connect rate, and how late the pings
come: for each pair of consecutive pings a client receives, the gap minus the ping interval (the
server arms the next ping when the pong arrives, so the gap also holds one round trip).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from eioclient import PONG, ClientError, WsClient
from procstat import Window, rss_kib
from scenarios import Target, _percentile, connect_idle


class PingTimer(WsClient):
    """Answers pings and records the gap between consecutive ones."""

    gaps: list[float]  # seconds, all clients together (set by run_scale)
    recording = False
    last: float | None = None

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
                now = time.monotonic()
                if PingTimer.recording and self.last is not None:
                    PingTimer.gaps.append(now - self.last)
                self.last = now


async def run_scale(
    target: Target,
    *,
    connections: int = 19_000,
    baseline: int = 100,
    ping_interval: float = 25.0,
    window: float = 55.0,
    concurrency: int = 50,
    connect_limit: float = 120.0,
) -> dict[str, Any]:
    """Hold ``connections`` idle sessions for ``window`` seconds; see the module docstring."""
    PingTimer.gaps = []
    PingTimer.recording = False
    pid = target.server_pid

    def make() -> PingTimer:
        return PingTimer(target.request, target.health)

    first, rest, rss_base, connect_wall = await connect_idle(
        target, connections, baseline, make, concurrency, connect_limit
    )
    clients = [*first, *rest]
    if not clients:
        raise ClientError("no client connected")
    await asyncio.sleep(2.0)
    PingTimer.recording = True
    usage_window = Window(pid)
    usage_window.start()
    await asyncio.sleep(window)
    usage = usage_window.stop()
    PingTimer.recording = False
    rss_full = rss_kib(pid)
    lateness = sorted(gap - ping_interval for gap in PingTimer.gaps)
    added = len(rest)
    return {
        "connections": len(clients),
        "open_at_end": sum(not c.closing for c in clients),
        "connects_per_s": added / connect_wall if connect_wall else float("nan"),
        "rss_full_mb": rss_full / 1024,
        "rss_kib_per_conn": (rss_full - rss_base) / added if added else float("nan"),
        "ping_gaps": len(lateness),
        "lateness_p50_ms": _percentile(lateness, 0.50) * 1e3,
        "lateness_p99_ms": _percentile(lateness, 0.99) * 1e3,
        "lateness_max_ms": (lateness[-1] if lateness else float("nan")) * 1e3,
        **usage.as_dict(),
    }
