"""``instrument(io, ...)``: serve the Socket.IO Admin UI's protocol, as Node's ``@socket.io/admin-ui``.

The UI (https://admin.socket.io, or its ``ui/dist`` served by you) connects a Socket.IO client to
the admin namespace. It gets, as from Node's ``instrument()`` of ``@socket.io/admin-ui`` 0.5.1:

- ``session`` (a new session id, on a login with username and password; before the CONNECT
  reply), or the connection refused with ``invalid credentials``;
- ``config`` (``supportedFeatures``, in Node's order) and, in development mode, ``all_sockets``
  (every socket of every namespace of the cluster, through ``fetch_sockets``);
- ``server_stats`` every two seconds (:mod:`sio.admin.stats`);
- in development mode, as things happen on any namespace (dynamic ones included):
  ``socket_connected``, ``socket_updated`` (a transport upgrade, a write to ``socket.data``),
  ``socket_disconnected``, ``room_joined``, ``room_left``, ``event_received``, ``event_sent``.

Everything is broadcast on the admin namespace, so that with a cluster adapter every server's
events reach every admin socket. The commands the UI sends (``emit``, ``join``, ``leave``,
``_disconnect``, each with a room-or-socket-id filter) act on the whole cluster; none is listened
to when ``readonly``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any, Literal

from sio._events import EventEmitter, spawn
from sio.adapters.memory import InMemoryAdapter
from sio.admin.auth import BasicAuth
from sio.admin.serialize import ADMIN_DATA_KEY, js_date, serialize_data, serialize_socket
from sio.admin.stats import StatsEmitter
from sio.admin.stores import InMemoryStore, Store
from sio.errors import ConnectError, InvalidOption

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.server import Server
    from sio.socket import Socket

log = logging.getLogger("sio.admin")

Mode = Literal["development", "production"]

# Node's Feature enum, in the order its detectSupportedFeatures lists them (Socket.IO v4).
COMMAND_FEATURES = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")


class Instrumentation:
    """What ``instrument()`` set up on one server: its options, the stats, the listeners."""

    def __init__(
        self,
        io: Server,
        auth: BasicAuth | None,
        mode: Mode,
        readonly: bool,
        server_id: str | None,
        namespace_name: str,
        store: Store,
    ) -> None:
        self.io = io
        self.auth = auth
        self.mode = mode
        self.readonly = readonly
        self.store = store
        self.admin = io.of(namespace_name)
        features = [] if readonly else list(COMMAND_FEATURES)
        features.append("AGGREGATED_EVENTS")
        if mode == "development":
            features.append("ALL_EVENTS")
        self.supported_features = features
        if auth is not None:
            self.admin.use(self._authenticate)
        self.admin.on("connection", self._on_admin_connection)
        self.stats = StatsEmitter(io, self.admin, server_id)
        # Development mode: each socket's watch, and whether its event listeners are attached
        # (only while someone hears: an admin socket here, or other servers).
        self._watches: dict[Socket, SocketWatch] = {}
        self.listening = False
        if mode == "development":
            for nsp in list(io._nsps.values()):
                self._watch_namespace(nsp)
            io.on("new_namespace", self._watch_namespace)
            self._update_listening()

    # -- the admin namespace -------------------------------------------------------

    async def _authenticate(self, socket: Socket) -> None:
        auth = self.auth
        assert auth is not None
        credentials = socket.handshake.auth
        session_id = credentials.get("sessionId")
        if isinstance(session_id, str) and session_id and await self.store.does_session_exist(session_id):
            return
        if await auth.matches(credentials.get("username"), credentials.get("password")):
            session_id = secrets.token_hex(8)
            await self.store.save_session(session_id)
            socket.emit("session", session_id)  # reaches the client before the CONNECT reply
            return
        raise ConnectError("invalid credentials")

    def _on_admin_connection(self, socket: Socket) -> None:
        if self.mode == "development":
            self._update_listening()
            EventEmitter.on(socket, "disconnect", lambda reason: self._update_listening())
        if not self.readonly:
            socket.on("emit", self._on_emit)
            socket.on("join", self._on_join)
            socket.on("leave", self._on_leave)
            socket.on("_disconnect", self._on_disconnect)
        socket.emit("config", {"supportedFeatures": list(self.supported_features)})
        if self.mode == "development":
            spawn(self._send_all_sockets(socket), "the admin's all_sockets")

    async def _send_all_sockets(self, socket: Socket) -> None:
        try:
            sockets = await self._all_sockets()
        except Exception as exc:  # a server of the cluster did not answer in time
            log.warning("all_sockets not sent to admin socket %s: %s", socket.id, exc)
            return
        if socket.connected:
            socket.emit("all_sockets", sockets)

    async def _all_sockets(self) -> list[dict[str, Any]]:
        namespaces = list(self.io._nsps.values())
        found = await asyncio.gather(*(nsp.fetch_sockets() for nsp in namespaces))
        return [
            serialize_socket(socket, nsp.name)
            for nsp, sockets in zip(namespaces, found, strict=True)
            for socket in sockets
        ]

    def _target(self, nsp: Any, filter: Any) -> Any:
        """``io.of(nsp)``, narrowed ``.to(filter)`` when a filter (a room or a socket id) is given."""
        if not isinstance(nsp, str) or (filter is not None and not isinstance(filter, str)):
            log.debug("admin command ignored: namespace %r, filter %r", nsp, filter)
            return None
        namespace = self.io.of(nsp)
        return namespace.to(filter) if filter else namespace

    def _on_emit(self, nsp: Any = None, filter: Any = None, event: Any = None, *args: Any) -> None:
        target = self._target(nsp, filter)
        if target is not None and isinstance(event, str):
            try:
                target.emit(event, *args)
            except Exception as exc:  # a reserved name, or data the parser cannot carry
                log.debug("admin emit of %r refused: %s", event, exc)

    def _on_join(self, nsp: Any = None, room: Any = None, filter: Any = None) -> None:
        target = self._target(nsp, filter)
        if target is not None and isinstance(room, str):
            target.sockets_join(room)

    def _on_leave(self, nsp: Any = None, room: Any = None, filter: Any = None) -> None:
        target = self._target(nsp, filter)
        if target is not None and isinstance(room, str):
            target.sockets_leave(room)

    def _on_disconnect(self, nsp: Any = None, close: Any = False, filter: Any = None) -> None:
        target = self._target(nsp, filter)
        if target is not None:
            target.disconnect_sockets(close is True)

    # -- development mode: every namespace's events --------------------------------

    def heard(self) -> bool:
        """Whether an admin event would reach anyone: an admin socket here, or other servers
        (any adapter but the in-memory one). If not, the event is not even built."""
        admin = self.admin
        return bool(admin.sockets) or type(admin.adapter) is not InMemoryAdapter

    def _update_listening(self) -> None:
        """Attach the sockets' event listeners when someone starts to hear, detach them when no
        one does any more: unheard, an event costs nothing more than uninstrumented."""
        listening = self.heard()
        if listening == self.listening:
            return
        self.listening = listening
        for watch in list(self._watches.values()):
            if listening:
                watch.attach()
            else:
                watch.detach()

    def _watch_namespace(self, nsp: Namespace) -> None:
        admin = self.admin
        name = nsp.name

        def on_connection(socket: Socket) -> None:
            self._watch_socket(socket, nsp)

        nsp.prepend("connection", on_connection)

        def on_join(room: str, sid: str) -> None:
            if self.heard():
                admin.emit("room_joined", name, room, sid, js_date())

        def on_leave(room: str, sid: str) -> None:
            if self.heard():
                # As Node (process.nextTick): after the disconnect event that made the socket leave.
                loop = self.io.engine.wheel.loop
                loop.call_soon(admin.emit, "room_left", name, room, sid, js_date())

        nsp.adapter.on("join-room", on_join)
        nsp.adapter.on("leave-room", on_leave)
        for socket in list(nsp.sockets.values()):  # instrumented while running (Node skips these)
            self._watch_socket(socket, nsp)

    def _watch_socket(self, socket: Socket, nsp: Namespace) -> None:
        earlier = dict(socket.data)  # a middleware may have set some
        watch = SocketWatch(self, socket, nsp.name)
        socket.data = {ADMIN_DATA_KEY: watch.details}
        socket._data_listener = watch.on_data_change
        for key, value in earlier.items():  # as Node's Proxy sees them set again
            socket.data[key] = value
        if self.heard():
            self.admin.emit("socket_connected", serialize_socket(socket, nsp.name), js_date())
        socket.conn.on("upgrade", watch.on_upgrade)
        if nsp is not self.admin:  # (Node does not report the admin namespace's own events)
            self._watches[socket] = watch
            if self.listening:
                watch.attach()
        # EventEmitter's own on: Socket.on would keep an arity entry per socket for it.
        EventEmitter.on(socket, "disconnect", watch.on_disconnect)


class SocketWatch:
    """One socket's development-mode events (a slotted object: a few hundred bytes per socket)."""

    __slots__ = ("details", "instrumentation", "nsp", "socket")

    def __init__(self, instrumentation: Instrumentation, socket: Socket, nsp: str) -> None:
        self.instrumentation = instrumentation
        self.socket = socket
        self.nsp = nsp
        conn = socket.conn
        # What other servers need to show this socket (fetch_sockets carries socket.data).
        self.details = {"clientId": conn.id[:12], "transport": conn.transport}

    def attach(self) -> None:
        """Report the socket's events from now on."""
        self.socket.prepend_any(self.on_incoming)
        self.socket.prepend_any_outgoing(self.on_outgoing)

    def detach(self) -> None:
        """Stop reporting the socket's events."""
        self.socket.off_any(self.on_incoming)
        self.socket.off_any_outgoing(self.on_outgoing)

    def on_data_change(self, socket: Socket) -> None:
        """A write to ``socket.data``: ``socket_updated`` with the data (the details kept in it)."""
        data = socket.data
        if ADMIN_DATA_KEY not in data:  # a new dict assigned: the details stay (not in Node)
            dict.__setitem__(data, ADMIN_DATA_KEY, self.details)
        if self.instrumentation.heard():
            update = {"id": socket.id, "nsp": self.nsp, "data": serialize_data(data)}
            self.instrumentation.admin.emit("socket_updated", update)

    def on_upgrade(self, transport: str) -> None:
        """The connection upgraded: ``socket_updated`` with the transport."""
        self.details["transport"] = transport
        if self.instrumentation.heard():
            update = {"id": self.socket.id, "nsp": self.nsp, "transport": transport}
            self.instrumentation.admin.emit("socket_updated", update)

    def on_incoming(self, *args: Any) -> None:
        """An event from the client: ``event_received`` (without the ack function)."""
        if args and callable(args[-1]):
            args = args[:-1]
        at = js_date()
        self.instrumentation.admin.emit("event_received", self.nsp, self.socket.id, list(args), at)

    def on_outgoing(self, *args: Any) -> None:
        """An event to the client (an emit or a broadcast): ``event_sent``."""
        at = js_date()
        self.instrumentation.admin.emit("event_sent", self.nsp, self.socket.id, list(args), at)

    def on_disconnect(self, reason: str) -> None:
        """``socket_disconnected`` with the reason; the connection's upgrade listener goes."""
        socket = self.socket
        socket.conn.off("upgrade", self.on_upgrade)
        self.instrumentation._watches.pop(socket, None)
        if self.instrumentation.heard():
            at = js_date()
            self.instrumentation.admin.emit("socket_disconnected", self.nsp, socket.id, str(reason), at)


