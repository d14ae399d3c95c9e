"""An Engine.IO session (:class:`EngineSocket`) and its two transports.

Behaviour follows Node's ``engine.io`` 6.6: a buffer of encoded packets flushed
whenever the transport is writable (one payload per held GET on polling, one frame
per packet on WebSocket), heartbeats from the server driven by the timer wheel, the
polling -> WebSocket upgrade, and the close reasons of :mod:`sio.reasons`.

With ``allow_eio3`` a session may speak Engine.IO v3 (``EngineSocket.protocol == 3``, fixed at
the handshake): its transports are :class:`Eio3PollingTransport` and :class:`Eio3WebSocketTransport`
(the v3 codec, :mod:`sio.engine.eio3`), and its client pings (the server answers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sio._events import EventEmitter
from sio._sio_core import (
    EIO_CLOSE,
    EIO_MESSAGE,
    EIO_PING,
    EIO_PONG,
    EIO_UPGRADE,
    EngineIOError,
    LocalProtocolError,
    Timer,
    decode_eio_packet,
    decode_eio_payload,
    encode_eio_messages,
    encode_eio_payload,
)
from sio.engine import eio3
from sio.engine.compression import compress_body, negotiate_encoding
from sio.engine.exchange import (
    TURN_CLOCK_EVERY,
    TURN_MESSAGES,
    TURN_SECONDS,
    EncodedPacket,
    HttpExchange,
    PreparedMessages,
    SharedPacket,
    WebSocketChannel,
    WebSocketHandler,
    compressible,
    packet_data,
    uncompressed,
)
from sio.reasons import DisconnectReason

if TYPE_CHECKING:
    from sio.engine.server import EngineServer

PINGS = (SharedPacket("2"),)  # every heartbeat writes the same, pre-built frame
PONGS = (SharedPacket("3"),)  # a v3 session's answer to its client's ping
# Loop turns between a pong's deadline and the ping timeout, so that the loop polls its sockets
# once in between: uvloop runs call_soon callbacks before it polls, the default loop after.
PING_TIMEOUT_HOPS = 2
# While we hold a connection's input back at a pong's deadline (its turn has not come), the verdict
# is checked again this often (seconds); input unread because the peer does not read is waited for
# one more ping timeout at most, checked less often (each check asks the kernel).
INPUT_RECHECK = 0.01
HELD_RECHECK = 0.1
SUSPENDED = -1.0  # EngineSocket._verdict while the deadline waits for input we hold back
PONG_PROBE = "3probe"
NOOP = "6"
CLOSE = "1"

POLL_HEADERS = [("Content-Type", "text/plain; charset=UTF-8")]

BINARY_POLL_HEADERS = [("Content-Type", "application/octet-stream")]  # a v3 binary payload

POST_HEADERS = [("Content-Type", "text/html")]


class SessionState(StrEnum):
    """An Engine.IO session's ready state; the values are Node's ``readyState`` strings.

    Transitions (``EngineSocket._enter``, the one place that changes it): opening → open
    (the handshake answered), open → closing (``close()`` waits for the buffer to drain),
    open / closing → closed, opening → closed (refused before it opened). Anything else is
    a bug and raises :class:`~sio.LocalProtocolError`. Compare with ``is``: the members are
    module constants (``OPEN``, ...), and ``is`` is the cheap test on the hot path.
    """

    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


OPENING, OPEN, CLOSING, CLOSED = (
    SessionState.OPENING,
    SessionState.OPEN,
    SessionState.CLOSING,
    SessionState.CLOSED,
)
LIVE = frozenset((OPEN, CLOSING))  # a heartbeat still runs; an upgrade may still complete
_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    OPENING: frozenset((OPEN, CLOSED)),
    OPEN: frozenset((CLOSING, CLOSED)),
    CLOSING: frozenset((CLOSED,)),
    CLOSED: frozenset(),
}


def _wire_size(data: str | bytes) -> int:
    """Bytes a packet takes on the wire: UTF-8 for text (not characters), as is for binary."""
    if isinstance(data, str) and not data.isascii():  # isascii() is O(1) on a str
        return len(data.encode())
    return len(data)


class EngineSocket(EventEmitter):
    """One Engine.IO session, like Node's ``engine.io`` Socket.

    Events: ``message`` (str or bytes), ``close`` (reason, description),
    ``upgrade`` (the new transport name), ``drain`` (the buffer was flushed).

    ``protocol`` is the Engine.IO revision the client speaks: 4, or 3 (a socket.io-client 2.x,
    accepted with ``allow_eio3``), as Node's ``socket.protocol``.
    """

    __slots__ = (
        "_awaiting_pong",
        "_buffer",
        "_buffered_bytes",
        "_close_timer",
        "_heartbeat_timer",
        "_transport",
        "_upgrade_timer",
        "_upgrade_transport",
        "_verdict",
        "id",
        "protocol",
        "ready_state",
        "remote_address",
        "request",
        "server",
        "upgraded",
        "upgrading",
    )

    def __init__(self, server: EngineServer, sid: str, transport: Transport, request: HttpExchange) -> None:
        super().__init__()
        self.server = server
        self.id = sid
        self.request = request
        self.remote_address = request.remote_address
        self.protocol = transport.protocol  # the handshake's transport tells (every later one agrees)
        self.ready_state = OPENING
        self.upgrading = False
        self.upgraded = False
        self._transport = transport
        self._buffer: list[EncodedPacket] = []
        self._buffered_bytes = 0  # size of what waits in _buffer for a writable transport
        self._upgrade_transport: WebSocketTransport | None = None
        wheel = server.wheel
        # One timer per session carries the heartbeat: the next ping, or the wait for its pong.
        # A v3 session's client pings instead: the timer is always the wait for its next ping
        # (``_awaiting_pong`` stays True), and each ping answered with a pong re-arms it.
        self._heartbeat_timer = wheel.timer(self._on_heartbeat_timer)
        self._awaiting_pong = False
        # While a ping timeout waits for input: SUSPENDED (we held it back), or the time up to
        # which input held back by the peer is waited for.
        self._verdict: float | None = None
        # Timers most sessions never need are made on first use (memory per idle session).
        self._upgrade_timer: Timer | None = None
        self._close_timer: Timer | None = None
        transport.bind(self)

    # -- public API --------------------------------------------------------------

    @property
    def transport(self) -> str:
        """The name of the current transport: ``"polling"`` or ``"websocket"``."""
        return self._transport.name

    @property
    def writable(self) -> bool:
        """Whether a packet sent now would be written at once (volatile packets need it)."""
        return self.ready_state is OPEN and self._transport.writable

    def send(self, data: str | bytes) -> None:
        """Send one message (str as text, bytes-like as binary); dropped once closing."""
        self.send_messages((data,))

    def send_messages(self, messages: Sequence[str | bytes], compress: bool = True) -> None:
        """Send Engine.IO messages (what a Socket.IO parser encodes); dropped once closing.

        The engine alone adds the Engine.IO framing (the ``4`` of a text message).
        ``compress=False``: never compressed (permessage-deflate, HTTP compression).
        """
        if self.ready_state is not OPEN:
            return
        packets = encode_eio_messages(messages) if compress else uncompressed(encode_eio_messages(messages))
        if not self._buffer and self._transport.try_send(packets):
            if "drain" in self._handlers:
                self.emit("drain")
        else:
            self._buffer_packets(packets)

    def send_prepared(self, prepared: PreparedMessages) -> None:
        """Send messages framed once for many sessions (:func:`prepare_messages`); dropped once closing."""
        if self.ready_state is not OPEN:
            return
        # _write inlined: a broadcast calls this once per recipient.
        if not self._buffer and self._transport.try_send(prepared):
            if "drain" in self._handlers:
                self.emit("drain")
        else:
            self._buffer_packets(prepared)

    def _write(self, packets: Sequence[EncodedPacket]) -> None:
        """Write through when nothing waits and the transport takes it now; buffer otherwise."""
        if not self._buffer and self._transport.try_send(packets):
            if "drain" in self._handlers:
                self.emit("drain")
        else:
            self._buffer_packets(packets)

    def _buffer_packets(self, packets: Sequence[EncodedPacket]) -> None:
        self._buffer.extend(packets)
        self.flush()
        if self._buffer:
            # Not writable now (no poll held, or back-pressure): the backlog is bounded.
            self._buffered_bytes += sum(_wire_size(packet_data(packet)) for packet in packets)
            if self._buffered_bytes > self.server.max_buffered_bytes:
                self._on_close(DisconnectReason.TRANSPORT_ERROR, "outgoing buffer over max_buffered_bytes")

    def close(self) -> None:
        """Close the session once buffered packets are written (reason ``forced close``)."""
        if self.ready_state is not OPEN:
            return
        self._enter(CLOSING)
        if self._buffer:
            self.once("drain", self._close_transport)
            self.flush()
            if self._buffer:  # not writable now: bound the wait
                self._arm_close_timer()
            return
        self._close_transport()

    # -- internals ---------------------------------------------------------------

    def _enter(self, state: SessionState) -> None:
        """Change the ready state; a transition the table does not allow is refused."""
        if state not in _TRANSITIONS[self.ready_state]:
            raise LocalProtocolError(f"session {self.id}: {self.ready_state} -> {state} is not a transition")
        self.ready_state = state

    def _open(self, open_packet: str) -> None:
        self._enter(OPEN)
        self._buffer.append(open_packet)
        self.flush()
        if self.protocol == 3:  # the client pings first (Node: resetPingTimeout)
            self._awaiting_pong = True
            self._heartbeat_timer.arm(self._heartbeat_wait())
        else:
            self._heartbeat_timer.arm(self.server.ping_interval)

    def _heartbeat_wait(self) -> float:
        """How long the peer's heartbeat may take: a pong after our ping (v4), or the client's
        next ping after its last one, ``ping_interval + ping_timeout`` (v3, as Node)."""
        server = self.server
        if self.protocol == 3:
            return server.ping_interval + server.ping_timeout
        return server.ping_timeout

    def flush(self) -> None:
        """Write the buffer if the transport can take it now."""
        if self._buffer and self.ready_state is not CLOSED and self._transport.writable:
            packets, self._buffer = self._buffer, []
            self._buffered_bytes = 0
            self._transport.send(packets)
            self.emit("drain")

    def _arm_close_timer(self) -> None:
        """Bound the wait for a deferred close (the next poll, or a drain)."""
        if self._close_timer is None:
            self._close_timer = self.server.wheel.timer(self._on_close_timeout)
        self._close_timer.arm(self.server.ping_timeout)

    def _close_transport(self) -> None:
        if self.ready_state is CLOSED:
            return
        self._transport.close(lambda: self._on_close(DisconnectReason.FORCED_CLOSE))

    def _on_close_timeout(self) -> None:
        self._transport.discard()
        self._on_close(DisconnectReason.FORCED_CLOSE)

    def _on_heartbeat_timer(self) -> None:
        if self._awaiting_pong:
            # The pong's deadline passed, but a busy loop may not have read a pong that is already
            # waiting: decide once the loop has read its input again.
            self._confirm_ping_timeout(PING_TIMEOUT_HOPS)
        elif self.ready_state is OPEN or self.ready_state is CLOSING:
            self._write(PINGS)
            if self.ready_state is CLOSED:  # the ping overflowed the backlog cap
                return
            self._awaiting_pong = True
            self._verdict = None
            self._heartbeat_timer.arm(self.server.ping_timeout)

    def _confirm_ping_timeout(self, hops: int) -> None:
        """Close with ``ping timeout`` unless a pong arrived meanwhile (the timer is re-armed then).

        While we hold the connection's input back (messages waiting for their turn, a POST being
        delivered), the peer is not late: its pong may be in that input, or behind it, where TCP
        flow control keeps it. The deadline is suspended until we read again, then runs afresh.
        Input unread because the peer does not read (reading held back for back-pressure) is
        waited for one more ping timeout at most. Re-checks go through the heartbeat timer, so a
        pong meanwhile cancels them.
        """
        if self.ready_state is CLOSED or not self._awaiting_pong or self._heartbeat_timer.armed:
            return
        if hops:
            self.server.wheel.loop.call_soon(self._confirm_ping_timeout, hops - 1)
            return
        transport = self._transport
        timer = self._heartbeat_timer
        if transport.input_queued():
            self._verdict = SUSPENDED
            timer.arm(INPUT_RECHECK)
            return
        if self._verdict == SUSPENDED:  # we read again: the peer has a whole heartbeat wait from now
            self._verdict = None
            timer.arm(self._heartbeat_wait())
            return
        if transport.input_held():
            now = self.server.wheel.loop.time()
            if self._verdict is None:
                self._verdict = now + self._heartbeat_wait()
            if now < self._verdict:
                timer.arm(HELD_RECHECK)
                return
        self._on_close(DisconnectReason.PING_TIMEOUT)

    def _on_packet(self, packet_type: int, data: str | bytes) -> None:
        if self.ready_state is not OPEN:  # as Node: nothing is delivered once closing
            return
        if packet_type == EIO_MESSAGE:
            self.emit("message", data)
        elif packet_type == EIO_PONG:
            if self.protocol == 3:  # v3 heartbeats go from the client to the server
                self._on_close(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")
                return
            # As Node: any pong ends the wait and schedules the next ping.
            self._awaiting_pong = False
            self._heartbeat_timer.arm(self.server.ping_interval)
            self.emit("heartbeat")
        elif packet_type == EIO_CLOSE:
            self._on_close(DisconnectReason.TRANSPORT_CLOSE)
        elif packet_type == EIO_PING:
            if self.protocol != 3:  # v4 heartbeats go from the server to the client
                self._on_close(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")
                return
            # As Node: any ping restarts the wait for the next one and is answered with a pong.
            # The wait is the session's, not the transport's: it carries over an upgrade (Node
            # clears it there and never re-arms it, so an upgraded v3 client is never timed out).
            self._verdict = None
            self._heartbeat_timer.arm(self._heartbeat_wait())
            self._write(PONGS)
            self.emit("heartbeat")
        # noop, and open or upgrade on the active transport, are ignored (as Node does)

    def _on_close(self, reason: DisconnectReason, description: Any = None) -> None:
        if self.ready_state is CLOSED:
            return
        self._enter(CLOSED)
        for timer in (self._heartbeat_timer, self._upgrade_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._buffer = []
        self.server._forget(self)
        if self._upgrade_transport is not None:
            self._upgrade_transport.close()
            self._upgrade_transport = None
        self._transport.close()
        self.emit("close", reason, description)

    # -- upgrade -----------------------------------------------------------------

    def _start_upgrade(self, transport: WebSocketTransport) -> None:
        self.upgrading = True
        self._upgrade_transport = transport
        transport.bind(self, upgrading=True)
        if self._upgrade_timer is None:
            self._upgrade_timer = self.server.wheel.timer(self._on_upgrade_timeout)
        self._upgrade_timer.arm(self.server.upgrade_timeout)

    def _on_upgrade_packet(self, transport: WebSocketTransport, packet_type: int, data: str | bytes) -> None:
        if packet_type == EIO_PING and data == "probe":
            transport.send([PONG_PROBE])
            # Force a polling cycle so that the client can pause polling and upgrade.
            self._transport.send_noop()
        elif packet_type == EIO_UPGRADE and self.ready_state in LIVE:
            if self._upgrade_timer is not None:
                self._upgrade_timer.cancel()
            old = self._transport
            self._transport = transport
            self._upgrade_transport = None
            self.upgrading = False
            self.upgraded = True
            transport.upgraded()
            old.discard()
            self.emit("upgrade", transport.name)
            self.flush()
            if self.ready_state is CLOSING and not self._buffer:
                self._close_transport()
        else:
            self._abort_upgrade()

    def _abort_upgrade(self) -> None:
        if self._upgrade_timer is not None:
            self._upgrade_timer.cancel()
        self.upgrading = False
        transport, self._upgrade_transport = self._upgrade_transport, None
        if transport is not None:
            transport.close()

    def _on_upgrade_timeout(self) -> None:
        self._abort_upgrade()


class Transport:
    """Base of the two transports: how packets reach the client."""

    __slots__ = ("socket",)
    name = ""
    protocol = 4  # the Engine.IO revision it speaks (3: the Eio3 transports)
    socket: EngineSocket

    def bind(self, socket: EngineSocket, upgrading: bool = False) -> None:
        """Attach the transport to its session."""
        self.socket = socket

    @property
    def writable(self) -> bool:
        """Whether ``send`` would write now."""
        raise NotImplementedError

    def send(self, packets: Sequence[EncodedPacket]) -> None:
        """Write encoded packets (only called while writable)."""
        raise NotImplementedError

    def try_send(self, packets: Sequence[EncodedPacket]) -> bool:
        """Write the packets if the transport is writable now; return whether it was."""
        raise NotImplementedError

    def send_noop(self) -> None:
        """Answer a held poll with a noop (used while upgrading)."""

    def close(self, on_closed: Any = None) -> None:
        """Close the transport, calling ``on_closed`` once it is."""
        raise NotImplementedError

    def discard(self) -> None:
        """Stop using the transport after an upgrade (or a timed-out close)."""

    def input_queued(self) -> bool:
        """Whether input waits for its turn (held back by us, not by the peer)."""
        return False

    def input_held(self) -> bool:
        """Whether input waits unread because reading is held back."""
        return False


class PollingTransport(Transport):
    """HTTP long-polling: held GETs carry payloads down, POSTs carry them up."""

    __slots__ = (
        "_closing",
        "_discarded",
        "_inbox",
        "_inbox_error",
        "_inbox_next",
        "_poll",
        "_post",
    )
    name = "polling"
    binary_posts = False  # v4 payloads are text only: an octet-stream POST is refused

    def __init__(self) -> None:
        self._poll: HttpExchange | None = None
        self._closing: Any = None  # callback waiting for the next poll to carry the close packet
        self._discarded = False
        # The POST being delivered (in turns: a payload can hold a hundred thousand packets) and
        # its packets; it is answered once they are all delivered, as in Node, so a client cannot
        # pile up payloads faster than they are handled.
        self._post: HttpExchange | None = None
        self._inbox: list[tuple[int, str | bytes]] = []
        self._inbox_next = 0
        self._inbox_error: str | None = None  # the payload's decoding error, reported after it

    @property
    def writable(self) -> bool:
        """True while a GET is held."""
        return self._poll is not None

    def on_poll(self, exchange: HttpExchange) -> None:
        """A GET for this session."""
        socket = self.socket
        if self._poll is not None:
            exchange.respond(400, POLL_HEADERS, b"")
            socket._on_close(DisconnectReason.TRANSPORT_ERROR, "overlapping polling request")
            return
        self._poll = exchange
        exchange.on_abort = self._on_poll_aborted
        if self._closing is not None:
            self._finish_close()
        elif socket.upgrading:
            self.send_noop()
        else:
            socket.flush()

    def on_data(self, exchange: HttpExchange) -> None:
        """A POST for this session: a payload of packets from the client."""
        socket = self.socket
        server = socket.server
        binary = exchange.headers.get("content-type", "").startswith("application/octet-stream")
        if binary and not self.binary_posts:
            exchange.respond(400, POST_HEADERS, b"")
            socket._on_close(DisconnectReason.TRANSPORT_ERROR, "binary content type on polling")
            return
        if len(exchange.body) > server.max_http_buffer_size:
            exchange.respond(413, POST_HEADERS, b"")
            return
        if self._post is not None:  # a client waits for its POST's answer before the next
            exchange.respond(400, POST_HEADERS, b"")
            socket._on_close(DisconnectReason.TRANSPORT_ERROR, "data request overlap from client")
            return
        try:
            self._inbox = self._decode(exchange.body, binary)
            self._inbox_error = None
        except EngineIOError as exc:
            self._inbox = exc.packets  # the packets before the fault are delivered first
            self._inbox_error = str(exc)
        self._post = exchange
        self._inbox_next = 0
        self._deliver()

    def _deliver(self) -> None:
        """Deliver the POST's packets within this turn's budget; the rest on the next turn."""
        socket = self.socket
        if socket.ready_state is CLOSED or self._discarded:
            # Closed meanwhile, or upgraded (as Node, what is left of the payload is dropped).
            self._answer_post()
            return
        packets = self._inbox
        count = len(packets)
        done = self._inbox_next
        limit = min(count, done + TURN_MESSAGES)
        clock = time.perf_counter
        deadline = clock() + TURN_SECONDS
        try:
            while done < limit:
                packet_type, data = packets[done]
                done += 1
                if packet_type == EIO_CLOSE:
                    if self._poll is not None:
                        self._respond([NOOP])
                    socket._on_close(DisconnectReason.TRANSPORT_CLOSE)
                    self._answer_post()
                    return
                socket._on_packet(packet_type, data)
                if socket.ready_state is CLOSED:
                    self._answer_post()
                    return
                if not done % TURN_CLOCK_EVERY and clock() > deadline:
                    break
        except BaseException:
            self._answer_post()  # a bug in our code: the POST must not stay open forever
            raise
        if done < count:
            self._inbox_next = done
            socket.server.wheel.loop.call_soon(self._deliver)
            return
        error = self._inbox_error
        self._answer_post()
        if error is not None:
            socket._on_close(DisconnectReason.PARSE_ERROR, error)

    def input_queued(self) -> bool:
        """A POST is being delivered (in turns): it may hold the pong."""
        return self._post is not None

    def _decode(self, body: bytes, binary: bool) -> list[tuple[int, str | bytes]]:
        """The packets of a POST body (``EngineIOError`` with those before a fault)."""
        return decode_eio_payload(body)

    def _encode(self, packets: Sequence[EncodedPacket]) -> tuple[bytes, list[tuple[str, str]]]:
        """The body of a poll's answer, and its headers."""
        return encode_eio_payload([packet_data(p) for p in packets]), POLL_HEADERS

    def _answer_post(self) -> None:
        """The POST's delivery is over (every packet delivered, or the rest dropped): answer it."""
        post, self._post = self._post, None
        self._inbox = []
        self._inbox_error = None
        if post is not None:
            post.respond(200, POST_HEADERS, b"ok")

    def send(self, packets: Sequence[EncodedPacket]) -> None:
        """Answer the held GET with one payload."""
        self._respond(packets)

    def try_send(self, packets: Sequence[EncodedPacket]) -> bool:
        """Answer the held GET with the packets, if a GET is held."""
        if self._poll is None:
            return False
        self._respond(packets)
        return True

    def send_noop(self) -> None:
        """Answer a held GET with a noop packet."""
        if self._poll is not None:
            self._respond([NOOP])

    def _respond(self, packets: Sequence[EncodedPacket]) -> None:
        exchange, self._poll = self._poll, None
        if exchange is not None:
            body, headers = self._encode(packets)
            compression = self.socket.server.http_compression
            # As Node: compressed when on, the payload at least the threshold, one packet at least
            # compressible, and gzip or deflate accepted by the client (Accept-Encoding).
            if (
                compression is not None
                and len(body) >= compression.threshold
                and any(map(compressible, packets))
            ):
                encoding = negotiate_encoding(exchange.headers.get("accept-encoding"))
                if encoding is not None:
                    body = compress_body(body, encoding, compression.level)
                    exchange.respond(200, [*headers, ("Content-Encoding", encoding)], body)
                    return
            exchange.respond(200, headers, body)

    def _on_poll_aborted(self) -> None:
        self._poll = None
        self.socket._on_close(DisconnectReason.TRANSPORT_ERROR, "poll connection closed prematurely")

    def close(self, on_closed: Any = None) -> None:
        """Send the close packet on the held GET, or on the next one."""
        if self._poll is not None:
            self._respond([CLOSE])
            if on_closed is not None:
                on_closed()
        elif self._discarded or on_closed is None:
            if on_closed is not None:
                on_closed()
        else:
            self._closing = on_closed
            self.socket._arm_close_timer()

    def _finish_close(self) -> None:
        callback, self._closing = self._closing, None
        socket = self.socket
        packets, socket._buffer = socket._buffer, []
        self._respond([*packets, CLOSE])
        callback()

    def discard(self) -> None:
        """Answer any held GET with a noop and stop using this transport."""
        self._discarded = True
        self.send_noop()


