"""Engine.IO v3 sessions (``allow_eio3``) on a fake clock and fake I/O: the handshake, the client's
heartbeat and its deadline to the millisecond, the v3 framing on both transports, and the v4
behaviour left as it was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sio.engine import OPEN, EngineServer, EngineSocket, prepare_messages
from sio.engine.exchange import EncodedPacket, SharedPacket
from sio.engine.socket import Eio3PollingTransport, Eio3WebSocketTransport, WebSocketTransport
from tests.unit.fakes import FakeChannel, FakeExchange, FakeLoop

INTERVAL, TIMEOUT = 25.0, 20.0
DEADLINE = INTERVAL + TIMEOUT  # v3: the client's next ping is due within both, as in Node


class RecordingChannel(FakeChannel):
    """A FakeChannel that also keeps the packets as given (to see that shared ones are shared)."""

    __slots__ = ("given",)

    def __init__(self) -> None:
        super().__init__()
        self.given: list[EncodedPacket] = []

    def send(self, data: EncodedPacket) -> None:
        self.given.append(data)
        super().send(data)


class Harness:
    def __init__(self, **options: Any) -> None:
        self.loop = FakeLoop()
        options.setdefault("allow_eio3", True)
        self.engine = EngineServer(loop=self.loop, ping_interval=INTERVAL, ping_timeout=TIMEOUT, **options)
        self.closes: list[tuple[str, Any]] = []
        self.sessions: list[EngineSocket] = []
        self.messages: list[str | bytes] = []
        self.engine.on("connection", self._on_connection)

    def _on_connection(self, socket: EngineSocket) -> None:
        self.sessions.append(socket)
        socket.on("message", self.messages.append)
        socket.on("close", lambda reason, description=None: self.closes.append((reason, description)))

    def websocket(
        self, query: str = "EIO=3&transport=websocket"
    ) -> tuple[EngineSocket, RecordingChannel, Any]:
        channel = RecordingChannel()
        exchange = FakeExchange("GET", query)
        assert self.engine.check_websocket(exchange) is None
        exchange.authorized = True
        transport = self.engine.accept_websocket(exchange, channel)
        assert transport is not None
        return self.sessions[-1], channel, transport

    def polling(self, query: str = "EIO=3&transport=polling") -> tuple[EngineSocket, FakeExchange]:
        handshake = FakeExchange("GET", query)
        self.engine.handle_request(handshake)
        return self.sessions[-1], handshake

    def request(self, method: str, sid: str, body: bytes = b"", **headers: str) -> FakeExchange:
        exchange = FakeExchange(method, f"EIO=3&transport=polling&sid={sid}", body)
        exchange.headers.update(headers)
        self.engine.handle_request(exchange)
        return exchange


@pytest.fixture
def h() -> Harness:
    return Harness()


def answer(exchange: FakeExchange) -> tuple[int, dict[str, str], bytes]:
    assert exchange.answer is not None, "not answered"
    status, headers, body = exchange.answer
    return status, dict(headers), body


# -- the handshake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["EIO=3&transport=polling", "EIO=3&transport=websocket&sid="])
def test_without_allow_eio3_a_v3_handshake_is_refused_with_code_5(query: str) -> None:
    h = Harness(allow_eio3=False)
    exchange = FakeExchange("GET", query)
    if "websocket" in query:
        refusal = h.engine.check_websocket(exchange)
        assert refusal is not None and (refusal.code, refusal.status) == (5, 400)
    else:
        h.engine.handle_request(exchange)
        status, _, body = answer(exchange)
        assert (status, json.loads(body)) == (400, {"code": 5, "message": "Unsupported protocol version"})
    assert h.sessions == []


def test_a_v3_polling_handshake_opens_a_v3_session_with_a_v3_payload(h: Harness) -> None:
    socket, handshake = h.polling()
    assert socket.protocol == 3 and isinstance(socket._transport, Eio3PollingTransport)
    status, headers, body = answer(handshake)
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=UTF-8"
    length, _, packet = body.decode().partition(":")
    assert int(length) == len(packet) and packet.startswith("0")
    assert json.loads(packet[1:]) == {
        "sid": socket.id,
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1_000_000,  # as Node 6 sends it to v3 clients too
    }


@pytest.mark.parametrize("eio", ["EIO=2&", "EIO=5&", ""])
def test_any_eio_but_4_is_v3_as_in_node(h: Harness, eio: str) -> None:
    socket, _ = h.polling(f"{eio}transport=polling")
    assert socket.protocol == 3


def test_a_v4_session_is_untouched_by_allow_eio3(h: Harness) -> None:
    socket, _, transport = h.websocket("EIO=4&transport=websocket")
    assert socket.protocol == 4 and type(transport) is WebSocketTransport
    h.loop.advance(INTERVAL + 0.001)
    assert socket._transport.channel.sent[-1] == "2"  # type: ignore[attr-defined]  (the server pings)


def test_jsonp_polling_is_refused(h: Harness) -> None:
    exchange = FakeExchange("GET", "EIO=3&transport=polling&j=0")
    h.engine.handle_request(exchange)
    status, _, body = answer(exchange)
    assert (status, json.loads(body)) == (400, {"code": 3, "message": "JSONP polling is not supported"})


# -- the heartbeat: the client pings ------------------------------------------------------------------


def test_the_server_never_pings_and_answers_each_ping_with_a_pong(h: Harness) -> None:
    socket, channel, transport = h.websocket()
    heartbeats: list[None] = []
    socket.on("heartbeat", lambda: heartbeats.append(None))
    h.loop.advance(INTERVAL + 1.0)
    assert "2" not in channel.sent
    transport.on_message("2")
    assert channel.sent[-1] == "3" and heartbeats == [None] and socket.ready_state is OPEN


def test_no_ping_closes_with_ping_timeout_at_interval_plus_timeout_not_before(h: Harness) -> None:
    socket, _, _ = h.websocket()
    h.loop.advance(DEADLINE - 0.002)
    assert socket.ready_state is OPEN
    h.loop.advance(0.003)
    assert h.closes == [("ping timeout", None)]


def test_each_ping_restarts_the_deadline(h: Harness) -> None:
    socket, _, transport = h.websocket()
    for _ in range(3):
        h.loop.advance(DEADLINE - 1.0)
        transport.on_message("2")
    h.loop.advance(DEADLINE - 0.002)
    assert socket.ready_state is OPEN
    h.loop.advance(0.003)
    assert h.closes == [("ping timeout", None)]


def test_a_pong_from_a_v3_client_is_a_protocol_error(h: Harness) -> None:
    _, _, transport = h.websocket()
    transport.on_message("3")
    assert h.closes == [("transport error", "invalid heartbeat direction")]


def test_input_we_hold_back_suspends_the_deadline_then_a_whole_wait_runs_afresh(h: Harness) -> None:
    socket, channel, _ = h.websocket()
    channel.queued = True  # its input waits for its turn: the ping may be in it
    h.loop.advance(DEADLINE + 60.0)
    assert socket.ready_state is OPEN
    channel.queued = False
    h.loop.advance(0.02)
    h.loop.advance(DEADLINE - 0.05)
    assert socket.ready_state is OPEN
    h.loop.advance(0.05)
    assert h.closes == [("ping timeout", None)]


def test_the_deadline_carries_over_an_upgrade(h: Harness) -> None:
    """Node clears it when the transport changes and never re-arms it (a ping's ``refresh()`` on a
    cleared timer does nothing): an upgraded v3 client that stops pinging would never time out."""
    socket, _ = h.polling()
    h.loop.advance(10.0)
    h.request("POST", socket.id, b"1:2")  # a ping over polling
    channel = RecordingChannel()
    exchange = FakeExchange("GET", f"EIO=3&transport=websocket&sid={socket.id}")
    assert h.engine.check_websocket(exchange) is None
    upgrade = h.engine.accept_websocket(exchange, channel)
    assert isinstance(upgrade, Eio3WebSocketTransport)
    upgrade.on_message("2probe")
    assert channel.sent == ["3probe"]
    upgrade.on_message("5")
    assert socket.transport == "websocket"
    h.loop.advance(DEADLINE - 0.002)  # from the ping
    assert socket.ready_state is OPEN
    h.loop.advance(0.003)
    assert h.closes == [("ping timeout", None)]


# -- WebSocket framing ----------------------------------------------------------------------------------


def test_binary_messages_carry_the_type_byte_on_websocket(h: Harness) -> None:
    socket, channel, transport = h.websocket()
    socket.send_messages(["héllo", b"\x00\xff"])
    assert channel.sent[-2:] == ["4héllo", b"\x04\x00\xff"]
    transport.on_message(b"\x04\x01\x02")
    transport.on_message("4text")
    transport.on_message("b4AQI=")  # a base64 binary message, as a forceBase64 client sends it
    assert h.messages == [b"\x01\x02", "text", b"\x01\x02"]


def test_without_binary_support_binary_messages_are_base64_text(h: Harness) -> None:
    socket, channel, _ = h.websocket("EIO=3&transport=websocket&b64=1")
    socket.send_messages([b"\x00\xff"])
    assert channel.sent[-1] == "b4AP8="


def test_a_broadcast_writes_one_shared_v3_frame_to_every_v3_recipient(h: Harness) -> None:
    sessions = [h.websocket() for _ in range(3)]
    v4_socket, v4_channel, _ = h.websocket("EIO=4&transport=websocket")
    prepared = prepare_messages(["text", b"\x01"])
    for socket, _, _ in sessions:
        socket.send_prepared(prepared)
    v4_socket.send_prepared(prepared)
    given = [channel.given[-1] for _, channel, _ in sessions]
    assert all(isinstance(p, SharedPacket) and p.data == b"\x04\x01" for p in given)
    assert given[0] is given[1] is given[2]  # framed once for all of them
    assert v4_channel.given[-1] is prepared[1]  # and the v4 recipient got the v4 packet itself
    assert [channel.given[-2] for _, channel, _ in sessions] == [prepared[0]] * 3  # text: the same


def test_a_bad_frame_is_a_parse_error(h: Harness) -> None:
    _, _, transport = h.websocket()
    transport.on_message(b"\x09junk")
    assert h.closes == [("parse error", "unknown Engine.IO packet type 9 in a binary packet")]


# -- polling --------------------------------------------------------------------------------------------


def test_polling_answers_are_length_prefixed_and_count_utf16_code_units(h: Harness) -> None:
    socket, _ = h.polling()
    socket.send_messages(["é😀", b"\x01\x02"])
    status, headers, body = answer(h.request("GET", socket.id))
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    # A client with binary support (no b64): a binary payload, text as UTF-8 with its byte length.
    assert body == b"\x00\x07\xff4\xc3\xa9\xf0\x9f\x98\x80\x01\x03\xff\x04\x01\x02"


def test_a_b64_client_gets_text_payloads_with_base64_binary(h: Harness) -> None:
    socket, _ = h.polling("EIO=3&transport=polling&b64=1")
    socket.send_messages(["é😀", b"\x01\x02"])
    status, headers, body = answer(h.request("GET", socket.id))
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert body.decode() == "4:4é😀6:b4AQI="


def test_posts_take_text_and_binary_payloads(h: Harness) -> None:
    socket, _ = h.polling()
    post = h.request("POST", socket.id, "4:4héé6:b4AQI=".encode())
    assert answer(post)[0::2] == (200, b"ok")
    post = h.request(
        "POST",
        socket.id,
        b"\x00\x02\xff4a\x01\x03\xff\x04\x05\x06",
        **{"content-type": "application/octet-stream"},
    )
    assert answer(post)[0::2] == (200, b"ok")
    assert h.messages == ["héé", b"\x01\x02", "a", b"\x05\x06"] and socket.ready_state is OPEN


def test_a_ping_over_polling_is_answered_on_the_next_poll(h: Harness) -> None:
    socket, _ = h.polling()
    h.request("POST", socket.id, b"1:2")
    assert answer(h.request("GET", socket.id))[2] == b"1:3"


@pytest.mark.parametrize(
    ("body", "content_type", "delivered", "detail"),
    [
        (b"6:4hello3:4\xff", "text/plain;charset=UTF-8", [], "polling payload is not valid UTF-8"),
        (b"6:4hello9:4", "text/plain;charset=UTF-8", ["hello"], "packet length 9 runs past the end"),
        (b"6:4hellox:4", "text/plain;charset=UTF-8", ["hello"], "invalid packet length 'x'"),
        (b"\x00\x06\xff4hello\x07", "application/octet-stream", ["hello"], "binary payload: packet kind 7"),
    ],
)
def test_a_malformed_post_delivers_the_packets_before_then_closes_with_parse_error(
    h: Harness, body: bytes, content_type: str, delivered: list[str], detail: str
) -> None:
    socket, _ = h.polling()
    post = h.request("POST", socket.id, body, **{"content-type": content_type})
    assert answer(post)[0] == 200
    assert h.messages == delivered
    [(reason, description)] = h.closes
    assert reason == "parse error" and description.startswith(detail)


def test_a_v4_session_still_refuses_binary_posts(h: Harness) -> None:
    socket, _ = h.polling("EIO=4&transport=polling")
    exchange = FakeExchange("POST", f"EIO=4&transport=polling&sid={socket.id}", b"\x00")
    exchange.headers["content-type"] = "application/octet-stream"
    h.engine.handle_request(exchange)
    assert answer(exchange)[0] == 400
    assert h.closes == [("transport error", "binary content type on polling")]
