"""The application of the Admin UI tests, for sio: tests/js/admin_node.js's, handler for handler."""

from __future__ import annotations

import re
from typing import Any

import sio


def setup(io: sio.Server) -> None:
    """Add the handlers admin_node.js adds to its Node server."""

    def middleware(socket: sio.Socket) -> None:
        socket.data["early"] = "set by a middleware"

    io.use(middleware)

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        @socket.on("hello")
        def hello(name: Any, ack: Any = None) -> None:
            if callable(ack):
                ack(f"hello {name}")
            socket.emit("greet", name, {"n": 1})

        @socket.on("join")
        def join(room: str) -> None:
            socket.join(room)
            socket.data["user"] = "alice"

        @socket.on("binary")
        def binary(payload: Any) -> None:
            socket.emit("binary", payload)

    io.of("/chat").on("connection", lambda socket: None)
    io.of(re.compile(r"^/dyn-\w+$")).on("connection", lambda socket: None)
