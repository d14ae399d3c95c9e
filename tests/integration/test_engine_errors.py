"""Handshakes and every Engine.IO error answer, spoken by hand over raw HTTP and WebSocket.

Statuses and bodies are Node's ``engine.io`` 6.6: ``{"code": N, "message": "..."}`` with 400
(403 for code 4) on HTTP, ``400`` with the bare message on a refused WebSocket upgrade.
Every test runs under the built-in front end and under uvicorn.
"""

from __future__ import annotations

import asyncio

import pytest

from sio.engine import EngineServer
from tests.integration.rawclient import (
    WS_HEADERS,
    Bystander,
    ConnectionErrors,
    PollingClient,
    RawHttp,
    RawWebSocket,
    Sessions,
    bounded,
    open_websocket,
    query,
    request,
)

ERROR_CASES = {
    # name: (server options, method, request target, code, message)
    "unknown transport": ({}, "GET", query(transport="carrier-pigeon"), 0, "Transport unknown"),
    "missing transport": ({}, "GET", query(transport=None), 0, "Transport unknown"),
    "transport not enabled": (
        {"transports": ["websocket"]},
        "GET",
        query(),
        0,
        "Transport unknown",
    ),
    "unknown sid on GET": ({}, "GET", query(sid="no-such-session"), 1, "Session ID unknown"),
    "unknown sid on POST": ({}, "POST", query(sid="no-such-session"), 1, "Session ID unknown"),
    "POST handshake": ({}, "POST", query(), 2, "Bad handshake method"),
    "PUT handshake": ({}, "PUT", query(), 2, "Bad handshake method"),
    "websocket transport without upgrade": ({}, "GET", query(transport="websocket"), 3, "Bad request"),
    "EIO=3": ({}, "GET", query(EIO="3"), 5, "Unsupported protocol version"),
    "EIO=5": ({}, "GET", query(EIO="5"), 5, "Unsupported protocol version"),
    "missing EIO": ({}, "GET", query(EIO=None), 5, "Unsupported protocol version"),
}


@pytest.mark.parametrize("case", ERROR_CASES)
async def test_error_answers_have_nodes_status_and_json_body(eio_server, case: str) -> None:
    """Each refusal: Node's status, ``application/json``, the code and message, a
    ``connection_error`` event, no session left behind, and other clients untouched."""
    options, method, target, code, message = ERROR_CASES[case]
    running = await eio_server(**options)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    errors = ConnectionErrors(eio)
    bystander = await Bystander.join(running.port, sessions) if "websocket" in eio.transports else None

    response = await request(running.port, method, target)

    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": code, "message": message}
    assert await errors.next() == (code, message)
    assert eio.clients_count == (1 if bystander else 0)
    if bystander:
        await bystander.check()
        bystander.close()


async def test_polling_request_for_a_websocket_session_is_a_transport_mismatch(eio_server) -> None:
    """A polling GET or POST with the sid of a WebSocket session: 400, code 3; the session lives on."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    errors = ConnectionErrors(eio)
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()

    for method in ("GET", "POST"):
        response = await request(running.port, method, query(sid=handshake["sid"]), body="4hi")
        assert response.status == 400
        assert response.json() == {"code": 3, "message": "Bad request"}
        assert await errors.next() == (3, "Bad request")

    assert session.messages.empty()  # the POST was not delivered
    await ws.roundtrip("unaffected")
    assert eio.clients_count == 1
    ws.close()
    assert await session.close_reason() == "transport close"
    assert eio.clients_count == 0


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_handshake_open_packet_has_exactly_the_spec_fields(eio_server, transport: str) -> None:
    """The open packet: sid, upgrades, pingInterval, pingTimeout (ms) and maxPayload, nothing else."""
    running = await eio_server(ping_interval=12.5, ping_timeout=7.0, max_http_buffer_size=4321)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    if transport == "polling":
        client = await PollingClient.open(running.port)
        assert client.response.headers["content-type"] == "text/plain; charset=UTF-8"
        assert client.response.packets() == [client.response.text]  # the open packet alone
        handshake = client.handshake
    else:
        ws, handshake = await open_websocket(running.port)
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert handshake["upgrades"] == (["websocket"] if transport == "polling" else [])
    assert handshake["pingInterval"] == 12500
    assert handshake["pingTimeout"] == 7000
    assert handshake["maxPayload"] == 4321
    assert isinstance(handshake["sid"], str) and handshake["sid"]
    session = await sessions.next()
    assert session.socket.id == handshake["sid"]
    assert session.socket.transport == transport
    assert eio.clients_count == 1
    if transport == "websocket":
        ws.close()
        assert await session.close_reason() == "transport close"
        assert eio.clients_count == 0


@pytest.mark.parametrize(
    ("options", "upgrades"),
    [
        ({"allow_upgrades": False}, []),
        ({"transports": ["polling"]}, []),
    ],
    ids=["upgrades disabled", "polling only"],
)
async def test_open_packet_offers_no_upgrade_when_there_is_none(eio_server, options, upgrades) -> None:
    """``upgrades`` lists only what the server would accept, and an upgrade attempt is refused."""
    running = await eio_server(**options)
    eio: EngineServer = running.app
    Sessions(eio)
    errors = ConnectionErrors(eio)
    client = await PollingClient.open(running.port)
    assert client.handshake["upgrades"] == upgrades
    response, ws = await RawWebSocket.attempt(running.port, query(transport="websocket", sid=client.sid))
    assert ws is None
    assert response.status == 400
    code, _ = await errors.next()
    assert code in (0, 3)
    # The session is still there, on polling.
    assert eio.clients_count == 1
    await client.roundtrip("after the refused upgrade")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/engine.iox/?EIO=4&transport=polling"), ("POST", "/other/path")],
)
async def test_unknown_paths_are_404(eio_server, method: str, path: str) -> None:
    """Requests outside the engine's path get a 404 and create nothing."""
    running = await eio_server()
    eio: EngineServer = running.app
    response = await request(running.port, method, path, body="4x" if method == "POST" else b"")
    assert response.status == 404
    assert eio.clients_count == 0


