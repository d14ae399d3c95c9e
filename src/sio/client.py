"""One Engine.IO connection seen by the Socket.IO layer (Node's ``Client``).

It decodes Socket.IO packets, routes them to the connection's sockets (one per
namespace joined), enforces the connect timeout and the protocol's state rules, and
writes encoded packets to the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sio._sio_core import SIO_CONNECT, SIO_CONNECT_ERROR, ProtocolError, SioPacket, Timer
from sio.engine import OPEN
from sio.reasons import DisconnectReason

if TYPE_CHECKING:
    from sio.engine import EngineSocket
    from sio.namespace import Namespace
    from sio.server import Server
    from sio.socket import Socket

log = logging.getLogger("sio")


class Client:
    """The Socket.IO side of one Engine.IO session."""

    __slots__ = (
        "_connect_timer",
        "_connecting",
        "_decoder",
        "_dynamic_namespaces",
        "closed",
        "conn",
        "id",
        "nsps",
        "server",
        "sockets",
    )

    def __init__(self, server: Server, conn: EngineSocket) -> None:
        self.server = server
        self.conn = conn
        self.id = conn.id
        self.sockets: dict[str, Socket] = {}  # by socket id
        self.nsps: dict[str, Socket] = {}  # by namespace name
        self.closed = False
        self._connecting: set[str] = set()  # namespaces whose CONNECT is in progress (middlewares)
        self._dynamic_namespaces = 0  # dynamic children this connection's CONNECTs created
        self._decoder = server.parser.decoder()
        # Dropped once a namespace is joined (an idle connection keeps no timer of its own here).
        self._connect_timer: Timer | None = server.wheel.timer(self._on_connect_timeout)
        self._connect_timer.arm(server.connect_timeout)
        conn.on("message", self._on_data)
        conn.on("close", self._on_close)

    def _write(self, messages: Sequence[str | bytes], volatile: bool = False, compress: bool = True) -> None:
        conn = self.conn
        if conn.ready_state is not OPEN:
            return
        if volatile and not conn.writable:
            return
        conn.send_messages(messages, compress)

    # -- incoming -------------------------------------------------------------------

    def _on_data(self, data: str | bytes) -> None:
        if self.closed:  # the rest of a payload after a protocol violation
            return
        try:
            packet = self._decoder.feed(data)
        except ProtocolError as exc:  # the parser's verdict on what the peer sent
            log.debug("undecodable packet from %s: %s", self.id, exc)
            self._on_error(exc)
            return
        if packet is not None:
            self._on_decoded(packet)

    def _on_decoded(self, packet: SioPacket) -> None:
        socket = self.nsps.get(packet.nsp)
        kind = packet.type
        if socket is None and kind == SIO_CONNECT and packet.nsp not in self._connecting:
            self._connecting.add(packet.nsp)
            self._connect(packet.nsp, packet.data if packet.data is not None else {})
        elif socket is not None and kind != SIO_CONNECT and kind != SIO_CONNECT_ERROR:
            socket._on_packet(packet)
        else:
            log.debug("invalid state (packet type %d for %s) from %s", kind, packet.nsp, self.id)
            self._close()

    def _connect(self, name: str, auth: Any) -> None:
        server = self.server
        nsp = server._nsps.get(name)
        if nsp is not None:
            nsp._add(self, auth, self._on_socket_connected)
            return
        if (
            len(name) > server.max_namespace_length
            or self._dynamic_namespaces >= server.max_dynamic_namespaces_per_client
        ):
            self._refuse_namespace(name)
            return
        server._check_namespace(name, auth, lambda found: self._after_check(name, auth, found))

    def _after_check(self, name: str, auth: Any, nsp: Namespace | None) -> None:
        if self.conn.ready_state is not OPEN or self.closed:
            return
        if nsp is None:
            self._refuse_namespace(name)
        else:
            self._dynamic_namespaces += 1  # the name did not exist: this connection made it
            nsp._add(self, auth, self._on_socket_connected)

    def _refuse_namespace(self, name: str) -> None:
        self._connecting.discard(name)
        self._write(self.server.parser.encode(SIO_CONNECT_ERROR, name, {"message": "Invalid namespace"}))

    def _on_socket_connected(self, socket: Socket) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _add(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        self.nsps[socket.nsp.name] = socket

    def _remove(self, socket: Socket) -> None:
        if self.sockets.pop(socket.id, None) is not None and self.nsps.get(socket.nsp.name) is socket:
            del self.nsps[socket.nsp.name]

    # -- closing --------------------------------------------------------------------

    def _on_connect_timeout(self) -> None:
        if not self.nsps:
            self._close()

    def _close(self) -> None:
        """Close the connection from the Socket.IO layer (``forced server close``)."""
        if self.conn.ready_state is OPEN:
            self.conn.close()
            self._on_close(DisconnectReason.FORCED_SERVER_CLOSE)

    def _disconnect(self) -> None:
        """``socket.disconnect(close=True)``: every namespace, then the connection."""
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.sockets.clear()
        self.nsps.clear()
        self._close()

    def _on_error(self, err: BaseException) -> None:
        for socket in list(self.sockets.values()):
            socket._on_error(err)
        self.conn.close()

    def _on_close(self, reason: DisconnectReason, description: Any = None) -> None:
        if not self.closed:
            self.closed = True
            self.conn.off("message", self._on_data)
            self.conn.off("close", self._on_close)
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        for socket in list(self.sockets.values()):
            socket._on_close(reason, description)
        self.sockets.clear()
        self.nsps.clear()
        self._decoder.reset()


def split_namespace(nsp: str) -> tuple[str, dict[str, str]]:
    """A v2 client's namespace as socket.io 4 reads it (``new URL(nsp, base)``): the name, and the
    query's fields as the auth (the last of repeated names wins, as ``Object.fromEntries``).

    ``"/admin?token=abc"`` is ``("/admin", {"token": "abc"})``; a fragment is dropped. The name is
    taken as written, where Node's URL parser also percent-encodes spaces and non-ASCII characters
    and resolves ``.`` segments: Node's answer then names another namespace than the one the v2
    client asked for, which ignores it. Names that need none of that read the same.
    """
    without_fragment = nsp.partition("#")[0]
    name, _, query = without_fragment.partition("?")
    return name, dict(parse_qsl(query, keep_blank_values=True))


class Eio3Client(Client):
    """A socket.io-client 2.x connection (Engine.IO v3, Socket.IO protocol v4), as socket.io 4 serves
    it with ``allowEIO3``.

    The main namespace is connected at once, its middlewares run (a v2 client sends no CONNECT
    for ``/``); a namespace's query string is its CONNECT's auth (``0/admin?token=abc,``).
    """

    __slots__ = ()

    def __init__(self, server: Server, conn: EngineSocket) -> None:
        super().__init__(server, conn)
        self._connecting.add("/")
        self._connect("/", {})

    def _on_decoded(self, packet: SioPacket) -> None:
        nsp = packet.nsp
        if packet.type == SIO_CONNECT:  # Node: the auth is the query, whatever the packet carries
            name, auth = split_namespace(nsp)
            packet = SioPacket(SIO_CONNECT, name, auth)
        elif "?" in nsp or "#" in nsp:
            name, _ = split_namespace(nsp)
            packet = SioPacket(packet.type, name, packet.data, packet.id, packet.attachments)
        super()._on_decoded(packet)
