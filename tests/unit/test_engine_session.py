"""The engine's session logic on a fake clock and fake I/O: states, heartbeat, back-pressure, close, upgrade.

Beside the real-client tests (tests/integration): here every deadline is checked to the
millisecond, with no wall-clock waiting, by moving the fake loop's clock (tests/unit/fakes.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from sio.engine import CLOSED, CLOSING, OPEN, OPENING, EngineServer, EngineSocket, SessionState
from sio.engine.socket import PING_TIMEOUT_HOPS, WebSocketTransport
from sio.errors import LocalProtocolError
from tests.unit.fakes import FakeChannel, FakeExchange, FakeLoop

INTERVAL, TIMEOUT = 25.0, 20.0


class Harness:
    def __init__(self, **options: Any) -> None:
        self.loop = FakeLoop()
        options.setdefault("ping_interval", INTERVAL)
        options.setdefault("ping_timeout", TIMEOUT)
        self.engine = EngineServer(loop=self.loop, **options)
        self.closes: list[tuple[str, Any]] = []
        self.engine.on("connection", self._on_connection)
        self.sessions: list[EngineSocket] = []

    def _on_connection(self, socket: EngineSocket) -> None:
        self.sessions.append(socket)
        socket.on("close", lambda reason, description=None: self.closes.append((reason, description)))

    def websocket(self) -> tuple[EngineSocket, FakeChannel, WebSocketTransport]:
        channel = FakeChannel()
        exchange = FakeExchange("GET", "EIO=4&transport=websocket")
        exchange.authorized = True
        transport = self.engine.accept_websocket(exchange, channel)
        assert transport is not None
        return self.sessions[-1], channel, transport

    def polling(self) -> tuple[EngineSocket, FakeExchange]:
        handshake = FakeExchange("GET", "EIO=4&transport=polling")
        self.engine.handle_request(handshake)
        return self.sessions[-1], handshake

    def poll(self, sid: str) -> FakeExchange:
        exchange = FakeExchange("GET", f"EIO=4&transport=polling&sid={sid}")
        self.engine.handle_request(exchange)
        return exchange


@pytest.fixture
def h() -> Harness:
    return Harness()


# -- states ------------------------------------------------------------------------------------


def test_a_session_goes_opening_open_closed(h: Harness) -> None:
    socket, channel, _ = h.websocket()
    assert socket.ready_state is OPEN and socket.ready_state == "open"  # Node's string, too
    assert channel.sent[0].startswith('0{"sid":"' + socket.id)
    socket.close()
    assert socket.ready_state is CLOSED and h.closes == [("forced close", None)]
    assert channel.closed == 1000
    assert socket.id not in h.engine.clients


def test_illegal_transitions_are_refused(h: Harness) -> None:
    socket, _, _ = h.websocket()
    with pytest.raises(LocalProtocolError, match="open -> opening is not a transition"):
        socket._enter(OPENING)
    socket._on_close("transport close")  # type: ignore[arg-type]
    for state in SessionState:
        with pytest.raises(LocalProtocolError):
            socket._enter(state)


def test_nothing_is_sent_or_delivered_once_closed(h: Harness) -> None:
    socket, channel, transport = h.websocket()
    messages: list[Any] = []
    socket.on("message", messages.append)
    socket._on_close("transport close")  # type: ignore[arg-type]
    before = list(channel.sent)
    socket.send_messages(["late"])
    transport.on_message("4hello")
    assert channel.sent == before and messages == []


# -- heartbeat -----------------------------------------------------------------------------------


def test_the_first_ping_leaves_after_exactly_the_ping_interval(h: Harness) -> None:
    _socket, channel, _ = h.websocket()
    h.loop.advance(INTERVAL - 0.002)
    assert "2" not in channel.sent
    h.loop.advance(0.003)
    assert channel.sent[-1] == "2"


def test_no_pong_closes_with_ping_timeout_not_before_the_deadline(h: Harness) -> None:
    socket, _channel, _ = h.websocket()
    h.loop.advance(INTERVAL + 0.001)
    h.loop.advance(TIMEOUT - 0.002)
    assert socket.ready_state is OPEN
    h.loop.advance(0.003)
    assert h.closes == [("ping timeout", None)]


def test_a_pong_that_arrives_in_the_last_turns_wins(h: Harness) -> None:
    """The verdict waits PING_TIMEOUT_HOPS loop turns after the deadline for input already read."""
    socket, channel, transport = h.websocket()
    h.loop.advance(INTERVAL + 0.001)
    # Fire the deadline's timer but stop before the hops have run.
    h.loop._timers.sort()
    h.loop.now += TIMEOUT + 0.001
    while h.loop._timers and h.loop._timers[0][0] <= h.loop.now:
        h.loop._timers.pop(0)[2].run()
    assert PING_TIMEOUT_HOPS >= 1 and socket.ready_state is OPEN
    transport.on_message("3")  # the pong was in the socket's input
    h.loop.advance(0.001)
    assert socket.ready_state is OPEN
    h.loop.advance(INTERVAL)
    assert channel.sent.count("2") == 2  # the next ping, one interval after the pong


def test_every_pong_schedules_the_next_ping_one_interval_later(h: Harness) -> None:
    socket, channel, transport = h.websocket()
    h.loop.advance(INTERVAL + 0.001)
    for pings in (1, 2, 3):
        assert channel.sent.count("2") == pings
        h.loop.advance(TIMEOUT / 2)
        transport.on_message("3")  # the pong
        h.loop.advance(INTERVAL - 0.002)
        assert channel.sent.count("2") == pings  # not yet
        h.loop.advance(0.003)
    assert channel.sent.count("2") == 4 and socket.ready_state is OPEN


def test_input_we_hold_back_suspends_the_deadline_then_it_runs_afresh(h: Harness) -> None:
    socket, channel, _transport = h.websocket()
    h.loop.advance(INTERVAL + 0.001)
    channel.queued = True  # its input waits for its turn: the pong may be in it
    h.loop.advance(TIMEOUT + 60.0)
    assert socket.ready_state is OPEN
    channel.queued = False  # we read again: a whole ping timeout from now
    h.loop.advance(0.02)
    h.loop.advance(TIMEOUT - 0.05)
    assert socket.ready_state is OPEN
    h.loop.advance(0.05)
    assert h.closes == [("ping timeout", None)]


def test_input_held_by_a_peer_that_does_not_read_is_waited_for_one_more_timeout(h: Harness) -> None:
    socket, channel, _ = h.websocket()
    channel.held = True
    h.loop.advance(INTERVAL + 0.001)
    h.loop.advance(TIMEOUT + 0.01)
    assert socket.ready_state is OPEN
    h.loop.advance(TIMEOUT - 0.2)
    assert socket.ready_state is OPEN
    h.loop.advance(0.3)
    assert h.closes == [("ping timeout", None)]


def test_a_ping_from_the_client_is_a_protocol_error(h: Harness) -> None:
    _socket, _, transport = h.websocket()
    transport.on_message("2")
    assert h.closes == [("transport error", "invalid heartbeat direction")]


# -- back-pressure and closing ---------------------------------------------------------------------


def test_messages_wait_while_the_channel_is_paused_and_flush_on_drain(h: Harness) -> None:
    socket, channel, transport = h.websocket()
    channel.paused = True
    socket.send_messages(["a", b"\x01"])
    assert not socket.writable and channel.sent[-1].startswith("0{")
    channel.paused = False
    transport.on_drain()
    assert channel.sent[-2:] == ["4a", b"\x01"]  # the engine added the framing


def test_the_backlog_is_bounded_by_max_buffered_bytes() -> None:
    h = Harness(max_buffered_bytes=100)
    socket, channel, _ = h.websocket()
    channel.paused = True
    socket.send_messages(["x" * 60])
    assert socket.ready_state is OPEN
    socket.send_messages(["é" * 30])  # 60 UTF-8 bytes: over 100 in all
    assert h.closes == [("transport error", "outgoing buffer over max_buffered_bytes")]


def test_a_close_waits_for_the_buffer_then_for_the_close_timeout() -> None:
    h = Harness()
    socket, _handshake = h.polling()  # polling: the buffer waits for the next GET
    socket.send_messages(["bye"])
    socket.close()
    assert socket.ready_state is CLOSING
    h.loop.advance(TIMEOUT - 0.01)
    assert socket.ready_state is CLOSING
    h.loop.advance(0.02)
    assert socket.ready_state is CLOSED and h.closes == [("forced close", None)]


def test_a_close_on_a_held_poll_sends_the_buffer_and_the_close_packet(h: Harness) -> None:
    socket, _ = h.polling()
    socket.send_messages(["queued"])  # no GET held: buffered
    poll = h.poll(socket.id)
    assert poll.answer is not None and poll.answer[2] == b"4queued"
    poll = h.poll(socket.id)  # held
    socket.close()
    assert poll.answer is not None and poll.answer[2] == b"1"
    assert h.closes == [("forced close", None)]


# -- upgrade -------------------------------------------------------------------------------------


def _upgrade_channel(h: Harness, sid: str) -> tuple[FakeChannel, WebSocketTransport]:
    channel = FakeChannel()
    exchange = FakeExchange("GET", f"EIO=4&transport=websocket&sid={sid}")
    exchange.authorized = True
    transport = h.engine.accept_websocket(exchange, channel)
    assert transport is not None, f"refused (closed {channel.closed})"
    return channel, transport


def test_probe_then_upgrade_moves_the_session_to_the_websocket(h: Harness) -> None:
    socket, _ = h.polling()
    upgrades: list[str] = []
    socket.on("upgrade", upgrades.append)
    held = h.poll(socket.id)
    channel, transport = _upgrade_channel(h, socket.id)
    assert socket.upgrading and socket.transport == "polling"
    transport.on_message("2probe")
    assert channel.sent == ["3probe"]
    assert held.answer is not None and held.answer[2] == b"6"  # the noop that ends the poll
    socket.send_messages(["during"])  # buffered: no poll held
    transport.on_message("5")
    assert socket.transport == "websocket" and upgrades == ["websocket"] and not socket.upgrading
    assert channel.sent[-1] == "4during"  # the buffer moved to the WebSocket
    late = h.poll(socket.id)
    assert late.answer is not None and late.answer[0] == 400


def test_an_upgrade_that_never_completes_is_abandoned_after_the_upgrade_timeout() -> None:
    h = Harness(upgrade_timeout=10.0)
    socket, _ = h.polling()
    channel, transport = _upgrade_channel(h, socket.id)
    transport.on_message("2probe")
    h.loop.advance(9.99)
    assert socket.upgrading
    h.loop.advance(0.02)
    assert not socket.upgrading and channel.closed == 1000
    assert socket.ready_state is OPEN and socket.transport == "polling"


def test_a_second_websocket_for_an_upgrading_session_is_closed(h: Harness) -> None:
    socket, _ = h.polling()
    first, _ = _upgrade_channel(h, socket.id)
    second = FakeChannel()
    exchange = FakeExchange("GET", f"EIO=4&transport=websocket&sid={socket.id}")
    exchange.authorized = True
    assert h.engine.accept_websocket(exchange, second) is None  # as Node: accepted, then closed
    assert second.closed == 1008 and first.closed is None and socket.upgrading
