"""Namespaces: Node's ``Namespace`` and ``ParentNamespace`` (dynamic namespaces)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sio._events import EventEmitter, Handler, run_chain, spawn
from sio._sio_core import SIO_CONNECT_ERROR
from sio.adapters.base import BaseAdapter, BroadcastFlags
from sio.adapters.memory import ParentAdapter
from sio.broadcast import NAMESPACE_RESERVED_EVENTS, BroadcastOperator, RemoteSocket
from sio.engine import OPEN, prepare_messages
from sio.errors import ConnectError, LocalProtocolError
from sio.parser import Packet
from sio.recovery import Session
from sio.socket import Socket, deliver, expect_acks, forget_acks

if TYPE_CHECKING:
    from sio.client import Client
    from sio.server import Server

log = logging.getLogger("sio")


def _js_truthy(value: Any) -> bool:
    """JavaScript's truthiness: false for undefined/null, false, 0, NaN and "" (not for [] or {})."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)):
        return value == value and value != 0  # NaN and zero are falsy
    return True


class Namespace(EventEmitter):
    """A communication channel: its sockets, middlewares, rooms (adapter) and events.

    Events: ``connection`` (and its alias ``connect``) with the new :class:`Socket`.
    """

    def __init__(self, server: Server, name: str) -> None:
        super().__init__()
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self.parent: ParentNamespace | None = None  # set on children of a dynamic namespace
        # The server's parser, bound once: every emit calls it.
        self.encode = server.parser.encode
        self._fns: list[Handler] = []
        self._ack_ids = itertools.count()
        self.adapter = self._make_adapter()
        server._init_adapter(self.adapter)

    def _make_adapter(self) -> BaseAdapter:
        return self.server._adapter_factory(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name} sockets={len(self.sockets)}>"

    def next_ack_id(self) -> int:
        """A fresh ack id (one counter per namespace, shared by its sockets and broadcasts)."""
        return next(self._ack_ids)

    # -- what the adapter hands back: the recipients of a broadcast ---------------------

    def deliver(self, packet: Packet, sockets: Iterable[Socket], flags: BroadcastFlags) -> list[str | bytes]:
        """Write ``packet`` to ``sockets`` (an adapter's selection, iterated once); return its messages.

        Encoded once with the server's parser and framed once by the engine: the same bytes
        reach every recipient. ``flags.volatile`` skips sockets whose transport cannot take
        it now. The encoded messages come back for a caller that keeps their size.
        """
        data = packet.data
        messages = self.encode(packet.type, self.name, data, packet.id)
        deliver(sockets, prepare_messages(messages, flags.compress), data, flags.volatile)
        return messages

    def deliver_with_ack(
        self, packet: Packet, sockets: list[Socket], flags: BroadcastFlags, ack: Callable[..., Any]
    ) -> int:
        """Like :meth:`deliver` for a packet with an ack id; ``ack(*answer)`` per client answer.

        Returns how many sockets were written to. Answers not in by ``flags.timeout`` are
        forgotten (no stale ack stays on a socket).
        """
        ack_id = packet.id
        if ack_id is None:
            raise LocalProtocolError("deliver_with_ack needs a packet with an ack id")
        data = packet.data
        prepared = prepare_messages(
            self.encode(packet.type, self.name, data, ack_id), flags.compress
        )  # EncodeError
        expect_acks(sockets, ack_id, ack)
        deliver(sockets, prepared, data, flags.volatile)
        if sockets and flags.timeout is not None:
            timer = self.server.wheel.timer(lambda: forget_acks(sockets, ack_id))
            timer.arm(flags.timeout)
        return len(sockets)

    def use(self, fn: Handler) -> Handler:
        """Add a middleware ``fn(socket)`` (sync or async) run before ``connection``.

        Raising :class:`~sio.ConnectError` refuses the connection with CONNECT_ERROR.
        """
        self._fns.append(fn)
        return fn

    # -- broadcasting -----------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Target the sockets in ``room``."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Target every socket but those in ``room``."""
        return self._operator().except_(room)

    def emit(self, event: str, *args: Any) -> bool:  # type: ignore[override]
        """Send ``event`` to every socket of the namespace."""
        return self._operator().emit(event, *args)

    def send(self, *args: Any) -> bool:
        """Emit a ``message`` event to every socket."""
        return self.emit("message", *args)

    write = send

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for acks."""
        return self._operator().timeout(seconds)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the event where the transport cannot take it now."""
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's sockets."""
        return self._operator().local

    def compress(self, compress: bool) -> BroadcastOperator:
        """Whether the next broadcast may be compressed (True by default, as in Node)."""
        return self._operator().compress(compress)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """Every socket of the namespace, on every server (other servers' as :class:`RemoteSocket`)."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket join ``rooms``."""
        self._operator().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket leave ``rooms``."""
        self._operator().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket."""
        self._operator().disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to this namespace on the other servers of the cluster.

        They receive it with ``nsp.on(event, handler)``. A trailing callable asks for their
        answers: it is called as ``cb(err, responses)`` (``err`` an
        :class:`~sio.AckTimeoutError` after 5 s, with the answers that came).
        """
        return self._operator().server_side_emit(event, *args)

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` to the other servers and return their answers (one per server).

        Raises :class:`~sio.AckTimeoutError` (its ``responses``: the answers that came) when
        a server does not answer within the timeout (``timeout(s)``; 5 s by default).
        """
        return await self._operator().server_side_emit_with_ack(event, *args)

    def receive_server_side_emit(self, packet: list[Any]) -> None:
        """``[event, *args]`` another server sent with ``server_side_emit``: call this namespace's handlers.

        Reserved names (``connection``, ...) are refused with :class:`~sio.LocalProtocolError`.
        """
        if not packet or not isinstance(packet[0], str) or packet[0] in NAMESPACE_RESERVED_EVENTS:
            raise LocalProtocolError(f"not a server-side event: {packet[:1]!r}")
        EventEmitter.emit(self, packet[0], *packet[1:])

    # -- connections --------------------------------------------------------------------

    def _add(self, client: Client, auth: Any, on_connected: Callable[[Socket], None]) -> None:
        recovery = self.server.recovery
        if recovery is not None and isinstance(auth, dict):
            pid, offset = auth.get("pid"), auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):  # Node's test: both strings
                spawn(self._add_recovering(client, auth, pid, offset, on_connected), self)
                return
        self._create(client, auth, None, on_connected)

    async def _add_recovering(
        self,
        client: Client,
        auth: dict[str, Any],
        pid: str,
        offset: str,
        on_connected: Callable[[Socket], None],
    ) -> None:
        session: Session | None = None
        try:
            session = await self.adapter.restore_session(pid, offset)
        except Exception as exc:  # the adapter's store is away: a fresh session, as Node
            log.warning("could not restore session %s in %s: %r", pid, self.name, exc)
        if client.conn.ready_state is not OPEN or client.closed:
            if session is not None:  # gone while restoring: keep the session for its next try
                self.adapter.persist_session(session)
            client._connecting.discard(self.name)
            return
        self._create(client, auth, session, on_connected)

    def _create(
        self, client: Client, auth: Any, session: Session | None, on_connected: Callable[[Socket], None]
    ) -> None:
        if session is not None and session.sid in self.sockets:  # its id is in use again: never two
            session = None
        socket = Socket(self, client, auth, session)
        if session is not None and self.server.recovery.skip_middlewares:  # type: ignore[union-attr]
            self._after_middlewares(socket, None, on_connected)
            return
        run_chain(list(self._fns), socket, lambda err: self._after_middlewares(socket, err, on_connected))

    def _after_middlewares(
        self, socket: Socket, err: BaseException | None, on_connected: Callable[[Socket], None]
    ) -> None:
        client = socket.client
        client._connecting.discard(self.name)
        if client.conn.ready_state is not OPEN or client.closed:
            socket._abandon()
            return
        if err is not None:
            socket._abandon()  # a join from a late task must not leave adapter entries either
            if not isinstance(err, ConnectError):
                self.server._log_middleware_error(socket, err)
            message = str(err) or type(err).__name__
            data = getattr(err, "data", None)
            if client.conn.protocol == 3:  # a v2 client's "error" event gets `err.data || err.message`
                socket._packet(SIO_CONNECT_ERROR, data if _js_truthy(data) else message)
                return
            # Node sends {message, data} for any error; data only when the error has one.
            payload: dict[str, Any] = {"message": message}
            if data is not None:
                payload["data"] = data
            socket._packet(SIO_CONNECT_ERROR, payload)
            return
        self.sockets[socket.id] = socket
        client._add(socket)
        socket._on_connect()
        on_connected(socket)
        self.emit_local("connect", socket)
        self.emit_local("connection", socket)

    def emit_local(self, event: str, *args: Any) -> bool:
        """Call this namespace's own handlers for ``event`` (not a broadcast)."""
        return EventEmitter.emit(self, event, *args)

    def _remove(self, socket: Socket) -> None:
        self.sockets.pop(socket.id, None)
        parent = self.parent
        if parent is not None and not self.sockets and self.server.cleanup_empty_child_namespaces:
            parent._forget_child(self)


