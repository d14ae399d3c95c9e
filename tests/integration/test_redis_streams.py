"""The Redis streams adapter (Node's @socket.io/redis-streams-adapter 0.3.1) on a real redis-server.

Mixed clusters: sio servers and a Node socket.io 4.8.4 server running Node's streams adapter
(tests/js/cluster_node.js redis-streams), official socket.io-clients on each; every operation both
ways, the stream entries Node writes compared field by field with ours, connection state recovery
across the two (a client of one recovered on the other, through a relay whose backend the test
switches, so the client's own reconnection sends its pid and offset), a SIGKILLed sio node's
client recovered elsewhere, garbage on the stream and the channels, Redis restarting.

Each test has its own stream, channel prefix and session prefix: nothing of one test is read by another.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis

import sio
from sio.adapters.redis import redis_streams_adapter
from sio.adapters.redis import streams as streams_module
from sio.adapters.redis.streams import RedisStreamsAdapter, hash_code, stream_for
from tests.integration.cluster_bus import room_change, wait_until
from tests.integration.nodecluster import NodeServer
from tests.integration.siopeer import SioPeer, to_wire
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
RECONNECT = {"reconnection": True, "reconnectionDelay": 20, "reconnectionDelayMax": 50}
_names = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


Names = dict[str, str]  # a test's stream_name, channel_prefix and session_key_prefix


@pytest.fixture
def names() -> Names:
    """This test's own stream, channels and session keys."""
    n = next(_names)
    return {"stream_name": f"stream-{n}", "channel_prefix": f"chan-{n}", "session_key_prefix": f"sess-{n}:"}


def node_options(names: Names, recovery: Any = None, **adapter: Any) -> dict[str, Any]:
    """cluster_node.js's options: the same names in Node's spelling, and Node's recovery options."""
    options: dict[str, Any] = {
        "adapter": {
            "streamName": names["stream_name"],
            "channelPrefix": names["channel_prefix"],
            "sessionKeyPrefix": names["session_key_prefix"],
            **adapter,
        }
    }
    if recovery is not None:
        options["recovery"] = recovery
    return options


class SioNode:
    """A sio server on the streams adapter, served on a free port, with what it saw."""

    def __init__(self, io: sio.Server, port: int) -> None:
        self.io = io
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.connections: asyncio.Queue[sio.Socket] = asyncio.Queue()
        self.disconnects: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.server_side: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @property
    def adapter(self) -> RedisStreamsAdapter:
        return self.io.sockets.adapter  # type: ignore[return-value]


async def serve_sio(redis: RedisServer, names: Names, recovery: Any = None, **options: Any) -> SioNode:
    io = sio.Server(
        adapter=redis_streams_adapter(redis.url, **names, **options), connection_state_recovery=recovery
    )
    server = await io.serve("127.0.0.1", 0)
    node = SioNode(io, server.sockets[0].getsockname()[1])

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        node.connections.put_nowait(socket)

        def join(room: str, ack: Any) -> None:
            socket.join(room)
            ack()

        def set_data(key: str, value: Any, ack: Any) -> None:
            socket.data[key] = value
            ack()

        socket.on("join", join)
        socket.on("set", set_data)
        socket.on("disconnect", lambda reason: node.disconnects.put_nowait((socket.id, reason)))

    io.on("hello", lambda *args: node.server_side.put_nowait(args))
    io.on("ping", lambda cb: cb(f"pong from sio {node.port}"))
    return node


Starter = Callable[..., Awaitable[SioNode]]


@pytest.fixture(name="start_sio")
async def _start_sio() -> AsyncIterator[Starter]:
    """serve_sio for one test: every node it started is closed at teardown, the last first.

    A node the test closed itself is closed again, which does nothing (the adapter and the engine
    close once); an error in one close does not keep the others open (it is raised after them).
    """
    async with contextlib.AsyncExitStack() as nodes:

        async def start(redis: RedisServer, names: Names, recovery: Any = None, **options: Any) -> SioNode:
            node = await serve_sio(redis, names, recovery, **options)
            nodes.push_async_callback(node.io.close)
            return node

        yield start


_node_servers: list[NodeServer] = []


@pytest.fixture(autouse=True)
async def _stop_node_servers() -> AsyncIterator[None]:
    yield
    while _node_servers:
        await _node_servers.pop().stop()


async def start_node(node_peers: Any, redis: RedisServer, names: Names, **options: Any) -> NodeServer:
    node = NodeServer(
        await node_peers(
            "cluster_node.js", "redis-streams", redis.url, json.dumps(node_options(names, **options))
        )
    )
    _node_servers.append(node)
    await node.listening()
    return node


async def client_of(node_peers: Any, url: str, **options: Any) -> SioPeer:
    client = await SioPeer.start(node_peers, url, transports=["websocket"], **options)
    connected = await client.connect()
    assert connected["event"] == "connect", connected
    return client


async def reconnecting_client(node_peers: Any, url: str) -> tuple[SioPeer, dict[str, Any]]:
    """A client that reconnects by itself (presenting its pid and offset), and its first connect event."""
    client = await SioPeer.start(node_peers, url, transports=["websocket"], **RECONNECT)
    return client, await client.connect()


async def counted(servers: list[SioNode], node: NodeServer | None, expected: int) -> None:
    async def all_counted() -> bool:
        try:
            counts = [await s.io.server_count() for s in servers]
        except sio.AckTimeoutError:  # Redis is not reachable (yet)
            return False
        if node is not None:
            counts.append(await node.call("serverCount"))
        return counts == [expected] * len(counts)

    await wait_until(all_counted, f"{expected} servers subscribed")


class Mixed:
    """Two sio servers and a Node server on the same streams, a client on each."""

    def __init__(self) -> None:
        self.sio: list[SioNode] = []
        self.node: NodeServer
        self.clients: list[SioPeer] = []  # [node's, sio 0's, sio 1's]
        self.sockets: list[sio.Socket] = []  # sio 0's and sio 1's
        self.node_socket: str = ""


@pytest.fixture
async def mixed(redis_server: RedisServer, node_peers: Any, names: Names, start_sio: Starter) -> Mixed:
    cluster = Mixed()
    cluster.node = await start_node(node_peers, redis_server, names)
    cluster.clients.append(await client_of(node_peers, f"http://127.0.0.1:{cluster.node.port}"))
    cluster.node_socket = await asyncio.wait_for(cluster.node.connections.get(), 10)
    for _ in range(2):
        node = await start_sio(redis_server, names)
        cluster.sio.append(node)
        cluster.clients.append(await client_of(node_peers, node.url))
        cluster.sockets.append(await asyncio.wait_for(node.connections.get(), 10))
    await counted(cluster.sio, cluster.node, 3)
    return cluster


