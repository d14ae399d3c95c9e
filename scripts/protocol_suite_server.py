"""The server the official protocol suites expect, on 127.0.0.1:3000.

    python scripts/protocol_suite_server.py engine.io   # /engine.io/: an Engine.IO echo server
    python scripts/protocol_suite_server.py socket.io   # /socket.io/: namespaces / and /custom
    python scripts/protocol_suite_server.py socket.io 2 # the same with --workers 2
    python scripts/protocol_suite_server.py socket.io uvicorn-sio  # under uvicorn, sio's protocol
    python scripts/protocol_suite_server.py socket.io uvicorn      # under uvicorn, its own protocol

Configured as the suites' READMEs say (ping_interval 300 ms, ping_timeout 200 ms,
max_http_buffer_size 1e6, connect_timeout 1 s, CORS "*"). See ../shared/protocol-suites/.
"""

from __future__ import annotations

import sys
from typing import Any

import sio
from sio.engine import EngineServer

OPTIONS: dict[str, Any] = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_http_buffer_size": 1_000_000,
    "cors_allowed_origins": "*",
}


def engine_io_server() -> EngineServer:
    """``/engine.io/``: every message goes back unchanged on its session."""
    eio = EngineServer(path="/engine.io/", **OPTIONS)
    eio.on("connection", lambda socket: socket.on("message", socket.send))
    return eio


def socket_io_server() -> sio.Server:
    """``/socket.io/``: ``auth`` on connect, ``message-back`` and ``message-with-ack`` on ``/``."""
    io = sio.Server(connect_timeout=1.0, **OPTIONS)

    def on_connection(socket: sio.Socket) -> None:
        socket.emit("auth", socket.handshake.auth)
        socket.on("message", lambda *args: socket.emit("message-back", *args))

        def message_with_ack(*args: Any) -> None:
            *data, ack = args
            ack(*data)

        socket.on("message-with-ack", message_with_ack)

    io.on("connection", on_connection)
    io.of("/custom").on("connection", lambda socket: socket.emit("auth", socket.handshake.auth))
    return io


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "socket.io"
    workers = sys.argv[2] if len(sys.argv) > 2 else "1"  # e.g. 2: the suites against --workers 2
    server = engine_io_server() if which == "engine.io" else socket_io_server()
    if workers.startswith("uvicorn"):
        import uvicorn

        from sio.uvicorn import WebSocketProtocol

        ws = WebSocketProtocol if workers == "uvicorn-sio" else "websockets-sansio"
        uvicorn.run(server.asgi_app(), host="127.0.0.1", port=3000, loop="uvloop", ws=ws, log_level="warning")
    else:
        server.listen(3000, "127.0.0.1", workers=int(workers))
