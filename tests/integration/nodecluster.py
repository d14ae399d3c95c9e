"""A Node socket.io server in the test's cluster (tests/js/cluster_node.js), driven from a test."""

from __future__ import annotations

import asyncio
import base64
import itertools
from typing import Any

from tests.integration.cluster_bus import Bus
from tests.integration.siopeer import from_wire
from tests.peers import NodePeer


class NodeServer:
    """The Node socket.io server on the bus: forwards what it publishes, runs commands."""

    def __init__(self, peer: NodePeer, bus: Bus | None = None) -> None:
        self.peer = peer
        self.bus = bus
        self.port = 0
        self.connections: asyncio.Queue[str] = asyncio.Queue()
        self.connected: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # whole events: recovered, rooms
        self.disconnects: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.server_side: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._refs = itertools.count(1)
        self._listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pump = asyncio.ensure_future(self._run())
        if bus is not None:  # on the test's bus (stdio mode); on Redis, Redis carries everything
            bus.adapters.append(self)

    async def _run(self) -> None:
        while True:
            event = await self.peer.next_event()
            kind = event["event"]
            if kind == "publish" and self.bus is not None:
                self.bus.send_raw(base64.b64decode(event["wire"]), exclude=self)
            elif kind == "listening":
                self._listening.set_result(event["port"])
            elif kind == "connection":
                self.connections.put_nowait(event["id"])
                self.connected.put_nowait(event)
            elif kind == "disconnect":
                self.disconnects.put_nowait(event)
            elif kind == "server_side":
                self.server_side.put_nowait(from_wire(event["args"]))
            elif kind == "done":
                future = self._results.pop(event["ref"])
                if event.get("error"):
                    future.set_exception(AssertionError(f"node: {event['error']}"))
                else:
                    future.set_result(from_wire(event.get("result")))

    async def listening(self) -> int:
        self.port = await asyncio.wait_for(self._listening, 15)
        return self.port

    def receive(self, wire: bytes) -> None:
        """A message on the bus: to Node's adapter."""
        self.peer.command("message", wire=base64.b64encode(wire).decode())

    async def call(self, cmd: str, **fields: Any) -> Any:
        ref = next(self._refs)
        future = self._results[ref] = asyncio.get_running_loop().create_future()
        self.peer.command(cmd, ref=ref, **fields)
        return await asyncio.wait_for(future, 15)

    async def stop(self) -> None:
        if self.bus is not None and self in self.bus.adapters:
            self.bus.adapters.remove(self)
        self._pump.cancel()
