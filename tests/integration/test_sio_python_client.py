"""The Socket.IO server against the ``python-socketio`` AsyncClient (a second, independent peer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

import sio
from tests.integration.rawclient import bounded

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}


def setup_server(seen: asyncio.Queue[Any]):
    def setup(io: sio.Server) -> None:
        @io.use
        def auth(socket: sio.Socket) -> None:
            if socket.handshake.auth.get("token") == "bad":
                raise sio.ConnectError("refused", {"why": "bad token"})

        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put_nowait(("connection", socket))
            socket.emit("welcome", socket.handshake.auth)
            socket.on("echo", lambda *args: socket.emit("echoed", *args))

            @socket.on("add")
            def add(a: int, b: int, ack: Any) -> None:
                ack(a + b)

            @socket.on("disconnect")
            def on_disconnect(reason: str) -> None:
                seen.put_nowait(("disconnect", reason))

        @io.of("/chat").on("connection")
        async def on_chat(socket: sio.Socket) -> None:
            await asyncio.sleep(0)  # a coroutine handler
            socket.join("lobby")
            socket.to("lobby").emit("joined", socket.id)
            socket.emit("in-chat", sorted(socket.rooms - {socket.id}))

    return setup


async def connected_client(running, mode: str, namespaces: list[str] | None = None, auth: Any = None):
    client = socketio.AsyncClient(reconnection=False)
    received: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()

    for namespace in namespaces or ["/"]:

        @client.on("*", namespace=namespace)
        async def any_event(event: str, *args: Any, namespace: str = namespace) -> None:
            received.put_nowait((namespace, event, args))

    await client.connect(
        running.url, transports=TRANSPORTS[mode], namespaces=namespaces or ["/"], auth=auth, wait_timeout=10
    )
    return client, received


async def next_event(received: asyncio.Queue[tuple[str, str, Any]], event: str) -> Any:
    while True:
        namespace, name, args = await bounded(received.get())
        if name == event:
            return namespace, args


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_python_client_events_acks_binary_and_disconnect(sio_server, mode: str) -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()
    running = await sio_server(setup_server(seen))
    client, received = await connected_client(running, mode, auth={"token": "ok"})
    try:
        kind, socket = await bounded(seen.get())
        assert kind == "connection"
        assert client.get_sid() == socket.id
        assert await next_event(received, "welcome") == ("/", ({"token": "ok"},))
        await client.emit("echo", ({"bin": b"\x00\x01\x02", "list": [1, 2.5, "x"]}, b"second"))
        assert await next_event(received, "echoed") == (
            "/",
            ({"bin": b"\x00\x01\x02", "list": [1, 2.5, "x"]}, b"second"),
        )
        assert await client.call("add", (2, 3), timeout=10) == 5
        client_answers = socket.timeout(5).emit_with_ack("question")
        client.on("question", lambda: "python answer")
        assert await client_answers == "python answer"
        # python-engineio drops packets queued while a POST is in flight when disconnect()
        # starts, and may close its WebSocket before flushing: let its queue drain first.
        await bounded(client.eio.queue.join())
    finally:
        await client.disconnect()
    kind, reason = await bounded(seen.get())
    assert kind == "disconnect"
    # The DISCONNECT packet arrives first unless the client closed its transport before
    # writing it (python-engineio over WebSocket does not wait for its write loop).
    assert reason in ("client namespace disconnect", "transport close")
    if mode == "polling":
        assert reason == "client namespace disconnect"


async def test_python_client_refused_by_middleware_gets_the_data(sio_server) -> None:
    running = await sio_server(setup_server(asyncio.Queue()))
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(running.url, transports=["websocket"], auth={"token": "bad"}, wait_timeout=10)
    assert errors == [{"message": "refused", "data": {"why": "bad token"}}]
    await client.disconnect()


async def test_python_client_namespaces_and_rooms(sio_server) -> None:
    running = await sio_server(setup_server(asyncio.Queue()))
    first, first_events = await connected_client(running, "websocket", ["/", "/chat"])
    second, _ = await connected_client(running, "upgrade", ["/chat"])
    try:
        assert await next_event(first_events, "in-chat") == ("/chat", (["lobby"],))
        namespace, args = await next_event(first_events, "joined")
        assert namespace == "/chat"
        assert args == (second.get_sid("/chat"),)
    finally:
        await first.disconnect()
        await second.disconnect()
