"""permessage-deflate (RFC 7692) on the built-in front end, against real peers.

The official socket.io-client in node (``ws`` underneath offers the extension by default), ``ws``
itself, and a raw client (rawclient's ``RawWebSocket`` with the extension offered) that sees each
frame's RSV1 bit and inflates with zlib. Built-in front end only: under ASGI the ASGI server
negotiates and frames (uvicorn: its own ``ws_per_message_deflate``).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest

import sio
from sio._sio_core import (
    OP_BINARY,
    OP_BINARY_DEFLATED,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    OP_TEXT_DEFLATED,
    encode_deflated_frame,
    encode_frame,
)
from sio.frontends.permessage_deflate import INVALID_HEADER, PerMessageDeflate, SharedDeflater
from tests.integration.rawclient import (
    MASK,
    RawWebSocket,
    Sessions,
    bounded,
    open_packet,
    query,
    request,
)
from tests.integration.siopeer import SioPeer

pytestmark = pytest.mark.parametrize("frontend", ["uvloop"])

OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}  # Node's ws, Chrome
TRAILER = b"\x00\x00\xff\xff"
BIG = "x" * 3000  # well over the default threshold (1024)


class DeflateClient:
    """A raw WebSocket client that offered permessage-deflate: it sees which frames came compressed."""

    def __init__(self, ws: RawWebSocket, window_bits: int = 15) -> None:
        ws.parser.deflate = True  # its parser takes RSV1 frames (as raw deflated payloads)
        self.ws = ws
        self.window_bits = window_bits  # of the inflater: what the server promised to stay within
        self.takeover = "server_no_context_takeover" not in (self.agreed or "")
        self.inflater = zlib.decompressobj(-window_bits)
        self.compressor = zlib.compressobj(-1, zlib.DEFLATED, -15)
        self.payloads: list[bytes] = []  # the compressed payloads received, as sent

    @classmethod
    async def open(
        cls, port: int, path: str = "/engine.io/", window_bits: int = 15
    ) -> tuple[DeflateClient, dict[str, Any]]:
        """A direct WebSocket session that offered the extension; return it and its open packet."""
        ws = await RawWebSocket.connect(port, query(path, transport="websocket"), OFFER)
        client = cls(ws, window_bits)
        _, packet = await client.recv()
        assert isinstance(packet, str)
        return client, open_packet(packet)

    @property
    def agreed(self) -> str | None:
        """The 101's Sec-WebSocket-Extensions."""
        return self.ws.response.headers.get("sec-websocket-extensions")

    async def recv(self) -> tuple[bool, str | bytes]:
        """The next message (pings answered) and whether it came compressed."""
        while True:
            event = await self.ws.recv_event()
            assert event is not None, "the server closed the connection"
            opcode, payload = event
            assert opcode != OP_CLOSE, f"the server closed the WebSocket: {payload}"
            if opcode in (OP_TEXT_DEFLATED, OP_BINARY_DEFLATED):
                self.payloads.append(payload)
                inflater = self.inflater if self.takeover else zlib.decompressobj(-self.window_bits)
                data = inflater.decompress(payload + TRAILER)
                message: str | bytes = data.decode() if opcode == OP_TEXT_DEFLATED else data
                compressed = True
            elif opcode in (OP_TEXT, OP_BINARY):
                message, compressed = payload, False
            else:
                continue
            if message == "2":
                self.ws.send("3")
                continue
            return compressed, message

    def send_compressed(self, data: str | bytes) -> None:
        """Send one message compressed (RSV1), with context takeover."""
        raw = data.encode() if isinstance(data, str) else data
        payload = (self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        self.ws.send_frame(
            encode_deflated_frame(OP_TEXT if isinstance(data, str) else OP_BINARY, payload, mask=MASK)
        )

    async def connect_socketio(self) -> None:
        """The Socket.IO CONNECT to the main namespace, over this Engine.IO session."""
        self.ws.send("40")
        _, packet = await self.recv()
        assert isinstance(packet, str) and packet.startswith("40{"), packet


def counting(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[Any]:
    """Count (and keep the arguments of) every call of ``cls.name``."""
    calls: list[Any] = []
    original = getattr(cls, name)

    def counted(self: Any, *args: Any) -> Any:
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(cls, name, counted)
    return calls


# -- the official client -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transports", [["websocket"], ["polling", "websocket"]], ids=["websocket", "upgrade"]
)
async def test_the_official_client_round_trips_under_and_over_the_threshold(
    sio_server, node_peers, monkeypatch: pytest.MonkeyPatch, transports: list[str]
) -> None:
    inflated = counting(monkeypatch, PerMessageDeflate, "inflate")
    deflated = counting(monkeypatch, PerMessageDeflate, "deflate")

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            socket.on("message", lambda *args: socket.emit("message-back", *args))

    running = await sio_server(setup, per_message_deflate=True)
    peer = await SioPeer.start(node_peers, running.url, transports=transports)
    assert (await peer.connect())["event"] == "connect"
    if transports[0] == "polling":  # (the upgrade may have been seen while waiting for the connect)
        while not peer.node.seen("upgrade"):
            await peer.node.next_event()
    values: list[Any] = ["small", BIG, "é" * 700, b"\x00\x01" * 2000, {"nested": [BIG, 1]}]
    for value in values:
        peer.emit("message", value)
        assert await peer.event("message-back") == [value]
    # Both ways, the big messages went compressed (the client's, ws' threshold being 1024 too).
    assert len(inflated) >= 4
    assert len(deflated) >= 4


# -- what goes out compressed --------------------------------------------------------------------------


async def test_rsv1_on_packets_at_and_over_the_threshold_only(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    Sessions(running.app)  # echoes
    client, _ = await DeflateClient.open(running.port)
    assert client.agreed == "permessage-deflate"
    # The threshold counts the Engine.IO packet's UTF-8 bytes ("4" and the data).
    cases = [
        ("4" + "a" * 1022, False),
        ("4" + "a" * 1023, True),
        ("4" + "é" * 511, False),  # 1023 bytes
        ("4" + "é" * 512, True),  # 513 characters, 1025 bytes
        ("4small", False),
        ("4" + BIG, True),
    ]
    for packet, compressed in cases:
        client.ws.send(packet)
        assert await client.recv() == (compressed, packet)
    # Binary: the packet is the bytes themselves.
    for data, compressed in [(b"\x01" * 1023, False), (b"\x01" * 1024, True)]:
        client.ws.send(data)
        assert await client.recv() == (compressed, data)
    # Compressed messages from the client are inflated (context takeover both ways).
    for packet in ("4" + BIG, "4tiny", "4" + BIG + "!"):
        client.send_compressed(packet)
        assert await client.recv() == (len(packet) >= 1024, packet)
    client.send_compressed(b"\x02" * 5000)
    assert await client.recv() == (True, b"\x02" * 5000)


async def test_compress_false_and_broadcast_compress_false_go_out_plain(sio_server) -> None:
    connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
    running = await sio_server(lambda io: io.on("connection", connected.put_nowait), per_message_deflate=True)
    io: sio.Server = running.app
    client, _ = await DeflateClient.open(running.port, "/socket.io/")
    await client.connect_socketio()
    socket = await bounded(connected.get())

    socket.emit("a", BIG)
    socket.compress(False).emit("b", BIG)
    socket.emit("c", BIG)  # the flag was for one emit
    io.emit("d", BIG)
    io.compress(False).emit("e", BIG)
    io.to(socket.id).compress(False).emit("f", BIG)
    io.to(socket.id).emit("g", BIG)
    socket.emit("h", "small")
    expected = [
        ("a", True),
        ("b", False),
        ("c", True),
        ("d", True),
        ("e", False),
        ("f", False),
        ("g", True),
        ("h", False),
    ]
    for name, compressed in expected:
        was_compressed, packet = await client.recv()
        assert isinstance(packet, str)
        assert json.loads(packet[2:])[0] == name
        assert was_compressed is compressed, name


async def test_a_broadcast_is_compressed_once_for_every_no_context_takeover_recipient(
    sio_server, node_peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_calls = counting(monkeypatch, SharedDeflater, "deflate")
    connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
    running = await sio_server(
        lambda io: io.on("connection", connected.put_nowait),
        per_message_deflate={"server_no_context_takeover": True},
    )
    io: sio.Server = running.app
    clients = []
    for _ in range(3):
        client, _ = await DeflateClient.open(running.port, "/socket.io/")
        assert client.agreed == "permessage-deflate; server_no_context_takeover"
        await client.connect_socketio()
        clients.append(client)
    peer = await SioPeer.start(node_peers, running.url, transports=["websocket"])  # ws as the fourth
    assert (await peer.connect())["event"] == "connect"
    for _ in range(4):
        await bounded(connected.get())
    assert shared_calls == []  # nothing compressed yet (the CONNECT answers are small)

    news: list[Any] = ["news", {"text": BIG, "n": 1}]
    io.emit("news", news[1])
    for client in clients:
        compressed, packet = await client.recv()
        assert compressed
        assert isinstance(packet, str) and json.loads(packet[2:]) == news
    assert await peer.event("news") == news[1:]
    assert len(shared_calls) == 1  # one compression for four recipients
    assert clients[0].payloads[-1] == clients[1].payloads[-1] == clients[2].payloads[-1]  # the same bytes
    # The next broadcast is compressed again, and decodes on its own (no history).
    io.emit("more", BIG)
    for client in clients:
        assert (await client.recv())[0]
    assert len(shared_calls) == 2


async def test_options_are_in_the_response_and_honoured(eio_server) -> None:
    running = await eio_server(
        per_message_deflate={"client_no_context_takeover": True, "server_max_window_bits": 10, "threshold": 0}
    )
    Sessions(running.app)
    client, _ = await DeflateClient.open(running.port, window_bits=10)
    assert client.agreed == "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"
    assert client.payloads  # threshold 0: even the open packet came compressed
    for packet in ("4" + BIG, "4a", "4" + BIG[:500] + "y" * 2000):
        client.ws.send(packet)
        assert await client.recv() == (True, packet)  # threshold 0: everything compressed
        # The client keeps no context: each of its messages stands alone.
        client.compressor = zlib.compressobj(-1, zlib.DEFLATED, -15)
        client.send_compressed(packet)
        assert await client.recv() == (True, packet)


async def test_ws_compresses_every_message_and_is_answered(
    eio_server, node_peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node's ws client (what the official suites use) compresses all it sends once negotiated."""
    inflated = counting(monkeypatch, PerMessageDeflate, "inflate")
    running = await eio_server(per_message_deflate=True)
    Sessions(running.app)
    peer = await node_peers("ws_peer.js", f"ws://127.0.0.1:{running.port}{query(transport='websocket')}")
    await peer.expect("open")
    assert (await peer.expect("message"))["text"].startswith("0{")
    for text in ("4hello", "4" + BIG):
        peer.command("send", text=text)
        assert (await peer.expect("message"))["text"] == text
    assert len(inflated) == 2  # the small one came compressed too


# -- refusals and failures ----------------------------------------------------------------------------------


async def test_off_by_default_no_extension_even_if_offered(eio_server) -> None:
    running = await eio_server()
    Sessions(running.app)
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"), OFFER)
    assert "sec-websocket-extensions" not in ws.response.headers
    await ws.recv()  # the open packet
    await ws.roundtrip(BIG)  # plain frames both ways
    # And a header it cannot read is not even looked at (as ws with perMessageDeflate off).
    ws2 = await RawWebSocket.connect(
        running.port, query(transport="websocket"), {"Sec-WebSocket-Extensions": "permessage-deflate;;"}
    )
    assert "sec-websocket-extensions" not in ws2.response.headers


async def test_a_malformed_extension_header_is_refused_with_400(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    for header in (
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate;;",
        "permessage-deflate; x",
    ):
        response, ws = await RawWebSocket.attempt(
            running.port, query(transport="websocket"), {"Sec-WebSocket-Extensions": header}
        )
        assert ws is None
        assert (response.status, response.body.decode()) == (400, INVALID_HEADER)
    assert not running.app.clients
    # An offer that cannot be accepted is declined: the connection goes on, uncompressed.
    running2 = await eio_server(per_message_deflate={"client_max_window_bits": 10})
    ws = await RawWebSocket.connect(
        running2.port, query(transport="websocket"), {"Sec-WebSocket-Extensions": "permessage-deflate"}
    )
    assert "sec-websocket-extensions" not in ws.response.headers


async def test_a_compressed_frame_without_the_extension_closes_1002(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    sessions = Sessions(running.app)
    # Offered nothing: the server did not agree to anything.
    ws = await RawWebSocket.connect(running.port, query(transport="websocket"))
    assert "sec-websocket-extensions" not in ws.response.headers
    await ws.recv()
    session = await sessions.next()
    ws.send_frame(encode_deflated_frame(OP_TEXT, zlib.compress(b"4hi")[2:-4], mask=MASK))
    assert (await ws.closed_by_server())[0] == 1002
    assert await session.close_reason() == "transport error"


async def test_a_compressed_control_frame_closes_1002(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    sessions = Sessions(running.app)
    client, _ = await DeflateClient.open(running.port)
    session = await sessions.next()
    frame = bytearray(encode_frame(OP_PING, b"p", mask=MASK))
    frame[0] |= 0x40  # RSV1 on a ping
    client.ws.send_frame(bytes(frame))
    code, reason = await client.ws.closed_by_server()
    assert (code, reason) == (1002, "RSV1 set on a control frame")
    assert await session.close_reason() == "transport error"


async def test_rsv1_on_a_continuation_closes_1002(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    Sessions(running.app)
    client, _ = await DeflateClient.open(running.port)
    payload = zlib.compressobj(-1, zlib.DEFLATED, -15)
    data = payload.compress(b"4hello") + payload.flush(zlib.Z_SYNC_FLUSH)
    first = bytearray(encode_frame(OP_TEXT, data[:2], fin=False, mask=MASK))
    first[0] |= 0x40
    rest = bytearray(encode_frame(0x0, data[2:-4], mask=MASK))
    rest[0] |= 0x40  # RSV1 again on the continuation
    client.ws.send_frame(bytes(first) + bytes(rest))
    assert (await client.ws.closed_by_server())[0] == 1002


async def test_a_fragmented_compressed_message_is_inflated(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    Sessions(running.app)
    client, _ = await DeflateClient.open(running.port)
    packet = "4" + BIG
    data = (client.compressor.compress(packet.encode()) + client.compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    first = bytearray(encode_frame(OP_TEXT, data[:5], fin=False, mask=MASK))
    first[0] |= 0x40  # RSV1 on the first frame only
    middle = encode_frame(0x0, data[5:-3], fin=False, mask=MASK)
    last = encode_frame(0x0, data[-3:], mask=MASK)
    client.ws.send_frame(bytes(first) + encode_frame(OP_PING, b"between", mask=MASK) + middle + last)
    assert await client.recv() == (True, packet)


async def test_an_inflated_message_over_the_limit_closes_1009_and_the_server_serves_on(eio_server) -> None:
    running = await eio_server(per_message_deflate=True, max_http_buffer_size=100_000)
    sessions = Sessions(running.app)
    bystander, _ = await DeflateClient.open(running.port)
    bystander_session = await sessions.next()
    bomber, _ = await DeflateClient.open(running.port)
    bomber_session = await sessions.next()
    bomb = b"4" + bytes(10_000_000)  # 10 MB of zeros: about 10 KB compressed, under the frame limit
    bomber.send_compressed(bomb)
    code, reason = await bomber.ws.closed_by_server()
    assert code == 1009
    assert "once inflated" in reason
    assert await bomber_session.close_reason() == "transport error"
    # The other connection is untouched, compressed messages and all.
    for packet in ("4still here", "4" + BIG):
        bystander.send_compressed(packet)
        assert await bystander.recv() == (len(packet) >= 1024, packet)
    assert not bystander_session.closed.done()
    # At the limit is fine.
    exactly = "4" + "z" * 99_999
    bystander.send_compressed(exactly)
    assert await bystander.recv() == (True, exactly)


async def test_invalid_deflate_data_or_utf8_closes_1007(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    sessions = Sessions(running.app)
    client, _ = await DeflateClient.open(running.port)
    session = await sessions.next()
    client.ws.send_frame(encode_deflated_frame(OP_TEXT, b"\xff\xff\xff\xff", mask=MASK))
    assert (await client.ws.closed_by_server())[0] == 1007
    assert await session.close_reason() == "transport error"

    client, _ = await DeflateClient.open(running.port)
    session = await sessions.next()
    client.send_compressed(b"4\xff\xfe")  # as binary: fine, echoed
    assert await client.recv() == (False, b"4\xff\xfe")
    compressor = zlib.compressobj(-1, zlib.DEFLATED, -15)
    payload = (compressor.compress(b"4\xff\xfe") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    client.ws.send_frame(encode_deflated_frame(OP_TEXT, payload, mask=MASK))  # as text: not UTF-8
    assert (await client.ws.closed_by_server())[0] == 1007
    assert await session.close_reason() == "transport error"


async def test_the_polling_handshake_is_not_affected(eio_server) -> None:
    running = await eio_server(per_message_deflate=True)
    response = await request(running.port, "GET", query(), OFFER)
    assert response.status == 200
    assert "sec-websocket-extensions" not in response.headers
