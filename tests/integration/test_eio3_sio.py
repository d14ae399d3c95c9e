"""``allow_eio3``: the Socket.IO server against socket.io-client 2.5.0 (Engine.IO v3, Socket.IO
protocol v4), as Node's socket.io 4 serves it with ``allowEIO3: true``; every test under both
front ends, with v4 clients (socket.io-client 4) beside where they share a server.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

import sio
from tests.integration.rawclient import ConnectionErrors
from tests.integration.siopeer import SioPeer

MODES = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}


class Seen:
    """Server-side observations, awaitable."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[Any]] = {}

    def put(self, key: str, value: Any = None) -> None:
        self.queue(key).put_nowait(value)

    def queue(self, key: str) -> asyncio.Queue[Any]:
        return self.queues.setdefault(key, asyncio.Queue())

    async def get(self, key: str) -> Any:
        return await asyncio.wait_for(self.queue(key).get(), 15)


class V2Peer(SioPeer):
    """socket.io-client 2.5.0 (tests/js/sio_peer_v2.js): the same commands and events as
    :class:`SioPeer`, but a namespace's auth is its query, and a refusal is an ``error`` event."""

    @classmethod
    async def start(cls, node_peers: Any, url: str, **options: Any) -> V2Peer:
        return cls(await node_peers("sio_peer_v2.js", url, json.dumps(options)))

    async def connect(self, nsp: str = "/", auth: Any = None, query: str | None = None) -> dict[str, Any]:
        """Open ``nsp`` (``query``: the CONNECT's query string); the ``connect`` or ``error`` event."""
        assert auth is None, "a v2 client has no auth: its namespace's query is the auth"
        self.node.command("connect", nsp=nsp, query=query)
        return await self.expect_any({"connect", "error"}, nsp=nsp)


async def v2(node_peers: Any, running: Any, mode: str = "websocket", **options: Any) -> V2Peer:
    return await V2Peer.start(node_peers, running.url, transports=MODES[mode], **options)


async def v4(node_peers: Any, running: Any, mode: str = "websocket") -> SioPeer:
    return await SioPeer.start(node_peers, running.url, transports=MODES[mode])


def echo_setup(seen: Seen):
    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put("connection", socket)
            socket.emit("welcome", socket.id, socket.handshake.auth)

            @socket.on("message")
            def message(*args: Any) -> None:
                socket.emit("message-back", *args)

            @socket.on("message-with-ack")
            def message_with_ack(*args: Any) -> None:
                *data, ack = args
                ack(*data)

            @socket.on("disconnect")
            def disconnect(reason: str) -> None:
                seen.put("disconnect", reason)

    return setup


# -- connecting, events and acks --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_main_namespace_is_connected_at_once_with_events_and_acks(
    sio_server, node_peers, mode: str
) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True)
    peer = await v2(node_peers, running, mode, query={"token": "abc"})
    connected = await peer.connect("/")
    assert connected["event"] == "connect"
    socket: sio.Socket = await seen.get("connection")
    # As Node for v2 clients: the socket id is the Engine.IO session id, which the client
    # computes for itself; the query is the handshake's, the auth empty.
    assert connected["id"] == socket.id == socket.conn.id
    assert socket.conn.protocol == 3
    assert socket.handshake.query["EIO"] == "3" and socket.handshake.query["token"] == "abc"
    assert socket.handshake.auth == {}
    assert socket.rooms == {socket.id}
    assert await peer.event("welcome") == [socket.id, {}]

    peer.emit("message", 1, "two 😀", {"three": [3.5, None, True]})
    assert await peer.event("message-back") == [1, "two 😀", {"three": [3.5, None, True]}]
    ack = await peer.call("message-with-ack", "hello", {"x": 1})
    assert ack["args"] == ["hello", {"x": 1}]
    await peer.reply("question", ["answer", 42])
    assert await socket.emit_with_ack("question", 1) == "answer"
    if mode == "upgrade":
        upgraded = peer.node.seen("upgrade") or [await peer.expect("upgrade")]
        assert upgraded[0]["transport"] == "websocket" and socket.conn.transport == "websocket"


