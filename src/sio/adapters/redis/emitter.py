"""Emit to a Redis-backed cluster from a process without clients (Node's ``@socket.io/redis-emitter`` 5.1.0).

The messages are the emitter's, as Node's classic adapter reads them (sio's and Node's alike):
broadcasts as msgpack ``["emitter", {type: 2, data, nsp}, {rooms, flags, except}]`` on
``<key>#<nsp>#`` (``<key>#<nsp>#<room>#`` for one room); joins, leaves, disconnects and
server-side events as JSON requests on ``<key>-request#<nsp>#``.

With a URL or a ``redis.Redis`` (sync) client every call publishes at once (a worker, a script,
a thread). With a ``redis.asyncio.Redis`` client, calls queue their messages and one task
sends them, in order, from the running loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis

from sio._sio_core import RESERVED_EVENTS, SIO_EVENT
from sio.adapters.redis.classic import RequestType
from sio.adapters.redis.codec import encode_json, encode_msgpack
from sio.adapters.redis.connection import RedisLink
from sio.errors import LocalProtocolError

__all__ = ["RedisEmitter"]

EMITTER_UID = "emitter"


class _Publisher:
    """Where an emitter's messages go: a sync client at once, or an ordered queue on the loop."""

    def __init__(self, client: str | redis.Redis | aioredis.Redis) -> None:
        self.sync: redis.Redis | None = None
        self.link: RedisLink | None = None
        if isinstance(client, str):
            self.sync = redis.Redis.from_url(client, socket_connect_timeout=5.0)
        elif isinstance(client, aioredis.Redis):
            self.link = RedisLink(client)
        else:
            self.sync = client

    def publish(self, channel: str, message: bytes) -> None:
        if self.sync is not None:
            self.sync.publish(channel, message)
        else:
            assert self.link is not None
            self.link.publish(channel, message)
            self.link.start()  # needs the running loop; idempotent

    async def aclose(self) -> None:
        if self.link is not None:
            await self.link.close()
        elif self.sync is not None:
            self.sync.close()


class RedisEmitter:
    """Node's ``Emitter``: ``emitter.to("room").emit("news", data)``, ``emitter.of("/admin")``, ...

    ``client``: a Redis URL, a ``redis.Redis`` or a ``redis.asyncio.Redis``; ``key``: the
    adapters' ``key`` (``socket.io``).
    """

    def __init__(
        self,
        client: str | redis.Redis | aioredis.Redis = "redis://127.0.0.1:6379/0",
        *,
        key: str = "socket.io",
        nsp: str = "/",
        _publisher: _Publisher | None = None,
    ) -> None:
        self.key = key
        self.nsp = nsp if nsp.startswith("/") else "/" + nsp
        self._publisher = _publisher if _publisher is not None else _Publisher(client)

    def of(self, nsp: str) -> RedisEmitter:
        """The same emitter for namespace ``nsp``."""
        return RedisEmitter(key=self.key, nsp=nsp, _publisher=self._publisher)

    def _operator(self) -> EmitterOperator:
        return EmitterOperator(self)

    def to(self, room: str | Iterable[str]) -> EmitterOperator:
        """Target ``room`` (or rooms)."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> EmitterOperator:
        """Every socket but those in ``room``."""
        return self._operator().except_(room)

    @property
    def volatile(self) -> EmitterOperator:
        """Droppable where a transport cannot take it now."""
        return self._operator().volatile

    def compress(self, compress: bool) -> EmitterOperator:
        """The ``compress`` flag (carried to the servers)."""
        return self._operator().compress(compress)

    def emit(self, event: str, *args: Any) -> bool:
        """Broadcast ``event`` to every socket of the namespace, on every server."""
        return self._operator().emit(event, *args)

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the namespace join ``rooms``."""
        self._operator().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the namespace leave ``rooms``."""
        self._operator().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the namespace."""
        self._operator().disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the namespace's handlers on every server (no acks: no emitter can get them)."""
        if args and callable(args[-1]):
            raise LocalProtocolError("Acknowledgements are not supported")
        if event in RESERVED_EVENTS or event in ("connection", "new_namespace"):
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        message = {"uid": EMITTER_UID, "type": RequestType.SERVER_SIDE_EMIT, "data": [event, *args]}
        self._publisher.publish(f"{self.key}-request#{self.nsp}#", encode_json(message))

    async def aclose(self) -> None:
        """Send what is queued (asyncio client) and release the connection."""
        await self._publisher.aclose()


def _room_set(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


class EmitterOperator:
    """Rooms, exclusions and flags for one emitter call (immutable: each selector returns a new one)."""

    __slots__ = ("_emitter", "_except", "_flags", "_rooms")

    def __init__(
        self,
        emitter: RedisEmitter,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        flags: dict[str, Any] | None = None,
    ) -> None:
        self._emitter = emitter
        self._rooms = rooms
        self._except = except_rooms
        self._flags = flags or {}

    def to(self, room: str | Iterable[str]) -> EmitterOperator:
        """Also target ``room``."""
        return EmitterOperator(self._emitter, self._rooms | _room_set(room), self._except, self._flags)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> EmitterOperator:
        """Exclude the sockets in ``room``."""
        return EmitterOperator(self._emitter, self._rooms, self._except | _room_set(room), self._flags)

    @property
    def volatile(self) -> EmitterOperator:
        """Droppable where a transport cannot take it now."""
        return EmitterOperator(self._emitter, self._rooms, self._except, {**self._flags, "volatile": True})

    def compress(self, compress: bool) -> EmitterOperator:
        """The ``compress`` flag."""
        return EmitterOperator(
            self._emitter, self._rooms, self._except, {**self._flags, "compress": compress}
        )

    def emit(self, event: str, *args: Any) -> bool:
        """Publish the broadcast (no acks: an emitter cannot receive them)."""
        if event in RESERVED_EVENTS:
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        if args and callable(args[-1]):
            raise LocalProtocolError("Acknowledgements are not supported")
        emitter = self._emitter
        packet = {"type": SIO_EVENT, "data": [event, *args], "nsp": emitter.nsp}
        opts = {"rooms": list(self._rooms), "flags": self._flags, "except": list(self._except)}
        channel = f"{emitter.key}#{emitter.nsp}#"
        if len(self._rooms) == 1:
            channel += next(iter(self._rooms)) + "#"
        emitter._publisher.publish(channel, encode_msgpack([EMITTER_UID, packet, opts]))
        return True

    def _request(self, kind: int, **fields: Any) -> None:
        emitter = self._emitter
        message = {"type": kind, "opts": {"rooms": list(self._rooms), "except": list(self._except)}, **fields}
        emitter._publisher.publish(f"{emitter.key}-request#{emitter.nsp}#", encode_json(message))

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        self._request(RequestType.REMOTE_JOIN, rooms=sorted(_room_set(rooms)))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        self._request(RequestType.REMOTE_LEAVE, rooms=sorted(_room_set(rooms)))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets."""
        self._request(RequestType.REMOTE_DISCONNECT, close=close)
