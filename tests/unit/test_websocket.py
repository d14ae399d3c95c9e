"""The server-side WebSocket codec of the core (RFC 6455).

Covers the incremental ``FrameParser`` (framing, unmasking, reassembly, every
protocol error with its close code), the frame encoders and the opening-handshake
helpers. Client frames are built here byte by byte (``client_frame``), independently
of the encoders under test, so that parser and encoders are checked separately.
"""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio import _sio_core as core
from tests.unit.wsframes import MASK, client_frame, client_streams, close_payload, masks, split_at, texts

OP_CONT = core.OP_CONTINUATION
OP_TEXT = core.OP_TEXT
OP_BINARY = core.OP_BINARY
OP_CLOSE = core.OP_CLOSE
OP_PING = core.OP_PING
OP_PONG = core.OP_PONG

OTHER_MASK = b"\xa5\x0f\xc3\x99"
ZERO_MASK = b"\x00\x00\x00\x00"

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]

SETTINGS = settings(max_examples=200, deadline=None)


# --- helpers -------------------------------------------------------------------------


def feed_chunks(parser: core.FrameParser, chunks: list[bytes]) -> list[tuple[int, object]]:
    events: list[tuple[int, object]] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def parse(data: bytes, **kwargs: object) -> list[tuple[int, object]]:
    return core.FrameParser(**kwargs).feed(data)


