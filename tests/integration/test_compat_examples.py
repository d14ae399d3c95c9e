"""python-socketio's own ASGI examples (tests/compat/examples, copied with only their import changed
to ``from sio.compat import socketio``) under uvicorn, driven through the events their pages send.

The clients are the official socket.io-client (what the pages load) and python-socketio's
AsyncClient.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.compat_peers import EXAMPLES, PyClient, example_process, load_example, uvicorn_app
from tests.integration.rawclient import bounded, request
from tests.integration.siopeer import SioPeer


@pytest.fixture
def app_example(monkeypatch: pytest.MonkeyPatch) -> Any:
    """examples/server/asgi/app.py, its background task's 10 s sleep driven by the test instead."""
    monkeypatch.chdir(EXAMPLES)  # its static_files are relative paths, as when run from there
    with pytest.warns(RuntimeWarning, match="Admin UI is not available"):
        module = load_example("app.py")  # it calls sio.instrument(): out of scope, said so
    ticks: asyncio.Queue[None] = asyncio.Queue()
    sleepers: list[asyncio.Task[Any]] = []

    async def sleep(seconds: float = 0) -> None:
        assert seconds == 10
        task = asyncio.current_task()
        assert task is not None
        sleepers.append(task)
        await ticks.get()

    monkeypatch.setattr(module.sio, "sleep", sleep)
    yield module, ticks
    for task in sleepers:
        task.cancel()


def observe_disconnects(module: Any) -> asyncio.Queue[str]:
    """The reasons the example's disconnect handler gets, once it has run (it only prints them)."""
    reasons: asyncio.Queue[str] = asyncio.Queue()
    handler = module.sio.handlers["/"]["disconnect"]

    def observed(sid: str, reason: str) -> None:
        handler(sid, reason)
        reasons.put_nowait(reason)

    module.sio.handlers["/"]["disconnect"] = observed
    return reasons


