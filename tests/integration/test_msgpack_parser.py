"""``sio.Server(parser=MsgpackParser())`` against the official socket.io-client built with
socket.io-msgpack-parser 3.0.2 (tests/js, pinned), under both front ends and every transport;
bad input from a raw WebSocket client closes that connection (``forced close``, as an invalid
packet does with the JSON parser) and nothing else.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

import sio
from sio.parser import MsgpackParser
from tests.integration.rawclient import open_websocket
from tests.integration.test_sio_disconnects import start
from tests.integration.test_sio_js_client import MODES, Seen, echo_setup


async def msgpack_client(node_peers: Any, running: Any, mode: str) -> Any:
    from tests.integration.siopeer import SioPeer

    return await SioPeer.start(node_peers, running.url, transports=MODES[mode], parser="msgpack")


@pytest.mark.parametrize("mode", MODES)
async def test_the_official_msgpack_client_connects_emits_and_acks(sio_server, node_peers, mode: str) -> None:
    seen = Seen()
    running = await sio_server(echo_setup(seen), parser=MsgpackParser())
    peer = await msgpack_client(node_peers, running, mode)
    connected = await peer.connect("/", auth={"token": "abc", "n": 1})
    assert connected["event"] == "connect"
    socket: sio.Socket = await seen.get("connection")
    assert socket.handshake.auth == {"token": "abc", "n": 1}
    assert await peer.event("auth") == [{"token": "abc", "n": 1}]
    payload = {"bin": b"\x00\x01\xff", "nested": [b"x" * 1000, {"deep": b"yz"}], "n": 2**40, "f": 1.5}
    peer.emit("message", payload, "é ✓", None, True)
    assert await peer.event("message-back") == [payload, "é ✓", None, True]
    ack = await peer.call("message-with-ack", [b"\x01", b"\x02"], {"x": [1, 2]})
    assert ack["args"] == [[b"\x01", b"\x02"], {"x": [1, 2]}]
    # Server to client, with an ack; a broadcast; the server's disconnect.
    await peer.reply("question", [{"answer": b"\x07"}])
    assert await socket.timeout(5).emit_with_ack("question", 1) == {"answer": b"\x07"}  # (Node: the first)
    running.app.emit("news", {"all": True})
    assert await peer.event("news") == [{"all": True}]
    socket.disconnect()
    assert (await peer.expect("disconnect"))["reason"] == "io server disconnect"
    assert await seen.get("disconnect") == "server namespace disconnect"


async def test_a_middleware_refusal_reaches_the_msgpack_client_with_its_data(sio_server, node_peers) -> None:
    def setup(io: sio.Server) -> None:
        async def refuse(socket: sio.Socket) -> None:
            raise sio.ConnectError("not authorized", {"hint": "send a token", "raw": b"\x01"})

        io.of("/private").use(refuse)

    running = await sio_server(setup, parser=MsgpackParser())
    peer = await msgpack_client(node_peers, running, "websocket")
    refused = await peer.connect("/private")
    assert refused["event"] == "connect_error" and refused["message"] == "not authorized"
    assert refused["data"]["hint"] == "send a token"
    unknown = await peer.connect("/nowhere")
    assert unknown["event"] == "connect_error" and unknown["message"] == "Invalid namespace"


def _packet(**fields: Any) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)


@pytest.mark.parametrize(
    "message",
    [
        "40",  # a text message: the JSON format, not this one
        b"\xc1",  # never-used msgpack byte
        b"\x92\x01\x02",  # an array, not a map
        _packet(type=9, nsp="/", data=["x"]),  # no such type
        _packet(type=5, nsp="/", data=["x"]),  # BINARY_EVENT does not exist in this format
        _packet(type=True, nsp="/", data=["x"]),  # a boolean is not a type
        _packet(type=2, nsp=7, data=["x"]),  # namespace not a string
        _packet(type=2, nsp="/", data=[]),  # an event without its name
        _packet(type=2, nsp="/", data=[1, 2]),  # an event name that is not a string
        _packet(type=2, nsp="/", data=["disconnect", "spoofed"]),  # a reserved name
        _packet(type=2, nsp="/", data={"not": "a list"}),
        _packet(type=2, nsp="/", data=["x"], id=-1),  # an ack id out of range
        _packet(type=2, nsp="/", data=["x"], id="1"),
        _packet(type=1, nsp="/", data=["x"]),  # DISCONNECT carries nothing
        _packet(type=2, nsp="/", data=["x"]) + b"\x00",  # trailing bytes
    ],
    ids=lambda m: repr(m)[:40],
)
async def test_bad_input_closes_the_connection_as_an_invalid_packet_does(
    sio_server, message: str | bytes
) -> None:
    running, tracker = await start(sio_server, parser=MsgpackParser())
    ws, _ = await open_websocket(running.port, "/socket.io/")
    ws.send(_packet(type=0, nsp="/"))
    reply = await ws.recv_packet()
    assert isinstance(reply, bytes) and msgpack.unpackb(reply)["type"] == 0
    socket = await tracker.next()
    ws.send(message)
    assert await tracker.reason(socket) == "forced close"  # as Node, and as the JSON parser's bad packets
    assert running.app.engine.clients_count == 0
    ws.close()