def text_of_byte_length(n: int) -> str:
    """A str whose UTF-8 encoding is exactly ``n`` bytes, mostly two-byte characters."""
    return "é" * (n // 2) + "a" * (n % 2)


def binary_pattern(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


# --- parsing: shapes, RFC examples --------------------------------------------------


def test_opcode_constants_match_rfc_6455() -> None:
    assert (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG) == (0x0, 0x1, 0x2, 0x8, 0x9, 0xA)


def test_rfc_masked_text_example() -> None:
    data = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert parse(data) == [(OP_TEXT, "Hello")]


def test_rfc_masked_pong_example() -> None:
    data = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert parse(data) == [(OP_PONG, b"Hello")]


@pytest.mark.parametrize(
    ("hex_stream", "expected"),
    [
        ("81 05 48 65 6c 6c 6f", [(OP_TEXT, "Hello")]),
        ("01 03 48 65 6c 80 02 6c 6f", [(OP_TEXT, "Hello")]),
        ("89 05 48 65 6c 6c 6f", [(OP_PING, b"Hello")]),
    ],
    ids=["text", "fragmented-text", "ping"],
)
def test_rfc_unmasked_examples_when_mask_not_required(hex_stream: str, expected: list) -> None:
    assert parse(bytes.fromhex(hex_stream), require_mask=False) == expected


@pytest.mark.parametrize(
    ("opcode", "payload", "expected"),
    [
        (OP_TEXT, "héllo €😀".encode(), (OP_TEXT, "héllo €😀")),
        (OP_BINARY, b"\x00\xff\x80", (OP_BINARY, b"\x00\xff\x80")),
        (OP_PING, b"ping!", (OP_PING, b"ping!")),
        (OP_PONG, b"pong!", (OP_PONG, b"pong!")),
        (OP_CLOSE, close_payload(1001, "gone"), (OP_CLOSE, (1001, "gone"))),
        (OP_CLOSE, b"", (OP_CLOSE, (1005, ""))),
        (OP_TEXT, b"", (OP_TEXT, "")),
        (OP_BINARY, b"", (OP_BINARY, b"")),
        (OP_PING, b"", (OP_PING, b"")),
    ],
    ids=[
        "text",
        "binary",
        "ping",
        "pong",
        "close",
        "close-empty",
        "text-empty",
        "binary-empty",
        "ping-empty",
    ],
)
def test_event_shapes(opcode: int, payload: bytes, expected: tuple) -> None:
    [event] = parse(client_frame(opcode, payload))
    assert event == expected
    assert type(event) is tuple
    assert type(event[1]) is type(expected[1])
    if opcode == OP_CLOSE:
        assert type(event[1][0]) is int
        assert type(event[1][1]) is str


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_codes_accepted(code: int) -> None:
    assert parse(client_frame(OP_CLOSE, close_payload(code, "reason"))) == [(OP_CLOSE, (code, "reason"))]


def test_close_reason_with_multibyte_characters() -> None:
    reason = "adiós 👋"
    assert parse(client_frame(OP_CLOSE, close_payload(1000, reason))) == [(OP_CLOSE, (1000, reason))]


def test_feed_accepts_bytes_like_objects() -> None:
    data = client_frame(OP_TEXT, "abc") + client_frame(OP_BINARY, b"xyz")
    expected = [(OP_TEXT, "abc"), (OP_BINARY, b"xyz")]
    for value in (data, bytearray(data), memoryview(data)):
        assert parse(value) == expected
    parser = core.FrameParser()
    assert parser.feed(memoryview(data)[:3]) == []
    assert parser.feed(bytearray(data[3:])) == expected


def test_empty_feed_returns_no_events() -> None:
    parser = core.FrameParser()
    assert parser.feed(b"") == []
    assert parser.buffered == 0


def test_constructor_defaults_and_validation() -> None:
    parser = core.FrameParser()
    assert parser.max_message_size == 1_000_000
    assert parser.require_mask is True
    assert core.FrameParser(require_mask=False).require_mask is False
    with pytest.raises(ValueError):
        core.FrameParser(max_message_size=-1)


# --- parsing: incremental ------------------------------------------------------------

MIXED_FRAMES = [
    (client_frame(OP_TEXT, "héllo €😀"), [(OP_TEXT, "héllo €😀")]),
    (client_frame(OP_BINARY, bytes(range(256)), mask=OTHER_MASK), [(OP_BINARY, bytes(range(256)))]),
    (client_frame(OP_PING, b"p"), [(OP_PING, b"p")]),
    (client_frame(OP_TEXT, b"frag-m\xc3", fin=False), []),
    (client_frame(OP_PONG, b"", mask=ZERO_MASK), [(OP_PONG, b"")]),
    (client_frame(OP_CONT, b"\xa9nt ", fin=False, mask=OTHER_MASK), []),
    (client_frame(OP_CONT, b"", fin=False), []),
    (client_frame(OP_CONT, "ok", fin=True), [(OP_TEXT, "frag-mént ok")]),
    (client_frame(OP_BINARY, b"\x01", fin=False), []),
    (client_frame(OP_CONT, b"\x02\x03"), [(OP_BINARY, b"\x01\x02\x03")]),
    (client_frame(OP_CLOSE, close_payload(1000, "bye")), [(OP_CLOSE, (1000, "bye"))]),
]
MIXED_STREAM = b"".join(data for data, _ in MIXED_FRAMES)
MIXED_EVENTS = [event for _, events in MIXED_FRAMES for event in events]


def test_mixed_stream_in_one_chunk() -> None:
    parser = core.FrameParser()
    assert parser.feed(MIXED_STREAM) == MIXED_EVENTS
    assert parser.buffered == 0


def test_mixed_stream_split_at_every_byte_position() -> None:
    for cut in range(len(MIXED_STREAM) + 1):
        parser = core.FrameParser()
        events = feed_chunks(parser, split_at(MIXED_STREAM, [cut]))
        assert events == MIXED_EVENTS, f"split at {cut}"
        assert parser.buffered == 0


def test_mixed_stream_split_in_three_chunks() -> None:
    n = len(MIXED_STREAM)
    for first in range(0, n + 1, 3):
        for second in range(first, n + 1, 5):
            events = feed_chunks(core.FrameParser(), split_at(MIXED_STREAM, [first, second]))
            assert events == MIXED_EVENTS, f"split at {first} and {second}"


def test_mixed_stream_one_byte_at_a_time() -> None:
    parser = core.FrameParser()
    events = []
    for i in range(len(MIXED_STREAM)):
        events += parser.feed(MIXED_STREAM[i : i + 1])
    assert events == MIXED_EVENTS
    assert parser.buffered == 0


def test_each_event_appears_exactly_when_its_last_byte_arrives() -> None:
    parser = core.FrameParser()
    offset = 0
    for data, expected in MIXED_FRAMES:
        for i in range(len(data) - 1):
            assert parser.feed(data[i : i + 1]) == [], f"early event at byte {offset + i}"
        assert parser.feed(data[-1:]) == expected
        offset += len(data)


def test_many_frames_in_one_chunk() -> None:
    frames = []
    expected = []
    for i in range(1000):
        if i % 3 == 0:
            frames.append(client_frame(OP_TEXT, f"message {i}"))
            expected.append((OP_TEXT, f"message {i}"))
        elif i % 3 == 1:
            frames.append(client_frame(OP_BINARY, i.to_bytes(2, "big"), mask=OTHER_MASK))
            expected.append((OP_BINARY, i.to_bytes(2, "big")))
        else:
            frames.append(client_frame(OP_PING, b""))
            expected.append((OP_PING, b""))
    assert parse(b"".join(frames)) == expected


def test_many_frames_with_a_partial_frame_at_the_end() -> None:
    whole = client_frame(OP_TEXT, "one") + client_frame(OP_TEXT, "two")
    tail = client_frame(OP_TEXT, "three")
    parser = core.FrameParser()
    assert parser.feed(whole + tail[:4]) == [(OP_TEXT, "one"), (OP_TEXT, "two")]
    assert parser.buffered == 4
    assert parser.feed(tail[4:]) == [(OP_TEXT, "three")]
    assert parser.buffered == 0


def test_buffered_counts_partial_frame_and_open_message() -> None:
    parser = core.FrameParser()
    first = client_frame(OP_BINARY, b"12345", fin=False)
    assert parser.feed(first) == []
    assert parser.buffered == 5
    second = client_frame(OP_CONT, b"678", fin=False)
    assert parser.feed(second[:3]) == []
    assert parser.buffered == 5 + 3
    assert parser.feed(second[3:]) == []
    assert parser.buffered == 8
    assert parser.feed(client_frame(OP_PING, b"abc")) == [(OP_PING, b"abc")]
    assert parser.buffered == 8
    assert parser.feed(client_frame(OP_CONT, b"9")) == [(OP_BINARY, b"123456789")]
    assert parser.buffered == 0


# --- parsing: payload lengths and unmasking -----------------------------------------

LENGTHS = [0, 1, 125, 126, 127, 1023, 1024, 1025, 65535, 65536, 65537]


def header_size(n: int) -> int:
    return 2 + (0 if n < 126 else 2 if n < 65536 else 8)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_payload_length_boundaries(opcode: int, n: int) -> None:
    value: str | bytes = text_of_byte_length(n) if opcode == OP_TEXT else binary_pattern(n)
    data = client_frame(opcode, value)
    hdr = header_size(n) + 4
    length_field = data[1] & 0x7F
    assert length_field == (n if n < 126 else 126 if n < 65536 else 127)
    assert len(data) == hdr + n
    assert parse(data) == [(opcode, value)]
    # Split inside the header, right after it and in the middle of the payload.
    for cut in [*range(1, hdr), *([hdr, hdr + n // 2] if n else [])]:
        parser = core.FrameParser()
        assert parser.feed(data[:cut]) == [], f"split at {cut}"
        assert parser.feed(data[cut:]) == [(opcode, value)], f"split at {cut}"


@pytest.mark.parametrize(
    ("form", "n"), [(16, 0), (16, 5), (16, 125), (64, 0), (64, 125), (64, 126), (64, 65535)]
)
def test_non_minimal_length_encodings_of_data_frames(form: int, n: int) -> None:
    payload = binary_pattern(n)
    assert parse(client_frame(OP_BINARY, payload, form=form)) == [(OP_BINARY, payload)]


def _unmask_cases(n: int) -> list[tuple[bytes, list[tuple[int, object]]]]:
    """Frames of an ``n``-byte payload through each unmasking path of the parser."""
    payload = binary_pattern(n)
    text = ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ" * 30)[:n]
    half = n // 2
    cases = [
        (client_frame(OP_BINARY, payload), [(OP_BINARY, payload)]),
        (client_frame(OP_TEXT, text), [(OP_TEXT, text)]),
        (
            client_frame(OP_BINARY, payload[:half], fin=False)
            + client_frame(OP_CONT, payload[half:], mask=OTHER_MASK),
            [(OP_BINARY, payload)],
        ),
        (
            client_frame(OP_TEXT, text[:half], fin=False, mask=OTHER_MASK)
            + client_frame(OP_CONT, text[half:]),
            [(OP_TEXT, text)],
        ),
    ]
    if n <= 125:
        cases.append((client_frame(OP_PING, payload), [(OP_PING, payload)]))
        cases.append((client_frame(OP_PONG, payload, mask=OTHER_MASK), [(OP_PONG, payload)]))
    return cases


@pytest.mark.parametrize("n", [*range(41), 1023, 1024, 1025, 1031, 4096])
def test_unmasking_every_tail_length_and_alignment(n: int) -> None:
    for data, expected in _unmask_cases(n):
        # A preceding ping of 0..7 bytes shifts the payload's alignment in the buffer.
        for shift in range(8):
            prefix = client_frame(OP_PING, b"." * shift)
            assert parse(prefix + data) == [(OP_PING, b"." * shift), *expected], f"shift {shift}"
        # And a stream delivered in two chunks goes through the internal buffer.
        parser = core.FrameParser()
        assert parser.feed(data[:3]) == []
        assert parser.feed(data[3:]) == expected


def test_unmasking_matches_the_rfc_xor_definition() -> None:
    payload = bytes(range(256)) * 3
    for mask in (MASK, OTHER_MASK, b"\xff\xff\xff\xff", b"\x01\x00\x00\x80"):
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        data = bytes([0x82, 0xFE]) + struct.pack("!H", len(payload)) + mask + masked
        assert parse(data) == [(OP_BINARY, payload)]


# --- parsing: fragmentation -----------------------------------------------------------


@pytest.mark.parametrize("text", ["é€😀", "aé", "😀😀", "\u0080\u07ff\u0800\uffff\U00010000\U0010ffff"])
def test_utf8_sequence_split_across_fragments_at_every_byte(text: str) -> None:
    raw = text.encode()
    for cut in range(len(raw) + 1):
        data = client_frame(OP_TEXT, raw[:cut], fin=False) + client_frame(OP_CONT, raw[cut:], mask=OTHER_MASK)
        assert parse(data) == [(OP_TEXT, text)], f"split at {cut}"


def test_utf8_sequence_split_one_byte_per_fragment() -> None:
    text = "a😀é€b"
    raw = text.encode()
    frames = [client_frame(OP_TEXT, raw[:1], fin=False)]
    frames += [client_frame(OP_CONT, raw[i : i + 1], fin=False) for i in range(1, len(raw))]
    frames.append(client_frame(OP_CONT, b""))
    assert parse(b"".join(frames)) == [(OP_TEXT, text)]


@pytest.mark.parametrize(
    ("control", "event"),
    [
        (client_frame(OP_PING, b"are you there"), (OP_PING, b"are you there")),
        (client_frame(OP_PONG, b"yes"), (OP_PONG, b"yes")),
        (client_frame(OP_PING, b""), (OP_PING, b"")),
    ],
    ids=["ping", "pong", "empty-ping"],
)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_control_frames_between_fragments(opcode: int, control: bytes, event: tuple) -> None:
    pieces = [b"one ", b"two ", b"three"]
    data = (
        client_frame(opcode, pieces[0], fin=False)
        + control
        + client_frame(OP_CONT, pieces[1], fin=False)
        + control
        + control
        + client_frame(OP_CONT, pieces[2])
    )
    message = b"one two three" if opcode == OP_BINARY else "one two three"
    assert parse(data) == [event, event, event, (opcode, message)]


def test_close_between_fragments_is_delivered() -> None:
    data = client_frame(OP_TEXT, "partial", fin=False) + client_frame(OP_CLOSE, close_payload(1001))
    parser = core.FrameParser()
    assert parser.feed(data) == [(OP_CLOSE, (1001, ""))]
    assert parser.buffered == len("partial")


def test_control_frame_between_fragments_does_not_disturb_utf8_state() -> None:
    data = (
        client_frame(OP_TEXT, b"\xf0\x9f", fin=False)
        + client_frame(OP_PING, b"\xff\xfe")
        + client_frame(OP_CONT, b"\x98\x80")
    )
    assert parse(data) == [(OP_PING, b"\xff\xfe"), (OP_TEXT, "😀")]


def test_a_new_message_can_start_after_a_fragmented_one() -> None:
    data = (
        client_frame(OP_TEXT, "a", fin=False)
        + client_frame(OP_CONT, "b")
        + client_frame(OP_BINARY, b"c", fin=False)
        + client_frame(OP_CONT, b"d")
        + client_frame(OP_TEXT, "e")
    )
    assert parse(data) == [(OP_TEXT, "ab"), (OP_BINARY, b"cd"), (OP_TEXT, "e")]


def test_utf8_state_is_reset_between_messages() -> None:
    # The first message is complete; the second starts with a continuation byte.
    data = client_frame(OP_TEXT, "é", fin=False) + client_frame(OP_CONT, b"") + client_frame(OP_TEXT, b"\xa9")
    with pytest.raises(core.WebSocketInvalidUtf8) as info:
        parse(data)
    assert info.value.events == [(OP_TEXT, "é")]


# --- parsing: unmasked frames ---------------------------------------------------------


def test_unmasked_frames_accepted_when_mask_not_required() -> None:
    data = (
        client_frame(OP_TEXT, "a", mask=None)
        + client_frame(OP_BINARY, b"b", mask=MASK)
        + client_frame(OP_TEXT, "c", fin=False, mask=None)
        + client_frame(OP_CONT, "d", mask=OTHER_MASK)
    )
    assert parse(data, require_mask=False) == [(OP_TEXT, "a"), (OP_BINARY, b"b"), (OP_TEXT, "cd")]


# --- errors ---------------------------------------------------------------------------

PROTOCOL = (core.WebSocketProtocolError, 1002)
UTF8 = (core.WebSocketInvalidUtf8, 1007)
TOO_BIG = (core.WebSocketMessageTooBig, 1009)

OPEN_TEXT = client_frame(OP_TEXT, "open", fin=False)
OPEN_BINARY = client_frame(OP_BINARY, b"open", fin=False)
TOP_BIT_LENGTH = bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + MASK

# (id, bytes before the bad frame, the bad frame, expected error)
ERROR_CASES = [
    ("rsv1", b"", client_frame(OP_TEXT, "x", rsv=0x40), PROTOCOL),
    ("rsv2", b"", client_frame(OP_TEXT, "x", rsv=0x20), PROTOCOL),
    ("rsv3", b"", client_frame(OP_BINARY, b"x", rsv=0x10), PROTOCOL),
    ("rsv-all", b"", client_frame(OP_BINARY, b"x", rsv=0x70), PROTOCOL),
    ("rsv1-ping", b"", client_frame(OP_PING, b"", rsv=0x40), PROTOCOL),
    ("rsv1-continuation", OPEN_TEXT, client_frame(OP_CONT, "x", rsv=0x40), PROTOCOL),
    *[(f"opcode-{op:#x}", b"", client_frame(op, b"x"), PROTOCOL) for op in [*range(3, 8), *range(0xB, 0x10)]],
    *[
        (f"fragmented-{name}", b"", client_frame(op, b"", fin=False), PROTOCOL)
        for name, op in [("ping", OP_PING), ("pong", OP_PONG), ("close", OP_CLOSE)]
    ],
    *[
        (f"long-{name}", b"", client_frame(op, b"x" * 126), PROTOCOL)
        for name, op in [("ping", OP_PING), ("pong", OP_PONG), ("close", OP_CLOSE)]
    ],
    ("long-close-64bit", b"", client_frame(OP_CLOSE, b"x" * 200, form=64), PROTOCOL),
    ("continuation-without-start", b"", client_frame(OP_CONT, "x"), PROTOCOL),
    ("continuation-without-start-nofin", b"", client_frame(OP_CONT, "x", fin=False), PROTOCOL),
    (
        "continuation-after-complete-message",
        client_frame(OP_TEXT, "a", fin=False) + client_frame(OP_CONT, "b"),
        client_frame(OP_CONT, "c"),
        PROTOCOL,
    ),
    ("text-in-open-text", OPEN_TEXT, client_frame(OP_TEXT, "x"), PROTOCOL),
    ("binary-in-open-text", OPEN_TEXT, client_frame(OP_BINARY, b"x"), PROTOCOL),
    ("text-in-open-binary", OPEN_BINARY, client_frame(OP_TEXT, "x"), PROTOCOL),
    ("nofin-text-in-open-text", OPEN_TEXT, client_frame(OP_TEXT, "x", fin=False), PROTOCOL),
    ("unmasked-text", b"", client_frame(OP_TEXT, "x", mask=None), PROTOCOL),
    ("unmasked-ping", b"", client_frame(OP_PING, b"", mask=None), PROTOCOL),
    ("unmasked-close", b"", client_frame(OP_CLOSE, b"", mask=None), PROTOCOL),
    ("unmasked-continuation", OPEN_TEXT, client_frame(OP_CONT, "x", mask=None), PROTOCOL),
    ("length-top-bit", b"", TOP_BIT_LENGTH, PROTOCOL),
    ("close-one-byte", b"", client_frame(OP_CLOSE, b"\x03"), PROTOCOL),
    *[
        (f"close-code-{code}", b"", client_frame(OP_CLOSE, close_payload(code)), PROTOCOL)
        for code in INVALID_CLOSE_CODES
    ],
    ("close-reason-invalid-utf8", b"", client_frame(OP_CLOSE, close_payload(1000, b"\xff")), UTF8),
    ("close-reason-surrogate", b"", client_frame(OP_CLOSE, close_payload(1000, b"ok\xed\xa0\x80")), UTF8),
    ("close-reason-truncated", b"", client_frame(OP_CLOSE, close_payload(1000, b"\xe2\x82")), UTF8),
    ("text-invalid-utf8", b"", client_frame(OP_TEXT, b"ab\xffcd"), UTF8),
    ("fragment-invalid-utf8", OPEN_TEXT, client_frame(OP_CONT, b"\xc0\xaf"), UTF8),
    ("text-too-big", b"", client_frame(OP_TEXT, "x" * 301), TOO_BIG),
    ("binary-too-big", b"", client_frame(OP_BINARY, b"x" * 301), TOO_BIG),
    ("fragments-too-big", OPEN_BINARY, client_frame(OP_CONT, b"x" * 297), TOO_BIG),
]
ERROR_IDS = [case[0] for case in ERROR_CASES]
SMALL_LIMIT = 300  # max_message_size for ERROR_CASES: above every other faulty frame

GOOD_PREFIX = client_frame(OP_TEXT, "before") + client_frame(OP_PING, b"p")
GOOD_PREFIX_EVENTS = [(OP_TEXT, "before"), (OP_PING, b"p")]


@pytest.mark.parametrize(("name", "preamble", "bad", "expected"), ERROR_CASES, ids=ERROR_IDS)
def test_error_class_close_code_and_prior_events(
    name: str, preamble: bytes, bad: bytes, expected: tuple[type, int]
) -> None:
    cls, code = expected
    parser = core.FrameParser(max_message_size=SMALL_LIMIT)
    with pytest.raises(cls) as info:
        parser.feed(GOOD_PREFIX + preamble + bad + client_frame(OP_TEXT, "after"))
    exc = info.value
    assert exc.close_code == code
    assert isinstance(exc, core.WebSocketError)
    assert isinstance(exc, core.ProtocolError)
    assert isinstance(exc, ValueError)
    assert str(exc)
    preamble_events = core.FrameParser().feed(preamble)
    assert exc.events == GOOD_PREFIX_EVENTS + preamble_events


@pytest.mark.parametrize(("name", "preamble", "bad", "expected"), ERROR_CASES, ids=ERROR_IDS)
def test_error_detected_when_fed_one_byte_at_a_time(
    name: str, preamble: bytes, bad: bytes, expected: tuple[type, int]
) -> None:
    cls, code = expected
    parser = core.FrameParser(max_message_size=SMALL_LIMIT)
    parser.feed(GOOD_PREFIX + preamble)
    with pytest.raises(cls) as info:
        for i in range(len(bad)):
            parser.feed(bad[i : i + 1])
    assert info.value.close_code == code
    assert info.value.events == []


@pytest.mark.parametrize(("name", "preamble", "bad", "expected"), ERROR_CASES, ids=ERROR_IDS)
def test_parser_stays_failed(name: str, preamble: bytes, bad: bytes, expected: tuple[type, int]) -> None:
    cls, code = expected
    parser = core.FrameParser(max_message_size=SMALL_LIMIT)
    with pytest.raises(cls):
        parser.feed(preamble + bad)
    assert parser.buffered == 0
    for later in (client_frame(OP_TEXT, "valid"), b"", client_frame(OP_CLOSE, close_payload(1000))):
        with pytest.raises(cls) as info:
            parser.feed(later)
        assert info.value.close_code == code


def test_websocket_error_base_defaults() -> None:
    exc = core.WebSocketError("boom")
    assert exc.close_code == 1002
    assert exc.events == []
    assert core.WebSocketError("boom", [(OP_TEXT, "x")]).events == [(OP_TEXT, "x")]
    assert core.WebSocketProtocolError("x").close_code == 1002
    assert core.WebSocketInvalidUtf8("x").close_code == 1007
    assert core.WebSocketMessageTooBig("x").close_code == 1009


def test_events_of_earlier_chunks_are_not_repeated_in_the_error() -> None:
    parser = core.FrameParser()
    assert parser.feed(client_frame(OP_TEXT, "first")) == [(OP_TEXT, "first")]
    with pytest.raises(core.WebSocketProtocolError) as info:
        parser.feed(client_frame(OP_BINARY, b"second") + client_frame(OP_TEXT, "x", rsv=0x40))
    assert info.value.events == [(OP_BINARY, b"second")]


def test_error_completed_by_a_later_chunk_repeats_no_earlier_events() -> None:
    bad = client_frame(OP_TEXT, b"\xff")
    parser = core.FrameParser()
    assert parser.feed(client_frame(OP_TEXT, "a") + bad[:-1]) == [(OP_TEXT, "a")]
    with pytest.raises(core.WebSocketInvalidUtf8) as info:
        parser.feed(bad[-1:])
    assert info.value.events == []


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frame_of_125_bytes_is_fine(opcode: int) -> None:
    payload = close_payload(1000, "r" * 123) if opcode == OP_CLOSE else b"x" * 125
    [event] = parse(client_frame(opcode, payload))
    assert event[0] == opcode


@pytest.mark.parametrize("max_size", [None, 1_000_000])
def test_length_with_top_bit_set_refused_from_the_header(max_size: int | None) -> None:
    for length in (1 << 63, (1 << 64) - 1):
        header = bytes([0x82, 0xFF]) + struct.pack("!Q", length)
        with pytest.raises(core.WebSocketProtocolError) as info:
            core.FrameParser(max_message_size=max_size).feed(header)
        assert info.value.close_code == 1002


def test_largest_legal_length_waits_for_payload_without_a_limit() -> None:
    header = bytes([0x82, 0xFF]) + struct.pack("!Q", (1 << 63) - 1) + MASK
    parser = core.FrameParser(max_message_size=None)
    assert parser.feed(header + b"abc") == []
    assert parser.buffered == len(header) + 3


# --- errors: message size ------------------------------------------------------------


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("limit", [0, 1, 125, 126, 65535, 65536])
def test_single_frame_message_size_limit(opcode: int, limit: int) -> None:
    at_limit = client_frame(opcode, b"x" * limit)
    [(got_opcode, value)] = parse(at_limit, max_message_size=limit)
    assert (got_opcode, len(value)) == (opcode, limit)
    with pytest.raises(core.WebSocketMessageTooBig) as info:
        parse(client_frame(opcode, b"x" * (limit + 1)), max_message_size=limit)
    assert info.value.close_code == 1009


@pytest.mark.parametrize(
    ("limit", "declared"),
    [(100, 101), (125, 126), (1000, 1001), (65535, 65536), (1_000_000, 1_000_001), (1_000_000, 1 << 40)],
)
def test_too_big_refused_as_soon_as_the_header_is_known(limit: int, declared: int) -> None:
    header = client_frame(OP_BINARY, length=declared)[: header_size(declared)]
    parser = core.FrameParser(max_message_size=limit)
    with pytest.raises(core.WebSocketMessageTooBig) as info:
        parser.feed(header)
    assert info.value.close_code == 1009


def test_too_big_continuation_refused_from_its_header() -> None:
    parser = core.FrameParser(max_message_size=100)
    assert parser.feed(client_frame(OP_TEXT, "x" * 60, fin=False)) == []
    header = client_frame(OP_CONT, length=41)[:2]
    with pytest.raises(core.WebSocketMessageTooBig):
        parser.feed(header)


def test_default_limit_is_one_million_bytes() -> None:
    assert parse(client_frame(OP_BINARY, bytes(1_000_000))) == [(OP_BINARY, bytes(1_000_000))]
    with pytest.raises(core.WebSocketMessageTooBig):
        core.FrameParser().feed(client_frame(OP_BINARY, length=1_000_001)[:10])


def test_no_limit_with_none() -> None:
    payload = binary_pattern(1_500_000)
    assert parse(client_frame(OP_BINARY, payload), max_message_size=None) == [(OP_BINARY, payload)]


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_sum_of_fragments_at_the_limit_is_accepted(opcode: int) -> None:
    data = (
        client_frame(opcode, b"a" * 40, fin=False)
        + client_frame(OP_CONT, b"b" * 40, fin=False)
        + client_frame(OP_CONT, b"c" * 20)
    )
    [(_, value)] = parse(data, max_message_size=100)
    assert len(value) == 100


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("sizes", [(50, 51), (40, 40, 21), (0, 101), (100, 0, 1), (101, 0)])
def test_sum_of_fragments_over_the_limit_is_refused(opcode: int, sizes: tuple[int, ...]) -> None:
    frames = [
        client_frame(opcode if i == 0 else OP_CONT, b"z" * size, fin=i == len(sizes) - 1)
        for i, size in enumerate(sizes)
    ]
    parser = core.FrameParser(max_message_size=100)
    # Every frame before the one that crosses the limit is accepted.
    total = 0
    for data, size in zip(frames, sizes, strict=True):
        total += size
        if total > 100:
            with pytest.raises(core.WebSocketMessageTooBig) as info:
                parser.feed(data)
            assert info.value.close_code == 1009
            return
        parser.feed(data)
    pytest.fail("the limit was never crossed")


def test_control_frames_between_fragments_do_not_count_towards_the_limit() -> None:
    data = (
        client_frame(OP_BINARY, b"a" * 60, fin=False)
        + client_frame(OP_PING, b"p" * 100)
        + client_frame(OP_CONT, b"b" * 40)
    )
    assert parse(data, max_message_size=100) == [(OP_PING, b"p" * 100), (OP_BINARY, b"a" * 60 + b"b" * 40)]


def test_limit_applies_per_message() -> None:
    data = b"".join(client_frame(OP_BINARY, b"x" * 100) for _ in range(5))
    assert parse(data, max_message_size=100) == [(OP_BINARY, b"x" * 100)] * 5


# --- errors: UTF-8 -------------------------------------------------------------------

INVALID_UTF8 = {
    "ff": b"\xff",
    "fe": b"\xfe",
    "lone-continuation": b"\x80",
    "overlong-nul": b"\xc0\x80",
    "overlong-c1": b"\xc1\xbf",
    "overlong-3byte": b"\xe0\x80\xaf",
    "overlong-3byte-max": b"\xe0\x9f\xbf",
    "overlong-4byte": b"\xf0\x80\x80\x80",
    "overlong-4byte-max": b"\xf0\x8f\xbf\xbf",
    "surrogate-low-end": b"\xed\xa0\x80",
    "surrogate-high-end": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\xbd\xed\xb8\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "five-byte": b"\xf8\x88\x80\x80\x80",
    "bad-continuation-2": b"\xc2\x41",
    "bad-continuation-3": b"\xe2\x82\x41",
    "bad-continuation-4": b"\xf0\x9f\x98\x41",
    "truncated-then-ascii": b"\xe2\x82 ",
}
VALID_UTF8_EDGES = ["\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
@pytest.mark.parametrize("where", ["alone", "middle", "end"])
def test_invalid_utf8_in_single_frame(bad: bytes, where: str) -> None:
    payload = {"alone": bad, "middle": b"ok " + bad + b" ok", "end": b"ok " * 5 + bad}[where]
    with pytest.raises(core.WebSocketInvalidUtf8) as info:
        parse(client_frame(OP_TEXT, payload))
    assert info.value.close_code == 1007


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_split_across_fragments_at_every_byte(bad: bytes) -> None:
    payload = b"prefix " + bad + b" suffix"
    for cut in range(len(payload) + 1):
        data = client_frame(OP_TEXT, payload[:cut], fin=False) + client_frame(OP_CONT, payload[cut:])
        with pytest.raises(core.WebSocketInvalidUtf8) as info:
            parse(data)
        assert info.value.close_code == 1007, f"split at {cut}"


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_refused_as_soon_as_its_fragment_arrives(bad: bytes) -> None:
    parser = core.FrameParser()
    assert parser.feed(client_frame(OP_TEXT, b"ok", fin=False)) == []
    with pytest.raises(core.WebSocketInvalidUtf8):
        # Not the final fragment: the byte sequence is already known to be invalid.
        parser.feed(client_frame(OP_CONT, bad + b"x", fin=False))


@pytest.mark.parametrize(
    "tail", [b"\xc3", b"\xe2", b"\xe2\x82", b"\xf0", b"\xf0\x9f", b"\xf0\x9f\x98"], ids=lambda b: b.hex()
)
@pytest.mark.parametrize("fragmented", [False, True])
def test_text_message_ending_mid_sequence(tail: bytes, fragmented: bool) -> None:
    if fragmented:
        parser = core.FrameParser()
        assert parser.feed(client_frame(OP_TEXT, b"abc" + tail, fin=False)) == []
        with pytest.raises(core.WebSocketInvalidUtf8) as info:
            parser.feed(client_frame(OP_CONT, b""))
    else:
        with pytest.raises(core.WebSocketInvalidUtf8) as info:
            parse(client_frame(OP_TEXT, b"abc" + tail))
    assert info.value.close_code == 1007


@pytest.mark.parametrize("offset", range(41))
@pytest.mark.parametrize("fragmented", [False, True])
def test_invalid_byte_at_every_offset_of_an_ascii_run(offset: int, fragmented: bool) -> None:
    payload = b"a" * offset + b"\xff" + b"b" * 20
    if fragmented:
        data = client_frame(OP_TEXT, b"", fin=False) + client_frame(OP_CONT, payload)
    else:
        data = client_frame(OP_TEXT, payload)
    with pytest.raises(core.WebSocketInvalidUtf8):
        parse(data)


@pytest.mark.parametrize("offset", range(41))
def test_valid_multibyte_at_every_offset_of_an_ascii_run(offset: int) -> None:
    text = "a" * offset + "😀é" + "b" * 20
    data = client_frame(OP_TEXT, b"", fin=False) + client_frame(OP_CONT, text)
    assert parse(data) == [(OP_TEXT, text)]
    assert parse(client_frame(OP_TEXT, text)) == [(OP_TEXT, text)]


@pytest.mark.parametrize("char", VALID_UTF8_EDGES, ids=[f"U+{ord(c):04X}" for c in VALID_UTF8_EDGES])
def test_valid_utf8_edges_accepted(char: str) -> None:
    text = f"<{char}>"
    raw = text.encode()
    assert parse(client_frame(OP_TEXT, raw)) == [(OP_TEXT, text)]
    assert parse(client_frame(OP_CLOSE, close_payload(1000, raw))) == [(OP_CLOSE, (1000, text))]
    for cut in range(len(raw) + 1):
        data = client_frame(OP_TEXT, raw[:cut], fin=False) + client_frame(OP_CONT, raw[cut:])
        assert parse(data) == [(OP_TEXT, text)], f"split at {cut}"


def test_binary_messages_are_not_utf8_checked() -> None:
    payload = b"\xff\xed\xa0\x80\xc0"
    data = client_frame(OP_BINARY, payload[:2], fin=False) + client_frame(OP_CONT, payload[2:])
    assert parse(client_frame(OP_BINARY, payload) + data) == [(OP_BINARY, payload), (OP_BINARY, payload)]
    assert parse(client_frame(OP_PING, payload)) == [(OP_PING, payload)]


# --- encoders -------------------------------------------------------------------------


def test_encoders_reproduce_rfc_examples() -> None:
    assert core.encode_text_frame("Hello") == bytes.fromhex("81 05 48 65 6c 6c 6f")
    assert core.encode_frame(OP_TEXT, "Hello", mask=MASK) == bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert core.encode_frame(OP_TEXT, b"Hel", fin=False) == bytes.fromhex("01 03 48 65 6c")
    assert core.encode_frame(OP_CONT, b"lo") == bytes.fromhex("80 02 6c 6f")
    assert core.encode_frame(OP_PING, b"Hello") == bytes.fromhex("89 05 48 65 6c 6c 6f")
    assert core.encode_frame(OP_PONG, b"Hello", mask=MASK) == bytes.fromhex(
        "8a 85 37 fa 21 3d 7f 9f 4d 51 58"
    )
    assert core.encode_binary_frame(bytes(256))[:4] == bytes.fromhex("82 7e 01 00")
    assert core.encode_binary_frame(bytes(65536))[:10] == bytes.fromhex("82 7f 00 00 00 00 00 01 00 00")


@pytest.mark.parametrize(
    ("n", "header"),
    [
        (0, "82 00"),
        (1, "82 01"),
        (125, "82 7d"),
        (126, "82 7e 00 7e"),
        (127, "82 7e 00 7f"),
        (65535, "82 7e ff ff"),
        (65536, "82 7f 00 00 00 00 00 01 00 00"),
        (65537, "82 7f 00 00 00 00 00 01 00 01"),
    ],
)
def test_server_frame_headers_at_length_boundaries(n: int, header: str) -> None:
    payload = binary_pattern(n)
    expected = bytes.fromhex(header) + payload
    assert core.encode_binary_frame(payload) == expected
    assert core.encode_frame(OP_BINARY, payload) == expected
    text = "t" * n
    text_frame = core.encode_text_frame(text)
    assert text_frame == bytes([0x81]) + expected[1 : len(expected) - n] + text.encode()


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536])
def test_masked_encoder_headers_at_length_boundaries(n: int) -> None:
    payload = binary_pattern(n)
    data = core.encode_frame(OP_BINARY, payload, mask=OTHER_MASK)
    assert data == client_frame(OP_BINARY, payload, mask=OTHER_MASK)
    assert parse(data) == [(OP_BINARY, payload)]


def test_encoded_text_is_utf8() -> None:
    text = "héllo €😀"
    assert core.encode_text_frame(text) == bytes([0x81, len(text.encode())]) + text.encode()
    assert core.encode_frame(OP_TEXT, text) == core.encode_text_frame(text)


def test_encoders_accept_bytes_like_objects() -> None:
    expected = b"\x82\x03abc"
    for value in (b"abc", bytearray(b"abc"), memoryview(b"xabcx")[1:4]):
        assert core.encode_binary_frame(value) == expected
        assert core.encode_frame(OP_BINARY, value) == expected


def test_encode_frame_fin_flag() -> None:
    assert core.encode_frame(OP_BINARY, b"x", fin=False)[0] == 0x02
    assert core.encode_frame(OP_CONT, b"x", fin=False)[0] == 0x00
    assert core.encode_frame(OP_CONT, b"x")[0] == 0x80


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "88 02 03 e8"),
        ((1000,), "88 02 03 e8"),
        ((1001, "bye"), "88 05 03 e9 62 79 65"),
        ((4999, "é"), "88 04 13 87 c3 a9"),
        ((None,), "88 00"),
    ],
)
def test_encode_close_frame(args: tuple, expected: str) -> None:
    assert core.encode_close_frame(*args) == bytes.fromhex(expected)


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_encode_close_frame_round_trips_through_the_parser(code: int) -> None:
    data = core.encode_close_frame(code, "reason ✓", mask=OTHER_MASK)
    assert parse(data) == [(OP_CLOSE, (code, "reason ✓"))]
    assert parse(core.encode_close_frame(None, mask=MASK)) == [(OP_CLOSE, (1005, ""))]


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_encode_close_frame_refuses_invalid_codes(code: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_close_frame(code)


def test_encode_close_frame_reason_limits() -> None:
    assert len(core.encode_close_frame(1000, "r" * 123)) == 2 + 125
    with pytest.raises(core.EncodeError):
        core.encode_close_frame(1000, "r" * 124)
    with pytest.raises(core.EncodeError):
        core.encode_close_frame(1000, "é" * 62)  # 124 bytes
    with pytest.raises(core.EncodeError):
        core.encode_close_frame(None, "a reason without a code")


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frames_over_125_bytes_refused(opcode: int) -> None:
    assert len(core.encode_frame(opcode, b"x" * 125)) == 127
    assert len(core.encode_frame(opcode, "x" * 125)) == 127
    with pytest.raises(core.EncodeError):
        core.encode_frame(opcode, b"x" * 126)
    with pytest.raises(core.EncodeError):
        core.encode_frame(opcode, "x" * 126)
    with pytest.raises(core.EncodeError):
        core.encode_frame(opcode, "é" * 63)  # 63 characters, 126 bytes
    with pytest.raises(core.EncodeError):
        core.encode_frame(opcode, b"x" * 126, mask=MASK)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xF, 0x10, -1])
