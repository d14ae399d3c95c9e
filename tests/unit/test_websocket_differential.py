"""Differential tests: the core's WebSocket codec against the ``websockets`` library.

The same client byte streams go through ``core.FrameParser`` and through websockets'
sans-I/O ``ServerProtocol`` (already OPEN, fed with ``receive_data``). Both outcomes
are reduced to ``(events, close_code)``: the messages and control frames received,
in the core's event shapes, and the close code the server fails the connection with
(``None`` while the stream is acceptable). Frames are also encoded by each library
and parsed by the other, and the handshake helpers are compared.

websockets differs from the core in a few deliberate ways, normalised here:

* Its protocol layer does not check UTF-8; its connection layer decodes text with an
  incremental UTF-8 decoder and closes with 1007. The reference does the same, and
  also refuses an undecodable tail at once (CPython's decoder only refuses
  ``ED A0..BF`` at the third byte, while RFC 6455 section 8.1 says to fail as soon as
  the bytes cannot be valid UTF-8, which the core does).
* It discards everything after a close frame; the core keeps parsing, so the core's
  outcome is cut after its first close event.
* It fails a close frame that arrives in the middle of a fragmented message (1002),
  while RFC 6455 section 5.4 lets control frames be injected between fragments and
  the core delivers the close; the reference reports the close it parsed.
* Its size limit also covers control frames between fragments (with the room left
  in the message); generated streams avoid that corner.
* It accepts non-minimal length encodings of control frames, which the core refuses
  (section 5.2 requires the minimal encoding); generated control frames use it.
* It does not check the top bit of a 64-bit length (section 5.2): with a limit it
  answers 1009 where the core answers 1002; both refuse.
"""

from __future__ import annotations

import base64
import codecs
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.datastructures import Headers
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.utils import accept_key

from sio import _sio_core as core
from tests.unit.wsframes import MASK, client_frame, client_streams, close_payload, masks, split_at, texts

OP_CONT = core.OP_CONTINUATION
OP_TEXT = core.OP_TEXT
OP_BINARY = core.OP_BINARY
OP_CLOSE = core.OP_CLOSE
OP_PING = core.OP_PING
OP_PONG = core.OP_PONG

LIMIT = 1 << 20  # the same max_size for both libraries unless a test says otherwise

SETTINGS = settings(max_examples=200, deadline=None)

Event = tuple[int, object]
Outcome = tuple[list[Event], int | None]


# --- the two outcomes -----------------------------------------------------------------


def core_outcome(chunks: list[bytes], max_size: int | None = LIMIT) -> Outcome:
    parser = core.FrameParser(max_message_size=max_size)
    events: list[Event] = []
    code = None
    for chunk in chunks:
        try:
            events += parser.feed(chunk)
        except core.WebSocketError as exc:
            events += exc.events
            code = exc.close_code
            break
    for i, (opcode, _) in enumerate(events):
        if opcode == OP_CLOSE:  # websockets reads nothing after a close frame
            return events[: i + 1], None
    return events, code


def is_utf8_prefix(pending: bytes) -> bool:
    """Whether some continuation bytes can complete ``pending`` into valid UTF-8."""
    if not pending:
        return True
    lead = pending[0]
    size = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    for second in range(0x80, 0xC0):
        candidate = (pending + bytes([second]) + b"\x80" * size)[:size]
        if candidate.startswith(pending):
            try:
                candidate.decode()
            except UnicodeDecodeError:
                continue
            return True
    return False


