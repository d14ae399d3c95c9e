"""A FastAPI app with sio beside it, as a user writes one (served by tests under uvicorn with sio's protocol).

``build()`` makes a fresh one: Socket.IO at /socket.io/ (``echo`` acks its arguments), FastAPI's
``/hello``, a WebSocket route ``/ws/echo`` (standard ASGI messages) and ``/ws/deny`` (refused before
its accept), and a lifespan that records (and prints) its startup and shutdown. ``app`` is one for
``uvicorn tests.integration.uvicorn_app:app``.
"""

from __future__ import annotations

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


io, api, app, _ = build()
