"""sio's uvicorn WebSocket protocol (sio.uvicorn): FastAPI and Socket.IO on one uvicorn, sio on its fast path.

Real peers: the official socket.io-client (node), python-socketio's AsyncClient, the ``websockets``
client for FastAPI's own WebSocket route, uvicorn itself (in process and as its CLI).
Every uvicorn-parametrized test of tests/integration runs under this protocol too (conftest's
``uvicorn-sio`` front end); this file covers what is particular to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket as socketlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio
import uvicorn
import websockets
from websockets.exceptions import InvalidStatus

import sio
from sio.frontends.builtin import WebSocketConnection
from sio.uvicorn import WebSocketProtocol
from tests.integration import uvicorn_app
from tests.integration.processes import OutputProcess
from tests.integration.rawclient import RawWebSocket, bounded, query, request
from tests.integration.siopeer import SioPeer

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def uvicorn_server(app: Any, ws: Any = WebSocketProtocol, **config: Any) -> AsyncIterator[int]:
    """``app`` under uvicorn on a free loopback port, with lifespan; stopped (gracefully) at the end."""
    sock = socketlib.socket()
    sock.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, loop="none", log_level="warning", ws=ws, **config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)  # (uvicorn has no readiness event)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await bounded(task, 20)


async def until_upgraded(peer: SioPeer) -> None:
    """Wait until the client's engine reported its upgrade to WebSocket (seen already, or to come)."""
    while not peer.node.seen("upgrade"):
        await peer.node.next_event()


def engine_channels(io: sio.Server) -> list[Any]:
    """The WebSocket channel of each engine session (what writes its frames)."""
    transports = [conn._transport for conn in io.engine.clients.values()]
    return [transport.channel for transport in transports if hasattr(transport, "channel")]


async def test_fastapi_and_socketio_share_uvicorn_with_sio_on_its_own_framing(node_peers) -> None:
    io, _, app, lifespan_events = uvicorn_app.build()
    async with uvicorn_server(app) as port:
        url = f"http://127.0.0.1:{port}"
        assert lifespan_events == ["startup"]
        # The official client, direct WebSocket and polling-then-upgrade.
        direct = await SioPeer.start(node_peers, url, transports=["websocket"])
        upgraded = await SioPeer.start(node_peers, url)
        for peer in (direct, upgraded):
            assert (await peer.connect())["event"] == "connect"
            answer = await peer.call("echo", {"n": 1}, b"\x00\xff")
            assert answer["args"] == [{"n": 1}, b"\x00\xff"]
        await until_upgraded(upgraded)
        # python-socketio's client.
        client = socketio.AsyncClient(reconnection=False)
        await bounded(client.connect(url, transports=["websocket"]))
        assert await bounded(client.call("echo", [1, "two"])) == [1, "two"]
        # Each of the three sessions is on sio's WebSocketConnection, not on ASGI messages.
        channels = engine_channels(io)
        assert len(channels) == 3
        assert all(isinstance(channel, WebSocketConnection) for channel in channels)
        # FastAPI's routes on the same port: HTTP, and a WebSocket route through standard ASGI messages.
        page = await request(port, "GET", "/hello")
        assert (page.status, json.loads(page.body)) == (200, {"hello": "world"})
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
            await ws.send("hi")
            assert await bounded(ws.recv()) == "echo:hi"
            await ws.send(b"\x01\x02")
            assert await bounded(ws.recv()) == b"\x01\x02"
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/deny"):
                pass
        assert refused.value.response.status_code == 403
        assert await bounded(client.call("echo", "still here")) == "still here"
        await client.disconnect()


async def test_the_101_is_uvicorns_and_the_engine_decides_permessage_deflate() -> None:
    """uvicorn's default headers are on the 101; sio's ``per_message_deflate`` applies, not uvicorn's."""
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    for options, negotiated in (({}, False), ({"per_message_deflate": True}, True)):
        _, _, app, _ = uvicorn_app.build(**options)
        async with uvicorn_server(app) as port:  # (uvicorn's ws_per_message_deflate is on by default)
            ws = await RawWebSocket.connect(port, query("/socket.io/", EIO="4", transport="websocket"), offer)
            headers = ws.response.headers
            assert headers["server"] == "uvicorn"
            assert ("permessage-deflate" in headers.get("sec-websocket-extensions", "")) is negotiated
            assert (await ws.recv()).startswith("0{")
            ws.send("40")
            assert (await ws.recv()).startswith("40{")
            ws.close()