def test_encode_frame_refuses_unknown_opcodes(opcode: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_frame(opcode, b"")


@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde", "abcd"])
def test_encode_frame_refuses_bad_masks(mask: object) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_frame(OP_TEXT, "x", mask=mask)


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: core.encode_text_frame(s),
        lambda s: core.encode_frame(OP_TEXT, s),
        lambda s: core.encode_close_frame(1000, s),
    ],
    ids=["encode_text_frame", "encode_frame", "encode_close_frame"],
)
def test_text_that_utf8_cannot_carry_raises_encode_error(encode: object) -> None:
    # A lone surrogate has no UTF-8 encoding: the wire cannot carry it, which the
    # core's error contract maps to EncodeError (not a bare UnicodeEncodeError).
    with pytest.raises(core.EncodeError):
        encode("lone \ud800 surrogate")  # type: ignore[operator]


@pytest.mark.parametrize("n", range(41))
def test_masked_encoder_round_trips_every_tail_length(n: int) -> None:
    payload = binary_pattern(n)
    text = "x" * n
    for mask in (MASK, OTHER_MASK):
        assert core.encode_frame(OP_BINARY, payload, mask=mask) == client_frame(OP_BINARY, payload, mask=mask)
        assert parse(core.encode_frame(OP_TEXT, text, mask=mask)) == [(OP_TEXT, text)]


