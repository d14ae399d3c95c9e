"""The classic Redis adapter (Node's @socket.io/redis-adapter 8.3.0 createAdapter) on a real redis-server.

Mixed clusters: two sio servers and a Node socket.io 4.8.4 server with Node's own Redis adapter
(tests/js/cluster_node.js redis), one official socket.io-client on each; every operation both
ways. Also the Node emitter (@socket.io/redis-emitter 5.1.0) driving the sio servers, garbage on
every channel, and Redis going away and coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

import sio
from sio.adapters.redis import RedisEmitter, redis_adapter, sharded_redis_adapter
from tests.integration.cluster_bus import room_change, wait_until
from tests.integration.nodecluster import NodeServer
from tests.integration.siopeer import SioPeer, from_wire, to_wire
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@dataclass
class Mixed:
    redis: RedisServer
    node: NodeServer
    servers: list[sio.Server]
    clients: list[SioPeer]  # [node's, sio 0's, sio 1's]
    sockets: list[sio.Socket]
    node_socket_id: str
    mode: str


ADAPTERS = {"classic": redis_adapter, "sharded": sharded_redis_adapter}
NODE_MODES = {"classic": "redis", "sharded": "redis-sharded"}


async def start_sio(
    redis: RedisServer, node_peers: Any, mode: str = "classic", **options: Any
) -> tuple[sio.Server, SioPeer, sio.Socket]:
    io = sio.Server(adapter=ADAPTERS[mode](redis.url, **options))
    connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
    io.on("connection", connected.put_nowait)
    server = await io.serve("127.0.0.1", 0)
    client = await SioPeer.start(
        node_peers, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", transports=["websocket"]
    )
    await client.connect()
    return io, client, await asyncio.wait_for(connected.get(), 10)


async def start_mixed(redis_server: RedisServer, node_peers: Any, mode: str) -> Mixed:
    node = NodeServer(await node_peers("cluster_node.js", NODE_MODES[mode], redis_server.url))
    port = await node.listening()
    clients = [await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])]
    await clients[0].connect()
    node_socket_id = await asyncio.wait_for(node.connections.get(), 10)
    servers, sockets = [], []
    for _ in range(2):
        io, client, socket = await start_sio(redis_server, node_peers, mode)
        servers.append(io)
        clients.append(client)
        sockets.append(socket)

    async def all_subscribed() -> bool:
        return [await io.server_count() for io in servers] == [3, 3] and await node.call("serverCount") == 3

    await wait_until(all_subscribed, "three servers subscribed")
    return Mixed(redis_server, node, servers, clients, sockets, node_socket_id, mode)


async def stop_mixed(mixed: Mixed) -> None:
    for io in mixed.servers:
        await io.close()
    await mixed.node.stop()


@contextlib.asynccontextmanager
async def sio_pair(
    redis: RedisServer, node_peers: Any, mode: str = "classic"
) -> AsyncIterator[tuple[list[sio.Server], list[SioPeer]]]:
    """Two sio servers on ``redis`` (no Node), both subscribed, a client on each; closed after."""
    pair = [await start_sio(redis, node_peers, mode) for _ in range(2)]
    servers, clients = [io for io, _, _ in pair], [client for _, client, _ in pair]
    try:

        async def both() -> bool:
            return [await io.server_count() for io in servers] == [2, 2]

        await wait_until(both, "both subscribed")
        yield servers, clients
    finally:
        for io in servers:
            await io.close()


@pytest.fixture(params=["classic", "sharded"])
async def mixed(
    request: pytest.FixtureRequest, redis_server: RedisServer, node_peers: Any
) -> AsyncIterator[Mixed]:
    """Two sio servers and a Node server on the classic adapter, then on the sharded one."""
    running = await start_mixed(redis_server, node_peers, request.param)
    yield running
    await stop_mixed(running)


@pytest.fixture
async def classic(redis_server: RedisServer, node_peers: Any) -> AsyncIterator[Mixed]:
    """The classic adapter only (what the emitter and allRooms speak)."""
    running = await start_mixed(redis_server, node_peers, "classic")
    yield running
    await stop_mixed(running)


async def room_channel_subscribed(mixed: Mixed, room: str, nodes: int) -> None:
    """Sharded (dynamic mode): wait until ``nodes`` nodes subscribed the room's own channel.

    A node subscribes when a local socket joins the room, on its own connection: a broadcast
    published on another connection before Redis took that SSUBSCRIBE is not for it (as in Node).
    The classic adapter subscribes every room at once with its pattern: nothing to wait for.
    """
    if mixed.mode != "sharded":
        return
    link = mixed.servers[0].sockets.adapter.link  # type: ignore[attr-defined]

    async def subscribed() -> bool:
        return await link.numsub(f"socket.io#/#{room}#") == nodes

    await wait_until(subscribed, f"the channel of room {room} subscribed by {nodes} nodes")


async def until_all_got(clients: list[SioPeer], event: str) -> None:
    for client in clients:
        await client.event(event)


# -- broadcasts ---------------------------------------------------------------------------------


async def test_server_count_is_every_subscriber_of_the_request_channel(mixed: Mixed) -> None:
    assert [await io.server_count() for io in mixed.servers] == [3, 3]
    assert await mixed.node.call("serverCount") == 3


async def test_a_sio_broadcast_reaches_node_and_sio_clients_with_binary(mixed: Mixed) -> None:
    mixed.servers[0].emit("news", {"id": 1}, b"\x00\xff", [1.5, None, True])
    for client in mixed.clients:
        assert await client.event("news") == [{"id": 1}, b"\x00\xff", [1.5, None, True]]


async def test_a_node_broadcast_reaches_the_sio_clients_with_binary(mixed: Mixed) -> None:
    await mixed.node.call("emit", name="news", args=to_wire(["from node", b"\x01\x02", {"n": 2}]))
    for client in mixed.clients:
        assert await client.event("news") == ["from node", b"\x01\x02", {"n": 2}]


async def test_room_and_except_broadcasts_cross_both_ways(mixed: Mixed) -> None:
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="red")
    mixed.sockets[1].join("red")
    await room_channel_subscribed(mixed, "red", 2)
    mixed.servers[0].to("red").emit("red-only")  # on the room's channel
    mixed.servers[0].except_("red").emit("not-red")
    mixed.servers[0].emit("after")
    await until_all_got(mixed.clients, "after")
    assert [len(c.events("red-only")) for c in mixed.clients] == [1, 0, 1]
    assert [len(c.events("not-red")) for c in mixed.clients] == [0, 1, 0]


async def test_a_room_broadcast_then_one_to_all_arrive_in_order(mixed: Mixed) -> None:
    """Order across channels: the room's channel first, then the namespace's, as published."""
    mixed.sockets[1].join("blue")
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="blue")
    await room_channel_subscribed(mixed, "blue", 2)
    for i in range(20):
        mixed.servers[0].to("blue").emit("seq", i, "room")
        mixed.servers[0].emit("seq", i, "all")
    mixed.servers[0].emit("after")
    for client in (mixed.clients[0], mixed.clients[2]):
        await client.event("after")
        seen = [tuple(args) for args in client.events("seq")]
        assert seen == [(i, kind) for i in range(20) for kind in ("room", "all")]


async def test_a_namespace_broadcast_crosses(mixed: Mixed) -> None:
    queue: asyncio.Queue[sio.Socket] = asyncio.Queue()
    mixed.servers[1].of("/admin").on("connection", queue.put_nowait)
    await mixed.clients[2].connect("/admin")
    await asyncio.wait_for(queue.get(), 10)
    mixed.servers[0].of("/admin")  # the namespace on the sender: its adapter subscribes

    async def admin_count() -> bool:
        return await mixed.servers[0].of("/admin").adapter.server_count() >= 2

    await wait_until(admin_count, "/admin subscribed on both sio servers")
    mixed.servers[0].of("/admin").emit("admin-news", 1)
    assert await mixed.clients[2].event("admin-news", nsp="/admin") == [1]


async def test_a_received_broadcast_is_encoded_once_for_every_local_recipient(
    mixed: Mixed, node_peers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encode once, across the cluster: what Node broadcasts, sio 1 encodes once for its three clients."""
    receiver = mixed.servers[1]
    port = receiver.engine._servers[0].sockets[0].getsockname()[1]
    extra = []
    for _ in range(2):
        client = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        await client.connect()
        extra.append(client)
    calls = []
    encode = receiver.sockets.encode

    def counting(*args: Any) -> Any:
        calls.append(args[0])
        return encode(*args)

    monkeypatch.setattr(receiver.sockets, "encode", counting)
    await mixed.node.call("emit", name="once", args=to_wire([b"\x01", "x" * 100]))
    for client in (mixed.clients[2], *extra):
        assert await client.event("once") == [b"\x01", "x" * 100]
    assert calls == [2]  # one EVENT encoding for three recipients


