"""An ASGI application's HTTP requests on the built-in front end, as uvicorn gives them.

:class:`AsgiHttp` is the application mounted beside the engine (``io.listen(3000,
other_asgi_app=app)``): its lifespan, its ``root_path``, the requests in flight.
:class:`AsgiRequest` is one request/response cycle on a connection's transport: the scope
(uvicorn's httptools implementation's semantics), the body streamed to ``receive()`` as the
connection parses it (``http.request`` with ``more_body``; the connection stops reading while
more than :data:`HIGH_WATER_LIMIT` bytes wait for the app), ``Expect: 100-continue`` answered
when the app first asks for the body, and the response streamed out as the app sends it
(``Content-Length`` when given, else chunked; close-delimited for HTTP/1.0).

The connection side (parsing, the order of answers, timeouts, back-pressure) is
:class:`sio.frontends.builtin.AsgiHttpConnection`; a request sees it only as a :class:`Carrier`.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
import time
from collections.abc import Mapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_to_bytes

from sio.frontends.lifespan import Lifespan

if TYPE_CHECKING:
    from sio.frontends.asgi_websocket import AsgiWebSocket

log = logging.getLogger("sio.asgi")

Message = dict[str, Any]
RawHeaders = list[tuple[bytes, bytes]]

# Request body (bytes) buffered for the app beyond which the connection stops reading (uvicorn's).
HIGH_WATER_LIMIT = 65536
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Characters a header name / value must not hold (uvicorn's checks: no response splitting).
HEADER_RE = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
HEADER_VALUE_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
DISCONNECT: Message = {"type": "http.disconnect"}


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


class _DateLine:
    """The ``date`` header line, formatted once a second."""

    second = 0
    line = b""


def date_line() -> bytes:
    """The ``date`` header line of a response (RFC 9110 asks an origin server for one)."""
    now = int(time.time())
    if now != _DateLine.second:
        _DateLine.second = now
        _DateLine.line = b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
    return _DateLine.line


def decode_path(raw_path: bytes) -> str:
    """The percent-decoded path of a request target (UTF-8, as uvicorn's ``unquote``)."""
    if b"%" not in raw_path and raw_path.isascii():
        return raw_path.decode("ascii")
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")


class Carrier(Protocol):
    """What a request needs of its connection (``AsgiHttpConnection``)."""

    transport: asyncio.Transport | None

    @property
    def writing_paused(self) -> bool:
        """The transport's write buffer is over its high-water mark."""
        ...

    def asgi_body_wanted(self) -> None:
        """The app waits for more of the body: parse what was held back, read again."""

    def asgi_response_done(self) -> None:
        """The response is complete (its last bytes in ``rendered``): write them, go on."""

    def asgi_abandon(self) -> None:
        """The response cannot be completed: close the connection."""


async def service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """What a request that arrives while the app shuts down gets."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": b"Service Unavailable"})


class AsgiHttp:
    """An ASGI application served beside the engine by the built-in front end.

    ``root_path`` is uvicorn's ``--root-path``: the prefix a proxy strips, put back in front
    of every request's ``path`` and ``raw_path`` and given as ``scope["root_path"]``.
    """

    def __init__(self, app: Any, root_path: str = "", close_timeout: float = 10.0) -> None:
        self.app = app
        self.root_path = root_path
        self.raw_root_path = root_path.encode("utf-8")
        self.lifespan = Lifespan(app)
        self.close_timeout = close_timeout  # how long shutdown waits for the requests in flight
        self.in_flight: dict[AsgiRequest, asyncio.Task[None]] = {}
        self.websockets: set[AsgiWebSocket] = set()  # the app's WebSockets (sio.frontends.asgi_websocket)
        self.stopping = False

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan state; each request's ``scope["state"]`` is a shallow copy of it."""
        return self.lifespan.state

    async def startup(self) -> None:
        """Run the app's lifespan startup (:class:`~sio.frontends.lifespan.LifespanFailed` if it fails)."""
        await self.lifespan.startup()

    def run_websocket(self, websocket: AsgiWebSocket) -> None:
        """Run the app for one of its WebSockets (closed with 1012 at shutdown, as uvicorn does)."""
        if self.stopping:
            websocket.shutdown()
        self.websockets.add(websocket)
        websocket.run(self.app).add_done_callback(lambda _: self.websockets.discard(websocket))

    async def shutdown(self) -> None:
        """Let the requests in flight finish (their connections close after them), then the lifespan's.

        A request still running after ``close_timeout`` is cancelled. Requests that arrive
        meanwhile get 503. The app's WebSockets are closed with 1012 (service restart) and their
        handlers given the same time to end.
        """
        self.stopping = True
        for request in self.in_flight:
            request.keep_alive = False
        for websocket in list(self.websockets):
            websocket.shutdown()
        tasks = [*self.in_flight.values(), *(w.task for w in self.websockets if w.task is not None)]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.close_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await self.lifespan.shutdown()


class AsgiRequest:
    """One HTTP request of the ASGI app and its response, on one connection.

    It waits in the connection's queue of requests as the engine's exchanges do (it has the
    attributes the queue reads: ``handled``, ``rendered``, ``keep_alive``, ``owner``, and what a
    move to another worker writes back: ``method``, ``target``, ``version``, ``headers``,
    ``body``); once it is at the head, :meth:`start` runs the app, and it holds the head until
    its response is complete.
    """

    __slots__ = (
        "_asgi",
        "_body",
        "_body_size",
        "_chunked",
        "_conn",
        "_drained",
        "_ended",
        "_expect_continue",
        "_head",
        "_more_body",
        "_remaining",
        "_waiter",
        "disconnected",
        "handled",
        "headers",
        "keep_alive",
        "method",
        "owner",
        "rendered",
        "response_complete",
        "response_started",
        "scope",
        "target",
        "version",
    )

    def __init__(
        self,
        asgi: AsgiHttp,
        conn: Carrier,
        *,
        method: str,
        target: bytes,
        raw_path: bytes,
        query_string: bytes,
        version: str,
        raw_headers: RawHeaders,
        headers: Mapping[str, str],
        keep_alive: bool,
        expect_continue: bool,
        server: tuple[str, int] | None,
        client: tuple[str, int] | None,
        scheme: str,
    ) -> None:
        self._asgi = asgi
        self._conn = conn
        self.method = method
        self.target = target  # the request-target as received
        self.version = version
        self.headers = headers  # (merged, as the engine reads them: for a move to another worker)
        self.keep_alive = keep_alive
        self.owner: int | None = None  # (never another worker's: the app's requests are answered here)
        self.handled = False
        self.rendered: bytes | None = None  # the last bytes of the response, once it is complete
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": server,
            "client": client,
            "scheme": scheme,
            "method": method,
            "root_path": asgi.root_path,
            "path": asgi.root_path + decode_path(raw_path),
            "raw_path": asgi.raw_root_path + raw_path,
            "query_string": query_string,
            "headers": raw_headers,
            "state": asgi.state.copy(),
        }
        self._body: list[bytes] = []  # received, not yet given to the app
        self._body_size = 0
        self._more_body = True  # the request's end is not parsed yet
        self._ended = False  # the app was given the last of the body
        self._expect_continue = expect_continue
        self._waiter: asyncio.Future[None] | None = None  # a receive() waiting for something to happen
        self._drained: asyncio.Future[None] | None = None  # a send() waiting for the transport to drain
        self._head: bytes | None = None  # the status line and headers, until written with the body
        self._chunked = False
        self._remaining: int | None = None  # bytes of body still due by Content-Length

    # -- the connection's side -------------------------------------------------------

    @property
    def body(self) -> bytes:
        """The body received and not given to the app (all of it, for a request not started)."""
        return b"".join(self._body)

    @property
    def full(self) -> bool:
        """Enough body waits for the app: the connection parses no more until it reads."""
        return self._body_size > HIGH_WATER_LIMIT and not self.response_complete

    def start(self) -> None:
        """Run the app for this request (it is at the head of its connection's queue)."""
        asgi = self._asgi
        app = service_unavailable if asgi.stopping else asgi.app
        if asgi.stopping:
            self.keep_alive = False
        task = asyncio.get_running_loop().create_task(self._run(app))
        if not asgi.stopping:
            asgi.in_flight[self] = task

    def feed_body(self, chunk: bytes) -> None:
        """Body parsed from the connection (dropped once the response is complete)."""
        if self.response_complete or self.disconnected:
            return
        self._body.append(chunk)
        self._body_size += len(chunk)
        self._wake()

    def end_body(self) -> None:
        """The request is complete."""
        self._more_body = False
        self._wake()

    def aborted(self) -> None:
        """The client is gone (or the connection was closed): the app gets ``http.disconnect``."""
        self.disconnected = True
        self._wake()
        self.resume_writing()

    def resume_writing(self) -> None:
        """The transport's write buffer drained: a waiting ``send`` goes on."""
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the app's side --------------------------------------------------------------

    async def _run(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            if not self.response_complete:
                self._conn.asgi_abandon()
            raise
        except BaseException as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not self.response_started:
                await self._send_500()
            elif not self.response_complete:
                self._conn.asgi_abandon()
        else:
            if result is not None:
                log.error("ASGI callable should return None, but returned %r.", result)
                if not self.response_complete:
                    self._conn.asgi_abandon()
            elif not self.response_started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self._conn.asgi_abandon()
        finally:
            self._asgi.in_flight.pop(self, None)

    async def _send_500(self) -> None:
        self.keep_alive = False
        try:
            await self.send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
                }
            )
            await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
        except Exception:  # (a half-written head: nothing more can be said)
            self._conn.asgi_abandon()

    async def receive(self) -> Message:
        """The next ``http.request`` (body, ``more_body``), or ``http.disconnect``.

        After the whole body was given, it waits until the response is complete or the
        client is gone, then answers ``http.disconnect`` (uvicorn's semantics).
        """
        if self._expect_continue:
            self._expect_continue = False
            transport = self._conn.transport
            if not self.response_started and transport is not None and not transport.is_closing():
                transport.write(CONTINUE)
        while True:
            if self.disconnected or self.response_complete:
                return DISCONNECT
            if self._body or (not self._more_body and not self._ended):
                body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
                was_full = self.full
                self._body = []
                self._body_size = 0
                more = self._more_body
                self._ended = not more
                if more and was_full:
                    self._conn.asgi_body_wanted()  # the connection held input back for us
                return {"type": "http.request", "body": body, "more_body": more}
            if self._more_body:
                self._conn.asgi_body_wanted()
                if self._body or not self._more_body or self.disconnected:
                    continue  # the held input had it (or was bad: the connection failed meanwhile)
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def send(self, message: Message) -> None:
        """``http.response.start``, then ``http.response.body`` messages (``more_body``)."""
        if self._conn.writing_paused and not self.disconnected and not self.response_complete:
            drained = self._drained
            if drained is None or drained.done():
                drained = self._drained = asyncio.get_running_loop().create_future()
            await drained
        if self.disconnected:
            return  # as uvicorn: what the app sends after the client left is dropped
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            self._start_response(message)
        elif not self.response_complete:
            if kind != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
            self._send_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after response already completed.")

    def _start_response(self, message: Message) -> None:
        status = message["status"]
        if self._expect_continue and self._more_body:
            # Answered without a 100 Continue: the client still holds its body back, so nothing
            # more can be read after it on this connection.
            self.keep_alive = False
        self._expect_continue = False
        lines = [STATUS_LINES.get(status) or _status_line(status)]
        length: int | None = None
        chunked = has_close = has_date = False
        for name, value in message.get("headers", ()):
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and length is None and not chunked:
                length = int(value.decode())
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
                length = None
            elif name == b"connection":
                if b"close" in [token.lower().strip() for token in value.split(b",")]:
                    self.keep_alive = False
                    has_close = True
            elif name == b"date":
                has_date = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not has_date:
            lines.append(date_line())
        head_request = self.method == "HEAD"
        if length is None and not chunked and not head_request and status not in (204, 304):
            if self.version == "1.1":
                chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:  # HTTP/1.0 has no chunks: the body ends with the connection
                self.keep_alive = False
        if not self.keep_alive and not has_close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        self.response_started = True  # (after the checks: a refused head can still be a 500)
        self._chunked = chunked and not head_request
        self._remaining = None if head_request or chunked else length
        self._head = b"".join(lines)
        # Written with the first body bytes (one write for a whole small response), or from the
        # loop if the app waits before it sends any.
        asyncio.get_running_loop().call_soon(self._write_head)

    def _write_head(self) -> None:
        head, self._head = self._head, None
        transport = self._conn.transport
        if head and not self.response_complete and not self.disconnected and transport is not None:
            transport.write(head)

    def _send_body(self, body: bytes, more_body: bool) -> None:
        if self.method == "HEAD":
            data = b""
        elif self._chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            data = body
            if self._remaining is not None:
                if len(body) > self._remaining:
                    raise RuntimeError("Response content longer than Content-Length")
                self._remaining -= len(body)
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        if more_body:
            transport = self._conn.transport
            if data and transport is not None:
                transport.write(data)
            return
        if self._remaining:
            raise RuntimeError("Response content shorter than Content-Length")
        self.response_complete = True
        self._body = []
        self._body_size = 0
        self._wake()
        self.rendered = data
        self._conn.asgi_response_done()
