"""sio.admin where Node has nothing to compare with, or crashes: bad commands from an admin socket,
null values in socket.data, instrumenting a running server, namespaces made later, shutdown.

The admin socket is python-socketio's AsyncClient; the watched clients are the official
socket.io-client (tests/js/sio_peer.js).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

import sio
from sio.admin import hash_password, instrument
from sio.engine import EngineSocket
from sio.engine.counting import CountingEngineSocket
from tests.integration.siopeer import SioPeer

EVENT_TIMEOUT = 10.0
PASSWORD_HASH = hash_password("pw", rounds=4)
AUTH = {"type": "basic", "username": "admin", "password": PASSWORD_HASH}


class Admin:
    """An admin socket: every event it gets, queued per name."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.queues: dict[str, asyncio.Queue[tuple[Any, ...]]] = {}

        @self.client.on("*", namespace="/admin")
        async def any_event(event: str, *args: Any) -> None:
            self.queue(event).put_nowait(args)

    def queue(self, event: str) -> asyncio.Queue[tuple[Any, ...]]:
        return self.queues.setdefault(event, asyncio.Queue())

    async def connect(self, url: str) -> None:
        await self.client.connect(
            url, namespaces=["/admin"], auth={"username": "admin", "password": "pw"}, transports=["websocket"]
        )

    async def next(self, event: str, match: Any = lambda *args: True) -> tuple[Any, ...]:
        while True:
            args = await asyncio.wait_for(self.queue(event).get(), EVENT_TIMEOUT)
            if match(*args):
                return args


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    admin = Admin()
    yield admin
    await admin.client.disconnect()


async def serve(io: sio.Server) -> str:
    server = await io.serve("127.0.0.1", 0)
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def watched_client(admin: Admin, url: str, node_peers: Any) -> tuple[SioPeer, str]:
    """The admin connected, then an official client on "/": the client and its socket id (from
    the admin's socket_connected)."""
    await admin.connect(url)
    peer = await SioPeer.start(node_peers, url, transports=["websocket"])
    await peer.connect()
    (connected, _at) = await admin.next("socket_connected", lambda s, at: s["nsp"] == "/")
    return peer, connected["id"]


async def test_null_values_and_new_dicts_in_socket_data_are_reported(admin: Admin, node_peers: Any) -> None:
    """Node's Proxy throws on a null value, and stops reporting once a new object is assigned;
    sio reports both, and keeps its details (client id, transport) in the new dict."""
    io = sio.Server()

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        @socket.on("set")
        def set_data() -> None:
            socket.data["user"] = None
            socket.data = {"replaced": True, "nested": {"a": [1, None]}}
            del socket.data["replaced"]

    instrument(io, auth=AUTH)
    url = await serve(io)
    try:
        peer, sid = await watched_client(admin, url, node_peers)
        peer.emit("set")
        updates = [
            (await admin.next("socket_updated", lambda u: u["id"] == sid and "data" in u))[0]["data"]
            for _ in range(3)
        ]
        assert updates == [
            {"user": None},
            {"replaced": True, "nested": {"a": [1, None]}},
            {"nested": {"a": [1, None]}},
        ]
        # The admin's key stays in socket.data, where fetch_sockets carries it to other servers.
        (socket,) = io.of("/").sockets.values()
        assert socket.data["_admin"]["transport"] == "websocket"
    finally:
        await io.close()


async def test_bad_commands_are_ignored_and_the_admin_stays(admin: Admin, node_peers: Any) -> None:
    """Commands with arguments of the wrong types, reserved event names and unknown namespaces
    change nothing and break nothing; a good command after them works."""
    io = sio.Server()
    instrument(io, auth=AUTH)
    url = await serve(io)
    try:
        peer, sid = await watched_client(admin, url, node_peers)
        bad: list[tuple[Any, ...]] = [
            ("emit", 123, None, "x"),
            ("emit", "/", {"not": "a room"}, "x"),
            ("emit", "/", None, None),
            ("emit", "/", None, "connect"),  # reserved: refused by emit, ignored here
            ("emit",),
            ("join", "/", 5, sid),
            ("join", None, "room"),
            ("leave", "/", ["room"], sid),
            ("_disconnect", None, True, sid),
            ("_disconnect", "/", "yes", ["list"]),
        ]
        for command in bad:
            await admin.client.emit(command[0], command[1:], namespace="/admin")
        await admin.client.emit("join", ("/", "good-room", sid), namespace="/admin")
        _nsp, _room, joined, _at = await admin.next(
            "room_joined", lambda nsp, room, id, at: room == "good-room"
        )
        assert joined == sid
        (socket,) = io.of("/").sockets.values()
        assert socket.rooms == {sid, "good-room"}
        assert socket.connected and peer.node.process.returncode is None
    finally:
        await io.close()


async def test_instrumenting_a_running_server_counts_its_sessions_from_then(node_peers: Any) -> None:
    """Sessions open before instrument() are counted from then on (their class swapped) and their
    sockets watched (Node watches only later ones), later namespaces too; a server never
    instrumented keeps plain sessions."""
    io = sio.Server()
    url = await serve(io)
    admin = Admin()
    try:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        await peer.connect()
        (conn,) = io.engine.clients.values()
        assert type(conn) is EngineSocket and io.engine.traffic is None
        instrumentation = instrument(io, auth=AUTH)
        assert type(conn) is CountingEngineSocket
        io.of("/later").on("connection", lambda socket: None)
        await admin.connect(url)
        later = await SioPeer.start(node_peers, url, transports=["websocket"])
        await later.connect("/later")
        (connected, _at) = await admin.next("socket_connected", lambda s, at: s["nsp"] == "/later")
        assert connected["transport"] == "websocket"
        peer.emit("ping-me", "x" * 10)
        await admin.next("event_received", lambda nsp, id, args, at: args == ["ping-me", "x" * 10])
        traffic = io.engine.traffic
        assert traffic is not None and traffic.packets_in >= 1
        # The first session's event: 2["ping-me","xxxxxxxxxx"] is 26 bytes after the packet type.
        assert traffic.bytes_in >= 26
        await admin.client.disconnect()
        await io.close()
        assert instrumentation.stats._handles == []  # the stats timers stop with the server
    finally:
        await admin.client.disconnect()
        await io.close()


async def test_event_listeners_are_attached_only_while_an_admin_hears(node_peers: Any) -> None:
    """Development mode without an admin socket (and no cluster) adds no listener to the sockets'
    events; the first admin socket attaches them, the last one gone detaches them."""
    io = sio.Server()
    instrument(io, auth=AUTH)
    admin_gone = asyncio.Event()
    io.of("/admin").on("connection", lambda s: s.on("disconnect", lambda reason: admin_gone.set()))
    url = await serve(io)
    admin = Admin()
    try:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        await peer.connect()
        (socket,) = io.of("/").sockets.values()
        assert socket.listeners_any() == [] and socket.listeners_any_outgoing() == []
        await admin.connect(url)
        assert len(socket.listeners_any()) == 1 and len(socket.listeners_any_outgoing()) == 1
        peer.emit("seen", 1)
        await admin.next("event_received", lambda nsp, id, args, at: args == ["seen", 1])
        await admin.client.disconnect()
        await asyncio.wait_for(admin_gone.wait(), EVENT_TIMEOUT)
        assert socket.listeners_any() == [] and socket.listeners_any_outgoing() == []
    finally:
        await admin.client.disconnect()
        await io.close()