async def test_refusals_are_the_engines_answer_on_the_http_response_extension() -> None:
    """A refused Engine.IO WebSocket gets the status and JSON body a poll of the same cause gets."""
    _, _, app, _ = uvicorn_app.build()
    async with uvicorn_server(app) as port:
        response, ws = await RawWebSocket.attempt(port, query("/socket.io/", EIO="5", transport="websocket"))
        assert ws is None
        assert response.status == 400
        assert json.loads(response.body) == {"code": 5, "message": "Unsupported protocol version"}
        response, ws = await RawWebSocket.attempt(
            port, query("/socket.io/", EIO="4", transport="websocket", sid="nobody")
        )
        assert ws is None
        assert (response.status, json.loads(response.body)["code"]) == (400, 1)


@pytest.mark.parametrize("ws", [WebSocketProtocol, "websockets-sansio"], ids=["sio", "uvicorn"])
async def test_mounted_in_fastapi_and_behind_root_path(node_peers, ws: Any) -> None:
    """``api.mount("/realtime", io.asgi_app())`` serves /realtime/socket.io/; so does --root-path."""
    io = sio.Server()
    io.on("connection", lambda socket: socket.on("echo", lambda *args: args[-1](*args[:-1])))
    api = uvicorn_app.build()[1]
    api.mount("/realtime", io.asgi_app())
    async with uvicorn_server(api, ws) as port:
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", path="/realtime/socket.io")
        assert (await peer.connect())["event"] == "connect"
        assert (await peer.call("echo", "mounted"))["args"] == ["mounted"]
        await until_upgraded(peer)
        assert (await request(port, "GET", "/hello")).status == 200
        assert (await request(port, "GET", "/socket.io/?EIO=4&transport=polling")).status == 404
    # Behind a proxy that strips /api: uvicorn's root_path is prefixed to every path.
    _, _, app, _ = uvicorn_app.build()
    async with uvicorn_server(app, ws, root_path="/api") as port:
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}")
        assert (await peer.connect())["event"] == "connect"
        assert (await peer.call("echo", "proxied"))["args"] == ["proxied"]
        await until_upgraded(peer)
    await io.close()


async def test_uvicorn_shutdown_closes_sio_websockets_with_1012_then_runs_the_lifespan_shutdown(
    node_peers,
) -> None:
    io, _, app, lifespan_events = uvicorn_app.build()
    reasons: asyncio.Queue[str] = asyncio.Queue()
    io.on("connection", lambda socket: socket.on("disconnect", reasons.put_nowait))
    async with uvicorn_server(app) as port:
        raw = await RawWebSocket.connect(port, query("/socket.io/", EIO="4", transport="websocket"))
        assert (await raw.recv()).startswith("0{")
        raw.send("40")
        assert (await raw.recv()).startswith("40{")
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        assert (await peer.connect())["event"] == "connect"
    # uvicorn stopped: its shutdown closed our WebSockets as it closes its own (1012), then lifespan.
    assert await raw.closed_by_server() == (1012, "")
    assert sorted([await bounded(reasons.get()), await bounded(reasons.get())]) == ["transport close"] * 2
    assert lifespan_events == ["startup", "shutdown"]
    assert io.engine.clients == {}


async def test_uvicorn_cli_with_the_protocol_by_name(node_peers) -> None:
    """``uvicorn module:app --ws sio.uvicorn:WebSocketProtocol``, the way a user runs it."""
    with socketlib.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await OutputProcess.python(
        *("-m", "uvicorn", "tests.integration.uvicorn_app:app"),
        *("--ws", "sio.uvicorn:WebSocketProtocol", "--port", str(port)),
    )
    try:
        await process.wait_line("Uvicorn running on")
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        assert (await peer.connect())["event"] == "connect"
        assert (await peer.call("echo", "by name"))["args"] == ["by name"]
        await process.wait_line('"WebSocket /socket.io/.*" \\[accepted\\]')
        assert (await request(port, "GET", "/hello")).status == 200
    finally:
        # uvicorn shuts down gracefully, then raises the signal it caught again (its exit status).
        assert await process.stop() == -signal.SIGTERM
    assert any("lifespan shutdown" in line for line in process.lines)


async def test_other_websockets_get_exactly_uvicorns_asgi() -> None:
    """Not sio's: the scope, the subprotocol, the echo, the close code, a denial, a failure — the same
    as under uvicorn's own websockets-sansio protocol."""
    seen = {}
    for name, ws in (("uvicorn", "websockets-sansio"), ("sio", WebSocketProtocol)):
        scopes: list[dict[str, Any]] = []
        closes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        app = uvicorn_app.recording_websocket_app(scopes, closes)
        async with uvicorn_server(app, ws, root_path="/base") as port:
            outcomes = await uvicorn_app.drive_recording_app(port, closes)
        seen[name] = (uvicorn_app.comparable(scopes), outcomes)
    assert seen["sio"] == seen["uvicorn"]
    uvicorn_app.check_recorded(*seen["sio"])
