"""The built-in front end writes each WebSocket's frames once per loop iteration.

Front-end specific (built-in uvloop front end): docs/architecture.md ("Rules"), "batching writes
produced by one read". The client must still see every message, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sio.engine import EngineServer, EngineSocket
from tests.integration.rawclient import bounded, open_websocket


class CountingTransport:
    """Forwards to the real transport and counts the write calls."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        self.writes += 1
        self._transport.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def test_frames_produced_by_one_read_or_one_iteration_are_written_at_once() -> None:
    eio = EngineServer(path="/engine.io/")
    sockets: asyncio.Queue[EngineSocket] = asyncio.Queue()

    @eio.on("connection")
    def on_connection(socket: EngineSocket) -> None:
        def on_message(data: Any) -> None:
            if data == "burst":  # three replies to one read
                for i in range(3):
                    socket.send(f"reply-{i}")

        socket.on("message", on_message)
        sockets.put_nowait(socket)

    server = await eio.serve("127.0.0.1", 0)
    try:
        ws, _ = await open_websocket(server.sockets[0].getsockname()[1])
        socket = await bounded(sockets.get())
        channel = socket._transport.channel  # type: ignore[attr-defined]
        counting = CountingTransport(channel._transport)
        channel._transport = counting

        ws.send("4burst")
        assert [await ws.recv_packet() for _ in range(3)] == ["4reply-0", "4reply-1", "4reply-2"]
        assert counting.writes == 1

        done = asyncio.get_running_loop().create_future()

        def outside_a_read() -> None:  # e.g. a broadcast from another connection, a timer
            for i in range(4):
                socket.send(f"later-{i}")
            done.set_result(None)

        asyncio.get_running_loop().call_soon(outside_a_read)
        await done
        assert [await ws.recv_packet() for _ in range(4)] == [f"4later-{i}" for i in range(4)]
        assert counting.writes == 2
        ws.close()
    finally:
        await eio.close()
