"""The adapter contract (Node's ``socket.io-adapter`` ``Adapter``): rooms, broadcasts, the cluster.

One adapter per namespace keeps which sockets are in which rooms and carries what a
namespace asks of *every* server of a deployment: broadcasts (with acks counted on
every node), making sockets join, leave or disconnect, fetching sockets, server-side
events and the server count. :class:`~sio.adapters.memory.InMemoryAdapter` is the one
server's answer; :class:`~sio.adapters.cluster.ClusterAdapter` speaks Node's cluster
protocol over two abstract methods, so a concrete cluster adapter only moves bytes.

Packets cross this seam as packets (:class:`~sio.parser.Packet`: type, namespace, data,
ack id), never as encoded frames: the adapter selects recipients and hands them to the
namespace (``Namespace.deliver``), which encodes with the server's parser.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sio._events import EventEmitter
from sio._sio_core import SIO_EVENT
from sio.parser import Packet
from sio.recovery import RecoveryOptions, Session

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.socket import Socket

__all__ = ["NO_ROOMS", "BaseAdapter", "BroadcastFlags", "BroadcastOptions", "SocketDetails"]

NO_ROOMS: frozenset[str] = frozenset()

# What fetch_sockets gives for a socket held by another server (Node's SocketDetails):
# {"id", "handshake", "rooms", "data"}, as the cluster carries it.
SocketDetails = dict[str, Any]


class BroadcastFlags:
    """Modifiers of a broadcast (Node's ``BroadcastFlags``); immutable, ``replace`` makes a changed copy.

    ``timeout`` is in seconds (Node's is in milliseconds; the cluster wire carries milliseconds).
    ``expect_single_response``: a broadcast to one remote socket whose ack callback takes one
    answer, not a list (``RemoteSocket.emit``).
    """

    __slots__ = ("compress", "expect_single_response", "local", "timeout", "volatile")
    DEFAULT: BroadcastFlags
    LOCAL: BroadcastFlags

    def __init__(
        self,
        volatile: bool = False,
        compress: bool = True,
        local: bool = False,
        timeout: float | None = None,
        expect_single_response: bool = False,
    ) -> None:
        self.volatile = volatile
        self.compress = compress
        self.local = local
        self.timeout = timeout
        self.expect_single_response = expect_single_response

    def replace(self, **changes: Any) -> BroadcastFlags:
        """A copy with some flags changed."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return BroadcastFlags(**values)

    def __repr__(self) -> str:
        return f"BroadcastFlags({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


BroadcastFlags.DEFAULT = BroadcastFlags()
BroadcastFlags.LOCAL = BroadcastFlags(local=True)


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

    def __repr__(self) -> str:
        rooms, except_ = set(self.rooms), set(self.except_)
        return f"BroadcastOptions(rooms={rooms!r}, except_={except_!r}, flags={self.flags!r})"


class BaseAdapter(EventEmitter, ABC):
    """What a namespace asks of its adapter.

    Room bookkeeping (``rooms``: room -> socket ids, ``sids``: socket id -> rooms) emits
    ``create-room``, ``delete-room``, ``join-room`` and ``leave-room``. The other methods
    act on every server of the deployment unless ``opts.flags.local`` is set.
    """

    def __init__(self, nsp: Namespace) -> None:
        super().__init__()
        self.nsp = nsp
        # The server's connection state recovery options (None: off), read on every broadcast.
        self.recovery: RecoveryOptions | None = nsp.server.recovery
        self.rooms: dict[str, set[str]] = {}
        # A socket's rooms in the order it joined them (a dict as an ordered set, as Node's Set):
        # it leaves them in that order, and the Admin UI lists them so.
        self.sids: dict[str, dict[str, None]] = {}

    def init(self) -> None:
        """Called once the namespace's server runs on an event loop (timers, subscriptions)."""

    async def close(self) -> None:
        """Release what the adapter holds (subscriptions, timers); tell the cluster it left."""

    # -- rooms of this server's sockets ----------------------------------------------

    @abstractmethod
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``."""

    @abstractmethod
    def delete(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room``."""

    @abstractmethod
    def delete_all(self, sid: str) -> None:
        """Remove socket ``sid`` from every room."""

    @abstractmethod
    def socket_rooms(self, sid: str) -> set[str]:
        """The rooms of one local socket (a copy)."""

    # -- what reaches every server ----------------------------------------------------

    @abstractmethod
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to the sockets ``opts`` selects."""

    @abstractmethod
    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[Any], None],
    ) -> None:
        """Broadcast asking each client for an ack.

        Each server calls ``client_count_callback(n)`` once with the number of its clients
        written to; ``ack(answer)`` is called per client answer. The caller completes once
        ``server_count()`` servers reported and every counted client answered.
        """

    @abstractmethod
    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""

    @abstractmethod
    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""

    @abstractmethod
    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets (``close``: their whole connections)."""

    @abstractmethod
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | SocketDetails]:
        """The selected sockets: local :class:`~sio.Socket` objects, and details of remote ones."""

    @abstractmethod
    def server_side_emit(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send ``[event, *args]`` to the other servers' namespace handlers.

        With ``ack``, it is called as ``ack(err, responses)`` once every other server
        answered (``err`` None), or after ``timeout`` seconds (``err`` an
        :class:`~sio.AckTimeoutError`, ``responses`` the answers that came).
        """

    @abstractmethod
    async def server_count(self) -> int:
        """How many servers the deployment has (this one included)."""

    # -- connection state recovery (Node's SessionAwareAdapter) -----------------------
    #
    # With ``sio.Server(connection_state_recovery=...)`` on, the adapter appends an offset to
    # every EVENT packet it delivers without an ack id and not volatile (the packet's data
    # gains a last argument), keeps what it needs to replay them, and keeps the sessions of
    # sockets that disconnected for a recoverable reason. Without recovery none of this runs.

    def emit_to_socket(self, socket: Socket, data: list[Any], compress: bool = True) -> None:
        """A socket's own ``emit`` of EVENT ``data`` with recovery on (no ack, not volatile).

        As Node: a broadcast to the socket's own room, so the adapter records it and appends
        its offset. Adapters override it with something cheaper where they can. ``compress``:
        the socket's ``compress`` flag.
        """
        flags = BroadcastFlags.LOCAL if compress else BroadcastFlags.LOCAL.replace(compress=False)
        self.broadcast(
            Packet(SIO_EVENT, self.nsp.name, data), BroadcastOptions(frozenset((socket.id,)), NO_ROOMS, flags)
        )

    def socket_data_changed(self, sid: str) -> None:
        """The ``data`` of connected socket ``sid`` was written to (nothing to do by default)."""

    def persist_session(self, session: Session) -> None:
        """Keep a disconnected socket's session for ``max_disconnection_duration`` (Node's base: nothing)."""

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session of private id ``pid`` with the packets it missed after ``offset``.

        None (a fresh session) when the session is unknown or expired, or ``offset`` is
        not or no longer known. Node's base adapter keeps nothing: always None.
        """
        return None
