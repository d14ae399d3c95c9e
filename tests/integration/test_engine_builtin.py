"""The built-in front end (httptools + our WebSocket codec on uvloop) against hostile clients.

Front-end specific: every test here runs under the built-in front end only (uvicorn has its
own HTTP parser, limits and timeouts). After each hostile client the server must still serve
a fresh, well-behaved one.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from sio._sio_core import OP_TEXT, encode_frame
from sio.engine import EngineServer
from sio.frontends import builtin
from tests.integration.rawclient import (
    CLOCK_SLACK,
    MASK,
    WS_HEADERS,
    Bystander,
    PollingClient,
    RawHttp,
    RawWebSocket,
    Sessions,
    after_call,
    bounded,
    held_get,
    open_websocket,
    query,
    render_request,
)

pytestmark = pytest.mark.parametrize("frontend", ["uvloop"])


async def _server(eio_server, echo: bool = True, **options):
    running = await eio_server(**options)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=echo)
    return running, eio, sessions


async def _fresh_client_is_served(running, sessions: Sessions) -> None:
    """A new client after the hostile one: handshake and an echo round trip."""
    bystander = await Bystander.join(running.port, sessions)
    await bystander.check()
    bystander.close()


async def test_keep_alive_serves_several_requests_on_one_connection(eio_server) -> None:
    """Handshake, POST, GET, an error and a 404, one after another on one connection."""
    running, eio, sessions = await _server(eio_server)
    conn = await RawHttp.connect(running.port)
    handshake = await conn.request("GET", query())
    assert handshake.status == 200
    assert "connection" not in handshake.headers
    sid = handshake.packets()[0].split('"sid":"')[1].split('"')[0]
    session = await sessions.next()
    assert session.socket.id == sid
    assert (await conn.request("POST", query(sid=sid), body="4one\x1e4two")).body == b"ok"
    assert (await conn.request("GET", query(sid=sid))).packets() == ["4one", "4two"]
    assert (await conn.request("GET", query(sid="nope"))).status == 400
    assert (await conn.request("GET", "/elsewhere")).status == 404
    assert (await conn.request("POST", query(sid=sid), body="4three")).body == b"ok"
    assert (await conn.request("GET", query(sid=sid))).packets() == ["4three"]
    conn.close()
    assert eio.clients_count == 1


async def test_connection_close_is_honoured(eio_server) -> None:
    """``Connection: close``: the answer says so and the server closes the connection."""
    running, eio, _ = await _server(eio_server)
    conn = await RawHttp.connect(running.port)
    response = await conn.request("GET", query(), {"Connection": "close"})
    assert response.status == 200
    assert response.headers["connection"] == "close"
    assert await conn.wait_closed() == b""
    conn.close()
    assert eio.clients_count == 1


async def test_pipelined_requests_are_answered_in_order(eio_server) -> None:
    """A held poll, then a 404, an error and a POST, all in one write: one request is in progress
    at a time (as h11), so the later ones wait for the poll's answer, then all are answered in
    request order."""
    running, eio, sessions = await _server(eio_server, echo=False)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    conn = await RawHttp.connect(running.port)
    arrived = after_call(session.socket._transport, "on_poll")
    conn.send_raw(
        render_request("GET", client.target(), running.port)
        + render_request("GET", "/elsewhere", running.port)
        + render_request("GET", query(sid="nope"), running.port)
        + render_request("POST", client.target(), running.port, body="4piped")
    )
    await bounded(arrived)
    http = session.socket._transport._poll._conn  # the server side of ``conn``
    assert [exchange.handled for exchange in http._queue] == [True, False, False, False]
    assert session.messages.empty()  # the POST waits its turn
    session.socket.send("for the poll")
    first = await conn.read_response()
    assert (first.status, first.packets()) == (200, ["4for the poll"])
    assert (await conn.read_response()).status == 404
    assert (await conn.read_response()).json()["code"] == 1
    assert (await conn.read_response()).body == b"ok"
    assert await session.message() == "piped"
    conn.close()
    assert eio.clients_count == 1


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),  # a TLS ClientHello
        (b"HELLO THERE\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\n\r\n", 400),
        (b"GET /engine.io/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET /engine.io/ HTTP/1.1\r\nBad Header Name: x\r\n\r\n", 400),
        (b"GET /engine.io/ HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /engine.io/?" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /engine.io/ HTTP/1.1\r\n" + b"X-Many: a\r\n" * 2_000 + b"\r\n", 431),
        (
            b"POST /engine.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n"
            + b"4" * 1_100_000,
            413,
        ),
        (
            b"POST /elsewhere HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"100000\r\n" + b"x" * 0x100000 + b"\r\n") * 2,
            413,
        ),
    ],
    ids=[
        "tls",
        "not http",
        "bad version",
        "bad content-length",
        "bad header name",
        "huge header",
        "huge url",
        "many headers",
        "huge body",
        "huge chunked body",
    ],
)
async def test_malformed_and_oversized_requests_get_an_error_and_lose_their_connection(
    eio_server, data: bytes, status: int
) -> None:
    """Garbage → 400, header fields over 16 KiB → 431, a body over the limit → 413; then the
    connection is closed, the server keeps running and a fresh client is served."""
    running, eio, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    conn = await RawHttp.connect(running.port)
    conn.send_raw(data)
    response = await conn.read_response()
    assert response.status == status
    assert response.headers["connection"] == "close"
    assert await conn.wait_closed() == b""
    conn.close()
    assert eio.clients_count == 1
    await bystander.check()
    await _fresh_client_is_served(running, sessions)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n",
        b"GET /engine.io/?EIO=4&tra",
        b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nContent-Length: 100\r\n\r\n4only part",
    ],
    ids=["silent", "headers never end", "request line never ends", "body never ends"],
)
async def test_slow_clients_are_dropped_after_the_timeout(eio_server, monkeypatch, data: bytes) -> None:
    """A client that sends nothing, or never finishes its headers or its body, is disconnected
    once the timeout passes (never earlier); a 408 is sent if it started a request."""
    monkeypatch.setattr(builtin, "HEADER_TIMEOUT", 0.2)
    monkeypatch.setattr(builtin, "BODY_TIMEOUT", 0.2)
    running, eio, sessions = await _server(eio_server)
    bystander = await Bystander.join(running.port, sessions)
    loop = asyncio.get_running_loop()
    started = loop.time()
    conn = await RawHttp.connect(running.port)
    conn.send_raw(data)
    rest = await conn.wait_closed()
    conn.close()
    assert loop.time() - started >= 0.2 - CLOCK_SLACK
    if data:
        assert rest.startswith(b"HTTP/1.1 408 ")
    else:
        assert rest == b""
    assert eio.clients_count == 1
    await bystander.check()
    await _fresh_client_is_served(running, sessions)


async def test_an_idle_keep_alive_connection_is_closed(eio_server, monkeypatch) -> None:
    """After its last answer, a connection that stays silent is closed (no 408)."""
    monkeypatch.setattr(builtin, "KEEP_ALIVE_TIMEOUT", 0.2)
    running, _, _ = await _server(eio_server)
    conn = await RawHttp.connect(running.port)
    assert (await conn.request("GET", "/elsewhere")).status == 404
    assert await conn.wait_closed() == b""
    conn.close()


async def test_a_held_poll_is_not_cut_by_the_timeouts(eio_server, monkeypatch) -> None:
    """A long poll outlives the header and keep-alive timeouts (the heartbeat bounds it)."""
    monkeypatch.setattr(builtin, "HEADER_TIMEOUT", 0.05)
    monkeypatch.setattr(builtin, "KEEP_ALIVE_TIMEOUT", 0.05)
    running, _, sessions = await _server(eio_server, ping_interval=0.3)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    poll = await held_get(client, session)
    # The first server ping answers the poll, long after both timeouts.
    assert (await bounded(poll)).packets() == ["2"]


async def test_a_client_vanishing_mid_body_leaves_no_trace(eio_server) -> None:
    """Half a POST body, then the connection drops: nothing delivered, the session lives on."""
    running, eio, sessions = await _server(eio_server)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    conn = await RawHttp.connect(running.port)
    conn.send_raw(render_request("POST", client.target(), running.port, body="4" * 100)[:-50])
    conn.abort()
    await client.roundtrip("still here")
    assert await session.message() == "still here"
    assert eio.clients_count == 1


async def test_frames_before_a_bad_frame_in_the_same_write_are_delivered(eio_server) -> None:
    """Our codec hands over complete messages parsed before a protocol error in the same chunk
    (uvicorn drops the whole chunk, hence built-in only)."""
    running, eio, sessions = await _server(eio_server)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.send_frame(encode_frame(OP_TEXT, "4before", mask=MASK) + encode_frame(OP_TEXT, "4unmasked"))
    assert await session.message() == "before"
    assert await session.close_reason() == "transport error"
    assert (await ws.closed_by_server())[0] == 1002
    assert eio.clients_count == 0


async def test_frames_in_the_upgrade_request_packet_are_not_lost(eio_server) -> None:
    """A client that sends its first frame in the same write as the upgrade request."""
    running, eio, sessions = await _server(eio_server)
    conn = await RawHttp.connect(running.port)
    conn.send_raw(
        render_request("GET", query(transport="websocket"), running.port, WS_HEADERS)
        + encode_frame(OP_TEXT, "4eager", mask=MASK)
    )
    response = await conn.read_response()
    assert response.status == 101
    session = await sessions.next()
    assert await session.message() == "eager"
    ws = RawWebSocket(conn, response)
    assert (await ws.recv()).startswith("0")
    assert await ws.recv() == "4eager"  # the echo
    ws.close()
    assert eio.clients_count == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-WebSocket-Key": None}, 400),
        ({"Sec-WebSocket-Key": "short"}, 400),
        ({"Sec-WebSocket-Version": "8"}, 426),
    ],
    ids=["no key", "bad key", "old version"],
)
async def test_bad_websocket_handshakes_are_refused(eio_server, headers, status: int) -> None:
    """An invalid opening handshake is refused with an HTTP error and no session."""
    running, eio, sessions = await _server(eio_server)
    conn = await RawHttp.connect(running.port)
    all_headers = {k: v for k, v in {**WS_HEADERS, **headers}.items() if v is not None}
    response = await conn.request("GET", query(transport="websocket"), all_headers)
    assert response.status == status
    assert await conn.wait_closed() == b""
    conn.close()
    assert eio.clients_count == 0
    await _fresh_client_is_served(running, sessions)


async def test_an_upgrade_pipelined_behind_a_request_is_refused(eio_server) -> None:
    """An upgrade request behind an unanswered one cannot switch protocols: the connection is
    closed without an answer (a 400 now would be read as the poll's answer), and the poll it held
    is aborted (``transport error``)."""
    running, eio, sessions = await _server(eio_server)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    conn = await RawHttp.connect(running.port)
    conn.send_raw(
        render_request("GET", client.target(), running.port)
        + render_request("GET", query(transport="websocket"), running.port, WS_HEADERS)
    )
    data = await conn.wait_closed()
    conn.close()
    assert data == b""
    assert await session.close_reason() == "transport error"
    assert eio.clients_count == 0


async def test_the_http_side_of_an_upgraded_connection_is_released(eio_server, monkeypatch) -> None:
    """Once the 101 is sent the WebSocket owns the transport; the HTTP protocol object (its
    parser, timer and buffers) must not stay alive for the life of the connection."""
    made: list[weakref.ref[builtin.HttpConnection]] = []

    class Recorded(builtin.HttpConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(builtin, "HttpConnection", Recorded)
    running, eio, sessions = await _server(eio_server)
    ws, _ = await open_websocket(running.port)
    session = await sessions.next()
    ws.send("4hello")
    assert await session.message() == "hello"
    assert await ws.recv_packet() == "4hello"  # the Sessions helper echoes
    gc.collect()
    assert len(made) == 1
    assert made[0]() is None
    ws.send("4still served")  # the WebSocket works without it
    assert await session.message() == "still served"
    assert await ws.recv_packet() == "4still served"
    assert eio.clients_count == 1
