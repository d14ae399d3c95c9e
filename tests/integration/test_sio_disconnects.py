"""Every disconnect reason of sio.DisconnectReason, triggered by a real client or the server.

Reasons are asserted on the server (``disconnecting`` then ``disconnect``), and on the
official client where it reports one. Protocol violations come from a raw client
(tests/integration/rawclient.py), since the official client never sends them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sio
from tests.integration.rawclient import PollingClient, bounded, open_websocket
from tests.integration.siopeer import SioPeer


class Tracker:
    """Records each socket's disconnecting/disconnect, with the rooms seen while disconnecting."""

    def __init__(self, io: sio.Server, nsp: str = "/") -> None:
        self.sockets: asyncio.Queue[sio.Socket] = asyncio.Queue()
        self.reasons: dict[str, asyncio.Future[str]] = {}
        self.order: dict[str, list[str]] = {}
        io.of(nsp).on("connection", self.on_connection)

    def on_connection(self, socket: sio.Socket) -> None:
        loop = asyncio.get_running_loop()
        self.reasons[socket.id] = loop.create_future()
        self.order[socket.id] = []
        socket.join("room-1")

        @socket.on("disconnecting")
        def disconnecting(reason: str) -> None:
            self.order[socket.id].append(f"disconnecting:{reason}:{sorted(socket.rooms - {socket.id})}")

        @socket.on("disconnect")
        def disconnect(reason: str) -> None:
            self.order[socket.id].append(f"disconnect:{reason}:{sorted(socket.rooms)}")
            self.reasons[socket.id].set_result(reason)

        self.sockets.put_nowait(socket)

    async def next(self) -> sio.Socket:
        return await bounded(self.sockets.get())

    async def reason(self, socket: sio.Socket) -> str:
        reason = await bounded(self.reasons[socket.id])
        assert isinstance(reason, sio.DisconnectReason)  # and equal to Node's string (the callers)
        # disconnecting came first, rooms still populated; then disconnect, rooms empty
        assert self.order[socket.id] == [f"disconnecting:{reason}:['room-1']", f"disconnect:{reason}:[]"]
        return reason


async def start(sio_server, **options: Any) -> tuple[Any, Tracker]:
    holder: dict[str, Tracker] = {}

    def setup(io: sio.Server) -> None:
        holder["t"] = Tracker(io)
        io.of("/other").on("connection", lambda socket: None)

    running = await sio_server(setup, **options)
    return running, holder["t"]


async def js_client(node_peers, running, mode: str = "websocket") -> SioPeer:
    transports = {"websocket": ["websocket"], "polling": ["polling"]}[mode]
    peer = await SioPeer.start(node_peers, running.url, transports=transports)
    assert (await peer.connect())["event"] == "connect"
    return peer


async def test_server_namespace_disconnect(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running)
    socket = await tracker.next()
    socket.disconnect()
    assert await tracker.reason(socket) == "server namespace disconnect"
    assert (await peer.expect("disconnect"))["reason"] == "io server disconnect"
    assert "room-1" not in running.app.sockets.adapter.rooms


async def test_client_namespace_disconnect_keeps_the_engine_session(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running)
    await peer.connect("/other")
    socket = await tracker.next()
    peer.command("disconnect", nsp="/")
    assert await tracker.reason(socket) == "client namespace disconnect"
    assert (await peer.expect("disconnect", nsp="/"))["reason"] == "io client disconnect"
    assert running.app.engine.clients_count == 1  # "/other" still uses the session


@pytest.mark.parametrize("mode", ["websocket", "polling"])
async def test_transport_close_when_the_client_closes(sio_server, node_peers, mode: str) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running, mode)
    socket = await tracker.next()
    peer.command("closeEngine")
    assert await tracker.reason(socket) == "transport close"
    assert running.app.engine.clients_count == 0


async def test_ping_timeout(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server, ping_interval=0.2, ping_timeout=0.2)
    peer = await js_client(node_peers, running)
    socket = await tracker.next()
    peer.command("dropPongs")
    assert await tracker.reason(socket) == "ping timeout"


