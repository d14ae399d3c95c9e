"""The Engine.IO v3 codec (sio.engine.eio3): engine.io-parser 2.2.x's own test vectors, a differential
run against Node's two v3 parsers (the server's, engine.io's ``parser-v3``, and the client's,
engine.io-client 3.x's engine.io-parser 2.2.1), and bad input: every fault is an ``EngineIOError``
carrying the packets before it, nothing else escapes.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio._sio_core import EIO_MESSAGE, EIO_PING, EncodeError, EngineIOError
from sio.engine import eio3
from sio.engine.exchange import SharedPacket
from tests.peers import JS_DIR, ensure_js_peers

# -- engine.io-parser 2.2.1's test vectors (test/parser.js, test/node/index.js) --------------------


ALPHA = "\u03b1"  # the vector's Greek alpha


def test_text_payload_is_not_utf8_encoded_and_counts_characters() -> None:
    # "should not utf8 encode when dealing with strings only"
    body, binary = eio3.encode_payload(["4€€€", "4" + ALPHA], supports_binary=False)
    assert (body.decode(), binary) == ("4:4€€€2:4" + ALPHA, False)
    assert eio3.decode_payload(body) == [(EIO_MESSAGE, "€€€"), (EIO_MESSAGE, ALPHA)]


def test_string_payloads_stay_text_even_when_binary_is_supported() -> None:
    # "should encode string payloads as strings even if binary supported"
    assert eio3.encode_payload(["2", "3"], supports_binary=True) == (b"1:21:3", False)


def test_mixed_binary_and_text_as_base64() -> None:
    # "should encode/decode mixed binary and string contents as b64"
    data = bytes(range(5))
    body, binary = eio3.encode_payload([data, "4hello 亜"], supports_binary=False)
    assert (body.decode(), binary) == ("10:b4AAECAwQ=8:4hello 亜", False)
    assert eio3.decode_payload(body) == [(EIO_MESSAGE, data), (EIO_MESSAGE, "hello 亜")]


def test_binary_contents_as_a_binary_payload() -> None:
    # "should encode binary contents as binary", "should encode mixed binary and string contents as binary"
    first, second = bytes(range(5)), bytes(range(5, 9))
    body, binary = eio3.encode_payload([first, second], supports_binary=True)
    assert binary and body == b"\x01\x06\xff\x04" + first + b"\x01\x05\xff\x04" + second
    assert eio3.decode_payload(body, binary=True) == [(EIO_MESSAGE, first), (EIO_MESSAGE, second)]
    big = bytes(range(123))
    body, binary = eio3.encode_payload([big, "4hello 亜", "1"], supports_binary=True)
    # 123 + the type byte = 124: digits 1, 2, 4; "4hello 亜" is 10 bytes of UTF-8: digits 1, 0
    assert body == b"\x01\x01\x02\x04\xff\x04" + big + b"\x00\x01\x00\xff4hello \xe4\xba\x9c\x00\x01\xff1"
    assert eio3.decode_payload(body, binary=True) == [(EIO_MESSAGE, big), (EIO_MESSAGE, "hello 亜"), (1, "")]


def test_the_empty_payload() -> None:
    assert eio3.encode_payload([], supports_binary=False) == (b"0:", False)
    assert eio3.decode_payload(b"0:") == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"1!", id="1! (no colon)"),
        pytest.param(b"", id="empty"),
        pytest.param(b"))", id="no length"),
        pytest.param(b"1:", id="length past the end"),
        pytest.param(b"3:99:", id="unknown packet type"),
        pytest.param(b"1:aa", id="trailing garbage"),
        pytest.param(b"1:a2:b", id="bad packet then more"),
    ],
)
def test_bad_payload_formats(body: bytes) -> None:
    # "should err on bad payload format / length / packet format"
    with pytest.raises(EngineIOError):
        eio3.decode_payload(body)


@pytest.mark.parametrize("frame", [":::", "94103", "", "b9AAA", "b4not base64!"])
def test_bad_packets(frame: str) -> None:
    # decodePacket's "should disallow bad format / inexistent types", and bad base64
    with pytest.raises(EngineIOError):
        eio3.decode_packet(frame)


# -- lengths in UTF-16 code units ---------------------------------------------------------------------


def test_astral_characters_count_two_code_units_each_way() -> None:
    body, _ = eio3.encode_payload(["4😀", "4é😀x"], supports_binary=False)
    assert body.decode() == "3:4😀5:4é😀x"
    assert eio3.decode_payload(body) == [(EIO_MESSAGE, "😀"), (EIO_MESSAGE, "é😀x")]


def test_a_colon_is_found_on_code_unit_boundaries_only() -> None:
    # In UTF-16-LE, U+3A41 U+0100 is 41 3A 00 01: ":" and NUL straddling two code units.
    with pytest.raises(EngineIOError, match="invalid packet length '\u3a41\u0100'"):
        eio3.decode_payload("\u3a41\u0100:4😀".encode())
    body, _ = eio3.encode_payload(["4\u3a41\u0100😀", "2"], supports_binary=False)
    assert eio3.decode_payload(body) == [(EIO_MESSAGE, "\u3a41\u0100😀"), (EIO_PING, "")]


def test_a_length_that_splits_a_surrogate_pair_is_an_error() -> None:
    with pytest.raises(EngineIOError, match="splits a character") as caught:
        eio3.decode_payload("1:22:4😀".encode())
    assert caught.value.packets == [(EIO_PING, "")]


# -- bad input: clear errors, the packets before the fault ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "binary", "message"),
    [
        (b"2:4a\xff\xfe", False, "not valid UTF-8"),
        (b"1:2x:4a", False, "invalid packet length 'x'"),
        (b"1:2-1:4", False, "invalid packet length '-1'"),
        (b"1:2 1:4", False, "invalid packet length ' 1'"),
        (b"1:2" + b"9" * 40 + b":4", False, "runs past the end"),
        (b"1:2999:4abc", False, "runs past the end"),
        (b"1:22:4", False, "runs past the end"),
        (b"1:22", False, "without ':'"),
        (b"1:26:b4!!!!", False, "invalid base64"),
        (b"\x00\x01\xff2\x02\x01\xff4", True, r"neither 0 \(text\) nor 1 \(binary\)"),
        (b"\x00\x01\xff2\x00\x0a\xff4", True, "invalid packet length"),
        (b"\x00\x01\xff2\x00\x01\x01", True, "invalid packet length"),
        (b"\x00\x01\xff2\x00\xff", True, "invalid packet length"),
        (b"\x00\x01\xff2\x00" + b"\x09" * 30 + b"\xff4", True, "invalid packet length"),
        (b"\x00\x01\xff2\x00\x09\xff4", True, "runs past the end"),
        (b"\x00\x01\xff2\x00\x02\xff\xc3\x28", True, "not valid UTF-8"),
        (b"\x00\x01\xff2\x01\x00\xff", True, "empty binary"),
        (b"\x00\x01\xff2\x01\x02\xff\x02\x01", True, "cannot carry binary data"),
        (b"\x00\x01\xff2\x00\x01\xff9", True, "unknown Engine.IO packet type"),
    ],
)
def test_malformed_payloads_name_their_fault_and_keep_the_packets_before(
    body: bytes, binary: bool, message: str
) -> None:
    with pytest.raises(EngineIOError, match=message) as caught:
        eio3.decode_payload(body, binary)
    if body.startswith((b"1:2", b"\x00\x01\xff2")):  # a ping came first: it is kept for delivery
        assert caught.value.packets == [(EIO_PING, "")]


def test_binary_websocket_frames_lead_with_their_type_byte() -> None:
    assert eio3.decode_packet(b"\x04\x00\xff") == (EIO_MESSAGE, b"\x00\xff")
    assert eio3.decode_packet(bytearray(b"\x04")) == (EIO_MESSAGE, b"")
    assert eio3.decode_packet("b4AP8=") == (EIO_MESSAGE, b"\x00\xff")  # a b64 client's binary
    assert eio3.decode_packet("4hello") == (EIO_MESSAGE, "hello")
    assert eio3.decode_packet("2probe") == (EIO_PING, "probe")
    for frame in (b"", b"\x07abc", b"\xff"):
        with pytest.raises(EngineIOError):
            eio3.decode_packet(frame)


def test_websocket_messages_for_encoded_packets() -> None:
    text_only = ["4a", "2"]
    assert eio3.websocket_packets(text_only, supports_binary=True) is text_only  # nothing to change
    assert eio3.websocket_packets(["4a", b"\x01"], supports_binary=True) == ["4a", b"\x04\x01"]
    assert eio3.websocket_packets(["4a", b"\x01"], supports_binary=False) == ["4a", "b4AQ=="]
    shared = SharedPacket(b"\x01\x02", compress=False)
    first = eio3.websocket_packets([shared], supports_binary=True)[0]
    again = eio3.websocket_packets([shared], supports_binary=True)[0]
    assert isinstance(first, SharedPacket) and first is again  # made once for every v3 recipient
    assert (first.data, first.compress) == (b"\x04\x01\x02", False)
    text = eio3.websocket_packets([shared], supports_binary=False)[0]
    assert isinstance(text, SharedPacket) and (text.data, text.compress) == ("b4AQI=", False)


def test_a_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError):
        eio3.encode_payload(["4\ud800"], supports_binary=False)
    with pytest.raises(EncodeError):
        eio3.encode_payload(["4\ud800", b"\x01"], supports_binary=True)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_arbitrary_bytes_never_raise_anything_but_engineio_errors(body: bytes, binary: bool) -> None:
    _check_decodes_or_fails_cleanly(body, binary)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789:b4é😀\ud800", max_size=40))
def test_payload_like_text_never_raises_anything_but_engineio_errors(text: str) -> None:
    _check_decodes_or_fails_cleanly(text.encode("utf-8", "surrogatepass"), False)


def _check_decodes_or_fails_cleanly(body: bytes, binary: bool) -> None:
    """Packets, or an EngineIOError whose packets are well formed too."""
    try:
        packets = eio3.decode_payload(body, binary)
    except EngineIOError as exc:
        packets = exc.packets
        assert str(exc)
    for kind, data in packets:
        assert 0 <= kind <= 6 and isinstance(data, (str, bytes))


PACKETS = st.lists(
    st.one_of(
        st.text(max_size=20).map(lambda t: "4" + t),
        st.sampled_from(["2", "3", "6", "1", "2probe"]),
        st.binary(max_size=20),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(PACKETS, st.booleans())
def test_round_trip(packets: list[str | bytes], supports_binary: bool) -> None:
    packets = [p for p in packets if not (isinstance(p, str) and _has_lone_surrogate(p))]
    body, binary = eio3.encode_payload(packets, supports_binary)
    expected = [(EIO_MESSAGE, p) if isinstance(p, bytes) else (ord(p[0]) - 48, p[1:]) for p in packets]
    assert eio3.decode_payload(body, binary) == expected


def _has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# -- against Node's parsers --------------------------------------------------------------------------

# In: cases {"packets": [str | {"$bin": hex}], "binary": bool}. For each: the server's encodePayload
# (engine.io's parser-v3) of the packets, and the client's encodePayload (engine.io-client 3's
# engine.io-parser), each as {"hex", "binary"}; and the client's decodePayload of ``ours``.
NODE_V3 = r"""
const server = require("./node_modules/engine.io/build/parser-v3/index.js");
const client = require("./node_modules/engine.io-client-v3/node_modules/engine.io-parser");
const NAMES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
const toPacket = (p) => typeof p === "string"
  ? (p.length > 1 ? { type: NAMES[+p[0]], data: p.slice(1) } : { type: NAMES[+p[0]] })
  : { type: "message", data: Buffer.from(p.$bin, "hex") };
