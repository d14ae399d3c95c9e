"""What the official protocol suites check that sio once got wrong, ported as our own tests.

- Heartbeats on time: the timers are armed for the exact deadline (``pingInterval`` after the
  handshake or the last pong, ``pingTimeout`` after a ping), the wheel's one loop callback is
  scheduled for that millisecond (not a coarse tick later), nothing fires early, and a session
  that misses its pong is gone (400, code 1) for the next poll. The suites' own check of the
  same ("a poll sent pingInterval + pingTimeout after the handshake gets 400", "three ping/pong
  rounds fit in a 1 s connect timeout") is a race against the clock, run by
  ``../shared/protocol-suites``; here it is the deadline and the wake-up that are asserted.
- A second WebSocket for a session that is upgrading or upgraded: accepted (101) and closed at
  once, as Node does, by the `ws` client the suites use; the session carries on.
- ``socket.handshake.query`` keeps repeated names as a list, as Node's parser does.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

import sio
from sio.engine import EngineServer
from tests.integration.rawclient import (
    CLOCK_SLACK,
    PollingClient,
    RawWebSocket,
    Sessions,
    bounded,
    open_packet,
    open_websocket,
    query,
    request,
)

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2


def millisecond_of(deadline: float) -> float:
    """The loop time of the millisecond tick that holds ``deadline`` (where the wheel wakes)."""
    return math.ceil(deadline * 1000 - 1e-6) / 1000


def awake_by(server: EngineServer, deadline: float) -> bool:
    """Whether the wheel's one loop callback is scheduled no later than ``deadline``'s millisecond
    (an earlier one is allowed: the wake-up a re-armed timer had asked for stays, and is spurious)."""
    wakeup = server.wheel.next_wakeup
    return wakeup is not None and wakeup <= millisecond_of(deadline) + 1e-9


def heartbeat_deadline(server: EngineServer, sid: str) -> float:
    """The deadline of the session's one heartbeat timer (next ping, or the pong's wait)."""
    timer = server.clients[sid]._heartbeat_timer
    assert timer.armed
    return timer.deadline


async def test_a_missed_pong_closes_the_session_on_its_deadline_over_polling(eio_server) -> None:
    """The suites' "closes the session upon ping timeout": handshake, a ping after pingInterval,
    no pong, the session closed with ``ping timeout`` once pingTimeout has passed (never
    earlier), the wheel woken for that very millisecond, and the next poll answered 400."""
    running = await eio_server(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    loop = asyncio.get_running_loop()
    before_open = loop.time()  # before the server arms the heartbeat
    client = await PollingClient.open(running.port)
    session = await sessions.next()

    # Armed between our two clock reads (opened_at is read in our connection handler, after the
    # server's): bracketed, so a preempted test cannot make it look early or late.
    ping_deadline = heartbeat_deadline(eio, client.sid)
    assert (
        before_open + PING_INTERVAL - CLOCK_SLACK
        <= ping_deadline
        <= session.opened_at + PING_INTERVAL + 0.0011
    )
    assert awake_by(eio, ping_deadline)

    response = await client.get()  # held until the ping
    assert response.packets() == ["2"]
    assert loop.time() >= ping_deadline - CLOCK_SLACK
    pong_deadline = heartbeat_deadline(eio, client.sid)
    assert pong_deadline >= ping_deadline + PING_TIMEOUT - CLOCK_SLACK
    assert awake_by(eio, pong_deadline)

    closed_at: list[float] = []
    session.socket.on("close", lambda *_: closed_at.append(loop.time()))
    assert await session.close_reason() == "ping timeout"
    assert closed_at[0] >= pong_deadline - CLOCK_SLACK
    response = await client.get()
    assert response.status == 400
    assert response.json() == {"code": 1, "message": "Session ID unknown"}


async def test_pings_follow_each_pong_by_exactly_the_ping_interval(eio_server) -> None:
    """The suites' "should send ping/pong packets": three rounds over WebSocket. Each pong re-arms
    the heartbeat for pingInterval after it (no drift carried over from a late tick), the loop is
    woken for that millisecond, and the ping never comes before it."""
    running = await eio_server(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=False)
    loop = asyncio.get_running_loop()
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()
    pongs: asyncio.Queue[float] = asyncio.Queue()
    session.socket.on("heartbeat", lambda: pongs.put_nowait(loop.time()))
    deadline = heartbeat_deadline(eio, handshake["sid"])
    for _ in range(3):
        assert awake_by(eio, deadline)
        assert await ws.recv() == "2"
        assert loop.time() >= deadline - CLOCK_SLACK
        ws.send("3")
        pong_at = await bounded(pongs.get())
        deadline = heartbeat_deadline(eio, handshake["sid"])
        assert deadline == pytest.approx(pong_at + PING_INTERVAL, abs=0.0011)
    assert await session.close_reason() == "ping timeout"  # the fourth ping is not answered


async def test_socket_io_connect_timeout_is_armed_for_its_deadline(sio_server) -> None:
    """A connection that never sends CONNECT: the connect timeout (1 s in the suites) fires on
    its deadline, never earlier, while heartbeats keep the session alive until then."""
    running = await sio_server(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, connect_timeout=1.0)
    io: sio.Server = running.app
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[tuple[str, float]] = loop.create_future()

    @io.engine.on("connection")
    def on_engine_connection(socket: Any) -> None:
        socket.on("close", lambda reason, _detail: closed.set_result((reason, loop.time())))

    # Read the clock before the session exists: the server arms its timer while opening it, and a
    # clock read in our own "connection" handler (called after the server's) could be preempted past it.
    before_open = loop.time()
    ws, _ = await open_websocket(running.port, "/socket.io/")
    while True:  # answer pings, as the suite's client does, until the server gives up
        event = await ws.recv_event()
        if event is None or event[0] == 0x8:
            break
        if event[1] == "2":
            ws.send("3")
    reason, at = await bounded(closed)
    assert reason == "forced close"  # the engine's reason: the Socket.IO layer closed it
    assert at >= before_open + 1.0 - CLOCK_SLACK


# -- a second WebSocket for the same session ----------------------------------------------


def _ws_url(running: Any, sid: str) -> str:
    return f"ws://127.0.0.1:{running.port}{query(transport='websocket', sid=sid)}"


async def _probe_with_ws(node_peers, running, sid: str):
    """The upgrade WebSocket, opened by node's `ws`, probed: ``2probe`` → ``3probe``."""
    ws = await node_peers(
        "ws_peer.js", f"ws://127.0.0.1:{running.port}{query(transport='websocket', sid=sid)}"
    )
    await ws.expect("open")
    ws.command("send", text="2probe")
    await ws.expect("message", text="3probe")
    return ws


