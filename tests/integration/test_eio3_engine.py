"""``allow_eio3``: the Engine.IO server against engine.io-client 3.5.6 (Engine.IO v3, what
socket.io-client 2.x rides on), run with node; every test under both front ends.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sio.engine import EngineServer, EngineSocket
from tests.integration.rawclient import ConnectionErrors, Sessions, query, request

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


async def connect(node_peers: Any, running: Any, mode: str, **options: Any) -> Any:
    options = {"path": "/engine.io/", "transports": TRANSPORTS[mode], **options}
    return await node_peers("eio_peer_v3.js", running.url, json.dumps(options))


@pytest.mark.parametrize("base64", [False, True], ids=["binary", "forceBase64"])
@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_text_and_binary_both_ways_and_the_client_pings(
    eio_server, node_peers, mode: str, base64: bool
) -> None:
    running = await eio_server(allow_eio3=True, ping_interval=0.2, ping_timeout=1.0)
    eio: EngineServer = running.app
    sessions = Sessions(eio)

    @eio.on("connection")
    def greet(socket: EngineSocket) -> None:
        socket.send("welcome ☃😀")
        socket.send(b"\x00\xff")

    client = await connect(node_peers, running, mode, forceBase64=base64)
    handshake = await client.expect("handshake")
    assert set(handshake["data"]) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert (handshake["data"]["pingInterval"], handshake["data"]["pingTimeout"]) == (200, 1000)
    assert handshake["data"]["upgrades"] == ([] if mode == "websocket" else ["websocket"])
    session = await sessions.next()
    assert session.socket.id == handshake["data"]["sid"] and session.socket.protocol == 3
    # Node's engine.io-client 3 has no XHR2 (xmlhttprequest-ssl has no responseType): it polls
    # with b64 always; a browser's does not (tests/integration/test_eio3_browser.py).
    polls = mode != "websocket"
    assert session.socket.request.query.get("b64") == ("1" if base64 or polls else None)
    await client.expect("message", text="welcome ☃😀")  # its length counts the emoji as two
    await client.expect("message", binary="00ff")
    if mode == "upgrade":
        if not client.seen("upgrade"):
            await client.expect("upgrade", transport="websocket")
        assert await session.upgraded == "websocket"

    client.command("send", text="héllo 😀")
    client.command("sendBinary", hex="010203")
    assert await session.message() == "héllo 😀"
    assert await session.message() == b"\x01\x02\x03"
    await client.expect("message", text="héllo 😀")  # the echoes
    await client.expect("message", binary="010203")
    # The client pings every 200 ms and the server answers; the server sends no ping of its own.
    for _ in range(3):
        await client.expect("pong")
    assert len(client.seen("ping")) >= 3 and not session.closed.done()

    client.command("close")
    reason = await session.close_reason()
    if mode == "polling":
        # engine.io-client 3 writes its close packet in a POST and aborts its pending GET in the same
        # turn: when the abort reaches the server first, the poll's connection closed before the
        # close packet came, which is a "transport error" (Node's engine.io says the same), else
        # the packet is read first ("transport close"). The client's race: 2 runs in about 40 here.
        assert reason in ("transport close", "transport error")
    else:
        assert reason == "transport close"
    assert eio.clients_count == 0


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_a_client_that_stops_pinging_is_closed_with_ping_timeout(
    eio_server, node_peers, mode: str
) -> None:
    running = await eio_server(allow_eio3=True, ping_interval=0.2, ping_timeout=0.2)
    sessions = Sessions(running.app)
    client = await connect(node_peers, running, mode)
    await client.expect("open")
    session = await sessions.next()
    if mode == "upgrade":  # the deadline carries over the upgrade (Node's does not)
        assert await session.upgraded == "websocket"
    await client.expect("pong")
    client.command("dropPings")
    await client.expect("ack", cmd="dropPings")
    assert await session.close_reason() == "ping timeout"
    close = await client.expect("close")
    assert close["reason"] == "transport close"


async def test_without_allow_eio3_a_v3_client_is_refused_with_code_5(eio_server, node_peers) -> None:
    running = await eio_server()
    errors = ConnectionErrors(running.app)
    response = await request(running.port, "GET", query(EIO="3"))
    assert (response.status, response.json()) == (400, {"code": 5, "message": "Unsupported protocol version"})
    assert await errors.next() == (5, "Unsupported protocol version")
    client = await connect(node_peers, running, "polling")
    error = await client.expect("error")
    assert (error["message"], error["description"]) == ("xhr poll error", "400")
    assert await errors.next() == (5, "Unsupported protocol version")
    assert running.app.clients_count == 0
