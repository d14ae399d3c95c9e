"""A mixed cluster: two sio servers and a Node socket.io server running Node's own cluster adapter.

The Node server (tests/js/cluster_node.js) uses socket.io-adapter's ClusterAdapterWithHeartbeat
unchanged; only its byte mover is the test's (stdio, msgpack with notepack.io), as in
socket.io-adapter's own tests. Everything that crosses is Node's cluster protocol as Node
writes and reads it: a sio broadcast reaching a client of the Node server proves that Node
decoded our message, and the reverse proves that we decoded Node's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import sio
from tests.integration.cluster_bus import Bus, BusAdapter, room_change, wait_until
from tests.integration.nodecluster import NodeServer
from tests.integration.siopeer import SioPeer, to_wire


@dataclass
class Mixed:
    bus: Bus
    node: NodeServer
    servers: list[sio.Server]  # the sio ones
    clients: list[SioPeer]  # [node's, sio 0's, sio 1's]
    sockets: list[sio.Socket]  # the sio servers' sockets
    node_socket_id: str


@pytest.fixture
async def mixed(node_peers: Any) -> AsyncIterator[Mixed]:
    bus = Bus()
    node = NodeServer(await node_peers("cluster_node.js"), bus)
    port = await node.listening()
    clients = [await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])]
    await clients[0].connect()
    node_socket_id = await asyncio.wait_for(node.connections.get(), 10)
    servers, sockets = [], []
    for _ in range(2):
        io = sio.Server(adapter=lambda nsp: BusAdapter(nsp, bus))
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

    async def all_known() -> bool:  # every server heard every other (heartbeats through node's stdio)
        return [await io.server_count() for io in servers] == [3, 3] and await node.call("serverCount") == 3

    await wait_until(all_known, "the three servers knowing each other")
    yield Mixed(bus, node, servers, clients, sockets, node_socket_id)
    for io in servers:
        await io.close()
    await node.stop()


async def test_every_server_counts_three(mixed: Mixed) -> None:
    assert await mixed.node.call("serverCount") == 3
    for io in mixed.servers:
        assert await io.server_count() == 3


async def test_a_sio_broadcast_reaches_the_clients_of_the_node_server(mixed: Mixed) -> None:
    mixed.servers[0].emit("news", {"id": 1}, b"\x00\xff")
    for client in mixed.clients:
        assert await client.event("news") == [{"id": 1}, b"\x00\xff"]


async def test_a_node_broadcast_reaches_the_clients_of_the_sio_servers(mixed: Mixed) -> None:
    await mixed.node.call("emit", name="news", args=to_wire(["from node", b"\x01\x02"]))
    for client in mixed.clients:
        assert await client.event("news") == ["from node", b"\x01\x02"]


async def test_a_room_broadcast_from_sio_reaches_only_the_room_on_node(mixed: Mixed) -> None:
    await mixed.node.call("socketsJoin", target=mixed.node_socket_id, room="room1")
    mixed.servers[0].to("room1").emit("in-room")
    mixed.servers[0].emit("after")
    for client in mixed.clients:
        await client.event("after")
    assert [len(c.events("in-room")) for c in mixed.clients] == [1, 0, 0]


async def test_broadcast_acks_counted_across_node_and_sio(mixed: Mixed) -> None:
    for i, client in enumerate(mixed.clients):
        await client.reply("question", [f"answer {i}"])
    # From sio: Node's server reports its client count and relays its client's ack.
    responses = await mixed.servers[0].timeout(5).emit_with_ack("question", 1)
    assert sorted(responses) == ["answer 0", "answer 1", "answer 2"]
    # From Node: our servers report theirs.
    responses = await mixed.node.call("emitWithAck", name="question", args=[2], timeout=5000)
    assert sorted(responses) == ["answer 0", "answer 1", "answer 2"]


async def test_server_side_emit_both_ways(mixed: Mixed) -> None:
    mixed.servers[0].server_side_emit("hello", "from sio", 1)
    assert await asyncio.wait_for(mixed.node.server_side.get(), 10) == ["from sio", 1]

    mixed.servers[1].on("ping", lambda cb: cb("pong from sio 1"))
    assert sorted(await mixed.servers[0].server_side_emit_with_ack("ping")) == [
        "pong from node",
        "pong from sio 1",
    ]

    mixed.servers[0].on("ping", lambda cb: cb("pong from sio 0"))
    got = await mixed.node.call("serverSideEmitWithAck", name="ping", args=[])
    assert sorted(got) == ["pong from sio 0", "pong from sio 1"]


async def test_fetch_sockets_both_ways(mixed: Mixed) -> None:
    mixed.sockets[1].data = {"user": "grace"}
    mixed.sockets[1].join("room2")
    found = await mixed.servers[0].fetch_sockets()
    ids = {s.id for s in found}
    assert ids == {mixed.node_socket_id, mixed.sockets[0].id, mixed.sockets[1].id}
    node_socket = next(s for s in found if s.id == mixed.node_socket_id)
    assert isinstance(node_socket, sio.RemoteSocket)
    assert node_socket.handshake["query"]["EIO"] == "4"  # Node's handshake object, as Node sent it
    node_socket.emit("direct", "via node")
    assert await mixed.clients[0].event("direct") == ["via node"]

    from_node = {s["id"]: s for s in await mixed.node.call("fetchSockets")}
    assert set(from_node) == ids
    assert from_node[mixed.sockets[1].id]["data"] == {"user": "grace"}
    assert sorted(from_node[mixed.sockets[1].id]["rooms"]) == sorted([mixed.sockets[1].id, "room2"])


async def test_node_makes_a_sio_socket_join_and_disconnect(mixed: Mixed) -> None:
    target = mixed.sockets[0]
    joined = room_change(target.adapter, "join-room", "from-node", target.id)
    await mixed.node.call("socketsJoin", target=target.id, room="from-node")
    await asyncio.wait_for(joined, 10)
    assert target.rooms == {target.id, "from-node"}
    await mixed.node.call("disconnectSockets", target="from-node")
    assert (await mixed.clients[1].expect("disconnect"))["reason"] == "io server disconnect"
