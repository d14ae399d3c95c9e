"""Servers on 127.0.0.1 (a free port each), under the built-in uvloop front end and under uvicorn.

Under uvicorn twice: with uvicorn's own WebSocket protocol (``uvicorn``: every message an ASGI
event) and with sio's (``uvicorn-sio``: sio.uvicorn.WebSocketProtocol, the engine's WebSockets on
sio's framing, any other WebSocket on uvicorn's).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import uvloop

from sio.engine import EngineServer
from sio.uvicorn import WebSocketProtocol
from tests.peers import NodePeer

FRONTENDS = ["uvloop", "uvicorn", "uvicorn-sio"]


def pytest_asyncio_loop_factories(
    config: Any, item: Any
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every integration test runs on uvloop."""
    return {"uvloop": uvloop.new_event_loop}


class Running:
    """A server started for a test, with its base URL."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


async def _start_uvicorn(
    asgi_app: Any, lifespan: str = "off", ws: Any = "websockets-sansio"
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app, loop="none", lifespan=lifespan, log_level="warning", ws=ws)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    return server, task, port


@pytest.fixture(params=FRONTENDS)
def frontend(request: pytest.FixtureRequest) -> str:
    """The front end under test: the built-in one on uvloop, or the ASGI app under uvicorn (two ways)."""
    return request.param


@pytest.fixture
async def serve(frontend: str) -> AsyncIterator[Callable[[Any], Awaitable[Running]]]:
    """Start an engine (or any object with ``serve``/``asgi_app``/``close``) on the front end under test."""
    started: list[tuple[Any, Any]] = []

    async def start(app: Any) -> Running:
        if frontend == "uvloop":
            server = await app.serve("127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            started.append((app, None))
        else:
            ws = WebSocketProtocol if frontend == "uvicorn-sio" else "websockets-sansio"
            uv_server, task, port = await _start_uvicorn(app.asgi_app(), ws=ws)
            started.append((app, (uv_server, task)))
        return Running(app, port)

    yield start
    for app, uv in started:
        await app.close()
        if uv is not None:
            uv_server, task = uv
            uv_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


@pytest.fixture
async def eio_server(
    serve: Callable[[Any], Awaitable[Running]],
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Factory: an EngineServer with the given options, served for the test."""

    async def start(**options: Any) -> Running:
        options.setdefault("path", "/engine.io/")
        return await serve(EngineServer(**options))

    yield start


@pytest.fixture
async def node_peers() -> AsyncIterator[Callable[..., Awaitable[NodePeer]]]:
    """Factory for node peers; every peer is stopped after the test."""
    peers: list[NodePeer] = []

    async def start(script: str, *args: str) -> NodePeer:
        peer = await NodePeer.start(script, *args)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        await peer.stop()


@pytest.fixture
async def sio_server(
    serve: Callable[[Any], Awaitable[Running]],
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Factory: a sio.Server with the given options, served for the test."""
    import sio

    async def start(setup: Callable[[Any], None] | None = None, **options: Any) -> Running:
        io = sio.Server(**options)
        if setup is not None:
            setup(io)
        return await serve(io)

    yield start