async def _rival_is_accepted_then_closed(node_peers, running, sid: str) -> None:
    rival = await node_peers(
        "ws_peer.js", f"ws://127.0.0.1:{running.port}{query(transport='websocket', sid=sid)}"
    )
    await rival.expect("open")  # a 101, not a refusal the client would report as an error
    closed = await rival.expect("close")
    assert closed["code"] == 1008
    assert not rival.seen("unexpected-response") and not rival.seen("error")


@pytest.mark.parametrize("when", ["upgrading", "upgraded"])
async def test_a_second_websocket_for_the_session_is_accepted_and_closed(
    eio_server, node_peers, when: str
) -> None:
    """The suites' "ignores WebSocket connection with same sid after upgrade", with node's `ws`
    client: the rival gets its 101 and a close at once; the session keeps its transport and
    echoes ``4hello`` on the upgraded WebSocket."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=True)
    client = await PollingClient.open(running.port)
    session = await sessions.next()
    ws = await _probe_with_ws(node_peers, running, client.sid)
    if when == "upgrading":
        await _rival_is_accepted_then_closed(node_peers, running, client.sid)
        assert session.socket.upgrading
        ws.command("send", text="5")
    else:
        ws.command("send", text="5")
        assert await bounded(session.upgraded) == "websocket"
        await _rival_is_accepted_then_closed(node_peers, running, client.sid)
    assert await bounded(session.upgraded) == "websocket"
    ws.command("send", text="4hello")
    await ws.expect("message", text="4hello")
    assert session.socket.transport == "websocket"
    assert eio.clients_count == 1


async def test_other_websocket_refusals_still_answer_400(eio_server) -> None:
    """What stays refused before the 101: an unknown sid, and a WebSocket naming the polling
    transport (the suites expect 400 for both)."""
    running = await eio_server()
    client = await PollingClient.open(running.port)
    for target in (
        query(transport="websocket", sid="no-such-session"),
        query(transport="polling", sid=client.sid),
    ):
        response, ws = await RawWebSocket.attempt(running.port, target)
        assert ws is None
        assert response.status == 400


# -- the handshake query ------------------------------------------------------------------


async def test_handshake_query_keeps_repeated_names_as_a_list(sio_server) -> None:
    queries: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    running = await sio_server(
        lambda io: io.on("connection", lambda socket: queries.put_nowait(socket.handshake.query))
    )
    response = await request(running.port, "GET", query("/socket.io/", a="1&a=2&b=x+y&a=%E2%82%AC"))
    assert response.status == 200
    client = PollingClient(running.port, "/socket.io/", open_packet(response.packets()[0]), response)
    await client.send("40")
    received = await bounded(queries.get())
    assert received["a"] == ["1", "2", "€"]
    assert received["b"] == "x y"
    assert received["EIO"] == "4" and received["transport"] == "polling"


async def test_a_websocket_for_a_session_that_began_on_websocket_is_closed_not_upgraded(
    eio_server, node_peers
) -> None:
    """Only a polling session upgrades: a second WebSocket naming a session opened over WebSocket
    gets its 101 and a close, and the first one keeps the session."""
    running = await eio_server()
    eio: EngineServer = running.app
    sessions = Sessions(eio, echo=True)
    ws, handshake = await open_websocket(running.port)
    session = await sessions.next()
    await _rival_is_accepted_then_closed(node_peers, running, handshake["sid"])
    assert not session.socket.upgrading and session.socket.transport == "websocket"
    await ws.roundtrip("still mine")
    assert eio.clients_count == 1
