"""The ASGI front end mounted beside a Starlette app under uvicorn.

Front-end specific: ``eio.asgi_app(other_app=starlette_app)`` under uvicorn with lifespan
on. Other paths (HTTP and WebSocket) reach Starlette, lifespan events reach Starlette's
handlers, the engine's path reaches the engine, and the engine closes on shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sio.engine import EngineServer
from tests.integration.conftest import _start_uvicorn
from tests.integration.rawclient import (
    PollingClient,
    RawWebSocket,
    Sessions,
    bounded,
    open_websocket,
    query,
    request,
)


def starlette_app(events: list[str]) -> Starlette:
    """A small Starlette app recording its lifespan events."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello from starlette {request.query_params.get('name', '')}")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"starlette says {text}")
        await websocket.close()

    return Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", echo)], lifespan=lifespan)


async def test_engine_beside_starlette_under_uvicorn() -> None:
    """Starlette serves its paths and lifespan, sio serves its own; shutdown closes both."""
    events: list[str] = []
    eio = EngineServer(path="/engine.io/")
    sessions = Sessions(eio)
    server, task, port = await _start_uvicorn(eio.asgi_app(other_app=starlette_app(events)), lifespan="on")
    try:
        assert events == ["startup"]

        hello = await request(port, "GET", "/hello?name=sio")
        assert (hello.status, hello.text) == (200, "hello from starlette sio")
        missing = await request(port, "GET", "/missing")
        assert missing.status == 404
        assert missing.text == "Not Found"  # Starlette's 404, not the engine's

        ws = await RawWebSocket.connect(port, "/ws")
        ws.send("hi")
        assert await ws.recv() == "starlette says hi"
        await ws.closed_by_server()

        client = await PollingClient.open(port)
        polling = await sessions.next()
        await client.roundtrip("engine over polling")
        ws, handshake = await open_websocket(port)
        websocket = await sessions.next()
        assert websocket.socket.id == handshake["sid"]
        await ws.roundtrip("engine over websocket")
        error = await request(port, "GET", query(sid="nope"))
        assert error.json() == {"code": 1, "message": "Session ID unknown"}
        assert eio.clients_count == 2
    finally:
        server.should_exit = True
        await bounded(task)

    assert events == ["startup", "shutdown"]
    # uvicorn closes the WebSocket itself; the engine closes what is left on lifespan shutdown.
    assert await websocket.close_reason() == "transport close"
    assert await polling.close_reason() == "forced close"
    assert eio.clients_count == 0


async def test_engine_alone_answers_lifespan_and_other_paths() -> None:
    """Without another app the engine completes lifespan itself, answers 404 elsewhere (HTTP
    and WebSocket) and closes its sessions on shutdown."""
    eio = EngineServer(path="/engine.io/")
    sessions = Sessions(eio)
    server, task, port = await _start_uvicorn(eio.asgi_app(), lifespan="on")
    try:
        assert (await request(port, "GET", "/hello")).status == 404
        response, ws = await RawWebSocket.attempt(port, "/ws")
        assert ws is None
        assert response.status == 404
        await PollingClient.open(port)
        session = await sessions.next()
    finally:
        server.should_exit = True
        await bounded(task)
    assert await session.close_reason() == "forced close"
    assert eio.clients_count == 0