async def test_websocket_to_an_unknown_path_is_refused(eio_server) -> None:
    """A WebSocket upgrade outside the engine's path is not accepted (404)."""
    running = await eio_server()
    eio: EngineServer = running.app
    response, ws = await RawWebSocket.attempt(running.port, "/elsewhere/?EIO=4&transport=websocket")
    assert ws is None
    assert response.status == 404
    assert eio.clients_count == 0


@pytest.mark.parametrize(
    "target",
    [
        query(transport="websocket", sid="no-such-session"),
        query(transport="websocket", EIO="3"),
        query(transport="nope"),
    ],
    ids=["unknown sid", "EIO=3", "unknown transport"],
)
async def test_refused_websocket_upgrades_get_400_before_the_switch(eio_server, target: str) -> None:
    """No 101 and no session: the refusal a poll of the same cause gets (400 and Node's JSON error
    body; Node's abortUpgrade answers the message as text)."""
    running = await eio_server()
    eio: EngineServer = running.app
    errors = ConnectionErrors(eio)
    response, ws = await RawWebSocket.attempt(running.port, target)
    assert ws is None
    assert response.status == 400
    code, message = await errors.next()
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": code, "message": message}
    assert code in (0, 1, 5)
    assert eio.clients_count == 0


def _allow_request(kind: str, verdict: bool, calls: list[dict[str, str]]):
    if kind == "sync":

        def allow(exchange) -> bool:
            calls.append(dict(exchange.query))
            return verdict

        return allow

    async def allow_async(exchange) -> bool:
        calls.append(dict(exchange.query))
        await asyncio.sleep(0)  # a real suspension point, as a database lookup would be
        return verdict

    return allow_async


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_allow_request_refusing_is_403_forbidden(eio_server, kind: str) -> None:
    """``allow_request`` returning False: 403 ``{"code":4,"message":"Forbidden"}`` on HTTP,
    the same 403 and body for a WebSocket (no 101), and no session either way."""
    calls: list[dict[str, str]] = []
    running = await eio_server(allow_request=_allow_request(kind, False, calls))
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    errors = ConnectionErrors(eio)

    response = await request(running.port, "GET", query(token="abc"))
    assert response.status == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": 4, "message": "Forbidden"}
    assert await errors.next() == (4, "Forbidden")
    assert calls[-1]["token"] == "abc"

    response, ws = await RawWebSocket.attempt(running.port, query(transport="websocket"))
    assert ws is None
    assert response.status == 403
    assert response.json() == {"code": 4, "message": "Forbidden"}
    assert await errors.next() == (4, "Forbidden")
    assert len(calls) == 2
    assert eio.clients_count == 0
    assert sessions.queue.empty()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_allow_request_accepting_lets_handshakes_through_and_is_not_asked_again(
    eio_server, kind: str
) -> None:
    """Accepted handshakes work on both transports; requests of an existing session skip the check."""
    calls: list[dict[str, str]] = []
    running = await eio_server(allow_request=_allow_request(kind, True, calls))
    eio: EngineServer = running.app
    Sessions(eio)
    client = await PollingClient.open(running.port)
    await client.roundtrip("polling")
    ws, _ = await open_websocket(running.port)
    await ws.roundtrip("websocket")
    assert [call.get("transport") for call in calls] == ["polling", "websocket"]
    assert eio.clients_count == 2
    ws.close()


async def test_allow_request_raising_refuses_with_its_message(eio_server) -> None:
    """An async ``allow_request`` that raises refuses the handshake (403, code 4, the error's text)."""

    async def allow(exchange) -> bool:
        raise RuntimeError("no entry")

    running = await eio_server(allow_request=allow)
    eio: EngineServer = running.app
    response = await request(running.port, "GET", query())
    assert response.status == 403
    assert response.json() == {"code": 4, "message": "no entry"}
    assert eio.clients_count == 0


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_client_leaving_while_async_allow_request_decides_leaves_no_session(
    eio_server, transport: str
) -> None:
    """The client drops its handshake while an async ``allow_request`` is still deciding; the
    verdict then says yes: no session is left behind, and later clients are served."""
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[bool] = loop.create_future()
    asked: asyncio.Future[None] = loop.create_future()
    noticed: asyncio.Future[None] = loop.create_future()

    async def allow(exchange) -> bool:
        if exchange.query.get("who") == "leaver":
            # Told when the front end sees the client go (polling: the request is aborted).
            exchange.on_abort = lambda: noticed.done() or noticed.set_result(None)
            asked.set_result(None)
        return await gate

    running = await eio_server(allow_request=allow)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    conn = await RawHttp.connect(running.port)
    if transport == "polling":
        conn.send_request("GET", query(who="leaver"))
    else:
        conn.send_request("GET", query(transport="websocket", who="leaver"), WS_HEADERS)
    await bounded(asked)
    conn.abort()
    if transport == "polling":
        await bounded(noticed)
    gate.set_result(True)

    # A later client; by the time it is served, the leaver's verdict has been applied.
    ws, _ = await open_websocket(running.port)
    late = await sessions.next()
    if late.socket.request.query.get("who") == "leaver":
        # The WebSocket verdict won the race with the disconnect: its session must close.
        assert transport == "websocket"
        assert await late.close_reason() == "transport close"
        late = await sessions.next()
    assert "who" not in late.socket.request.query
    await ws.roundtrip("served")
    assert eio.clients_count == 1
    ws.close()
