"""HTTP long-polling spoken by hand: payloads, binary, overlapping polls, closes and hostile bodies.

Every test runs under the built-in front end and under uvicorn, with a well-behaved
WebSocket client next to the one under test that must not notice anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sio.engine import EngineServer
from sio.engine.exchange import TURN_MESSAGES
from sio.engine.socket import PollingTransport
from tests.integration.rawclient import (
    SEP,
    Bystander,
    PollingClient,
    RawHttp,
    Sessions,
    after_call,
    bounded,
    held_get,
)


async def _setup(eio_server, echo: bool = False, **options):
    running = await eio_server(**options)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=echo)
    bystander = await Bystander.join(running.port, sessions)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    assert session.socket.id == client.sid
    return running, eio, sessions, bystander, client, session


async def test_a_poll_carries_the_whole_buffer_as_one_payload(eio_server) -> None:
    """Packets queued while no GET is held leave together, in order, in one payload."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    session.socket.send("one")
    session.socket.send(b"\x02")
    session.socket.send("three ☃")
    response = await client.get()
    assert response.status == 200
    assert response.headers["content-type"] == "text/plain; charset=UTF-8"
    assert response.packets() == ["4one", "bAg==", "4three ☃"]
    await bystander.check()
    assert eio.clients_count == 2


async def test_a_held_poll_is_answered_as_soon_as_there_is_something_to_send(eio_server) -> None:
    """An empty buffer: the GET waits; the next send answers it."""
    _, _, _, bystander, client, session = await _setup(eio_server)
    poll = await held_get(client, session)
    assert not poll.done()
    session.socket.send("now")
    response = await bounded(poll)
    assert response.packets() == ["4now"]
    await bystander.check()


async def test_a_post_with_several_packets_is_ok_and_delivered_in_order(eio_server) -> None:
    """One POST, several packets (text, binary, noop, pong): ``ok`` as text/html, messages in order."""
    _, _, _, bystander, client, session = await _setup(eio_server, echo=True)
    response = await client.post(SEP.join(["4first", "bAQID", "6", "3", "4", "4last ☃"]))
    assert (response.status, response.body) == (200, b"ok")
    assert response.headers["content-type"] == "text/html"
    assert [await session.message() for _ in range(4)] == ["first", b"\x01\x02\x03", "", "last ☃"]
    # Echoed back, binary as base64 in the polling payload.
    assert await client.receive() == ["4first", "bAQID", "4", "4last ☃"]
    await bystander.check()


def _first_call(emitter: Any, event: str) -> asyncio.Future[None]:
    """A future resolved at the first ``event`` (after the handlers registered before it)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    emitter.on(event, lambda *_: future.done() or future.set_result(None))
    return future


def _park_second_turn(monkeypatch: pytest.MonkeyPatch) -> asyncio.Future[None]:
    """Hold a POST's delivery after its first turn until the returned future is resolved."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    original = PollingTransport._deliver
    calls = 0

    def gated(self: PollingTransport) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            gate.add_done_callback(lambda _: original(self))
            return
        original(self)

    monkeypatch.setattr(PollingTransport, "_deliver", gated)
    return gate


async def test_a_huge_post_is_delivered_in_turns_and_answered_once_delivered(
    eio_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST of 3 * TURN_MESSAGES packets is delivered a turn's budget at a time (the next turn
    comes from the loop, so others are served in between); the POST is answered ``ok`` only once
    every packet is delivered, in order, as Node answers after ``onData``."""
    _, _, _, bystander, client, session = await _setup(eio_server)
    total = 3 * TURN_MESSAGES
    handled: list[str | bytes] = []
    session.socket.on("message", handled.append)
    gate = _park_second_turn(monkeypatch)
    post = asyncio.ensure_future(client.post(SEP.join(f"4{i}" for i in range(total))))
    await bounded(_first_call(session.socket, "message"))
    await bystander.check()  # served while the POST waits for its next turn
    assert 0 < len(handled) <= TURN_MESSAGES
    assert not post.done()
    gate.set_result(None)
    response = await bounded(post)
    assert (response.status, response.body) == (200, b"ok")
    assert handled == [str(i) for i in range(total)]


async def test_a_post_while_one_is_being_delivered_is_a_transport_error(
    eio_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients wait for a POST's answer before the next (engine.io-client does): a second POST
    while the first is still being delivered gets 400 and closes the session with ``transport
    error`` (Node: "data request overlap from client"); the first is still answered; the
    bystander is untouched."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    handled: list[str | bytes] = []
    session.socket.on("message", handled.append)
    gate = _park_second_turn(monkeypatch)
    first = asyncio.ensure_future(client.post(SEP.join(["4x"] * (3 * TURN_MESSAGES))))
    await bounded(_first_call(session.socket, "message"))
    second = await client.post("4y")
    assert second.status == 400
    assert await session.close_reason() == "transport error"
    gate.set_result(None)
    assert (await bounded(first)).status == 200
    assert "y" not in handled
    await bystander.check()
    assert eio.clients_count == 1


async def test_overlapping_polls_are_a_transport_error(eio_server) -> None:
    """A second GET while one is held: the session closes with ``transport error``, the first
    GET gets the close packet and the second a 400."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    first = await held_get(client, session)
    second = await client.get()
    assert second.status == 400
    assert await session.close_reason() == "transport error"
    response = await bounded(first)
    assert response.status == 200
    assert response.packets() == ["1"]
    assert eio.clients_count == 1
    # The sid is gone for good.
    gone = await client.get()
    assert gone.status == 400
    assert gone.json() == {"code": 1, "message": "Session ID unknown"}
    await bystander.check()