@pytest.mark.parametrize("mode", MODES)
async def test_binary_both_ways_nested_with_several_attachments(sio_server, node_peers, mode: str) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True)
    peer = await v2(node_peers, running, mode)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    payload = {"a": b"\x00\x01", "nested": [b"\xff" * 1000, {"deep": bytearray(b"xyz")}], "n": 1}
    peer.emit("message", payload, b"second")
    got = await peer.event("message-back")
    assert got == [{"a": b"\x00\x01", "nested": [b"\xff" * 1000, {"deep": b"xyz"}], "n": 1}, b"second"]
    ack = await peer.call("message-with-ack", [b"\x01", b"\x02", b"\x03"])
    assert ack["args"] == [[b"\x01", b"\x02", b"\x03"]]
    await peer.reply("bytes", "echo")
    assert await socket.emit_with_ack("bytes", b"\x00\xfe") == b"\x00\xfe"


async def test_force_base64_clients_get_binary_as_base64(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True)
    peer = await v2(node_peers, running, "websocket", forceBase64=True)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    assert socket.conn.request.query["b64"] == "1"
    peer.emit("message", b"\x01\x02", {"k": b"\x03"})
    assert await peer.event("message-back") == [b"\x01\x02", {"k": b"\x03"}]


async def test_rooms_and_broadcasts_reach_v2_and_v4_clients_alike(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True)
    io: sio.Server = running.app
    peers = [
        await v2(node_peers, running, "websocket"),
        await v2(node_peers, running, "polling"),
        await v4(node_peers, running, "websocket"),
        await v4(node_peers, running, "polling"),
    ]
    sockets: list[sio.Socket] = []
    for peer in peers:
        await peer.connect()
        sockets.append(await seen.get("connection"))
    assert [s.conn.protocol for s in sockets] == [3, 3, 4, 4]
    for socket in sockets[1:]:
        socket.join("room")
    io.to("room").emit("news", "text 😀", b"\x00\x01\x02")  # one encoding for all four
    for peer in peers[1:]:
        assert await peer.event("news") == ["text 😀", b"\x00\x01\x02"]
    sockets[0].broadcast.emit("from-v2", {"bin": b"\xff"})
    io.emit("everyone", 1)
    for peer in peers:
        assert await peer.event("everyone") == [1]
    for peer in peers[1:]:
        assert peer.events("from-v2") == [[{"bin": b"\xff"}]]
    assert peers[0].events("news") == [] and peers[0].events("from-v2") == []
    for number, peer in enumerate(peers):
        await peer.reply("count", [number])
    answers = await io.to("room").timeout(5).emit_with_ack("count")
    assert sorted(answers) == [1, 2, 3]  # an ack from every v2 and v4 socket in the room


# -- namespaces and middlewares ---------------------------------------------------------------------


async def test_namespaces_take_their_auth_from_the_query(sio_server, node_peers) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        echo_setup(seen)(io)
        io.of("/admin").on("connection", lambda s: seen.put("admin", s))
        io.of(re.compile(r"^/dyn-\d+$")).on("connection", lambda s: seen.put("dynamic", s))

    running = await sio_server(setup, allow_eio3=True)
    peer = await v2(node_peers, running)
    await peer.connect()
    main: sio.Socket = await seen.get("connection")
    connected = await peer.connect("/admin", query="token=abc&token=last&x=%C3%A9+1")
    admin: sio.Socket = await seen.get("admin")
    assert connected == {"event": "connect", "nsp": "/admin", "id": f"/admin#{main.conn.id}"}
    assert admin.id == connected["id"] and admin.nsp.name == "/admin"
    assert admin.handshake.auth == {"token": "last", "x": "é 1"}  # the last of repeated names
    admin.emit("hi", b"\x01")
    assert await peer.event("hi", nsp="/admin") == [b"\x01"]
    assert peer.events("hi") == []  # not on the main namespace
    dynamic = await peer.connect("/dyn-7")
    child: sio.Socket = await seen.get("dynamic")
    assert dynamic["id"] == child.id == f"/dyn-7#{main.conn.id}" and child.nsp.name == "/dyn-7"
    refused = await peer.connect("/nope")
    assert refused == {"event": "error", "nsp": "/nope", "data": {"message": "Invalid namespace"}}


