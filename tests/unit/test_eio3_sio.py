"""The Socket.IO layer for socket.io-client 2.x (``allow_eio3``: Socket.IO protocol v4) on the fake
loop and a fake WebSocket: the packets exactly as socket.io 4 writes them to a v2 client.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import sio
from sio.client import Eio3Client, split_namespace
from sio.namespace import _js_truthy
from tests.unit.fakes import FakeChannel, FakeExchange, FakeLoop


def connect(io: sio.Server, eio: str = "3") -> tuple[FakeChannel, Any]:
    channel = FakeChannel()
    exchange = FakeExchange("GET", f"EIO={eio}&transport=websocket", path="/socket.io/")
    exchange.authorized = True
    transport = io.engine.accept_websocket(exchange, channel)
    assert transport is not None
    return channel, transport


@pytest.fixture
def io() -> sio.Server:
    return sio.Server(loop=FakeLoop(), allow_eio3=True)


def test_the_main_namespace_is_connected_without_a_connect_packet(io: sio.Server) -> None:
    connections: list[sio.Socket] = []
    io.on("connection", connections.append)
    channel, _ = connect(io)
    [socket] = connections
    sid = socket.conn.id
    assert isinstance(socket.client, Eio3Client)
    assert channel.sent[1:] == ["40"]  # after the open packet: a CONNECT with no payload
    assert socket.id == sid and socket.handshake.auth == {}


def test_other_namespaces_answer_without_payload_and_take_the_query_as_auth(io: sio.Server) -> None:
    admins: list[sio.Socket] = []
    io.of("/admin").on("connection", admins.append)
    channel, transport = connect(io)
    transport.on_message("40/admin?token=abc&n=1,")
    [admin] = admins
    assert channel.sent[-1] == "40/admin,"
    assert admin.id == "/admin#" + admin.conn.id
    assert admin.handshake.auth == {"token": "abc", "n": "1"}
    events: list[Any] = []
    admin.on("hello", lambda *args: events.append(args))
    transport.on_message('42/admin,["hello",1]')
    transport.on_message('42/admin?stray=1,["hello",2]')  # Node reads the name out of any packet's URL
    assert events == [(1,), (2,)]


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (sio.ConnectError("not allowed"), '44"not allowed"'),
        (sio.ConnectError("not allowed", data={"code": 1}), '44{"code":1}'),
        (sio.ConnectError("not allowed", data=[1, 2]), "44[1,2]"),
        (sio.ConnectError("not allowed", data=0), '44"not allowed"'),  # `err.data || err.message`
        (ValueError(), '44"ValueError"'),
    ],
)
def test_a_refusal_is_the_errors_data_or_its_message(io: sio.Server, error: Exception, sent: str) -> None:
    def refuse(socket: sio.Socket) -> None:
        raise error

    io.use(refuse)
    channel, _ = connect(io)
    assert channel.sent[-1] == sent
    assert io.sockets.sockets == {}


def test_a_v4_client_of_the_same_server_is_served_as_before(io: sio.Server) -> None:
    channel, transport = connect(io, eio="4")
    assert channel.sent[1:] == []  # nothing until its CONNECT
    transport.on_message("40")
    assert channel.sent[-1].startswith('40{"sid":"')
    [socket] = io.sockets.sockets.values()
    assert socket.id != socket.conn.id  # a fresh id, never the session's


@pytest.mark.parametrize(
    ("nsp", "expected"),
    [
        ("/", ("/", {})),
        ("/admin", ("/admin", {})),
        ("/admin?token=abc", ("/admin", {"token": "abc"})),
        ("/admin?a=1&a=2&b", ("/admin", {"a": "2", "b": ""})),
        ("/admin?x=%C3%A9+1#frag", ("/admin", {"x": "é 1"})),
        ("/admin#frag?not=query", ("/admin", {})),
    ],
)
def test_split_namespace_as_nodes_url(nsp: str, expected: tuple[str, dict[str, str]]) -> None:
    assert split_namespace(nsp) == expected


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        *[(None, False), (False, False), (0, False), (0.0, False), (math.nan, False), ("", False)],
        *[(True, True), (1, True), ("x", True), ([], True), ({}, True)],
    ],
)
def test_js_truthiness(value: Any, truthy: bool) -> None:
    assert _js_truthy(value) is truthy
