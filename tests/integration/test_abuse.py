"""One client cannot grow the server without bound: back-pressure on every write path, and closes
that end (the built-in front end).

Each test is a hostile client next to a well-behaved bystander that must not notice. What is
asserted is structural: the server stopped reading the hostile connection, what it holds for it is
bounded, a close that the peer never reads ends in an abort; no timing thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import sio
from sio._sio_core import OP_PING, OP_TEXT, FrameParser, encode_frame, encode_text_frame
from sio.engine import EngineServer
from sio.engine.exchange import TURN_CLOCK_EVERY, TURN_MESSAGES, TURN_SECONDS
from sio.frontends import builtin
from tests.integration.rawclient import (
    MASK,
    WS_HEADERS,
    Bystander,
    PollingClient,
    RawHttp,
    RawWebSocket,
    Session,
    Sessions,
    after_call,
    bounded,
    open_websocket,
    query,
    render_request,
    request,
)

pytestmark = pytest.mark.parametrize("frontend", ["uvloop"])

PING_FRAME = encode_text_frame("2")  # the server's heartbeat ping, as written

# What the server may hold for one connection that does not read: the transport's high-water mark
# (64 KiB on uvloop), a batch written early at WRITE_BATCH_LIMIT, and the replies to one read
# (at most one pong per 6-byte ping frame of a 256 KiB read). A generous bound, far below the
# tens of MB the floods below send.
HELD_BOUND = 2 * 1024 * 1024
FLOOD_CHUNKS = 800  # of 128 KiB each: at most 100 MiB sent before the server must have stopped reading


async def _server(eio_server, **options: Any) -> tuple[Any, EngineServer, Sessions]:
    running = await eio_server(**options)
    eio: EngineServer = running.app
    return running, eio, Sessions(eio, echo=True)


def _channel(eio: EngineServer, sid: str) -> builtin.WebSocketConnection:
    """The server side of a session's WebSocket."""
    channel = eio.clients[sid]._transport.channel  # type: ignore[attr-defined]
    assert isinstance(channel, builtin.WebSocketConnection)
    return channel


async def _fill_until_paused(session: Session, channel: builtin.WebSocketConnection) -> None:
    """Send to a client that does not read until every buffer between us is full (the channel
    pauses writing); bounded."""
    paused = after_call(channel, "pause_writing")
    for _ in range(2000):
        if paused.done():
            return
        session.socket.send("y" * 60_000)
        await asyncio.sleep(0)
    raise AssertionError("the channel never paused writing")


async def _flood_until(writer: asyncio.StreamWriter, chunk: bytes, done: asyncio.Future[Any]) -> int:
    """Write ``chunk`` again and again (never reading) until ``done``; return the bytes written."""
    sent = 0
    for _ in range(FLOOD_CHUNKS):
        if done.done():
            return sent
        writer.write(chunk)
        sent += len(chunk)
        await asyncio.sleep(0)  # a turn for the server (same loop); the flood does not wait for drain
    raise AssertionError(f"the server kept reading {sent} bytes of flood")


