"""A small raw HTTP/1.1 and WebSocket client for driving the Engine.IO server by hand.

Nothing here is clever: requests are written byte for byte, responses are read by
``Content-Length``, WebSocket frames are built with the core's ``encode_frame`` (masked,
as a client must) and read with ``FrameParser(require_mask=False)``. That lets the tests
send exactly the malformed input they mean to send.

Every wait is bounded by :data:`TIMEOUT` as a hang guard; the tests themselves await
events and never sleep.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import zlib
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar

from sio._sio_core import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    encode_close_frame,
    encode_frame,
    websocket_accept,
)
from sio.engine import EngineServer, EngineSocket

TIMEOUT = 10.0  # hang guard for every single wait
# "Never early" checks on differences of two loop times: the subtraction itself rounds (and the
# timer wheel compares deadlines to within the clock reading's last bits), far below the loop
# clock's 1 ms resolution.
CLOCK_SLACK = 1e-9
MASK = b"abcd"
SEP = "\x1e"

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
    """Await with a hang guard."""
    return await asyncio.wait_for(awaitable, timeout)


# -- HTTP -------------------------------------------------------------------------------


class HttpResponse:
    """A parsed HTTP response."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            self.headers[key] = value if key not in self.headers else self.headers[key] + ", " + value
        self.body = body

    @property
    def text(self) -> str:
        """The body as UTF-8 text, after its Content-Encoding (gzip or deflate) if any."""
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            return gzip.decompress(self.body).decode()
        if encoding == "deflate":
            return zlib.decompress(self.body).decode()
        assert encoding is None, f"unknown Content-Encoding {encoding!r}"
        return self.body.decode()

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def packets(self) -> list[str]:
        """A polling payload split into its packets."""
        return self.text.split(SEP)

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.headers} {self.body[:200]!r}>"


