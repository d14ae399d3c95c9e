"""A Socket.IO socket's states (sio.socket.SocketState), on the engine's fake loop and fake WebSocket."""

from __future__ import annotations

from typing import Any

import pytest

import sio
from sio.errors import LocalProtocolError
from sio.socket import SocketState
from tests.unit.fakes import FakeChannel, FakeExchange, FakeLoop


def connect(io: sio.Server, nsp: str = "/") -> tuple[FakeChannel, Any]:
    channel = FakeChannel()
    exchange = FakeExchange("GET", "EIO=4&transport=websocket", path="/socket.io/")
    exchange.authorized = True
    transport = io.engine.accept_websocket(exchange, channel)
    assert transport is not None
    transport.on_message("40" if nsp == "/" else f"40{nsp},")
    return channel, transport


@pytest.fixture
def io() -> sio.Server:
    return sio.Server(loop=FakeLoop())


def test_connecting_connected_disconnecting_disconnected(io: sio.Server) -> None:
    seen: list[tuple[str, SocketState, bool]] = []

    def middleware(socket: sio.Socket) -> None:
        seen.append(("middleware", socket.state, socket.connected))
        socket.join("early")  # allowed while connecting, as in Node

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        seen.append(("connection", socket.state, socket.connected))
        socket.on(
            "disconnecting", lambda reason: seen.append(("disconnecting", socket.state, socket.connected))
        )
        socket.on("disconnect", lambda reason: seen.append(("disconnect", socket.state, socket.connected)))

    io.use(middleware)
    channel, transport = connect(io)
    assert channel.sent[-1].startswith('40{"sid":"')
    (socket,) = io.sockets.sockets.values()
    assert socket.rooms == {socket.id, "early"}
    transport.on_message("41")  # the client leaves the namespace
    assert seen == [
        ("middleware", SocketState.CONNECTING, False),
        ("connection", SocketState.CONNECTED, True),
        ("disconnecting", SocketState.DISCONNECTING, True),  # rooms still set, as Node's
        ("disconnect", SocketState.DISCONNECTED, False),
    ]
    assert io.sockets.adapter.sids == {} and io.sockets.sockets == {}


def test_a_disconnect_from_a_disconnecting_handler_is_a_no_op(io: sio.Server) -> None:
    reasons: list[str] = []

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        socket.on("disconnecting", lambda reason: socket.disconnect())
        socket.on("disconnect", reasons.append)

    _, transport = connect(io)
    transport.on_message("41")
    assert reasons == ["client namespace disconnect"]


def test_a_refused_socket_ends_disconnected_with_no_rooms(io: sio.Server) -> None:
    refused: list[sio.Socket] = []

    def middleware(socket: sio.Socket) -> None:
        socket.join("lobby")
        refused.append(socket)
        raise sio.ConnectError("not allowed")

    io.use(middleware)
    channel, _ = connect(io)
    assert channel.sent[-1] == '44{"message":"not allowed"}'
    assert refused[0].state is SocketState.DISCONNECTED and not refused[0].connected
    assert io.sockets.adapter.rooms == {}
    refused[0].join("later")  # a late task: nothing is kept
    assert io.sockets.adapter.rooms == {}


def test_socket_transitions_outside_the_table_are_refused(io: sio.Server) -> None:
    _, _transport = connect(io)
    (socket,) = io.sockets.sockets.values()
    with pytest.raises(LocalProtocolError, match="connected -> connecting is not a transition"):
        socket._enter(SocketState.CONNECTING)
    with pytest.raises(LocalProtocolError):
        socket._enter(SocketState.DISCONNECTED)  # skips disconnecting
