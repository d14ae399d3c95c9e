"""Connections moving between workers (``sio.workers.handoff``), two workers in one process.

Two engines, each with its own port and :class:`ConnectionRouter` on one directory, as two
workers have: a raw client on worker 0's port sends requests for sessions of both, pipelined
and cut in odd places, and every answer comes back in order from the worker holding the session.
Garbage on the hand-over stream is refused without harm to the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sio.engine import EngineServer
from sio.frontends.builtin import MAX_HANDSHAKES_PER_CONNECTION, MAX_PIPELINED_MOVES
from sio.workers.handoff import ConnectionRouter, handoff_path
from sio.workers.routing import worker_prefix
from tests.integration.cluster_bus import wait_until

POLL = "/engine.io/?EIO=4&transport=polling"


class Worker:
    def __init__(self, engine: EngineServer, router: ConnectionRouter, port: int) -> None:
        self.engine = engine
        self.router = router
        self.port = port


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Worker]]:
    workers = []
    for index in range(2):
        engine = EngineServer(max_buffered_bytes=64_000_000)  # room for the large answer below
        engine.sid_prefix = worker_prefix(index, 2)
        router = ConnectionRouter(tmp_path, index, 2)
        server = await engine.serve("127.0.0.1", 0, router=router)
        workers.append(Worker(engine, router, server.sockets[0].getsockname()[1]))
    yield workers
    for worker in workers:
        await worker.engine.close()
        await worker.router.close()


class RawClient:
    """One TCP connection, bytes in and out, responses read one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        length = int(headers.get("Content-Length", "0"))
        return status, headers, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def get(sid: str) -> bytes:
    return f"GET {POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def post(sid: str, body: bytes) -> bytes:
    return (
        f"POST {POLL}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def handshake(port: int) -> str:
    client = await RawClient.connect(port)
    client.send(f"GET {POLL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, body = await client.response()
    client.close()
    assert status == 200
    sid: str = json.loads(body[1:])["sid"]
    return sid


def messages_of(engine: EngineServer, sid: str) -> asyncio.Queue[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    engine.clients[sid].on("message", queue.put_nowait)
    return queue


async def test_a_request_for_the_other_workers_session_is_answered_there(pair: list[Worker]) -> None:
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    assert ours[0] == "A" and theirs[0] == "B" and len(ours) == len(theirs) == 20
    received = messages_of(pair[1].engine, theirs)
    client = await RawClient.connect(pair[0].port)
    client.send(post(theirs, b"4hello"))
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    assert await received.get() == "hello"
    assert (pair[0].router.handed_over, pair[1].router.adopted) == (1, 1)
    # The connection is worker 1's now; a request for worker 0's session moves it back.
    client.send(post(ours, b"4back"))
    received_ours = messages_of(pair[0].engine, ours)
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    assert await received_ours.get() == "back"
    assert (pair[1].router.handed_over, pair[0].router.adopted) == (1, 1)
    client.close()


async def test_pipelined_requests_behind_a_long_poll_move_in_order(pair: list[Worker]) -> None:
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    received = messages_of(pair[1].engine, theirs)
    client = await RawClient.connect(pair[0].port)
    # A long poll of ours in progress; behind it, a request for theirs and the first half of
    # another of ours: nothing moves until the poll is answered, then everything moves in order.
    tail = post(ours, b"4third")
    client.send(get(ours) + post(theirs, b"4second") + tail[:25])
    session = pair[0].engine.clients[ours]
    await wait_until(lambda: session._transport.writable, "the long poll held")  # a GET is held
    session.send("first")
    status, _, body = await client.response()
    assert (status, body) == (200, b"4first")
    client.send(tail[25:])
    received_ours = messages_of(pair[0].engine, ours)
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    assert await received.get() == "second"
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    assert await received_ours.get() == "third"
    assert pair[0].router.handed_over == 1 and pair[1].router.handed_over == 1
    client.close()


async def test_a_request_cut_anywhere_moves_whole(pair: list[Worker]) -> None:
    theirs = await handshake(pair[1].port)
    received = messages_of(pair[1].engine, theirs)
    request = post(theirs, b"4" + b"x" * 5000)
    for cut in (10, len(request) - 3000, len(request) - 1):
        client = await RawClient.connect(pair[0].port)
        client.send(request[:cut])
        # Two reads for the server (shaping the input, not synchronising: any split is correct).
        await client.writer.drain()
        await asyncio.sleep(0)
        client.send(request[cut:])
        status, _, body = await client.response()
        assert (status, body) == (200, b"ok")
        assert await received.get() == "x" * 5000
        client.close()


async def test_an_upgrade_for_the_other_workers_session_moves_there(pair: list[Worker]) -> None:
    theirs = await handshake(pair[1].port)
    client = await RawClient.connect(pair[0].port)
    client.send(
        f"GET /engine.io/?EIO=4&transport=websocket&sid={theirs} HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
        + b"\x81\x86\x00\x00\x00\x002probe"  # a masked text frame "2probe" right behind the head
    )
    head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101 ")
    frame = await asyncio.wait_for(client.reader.readexactly(8), 10)
    assert frame == b"\x81\x063probe"  # worker 1 holds the session: it answers the probe
    client.close()


async def test_a_session_id_of_no_worker_is_unknown_here(pair: list[Worker]) -> None:
    client = await RawClient.connect(pair[0].port)
    for sid in ("C" + "x" * 19, "short", "B" * 25):
        client.send(get(sid))
        status, _, body = await client.response()
        assert status == 400 and json.loads(body) == {"code": 1, "message": "Session ID unknown"}
    assert pair[0].router.handed_over == 0
    client.close()


async def test_a_worker_that_is_gone_leaves_the_request_to_be_answered_here(pair: list[Worker]) -> None:
    theirs = await handshake(pair[1].port)
    await pair[1].router.close()  # as when worker 1 died: nothing listens on its hand-over socket
    client = await RawClient.connect(pair[0].port)
    client.send(get(theirs))
    status, _, body = await client.response()
    assert status == 400 and json.loads(body)["message"] == "Session ID unknown"
    client.close()


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack(">I", 0),  # an empty frame
        struct.pack(">I", 2**31),  # over the cap
        struct.pack(">I", 3) + b"Xab",  # an unknown kind
        struct.pack(">I", 5) + b"C\x00\x00ab",  # a connection frame without its descriptor
        struct.pack(">I", 2) + b"C\x00",  # too short for its header
    ],
    ids=["empty", "oversized", "unknown-kind", "no-descriptor", "short"],
)
async def test_garbage_on_the_hand_over_stream_closes_that_stream_only(
    pair: list[Worker], tmp_path: Path, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, str(handoff_path(tmp_path, 1)))
    with caplog.at_level(logging.ERROR, logger="sio.workers"):
        await loop.sock_sendall(sock, garbage)
        assert await asyncio.wait_for(loop.sock_recv(sock, 1), 10) == b""  # closed by worker 1
    assert re.search(r"hand-over frame", caplog.text)
    sock.close()
    # Worker 1 still takes connections.
    theirs = await handshake(pair[1].port)
    client = await RawClient.connect(pair[0].port)
    client.send(post(theirs, b"4still"))
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    client.close()


async def test_the_handshake_limit_of_a_connection_follows_it_to_another_worker(pair: list[Worker]) -> None:
    theirs = await handshake(pair[1].port)
    client = await RawClient.connect(pair[0].port)
    for _ in range(MAX_HANDSHAKES_PER_CONNECTION):
        client.send(f"GET {POLL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, _ = await client.response()
        assert status == 200
    client.send(post(theirs, b"4moved"))
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    client.send(f"GET {POLL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # one more, now on worker 1
    status, _, _ = await client.response()
    assert status == 429
    client.close()


async def test_a_request_with_two_sids_moves_once_to_the_owner_of_the_last(pair: list[Worker]) -> None:
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    received = messages_of(pair[0].engine, ours)
    for port in (pair[0].port, pair[1].port):  # whichever worker reads it first
        client = await RawClient.connect(port)
        client.send(
            f"POST {POLL}&sid={theirs}&sid={ours} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            "Content-Length: 5\r\n\r\n4last".encode()
        )
        status, _, body = await client.response()
        assert (status, body) == (200, b"ok")
        assert await received.get() == "last"
        client.close()
    assert pair[0].router.handed_over == 0 and pair[1].router.handed_over == 1


@pytest.mark.parametrize(
    "query", ["sid={a}&%73id={b}", "sid={b}#&sid={a}"], ids=["percent-encoded", "fragment"]
)
async def test_a_sid_only_the_parser_reads_moves_at_most_once(pair: list[Worker], query: str) -> None:
    # The raw look at the request line and the parser must never disagree for ever: a request the
    # raw look would route one way and the parser the other moves once and is answered there.
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    received = messages_of(pair[1].engine, theirs)
    target = "/engine.io/?EIO=4&transport=polling&" + query.format(a=ours, b=theirs)
    for port in (pair[0].port, pair[1].port):
        client = await RawClient.connect(port)
        client.send(
            f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n".encode()
            + b"Content-Length: 3\r\n\r\n4hi"
        )
        status, _, body = await client.response()
        assert (status, body) == (200, b"ok")  # the parser's reading: worker 1's session
        assert await received.get() == "hi"
        client.close()
    assert pair[0].router.handed_over + pair[1].router.handed_over <= 2


async def test_an_answer_still_being_written_is_not_lost_by_a_move(pair: list[Worker]) -> None:
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    received = messages_of(pair[1].engine, theirs)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the answer piles up on our side
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", pair[0].port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**26)
    client = RawClient(reader, writer)
    client.send(get(ours) + post(theirs, b"4after"))
    session = pair[0].engine.clients[ours]
    await wait_until(lambda: session._transport.writable, "the long poll held")  # a GET is held
    big = "y" * 12_000_000  # more than the kernel's buffers take: most of it waits in the transport
    session.send(big)
    status, _, body = await client.response()
    assert status == 200 and body == b"4" + big.encode()
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    assert await received.get() == "after"
    client.close()


async def test_a_pipeline_alternating_between_workers_is_cut_short(pair: list[Worker]) -> None:
    ours, theirs = await handshake(pair[0].port), await handshake(pair[1].port)
    client = await RawClient.connect(pair[0].port)
    client.send(b"".join(post(sid, b"6") for sid in [theirs, ours] * 30))  # 60 requests, 59 moves
    answers = 0
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            status, _, body = await client.response()
            assert (status, body) == (200, b"ok")
            answers += 1
    assert MAX_PIPELINED_MOVES <= answers < 60  # answered in order up to the limit, then closed
    moves = pair[0].router.handed_over + pair[1].router.handed_over
    assert moves <= MAX_PIPELINED_MOVES + 2
    client.close()


async def test_a_worker_that_died_after_streams_to_it_opened_leaves_requests_answered_here(
    pair: list[Worker],
) -> None:
    theirs = await handshake(pair[1].port)
    client = await RawClient.connect(pair[0].port)
    client.send(post(theirs, b"4first"))  # opens worker 0's stream to worker 1
    status, _, body = await client.response()
    assert (status, body) == (200, b"ok")
    client.close()
    await pair[1].router.close()  # as when worker 1 dies: its end of the stream closes
    stream = pair[0].router._out[1]
    await wait_until(lambda: stream.broken, "worker 0 saw the stream end")
    client = await RawClient.connect(pair[0].port)
    client.send(get(theirs))
    status, _, body = await client.response()  # an answer, not a connection lost in a dead stream
    assert status == 400 and json.loads(body)["message"] == "Session ID unknown"
    client.close()