class ParentNamespace(Namespace):
    """A dynamic namespace: children are created for the names its matcher accepts.

    Children inherit the parent's middlewares and connection handlers (as they are
    when the child is created); ``emit`` on the parent reaches every child.
    """

    _counter = itertools.count()

    def __init__(self, server: Server, matcher: Callable[[str, Any], Any]) -> None:
        self.children: set[Namespace] = set()
        super().__init__(server, f"/_{next(self._counter)}")
        self.matcher = matcher

    def _make_adapter(self) -> BaseAdapter:
        return ParentAdapter(self)

    def create_child(self, name: str) -> Namespace:
        """Create (and register) the child namespace ``name``."""
        child = Namespace(self.server, name)
        child.parent = self
        child._fns = list(self._fns)
        for event in ("connect", "connection"):
            for handler in self.listeners(event):
                child.on(event, handler)
        self.children.add(child)
        self.server._nsps[name] = child
        self.server.sockets.emit_local("new_namespace", child)
        return child

    def _forget_child(self, child: Namespace) -> None:
        """Drop an empty child (``cleanup_empty_child_namespaces``)."""
        self.children.discard(child)
        if self.server._nsps.get(child.name) is child:
            del self.server._nsps[child.name]
        spawn(child.adapter.close(), child.adapter)  # as Node: a cluster adapter says it left
