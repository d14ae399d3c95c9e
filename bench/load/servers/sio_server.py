"""sio with the load benchmark's handlers, on its built-in front end or as ASGI under uvicorn.

Usage: ``python sio_server.py builtin|builtin-wN|asgi|fastapi-uvicorn|fastapi-builtin PORT PING_INTERVAL
[PING_TIMEOUT]`` (``src/`` on PYTHONPATH); ``builtin-w2`` is the built-in front end with ``workers=2``;
``asgi`` sio beside Starlette under uvicorn with uvicorn's websockets-sansio protocol;
``fastapi-uvicorn`` sio beside FastAPI under uvicorn with sio's protocol (sio.uvicorn);
``fastapi-builtin`` sio and FastAPI on sio's built-in front end (``other_asgi_app``).

Handlers (the same in every peer server): ``echo`` acks its argument back, ``bcast``
emits ``msg`` with its argument to every client. Only sio's public API is used.
With ``BENCH_REDIS_URL`` set (the cluster scenarios), the server is one node of a cluster on
that Redis: ``BENCH_REDIS_ADAPTER`` ``classic`` (Node's createAdapter format) or ``sharded``.
With ``BENCH_RECOVERY`` set, connection state recovery is on (Node's defaults); with
``BENCH_PARSER=msgpack``, the msgpack parser (socket.io-msgpack-parser's format). ``BENCH_DEFLATE``
``1``: ``per_message_deflate=True``; ``nct``: with ``server_no_context_takeover`` and
``client_no_context_takeover``. ``BENCH_HTTP_COMPRESSION=0``: ``http_compression=False``.
``BENCH_METRICS=1``: instrumented by ``sio.metrics`` (``/metrics``; the cost of instrumentation).
``BENCH_ADMIN=production|development``: instrumented by ``sio.admin`` in that mode (no authentication).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import sio
from sio.parser import MsgpackParser

HOST = "127.0.0.1"


def _compression_options() -> dict[str, Any]:
    """The compression options the environment asks for (none: the defaults, whatever they are)."""
    options: dict[str, Any] = {}
    deflate = os.environ.get("BENCH_DEFLATE")
    if deflate == "nct":
        options["per_message_deflate"] = {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
        }
    elif deflate:
        options["per_message_deflate"] = True
    if os.environ.get("BENCH_HTTP_COMPRESSION") == "0":
        options["http_compression"] = False
    return options


def build(ping_interval: float, ping_timeout: float = 20.0) -> sio.Server:
    """A server with the benchmark's ``echo`` and ``bcast`` handlers."""
    io = sio.Server(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        connection_state_recovery=bool(os.environ.get("BENCH_RECOVERY")),
        parser=MsgpackParser() if os.environ.get("BENCH_PARSER") == "msgpack" else None,
        **_compression_options(),
    )
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if redis_url:
        from sio.adapters.redis import redis_adapter, sharded_redis_adapter

        kind = os.environ.get("BENCH_REDIS_ADAPTER", "classic")
        io.adapter(redis_adapter(redis_url) if kind == "classic" else sharded_redis_adapter(redis_url))

    if os.environ.get("BENCH_METRICS"):
        from sio.metrics import instrument_metrics

        instrument_metrics(io)

    admin_mode = os.environ.get("BENCH_ADMIN")
    if admin_mode:
        from sio.admin import instrument

        instrument(io, auth=False, mode=admin_mode)  # type: ignore[arg-type]

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        @socket.on("echo")
        def echo(arg: Any, ack: Any = None) -> None:
            if ack is not None:
                ack(arg)

        @socket.on("bcast")
        def bcast(arg: Any) -> None:
            io.emit("msg", arg)

        @socket.on("handoffs")
        async def handoffs(ack: Any) -> None:  # --workers: connections moved, summed over the workers
            others = await io.server_side_emit_with_ack("handoffs") if io.engine.router is not None else []
            ack(sum([_handoffs(), *others]))

    io.on("handoffs", lambda ack: ack(_handoffs()))

    def _handoffs() -> int:
        router = io.engine.router
        return int(router.handed_over) if router is not None else 0

    return io


def _fastapi() -> Any:
    """A FastAPI app for sio to sit beside (one route: the benchmark drives Socket.IO only)."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return api


def main() -> None:
    front, port, ping_interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    ping_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    io = build(ping_interval, ping_timeout)
    if front == "builtin":
        io.listen(port, HOST)
    elif front.startswith("builtin-w"):
        import logging

        logging.basicConfig(level=logging.INFO)  # the supervisor says when every worker listens
        io.listen(port, HOST, workers=int(front[len("builtin-w") :]))
    elif front == "asgi":
        import uvicorn
        from starlette.applications import Starlette

        app = io.asgi_app(Starlette())  # sio beside a Starlette app, as a user mounts it
        uvicorn.run(
            app,
            host=HOST,
            port=port,
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            log_level="warning",
            access_log=False,
        )
    elif front == "fastapi-uvicorn":
        import uvicorn

        from sio.uvicorn import WebSocketProtocol

        uvicorn.run(
            io.asgi_app(_fastapi()),
            host=HOST,
            port=port,
            loop="uvloop",
            http="httptools",
            ws=WebSocketProtocol,
            log_level="warning",
            access_log=False,
        )
    elif front == "fastapi-builtin":
        io.listen(port, HOST, other_asgi_app=_fastapi())
    else:
        raise SystemExit(f"unknown front end {front!r}")


if __name__ == "__main__":
    main()
