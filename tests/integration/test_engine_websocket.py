"""The WebSocket transport spoken frame by frame: direct sessions, the upgrade, hostile frames.

Client frames are built with the core's ``encode_frame`` (masked with ``abcd``) or by hand
when they must be malformed. Every test runs under the built-in front end and under uvicorn
(where uvicorn's WebSocket layer, not ours, parses the frames).
"""

from __future__ import annotations

import asyncio

import pytest

from sio._sio_core import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, encode_frame
from sio.engine import EngineServer
from tests.integration.rawclient import (
    CLOCK_SLACK,
    MASK,
    Bystander,
    ConnectionErrors,
    PollingClient,
    RawWebSocket,
    Session,
    Sessions,
    after_call,
    bounded,
    held_get,
    open_websocket,
    query,
)


def masked(first_byte: int, payload: bytes) -> bytes:
    """A client frame with any first byte (FIN, RSV bits, opcode), masked with MASK."""
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([first_byte, 0x80 | len(payload)]) + MASK + body


async def test_direct_websocket_session(eio_server) -> None:
    """The open packet is the first frame (no upgrades); text and binary go both ways as
    text and binary frames; a client ping frame gets its pong."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    ws, handshake = await open_websocket(running.port)
    assert handshake["upgrades"] == []
    session = await sessions.next()
    assert session.socket.id == handshake["sid"]
    assert session.socket.transport == "websocket"

    session.socket.send("héllo")
    session.socket.send(b"\x00\xff")
    assert await ws.recv_event() == (OP_TEXT, "4héllo")
    assert await ws.recv_event() == (OP_BINARY, b"\x00\xff")
    ws.send("4text ☃")
    ws.send(b"\x01\x02")
    assert await session.message() == "text ☃"
    assert await session.message() == b"\x01\x02"
    ws.send_frame(encode_frame(OP_PING, b"are you there", mask=MASK))
    assert await ws.recv_event() == (OP_PONG, b"are you there")
    assert eio.clients_count == 1

    ws.send_close(1000)
    assert await session.close_reason() == "transport close"
    assert await ws.expect_close() == (1000, "")
    await ws.wait_eof()
    assert eio.clients_count == 0


async def test_tcp_drop_is_transport_close(eio_server) -> None:
    """The client vanishes without a close frame: ``transport close``; the bystander is fine."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    bystander = await Bystander.join(running.port, sessions)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.abort()
    assert await session.close_reason() == "transport close"
    assert eio.clients_count == 1
    await bystander.check()


