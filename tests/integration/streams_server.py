"""One sio server process on the Redis streams adapter with connection state recovery (the SIGKILL test).

usage: python -m tests.integration.streams_server REDIS_URL OPTIONS_JSON
OPTIONS_JSON: the adapter's options (``redis_streams_adapter`` keywords). Prints ``<port> <uid>``
(the uid of the ``/`` adapter) on one line, then serves until killed. Clients drive it with
``join`` (room, ack) and ``set`` (key, value, ack): each acks once Redis has the socket's live
session as it is then (``adapter.drain()``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import uvloop

import sio
from sio.adapters.redis import redis_streams_adapter


async def main(url: str, options: dict[str, Any]) -> None:
    io = sio.Server(adapter=redis_streams_adapter(url, **options), connection_state_recovery=True)
    adapter = io.sockets.adapter

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        async def join(room: str, ack: Any) -> None:
            socket.join(room)
            await adapter.drain()  # type: ignore[attr-defined]
            ack()

        async def set_data(key: str, value: Any, ack: Any) -> None:
            socket.data[key] = value
            socket.join(socket.id)  # unchanged rooms, but its live session is written again
            await adapter.drain()  # type: ignore[attr-defined]
            ack()

        socket.on("join", join)
        socket.on("set", set_data)

    server = await io.serve("127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], adapter.uid, flush=True)  # type: ignore[attr-defined]
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], json.loads(sys.argv[2])))