class RawHttp:
    """One HTTP/1.1 connection on which requests are written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader = reader
        self.writer = writer
        self.port = port

    @classmethod
    async def connect(cls, port: int) -> RawHttp:
        """Open a connection to 127.0.0.1:port."""
        reader, writer = await bounded(asyncio.open_connection("127.0.0.1", port))
        return cls(reader, writer, port)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.writer.write(data)

    def send_request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """Write one request (with ``Host`` and, when there is a body, ``Content-Length``)."""
        self.send_raw(render_request(method, target, self.port, headers, body))

    async def read_response(self) -> HttpResponse:
        """Read one response (the body by ``Content-Length``)."""
        head = await bounded(self.reader.readuntil(b"\r\n\r\n"))
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        response = HttpResponse(status, headers, b"")
        length = int(response.headers.get("content-length", "0"))
        if length:
            response.body = await bounded(self.reader.readexactly(length))
        return response

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
    ) -> HttpResponse:
        """Write a request and read its response."""
        self.send_request(method, target, headers, body)
        return await self.read_response()

    async def wait_closed(self) -> bytes:
        """Wait for the server to close the connection; return what it sent before."""
        data = await bounded(self.reader.read())
        return data

    def close(self) -> None:
        """Close the connection (a FIN; the server sees the client go away)."""
        self.writer.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        self.writer.transport.abort()


def render_request(
    method: str,
    target: str,
    port: int,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
) -> bytes:
    """The bytes of one HTTP/1.1 request."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    all_headers = dict(headers or {})
    if body or method in ("POST", "PUT"):
        all_headers.setdefault("Content-Length", str(len(body)))
    lines.extend(f"{name}: {value}" for name, value in all_headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def request(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
) -> HttpResponse:
    """One request on a fresh connection."""
    conn = await RawHttp.connect(port)
    try:
        return await conn.request(method, target, headers, body)
    finally:
        conn.close()


def query(path: str = "/engine.io/", **params: str) -> str:
    """A request target: ``path?EIO=4&transport=polling&...`` (``None`` values are left out)."""
    params = {"EIO": "4", "transport": "polling", **params}
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


def open_packet(packet: str) -> dict[str, Any]:
    """The JSON of an open packet ``0{...}``."""
    assert packet.startswith("0"), packet
    data: dict[str, Any] = json.loads(packet[1:])
    return data


# -- Engine.IO over long-polling ----------------------------------------------------------


class PollingClient:
    """An Engine.IO session over long-polling, one connection per request (as browsers do)."""

    def __init__(self, port: int, path: str, handshake: dict[str, Any], response: HttpResponse) -> None:
        self.port = port
        self.path = path
        self.handshake = handshake
        self.sid: str = handshake["sid"]
        self.response = response  # the handshake response

    @classmethod
    async def open(
        cls, port: int, path: str = "/engine.io/", headers: dict[str, str] | None = None
    ) -> PollingClient:
        """Handshake over polling."""
        response = await request(port, "GET", query(path), headers)
        assert response.status == 200, response
        packets = response.packets()
        return cls(port, path, open_packet(packets[0]), response)

    def target(self, **params: str) -> str:
        """This session's polling URL."""
        return query(self.path, sid=self.sid, **params)

    async def get(self, headers: dict[str, str] | None = None) -> HttpResponse:
        """One GET (held by the server until it has something to send)."""
        return await request(self.port, "GET", self.target(), headers)

    def start_get(self) -> asyncio.Task[HttpResponse]:
        """A GET in the background: the server holds it."""
        return asyncio.ensure_future(self.get())

    async def post(self, body: bytes | str, headers: dict[str, str] | None = None) -> HttpResponse:
        """One POST carrying a payload."""
        return await request(self.port, "POST", self.target(), headers, body)

    async def send(self, *packets: str) -> None:
        """POST packets and check the server's ``ok``."""
        response = await self.post(SEP.join(packets))
        assert (response.status, response.body) == (200, b"ok"), response

    async def receive(self) -> list[str]:
        """GET the next payload, answering pings with pongs along the way."""
        while True:
            response = await self.get()
            assert response.status == 200, response
            packets = [p for p in response.packets() if p != "6"]
            pings = [p for p in packets if p == "2"]
            if pings:
                await self.send(*["3"] * len(pings))
            packets = [p for p in packets if p != "2"]
            if packets:
                return packets

    async def roundtrip(self, text: str) -> None:
        """Send a message and expect the server's echo of it."""
        await self.send("4" + text)
        assert await self.receive() == ["4" + text]


# -- WebSocket ---------------------------------------------------------------------------


WS_HEADERS = {  # a valid opening handshake, with RFC 6455's sample key
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


class RawWebSocket:
    """A client WebSocket written frame by frame."""

    def __init__(self, conn: RawHttp, response: HttpResponse) -> None:
        self.conn = conn
        self.response = response
        self.parser = FrameParser(None, require_mask=False)
        self.events: deque[tuple[int, Any]] = deque()
        self.eof = False

    @classmethod
    async def attempt(
        cls, port: int, target: str, headers: dict[str, str] | None = None
    ) -> tuple[HttpResponse, RawWebSocket | None]:
        """Send an opening handshake; return the response and the socket if it was accepted."""
        conn = await RawHttp.connect(port)
        key = base64.b64encode(os.urandom(16)).decode()
        all_headers = {**WS_HEADERS, "Sec-WebSocket-Key": key, **(headers or {})}
        response = await conn.request("GET", target, all_headers)
        if response.status != 101:
            conn.close()
            return response, None
        assert response.headers["sec-websocket-accept"] == websocket_accept(key)
        return response, cls(conn, response)

    @classmethod
    async def connect(cls, port: int, target: str, headers: dict[str, str] | None = None) -> RawWebSocket:
        """Open a WebSocket; fail the test if the server refuses."""
        response, ws = await cls.attempt(port, target, headers)
        assert ws is not None, response
        return ws

    def send_frame(self, frame: bytes) -> None:
        """Write one frame (or any bytes) as is."""
        self.conn.send_raw(frame)

    def send(self, data: str | bytes) -> None:
        """Send one masked text or binary message."""
        opcode = OP_TEXT if isinstance(data, str) else OP_BINARY
        self.send_frame(encode_frame(opcode, data, mask=MASK))

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Send a masked close frame."""
        self.send_frame(encode_close_frame(code, reason, mask=MASK))

    async def recv_event(self) -> tuple[int, Any] | None:
        """The next frame event (opcode, payload), or None once the server closed the TCP connection."""
        while not self.events:
            if self.eof:
                return None
            data = await bounded(self.conn.reader.read(65536))
            if not data:
                self.eof = True
                return None
            self.events.extend(self.parser.feed(data))
        return self.events.popleft()

    async def recv(self) -> str | bytes:
        """The next message (control frames skipped); fails on a close."""
        while True:
            event = await self.recv_event()
            assert event is not None, "the server closed the connection"
            opcode, payload = event
            assert opcode != OP_CLOSE, f"the server closed the WebSocket: {payload}"
            if opcode in (OP_TEXT, OP_BINARY):
                return payload  # type: ignore[no-any-return]

    async def recv_packet(self) -> str | bytes:
        """The next Engine.IO packet, answering pings with pongs along the way."""
        while True:
            packet = await self.recv()
            if packet == "2":
                self.send("3")
                continue
            return packet

    async def expect_close(self) -> tuple[int, str]:
        """Wait for the server's close frame (skipping messages); return (code, reason)."""
        while True:
            event = await self.recv_event()
            assert event is not None, "the connection ended without a close frame"
            opcode, payload = event
            if opcode == OP_CLOSE:
                return payload  # type: ignore[no-any-return]
            if opcode == OP_PING:
                continue
            assert opcode in (OP_TEXT, OP_BINARY, OP_PONG)

    async def closed_by_server(self) -> tuple[int, str]:
        """The server's closing handshake: its close frame, our answer (as any client would
        send), then the end of the TCP connection; return (code, reason)."""
        code, reason = await self.expect_close()
        self.send_close(1000 if code == 1005 else code)
        await self.wait_eof()
        return code, reason

    async def wait_eof(self) -> None:
        """Wait until the server closes the TCP connection (skipping frames)."""
        while await self.recv_event() is not None:
            pass

    async def roundtrip(self, text: str) -> None:
        """Send a message and expect the server's echo of it."""
        self.send("4" + text)
        assert await self.recv_packet() == "4" + text

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.conn.abort()

    def close(self) -> None:
        """Close the TCP connection."""
        self.conn.close()


async def open_websocket(port: int, path: str = "/engine.io/", **params: str) -> tuple[RawWebSocket, dict]:
    """A direct WebSocket session: return the socket and its open packet."""
    ws = await RawWebSocket.connect(port, query(path, transport="websocket", **params))
    packet = await ws.recv()
    assert isinstance(packet, str)
    return ws, open_packet(packet)


# -- the server's side ------------------------------------------------------------------------


def _settle(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


class Session:
    """What the server saw of one Engine.IO session."""

    def __init__(self, socket: EngineSocket) -> None:
        loop = asyncio.get_running_loop()
        self.socket = socket
        self.messages: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[str, Any]] = loop.create_future()
        self.upgraded: asyncio.Future[str] = loop.create_future()
        self.opened_at = loop.time()
        socket.on("message", self.messages.put_nowait)
        socket.on("upgrade", lambda name: _settle(self.upgraded, name))
        socket.on("close", lambda reason, detail: _settle(self.closed, (reason, detail)))

    async def message(self) -> str | bytes:
        """The next message the client sent."""
        return await bounded(self.messages.get())

    async def close_reason(self) -> str:
        """Wait for the session to close; return the reason."""
        reason, _ = await bounded(asyncio.shield(self.closed))
        return reason


def after_call(obj: Any, name: str) -> asyncio.Future[None]:
    """A future resolved once the next call of the method ``obj.name(...)`` has run.

    The engine's transports have ``__slots__``, so the hook goes on the class, acts for this
    object only, and removes itself at its first call (other objects' calls pass through).
    """
    cls = type(obj)
    original = cls.__dict__[name]
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            if self is obj:
                setattr(cls, name, original)
                _settle(future, None)

    setattr(cls, name, hooked)
    return future


async def held_get(client: PollingClient, session: Session) -> asyncio.Task[HttpResponse]:
    """Start a GET and return once the server holds it (a hook on the session's polling transport)."""
    arrived = after_call(session.socket._transport, "on_poll")
    task = client.start_get()
    await bounded(arrived)
    return task


class Sessions:
    """Every session of a server, in connection order; echoes messages when asked."""

    def __init__(self, eio: EngineServer, echo: bool = True) -> None:
        self.queue: asyncio.Queue[Session] = asyncio.Queue()
        self.by_id: dict[str, Session] = {}
        self.echo = echo
        eio.on("connection", self._on_connection)

    def _on_connection(self, socket: EngineSocket) -> None:
        if self.echo:
            socket.on("message", socket.send)
        session = Session(socket)
        self.by_id[socket.id] = session
        self.queue.put_nowait(session)

    async def next(self) -> Session:
        """The next new session."""
        return await bounded(self.queue.get())

    def __getitem__(self, sid: str) -> Session:
        return self.by_id[sid]


class ConnectionErrors:
    """The ``connection_error`` events of a server, as (code, message)."""

    def __init__(self, eio: EngineServer) -> None:
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        eio.on(
            "connection_error",
            lambda exchange, refusal: self.queue.put_nowait((refusal.code, refusal.message)),
        )

    async def next(self) -> tuple[int, str]:
        """The next refusal."""
        return await bounded(self.queue.get())


class Bystander:
    """A well-behaved WebSocket client that must not notice what other clients do."""

    def __init__(self, ws: RawWebSocket, session: Session) -> None:
        self.ws = ws
        self.session = session
        self.rounds = 0

    @classmethod
    async def join(cls, port: int, sessions: Sessions, path: str = "/engine.io/") -> Bystander:
        """Open a session next to the hostile one (the server must echo messages)."""
        ws, handshake = await open_websocket(port, path)
        session = await sessions.next()
        assert session.socket.id == handshake["sid"]
        if not sessions.echo:
            session.socket.on("message", session.socket.send)
        return cls(ws, session)

    async def check(self) -> None:
        """Still connected: a message goes to the server and its echo comes back."""
        self.rounds += 1
        await self.ws.roundtrip(f"still here {self.rounds}")
        assert not self.session.closed.done(), self.session.closed.result()

    def close(self) -> None:
        """Leave."""
        self.ws.close()