async def test_a_local_broadcast_does_not_cross(mixed: Mixed) -> None:
    mixed.servers[0].local.emit("local", 1)
    assert await mixed.clients[1].event("local") == [1]
    mixed.servers[0].emit("after")
    await until_all_got(mixed.clients, "after")
    assert mixed.clients[0].events("local") == [] and mixed.clients[2].events("local") == []


# -- acks, requests -------------------------------------------------------------------------------


async def test_broadcast_acks_are_counted_across_node_and_sio(mixed: Mixed) -> None:
    for i, client in enumerate(mixed.clients):
        await client.reply("question", [f"answer {i}", b"\x07"])
    responses = await mixed.servers[0].timeout(5).emit_with_ack("question", 1)
    assert sorted(r[0] if isinstance(r, list) else r for r in responses) == [
        "answer 0",
        "answer 1",
        "answer 2",
    ]
    responses = await mixed.node.call("emitWithAck", name="question", args=[2], timeout=5000)
    assert sorted(responses) == ["answer 0", "answer 1", "answer 2"]


async def test_fetch_sockets_both_ways_with_data_and_rooms(mixed: Mixed) -> None:
    mixed.sockets[1].data = {"user": "grace"}
    mixed.sockets[1].join("room2")
    await mixed.node.call("setData", id=mixed.node_socket_id, data={"user": "ada"})
    found = await mixed.servers[0].fetch_sockets()
    by_id = {s.id: s for s in found}
    assert set(by_id) == {mixed.node_socket_id, mixed.sockets[0].id, mixed.sockets[1].id}
    node_socket = by_id[mixed.node_socket_id]
    assert isinstance(node_socket, sio.RemoteSocket) and node_socket.data == {"user": "ada"}
    assert by_id[mixed.sockets[1].id].rooms == {mixed.sockets[1].id, "room2"}

    node_socket.emit("direct", "to node's client")
    assert await mixed.clients[0].event("direct") == ["to node's client"]
    node_socket.join("joined-remotely")

    async def joined() -> bool:
        return "joined-remotely" in await mixed.node.call("rooms", id=mixed.node_socket_id)

    await wait_until(joined, "the remote join")

    from_node = {s["id"]: s for s in await mixed.node.call("fetchSockets")}
    assert set(from_node) == set(by_id)
    assert from_node[mixed.sockets[1].id]["data"] == {"user": "grace"}