def test_server_frames_are_unmasked() -> None:
    for data in (
        core.encode_text_frame("x" * 300),
        core.encode_binary_frame(b"x"),
        core.encode_frame(OP_PING, b"p"),
        core.encode_close_frame(1000, "bye"),
    ):
        assert data[1] & 0x80 == 0
    # And so the default (mask-requiring) parser refuses them, while a lenient one accepts them.
    with pytest.raises(core.WebSocketProtocolError):
        parse(core.encode_text_frame("x"))
    assert parse(core.encode_text_frame("x"), require_mask=False) == [(OP_TEXT, "x")]


# --- handshake ------------------------------------------------------------------------


def test_websocket_accept_rfc_example() -> None:
    assert core.websocket_accept(RFC_KEY) == RFC_ACCEPT
    assert core.websocket_accept(RFC_KEY.encode()) == RFC_ACCEPT


VALID_HEADERS = {
    "host": "server.example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-version": "13",
}


def headers_with(**changes: str | None) -> dict[str, str]:
    headers = dict(VALID_HEADERS)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"upgrade": "WebSocket"},
        {"upgrade": "WEBSOCKET"},
        {"upgrade": " websocket "},
        {"connection": "upgrade"},
        {"connection": "UPGRADE"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "Keep-Alive,upgrade"},
        {"connection": "Upgrade, HTTP2-Settings"},
        {"sec_websocket_version": " 13 "},
        {"sec_websocket_key": f"  {RFC_KEY} "},
        {"origin": "http://example.com", "sec_websocket_protocol": "chat"},
    ],
    ids=repr,
)
def test_check_websocket_upgrade_accepts(changes: dict[str, str]) -> None:
    assert core.check_websocket_upgrade("GET", headers_with(**changes)) == RFC_ACCEPT