class TextAssembler:
    """Reassembles websockets frames into messages like websockets' ``Assembler``."""

    def __init__(self) -> None:
        self.opcode = -1
        self.parts: list[str | bytes] = []
        self.decoder: codecs.IncrementalDecoder | None = None

    def feed(self, frame: Frame) -> Event | None:
        """Return the completed message, or None; raise UnicodeDecodeError on bad text."""
        data = bytes(frame.data)
        if frame.opcode is not Opcode.CONT:
            self.opcode = int(frame.opcode)
            self.parts = []
            self.decoder = codecs.getincrementaldecoder("utf-8")() if frame.opcode is Opcode.TEXT else None
        if self.decoder is not None:
            self.parts.append(self.decoder.decode(data, final=frame.fin))
            pending = self.decoder.getstate()[0]
            if not is_utf8_prefix(pending):
                raise UnicodeDecodeError("utf-8", pending, 0, len(pending), "invalid sequence")
        else:
            self.parts.append(data)
        if not frame.fin:
            return None
        if self.decoder is not None:
            return (self.opcode, "".join(self.parts))  # type: ignore[arg-type]
        return (self.opcode, b"".join(self.parts))  # type: ignore[arg-type]


def websockets_outcome(chunks: list[bytes], max_size: int | None = LIMIT) -> Outcome:
    protocol = ServerProtocol(state=State.OPEN, max_size=max_size)
    assembler = TextAssembler()
    events: list[Event] = []
    for chunk in chunks:
        protocol.receive_data(chunk)
        for frame in protocol.events_received():
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                try:
                    message = assembler.feed(frame)
                except UnicodeDecodeError:
                    return events, 1007
                if message is not None:
                    events.append(message)
            elif frame.opcode is Opcode.CLOSE:
                assert protocol.close_rcvd is not None
                events.append((OP_CLOSE, (int(protocol.close_rcvd.code), protocol.close_rcvd.reason)))
                return events, None
            else:
                events.append((int(frame.opcode), bytes(frame.data)))
        exc = protocol.parser_exc
        if exc is not None:
            if (
                isinstance(exc, WsProtocolError)
                and str(exc) == "incomplete fragmented message"
                and protocol.close_rcvd is not None
            ):
                close = protocol.close_rcvd
                events.append((OP_CLOSE, (int(close.code), close.reason)))
                return events, None
            assert protocol.close_sent is not None
            return events, int(protocol.close_sent.code)
    return events, None


def both(chunks: list[bytes], max_size: int | None = LIMIT) -> tuple[Outcome, Outcome]:
    return core_outcome(chunks, max_size), websockets_outcome(chunks, max_size)


# --- the reference itself -------------------------------------------------------------


def test_reference_reads_a_simple_stream() -> None:
    stream = (
        client_frame(OP_TEXT, "hi")
        + client_frame(OP_PING, b"p")
        + client_frame(OP_CLOSE, close_payload(1000))
    )
    expected = ([(OP_TEXT, "hi"), (OP_PING, b"p"), (OP_CLOSE, (1000, ""))], None)
    assert websockets_outcome([stream]) == expected
    assert core_outcome([stream]) == expected


@pytest.mark.parametrize(
    ("pending", "valid"),
    [(b"\xe2\x82", True), (b"\xed\x9f", True), (b"\xed\xa0", False), (b"\xe0", True), (b"\xf4\x90", False)],
)
def test_reference_utf8_prefix_check(pending: bytes, valid: bool) -> None:
    assert is_utf8_prefix(pending) is valid


# --- valid streams --------------------------------------------------------------------

valid_close_codes = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, *range(1007, 1015)]), st.integers(3000, 4999)
)