async def test_volatile_crosses_and_a_remote_socket_leaves(mixed: Mixed) -> None:
    mixed.servers[0].volatile.emit("volatile-news", 1)  # writable everywhere: delivered everywhere
    for client in mixed.clients:
        assert await client.event("volatile-news") == [1]
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="temporary")
    found = {s.id: s for s in await mixed.servers[1].fetch_sockets()}
    remote = found[mixed.node_socket_id]
    assert "temporary" in remote.rooms
    remote.leave("temporary")

    async def left() -> bool:
        return "temporary" not in await mixed.node.call("rooms", id=mixed.node_socket_id)

    await wait_until(left, "the remote leave")


async def test_sockets_leave_both_ways_and_a_remote_disconnect(mixed: Mixed) -> None:
    target = mixed.sockets[1]
    target.join("both")
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="both")
    left = room_change(target.adapter, "leave-room", "both", target.id)
    await mixed.node.call("socketsLeave", target=target.id, room="both")  # Node makes a sio socket leave
    await asyncio.wait_for(left, 10)
    mixed.servers[0].in_(mixed.node_socket_id).sockets_leave("both")  # sio makes Node's socket leave

    async def node_left() -> bool:
        return "both" not in await mixed.node.call("rooms", id=mixed.node_socket_id)

    await wait_until(node_left, "the leave from sio")
    found = {s.id: s for s in await mixed.servers[0].fetch_sockets()}
    found[mixed.sockets[1].id].disconnect()  # a RemoteSocket held by the other sio server
    assert (await mixed.clients[2].expect("disconnect"))["reason"] == "io server disconnect"