def test_check_websocket_upgrade_answers_for_any_valid_key() -> None:
    key = base64.b64encode(bytes(range(16))).decode()
    headers = headers_with(sec_websocket_key=key)
    assert core.check_websocket_upgrade("GET", headers) == core.websocket_accept(key)


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "get", "CONNECT"])
def test_check_websocket_upgrade_refuses_other_methods(method: str) -> None:
    with pytest.raises(core.HandshakeError) as info:
        core.check_websocket_upgrade(method, VALID_HEADERS)
    assert info.value.status == 405


@pytest.mark.parametrize("version", ["12", "8", "", "14", "13, 8", "thirteen"])
def test_check_websocket_upgrade_refuses_other_versions(version: str) -> None:
    with pytest.raises(core.HandshakeError) as info:
        core.check_websocket_upgrade("GET", headers_with(sec_websocket_version=version))
    assert info.value.status == 426


def test_check_websocket_upgrade_refuses_a_missing_version() -> None:
    with pytest.raises(core.HandshakeError) as info:
        core.check_websocket_upgrade("GET", headers_with(sec_websocket_version=None))
    assert info.value.status in (400, 426)


@pytest.mark.parametrize(
    "changes",
    [
        {"sec_websocket_key": None},
        {"sec_websocket_key": ""},
        {"sec_websocket_key": "not base64!!"},
        {"sec_websocket_key": "dGhlIHNhbXBsZSBub25jZQ"},  # padding missing
        {"sec_websocket_key": base64.b64encode(bytes(15)).decode()},
        {"sec_websocket_key": base64.b64encode(bytes(17)).decode()},
        {"sec_websocket_key": "dGhlIHNhbXBs ZSBub25jZQ=="},
        {"sec_websocket_key": "dGhlIHNhbXBsZSBub25jZé=="},
        {"upgrade": None},
        {"upgrade": "h2c"},
        {"upgrade": "websockets"},
        {"connection": None},
        {"connection": "keep-alive"},
        {"connection": "upgrade-insecure-requests"},
    ],
    ids=repr,
)
def test_check_websocket_upgrade_refuses_bad_requests(changes: dict[str, str | None]) -> None:
    with pytest.raises(core.HandshakeError) as info:
        core.check_websocket_upgrade("GET", headers_with(**changes))
    assert info.value.status == 400
    assert isinstance(info.value, core.ProtocolError)