@pytest.mark.parametrize("nsp", ["/", "/admin"])
async def test_a_middleware_refusal_reaches_the_v2_client_as_an_error_event(
    sio_server, node_peers, nsp: str
) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        @io.of(nsp).use
        def refuse(socket: sio.Socket) -> None:
            seen.put("middleware", socket.handshake.auth)
            if socket.handshake.auth.get("with") == "data":
                raise sio.ConnectError("not allowed", data={"code": 42})
            raise sio.ConnectError("not allowed")

        io.of(nsp).on("connection", lambda s: seen.put("connection", s))

    running = await sio_server(setup, allow_eio3=True)
    peer = await v2(node_peers, running)
    if nsp == "/":  # refused at once, before the client asks (it never sends a CONNECT for "/")
        peer.node.command("connect", nsp="/")
        assert await peer.expect("error", nsp="/") == {"event": "error", "nsp": "/", "data": "not allowed"}
        assert await seen.get("middleware") == {}
    else:
        refused = await peer.connect(nsp, query="with=nothing")
        assert refused == {"event": "error", "nsp": nsp, "data": "not allowed"}  # err.message
        assert await seen.get("middleware") == {"with": "nothing"}
        refused = await peer.connect(nsp + "2", query="x=1")  # another name, "Invalid namespace"
        assert refused["data"] == {"message": "Invalid namespace"}
    assert seen.queue("connection").empty()


async def test_a_refusal_with_data_sends_the_data(sio_server, node_peers) -> None:
    def setup(io: sio.Server) -> None:
        @io.of("/admin").use
        def refuse(socket: sio.Socket) -> None:
            raise sio.ConnectError("not allowed", data=[1, {"why": "banned"}])

    running = await sio_server(setup, allow_eio3=True)
    peer = await v2(node_peers, running)
    await peer.connect()
    refused = await peer.connect("/admin")
    assert refused == {"event": "error", "nsp": "/admin", "data": [1, {"why": "banned"}]}  # err.data


# -- heartbeats and disconnect reasons --------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_client_pings_and_one_that_stops_is_closed_with_ping_timeout(
    sio_server, node_peers, mode: str
) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True, ping_interval=0.1, ping_timeout=0.1)
    peer = await v2(node_peers, running, mode)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    heartbeats: asyncio.Queue[None] = asyncio.Queue()
    socket.conn.on("heartbeat", lambda: heartbeats.put_nowait(None))
    # Five answered pings: 0.5 s, past the 0.2 s deadline that a session without them would have.
    for _ in range(5):
        await peer.expect("pong")
        await asyncio.wait_for(heartbeats.get(), 15)
    assert socket.connected
    peer.command("dropPings")
    await peer.expect("ok", cmd="dropPings")
    assert await seen.get("disconnect") == "ping timeout"
    assert (await peer.expect("disconnect"))["reason"] == "transport close"


async def test_disconnect_reasons(sio_server, node_peers) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        echo_setup(seen)(io)
        admin = io.of("/admin")

        @admin.on("connection")
        def on_admin(socket: sio.Socket) -> None:
            seen.put("admin", socket)
            socket.on("disconnect", lambda reason: seen.put("admin-disconnect", reason))

    running = await sio_server(setup, allow_eio3=True)
    io: sio.Server = running.app
    peer = await v2(node_peers, running)
    await peer.connect()
    main: sio.Socket = await seen.get("connection")
    await peer.connect("/admin")
    admin: sio.Socket = await seen.get("admin")

    peer.command("disconnect", nsp="/admin")  # the client leaves a namespace: the session stays
    assert await seen.get("admin-disconnect") == "client namespace disconnect"
    assert main.connected
    await peer.connect("/admin")
    admin = await seen.get("admin")
    admin.disconnect()  # the server sends it away
    assert await seen.get("admin-disconnect") == "server namespace disconnect"
    assert (await peer.expect("disconnect", nsp="/admin"))["reason"] == "io server disconnect"

    await io.close()
    assert await seen.get("disconnect") == "server shutting down"
    assert (await peer.expect("disconnect", nsp="/"))["reason"] == "transport close"


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_transport_close_when_the_client_closes(sio_server, node_peers, mode: str) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), allow_eio3=True)
    peer = await v2(node_peers, running, mode)
    await peer.connect()
    await seen.get("connection")
    peer.command("closeEngine")
    assert await seen.get("disconnect") == "transport close"


async def test_without_allow_eio3_a_v2_client_is_refused_with_code_5(sio_server, node_peers) -> None:
    running = await sio_server()
    errors = ConnectionErrors(running.app.engine)
    peer = await v2(node_peers, running, "polling")
    peer.node.command("connect", nsp="/")
    error = await peer.expect("connect_error")
    assert (error["message"], error["description"]) == ("xhr poll error", "400")
    assert await errors.next() == (5, "Unsupported protocol version")
    peer = await v2(node_peers, running, "websocket")
    peer.node.command("connect", nsp="/")
    assert (await peer.expect("connect_error"))["message"] == "websocket error"
    assert await errors.next() == (5, "Unsupported protocol version")
    assert running.app.engine.clients_count == 0
