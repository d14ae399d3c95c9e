"""Finer points of Node's semantics (and sio's safety rules) for the Socket.IO layer.

Each test pins a behaviour a review found wrong once: handler arities, ``once``, the
server forwarding emitter methods to the main namespace, dynamic parent namespaces,
what happens after a protocol violation, ack bookkeeping, the outgoing backlog cap.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import weakref
from typing import Any, ClassVar

import pytest

import sio
from tests.integration.rawclient import PollingClient, bounded, open_websocket
from tests.integration.siopeer import SioPeer


async def connected(node_peers, running, nsp: str = "/", **options: Any) -> SioPeer:
    peer = await SioPeer.start(node_peers, running.url, transports=["websocket"], **options)
    assert (await peer.connect(nsp))["event"] == "connect"
    return peer


async def test_disconnect_handlers_of_any_arity_and_once_and_no_socket_kept_alive(
    sio_server, node_peers
) -> None:
    calls: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
    refs: list[weakref.ref[sio.Socket]] = []

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            refs.append(weakref.ref(socket))
            socket.on("disconnect", lambda: calls.put_nowait(("none", ())))
            socket.on("disconnect", lambda reason: calls.put_nowait(("reason", (reason,))))
            socket.on(
                "disconnect", lambda reason, description: calls.put_nowait(("both", (reason, description)))
            )
            socket.once("disconnect", lambda reason: calls.put_nowait(("once", (reason,))))
            socket.on("bye", lambda: socket.disconnect())

    running = await sio_server(setup)
    peer = await connected(node_peers, running)
    peer.emit("bye")
    got = {await bounded(calls.get()) for _ in range(4)}
    assert got == {
        ("none", ()),
        ("reason", ("server namespace disconnect",)),
        ("both", ("server namespace disconnect", None)),
        ("once", ("server namespace disconnect",)),
    }
    await peer.expect("disconnect")
    gc.collect()
    assert refs[0]() is None  # handlers made per connection do not keep the socket alive


async def test_server_emitter_methods_go_to_the_main_namespace(sio_server, node_peers) -> None:
    seen: list[str] = []

    def setup(io: sio.Server) -> None:
        io.once("connection", lambda socket: seen.append("once"))

        def always(socket: sio.Socket) -> None:
            seen.append("always")

        io.on("connection", always)
        io.off("connection", always)
        io.on("new_namespace", lambda nsp: seen.append(f"new {nsp.name}"))

    running = await sio_server(setup)
    io: sio.Server = running.app
    assert io.listeners("connection") == io.sockets.listeners("connection")
    await connected(node_peers, running)
    await connected(node_peers, running)
    io.of("/created")
    assert seen == ["once", "new /created"]


async def test_a_dynamic_parent_broadcasts_to_every_child_with_every_operator(sio_server, node_peers) -> None:
    holder: dict[str, Any] = {}

    def setup(io: sio.Server) -> None:
        parent = io.of(re.compile(r"^/team-\w+$"))
        parent.on("connection", lambda socket: socket.join("members"))
        holder["parent"] = parent

    running = await sio_server(setup)
    io: sio.Server = running.app
    parent: sio.ParentNamespace = holder["parent"]
    red = await connected(node_peers, running, "/team-red")
    blue = await connected(node_peers, running, "/team-blue")
    parent.to("members").emit("to-room", 1)
    parent.volatile.emit("volatile", 2)
    parent.except_("nobody").emit("except", 3)
    parent.emit("plain", 4)
    for peer, nsp in ((red, "/team-red"), (blue, "/team-blue")):
        assert await peer.event("to-room", nsp=nsp) == [1]
        assert await peer.event("volatile", nsp=nsp) == [2]
        assert await peer.event("except", nsp=nsp) == [3]
        assert await peer.event("plain", nsp=nsp) == [4]
    parent.sockets_join("everyone")
    assert all("everyone" in s.rooms for child in parent.children for s in child.sockets.values())
    with pytest.raises(NotImplementedError):
        await parent.fetch_sockets()
    # io.of() with a name a regex parent accepts gives that parent's child
    child = io.of("/team-green")
    assert child in parent.children
    assert child.listeners("connection") == parent.listeners("connection")


async def test_empty_children_are_cleaned_up_when_asked(sio_server, node_peers) -> None:
    left: asyncio.Queue[str] = asyncio.Queue()

    def setup(io: sio.Server) -> None:
        parent = io.of(re.compile(r"^/tmp-\d+$"))
        parent.on("connection", lambda socket: socket.on("disconnect", left.put_nowait))

    running = await sio_server(setup, cleanup_empty_child_namespaces=True)
    io: sio.Server = running.app
    peer = await connected(node_peers, running, "/tmp-1")
    assert "/tmp-1" in io._nsps
    peer.command("disconnect", nsp="/tmp-1")
    assert await bounded(left.get()) == "client namespace disconnect"
    assert "/tmp-1" not in io._nsps  # removed before "disconnect" fired


async def test_nothing_is_processed_after_a_protocol_violation(sio_server) -> None:
    runs: list[str] = []

    def setup(io: sio.Server) -> None:
        io.of("/other").use(lambda socket: runs.append(socket.nsp.name))

    running = await sio_server(setup)
    client = await PollingClient.open(running.port, "/socket.io/")
    await client.send("40")
    assert (await client.receive())[0].startswith("40{")
    await client.send("40", "40/other,")  # a second CONNECT to "/": the rest is not processed
    assert "1" in (await client.get()).packets()
    assert runs == []
    assert running.app.engine.clients_count == 0


async def test_a_second_connect_while_the_first_is_pending_is_a_violation(sio_server) -> None:
    release: asyncio.Event = asyncio.Event()
    runs: list[str] = []
    reasons: asyncio.Queue[str] = asyncio.Queue()

    def setup(io: sio.Server) -> None:
        @io.use
        async def slow(socket: sio.Socket) -> None:
            runs.append(socket.id)
            await release.wait()

        io.on("connection", lambda socket: socket.on("disconnect", reasons.put_nowait))

    running = await sio_server(setup)
    closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    running.app.engine.on("connection", lambda conn: conn.on("close", lambda r, d: closed.set_result(r)))
    ws, _ = await open_websocket(running.port, "/socket.io/")
    ws.send("40")
    ws.send("40")
    assert await bounded(closed) == "forced close"
    release.set()
    await ws.expect_close()
    assert len(runs) == 1
    assert reasons.empty()  # the pending socket never connected


async def test_acks_leave_no_trace_after_timeouts_and_encode_errors(sio_server, node_peers) -> None:
    holder: dict[str, sio.Socket] = {}
    running = await sio_server(lambda io: io.on("connection", lambda s: holder.setdefault("s", s)))
    io: sio.Server = running.app
    peer = await connected(node_peers, running)
    socket = holder["s"]
    await peer.reply("q", "none")
    with pytest.raises(sio.AckTimeoutError):
        await io.timeout(0.1).emit_with_ack("q")
    assert socket._acks == {}  # the broadcast ack of a socket that never answered is gone
    with pytest.raises(sio.EncodeError):
        socket.timeout(5).emit("bad", {1, 2}, lambda *a: None)
    assert socket._acks == {}
    assert io.wheel.armed <= 2  # no timer left armed for the failed emit (heartbeat, connect)


async def test_a_broadcast_ack_with_no_recipient_completes_after_emit_returns(sio_server) -> None:
    running = await sio_server()
    io: sio.Server = running.app
    order: list[Any] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def callback(err: Any, responses: list[Any]) -> None:
        order.append(("callback", err, responses))
        done.set_result(None)

    io.to("empty-room").timeout(1).emit("q", callback)
    order.append("after emit")
    await bounded(done)
    assert order == ["after emit", ("callback", None, [])]
    assert await io.to("empty-room").timeout(1).emit_with_ack("q") == []


async def idle_polling_socket(sio_server, **options: Any) -> tuple[Any, sio.Socket, asyncio.Queue[str]]:
    """A server with ``options`` and one polling client joined to ``/`` that then never polls.

    Returns the running server, the server's socket, and a queue of its disconnect reasons.
    """
    sockets: asyncio.Queue[sio.Socket] = asyncio.Queue()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            socket.on("disconnect", reasons.put_nowait)
            sockets.put_nowait(socket)

    running = await sio_server(setup, **options)
    client = await PollingClient.open(running.port, "/socket.io/")
    await client.send("40")
    assert (await client.receive())[0].startswith("40{")
    return running, await bounded(sockets.get()), reasons


async def test_a_client_that_stops_reading_is_dropped_at_the_backlog_cap(sio_server) -> None:
    running, socket, reasons = await idle_polling_socket(sio_server, max_buffered_bytes=300_000)
    for _ in range(5):  # nobody polls: everything waits in the buffer
        socket.emit("blob", "x" * 100_000)
    assert await bounded(reasons.get()) == "transport error"
    assert running.app.engine.clients_count == 0


@pytest.mark.parametrize("text", ["x", "€"], ids=["ascii", "three UTF-8 bytes a character"])
async def test_the_backlog_cap_counts_bytes_on_the_wire_not_characters(sio_server, text: str) -> None:
    """Three events of 40,000 characters against a 300 kB cap: 120 kB of ASCII fits, while the
    same characters as "€" are 360 kB on the wire, and drop the client."""
    running, socket, reasons = await idle_polling_socket(sio_server, max_buffered_bytes=300_000)
    for _ in range(3):
        socket.emit("blob", text * 40_000)
    if text == "x":
        assert socket.connected and reasons.empty()
        assert running.app.engine.clients_count == 1
    else:
        assert await bounded(reasons.get()) == "transport error"
        assert running.app.engine.clients_count == 0


async def test_handshake_url_is_the_raw_url_and_error_data_comes_from_any_exception(sio_server) -> None:
    class Refused(Exception):
        data: ClassVar[dict[str, bool]] = {"retry": False}

    urls: list[str] = []

    def setup(io: sio.Server) -> None:
        @io.use
        def check(socket: sio.Socket) -> None:
            urls.append(socket.handshake.url)
            raise Refused("go away")

    running = await sio_server(setup)
    ws, _ = await open_websocket(running.port, "/socket.io/", token="a%20b")
    ws.send("40")
    assert await ws.recv_packet() == '44{"message":"go away","data":{"retry":false}}'
    assert urls == ["/socket.io/?EIO=4&transport=websocket&token=a%20b"]
    ws.close()


async def joined_websockets(sio_server, count: int) -> tuple[sio.Server, list[Any], list[sio.Socket]]:
    """A server and ``count`` raw WebSocket clients joined to ``/``, one after the other.

    Returns the server, the clients, and the server's sockets in the same order.
    """
    sockets: asyncio.Queue[sio.Socket] = asyncio.Queue()
    running = await sio_server(lambda io: io.on("connection", sockets.put_nowait))
    clients = []
    for _ in range(count):
        ws, _ = await open_websocket(running.port, "/socket.io/")
        ws.send("40")
        assert (await ws.recv_packet()).startswith("40{")  # type: ignore[union-attr]
        clients.append(ws)
    return running.app, clients, [await bounded(sockets.get()) for _ in range(count)]


@pytest.mark.parametrize("frontend", ["uvloop"], indirect=True)  # ASGI servers apply it inside send()
async def test_websocket_back_pressure_buffers_in_order_and_drops_volatile(sio_server) -> None:
    io, [ws], [socket] = await joined_websockets(sio_server, 1)
    conn = socket.client.conn

    blob = "x" * 65536
    sent = 0
    while conn.writable and sent < 1000:  # the client reads nothing: kernel buffers fill up
        socket.emit("blob", sent, blob)
        sent += 1
        await asyncio.sleep(0)  # let this iteration's frames be written
    assert not conn.writable, "the transport never applied back-pressure"

    socket.volatile.emit("dropped")  # not writable: a volatile packet is discarded
    socket.emit("after")  # buffered behind what the transport holds
    io.emit("everyone")  # a broadcast takes the buffering path too
    assert conn._buffer, "packets sent under back-pressure should wait in the session's buffer"

    received: list[Any] = []
    while not received or received[-1] != "everyone":
        packet = await ws.recv_packet()
        assert isinstance(packet, str)
        event = json.loads(packet[packet.index("[") :])
        received.append(event[1] if event[0] == "blob" else event[0])
    assert received == [*range(sent), "after", "everyone"]
    assert not conn._buffer
    assert conn.writable


async def test_a_ping_that_overflows_the_backlog_closes_without_arming_the_heartbeat(sio_server) -> None:
    blob = "x" * 10_000
    backlog = len('42["blob","' + blob + '"]')  # exactly the cap: the next byte overflows it
    running, socket, reasons = await idle_polling_socket(
        sio_server, max_buffered_bytes=backlog, ping_interval=0.05, ping_timeout=20
    )
    socket.emit("blob", blob)  # nobody polls: it waits in the buffer, at the cap
    assert await bounded(reasons.get()) == "transport error"  # the heartbeat's ping overflowed it
    conn = socket.client.conn
    assert conn.ready_state == "closed"
    assert not conn._heartbeat_timer.armed  # nothing keeps the closed session for ping_timeout
    assert running.app.engine.clients_count == 0


async def test_a_socket_that_leaves_or_disconnects_during_a_broadcast_is_skipped(sio_server) -> None:
    io, clients, pair = await joined_websockets(sio_server, 2)

    # Whichever recipient is served first, its outgoing listener (user code run in the middle
    # of the broadcast) removes the other one, which must then not receive the packet.
    for me, other in ((0, 1), (1, 0)):
        pair[me].join("room")
        pair[me].on_any_outgoing(lambda *args, other=pair[other]: other.leave("room"))
    io.to("room").emit("to-room")
    io.emit("marker")
    first_packets = [await ws.recv_packet() for ws in clients]
    assert sorted(first_packets) == ['42["marker"]', '42["to-room"]']
    for i, packet in enumerate(first_packets):
        if packet == '42["to-room"]':
            assert await clients[i].recv_packet() == '42["marker"]'

    for me, other in ((0, 1), (1, 0)):
        pair[me].off_any_outgoing()
        pair[me].on_any_outgoing(lambda *args, other=pair[other]: other.disconnect())
    io.emit("to-all")
    first_packets = [await ws.recv_packet() for ws in clients]
    assert sorted(first_packets) == ["41", '42["to-all"]']  # one served, the other disconnected by it
    skipped = clients[first_packets.index("41")]
    skipped.send("40")  # join the namespace again: the answer comes after anything sent before it
    assert (await skipped.recv_packet()).startswith("40{")  # type: ignore[union-attr]
