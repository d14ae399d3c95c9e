"""Forgiving handlers, as in Node: a handler gets as many of the client's arguments as it takes.

JavaScript ignores extra arguments, so a Node handler written for one argument keeps working
when a client sends two, or asks for an ack the handler never calls (the client's ack times out).
sio reads each handler's positional arity once, when it is registered, and drops the rest;
failures are logged with the event, the namespace and the socket id. Driven by the official
socket.io-client under both front ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import sio
from tests.integration.siopeer import SioPeer

TIMEOUT = 15


class Handlers:
    """The server's handlers of this module; what each saw, awaitable."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self.sockets: asyncio.Queue[sio.Socket] = asyncio.Queue()

    async def next(self) -> tuple[str, tuple[Any, ...]]:
        return await asyncio.wait_for(self.seen.get(), TIMEOUT)

    def record(self, name: str, *args: Any) -> None:
        self.seen.put_nowait((name, args))

    def on_one(self, value: Any) -> None:  # a bound method: self does not count
        self.record("one", value)

    def setup(self, io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            self.sockets.put_nowait(socket)
            socket.on("one", self.on_one)
            socket.on("none", lambda: self.record("none"))
            socket.on("two", lambda a, b: self.record("two", a, b))
            socket.on("double", lambda value, ack: ack(value * 2))
            socket.on("defaults", lambda a, ack, b="b": ack(a, b))  # positional, as JS: b stays "b"
            socket.on("varargs", lambda *args: self.record("varargs", *args[:-1], callable(args[-1])))
            socket.once("once", lambda value: self.record("once", value))
            # A handler returning what emit returns (True): never an ack in sio's own API.
            socket.on("returns", lambda value: socket.emit("echo", value))

            @socket.on("boom")
            def boom(value: Any) -> None:
                raise ValueError(f"boom {value}")

            @socket.on("async-boom")
            async def async_boom(value: Any) -> None:
                await asyncio.sleep(0)
                raise ValueError(f"async boom {value}")

            socket.on_any(lambda event: self.record("any", event))


@pytest.fixture
async def connected(sio_server, node_peers) -> tuple[Handlers, SioPeer, sio.Socket]:
    handlers = Handlers()
    running = await sio_server(handlers.setup)
    peer = await SioPeer.start(node_peers, running.url, transports=["websocket"])
    await peer.connect()
    socket = await asyncio.wait_for(handlers.sockets.get(), TIMEOUT)
    return handlers, peer, socket


async def _next_not_any(handlers: Handlers) -> tuple[str, tuple[Any, ...]]:
    while True:
        name, args = await handlers.next()
        if name != "any":
            return name, args


async def test_extra_arguments_are_dropped(connected, caplog: pytest.LogCaptureFixture) -> None:
    handlers, peer, _ = connected
    caplog.set_level(logging.ERROR, logger="sio")
    peer.emit("one", 1, 2, 3)
    assert await _next_not_any(handlers) == ("one", (1,))
    peer.emit("none", "x")
    assert await _next_not_any(handlers) == ("none", ())
    peer.emit("two", "a", "b", "c")
    assert await _next_not_any(handlers) == ("two", ("a", "b"))
    peer.emit("varargs", 1, 2)  # *args takes everything (no ack asked: the last is the 2)
    assert await _next_not_any(handlers) == ("varargs", (1, False))
    peer.emit("once", "first", "extra")
    assert await _next_not_any(handlers) == ("once", ("first",))
    assert not [r for r in caplog.records if r.name == "sio" and r.levelno >= logging.ERROR]


async def test_an_ack_the_handler_cannot_take_is_never_sent(
    connected, caplog: pytest.LogCaptureFixture
) -> None:
    handlers, peer, _ = connected
    caplog.set_level(logging.ERROR, logger="sio")
    unanswered = await peer.call("one", 5, timeout=0.3)  # the handler takes one argument: no ack
    assert unanswered["error"] == "operation has timed out"
    assert await _next_not_any(handlers) == ("one", (5,))
    returned = await peer.call("returns", "v", timeout=0.3)  # emit's True is not an answer
    assert returned["error"] == "operation has timed out"
    await peer.until_seen("echo")
    assert peer.events("echo") == [["v"]]
    # The same connection goes on: a handler that takes the ack answers.
    assert (await peer.call("double", 21))["args"] == [42]
    assert (await peer.call("defaults", "a"))["args"] == ["a", "b"]
    assert not [r for r in caplog.records if r.name == "sio" and r.levelno >= logging.ERROR]


async def test_catch_all_listeners_and_server_ack_callbacks_take_what_they_can(connected) -> None:
    handlers, peer, socket = connected
    peer.emit("two", 1, 2)
    assert await handlers.next() == ("any", ("two",))  # on_any gets (event, *args): it takes the event
    await peer.reply("question", [1, 2, 3])  # the client answers with three values
    answered: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    socket.emit("question", lambda first: answered.set_result((first,)))
    assert await asyncio.wait_for(answered, TIMEOUT) == (1,)
    timed: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    socket.timeout(5).emit("question", lambda err, first: timed.set_result((err, first)))
    assert await asyncio.wait_for(timed, TIMEOUT) == (None, 1)


class Errors(logging.Handler):
    """The ``sio`` logger's error records, awaitable."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: asyncio.Queue[logging.LogRecord] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.put_nowait(record)

    async def next(self) -> logging.LogRecord:
        return await asyncio.wait_for(self.records.get(), TIMEOUT)


async def test_a_failing_handler_is_logged_with_event_namespace_and_socket(connected) -> None:
    _, peer, socket = connected
    errors = Errors()
    logger = logging.getLogger("sio")
    logger.addHandler(errors)
    try:
        for event in ("boom", "async-boom"):
            peer.emit(event, 7)
            record = await errors.next()
            message = record.getMessage()
            assert f"for event {event!r} on namespace '/' (socket {socket.id})" in message, message
            assert record.exc_info is not None and "boom 7" in str(record.exc_info[1])
    finally:
        logger.removeHandler(errors)
    # The socket still works.
    assert (await peer.call("double", 2))["args"] == [4]