def test_handshake_error_defaults_to_400() -> None:
    assert core.HandshakeError("bad").status == 400
    assert core.HandshakeError("bad", 426).status == 426


# --- property tests -------------------------------------------------------------------

close_codes = st.one_of(st.sampled_from(VALID_CLOSE_CODES), st.integers(3000, 4999))


@st.composite
def frame_soup(draw: st.DrawFn) -> bytes:
    """Frames with random header fields (mostly plausible), optionally cut short or with garbage."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 5))):
        opcode = draw(
            st.one_of(st.sampled_from([OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING]), st.integers(0, 15))
        )
        payload = draw(
            st.one_of(
                st.binary(max_size=140),
                texts.map(str.encode),
                st.tuples(close_codes | st.integers(0, 65535), texts).map(
                    lambda c: close_payload(c[0], c[1].encode()[:60])
                ),
            )
        )
        out += client_frame(
            opcode,
            payload,
            fin=draw(st.booleans()),
            rsv=draw(st.sampled_from([0, 0, 0, 0x40, 0x10])),
            mask=draw(st.one_of(masks, masks, st.none())),
        )
    if draw(st.booleans()):
        out += draw(st.binary(max_size=20))
    return bytes(out[: draw(st.integers(0, len(out)))]) if draw(st.booleans()) else bytes(out)


def outcome(data: bytes, cuts: list[int], **kwargs: object) -> tuple[list[tuple[int, object]], type | None]:
    """Events and error class from feeding ``data`` split at ``cuts``."""
    parser = core.FrameParser(**kwargs)
    events: list[tuple[int, object]] = []
    for chunk in split_at(data, cuts):
        try:
            events += parser.feed(chunk)
        except core.WebSocketError as exc:
            return events + exc.events, type(exc)
    return events, None


@SETTINGS
@given(client_streams(close_codes), st.data())
def test_random_messages_survive_random_chunking(stream: tuple[bytes, list], data: st.DataObject) -> None:
    raw, expected = stream
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    parser = core.FrameParser()
    assert feed_chunks(parser, split_at(raw, cuts)) == expected
    assert parser.buffered == 0


@SETTINGS
@given(
    st.one_of(st.binary(max_size=400), frame_soup()),
    st.data(),
    st.sampled_from([None, 0, 16, 1000]),
    st.booleans(),
)
def test_arbitrary_input_only_raises_websocket_errors(
    raw: bytes, data: st.DataObject, limit: int | None, require_mask: bool
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    parser = core.FrameParser(max_message_size=limit, require_mask=require_mask)
    for chunk in split_at(raw, cuts):
        try:
            events = parser.feed(chunk)
        except core.WebSocketError as exc:
            assert type(exc) in (
                core.WebSocketProtocolError,
                core.WebSocketInvalidUtf8,
                core.WebSocketMessageTooBig,
            )
            with pytest.raises(type(exc)):
                parser.feed(b"\x81\x80\x00\x00\x00\x00")
            return
        for opcode, value in events:
            assert opcode in (OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)
            expected_type = {OP_TEXT: str, OP_CLOSE: tuple}.get(opcode, bytes)
            assert type(value) is expected_type


@SETTINGS
@given(
    st.one_of(st.binary(max_size=400), frame_soup(), client_streams(close_codes).map(lambda s: s[0])),
    st.data(),
)
def test_outcome_does_not_depend_on_chunking(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    assert outcome(raw, cuts, max_message_size=64) == outcome(raw, [], max_message_size=64)


@SETTINGS
@given(
    st.one_of(
        st.tuples(st.just(OP_TEXT), texts),
        st.tuples(st.just(OP_BINARY), st.binary(max_size=2000)),
        st.tuples(st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=125)),
    ),
    masks,
)
def test_masked_encoder_output_is_parsed_back(message: tuple[int, str | bytes], mask: bytes) -> None:
    opcode, value = message
    raw = value.encode() if isinstance(value, str) else value
    data = core.encode_frame(opcode, value, mask=mask)
    assert data == client_frame(opcode, raw, mask=mask)
    assert parse(data) == [(opcode, value)]
    # The same payload as a server frame only differs by the mask bit and key.
    assert parse(core.encode_frame(opcode, value), require_mask=False) == [(opcode, value)]


# --- permessage-deflate framing (RFC 7692 section 6): RSV1 once negotiated ------------------

OP_TEXT_DEFLATED = core.OP_TEXT_DEFLATED
OP_BINARY_DEFLATED = core.OP_BINARY_DEFLATED
NOT_UTF8 = b"\xff\x00\xc0\xaf"  # a compressed payload is any bytes: never checked as UTF-8


def deflate_parser(**kwargs: object) -> core.FrameParser:
    return core.FrameParser(deflate=True, **kwargs)


def test_deflated_event_constants_carry_the_rsv1_bit() -> None:
    assert (OP_TEXT_DEFLATED, OP_BINARY_DEFLATED) == (0x40 | OP_TEXT, 0x40 | OP_BINARY)
    assert (
        len({OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT_DEFLATED, OP_BINARY_DEFLATED})
        == 8
    )


def test_deflate_is_off_by_default_and_settable() -> None:
    parser = core.FrameParser()
    assert parser.deflate is False
    with pytest.raises(core.WebSocketProtocolError, match="reserved bits"):
        core.FrameParser().feed(client_frame(OP_TEXT, NOT_UTF8, rsv=0x40))
    parser.deflate = True  # as the front end does once the extension is negotiated
    assert parser.feed(client_frame(OP_TEXT, NOT_UTF8, rsv=0x40)) == [(OP_TEXT_DEFLATED, NOT_UTF8)]
    assert core.FrameParser(deflate=True).deflate is True


@pytest.mark.parametrize(("opcode", "event"), [(OP_TEXT, OP_TEXT_DEFLATED), (OP_BINARY, OP_BINARY_DEFLATED)])
@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_compressed_message_in_one_frame_is_returned_raw(opcode: int, event: int, size: int) -> None:
    payload = (NOT_UTF8 * (size // 4 + 1))[:size]
    frame = client_frame(opcode, payload, rsv=0x40)
    assert deflate_parser().feed(frame) == [(event, payload)]
    # Cut at every byte of the header and a few of the payload: the same single event.
    for cut in range(1, min(len(frame), 20)):
        parser = deflate_parser()
        assert parser.feed(frame[:cut]) + parser.feed(frame[cut:]) == [(event, payload)]


@pytest.mark.parametrize(("opcode", "event"), [(OP_TEXT, OP_TEXT_DEFLATED), (OP_BINARY, OP_BINARY_DEFLATED)])
def test_fragmented_compressed_message_is_reassembled_raw(opcode: int, event: int) -> None:
    # RSV1 on the first frame only; the continuations' bytes are not UTF-8 and are not checked.
    frames = (
        client_frame(opcode, b"ab\xff", fin=False, rsv=0x40)
        + client_frame(OP_PING, b"p")
        + client_frame(OP_CONT, b"\xc0", fin=False)
        + client_frame(OP_CONT, b"\xaf")
    )
    assert deflate_parser().feed(frames) == [(OP_PING, b"p"), (event, b"ab\xff\xc0\xaf")]
    events = feed_chunks(deflate_parser(), [frames[i : i + 1] for i in range(len(frames))])
    assert events == [(OP_PING, b"p"), (event, b"ab\xff\xc0\xaf")]


def test_uncompressed_messages_are_unchanged_with_deflate_on() -> None:
    stream = (
        client_frame(OP_TEXT, "plain")
        + client_frame(OP_TEXT, b"x", rsv=0x40)
        + client_frame(OP_TEXT, "fr", fin=False)
        + client_frame(OP_CONT, "ag")
        + client_frame(OP_BINARY, b"\x00\x01")
    )
    assert deflate_parser().feed(stream) == [
        (OP_TEXT, "plain"),
        (OP_TEXT_DEFLATED, b"x"),
        (OP_TEXT, "frag"),
        (OP_BINARY, b"\x00\x01"),
    ]
    # An uncompressed text message is still UTF-8 checked.
    with pytest.raises(core.WebSocketInvalidUtf8):
        deflate_parser().feed(client_frame(OP_TEXT, b"\xff"))
    with pytest.raises(core.WebSocketInvalidUtf8):
        deflate_parser().feed(client_frame(OP_TEXT, "a", fin=False) + client_frame(OP_CONT, b"\xff"))


OPEN_TEXT_DEFLATED = client_frame(OP_TEXT, b"\x01", fin=False, rsv=0x40)

# (id, bytes before the bad frame, the bad frame, what the message says) with deflate=True
DEFLATE_ERROR_CASES = [
    (
        "rsv1-continuation-of-compressed",
        OPEN_TEXT_DEFLATED,
        client_frame(OP_CONT, b"x", rsv=0x40),
        "continuation",
    ),
    ("rsv1-continuation-of-plain", OPEN_TEXT, client_frame(OP_CONT, b"x", rsv=0x40), "continuation"),
    ("rsv1-continuation-alone", b"", client_frame(OP_CONT, b"x", rsv=0x40), "continuation"),
    *[
        (f"rsv1-{name}", b"", client_frame(op, b"", rsv=0x40), "control frame")
        for name, op in [("ping", OP_PING), ("pong", OP_PONG), ("close", OP_CLOSE)]
    ],
    (
        "rsv1-ping-inside-compressed",
        OPEN_TEXT_DEFLATED,
        client_frame(OP_PING, b"", rsv=0x40),
        "control frame",
    ),
    ("rsv2", b"", client_frame(OP_TEXT, b"x", rsv=0x20), "reserved bits"),
    ("rsv3", b"", client_frame(OP_BINARY, b"x", rsv=0x10), "reserved bits"),
    ("rsv1-rsv2", b"", client_frame(OP_TEXT, b"x", rsv=0x60), "reserved bits"),
    ("rsv1-rsv3", b"", client_frame(OP_BINARY, b"x", rsv=0x50), "reserved bits"),
    ("rsv1-opcode-3", b"", client_frame(0x3, b"x", rsv=0x40), "unknown opcode"),
    (
        "new-compressed-in-open-message",
        OPEN_TEXT,
        client_frame(OP_TEXT, b"x", rsv=0x40),
        "fragmented message",
    ),
    (
        "new-message-in-open-compressed",
        OPEN_TEXT_DEFLATED,
        client_frame(OP_BINARY, b"x"),
        "fragmented message",
    ),
]


@pytest.mark.parametrize(
    ("name", "preamble", "bad", "message"), DEFLATE_ERROR_CASES, ids=[c[0] for c in DEFLATE_ERROR_CASES]
)
def test_rsv_rules_with_deflate(name: str, preamble: bytes, bad: bytes, message: str) -> None:
    parser = deflate_parser()
    with pytest.raises(core.WebSocketProtocolError, match=message) as info:
        parser.feed(GOOD_PREFIX + preamble + bad + client_frame(OP_TEXT, "after"))
    assert info.value.close_code == 1002
    assert info.value.events == GOOD_PREFIX_EVENTS
    with pytest.raises(core.WebSocketProtocolError):  # and it stays failed
        parser.feed(client_frame(OP_TEXT, "valid"))


def test_limit_bounds_the_compressed_payload_as_received() -> None:
    assert deflate_parser(max_message_size=10).feed(client_frame(OP_TEXT, b"x" * 10, rsv=0x40)) == [
        (OP_TEXT_DEFLATED, b"x" * 10)
    ]
    with pytest.raises(core.WebSocketMessageTooBig):
        deflate_parser(max_message_size=10).feed(client_frame(OP_TEXT, b"x" * 11, rsv=0x40))
    with pytest.raises(core.WebSocketMessageTooBig):
        deflate_parser(max_message_size=10).feed(
            client_frame(OP_BINARY, b"x" * 6, fin=False, rsv=0x40) + client_frame(OP_CONT, b"x" * 5)
        )


@pytest.mark.parametrize(("opcode", "head"), [(OP_TEXT, 0xC1), (OP_BINARY, 0xC2)])
@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_encode_deflated_frame(opcode: int, head: int, size: int) -> None:
    payload = binary_pattern(size)
    frame = core.encode_deflated_frame(opcode, payload)
    assert frame[0] == head  # FIN | RSV1 | opcode
    assert frame == bytes([head]) + client_frame(opcode, payload, mask=None)[1:]
    assert core.encode_deflated_frame(opcode, bytearray(payload)) == frame
    assert core.encode_deflated_frame(opcode, memoryview(payload)) == frame
    parsed = core.FrameParser(require_mask=False, deflate=True, max_message_size=None).feed(frame)
    assert parsed == [(opcode | 0x40, payload)]
    masked = core.encode_deflated_frame(opcode, payload, mask=MASK)
    assert masked == client_frame(opcode, payload, rsv=0x40, mask=MASK)
    assert core.FrameParser(deflate=True, max_message_size=None).feed(masked) == parsed


@pytest.mark.parametrize("opcode", [OP_CONT, OP_CLOSE, OP_PING, OP_PONG, 0x3, 0x41, -1])
def test_encode_deflated_frame_refuses_other_opcodes(opcode: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_deflated_frame(opcode, b"x")


def test_encode_deflated_frame_mask_must_be_four_bytes() -> None:
    for mask in (b"abc", b"abcde", "abcd"):
        with pytest.raises(core.EncodeError):
            core.encode_deflated_frame(OP_TEXT, b"x", mask=mask)  # type: ignore[arg-type]


@SETTINGS
@given(st.one_of(st.binary(max_size=400), frame_soup()), st.data(), st.sampled_from([None, 0, 16, 1000]))
def test_arbitrary_input_with_deflate_only_raises_websocket_errors(
    raw: bytes, data: st.DataObject, limit: int | None
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    parser = deflate_parser(max_message_size=limit)
    for chunk in split_at(raw, cuts):
        try:
            events = parser.feed(chunk)
        except core.WebSocketError as exc:
            assert type(exc) in (
                core.WebSocketProtocolError,
                core.WebSocketInvalidUtf8,
                core.WebSocketMessageTooBig,
            )
            return
        for opcode, value in events:
            expected_type = {OP_TEXT: str, OP_CLOSE: tuple}.get(opcode, bytes)
            assert opcode in (
                OP_TEXT,
                OP_BINARY,
                OP_CLOSE,
                OP_PING,
                OP_PONG,
                OP_TEXT_DEFLATED,
                OP_BINARY_DEFLATED,
            )
            assert type(value) is expected_type


@SETTINGS
@given(st.one_of(st.binary(max_size=400), frame_soup()), st.data())
def test_outcome_with_deflate_does_not_depend_on_chunking(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    kwargs = {"max_message_size": 64, "deflate": True}
    assert outcome(raw, cuts, **kwargs) == outcome(raw, [], **kwargs)