async def test_the_close_packet_over_polling_is_transport_close(eio_server) -> None:
    """A POST carrying ``1``: messages before it are delivered, the session closes with
    ``transport close`` and the held GET is answered with a noop."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    poll = await held_get(client, session)
    response = await client.post(SEP.join(["4bye", "1", "4never"]))
    assert (response.status, response.body) == (200, b"ok")
    assert await session.message() == "bye"
    assert await session.close_reason() == "transport close"
    assert session.messages.empty()
    assert (await bounded(poll)).packets() == ["6"]
    assert eio.clients_count == 1
    await bystander.check()


@pytest.mark.parametrize("excess", [1, 5000], ids=["just over", "far over"])
async def test_a_post_over_max_http_buffer_size_is_413_and_the_session_lives_on(
    eio_server, excess: int
) -> None:
    """A body over ``max_http_buffer_size``: 413, nothing delivered, the session kept (Node)."""
    _, eio, _, bystander, client, session = await _setup(eio_server, echo=True, max_http_buffer_size=100)
    response = await client.post("4" + "x" * (99 + excess))
    assert response.status == 413
    assert session.messages.empty()
    assert eio.clients_count == 2
    await client.roundtrip("still fine")
    assert await session.message() == "still fine"
    # Exactly at the limit is fine.
    await client.send("4" + "y" * 99)
    assert await session.message() == "y" * 99
    await bystander.check()


HOSTILE_POSTS = {
    # name: (body, extra headers, status, messages delivered before the failure, close reason)
    "binary content type": (
        b"4hello",
        {"Content-Type": "application/octet-stream"},
        400,
        [],
        "transport error",
    ),
    "unknown packet type": (b"4before\x1e9what\x1e4after", {}, 200, ["before"], "parse error"),
    "bad base64": (b"4before\x1eb!!!!", {}, 200, ["before"], "parse error"),
    "invalid UTF-8": (b"4caf\xc3(", {}, 200, [], "parse error"),
    "empty body": (b"", {}, 200, [], "parse error"),
    "empty packet": (b"4a\x1e\x1e4b", {}, 200, ["a"], "parse error"),
    "ping from the client": (b"2", {}, 200, [], "transport error"),
}


@pytest.mark.parametrize("case", HOSTILE_POSTS)
async def test_hostile_posts_close_only_their_session(eio_server, case: str) -> None:
    """Bad bodies: the right close reason, the packets before the bad one delivered, the held
    GET answered with the close packet, the session gone and the bystander untouched."""
    body, headers, status, delivered, reason = HOSTILE_POSTS[case]
    _, eio, _, bystander, client, session = await _setup(eio_server)
    poll = await held_get(client, session)
    response = await client.post(body, headers)
    assert response.status == status
    if status == 200:
        assert response.body == b"ok"
    assert [await session.message() for _ in delivered] == delivered
    assert await session.close_reason() == reason
    assert session.messages.empty()
    assert (await bounded(poll)).packets() == ["1"]
    assert eio.clients_count == 1
    await bystander.check()


async def test_server_close_on_polling_sends_the_buffer_then_the_close_packet(eio_server) -> None:
    """``socket.close()`` with no GET held: the next GET carries the buffered packets, the one
    after it the close packet (Node's order); the reason is ``forced close``."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    session.socket.send("last words")
    session.socket.close()
    session.socket.send("dropped: the socket is closing")
    assert (await client.get()).packets() == ["4last words"]
    assert not session.closed.done()
    assert (await client.get()).packets() == ["1"]
    assert await session.close_reason() == "forced close"
    assert eio.clients_count == 1
    await bystander.check()


async def test_a_pong_keeps_a_polling_session_alive(eio_server) -> None:
    """Server pings arrive on the poll; pongs posted back keep the session past ping_timeout."""
    running = await eio_server(ping_interval=0.1, ping_timeout=0.2)
    eio: EngineServer = running.app
    sessions = Sessions(eio)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    heartbeats: asyncio.Queue[None] = asyncio.Queue()
    session.socket.on("heartbeat", lambda: heartbeats.put_nowait(None))
    for _ in range(4):  # 4 pings span more than ping_interval + ping_timeout
        assert (await client.get()).packets() == ["2"]
        await client.send("3")
        await bounded(heartbeats.get())
    assert not session.closed.done()
    await client.roundtrip("alive")
    assert eio.clients_count == 1


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_a_client_vanishing_with_a_held_poll_is_a_transport_error(eio_server, how: str) -> None:
    """The connection of a held GET goes away (FIN or reset): ``transport error``."""
    _, eio, _, bystander, client, session = await _setup(eio_server)
    conn = await RawHttp.connect(client.port)
    arrived = after_call(session.socket._transport, "on_poll")
    conn.send_request("GET", client.target())
    await bounded(arrived)
    if how == "close":
        conn.close()
    else:
        conn.abort()
    assert await session.close_reason() == "transport error"
    assert eio.clients_count == 1
    await bystander.check()
