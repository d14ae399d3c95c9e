"""A FastAPI app with sio beside it, as a user writes one (served by tests under uvicorn with sio's protocol).

``build()`` makes a fresh one: Socket.IO at /socket.io/ (``echo`` acks its arguments), FastAPI's
``/hello``, a WebSocket route ``/ws/echo`` (standard ASGI messages) and ``/ws/deny`` (refused before
its accept), and a lifespan that records (and prints) its startup and shutdown. ``app`` is one for
``uvicorn tests.integration.uvicorn_app:app``. ``recording_websocket_app`` is a plain ASGI WebSocket
app for comparing servers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

import sio
from sio.asgi_types import ASGIApplication


def build(**options: Any) -> tuple[sio.Server, FastAPI, ASGIApplication, list[str]]:
    """A sio server with ``options``, its FastAPI app, the two as one ASGI app, and the lifespan's record."""
    io = sio.Server(**options)
    lifespan_events: list[str] = []

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        @socket.on("echo")
        def echo(*args: Any) -> None:
            args[-1](*args[:-1])

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        lifespan_events.append("startup")
        print("lifespan startup", flush=True)
        yield
        lifespan_events.append("shutdown")
        print("lifespan shutdown", flush=True)

    api = FastAPI(lifespan=lifespan)

    @api.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @api.websocket("/ws/echo")
    async def websocket_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await websocket.send_text("echo:" + message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])

    @api.websocket("/ws/deny")
    async def websocket_deny(websocket: WebSocket) -> None:
        await websocket.close(code=1008)

    return io, api, io.asgi_app(api), lifespan_events


def recording_websocket_app(scopes: list[dict[str, Any]], closes: asyncio.Queue[dict[str, Any]]) -> Any:
    """A plain ASGI app: ``/accept`` records its scope and accepts (the offered second subprotocol),
    echoes, and reports the client's close; ``/deny`` answers 451 with a body; ``/fail`` raises."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        if scope["path"].endswith("/fail"):
            raise RuntimeError("this app fails before it answers")
        if scope["path"].endswith("/deny"):
            await send({"type": "websocket.http.response.start", "status": 451, "headers": []})
            await send({"type": "websocket.http.response.body", "body": b"not here"})
            return
        scopes.append({k: v for k, v in scope.items() if k not in ("extensions", "state")})
        await send({"type": "websocket.accept", "subprotocol": scope["subprotocols"][-1]})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                closes.put_nowait(message)
                return
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})

    return app


async def drive_recording_app(port: int, closes: asyncio.Queue[dict[str, Any]]) -> list[Any]:
    """What a ``websockets`` client sees of ``recording_websocket_app`` served on ``port`` (at /base)."""
    import websockets
    from websockets.exceptions import InvalidStatus

    outcomes: list[Any] = []
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/a%20b/accept?x=1&y=%2F",
        subprotocols=["chat", "superchat"],
        additional_headers=[("X-Twice", "1"), ("X-Twice", "2")],
    ) as client:
        outcomes.append(client.subprotocol)
        await client.send("text")
        outcomes.append(await asyncio.wait_for(client.recv(), 10))
        await client.send(b"\x00bytes")
        outcomes.append(await asyncio.wait_for(client.recv(), 10))
        await client.close(4001, "bye")
    close = await asyncio.wait_for(closes.get(), 10)
    outcomes.append((close["code"], close.get("reason")))
    for path in ("/deny", "/fail"):
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}{path}"):
                outcomes.append("accepted")
        except InvalidStatus as refused:
            outcomes.append((refused.response.status_code, refused.response.body))
    return outcomes


def comparable(scopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded scopes without what differs between two servers (ports, the client's key)."""
    varying = (b"host", b"sec-websocket-key")
    return [
        {
            **scope,
            "server": (scope["server"][0], "port"),
            "client": (scope["client"][0], "port"),
            "headers": [(k, v) for k, v in scope["headers"] if k not in varying],
        }
        for scope in scopes
    ]


def check_recorded(scopes: list[dict[str, Any]], outcomes: list[Any]) -> None:
    """What ``drive_recording_app`` must have seen (uvicorn's behaviour)."""
    assert scopes[0]["path"] == "/base/a b/accept"
    assert scopes[0]["raw_path"] == b"/base/a%20b/accept"
    assert scopes[0]["query_string"] == b"x=1&y=%2F"
    assert scopes[0]["subprotocols"] == ["chat", "superchat"]
    assert [v for k, v in scopes[0]["headers"] if k == b"x-twice"] == [b"1", b"2"]
    assert outcomes[:4] == ["superchat", "text", b"\x00bytes", (4001, "bye")]
    assert outcomes[4] == (451, b"not here")
    assert outcomes[5][0] == 500


io, api, app, _ = build()
