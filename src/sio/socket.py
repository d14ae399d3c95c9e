"""A client's connection to one namespace: Node's ``Socket`` with Python names."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, overload

from sio._events import (
    EventEmitter,
    H,
    Handler,
    HandlerCall,
    call_event_handler,
    call_handler,
    positional_arity,
    run_chain,
)
from sio._sio_core import (
    RESERVED_EVENTS,
    SIO_ACK,
    SIO_BINARY_ACK,
    SIO_BINARY_EVENT,
    SIO_CONNECT,
    SIO_DISCONNECT,
    SIO_EVENT,
    SioPacket,
)
from sio.adapters.base import NO_ROOMS, BroadcastFlags
from sio.broadcast import BroadcastOperator
from sio.engine import OPEN, PreparedMessages
from sio.engine.exchange import parse_query_multi
from sio.errors import AckTimeoutError, EncodeError, LocalProtocolError
from sio.reasons import DisconnectReason
from sio.recovery import RECOVERABLE_REASONS, Session
from sio.socket_data import SocketData

if TYPE_CHECKING:
    from sio.client import Client
    from sio.engine import EngineSocket
    from sio.engine.exchange import HttpExchange
    from sio.namespace import Namespace

log = logging.getLogger("sio")


def _without(handlers: tuple[Handler, ...], handler: Handler | None) -> tuple[Handler, ...]:
    """``handlers`` less one ``handler`` (all of them when None)."""
    if handler is None:
        return ()
    if handler not in handlers:
        return handlers
    index = handlers.index(handler)
    return handlers[:index] + handlers[index + 1 :]


def _js_date(timestamp: float) -> str:
    """``new Date().toString()`` as Node prints it (in UTC)."""
    return time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(timestamp))


@dataclass
class Handshake:
    """What the client sent when it connected (Node's ``socket.handshake``)."""

    headers: dict[str, str]
    time: str
    address: str | None
    xdomain: bool
    secure: bool
    issued: int
    url: str
    query: dict[str, str | list[str]]
    auth: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_request(cls, request: HttpExchange, auth: Any) -> Handshake:
        """Build the handshake from the Engine.IO handshake request and the CONNECT auth."""
        now = time.time()
        headers = request.headers
        return cls(
            headers=headers,
            time=_js_date(now),
            address=request.remote_address,
            xdomain="origin" in headers,
            secure=request.secure,
            issued=int(now * 1000),
            url=request.path + ("?" + request.query_string if request.query_string else ""),
            query=parse_query_multi(request.query_string),
            auth=auth if isinstance(auth, dict) else {},
        )


class SocketState(StrEnum):
    """A socket's place in its life (transitions in ``Socket._enter``, the one place that changes it).

    connecting (the namespace's middlewares run; it may join rooms already) → connected
    (CONNECT answered, ``connection`` emitted) → disconnecting (``disconnecting`` handlers run,
    its rooms still set; it joins no more) → disconnected (out of its rooms and namespace; ``disconnect``
    handlers run). A socket refused by a middleware, or whose connection closed meanwhile, goes
    from connecting to disconnected. ``connected`` is True in connected and disconnecting, as
    Node's ``socket.connected``.
    """

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


_SOCKET_TRANSITIONS: dict[SocketState, frozenset[SocketState]] = {
    SocketState.CONNECTING: frozenset((SocketState.CONNECTED, SocketState.DISCONNECTED)),
    SocketState.CONNECTED: frozenset((SocketState.DISCONNECTING,)),
    SocketState.DISCONNECTING: frozenset((SocketState.DISCONNECTED,)),
    SocketState.DISCONNECTED: frozenset(),
}


class Socket(EventEmitter):
    """A client connected to a namespace.

    ``emit`` is synchronous and never blocks; handlers registered with ``on`` may be
    plain functions or coroutines. Reserved events: ``disconnecting`` and
    ``disconnect`` (handlers get the reason, and the description if they accept it).
    """

    def __init__(self, nsp: Namespace, client: Client, auth: Any, session: Session | None = None) -> None:
        super().__init__()
        self.nsp = nsp
        self.server = nsp.server
        self.client = client
        self.adapter = nsp.adapter
        # Whether connection state recovery gave this socket its previous id, rooms and data
        # (and the packets it missed, written before the CONNECT reply).
        self.recovered = session is not None
        if session is not None:
            self.id = session.sid
            self.pid: str | None = session.pid
            self._data = SocketData(self._data_changed, session.data)
        elif client.conn.protocol == 3:
            # As Node for a v2 client, which computes its socket's id itself from the session id.
            self.id = client.id if nsp.name == "/" else f"{nsp.name}#{client.id}"
            self.pid = secrets.token_urlsafe(15) if self.server.recovery is not None else None
            self._data = SocketData(self._data_changed)
        else:
            self.id = secrets.token_urlsafe(15)
            # The private id the client sends back to be recovered (None without recovery).
            self.pid = secrets.token_urlsafe(15) if self.server.recovery is not None else None
            self._data = SocketData(self._data_changed)
        self.handshake = Handshake.from_request(client.conn.request, auth)
        self.state = SocketState.CONNECTING
        self.connected = False  # kept by _enter: read on every event, so a plain attribute
        self._acks: dict[int, Callable[..., Any]] = {}
        # Tuples replaced on change: shared empty ones cost nothing per socket, and a
        # listener added while they are being called does not join that call.
        self._fns: tuple[Handler, ...] = ()
        self._any: tuple[Handler, ...] = ()
        self._any_outgoing: tuple[Handler, ...] = ()
        self._volatile = False
        self._compress = True  # False for the next emit only (socket.compress(False))
        self._timeout: float | None = None
        # How many positional arguments each handler takes, read once when it is registered: the
        # client's extra arguments (and an ack the handler has no parameter for) are dropped.
        self._arity: dict[Handler, int] = {}
        if session is not None:
            self.adapter.add_all(self.id, session.rooms)
            for packet in session.missed_packets:
                try:
                    self._packet(SIO_EVENT, packet)
                except EncodeError:  # a replayed packet the parser cannot carry: skipped, not fatal
                    log.debug("missed packet of %s not replayed: cannot be encoded", self.id)

    @property
    def data(self) -> dict[str, Any]:
        """Anything the application keeps for the socket (Node's ``socket.data``).

        A dict that reports writes to its top level (``socket.data["user"] = ...``; what changes
        inside a value is not seen, as with Node's Proxy), and so does assigning a new one (its
        items are copied in): the adapter keeps what depends on it up to date (the Redis Streams
        adapter rewrites the socket's live session).
        """
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = SocketData(self._data_changed, value)
        self._data_changed()

    # Told of every write to ``data`` while connected (the Admin UI's socket_updated), or None.
    _data_listener: Callable[[Socket], None] | None = None

    def _data_changed(self) -> None:
        if self.connected:
            self.adapter.socket_data_changed(self.id)
            if self._data_listener is not None:
                self._data_listener(self)

    def __repr__(self) -> str:
        return f"<Socket id={self.id} nsp={self.nsp.name} connected={self.connected}>"

    # -- handlers ------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Add ``handler`` for ``event`` (a decorator without it); it is called with the event's
        arguments, then the ack function if the client asked for one, as many as it takes (Node:
        JavaScript ignores extra arguments)."""
        if handler is None:
            return lambda fn: self.on(event, fn)
        self._arity[handler] = positional_arity(handler)
        return EventEmitter.on(self, event, handler)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove one handler (or its ``once`` wrapper), or every handler of ``event``."""
        EventEmitter.off(self, event, handler)
        self._forget_arities()

    def _forget_arities(self) -> None:
        """Drop the arities of handlers and catch-all listeners no longer registered."""
        registered = {h for handlers in self._handlers.values() for h in handlers}
        registered.update(self._any)
        self._arity = {h: n for h, n in self._arity.items() if h in registered}

    def _describe(self, handler: Handler, event: object) -> HandlerCall:
        return HandlerCall(handler, event, self.nsp.name, self.id)

    # -- properties ----------------------------------------------------------------

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (a copy), including its own id."""
        return self.adapter.socket_rooms(self.id)

    @property
    def conn(self) -> EngineSocket:
        """The underlying Engine.IO session (:class:`~sio.engine.EngineSocket`)."""
        return self.client.conn

    @property
    def disconnected(self) -> bool:
        """Whether the socket is disconnected."""
        return not self.connected

    # -- emitting ------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` with ``args``; a trailing callable is called with the client's ack.

        With ``timeout(s)`` in effect the callback is called as ``cb(err, *answers)``,
        ``err`` being None or an :class:`~sio.AckTimeoutError`.
        """
        if event in RESERVED_EVENTS:
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        volatile, timeout, compress = self._volatile, self._timeout, self._compress
        self._volatile = False
        self._timeout = None
        self._compress = True
        data = [event, *args]
        callback = None
        ack_id = None
        if args and callable(args[-1]):
            callback = data.pop()
            ack_id = self.nsp.next_ack_id()
        nsp = self.nsp
        if ack_id is None and not volatile and self.pid is not None:  # a pid: recovery is on
            self.adapter.emit_to_socket(self, data, compress)  # recorded for recovery, offset appended
            return True
        messages = nsp.encode(SIO_EVENT, nsp.name, data, ack_id)  # EncodeError: nothing registered
        if callback is not None:
            self._register_ack(ack_id, callback, timeout)  # type: ignore[arg-type]
        if self._any_outgoing:
            for listener in self._any_outgoing:
                call_handler(listener, *data)
        self.client._write(messages, volatile, compress)
        return True

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Emit and wait for the client's ack; return its first argument.

        Raises :class:`~sio.AckTimeoutError` when ``timeout`` (or ``timeout(s)``) expires.
        """
        if timeout is None:
            timeout = self._timeout
        self._timeout = timeout
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(*answers: Any) -> None:
            if future.done():
                return
            if timeout is not None:
                err, answers = answers[0], answers[1:]
                if err is not None:
                    future.set_exception(err)
                    return
            future.set_result(answers[0] if answers else None)

        self.emit(event, *args, settle)
        return await future

    def _register_ack(self, ack_id: int, callback: Callable[..., Any], timeout: float | None) -> None:
        if timeout is None:
            self._acks[ack_id] = callback
            return
        acks = self._acks

        def on_timeout() -> None:
            acks.pop(ack_id, None)
            call_handler(callback, AckTimeoutError())

        timer = self.server.wheel.timer(on_timeout)

        def on_ack(*answers: Any) -> None:
            timer.cancel()
            call_event_handler(callback, (None, *answers), positional_arity(callback), self._describe, "ack")

        acks[ack_id] = on_ack
        timer.arm(timeout)

    def timeout(self, seconds: float) -> Socket:
        """Make the next ``emit`` wait at most ``seconds`` for its ack."""
        self._timeout = seconds
        return self

    @property
    def volatile(self) -> Socket:
        """Make the next ``emit`` droppable when the transport cannot take it right now."""
        self._volatile = True
        return self

    def compress(self, compress: bool) -> Socket:
        """Whether the next ``emit`` may be compressed (permessage-deflate, HTTP compression of a
        polling response); True by default, as in Node."""
        self._compress = compress
        return self

    def send(self, *args: Any) -> bool:
        """Emit a ``message`` event."""
        return self.emit("message", *args)

    write = send

    # -- broadcasting from this socket --------------------------------------------

    def _operator(self) -> BroadcastOperator:
        flags = BroadcastFlags.DEFAULT
        if self._volatile or self._timeout is not None or not self._compress:
            flags = flags.replace(volatile=self._volatile, timeout=self._timeout, compress=self._compress)
            self._volatile = False
            self._timeout = None
            self._compress = True
        return BroadcastOperator(self.adapter, NO_ROOMS, frozenset((self.id,)), flags)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to ``room`` (or rooms), except to this socket."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to everyone but ``room`` and this socket."""
        return self._operator().except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Broadcast to every socket of the namespace but this one."""
        return self._operator()

    @property
    def local(self) -> BroadcastOperator:
        """Broadcast to this server's sockets only (but this one)."""
        return self._operator().local

    # -- rooms ---------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        """Join a room or several."""
        if self.state is SocketState.DISCONNECTING or self.state is SocketState.DISCONNECTED:
            return
        self.adapter.add_all(self.id, [rooms] if isinstance(rooms, str) else list(rooms))

    def leave(self, room: str) -> None:
        """Leave a room."""
        self.adapter.delete(self.id, room)

    # -- middlewares and catch-all listeners ---------------------------------------

    def use(self, fn: Handler) -> Handler:
        """Add a middleware that sees every incoming event as ``[name, *args]`` (raise to stop it)."""
        self._fns = (*self._fns, fn)
        return fn

    def on_any(self, listener: Handler) -> Handler:
        """Call ``listener(event, *args)`` for every incoming event."""
        self._any = (*self._any, listener)
        return listener

    def prepend_any(self, listener: Handler) -> Handler:
        """Like ``on_any``, called before the others."""
        self._any = (listener, *self._any)
        return listener

    def off_any(self, listener: Handler | None = None) -> None:
        """Remove one catch-all listener, or all of them."""
        self._any = _without(self._any, listener)
        self._forget_arities()

    def listeners_any(self) -> list[Handler]:
        """The catch-all listeners."""
        return list(self._any)

    def on_any_outgoing(self, listener: Handler) -> Handler:
        """Call ``listener(event, *args)`` for every outgoing event."""
        self._any_outgoing = (*self._any_outgoing, listener)
        return listener

    def prepend_any_outgoing(self, listener: Handler) -> Handler:
        """Like ``on_any_outgoing``, called before the others."""
        self._any_outgoing = (listener, *self._any_outgoing)
        return listener

    def off_any_outgoing(self, listener: Handler | None = None) -> None:
        """Remove one outgoing catch-all listener, or all of them."""
        self._any_outgoing = _without(self._any_outgoing, listener)

    def listeners_any_outgoing(self) -> list[Handler]:
        """The outgoing catch-all listeners."""
        return list(self._any_outgoing)

    # -- disconnecting -------------------------------------------------------------

    def disconnect(self, close: bool = False) -> Socket:
        """Disconnect from this namespace; with ``close=True`` close the whole connection."""
        if not self.connected:
            return self
        if close:
            self.client._disconnect()
        else:
            self._packet(SIO_DISCONNECT, None)
            self._on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)
        return self

    # -- internals -----------------------------------------------------------------

    def _packet(self, packet_type: int, data: Any, ack_id: int | None = None) -> None:
        nsp = self.nsp
        self.client._write(nsp.encode(packet_type, nsp.name, data, ack_id))

    def _send(self, messages: list[str | bytes], data: list[Any], compress: bool = True) -> None:
        """Write an encoded EVENT ``data`` to this socket, its outgoing listeners told first."""
        if self._any_outgoing:
            for listener in self._any_outgoing:
                call_handler(listener, *data)
        self.client._write(messages, False, compress)

    def _write_prepared(self, prepared: PreparedMessages, data: Any, volatile: bool) -> None:
        if self._any_outgoing:
            for listener in self._any_outgoing:
                call_handler(listener, *data)
        conn = self.client.conn  # Client._write inlined: this runs once per recipient
        if conn.ready_state is OPEN and (not volatile or conn.writable):
            conn.send_prepared(prepared)

    def _enter(self, state: SocketState) -> None:
        """Change the state; a transition the table does not allow is refused."""
        if state not in _SOCKET_TRANSITIONS[self.state]:
            raise LocalProtocolError(f"socket {self.id}: {self.state} -> {state} is not a transition")
        self.state = state
        self.connected = state is SocketState.CONNECTED or state is SocketState.DISCONNECTING

    def _abandon(self) -> None:
        """Never connected (refused, or its connection closed while the middlewares ran)."""
        self._enter(SocketState.DISCONNECTED)
        self.adapter.delete_all(self.id)  # rooms a middleware joined

    def _on_connect(self) -> None:
        self._enter(SocketState.CONNECTED)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "socket %s connected to %s from %s over %s%s",
                self.id,
                self.nsp.name,
                self.handshake.address,
                self.conn.transport,
                " (recovered)" if self.recovered else "",
            )
        self.join(self.id)
        if self.client.conn.protocol == 3:  # Socket.IO protocol v4: a CONNECT without payload
            self._packet(SIO_CONNECT, None)
        elif self.pid is None:
            self._packet(SIO_CONNECT, {"sid": self.id})
        else:
            self._packet(SIO_CONNECT, {"sid": self.id, "pid": self.pid})

    def _on_packet(self, packet: SioPacket) -> None:
        kind = packet.type
        if kind in (SIO_EVENT, SIO_BINARY_EVENT):
            self._on_event(packet)
        elif kind in (SIO_ACK, SIO_BINARY_ACK):
            ack = self._acks.pop(packet.id, None)  # type: ignore[arg-type]
            if ack is not None:  # the client's answers, as many as the callback takes
                call_event_handler(ack, packet.data, positional_arity(ack), self._describe, "ack")
        elif kind == SIO_DISCONNECT:
            self._on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)

    def _on_event(self, packet: SioPacket) -> None:
        args: list[Any] = packet.data
        if packet.id is not None:
            args.append(self._make_ack(packet.id))
        if self._any:
            arity = self._arity
            for listener in self._any:  # (event, *args, ack), as many as it takes
                n = arity.get(listener)
                if n is None:  # read once per listener, as for event handlers
                    n = arity[listener] = positional_arity(listener)
                call_event_handler(listener, args, n, self._describe, args[0])
        if self._fns:
            run_chain(self._fns, args, lambda err: self._after_middlewares(err, args))
        else:
            self._dispatch(args)

    def _after_middlewares(self, err: BaseException | None, args: list[Any]) -> None:
        if err is not None:
            if not EventEmitter.emit(self, "error", err):
                self.server._log_middleware_error(self, err)
            return
        self._dispatch(args)

    def _dispatch(self, args: list[Any]) -> None:
        if not self.connected:
            return
        event = args[0]
        handlers = self._handlers.get(event)
        if handlers:
            arity = self._arity
            rest = args[1:]
            describe = self._describe
            for handler in handlers:
                n = arity.get(handler)
                if n is None:  # registered behind on()'s back (EventEmitter.on)
                    n = arity[handler] = positional_arity(handler)
                call_event_handler(handler, rest, n, describe, event)

    def _make_ack(self, ack_id: int) -> Callable[..., None]:
        sent = False

        def ack(*values: Any) -> None:
            nonlocal sent
            if sent:
                return
            sent = True
            self._packet(SIO_ACK, list(values), ack_id)

        return ack

    def _emit_reason(self, event: str, reason: DisconnectReason, description: Any) -> None:
        """Call ``disconnecting``/``disconnect`` handlers with the (reason, description) they take."""
        args = (reason, description)
        for handler in self._handlers.get(event, ()):
            call_handler(handler, *args[: positional_arity(handler)])

    def _on_close(self, reason: DisconnectReason, description: Any = None) -> None:
        if self.state is not SocketState.CONNECTED:
            return
        self._enter(SocketState.DISCONNECTING)  # first: a disconnect from a handler below is a no-op
        if log.isEnabledFor(logging.DEBUG):
            log.debug("socket %s left %s: %s", self.id, self.nsp.name, reason)
        self._emit_reason("disconnecting", reason, description)
        if self.pid is not None and reason in RECOVERABLE_REASONS:
            self.adapter.persist_session(Session(self.id, self.pid, list(self.rooms), dict(self._data)))
        self.adapter.delete_all(self.id)
        self.nsp._remove(self)
        self.client._remove(self)
        self._enter(SocketState.DISCONNECTED)
        self._emit_reason("disconnect", reason, description)

    def _on_error(self, err: BaseException) -> None:
        EventEmitter.emit(self, "error", err)


def deliver(sockets: Iterable[Socket], prepared: PreparedMessages, data: Any, volatile: bool) -> None:
    """Write one broadcast, framed once (``prepared``), to each socket (``Namespace.deliver``).

    ``data`` is what the sockets' outgoing listeners get; ``volatile`` skips the sockets whose
    transport cannot take it now.
    """
    if volatile:
        for socket in sockets:
            socket._write_prepared(prepared, data, True)
        return
    for socket in sockets:
        if socket._any_outgoing:
            socket._write_prepared(prepared, data, False)
        else:  # the common case, once per recipient: straight to the engine
            socket.client.conn.send_prepared(prepared)


def expect_acks(sockets: Iterable[Socket], ack_id: int, callback: Callable[..., Any]) -> None:
    """Call ``callback`` with each socket's answer to packet ``ack_id``."""
    for socket in sockets:
        socket._acks[ack_id] = callback


def forget_acks(sockets: Iterable[Socket], ack_id: int) -> None:
    """Drop the unanswered acks of packet ``ack_id`` (its timeout passed)."""
    for socket in sockets:
        socket._acks.pop(ack_id, None)
