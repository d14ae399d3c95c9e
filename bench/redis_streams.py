"""CPU per broadcast on the Redis adapters, and the cost of the streams adapter's live sessions.

usage: python bench/redis_streams.py [N]      (needs redis-server on PATH; starts its own)

Two sio servers in this process on one redis-server; server A broadcasts N events (no local
clients), server B receives them all. Reported: process CPU µs per message published *and*
received (both servers' work, Redis excluded), for the classic adapter, the streams adapter, and
the streams adapter with connection state recovery (each local delivery waits for its XADD).
Then the live sessions: CPU µs per connected socket to write its live session (encode + SET,
pipelined), and the Redis memory of one such key.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sio
from sio.adapters.redis import redis_adapter, redis_streams_adapter
from tests.redis_server import RedisServer


async def broadcasts(url: str, kind: str, count: int, n: int) -> float:
    recovery = kind == "streams+recovery"
    make = redis_adapter if kind == "classic" else redis_streams_adapter
    names: dict[str, Any] = {"key": f"b{n}"}
    if kind != "classic":  # a stream long enough to hold the whole burst (the reader trails the writer)
        names = {"stream_name": f"b{n}", "channel_prefix": f"b{n}", "max_len": 10 * count}
    a = sio.Server(adapter=make(url, **names), connection_state_recovery=recovery or None)
    b = sio.Server(adapter=make(url, **names), connection_state_recovery=recovery or None)
    await a.serve("127.0.0.1", 0)
    await b.serve("127.0.0.1", 0)
    while await a.server_count() < 2:
        await asyncio.sleep(0.01)
    received = 0
    done = asyncio.get_running_loop().create_future()
    adapter: Any = b.sockets.adapter
    original = adapter.nsp.deliver

    def deliver(packet: Any, sockets: Any, flags: Any) -> int:
        nonlocal received
        received += 1
        if received == count and not done.done():
            done.set_result(None)
        return original(packet, sockets, flags)

    adapter.nsp.deliver = deliver
    payload = {"text": "hello", "n": 1}
    start = time.process_time()
    for _ in range(count):
        a.emit("news", payload)
        if _ % 1000 == 999:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, 60)
    spent = time.process_time() - start
    await a.close()
    await b.close()
    return spent / count * 1e6


class FakeSocket:
    def __init__(self, i: int) -> None:
        self.id = f"sid{i:017d}"
        self.pid = f"pid{i:017d}"
        self.connected = True
        self.data = {"user": f"user-{i}", "role": "member"}


async def live_sessions(url: str, count: int) -> tuple[float, float, int]:
    io = sio.Server(
        adapter=redis_streams_adapter(url, session_key_prefix="bench:"), connection_state_recovery=True
    )
    await io.serve("127.0.0.1", 0)
    adapter: Any = io.sockets.adapter
    await adapter.drain()
    sockets = [FakeSocket(i) for i in range(count)]
    for socket in sockets:
        io.sockets.sockets[socket.id] = socket  # type: ignore[assignment]
    start = time.process_time()
    for socket in sockets:  # what a connection costs: join(own id) and one room
        adapter.add_all(socket.id, [socket.id, "lobby"])
    while adapter._dirty:
        adapter._flush()
    connect = time.process_time() - start
    await adapter.drain()
    start = time.process_time()
    adapter._refresh()
    while adapter._dirty:
        adapter._flush()
    refresh = time.process_time() - start
    await adapter.drain()
    memory = await adapter.link.commands.call("MEMORY", "USAGE", f"bench:live:{sockets[0].pid}")
    for socket in sockets:
        adapter.delete_all(socket.id)
        del io.sockets.sockets[socket.id]
    await io.close()
    return connect / count * 1e6, refresh / count * 1e6, int(memory)


async def main(count: int) -> None:
    redis = RedisServer().start()
    try:
        for n, kind in enumerate(
            ("classic", "streams", "streams+recovery", "classic", "streams", "streams+recovery")
        ):
            us = await broadcasts(redis.url, kind, count, n)
            print(f"{kind:18} {us:6.2f} µs CPU per broadcast published and received ({count} messages)")
        connect, refresh, memory = await live_sessions(redis.url, count)
        print(
            f"live sessions: {connect:.2f} µs CPU per connection (two rooms), {refresh:.2f} µs per refresh, "
            f"{memory} bytes of Redis memory per key"
        )
    finally:
        redis.stop()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
