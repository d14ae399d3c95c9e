"""The server-side snippets of python-socketio's documentation (docs/server.rst, asyncio forms), run on
``sio.compat.socketio`` under uvicorn with python-socketio's client (and the official one where the
snippet is about what a browser sees).

Each test keeps the snippet's code as the documentation writes it, with the import changed; what
the snippet only prints is recorded so that the test can check it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio as pysocketio

from sio.compat import socketio
from tests.integration.compat_peers import PyClient, uvicorn_app
from tests.integration.rawclient import bounded, request
from tests.integration.siopeer import SioPeer


@contextlib.asynccontextmanager
async def served(sio: socketio.AsyncServer, **options: Any) -> AsyncIterator[str]:
    """``app = socketio.ASGIApp(sio)`` under uvicorn; yield its URL."""
    app = socketio.ASGIApp(sio, **options)
    async with uvicorn_app(app) as (url, _port):
        yield url


@contextlib.asynccontextmanager
async def client_of(url: str, **connect: Any) -> AsyncIterator[PyClient]:
    client = PyClient()
    await client.connect(url, **connect)
    try:
        yield client
    finally:
        await client.sio.disconnect()


async def test_listening_to_events_with_event_and_on() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    calls: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()

    @sio.event
    def my_event(sid, data):
        calls.put_nowait(("my_event", sid, data))

    @sio.on("my custom event")
    def another_event(sid, data):
        calls.put_nowait(("my custom event", sid, data))

    @sio.event(namespace="/chat")
    async def my_custom_event(sid, data):
        calls.put_nowait(("my_custom_event /chat", sid, data))

    async with served(sio) as url, client_of(url, namespaces=["/", "/chat"]) as client:
        await client.sio.emit("my_event", {"n": 1})
        assert await bounded(calls.get()) == ("my_event", client.sio.get_sid(), {"n": 1})
        await client.sio.emit("my custom event", [1, 2])
        assert await bounded(calls.get()) == ("my custom event", client.sio.get_sid(), [1, 2])
        await client.sio.emit("my_custom_event", "x", namespace="/chat")
        assert await bounded(calls.get()) == ("my_custom_event /chat", client.sio.get_sid("/chat"), "x")
        # Each namespace has its own sid.
        assert client.sio.get_sid("/chat") != client.sio.get_sid("/")


async def test_connect_and_disconnect_events_with_reasons(node_peers: Any) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @sio.event
    def connect(sid, environ, auth):
        seen.put_nowait(("connect", sid, environ["REQUEST_METHOD"], auth))

    @sio.event
    def disconnect(sid, reason):
        if reason == sio.reason.CLIENT_DISCONNECT:
            seen.put_nowait(("the client disconnected", sid))
        elif reason == sio.reason.SERVER_DISCONNECT:
            seen.put_nowait(("the server disconnected the client", sid))
        else:
            seen.put_nowait(("disconnect reason:", reason))

    @sio.event
    async def kick(sid):
        await sio.disconnect(sid)

    async with served(sio) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        first = await peer.connect("/", auth={"token": "t"})
        assert await bounded(seen.get()) == ("connect", first["id"], "GET", {"token": "t"})
        peer.command("disconnect")
        assert await bounded(seen.get()) == ("the client disconnected", first["id"])

        second = PyClient()
        await second.connect(url)
        sid = second.sio.get_sid()
        assert await bounded(seen.get()) == ("connect", sid, "GET", None)  # no auth: None
        await second.sio.emit("kick")
        assert await bounded(seen.get()) == ("the server disconnected the client", sid)
        assert await bounded(second.disconnects.get()) == ("/", "server disconnect")


async def test_connection_refused_error_reaches_the_client(node_peers: Any) -> None:
    from sio.compat.socketio.exceptions import ConnectionRefusedError

    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    def connect(sid, environ, auth):
        raise ConnectionRefusedError("authentication failed")

    async with served(sio) as url:
        client = PyClient()
        with pytest.raises(pysocketio.exceptions.ConnectionError):
            await client.connect(url)
        assert client.connect_errors == [{"message": "authentication failed"}]
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        refused = await peer.connect("/")
        assert refused["event"] == "connect_error"
        assert refused["message"] == "authentication failed"


async def test_catch_all_event_handlers() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    caught: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @sio.on("*")
    async def any_event(event, sid, data):
        caught.put_nowait((event, sid, data))

    @sio.event
    def known(sid, data):
        caught.put_nowait(("known handler", data))

    async with served(sio) as url, client_of(url) as client:
        await client.sio.emit("whatever", 1)
        assert await bounded(caught.get()) == ("whatever", client.sio.get_sid(), 1)
        await client.sio.emit("known", 2)
        assert await bounded(caught.get()) == ("known handler", 2)  # not the catch-all
    assert caught.empty()  # connect and disconnect are never caught


async def test_emitting_to_everyone_and_to_one_client() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def to_all(sid):
        await sio.emit("my event", {"data": "foobar"})

    @sio.event
    async def to_me(sid, user_sid):
        await sio.emit("my event", {"data": "just you"}, to=user_sid)

    async with served(sio) as url, client_of(url) as alice, client_of(url) as bob:
        await alice.sio.emit("to_all")
        assert await alice.event("my event") == ({"data": "foobar"},)
        assert await bob.event("my event") == ({"data": "foobar"},)
        await alice.sio.emit("to_me", bob.sio.get_sid())
        assert await bob.event("my event") == ({"data": "just you"},)
        await alice.sio.emit("to_all")
        assert await alice.event("my event") == ({"data": "foobar"},)  # not "just you" before it


async def test_acknowledging_events_with_return_values() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    def my_event(sid, data):
        # handle the message
        return "OK", 123  # <-- client will have these as acknowledgement

    @sio.event
    async def one_value(sid, data):
        return {"echo": data}

    @sio.event
    def nothing(sid):
        pass

    async with served(sio) as url, client_of(url) as client:
        assert await client.sio.call("my_event", {"x": 1}, timeout=10) == ("OK", 123)
        assert await client.sio.call("one_value", [1, 2], timeout=10) == {"echo": [1, 2]}
        assert await client.sio.call("nothing", timeout=10) is None


async def test_requesting_client_acknowledgements_with_call_and_callback() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    callbacks: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    results: asyncio.Queue[Any] = asyncio.Queue()

    @sio.event
    async def ask(sid):
        response = await sio.call("my event", {"data": "foobar"}, to=sid)
        results.put_nowait(response)

    @sio.event
    async def ask_with_callback(sid):
        def my_callback(*answer):
            callbacks.put_nowait(answer)

        await sio.emit("my event", {"data": "foobar"}, to=sid, callback=my_callback)

    client = PyClient()
    client.sio.on("my event", lambda data: ("answer to", data["data"]))
    async with served(sio) as url:
        await client.connect(url)
        try:
            await client.sio.emit("ask")
            assert await bounded(results.get()) == ("answer to", "foobar")
            await client.sio.emit("ask_with_callback")
            assert await bounded(callbacks.get()) == ("answer to", "foobar")
        finally:
            await client.sio.disconnect()


async def test_rooms_begin_chat_exit_chat_and_skip_sid() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def begin_chat(sid):
        await sio.enter_room(sid, "chat_users")
        return sio.rooms(sid)

    @sio.event
    async def exit_chat(sid):
        await sio.leave_room(sid, "chat_users")

    @sio.event
    async def my_message(sid, data):
        await sio.emit("my reply", data, room="chat_users", skip_sid=sid)

    async with served(sio) as url, client_of(url) as alice, client_of(url) as bob, client_of(url) as carol:
        for client in (alice, bob, carol):
            rooms = await client.sio.call("begin_chat", timeout=10)
            assert rooms == [client.sio.get_sid(), "chat_users"]
        await alice.sio.emit("my_message", "hello")
        assert await bob.event("my reply") == ("hello",)
        assert await carol.event("my reply") == ("hello",)
        await carol.sio.call("exit_chat", timeout=10)
        await bob.sio.emit("my_message", "second")
        assert await alice.event("my reply") == ("second",)  # alice skipped her own first one
        await alice.sio.emit("my_message", "third")
        assert await bob.event("my reply") == ("third",)
        await carol.sio.emit("my_message", "from outside")  # carol is out, but may still send
        assert await alice.event("my reply") == ("from outside",)
        assert carol.events("my reply") == [("hello",)]


async def test_class_based_namespaces() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    log: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    class MyCustomNamespace(socketio.AsyncNamespace):
        def on_connect(self, sid, environ):
            log.put_nowait(("connect", sid))

        def on_disconnect(self, sid, reason):
            log.put_nowait(("disconnect", sid, reason))

        async def on_my_event(self, sid, data):
            await self.emit("my_response", data)

    sio.register_namespace(MyCustomNamespace("/test"))

    async with served(sio) as url:
        client = PyClient()
        await client.connect(url, namespaces=["/test"])
        sid = client.sio.get_sid("/test")
        assert await bounded(log.get()) == ("connect", sid)
        await client.sio.emit("my_event", {"n": 1}, namespace="/test")
        assert await client.event("my_response", "/test") == ({"n": 1},)
        await client.disconnect()
        assert await bounded(log.get()) in (
            ("disconnect", sid, sio.reason.CLIENT_DISCONNECT),
            ("disconnect", sid, sio.reason.TRANSPORT_CLOSE),  # python-engineio may close first
        )


async def test_catch_all_namespaces() -> None:
    sio = socketio.AsyncServer(async_mode="asgi", namespaces="*")
    log: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @sio.on("my_event", namespace="*")
    def my_event_any_namespace(namespace, sid, data):
        log.put_nowait(("my_event", namespace, sid, data))

    @sio.on("*", namespace="*")
    def any_event_any_namespace(event, namespace, sid, data):
        log.put_nowait(("*", event, namespace, sid, data))

    async with served(sio) as url, client_of(url, namespaces=["/a", "/b"]) as client:
        await client.sio.emit("my_event", 1, namespace="/a")
        assert await bounded(log.get()) == ("my_event", "/a", client.sio.get_sid("/a"), 1)
        await client.sio.emit("other", 2, namespace="/b")
        assert await bounded(log.get()) == ("*", "other", "/b", client.sio.get_sid("/b"), 2)


async def test_catch_all_class_based_namespace() -> None:
    sio = socketio.AsyncServer(async_mode="asgi", namespaces="*")

    class MyCustomNamespace(socketio.AsyncNamespace):
        async def on_hello(self, namespace, sid, data):
            await self.server.emit("hi", (namespace, data), to=sid, namespace=namespace)

    sio.register_namespace(MyCustomNamespace("*"))
    async with served(sio) as url, client_of(url, namespaces=["/anything"]) as client:
        await client.sio.emit("hello", "there", namespace="/anything")
        assert await client.event("hi", "/anything") == ("/anything", "there")


async def test_user_sessions_save_get_and_context_manager() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    def authenticate_user(environ):
        return environ["HTTP_X_USER"]

    @sio.event
    async def connect(sid, environ):
        username = authenticate_user(environ)
        await sio.save_session(sid, {"username": username})

    @sio.event
    async def message(sid, data):
        session = await sio.get_session(sid)
        return "message from " + session["username"]

    @sio.event
    async def rename(sid, name):
        async with sio.session(sid) as session:
            session["username"] = name

    async with served(sio) as url:
        client = PyClient()
        await client.connect(url, headers={"X-User": "ada"})
        try:
            assert await client.sio.call("message", "hi", timeout=10) == "message from ada"
            await client.sio.call("rename", "grace", timeout=10)
            assert await client.sio.call("message", "hi", timeout=10) == "message from grace"
        finally:
            await client.sio.disconnect()


async def test_cross_origin_controls() -> None:
    same_origin_only = socketio.AsyncServer(async_mode="asgi")
    async with served(same_origin_only) as url:
        port = int(url.rsplit(":", 1)[1])
        handshake = "/socket.io/?EIO=4&transport=polling"
        assert (await request(port, "GET", handshake)).status == 200  # no Origin header
        same = await request(port, "GET", handshake, {"Origin": url})
        assert same.status == 200
        foreign = await request(port, "GET", handshake, {"Origin": "https://evil.example"})
        assert foreign.status == 403

    listed = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=["https://app.example"])
    async with served(listed) as url:
        port = int(url.rsplit(":", 1)[1])
        allowed = await request(port, "GET", handshake, {"Origin": "https://app.example"})
        assert allowed.status == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert (await request(port, "GET", handshake, {"Origin": url})).status == 403

    everyone = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    async with served(everyone) as url:
        port = int(url.rsplit(":", 1)[1])
        any_site = await request(port, "GET", handshake, {"Origin": "https://any.example"})
        assert any_site.status == 200
        assert any_site.headers["access-control-allow-origin"] == "https://any.example"


def test_monitoring_and_administration_is_out_of_scope() -> None:
    sio = socketio.AsyncServer(cors_allowed_origins=["http://localhost:5000", "https://admin.socket.io"])
    with pytest.warns(RuntimeWarning, match="Admin UI is not available"):
        sio.instrument(auth={"username": "admin", "password": "secret"})
    assert sio.handlers == {} and sio.namespace_handlers == {}  # nothing added: /admin is refused


def test_debugging_and_troubleshooting_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("socketio.server"), "level", logging.NOTSET)
    monkeypatch.setattr(logging.getLogger("sio"), "level", logging.NOTSET)
    sio = socketio.AsyncServer(logger=True, engineio_logger=True)
    assert sio.logger is logging.getLogger("socketio.server")
    assert sio.logger.level == logging.INFO
    assert logging.getLogger("sio").level == logging.INFO
    mine = logging.getLogger("my.app")
    assert socketio.AsyncServer(logger=mine).logger is mine


def test_using_a_message_queue_points_to_sios_redis_adapter() -> None:
    with pytest.raises(socketio.exceptions.Unsupported, match=r"sio\.adapters\.redis\.redis_adapter"):
        mgr = socketio.AsyncRedisManager("redis://")
        socketio.AsyncServer(client_manager=mgr)
    with pytest.raises(socketio.exceptions.Unsupported, match="RabbitMQ"):
        socketio.AsyncAioPikaManager("amqp://")
    with pytest.raises(socketio.exceptions.Unsupported, match="AsyncServer"):
        socketio.Server()  # type: ignore[attr-defined]


def test_static_files_rules_of_the_documentation() -> None:
    from sio.compat.socketio.asgi import static_file

    static_files = {
        "/": "latency.html",
        "/static/socket.io.js": "static/socket.io.js",
        "/static/style.css": "static/style.css",
    }
    assert static_file("/", static_files) == {"filename": "latency.html", "content_type": "text/html"}
    assert static_file("/static/style.css", static_files) == {
        "filename": "static/style.css",
        "content_type": "text/css",
    }
    # Not listed: "/" matches with the rest of the path appended (no such file: the app answers 404).
    assert static_file("/static/other.css", static_files)["filename"] == "latency.html/static/other.css"  # type: ignore[index]
    typed = {"/": {"filename": "latency.html", "content_type": "text/plain"}}
    assert static_file("/", typed) == {"filename": "latency.html", "content_type": "text/plain"}
    folder = {"/static": "./public"}
    assert static_file("/static/index.html", folder)["filename"] == "./public/index.html"  # type: ignore[index]
    assert static_file("/static/css/styles.css", folder) == {
        "filename": "./public/css/styles.css",
        "content_type": "text/css",
    }
    assert static_file("/static/", folder)["filename"] == "./public/index.html"  # type: ignore[index]
    assert static_file("/static/../secret.txt", folder) is None
    gif = {"/static": "./public", "": "image.gif"}
    assert static_file("/static/", gif) == {"filename": "./public/image.gif", "content_type": "image/gif"}
    plain = {"/static": "./public", "": {"filename": "image.gif", "content_type": "text/plain"}}
    assert static_file("/static/", plain) == {"filename": "./public/image.gif", "content_type": "text/plain"}
    assert static_file("/static/blob", folder)["content_type"] == "application/octet-stream"  # type: ignore[index]


async def test_asgi_app_routing_precedence(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index.html").write_text("<p>static</p>")
    monkeypatch.chdir(tmp_path)

    async def other_asgi_app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b"other app: " + scope["path"].encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sio = socketio.AsyncServer(async_mode="asgi")
    async with served(sio, other_asgi_app=other_asgi_app, static_files={"/": "index.html"}) as url:
        port = int(url.rsplit(":", 1)[1])
        engine = await request(port, "GET", "/socket.io/?EIO=4&transport=polling")
        assert engine.status == 200 and engine.body.startswith(b"0{")  # first, the Socket.IO endpoint
        static = await request(port, "GET", "/")
        assert static.body == b"<p>static</p>"  # next, the static files
        other = await request(port, "GET", "/api")
        assert other.body == b"other app: /api"  # then the other app
    async with served(socketio.AsyncServer()) as url:
        assert (await request(int(url.rsplit(":", 1)[1]), "GET", "/api")).status == 404  # else 404


@pytest.mark.parametrize(
    "static_files",
    [
        {"/": "latency.html", "/static/socket.io.js": "static/socket.io.js"},
        {"/static": "./public", "": "image.gif"},
        {"/static/": "./public/", "/": {"filename": "index.html", "content_type": "text/x-mine"}},
        {"/a/b": "deep", "/a": {"filename": "top"}, "": {"filename": "i.txt", "content_type": "x/y"}},
    ],
)
def test_static_files_rules_match_python_engineio(static_files: dict[str, Any]) -> None:
    from engineio.static_files import get_static_file

    from sio.compat.socketio.asgi import static_file

    for path in ["/", "/static", "/static/", "/static/a.js", "/static/x/y.css", "/a/b/c", "/a", "/zz", ""]:
        assert static_file(path, static_files) == get_static_file(path, static_files), path