async def entries(redis_client: aioredis.Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    raw = await redis_client.xrange(stream)
    return [(i.decode(), {k.decode(): v.decode() for k, v in f.items()}) for i, f in raw]


# -- the cluster, both ways ---------------------------------------------------------------------


async def test_server_count_is_the_subscribers_of_the_public_channel(mixed: Mixed) -> None:
    assert [await s.io.server_count() for s in mixed.sio] == [3, 3]
    assert await mixed.node.call("serverCount") == 3


async def test_broadcasts_cross_both_ways_with_binary(mixed: Mixed) -> None:
    mixed.sio[0].io.emit("news", {"id": 1}, b"\x00\xff", [1.5, None, True])
    for client in mixed.clients:
        assert await client.event("news") == [{"id": 1}, b"\x00\xff", [1.5, None, True]]
    await mixed.node.call("emit", name="from-node", args=to_wire(["n", b"\x01\x02", {"k": 2}]))
    for client in mixed.clients:
        assert await client.event("from-node") == ["n", b"\x01\x02", {"k": 2}]


async def test_rooms_and_except_cross_both_ways_in_order(mixed: Mixed) -> None:
    await mixed.node.call("joinLocal", id=mixed.node_socket, room="red")
    mixed.sockets[1].join("red")
    for i in range(10):
        mixed.sio[0].io.to("red").emit("seq", i, "red")
        mixed.sio[0].io.except_("red").emit("seq", i, "not-red")
    mixed.sio[0].io.emit("after")
    await mixed.node.call("emit", name="seq", args=[10, "red"], room="red")
    await mixed.node.call("emit", name="seq", args=[10, "not-red"], **{"except": "red"})
    await mixed.node.call("emit", name="after-node")
    for client in mixed.clients:
        # Either last event can come first: sio's and Node's XADDs race, and a node delivers its
        # own broadcast at once while the other's comes through its stream reader.
        await client.until_seen("after", "after-node")
    # In order per sender (two senders' broadcasts may interleave differently on each node).
    red = [[i, "red"] for i in range(10)]
    not_red = [[i, "not-red"] for i in range(10)]
    assert [[e for e in c.events("seq") if e[0] < 10] for c in mixed.clients] == [red, not_red, red]
    assert [[e for e in c.events("seq") if e[0] == 10] for c in mixed.clients] == [
        [[10, "red"]],
        [[10, "not-red"]],
        [[10, "red"]],
    ]


async def test_broadcast_acks_cross_both_ways(mixed: Mixed) -> None:
    answers = await mixed.sio[0].io.timeout(5).emit_with_ack("question", 1)
    assert sorted(answers) == [1, 1, 1]  # the clients echo
    answers = await mixed.node.call("emitWithAck", name="question", args=[2], timeout=5000)
    assert answers == [2, 2, 2]


async def test_fetch_sockets_and_server_side_emit_both_ways(mixed: Mixed) -> None:
    everyone = {mixed.node_socket, *(s.id for s in mixed.sockets)}
    assert {s.id for s in await mixed.sio[0].io.fetch_sockets()} == everyone
    assert {s["id"] for s in await mixed.node.call("fetchSockets")} == everyone
    mixed.sockets[1].join("blue")
    assert [s.id for s in await mixed.sio[0].io.in_("blue").fetch_sockets()] == [mixed.sockets[1].id]
    assert [s["id"] for s in await mixed.node.call("fetchSockets", room="blue")] == [mixed.sockets[1].id]

    answers = await mixed.sio[0].io.server_side_emit_with_ack("ping")
    assert sorted(answers) == sorted(["pong from node", f"pong from sio {mixed.sio[1].port}"])
    answers = await mixed.node.call("serverSideEmitWithAck", name="ping")
    assert sorted(answers) == sorted(f"pong from sio {s.port}" for s in mixed.sio)
    mixed.sio[0].io.server_side_emit("hello", 1, b"\x02")
    assert await mixed.node.server_side.get() == [1, b"\x02"]
    assert await mixed.sio[1].server_side.get() == (1, b"\x02")


async def test_sockets_join_leave_and_disconnect_cross_both_ways(mixed: Mixed) -> None:
    target = mixed.sockets[1]
    joined = room_change(mixed.sio[1].adapter, "join-room", "green", target.id)
    await mixed.node.call("socketsJoin", target=target.id, room="green")
    await joined
    left = room_change(mixed.sio[1].adapter, "leave-room", "green", target.id)
    await mixed.node.call("socketsLeave", target=target.id, room="green")
    await left
    mixed.sio[0].io.in_(mixed.node_socket).sockets_join("yellow")

    async def joined_on_node() -> bool:  # no event to await on Node's side
        return "yellow" in await mixed.node.call("rooms", id=mixed.node_socket)

    await wait_until(joined_on_node, "the Node socket joined")
    mixed.sio[0].io.in_(mixed.node_socket).disconnect_sockets()
    assert (await mixed.clients[0].expect("disconnect"))["reason"] == "io server disconnect"
    await mixed.node.call("disconnectSockets", target=target.id)
    assert (await mixed.clients[2].expect("disconnect"))["reason"] == "io server disconnect"


# -- the wire, compared with Node's ------------------------------------------------------------


async def test_stream_entries_are_the_ones_node_writes(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    node = await start_node(node_peers, redis_server, names)
    ours = await start_sio(redis_server, names)
    await client_of(node_peers, ours.url)
    socket = await asyncio.wait_for(ours.connections.get(), 10)
    await counted([ours], node, 2)
    cases: list[tuple[str, dict[str, Any], Any]] = [
        (
            "emit",
            {"name": "plain", "args": [1, "two", {"three": [3, None, True]}, "é€😀"]},
            lambda io: io.emit("plain", 1, "two", {"three": [3, None, True]}, "é€😀"),
        ),
        (
            "emit",
            {"name": "binary", "args": to_wire([b"\x01\x02", {"k": b"\x03"}])},
            lambda io: io.emit("binary", b"\x01\x02", {"k": b"\x03"}),
        ),
        (
            "emit",
            {"name": "room", "args": [], "room": "r1", "except": "r2"},
            lambda io: io.to("r1").except_("r2").emit("room"),
        ),
        (
            "emit",
            {"name": "volatile", "args": [], "volatile": True},
            lambda io: io.volatile.emit("volatile"),
        ),
        (
            "socketsJoin",
            {"target": socket.id, "room": "r3"},
            lambda io: io.in_(socket.id).sockets_join("r3"),
        ),
        (
            "socketsLeave",
            {"target": socket.id, "room": "r3"},
            lambda io: io.in_(socket.id).sockets_leave("r3"),
        ),
        ("disconnectSockets", {"target": "nobody"}, lambda io: io.in_("nobody").disconnect_sockets()),
    ]
    for command, fields, ours_too in cases:
        await node.call(command, **fields)
        await node.call("barrier")
        ours_too(ours.io)
        await ours.adapter.drain()
    written = await entries(redis_client, names["stream_name"])
    assert len(written) == 2 * len(cases)
    node_uid = written[0][1]["uid"]
    for index in range(0, len(written), 2):
        theirs, mine = written[index][1], written[index + 1][1]
        assert theirs["uid"] == node_uid and mine["uid"] == ours.adapter.uid
        assert list(mine) == list(theirs) == ["uid", "nsp", "type", "data"]  # the field order too
        assert {k: v for k, v in mine.items() if k != "uid"} == {
            k: v for k, v in theirs.items() if k != "uid"
        }
    assert written[2][1]["data"][0] != "{"  # binary: base64 of msgpack, as Node


async def test_pubsub_messages_are_the_ones_node_publishes(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    node = await start_node(node_peers, redis_server, names)
    ours = await start_sio(redis_server, names)
    pubsub = redis_client.pubsub()
    try:
        await counted([ours], node, 2)
        await pubsub.subscribe(f"{names['channel_prefix']}#/#")
        await node.call("serverSideEmit", name="hello", args=[1, "a", {"b": [2]}])
        ours.io.server_side_emit("hello", 1, "a", {"b": [2]})
        got = []
        while len(got) < 2:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
            if message is not None:
                got.append(message["data"])
        theirs, mine = (msgpack.unpackb(raw) for raw in got)
        if theirs.get("uid") == ours.adapter.uid:
            theirs, mine = mine, theirs
            got.reverse()
        assert list(mine) == list(theirs) == ["type", "data", "uid", "nsp"]
        assert {**mine, "uid": "x"} == {**theirs, "uid": "x"}
        assert got[1] == got[0].replace(theirs["uid"].encode(), mine["uid"].encode())  # byte for byte
    finally:
        await pubsub.aclose()


async def test_several_streams_are_node_s_streams(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    namespaces = ["/", "/chat", "/a-much-longer-namespace-name", "/😀"]
    negative = next(f"/n{i}" for i in itertools.count() if hash_code(f"/n{i}" * 7) < 0) * 7
    node = await start_node(node_peers, redis_server, names, streamCount=3)
    ours = await start_sio(redis_server, names, stream_count=3)
    for nsp in [*namespaces, negative]:
        await node.call("nspEmit", nsp=nsp, name="where")
    await node.call("barrier")
    for nsp in [*namespaces, negative]:
        stream = stream_for(nsp, names["stream_name"], 3)
        assert [fields["nsp"] for _, fields in await entries(redis_client, stream)].count(nsp) == 1, nsp
    assert stream_for(negative, "s", 3).startswith("s--")  # JavaScript's % keeps the sign
    # A namespace on another stream than "/" crosses both ways.
    queue: asyncio.Queue[sio.Socket] = asyncio.Queue()
    ours.io.of("/chat").on("connection", queue.put_nowait)
    client = await SioPeer.start(node_peers, ours.url, transports=["websocket"])
    await client.connect("/chat")
    await asyncio.wait_for(queue.get(), 10)
    await counted([ours], node, 2)
    await node.call("nspEmit", nsp="/chat", name="hi", args=[1])
    assert await client.event("hi", nsp="/chat") == [1]


# -- connection state recovery across nodes -----------------------------------------------------


class Relay:
    """A TCP relay on a free port to a backend the test chooses; new connections can be held."""

    def __init__(self) -> None:
        self.target = 0
        self.open = asyncio.Event()
        self.open.set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, target: int) -> Relay:
        self.target = target
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.open.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            for end in (sink, writer, up_writer):
                end.close()

        for task in (
            asyncio.ensure_future(pipe(reader, up_writer)),
            asyncio.ensure_future(pipe(up_reader, writer)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()


async def client_with_an_offset(node_peers: Any, node: SioNode) -> tuple[SioPeer, sio.Socket, str]:
    """A client of ``node``, its socket there, and the offset of the one event it got."""
    client = await client_of(node_peers, node.url)
    socket = await node.connections.get()
    node.io.emit("tick")
    return client, socket, (await client.event("tick"))[-1]


async def offline_with_an_offset(
    node_peers: Any, node: SioNode, *event: Any
) -> tuple[SioPeer, dict[str, Any], sio.Socket]:
    """A reconnecting client of ``node`` that got ``event`` (so holds an offset), then lost its
    connection: the client, its first connect event, its socket. Its reconnection restores."""
    client, first = await reconnecting_client(node_peers, node.url)
    socket = await node.connections.get()
    node.io.emit(*event)
    await client.event(event[0])
    client.command("closeEngine")
    await node.disconnects.get()
    return client, first, socket


async def live_session_key(
    node: SioNode, socket: sio.Socket, names: Names, redis_client: aioredis.Redis
) -> str:
    """The key of ``socket``'s live session, there once what ``node`` wrote reached Redis."""
    await node.adapter.drain()
    key = f"{names['session_key_prefix']}live:{socket.pid}"
    assert await redis_client.get(key) is not None
    return key


async def presenting(
    node_peers: Any, url: str, pid: str | None, offset: str, nsp: str = "/"
) -> dict[str, Any]:
    """A new client of ``url`` presenting ``pid`` and ``offset`` (another's): its connect event."""
    peer = await SioPeer.start(node_peers, url, transports=["websocket"])
    return await peer.connect(nsp, auth={"pid": pid, "offset": offset})


async def missed_from(server: Any, kind: str, sid: str, tag: str) -> None:
    """Emit the packets a recovering client must (and must not) get, from a sio or Node server."""
    if kind == "sio":
        io = server.io
        io.emit("missed", tag, "all")
        io.to("in").emit("missed", tag, "room-in")
        io.to("out").emit("missed", tag, "room-out")  # not for it
        io.except_("in").emit("missed", tag, "except-in")  # not for it
        io.to(sid).emit("missed", tag, "direct")
        io.volatile.emit("missed", tag, "volatile")  # never replayed
        await server.adapter.drain()
    else:
        await server.call("emit", name="missed", args=[tag, "all"])
        await server.call("emit", name="missed", args=[tag, "room-in"], room="in")
        await server.call("emit", name="missed", args=[tag, "room-out"], room="out")
        await server.call("emit", name="missed", args=[tag, "except-in"], **{"except": "in"})
        await server.call("emit", name="missed", args=[tag, "direct"], room=sid)
        await server.call("emit", name="missed", args=[tag, "volatile"], volatile=True)
        await server.call("barrier")


@pytest.mark.parametrize("origin,destination", [("sio", "node"), ("node", "sio"), ("sio", "sio")])
async def test_a_client_is_recovered_on_another_node(
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    origin: str,
    destination: str,
    start_sio: Starter,
) -> None:
    recovery = {"maxDisconnectionDuration": 60_000, "skipMiddlewares": True}
    servers: dict[str, Any] = {}
    for role, kind in (("origin", origin), ("destination", destination)):
        if kind == "sio":
            servers[role] = await start_sio(redis_server, names, recovery=True)
        else:
            servers[role] = await start_node(node_peers, redis_server, names, recovery=recovery)
    relay = await Relay().start(servers["origin"].port)
    try:
        client, first = await reconnecting_client(node_peers, relay.url)
        assert first["recovered"] is False
        sid = first["id"]
        await client.call("join", "in")
        await client.call("set", "user", {"name": "ann"})
        # One event for the client to hold an offset, a stream entry id.
        if origin == "sio":
            servers["origin"].io.emit("before", 0)
        else:
            await servers["origin"].call("emit", name="before", args=[0])
        offset = (await client.event("before"))[-1]
        assert streams_module.OFFSET.fullmatch(offset), offset

        relay.open.clear()  # the reconnection waits until the test lets it through
        relay.target = servers["destination"].port
        client.command("closeEngine")
        if origin == "sio":
            assert await servers["origin"].disconnects.get() == (sid, "transport close")
        else:
            assert (await servers["origin"].disconnects.get())["reason"] == "transport close"
        for role in ("origin", "destination"):
            await missed_from(servers[role], origin if role == "origin" else destination, sid, role)
        relay.open.set()

        connected = await client.expect("connect")
        assert connected["id"] == sid and connected["recovered"] is True
        missed = [args[:-1] for args in client.events("missed")]
        # Node's restoreSession replays volatile packets too (it filters on rooms only); sio does not.
        kinds = (
            ["all", "room-in", "direct"] if destination == "sio" else ["all", "room-in", "direct", "volatile"]
        )
        assert missed == [[role, kind] for role in ("origin", "destination") for kind in kinds]
        offsets = [args[-1] for args in client.events("missed")]
        assert offsets == sorted(offsets, key=lambda o: tuple(map(int, o.split("-"))))
        assert len(set(offsets)) == len(offsets)
        if destination == "sio":
            socket = await servers["destination"].connections.get()
            assert socket.recovered and socket.id == sid
            assert socket.rooms == {sid, "in"} and socket.data == {"user": {"name": "ann"}}
        else:
            event = await servers["destination"].connected.get()
            assert event["recovered"] is True and event["id"] == sid
            assert sorted(event["rooms"]) == sorted([sid, "in"]) and event["data"] == {
                "user": {"name": "ann"}
            }
        # And the session goes on: a broadcast to its room from the other node reaches it.
        if origin == "sio":
            servers["origin"].io.to("in").emit("after", 1)
        else:
            await servers["origin"].call("emit", name="after", args=[1], room="in")
        assert (await client.event("after"))[0] == 1
    finally:
        await relay.close()


async def test_a_socket_s_own_emits_carry_offsets_and_are_replayed(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names, recovery=True)
    client, _ = await reconnecting_client(node_peers, ours.url)
    socket = await ours.connections.get()
    for i in range(3):
        socket.emit("direct", i)
    socket.emit("with-ack", 9, lambda *a: None)  # not in the stream: an ack cannot be replayed
    got = [await client.event("direct") for _ in range(3)]
    assert [g[0] for g in got] == [0, 1, 2]
    written = await entries(redis_client, names["stream_name"])
    assert [i for i, _ in written] == [g[1] for g in got]  # the offsets are the entry ids
    assert json.loads(written[0][1]["data"])["opts"] == {"rooms": [socket.id], "except": [], "flags": {}}

    client.command("closeEngine")
    assert await ours.disconnects.get() == (socket.id, "transport close")
    connected = await client.expect("connect")
    assert connected["recovered"] is True
    assert [g[0] for g in client.events("direct")] == [0, 1, 2]  # nothing missed, nothing twice
    assert client.events("with-ack")[0][0] == 9


async def test_restores_read_the_stream_in_pages(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    start_sio: Starter,
) -> None:
    monkeypatch.setattr(streams_module, "RESTORE_PAGE", 3)
    ours = await start_sio(redis_server, names, recovery=True)
    client, _, socket = await offline_with_an_offset(node_peers, ours, "n", -1)
    for i in range(10):  # after the offset: pages of 3, 3, 3 and 1
        ours.io.emit("n", i)
    connected = await client.expect("connect")
    assert connected["recovered"] is True and connected["id"] == socket.id
    assert [args[0] for args in client.events("n")] == [-1, *range(10)]


async def test_a_malformed_or_unknown_offset_gives_a_fresh_session(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names, recovery=True)
    client, socket, offset = await client_with_an_offset(node_peers, ours)
    pid = socket.pid
    assert pid is not None
    client.command("closeEngine")
    await ours.disconnects.get()
    await ours.adapter.drain()
    key = f"{names['session_key_prefix']}{pid}"
    assert await redis_client.get(key) is not None
    for bad in ("nope", "1-2-3", "-1", f"{offset}x", "12345"):
        connected = await presenting(node_peers, ours.url, pid, bad)
        assert connected["recovered"] is False and connected["id"] != socket.id, bad
        assert await redis_client.get(key) is not None  # refused before the session was read
    # A well-formed offset the stream does not have: fresh too (and the session is spent, as Node).
    connected = await presenting(node_peers, ours.url, pid, "1-0")
    assert connected["recovered"] is False
    assert await redis_client.get(key) is None


# -- a node killed without a clean disconnect ---------------------------------------------------


async def start_process(url: str, options: dict[str, Any]) -> tuple[asyncio.subprocess.Process, int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.streams_server",
        url,
        json.dumps(options),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    port, uid = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().split()
    return process, int(port), uid


@pytest.mark.parametrize("live_sessions", [True, False])
async def test_a_killed_node_s_client_is_recovered_by_another(
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    redis_client: aioredis.Redis,
    live_sessions: bool,
    start_sio: Starter,
) -> None:
    process, port, uid = await start_process(redis_server.url, {**names, "live_sessions": live_sessions})
    survivor = await start_sio(redis_server, names, recovery=True, live_sessions=live_sessions)
    relay = await Relay().start(port)
    try:
        client, first = await reconnecting_client(node_peers, relay.url)
        sid = first["id"]
        await client.call("join", "in")
        await client.call("set", "user", "bob")  # acked once Redis has the live session
        survivor.io.emit("before", 0)
        await client.event("before")
        live_keys = await redis_client.keys(f"{names['session_key_prefix']}live:*")
        assert len(live_keys) == (1 if live_sessions else 0)

        relay.open.clear()
        relay.target = survivor.port
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await client.expect("disconnect")
        private = f"{names['channel_prefix']}#/#{uid}#"

        async def gone() -> bool:  # its connections closed (at once); its node key is still there
            return (await redis_client.pubsub_numsub(private))[0][1] == 0

        await wait_until(gone, "Redis saw the killed node's connections close")
        await missed_from(survivor, "sio", sid, "survivor")
        # The client comes back at once, as a real one does, before the dead node's key expired:
        # the survivor's restore waits for that expiry (at most NODE_TTL) rather than refuse.
        relay.open.set()
        connected = await client.expect("connect")
        if not live_sessions:  # Node's behaviour: the session died with its node
            assert connected["recovered"] is False and connected["id"] != sid
            assert client.events("missed") == []
            return
        assert connected["recovered"] is True and connected["id"] == sid
        assert [args[:-1] for args in client.events("missed")] == [
            ["survivor", "all"],
            ["survivor", "room-in"],
            ["survivor", "direct"],
        ]
        socket = await survivor.connections.get()
        assert socket.id == sid and socket.rooms == {sid, "in"} and socket.data == {"user": "bob"}
        # Now the survivor's own socket: its live session names the survivor.
        await survivor.adapter.drain()
        raw = await redis_client.get(f"{names['session_key_prefix']}live:{socket.pid}")
        assert raw is not None
        owner, value = raw.split(b" ")
        assert owner.decode() == survivor.adapter.uid
        assert msgpack.unpackb(base64.b64decode(value))["nsp"] == "/"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await relay.close()


async def test_the_live_session_of_a_connected_socket_is_not_taken(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    """Someone else presenting a connected socket's pid and offset to another node gets a fresh session."""
    holder = await start_sio(redis_server, names, recovery=True)
    other = await start_sio(redis_server, names, recovery=True)
    client, socket, offset = await client_with_an_offset(node_peers, holder)
    key = await live_session_key(holder, socket, names, redis_client)
    connected = await presenting(node_peers, other.url, socket.pid, offset)
    assert connected["recovered"] is False and connected["id"] != socket.id
    assert await redis_client.get(key) is not None  # left for its node
    assert socket.connected
    # Its clean disconnect turns the live session into Node's (and deletes the live one).
    client.command("closeEngine")
    await holder.disconnects.get()
    await holder.adapter.drain()
    assert await redis_client.get(key) is None
    assert await redis_client.get(f"{names['session_key_prefix']}{socket.pid}") is not None


async def test_a_change_of_socket_data_rewrites_the_live_session(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    """``socket.data["user"] = ...`` and ``socket.data = {...}`` reach the socket's live session in
    Redis at once (before, only its next refresh or room change wrote them)."""
    holder = await start_sio(redis_server, names, recovery=True)
    client, socket, _ = await client_with_an_offset(node_peers, holder)
    key = await live_session_key(holder, socket, names, redis_client)

    async def live_data() -> Any:
        await holder.adapter.drain()
        raw = await redis_client.get(key)
        assert raw is not None
        return msgpack.unpackb(base64.b64decode(raw.split(b" ")[1]))["data"]

    socket.data["user"] = "alice"
    assert await live_data() == {"user": "alice"}
    socket.data = {"user": "bob", "score": 3}
    assert await live_data() == {"user": "bob", "score": 3}
    del socket.data["score"]
    assert await live_data() == {"user": "bob"}
    client.command("closeEngine")
    await holder.disconnects.get()


# -- garbage and outages ------------------------------------------------------------------------


async def test_garbage_on_the_stream_is_dropped(
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
    start_sio: Starter,
) -> None:
    ours = await start_sio(redis_server, names, recovery=True)
    client, _, socket = await offline_with_an_offset(node_peers, ours, "first")
    stream = names["stream_name"]
    good_opts = {"rooms": [], "except": [], "flags": {}}
    garbage: list[dict[str, Any]] = [
        {"no": "nsp"},
        {"nsp": "/", "uid": "x"},  # no type
        {"nsp": "/", "uid": "x", "type": "three"},
        {"nsp": "/", "uid": "x", "type": "3", "data": "{not json"},
        {"nsp": "/", "uid": "x", "type": "3", "data": "!!! not base64 !!!"},
        {"nsp": "/", "uid": "x", "type": "3", "data": base64.b64encode(b"\xc1").decode()},
        {"nsp": "/", "uid": "x", "type": "3", "data": json.dumps({"packet": "p", "opts": good_opts})},
        {"nsp": "/", "uid": "x", "type": "3", "data": json.dumps({"packet": {"type": 2, "data": []}})},
        {"nsp": "/", "uid": "x", "type": "3", "data": json.dumps({"packet": {"type": 2, "data": [1]}})},
        {
            "nsp": "/",
            "uid": "x",
            "type": "3",
            "data": json.dumps({"packet": {"type": 2, "data": ["e"]}, "opts": {"rooms": "r"}}),
        },
        {"nsp": "/", "uid": "x", "type": "4", "data": json.dumps({"opts": good_opts, "rooms": 5})},
        {"nsp": "/", "uid": 1, "type": "99", "data": "{}"},
        {"nsp": "/", "uid": "x", "type": "3", "data": json.dumps([1, 2])},
        {
            "nsp": "/",
            "type": "3",
            "data": json.dumps({"packet": {"type": 2, "data": ["e"]}, "opts": good_opts}),
        },
        {"nsp": b"\xff\xfe", "uid": "x", "type": "3"},
        {"nsp": "/", b"\xff": b"\xfe", "type": "3"},
    ]
    with caplog.at_level(logging.DEBUG, logger="sio"):
        for fields in garbage:
            await redis_client.xadd(stream, fields)  # type: ignore[arg-type]
        good = {"packet": {"type": 2, "data": ["valid", 1]}, "opts": good_opts}
        await redis_client.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": json.dumps(good)})
        connected = await client.expect("connect")  # the restore reads (some of) the garbage too
        assert connected["recovered"] is True
        # The client reconnects on its own schedule: its restore may run while the entries are being
        # added, and the valid one then comes through the stream's reader instead. Either way once.
        if not client.events("valid"):
            await client.event("valid")
        assert [args[:-1] for args in client.events("valid")] == [[1]]
        await redis_client.xadd(stream, {"uid": "x", "nsp": "/", "type": "3", "data": json.dumps(good)})
        assert (await client.event("valid"))[:-1] == [1]  # the reader is alive after the garbage
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert socket.id == connected["id"]


async def test_garbage_on_the_channels_is_dropped(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    node = await start_node(node_peers, redis_server, names)
    first = await start_sio(redis_server, names)
    second = await start_sio(redis_server, names)
    await counted([first, second], node, 3)
    public = f"{names['channel_prefix']}#/#"
    private = f"{public}{first.adapter.uid}#"
    for channel in (public, private):
        for payload in (
            b"\xc1garbage",
            b"{json}",
            msgpack.packb([1, 2]),
            msgpack.packb({"uid": "x", "nsp": "/", "type": 7}),
            msgpack.packb({"uid": "x", "nsp": "/", "type": 9, "data": {"packet": "p"}}),
            msgpack.packb({"uid": "x", "nsp": "/", "type": 8, "data": {"requestId": 1}}),
            msgpack.packb({"uid": "x", "nsp": "/", "type": 3, "data": {"requestId": "r", "packet": 1}}),
            msgpack.packb({"uid": "x", "nsp": "/", "type": 42}),
        ):
            await redis_client.publish(channel, payload)
    assert len(await first.io.fetch_sockets()) == 0  # both answered: the garbage did no harm
    assert sorted(await first.io.server_side_emit_with_ack("ping")) == sorted(
        ["pong from node", f"pong from sio {second.port}"]
    )


async def test_the_readers_resume_where_they_were_after_losing_their_connection(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    node = await start_node(node_peers, redis_server, names)
    ours = await start_sio(redis_server, names)
    client = await client_of(node_peers, ours.url)
    await counted([ours], node, 2)
    await node.call("emit", name="n", args=[0])
    assert await client.event("n") == [0]
    readers = [
        line.split()[0].split("=")[1]
        for line in (await redis_client.execute_command("CLIENT", "LIST")).decode().splitlines()
        if "name=sio-streams-reader" in line
    ]
    assert len(readers) == 1
    await redis_client.execute_command("CLIENT", "KILL", "ID", readers[0])
    for i in range(1, 21):  # written while our reader reconnects (it backs off 0.1 s first)
        await node.call("emit", name="n", args=[i])
    for i in range(1, 21):
        assert await client.event("n") == [i]
    assert [args[0] for args in client.events("n")] == list(range(21))  # none lost, none twice


async def test_redis_restarting_the_adapter_comes_back(
    node_peers: Any, names: Names, caplog: pytest.LogCaptureFixture, start_sio: Starter
) -> None:
    redis = RedisServer().start()
    try:
        first = await start_sio(redis, names, recovery=True)
        second = await start_sio(redis, names, recovery=True)
        client_a = await client_of(node_peers, first.url)
        client_b = await client_of(node_peers, second.url)
        await counted([first, second], None, 2)
        first.io.emit("before", 0)
        assert (await client_b.event("before"))[0] == 0
        with caplog.at_level(logging.WARNING, logger="sio.redis"):
            redis.stop()
            # Commands written before the node saw the connection drop are lost with it (their
            # callbacks fail: delivered here without an offset); after, they wait in the queue.
            await wait_until(lambda: not first.adapter.link.healthy, "the outage seen")
            for i in range(20):  # delivered here at once, without an offset; written once Redis is back
                first.io.emit("during", i)
            for i in range(20):
                assert await client_a.event("during") == [i]
            with pytest.raises(sio.AckTimeoutError):
                await first.io.fetch_sockets()
            redis.start()  # the same port, an empty Redis
            await counted([first, second], None, 2)
            first.io.emit("back", 1)
            assert (await client_b.event("back"))[0] == 1
        # Written once Redis was back, before "back" (one connection, in order): the other node has them.
        assert [args[0] for args in client_b.events("during")] == list(range(20))
        outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outage) == 2  # one line per node, not per connection or message
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        await first.io.close()
        await second.io.close()
    finally:
        redis.stop()


# -- review findings ----------------------------------------------------------------------------


def _good_entry(event: str, *args: Any, flags: Any = None, **packet: Any) -> dict[str, str]:
    opts: dict[str, Any] = {"rooms": [], "except": []}
    if flags is not None:
        opts["flags"] = flags
    data = {"packet": {"type": 2, "data": [event, *args], **packet}, "opts": opts}
    return {"uid": "x", "nsp": "/", "type": "3", "data": json.dumps(data)}


async def test_an_entry_with_a_bad_type_does_not_drop_the_rest_of_its_batch(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names)
    client = await client_of(node_peers, ours.url)
    await ours.connections.get()
    stream = names["stream_name"]
    async with redis_client.pipeline(transaction=True) as pipe:  # one batch for the reader
        for kind in ("²", "٣", "3 ", "+3", "00003"):  # digits to str.isdigit, not to TYPE
            pipe.xadd(stream, {"uid": "x", "nsp": "/", "type": kind, "data": "{}"})
        pipe.xadd(stream, _good_entry("valid", 1))  # type: ignore[arg-type]
        await pipe.execute()
    await redis_client.xadd(stream, _good_entry("valid", 2))  # type: ignore[arg-type]
    assert await client.event("valid") == [1]
    assert await client.event("valid") == [2]


async def test_a_session_is_not_restored_in_another_namespace(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    """A pid of "/" presented to "/admin" (whose middleware refuses everyone) is not a session there,
    live or persisted; and a pid that is not a pid ("live:<pid>") does not reach the live key."""
    holder = await start_sio(redis_server, names, recovery=True)
    other = await start_sio(redis_server, names, recovery=True)

    def refuse(socket: sio.Socket) -> None:
        raise sio.ConnectError("admins only")

    other.io.of("/admin").use(refuse)
    client, socket, offset = await client_with_an_offset(node_peers, holder)
    pid = socket.pid
    assert pid is not None
    await live_session_key(holder, socket, names, redis_client)

    refused = await presenting(
        node_peers, other.url, pid, offset, "/admin"
    )  # the live session, its node alive for "/" only
    assert refused["event"] == "connect_error" and refused["message"] == "admins only", refused
    fresh = await presenting(node_peers, other.url, f"live:{pid}", offset)
    assert fresh["event"] == "connect" and fresh["recovered"] is False and fresh["id"] != socket.id
    assert socket.connected

    client.command("closeEngine")  # now a persisted session (of "/")
    await holder.disconnects.get()
    await holder.adapter.drain()
    assert await redis_client.get(f"{names['session_key_prefix']}{pid}") is not None
    refused = await presenting(node_peers, other.url, pid, offset, "/admin")
    assert refused["event"] == "connect_error" and refused["message"] == "admins only", refused


def _client_names(reply: bytes) -> list[str]:
    return [
        field.split("=", 1)[1]
        for line in reply.decode().splitlines()
        for field in line.split()
        if field.startswith("name=sio-streams")
    ]


async def test_close_closes_every_redis_connection(node_peers: Any, names: Names, start_sio: Starter) -> None:
    redis = RedisServer().start()
    client = aioredis.Redis.from_url(redis.url)
    try:
        ours = await start_sio(redis, names, recovery=True, stream_count=2)
        await client_of(node_peers, ours.url)
        await ours.connections.get()
        await counted([ours], None, 1)

        async def listed() -> list[str]:
            return _client_names(await client.execute_command("CLIENT", "LIST"))

        assert sorted(set(await listed())) == [
            "sio-streams-commands",
            "sio-streams-reader",
            "sio-streams-subscriber",
        ]
        await ours.io.close()

        async def none_left() -> bool:
            return await listed() == []

        await wait_until(none_left, "every connection of the adapter closed")
    finally:
        await client.aclose()
        redis.stop()


async def test_a_frozen_redis_holds_up_nothing(
    node_peers: Any,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    start_sio: Starter,
) -> None:
    """SIGSTOP: connections stay open, nothing answers. Broadcasts and a socket's own emits are
    delivered here (without an offset) once the reply deadline dropped the command connection; a
    restore gives a fresh session; a TCP connect alone is not "reachable again"; SIGCONT heals."""
    from sio.adapters.redis import streams_link

    monkeypatch.setattr(streams_link, "REPLY_TIMEOUT", 1.0)
    monkeypatch.setattr(streams_link, "CONNECT_TIMEOUT", 1.0)
    redis = RedisServer().start()
    assert redis.process is not None
    frozen = False
    try:
        ours = await start_sio(redis, names, recovery=True)
        client, first = await reconnecting_client(node_peers, ours.url)
        socket = await ours.connections.get()
        ours.io.emit("tick")
        assert len(await client.event("tick")) == 1  # its offset
        link = ours.adapter.link
        with caplog.at_level(logging.WARNING, logger="sio.redis"):
            redis.process.send_signal(signal.SIGSTOP)
            frozen = True
            ours.io.emit("during", 1)
            assert await asyncio.wait_for(client.event("during"), 20) == [1]  # no offset
            socket.emit("direct", 2)
            assert await asyncio.wait_for(client.event("direct"), 20) == [2]
            assert not link.healthy

            def reconnected_over_tcp() -> bool:
                return link.commands.proto is not None

            await wait_until(reconnected_over_tcp, "a new TCP connection to the frozen Redis")
            assert not link.commands.up and not link.healthy
            assert not any("reachable again" in r.getMessage() for r in caplog.records)

            client.command("closeEngine")
            await ours.disconnects.get()
            connected = await asyncio.wait_for(client.expect("connect"), 20)
            assert connected["recovered"] is False and connected["id"] != first["id"]
            assert len(link.commands.pending) < 10  # nothing piles up behind the frozen Redis

            redis.process.send_signal(signal.SIGCONT)
            frozen = False
            await wait_until(lambda: link.healthy, "Redis answering again", limit=20)
            assert any("reachable again" in r.getMessage() for r in caplog.records)
        ours.io.emit("after")
        assert len(await client.event("after")) == 1  # an offset again
        await ours.io.close()
    finally:
        if frozen:
            redis.process.send_signal(signal.SIGCONT)
        redis.stop()


async def test_a_live_session_is_not_taken_while_its_node_is_alive(
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    start_sio: Starter,
) -> None:
    """The holder's subscriber is away (killed by Redis, reconnecting): nobody subscribes its
    private channel, but its node key is fresh, so its connected socket's session stays."""
    holder = await start_sio(redis_server, names, recovery=True)
    other = await start_sio(redis_server, names, recovery=True)
    _client, socket, offset = await client_with_an_offset(node_peers, holder)
    live_key = await live_session_key(holder, socket, names, redis_client)
    link = holder.adapter.link
    open_connection = link.open

    async def subscriber_refused(on_reply: Any, role: str, *rest: Any) -> Any:
        if role == "subscriber":
            raise OSError("refused by the test")  # its subscriber stays away
        return await open_connection(on_reply, role, *rest)

    monkeypatch.setattr(link, "open", subscriber_refused)
    subscriber = link.subscriber
    assert subscriber.proto is not None and subscriber.proto.transport is not None
    host, port = subscriber.proto.transport.get_extra_info("sockname")[:2]
    await redis_client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
    private = f"{names['channel_prefix']}#/#{holder.adapter.uid}#"

    async def unsubscribed() -> bool:
        return (await redis_client.pubsub_numsub(private))[0][1] == 0

    await wait_until(unsubscribed, "the holder's subscriber gone")
    connected = await presenting(node_peers, other.url, socket.pid, offset)
    assert connected["recovered"] is False and connected["id"] != socket.id
    assert await redis_client.get(live_key) is not None


async def test_a_claimed_live_session_is_not_brought_back_by_its_old_node(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names, recovery=True)
    client = await client_of(node_peers, ours.url)
    socket = await ours.connections.get()
    live_key = await live_session_key(ours, socket, names, redis_client)
    await redis_client.set(live_key, b"claimed someone-else")  # what another node's claim leaves
    client.command("closeEngine")
    await ours.disconnects.get()
    await ours.adapter.drain()
    assert await redis_client.get(f"{names['session_key_prefix']}{socket.pid}") is None
    assert await redis_client.get(live_key) == b"claimed someone-else"


async def test_the_offline_queue_is_bounded_in_bytes_and_takes_paused_writes(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sio.adapters.redis import streams_link
    from sio.adapters.redis.connection import resp_command
    from tests.redis_server import _free_port

    monkeypatch.setattr(streams_link, "QUEUE_BYTES", 10_000)
    away = streams_link.StreamsLink(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    try:
        for i in range(100):
            away.commands.send(resp_command("SET", f"k{i}", "x" * 1000))
        assert away.commands.queue_bytes <= 10_000
        assert b"k99" in away.commands.queue[-1][0] and b"k0\r" not in away.commands.queue[0][0]
    finally:
        await away.close()

    link = streams_link.StreamsLink(redis_server.url)
    try:
        link.start()
        await link.commands.ready.wait()
        proto = link.commands.proto
        assert proto is not None
        proto.pause_writing()  # the transport's buffer is full
        replies: list[Any] = []
        link.commands.send(resp_command("PING"), replies.append)
        assert len(link.commands.queue) == 1 and not link.commands.pending
        proto.resume_writing()
        await link.drain()
        assert replies == [b"PONG"]
    finally:
        await link.close()


async def test_live_sessions_do_not_fill_the_queue_during_an_outage(
    node_peers: Any, names: Names, start_sio: Starter
) -> None:
    redis = RedisServer().start()
    client_redis = aioredis.Redis.from_url(redis.url)
    try:
        ours = await start_sio(redis, names, recovery=True)
        await client_of(node_peers, ours.url)
        socket = await ours.connections.get()
        adapter = ours.adapter
        await adapter.drain()
        redis.stop()
        await wait_until(lambda: not adapter.link.commands.up, "the outage seen")
        for _ in range(5):
            adapter._refresh()
            socket.join(f"room-{_}")
            await asyncio.sleep(0)
        assert not any(b"live:" in command for command, *_ in adapter.link.commands.queue)
        redis.start()
        live_key = f"{names['session_key_prefix']}live:{socket.pid}"

        async def rewritten() -> bool:
            return bool(await client_redis.exists(live_key))

        await wait_until(rewritten, "the live session written again once Redis is back", limit=20)
        raw = await client_redis.get(live_key)
        assert raw is not None
        rooms = msgpack.unpackb(base64.b64decode(raw.split(b" ")[1]))["rooms"]
        assert sorted(rooms) == sorted([socket.id, *(f"room-{i}" for i in range(5))])
        await ours.io.close()
    finally:
        await client_redis.aclose()
        redis.stop()


async def test_a_restore_passes_pages_of_malformed_entries(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    node_peers: Any,
    names: Names,
    redis_client: aioredis.Redis,
    start_sio: Starter,
) -> None:
    monkeypatch.setattr(streams_module, "RESTORE_PAGE", 2)
    ours = await start_sio(redis_server, names, recovery=True)
    client, _, _ = await offline_with_an_offset(node_peers, ours, "n", -1)
    for _ in range(3):  # fields that are not UTF-8: not even parsed
        await redis_client.xadd(names["stream_name"], {b"\xff": b"\xfe", "nsp": "/"})
    ours.io.emit("n", 0)
    connected = await client.expect("connect")
    assert connected["recovered"] is True
    assert [args[0] for args in client.events("n")] == [-1, 0]


async def test_a_restore_past_the_buffer_bounds_is_a_fresh_session(
    redis_server: RedisServer, node_peers: Any, names: Names, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names, recovery={"max_buffered_packets": 3})
    client, first, _ = await offline_with_an_offset(node_peers, ours, "n", -1)
    for i in range(5):
        ours.io.emit("n", i)
    connected = await client.expect("connect")
    assert connected["recovered"] is False and connected["id"] != first["id"]


async def test_a_call_that_failed_is_not_run_later() -> None:
    from sio.adapters.redis import streams_link
    from tests.redis_server import _free_port

    link = streams_link.StreamsLink(f"redis://127.0.0.1:{_free_port()}/0")
    try:
        link.start()
        with pytest.raises(ConnectionError):
            await link.commands.call("DEL", "a-session")  # queued at first, then Redis is away
        assert len(link.commands.queue) == 0
        with pytest.raises(ConnectionError):
            await link.commands.call("DEL", "a-session")  # now at once
        assert len(link.commands.queue) == 0
    finally:
        await link.close()


async def test_an_unencodable_broadcast_raises_encode_error(
    redis_server: RedisServer, node_peers: Any, names: Names, start_sio: Starter
) -> None:
    for recovery in (True, None):
        ours = await start_sio(redis_server, names, recovery=recovery)
        await client_of(node_peers, ours.url)
        socket = await ours.connections.get()
        with pytest.raises(sio.EncodeError):
            ours.io.emit("bad", object())
        with pytest.raises(sio.EncodeError):
            socket.to("room").emit("bad", {1, 2})
        if recovery:
            with pytest.raises(sio.EncodeError):
                socket.emit("bad", object())
        await ours.io.close()  # before the next one starts on the same names


async def test_unsubscribing_leaves_a_channel_another_handler_took_over(redis_server: RedisServer) -> None:
    from sio.adapters.redis import streams_link

    link = streams_link.StreamsLink(redis_server.url)
    client = aioredis.Redis.from_url(redis_server.url)
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    def old(channel: bytes, message: bytes) -> None:
        got.put_nowait(("old", message))

    def new(channel: bytes, message: bytes) -> None:
        got.put_nowait(("new", message))

    try:
        link.subscribe(["dyn#"], old)
        link.start()
        link.subscribe(["dyn#"], new)  # a re-created namespace's adapter
        link.unsubscribe(["dyn#"], old)  # the old one closes after
        assert link.channels == {"dyn#": new}
        await link.subscriber.ready.wait()

        async def subscribed() -> bool:
            return (await client.pubsub_numsub("dyn#"))[0][1] == 1

        await wait_until(subscribed, "the channel subscribed")
        await client.publish("dyn#", b"hi")
        assert await asyncio.wait_for(got.get(), 10) == ("new", b"hi")
    finally:
        await link.close()
        await client.aclose()


async def test_a_closed_link_answers_and_refuses(redis_server: RedisServer, names: Names) -> None:
    from sio.adapters.redis import streams_link
    from sio.adapters.redis.connection import resp_command

    link = streams_link.StreamsLink(redis_server.url)
    link.start()
    replies: list[Any] = []
    link.commands.send(resp_command("PING"), replies.append)  # queued: not connected yet
    await link.close()
    assert len(replies) == 1 and isinstance(replies[0], ConnectionError)
    link.commands.send(resp_command("PING"), replies.append)
    assert len(replies) == 2 and isinstance(replies[1], ConnectionError)
    assert len(link.commands.queue) == 0

    factory = redis_streams_adapter(redis_server.url, **names)
    first = sio.Server(adapter=factory)
    await first.serve("127.0.0.1", 0)
    await first.close()
    with pytest.raises(RuntimeError, match="closed"):
        second = sio.Server(adapter=factory)
        await second.serve("127.0.0.1", 0)


async def test_remote_broadcasts_get_an_offset_on_node_s_conditions(
    redis_server: RedisServer, node_peers: Any, names: Names, redis_client: aioredis.Redis, start_sio: Starter
) -> None:
    ours = await start_sio(redis_server, names, recovery=True)
    client = await client_of(node_peers, ours.url)
    await ours.connections.get()
    stream = names["stream_name"]
    for entry in (
        _good_entry("e", "volatile false", flags={"volatile": False}),
        _good_entry("e", "id null", id=None),
        {**_good_entry("e", "binary type"), "data": json.dumps({
            "packet": {"type": 5, "data": ["e", "binary type"]}, "opts": {"rooms": [], "except": []}
        })},
        _good_entry("e", "plain", flags={}),
    ):  # fmt: skip
        await redis_client.xadd(stream, entry)  # type: ignore[arg-type]
    got = [await client.event("e") for _ in range(4)]
    assert got[:3] == [["volatile false"], ["id null"], ["binary type"]]
    assert got[3][0] == "plain" and streams_module.OFFSET.fullmatch(got[3][1])
