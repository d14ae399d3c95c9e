"""Raw Engine.IO v4 / Socket.IO v5 clients for the load generator.

They speak the wire protocol directly on asyncio Protocols (no streams, no
per-message objects beyond the parsed frames): client frames are pre-encoded and
masked once with ``sio._sio_core.encode_frame``, server frames are parsed by the
compiled ``FrameParser``. :class:`WsClient` connects straight over WebSocket
(``transport=websocket``: 101, ``0{...}`` OPEN, ``40`` CONNECT, ``40{...}``) and
answers pings; scenario subclasses override :meth:`WsClient.on_frames`, the only
code on the hot path. :class:`HttpClient` carries the polling requests of the
polling + upgrade path, and :class:`UpgradeClient` the WebSocket that upgrades it
(``2probe`` / ``3probe`` / ``5``).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import httptools
import msgpack

from sio._sio_core import OP_BINARY, OP_CLOSE, OP_TEXT, FrameParser, encode_frame

MASK = b"\x1f\x2e\x3d\x4c"  # any mask will do; a fixed one lets frames be encoded once
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key: servers do not check uniqueness
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
EIO_PATH = "/socket.io/"


def client_frame(text: str) -> bytes:
    """A masked client text frame carrying ``text``."""
    return encode_frame(OP_TEXT, text, mask=MASK)


def binary_frame(data: bytes) -> bytes:
    """A masked client binary frame carrying ``data`` (an Engine.IO binary message)."""
    return encode_frame(OP_BINARY, data, mask=MASK)


def msgpack_packet(kind: int, data: Any = None, ack_id: int | None = None) -> bytes:
    """A Socket.IO packet as socket.io-msgpack-parser sends it (one binary message)."""
    packet: dict[str, Any] = {"type": kind, "nsp": "/"}
    if data is not None:  # Node's checkPacket refuses a null CONNECT payload
        packet["data"] = data
    if ack_id is not None:
        packet["id"] = ack_id
    return binary_frame(msgpack.packb(packet))


PONG = client_frame("3")
CONNECT = client_frame("40")
MSGPACK_CONNECT = msgpack_packet(0)
PROBE = client_frame("2probe")
UPGRADE = client_frame("5")


class ClientError(Exception):
    """A connection failed or was refused before it was ready."""


@dataclass
class Health:
    """What went wrong across all the connections of a run."""

    lost: int = 0  # connections that ended before the generator closed them
    failed: int = 0  # connections that never became ready
    errors: list[str] = field(default_factory=list)  # the first few messages

    def note(self, message: str) -> None:
        """Keep an error message (only the first ten)."""
        if len(self.errors) < 10:
            self.errors.append(message)


def upgrade_request(host: str, port: int, sid: str | None = None, extensions: str | None = None) -> bytes:
    """The HTTP request opening an Engine.IO WebSocket (a new session, or an upgrade of ``sid``).

    ``extensions``: a ``Sec-WebSocket-Extensions`` offer (``permessage-deflate; client_max_window_bits``,
    what browsers and the official client send).
    """
    query = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    return (
        f"GET {EIO_PATH}?{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"{offer}\r\n"
    ).encode()


class WsClient(asyncio.Protocol):
    """One Socket.IO client on a direct WebSocket; ``ready`` resolves once connected to ``/``."""

    def __init__(self, request: bytes, health: Health, msgpack: bool = False) -> None:
        self.request = request
        self.health = health
        self.msgpack = msgpack  # the server speaks socket.io-msgpack-parser's format
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.ready: asyncio.Future[WsClient] = asyncio.get_running_loop().create_future()
        self.is_ready = False
        self.closing = False
        self._head = b""
        self._parser: FrameParser | None = None

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.is_ready:
            self.on_frames(self._parser.feed(data))  # type: ignore[union-attr]
        else:
            self._setup(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closing:
            return
        if self.is_ready:
            self.health.lost += 1
            self.health.note(f"connection lost: {exc or 'closed by the server'}")
        self._fail(f"closed before ready: {exc or 'closed by the server'}")

    # -- hot path, overridden by scenarios ------------------------------------------

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        """Messages received once ready: answer pings (and count nothing)."""
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)

    # -- setup ----------------------------------------------------------------------

    def _setup(self, data: bytes) -> None:
        if self._parser is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = self._head[: self._head.find(b"\r\n")]
            if b" 101 " not in status_line:
                self._fail(f"handshake refused: {self._head[:200]!r}")
                return
            data, self._head = self._head[end + 4 :], b""
            self._parser = FrameParser(None, require_mask=False)
            self.on_open()
        events = self._parser.feed(data)
        for i, (op, message) in enumerate(events):
            if op == OP_CLOSE:
                self._fail(f"closed by the server during setup: {message}")
                return
            if self.closing:
                return
            if self.on_setup_message(message):
                self.is_ready = True
                if not self.ready.done():
                    self.ready.set_result(self)
                if i + 1 < len(events):
                    self.on_frames(events[i + 1 :])
                return

    def on_open(self) -> None:
        """The 101 arrived."""

    def on_setup_message(self, message: str) -> bool:
        """Handle a message before ready; return True when this one makes the client ready."""
        if isinstance(message, bytes):  # msgpack parser: CONNECT or CONNECT_ERROR
            kind = msgpack.unpackb(message).get("type")
            if kind == 0:
                return True
            self._fail(f"connect refused: {message!r}")
        elif message == "2":
            self.transport.write(PONG)
        elif message.startswith("0{"):
            self.transport.write(MSGPACK_CONNECT if self.msgpack else CONNECT)
        elif message.startswith("40"):
            return True
        elif message.startswith("44"):
            self._fail(f"connect refused: {message}")
        return False

    def _fail(self, message: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ClientError(message))
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.close()

    def close(self) -> None:
        """Close from our side (not counted as lost)."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class UpgradeClient(WsClient):
    """The WebSocket upgrading a polling session: ``2probe``, ``3probe``, then ``5``."""

    def on_open(self) -> None:
        self.transport.write(PROBE)

    def on_setup_message(self, message: str) -> bool:
        if message == "3probe":
            self.transport.write(UPGRADE)
            return True
        if message == "2":
            self.transport.write(PONG)
        return False


