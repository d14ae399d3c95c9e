"""The built-in front end: HTTP/1.1 (httptools) and WebSocket (our Cython codec) on uvloop.

One :class:`HttpConnection` protocol per TCP connection parses requests in
``data_received`` with callbacks (no task per request), handles them one at a time
and answers them in order (keep-alive, pipelining), bounds header and body sizes,
drops a client whose headers never complete, and switches to WebSocket framing on an
accepted upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import struct
import termios
import time
import weakref
from collections.abc import Callable, Sequence
from http import HTTPStatus
from ssl import SSLContext
from typing import TYPE_CHECKING, Any

import httptools

from sio._sio_core import (
    OP_BINARY,
    OP_BINARY_DEFLATED,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    OP_TEXT_DEFLATED,
    FrameParser,
    HandshakeError,
    Timer,
    WebSocketError,
    check_websocket_upgrade,
    encode_binary_frame,
    encode_close_frame,
    encode_frame,
    encode_text_frame,
)
from sio.engine.exchange import (
    TURN_CLOCK_EVERY,
    TURN_MESSAGES,
    TURN_SECONDS,
    EncodedPacket,
    Headers,
    HttpExchange,
    SharedPacket,
    WebSocketChannel,
    WebSocketHandler,
)
from sio.errors import InvalidOption
from sio.frontends.asgi_http import AsgiHttp, AsgiRequest, decode_path
from sio.frontends.asgi_websocket import AsgiWebSocket
from sio.frontends.permessage_deflate import Agreement, PerMessageDeflate, negotiate
from sio.workers.routing import request_bytes

if TYPE_CHECKING:
    from sio.engine.server import EngineRefusal, EngineServer
    from sio.workers.handoff import ConnectionRouter

log = logging.getLogger("sio.http")

MAX_HEADER_BYTES = 16 * 1024  # Node's default --max-http-header-size
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive (slowloris)
BODY_TIMEOUT = 30.0  # seconds for a request's body to arrive once its headers did
# Engine.IO handshakes one HTTP connection may make (a browser's keep-alive connection carries a few,
# one per tab). Pipelined handshakes beyond it get 429 and the connection is closed: one connection
# cannot create sessions by the thousand.
MAX_HANDSHAKES_PER_CONNECTION = 16
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection is kept (Node's default)
LINGER_TIMEOUT = 2.0  # seconds input is drained after an error answer, so that the client can read it
# Frames queued for one WebSocket within one loop iteration are written early once they reach this size,
# so that the transport's buffer (and its back-pressure) sees them: a burst cannot pile up uncounted.
WRITE_BATCH_LIMIT = 64 * 1024
# Input of an HTTP connection is parsed in slices of this size. Requests are handled one at a time
# (the next only once the answer to the previous is written, as h11 does); once a parsed request
# waits behind one in progress, the rest of the input is kept unparsed and reading stops, so what
# waits is bounded by one slice, whatever a client pipelines.
PARSE_SLICE = 8 * 1024
# Requests of one HTTP connection handled per read (each answered at once, a pipelining client can
# put thousands in one read, and libuv reads a socket up to 32 times per loop turn): the rest waits,
# unparsed, with reading paused, until other connections had their turn.
HTTP_READ_BUDGET = 100
# With --workers: moves of one connection to another worker that carry pipelined requests along
# (each carries what follows again, so a pipeline alternating between workers costs the square of
# its length). Beyond this the connection is closed; browsers do not pipeline.
MAX_PIPELINED_MOVES = 16

Fallback = Callable[[HttpExchange], None]

TLS_WITH_WORKERS = (
    "TLS cannot be served by several workers (a TLS connection cannot move to the worker holding "
    "its session): terminate TLS in front of them (nginx, a load balancer), or run one"
)


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def _render(status: int, headers: Headers, body: bytes, keep_alive: bool) -> bytes:
    lines = [_status_line(status)]
    for name, value in headers:
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"Content-Length: %d\r\n" % len(body))
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)


class _Exchange(HttpExchange):
    __slots__ = ("_conn", "for_engine", "handled", "keep_alive", "owner", "rendered", "target", "version")

    def __init__(self, conn: HttpConnection, *args: Any, keep_alive: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conn: HttpConnection | None = conn
        self.keep_alive = keep_alive
        self.for_engine = False  # its path is the engine's (else the fallback app's, or a 404)
        self.handled = False  # given to the engine (or the fallback app) to answer
        self.rendered: bytes | None = None
        # With --workers: the other worker whose session this is (None: ours), and what it takes
        # to write the request back for that worker (the raw request-target, the HTTP version).
        self.owner: int | None = None
        self.target = b""
        self.version = "1.1"

    def _send(self, status: int, headers: Headers, body: bytes) -> None:
        self.rendered = _render(status, headers, body, self.keep_alive)
        if self._conn is not None:
            self._conn._flush_responses()

    def detach(self) -> None:
        """Forget the connection (it became a WebSocket; the request stays as the handshake)."""
        self._conn = None


class HttpConnection(asyncio.Protocol):
    """One client connection: HTTP requests, then possibly a WebSocket."""

    __slots__ = (
        "_arrived_moved",
        "_body",
        "_body_limit",
        "_body_size",
        "_closing",
        "_fed",
        "_handing_over",
        "_handover_bytes",
        "_handshakes",
        "_header_bytes",
        "_headers",
        "_held",
        "_in_request",
        "_initial",
        "_lingering",
        "_parser",
        "_paused",
        "_pending_move",
        "_pipelined_moves",
        "_queue",
        "_resuming",
        "_sink",
        "_timer",
        "_url",
        "_verifying",
        "engine",
        "fallback",
        "remote_address",
        "router",
        "secure",
        "transport",
    )

    def __init__(
        self,
        engine: EngineServer,
        fallback: Fallback | None = None,
        router: ConnectionRouter | None = None,
        initial: bytes = b"",
        handshakes: int = 0,
        moved: bool = False,
        pipelined_moves: int = 0,
    ) -> None:
        self.engine = engine
        self.fallback = fallback
        # With --workers: who holds which session; a request for another worker's session moves
        # the connection there (sio.workers.handoff). ``initial``: what that worker read already.
        self.router = router
        self._initial = initial
        # Moved here by another worker: its first request is answered here whatever its sid says
        # (every worker finds the same owner in the same bytes; this bounds a disagreement to one hop).
        self._arrived_moved = moved
        self._handing_over = False  # the request at the head is another worker's: move at a boundary
        self._handover_bytes = 0  # input parsed while waiting for a request boundary to move at
        # Moves that carried pipelined requests along (each re-sends what follows: bounded, see
        # MAX_PIPELINED_MOVES); counted across workers, as the handshakes are.
        self._pipelined_moves = pipelined_moves
        # A move waiting for our answers to drain from the transport's buffer: (owner, bytes, if it fails).
        self._pending_move: tuple[int, bytes, Callable[[], None]] | None = None
        self.transport: asyncio.Transport | None = None
        self.remote_address: str | None = None
        self.secure = False  # the connection is TLS
        self._parser = httptools.HttpRequestParser(self)
        # Parsed requests awaiting their answer, in order. Only the first is being handled; the
        # others wait (a list: short, see PARSE_SLICE). An ASGI app's request (AsgiHttpConnection)
        # joins once its headers are parsed, and holds the head until its response is complete.
        self._queue: list[_Exchange | AsgiRequest] = []
        # Input not parsed yet, because requests wait, or because the ASGI app has not read the
        # body it was given (reading is paused meanwhile).
        self._held = b""
        self._sink: AsgiRequest | None = None  # the ASGI request whose body is being parsed
        self._resuming = False  # a call to _resume is scheduled
        self._fed = 0  # requests parsed by the current _feed
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._body_limit = engine.max_http_buffer_size + 1024
        self._timer = engine.wheel.timer(self._on_timeout)
        self._in_request = False  # between the first byte of a request and its end
        self._lingering = False  # an error was answered: input is drained until the close
        self._closing = False
        self._paused = False
        self._verifying = False  # reading is paused while the engine decides on an upgrade
        self._handshakes = handshakes  # Engine.IO handshakes made on this connection (on any worker)

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.remote_address = peer[0] if isinstance(peer, tuple) else None
        self.secure = transport.get_extra_info("sslcontext") is not None
        self._timer.arm(HEADER_TIMEOUT)
        if self._initial:
            # Handed over by another worker: what it read comes first, fed from the loop (uvloop
            # starts reading once this returns, whatever we asked: pausing works from there).
            asyncio.get_running_loop().call_soon(self._feed_initial)

    def _feed_initial(self) -> None:
        initial, self._initial = self._initial, b""
        if not self._closing:
            self._feed(initial)
            self._update_reading()

    def data_received(self, data: bytes) -> None:  # noqa: D102
        if self._closing:
            return
        if self._initial:  # what the other worker read is not fed yet: this comes after it
            self._initial += data
            return
        if self._held:  # requests wait already: this is parsed after them
            self._held += data
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` slice by slice until it is all parsed or a request waits (then hold the rest)."""
        if self.router is not None and not self._queue and not self._in_request and self._move_raw(data):
            return
        size = len(data)
        start = 0
        self._fed = 0
        while start < size:
            if not self._handing_over and (
                len(self._queue) > 1
                or self._fed >= HTTP_READ_BUDGET
                or (self._sink is not None and self._sink.full)
            ):
                # A request waits behind the one in progress (its answer resumes us), or this
                # read had its share of the loop (resumed on the next turn), or the ASGI app has
                # enough of the body to read (its next receive() resumes us).
                self._held = data[start:]
                self._update_reading()
                if self._in_request:
                    # A request cut at the slice: not a slow client, we hold it. Its timeout
                    # starts again when parsing does (_resume).
                    self._timer.cancel()
                if not self._queue:
                    self._schedule_resume()
                return
            chunk = data[start : start + PARSE_SLICE] if start or size > PARSE_SLICE else data
            start += len(chunk)
            if self._handing_over:
                self._handover_bytes += len(chunk)
                if self._handover_bytes > self._body_limit + MAX_HEADER_BYTES:
                    # Requests without a boundary in sight while we wait to move: a client piling
                    # up input, not one a server has to keep.
                    self._abort_queued()
                    self._close()
                    return
            try:
                self._parser.feed_data(chunk)
            except httptools.HttpParserUpgrade as upgrade:
                offset = upgrade.args[0] if upgrade.args else len(chunk)
                self._upgrade(chunk[offset:] + data[start:])
                return
            except httptools.HttpParserCallbackError as exc:
                # httptools wraps what our callbacks raise; the original is the context.
                self._refuse(exc.__context__)
                return
            except httptools.HttpParserError:
                self._fail(400, "Bad Request")
                return
            if self._closing:
                return
            if self._handing_over and not self._in_request:  # at a request boundary: move now
                self._hand_over(data[start:])
                return

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self._timer.cancel()
        self._closing = True
        self._held = b""
        self._abort_queued()

    def pause_writing(self) -> None:
        """Answers pile up unread (a client pipelining requests it never reads): stop reading."""
        self._paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        """The answers drained: read again (unless requests wait or an upgrade is being decided)."""
        self._paused = False
        if self._pending_move is not None and self.transport is not None:
            owner, data, failed = self._pending_move
            self._pending_move = None
            self.transport.set_write_buffer_limits()  # back to the defaults
            self._move(owner, data, failed)
            return
        self._update_reading()

    def _update_reading(self) -> None:
        """Read while nothing holds reading back: answers the peer does not read (``_paused``),
        requests waiting behind one in progress (``_held``), an upgrade being decided."""
        transport = self.transport
        if transport is None or self._closing:
            return
        if self._paused or self._held or self._verifying:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:  # noqa: D102
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_size = 0
        self._in_request = True
        self._timer.arm(HEADER_TIMEOUT)

    def on_url(self, url: bytes) -> None:  # noqa: D102
        self._url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self._count_header_bytes(len(name) + len(value) + 4)  # ": " and CRLF count, as in Node
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else previous + ", " + text

    def on_headers_complete(self) -> None:  # noqa: D102
        self._timer.arm(BODY_TIMEOUT)  # cancelled when the request is complete

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self._body_size += len(body)
        if self._body_size > self._body_limit:
            raise _RequestRefused(413, "Payload Too Large")
        self._body.append(body)

    def on_message_complete(self) -> None:  # noqa: D102
        self._in_request = False
        self._timer.cancel()
        if self._parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade next: see _upgrade
        self._fed += 1
        exchange = self._make_exchange(_Exchange, body=b"".join(self._body))
        exchange.for_engine = self.engine.handles_path(exchange.path)
        if exchange.for_engine:
            sid = exchange.query.get("sid")
            if not sid:
                self._handshakes += 1
                if self._handshakes > MAX_HANDSHAKES_PER_CONNECTION:
                    raise _RequestRefused(429, "Too Many Requests")
            elif self.router is not None and not self._arrived_moved:
                exchange.owner = self.router.owner(sid)
        self._arrived_moved = False
        if self.router is not None:
            exchange.target = self._url
            exchange.version = self._parser.get_http_version()
            if self._handing_over and len(self._queue) >= HTTP_READ_BUDGET:
                raise _RequestRefused(400, "Bad Request")  # pipelining without end while we move
        self._queue.append(exchange)
        if len(self._queue) == 1:  # nothing in progress: handle it now (else it waits its turn)
            if exchange.owner is not None:
                # Another worker's session: the connection moves once parsing reaches the end of a
                # request (what follows in this read is parsed and moves along; see _feed).
                exchange.handled = True
                self._handing_over = True
            else:
                self._handle(exchange)

    # -- internals ------------------------------------------------------------------

    def _handle(self, exchange: _Exchange | AsgiRequest) -> None:
        """Give a request to whoever answers it: the engine, the ASGI app, the fallback, or a 404."""
        exchange.handled = True
        if isinstance(exchange, AsgiRequest):
            exchange.start()
        elif exchange.for_engine:
            self.engine.handle_request(exchange)
        elif self.fallback is not None:
            self.fallback(exchange)
        else:
            exchange.respond(404, [("Content-Type", "text/plain")], b"Not Found")

    def _resume(self) -> None:
        """After an answer was written: handle the requests that waited, then the held input."""
        # (Reset first: what this call does may need another turn. A call with nothing left
        # to do is harmless.)
        self._resuming = False
        while self._queue and not self._closing:
            head = self._queue[0]
            if head.handled:
                return  # in progress (its answer schedules this again)
            if head.owner is not None:  # pipelined behind our requests, for another worker
                head.handled = True
                self._handing_over = True
                held, self._held = self._held, b""
                if self._in_request:
                    self._feed(held)  # moves once the request being parsed is complete
                    if self._in_request and not self._closing and not self._timer.armed:
                        self._timer.arm(HEADER_TIMEOUT)  # the rest of the request is the client's again
                    self._update_reading()
                else:
                    self._hand_over(held)
                return
            try:
                self._handle(head)  # an answer given at once is written, and the loop goes on
            except Exception as exc:
                self._refuse(exc)
                return
        if self._closing:
            return
        held, self._held = self._held, b""
        if held:
            self._feed(held)
            if self._in_request and not self._held and not self._closing and not self._timer.armed:
                self._timer.arm(HEADER_TIMEOUT)  # the rest of a request we held is the client's again
        self._update_reading()

    def _schedule_resume(self) -> None:
        if not self._resuming:
            self._resuming = True
            asyncio.get_running_loop().call_soon(self._resume)

    def _move_raw(self, data: bytes) -> bool:
        """At a request boundary, a request line for another worker's session: move the bytes as read.

        (The common case, a client's request on a connection the kernel gave another worker:
        nothing is parsed here. Anything else, a request line cut or percent-encoded, goes through
        the parser and moves from there.)
        """
        if self._arrived_moved or self.transport is None or self.transport.get_write_buffer_size():
            return False  # (answers of ours still in the buffer: the parsed path waits for them)
        end = data.find(b"\r\n", 0, MAX_HEADER_BYTES)
        if end < 0:
            return False
        _, _, rest = data[:end].partition(b" ")
        target, _, _ = rest.partition(b" ")
        if b"%" in target or b"+" in target or b"#" in target:
            return False  # decoding to do: the parser's reading of the query decides
        path, _, query = target.partition(b"?")
        # The last sid= field, as parse_query reads it: every worker must find the same owner in
        # the same bytes, or a request with two sids would move back and forth.
        at = query.rfind(b"sid=")
        if at < 0 or (at > 0 and query[at - 1] != 38) or not self.engine.handles_path(path.decode("latin-1")):
            return False  # (38: "&"; "xsid=", or anything else, goes through the parser)
        sid = query[at + 4 :].partition(b"&")[0].decode("latin-1")
        owner = self.router.owner(sid)  # type: ignore[union-attr]
        if owner is None:
            return False
        if not self.router.hand_over(owner, self.transport, data, self._handshakes):  # type: ignore[union-attr]
            return False
        self._moved_away()
        return True

    def _moved_away(self) -> None:
        """The connection is another worker's now: this protocol object is done."""
        self._queue = []
        self._closing = True
        self._timer.cancel()
        self.transport = None

    def _move(self, owner: int, data: bytes, failed: Callable[[], None]) -> None:
        """Send the connection and ``data`` to worker ``owner`` once our answers left the buffer.

        (An answer still in the transport's buffer would be lost with it.) ``failed`` runs when
        that worker cannot be reached.
        """
        transport = self.transport
        assert transport is not None and self.router is not None
        if transport.get_write_buffer_size():
            self._pending_move = (owner, data, failed)
            transport.pause_reading()
            transport.set_write_buffer_limits(high=0)  # resume_writing once it is all written
            self._timer.arm(self.engine.close_timeout)  # a peer that never reads: aborted then
            return
        if self.router.hand_over(owner, transport, data, self._handshakes, self._pipelined_moves):
            self._moved_away()
        else:
            failed()

    def _hand_over(self, rest: bytes) -> None:
        """Move the connection to the worker holding the head request's session.

        The requests parsed but not answered go written back, then ``rest`` (read, not parsed).
        When that worker cannot be reached (it is being restarted), they are answered here
        instead: its sessions are gone, and the client hears ``Session ID unknown``.
        """
        queue = self._queue
        owner = queue[0].owner
        assert owner is not None
        data = b"".join(request_bytes(e.method, e.target, e.version, e.headers, e.body) for e in queue) + rest
        self._handing_over = False
        self._handover_bytes = 0
        if len(queue) > 1 or rest:
            self._pipelined_moves += 1
            if self._pipelined_moves > MAX_PIPELINED_MOVES:
                # Requests for sessions of alternating workers, pipelined: each move would carry
                # the rest along again. No browser does this; the connection is closed.
                self._abort_queued()
                self._close()
                return

        def failed() -> None:
            for exchange in queue:
                if exchange.owner == owner:
                    exchange.owner = None
            queue[0].handled = False
            self._held = rest + self._held
            self._schedule_resume()

        self._move(owner, data, failed)

    def _refuse(self, error: BaseException | None) -> None:
        """A request failed in our code: the status it asked for, or a 500 (logged)."""
        if isinstance(error, _RequestRefused):
            self._fail(error.status, error.message)
        else:
            log.error("error while handling a request", exc_info=error)
            self._fail(500, "Internal Server Error")

    def _make_exchange(self, cls: type[_Exchange], body: bytes = b"") -> _Exchange:
        url = httptools.parse_url(self._url)
        path = url.path.decode("latin-1") if url.path else "/"
        query = url.query.decode("latin-1") if url.query else ""
        return cls(
            self,
            self._parser.get_method().decode("latin-1"),
            path,
            query,
            self._headers,
            body,
            self.remote_address,
            self.secure,
            keep_alive=self._parser.should_keep_alive(),
        )

    def _count_header_bytes(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _RequestRefused(431, "Request Header Fields Too Large")

    def _flush_responses(self) -> None:
        """Write the answers that are ready, in request order; let a waiting request have its turn."""
        transport = self.transport
        while self._queue and self._queue[0].rendered is not None:
            exchange = self._queue.pop(0)
            if transport is None or self._closing:
                continue
            transport.write(exchange.rendered)  # type: ignore[arg-type]
            if not exchange.keep_alive:
                self._close()
                return
        if self._closing:
            return
        if self._queue:
            # The next request waited for this answer. It is handled from the loop, not from
            # here: an answer can be given deep inside someone else's call (an emit).
            if not self._queue[0].handled:
                self._schedule_resume()
        elif self._held:
            self._schedule_resume()
        elif not self._timer.armed:
            self._timer.arm(KEEP_ALIVE_TIMEOUT)

    def _fail(
        self,
        status: int,
        message: str | bytes,
        content_type: str = "text/plain",
        headers: Headers | None = None,
    ) -> None:
        """Answer a request we cannot parse or accept (or refused), then close the connection.

        ``headers`` replace the ``Content-Type`` one (an ASGI app's refusal of a WebSocket).

        The close is a lingering one: our side is shut down at once, but what the client
        is still sending is read and dropped for a moment, because closing a socket with
        unread input makes the kernel send a reset that can destroy the answer in flight.
        """
        transport = self.transport
        if transport is None or self._closing or transport.is_closing():
            self._close()
            return
        if self._queue:
            # Answers are still owed for earlier requests: an error answer now would be read as
            # theirs. Close without one (what is owed is aborted).
            self._abort_queued()
            self._close()
            return
        body = message.encode() if isinstance(message, str) else message
        lines = headers if headers is not None else [("Content-Type", content_type)]
        transport.write(_render(status, lines, body, keep_alive=False))
        self._closing = True
        self._lingering = True
        self._timer.arm(LINGER_TIMEOUT)
        self._held = b""
        transport.resume_reading()  # the linger drains input, even if reading was held back
        if transport.can_write_eof():
            transport.write_eof()
        else:  # pragma: no cover - TCP transports can
            self._close()

    def _close(self) -> None:
        self._closing = True
        self._lingering = False
        self._timer.cancel()
        if self.transport is not None:
            self.transport.close()
            # Graceful, but bounded: a peer that never reads keeps the answer in our buffer
            # and the close waiting; after close_timeout the connection is aborted.
            self._timer.arm(self.engine.close_timeout)

    def _abort_queued(self) -> None:
        """Requests that will never get their answer: tell whoever holds them."""
        queue, self._queue = self._queue, []
        for exchange in queue:
            exchange.aborted()

    def _on_timeout(self) -> None:
        if self._pending_move is not None:  # our answers never drained: the peer does not read
            self._pending_move = None
            self._abort_queued()
            self._close()
        elif self._closing and not self._lingering:  # a close that did not end in time
            if self.transport is not None:
                self.transport.abort()
        elif self._lingering:
            self._close()
        elif self._in_request:  # headers or body too slow (slowloris)
            if self._queue:  # responses are still owed: no room for a 408
                self._close()
            else:
                self._fail(408, "Request Timeout")
        elif not self._queue:  # idle (a held long poll is not idle)
            self._close()

    def _upgrade(self, rest: bytes) -> None:
        self._timer.cancel()
        exchange = self._make_exchange(_Exchange)
        if self._queue:  # an upgrade pipelined behind unanswered requests
            self._fail(400, "Bad Request")
            return
        if not self.engine.handles_path(exchange.path):
            self._fail(404, "Not Found")
            return
        owner = None
        if self.router is not None and not self._arrived_moved:
            owner = self.router.owner(exchange.query.get("sid") or "")
        self._arrived_moved = False
        if owner is not None:  # the upgrade of another worker's session: move there
            data = request_bytes(
                exchange.method, self._url, self._parser.get_http_version(), self._headers, b""
            )
            self._move(owner, data + rest, lambda: self._upgrade_here(exchange, rest))
            return
        self._upgrade_here(exchange, rest)

    def _upgrade_here(self, exchange: _Exchange, rest: bytes) -> None:
        options = self.engine.per_message_deflate
        try:
            accept = check_websocket_upgrade(exchange.method, exchange.headers)
            # As ws: an extension header it cannot read refuses the upgrade (400).
            offer = exchange.headers.get("sec-websocket-extensions")
            deflate = None if options is None else negotiate(offer, options)
        except HandshakeError as exc:
            self._fail(exc.status, str(exc))
            return
        assert self.transport is not None
        # Nothing more is read until the engine (and maybe an async allow_request) decides.
        self.transport.pause_reading()
        self._verifying = True
        self.engine.verify_websocket(
            exchange, lambda refusal: self._finish_upgrade(exchange, accept, rest, refusal, deflate)
        )

    def _finish_upgrade(
        self,
        exchange: _Exchange,
        accept: str,
        rest: bytes,
        refusal: EngineRefusal | None,
        deflate: Agreement | None = None,
    ) -> None:
        self._verifying = False
        if self._closing or self.transport is None:
            return  # the client left while the request was being decided
        self.transport.resume_reading()
        if refusal is not None:
            # The refusal a poll of the same cause gets (status, JSON body): Node's abortUpgrade
            # answers 400 text whatever the cause, so a refused WebSocket read unlike a refused poll.
            self._fail(refusal.status, refusal.body(), "application/json")
            return
        transport = self.transport
        # This protocol object is done: nothing may keep it (or what it holds) alive.
        self._closing = True
        self._parser = None  # type: ignore[assignment]
        self._headers = {}
        self._body = []
        self._url = b""
        self._timer = None  # type: ignore[assignment]
        self.transport = None
        exchange.detach()
        switch_to_websocket(transport, self.engine, exchange, accept, deflate, self._paused, rest)


class AsgiHttpConnection(HttpConnection):
    """An HTTP connection of a server with an ASGI app beside the engine (``other_asgi_app``).

    A request whose path is not the engine's, and that the static files (the ``fallback``,
    consulted first) do not serve, goes to the app as uvicorn would give it
    (:class:`~sio.frontends.asgi_http.AsgiRequest`): decided once its headers are parsed, its
    body streamed to the app as it is parsed (no size limit: ``max_http_buffer_size`` is the
    engine's), with reading paused while the app has enough unread, and a body timeout per gap
    between chunks. It waits its turn in the queue as any request and holds the head until its
    response is complete. A WebSocket upgrade for a path that is not the engine's is the app's too
    (:class:`~sio.frontends.asgi_websocket.AsgiWebSocket`: uvicorn's ASGI messages over sio's framing).
    """

    __slots__ = (
        "_client_address",
        "_expect_continue",
        "_raw_headers",
        "_server_address",
        "_serves",
        "_websocket",
        "asgi",
    )

    def __init__(
        self,
        asgi: AsgiHttp,
        engine: EngineServer,
        fallback: Fallback | None = None,
        router: ConnectionRouter | None = None,
        initial: bytes = b"",
        handshakes: int = 0,
        moved: bool = False,
        pipelined_moves: int = 0,
    ) -> None:
        super().__init__(engine, fallback, router, initial, handshakes, moved, pipelined_moves)
        self.asgi = asgi
        # Which requests the fallback (the static files) answers rather than the app.
        self._serves: Callable[[str, str], bool] | None = getattr(fallback, "serves", None)
        self._raw_headers: list[tuple[bytes, bytes]] = []  # as received, for the app's scope
        self._expect_continue = False
        self._server_address: tuple[str, int] | None = None
        self._client_address: tuple[str, int] | None = None
        self._websocket: AsgiWebSocket | None = None  # the app's WebSocket while it decides on it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        super().connection_made(transport)
        self._server_address = _address(transport.get_extra_info("sockname"))
        self._client_address = _address(transport.get_extra_info("peername"))

    def on_message_begin(self) -> None:  # noqa: D102
        super().on_message_begin()
        self._raw_headers = []
        self._expect_continue = False

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        super().on_header(name, value)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:  # noqa: D102
        super().on_headers_complete()
        parser = self._parser
        if parser.should_upgrade():
            return  # a WebSocket: the engine's, or refused (_upgrade)
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _RequestRefused(400, "Bad Request") from None
        raw_path = url.path or b"/"
        path = raw_path.decode("latin-1")
        if self.engine.handles_path(path):
            return
        method = parser.get_method().decode("latin-1")
        if self._serves is not None and self._serves(method, path):
            return
        if self._handing_over and len(self._queue) >= HTTP_READ_BUDGET:
            raise _RequestRefused(400, "Bad Request")  # pipelining without end while we move
        version = parser.get_http_version()
        client, secure = self._client_and_security()
        request = AsgiRequest(
            self.asgi,
            self,
            method=method,
            target=self._url,
            raw_path=raw_path,
            query_string=url.query or b"",
            version=version,
            raw_headers=self._raw_headers,
            headers=self._headers,
            keep_alive=version != "1.0" and parser.should_keep_alive(),
            expect_continue=self._expect_continue,
            server=self._server_address,
            client=client,
            scheme="https" if secure else "http",
        )
        self._sink = request
        self._arrived_moved = False
        if self._expect_continue:
            self._timer.cancel()  # no body before the 100 Continue: its timeout starts with it
        self._queue.append(request)
        if len(self._queue) == 1:  # nothing in progress: the app runs now (else it waits its turn)
            self._handle(request)

    def _client_and_security(self) -> tuple[tuple[str, int] | None, bool]:
        """The scope's ``client`` and whether the request is secure: with ``proxy_headers``, as
        uvicorn's ProxyHeadersMiddleware reads a trusted proxy's X-Forwarded-For / -Proto."""
        client = self._client_address
        secure = self.secure
        proxies = self.engine.trusted_proxies
        if proxies is not None:
            peer = self.remote_address
            forwarded = proxies.client(peer, self._headers.get("x-forwarded-for"))
            if forwarded != peer and forwarded is not None:
                client = (forwarded, 0)
            secure = proxies.secure(peer, self._headers.get("x-forwarded-proto"), secure)
        return client, secure

    def _upgrade(self, rest: bytes) -> None:
        """A WebSocket request: the engine's path as always, any other the app's (uvicorn's ASGI)."""
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._fail(400, "Bad Request")
            return
        raw_path = url.path or b"/"
        if self._queue or self.engine.handles_path(raw_path.decode("latin-1")):
            super()._upgrade(rest)
            return
        self._timer.cancel()
        method = self._parser.get_method().decode("latin-1")
        options = self.engine.per_message_deflate
        try:
            accept = check_websocket_upgrade(method, self._headers)
            offer = self._headers.get("sec-websocket-extensions")
            deflate = None if options is None else negotiate(offer, options)
        except HandshakeError as exc:
            self._fail(exc.status, str(exc))
            return
        client, secure = self._client_and_security()
        asgi = self.asgi
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": self._parser.get_http_version(),
            "scheme": "wss" if secure else "ws",
            "server": self._server_address,
            "client": client,
            "root_path": asgi.root_path,
            "path": asgi.root_path + decode_path(raw_path),
            "raw_path": asgi.raw_root_path + raw_path,
            "query_string": url.query or b"",
            "headers": self._raw_headers,
            "subprotocols": [
                token.strip()
                for name, value in self._raw_headers
                if name == b"sec-websocket-protocol"
                for token in value.decode("latin-1").split(",")
            ],
            "state": asgi.state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        assert self.transport is not None
        self.transport.pause_reading()  # nothing is read until the app answers the handshake
        self._verifying = True

        def accept_websocket(headers: bytes, handler: AsgiWebSocket) -> WebSocketConnection | None:
            transport = self.transport
            self._websocket = None
            self._verifying = False
            if self._closing or transport is None:
                return None  # the client left while the app decided
            transport.resume_reading()
            self._closing = True  # this protocol object is done (as in _finish_upgrade)
            self._parser = None  # type: ignore[assignment]
            self._timer = None  # type: ignore[assignment]
            self.transport = None
            return switch_to_websocket(
                transport,
                self.engine,
                None,  # (no exchange: attach hands the connection to the app)
                accept,
                deflate,
                self._paused,
                rest,
                extra_headers=headers,
                attach=handler.attach,
            )

        def respond(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            self._websocket = None
            self._verifying = False
            # Content-Length and Connection: close are ours (the body is whole, the connection ends).
            lines = [
                (_latin1(name), _latin1(value))
                for name, value in headers
                if _latin1(name).lower() not in ("content-length", "connection")
            ]
            if any("\r" in text or "\n" in text for line in lines for text in line):
                lines, status, body = [], 500, b"Internal Server Error"  # (a header that would split it)
            if not any(name.lower() == "content-type" for name, _ in lines):
                lines.append(("Content-Type", "text/plain; charset=utf-8"))
            self._fail(status, body, headers=lines)

        websocket = self._websocket = AsgiWebSocket(scope, accept_websocket, respond)
        asgi.run_websocket(websocket)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        super().connection_lost(exc)
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            websocket.lost()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        sink = self._sink
        if sink is None:
            super().on_body(body)
            return
        sink.feed_body(body)
        self._timer.arm(BODY_TIMEOUT)  # a timeout per gap between chunks, not for the whole body

    def on_message_complete(self) -> None:  # noqa: D102
        sink = self._sink
        if sink is None:
            super().on_message_complete()
            return
        self._sink = None
        self._in_request = False
        self._timer.cancel()
        self._fed += 1
        sink.end_body()
        if not self._queue and not self._closing:
            self._timer.arm(KEEP_ALIVE_TIMEOUT)  # answered before its body ended: idle from now

    def resume_writing(self) -> None:  # noqa: D102
        super().resume_writing()
        if self._queue:
            head = self._queue[0]
            if isinstance(head, AsgiRequest):
                head.resume_writing()

    # -- what an AsgiRequest calls (sio.frontends.asgi_http.Carrier) ----------------------

    @property
    def writing_paused(self) -> bool:
        """The transport's write buffer is over its high-water mark."""
        return self._paused

    def asgi_body_wanted(self) -> None:
        """The app waits for more of the body: parse the input held back for it, read again."""
        if self._closing:
            return
        if self._held:
            held, self._held = self._held, b""
            self._feed(held)
        if self._in_request and not self._held and not self._closing and not self._timer.armed:
            self._timer.arm(BODY_TIMEOUT)  # the rest of the body is the client's to send
        self._update_reading()

    def asgi_response_done(self) -> None:
        """The app's response is complete: write its last bytes, handle what waited."""
        self._flush_responses()

    def asgi_abandon(self) -> None:
        """The app's response cannot be completed (it failed after it started): close."""
        if not self._closing:
            self._close()


def _latin1(value: bytes | str) -> str:
    """An ASGI header name or value (bytes; a str tolerated) as the text written on the wire."""
    return value if isinstance(value, str) else bytes(value).decode("latin-1")


def _address(address: Any) -> tuple[str, int] | None:
    """A socket address as an ASGI scope's ``server`` / ``client`` (host, port), if it is IP."""
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None


def switch_to_websocket(
    transport: asyncio.Transport,
    engine: EngineServer,
    exchange: HttpExchange | None,
    accept: str,
    deflate: Agreement | None,
    paused: bool = False,
    rest: bytes = b"",
    *,
    extra_headers: bytes = b"",
    connection_class: Callable[..., WebSocketConnection] | None = None,
    attach: Callable[[WebSocketConnection], WebSocketHandler | None] | None = None,
) -> WebSocketConnection:
    """Answer an accepted upgrade with 101 and hand ``transport`` to the engine as a WebSocket.

    ``accept`` is the ``Sec-WebSocket-Accept`` value, ``deflate`` the permessage-deflate agreement
    (None: not negotiated), ``paused`` whether the transport's write buffer is over its mark,
    ``rest`` what the client sent after its request, ``extra_headers`` more lines of the 101
    (each ending in CRLF), ``connection_class`` what to make of it (called as
    ``WebSocketConnection``), ``attach`` who handles its messages (default: the engine accepts
    ``exchange``). The same path for the built-in front end and sio's uvicorn protocol.
    """
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode("ascii") + b"\r\n" + extra_headers
    )
    codec = None
    options = engine.per_message_deflate
    if deflate is not None and options is not None:
        response += b"Sec-WebSocket-Extensions: " + deflate.header.encode("ascii") + b"\r\n"
        codec = PerMessageDeflate(deflate, options, engine.max_http_buffer_size)
    response += b"\r\n"
    websocket = (connection_class or WebSocketConnection)(transport, engine, paused, codec)
    # From now on the transport talks to the WebSocket: reads, back-pressure, connection loss.
    transport.set_protocol(websocket)
    if attach is None:
        assert exchange is not None
        websocket.start(response, lambda: engine.accept_websocket(exchange, websocket), rest)
    else:
        websocket.start(response, lambda: attach(websocket), rest)
    return websocket


def _unread_bytes(transport: asyncio.Transport) -> int:
    """Bytes the kernel received on the transport's socket that nobody has read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class _RequestRefused(Exception):
    """Raised from a parser callback: answer ``status`` with ``message`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _WriteBatch:
    """Coalesces the frames written to each WebSocket during one loop iteration.

    A frame produced while its connection handles a read is written when that read
    is done; any other frame (a broadcast from another connection, a heartbeat) is
    written by one ``call_soon`` callback for the whole iteration. Either way each
    connection makes one write call per iteration instead of one per message.
    """

    __slots__ = ("loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[WebSocketConnection] = []
        self.scheduled = False

    def add(self, websocket: WebSocketConnection) -> None:
        self.pending.append(websocket)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, []
        for websocket in pending:
            websocket.flush_writes()


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteBatch] = weakref.WeakKeyDictionary()


def _batch_for_running_loop() -> _WriteBatch:
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = _WriteBatch(loop)
    return batch


class WebSocketConnection(WebSocketChannel, asyncio.Protocol):
    """WebSocket framing with our Cython codec: the TCP transport's protocol once the 101 is sent.

    The HTTP connection hands the transport over (``set_protocol``), so reads come
    straight here, without a hop through the HTTP protocol object.
    """

    __slots__ = (
        "_backlog",
        "_batch",
        "_close_timer",
        "_closed",
        "_deflate",
        "_engine",
        "_failure",
        "_held_reading",
        "_out",
        "_out_bytes",
        "_parser",
        "_paused",
        "_reading",
        "_transport",
        "close_frame",
        "handler",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        engine: EngineServer,
        paused: bool = False,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._transport = transport
        self._engine = engine
        # permessage-deflate, when negotiated: compressed frames both ways (RSV1 allowed in).
        self._deflate = deflate
        self._parser = FrameParser(engine.max_http_buffer_size, deflate=deflate is not None)
        self._closed = False
        self._paused = False  # the transport's write buffer is over its high-water mark
        self._out: list[bytes] | None = None  # frames waiting for this iteration's write
        self._out_bytes = 0  # their size
        self._reading = False  # inside data_received: its end writes what it produced
        self._batch = _batch_for_running_loop()
        self._close_timer: Timer | None = None  # made when a close starts
        self._backlog: list[tuple[int, Any]] | None = None  # parsed messages over the budget
        self._failure: WebSocketError | None = None  # what broke the input, after the backlog
        self._held_reading = False  # the handler holds reading back (its messages wait: hold_reading)
        # The close frame's (code, reason): the peer's when it closed first, else ours.
        self.close_frame: tuple[int, str] | None = None
        self.handler: WebSocketHandler | None = None
        if paused:
            self.pause_writing()

    @property
    def writable(self) -> bool:
        """False while the transport's write buffer is over its high-water mark."""
        return not self._closed and not self._paused

    def send(self, data: EncodedPacket) -> None:
        """Send one message as a single frame (a shared packet's frame is built once for all)."""
        if self._closed:
            return
        if self._deflate is not None:
            self._write_frame(self._deflate.frame(data))
        elif type(data) is SharedPacket:
            frame = data._frame  # built once for all recipients
            self._write_frame(frame if frame is not None else data.frame)
        elif isinstance(data, str):
            self._write_frame(encode_text_frame(data))
        else:
            self._write_frame(encode_binary_frame(data))  # type: ignore[arg-type]

    def start(
        self, response: bytes, accept: Callable[[], WebSocketHandler | None], rest: bytes = b""
    ) -> None:
        """Write the 101 ``response`` in one write with what ``accept()`` sends (the OPEN packet).

        ``accept`` hands the connection to the engine and returns its handler (None when
        refused: the engine closed the connection); ``rest`` is what the client sent
        after its handshake request, read as the first frames.
        """
        self._out = [response]
        self._reading = True  # whatever accept() sends joins the response
        try:
            self.handler = accept()
        finally:
            self._reading = False
        if rest and self.handler is not None:
            self.data_received(rest)  # writes the response and the replies at its end
        else:
            self.flush_writes()

    def send_packets(self, packets: Sequence[EncodedPacket]) -> bool:
        """One frame per packet, unless closed or under back-pressure (the broadcast hot path)."""
        if self._deflate is not None:
            return self._send_packets_deflated(packets)
        if self._closed or self._paused:
            return False
        out = self._out
        if out is None:
            out = self._out = []
            if not self._reading:
                self._batch.add(self)
        size = self._out_bytes
        for data in packets:
            if type(data) is SharedPacket:
                frame = data._frame
                if frame is None:
                    frame = data.frame
            elif isinstance(data, str):
                frame = encode_text_frame(data)
            else:
                frame = encode_binary_frame(data)  # type: ignore[arg-type]
            out.append(frame)
            size += len(frame)
        self._out_bytes = size
        if size >= WRITE_BATCH_LIMIT:
            self.flush_writes()  # may pause writing: the next send then reports not writable
        return True

    def _send_packets_deflated(self, packets: Sequence[EncodedPacket]) -> bool:
        """``send_packets`` with permessage-deflate: the codec decides each frame (compressed or not).

        Compressed here, in the order written: a compressor with context takeover depends on it.
        """
        if self._closed or self._paused:
            return False
        out = self._out
        if out is None:
            out = self._out = []
            if not self._reading:
                self._batch.add(self)
        frame_of = self._deflate.frame  # type: ignore[union-attr]
        size = self._out_bytes
        for data in packets:
            frame = frame_of(data)
            out.append(frame)
            size += len(frame)
        self._out_bytes = size
        if size >= WRITE_BATCH_LIMIT:
            self.flush_writes()
        return True

    def _write_frame(self, frame: bytes) -> None:
        out = self._out
        if out is not None:
            out.append(frame)
            self._out_bytes += len(frame)
            if self._out_bytes >= WRITE_BATCH_LIMIT:
                self.flush_writes()
            return
        self._out = [frame]
        self._out_bytes = len(frame)
        if not self._reading:
            self._batch.add(self)

    def flush_writes(self) -> None:
        """Write the frames queued in this iteration, in one call."""
        out, self._out = self._out, None
        self._out_bytes = 0
        if not out or self._closed:
            return
        # One joined buffer: cheaper than writelines' writev for the usual few small frames.
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and close the connection (idempotent).

        The close is graceful (what is buffered is written first) but bounded: a peer that
        does not read it within ``close_timeout`` has its TCP connection aborted.
        """
        if self._closed:
            return
        if self.close_frame is None:
            self.close_frame = (code, reason)
        self.flush_writes()  # what was sent before the close goes first
        self._closed = True
        self._release_deflate()
        transport = self._transport
        if not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.write(encode_close_frame(code, reason[:100]))
            transport.close()
            self._close_timer = self._engine.wheel.timer(transport.abort)
            self._close_timer.arm(self._engine.close_timeout)

    def data_received(self, data: bytes) -> None:
        """Parse frames and hand complete messages to the engine; then write the replies at once."""
        if self._closed or self._failure is not None:
            return
        try:
            events = self._parser.feed(data)
        except WebSocketError as exc:
            # The messages before the fault are handled first (in turns, as any), then the close.
            self._failure = exc
            events = exc.events
        if self._backlog is not None:  # (only when fed directly: reading is paused meanwhile)
            self._backlog.extend(events)
            return
        self._handle_slice(events)

    def input_queued(self) -> bool:
        """Parsed messages wait for their turn (reading is held back by us meanwhile)."""
        return self._backlog is not None or self._failure is not None

    def input_held(self) -> bool:
        """Bytes unread in the kernel while reading is held back for back-pressure."""
        return self._paused and not self._closed and _unread_bytes(self._transport) > 0

    def _handle_slice(self, events: list[tuple[int, Any]]) -> None:
        """Handle messages within this turn's budget; what is left waits for the next turn."""
        self._reading = True
        try:
            done = self._dispatch(events)
        finally:
            self._end_read()
        if self._closed:
            return
        if done < len(events):
            self._backlog = events[done:]
            self._transport.pause_reading()
            asyncio.get_running_loop().call_soon(self._next_slice)
        elif self._failure is not None:
            failure, self._failure = self._failure, None
            self._fail(failure.close_code, str(failure))

    def _next_slice(self) -> None:
        """Handle the next slice of the backlog; read again once it is empty."""
        backlog, self._backlog = self._backlog, None
        if backlog is None or self._closed:
            return
        self._handle_slice(backlog)
        if self._backlog is None and not self._paused and not self._closed and not self._held_reading:
            self._transport.resume_reading()

    def _end_read(self) -> None:
        """A read (or a slice of one) is handled: write what it produced, in one call."""
        self._reading = False
        if self._out is not None:
            self.flush_writes()

    def _dispatch(self, events: list[tuple[int, Any]]) -> int:
        """Hand messages to the engine within one turn's budget (TURN_MESSAGES, about TURN_SECONDS:
        a read can hold tens of thousands of tiny messages, one message can be a broadcast to
        thousands); return how many were dealt with (all of them once the connection is closed)."""
        handler = self.handler
        count = len(events)
        limit = min(count, TURN_MESSAGES)
        clock = time.perf_counter
        deadline = clock() + TURN_SECONDS
        done = 0
        while done < limit:
            if self._closed or handler is None:
                return count
            opcode, payload = events[done]
            done += 1
            if not done % TURN_CLOCK_EVERY and done < limit and clock() > deadline:
                limit = done  # this one is the last of the turn
            if opcode in (OP_TEXT, OP_BINARY):
                handler.on_message(payload)
            elif opcode in (OP_TEXT_DEFLATED, OP_BINARY_DEFLATED):  # (only with a codec)
                try:
                    message = self._deflate.inflate_message(opcode, payload)  # type: ignore[union-attr]
                except WebSocketError as exc:  # over the limit inflated (1009); bad deflate or UTF-8 (1007)
                    self._fail(exc.close_code, str(exc))
                    return count
                handler.on_message(message)
            elif opcode == OP_PING:
                self._write_frame(encode_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.close_frame = payload
                code = payload[0]
                self.close(1000 if code == 1005 else code)
                handler.on_close(False)
                self.handler = None
        return done

    def _fail(self, code: int, reason: str) -> None:
        handler, self.handler = self.handler, None
        self.close(code, reason)
        if handler is not None:
            handler.on_close(True)

    def pause_writing(self) -> None:
        """The transport's write buffer is over its high-water mark: stop reading too.

        A peer that sends without reading what it is sent (pings whose pongs it never reads,
        requests whose answers pile up) is then held back by TCP flow control instead of
        growing our buffers.
        """
        self._paused = True
        if not self._closed:
            with contextlib.suppress(Exception):
                self._transport.pause_reading()

    def resume_writing(self) -> None:
        """Back-pressure is over: read again, and let the engine flush what waited."""
        self._paused = False
        if not self._closed and self._backlog is None and not self._held_reading:
            with contextlib.suppress(Exception):
                self._transport.resume_reading()
        if self.handler is not None:
            self.handler.on_drain()

    def hold_reading(self, held: bool) -> None:
        """Stop reading (``held``) while the handler's messages wait for its consumer, or read again."""
        if held == self._held_reading or self._closed:
            return
        self._held_reading = held
        with contextlib.suppress(Exception):
            if held:
                self._transport.pause_reading()
            elif not self._paused and self._backlog is None:
                self._transport.resume_reading()

    def _release_deflate(self) -> None:
        """Free the compressor and inflater at once: nothing is compressed or inflated after a close."""
        if self._deflate is not None:
            self._deflate.close()

    def connection_lost(self, exc: Exception | None = None) -> None:
        """The TCP connection is gone."""
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._closed = True
        self._release_deflate()
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.on_close(False)


async def serve(
    engine: EngineServer,
    host: str,
    port: int,
    *,
    fallback: Fallback | None = None,
    router: ConnectionRouter | None = None,
    reuse_port: bool = False,
    ssl: SSLContext | None = None,
    asgi: AsgiHttp | None = None,
) -> asyncio.AbstractServer:
    """Start listening on the running loop.

    ``router`` (with ``--workers``): requests for other workers' sessions move there, and
    connections moved here are served too; ``reuse_port``: several processes listen on the port;
    ``ssl``: serve HTTPS and WSS (not with a router: a TLS connection cannot move to another
    process once its handshake is done); ``asgi``: an ASGI app answers the requests that are
    neither the engine's nor the static files' (``fallback``, which must then say which it
    serves: ``serves(method, path)``, as :class:`sio.static.StaticFiles`). The port is bound
    first, the app's lifespan startup runs, and only then are connections accepted; its
    shutdown runs when the engine stops (``EngineServer.at_stop``).
    """
    if ssl is not None and router is not None:
        raise InvalidOption(TLS_WITH_WORKERS)
    if asgi is not None and fallback is not None and not callable(getattr(fallback, "serves", None)):
        raise InvalidOption(
            "with an ASGI app, the fallback must say which requests it answers (a serves(method, path) "
            "method, as sio.static.StaticFiles has); the app answers the others"
        )
    loop = asyncio.get_running_loop()

    def connection(**moved: Any) -> HttpConnection:
        if asgi is None:
            return HttpConnection(engine, fallback, router, **moved)
        return AsgiHttpConnection(asgi, engine, fallback, router, **moved)

    if router is not None:
        router.start(
            lambda initial, handshakes, moves: connection(
                initial=initial, handshakes=handshakes, moved=True, pipelined_moves=moves
            ),
            max_frame=4 * engine.max_http_buffer_size + 4 * MAX_HEADER_BYTES + PARSE_SLICE,
        )
        engine.router = router
    server = await loop.create_server(
        connection,
        host,
        port,
        backlog=engine.backlog,
        reuse_port=reuse_port or None,
        ssl=ssl,
        start_serving=asgi is None,
    )
    if asgi is not None:
        try:
            await asgi.startup()
        except BaseException:
            server.close()
            raise
        engine.at_stop(asgi.shutdown)
        await server.start_serving()
    return server
