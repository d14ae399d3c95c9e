"""sio.Server mounted beside a Starlette app under uvicorn, driven by the official client.

Front-end specific: Starlette keeps its routes and lifespan, sio serves /socket.io/.
``await io.close()`` disconnects every socket with ``server shutting down``; uvicorn's own
shutdown closes WebSockets (1012) before lifespan shutdown, so sockets still open then
get ``transport close``, and lifespan shutdown closes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import sio
from tests.integration.conftest import _start_uvicorn
from tests.integration.rawclient import bounded, request
from tests.integration.siopeer import SioPeer


async def test_sio_beside_starlette_shuts_down_with_server_shutting_down(node_peers) -> None:
    lifespan_events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lifespan_events.append("startup")
        yield
        lifespan_events.append("shutdown")

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello from starlette")

    io = sio.Server()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        socket.on("disconnect", reasons.put_nowait)
        socket.on("ping-me", lambda *args: socket.emit("pong-you", *args))

    app = io.asgi_app(Starlette(routes=[Route("/hello", hello)], lifespan=lifespan))
    server, task, port = await _start_uvicorn(app, lifespan="on")
    try:
        assert lifespan_events == ["startup"]
        page = await request(port, "GET", "/hello")
        assert (page.status, page.text) == (200, "hello from starlette")
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        assert (await peer.connect())["event"] == "connect"
        peer.emit("ping-me", {"n": 1}, b"\x01")
        assert await peer.event("pong-you") == [{"n": 1}, b"\x01"]
        await io.close()
        assert await bounded(reasons.get()) == "server shutting down"
        assert (await peer.expect("disconnect"))["reason"] == "transport close"
    finally:
        server.should_exit = True
        await bounded(task)
    assert lifespan_events == ["startup", "shutdown"]
    assert io.engine.clients_count == 0
