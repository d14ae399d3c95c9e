"""A FastAPI app and a Socket.IO server for ``python -m sio run ... --asgi`` (test_asgi_builtin_cli.py).

Its lifespan prints ``startup <pid>`` and ``shutdown <pid> sockets <n>`` (the Socket.IO sockets still
connected when the app shuts down) on stdout; with ``SIO_TEST_FAIL_STARTUP`` set its startup fails.
Every Socket.IO disconnect is printed as ``disconnect <socket id> <reason>``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

import sio

io = sio.Server()


@io.on("connection")
def on_connection(socket: sio.Socket) -> None:
    @socket.on("echo")
    def echo(*args: Any) -> None:
        *data, ack = args
        ack(*data)

    @socket.on("disconnect")
    def on_disconnect(reason: str) -> None:
        print(f"disconnect {socket.id} {reason}", flush=True)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    if os.environ.get("SIO_TEST_FAIL_STARTUP"):
        raise RuntimeError("the database is not there")
    _say(f"startup {os.getpid()}")
    yield {"pid": os.getpid()}
    _say(f"shutdown {os.getpid()} sockets {len(io.sockets.sockets)}")


api = FastAPI(lifespan=lifespan)


@api.get("/pid")
async def pid(request: Request) -> dict[str, Any]:
    return {"pid": request.state.pid, "root_path": request.scope["root_path"], "path": request.url.path}
