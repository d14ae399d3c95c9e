"""Connection state recovery against the official ``socket.io-client`` and its built-in recovery.

The client loses its transport (``manager.engine.close()``: the server sees ``transport close``),
the server emits while it is away, the client's Manager reconnects and sends ``pid`` and the last
offset it processed in its CONNECT. Node's semantics: same id, rooms and data, the missed events
in order before ``connect``, middlewares skipped (or run), a fresh session otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import sio
from sio.parser import MsgpackParser
from sio.recovery import Session
from tests.integration.cluster_bus import wait_until
from tests.integration.rawclient import PollingClient
from tests.integration.siopeer import SioPeer
from tests.integration.test_sio_js_client import MODES, Seen

RECONNECT = {"reconnection": True, "reconnectionDelay": 50, "reconnectionDelayMax": 100}


def recovery_setup(seen: Seen, middleware_calls: list[str] | None = None):
    def setup(io: sio.Server) -> None:
        if middleware_calls is not None:

            @io.use
            def middleware(socket: sio.Socket) -> None:
                middleware_calls.append(f"{socket.id} recovered={socket.recovered}")

        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put("connection", socket)

            @socket.on("join")
            def join(room: str, ack: Any) -> None:
                socket.join(room)
                ack()

            @socket.on("set")
            def set_data(key: str, value: Any, ack: Any) -> None:
                socket.data[key] = value
                ack()

            @socket.on("disconnect")
            def disconnect(reason: str) -> None:
                seen.put("disconnect", reason)

    return setup


async def start_client(node_peers, running, mode: str) -> SioPeer:
    return await SioPeer.start(node_peers, running.url, transports=MODES[mode], **RECONNECT)


async def connected_client(
    node_peers, running, seen: Seen, mode: str = "websocket"
) -> tuple[SioPeer, sio.Socket]:
    """A reconnecting official client connected to ``/``, and its socket on the server."""
    peer = await start_client(node_peers, running, mode)
    await peer.connect()
    return peer, await seen.get("connection")


async def lose_transport(peer: SioPeer, seen: Seen) -> None:
    """Close the client's transport; return once the server saw the socket go."""
    peer.command("closeEngine")
    assert await seen.get("disconnect") == "transport close"


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_recovered_socket_gets_id_rooms_data_and_exactly_the_missed_events(
    sio_server, node_peers, mode: str
) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    io: sio.Server = running.app
    peer = await start_client(node_peers, running, mode)
    first = await peer.connect()
    assert first["recovered"] is False
    socket: sio.Socket = await seen.get("connection")
    assert socket.recovered is False and socket.pid is not None
    await peer.call("join", "in")
    await peer.call("set", "user", {"name": "ann"})
    io.emit("before", 0)  # the client needs one offset to come back with
    before = await peer.event("before")
    assert before[0] == 0 and isinstance(before[1], str)  # the offset, Node's last argument

    await lose_transport(peer, seen)
    io.emit("missed", "all")
    io.to("in").emit("missed", "room-in")
    io.to("out").emit("missed", "room-out")  # not for it
    io.except_("in").emit("missed", "except-in")  # not for it
    io.to(socket.id).emit("missed", "direct")
    io.volatile.emit("missed", "volatile")  # volatile packets are not kept
    connected = await peer.expect("connect")
    assert connected["id"] == socket.id
    assert connected["recovered"] is True
    again: sio.Socket = await seen.get("connection")
    assert again is not socket and again.recovered is True
    assert again.id == socket.id and again.pid == socket.pid
    assert again.rooms == {socket.id, "in"}
    assert again.data == {"user": {"name": "ann"}}
    missed = [args[:-1] for args in peer.events("missed")]
    assert missed == [["all"], ["room-in"], ["direct"]]
    offsets = [args[-1] for args in peer.events("missed")]
    assert len(set(offsets)) == 3 and all(isinstance(o, str) for o in offsets)

    # After recovery, the session goes on as before: broadcasts to its rooms reach it.
    io.to("in").emit("after", 1)
    assert (await peer.event("after"))[0] == 1


