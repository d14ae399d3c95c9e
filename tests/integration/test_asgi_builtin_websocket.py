"""The ASGI app's WebSocket routes on sio's built-in front end (``other_asgi_app``): uvicorn's ASGI messages.

Real peers: the ``websockets`` client for the app's routes, the official socket.io-client on the
same port, a plain ASGI app compared with what uvicorn's own protocol gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus

import sio
from sio._sio_core import OP_TEXT, encode_close_frame, encode_frame
from tests.integration import uvicorn_app
from tests.integration.rawclient import bounded
from tests.integration.siopeer import SioPeer
from tests.integration.test_uvicorn_protocol import uvicorn_server


@contextlib.asynccontextmanager
async def builtin_server(app: Any, io: sio.Server | None = None, **options: Any) -> AsyncIterator[int]:
    """``app`` beside a sio server on the built-in front end; closed at the end."""
    io = io if io is not None else sio.Server()
    server = await io.serve("127.0.0.1", 0, other_asgi_app=app, **options)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        await io.close()


async def test_a_plain_asgi_websocket_app_sees_what_uvicorn_gives_it() -> None:
    seen = {}
    for name in ("uvicorn", "builtin"):
        scopes: list[dict[str, Any]] = []
        closes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        app = uvicorn_app.recording_websocket_app(scopes, closes)
        if name == "uvicorn":
            server = uvicorn_server(app, "websockets-sansio", root_path="/base")
        else:
            server = builtin_server(app, root_path="/base")
        async with server as port:
            outcomes = await uvicorn_app.drive_recording_app(port, closes)
        seen[name] = (uvicorn_app.comparable(scopes), outcomes)
    assert seen["builtin"] == seen["uvicorn"]
    uvicorn_app.check_recorded(*seen["builtin"])


async def test_fastapi_websocket_routes_beside_socketio_on_one_port(node_peers) -> None:
    io, api, _, _ = uvicorn_app.build()
    async with builtin_server(api, io) as port:
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}")
        assert (await peer.connect())["event"] == "connect"
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
            await ws.send("hi")
            assert await bounded(ws.recv()) == "echo:hi"
            await ws.send(b"\x01\x02")
            assert await bounded(ws.recv()) == b"\x01\x02"
            assert (await peer.call("echo", "meanwhile"))["args"] == ["meanwhile"]
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/deny"):
                pass
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as missing:  # no such route: FastAPI's own refusal
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/nowhere"):
                pass
        assert missing.value.response.status_code == 403


def burst_app(events: asyncio.Queue[Any], release: asyncio.Event) -> FastAPI:
    """``/burst`` accepts, waits for ``release`` before reading, then counts what came."""
    api = FastAPI()

    @api.websocket("/burst")
    async def burst(websocket: WebSocket) -> None:
        await websocket.accept()
        await release.wait()
        texts = [await websocket.receive_text() for _ in range(200)]
        events.put_nowait(texts)
        await websocket.send_text("done")
        message = await websocket.receive()
        events.put_nowait(message)

    @api.websocket("/fails")
    async def fails(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("the route fails after its accept")

    @api.websocket("/hold")
    async def hold(websocket: WebSocket) -> None:
        await websocket.accept()
        events.put_nowait("holding")
        message = await websocket.receive()
        events.put_nowait(message)

    return api


async def test_messages_wait_for_the_app_in_order_and_the_client_close_code_reaches_it() -> None:
    """200 messages sent before the app reads one: reading is held back, none lost, in order."""
    events: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()
    async with builtin_server(burst_app(events, release)) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/burst") as ws:
            for n in range(200):
                await ws.send(f"m{n}")
            release.set()
            assert await bounded(events.get()) == [f"m{n}" for n in range(200)]
            assert await bounded(ws.recv()) == "done"
            await ws.close(4100, "done here")
        assert await bounded(events.get()) == {
            "type": "websocket.disconnect",
            "code": 4100,
            "reason": "done here",
        }


async def test_failures_shutdown_and_oversized_messages() -> None:
    events: asyncio.Queue[Any] = asyncio.Queue()
    io = sio.Server(max_http_buffer_size=1000)
    async with builtin_server(burst_app(events, asyncio.Event()), io) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/fails") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await bounded(ws.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011  # an app failing after accept
        async with websockets.connect(f"ws://127.0.0.1:{port}/hold") as ws:
            assert await bounded(events.get()) == "holding"
            await ws.send("x" * 1001)  # over the engine's max_http_buffer_size
            with pytest.raises(ConnectionClosed) as closed:
                await bounded(ws.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert (await bounded(events.get()))["code"] == 1009
        held = await websockets.connect(f"ws://127.0.0.1:{port}/hold")
        assert await bounded(events.get()) == "holding"
    # io.close() stopped the server: the open WebSocket was closed with 1012, and the app told so.
    with pytest.raises(ConnectionClosed) as closed:
        await bounded(held.recv())
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert (await bounded(events.get()))["code"] == 1012


def handshake_app(events: asyncio.Queue[Any], decide: asyncio.Event) -> FastAPI:
    """``/first`` reports the first message; ``/denied`` refuses with Starlette's denial response
    (it sets its own Content-Length); ``/slow`` waits for ``decide`` before accepting."""
    from starlette.responses import PlainTextResponse

    api = FastAPI()

    @api.websocket("/first")
    async def first(websocket: WebSocket) -> None:
        await websocket.accept()
        events.put_nowait(await websocket.receive())
        events.put_nowait(await websocket.receive())

    @api.websocket("/denied")
    async def denied(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))

    @api.websocket("/slow")
    async def slow(websocket: WebSocket) -> None:
        events.put_nowait("deciding")
        await decide.wait()
        await websocket.accept()

    return api


def upgrade_request(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def test_frames_sent_with_the_handshake_are_the_apps_and_denials_have_one_length() -> None:
    events: asyncio.Queue[Any] = asyncio.Queue()
    async with builtin_server(handshake_app(events, asyncio.Event())) as port:
        # A text frame and a close frame in the same write as the request: both reach the app.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            upgrade_request("/first")
            + encode_frame(OP_TEXT, "early", mask=b"abcd")
            + encode_close_frame(4200, "early close", mask=b"abcd")
        )
        head = await bounded(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 101 ")
        assert await bounded(events.get()) == {"type": "websocket.receive", "text": "early"}
        assert await bounded(events.get()) == {
            "type": "websocket.disconnect",
            "code": 4200,
            "reason": "early close",
        }
        writer.close()
        # Starlette's denial response brings its own Content-Length: it goes out once.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request("/denied"))
        response = await bounded(reader.read())
        head, _, body = response.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").lower().split("\r\n")
        assert lines[0].startswith("http/1.1 401")
        assert sum(line.startswith("content-length:") for line in lines) == 1
        assert body == b"go away"
        writer.close()


async def test_a_handshake_the_app_is_still_deciding_at_shutdown_gets_500() -> None:
    events: asyncio.Queue[Any] = asyncio.Queue()
    decide = asyncio.Event()
    io = sio.Server()
    async with builtin_server(handshake_app(events, decide), io) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request("/slow"))
        assert await bounded(events.get()) == "deciding"
        closing = asyncio.ensure_future(io.close())  # (the app decides only after the shutdown began)
        response = await bounded(reader.read())
        assert response.startswith(b"HTTP/1.1 500 ")
        decide.set()
        await bounded(closing)
        writer.close()
