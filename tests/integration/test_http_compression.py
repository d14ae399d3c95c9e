"""HTTP compression of polling responses (Node's ``httpCompression``, on by default).

Raw HTTP requests check the headers and bytes exactly (threshold, Accept-Encoding negotiation,
``compress`` flags); the official ``engine.io-client`` (its fetch() transport, which sends
Accept-Encoding as browsers do) and the ``python-socketio`` client (aiohttp) prove real peers
decode what we send. Every test runs under the built-in front end and under uvicorn.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import pytest
import socketio

import sio
import sio.engine.socket as engine_socket
from sio.engine.compression import compress_body
from tests.integration.rawclient import SEP, PollingClient, Sessions, bounded

THRESHOLD = 1024
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def compressions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The encodings the engine compressed polling responses with, in order (the real compressor runs)."""
    seen: list[str] = []

    def spy(body: bytes, encoding: str, level: int = -1) -> bytes:
        seen.append(encoding)
        return compress_body(body, encoding, level)

    monkeypatch.setattr(engine_socket, "compress_body", spy)
    return seen


async def _session(eio_server: Any, **options: Any) -> tuple[PollingClient, Any]:
    running = await eio_server(**options)
    sessions = Sessions(running.app, echo=False)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    return client, session


async def test_a_payload_of_the_threshold_is_gzipped_and_one_byte_less_is_not(eio_server) -> None:
    """1,023 bytes go as they are; 1,024 bytes gzip-encoded, Content-Length the compressed size."""
    client, session = await _session(eio_server)
    session.socket.send("x" * (THRESHOLD - 2))  # "4" + 1,022: a 1,023-byte payload
    small = await client.get(GZIP)
    assert "content-encoding" not in small.headers
    assert len(small.body) == THRESHOLD - 1
    session.socket.send("y" * (THRESHOLD - 1))
    large = await client.get(GZIP)
    assert large.headers["content-encoding"] == "gzip"
    assert int(large.headers["content-length"]) == len(large.body) < THRESHOLD
    assert large.headers["content-type"] == "text/plain; charset=UTF-8"
    assert gzip.decompress(large.body) == b"4" + b"y" * (THRESHOLD - 1)


async def test_the_threshold_counts_utf8_bytes_not_characters(eio_server) -> None:
    """512 snowmen are 1,537 bytes: compressed although the payload has 513 characters."""
    client, session = await _session(eio_server)
    session.socket.send("☃" * 512)
    response = await client.get(GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "4" + "☃" * 512


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("deflate", "deflate"),
        ("gzip, deflate, br", "gzip"),
        ("deflate, gzip", "deflate"),  # equal q: the client's order
        ("gzip;q=0.5, deflate;q=0.8", "deflate"),  # q-values first
        ("br;q=1.0, zstd, gzip;q=0.1", "gzip"),  # unknown codings ignored
        ("*", "gzip"),  # any: the server's order
        ("*, gzip;q=0", "deflate"),  # an exact q=0 refuses gzip even with *
        ("br, zstd", None),
        ("gzip;q=0, deflate;q=0", None),
        ("identity", None),
        ("gzip;q=abc", None),  # no number: refused, as Node's parseFloat gives NaN
        (None, None),
    ],
)
async def test_accept_encoding_is_negotiated_as_node_does(
    eio_server, accept_encoding: str | None, expected: str | None
) -> None:
    client, session = await _session(eio_server)
    session.socket.send("z" * 4000)
    response = await client.get({"Accept-Encoding": accept_encoding} if accept_encoding is not None else None)
    assert response.headers.get("content-encoding") == expected
    assert response.text == "4" + "z" * 4000


