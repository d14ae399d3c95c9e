"""Node's cluster protocol between three sio servers on one loop, joined by an in-process bus.

The shape of socket.io-adapter's own test/cluster-adapter.ts: three servers, one official
socket.io-client (node) connected to each, every message msgpack-encoded on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest

import sio
from sio.adapters import MessageType
from tests.integration.cluster_bus import Bus, BusAdapter, wait_until
from tests.integration.siopeer import SioPeer

NODES = 3


@dataclass
class Cluster:
    bus: Bus
    servers: list[sio.Server]
    clients: list[SioPeer]
    sockets: list[sio.Socket] = field(default_factory=list)

    def adapter(self, i: int, nsp: str = "/") -> BusAdapter:
        return self.servers[i].of(nsp).adapter  # type: ignore[return-value]


async def start_cluster(node_peers: Any, **adapter_options: Any) -> Cluster:
    bus = Bus()
    servers, clients, sockets = [], [], []
    for _ in range(NODES):
        io = sio.Server(adapter=lambda nsp: BusAdapter(nsp, bus, **adapter_options))
        connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
        io.on("connection", connected.put_nowait)
        server = await io.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        await client.connect()
        servers.append(io)
        clients.append(client)
        sockets.append(await asyncio.wait_for(connected.get(), 10))
    await bus.drained()
    return Cluster(bus, servers, clients, sockets)


@pytest.fixture
async def cluster(node_peers: Any) -> AsyncIterator[Cluster]:
    running = await start_cluster(node_peers)
    yield running
    for io in running.servers:
        await io.close()


async def test_every_server_knows_the_others_from_the_heartbeats(cluster: Cluster) -> None:
    for io in cluster.servers:
        assert await io.server_count() == 3
    kinds = [m["type"] for m in cluster.bus.published]
    assert kinds.count(MessageType.INITIAL_HEARTBEAT) == 3
    assert MessageType.HEARTBEAT in kinds
    uids = {cluster.adapter(i).uid for i in range(NODES)}
    assert len(uids) == 3 and all(len(uid) == 16 for uid in uids)


# -- broadcast ---------------------------------------------------------------------------------


async def test_broadcasts_to_all_clients_with_binary(cluster: Cluster) -> None:
    cluster.servers[0].emit("test", 1, "2", b"\x03\x04")
    for client in cluster.clients:
        assert await client.event("test") == [1, "2", b"\x03\x04"]
    message = next(m for m in cluster.bus.published if m["type"] == MessageType.BROADCAST)
    # Node's envelope and packet: {uid, nsp, type, data: {packet: {type, data}, opts}}
    assert message["nsp"] == "/" and message["uid"] == cluster.adapter(0).uid
    assert message["data"]["packet"] == {"type": 2, "data": ["test", 1, "2", b"\x03\x04"]}
    assert message["data"]["opts"] == {"rooms": [], "except": [], "flags": {}}


async def test_broadcasts_to_all_clients_in_a_namespace(cluster: Cluster) -> None:
    connected = []
    for i, io in enumerate(cluster.servers):
        queue: asyncio.Queue[sio.Socket] = asyncio.Queue()
        io.of("/custom").on("connection", queue.put_nowait)
        await cluster.clients[i].connect("/custom")
        connected.append(await asyncio.wait_for(queue.get(), 10))
    await cluster.bus.drained()
    cluster.servers[0].of("/custom").emit("test", "custom")
    for client in cluster.clients:
        assert await client.event("test", nsp="/custom") == ["custom"]
    await cluster.bus.drained()
    assert all(client.events("test") == [] for client in cluster.clients)  # not on "/"


async def test_broadcasts_to_a_room_on_another_server(cluster: Cluster) -> None:
    cluster.sockets[1].join("room1")
    cluster.servers[0].to("room1").emit("test", "room")
    cluster.servers[0].emit("after")  # ordered after it on every server
    for client in cluster.clients:
        await client.event("after")
    assert cluster.clients[1].events("test") == [["room"]]
    assert cluster.clients[0].events("test") == [] and cluster.clients[2].events("test") == []


async def test_broadcasts_to_all_clients_except_a_room(cluster: Cluster) -> None:
    cluster.sockets[1].join("room1")
    cluster.servers[0].except_("room1").emit("test")
    cluster.servers[0].emit("after")
    for client in cluster.clients:
        await client.event("after")
    assert [len(c.events("test")) for c in cluster.clients] == [1, 0, 1]


async def test_a_local_broadcast_publishes_nothing(cluster: Cluster) -> None:
    before = len(cluster.bus.published)
    cluster.servers[0].local.emit("test", "local")
    assert await cluster.clients[0].event("test") == ["local"]
    assert all(m["type"] != MessageType.BROADCAST for m in cluster.bus.published[before:])
    cluster.servers[0].emit("after")
    for client in cluster.clients[1:]:
        await client.event("after")
        assert client.events("test") == []


async def test_a_broadcast_from_a_socket_excludes_it_on_every_server(cluster: Cluster) -> None:
    cluster.sockets[0].broadcast.emit("test")
    for client in cluster.clients[1:]:
        assert await client.event("test") == []
    cluster.servers[0].emit("after")
    await cluster.clients[0].event("after")
    assert cluster.clients[0].events("test") == []


# -- broadcast with acks -------------------------------------------------------------------------


async def test_a_broadcast_with_acks_counts_the_clients_of_every_server(cluster: Cluster) -> None:
    for i, client in enumerate(cluster.clients):
        await client.reply("test", [i])
    responses = await cluster.servers[0].timeout(5).emit_with_ack("test", 1, "2")
    assert sorted(responses) == [0, 1, 2]
    kinds = [m["type"] for m in cluster.bus.published]
    assert kinds.count(MessageType.BROADCAST_CLIENT_COUNT) == 2
    assert kinds.count(MessageType.BROADCAST_ACK) == 2


async def test_a_broadcast_with_acks_and_binary(cluster: Cluster) -> None:
    for i, client in enumerate(cluster.clients):
        await client.reply("test", [bytes([i])])
    responses = await cluster.servers[1].timeout(5).emit_with_ack("test", b"\x01")
    assert sorted(responses) == [b"\x00", b"\x01", b"\x02"]


async def test_a_broadcast_with_acks_and_no_client(cluster: Cluster) -> None:
    assert await cluster.servers[0].to("abc").timeout(5).emit_with_ack("test") == []


async def test_a_broadcast_with_acks_times_out_with_the_answers_that_came(cluster: Cluster) -> None:
    await cluster.clients[2].reply("test", "none")
    for client in cluster.clients[:2]:
        await client.reply("test", ["yes"])
    with pytest.raises(sio.AckTimeoutError) as caught:
        await cluster.servers[0].timeout(0.5).emit_with_ack("test")
    assert caught.value.responses == ["yes", "yes"]
    # The server holding the silent client forgets its ack once the flags' timeout (500 ms) passed.
    await wait_until(lambda: cluster.sockets[2]._acks == {}, "the stale ack dropped")


# -- sockets_join / sockets_leave / disconnect_sockets ---------------------------------------------


async def test_sockets_join_and_leave_on_every_server(cluster: Cluster) -> None:
    cluster.servers[0].sockets_join("room1")
    await cluster.bus.drained()
    assert all("room1" in socket.rooms for socket in cluster.sockets)
    cluster.servers[0].sockets_leave("room1")
    await cluster.bus.drained()
    assert all("room1" not in socket.rooms for socket in cluster.sockets)


async def test_a_remote_socket_joins_by_its_id(cluster: Cluster) -> None:
    target = cluster.sockets[1]
    cluster.servers[0].in_(target.id).sockets_join("room2")
    await cluster.bus.drained()
    assert target.rooms == {target.id, "room2"}
    assert "room2" not in cluster.sockets[0].rooms and "room2" not in cluster.sockets[2].rooms


async def test_disconnect_sockets_on_every_server(cluster: Cluster) -> None:
    cluster.servers[0].disconnect_sockets()
    for client in cluster.clients:
        event = await client.expect("disconnect")
        assert event["reason"] == "io server disconnect"


# -- fetch_sockets ----------------------------------------------------------------------------


async def test_fetch_sockets_returns_local_and_remote_sockets(cluster: Cluster) -> None:
    cluster.sockets[1].join("room1")
    cluster.sockets[1].data = {"user": "ada"}
    found = await cluster.servers[0].fetch_sockets()
    assert sorted(s.id for s in found) == sorted(s.id for s in cluster.sockets)
    local = [s for s in found if isinstance(s, sio.Socket)]
    remote = {s.id: s for s in found if isinstance(s, sio.RemoteSocket)}
    assert local == [cluster.sockets[0]] and len(remote) == 2
    other = remote[cluster.sockets[1].id]
    assert other.rooms == {cluster.sockets[1].id, "room1"}
    assert other.data == {"user": "ada"}
    assert other.handshake["auth"] == {} and other.handshake["query"]["EIO"] == "4"

    other.emit("direct", "hello")  # reaches the client through the server that holds it
    assert await cluster.clients[1].event("direct") == ["hello"]
    other.join("room3")
    await cluster.bus.drained()
    assert "room3" in cluster.sockets[1].rooms


async def test_fetch_sockets_in_a_room(cluster: Cluster) -> None:
    cluster.sockets[2].join("room1")
    found = await cluster.servers[0].in_("room1").fetch_sockets()
    assert [s.id for s in found] == [cluster.sockets[2].id]


async def test_a_remote_socket_emit_with_ack_gets_one_answer(cluster: Cluster) -> None:
    await cluster.clients[2].reply("question", ["answer"])
    found = await cluster.servers[0].fetch_sockets()
    remote = next(s for s in found if s.id == cluster.sockets[2].id)
    answers: asyncio.Queue[Any] = asyncio.Queue()
    remote.timeout(5).emit("question", lambda err, answer: answers.put_nowait((err, answer)))
    assert await asyncio.wait_for(answers.get(), 10) == (None, "answer")


async def test_a_remote_disconnect(cluster: Cluster) -> None:
    found = await cluster.servers[0].fetch_sockets()
    remote = next(s for s in found if s.id == cluster.sockets[1].id)
    remote.disconnect()
    assert (await cluster.clients[1].expect("disconnect"))["reason"] == "io server disconnect"


# -- server_side_emit ------------------------------------------------------------------------


async def test_server_side_emit_reaches_the_other_servers(cluster: Cluster) -> None:
    received: asyncio.Queue[tuple[int, tuple[Any, ...]]] = asyncio.Queue()
    for i, io in enumerate(cluster.servers):
        io.on("hello", lambda *args, i=i: received.put_nowait((i, args)))
    cluster.servers[0].server_side_emit("hello", "world", 1, "2")
    got = sorted([await asyncio.wait_for(received.get(), 10) for _ in range(2)])
    assert got == [(1, ("world", 1, "2")), (2, ("world", 1, "2"))]
    await cluster.bus.drained()
    assert received.empty()  # not on the sender


async def test_server_side_emit_with_ack(cluster: Cluster) -> None:
    for i, io in enumerate(cluster.servers):
        io.on("ping", lambda cb, i=i: cb(f"pong {i}"))
    assert sorted(await cluster.servers[0].server_side_emit_with_ack("ping")) == ["pong 1", "pong 2"]


async def test_server_side_emit_with_ack_times_out_with_the_answers_that_came(cluster: Cluster) -> None:
    cluster.servers[1].on("ping", lambda cb: cb(1))
    cluster.servers[2].on("ping", lambda cb: None)  # never answers
    with pytest.raises(sio.AckTimeoutError) as caught:
        await cluster.servers[0].timeout(0.3).server_side_emit_with_ack("ping")
    assert caught.value.responses == [1]
    assert str(caught.value) == "timeout reached: missing 1 responses"


async def test_server_side_emit_refuses_reserved_names(cluster: Cluster) -> None:
    with pytest.raises(sio.LocalProtocolError):
        cluster.servers[0].server_side_emit("connection", 1)


# -- nodes that leave -----------------------------------------------------------------------


async def test_a_node_that_closes_is_counted_out_and_not_waited_for(cluster: Cluster) -> None:
    cluster.servers[1].on("ping", lambda cb: cb("from 1"))
    cluster.servers[2].on("ping", lambda cb: None)  # will leave instead of answering
    pending = asyncio.ensure_future(cluster.servers[0].timeout(30).server_side_emit_with_ack("ping"))
    await cluster.bus.drained()
    await cluster.servers[2].close()  # ADAPTER_CLOSE
    assert await asyncio.wait_for(pending, 10) == ["from 1"]
    assert await cluster.servers[0].server_count() == 2


async def test_a_silent_node_is_counted_out_after_the_heartbeat_timeout(node_peers: Any) -> None:
    running = await start_cluster(node_peers, heartbeat_interval=0.1, heartbeat_timeout=0.3)
    try:
        running.adapter(2).leave_silently()

        async def counted_out() -> bool:  # each server's liveness check runs every second
            return [await io.server_count() for io in running.servers[:2]] == [2, 2]

        await wait_until(counted_out, "the silent node counted out")
        assert len(await running.servers[0].fetch_sockets()) == 2  # not waiting for the silent one
    finally:
        for io in running.servers:
            await io.close()


# -- garbage on the channel --------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xc1 not msgpack",
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"uid": 5, "type": 3}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 99}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 3, "data": "nope"}),
        msgpack.packb(
            {"uid": "x", "nsp": "/", "type": 3, "data": {"packet": {"type": 2, "data": []}, "opts": {}}}
        ),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 3, "data": {"packet": {"type": 0}, "opts": {}}}),
        msgpack.packb(
            {
                "uid": "x",
                "nsp": "/",
                "type": 3,
                "data": {"packet": {"type": 2, "data": ["e"]}, "opts": {"rooms": 7}},
            }
        ),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 4, "data": {"opts": {}, "rooms": [1]}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 7, "data": {"opts": {}}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 9, "data": {"packet": "hello"}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 9, "data": {"packet": ["connection", 1]}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 11, "data": {"requestId": "r", "clientCount": -1}}),
        msgpack.packb({"uid": "x", "nsp": "/", "type": 8, "data": {"requestId": 3}}),
        msgpack.packb(
            {
                "uid": "x",
                "nsp": "/",
                "type": 3,
                "data": {
                    "packet": {"type": 2, "data": ["e", 0]},
                    "opts": {"flags": {"timeout": "soon"}},
                },
            }
        ),
    ],
)
async def test_garbage_on_the_channel_is_logged_and_dropped(
    cluster: Cluster, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sio.cluster"):
        cluster.bus.send_raw(garbage)
        await cluster.bus.drained()
    assert any("dropped" in r.getMessage() for r in caplog.records)
    # Nothing reached a client, and the cluster still works.
    cluster.servers[0].emit("after")
    for client in cluster.clients:
        assert await client.event("after") == []
        assert [e["name"] for e in client.node.seen("event")] == ["after"]
    for io in cluster.servers:
        assert await io.server_count() == 3


async def test_a_publish_that_fails_still_reaches_local_clients(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that went away: the publish error is logged, this server's clients still get it."""

    def broken(message: Any) -> None:
        raise ConnectionError("broker gone")

    cluster.adapter(0).do_publish = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="sio.cluster"):
        cluster.servers[0].emit("local-only-now", 1)
        assert await cluster.clients[0].event("local-only-now") == [1]
    assert any("could not publish" in r.getMessage() for r in caplog.records)
    cluster.servers[1].emit("after")
    for client in cluster.clients:
        await client.event("after")
    assert (
        cluster.clients[1].events("local-only-now") == []
        and cluster.clients[2].events("local-only-now") == []
    )


async def test_an_emptied_dynamic_namespace_leaves_the_cluster(cluster: Cluster) -> None:
    """As Node's ParentNamespace: a child dropped for being empty closes its adapter (ADAPTER_CLOSE)."""
    io = cluster.servers[0]
    io.cleanup_empty_child_namespaces = True
    children: asyncio.Queue[sio.Socket] = asyncio.Queue()
    io.of(re.compile(r"^/dyn-\d+$")).on("connection", children.put_nowait)
    watcher = cluster.servers[1].of("/dyn-1")  # a plain namespace of the same name on another server
    await cluster.clients[0].connect("/dyn-1")
    child_socket = await asyncio.wait_for(children.get(), 10)
    await cluster.bus.drained()
    assert await watcher.adapter.server_count() == 2
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    child_socket.on("disconnect", gone.set_result)
    cluster.clients[0].command("disconnect", nsp="/dyn-1")
    await asyncio.wait_for(gone, 10)  # the child is dropped as its last socket leaves
    assert "/dyn-1" not in io._nsps
    await cluster.bus.drained()
    assert await watcher.adapter.server_count() == 1