async def test_app_py_kitchen_sink_with_the_official_client(
    app_example: Any, node_peers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    module, ticks = app_example
    disconnects = observe_disconnects(module)
    async with uvicorn_app(module.app) as (url, port):
        page = await request(port, "GET", "/")
        assert page.status == 200
        assert page.headers["content-type"] == "text/html"
        assert b"<h1>python-socketio test</h1>" in page.body
        assert (await request(port, "GET", "/nothing-here")).status == 404

        alice = await SioPeer.start(node_peers, url, transports=["websocket"])
        bob = await SioPeer.start(node_peers, url, transports=["polling", "websocket"])
        for peer in (alice, bob):  # what app.html does on connect
            assert (await peer.connect("/"))["event"] == "connect"
            # Emitted by the connect handler, before the CONNECT answer: the client delivers it first.
            await peer.until_seen("my_response")
            assert peer.events("my_response") == [[{"data": "Connected", "count": 0}]]
            peer.emit("my_event", {"data": "I'm connected!"})
            assert await peer.event("my_response") == [{"data": "I'm connected!"}]

        alice.emit("my_broadcast_event", {"data": "to everyone"})
        for peer in (alice, bob):
            assert await peer.event("my_response") == [{"data": "to everyone"}]

        alice.emit("join", {"room": "lobby"})
        assert await alice.event("my_response") == [{"data": "Entered room: lobby"}]
        bob.emit("my_room_event", {"room": "lobby", "data": "hi lobby"})
        assert await alice.event("my_response") == [{"data": "hi lobby"}]
        bob.emit("my_event", {"data": "marker 1"})
        assert await bob.event("my_response") == [{"data": "marker 1"}]
        assert [{"data": "hi lobby"}] not in bob.events("my_response")  # bob is not in the room

        alice.emit("leave", {"room": "lobby"})
        assert await alice.event("my_response") == [{"data": "Left room: lobby"}]
        bob.emit("my_room_event", {"room": "lobby", "data": "anyone?"})
        alice.emit("my_event", {"data": "marker 2"})
        assert await alice.event("my_response") == [{"data": "marker 2"}]
        assert [{"data": "anyone?"}] not in alice.events("my_response")

        for peer in (alice, bob):
            peer.emit("join", {"room": "games"})
            assert await peer.event("my_response") == [{"data": "Entered room: games"}]
        alice.emit("close room", {"room": "games"})
        for peer in (alice, bob):
            assert await peer.event("my_response") == [{"data": "Room games is closing."}]
        bob.emit("my_room_event", {"room": "games", "data": "closed?"})
        for peer in (alice, bob):
            peer.emit("my_event", {"data": "marker 3"})
            assert await peer.event("my_response") == [{"data": "marker 3"}]
            assert [{"data": "closed?"}] not in peer.events("my_response")

        ticks.put_nowait(None)  # the background task's sleep(10) is over
        for peer in (alice, bob):
            assert await peer.event("my_response") == [{"data": "Server generated event"}]

        bob.emit("disconnect request")
        assert (await bob.expect("disconnect"))["reason"] == "io server disconnect"
        assert await bounded(disconnects.get()) == "server disconnect"
        alice.command("disconnect")
        assert (await alice.expect("disconnect"))["reason"] == "io client disconnect"
        assert await bounded(disconnects.get()) == "client disconnect"
    out = capsys.readouterr().out
    assert "Client disconnected, reason: server disconnect" in out
    assert "Client disconnected, reason: client disconnect" in out


async def test_app_py_with_the_python_client(app_example: Any) -> None:
    module, _ = app_example
    async with uvicorn_app(module.app) as (url, _port):
        client = PyClient()
        await client.connect(url, transports=["polling"])
        try:
            assert await client.event("my_response") == ({"data": "Connected", "count": 0},)
            await client.sio.emit("join", {"room": "r1"})
            assert await client.event("my_response") == ({"data": "Entered room: r1"},)
            await client.sio.emit("my_room_event", {"room": "r1", "data": "python"})
            assert await client.event("my_response") == ({"data": "python"},)
            await client.sio.emit("disconnect request")
            assert await bounded(client.disconnects.get()) == ("/", "server disconnect")
        finally:
            await client.sio.disconnect()


async def test_fiddle_py_says_hello_with_three_arguments(
    monkeypatch: pytest.MonkeyPatch, node_peers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(EXAMPLES)
    module = load_example("fiddle.py")
    disconnects = observe_disconnects(module)
    async with uvicorn_app(module.app) as (url, port):
        page = await request(port, "GET", "/")
        assert page.status == 200
        assert b"<title>Socket.IO Fiddle</title>" in page.body
        script = await request(port, "GET", "/static/fiddle.js")
        assert script.status == 200
        assert script.headers["content-type"] == "application/javascript"
        assert b"socket.on('hello'" in script.body

        peer = await SioPeer.start(node_peers, url, transports=["polling", "websocket"])
        connected = await peer.connect("/", auth={"token": "js"})
        await peer.until_seen("hello")
        assert peer.events("hello") == [[1, 2, {"hello": "you"}]]  # the tuple: three arguments
        assert f"connected auth={{'token': 'js'}} sid={connected['id']}" in capsys.readouterr().out

        client = PyClient()
        await client.connect(url, auth={"token": "py"})
        assert await client.event("hello") == (1, 2, {"hello": "you"})
        await client.disconnect()
        assert await bounded(disconnects.get()) in ("client disconnect", "transport close")
        peer.command("disconnect")
        await peer.expect("disconnect")
        assert await bounded(disconnects.get()) == "client disconnect"
    assert f"disconnected {connected['id']} client disconnect" in capsys.readouterr().out


async def test_latency_py_under_the_uvicorn_command(node_peers: Any) -> None:
    async with example_process("latency:app") as (url, port, _output):
        style = await request(port, "GET", "/static/style.css")
        assert style.status == 200
        assert style.headers["content-type"] == "text/css"
        peer = await SioPeer.start(node_peers, url, transports=["polling", "websocket"])
        assert (await peer.connect("/"))["event"] == "connect"
        for _ in range(5):  # what latency.html does: ping, wait for the pong, ping again
            peer.emit("ping_from_client")
            assert await peer.event("pong_from_server") == []
        client = PyClient()
        await client.connect(url, transports=["polling"])
        try:
            for _ in range(3):
                await client.sio.emit("ping_from_client")
                assert await client.event("pong_from_server") == ()
        finally:
            await client.disconnect()


async def test_fastapi_fiddle_py_shares_the_port_with_fastapi(node_peers: Any) -> None:
    import fastapi  # noqa: F401 - a test dependency: missing, this fails rather than skips

    async with example_process("fastapi-fiddle:combined_asgi_app") as (url, port, output):
        hello = await request(port, "GET", "/hello")
        assert hello.status == 200
        assert hello.json() == {"message": "Hello, World!"}
        page = await request(port, "GET", "/")
        assert page.status == 200
        assert b"<title>Socket.IO Fiddle</title>" in page.body
        script = await request(port, "GET", "/static/fiddle.js")  # FastAPI's StaticFiles
        assert script.status == 200
        assert b"socket.on('hello'" in script.body

        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        connected = await peer.connect("/")
        await peer.until_seen("hello")
        assert peer.events("hello") == [[1, 2, {"hello": "you"}]]
        await output.expect(f"connected auth=None sid={connected['id']}")  # no auth: None
        peer.command("disconnect")
        await peer.expect("disconnect")
        # Its disconnect handler takes the sid alone (python-socketio's legacy form).
        await output.expect(f"disconnected {connected['id']}")

        client = PyClient()
        await client.connect(url, auth={"user": "py"})
        assert await client.event("hello") == (1, 2, {"hello": "you"})
        await output.expect(f"connected auth={{'user': 'py'}} sid={client.sio.get_sid()}")
        await client.disconnect()
