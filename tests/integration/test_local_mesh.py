"""The local Unix-socket mesh (sio.adapters.local) in one process: two servers, garbage from a third party."""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest

import sio
from sio.adapters.local import local_adapter
from tests.integration.cluster_bus import wait_until
from tests.integration.siopeer import SioPeer


async def start(directory: Path, node_peers: Any) -> tuple[sio.Server, SioPeer]:
    io = sio.Server(adapter=local_adapter(directory, heartbeat_interval=0.5, heartbeat_timeout=2.0))
    server = await io.serve("127.0.0.1", 0)
    client = await SioPeer.start(
        node_peers, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", transports=["websocket"]
    )
    await client.connect()
    return io, client


@pytest.mark.parametrize(
    "frames",
    [
        [b"\x00\x00\x00\x04junk"],  # a hello, then nothing
        [b"\x00\x00\x00\x02hi", b"\x00\x00\x00\x03\xc1\xc1\xc1"],  # undecodable msgpack
        [b"\x00\x00\x00\x02hi", struct.pack(">I", 1 << 31)],  # an absurd length
        [b"\x00\x00\x00\x02hi", struct.pack(">I", 5) + msgpack.packb([1, 2])[:5].ljust(5, b"\x00")],
        [
            b"\x00\x00\x00\x02hi",
            (lambda b: struct.pack(">I", len(b)) + b)(msgpack.packb({"nsp": "/", "uid": 7})),
        ],
        [b"\x00\x00\x00\x02hi", (lambda b: struct.pack(">I", len(b)) + b)(msgpack.packb({"nsp": "/nope"}))],
        [b"\xff\xff"],  # not even a frame header
    ],
)
async def test_garbage_on_the_mesh_is_dropped(
    tmp_path: Path, node_peers: Any, frames: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "mesh"
    first, client_a = await start(directory, node_peers)
    second, client_b = await start(directory, node_peers)
    try:

        async def both() -> bool:
            return [await io.server_count() for io in (first, second)] == [2, 2]

        await wait_until(both, "both nodes counted")
        target = next(p for p in directory.glob("*.sock"))
        _, writer = await asyncio.open_unix_connection(str(target))
        with caplog.at_level(logging.DEBUG):
            for frame in frames:
                writer.write(frame)
            await writer.drain()
            writer.close()
            first.emit("after", 1)
            second.emit("after", 2)
            for client in (client_a, client_b):
                got = sorted([(await client.event("after"))[0], (await client.event("after"))[0]])
                assert got == [1, 2]
        assert [await io.server_count() for io in (first, second)] == [2, 2]  # no node made up
    finally:
        await first.close()
        await second.close()
    assert list(directory.glob("*.sock")) == []  # each node removed its socket file
