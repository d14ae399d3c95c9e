"""``sio.compat.socketio.AsyncServer``'s semantics, one by one, with real clients: the official
socket.io-client and python-socketio's AsyncClient, under uvicorn (and sio's own front end)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio as pysocketio

import sio as sio_pkg
from sio.compat import socketio
from sio.compat.socketio.exceptions import ConnectionRefusedError
from tests.integration.cluster_bus import Bus, BusAdapter
from tests.integration.compat_peers import PyClient, uvicorn_app
from tests.integration.rawclient import bounded, request
from tests.integration.siopeer import SioPeer


@contextlib.asynccontextmanager
async def served(sio: socketio.AsyncServer, **options: Any) -> AsyncIterator[str]:
    async with uvicorn_app(socketio.ASGIApp(sio, **options)) as (url, _port):
        yield url


@contextlib.asynccontextmanager
async def client_of(url: str, **connect: Any) -> AsyncIterator[PyClient]:
    client = PyClient()
    await client.connect(url, **connect)
    try:
        yield client
    finally:
        await client.sio.disconnect()


# -- connecting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_environ_is_the_handshake_request(transport: str) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    environs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @sio.event
    def connect(sid, environ):
        assert sio.get_environ(sid) is environ
        environs.put_nowait(environ)

    @sio.event
    def which(sid):
        return sio.transport(sid)

    async with served(sio) as url:
        client = PyClient()
        await client.connect(url + "?room=blue", transports=[transport], headers={"X-Token": "abc"})
        try:
            environ = await bounded(environs.get())
            assert environ["REQUEST_METHOD"] == "GET"
            assert environ["PATH_INFO"] == "/socket.io/"
            assert "room=blue" in environ["QUERY_STRING"] and "EIO=4" in environ["QUERY_STRING"]
            assert environ["HTTP_X_TOKEN"] == "abc"
            assert environ["HTTP_HOST"] == url.removeprefix("http://")
            assert environ["REMOTE_ADDR"] == "127.0.0.1"
            assert environ["wsgi.url_scheme"] == "http"
            assert environ["asgi.scope"]["type"] == ("http" if transport == "polling" else "websocket")
            assert environ["asgi.scope"]["path"] == "/socket.io/"
            assert await client.sio.call("which", timeout=10) == transport
        finally:
            await client.sio.disconnect()


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_connect_handlers_refuse_as_python_socketio(node_peers: Any, asynchronous: bool) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    refusals: dict[str, Any] = {
        "false": False,
        "plain": ConnectionRefusedError(),
        "message": ConnectionRefusedError("no entry"),
        "data": ConnectionRefusedError("no entry", {"retry": 5}),
        "several": ConnectionRefusedError("no entry", 1, 2),
        "builtin": builtins_refused(),
        "bug": RuntimeError("internal detail"),
        "python-socketio's own": pysocketio.exceptions.ConnectionRefusedError("theirs", [1]),
    }

    def verdict(auth: dict[str, str]) -> Any:
        outcome = refusals.get(auth["case"], True)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    if asynchronous:

        @sio.event
        async def connect(sid, environ, auth):
            await asyncio.sleep(0)
            return verdict(auth)
    else:

        @sio.event
        def connect(sid, environ, auth):
            return verdict(auth)

    expected = {
        "false": ("Connection rejected by server", None),
        "plain": ("Connection rejected by server", None),
        "message": ("no entry", None),
        "data": ("no entry", {"retry": 5}),
        "several": ("no entry", [1, 2]),
        "builtin": ("Connection refused by server", None),
        "bug": ("Connection rejected by server", None),  # logged, never shown to the client
        "python-socketio's own": ("theirs", [1]),
    }
    async with served(sio) as url:
        for case, (message, data) in expected.items():
            client = PyClient()
            with pytest.raises(pysocketio.exceptions.ConnectionError):
                await client.connect(url, auth={"case": case})
            error = {"message": message} if data is None else {"message": message, "data": data}
            assert client.connect_errors == [error], case
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])  # the official client too
        refused = await peer.connect("/", auth={"case": "data"})
        assert (refused["event"], refused["message"], refused["data"]) == (
            "connect_error",
            "no entry",
            {"retry": 5},
        )
        welcome = await SioPeer.start(node_peers, url, transports=["websocket"])
        assert (await welcome.connect("/", auth={"case": "welcome"}))["event"] == "connect"


def builtins_refused() -> BaseException:
    import builtins

    return builtins.ConnectionRefusedError("not shown")


async def test_namespaces_accepted_as_python_socketio(node_peers: Any) -> None:
    sio = socketio.AsyncServer(async_mode="asgi", namespaces=["/listed"])

    @sio.on("ping", namespace="/handled")
    def ping(sid):
        return "pong"

    async with served(sio) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        for nsp in ("/listed", "/handled"):
            assert (await peer.connect(nsp))["event"] == "connect"
        for nsp in ("/", "/unknown"):  # "/" is not in namespaces= and has no handler
            refused = await peer.connect(nsp)
            assert (refused["event"], refused["message"]) == ("connect_error", "Invalid namespace")
        assert (await peer.call("ping", nsp="/handled"))["args"] == ["pong"]

    everything = socketio.AsyncServer(async_mode="asgi", namespaces="*")
    async with served(everything) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        for nsp in ("/", "/any", "/thing-42"):
            assert (await peer.connect(nsp))["event"] == "connect"


async def test_emits_from_the_connect_handler_reach_the_connecting_client(node_peers: Any) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def connect(sid, environ, auth):
        await sio.enter_room(sid, "team")
        await sio.emit("to you", sid, to=sid)
        await sio.emit("to the team", sid, room="team")
        await sio.emit("to all", sid)
        assert sio.rooms(sid) == [sid, "team"]

    async with served(sio) as url:
        first = await SioPeer.start(node_peers, url, transports=["websocket"])
        one = (await first.connect("/"))["id"]
        await first.until_seen("to you", "to the team", "to all")
        assert [first.events(e) for e in ("to you", "to the team", "to all")] == [[[one]], [[one]], [[one]]]
        second = await SioPeer.start(node_peers, url, transports=["websocket"])
        two = (await second.connect("/"))["id"]
        assert await first.event("to the team") == [two]
        assert await first.event("to all") == [two]
        await second.until_seen("to you", "to the team", "to all")
        assert second.events("to all") == [[two]]


async def test_always_connect_accepts_first_and_sends_away_later(node_peers: Any) -> None:
    sio = socketio.AsyncServer(async_mode="asgi", always_connect=True)
    disconnects: asyncio.Queue[str] = asyncio.Queue()

    @sio.event
    async def connect(sid, environ, auth):
        await sio.emit("hello", "before the verdict", to=sid)
        return auth.get("ok", False) if auth else False

    @sio.event
    def disconnect(sid, reason):
        disconnects.put_nowait(sid)

    @sio.event
    def echo(sid, value):
        return value

    async with served(sio) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        assert (await peer.connect("/"))["event"] == "connect"  # accepted, then
        assert await peer.event("hello") == ["before the verdict"]
        assert (await peer.expect("disconnect"))["reason"] == "io server disconnect"
        welcome = await SioPeer.start(node_peers, url, transports=["websocket"])
        sid = (await welcome.connect("/", auth={"ok": True}))["id"]
        assert (await welcome.call("echo", 7))["args"] == [7]  # handled once the connect handler ran
        welcome.command("disconnect")
        assert await bounded(disconnects.get()) == sid  # the one sent away had no disconnect handler


@pytest.mark.parametrize("async_handlers", [False, True])
async def test_async_handlers_false_handles_one_event_at_a_time(async_handlers: bool) -> None:
    sio = socketio.AsyncServer(async_mode="asgi", async_handlers=async_handlers)
    order: list[str] = []
    slow_started = asyncio.Event()
    gate = asyncio.Event()
    fast_received = asyncio.Event()

    @sio.event
    async def slow(sid):
        # Told when sio has the next event (after the compat layer dispatched it).
        sio.io.sockets.sockets[sid].on_any(lambda event, *args: event == "fast" and fast_received.set())
        slow_started.set()
        await gate.wait()
        order.append("slow")

    @sio.event
    def fast(sid):
        order.append("fast")

    async with served(sio) as url, client_of(url) as client:
        await client.sio.emit("slow")
        await bounded(slow_started.wait())
        await client.sio.emit("fast")
        await bounded(fast_received.wait())
        assert order == ([] if not async_handlers else ["fast"])
        gate.set()
        await bounded(client.sio.call("fast", timeout=10))
        assert order == (["slow", "fast", "fast"] if not async_handlers else ["fast", "slow", "fast"])


# -- acks, callbacks, call ----------------------------------------------------------------------------


async def test_call_and_callbacks_and_their_errors(node_peers: Any, caplog: pytest.LogCaptureFixture) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.event
    async def ask(sid, event):
        try:
            answers.put_nowait(await sio.call(event, "q", to=sid, timeout=0.5 if event == "silent" else 10))
        except Exception as exc:
            answers.put_nowait(type(exc))

    @sio.event
    async def misuse(sid):
        for attempt in (sio.call("x"), sio.emit("x", callback=print)):
            try:
                await attempt
            except ValueError as exc:
                answers.put_nowait(str(exc))

    @sio.event
    def broken(sid):
        raise RuntimeError("boom")

    async with served(sio) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        await peer.connect("/")
        await peer.reply("one", [1])
        await peer.reply("two", [1, "b"])
        await peer.reply("none", [])
        await peer.reply("silent", "none")
        for event, expected in (("one", 1), ("two", (1, "b")), ("none", None)):
            peer.emit("ask", event)
            assert await bounded(answers.get()) == expected
        peer.emit("ask", "silent")
        assert await bounded(answers.get()) is socketio.exceptions.TimeoutError
        peer.emit("misuse")
        assert await bounded(answers.get()) == "Cannot use call() to broadcast."
        assert await bounded(answers.get()) == "Cannot use callback without a room set."
        with caplog.at_level(logging.ERROR, logger="socketio.server"):
            timed_out = await peer.call("broken", timeout=0.5)
        assert timed_out["error"] == "operation has timed out"  # no ack for a handler that failed
        assert any("'broken'" in r.getMessage() for r in caplog.records)

    no_async = socketio.AsyncServer(async_handlers=False)
    with pytest.raises(RuntimeError, match="async_handlers is False"):
        await no_async.call("x", to="someone")


async def test_binary_data_and_msgpack() -> None:
    for serializer in ("default", "msgpack"):
        sio = socketio.AsyncServer(async_mode="asgi", serializer=serializer)

        @sio.event
        def flip(sid, data):
            return data[::-1], {"len": len(data)}

        async with served(sio) as url:
            client = PyClient(serializer=serializer)
            await client.connect(url)
            try:
                assert await client.sio.call("flip", b"\x01\x02\x03", timeout=10) == (
                    b"\x03\x02\x01",
                    {"len": 3},
                )
            finally:
                await client.sio.disconnect()


# -- rooms, sessions, what the server knows -----------------------------------------------------------


async def test_rooms_to_lists_skip_sid_lists_and_close_room() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def join(sid, rooms):
        for room in rooms:
            await sio.enter_room(sid, room)
        return sio.rooms(sid)

    @sio.event
    async def shout(sid, rooms, skip):
        await sio.emit("shout", sid, to=rooms, skip_sid=skip)

    @sio.event
    async def close(sid, room):
        await sio.close_room(room)
        return [sid for sid, _ in sio.manager.get_participants("/", room)]

    @sio.event
    async def bad(sid, other):
        errors = []
        for attempt in (sio.enter_room(sid, other), sio.close_room(other)):
            try:
                await attempt
            except ValueError as exc:
                errors.append(str(exc))
        return errors

    async with served(sio) as url, client_of(url) as a, client_of(url) as b, client_of(url) as c:
        sid_a, sid_b, sid_c = (x.sio.get_sid() for x in (a, b, c))
        assert await a.sio.call("join", ["red", "blue"], timeout=10) == [sid_a, "blue", "red"]
        assert await b.sio.call("join", ["red"], timeout=10) == [sid_b, "red"]
        assert await c.sio.call("join", ["blue"], timeout=10) == [sid_c, "blue"]
        assert sorted(sid for sid, _ in sio.manager.get_participants("/", "red")) == sorted([sid_a, sid_b])

        await c.sio.emit("shout", (["red", "blue"], [sid_c, sid_b]))  # a is in both rooms: once
        assert await a.event("shout") == (sid_c,)
        await c.sio.emit("shout", (["red"], None))
        assert await b.event("shout") == (sid_c,)
        assert await a.event("shout") == (sid_c,)
        assert a.events("shout") == [(sid_c,), (sid_c,)]

        assert await a.sio.call("close", "red", timeout=10) == []
        assert await a.sio.call("join", [], timeout=10) == [sid_a, "blue"]
        assert await a.sio.call("bad", sid_b, timeout=10) == [
            "cannot enter a sid room",
            "cannot close a sid room",
        ]


async def test_the_disconnect_handler_still_sees_rooms_session_and_environ(node_peers: Any) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @sio.event
    async def connect(sid, environ, auth):
        await sio.enter_room(sid, "lobby")
        await sio.save_session(sid, {"name": auth["name"]})

    @sio.event
    async def disconnect(sid, reason):
        await asyncio.sleep(0)
        session = await sio.get_session(sid)
        seen.put_nowait((reason, sio.rooms(sid), session["name"], sio.get_environ(sid)["REQUEST_METHOD"]))

    handled_before_return: list[int] = []

    @sio.event
    async def leave_me(sid):
        await sio.disconnect(sid)
        # disconnect() returns once the (coroutine) disconnect handler has run.
        handled_before_return.append(seen.qsize())

    async with served(sio) as url:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        sid = (await peer.connect("/", auth={"name": "ada"}))["id"]
        peer.command("disconnect")
        assert await bounded(seen.get()) == ("client disconnect", [sid, "lobby"], "ada", "GET")
        with pytest.raises(KeyError):
            await sio.get_session(sid)
        assert sio.get_environ(sid) is None and sio.rooms(sid) == []

        other = await SioPeer.start(node_peers, url, transports=["polling"])
        sid = (await other.connect("/", auth={"name": "bob"}))["id"]
        other.emit("leave_me")
        assert (await other.expect("disconnect"))["reason"] == "io server disconnect"
        assert await bounded(seen.get()) == ("server disconnect", [sid, "lobby"], "bob", "GET")
        assert handled_before_return == [1]


async def test_class_based_namespace_helpers_and_precedence() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    class Chat(socketio.AsyncNamespace):
        async def on_join(self, sid, room):
            await self.enter_room(sid, room)
            async with self.session(sid) as session:
                session["room"] = room
            await self.emit("joined", room, room=room)
            return self.rooms(sid)

        async def on_where(self, sid):
            return (await self.get_session(sid))["room"]

        def on_taken(self, sid):
            return "by the method"

        async def on_ask(self, sid):
            return await self.call("question", to=sid, timeout=10)

        async def on_bye(self, sid):
            await self.disconnect(sid)

    sio.register_namespace(Chat("/chat"))

    @sio.on("taken", namespace="/chat")
    def taken(sid):
        return "by the function"  # a function handler wins over the namespace's method

    with pytest.raises(ValueError, match="Not a namespace instance"):
        sio.register_namespace(object())  # type: ignore[arg-type]

    client = PyClient()
    client.sio.on("question", lambda: "answer", namespace="/chat")
    async with served(sio) as url:
        await client.connect(url, namespaces=["/chat"])
        sid = client.sio.get_sid("/chat")
        assert await client.sio.call("join", "r", namespace="/chat", timeout=10) == [sid, "r"]
        assert await client.event("joined", "/chat") == ("r",)
        assert await client.sio.call("where", namespace="/chat", timeout=10) == "r"
        assert await client.sio.call("taken", namespace="/chat", timeout=10) == "by the function"
        assert await client.sio.call("ask", namespace="/chat", timeout=10) == "answer"
        await client.sio.emit("bye", namespace="/chat")
        assert await bounded(client.disconnects.get()) == ("/chat", "server disconnect")


# -- the ASGI app ---------------------------------------------------------------------------------


async def test_lifespan_hooks_and_shutdown_disconnects_clients() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    calls: list[str] = []
    reasons: asyncio.Queue[str] = asyncio.Queue()

    async def on_startup() -> None:
        calls.append("startup")

    def on_shutdown() -> None:
        calls.append("shutdown")

    @sio.event
    def disconnect(sid, reason):
        reasons.put_nowait(reason)

    client = PyClient()
    async with served(sio, on_startup=on_startup, on_shutdown=on_shutdown) as url:
        assert calls == ["startup"]
        await client.connect(url)
        await sio.shutdown()
        assert await bounded(reasons.get()) == "server disconnect"
        assert (await bounded(client.disconnects.get()))[0] == "/"
    assert calls == ["startup", "shutdown"]
    await client.sio.disconnect()


async def test_handle_request_and_socketio_path() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    def hello(sid):
        return "from handle_request"

    async def router(scope: Any, receive: Any, send: Any) -> None:  # a framework mounting the server
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            return
        await sio.handle_request(scope, receive, send)

    async with (
        uvicorn_app(router, lifespan="off") as (url, _port),
        client_of(url, socketio_path="anything/here") as client,
    ):
        assert await client.sio.call("hello", timeout=10) == "from handle_request"

    custom = socketio.AsyncServer(async_mode="asgi")
    custom.on("hello", lambda sid: "custom path")
    async with served(custom, socketio_path="/realtime") as url:
        assert (
            await request(int(url.rsplit(":", 1)[1]), "GET", "/socket.io/?EIO=4&transport=polling")
        ).status == 404
        async with client_of(url, socketio_path="realtime") as client:
            assert await client.sio.call("hello", timeout=10) == "custom path"


# -- a cluster: sio's adapters as client_manager ---------------------------------------------------------


async def test_a_cluster_adapter_as_client_manager(node_peers: Any) -> None:
    bus = Bus()
    servers = [socketio.AsyncServer(client_manager=lambda nsp: BusAdapter(nsp, bus)) for _ in range(2)]
    peers, sids = [], []
    for server in servers:
        server.on("echo", lambda sid, value: value)
        listening = await server.io.serve("127.0.0.1", 0)  # sio's own front end this time
        url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        sids.append((await peer.connect("/"))["id"])
        peers.append(peer)
    try:
        await bus.drained()
        first, second = servers
        await peers[1].reply("question", ["from the other server", "second value"])
        # call() / a callback to a client of the other server: its first answer comes back.
        assert await first.call("question", to=sids[1], timeout=10) == "from the other server"
        await first.enter_room(sids[1], "far")
        await bus.drained()
        assert second.rooms(sids[1]) == [sids[1], "far"]
        await first.emit("news", "everyone")
        await first.emit("news", "far room", room="far")
        assert await peers[0].event("news") == ["everyone"]
        assert await peers[1].event("news") == ["everyone"]
        assert await peers[1].event("news") == ["far room"]
        await first.emit("news", "here only", ignore_queue=True)
        assert await peers[0].event("news") == ["here only"]
        await first.close_room("far")
        await bus.drained()
        assert second.rooms(sids[1]) == [sids[1]]
        await first.disconnect(sids[1])
        assert (await peers[1].expect("disconnect"))["reason"] == "io server disconnect"
        assert [args for args in peers[1].events("news") if args == ["here only"]] == []
    finally:
        for server in servers:
            await server.shutdown()


# -- options ------------------------------------------------------------------------------------------


def test_options_map_onto_sio_or_are_refused() -> None:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        ping_interval=(10, 5),
        ping_timeout=7,
        max_http_buffer_size=1234,
        transports="websocket",
        cookie={"name": "sticky", "SameSite": "Strict", "HttpOnly": False},
        max_connections=9,  # an sio option, passed through
    )
    engine = sio.io.engine
    assert (engine.ping_interval, engine.ping_timeout, engine.max_http_buffer_size) == (10, 12, 1234)
    assert engine.transports == ("websocket",)
    assert engine.cookie == {"name": "sticky", "samesite": "Strict", "httponly": False}
    assert engine.max_connections == 9
    assert isinstance(socketio.AsyncServer(serializer="msgpack").io.parser, sio_pkg.parser.MsgpackParser)
    assert socketio.AsyncServer(client_manager=socketio.AsyncManager()).io.sockets.adapter is not None
    import json

    socketio.AsyncServer(json=json)  # the standard module: what sio does anyway

    class OtherJson:
        dumps = staticmethod(json.dumps)
        loads = staticmethod(json.loads)

    refused: list[dict[str, Any]] = [
        {"async_mode": "aiohttp"},
        {"async_mode": "threading"},
        {"json": OtherJson},
        {"serializer": OtherJson},
        {"client_manager": object()},
        {"cookie": {"name": "io", "expires": lambda: "soon"}},
    ]
    for options in refused:
        with pytest.raises(socketio.exceptions.Unsupported):
            socketio.AsyncServer(**options)
    with pytest.raises(TypeError):
        socketio.AsyncServer(no_such_option=1)
    with pytest.raises(socketio.exceptions.Unsupported, match="attach"):
        sio.attach(object())
    with pytest.raises(socketio.exceptions.Unsupported, match="python-socketio's own client"):
        from sio.compat.socketio import AsyncClient  # noqa: F401
