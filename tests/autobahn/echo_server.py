"""A raw WebSocket echo server on the built-in front end, for Autobahn|Testsuite (a test fixture).

Everything a client's bytes go through is the real front end: ``HttpConnection`` (httptools
parsing, the opening handshake's checks, the 101), then ``WebSocketConnection`` (the core's
``FrameParser``, ping/pong and the close handshake, fair turns, back-pressure, the write
batching). Only the engine's Engine.IO layer is replaced: :class:`EchoEngine` takes every path,
accepts every WebSocket without Engine.IO's query checks, and hands it an :class:`EchoHandler`
that sends each message back as it came (text as text, binary as binary) through the
connection's one writer, ``send_packets``.

Run it by hand (then ``kosoku -m fuzzingclient 127.0.0.1:9001``)::

    python -m tests.autobahn.echo_server --port 9001 [--deflate THRESHOLD]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, cast

import uvloop

from sio.engine.exchange import HttpExchange, WebSocketChannel, WebSocketHandler
from sio.engine.server import EngineRefusal, EngineServer
from sio.frontends import builtin

# Autobahn's largest messages are 16 MiB (9.1.6, 9.2.6); the frame parser refuses a message over
# max_http_buffer_size as soon as its header is read.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 1024
# Echoes waiting for back-pressure to end (reading is paused meanwhile, so this holds at most one
# read's worth of messages plus the backlog of its turn): beyond this the client is dropped (1009).
MAX_PENDING_BYTES = 4 * MAX_MESSAGE_SIZE


class EchoHandler(WebSocketHandler):
    """Echoes every message on one WebSocket, in order, waiting out back-pressure as the engine does."""

    __slots__ = ("channel", "pending", "pending_bytes")

    def __init__(self, channel: WebSocketChannel) -> None:
        self.channel = channel
        self.pending: list[str | bytes] = []  # echoes refused by back-pressure, sent on drain
        self.pending_bytes = 0

    def on_message(self, data: str | bytes) -> None:
        """Send the message back: a str as a text frame, bytes as a binary frame."""
        if not self.pending and self.channel.send_packets((data,)):
            return
        self.pending.append(data)
        self.pending_bytes += len(data)
        if self.pending_bytes > MAX_PENDING_BYTES:
            self.pending = []
            self.channel.close(1009, "echo backlog over its limit")

    def on_drain(self) -> None:
        """The connection is writable again: send what waited (all of it, or nothing yet)."""
        if self.pending and self.channel.send_packets(self.pending):
            self.pending = []
            self.pending_bytes = 0

    def on_close(self, error: bool) -> None:
        """The connection is gone."""
        self.pending = []


class EchoEngine(EngineServer):
    """The seams the built-in front end calls on an engine, answered by an echo instead of Engine.IO."""

    def handles_path(self, path: str) -> bool:
        """Every path is ours (Autobahn's client picks its own)."""
        return True

    def verify_websocket(
        self, exchange: HttpExchange, callback: Callable[[EngineRefusal | None], None]
    ) -> None:
        """Accept every WebSocket the front end found well-formed (no Engine.IO query to check)."""
        exchange.authorized = True
        callback(None)

    # (The engine's own returns its WebSocketTransport; what the front end takes is any handler.)
    def accept_websocket(  # type: ignore[override]
        self, exchange: HttpExchange, channel: WebSocketChannel
    ) -> EchoHandler:
        """Echo whatever the WebSocket sends."""
        return EchoHandler(channel)

    def handle_request(self, exchange: HttpExchange) -> None:
        """A plain HTTP request: this server only speaks WebSocket."""
        exchange.respond(426, [("Content-Type", "text/plain"), ("Upgrade", "websocket")], b"Upgrade Required")


def echo_engine(per_message_deflate: bool | dict[str, Any] = False) -> EchoEngine:
    """The echo engine; ``per_message_deflate`` is the engine's option, passed to the front end as is."""
    return EchoEngine(max_http_buffer_size=MAX_MESSAGE_SIZE, per_message_deflate=per_message_deflate)


async def start(
    host: str = "127.0.0.1", port: int = 0, per_message_deflate: bool | dict[str, Any] = False
) -> tuple[EchoEngine, asyncio.AbstractServer]:
    """Listen on the running loop with the built-in front end; return the engine and the server."""
    engine = echo_engine(per_message_deflate)
    server = await builtin.serve(engine, host, port)
    return engine, server


def bound_address(server: asyncio.AbstractServer) -> tuple[str, int]:
    """The host and port the server listens on (port 0 asked: the port the system chose)."""
    host, port = cast(asyncio.Server, server).sockets[0].getsockname()[:2]
    return host, port


async def stop(engine: EchoEngine, server: asyncio.AbstractServer) -> None:
    """Stop listening and free the engine's timer wheel."""
    server.close()
    await engine.close()


async def _serve_forever(host: str, port: int, per_message_deflate: bool | dict[str, Any]) -> None:
    engine, server = await start(host, port, per_message_deflate)
    host, port = bound_address(server)
    print(f"echo server on ws://{host}:{port}/ (per_message_deflate={per_message_deflate})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await stop(engine, server)


def main() -> None:
    """``python -m tests.autobahn.echo_server``: serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--deflate",
        type=int,
        metavar="THRESHOLD",
        help="turn permessage-deflate on: EngineServer(per_message_deflate={'threshold': THRESHOLD})",
    )
    args = parser.parse_args()
    deflate = False if args.deflate is None else {"threshold": args.deflate}
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve_forever(args.host, args.port, deflate))


if __name__ == "__main__":
    main()
