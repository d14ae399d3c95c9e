"""The application the ``--workers`` tests run: ``python -m sio run tests.integration.workers_app:io``.

Events (each answered through the ack): ``whoami`` (the worker's pid, the socket id, whether it
was recovered, its rooms), ``count`` (how many sockets fetch_sockets finds, and the server count),
``ask`` (the other servers' answers to a server-side ``ping``), ``join`` (a room), ``shout`` (to a
room, as ``shouted``). Every disconnect is printed on stdout as ``disconnect <socket id> <reason>``.
With ``SIO_TEST_REDIS`` set, the workers use the Redis adapter on that URL instead of the local
mesh; with ``SIO_TEST_RECOVERY`` set, connection state recovery is on.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import sio

redis_url = os.environ.get("SIO_TEST_REDIS")
recovery = bool(os.environ.get("SIO_TEST_RECOVERY"))
if redis_url:
    from sio.adapters.redis import redis_adapter

    io = sio.Server(adapter=redis_adapter(redis_url), connection_state_recovery=recovery)
else:
    io = sio.Server(connection_state_recovery=recovery)


@io.on("connection")
def on_connection(socket: sio.Socket) -> None:
    @socket.on("whoami")
    def whoami(ack: Any) -> None:
        ack(os.getpid(), socket.id, socket.recovered, sorted(socket.rooms))

    @socket.on("count")
    async def count(ack: Any) -> None:
        ack(len(await io.fetch_sockets()), await io.server_count())

    @socket.on("ask")
    async def ask(ack: Any) -> None:
        ack(sorted(await io.timeout(5).server_side_emit_with_ack("ping")))

    @socket.on("join")
    def join(room: str, ack: Any) -> None:
        socket.join(room)
        ack(os.getpid())

    @socket.on("shout")
    def shout(room: str, text: str) -> None:
        io.to(room).emit("shouted", text)

    @socket.on("disconnect")
    def on_disconnect(reason: str) -> None:
        # One write per line: the workers share the pipe (print writes its pieces one by one when
        # unbuffered, and lines of two workers would interleave).
        sys.stdout.write(f"disconnect {socket.id} {reason}\n")
        sys.stdout.flush()


@io.on("ping")
def ping(ack: Any) -> None:
    ack(os.getpid())
