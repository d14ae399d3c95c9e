"""The Engine.IO server against the official JavaScript ``engine.io-client`` (run with node).

Every test runs under the built-in uvloop front end and under the ASGI app in uvicorn.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sio.engine import EngineServer, EngineSocket
from tests.integration.rawclient import CLOCK_SLACK, Sessions

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


def track(eio: EngineServer, echo: bool = True) -> Sessions:
    """Collect each new session; echo messages back when asked."""
    return Sessions(eio, echo)


async def connect(node_peers, running, mode: str, **options: Any):
    options = {"path": "/engine.io/", "transports": TRANSPORTS[mode], **options}
    return await node_peers("eio_peer.js", running.url, json.dumps(options))


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_text_and_binary_both_ways_with_server_pings(eio_server, node_peers, mode: str) -> None:
    running = await eio_server(ping_interval=0.2, ping_timeout=1.0)
    eio: EngineServer = running.app
    sessions = track(eio)

    @eio.on("connection")
    def greet(socket: EngineSocket) -> None:
        socket.send("welcome ☃")
        socket.send(b"\x00\xff")

    client = await connect(node_peers, running, mode)
    handshake = await client.expect("handshake")
    assert set(handshake["data"]) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert handshake["data"]["pingInterval"] == 200
    assert handshake["data"]["pingTimeout"] == 1000
    assert handshake["data"]["maxPayload"] == 1_000_000
    assert handshake["data"]["upgrades"] == ([] if mode == "websocket" else ["websocket"])
    await client.expect("open", transport=TRANSPORTS[mode][0])
    session = await sessions.next()
    assert session.socket.id == handshake["data"]["sid"]
    assert session.socket.remote_address == "127.0.0.1"
    assert eio.clients_count == 1
    await client.expect("message", text="welcome ☃")
    await client.expect("message", binary="00ff")
    if mode == "upgrade":
        # The upgrade may complete before or after the greeting arrives.
        if not client.seen("upgrade"):
            await client.expect("upgrade", transport="websocket")
        assert await session.upgraded == "websocket"
        assert session.socket.transport == "websocket"

    client.command("send", text="héllo")
    client.command("sendBinary", hex="010203")
    assert await session.messages.get() == "héllo"
    assert await session.messages.get() == b"\x01\x02\x03"
    await client.expect("message", text="héllo")
    await client.expect("message", binary="010203")
    await client.expect("ping")
    await client.expect("ping")  # the heartbeat keeps going

    client.command("close")
    reason, _ = await session.closed
    assert reason == "transport close"
    assert eio.clients_count == 0


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_ping_timeout_is_punctual_and_never_early(eio_server, node_peers, mode: str) -> None:
    running = await eio_server(ping_interval=0.3, ping_timeout=0.2)
    eio: EngineServer = running.app
    sessions = track(eio)
    before_open = asyncio.get_running_loop().time()  # before the server arms anything for the session
    client = await connect(node_peers, running, mode)
    await client.expect("open")
    client.command("dropPongs")
    await client.expect("ack")
    session = await sessions.next()
    loop = asyncio.get_running_loop()
    heartbeat = session.socket._heartbeat_timer
    closing: list[tuple[float, float]] = []
    session.socket.on("close", lambda *_: closing.append((loop.time(), heartbeat.deadline)))
    reason, _ = await session.closed
    assert reason == "ping timeout"
    closed_at, pong_deadline = closing[0]
    assert closed_at >= pong_deadline - CLOCK_SLACK  # never before the pong's deadline
    # ... which is ping_interval + ping_timeout (500 ms here) after the handshake at the earliest.
    # (The lower bound is read before the handshake: a clock read in our own connection handler
    # comes after the server armed its timers, and a preempted test could see it late.)
    assert closed_at - before_open >= 0.5 - CLOCK_SLACK
    assert eio.clients_count == 0
    await client.expect("close")


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_server_close_is_forced_close_and_the_client_sees_it(eio_server, node_peers, mode: str) -> None:
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = track(eio, echo=False)
    client = await connect(node_peers, running, mode)
    await client.expect("open")
    session = await sessions.next()
    if mode == "upgrade":
        await session.upgraded
    session.socket.send("last words")
    session.socket.close()
    await client.expect("message", text="last words")  # the buffer is flushed before closing
    closed = await client.expect("close")
    assert closed["reason"] in ("transport close", "forced close")
    reason, _ = await session.closed
    assert reason == "forced close"
    assert eio.clients_count == 0


async def test_websocket_message_over_the_limit_is_a_transport_error(eio_server, node_peers) -> None:
    running = await eio_server(max_http_buffer_size=100)
    eio: EngineServer = running.app
    sessions = track(eio)
    client = await connect(node_peers, running, "websocket")
    await client.expect("open")
    session = await sessions.next()
    client.command("send", text="x" * 200)
    reason, _ = await session.closed
    assert reason == "transport error"
    await client.expect("close")
    assert eio.clients_count == 0


async def test_many_clients_at_once_are_isolated(eio_server, node_peers) -> None:
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = track(eio)
    clients = [await connect(node_peers, running, mode) for mode in TRANSPORTS for _ in range(2)]
    for i, client in enumerate(clients):
        await client.expect("open")
        client.command("send", text=f"client {i}")
    for i, client in enumerate(clients):
        await client.expect("message", text=f"client {i}")
    seen = [await sessions.next() for _ in clients]
    assert len({s.socket.id for s in seen}) == len(clients)
    clients[0].command("close")
    closed = next(s for s in seen if s.socket.id == clients[0].seen("open")[0]["id"])
    assert (await closed.closed)[0] == "transport close"
    assert eio.clients_count == len(clients) - 1
    clients[1].command("send", text="still here")
    await clients[1].expect("message", text="still here")