const fromPacket = (p) => Buffer.isBuffer(p.data) || p.data instanceof ArrayBuffer
  ? { $bin: Buffer.from(p.data).toString("hex") }
  : String(NAMES.indexOf(p.type)) + (p.data === undefined ? "" : p.data);
const wire = (data) => typeof data === "string"
  ? { hex: Buffer.from(data, "utf8").toString("hex"), binary: false }
  : { hex: Buffer.from(data).toString("hex"), binary: true };
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map((c) => {
  const result = {};
  server.encodePayload(c.packets.map(toPacket), c.binary, (data) => { result.server = wire(data); });
  client.encodePayload(c.packets.map(toPacket), c.binary, (data) => { result.client = wire(data); });
  const ours = Buffer.from(c.ours.hex, "hex");
  const decoded = [];
  const body = c.ours.binary ? ours : ours.toString("utf8");
  client.decodePayload(body, (packet) => { decoded.push(fromPacket(packet)); });
  result.decoded = decoded;
  return result;
});
process.stdout.write(JSON.stringify(out));
"""

ALPHABET = ["a", "Z", " ", ":", "0", "9", "é", "€", "亜", "😀", "\U0010ffff", "\x00", "\x1e", '"']


def _cases(count: int) -> list[list[str | bytes]]:
    rng = random.Random(1234)  # deterministic: the same cases every run
    cases: list[list[str | bytes]] = [
        [],
        ["4"],
        ["4€€€", "4" + ALPHA],
        [bytes(range(5)), "4hello 亜"],
        ["2probe", "6", "1"],
        [b"", b"\x04", "4😀"],
        ["4" + "x" * 1000, bytes(range(256)) * 4],
    ]
    while len(cases) < count:
        packets: list[str | bytes] = []
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.3:
                packets.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))))
            else:
                kind = rng.choice("2346")
                packets.append(kind + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))))
        cases.append(packets)
    return cases


def _to_js(packet: str | bytes) -> Any:
    return packet if isinstance(packet, str) else {"$bin": packet.hex()}


def _from_js(packet: Any) -> str | bytes:
    return packet if isinstance(packet, str) else bytes.fromhex(packet["$bin"])


def test_payloads_are_byte_for_byte_nodes_both_ways() -> None:
    node = ensure_js_peers()
    jobs = []
    for packets in _cases(300):
        for supports_binary in (False, True):
            body, binary = eio3.encode_payload(packets, supports_binary)
            jobs.append((packets, supports_binary, body, binary))
    request = [
        {
            "packets": [_to_js(p) for p in packets],
            "binary": supports_binary,
            "ours": {"hex": body.hex(), "binary": binary},
        }
        for packets, supports_binary, body, binary in jobs
    ]
    result = subprocess.run(
        [node, "-e", NODE_V3],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=JS_DIR,
    )
    answers = json.loads(result.stdout)
    binary_payloads = 0
    for (packets, supports_binary, body, binary), answer in zip(jobs, answers, strict=True):
        where = (packets, supports_binary)
        # What Node's server sends is what we send.
        assert (answer["server"]["hex"], answer["server"]["binary"]) == (body.hex(), binary), where
        # What the client sends us (its POSTs) decodes to the packets.
        sent = answer["client"]
        expected = [(EIO_MESSAGE, p) if isinstance(p, bytes) else (ord(p[0]) - 48, p[1:]) for p in packets]
        assert eio3.decode_payload(bytes.fromhex(sent["hex"]), sent["binary"]) == expected, where
        # And the client reads what we send as the packets.
        assert [_from_js(p) for p in answer["decoded"]] == packets, where
        binary_payloads += binary
    assert binary_payloads > 100  # both kinds of payload were compared
