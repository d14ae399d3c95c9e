"""The ASGI 3 front end: the engine inside uvicorn, hypercorn, FastAPI or Starlette.

The ASGI server does the HTTP parsing and the WebSocket framing; this module only
turns ASGI events into calls on the engine. Paths that are not the engine's go to
``other_app`` (or get a 404), and ``lifespan`` is passed through to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sio.engine.exchange import EncodedPacket, Headers, HttpExchange, WebSocketChannel, packet_data

if TYPE_CHECKING:
    from sio.engine.server import EngineRefusal, EngineServer

Scope = dict[str, Any]
Message = dict[str, Any]

# The ASGI extension a WebSocket server offers when it can hand the connection to sio's own framing
# (sio.uvicorn.WebSocketProtocol): ``{"take_over": take_over(engine, exchange) -> bool}``, called
# instead of sending ``websocket.accept``; True: the app sends and receives nothing more.
FAST_WEBSOCKET = "sio.fast_websocket"

# Close codes with which the ASGI server reports a client that broke the WebSocket protocol
# (bad framing, invalid UTF-8, a message over its own limit, no answer to its pings).
ERROR_CLOSE_CODES = frozenset({1002, 1003, 1007, 1009, 1011})


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = headers.get(name)
        headers[name] = value if previous is None else previous + ", " + value
    return headers


class _Exchange(HttpExchange):
    __slots__ = ("future",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.future: asyncio.Future[tuple[int, Headers, bytes]] = asyncio.get_running_loop().create_future()

    def _send(self, status: int, headers: Headers, body: bytes) -> None:
        if not self.future.done():
            self.future.set_result((status, headers, body))


def route_path(scope: Scope) -> str:
    """The request's path below ``root_path`` (Starlette's reading: a mount, or uvicorn's ``--root-path``)."""
    path: str = scope["path"]
    root = scope.get("root_path")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


def _exchange_for(scope: Scope, body: bytes = b"") -> _Exchange:
    client = scope.get("client")
    return _Exchange(
        scope.get("method", "GET"),
        route_path(scope),
        scope.get("query_string", b"").decode("latin-1"),
        _headers(scope),
        body,
        client[0] if client else None,
        scope.get("scheme") in ("https", "wss"),
    )


class ASGIApp:
    """An :class:`~sio.engine.EngineServer` as an ASGI 3 application."""

    def __init__(
        self,
        engine: EngineServer,
        other_app: Any = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        on_startup: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.other_app = other_app
        # Called on the first ASGI call of any kind (lifespan startup, or the first request
        # of a server run without lifespan), inside the loop: the Socket.IO server starts
        # its adapters there.
        self.on_startup = on_startup
        # What lifespan shutdown closes: the engine, or the Socket.IO server above it
        # (so that sockets get "server shutting down").
        self.on_shutdown = on_shutdown if on_shutdown is not None else engine.close

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one ASGI connection."""
        if self.on_startup is not None:
            on_startup, self.on_startup = self.on_startup, None
            on_startup()
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif not self.engine.handles_path(route_path(scope)):
            await self._other(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def _other(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif scope["type"] == "http":
            await _respond(send, 404, [("Content-Type", "text/plain")], b"Not Found")
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await _refuse_websocket(scope, send, 404, "Not Found")

    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.other_app is not None:
            # The other app runs its startup and shutdown handlers; the engine closes its
            # sessions once the shutdown handlers are done (they may still talk to clients).
            async def send_after_close(message: Message) -> None:
                if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                    await self.on_shutdown()
                await send(message)

            await self.other_app(scope, receive, send_after_close)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        limit = self.engine.max_http_buffer_size
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit + 1024:
                await _respond(send, 413, [("Content-Type", "text/plain")], b"Payload Too Large")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        exchange = _exchange_for(scope, b"".join(chunks))
        self.engine.handle_request(exchange)
        if not exchange.future.done():
            # A held long-poll: answer it, or notice that the client went away.
            disconnect: asyncio.Future[Any] = asyncio.ensure_future(_wait_disconnect(receive))
            pending: set[asyncio.Future[Any]] = {exchange.future, disconnect}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not exchange.future.done():
                exchange.aborted()
                return
            disconnect.cancel()
        status, headers, body = exchange.future.result()
        await _respond(send, status, headers, body)

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        exchange = _exchange_for(scope)
        verdict: asyncio.Future[EngineRefusal | None] = asyncio.get_running_loop().create_future()

        def decided(refusal: EngineRefusal | None) -> None:
            if not verdict.done():
                verdict.set_result(refusal)

        self.engine.verify_websocket(exchange, decided)
        refusal = await verdict
        if refusal is not None:
            # As a poll of the same cause is refused (status, JSON body; Node: 400 text whatever it is).
            await _refuse_websocket(scope, send, refusal.status, refusal.body(), b"application/json")
            return
        fast = (scope.get("extensions") or {}).get(FAST_WEBSOCKET)
        if fast is not None and fast["take_over"](self.engine, exchange):
            return  # on sio's own framing from now on (sio.uvicorn)
        await send({"type": "websocket.accept"})
        channel = _WebSocket(send)
        handler = self.engine.accept_websocket(exchange, channel)
        limit = self.engine.max_http_buffer_size
        try:
            while handler is not None:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes") or b""
                        size = len(data)
                    else:  # the limit is in bytes, as on the wire
                        size = len(data) if len(data) * 4 <= limit else len(data.encode())
                    if size > limit:
                        channel.close(1009, "message too big")
                        handler.on_close(True)
                        break
                    handler.on_message(data)
                elif kind == "websocket.disconnect":
                    channel.closed_by_peer()
                    # The ASGI server closed with an error code when the client broke the protocol.
                    handler.on_close(message.get("code", 1005) in ERROR_CLOSE_CODES)
                    break
        finally:
            await channel.finish()


async def _refuse_websocket(
    scope: Scope, send: Any, status: int, message: str | bytes, content_type: bytes = b"text/html"
) -> None:
    """Answer a WebSocket request with an HTTP error when the server allows it, else close it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type)],
            }
        )
        body = message.encode() if isinstance(message, str) else message
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _respond(send: Any, status: int, headers: Headers, body: bytes) -> None:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _WebSocket(WebSocketChannel):
    """Outgoing messages of one ASGI WebSocket, written in order by one writer task."""

    __slots__ = ("_closed", "_outbox", "_send", "_wakeup", "_writer")

    def __init__(self, send: Any) -> None:
        self._send = send
        self._outbox: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._writer = asyncio.ensure_future(self._write_loop())

    def send(self, data: EncodedPacket) -> None:
        """Queue one message."""
        if self._closed:
            return
        data = packet_data(data)
        if isinstance(data, str):
            self._outbox.append({"type": "websocket.send", "text": data})
        else:
            self._outbox.append({"type": "websocket.send", "bytes": bytes(data)})
        self._wakeup.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue the close message (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._outbox.append({"type": "websocket.close", "code": code, "reason": reason[:100]})
        self._wakeup.set()

    def closed_by_peer(self) -> None:
        """The client disconnected: nothing more can be sent."""
        self._closed = True
        self._outbox.clear()
        self._wakeup.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                message = self._outbox.popleft()
                try:
                    await self._send(message)
                except Exception:  # the connection is gone; the receive side will notice
                    self._outbox.clear()
                    return
                if message["type"] == "websocket.close":
                    return
            if self._closed:
                return

    async def finish(self) -> None:
        """Let queued messages out, then stop the writer."""
        self._wakeup.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), 5)
        self._writer.cancel()