async def test_server_shutting_down(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running)
    socket = await tracker.next()
    await running.app.close()
    assert await tracker.reason(socket) == "server shutting down"
    assert (await peer.expect("disconnect"))["reason"] == "transport close"
    assert running.app.engine.clients_count == 0


async def test_transport_error_on_a_message_over_the_limit(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server, max_http_buffer_size=1000)
    peer = await js_client(node_peers, running)
    socket = await tracker.next()
    peer.emit("big", "x" * 2000)
    assert await tracker.reason(socket) == "transport error"
    await peer.expect("disconnect")


async def test_parse_error_on_an_undecodable_engine_packet(sio_server) -> None:
    running, tracker = await start(sio_server)
    ws, _ = await open_websocket(running.port, "/socket.io/")
    ws.send("40")
    assert (await ws.recv_packet()).startswith("40{")
    socket = await tracker.next()
    ws.send("9 not an engine.io packet")
    assert await tracker.reason(socket) == "parse error"
    ws.close()


@pytest.mark.parametrize(
    "packet",
    ['42["connect"]', "42[", '42{"not":"an array"}', "45-[]", '451-["x",{"_placeholder":true,"num":5}]'],
)
async def test_forced_close_on_an_invalid_socketio_packet(sio_server, packet: str) -> None:
    running, tracker = await start(sio_server)
    ws, _ = await open_websocket(running.port, "/socket.io/")
    ws.send("40")
    assert (await ws.recv_packet()).startswith("40{")
    socket = await tracker.next()
    ws.send(packet)
    if packet.startswith("451-"):
        ws.send(b"\x00")  # the attachment, which the placeholder does not point to
    assert await tracker.reason(socket) == "forced close"
    await ws.expect_close()
    assert running.app.engine.clients_count == 0


@pytest.mark.parametrize("violation", ["40", '42/other,["event"]'])
async def test_forced_server_close_on_a_protocol_violation_with_a_deferred_close(
    sio_server, violation: str
) -> None:
    """Polling with no GET held: the engine close waits for the next poll (frontend-independent logic)."""
    running, tracker = await start(sio_server)
    client = await PollingClient.open(running.port, "/socket.io/")
    await client.send("40")
    assert (await client.receive())[0].startswith("40{")
    socket = await tracker.next()
    await client.send(violation)  # a second CONNECT to "/", or an event for a namespace not joined
    assert await tracker.reason(socket) == "forced server close"
    assert "1" in (await client.get()).packets()  # the next poll carries the close packet
    assert running.app.engine.clients_count == 0


async def test_disconnect_with_close_ends_every_namespace_and_the_connection(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running)
    await peer.connect("/other")
    socket = await tracker.next()
    socket.disconnect(close=True)
    assert await tracker.reason(socket) == "server namespace disconnect"  # as Node's server reports it
    reasons = {(await peer.expect("disconnect"))["reason"] for _ in range(2)}
    assert reasons == {"io server disconnect"}
    assert running.app.engine.clients_count == 0


async def test_connect_timeout_closes_a_connection_that_joins_no_namespace(sio_server) -> None:
    running, _ = await start(sio_server, connect_timeout=0.2)
    closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    running.app.engine.on("connection", lambda conn: conn.on("close", lambda r, d: closed.set_result(r)))
    ws, _ = await open_websocket(running.port, "/socket.io/")
    assert await bounded(closed) == "forced close"
    await ws.expect_close()
    assert running.app.engine.clients_count == 0


async def test_a_bad_client_does_not_affect_others(sio_server, node_peers) -> None:
    running, tracker = await start(sio_server)
    peer = await js_client(node_peers, running)
    good = await tracker.next()
    ws, _ = await open_websocket(running.port, "/socket.io/")
    ws.send("40")
    await ws.recv_packet()
    bad = await tracker.next()
    ws.send('42["disconnect"]')
    assert await tracker.reason(bad) == "forced close"
    good.emit("still", "here")
    assert await peer.event("still") == ["here"]
    assert good.connected
    assert running.app.engine.clients_count == 1
