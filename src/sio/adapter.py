"""The in-memory adapter: which sockets are in which rooms, and broadcasting to them.

Same contract as Node's ``socket.io-adapter`` (the base a Redis adapter extends):
``add_all``/``delete``/``delete_all`` keep ``rooms`` (room -> socket ids) and
``sids`` (socket id -> rooms) in step and emit ``create-room``, ``delete-room``,
``join-room`` and ``leave-room``; ``broadcast`` encodes a packet once and writes
the same encoded packets to every recipient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sio._events import EventEmitter
from sio._sio_core import encode_sio_packet
from sio.engine.exchange import EncodedPacket, SharedPacket

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.socket import Socket

log = logging.getLogger("sio")


NO_ROOMS: frozenset[str] = frozenset()


class BroadcastFlags:
    """Modifiers of a broadcast (Node's BroadcastFlags); immutable, ``replace`` makes a changed copy."""

    __slots__ = ("compress", "local", "timeout", "volatile")
    DEFAULT: BroadcastFlags

    def __init__(
        self, volatile: bool = False, compress: bool = True, local: bool = False, timeout: float | None = None
    ) -> None:
        self.volatile = volatile
        self.compress = compress
        self.local = local
        self.timeout = timeout

    def replace(self, **changes: Any) -> BroadcastFlags:
        """A copy with some flags changed."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return BroadcastFlags(**values)

    def __repr__(self) -> str:
        return f"BroadcastFlags({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


BroadcastFlags.DEFAULT = BroadcastFlags()


class BroadcastOptions:
    """Who receives a broadcast: sockets in any of ``rooms`` (all when empty), minus ``except_``."""

    __slots__ = ("except_", "flags", "rooms")

    def __init__(
        self,
        rooms: frozenset[str] = NO_ROOMS,
        except_: frozenset[str] = NO_ROOMS,
        flags: BroadcastFlags = BroadcastFlags.DEFAULT,
    ) -> None:
        self.rooms = rooms
        self.except_ = except_
        self.flags = flags


def encode_for_engine(packet_type: int, nsp: str, data: Any, ack_id: int | None = None) -> list[str | bytes]:
    """Encode a Socket.IO packet as the Engine.IO packets that carry it (text first, then attachments)."""
    return encode_sio_packet(packet_type, nsp, data, ack_id, engine=True)  # type: ignore[no-any-return]


def shared(packets: list[str | bytes]) -> list[EncodedPacket]:
    """Wrap packets written to many sockets so that each WebSocket frame is built once."""
    return [SharedPacket(packet) for packet in packets]


class Adapter(EventEmitter):
    """In-memory rooms of one namespace."""

    def __init__(self, nsp: Namespace) -> None:
        super().__init__()
        self.nsp = nsp
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}

    # -- membership --------------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""
        socket_rooms = self.sids.get(sid)
        if socket_rooms is None:
            socket_rooms = self.sids[sid] = set()
        for room in rooms:
            socket_rooms.add(room)
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = set()
                self.emit("create-room", room)
            if sid not in members:
                members.add(sid)
                self.emit("join-room", room, sid)

    def delete(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room``."""
        socket_rooms = self.sids.get(sid)
        if socket_rooms is not None:
            socket_rooms.discard(room)
        self._delete(room, sid)

    def _delete(self, room: str, sid: str) -> None:
        members = self.rooms.get(room)
        if members is None or sid not in members:
            return
        members.remove(sid)
        self.emit("leave-room", room, sid)
        if not members:
            del self.rooms[room]
            self.emit("delete-room", room)

    def delete_all(self, sid: str) -> None:
        """Remove socket ``sid`` from every room."""
        socket_rooms = self.sids.pop(sid, None)
        if socket_rooms is None:
            return
        for room in list(socket_rooms):
            self._delete(room, sid)

    def socket_rooms(self, sid: str) -> set[str]:
        """The rooms of one socket (a copy)."""
        return set(self.sids.get(sid, ()))

    # -- selection ---------------------------------------------------------------

    def _except_sids(self, except_rooms: frozenset[str]) -> set[str]:
        excluded: set[str] = set()
        for room in except_rooms:
            members = self.rooms.get(room)
            if members:
                excluded.update(members)
        return excluded

    def matching(self, opts: BroadcastOptions) -> Iterator[Socket]:
        """The sockets a broadcast with ``opts`` reaches, each once.

        Looked up as the caller goes, as in Node's adapter: a socket that disconnects or
        leaves the room meanwhile (say, from an outgoing listener of an earlier recipient)
        is skipped. Callers that change rooms themselves take a list first.
        """
        sockets = self.nsp.sockets
        if not opts.rooms and not opts.except_:  # everyone: the common broadcast, kept tight
            for sid in list(self.sids):
                socket = sockets.get(sid)
                if socket is not None:
                    yield socket
            return
        excluded = self._except_sids(opts.except_) if opts.except_ else None
        if opts.rooms:
            seen: set[str] = set()
            for room in opts.rooms:
                members = self.rooms.get(room)
                if not members:
                    continue
                for sid in list(members):
                    if sid in seen or sid not in members or (excluded and sid in excluded):
                        continue
                    socket = sockets.get(sid)
                    if socket is not None:
                        seen.add(sid)
                        yield socket
        else:
            for sid in list(self.sids):
                if excluded and sid in excluded:
                    continue
                socket = sockets.get(sid)
                if socket is not None:
                    yield socket

    def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """Ids of the sockets in any of ``rooms`` (all sockets when empty)."""
        return {s.id for s in self.matching(BroadcastOptions(frozenset(rooms)))}

    # -- broadcast ---------------------------------------------------------------

    def broadcast(self, packet_type: int, data: Any, opts: BroadcastOptions) -> None:
        """Encode once, write the same packets (and WebSocket frames) to every matching socket."""
        packets = shared(encode_for_engine(packet_type, self.nsp.name, data))
        volatile = opts.flags.volatile
        for socket in self.matching(opts):
            if volatile or socket._any_outgoing:
                socket._write_broadcast(packets, data, volatile)
            else:  # the common case, once per recipient: straight to the engine
                socket.client.conn.send_encoded(packets)

    def broadcast_with_ack(
        self, packet_type: int, data: Any, opts: BroadcastOptions, on_response: Callable[..., None]
    ) -> tuple[int, list[Socket]]:
        """Broadcast with an ack id; ``on_response(*args)`` is called per answer.

        Returns the ack id and the sockets written to.
        """
        ack_id = self.nsp._next_ack_id()
        packets = shared(encode_for_engine(packet_type, self.nsp.name, data, ack_id))
        volatile = opts.flags.volatile
        recipients = list(self.matching(opts))
        for socket in recipients:
            socket._set_ack(ack_id, on_response)
            socket._write_broadcast(packets, data, volatile)
        return ack_id, recipients

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the matching sockets join ``rooms``."""
        rooms = list(rooms)
        for socket in list(self.matching(opts)):
            socket.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the matching sockets leave ``rooms``."""
        rooms = list(rooms)
        for socket in list(self.matching(opts)):
            for room in rooms:
                socket.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the matching sockets."""
        for socket in list(self.matching(opts)):
            socket.disconnect(close)

    def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        """The matching sockets (local ones: the Socket objects themselves)."""
        return list(self.matching(opts))

    def server_side_emit(self, args: list[Any]) -> None:
        """Send an event to the other servers of the cluster: there are none in memory."""
        log.warning("server_side_emit(%r) has no effect: the in-memory adapter has no other server", args[:1])

    def server_count(self) -> int:
        """Number of servers in the cluster."""
        return 1

    async def close(self) -> None:
        """Release the adapter's resources (nothing in memory)."""


class ParentAdapter(Adapter):
    """The adapter of a dynamic parent namespace: broadcasts reach every child namespace.

    Like Node's ParentBroadcastAdapter, it has no sockets of its own; fetching sockets
    and broadcast acks are not supported on a parent.
    """

    def _children(self) -> list[Adapter]:
        return [child.adapter for child in list(self.nsp.children)]  # type: ignore[attr-defined]

    def broadcast(self, packet_type: int, data: Any, opts: BroadcastOptions) -> None:
        """Broadcast in every child namespace (each encodes once, with its own name)."""
        for adapter in self._children():
            adapter.broadcast(packet_type, data, opts)

    def broadcast_with_ack(
        self, packet_type: int, data: Any, opts: BroadcastOptions, on_response: Callable[..., None]
    ) -> tuple[int, list[Socket]]:
        """Not supported on a parent namespace."""
        raise NotImplementedError("broadcast acks are not supported on a parent namespace")

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the matching sockets of every child join ``rooms``."""
        for adapter in self._children():
            adapter.add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the matching sockets of every child leave ``rooms``."""
        for adapter in self._children():
            adapter.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the matching sockets of every child."""
        for adapter in self._children():
            adapter.disconnect_sockets(opts, close)

    def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        """Not supported on a parent namespace (as in Node)."""
        raise NotImplementedError("fetch_sockets() is not supported on a parent namespace")