class WebSocketTransport(Transport, WebSocketHandler):
    """A WebSocket carrying one Engine.IO packet per message."""

    __slots__ = ("_bound", "_closed", "_upgrading", "channel")
    name = "websocket"

    def __init__(self, channel: WebSocketChannel) -> None:
        self.channel = channel
        self._upgrading = False
        self._closed = False
        self._bound = False  # False until the session exists (an async allow_request may be deciding)

    def bind(self, socket: EngineSocket, upgrading: bool = False) -> None:
        """Attach to the session, as its transport or as an upgrade candidate."""
        self.socket = socket
        self._upgrading = upgrading
        self._bound = True

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return self._closed

    def close_unbound(self, code: int, reason: str = "") -> None:
        """Close a WebSocket that never got a session (a refused handshake)."""
        if not self._closed:
            self._closed = True
            self.channel.close(code, reason)

    def input_queued(self) -> bool:
        """Whether the connection's input waits for its turn."""
        return self.channel.input_queued()

    def input_held(self) -> bool:
        """Whether input waits unread because reading is held back."""
        return self.channel.input_held()

    def upgraded(self) -> None:
        """The upgrade completed: this is now the session's transport."""
        self._upgrading = False

    @property
    def writable(self) -> bool:
        """False while the front end applies back-pressure."""
        return not self._closed and self.channel.writable

    def send(self, packets: Sequence[EncodedPacket]) -> None:
        """One frame per packet (called while writable), through the connection's one writer."""
        self.channel.send_packets(packets)

    def try_send(self, packets: Sequence[EncodedPacket]) -> bool:
        """One frame per packet, unless the connection is closed or under back-pressure."""
        return not self._closed and self.channel.send_packets(packets)

    def close(self, on_closed: Any = None) -> None:
        """Send a close frame; the session is closed at once."""
        if not self._closed:
            self._closed = True
            self.channel.close(1000)
        if on_closed is not None:
            on_closed()

    # -- WebSocketHandler: calls from the front end ------------------------------

    def on_message(self, data: str | bytes) -> None:
        """Decode and route one message."""
        if not self._bound:
            return  # the client spoke before its handshake was decided
        socket = self.socket
        try:
            packet_type, payload = decode_eio_packet(data)
        except EngineIOError as exc:
            self._on_bad_packet(exc)
            return
        if self._upgrading:
            socket._on_upgrade_packet(self, packet_type, payload)
        else:
            socket._on_packet(packet_type, payload)

    def _on_bad_packet(self, exc: EngineIOError) -> None:
        if self._upgrading:
            self.socket._abort_upgrade()
        else:
            self.socket._on_close(DisconnectReason.PARSE_ERROR, str(exc))

    def on_close(self, error: bool) -> None:
        """The connection ended (client close, network loss or protocol error)."""
        already_closed = self._closed
        self._closed = True
        if not self._bound:
            return
        if self._upgrading:
            if self.socket._upgrade_transport is self:
                self.socket._upgrade_transport = None
                self.socket._abort_upgrade()
            return
        if not already_closed:
            self.socket._on_close(
                DisconnectReason.TRANSPORT_ERROR if error else DisconnectReason.TRANSPORT_CLOSE
            )

    def on_drain(self) -> None:
        """Flush what was buffered while the channel was paused."""
        if self._bound and not self._upgrading:
            self.socket.flush()