async def test_a_node_namespace_broadcast_reaches_sio(mixed: Mixed) -> None:
    queue: asyncio.Queue[sio.Socket] = asyncio.Queue()
    mixed.servers[0].of("/chat").on("connection", queue.put_nowait)
    await mixed.clients[1].connect("/chat")
    await asyncio.wait_for(queue.get(), 10)
    await mixed.node.call("nspEmit", nsp="/chat", name="chat-news", args=to_wire([b"\x09"]))
    assert await mixed.clients[1].event("chat-news", nsp="/chat") == [b"\x09"]


async def test_sockets_join_leave_and_disconnect_from_node(mixed: Mixed) -> None:
    target = mixed.sockets[0]
    joined = room_change(target.adapter, "join-room", "from-node", target.id)
    await mixed.node.call("socketsJoin", target=target.id, room="from-node")
    await asyncio.wait_for(joined, 10)
    await mixed.node.call("disconnectSockets", target="from-node")
    assert (await mixed.clients[1].expect("disconnect"))["reason"] == "io server disconnect"


async def test_sockets_join_and_disconnect_from_sio(mixed: Mixed) -> None:
    mixed.servers[1].in_(mixed.node_socket_id).sockets_join("from-sio")

    async def joined() -> bool:
        return "from-sio" in await mixed.node.call("rooms", id=mixed.node_socket_id)

    await wait_until(joined, "the join from sio")
    mixed.servers[1].in_("from-sio").disconnect_sockets()
    assert (await mixed.clients[0].expect("disconnect"))["reason"] == "io server disconnect"


async def test_server_side_emit_both_ways(mixed: Mixed) -> None:
    mixed.servers[0].server_side_emit("hello", "from sio", 1)
    assert await asyncio.wait_for(mixed.node.server_side.get(), 10) == ["from sio", 1]
    mixed.servers[1].on("ping", lambda cb: cb("pong from sio 1"))
    assert sorted(await mixed.servers[0].server_side_emit_with_ack("ping")) == [
        "pong from node",
        "pong from sio 1",
    ]
    mixed.servers[0].on("ping", lambda cb: cb("pong from sio 0"))
    assert sorted(await mixed.node.call("serverSideEmitWithAck", name="ping", args=[])) == [
        "pong from sio 0",
        "pong from sio 1",
    ]


async def test_all_rooms_across_nodes(classic: Mixed) -> None:
    mixed = classic
    mixed.sockets[0].join("a")
    await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="b")
    rooms = await mixed.servers[1].sockets.adapter.all_rooms()  # type: ignore[attr-defined]
    assert {"a", "b", mixed.node_socket_id, *(s.id for s in mixed.sockets)} <= rooms


# -- the Node emitter ----------------------------------------------------------------------------


async def test_the_node_emitter_drives_the_sio_servers(classic: Mixed) -> None:
    mixed = classic
    await mixed.node.call("emitterEmit", name="from-emitter", args=to_wire([1, b"\x02"]))
    for client in mixed.clients:
        assert await client.event("from-emitter") == [1, b"\x02"]
    mixed.sockets[1].join("vip")
    await mixed.node.call("emitterEmit", name="vip-news", room="vip", args=[])
    assert await mixed.clients[2].event("vip-news") == []
    joined = room_change(mixed.sockets[0].adapter, "join-room", "via-emitter", mixed.sockets[0].id)
    await mixed.node.call("emitterJoin", target=mixed.sockets[0].id, room="via-emitter")
    await asyncio.wait_for(joined, 10)
    received: asyncio.Queue[Any] = asyncio.Queue()
    mixed.servers[1].on("job", lambda *args: received.put_nowait(args))
    await mixed.node.call("emitterServerSideEmit", name="job", args=[42])
    assert await asyncio.wait_for(received.get(), 10) == (42,)


