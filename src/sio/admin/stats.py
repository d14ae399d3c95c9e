"""``server_stats``: the numbers the Admin UI's dashboard charts, every two seconds.

The aggregated events are Node's ``EventBuffer``: counts per second and type (``rawConnection``,
``rawDisconnection`` with the reason as ``subType``, ``packetsIn``/``Out``, ``bytesIn``/``Out``),
each ``{"timestamp": <ms of the second>, "type", "subType"?, "count"}``, cleared when sent. Where
Node pushes every packet into the buffer, sio counts (:mod:`sio.engine.counting`) and reads the
counters once a second, at the turn of the second, so each count lands in the second it happened.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import TYPE_CHECKING, Any

from sio.admin.serialize import hostname, process_uptime
from sio.engine.counting import TrafficCounters, count_traffic

if TYPE_CHECKING:
    from sio.engine import EngineSocket
    from sio.namespace import Namespace
    from sio.server import Server

STATS_INTERVAL = 2.0  # seconds between two server_stats, as Node's
_TRAFFIC_TYPES = ("packetsIn", "bytesIn", "packetsOut", "bytesOut")


class EventBuffer:
    """Counts per (second, type, subType) until read (Node's ``EventBuffer``)."""

    def __init__(self) -> None:
        self._buffer: dict[tuple[int, str, str | None], dict[str, Any]] = {}

    def push(self, type: str, sub_type: str | None = None, count: int = 1, at: float | None = None) -> None:
        """Add ``count`` events of ``type`` at ``at`` (now by default), in that time's second."""
        second = math.floor(time.time() if at is None else at) * 1000
        key = (second, type, sub_type)
        entry = self._buffer.get(key)
        if entry is not None:
            entry["count"] += count
            return
        entry = {"timestamp": second, "type": type}
        if sub_type is not None:  # Node's undefined subType is not in the JSON
            entry["subType"] = sub_type
        entry["count"] = count
        self._buffer[key] = entry

    def values_and_clear(self) -> list[dict[str, Any]]:
        """Every entry since the last call, in the order they were first pushed."""
        values = list(self._buffer.values())
        self._buffer.clear()
        return values


class StatsEmitter:
    """Keeps the buffer filled from the engine and broadcasts ``server_stats`` on the admin namespace."""

    def __init__(self, io: Server, admin: Namespace, server_id: str | None) -> None:
        self.io = io
        self.admin = admin
        self.server_id = server_id
        self.events = EventBuffer()
        self.traffic: TrafficCounters = count_traffic(io.engine)
        self._last = self.traffic.snapshot()
        self._handles: list[asyncio.TimerHandle] = []
        io.engine.on("connection", self._on_engine_connection)

    # -- the engine's events ---------------------------------------------------------

    def _on_engine_connection(self, conn: EngineSocket) -> None:
        if not self._handles:  # the loop runs: the timers start with the first session
            self._start()
        self.events.push("rawConnection")
        conn.on("close", self._on_engine_close)

    def _on_engine_close(self, reason: str, description: Any = None) -> None:
        self.events.push("rawDisconnection", str(reason))

    # -- timers ----------------------------------------------------------------------

    def _start(self) -> None:
        loop = self.io.engine.wheel.loop  # the server's loop (given, or the running one)
        # As Node's setInterval: the first stats two seconds after the start (no one listened before).
        self._handles = [loop.call_later(STATS_INTERVAL, self._emit_stats), self._next_second(loop)]
        self.io.engine.at_stop(self._stop)

    async def _stop(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles = []

    def _next_second(self, loop: asyncio.AbstractEventLoop) -> asyncio.TimerHandle:
        now = time.time()
        return loop.call_later(math.floor(now) + 1.001 - now, self._on_second)

    def _on_second(self) -> None:
        loop = self.io.engine.wheel.loop  # the server's loop (given, or the running one)
        self._handles[1] = self._next_second(loop)
        self._sample(time.time() - 0.5)  # the second that just ended

    def _sample(self, at: float) -> None:
        """Push the traffic counted since the last sample, in the second of ``at``."""
        now = self.traffic.snapshot()
        for type, current, previous in zip(_TRAFFIC_TYPES, now, self._last, strict=True):
            if current != previous:
                self.events.push(type, None, current - previous, at)
        self._last = now

    def _emit_stats(self) -> None:
        loop = self.io.engine.wheel.loop  # the server's loop (given, or the running one)
        self._handles[0] = loop.call_later(STATS_INTERVAL, self._emit_stats)
        self._sample(time.time())
        self.admin.emit("server_stats", self.stats())

    # -- the payload -----------------------------------------------------------------

    def _server_id(self) -> str:
        if self.server_id:
            return self.server_id
        if self.io.engine.sid_prefix:  # a worker of --workers: Node's cluster worker id
            return f"{hostname()}#{os.getpid()}"
        return hostname()

    def stats(self) -> dict[str, Any]:
        """One ``server_stats`` payload, its keys in Node's order."""
        engine = self.io.engine
        polling = sum(1 for conn in engine.clients.values() if conn.transport == "polling")
        return {
            "serverId": self._server_id(),
            "hostname": hostname(),
            "pid": os.getpid(),
            "uptime": process_uptime(),
            "clientsCount": engine.clients_count,
            "pollingClientsCount": polling,
            "aggregatedEvents": self.events.values_and_clear(),
            "namespaces": [
                {"name": nsp.name, "socketsCount": len(nsp.sockets)} for nsp in self.io._nsps.values()
            ],
        }
