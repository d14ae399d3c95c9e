"""The in-memory adapter: one server's rooms and broadcasts (Node's socket.io-adapter ``Adapter``).

``add_all``/``delete``/``delete_all`` keep ``rooms`` (room -> socket ids) and ``sids``
(socket id -> rooms) in step and emit the room events; ``broadcast`` selects the
recipients and hands them to the namespace, which encodes the packet once and writes
the same bytes to each (``Namespace.deliver``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sio._sio_core import SIO_EVENT
from sio.adapters.base import NO_ROOMS, BaseAdapter, BroadcastOptions, SocketDetails
from sio.parser import Packet
from sio.recovery import PacketLog, Session, SessionStore

if TYPE_CHECKING:
    from sio.socket import Socket

__all__ = ["Adapter", "InMemoryAdapter", "ParentAdapter"]

log = logging.getLogger("sio")


class InMemoryAdapter(BaseAdapter):
    """Rooms of one namespace on one server.

    With connection state recovery on it is also Node's ``SessionAwareAdapter``: a bounded
    :class:`~sio.recovery.PacketLog` of what it delivered (its own broadcasts and, in a cluster
    adapter built on it, the other servers'), and the sessions of sockets that left, so a
    client that comes back to this server is recovered.
    """

    _log: PacketLog | None = None  # made on first use, on the loop (its timer is on the wheel)
    _sessions: SessionStore | None = None

    # -- membership --------------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""
        socket_rooms = self.sids.get(sid)
        if socket_rooms is None:
            socket_rooms = self.sids[sid] = {}
        for room in rooms:
            socket_rooms[room] = None
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
            socket_rooms.pop(room, None)
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
        """The local sockets a broadcast with ``opts`` reaches, each once.

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
        """Ids of the local sockets in any of ``rooms`` (all sockets when empty)."""
        return {s.id for s in self.matching(BroadcastOptions(frozenset(rooms)))}

    # -- broadcast ---------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Write ``packet`` to every matching local socket (encoded once, by the namespace).

        With recovery on, an EVENT without an ack id and not volatile gets the next offset
        of the packet log appended, and is kept there.
        """
        if (
            self.recovery is not None
            and packet.type == SIO_EVENT
            and packet.id is None
            and not opts.flags.volatile
        ):
            packet_log = self.packet_log()
            data = [*packet.data, packet_log.next_offset()]
            messages = self.nsp.deliver(Packet(SIO_EVENT, packet.nsp, data), self.matching(opts), opts.flags)
            packet_log.append(opts.rooms, opts.except_, data, sum(map(len, messages)))
            return
        self.nsp.deliver(packet, self.matching(opts), opts.flags)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        """Broadcast with a fresh ack id; report the local client count, then each answer."""
        nsp = self.nsp
        packet = Packet(packet.type, nsp.name, packet.data, nsp.next_ack_id())
        count = nsp.deliver_with_ack(packet, list(self.matching(opts)), opts.flags, ack)
        client_count_callback(count)

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

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | SocketDetails]:
        """The matching sockets (local ones: the Socket objects themselves)."""
        return list(self.matching(opts))

    def server_side_emit(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """There are no other servers in memory: a warning, and an ack gets no answers."""
        log.warning(
            "server_side_emit(%r) has no effect: the in-memory adapter has no other server", packet[:1]
        )
        if ack is not None:
            asyncio.get_running_loop().call_soon(ack, None, [])

    async def server_count(self) -> int:
        """One server."""
        return 1

    # -- connection state recovery -------------------------------------------------

    def packet_log(self) -> PacketLog:
        """This namespace's replayable packets (recovery on)."""
        packet_log = self._log
        if packet_log is None:
            assert self.recovery is not None
            packet_log = self._log = PacketLog(self.recovery, self.nsp.server.wheel)
        return packet_log

    def session_store(self) -> SessionStore:
        """The sessions of this server's sockets that left (recovery on)."""
        store = self._sessions
        if store is None:
            assert self.recovery is not None
            store = self._sessions = SessionStore(
                self.recovery.max_disconnection_duration, self.nsp.server.wheel
            )
        return store

    def emit_to_socket(self, socket: Socket, data: list[Any], compress: bool = True) -> None:
        """Record the socket's own emit in the log (offset appended) and write it straight to it."""
        packet_log = self.packet_log()
        data.append(packet_log.next_offset())
        nsp = self.nsp
        messages = nsp.encode(SIO_EVENT, nsp.name, data)  # EncodeError: nothing recorded
        packet_log.append(frozenset((socket.id,)), NO_ROOMS, data, sum(map(len, messages)))
        socket._send(messages, data, compress)

    def persist_session(self, session: Session) -> None:
        """Keep the session here for ``max_disconnection_duration``."""
        self.session_store().put(session)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session kept here, with the packets of the log it missed."""
        return self.restore_local_session(pid, offset)

    def restore_local_session(self, pid: str, offset: str) -> Session | None:
        """:meth:`restore_session` without waiting: this server's own session and log."""
        if self.recovery is None or self._sessions is None:
            return None
        session = self._sessions.peek(pid)
        if session is None:
            return None
        missed = self.packet_log().missed(offset, session.rooms)
        if missed is None:  # the offset is not (or no longer) known: a fresh start, the session stays
            return None
        self._sessions.take(pid)
        session.missed_packets = missed
        return session


Adapter = InMemoryAdapter  # Node's name for the in-memory adapter (the class custom adapters extend)


class ParentAdapter(InMemoryAdapter):
    """The adapter of a dynamic parent namespace: broadcasts reach every child namespace.

    Like Node's ParentBroadcastAdapter, it has no sockets of its own; fetching sockets
    and broadcast acks are not supported on a parent.
    """

    def _children(self) -> list[BaseAdapter]:
        return [child.adapter for child in list(self.nsp.children)]  # type: ignore[attr-defined]

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Broadcast in every child namespace (each encodes once, with its own name)."""
        for adapter in self._children():
            adapter.broadcast(Packet(packet.type, adapter.nsp.name, packet.data), opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
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

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | SocketDetails]:
        """Not supported on a parent namespace (as in Node)."""
        raise NotImplementedError("fetch_sockets() is not supported on a parent namespace")
