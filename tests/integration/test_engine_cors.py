"""CORS and the sid cookie, on polling and on WebSocket upgrades.

CORS is off unless configured (no headers at all); when configured, the headers are those of
Node's ``cors`` package (tests/unit/test_cors.py compares them with it), and origins an allow-list
does not allow are refused on HTTP and on WebSocket (403, code 4; before the switch), as
docs/architecture.md ("Rules") says. Every test runs under the built-in front end and under uvicorn.
"""

from __future__ import annotations

from typing import Any

import pytest

from sio.engine import EngineServer
from tests.integration.rawclient import (
    Bystander,
    ConnectionErrors,
    PollingClient,
    RawWebSocket,
    Sessions,
    query,
    request,
)

ALLOWED = "https://allowed.example"
OTHER = "https://other.example"


def cors_headers(headers: dict[str, str]) -> dict[str, str]:
    """The Access-Control-* headers of a response."""
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


async def test_cors_is_off_by_default(eio_server) -> None:
    """No configuration: no CORS header on any answer, OPTIONS is no preflight (code 2), and
    WebSocket upgrades are accepted from any origin."""
    running = await eio_server()
    eio: EngineServer = running.app
    Sessions(eio)
    origin = {"Origin": OTHER}
    client = await PollingClient.open(running.port, headers=origin)
    assert cors_headers(client.response.headers) == {}
    response = await client.post("4hi", headers=origin)
    assert response.status == 200
    assert cors_headers(response.headers) == {}
    preflight = await request(
        running.port, "OPTIONS", query(), {**origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 400
    assert preflight.json() == {"code": 2, "message": "Bad handshake method"}
    assert cors_headers(preflight.headers) == {}
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"), origin)
    assert await ws.recv() != ""
    ws.close()


REFLECTED = {"access-control-allow-origin": ALLOWED}
WITH_CREDENTIALS = {**REFLECTED, "access-control-allow-credentials": "true"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # Node's "*": the literal star, never the request's origin (so no credentialed requests).
        ({"cors_allowed_origins": "*"}, {"access-control-allow-origin": "*"}),
        (
            {"cors_allowed_origins": "*", "cors_credentials": True},
            {"access-control-allow-origin": "*", "access-control-allow-credentials": "true"},
        ),
        ({"cors_allowed_origins": [ALLOWED, OTHER]}, REFLECTED),
        ({"cors_allowed_origins": ALLOWED, "cors_credentials": True}, WITH_CREDENTIALS),
        ({"cors_allowed_origins": True}, REFLECTED),
        (
            {"cors": {"origin": [ALLOWED], "credentials": True, "exposedHeaders": ["x-id"]}},
            {**WITH_CREDENTIALS, "access-control-expose-headers": "x-id"},
        ),
    ],
    ids=["star", "star-credentials", "list", "single-credentials", "reflect", "node-options"],
)
async def test_allowed_origins_get_the_cors_headers(
    eio_server, options: dict[str, Any], expected: dict[str, str]
) -> None:
    """An allowed origin gets Node's CORS headers on every answer: handshake, poll, POST, and
    error answers too (so that the browser can read them)."""
    running = await eio_server(**options)
    eio: EngineServer = running.app
    Sessions(eio)
    origin = {"Origin": ALLOWED}
    client = await PollingClient.open(running.port, headers=origin)
    assert cors_headers(client.response.headers) == expected
    if expected["access-control-allow-origin"] != "*":
        assert client.response.headers["vary"] == "Origin"
    post = await client.post("4echo", headers=origin)
    assert cors_headers(post.headers) == expected
    poll = await client.get(headers=origin)
    assert poll.packets() == ["4echo"]
    assert cors_headers(poll.headers) == expected
    error = await request(running.port, "GET", query(sid="unknown"), origin)
    assert error.status == 400
    assert cors_headers(error.headers) == expected
    # No Origin header (same-origin or not a browser): served; as Node, no origin is reflected
    # (the fixed headers, "*" and credentials, are sent whatever the request).
    plain = await PollingClient.open(running.port)
    assert cors_headers(plain.response.headers).get("access-control-allow-origin") in (None, "*")
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"), origin)
    assert (await ws.recv()).startswith("0")
    ws.close()


@pytest.mark.parametrize("credentials", [True, False])
async def test_preflight_is_answered_204(eio_server, credentials: bool) -> None:
    """OPTIONS from an allowed origin: 204 with the methods, the requested headers and (unless
    turned off) credentials; no session is created."""
    running = await eio_server(cors_allowed_origins=[ALLOWED], cors_credentials=credentials)
    eio: EngineServer = running.app
    headers = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-token",
    }
    response = await request(running.port, "OPTIONS", query(), headers)
    assert response.status == 204
    assert response.body == b""
    got = cors_headers(response.headers)
    assert got["access-control-allow-origin"] == ALLOWED
    assert got["access-control-allow-methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"  # Node's default
    assert got["access-control-allow-headers"] == "content-type, x-token"
    assert got.get("access-control-allow-credentials") == ("true" if credentials else None)
    assert eio.clients_count == 0


async def test_disallowed_origin_is_refused_on_http_and_websocket(eio_server) -> None:
    """With a list configured, another origin gets 403 (code 4) on handshake, POST, preflight,
    and a refused WebSocket upgrade (the same 403, no 101, for a new session and for an upgrade);
    allowed clients carry on."""
    running = await eio_server(cors_allowed_origins=[ALLOWED])
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    errors = ConnectionErrors(eio)
    bystander = await Bystander.join(running.port, sessions)
    client = await PollingClient.open(running.port, headers={"Origin": ALLOWED})
    session = await sessions.next()
    evil = {"Origin": "https://evil.example"}

    handshake = await request(running.port, "GET", query(), evil)
    assert handshake.status == 403
    assert handshake.json() == {"code": 4, "message": "Origin not allowed"}
    assert "access-control-allow-origin" not in handshake.headers
    assert await errors.next() == (4, "Origin not allowed")

    post = await client.post("4from evil", headers=evil)
    assert post.status == 403
    assert await errors.next() == (4, "Origin not allowed")
    preflight = await request(
        running.port, "OPTIONS", query(), {**evil, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 403
    assert await errors.next() == (4, "Origin not allowed")

    for target in (query(transport="websocket"), query(transport="websocket", sid=client.sid)):
        response, ws = await RawWebSocket.attempt(running.port, target, evil)
        assert ws is None
        assert response.status == 403  # as the poll's refusal (Node checks no WebSocket origin)
        assert response.json() == {"code": 4, "message": "Origin not allowed"}
        assert await errors.next() == (4, "Origin not allowed")

    assert session.messages.empty()
    assert not session.socket.upgrading
    assert eio.clients_count == 2
    await client.roundtrip("allowed")
    await bystander.check()


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (True, "io={sid}; Path=/; HttpOnly; SameSite=Lax"),
        ("sticky", "sticky={sid}; Path=/; HttpOnly; SameSite=Lax"),
        (
            {
                "name": "lb",
                "path": "/app",
                "httpOnly": False,
                "sameSite": "strict",
                "secure": True,
                "max_age": 60,
            },
            "lb={sid}; Max-Age=60; Path=/app; Secure; SameSite=Strict",
        ),
    ],
    ids=["default", "named", "options"],
)
async def test_the_sid_cookie_is_set_on_the_handshake_when_asked(eio_server, cookie, expected: str) -> None:
    """``cookie`` set: the polling handshake answer carries ``Set-Cookie`` with the sid (Node's
    ``cookie`` serialisation); later answers do not."""
    running = await eio_server(cookie=cookie)
    eio: EngineServer = running.app
    Sessions(eio)
    client = await PollingClient.open(running.port)
    assert client.response.headers["set-cookie"] == expected.format(sid=client.sid)
    await client.send("4x")
    assert "set-cookie" not in (await client.get()).headers


async def test_no_cookie_by_default(eio_server) -> None:
    """Without ``cookie``, no answer sets one."""
    running = await eio_server()
    client = await PollingClient.open(running.port)
    assert "set-cookie" not in client.response.headers