async def test_packets_marked_not_to_compress(eio_server) -> None:
    """A payload of packets all marked compress=False goes as is; one compressible packet is
    enough (Node's ``some()``)."""
    client, session = await _session(eio_server)
    session.socket.send_messages(["a" * 3000], compress=False)
    response = await client.get(GZIP)
    assert "content-encoding" not in response.headers
    assert response.text == "4" + "a" * 3000
    session.socket.send_messages(["b" * 3000], compress=False)
    session.socket.send("c")
    response = await client.get(GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.split(SEP) == ["4" + "b" * 3000, "4c"]


async def test_http_compression_off_and_a_custom_threshold(eio_server) -> None:
    client, session = await _session(eio_server, http_compression=False)
    session.socket.send("d" * 10_000)
    response = await client.get(GZIP)
    assert "content-encoding" not in response.headers
    assert len(response.body) == 10_001

    client, session = await _session(eio_server, http_compression={"threshold": 10, "level": 1})
    session.socket.send("e" * 10)  # 11 bytes
    response = await client.get(GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "4" + "e" * 10


async def test_a_post_answer_and_the_handshake_stay_uncompressed(eio_server) -> None:
    """Only the payloads of GETs are compressed (the handshake's open packet is small, ``ok`` too)."""
    running = await eio_server(http_compression={"threshold": 0})
    sessions = Sessions(running.app, echo=False)
    client = await PollingClient.open(running.port, headers=GZIP)
    await sessions.next()
    assert client.response.headers["content-encoding"] == "gzip"  # threshold 0: the open packet too
    response = await client.post("4hello", GZIP)
    assert (response.status, response.body) == (200, b"ok")
    assert "content-encoding" not in response.headers


# -- the Socket.IO layer's compress flags ---------------------------------------------------------


async def _sio_polling_client(
    running: Any, connected: asyncio.Queue[sio.Socket]
) -> tuple[PollingClient, sio.Socket]:
    client = await PollingClient.open(running.port, path="/socket.io/")
    await client.send("40")
    packets = await client.receive()
    assert packets[0].startswith("40{"), packets
    return client, await bounded(connected.get())


async def test_socket_compress_false_and_broadcast_compress_false(sio_server) -> None:
    """``socket.compress(False)`` and ``io.compress(False)`` send the next packet uncompressed; the flag
    lasts for one emit only."""
    connected: asyncio.Queue[sio.Socket] = asyncio.Queue()
    running = await sio_server(lambda io: io.on("connection", connected.put_nowait))
    io: sio.Server = running.app
    client, socket = await _sio_polling_client(running, connected)
    big = "f" * 3000
    expected = "42" + json.dumps(["big", big], separators=(",", ":"))

    socket.compress(False).emit("big", big)
    response = await client.get(GZIP)
    assert "content-encoding" not in response.headers
    assert response.text == expected

    socket.emit("big", big)  # the flag was for one emit
    response = await client.get(GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == expected

    io.compress(False).emit("big", big)
    response = await client.get(GZIP)
    assert "content-encoding" not in response.headers
    assert response.text == expected

    socket.join("room")
    io.to("room").emit("big", big)
    response = await client.get(GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == expected


# -- real peers ----------------------------------------------------------------------------------


async def test_the_official_client_over_fetch_polling_decodes_compressed_payloads(
    eio_server, node_peers, compressions: list[str]
) -> None:
    """engine.io-client's fetch() transport sends Accept-Encoding (Node's fetch, as a browser); large
    messages arrive intact, both ways, and small ones too."""
    running = await eio_server()
    sessions = Sessions(running.app, echo=True)
    peer = await node_peers("eio_peer.js", running.url, json.dumps({"path": "/engine.io/", "fetch": True}))
    await peer.expect("open", transport="polling")
    await sessions.next()
    large = "g☃" * 5000
    for text in (large, "small", large + "!"):
        peer.command("send", text=text)
        await peer.expect("message", text=text)
    assert compressions and set(compressions) <= {"gzip", "deflate"}
    assert len(compressions) == 2  # the two large echoes, not the small one


async def test_the_python_socketio_client_decodes_compressed_payloads(
    sio_server, compressions: list[str]
) -> None:
    """python-socketio's polling (aiohttp: Accept-Encoding gzip, deflate) receives large events intact."""
    got: asyncio.Queue[Any] = asyncio.Queue()

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            socket.on("ask", lambda size: socket.emit("answer", "h" * size))

    running = await sio_server(setup)
    client = socketio.AsyncClient(reconnection=False)
    client.on("answer", got.put_nowait)
    await client.connect(running.url, transports=["polling"])
    try:
        for size in (5000, 10, 200_000):
            await client.emit("ask", size)
            assert await bounded(got.get()) == "h" * size
    finally:
        await client.disconnect()
    assert compressions.count("gzip") == 2  # the two large answers