async def test_a_socket_emit_is_replayed_and_acked_emits_are_not(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    peer, socket = await connected_client(node_peers, running, seen)
    socket.emit("direct", 1)
    first = await peer.event("direct")
    assert first[0] == 1 and isinstance(first[1], str)

    await lose_transport(peer, seen)
    socket.emit("direct", 2)  # written nowhere (the transport is gone), kept in the log
    socket.emit("with-ack", 3, lambda *a: None)  # an ack cannot be replayed: not kept
    await peer.expect("connect", recovered=True)
    assert [args[0] for args in peer.events("direct")] == [1, 2]
    assert peer.events("with-ack") == []


async def test_recovery_skips_middlewares_by_default_and_runs_them_when_asked(sio_server, node_peers) -> None:
    for skip, expected_calls in ((True, 1), (False, 2)):
        seen = Seen()
        calls: list[str] = []
        running = await sio_server(
            recovery_setup(seen, calls), connection_state_recovery={"skip_middlewares": skip}
        )
        peer, socket = await connected_client(node_peers, running, seen)
        running.app.emit("tick")
        await peer.event("tick")
        await lose_transport(peer, seen)
        await peer.expect("connect", recovered=True)
        assert len(calls) == expected_calls
        if not skip:  # the middleware sees the recovered socket, recovered already set
            assert calls[1] == f"{socket.id} recovered=True"


async def test_no_recovery_without_an_offset_or_with_an_unknown_one(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    peer, socket = await connected_client(node_peers, running, seen)
    # No event received yet: the client has no offset and cannot be recovered (as Node).
    await lose_transport(peer, seen)
    connected = await peer.expect("connect")
    assert connected["recovered"] is False and connected["id"] != socket.id


async def test_expired_session_gives_a_fresh_start(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(
        recovery_setup(seen), connection_state_recovery={"max_disconnection_duration": 0.05}
    )
    io: sio.Server = running.app
    # No automatic reconnection: the client comes back by hand once the session is gone.
    peer = await SioPeer.start(node_peers, running.url, transports=["websocket"])
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    io.emit("tick")
    await peer.event("tick")
    store = io.sockets.adapter.session_store()  # type: ignore[attr-defined]
    await lose_transport(peer, seen)
    assert socket.pid in store
    await wait_until(lambda: socket.pid not in store, "the wheel collected the expired session")
    peer.command("reconnect")
    connected = await peer.expect("connect")
    assert connected["recovered"] is False and connected["id"] != socket.id


async def test_recovery_is_off_by_default_no_pid_no_offsets(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen))
    peer, socket = await connected_client(node_peers, running, seen)
    assert socket.pid is None and socket.recovered is False
    running.app.emit("tick", 1)
    assert await peer.event("tick") == [1]  # no offset appended
    await lose_transport(peer, seen)
    connected = await peer.expect("connect")
    assert not connected.get("recovered") and connected["id"] != socket.id  # undefined: no pid


# -- the wire, and CONNECTs that cannot be recovered ---------------------------------------


async def raw_connect(port: int, auth: Any = None) -> tuple[PollingClient, dict[str, Any]]:
    client = await PollingClient.open(port, "/socket.io/")
    await client.send("40" if auth is None else "40" + json.dumps(auth))
    (reply,) = await client.receive()
    assert reply.startswith("40{"), reply
    return client, json.loads(reply[2:])


async def raw_connected_with_offset(
    port: int, seen: Seen, io: sio.Server
) -> tuple[PollingClient, dict[str, Any], sio.Socket, str]:
    """A raw client connected to ``/``, its CONNECT reply, its socket, and one offset it received."""
    client, reply = await raw_connect(port)
    socket: sio.Socket = await seen.get("connection")
    io.emit("tick")
    (tick,) = await client.receive()
    return client, reply, socket, json.loads(tick[2:])[-1]


async def test_the_connect_reply_has_a_pid_only_with_recovery(sio_server) -> None:
    plain = await sio_server()
    _, reply = await raw_connect(plain.port)
    assert set(reply) == {"sid"}  # no pid key at all, as Node
    recovering = await sio_server(connection_state_recovery=True)
    _, reply = await raw_connect(recovering.port)
    assert set(reply) == {"sid", "pid"} and reply["pid"] != reply["sid"]
    assert len(reply["pid"]) == 20


@pytest.mark.parametrize(
    "auth",
    [
        {"pid": "unknown", "offset": "0"},
        {"pid": 1, "offset": "0"},
        {"pid": None, "offset": None},
        {"pid": "x" * 10_000, "offset": "f" * 10_000},
        {"pid": "unknown", "offset": ["0"]},
        {"offset": "0"},
    ],
)
async def test_a_connect_that_cannot_be_recovered_gets_a_fresh_session(sio_server, auth: Any) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    _, reply = await raw_connect(running.port, auth)
    socket: sio.Socket = await seen.get("connection")
    assert reply["sid"] == socket.id and socket.recovered is False
    assert socket.handshake.auth == auth  # the auth is kept as sent, as Node


async def test_a_known_pid_with_a_bad_offset_starts_afresh_and_the_session_stays(sio_server) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    io: sio.Server = running.app
    client, reply, socket, offset = await raw_connected_with_offset(running.port, seen, io)
    pending = client.start_get()  # the close packet goes out on it
    socket.conn.close()  # the engine closes the connection: recoverable
    assert await seen.get("disconnect") == "forced close"
    assert "1" in (await pending).packets()
    for bad in ("zz", "0" + offset, format(int(offset, 16) + 5, "x")):
        _, fresh = await raw_connect(running.port, {"pid": reply["pid"], "offset": bad})
        assert fresh["sid"] != socket.id
        assert (await seen.get("connection")).recovered is False
    # The session was not spent on them: the right offset still recovers it.
    _, again = await raw_connect(running.port, {"pid": reply["pid"], "offset": offset})
    assert again == {"sid": socket.id, "pid": reply["pid"]}
    assert (await seen.get("connection")).recovered is True
    # Spent now: the same pid again is a fresh start (the session is live, not kept).
    _, twice = await raw_connect(running.port, {"pid": reply["pid"], "offset": offset})
    assert twice["sid"] != socket.id


async def test_parse_errors_and_namespace_disconnects_are_not_recoverable(sio_server) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    io: sio.Server = running.app
    store = io.sockets.adapter.session_store()  # type: ignore[attr-defined]
    client, _ = await raw_connect(running.port)
    socket: sio.Socket = await seen.get("connection")
    await client.send("41")  # the client leaves the namespace
    assert await seen.get("disconnect") == "client namespace disconnect"
    _, _ = await raw_connect(running.port)
    other: sio.Socket = await seen.get("connection")
    other.disconnect()  # the server makes it leave
    assert await seen.get("disconnect") == "server namespace disconnect"
    assert socket.pid not in store and other.pid not in store and len(store) == 0


async def test_a_session_whose_id_is_connected_again_is_not_restored_twice(sio_server) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True)
    io: sio.Server = running.app
    _, _, live, offset = await raw_connected_with_offset(running.port, seen, io)
    # A session naming a socket that is connected (a store that lagged, a replayed pid): refused.
    adapter = io.sockets.adapter
    adapter.persist_session(Session(live.id, "stale-pid", [live.id], {}))
    _, reply = await raw_connect(running.port, {"pid": "stale-pid", "offset": offset})
    assert reply["sid"] != live.id
    assert (await seen.get("connection")).recovered is False
    assert live.connected and io.sockets.sockets[live.id] is live


async def test_recovery_with_the_msgpack_parser(sio_server, node_peers) -> None:
    seen = Seen()
    running = await sio_server(recovery_setup(seen), connection_state_recovery=True, parser=MsgpackParser())
    io: sio.Server = running.app
    peer = await SioPeer.start(
        node_peers, running.url, transports=["websocket"], parser="msgpack", **RECONNECT
    )
    await peer.connect()
    socket: sio.Socket = await seen.get("connection")
    await peer.call("join", "in")
    io.emit("before", b"\x00\x01")
    before = await peer.event("before")
    assert before[0] == b"\x00\x01" and isinstance(before[1], str)
    await lose_transport(peer, seen)
    io.to("in").emit("missed", b"\xff", {"n": 1})
    io.to("out").emit("missed", "not for it")
    connected = await peer.expect("connect")
    assert connected["id"] == socket.id and connected["recovered"] is True
    assert [args[:-1] for args in peer.events("missed")] == [[b"\xff", {"n": 1}]]
