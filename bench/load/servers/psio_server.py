"""python-socketio's AsyncServer with the load benchmark's handlers, under uvicorn or on aiohttp.

Usage: ``python psio_server.py uvicorn|aiohttp PORT PING_INTERVAL``. Both run on uvloop.

Handlers (the same in every peer server): ``echo`` acks its argument back (a plain
function returning the ack value, python-socketio's cheapest form), ``bcast`` emits
``msg`` with its argument to every client. With ``BENCH_REDIS_URL`` set (the cluster
scenarios), the server is one node on its ``AsyncRedisManager``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import socketio

HOST = "127.0.0.1"


def build(async_mode: str, ping_interval: float, ping_timeout: float = 20.0) -> socketio.AsyncServer:
    """A server with the benchmark's ``echo`` and ``bcast`` handlers."""
    redis_url = os.environ.get("BENCH_REDIS_URL")
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    server = socketio.AsyncServer(
        async_mode=async_mode, ping_interval=ping_interval, ping_timeout=ping_timeout, client_manager=manager
    )

    @server.on("echo")
    def echo(sid: str, data: Any) -> Any:
        return data

    @server.on("bcast")
    async def bcast(sid: str, data: Any) -> None:
        await server.emit("msg", data)

    return server


async def serve_aiohttp(server: socketio.AsyncServer, port: int) -> None:
    """Run an aiohttp application carrying ``server`` until killed."""
    from aiohttp import web

    app = web.Application()
    server.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    await asyncio.Event().wait()


def main() -> None:
    front, port, ping_interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    ping_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    if front == "uvicorn":
        import uvicorn
        from starlette.applications import Starlette

        server = build("asgi", ping_interval, ping_timeout)
        app = socketio.ASGIApp(server, other_asgi_app=Starlette())
        uvicorn.run(
            app, host=HOST, port=port, loop="uvloop", http="httptools", log_level="warning", access_log=False
        )
    elif front == "aiohttp":
        import uvloop

        uvloop.run(serve_aiohttp(build("aiohttp", ping_interval, ping_timeout), port))
    else:
        raise SystemExit(f"unknown front end {front!r}")


if __name__ == "__main__":
    main()