async def test_a_ping_flood_that_never_reads_its_pongs_is_held_back(eio_server) -> None:
    """WebSocket pings sent without ever reading the pongs: once the pongs fill the transport's
    buffer, the server stops reading that connection (TCP flow control holds the client back), and
    what it holds for it stays bounded; the bystander is served throughout, and when the flooder
    leaves everything it held goes."""
    running, eio, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    flooder, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    paused = after_call(channel, "pause_writing")
    ping = encode_frame(OP_PING, b"p" * 125, mask=MASK)
    sent = await _flood_until(flooder.conn.writer, ping * (128 * 1024 // len(ping)), paused)
    transport = channel._transport
    assert not transport.is_reading()
    assert transport.get_write_buffer_size() <= HELD_BOUND, (transport.get_write_buffer_size(), sent)
    await bystander.check()
    flooder.abort()
    assert await session.close_reason() == "transport close"
    assert eio.clients_count == 1
    await bystander.check()


async def test_a_burst_within_one_loop_pass_counts_against_the_backlog_cap(eio_server) -> None:
    """15 MB sent to a client that does not read, in one synchronous burst: the frames are written
    early once a batch is large, so the transport's back-pressure applies within the pass, the
    rest waits in the session's backlog and the cap drops the client (``transport error``); the
    bystander is untouched."""
    running, eio, sessions = await _server(eio_server, max_buffered_bytes=1_000_000, close_timeout=0.2)
    bystander = await Bystander.join(running.port, sessions)
    reader, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    lost = after_call(channel, "connection_lost")
    message = "x" * 1000
    for _ in range(15_000):
        session.socket.send(message)
        if session.closed.done():
            break
    assert await session.close_reason() == "transport error"
    assert channel._transport.get_write_buffer_size() <= HELD_BOUND + 1_000_000
    # The close frame is stuck behind what the client never read: after close_timeout the
    # connection is aborted instead of waiting for a reader forever.
    await bounded(lost)
    assert channel._transport.is_closing()
    await bystander.check()
    reader.abort()


async def test_a_close_the_peer_never_reads_is_aborted_after_close_timeout(eio_server) -> None:
    """The server closes a session (``socket.close()``) whose client has stopped reading with
    megabytes unread: the graceful close cannot finish, so after ``close_timeout`` the TCP
    connection is aborted and the server lets go of it."""
    running, eio, sessions = await _server(eio_server, close_timeout=0.2)
    bystander = await Bystander.join(running.port, sessions)
    reader, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    await _fill_until_paused(session, channel)
    lost = after_call(channel, "connection_lost")
    session.socket.close()
    assert await session.close_reason() == "forced close"
    await bounded(lost)
    assert eio.clients_count == 1
    await bystander.check()
    reader.abort()


async def test_pipelined_requests_whose_answers_are_never_read_are_held_back(
    eio_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP requests pipelined without reading the answers: once the answers fill the transport's
    buffer, the server stops reading that connection; the bystander is served."""
    running, _, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    paused: asyncio.Future[builtin.HttpConnection] = asyncio.get_running_loop().create_future()
    original = builtin.HttpConnection.pause_writing

    def pause_writing(self: builtin.HttpConnection) -> None:
        original(self)
        if not paused.done():
            paused.set_result(self)

    monkeypatch.setattr(builtin.HttpConnection, "pause_writing", pause_writing)
    conn = await RawHttp.connect(running.port)
    request = render_request("GET", "/elsewhere", running.port)  # a 404 each: answers without a session
    sent = await _flood_until(conn.writer, request * (128 * 1024 // len(request)), paused)
    http = paused.result()
    assert http.transport is not None
    assert not http.transport.is_reading()
    assert http.transport.get_write_buffer_size() <= HELD_BOUND, (
        http.transport.get_write_buffer_size(),
        sent,
    )
    await bystander.check()
    conn.abort()


async def test_requests_pipelined_behind_a_held_poll_wait_their_turn_with_reading_stopped(
    eio_server,
) -> None:
    """One request is in progress per connection: requests pipelined behind a held poll are not
    handled, and once one waits the rest of the input stays unparsed and reading stops (what waits
    is bounded by one parse slice); when the poll is answered, every request is answered, in order,
    and nothing is lost."""
    running, _, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    conn = await RawHttp.connect(running.port)
    arrived = after_call(session.socket._transport, "on_poll")
    conn.send_raw(render_request("GET", client.target(), running.port))
    await bounded(arrived)
    http: builtin.HttpConnection = session.socket._transport._poll._conn
    piped = render_request("GET", "/elsewhere", running.port)  # a 404 each, if it were handled
    count = 4 * builtin.PARSE_SLICE // len(piped) + 1
    read = after_call(http, "_feed")  # (uvloop calls a data_received bound at connection_made)
    conn.send_raw(piped * count)
    await bounded(read)  # the first read: it leaves requests waiting, so what follows is held
    while not http._held:
        read = after_call(http, "_feed")
        await bounded(read)
    assert not http.transport.is_reading()
    # The slice cut a request in two: held by us, it is not a slow client (no header timeout).
    assert builtin.PARSE_SLICE % len(piped)
    assert http._in_request and not http._timer.armed
    waiting = http._queue[1:]
    assert waiting and not any(exchange.handled for exchange in waiting)
    assert len(waiting) <= builtin.PARSE_SLICE // len(piped) + 1
    await bystander.check()
    session.socket.send("now")
    first = await conn.read_response()
    assert (first.status, first.packets()) == (200, ["4now"])
    for _ in range(count):
        assert (await conn.read_response()).status == 404
    assert http.transport.is_reading() and not http._held and not http._queue
    conn.close()
    await bystander.check()


async def test_websocket_frames_of_a_flooder_stop_being_read_while_it_does_not_read(eio_server) -> None:
    """The same for Engine.IO messages whose echoes are never read: reading stops once the echoes
    fill the buffer, and resumes when the client reads again (the session survives)."""
    running, eio, sessions = await _server(eio_server, max_buffered_bytes=50_000_000)
    flooder, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    paused = after_call(channel, "pause_writing")
    frame = encode_frame(OP_TEXT, "4" + "e" * 1000, mask=MASK)
    await _flood_until(flooder.conn.writer, frame * 128, paused)
    assert not channel._transport.is_reading()
    resumed = after_call(channel, "resume_writing")
    while not resumed.done():  # the client reads again: the server's buffer drains
        data = await bounded(flooder.conn.reader.read(1 << 20))
        assert data
    assert channel._transport.is_reading()
    assert not session.closed.done()
    flooder.abort()
    assert await session.close_reason() == "transport close"


class ThreadedPonger(threading.Thread):
    """A WebSocket Engine.IO client on a thread of its own, so that it answers pings while the
    server's loop (which the other test clients share) is blocked. Blocking socket, bounded reads."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stopped = threading.Event()

    def run(self) -> None:  # the handshake too: the server answers it on the loop meanwhile
        with contextlib.suppress(OSError):
            self.sock.sendall(render_request("GET", query(transport="websocket"), self.port, WS_HEADERS))
            head = b""
            while b"\r\n\r\n" not in head:
                head += self.sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head
            parser = FrameParser(None, require_mask=False)
            events = parser.feed(head.split(b"\r\n\r\n", 1)[1])
            while not self.stopped.is_set():
                for opcode, payload in events:
                    if opcode == OP_TEXT and payload == "2":
                        self.sock.sendall(encode_frame(OP_TEXT, "3", mask=MASK))
                events = parser.feed(self.sock.recv(65536) or b"")

    def stop(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.join(10)


async def test_a_pong_already_received_is_not_lost_to_a_deadline_a_busy_loop_missed(
    eio_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop is stalled (as a heavy burst would stall it) right after a ping is written; the
    client (on a thread of its own) answers at once, but its pong waits unread while the pong's
    deadline passes. When the loop runs again the deadline fires first; the pong already there must
    win: the session survives and heartbeats go on (Node would report ping timeout)."""
    running = await eio_server(ping_interval=0.2, ping_timeout=0.1)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=True)
    client = ThreadedPonger(running.port)
    client.start()
    try:
        session = await sessions.next()
        heartbeats: asyncio.Queue[None] = asyncio.Queue()
        session.socket.on("heartbeat", lambda: heartbeats.put_nowait(None))
        await bounded(heartbeats.get())  # one normal round first
        channel = _channel(eio, session.socket.id)
        original = builtin.WebSocketConnection.flush_writes
        stalls: list[bool] = []
        # The stall runs where a burst from another connection would: in the loop's I/O phase,
        # reading some other socket, so that the pong arriving meanwhile misses that poll and the
        # next iteration's timers come first.
        busy, trigger = socket.socketpair()
        loop = asyncio.get_running_loop()

        def other_connection_is_busy() -> None:
            busy.recv(1)
            stalls.append(True)
            _spin(3 * 0.1)  # the stall itself (not a wait): three pong timeouts with the loop blocked

        loop.add_reader(busy.fileno(), other_connection_is_busy)

        def flush_then_stall(self: builtin.WebSocketConnection) -> None:
            carries_ping = self is channel and self._out is not None and PING_FRAME in self._out
            original(self)
            if carries_ping and not stalls:
                trigger.send(b"!")

        monkeypatch.setattr(builtin.WebSocketConnection, "flush_writes", flush_then_stall)
        await bounded(heartbeats.get())  # the pong that waited through the stall
        assert stalls, "the loop was not stalled"
        await bounded(heartbeats.get())  # and the heartbeat goes on
        assert not session.closed.done(), session.closed.result()
        loop.remove_reader(busy.fileno())
        busy.close()
        trigger.close()
    finally:
        client.stop()


async def test_a_broadcast_burst_drops_no_client_that_answers_its_pings(eio_server) -> None:
    """The issue's burst probe, scaled down: 20 clients on threads of their own answer every ping
    (interval 0.2 s, timeout 0.1 s); another sends 600 messages in one write, each a broadcast to
    every session that costs 1 ms more: over half a second of work, several pong timeouts long.
    Every message is handled and broadcast, and no client is dropped (the issue saw 228 of 500
    dropped with ``ping timeout``)."""
    running = await eio_server(ping_interval=0.2, ping_timeout=0.1)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    pongers = [ThreadedPonger(running.port) for _ in range(20)]
    closes: list[str] = []
    heartbeats: dict[str, asyncio.Queue[None]] = {}
    try:
        for ponger in pongers:
            ponger.start()
            session = await sessions.next()
            queue: asyncio.Queue[None] = asyncio.Queue()
            heartbeats[session.socket.id] = queue
            session.socket.on("heartbeat", lambda queue=queue: queue.put_nowait(None))
            session.socket.on("close", lambda reason, *_: closes.append(reason))
        sender, _ = await open_websocket(running.port)
        sender_session = await sessions.next()
        total = 600
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handled = 0

        def broadcast(message: str) -> None:
            nonlocal handled
            _spin(0.001)
            for client in list(eio.clients.values()):
                client.send(message)
            handled += 1
            if handled == total:
                done.set_result(None)

        sender_session.socket.on("message", broadcast)

        async def answer_pings() -> None:  # the sender is a well-behaved client too
            while True:
                if await sender.recv() == "2":
                    sender.send("3")

        answering = asyncio.ensure_future(answer_pings())
        sender.conn.writer.write(b"".join(encode_frame(OP_TEXT, f"4{i}", mask=MASK) for i in range(total)))
        await bounded(done)
        for queue in heartbeats.values():  # a heartbeat after the burst, for every client
            while not queue.empty():
                queue.get_nowait()
            await bounded(queue.get())
        assert closes == []
        assert not sender_session.closed.done()
        answering.cancel()
        sender.abort()
    finally:
        for ponger in pongers:
            ponger.stop()


def _spin(seconds: float) -> None:
    """Keep the loop busy for ``seconds``: a message that costs as much as a broadcast to thousands."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def _costly_messages(socket: Any) -> list[str]:
    """Make each message of ``socket`` cost 1 ms; return the list they are recorded in, in order."""
    handled: list[str] = []

    def costly(message: str) -> None:
        _spin(0.001)
        handled.append(message)

    socket.on("message", costly)
    return handled


async def _costly_session(
    eio_server,
) -> tuple[builtin.WebSocketConnection, RawWebSocket, Session, list[str], asyncio.Queue[None]]:
    """A server at ping interval 0.2 s, timeout 0.1 s, and one WebSocket session whose messages cost
    1 ms each (recorded in the list), its heartbeats in the queue; returned once its first ping came."""
    running = await eio_server(ping_interval=0.2, ping_timeout=0.1)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()
    handled = _costly_messages(session.socket)
    heartbeats: asyncio.Queue[None] = asyncio.Queue()
    session.socket.on("heartbeat", lambda: heartbeats.put_nowait(None))
    assert await ws.recv() == "2"
    return _channel(eio, handshake["sid"]), ws, session, handled, heartbeats


async def test_a_pong_queued_behind_a_long_backlog_wins_over_its_deadline(eio_server) -> None:
    """A client answers a ping after 400 messages that cost 1 ms each, all in one write: the server
    handles them in turns (about 0.4 s), so the pong's deadline (0.1 s) passes while the pong waits,
    parsed, in the backlog. The verdict waits for the backlog: the session lives on."""
    _, ws, session, handled, heartbeats = await _costly_session(eio_server)
    total = 400
    flood = b"".join(encode_frame(OP_TEXT, f"4{i}", mask=MASK) for i in range(total))
    ws.conn.writer.write(flood + encode_frame(OP_TEXT, "3", mask=MASK))
    await bounded(heartbeats.get())
    assert len(handled) == total
    assert not session.closed.done(), session.closed.result()
    ws.abort()


async def test_a_pong_unread_while_reading_is_held_back_wins_once_read(eio_server) -> None:
    """A client that stops reading (so reading its connection is held back) but has sent a pong:
    when the pong's deadline passes the pong is still unread in the kernel; the verdict waits
    (one more ping timeout at most), the client reads again, the server reads the pong: the
    session lives on."""
    running = await eio_server(ping_interval=0.2, ping_timeout=1.0, max_buffered_bytes=100_000_000)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    heartbeats: asyncio.Queue[None] = asyncio.Queue()
    session.socket.on("heartbeat", lambda: heartbeats.put_nowait(None))
    await _fill_until_paused(session, channel)
    ws.conn.writer.write(encode_frame(OP_TEXT, "3", mask=MASK))  # a pong, unread for now
    while session.socket._verdict is None:  # until the pong's deadline has been decided on
        await bounded(after_call(session.socket, "_confirm_ping_timeout"))
    assert channel.input_held()
    assert not session.closed.done(), "the verdict did not wait for the held input"

    async def drain() -> None:
        while True:
            await ws.recv()

    reading = asyncio.ensure_future(drain())
    await bounded(heartbeats.get())
    assert not session.closed.done()
    reading.cancel()
    ws.abort()


async def test_a_pong_unread_behind_our_own_backlog_is_waited_for(eio_server) -> None:
    """As above, but the pong comes in a second write, behind 400 more costly messages, while the
    server holds reading back for the first 400: at the deadline the pong is not even read (it waits
    in the kernel, or in the client's send queue under TCP flow control). The deadline is suspended
    while the server holds the input back and runs afresh once it reads again: the session lives on."""
    channel, ws, session, handled, heartbeats = await _costly_session(eio_server)
    first_read = after_call(channel, "_handle_slice")
    ws.conn.writer.write(b"".join(encode_frame(OP_TEXT, f"4a{i}", mask=MASK) for i in range(400)))
    await bounded(first_read)
    assert channel._backlog is not None and not channel._transport.is_reading()
    second = b"".join(encode_frame(OP_TEXT, f"4b{i}", mask=MASK) for i in range(400))
    ws.conn.writer.write(second + encode_frame(OP_TEXT, "3", mask=MASK))
    await bounded(heartbeats.get())
    assert len(handled) == 800
    assert not session.closed.done(), session.closed.result()
    ws.abort()


async def test_input_held_back_does_not_keep_a_silent_session_alive_forever(eio_server) -> None:
    """A client that stops reading, so that reading its connection is held back, and whose unread
    input has no pong: its ping deadline waits for that input one ping timeout more at most, then
    the session ends with ``ping timeout``."""
    running = await eio_server(ping_interval=0.2, ping_timeout=0.2, max_buffered_bytes=100_000_000)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()
    channel = _channel(eio, handshake["sid"])
    await _fill_until_paused(session, channel)
    ws.conn.writer.write(encode_frame(OP_TEXT, "4never read", mask=MASK))
    assert await session.close_reason() == "ping timeout"
    ws.abort()


async def test_a_flood_in_one_read_is_handled_in_slices_so_others_get_their_turn(eio_server) -> None:
    """30,000 tiny messages in one write (one or two reads): the server handles them TURN_MESSAGES at
    a time, with reading paused between slices, so a bystander's message sent right after is handled
    after at most a few slices rather than after the whole flood; every flood message is still
    handled, in order."""
    running, _, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    flooder, _ = await open_websocket(running.port)
    session = await sessions.next()
    handled: list[str] = []
    total = 30_000
    session.socket.on("message", handled.append)
    seen_by_bystander: list[int] = []
    bystander.session.socket.on("message", lambda _: seen_by_bystander.append(len(handled)))
    flood = b"".join(encode_frame(OP_TEXT, f"4{i}", mask=MASK) for i in range(total))
    flooder.conn.writer.write(flood)
    await bystander.check()  # sent right after the flood
    assert seen_by_bystander[0] <= 3 * TURN_MESSAGES < total, (seen_by_bystander[0], total)
    while len(handled) < total:
        echo = await flooder.recv()
        assert isinstance(echo, str)
    assert handled == [str(i) for i in range(total)]
    flooder.abort()


async def test_costly_messages_in_one_read_are_handled_within_a_time_budget(eio_server) -> None:
    """Messages that each cost a millisecond (as a broadcast to thousands does), 60 in one write:
    a turn ends once TURN_SECONDS is spent (the clock is read every TURN_CLOCK_EVERY messages),
    so a bystander's message sent right after waits a few of them, not all 60; all are handled."""
    running, _, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    flooder, _ = await open_websocket(running.port)
    session = await sessions.next()
    handled = _costly_messages(session.socket)
    seen_by_bystander: list[int] = []
    bystander.session.socket.on("message", lambda _: seen_by_bystander.append(len(handled)))
    total = 60
    assert TURN_SECONDS < TURN_CLOCK_EVERY * 0.001  # a turn ends at a clock reading
    flooder.conn.writer.write(b"".join(encode_frame(OP_TEXT, f"4{i}", mask=MASK) for i in range(total)))
    await bystander.check()
    assert seen_by_bystander[0] <= 3 * TURN_CLOCK_EVERY < total, seen_by_bystander
    while len(handled) < total:
        await flooder.recv()
    assert handled == [str(i) for i in range(total)]
    flooder.abort()


async def test_a_fault_after_a_flood_closes_only_once_the_flood_is_handled(eio_server) -> None:
    """A read of many messages that ends in a broken frame: the messages are handled in turns
    like any, and only then is the connection failed (1002); none is lost."""
    running, _, sessions = await _server(eio_server)
    flooder, _ = await open_websocket(running.port)
    session = await sessions.next()
    handled: list[str] = []
    session.socket.on("message", handled.append)
    total = 3 * TURN_MESSAGES
    frames = b"".join(encode_frame(OP_TEXT, f"4{i}", mask=MASK) for i in range(total))
    flooder.conn.writer.write(frames + b"\x83\x80" + MASK)  # opcode 3 is reserved
    assert (await flooder.closed_by_server())[0] == 1002
    assert handled == [str(i) for i in range(total)]
    assert await session.close_reason() == "transport error"


async def test_pipelined_requests_in_one_read_are_handled_in_turns(
    eio_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 requests pipelined in one write, each answered at once (a 404), read by the client as
    they come: the server handles HTTP_READ_BUDGET per turn, so a bystander's message sent right
    after is handled after at most a few turns' worth rather than after all of them; every request
    is answered, in order."""
    running, _, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    handled = 0
    original = builtin.HttpConnection._handle

    def counting(self: builtin.HttpConnection, exchange: Any) -> None:
        nonlocal handled
        handled += 1
        original(self, exchange)

    monkeypatch.setattr(builtin.HttpConnection, "_handle", counting)
    seen_by_bystander: list[int] = []
    bystander.session.socket.on("message", lambda _: seen_by_bystander.append(handled))
    total = 3000
    conn = await RawHttp.connect(running.port)
    conn.send_raw(b"".join(render_request("GET", f"/elsewhere/{i}", running.port) for i in range(total)))

    async def read_all() -> list[Any]:
        return [await conn.read_response() for _ in range(total)]

    answers = asyncio.ensure_future(read_all())
    await bystander.check()  # sent right after the flood
    assert total > 3 * builtin.HTTP_READ_BUDGET
    assert seen_by_bystander[0] <= 3 * builtin.HTTP_READ_BUDGET, (seen_by_bystander[0], total)
    responses = await bounded(answers)
    assert [response.status for response in responses] == [404] * total
    assert handled == total
    conn.close()


# -- admission ------------------------------------------------------------------------------------


def _listen_backlog(port: int) -> int:
    """The accept queue's size of the socket listening on ``port`` (``ss``'s Send-Q column)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    return int(out[2])


@pytest.mark.parametrize("backlog", [None, 1234])
async def test_the_listen_backlog_is_uvicorns_by_default_and_configurable(eio_server, backlog) -> None:
    options = {} if backlog is None else {"backlog": backlog}
    running = await eio_server(**options)
    expected = 2048 if backlog is None else backlog
    assert _listen_backlog(running.port) == min(
        expected, int(Path("/proc/sys/net/core/somaxconn").read_text())
    )


async def test_max_connections_refuses_new_sessions_cleanly_and_admits_again(eio_server) -> None:
    """At ``max_connections`` a polling handshake gets 503 and a WebSocket handshake is closed with
    1013 (Try Again Later); sessions already open are untouched; once one leaves, a new one is in."""
    running, eio, sessions = await _server(eio_server, max_connections=2)
    bystander = await Bystander.join(running.port, sessions)
    polling = await PollingClient.open(running.port)
    await sessions.next()
    response = await request(running.port, "GET", query())
    assert response.status == 503
    assert response.json() == {"code": 4, "message": "Too many connections"}
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"))
    assert await ws.closed_by_server() == (1013, "Too many connections")
    assert eio.clients_count == 2
    await bystander.check()
    await polling.send("1")  # the polling session leaves
    assert eio.clients_count == 1
    again = await PollingClient.open(running.port)
    assert again.sid in eio.clients


async def test_a_handshake_rate_limit_refuses_the_excess_cleanly(eio_server) -> None:
    """With ``max_handshake_rate`` (here one per 1,000 s, so only the first gets a token) a further
    polling handshake gets 503 with ``Retry-After`` and a WebSocket handshake is closed 1013; the
    sessions already open (and their requests, which are not handshakes) are untouched."""
    running, eio, sessions = await _server(eio_server, max_handshake_rate=0.001)
    bystander = await Bystander.join(running.port, sessions)
    response = await request(running.port, "GET", query())
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"code": 4, "message": "Too many handshakes, try again later"}
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"))
    assert await ws.closed_by_server() == (1013, "Too many handshakes, try again later")
    assert eio.clients_count == 1
    await bystander.check()


async def test_namespace_names_and_dynamic_children_per_client_are_bounded(sio_server) -> None:
    """A CONNECT to an over-long name, or one that would create more dynamic namespaces than
    ``max_dynamic_namespaces_per_client`` for one connection, gets CONNECT_ERROR (as an unknown
    namespace does) and the connection stays usable; names that exist are joined as before."""
    running = await sio_server(
        lambda io: io.of(re.compile(r"^/dyn-")).on("connection", lambda socket: None),
        max_namespace_length=40,
        max_dynamic_namespaces_per_client=2,
    )
    io: sio.Server = running.app
    ws, _ = await open_websocket(running.port, "/socket.io/")
    long_name = "/dyn-" + "x" * 40
    ws.send(f"40{long_name},")
    assert await ws.recv_packet() == f'44{long_name},{{"message":"Invalid namespace"}}'
    for n in (1, 2):
        ws.send(f"40/dyn-{n},")
        assert (await ws.recv_packet()).startswith(f'40/dyn-{n},{{"sid":')
    ws.send("40/dyn-3,")
    assert await ws.recv_packet() == '44/dyn-3,{"message":"Invalid namespace"}'
    assert "/dyn-3" not in io._nsps and long_name not in io._nsps
    other, _ = await open_websocket(running.port, "/socket.io/")
    other.send("40/dyn-1,")  # exists: joining it creates nothing
    assert (await other.recv_packet()).startswith('40/dyn-1,{"sid":')
    ws.send("40")
    assert (await ws.recv_packet()).startswith('40{"sid":')


async def test_pipelined_handshakes_on_one_connection_are_capped(eio_server) -> None:
    """40 handshakes pipelined on one keep-alive connection: the first MAX_HANDSHAKES_PER_CONNECTION
    open sessions, the next gets 429 and the connection is closed; a fresh connection is served."""
    running, eio, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    conn = await RawHttp.connect(running.port)
    conn.send_raw(render_request("GET", query(), running.port) * 40)
    cap = builtin.MAX_HANDSHAKES_PER_CONNECTION
    for _ in range(cap):
        response = await conn.read_response()
        assert response.status == 200 and response.packets()[0].startswith("0{")
    refused = await conn.read_response()
    assert refused.status == 429
    assert refused.headers["connection"] == "close"
    await conn.wait_closed()
    assert eio.clients_count == cap + 1  # and the bystander's
    await bystander.check()
    fresh = await PollingClient.open(running.port)
    assert fresh.sid in eio.clients
