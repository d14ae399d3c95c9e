"""The ASGI app's WebSockets on the built-in front end: uvicorn's ASGI messages over sio's framing.

A WebSocket request for a path that is not the engine's goes to the ASGI app served beside it
(``other_asgi_app``, a FastAPI ``@app.websocket`` route): the app gets ``websocket.connect``, and
answers with ``websocket.accept`` (the 101, then the connection is the built-in front end's
:class:`~sio.frontends.builtin.WebSocketConnection`, the frames carried as ``websocket.receive`` /
``websocket.send``), ``websocket.close`` (403, as uvicorn) or ``websocket.http.response.*`` (its own
HTTP answer). The messages and their order are uvicorn's (its ``websockets-sansio`` protocol is the
model), with these differences: messages are bounded by the engine's ``max_http_buffer_size`` (uvicorn:
``--ws-max-size``, 16 MiB), permessage-deflate follows the engine's ``per_message_deflate`` (off by
default; uvicorn's is on), the server sends no keepalive pings of its own, and an app that fails
after its accept closes the WebSocket with 1011 (uvicorn drops the connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sio.engine.exchange import WebSocketHandler

if TYPE_CHECKING:
    from sio.frontends.builtin import WebSocketConnection

log = logging.getLogger("sio.asgi")

Message = dict[str, Any]

# Messages the app has not received yet beyond which the connection stops reading (uvicorn stops
# at one; a few let a burst through without a pause and a resume per message).
RECEIVE_HIGH_WATER = 16

CONNECTING, OPEN, CLOSED, RESPONDING = "connecting", "open", "closed", "responding"


class ClientDisconnected(OSError):
    """Raised by ``send`` once the client is gone (uvicorn's class of the same name is an OSError too)."""


class AsgiWebSocket(WebSocketHandler):
    """One WebSocket of the ASGI app: its ASGI ``receive`` / ``send`` and its frames.

    The connection provides ``accept(headers, handler) -> WebSocketConnection | None`` (write the
    101 with ``headers`` — the subprotocol, the app's own — and switch to WebSocket framing, giving
    the new connection to :meth:`attach` before anything it read is handled; None when the client
    is gone) and ``respond(status, headers, body)`` (an HTTP answer, then the close).
    """

    __slots__ = (
        "_accept",
        "_channel",
        "_drained",
        "_gone",
        "_queue",
        "_respond",
        "_response",
        "_waiter",
        "scope",
        "state",
        "task",
    )

    def __init__(
        self,
        scope: Message,
        accept: Callable[[bytes, AsgiWebSocket], WebSocketConnection | None],
        respond: Callable[[int, list[tuple[bytes, bytes]], bytes], None],
    ) -> None:
        self.scope = scope
        # (Dropped once used: they hold the HTTP connection object.)
        self._accept: Callable[[bytes, AsgiWebSocket], WebSocketConnection | None] | None = accept
        self._respond: Callable[[int, list[tuple[bytes, bytes]], bytes], None] | None = respond
        self.state = CONNECTING
        self._channel: WebSocketConnection | None = None
        self._queue: deque[Message] = deque([{"type": "websocket.connect"}])
        self._waiter: asyncio.Future[None] | None = None  # a receive() waiting for a message
        self._drained: asyncio.Future[None] | None = None  # a send() waiting for the buffer to drain
        self._response: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None
        self._gone = False  # the client left (or the server closed): send raises ClientDisconnected
        self.task: asyncio.Task[None] | None = None

    def run(self, app: Any) -> asyncio.Task[None]:
        """Call the app for this WebSocket (a task)."""
        self.task = asyncio.get_running_loop().create_task(self._run(app))
        return self.task

    async def _run(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._finish(1012, "")
                raise
            log.error("Exception in ASGI application", exc_info=exc)
            self._finish(1011, "")
        else:
            if self.state is CONNECTING:
                log.error("ASGI callable returned without completing handshake.")
            elif result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
            self._finish(1000, "")

    def _answer(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """The HTTP answer to the handshake (at most one)."""
        respond, self._respond, self._accept = self._respond, None, None
        if respond is not None:
            respond(status, headers, body)

    def _finish(self, code: int, reason: str) -> None:
        """The app is done: a handshake it never answered gets 500, an open WebSocket is closed."""
        if self.state is CONNECTING or self.state is RESPONDING:
            self.state = CLOSED
            self._answer(500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error")
        elif self.state is OPEN:
            self.state = CLOSED
            if self._channel is not None:
                self._channel.close(code, reason)

    # -- ASGI ---------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next event: ``websocket.connect``, then ``websocket.receive``, ``websocket.disconnect``."""
        while not self._queue:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._queue.popleft()
        if len(self._queue) < RECEIVE_HIGH_WATER and self._channel is not None:
            self._channel.hold_reading(False)
        return message

    async def send(self, message: Message) -> None:
        """Carry out one ASGI message of the app."""
        kind = message["type"]
        if self.state is CONNECTING:
            if kind == "websocket.accept":
                self._open(message)
            elif kind == "websocket.close":
                self.state = CLOSED
                self._push({"type": "websocket.disconnect", "code": 1006})
                self._answer(403, [], b"")
            elif kind == "websocket.http.response.start":
                status = message["status"]
                if not 100 <= status < 600:
                    raise RuntimeError(f"Invalid HTTP status code '{status}' in response.")
                self.state = RESPONDING
                self._response = (status, list(message.get("headers", [])), [])
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' "
                    f"or 'websocket.http.response.start' but got '{kind}'."
                )
        elif self.state is OPEN:
            channel = self._channel
            assert channel is not None
            if kind == "websocket.send":
                data = message.get("bytes")
                if data is None:
                    data = message.get("text")
                if data is None:
                    return
                while not channel.writable and self.state is OPEN:
                    await self._wait_drained()  # back-pressure (woken by on_drain, on_close, shutdown)
                if self.state is not OPEN:
                    raise ClientDisconnected()
                channel.send(data)
            elif kind == "websocket.close":
                code = message.get("code", 1000)
                reason = message.get("reason") or ""
                self.state = CLOSED
                self._push({"type": "websocket.disconnect", "code": code, "reason": reason})
                channel.close(code, reason)
            else:
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.send' or 'websocket.close', but got '{kind}'."
                )
        elif self.state is RESPONDING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
            assert self._response is not None
            status, headers, body = self._response
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.state = CLOSED
                self._push({"type": "websocket.disconnect", "code": 1006})
                self._answer(status, headers, b"".join(body))
        elif self._gone:
            raise ClientDisconnected()
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")

    def _open(self, message: Message) -> None:
        headers = b""
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers += b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1") + b"\r\n"
        for name, value in message.get("headers", ()):
            headers += bytes(name) + b": " + bytes(value) + b"\r\n"
        accept, self._accept, self._respond = self._accept, None, None
        channel = accept(headers, self) if accept is not None else None
        if channel is None:  # the client left while the app decided
            self.state = CLOSED
            raise ClientDisconnected()
        # (OPEN since attach, or CLOSED already when the client's close came with the handshake.)

    def attach(self, channel: WebSocketConnection) -> AsgiWebSocket:
        """The WebSocket is open on ``channel`` (called before what the client sent with the
        handshake is handled, so that its messages are the app's); return the handler."""
        self._channel = channel
        self.state = OPEN
        return self

    async def _wait_drained(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()
        try:
            await self._drained
        finally:
            self._drained = None

    def _push(self, message: Message) -> None:
        self._queue.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the connection's side (WebSocketHandler) -------------------------------------

    def on_message(self, data: str | bytes) -> None:
        """A message from the client: queued for ``receive`` (reading held while too many wait)."""
        if self.state is not OPEN:
            return  # (after the app's close: dropped, as uvicorn does)
        if isinstance(data, str):
            self._push({"type": "websocket.receive", "text": data})
        else:
            self._push({"type": "websocket.receive", "bytes": bytes(data)})
        if len(self._queue) >= RECEIVE_HIGH_WATER and self._channel is not None:
            self._channel.hold_reading(True)

    def on_close(self, error: bool) -> None:
        """The WebSocket ended: the client's close code (ours after a protocol error), else 1006."""
        was_open = self.state is OPEN
        self.state = CLOSED
        self._gone = True
        if was_open:
            channel = self._channel
            frame = channel.close_frame if channel is not None else None
            code, reason = frame if frame is not None else (1006, "")
            self._push({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._wake_sender()

    def on_drain(self) -> None:
        """The transport's buffer drained: a waiting ``send`` goes on."""
        self._wake_sender()

    def lost(self) -> None:
        """The client left before the app answered the handshake."""
        self._gone = True
        if self.state is CONNECTING or self.state is RESPONDING:
            self.state = CLOSED
            self._push({"type": "websocket.disconnect", "code": 1006})

    def shutdown(self) -> None:
        """The server stops: an open WebSocket is closed with 1012 (service restart), a handshake
        the app has not answered gets 500, as uvicorn does."""
        self._gone = True
        if self.state is OPEN and self._channel is not None:
            self.state = CLOSED
            self._channel.close(1012, "")
            self._push({"type": "websocket.disconnect", "code": 1012, "reason": ""})
        elif self.state is CONNECTING or self.state is RESPONDING:
            self.state = CLOSED
            self._push({"type": "websocket.disconnect", "code": 1012})
            self._answer(500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error")
        self._wake_sender()

    def _wake_sender(self) -> None:
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)
