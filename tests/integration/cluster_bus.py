"""An in-process message bus for cluster adapters: the shape of socket.io-adapter's own cluster tests.

Every message is serialised with msgpack on the way (as Node's adapters do), so what crosses
the bus is what would cross Redis, and it is delivered from the loop (``call_soon``), not
from inside the publisher's call.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Protocol

import msgpack

from sio.adapters import ClusterAdapterWithHeartbeat, ClusterMessage
from sio.namespace import Namespace


class Member(Protocol):
    """Something on the bus: takes encoded messages."""

    def receive(self, wire: bytes) -> None: ...


class Bus:
    """Delivers each published message to every other member of the bus."""

    def __init__(self) -> None:
        self.adapters: list[Member] = []
        self.published: list[ClusterMessage] = []  # decoded copies, in order
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def publish(self, sender: Member, message: ClusterMessage) -> None:
        """Send ``message`` (msgpack-encoded) to every adapter but ``sender``."""
        self.send_raw(msgpack.packb(message), exclude=sender)

    def send_raw(self, wire: bytes, exclude: Any = None) -> None:
        """Deliver encoded bytes to every adapter but ``exclude`` (garbage included)."""
        try:
            self.published.append(msgpack.unpackb(wire))
        except Exception:
            self.published.append({"garbage": wire})
        loop = asyncio.get_running_loop()
        for adapter in list(self.adapters):
            if adapter is not exclude:
                self._pending += 1
                self._idle.clear()
                loop.call_soon(self._deliver, adapter, wire)

    def _deliver(self, adapter: Member, wire: bytes) -> None:
        try:
            if adapter in self.adapters:
                adapter.receive(wire)
        finally:
            self._pending -= 1
            if not self._pending:
                self._idle.set()

    async def drained(self) -> None:
        """Wait until every message published so far, and every one they caused, is delivered."""
        while True:
            await asyncio.wait_for(self._idle.wait(), 10)
            await asyncio.sleep(0)  # let handlers that publish from a call_soon run
            if self._idle.is_set():
                return


class BusAdapter(ClusterAdapterWithHeartbeat):
    """A cluster adapter that only moves bytes over a :class:`Bus` (all it has to do)."""

    def __init__(self, nsp: Namespace, bus: Bus, **options: Any) -> None:
        super().__init__(nsp, **options)
        self.bus = bus
        bus.adapters.append(self)

    def receive(self, wire: bytes) -> None:
        """Bytes from the bus: decode and hand to the protocol."""
        try:
            message = msgpack.unpackb(wire)
        except Exception:
            message = wire  # undecodable: on_message reports it
        self.on_message(message)

    def do_publish(self, message: ClusterMessage) -> None:
        self.bus.publish(self, message)

    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        self.bus.publish(self, response)

    async def close(self) -> None:
        await super().close()
        if self in self.bus.adapters:
            self.bus.adapters.remove(self)

    def leave_silently(self) -> None:
        """Stop receiving and publishing without ADAPTER_CLOSE (a node that crashed)."""
        if self in self.bus.adapters:
            self.bus.adapters.remove(self)
        for timer in (self._heartbeat_timer, self._cleanup_timer):
            if timer is not None:
                timer.cancel()
        self.do_publish = lambda message: None  # type: ignore[method-assign]


async def wait_until(condition: Callable[[], Any], what: str = "the condition", limit: float = 10.0) -> None:
    """Wait until ``condition()`` (sync or async) holds: for states the cluster reaches by timers
    (heartbeats, timeouts) rather than by an event a test can await. Fails after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {limit} s")
        await asyncio.sleep(0.01)


def room_change(adapter: Any, kind: str, room: str, sid: str) -> asyncio.Future[None]:
    """A future done when ``adapter`` emits ``kind`` ("join-room" / "leave-room") for ``room`` and ``sid``.

    Made before the change is asked for (from another node, say), so the test waits for the
    event itself instead of polling the rooms.
    """
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def listener(changed_room: str, changed_sid: str) -> None:
        if changed_room == room and changed_sid == sid and not future.done():
            future.set_result(None)
            adapter.off(kind, listener)

    adapter.on(kind, listener)
    return future