@pytest.mark.parametrize("client_kind", ["url", "asyncio"])
async def test_redis_emitter_drives_node_and_sio_servers(classic: Mixed, client_kind: str) -> None:
    mixed = classic
    emitter = RedisEmitter(
        mixed.redis.url if client_kind == "url" else aioredis.Redis.from_url(mixed.redis.url)
    )
    try:
        emitter.emit("from-python", 1, b"\x02", {"k": [None]})
        for client in mixed.clients:
            assert await client.event("from-python") == [1, b"\x02", {"k": [None]}]

        await mixed.node.call("joinLocal", id=mixed.node_socket_id, room="vip")
        mixed.sockets[0].join("vip")
        emitter.to("vip").emit("vip-only")
        emitter.except_("vip").emit("not-vip")
        emitter.emit("after")
        await until_all_got(mixed.clients, "after")
        assert [len(c.events("vip-only")) for c in mixed.clients] == [1, 1, 0]
        assert [len(c.events("not-vip")) for c in mixed.clients] == [0, 0, 1]

        joined = room_change(mixed.sockets[1].adapter, "join-room", "from-emitter", mixed.sockets[1].id)
        emitter.in_(mixed.sockets[1].id).sockets_join("from-emitter")
        await asyncio.wait_for(joined, 10)
        emitter.in_(mixed.node_socket_id).sockets_join("from-emitter")

        async def node_joined() -> bool:
            return "from-emitter" in await mixed.node.call("rooms", id=mixed.node_socket_id)

        await wait_until(node_joined, "the emitter's join on Node")

        received: asyncio.Queue[Any] = asyncio.Queue()
        mixed.servers[0].on("job", lambda *args: received.put_nowait(args))
        emitter.server_side_emit("job", 7)
        assert await asyncio.wait_for(received.get(), 10) == (7,)

        emitter.of("/").in_("from-emitter").disconnect_sockets()
        assert (await mixed.clients[0].expect("disconnect"))["reason"] == "io server disconnect"
        assert (await mixed.clients[2].expect("disconnect"))["reason"] == "io server disconnect"
        with pytest.raises(sio.LocalProtocolError):
            emitter.emit("connect")
        with pytest.raises(sio.LocalProtocolError):
            emitter.server_side_emit("job", lambda: None)
    finally:
        await emitter.aclose()


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "payload"),
    [
        ("socket.io#/#", b"\xc1garbage"),
        ("socket.io#/#", b"\x93\xa1x\x01\x02"),  # [uid, 1, 2]
        ("socket.io#/#", b"\x93\xa1x\x81\xa4type\x07\x80"),  # packet type 7
        ("socket.io-request#/#", b'{"type":5}'),  # Node 8.3.0: an unhandled rejection
        ("socket.io-request#/#", b'{"type":99,"uid":"x"}'),
        ("socket.io-request#/#", b"{not json"),
        ("socket.io-request#/#", b'{"type":2,"opts":{"rooms":7}}'),
        ("socket.io-request#/#", b'{"type":6,"data":"x"}'),
        ("socket.io-response#/#", b'{"requestId":3,"sockets":5}'),
        ("socket.io-response#/#", b"\xff\xff"),
        ("socket.io#/unknown-namespace#", b"\x93\xa1x\x82\xa4type\x02\xa4data\x91\xa1e\x80"),
    ],
)
async def test_garbage_on_a_channel_is_dropped(
    redis_server: RedisServer, node_peers: Any, channel: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """sio servers only: Node's adapter 8.3.0 dies of the first of these ("Could not parse", uncaught)."""
    client = aioredis.Redis.from_url(redis_server.url)
    async with sio_pair(redis_server, node_peers) as (servers, clients):
        with caplog.at_level(logging.DEBUG, logger="sio.redis"):
            await client.publish(channel, payload)
            servers[1].emit("after")  # published after the garbage: handled after it
            await until_all_got(clients, "after")
        assert all(e["name"] == "after" for c in clients for e in c.node.seen("event"))
        assert [await io.server_count() for io in servers] == [2, 2]
        if "unknown-namespace" not in channel:
            assert any("dropped" in r.getMessage() for r in caplog.records)
    await client.aclose()


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1garbage",
        b"{not json",
        b'{"uid":"x","nsp":"/","type":3,"data":{"packet":{"type":2,"data":[]},"opts":{}}}',
        b'{"uid":"x","nsp":"/","type":99}',
        b'{"uid":"x","nsp":"/","type":7,"data":{"opts":{}}}',
        b'{"uid":"x","nsp":"/","type":9,"data":{"packet":"nope"}}',
        b"[1,2,3]",
        b'{"uid":"x","nsp":"/","type":11,"data":{"requestId":"r","clientCount":-5}}',
    ],
)
async def test_garbage_on_a_sharded_channel_is_dropped(
    redis_server: RedisServer, node_peers: Any, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    async with sio_pair(redis_server, node_peers, "sharded") as (servers, clients):
        with caplog.at_level(logging.DEBUG):
            await client.execute_command("SPUBLISH", "socket.io#/#", payload)
            servers[1].emit("after")
            await until_all_got(clients, "after")
        assert all(e["name"] == "after" for c in clients for e in c.node.seen("event"))
        assert any("dropped" in r.getMessage() for r in caplog.records)
    await client.aclose()


@pytest.mark.parametrize("mode", ["classic", "sharded"])
async def test_redis_going_away_and_coming_back(
    node_peers: Any, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    redis = RedisServer().start()
    options = {"requests_timeout": 1.0} if mode == "classic" else {}
    try:
        first, client_a, _ = await start_sio(redis, node_peers, mode, **options)
        second, client_b, _ = await start_sio(redis, node_peers, mode, **options)

        async def both() -> bool:
            return await first.server_count() == 2

        await wait_until(both, "both subscribed")
        with caplog.at_level(logging.WARNING, logger="sio.redis"):
            redis.stop()
            for i in range(50):  # local delivery goes on; one log line per outage, not per message
                first.emit("during", i)
            assert await client_a.event("during") == [0]
            with pytest.raises(sio.AckTimeoutError):
                await first.server_side_emit_with_ack("anyone")
            with pytest.raises(sio.AckTimeoutError):
                await first.fetch_sockets()
            redis.start()  # the same port
            await wait_until(both, "both subscribed again", limit=20)
            first.emit("back", 1)
            assert await client_b.event("back") == [1]
        outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert 1 <= len(outage_lines) <= 2  # one per link that saw it (publisher and subscriber share one)
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        await first.close()
        await second.close()
    finally:
        redis.stop()


async def test_redis_unreachable_at_start_then_started(node_peers: Any) -> None:
    redis = RedisServer()  # not started yet
    io, client, _ = await start_sio(redis, node_peers)
    io.emit("local-first", 1)
    assert await client.event("local-first") == [1]
    redis.start()
    other, _, _ = await start_sio(redis, node_peers)
    try:

        async def both() -> bool:
            return await other.server_count() == 2

        await wait_until(both, "the first server subscribed once Redis came", limit=20)
        other.emit("cross", 2)
        assert await client.event("cross") == [2]
    finally:
        await io.close()
        await other.close()
        redis.stop()


class _OtherClient(aioredis.Redis):
    """A client type the fast path does not take over (as TLS or a unix socket): redis-py carries it all."""


@pytest.mark.parametrize("mode", ["classic", "sharded"])
async def test_the_redis_py_path_and_a_password(node_peers: Any, mode: str) -> None:
    """A server on redis-py's path (a client object of another type) and one on the fast path with AUTH."""
    redis = RedisServer("--requirepass", "s3cret").start()
    url = f"redis://:s3cret@127.0.0.1:{redis.port}/0"
    adapters = {"classic": redis_adapter, "sharded": sharded_redis_adapter}
    servers, clients = [], []
    try:
        for client in (url, _OtherClient.from_url(url)):
            io = sio.Server(adapter=adapters[mode](client))
            server = await io.serve("127.0.0.1", 0)
            peer = await SioPeer.start(
                node_peers, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", transports=["websocket"]
            )
            await peer.connect()
            servers.append(io)
            clients.append(peer)

        async def both() -> bool:
            return [await io.server_count() for io in servers] == [2, 2]

        await wait_until(both, "both subscribed")
        servers[0].emit("fast-to-slow", b"\x01")
        servers[1].emit("slow-to-fast", 2)
        for peer in clients:  # in either order: one is local, the other crossed Redis
            got = {}
            while len(got) < 2:
                event = await peer.expect("event")
                got[event["name"]] = from_wire(event["args"])
            assert got == {"fast-to-slow": [b"\x01"], "slow-to-fast": [2]}
    finally:
        for io in servers:
            await io.close()
        redis.stop()