@SETTINGS
@given(client_streams(valid_close_codes), st.data())
def test_valid_streams_give_the_same_messages(stream: tuple[bytes, list[Event]], data: st.DataObject) -> None:
    raw, expected = stream
    chunks = split_at(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    ours, theirs = both(chunks)
    assert theirs == (expected, None)
    assert ours == theirs


# --- invalid and arbitrary streams -----------------------------------------------------


@st.composite
def maybe_broken_text(draw: st.DrawFn) -> bytes:
    raw = draw(texts).encode()
    if draw(st.booleans()):
        i = draw(st.integers(0, len(raw)))
        bad = draw(
            st.sampled_from(
                [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
            )
        )
        raw = raw[:i] + bad + raw[i:]
    return raw


@st.composite
def close_payloads(draw: st.DrawFn) -> bytes:
    """Close payloads with at most one fault, so that the close code is unambiguous."""
    return draw(
        st.one_of(
            st.tuples(valid_close_codes, maybe_broken_text()).map(lambda c: close_payload(c[0], c[1][:100])),
            # Any code, a valid reason: cut at a character boundary, or the cut would be a second
            # fault (websockets checks the reason first, Node's ws and we the code: both are right).
            st.tuples(st.integers(0, 65535), texts).map(
                lambda c: close_payload(c[0], c[1].encode()[:100].decode("utf-8", "ignore").encode())
            ),
            st.binary(max_size=1),
        )
    )


FAULTS = ["rsv", "opcode", "unmasked", "fin", "swap-opcode", "drop-frame", "bad-utf8", "close-payload"]


@st.composite
def frame_soups(draw: st.DrawFn) -> bytes:
    """Plausible client frames with random faults: some streams valid, most broken somewhere."""
    specs: list[dict] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from([OP_TEXT, OP_BINARY, OP_PING, OP_PONG, OP_CLOSE]))
        if kind == OP_CLOSE:
            specs.append({"opcode": kind, "payload": draw(close_payloads())})
            continue
        if kind in (OP_PING, OP_PONG):
            specs.append({"opcode": kind, "payload": draw(st.binary(max_size=125))})
            continue
        raw = draw(maybe_broken_text()) if kind == OP_TEXT else draw(st.binary(max_size=140))
        pieces = split_at(raw, draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        for i, piece in enumerate(pieces):
            specs.append(
                {
                    "opcode": kind if i == 0 else OP_CONT,
                    "payload": piece,
                    "fin": i == len(pieces) - 1,
                    "form": draw(st.sampled_from([None, None, 16, 64])),
                }
            )
            if draw(st.integers(0, 3)) == 0:
                specs.append({"opcode": OP_PING, "payload": draw(st.binary(max_size=10))})
    for _ in range(draw(st.integers(0, 2))):
        spec = specs[draw(st.integers(0, len(specs) - 1))]
        fault = draw(st.sampled_from(FAULTS))
        if fault == "rsv":
            spec["rsv"] = draw(st.sampled_from([0x40, 0x20, 0x10]))
        elif fault == "opcode":
            spec["opcode"] = draw(st.integers(0, 15))
            if spec["opcode"] == OP_CLOSE:
                spec["payload"] = draw(close_payloads())
        elif fault == "unmasked":
            spec["mask"] = None
        elif fault == "fin":
            spec["fin"] = not spec.get("fin", True)
        elif fault == "swap-opcode":
            spec["opcode"] = {OP_CONT: OP_TEXT, OP_TEXT: OP_CONT, OP_BINARY: OP_CONT}.get(
                spec["opcode"], OP_CONT
            )
        elif fault == "drop-frame" and len(specs) > 1:
            specs.remove(spec)
        elif fault == "bad-utf8" and spec["opcode"] != OP_CLOSE:
            spec["payload"] = spec["payload"] + draw(
                st.sampled_from([b"\xff", b"\xed\xa0", b"\xc3", b"\x80"])
            )
        elif fault == "close-payload" or (fault == "bad-utf8" and spec["opcode"] == OP_CLOSE):
            spec["payload"] = draw(close_payloads())  # one fault at most: see close_payloads
    out = bytearray()
    for spec in specs:
        if spec["opcode"] >= 8:
            spec.pop("form", None)  # websockets accepts non-minimal lengths there; see the docstring
        out += client_frame(
            spec.pop("opcode"), spec.pop("payload"), mask=spec.pop("mask", draw(masks)), **spec
        )
    return bytes(out)


@SETTINGS
@given(frame_soups(), st.data())
def test_arbitrary_frames_get_the_same_verdict(soup: bytes, data: st.DataObject) -> None:
    chunks = split_at(soup, data.draw(st.lists(st.integers(0, len(soup)), max_size=6)))
    ours, theirs = both(chunks, max_size=None)
    assert ours == theirs


@st.composite
def data_messages_near_a_limit(draw: st.DrawFn) -> bytes:
    """Well-formed data messages of 0..120 bytes in up to four fragments."""
    out = bytearray()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
        raw = b"x" * draw(st.integers(0, 120))
        pieces = split_at(raw, draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        for i, piece in enumerate(pieces):
            out += client_frame(
                kind if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1, mask=draw(masks)
            )
    return bytes(out)


@SETTINGS
@given(data_messages_near_a_limit(), st.integers(0, 100), st.data())
def test_size_limit_gives_the_same_verdict(stream: bytes, limit: int, data: st.DataObject) -> None:
    chunks = split_at(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    ours, theirs = both(chunks, max_size=limit)
    assert ours == theirs


OPEN_TEXT = client_frame(OP_TEXT, "open", fin=False)

INVALID_STREAMS = {
    "rsv1": (client_frame(OP_TEXT, "x", rsv=0x40), 1002),
    "rsv2": (client_frame(OP_BINARY, b"x", rsv=0x20), 1002),
    "rsv3": (client_frame(OP_PING, b"", rsv=0x10), 1002),
    **{f"opcode-{op:#x}": (client_frame(op, b"x"), 1002) for op in [*range(3, 8), *range(0xB, 0x10)]},
    "fragmented-ping": (client_frame(OP_PING, b"", fin=False), 1002),
    "fragmented-close": (client_frame(OP_CLOSE, b"", fin=False), 1002),
    "long-pong": (client_frame(OP_PONG, b"x" * 126), 1002),
    "long-close": (client_frame(OP_CLOSE, close_payload(1000, "r" * 124)), 1002),
    "continuation-without-start": (client_frame(OP_CONT, "x"), 1002),
    "text-in-open-text": (OPEN_TEXT + client_frame(OP_TEXT, "x"), 1002),
    "binary-in-open-text": (OPEN_TEXT + client_frame(OP_BINARY, b"x", fin=False), 1002),
    "unmasked": (client_frame(OP_TEXT, "x", mask=None), 1002),
    "close-one-byte": (client_frame(OP_CLOSE, b"\x03"), 1002),
    **{
        f"close-code-{code}": (client_frame(OP_CLOSE, close_payload(code)), 1002)
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]
    },
    "close-reason-bad-utf8": (client_frame(OP_CLOSE, close_payload(1000, b"\xed\xa0\x80")), 1007),
    "text-bad-utf8": (client_frame(OP_TEXT, b"\xc0\xaf"), 1007),
    "text-surrogate": (client_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    "text-ends-mid-sequence": (OPEN_TEXT + client_frame(OP_CONT, b"\xe2\x82"), 1007),
    "bad-utf8-across-fragments": (
        client_frame(OP_TEXT, b"a\xf0", fin=False) + client_frame(OP_CONT, b"\x8f"),
        1007,
    ),
    "surrogate-prefix-in-open-fragment": (client_frame(OP_TEXT, b"a\xed\xa0", fin=False), 1007),
    "too-big": (client_frame(OP_BINARY, b"x" * 201), 1009),
    "too-big-header-only": (client_frame(OP_BINARY, length=1 << 40)[:10], 1009),
    "fragments-too-big": (OPEN_TEXT + client_frame(OP_CONT, b"x" * 197), 1009),
}


@pytest.mark.parametrize(("stream", "code"), INVALID_STREAMS.values(), ids=INVALID_STREAMS.keys())
def test_invalid_streams_are_refused_by_both(stream: bytes, code: int) -> None:
    prefix = client_frame(OP_TEXT, "before") + client_frame(OP_PONG, b"")
    before = [(OP_TEXT, "before"), (OP_PONG, b"")]
    for chunks in ([prefix + stream], [prefix, *[stream[i : i + 1] for i in range(len(stream))]]):
        ours, theirs = both(chunks, max_size=200)  # over the 126-byte control frames above
        assert theirs == (before, code)
        assert ours == theirs


def test_top_bit_length_refused_by_both_with_different_codes() -> None:
    stream = bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + MASK
    assert core_outcome([stream], max_size=100) == ([], 1002)
    assert websockets_outcome([stream], max_size=100) == ([], 1009)


def test_close_between_fragments_is_a_close_for_the_core_and_a_failure_for_websockets() -> None:
    stream = OPEN_TEXT + client_frame(OP_CLOSE, close_payload(1001, "bye"))
    assert core.FrameParser().feed(stream) == [(OP_CLOSE, (1001, "bye"))]
    protocol = ServerProtocol(state=State.OPEN)
    protocol.receive_data(stream)
    assert isinstance(protocol.parser_exc, WsProtocolError)
    assert str(protocol.parser_exc) == "incomplete fragmented message"
    # Which the reference normalises into the close that websockets did parse.
    assert both([stream]) == (([(OP_CLOSE, (1001, "bye"))], None),) * 2


# --- encoders -------------------------------------------------------------------------


def ws_parse(data: bytes, *, mask: bool) -> Frame:
    """Parse one frame with websockets' generator-based ``Frame.parse``."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=mask, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        assert not reader.buffer, "trailing bytes after the frame"
        return done.value
    pytest.fail("websockets wants more bytes than the frame has")


messages = st.one_of(
    st.tuples(st.just(OP_TEXT), texts, st.booleans()),
    st.tuples(st.sampled_from([OP_BINARY, OP_CONT]), st.binary(max_size=2000), st.booleans()),
    st.tuples(st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=125), st.just(True)),
)


@SETTINGS
@given(messages)
def test_server_frames_are_byte_identical_to_websockets(message: tuple[int, str | bytes, bool]) -> None:
    opcode, value, fin = message
    raw = value.encode() if isinstance(value, str) else value
    ours = core.encode_frame(opcode, value, fin=fin)
    assert ours == Frame(Opcode(opcode), raw, fin).serialize(mask=False)
    frame = ws_parse(ours, mask=False)
    assert (int(frame.opcode), bytes(frame.data), frame.fin) == (opcode, raw, fin)


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 65537])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_server_frames_at_length_boundaries_match_websockets(n: int, opcode: int) -> None:
    payload = (b"t" if opcode == OP_TEXT else b"b") * n
    ours = (
        core.encode_text_frame(payload.decode()) if opcode == OP_TEXT else core.encode_binary_frame(payload)
    )
    assert ours == Frame(Opcode(opcode), payload).serialize(mask=False)


@SETTINGS
@given(messages, masks)
def test_masked_frames_are_parsed_by_websockets(message: tuple[int, str | bytes, bool], mask: bytes) -> None:
    opcode, value, fin = message
    raw = value.encode() if isinstance(value, str) else value
    frame = ws_parse(core.encode_frame(opcode, value, fin=fin, mask=mask), mask=True)
    assert (int(frame.opcode), bytes(frame.data), frame.fin) == (opcode, raw, fin)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([OP_TEXT, OP_BINARY, OP_PING]), texts), max_size=5), st.data())
def test_websockets_client_frames_are_parsed_by_the_core(
    items: list[tuple[int, str]], data: st.DataObject
) -> None:
    stream = bytearray()
    expected: list[Event] = []
    for opcode, text in items:
        raw = text.encode()
        if opcode == OP_PING:
            raw = raw[:125]
            expected.append((opcode, raw))
        else:
            expected.append((opcode, text if opcode == OP_TEXT else raw))
        if opcode != OP_PING and len(raw) > 1 and data.draw(st.booleans()):
            cut = data.draw(st.integers(0, len(raw)))
            stream += Frame(Opcode(opcode), raw[:cut], fin=False).serialize(mask=True)
            stream += Frame(Opcode.CONT, raw[cut:]).serialize(mask=True)
        else:
            stream += Frame(Opcode(opcode), raw).serialize(mask=True)
    assert core.FrameParser().feed(bytes(stream)) == expected


@SETTINGS
@given(valid_close_codes, st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_close_frames_match_websockets(code: int, reason: str) -> None:
    ours = core.encode_close_frame(code, reason)
    assert ours == Frame(Opcode.CLOSE, Close(code, reason).serialize()).serialize(mask=False)
    assert Close.parse(bytes(ws_parse(ours, mask=False).data)) == Close(code, reason)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_invalid_close_codes_refused_by_both_encoders(code: int) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_close_frame(code)
    with pytest.raises(WsProtocolError):
        Close(code, "").serialize()


# --- handshake ------------------------------------------------------------------------


@SETTINGS
@given(st.binary(min_size=16, max_size=16))
def test_accept_value_matches_websockets(raw_key: bytes) -> None:
    key = base64.b64encode(raw_key).decode()
    assert core.websocket_accept(key) == accept_key(key)
    assert core.websocket_accept(key.encode()) == accept_key(key)


BASE_HEADERS = {
    "Host": "example.com",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}

# (changes to BASE_HEADERS, method, status the core answers; None = accepted)
HANDSHAKES = {
    "valid": ({}, "GET", None),
    "upgrade-case": ({"Upgrade": "WebSocket"}, "GET", None),
    "connection-list": ({"Connection": "keep-alive, Upgrade"}, "GET", None),
    "connection-case": ({"Connection": "upgrade"}, "GET", None),
    "other-key": ({"Sec-WebSocket-Key": base64.b64encode(bytes(16)).decode()}, "GET", None),
    "post": ({}, "POST", 405),
    "head": ({}, "HEAD", 405),
    "no-upgrade": ({"Upgrade": None}, "GET", 400),
    "other-upgrade": ({"Upgrade": "h2c"}, "GET", 400),
    "no-connection": ({"Connection": None}, "GET", 400),
    "connection-keep-alive": ({"Connection": "keep-alive"}, "GET", 400),
    "no-key": ({"Sec-WebSocket-Key": None}, "GET", 400),
    "key-not-base64": ({"Sec-WebSocket-Key": "not base64!!"}, "GET", 400),
    "key-15-bytes": ({"Sec-WebSocket-Key": base64.b64encode(bytes(15)).decode()}, "GET", 400),
    "key-17-bytes": ({"Sec-WebSocket-Key": base64.b64encode(bytes(17)).decode()}, "GET", 400),
    "version-8": ({"Sec-WebSocket-Version": "8"}, "GET", 426),
    "version-14": ({"Sec-WebSocket-Version": "14"}, "GET", 426),
}


@pytest.mark.parametrize(("changes", "method", "status"), HANDSHAKES.values(), ids=HANDSHAKES.keys())
def test_handshake_verdicts_match_websockets(
    changes: dict[str, str | None], method: str, status: int | None
) -> None:
    headers = {**BASE_HEADERS, **changes}
    present = {name: value for name, value in headers.items() if value is not None}
    response = ServerProtocol().accept(Request("/", Headers(present), method=method))
    try:
        accept = core.check_websocket_upgrade(
            method, {name.lower(): value for name, value in present.items()}
        )
    except core.HandshakeError as exc:
        assert exc.status == status
        assert response.status_code != 101
        # Both send 405 and 400 alike; for a missing Upgrade or Connection header
        # websockets answers 426 and for a bad version 400, where the core follows
        # RFC 6455 section 4.2.2 (426 with Sec-WebSocket-Version for a bad version).
        if status in (405, 400) and "Upgrade" not in changes and "Connection" not in changes:
            assert response.status_code == status
    else:
        assert status is None
        assert response.status_code == 101
        assert accept == response.headers["Sec-WebSocket-Accept"]
