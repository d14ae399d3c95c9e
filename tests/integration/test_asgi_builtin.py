"""A FastAPI app on sio's built-in front end (``io.serve(..., other_asgi_app=api)``), as uvicorn serves it.

One port carries the app and Socket.IO. The app is a real FastAPI app, driven over real sockets by
httpx and by raw HTTP where httpx cannot say it (pipelining, ``Expect: 100-continue``, HTTP/1.0);
Socket.IO by the official JavaScript client and the python-socketio client at the same time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket as socket_module
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from fastapi import FastAPI, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

import sio
from sio.frontends import asgi_http, builtin
from sio.frontends.lifespan import LifespanFailed
from tests.integration.rawclient import TIMEOUT, bounded
from tests.integration.siopeer import SioPeer

Served = tuple[sio.Server, int]


class _AnyHeaders(dict[str, str]):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict)

    __hash__ = None  # type: ignore[assignment]


ANY_HEADERS = _AnyHeaders()


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """Factory: a sio.Server with ``api`` beside it on the built-in front end; closed after the test."""
    started: list[sio.Server] = []

    async def start(api: Any, setup: Callable[[sio.Server], None] | None = None, **options: Any) -> Served:
        serve_options = {key: options.pop(key) for key in ("root_path",) if key in options}
        io = sio.Server(**options)
        if setup is not None:
            setup(io)
        server = await io.serve("127.0.0.1", 0, other_asgi_app=api, **serve_options)
        started.append(io)
        return io, server.sockets[0].getsockname()[1]

    yield start
    for io in started:
        await io.close()


def client(port: int, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT, **options)


# -- raw HTTP, for what httpx cannot express ------------------------------------------------


class Raw:
    """One connection written by hand; responses read by Content-Length, chunks, or to the close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Raw:
        return cls(*await bounded(asyncio.open_connection("127.0.0.1", port)))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def head(self) -> tuple[str, int, dict[str, str]]:
        raw = await bounded(self.reader.readuntil(b"\r\n\r\n"))
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status_line, int(status_line.split(" ")[1]), headers

    async def chunk(self) -> bytes | None:
        """The next chunk of a chunked body (None for the last, empty one)."""
        size = int((await bounded(self.reader.readuntil(b"\r\n")))[:-2], 16)
        data = await bounded(self.reader.readexactly(size + 2))
        return data[:-2] if size else None

    async def response(self, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        _, status, headers = await self.head()
        if method == "HEAD" or status in (204, 304):
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, await bounded(self.reader.readexactly(int(headers["content-length"])))
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while (chunk := await self.chunk()) is not None:
                chunks.append(chunk)
            return status, headers, b"".join(chunks)
        return status, headers, await bounded(self.reader.read())  # to the close

    async def closed(self) -> bytes:
        """Wait for the server to close; what it sent before."""
        return await bounded(self.reader.read())

    def close(self) -> None:
        self.writer.close()


def get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- routes, params, headers, cookies, bodies ----------------------------------------------------


def routes_app() -> FastAPI:
    api = FastAPI()

    @api.api_route("/items/{item_id}", methods=["GET", "HEAD"])
    async def item(item_id: int, request: Request, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @api.get("/scope")
    async def scope(request: Request) -> dict[str, Any]:
        s = request.scope
        return {
            "asgi": s["asgi"],
            "http_version": s["http_version"],
            "scheme": s["scheme"],
            "method": s["method"],
            "server": list(s["server"]),
            "client": list(s["client"]),
            "root_path": s["root_path"],
            "path": s["path"],
            "raw_path": s["raw_path"].decode(),
            "query_string": s["query_string"].decode(),
            "headers": [[name.decode(), value.decode()] for name, value in s["headers"]],
            "dup": request.headers.getlist("x-dup"),
        }

    @api.get("/scope/{rest:path}")
    async def scope_path(rest: str, request: Request) -> dict[str, Any]:
        return {"rest": rest, "path": request.scope["path"], "raw_path": request.scope["raw_path"].decode()}

    @api.get("/cookies")
    async def cookies(request: Request, response: Response) -> dict[str, Any]:
        response.set_cookie("visited", "yes")
        return dict(request.cookies)

    @api.post("/json")
    async def post_json(request: Request) -> dict[str, Any]:
        return {"got": await request.json()}

    @api.get("/client-port")
    async def client_port(request: Request) -> int:
        assert request.client is not None
        return request.client.port

    return api


async def test_json_routes_path_and_query_params_and_fastapis_own_404(served) -> None:
    _, port = await served(routes_app())
    async with client(port) as http:
        response = await http.get("/items/42", params={"q": "héllo wörld"})
        assert response.status_code == 200
        assert response.json() == {"item_id": 42, "q": "héllo wörld"}
        assert response.headers["content-type"] == "application/json"
        assert "date" in response.headers  # as uvicorn; no "server" header (deliberately)
        assert "server" not in response.headers
        invalid = await http.get("/items/not-a-number")
        assert invalid.status_code == 422  # FastAPI's validation, not ours
        missing = await http.get("/nowhere")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Not Found"}  # FastAPI's 404, not sio's text one
        posted = await http.post("/json", json={"a": [1, 2, {"b": None}]})
        assert posted.json() == {"got": {"a": [1, 2, {"b": None}]}}


async def test_the_scope_is_uvicorns(served) -> None:
    _, port = await served(routes_app())
    raw = await Raw.connect(port)
    raw.send(get("/scope?x=1&y=%20z", "X-Dup: first", "Accept: */*", "X-Dup: second", "X-Case: MiXeD"))
    status, _, body = await raw.response()
    raw.close()
    assert status == 200
    scope = json.loads(body)
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "http"
    assert scope["method"] == "GET"
    assert scope["server"] == ["127.0.0.1", port]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["root_path"] == ""
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "x=1&y=%20z"
    # As received: in order, names lower-cased, values as sent, repeated headers not merged.
    assert scope["headers"] == [
        ["host", "127.0.0.1"],
        ["x-dup", "first"],
        ["accept", "*/*"],
        ["x-dup", "second"],
        ["x-case", "MiXeD"],
    ]
    assert scope["dup"] == ["first", "second"]


async def test_the_path_is_percent_decoded_and_raw_path_is_not(served) -> None:
    _, port = await served(routes_app())
    async with client(port) as http:
        response = await http.get("/scope/a%20b/%C3%A9t%C3%A9")
    assert response.json() == {
        "rest": "a b/été",
        "path": "/scope/a b/été",
        "raw_path": "/scope/a%20b/%C3%A9t%C3%A9",
    }


async def test_duplicate_headers_and_cookies(served) -> None:
    _, port = await served(routes_app())
    async with client(port, cookies={"session": "abc", "theme": "dark"}) as http:
        response = await http.get("/cookies")
        assert response.json() == {"session": "abc", "theme": "dark"}
        assert response.cookies["visited"] == "yes"
        dup = await http.get("/scope", headers=[("x-dup", "a"), ("x-dup", "b, c")])
        assert dup.json()["dup"] == ["a", "b, c"]


async def test_keep_alive_several_requests_on_one_connection(served) -> None:
    _, port = await served(routes_app())
    async with client(port) as http:
        ports = {(await http.get("/client-port")).json() for _ in range(5)}
    assert len(ports) == 1  # one connection, kept alive


async def test_head_requests_get_no_body(served) -> None:
    _, port = await served(routes_app())
    raw = await Raw.connect(port)
    raw.send(b"HEAD /items/7 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/items/8"))
    status, headers, body = await raw.response("HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(b'{"item_id":7,"q":null}'))
    # The next response follows at once: no body bytes came in between.
    assert await raw.response() == (200, {**headers, "content-length": "22"}, b'{"item_id":8,"q":null}')
    raw.close()


async def test_static_files_come_first_then_the_app(served, tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<h1>static</h1>")
    api = FastAPI()

    @api.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> dict[str, str]:
        return {"app": path, "method": request.method}

    _, port = await served(api, static_files={"/index.html": page})
    async with client(port) as http:
        static = await http.get("/index.html")
        assert static.text == "<h1>static</h1>"
        assert (await http.get("/other")).json() == {"app": "other", "method": "GET"}
        # Only a GET or HEAD of a file the static files have is theirs.
        assert (await http.post("/index.html")).json() == {"app": "index.html", "method": "POST"}
        assert (await http.get("/missing.html")).json() == {"app": "missing.html", "method": "GET"}


# -- bodies: uploads, streamed requests, flow control, 100-continue ---------------------------


async def test_an_upload_of_several_megabytes_is_not_bound_by_max_http_buffer_size(served) -> None:
    api = FastAPI()

    @api.post("/upload")
    async def upload(file: UploadFile) -> dict[str, Any]:
        data = await file.read()
        return {"name": file.filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    _, port = await served(api, max_http_buffer_size=1_000_000)
    data = os.urandom(6 * 1024 * 1024)
    async with client(port) as http:
        response = await http.post("/upload", files={"file": ("big.bin", data, "application/octet-stream")})
        assert response.status_code == 200
        assert response.json() == {
            "name": "big.bin",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        # The engine's own limit still holds on its path.
        over = await http.post("/socket.io/?EIO=4&transport=polling&sid=x", content=b"4" * 1_100_000)
        assert over.status_code in (400, 413)


async def test_the_request_body_is_streamed_to_the_app(served) -> None:
    """The client sends its second part only once the app has read the first: a server that
    buffered the whole body before calling the app would wait forever."""
    parts_read: list[asyncio.Event] = [asyncio.Event(), asyncio.Event()]
    api = FastAPI()

    @api.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        received = b""
        async for chunk in request.stream():
            received += chunk
            if received.endswith(b"part1"):
                parts_read[0].set()
            if received.endswith(b"part2"):
                parts_read[1].set()
        return {"body": received.decode()}

    async def body() -> AsyncIterator[bytes]:
        yield b"part1"
        await bounded(parts_read[0].wait())
        yield b"part2"

    _, port = await served(api)
    async with client(port) as http:
        response = await http.post("/stream", content=body())  # chunked, as it is an iterator
    assert response.json() == {"body": "part1part2"}
    assert parts_read[1].is_set()


def _hold_hook(monkeypatch: pytest.MonkeyPatch) -> asyncio.Future[builtin.AsgiHttpConnection]:
    """A future resolved when a connection stops reading because the app has enough body unread."""
    held: asyncio.Future[builtin.AsgiHttpConnection] = asyncio.get_running_loop().create_future()
    original = builtin.HttpConnection._update_reading

    def update_reading(self: builtin.HttpConnection) -> None:
        original(self)
        if isinstance(self, builtin.AsgiHttpConnection) and self._held and not held.done():
            held.set_result(self)

    monkeypatch.setattr(builtin.AsgiHttpConnection, "_update_reading", update_reading, raising=False)
    return held


async def test_reading_stops_while_the_app_has_enough_body_unread(served, monkeypatch) -> None:
    """Flow control: the app reads nothing until told; the client sends far more than the
    high-water mark; the connection stops reading with at most the mark plus one read buffered."""
    go = asyncio.Event()
    sizes: list[int] = []
    api = FastAPI()

    @api.post("/slow")
    async def slow(request: Request) -> dict[str, Any]:
        await bounded(go.wait())
        digest = hashlib.sha256()
        async for chunk in request.stream():
            sizes.append(len(chunk))
            digest.update(chunk)
        return {"sha256": digest.hexdigest()}

    held = _hold_hook(monkeypatch)
    _, port = await served(api)
    data = os.urandom(32 * 1024 * 1024)
    raw = await Raw.connect(port)
    raw.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data))
    raw.send(data)  # into the transport's buffer: written as the server reads
    conn = await bounded(held)
    assert conn.transport is not None and not conn.transport.is_reading()  # type: ignore[attr-defined]
    request = conn._queue[0]
    assert isinstance(request, asgi_http.AsgiRequest)
    # What waits for the app: the high-water mark, plus at most what one read brings.
    assert asgi_http.HIGH_WATER_LIMIT < len(request.body) <= asgi_http.HIGH_WATER_LIMIT + 256 * 1024
    go.set()
    status, _, body = await raw.response()
    raw.close()
    assert status == 200
    assert json.loads(body) == {"sha256": hashlib.sha256(data).hexdigest()}
    assert sum(sizes) == len(data)
    assert max(sizes) <= asgi_http.HIGH_WATER_LIMIT + 256 * 1024


async def test_expect_100_continue_is_answered_when_the_app_reads(served) -> None:
    entered = asyncio.Event()
    go = asyncio.Event()
    api = FastAPI()

    @api.put("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        entered.set()
        await bounded(go.wait())
        digest = hashlib.sha256()
        async for chunk in request.stream():
            digest.update(chunk)
        return {"sha256": digest.hexdigest()}

    _, port = await served(api)
    data = os.urandom(300_000)
    sock = socket_module.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        head = b"PUT /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
        await loop.sock_sendall(sock, head % len(data))
        await bounded(entered.wait())
        # The app runs and has not asked for the body: no 100 yet (the server writes it, when it
        # does, from receive() itself, so it would be here already).
        with pytest.raises(BlockingIOError):
            sock.recv(1, socket_module.MSG_PEEK)
        go.set()
        expected = b"HTTP/1.1 100 Continue\r\n\r\n"
        got = b""
        while len(got) < len(expected):
            got += await bounded(loop.sock_recv(sock, len(expected) - len(got)))
        assert got == expected
        await loop.sock_sendall(sock, data)
        reader, writer = await asyncio.open_connection(sock=sock)
        raw = Raw(reader, writer)
        status, headers, body = await raw.response()
        assert status == 200
        assert json.loads(body) == {"sha256": hashlib.sha256(data).hexdigest()}
        assert headers.get("connection") != "close"
        raw.close()
    finally:
        sock.close()


async def test_an_answer_without_the_100_continue_closes_the_connection(served) -> None:
    """Answered before the client sent its body (it waits for a 100 that never came): nothing
    can follow on that connection."""
    api = FastAPI()

    @api.put("/refuse")
    async def refuse() -> Response:
        return Response(status_code=401)

    _, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(b"PUT /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
    status, headers, _ = await raw.response()
    assert status == 401
    assert headers["connection"] == "close"
    assert await raw.closed() == b""
    raw.close()


async def test_a_stalled_body_times_out_between_chunks_and_the_app_hears_of_it(served, monkeypatch) -> None:
    monkeypatch.setattr(builtin, "BODY_TIMEOUT", 0.2)
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        while True:
            message = await receive()
            seen.put_nowait(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    _, port = await served(app)
    raw = await Raw.connect(port)
    raw.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfirst part")
    assert await bounded(seen.get()) == "http.request"
    assert await bounded(seen.get()) == "http.disconnect"  # the client stalled: cut after BODY_TIMEOUT
    assert await raw.closed() == b""
    raw.close()


# -- streamed responses, disconnects ------------------------------------------------------------


async def test_a_streaming_response_is_streamed_chunk_by_chunk(served) -> None:
    """The app yields chunk N+1 only once the test has read chunk N from the socket."""
    read = [asyncio.Event() for _ in range(4)]
    api = FastAPI()

    @api.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(4):
                yield f"chunk {n};".encode()
                await bounded(read[n].wait())

        return StreamingResponse(chunks(), media_type="text/plain")

    _, port = await served(api)
    async with client(port) as http, http.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        received = b""
        n = 0
        async for data in response.aiter_raw():
            received += data
            while n < 4 and f"chunk {n};".encode() in received:
                read[n].set()
                n += 1
    assert received == b"chunk 0;chunk 1;chunk 2;chunk 3;"


async def test_a_client_leaving_mid_stream_cancels_the_generator(served) -> None:
    finished = asyncio.Event()
    api = FastAPI()

    @api.get("/forever")
    async def forever() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                await asyncio.Event().wait()  # until cancelled
            finally:
                finished.set()

        return StreamingResponse(chunks(), media_type="text/plain")

    _, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(get("/forever"))
    _, status, _ = await raw.head()
    assert status == 200
    assert await raw.chunk() == b"first"
    raw.writer.transport.abort()
    # Starlette listens for http.disconnect beside the stream and cancels it.
    await bounded(finished.wait())


async def test_a_response_to_http_1_0_ends_with_the_connection(served) -> None:
    api = FastAPI()

    @api.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"one "
            yield b"two"

        return StreamingResponse(chunks(), media_type="text/plain")

    _, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(b"GET /stream HTTP/1.0\r\nHost: x\r\n\r\n")
    status, headers, body = await raw.response()
    raw.close()
    assert status == 200
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert body == b"one two"


# -- lifespan ---------------------------------------------------------------------------------


async def test_lifespan_startup_state_and_shutdown_after_close(served) -> None:
    """The startup runs before the port serves; its state reaches every request; the shutdown runs
    at close, after the requests in flight and before the Socket.IO sockets are disconnected."""
    events: list[Any] = []
    ios: list[sio.Server] = []
    in_flight = asyncio.Event()
    release = asyncio.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"db": "connected", "counter": [0]}
        events.append(("shutdown", len(ios[0].sockets.sockets)))

    api = FastAPI(lifespan=lifespan)

    @api.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        request.state.counter[0] += 1
        return {"db": request.state.db, "counter": request.state.counter[0]}

    @api.get("/slow")
    async def slow() -> str:
        in_flight.set()
        await bounded(release.wait())
        events.append("slow answered")
        return "done"

    def setup(io: sio.Server) -> None:
        ios.append(io)
        io.on("connection", lambda socket: socket.on("disconnect", lambda reason: events.append(reason)))

    io, port = await served(api, setup)
    assert events == ["startup"]
    async with client(port) as http:
        assert (await http.get("/state")).json() == {"db": "connected", "counter": 1}
        assert (await http.get("/state")).json() == {"db": "connected", "counter": 2}  # a shallow copy
        sio_client = socketio.AsyncClient(reconnection=False)
        await sio_client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=10)
        slow = asyncio.ensure_future(http.get("/slow"))
        await bounded(in_flight.wait())
        closing = asyncio.ensure_future(io.close())
        release.set()
        assert (await bounded(slow)).text == '"done"'
        await bounded(closing)
    assert events == ["startup", "slow answered", ("shutdown", 1), "server shutting down"]
    await sio_client.disconnect()
    with pytest.raises(OSError):  # it stopped accepting
        await asyncio.open_connection("127.0.0.1", port)


def _free_port() -> int:
    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_failed_startup_fails_serve_with_its_reason(caplog) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("the database is not there")
        yield

    io = sio.Server()
    port = _free_port()
    with pytest.raises(LifespanFailed, match="the database is not there"):
        await io.serve("127.0.0.1", port, other_asgi_app=FastAPI(lifespan=lifespan))
    with pytest.raises(OSError):  # never served
        await asyncio.open_connection("127.0.0.1", port)
    await io.close()
    assert "ASGI application startup failed" in caplog.text


async def test_an_app_without_lifespan_support_is_served(served, caplog) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "no lifespan here"
        assert scope["state"] == {}
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with caplog.at_level(logging.INFO, "sio.asgi"):
        _, port = await served(app)
    async with client(port) as http:
        assert (await http.get("/")).text == "ok"
    assert "lifespan' protocol appears unsupported" in caplog.text


async def test_root_path_is_put_in_front_of_the_path(served) -> None:
    api = FastAPI()

    @api.get("/items")
    async def items(request: Request) -> dict[str, Any]:
        return {
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode(),
            "url": str(request.url),
        }

    _, port = await served(api, root_path="/api")
    async with client(port) as http:
        response = await http.get("/items")
        assert response.json() == {
            "root_path": "/api",
            "path": "/api/items",
            "raw_path": "/api/items",
            "url": f"http://127.0.0.1:{port}/api/items",
        }
        # The Socket.IO path is the server's own, whatever the app's root path.
        assert (await http.get("/socket.io/?EIO=4&transport=polling")).text.startswith("0{")


# -- pipelining, mixed with Engine.IO ---------------------------------------------------------


async def test_pipelined_requests_are_answered_in_order_across_the_app_and_the_engine(served) -> None:
    entered = asyncio.Event()
    go = asyncio.Event()
    api = FastAPI()

    @api.get("/slow")
    async def slow() -> dict[str, str]:
        entered.set()
        await bounded(go.wait())
        return {"answer": "slow"}

    @api.get("/fast")
    async def fast() -> dict[str, str]:
        return {"answer": "fast"}

    @api.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(chunks())

    io, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(
        get("/slow")
        + get("/socket.io/?EIO=4&transport=polling")
        + get("/stream")
        + get("/fast")
        + get("/socket.io/?EIO=4&transport=polling")
    )
    await bounded(entered.wait())
    assert io.engine.clients_count == 0  # the handshake behind waits its turn
    go.set()
    first = await raw.response()
    assert (first[0], json.loads(first[2])) == (200, {"answer": "slow"})
    handshake = await raw.response()
    assert handshake[0] == 200 and handshake[2].startswith(b"0{")
    assert (await raw.response())[2] == b"ab"
    assert json.loads((await raw.response())[2]) == {"answer": "fast"}
    assert (await raw.response())[2].startswith(b"0{")
    assert io.engine.clients_count == 2
    raw.close()


async def test_a_websocket_upgrade_for_a_path_the_app_has_no_route_for_is_its_403(served) -> None:
    """WebSocket requests for other paths are the app's (test_asgi_builtin_websocket.py): with no such
    route FastAPI closes before accepting, which is a 403, as under uvicorn."""
    _, port = await served(routes_app())
    raw = await Raw.connect(port)
    raw.send(
        get(
            "/ws",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        )
    )
    status, _, _ = await raw.response()
    assert status == 403
    raw.close()


# -- Socket.IO on the same port ---------------------------------------------------------------


def echo_server(io: sio.Server) -> None:
    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        @socket.on("echo")
        def echo(*args: Any) -> None:
            *data, ack = args
            ack(*data)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_the_official_client_and_fastapi_share_the_port(served, node_peers, transports) -> None:
    _, port = await served(routes_app(), echo_server)
    peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=transports)
    assert (await peer.connect("/"))["event"] == "connect"

    async def socketio_echoes() -> None:
        for n in range(20):
            ack = await peer.call("echo", {"n": n}, "text")
            assert ack["args"] == [{"n": n}, "text"]

    async def fastapi_answers() -> None:
        async with client(port) as http:
            for n in range(20):
                assert (await http.get(f"/items/{n}")).json() == {"item_id": n, "q": None}

    await bounded(asyncio.gather(socketio_echoes(), fastapi_answers()), 60)


async def test_the_python_socketio_client_and_fastapi_share_the_port(served) -> None:
    _, port = await served(routes_app(), echo_server)
    sio_client = socketio.AsyncClient(reconnection=False)
    await sio_client.connect(f"http://127.0.0.1:{port}", transports=["polling", "websocket"], wait_timeout=10)
    try:
        async with client(port) as http:
            for n in range(10):
                answer, item = await asyncio.gather(
                    sio_client.call("echo", n, timeout=10), http.get(f"/items/{n}")
                )
                assert answer == n
                assert item.json()["item_id"] == n
    finally:
        await sio_client.disconnect()


# -- app errors -----------------------------------------------------------------------------


async def test_an_exception_in_a_fastapi_route_is_its_500_and_the_connection_goes_on(served, caplog) -> None:
    """Starlette answers 500 itself, then re-raises: logged, and as the response is complete the
    connection stays usable (uvicorn closes it)."""
    api = FastAPI()

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @api.get("/fine")
    async def fine() -> str:
        return "fine"

    _, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(get("/boom") + get("/fine"))
    status, _, body = await raw.response()
    assert (status, body) == (500, b"Internal Server Error")
    assert await raw.response() == (200, ANY_HEADERS, b'"fine"')
    raw.close()
    assert "Exception in ASGI application" in caplog.text


async def test_an_exception_before_the_response_is_a_500_and_a_close(served, caplog) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")
        raise RuntimeError("boom")

    _, port = await served(app)
    raw = await Raw.connect(port)
    raw.send(get("/") + get("/"))
    status, headers, body = await raw.response()
    assert (status, body) == (500, b"Internal Server Error")
    assert headers["connection"] == "close"  # as uvicorn
    assert await raw.closed() == b""
    raw.close()
    assert "Exception in ASGI application" in caplog.text
    async with client(port) as http:  # the server goes on
        assert (await http.get("/")).status_code == 500


async def test_an_exception_after_the_response_started_closes_the_connection(served) -> None:
    api = FastAPI()

    @api.get("/half")
    async def half() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise RuntimeError("halfway")

        return StreamingResponse(chunks())

    _, port = await served(api)
    raw = await Raw.connect(port)
    raw.send(get("/half") + get("/half"))
    _, status, headers = await raw.head()
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert await raw.chunk() == b"first"
    assert await raw.closed() == b""  # no last chunk: the client knows the body is cut
    raw.close()


async def _raw_app_response(served, app: Any) -> tuple[int, dict[str, str], bytes]:
    _, port = await served(app)
    raw = await Raw.connect(port)
    raw.send(get("/"))
    try:
        return await raw.response()
    finally:
        raw.close()


async def test_an_app_that_returns_without_a_response_gets_a_500(served, caplog) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")

    status, _, body = await _raw_app_response(served, app)
    assert (status, body) == (500, b"Internal Server Error")
    assert "returned without starting response" in caplog.text


async def test_a_body_before_the_start_is_a_500(served) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")
        await send({"type": "http.response.body", "body": b"too early"})

    status, _, _ = await _raw_app_response(served, app)
    assert status == 500


async def test_a_body_longer_than_its_content_length_cuts_the_connection(served) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
        await send({"type": "http.response.body", "body": b"abcdef"})

    _, port = await served(app)
    raw = await Raw.connect(port)
    raw.send(get("/"))
    assert await raw.closed() == b""  # the head waited for the body, which was refused
    raw.close()


async def test_headers_that_would_split_the_response_are_refused(served) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")
        headers = [(b"x-evil", b"a\r\nset-cookie: stolen=1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    status, headers, _ = await _raw_app_response(served, app)
    assert status == 500 and "set-cookie" not in headers


# -- with --workers' routing: the app's requests are answered where they arrive --------------------


def _who(index: int) -> Any:
    """A bare ASGI app answering which worker it runs in, with the body it read."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("unsupported")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        data = json.dumps({"worker": index, "body": body.decode()}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


async def test_with_workers_the_apps_requests_stay_or_move_along_in_order(tmp_path: Path) -> None:
    from sio.engine import EngineServer
    from sio.workers.handoff import ConnectionRouter
    from sio.workers.routing import worker_prefix

    engines: list[EngineServer] = []
    routers: list[ConnectionRouter] = []
    ports: list[int] = []
    for index in range(2):
        engine = EngineServer()
        engine.sid_prefix = worker_prefix(index, 2)
        router = ConnectionRouter(tmp_path, index, 2)
        server = await engine.serve("127.0.0.1", 0, router=router, other_asgi_app=_who(index))
        engines.append(engine)
        routers.append(router)
        ports.append(server.sockets[0].getsockname()[1])
    try:
        raw = await Raw.connect(ports[1])
        raw.send(get("/engine.io/?EIO=4&transport=polling"))
        theirs = json.loads((await raw.response())[2][1:])["sid"]
        raw.close()
        assert theirs.startswith(worker_prefix(1, 2))

        def poll_post(body: bytes) -> bytes:
            target = f"/engine.io/?EIO=4&transport=polling&sid={theirs}"
            head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body

        app_post = b"POST /who HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        raw = await Raw.connect(ports[0])
        # The app's request first: answered here, never moved; then the other worker's session's
        # request moves the connection, and the app's request behind it goes along, as bytes.
        raw.send(get("/who") + poll_post(b"4first") + app_post)
        assert json.loads((await raw.response())[2]) == {"worker": 0, "body": ""}
        assert (await raw.response())[2] == b"ok"
        assert json.loads((await raw.response())[2]) == {"worker": 1, "body": "hello"}
        assert (routers[0].handed_over, routers[1].adopted) == (1, 1)
        raw.close()
    finally:
        for engine, router in zip(engines, routers, strict=True):
            await engine.close()
            await router.close()


async def test_a_body_found_bad_while_the_app_waits_for_it_ends_in_http_disconnect(served) -> None:
    """A pipelined request whose held-back body turns out malformed when the app asks for it: the
    connection fails, and the app's receive() answers http.disconnect instead of waiting forever."""
    started: asyncio.Queue[str] = asyncio.Queue()
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started.put_nowait(scope["path"])
        if scope["path"] == "/a0":
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a0"})
            return
        while (message := await receive())["type"] == "http.request":
            pass
        received.put_nowait(message)

    _, port = await served(app)
    raw = await Raw.connect(port)
    raw.send(get("/a0") + b"POST /a1 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    # /a0 runs: both requests were parsed from that read. What comes now waits unparsed behind them.
    assert await bounded(started.get()) == "/a0"
    raw.send(b"zz\r\n")  # not a chunk size
    release.set()
    status, _, body = await raw.response()
    assert (status, body) == (200, b"a0")
    assert await bounded(started.get()) == "/a1"
    assert await bounded(received.get()) == {"type": "http.disconnect"}
    raw.close()
