"""One sio server process on a cluster adapter, for the multi-process cluster tests.

usage: python -m tests.integration.redis_cluster_server REDIS_URL classic|sharded
   or: python -m tests.integration.redis_cluster_server DIRECTORY local     (the Unix-socket mesh)
Prints the port it listens on (a line), then serves until killed. Clients drive it with events:
``shout`` (broadcast to everyone), ``count`` (ack: the server count), ``fetch`` (ack: the ids of
every socket of the cluster), ``ask`` (ack: the other servers' answers to a server-side ``ping``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import uvloop

import sio
from sio.adapters.local import local_adapter
from sio.adapters.redis import redis_adapter, sharded_redis_adapter


async def main(url: str, mode: str) -> None:
    if mode == "local":
        adapter = local_adapter(url, heartbeat_interval=0.5, heartbeat_timeout=2.0)
    else:
        adapter = redis_adapter(url) if mode == "classic" else sharded_redis_adapter(url)
    io = sio.Server(adapter=adapter)

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        socket.on("shout", lambda *args: io.emit("shouted", os.getpid(), *args))

        async def count(ack: Any) -> None:
            ack(await io.server_count())

        async def fetch(ack: Any) -> None:
            ack(sorted(s.id for s in await io.fetch_sockets()))

        async def ask(ack: Any) -> None:
            ack(sorted(await io.server_side_emit_with_ack("ping")))

        socket.on("count", count)
        socket.on("fetch", fetch)
        socket.on("ask", ask)

    io.on("ping", lambda cb: cb(f"pong from {os.getpid()}"))
    server = await io.serve("127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2]))
