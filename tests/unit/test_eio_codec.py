"""Engine.IO v4 codec: packets (one per WebSocket frame) and HTTP long-polling payloads.

Byte vectors come from the Engine.IO protocol README, revision 4 (socketio/engine.io-protocol,
README.md, "This document describes the 4th version of the Engine.IO protocol"; the same text is
docs/engine.io-protocol/v4-current.md in socketio/socket.io, where it was read, as the stored copy
of the engine.io-protocol README was still revision 3), and from the Engine.IO side of the
"Sample session" in the Socket.IO v5 protocol README. Each group names the README section.
Property tests check round-trips and that arbitrary input only ever raises :class:`EngineIOError`.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio import _sio_core as core

RS = "\x1e"  # the record separator between packets of a polling payload

# --- README vectors: WebSocket frames (one packet per frame) ----------------------------

# (README section, frame, decoded packet)
FRAME_VECTORS = [
    # "Protocol" / "Heartbeat": the server pings, the client pongs.
    ("Heartbeat", "2", (core.EIO_PING, "")),
    ("Heartbeat", "3", (core.EIO_PONG, "")),
    # "Protocol" / "Upgrade": the probe exchange over the new WebSocket, then the upgrade.
    ("Upgrade", "2probe", (core.EIO_PING, "probe")),
    ("Upgrade", "3probe", (core.EIO_PONG, "probe")),
    ("Upgrade", "5", (core.EIO_UPGRADE, "")),
    ("Upgrade (noop to the pending GET)", "6", (core.EIO_NOOP, "")),
    # "Packet encoding" / "WebSocket": "4hello", message payload UTF-8 encoded.
    ("Packet encoding / WebSocket", "4hello", (core.EIO_MESSAGE, "hello")),
    # "Packet encoding" / "WebSocket": "Binary payloads are sent as is, without modification."
    ("Packet encoding / WebSocket", b"\x01\x02\x03\x04", (core.EIO_MESSAGE, b"\x01\x02\x03\x04")),
    # "History" / "From v3 to v4": the euro sign, no more character counting.
    ("History / From v3 to v4", "4€", (core.EIO_MESSAGE, "€")),
    # Socket.IO v5 README, "Sample session", WebSocket frames (Engine.IO layer).
    ("Sample session", "1", (core.EIO_CLOSE, "")),
    ("Sample session", '42["hello"]', (core.EIO_MESSAGE, '2["hello"]')),
    ("Sample session", "40/admin,", (core.EIO_MESSAGE, "0/admin,")),
    (
        "Sample session",
        '461-/admin,1[{"_placeholder":true,"num":0}]',
        (core.EIO_MESSAGE, '61-/admin,1[{"_placeholder":true,"num":0}]'),
    ),
]


@pytest.mark.parametrize(("section", "frame", "packet"), FRAME_VECTORS)
def test_readme_frame_decodes(section: str, frame: str | bytes, packet: tuple[int, str | bytes]) -> None:
    assert core.decode_eio_packet(frame) == packet


@pytest.mark.parametrize(("section", "frame", "packet"), FRAME_VECTORS)
def test_readme_frame_encodes(section: str, frame: str | bytes, packet: tuple[int, str | bytes]) -> None:
    packet_type, data = packet
    assert core.encode_eio_packet(packet_type, data) == frame
    # A text frame is a str and a binary frame is bytes, never the other way round.
    assert type(core.encode_eio_packet(packet_type, data)) is type(frame)


def test_readme_packet_type_table() -> None:
    # "Protocol": open 0, close 1, ping 2, pong 3, message 4, upgrade 5, noop 6.
    constants = [
        core.EIO_OPEN,
        core.EIO_CLOSE,
        core.EIO_PING,
        core.EIO_PONG,
        core.EIO_MESSAGE,
        core.EIO_UPGRADE,
        core.EIO_NOOP,
    ]
    assert constants == list(range(7))


# "Protocol" / "Handshake": the open packet carries the handshake as compact JSON. The first
# object is the README's example; the second is the Socket.IO README's "Sample session", request 1.
HANDSHAKES = [
    (
        {
            "sid": "lv_VI97HAXpY6yYWAAAC",
            "upgrades": ["websocket"],
            "pingInterval": 25000,
            "pingTimeout": 20000,
            "maxPayload": 1000000,
        },
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":1000000}',
    ),
    (
        {
            "sid": "lv_VI97HAXpY6yYWAAAC",
            "upgrades": ["websocket"],
            "pingInterval": 25000,
            "pingTimeout": 5000,
            "maxPayload": 1000000,
        },
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":5000,"maxPayload":1000000}',
    ),
]


@pytest.mark.parametrize(("handshake", "frame"), HANDSHAKES)
def test_readme_open_packet(handshake: dict[str, object], frame: str) -> None:
    encoded = core.encode_eio_packet(core.EIO_OPEN, core.encode_json(handshake).decode())
    assert encoded == frame
    packet_type, data = core.decode_eio_packet(frame)
    assert packet_type == core.EIO_OPEN
    assert json.loads(data) == handshake


# --- README vectors: HTTP long-polling payloads ------------------------------------------

# (README section, body, decoded packets, encoded packets the body is built from)
PAYLOAD_VECTORS = [
    # "Packet encoding" / "HTTP long-polling": 4hello\x1e2\x1e4world
    (
        "Packet encoding / HTTP long-polling",
        b"4hello\x1e2\x1e4world",
        [(core.EIO_MESSAGE, "hello"), (core.EIO_PING, ""), (core.EIO_MESSAGE, "world")],
        ["4hello", "2", "4world"],
    ),
    # "Packet encoding" / "HTTP long-polling": binary base64-encoded with a "b" prefix.
    (
        "Packet encoding / HTTP long-polling (binary)",
        b"4hello\x1ebAQIDBA==",
        [(core.EIO_MESSAGE, "hello"), (core.EIO_MESSAGE, b"\x01\x02\x03\x04")],
        ["4hello", b"\x01\x02\x03\x04"],
    ),
    # "History" / "From v3 to v4": "2:4€" in v3 is just "4€" (UTF-8) in v4.
    ("History / From v3 to v4", "4€".encode(), [(core.EIO_MESSAGE, "€")], ["4€"]),
    # Socket.IO v5 README, "Sample session", request 2 (POST) and request 3 (GET).
    ("Sample session, request 2", b"40", [(core.EIO_MESSAGE, "0")], ["40"]),
    (
        "Sample session, request 3",
        b'40{"sid":"wZX3oN0bSVIhsaknAAAI"}',
        [(core.EIO_MESSAGE, '0{"sid":"wZX3oN0bSVIhsaknAAAI"}')],
        ['40{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
    ),
    # Socket.IO v5 README, "Sample session", request 4.
    (
        "Sample session, request 4",
        b'42["hey","Jude"]',
        [(core.EIO_MESSAGE, '2["hey","Jude"]')],
        ['42["hey","Jude"]'],
    ),
    # Socket.IO v5 README, "Sample session", request 5: 42["hello"]\x1e42["world"]
    (
        "Sample session, request 5",
        b'42["hello"]\x1e42["world"]',
        [(core.EIO_MESSAGE, '2["hello"]'), (core.EIO_MESSAGE, '2["world"]')],
        ['42["hello"]', '42["world"]'],
    ),
]


@pytest.mark.parametrize(("section", "body", "packets", "encoded"), PAYLOAD_VECTORS)
def test_readme_payload_decodes(
    section: str, body: bytes, packets: list[tuple[int, str | bytes]], encoded: list[str | bytes]
) -> None:
    assert core.decode_eio_payload(body) == packets


@pytest.mark.parametrize(("section", "body", "packets", "encoded"), PAYLOAD_VECTORS)
def test_readme_payload_encodes(
    section: str, body: bytes, packets: list[tuple[int, str | bytes]], encoded: list[str | bytes]
) -> None:
    assert [core.encode_eio_packet(t, d) for t, d in packets] == encoded
    assert core.encode_eio_payload(encoded) == body


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_payload_body_types(convert) -> None:
    body = b"4hello\x1ebAQIDBA=="
    assert core.decode_eio_payload(convert(body)) == [
        (core.EIO_MESSAGE, "hello"),
        (core.EIO_MESSAGE, b"\x01\x02\x03\x04"),
    ]


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview])
def test_binary_frame_and_encoded_binary_are_bytes(convert) -> None:
    decoded = core.decode_eio_packet(convert(b"\x00\xff"))
    assert decoded == (core.EIO_MESSAGE, b"\x00\xff")
    assert type(decoded[1]) is bytes
    encoded = core.encode_eio_packet(core.EIO_MESSAGE, convert(b"\x00\xff"))
    assert type(encoded) is bytes
    assert encoded == b"\x00\xff"


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview])
def test_payload_encodes_every_bytes_like_as_base64(convert) -> None:
    assert core.encode_eio_payload(["4a", convert(b"\xfb\xff"), "6"]) == b"4a\x1eb+/8=\x1e6"


def test_empty_binary_message_round_trips_through_a_payload() -> None:
    assert core.encode_eio_payload([b""]) == b"b"
    assert core.decode_eio_payload(b"b") == [(core.EIO_MESSAGE, b"")]


def test_empty_payload_list_encodes_to_empty_body() -> None:
    assert core.encode_eio_payload([]) == b""


def test_text_message_may_contain_the_record_separator_in_a_frame() -> None:
    # Over WebSocket there is no separator: the frame is the packet, whatever it contains.
    assert core.decode_eio_packet("4a\x1eb") == (core.EIO_MESSAGE, "a\x1eb")


# --- decoding errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("", id="empty packet"),
        pytest.param("7", id="type 7"),
        pytest.param("9hello", id="type 9"),
        pytest.param("x", id="letter"),
        pytest.param("-1", id="minus"),
        pytest.param(" 4hello", id="leading space"),
        pytest.param("٤hello", id="non-ASCII digit four"),
        # The "b" prefix only exists in polling payloads: over WebSocket, binary is a binary frame.
        pytest.param("bAQIDBA==", id="base64 in a text frame"),
    ],
)
def test_bad_frame_raises_engineio_error(frame: str) -> None:
    with pytest.raises(core.EngineIOError):
        core.decode_eio_packet(frame)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty body"),
        pytest.param(b"\x1e", id="two empty packets"),
        pytest.param(b"4a\x1e", id="trailing separator"),
        pytest.param(b"\x1e4a", id="leading separator"),
        pytest.param(b"4a\x1e\x1e4b", id="empty packet in the middle"),
        pytest.param(b"7", id="unknown type"),
        pytest.param(b"4a\x1e8b", id="unknown type after a good packet"),
        pytest.param(b"4a\x1exyz\x1e4b", id="unknown type between good packets"),
    ],
)
def test_bad_payload_packet_raises_engineio_error(body: bytes) -> None:
    with pytest.raises(core.EngineIOError):
        core.decode_eio_payload(body)


@pytest.mark.parametrize(
    "b64",
    [
        pytest.param("AQIDBA", id="missing padding"),
        pytest.param("AQIDBA=", id="short padding"),
        pytest.param("AQIDBA===", id="extra padding"),
        pytest.param("AQ==IDBA", id="padding in the middle"),
        pytest.param("AQ!DBA==", id="character outside the alphabet"),
        pytest.param("AQ ID BA==", id="space"),
        pytest.param("AQID\nBA==", id="newline"),
        pytest.param("-_8=", id="URL-safe alphabet"),
        pytest.param("A", id="one character"),
        pytest.param("====", id="only padding"),
    ],
)
def test_bad_base64_raises_engineio_error(b64: str) -> None:
    with pytest.raises(core.EngineIOError):
        core.decode_eio_payload(("4ok\x1eb" + b64).encode())


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\xff", id="0xff"),
        pytest.param(b"\x80", id="lone continuation byte"),
        pytest.param(b"\xc0\x80", id="overlong NUL"),
        pytest.param(b"\xe0\x80\xaf", id="overlong slash"),
        pytest.param(b"\xed\xa0\x80", id="UTF-16 surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="above U+10FFFF"),
        pytest.param(b"\xe2\x82", id="truncated sequence"),
    ],
)
def test_invalid_utf8_in_polling_body_raises_engineio_error(bad: bytes) -> None:
    with pytest.raises(core.EngineIOError):
        core.decode_eio_payload(b"4hello\x1e4" + bad + b"\x1e4world")


@pytest.mark.parametrize(
    ("body", "before", "message"),
    [
        (b"4first\x1e2\x1e9bad\x1e4after", [(4, "first"), (2, "")], r"unknown Engine\.IO packet type"),
        (b"4first\x1ebnot base64!\x1e9bad", [(4, "first")], "base64"),
        (b"4first\x1e\x1e4after", [(4, "first")], "empty"),
        (b"9bad\x1e4after", [], r"unknown Engine\.IO packet type"),
        # Invalid UTF-8 is checked on the whole body first: no packet of it is trusted.
        (b"4first\x1e4\xff", [], "UTF-8"),
    ],
)
def test_decoding_stops_at_the_first_bad_packet(
    body: bytes, before: list[tuple[int, str | bytes]], message: str
) -> None:
    # As engine.io-parser's decodePayload: the packets before the bad one are decoded (and kept
    # on the error), nothing after it is.
    with pytest.raises(core.EngineIOError, match=message) as excinfo:
        core.decode_eio_payload(body)
    assert excinfo.value.packets == before


def test_engineio_error_is_a_protocol_error() -> None:
    assert issubclass(core.EngineIOError, core.ProtocolError)
    assert issubclass(core.ProtocolError, ValueError)


# --- encoding errors -------------------------------------------------------------------


@pytest.mark.parametrize("packet_type", [-1, 7, 52])
def test_encode_unknown_packet_type(packet_type: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_eio_packet(packet_type, "x")


@pytest.mark.parametrize(
    "packet_type",
    [core.EIO_OPEN, core.EIO_CLOSE, core.EIO_PING, core.EIO_PONG, core.EIO_UPGRADE, core.EIO_NOOP],
)
def test_encode_binary_only_for_message(packet_type: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_eio_packet(packet_type, b"\x01")


@pytest.mark.parametrize("data", [1, 1.5, ["a"], {"a": 1}, object()])
def test_encode_data_must_be_str_or_bytes(data: object) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_eio_packet(core.EIO_MESSAGE, data)  # type: ignore[arg-type]


@pytest.mark.parametrize("item", [None, 4, ("4", "a"), ["4a"]])
def test_encode_payload_items_must_be_encoded_packets(item: object) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_eio_payload(["4ok", item])  # type: ignore[list-item]


def test_encode_payload_lone_surrogate_is_an_encode_error() -> None:
    # A str holding a lone surrogate cannot be UTF-8 encoded, so the body cannot carry it: that
    # is "you asked to send what the wire cannot carry", i.e. EncodeError (a TypeError), not a
    # bare UnicodeEncodeError (a ValueError) that callers catching EncodeError would miss.
    with pytest.raises(core.EncodeError):
        core.encode_eio_payload(["4\ud800"])


# --- property tests --------------------------------------------------------------------

PACKET_TYPES = st.integers(min_value=0, max_value=6)
# Text without the record separator: in a polling payload the separator cannot be escaped.
PAYLOAD_TEXT = st.text(alphabet=st.characters(exclude_characters=RS, exclude_categories=("Cs",)))
BYTES_LIKE = st.binary(max_size=64) | st.binary(max_size=64).map(bytearray)


@settings(max_examples=300, deadline=None)
@given(packet_type=PACKET_TYPES, data=st.text())
def test_text_packet_round_trip(packet_type: int, data: str) -> None:
    frame = core.encode_eio_packet(packet_type, data)
    assert frame == str(packet_type) + data
    assert core.decode_eio_packet(frame) == (packet_type, data)


@settings(max_examples=300, deadline=None)
@given(data=BYTES_LIKE)
def test_binary_packet_round_trip(data: bytes | bytearray) -> None:
    frame = core.encode_eio_packet(core.EIO_MESSAGE, data)
    assert frame == bytes(data)
    assert core.decode_eio_packet(frame) == (core.EIO_MESSAGE, bytes(data))


MIXED_PACKETS = st.lists(
    st.tuples(PACKET_TYPES, PAYLOAD_TEXT) | st.tuples(st.just(core.EIO_MESSAGE), BYTES_LIKE),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(packets=MIXED_PACKETS)
def test_payload_round_trip(packets: list[tuple[int, str | bytes | bytearray]]) -> None:
    body = core.encode_eio_payload([core.encode_eio_packet(t, d) for t, d in packets])
    expected = [(t, d if isinstance(d, str) else bytes(d)) for t, d in packets]
    assert core.decode_eio_payload(body) == expected
    # The binary packets are the only "b"-prefixed parts, each standard, padded base64.
    parts = body.decode().split(RS)
    for part, (_, data) in zip(parts, packets, strict=True):
        if isinstance(data, str):
            assert part[1:] == data
        else:
            assert part == "b" + base64.b64encode(data).decode()


# Inputs biased towards the interesting characters: type digits, "b", separators, base64.
EIO_ALPHABET = "0123456789b\x1e=+/AQIDBAaz€\x00 "
EIO_TEXT_FUZZ = st.text() | st.text(alphabet=EIO_ALPHABET, max_size=40)
EIO_BYTES_FUZZ = (
    st.binary()
    | EIO_TEXT_FUZZ.map(lambda s: s.encode("utf-8", "surrogatepass"))
    | st.lists(st.sampled_from([b"4", b"b", b"\x1e", b"AQ==", b"\xff", b"\xe2\x82", b"7", b"="])).map(
        b"".join
    )
)


def _check_decoded_packets(packets: list[tuple[int, str | bytes]]) -> None:
    for packet_type, data in packets:
        assert 0 <= packet_type <= 6
        assert type(data) is str or (type(data) is bytes and packet_type == core.EIO_MESSAGE)


@settings(max_examples=300, deadline=None)
@given(frame=EIO_TEXT_FUZZ | EIO_BYTES_FUZZ)
def test_decode_packet_only_raises_engineio_error(frame: str | bytes) -> None:
    try:
        packet = core.decode_eio_packet(frame)
    except core.EngineIOError:
        return
    _check_decoded_packets([packet])


@settings(max_examples=300, deadline=None)
@given(body=EIO_TEXT_FUZZ | EIO_BYTES_FUZZ)
def test_decode_payload_only_raises_engineio_error(body: str | bytes) -> None:
    try:
        packets = core.decode_eio_payload(body)
    except core.EngineIOError:
        return
    text = body if isinstance(body, str) else body.decode("utf-8")
    assert len(packets) == text.count(RS) + 1
    _check_decoded_packets(packets)
