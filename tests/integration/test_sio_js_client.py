"""The Socket.IO server against the official JavaScript ``socket.io-client`` (node).

Each test runs under the built-in uvloop front end and under the ASGI app in uvicorn.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import sio
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


async def client(node_peers, running, mode: str = "websocket", **options: Any) -> SioPeer:
    return await SioPeer.start(node_peers, running.url, transports=MODES[mode], **options)


def echo_setup(seen: Seen):
    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put("connection", socket)
            socket.emit("auth", socket.handshake.auth)

            @socket.on("message")
            def message(*args: Any) -> None:
                socket.emit("message-back", *args)

            @socket.on("message-with-ack")
            def message_with_ack(*args: Any) -> None:
                *data, ack = args
                ack(*data)

            @socket.on("disconnecting")
            def disconnecting(reason: str) -> None:
                seen.put("disconnecting", (reason, set(socket.rooms)))

            @socket.on("disconnect")
            def disconnect(reason: str, description: Any) -> None:
                seen.put("disconnect", reason)

    return setup


# -- connection, auth, events and acks ------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_connect_with_auth_events_and_acks(sio_server, node_peers, mode: str) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running, mode)
    connected = await peer.connect("/", auth={"token": "abc", "n": 1})
    assert connected["event"] == "connect"
    socket: sio.Socket = await seen.get("connection")
    assert connected["id"] == socket.id
    assert socket.handshake.auth == {"token": "abc", "n": 1}
    assert socket.handshake.address == "127.0.0.1"
    assert socket.handshake.query["EIO"] == "4"
    assert socket.rooms == {socket.id}
    assert await peer.event("auth") == [{"token": "abc", "n": 1}]

    peer.emit("message", 1, "two", {"three": [3.5, None, True]})
    assert await peer.event("message-back") == [1, "two", {"three": [3.5, None, True]}]
    ack = await peer.call("message-with-ack", "hello", {"x": 1})
    assert ack["args"] == ["hello", {"x": 1}]


async def test_binary_payloads_nested_with_several_attachments(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running, "upgrade")
    await peer.connect()
    await seen.get("connection")
    payload = {"a": b"\x00\x01", "nested": [b"\xff" * 1000, {"deep": bytearray(b"xyz")}], "n": 1}
    peer.emit("message", payload, b"second")
    got = await peer.event("message-back")
    assert got == [{"a": b"\x00\x01", "nested": [b"\xff" * 1000, {"deep": b"xyz"}], "n": 1}, b"second"]
    ack = await peer.call("message-with-ack", [b"\x01", b"\x02", b"\x03"])
    assert ack["args"] == [[b"\x01", b"\x02", b"\x03"]]


async def test_server_to_client_acks_with_callback_and_await(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    await peer.reply("question", ["answer", 42])
    assert await socket.emit_with_ack("question", 1) == "answer"
    assert await socket.timeout(5).emit_with_ack("question") == "answer"

    answers: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    socket.timeout(5).emit("question", b"\x00", lambda *a: answers.put_nowait(a))
    assert await answers.get() == (None, "answer", 42)
    socket.emit("question", lambda *a: answers.put_nowait(a))  # no timeout: no error argument
    assert await answers.get() == ("answer", 42)


async def test_ack_timeout_raises_and_calls_back_with_an_error(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    await peer.reply("silent", "none")
    with pytest.raises(sio.AckTimeoutError):
        await socket.emit_with_ack("silent", timeout=0.1)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    socket.timeout(0.1).emit("silent", lambda err, *rest: errors.put_nowait((err, rest)))
    err, rest = await errors.get()
    assert isinstance(err, sio.AckTimeoutError)
    assert rest == ()


async def test_client_ack_timeout_when_the_server_does_not_answer(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running)
    await peer.connect()
    ack = await peer.call("nobody-listens", timeout=0.2)
    assert ack["error"] == "operation has timed out"


async def test_reserved_event_names_are_refused_by_emit(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    peer = await client(node_peers, running)
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    for name in ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"):
        with pytest.raises(ValueError, match="reserved"):
            socket.emit(name)
        with pytest.raises(ValueError, match="reserved"):
            running.app.emit(name)


# -- namespaces and middleware --------------------------------------------------------------


async def test_static_namespaces_and_an_unknown_one(sio_server, node_peers) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        io.of("/custom").on("connection", lambda socket: socket.emit("auth", socket.handshake.auth))
        io.on("connection", lambda socket: seen.put("main", socket))

    running = await sio_server(setup)
    peer = await client(node_peers, running)
    refused = await peer.connect("/nope")
    assert refused == {"event": "connect_error", "nsp": "/nope", "message": "Invalid namespace", "data": None}
    custom = await peer.connect("/custom", auth={"k": "v"})
    assert custom["event"] == "connect"
    assert await peer.event("auth", nsp="/custom") == [{"k": "v"}]
    await peer.connect("/")  # the connection stayed open: another namespace on it works
    main: sio.Socket = await seen.get("main")
    assert main.nsp.name == "/"
    assert len(running.app.engine.clients) == 1  # all multiplexed on one Engine.IO session


@pytest.mark.parametrize("kind", ["regex", "callable", "async-callable"])
async def test_dynamic_namespaces_inherit_middlewares_and_handlers(sio_server, node_peers, kind: str) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        if kind == "regex":
            parent = io.of(re.compile(r"^/dyn-\d+$"))
        elif kind == "callable":
            parent = io.of(lambda name, auth: name.startswith("/dyn-") and auth.get("ok") is True)
        else:

            async def check(name: str, auth: dict[str, Any]) -> bool:
                return name.startswith("/dyn-")

            parent = io.of(check)

        @parent.use
        def tag(socket: sio.Socket) -> None:
            socket.data["tagged"] = socket.nsp.name

        @parent.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put("connection", socket)
            socket.emit("hello", socket.nsp.name, socket.data["tagged"])

    running = await sio_server(setup)
    peer = await client(node_peers, running)
    assert (await peer.connect("/dyn-42", auth={"ok": True}))["event"] == "connect"
    socket: sio.Socket = await seen.get("connection")
    assert socket.nsp.name == "/dyn-42"
    assert await peer.event("hello", nsp="/dyn-42") == ["/dyn-42", "/dyn-42"]
    refused = await peer.connect("/other", auth={"ok": True})
    assert refused["message"] == "Invalid namespace"


async def test_middleware_refusal_with_data_and_order(sio_server, node_peers) -> None:
    order: list[str] = []

    def setup(io: sio.Server) -> None:
        @io.use
        def first(socket: sio.Socket) -> None:
            order.append("first")

        @io.use
        async def second(socket: sio.Socket) -> None:
            order.append("second")
            if socket.handshake.auth.get("token") != "good":
                raise sio.ConnectError("not authorized", {"content": "please retry later"})

        io.on("connection", lambda socket: order.append("connection"))

    running = await sio_server(setup)
    peer = await client(node_peers, running)
    refused = await peer.connect("/", auth={"token": "bad"})
    assert refused == {
        "event": "connect_error",
        "nsp": "/",
        "message": "not authorized",
        "data": {"content": "please retry later"},
    }
    assert order == ["first", "second"]
    peer2 = await client(node_peers, running)
    assert (await peer2.connect("/", auth={"token": "good"}))["event"] == "connect"
    assert order == ["first", "second", "first", "second", "connection"]


async def test_socket_use_sees_every_event_and_can_stop_it(sio_server, node_peers) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            @socket.use
            def guard(event: list[Any]) -> None:
                seen.put("middleware", list(event))
                if event[0] == "forbidden":
                    raise ValueError("not allowed")

            socket.on("error", lambda err: seen.put("error", str(err)))
            socket.on("allowed", lambda *args: seen.put("allowed", args))
            socket.on("forbidden", lambda *args: seen.put("forbidden", args))

    running = await sio_server(setup)
    peer = await client(node_peers, running)
    await peer.connect()
    peer.emit("forbidden", 1)
    peer.emit("allowed", 2)
    assert await seen.get("middleware") == ["forbidden", 1]
    assert await seen.get("error") == "not allowed"
    assert await seen.get("middleware") == ["allowed", 2]
    assert await seen.get("allowed") == (2,)
    assert seen.queue("forbidden").empty()


async def test_catch_all_listeners(sio_server, node_peers) -> None:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            socket.on_any(lambda *args: seen.put("any", args))
            socket.prepend_any(lambda *args: seen.put("first", args))
            socket.on_any_outgoing(lambda *args: seen.put("out", args))
            seen.put("socket", socket)

    running = await sio_server(setup)
    peer = await client(node_peers, running)
    await peer.connect()
    socket: sio.Socket = await seen.get("socket")
    peer.emit("ping-event", 1, {"a": 2})
    assert await seen.get("first") == ("ping-event", 1, {"a": 2})
    assert await seen.get("any") == ("ping-event", 1, {"a": 2})
    socket.emit("outgoing", "x")
    assert await seen.get("out") == ("outgoing", "x")
    running.app.emit("broadcasted", 3)
    assert await seen.get("out") == ("broadcasted", 3)
    socket.off_any()
    assert socket.listeners_any() == []


# -- rooms and broadcasts -----------------------------------------------------------------


async def three_clients(sio_server, node_peers) -> tuple[sio.Server, list[SioPeer], list[sio.Socket]]:
    seen = Seen()

    def setup(io: sio.Server) -> None:
        io.on("connection", lambda socket: seen.put("connection", socket))

    running = await sio_server(setup)
    peers, sockets = [], []
    for _ in range(3):
        peer = await client(node_peers, running)
        await peer.connect()
        peers.append(peer)
        sockets.append(await seen.get("connection"))
    return running.app, peers, sockets


async def test_rooms_and_every_broadcast_operator(sio_server, node_peers) -> None:
    io, peers, sockets = await three_clients(sio_server, node_peers)
    a, b, c = sockets
    a.join("red")
    b.join(["red", "blue"])
    c.join("blue")
    assert a.rooms == {a.id, "red"}

    io.to("red").to("blue").emit("union", 1)  # b is in both rooms: once
    io.to("red").except_("blue").emit("red-not-blue", 2)
    a.to("red").emit("from-a", 3)  # everyone in red but a
    a.broadcast.emit("broadcast", 4)  # everyone but a
    io.in_("blue").emit("blue", 5)
    io.emit("all", 6)
    for peer in peers:
        await peer.event("all")
    assert [len(p.events("union")) for p in peers] == [1, 1, 1]
    assert [len(p.events("red-not-blue")) for p in peers] == [1, 0, 0]
    assert [len(p.events("from-a")) for p in peers] == [0, 1, 0]
    assert [len(p.events("broadcast")) for p in peers] == [0, 1, 1]
    assert [len(p.events("blue")) for p in peers] == [0, 1, 1]

    b.leave("red")
    assert b.rooms == {b.id, "blue"}
    io.to("red").emit("after-leave", 7)
    io.emit("sync", 8)
    for peer in peers:
        await peer.event("sync")
    assert [len(p.events("after-leave")) for p in peers] == [1, 0, 0]


async def test_adapter_room_events_and_empty_rooms_disappear(sio_server, node_peers) -> None:
    io, _peers, sockets = await three_clients(sio_server, node_peers)
    a, b, _ = sockets
    adapter = io.sockets.adapter
    log: list[tuple[str, ...]] = []
    for name in ("create-room", "delete-room", "join-room", "leave-room"):
        adapter.on(name, lambda *args, name=name: log.append((name, *args)))
    a.join("room")
    b.join("room")
    a.leave("room")
    b.leave("room")
    assert log == [
        ("create-room", "room"),
        ("join-room", "room", a.id),
        ("join-room", "room", b.id),
        ("leave-room", "room", a.id),
        ("leave-room", "room", b.id),
        ("delete-room", "room"),
    ]
    assert "room" not in adapter.rooms


async def test_fetch_join_leave_and_disconnect_utilities(sio_server, node_peers) -> None:
    io, peers, sockets = await three_clients(sio_server, node_peers)
    a, b, c = sockets
    a.data["name"] = "alice"
    io.in_(a.id).sockets_join("vip")
    io.sockets_join("everyone")
    fetched = await io.in_("vip").fetch_sockets()
    assert [s.id for s in fetched] == [a.id]
    assert fetched[0].data == {"name": "alice"}
    assert {s.id for s in await io.fetch_sockets()} == {a.id, b.id, c.id}
    assert all("everyone" in s.rooms for s in sockets)
    io.sockets_leave("everyone")
    assert not any("everyone" in s.rooms for s in sockets)
    fetched[0].emit("direct", "hi")
    assert await peers[0].event("direct") == ["hi"]

    io.in_(c.id).disconnect_sockets()
    disconnected = await peers[2].expect("disconnect")
    assert disconnected["reason"] == "io server disconnect"
    assert {s.id for s in await io.fetch_sockets()} == {a.id, b.id}


async def test_broadcast_acks_collect_every_response_or_time_out_with_the_partial_list(
    sio_server, node_peers
) -> None:
    io, peers, _ = await three_clients(sio_server, node_peers)
    for i, peer in enumerate(peers):
        await peer.reply("vote", [f"peer-{i}"])
    answers = await io.timeout(5).emit_with_ack("vote")
    assert sorted(answers) == ["peer-0", "peer-1", "peer-2"]

    await peers[2].reply("vote", "none")
    with pytest.raises(sio.AckTimeoutError) as timed_out:  # as Node: rejected, partial list attached
        await io.timeout(0.3).emit_with_ack("vote")
    assert sorted(timed_out.value.responses) == ["peer-0", "peer-1"]
    results: asyncio.Queue[Any] = asyncio.Queue()
    io.timeout(0.3).emit("vote", lambda err, responses: results.put_nowait((err, sorted(responses))))
    err, responses = await results.get()
    assert isinstance(err, sio.AckTimeoutError)
    assert responses == ["peer-0", "peer-1"]
    with pytest.raises(ValueError, match="timeout"):
        io.emit("vote", lambda err, responses: None)


async def test_volatile_is_dropped_only_when_the_transport_cannot_take_it(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen))
    ws_peer = await client(node_peers, running, "websocket")
    await ws_peer.connect()
    ws_socket: sio.Socket = await seen.get("connection")
    ws_socket.volatile.emit("volatile", 1)
    assert await ws_peer.event("volatile") == [1]
    running.app.volatile.emit("volatile-broadcast", 2)
    assert await ws_peer.event("volatile-broadcast") == [2]

    poll_peer = await client(node_peers, running, "polling")
    await poll_peer.connect()
    poll_socket: sio.Socket = await seen.get("connection")
    await poll_peer.event("auth")
    # The client's poll has just been answered: until the next GET arrives nothing is writable.
    if not poll_socket.conn.writable:
        poll_socket.volatile.emit("dropped", 1)
        poll_socket.emit("kept", 2)
        assert await poll_peer.event("kept") == [2]
        assert poll_peer.events("dropped") == []


async def test_handshake_fields_send_local_compress_and_server_side_emit(
    sio_server, node_peers, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), cors_allowed_origins="*")
    peer = await SioPeer.start(
        node_peers, running.url, transports=["websocket"], extraHeaders={"origin": "http://example.test"}
    )
    await peer.connect("/", auth={"a": 1})
    socket: sio.Socket = await seen.get("connection")
    handshake = socket.handshake
    assert handshake.headers["origin"] == "http://example.test"
    assert handshake.xdomain is True
    assert handshake.secure is False
    assert handshake.url.startswith("/socket.io/?")
    assert "EIO=4" in handshake.url
    assert handshake.query["transport"] == "websocket"
    assert isinstance(handshake.issued, int)
    assert " GMT" in handshake.time
    io: sio.Server = running.app

    socket.send("via send")
    assert await peer.event("message") == ["via send"]
    io.local.emit("local", 1)
    assert await peer.event("local") == [1]
    socket.compress(False).emit("uncompressed", 2)
    assert await peer.event("uncompressed") == [2]
    io.compress(True).to(socket.id).emit("compressed", 3)
    assert await peer.event("compressed") == [3]
    with caplog.at_level("WARNING", logger="sio"):
        assert io.server_side_emit("hello", "cluster") is True
    assert any("server_side_emit" in record.getMessage() for record in caplog.records)
    assert await io.sockets.adapter.server_count() == 1
    assert await io.server_count() == 1


async def test_a_broadcast_is_encoded_once_for_every_recipient(
    sio_server, node_peers, monkeypatch: pytest.MonkeyPatch, frontend: str
) -> None:
    """Encode once (docs/architecture.md): one Socket.IO encoding, one WebSocket frame, the same bytes."""
    import sio.engine.exchange

    io, peers, _ = await three_clients(sio_server, node_peers)
    calls = {"sio": 0, "frame": 0}
    encode_packet, encode_frame = io.sockets.encode, sio.engine.exchange.encode_text_frame

    def counting_packet(*args: Any, **kwargs: Any) -> Any:
        calls["sio"] += 1
        return encode_packet(*args, **kwargs)

    def counting_frame(data: str) -> bytes:
        calls["frame"] += 1
        return encode_frame(data)

    monkeypatch.setattr(
        io.sockets, "encode", counting_packet
    )  # the server's parser, as the namespace holds it
    monkeypatch.setattr(sio.engine.exchange, "encode_text_frame", counting_frame)
    io.emit("news", {"headline": "encoded once"})
    for peer in peers:
        assert await peer.event("news") == [{"headline": "encoded once"}]
    assert calls["sio"] == 1
    # Under uvicorn's own WebSocket protocol the ASGI server frames it; sio's protocol is sio's framing.
    assert calls["frame"] == (0 if frontend == "uvicorn" else 1)
