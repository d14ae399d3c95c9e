"""The sharded adapter on a 3-master Redis Cluster, beside Node's createShardedAdapter (node-redis cluster).

Channels hash to different masters (the namespace's, each room's, each node's response
channel), so every operation below crosses several masters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.crc import key_slot

import sio
from sio.adapters.redis import sharded_redis_adapter
from tests.integration.cluster_bus import wait_until
from tests.integration.nodecluster import NodeServer
from tests.integration.siopeer import SioPeer, to_wire
from tests.redis_server import RedisCluster


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster().start()
    yield cluster
    cluster.stop()


@dataclass
class Mixed:
    node: NodeServer
    servers: list[sio.Server]
    clients: list[SioPeer]  # [node's, sio 0's, sio 1's]
    sockets: list[sio.Socket]
    node_socket_id: str


@pytest.fixture
async def mixed(redis_cluster: RedisCluster, node_peers: Any) -> AsyncIterator[Mixed]:
    node = NodeServer(await node_peers("cluster_node.js", "redis-sharded-cluster", redis_cluster.url))
    port = await node.listening()
    clients = [await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])]
    await clients[0].connect()
    node_socket_id = await asyncio.wait_for(node.connections.get(), 10)
    servers, sockets = [], []
    for _ in range(2):
        io = sio.Server(adapter=sharded_redis_adapter(redis_cluster.url, cluster=True))
        connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
        io.on("connection", connected.put_nowait)
        server = await io.serve("127.0.0.1", 0)
        client = await SioPeer.start(
            node_peers, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", transports=["websocket"]
        )
        await client.connect()
        servers.append(io)
        clients.append(client)
        sockets.append(await asyncio.wait_for(connected.get(), 10))

    async def all_subscribed() -> bool:
        counts = []
        for io in servers:
            try:
                counts.append(await io.server_count())
            except Exception:
                return False
        return counts == [3, 3] and await node.call("serverCount") == 3

    await wait_until(all_subscribed, "three servers subscribed on the cluster", limit=20)
    yield Mixed(node, servers, clients, sockets, node_socket_id)
    for io in servers:
        await io.close()
    await node.stop()


def test_the_channels_live_on_different_masters() -> None:
    """What makes this a cluster test: the namespace's channel and the rooms' hash to other slots."""
    slots = {
        key_slot(name.encode()) // 5462 for name in ("socket.io#/#", "socket.io#/#red#", "socket.io#/#blue#")
    }
    assert len(slots) > 1


async def test_broadcasts_cross_both_ways_with_binary(mixed: Mixed) -> None:
    mixed.servers[0].emit("news", {"id": 1}, b"\x00\xff")
    for client in mixed.clients:
        assert await client.event("news") == [{"id": 1}, b"\x00\xff"]
    await mixed.node.call("emit", name="from-node", args=to_wire([b"\x01"]))
    for client in mixed.clients:
        assert await client.event("from-node") == [b"\x01"]


async def test_room_broadcasts_on_their_own_channels(mixed: Mixed) -> None:
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="red")
    mixed.sockets[1].join("blue")  # dynamic mode: the room's channel is subscribed on its master
    link = mixed.servers[1].sockets.adapter.link  # type: ignore[attr-defined]

    async def subscribed() -> bool:  # by Node's node (red) and sio 1 (blue), each on its own connection
        return [await link.numsub("socket.io#/#red#"), await link.numsub("socket.io#/#blue#")] == [1, 1]

    await wait_until(subscribed, "the room channels subscribed")
    mixed.servers[0].to("red").emit("to-red")
    mixed.servers[1].to("blue").emit("to-blue")
    assert await mixed.clients[0].event("to-red") == []
    assert await mixed.clients[2].event("to-blue") == []


async def test_acks_fetch_and_server_side_emit_across_masters(mixed: Mixed) -> None:
    for i, client in enumerate(mixed.clients):
        await client.reply("question", [f"answer {i}"])
    responses = await mixed.servers[0].timeout(5).emit_with_ack("question")
    assert sorted(responses) == ["answer 0", "answer 1", "answer 2"]
    found = await mixed.servers[1].fetch_sockets()
    assert {s.id for s in found} == {mixed.node_socket_id, *(s.id for s in mixed.sockets)}
    for i, io in enumerate(mixed.servers):
        io.on("ping", lambda cb, i=i: cb(f"pong from sio {i}"))
    assert sorted(await mixed.servers[0].server_side_emit_with_ack("ping")) == [
        "pong from node",
        "pong from sio 1",
    ]
    assert sorted(await mixed.node.call("serverSideEmitWithAck", name="ping", args=[])) == [
        "pong from sio 0",
        "pong from sio 1",
    ]