# -- Engine.IO v3 (allow_eio3) ---------------------------------------------------------------


class Eio3PollingTransport(PollingTransport):
    """Long-polling for an Engine.IO v3 client: length-prefixed payloads (:mod:`sio.engine.eio3`),
    binary ones (``application/octet-stream``) both ways when the client supports binary."""

    __slots__ = ("supports_binary",)
    protocol = 3
    binary_posts = True  # XHR2 clients POST binary payloads

    def __init__(self, supports_binary: bool) -> None:
        super().__init__()
        # False when the handshake asked for base64 (``b64``; Node's ``supportsBinary``).
        self.supports_binary = supports_binary

    def _decode(self, body: bytes, binary: bool) -> list[tuple[int, str | bytes]]:
        return eio3.decode_payload(body, binary)

    def _encode(self, packets: Sequence[EncodedPacket]) -> tuple[bytes, list[tuple[str, str]]]:
        body, binary = eio3.encode_payload([packet_data(p) for p in packets], self.supports_binary)
        return body, BINARY_POLL_HEADERS if binary else POLL_HEADERS


class Eio3WebSocketTransport(WebSocketTransport):
    """A WebSocket for an Engine.IO v3 client: a binary message is ``b"\\x04" + data`` (or
    ``"b4" + base64`` text without binary support) both ways; text packets as in v4."""

    __slots__ = ("supports_binary",)
    protocol = 3

    def __init__(self, channel: WebSocketChannel, supports_binary: bool) -> None:
        super().__init__(channel)
        self.supports_binary = supports_binary  # False when its request asked for ``b64``

    def send(self, packets: Sequence[EncodedPacket]) -> None:
        """One frame per packet, binary ones in their v3 form."""
        self.channel.send_packets(eio3.websocket_packets(packets, self.supports_binary))

    def try_send(self, packets: Sequence[EncodedPacket]) -> bool:
        """Like :meth:`send`, unless the connection is closed or under back-pressure."""
        return not self._closed and self.channel.send_packets(
            eio3.websocket_packets(packets, self.supports_binary)
        )

    def on_message(self, data: str | bytes) -> None:
        """Decode (the v3 codec) and route one message."""
        if not self._bound:
            return
        try:
            packet_type, payload = eio3.decode_packet(data)
        except EngineIOError as exc:
            self._on_bad_packet(exc)
            return
        if self._upgrading:
            self.socket._on_upgrade_packet(self, packet_type, payload)
        else:
            self.socket._on_packet(packet_type, payload)