class HttpClient(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection for polling requests, one at a time.

    ``sent`` and ``received`` count the bytes written and read (headers included); ``extra_headers``
    (``"Name: value\\r\\n"`` lines) go into every request.
    """

    extra_headers = ""

    def __init__(self) -> None:
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.sent = 0
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._settle_error(ClientError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle_error(ClientError(f"HTTP connection lost: {exc or 'closed by the server'}"))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body, self._body = b"".join(self._body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), body))

    def _settle_error(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def request(
        self, method: str, target: str, host: str, body: bytes = b""
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Send one request; the future gets ``(status, body)``."""
        if self._waiter is not None:
            raise RuntimeError("one request at a time")
        self._waiter = asyncio.get_running_loop().create_future()
        head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{self.extra_headers}"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
        request = head.encode() + b"\r\n" + body
        self.sent += len(request)
        self.transport.write(request)
        return self._waiter


async def open_connection(
    protocol: asyncio.Protocol, host: str, port: int, source: str | None = None
) -> asyncio.Transport:
    """Connect ``protocol`` to ``host:port``, from the loopback address ``source`` if given.

    Binding with ``IP_BIND_ADDRESS_NO_PORT`` lets the kernel pick the port at connect
    time for the whole 4-tuple, so thousands of connections from several 127.0.0.x
    addresses do not run out of ephemeral ports.
    """
    loop = asyncio.get_running_loop()
    if source is None:
        transport, _ = await loop.create_connection(lambda: protocol, host, port)
        return transport  # type: ignore[return-value]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport  # type: ignore[return-value]