async def test_server_close_on_websocket_flushes_then_closes(eio_server) -> None:
    """``socket.close()``: buffered messages, then a close frame; the reason is ``forced close``."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    session.socket.send("last words")
    session.socket.close()
    assert await ws.recv() == "4last words"
    assert await ws.closed_by_server() == (1000, "")
    assert await session.close_reason() == "forced close"
    assert eio.clients_count == 0


HOSTILE_FRAMES = {
    # name: (frames, close code, reason)
    "unmasked frame": (encode_frame(OP_TEXT, "4hi"), 1002, "transport error"),
    "reserved bits": (masked(0x80 | 0x40 | OP_TEXT, b"4hi"), 1002, "transport error"),
    "unknown opcode": (masked(0x83, b"4hi"), 1002, "transport error"),
    "fragmented ping": (masked(OP_PING, b"x"), 1002, "transport error"),
    "continuation without a start": (masked(0x80, b"4hi"), 1002, "transport error"),
    "invalid UTF-8 text": (encode_frame(OP_TEXT, b"4caf\xc3(", mask=MASK), 1007, "transport error"),
    "text over the limit": (encode_frame(OP_TEXT, "4" + "x" * 200, mask=MASK), 1009, "transport error"),
    "binary over the limit": (encode_frame(OP_BINARY, b"\x00" * 201, mask=MASK), 1009, "transport error"),
    "multi-byte text over the limit in bytes": (
        encode_frame(OP_TEXT, "4" + "☃" * 60, mask=MASK),  # 61 characters, 181 bytes
        1009,
        "transport error",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_FRAMES)
async def test_hostile_frames_close_the_websocket_with_the_rfc_code(eio_server, case: str) -> None:
    """A broken frame: the server closes with the RFC 6455 code, the session ends with
    ``transport error``, and another client does not notice."""
    frame, code, reason = HOSTILE_FRAMES[case]
    running = await eio_server(max_http_buffer_size=100)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    bystander = await Bystander.join(running.port, sessions)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.send("4before")
    assert await session.message() == "before"
    ws.send_frame(frame)
    assert await session.close_reason() == reason
    close_code, _ = await ws.closed_by_server()
    assert close_code == code
    assert session.messages.empty()
    assert eio.clients_count == 1
    await bystander.check()


HOSTILE_PACKETS = {
    # name: (message, reason)
    "unknown packet type": ("9hello", "parse error"),
    "empty text message": ("", "parse error"),
    "empty binary message": (b"", None),  # a binary message of no bytes is a valid empty message
    "ping from the client": ("2", "transport error"),
}


@pytest.mark.parametrize("case", HOSTILE_PACKETS)
async def test_bad_engine_io_packets_on_websocket(eio_server, case: str) -> None:
    """Well-formed frames carrying bad Engine.IO packets: ``parse error`` or ``transport error``
    (a ping from the client breaks v4's heartbeat direction); the WebSocket is closed."""
    message, reason = HOSTILE_PACKETS[case]
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    bystander = await Bystander.join(running.port, sessions)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.send(message)
    if reason is None:
        assert await session.message() == b""
        ws.send_close()
        assert await session.close_reason() == "transport close"
        await ws.wait_eof()
    else:
        assert await session.close_reason() == reason
        await ws.closed_by_server()
    assert eio.clients_count == 1
    await bystander.check()


# -- the upgrade -----------------------------------------------------------------------------


async def _probe(running, client: PollingClient, session: Session) -> RawWebSocket:
    """Open the upgrade WebSocket and probe: ``2probe`` → ``3probe``, the held GET gets a noop."""
    poll = await held_get(client, session)
    ws = await RawWebSocket.connect(running.port, query(transport="websocket", sid=client.sid))
    ws.send("2probe")
    assert await ws.recv() == "3probe"
    assert (await bounded(poll)).packets() == ["6"]
    assert session.socket.upgrading
    # Polls during the upgrade are answered at once with a noop.
    assert (await client.get()).packets() == ["6"]
    return ws


async def test_upgrade_by_hand(eio_server) -> None:
    """polling → probe → ``5``: the buffer moves to the WebSocket, polling requests with the sid
    get 400 (code 3), a second WebSocket with the sid is accepted and closed at once (during and
    after the upgrade, as Node does), and the session carries on."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    errors = ConnectionErrors(eio)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    ws = await _probe(running, client, session)
    rival = await RawWebSocket.connect(running.port, query(transport="websocket", sid=client.sid))
    assert await rival.closed_by_server() == (1008, "cannot upgrade this session")  # one upgrade at a time
    assert session.socket.upgrading

    session.socket.send("sent during the upgrade")
    ws.send("5")
    assert await bounded(session.upgraded) == "websocket"
    assert session.socket.transport == "websocket"
    assert not session.socket.upgrading and session.socket.upgraded
    assert await ws.recv() == "4sent during the upgrade"

    for method in ("GET", "POST"):
        response = await (client.get() if method == "GET" else client.post("4sneaky"))
        assert response.status == 400
        assert response.json() == {"code": 3, "message": "Bad request"}
        assert await errors.next() == (3, "Bad request")
    second = await RawWebSocket.connect(running.port, query(transport="websocket", sid=client.sid))
    assert await second.closed_by_server() == (1008, "cannot upgrade this session")
    assert session.socket.transport == "websocket"

    ws.send("4over websocket")
    assert await session.message() == "over websocket"
    assert session.messages.empty()  # the sneaky POST was not delivered
    ws.abort()
    assert await session.close_reason() == "transport close"
    assert eio.clients_count == 0


async def test_upgrade_timeout_closes_the_probe_and_polling_carries_on(eio_server) -> None:
    """A probe never followed by ``5``: after ``upgrade_timeout`` (never earlier) the upgrade
    WebSocket is closed, the session stays on polling, and a later upgrade still works."""
    running = await eio_server(upgrade_timeout=0.2)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    loop = asyncio.get_running_loop()
    started = loop.time()
    ws = await _probe(running, client, session)
    await ws.closed_by_server()
    assert loop.time() - started >= 0.2 - CLOCK_SLACK
    assert not session.socket.upgrading
    assert not session.upgraded.done()
    assert session.socket.transport == "polling"

    session.socket.send("still polling")
    assert (await client.get()).packets() == ["4still polling"]
    await client.send("4up")
    assert await session.message() == "up"

    retry = await _probe(running, client, session)
    retry.send("5")
    assert await bounded(session.upgraded) == "websocket"
    retry.send("4upgraded at last")
    assert await session.message() == "upgraded at last"
    assert eio.clients_count == 1
    retry.close()


@pytest.mark.parametrize("failure", ["message before 5", "bad packet", "tcp drop", "unmasked frame"])
async def test_a_failed_upgrade_leaves_the_session_on_polling(eio_server, failure: str) -> None:
    """Whatever goes wrong on the probing WebSocket, only the upgrade is abandoned."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    ws = await _probe(running, client, session)
    transport = session.socket._upgrade_transport
    assert transport is not None
    closed = after_call(transport, "on_close")
    if failure == "message before 5":
        ws.send("4too early")
    elif failure == "bad packet":
        ws.send("9")
    elif failure == "tcp drop":
        ws.abort()
    else:
        ws.send_frame(encode_frame(OP_TEXT, "5"))
    if failure != "tcp drop":
        await ws.closed_by_server()
    await bounded(closed)
    assert not session.socket.upgrading
    assert session.socket.transport == "polling"
    assert not session.closed.done()
    assert session.messages.empty()
    session.socket.send("carry on")
    assert (await client.get()).packets() == ["4carry on"]
    assert eio.clients_count == 1


async def test_closing_during_the_upgrade_closes_the_probe(eio_server) -> None:
    """The server closes the session while a probe is open: the next poll gets the close packet
    and the probe is closed too."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    ws = await _probe(running, client, session)
    session.socket.close()
    assert (await client.get()).packets() == ["1"]
    assert await session.close_reason() == "forced close"
    await ws.closed_by_server()
    assert eio.clients_count == 0


def test_masked_helper_builds_what_encode_frame_builds() -> None:
    """The hand-made frames are real frames (the malformed ones differ only where intended)."""
    assert masked(0x80 | OP_TEXT, b"4hi") == encode_frame(OP_TEXT, "4hi", mask=MASK)
    assert masked(0x80 | OP_CLOSE, b"\x03\xe8") == encode_frame(OP_CLOSE, b"\x03\xe8", mask=MASK)


@pytest.mark.parametrize("packet", ["0", '0{"sid":"forged"}', "5", "6"])
async def test_open_upgrade_and_noop_on_the_active_websocket_are_ignored(eio_server, packet: str) -> None:
    """Packets that mean nothing on an open WebSocket session are ignored, as Node does."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.send(packet)
    ws.send("4after")
    assert await session.message() == "after"
    assert not session.closed.done()
    assert eio.clients_count == 1
    ws.close()
