"""sio-only clusters of separate processes (two and three): on a real redis-server (both adapters), and on
the local Unix-socket mesh (``sio.adapters.local``, what ``--workers`` will use)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster_bus import wait_until
from tests.integration.siopeer import SioPeer
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


async def start_processes(url: str, mode: str, count: int) -> list[tuple[asyncio.subprocess.Process, int]]:
    started = []
    for _ in range(count):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.redis_cluster_server",
            url,
            mode,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        started.append((process, int(line)))
    return started


@pytest.fixture(
    params=[("classic", 2), ("classic", 3), ("sharded", 3), ("local", 2), ("local", 3)],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
async def cluster(
    request: pytest.FixtureRequest, node_peers: Any, tmp_path: Path
) -> AsyncIterator[tuple[int, list[SioPeer]]]:
    mode, count = request.param
    where = str(tmp_path / "mesh") if mode == "local" else request.getfixturevalue("redis_server").url
    processes = await start_processes(where, mode, count)
    clients = []
    for _, port in processes:
        client = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        await client.connect()
        clients.append(client)
    try:

        async def all_counted() -> bool:
            answers = [await client.call("count") for client in clients]
            return all(answer["args"] == [count] for answer in answers)

        await wait_until(all_counted, f"{count} servers counted", limit=20)
        yield count, clients
    finally:
        for process, _ in processes:
            process.kill()
            await process.wait()


async def test_a_broadcast_from_one_process_reaches_every_process(cluster: tuple[int, list[SioPeer]]) -> None:
    _, clients = cluster
    clients[0].emit("shout", "hello", b"\x01")
    senders = set()
    for client in clients:
        pid, *args = await client.event("shouted")
        assert args == ["hello", b"\x01"]
        senders.add(pid)
    assert len(senders) == 1  # one process broadcast it; Redis carried it to the others


async def test_fetch_sockets_and_server_side_emit_across_processes(
    cluster: tuple[int, list[SioPeer]],
) -> None:
    count, clients = cluster
    ids = (await clients[-1].call("fetch"))["args"][0]
    assert len(ids) == count
    answers = (await clients[0].call("ask"))["args"][0]
    assert len(answers) == count - 1 and all(a.startswith("pong from ") for a in answers)


async def test_a_killed_local_node_is_counted_out(node_peers: Any, tmp_path: Path) -> None:
    """The mesh's liveness: SIGKILL one of three processes; the others stop counting it (heartbeats)."""
    processes = await start_processes(str(tmp_path / "mesh"), "local", 3)
    clients = []
    try:
        for _, port in processes:
            client = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
            await client.connect()
            clients.append(client)

        async def counted(expected: int, among: list[SioPeer]) -> bool:
            answers = [(await client.call("count"))["args"] for client in among]
            return answers == [[expected]] * len(among)

        await wait_until(lambda: counted(3, clients), "three nodes counted", limit=20)
        victim, _ = processes[2]
        victim.kill()
        await victim.wait()
        await wait_until(lambda: counted(2, clients[:2]), "the killed node counted out", limit=20)
        assert len((await clients[0].call("fetch"))["args"][0]) == 2  # not waiting for the dead one
    finally:
        for process, _ in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