def instrument(
    io: Server,
    *,
    auth: dict[str, Any] | Literal[False] | None = None,
    mode: Mode = "development",
    readonly: bool = False,
    server_id: str | None = None,
    namespace_name: str = "/admin",
    store: Store | None = None,
) -> Instrumentation:
    """Serve the Socket.IO Admin UI on ``io``'s namespace ``namespace_name`` (Node's ``instrument``).

    ``auth``: ``{"type": "basic", "username": ..., "password": <a bcrypt hash>}``
    (:func:`~sio.admin.hash_password` makes one), or ``False`` for none; it must be given.
    ``mode="production"`` sends only ``server_stats`` (no per-socket events, no socket list).
    ``readonly`` ignores the UI's commands. ``server_id`` names this server in the UI (default:
    the hostname; ``hostname#pid`` in a ``--workers`` worker). ``store`` keeps the login sessions
    (:class:`~sio.admin.RedisStore` for a cluster).
    """
    if mode not in ("development", "production"):
        raise InvalidOption(f'mode must be "development" or "production", not {mode!r}')
    if not namespace_name.startswith("/"):
        namespace_name = "/" + namespace_name
    return Instrumentation(
        io,
        BasicAuth.from_option(auth),
        mode,
        readonly,
        server_id,
        namespace_name,
        store if store is not None else InMemoryStore(),
    )
