"""Differential tests: our codecs against python-engineio and python-socketio.

The reference Python implementations (``engineio.packet.Packet``, ``engineio.payload.Payload``,
``socketio.packet.Packet``) run on the same inputs as our core. Where both accept an input they
must agree on what it means; where they disagree by design, the tests below pin the difference
and say why. Our rules follow the JavaScript reference (engine.io-parser, socket.io-parser), which
the Python implementations only approximate: they validate very little on decode.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any

import pytest
from engineio.packet import Packet as EioPacket
from engineio.payload import Payload as EioPayload
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from socketio.packet import Packet as SioRefPacket

from sio import _sio_core as core

RS = "\x1e"


# --- helpers: run each side, "None" meaning "rejected" ---------------------------------------


def ours_eio(frame: str | bytes) -> tuple[int, str | bytes] | None:
    try:
        return core.decode_eio_packet(frame)
    except core.EngineIOError:
        return None


def theirs_eio(frame: str | bytes) -> tuple[int, Any] | None:
    try:
        packet = EioPacket(encoded_packet=frame)
    except Exception:  # whatever the reference raises (ValueError, binascii.Error...) is a rejection
        return None
    return packet.packet_type, packet.data


def ours_payload(body: str) -> list[tuple[int, str | bytes]] | None:
    try:
        return core.decode_eio_payload(body.encode())
    except core.EngineIOError:
        return None


def theirs_payload(body: str) -> list[tuple[int, Any]] | None:
    try:
        payload = EioPayload(encoded_payload=body)
    except Exception:
        return None
    return [(p.packet_type, p.data) for p in payload.packets]


def eio_data_agrees(ours: str | bytes, theirs: Any) -> bool:
    """Whether python-engineio's view of a packet's data is ours.

    python-engineio also runs ``json.loads`` on text data when it parses (``4{"a":1}`` gives a
    dict, ``4"x"`` the str ``x``): a convenience of its API on top of the same wire data. We keep
    the text as sent, so the text must either equal theirs or be the JSON of their value.
    """
    if type(ours) is type(theirs) and ours == theirs:
        return True
    if not isinstance(ours, str):
        return False
    try:
        parsed = json.loads(ours)
    except ValueError:
        return False
    return json.dumps(parsed) == json.dumps(theirs)  # json.dumps also equates NaN with NaN


def as_js(value: Any) -> Any:
    """A JSON value with every number as a double, the only number type JavaScript has.

    orjson reads integer literals beyond 64 bits as floats and ``json`` as exact ints, so the same
    text "18446744073709552000" (JavaScript's 2**64) gives 2**64 on one side and
    18446744073709552000 on the other: different Python ints, the same JavaScript number.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [as_js(v) for v in value]
    if isinstance(value, dict):
        return {k: as_js(v) for k, v in value.items()}
    raise AssertionError(f"not a JSON value: {value!r}")


def theirs_sio(parts: list[str | bytes]) -> SioRefPacket | None:
    try:
        packet = SioRefPacket(encoded_packet=parts[0])
        for attachment in parts[1:]:
            packet.add_attachment(attachment)
    except Exception:
        return None
    return packet


def ours_sio(parts: list[str | bytes], max_attachments: int = 10) -> core.SioPacket | None:
    decoder = core.SioDecoder(max_attachments)
    packet = None
    try:
        for part in parts:
            packet = decoder.feed(part)
    except core.SocketIOError:
        return None
    return packet


def assert_sio_agree(ours: core.SioPacket, theirs: SioRefPacket) -> None:
    assert ours.type == theirs.packet_type
    # python-socketio leaves the namespace None when the packet names none; that is "/".
    assert ours.nsp == (theirs.namespace or "/")
    assert ours.id == theirs.id
    assert as_js(ours.data) == as_js(theirs.data)


class JsonLikeJavaScript:
    """The ``json`` python-socketio encodes with, writing non-ASCII text as itself.

    python-socketio calls ``json.dumps(data, separators=(",", ":"))``: compact like
    JSON.stringify, but with ``ensure_ascii`` on, so "é" becomes "\\u00e9". JSON.stringify (and
    so Node, and we) writes "é" as itself. Both are the same JSON value; only that escaping is
    normalised here, through the ``json`` attribute python-socketio provides for this purpose.
    """

    dumps = staticmethod(functools.partial(json.dumps, ensure_ascii=False))
    loads = staticmethod(json.loads)


class RefPacketJsStrings(SioRefPacket):
    json = JsonLikeJavaScript


# --- Engine.IO packets --------------------------------------------------------------------

EIO_FRAMES = [
    "2probe",
    "3probe",
    "5",
    "6",
    "1",
    "4hello",
    "4",
    "4€😀",
    "41",
    "4 1",
    '4{"a":1}',
    '4"x"',
    "4[1,2]",
    "4NaN",
    '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
    b"\x01\x02\x03\x04",
    b"",
    b"4hello",
]


@pytest.mark.parametrize("frame", EIO_FRAMES)
def test_eio_packet_decode_agrees(frame: str | bytes) -> None:
    ours, theirs = ours_eio(frame), theirs_eio(frame)
    assert ours is not None
    assert theirs is not None
    assert ours[0] == theirs[0]
    assert eio_data_agrees(ours[1], theirs[1])


def test_eio_text_data_is_kept_as_text() -> None:
    # The difference eio_data_agrees allows for: python-engineio hands out parsed JSON.
    assert ours_eio('4{"a":1}') == (core.EIO_MESSAGE, '{"a":1}')
    assert theirs_eio('4{"a":1}') == (core.EIO_MESSAGE, {"a": 1})


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        # engine.io-parser knows types "0".."6" only; python-engineio takes int() of any digit.
        ("7hello", "unknown type 7"),
        ("9", "unknown type 9"),
        ("٣x", "int('٣') is 3, but it is not the ASCII digit 3"),
        # The protocol sends binary over WebSocket "as is, without modification" in a binary
        # frame; the "b" + base64 form belongs to polling payloads only.
        ("bAQIDBA==", "base64 in a WebSocket text frame"),
    ],
)
def test_eio_frames_we_reject_and_python_engineio_accepts(frame: str, reason: str) -> None:
    assert theirs_eio(frame) is not None
    assert ours_eio(frame) is None


EIO_FRAME_FUZZ = (
    st.text()
    | st.tuples(st.sampled_from("0123456789b x٣"), st.text(max_size=20)).map("".join)
    | st.tuples(st.sampled_from("0123456"), st.sampled_from(['{"a":1}', "[1]", '"s"', "12", "null"])).map(
        "".join
    )
)


@settings(max_examples=300, deadline=None)
@given(frame=EIO_FRAME_FUZZ)
def test_eio_packet_decode_differential(frame: str) -> None:
    ours, theirs = ours_eio(frame), theirs_eio(frame)
    if ours is not None:
        # python-engineio accepts every frame we accept, and reads it the same way.
        assert theirs is not None
        assert ours[0] == theirs[0]
        assert eio_data_agrees(ours[1], theirs[1])
    elif theirs is not None:
        # We only reject a frame python-engineio takes for its first character: anything but the
        # ASCII digits 0-6 (see test_eio_frames_we_reject_and_python_engineio_accepts).
        assert frame[0] not in "0123456"


@settings(max_examples=300, deadline=None)
@given(data=st.binary())
def test_eio_binary_frame_differential(data: bytes) -> None:
    assert ours_eio(data) == theirs_eio(data) == (core.EIO_MESSAGE, data)


@settings(max_examples=300, deadline=None)
@given(packet_type=st.integers(0, 6), data=st.none() | st.text())
def test_eio_text_packet_encode_differential(packet_type: int, data: str | None) -> None:
    assert core.encode_eio_packet(packet_type, data) == EioPacket(packet_type, data).encode()


@settings(max_examples=100, deadline=None)
@given(data=st.binary() | st.binary().map(bytearray))
def test_eio_binary_packet_encode_differential(data: bytes | bytearray) -> None:
    theirs = EioPacket(core.EIO_MESSAGE, data)
    assert core.encode_eio_packet(core.EIO_MESSAGE, data) == theirs.encode(b64=False)


@pytest.mark.parametrize("packet_type", [0, 1, 2, 3, 5, 6])
def test_eio_binary_only_in_messages_on_both_sides(packet_type: int) -> None:
    with pytest.raises(ValueError):
        EioPacket(packet_type, b"x")
    with pytest.raises(core.EncodeError):
        core.encode_eio_packet(packet_type, b"x")


# --- Engine.IO payloads ---------------------------------------------------------------------

# At most 16 packets: python-engineio refuses more in one payload (Payload.max_decode_packets).
PAYLOAD_PACKETS = st.lists(
    st.tuples(
        st.integers(0, 6), st.text(alphabet=st.characters(exclude_characters=RS, exclude_categories=("Cs",)))
    )
    | st.tuples(st.just(core.EIO_MESSAGE), st.binary(max_size=32)),
    min_size=1,
    max_size=16,
)


@settings(max_examples=300, deadline=None)
@given(packets=PAYLOAD_PACKETS)
def test_eio_payload_encode_differential(packets: list[tuple[int, str | bytes]]) -> None:
    ours = core.encode_eio_payload([core.encode_eio_packet(t, d) for t, d in packets])
    theirs = EioPayload(packets=[EioPacket(t, d) for t, d in packets]).encode()
    assert ours.decode() == theirs


@settings(max_examples=300, deadline=None)
@given(packets=PAYLOAD_PACKETS)
def test_eio_payload_decode_differential_on_valid_payloads(packets: list[tuple[int, str | bytes]]) -> None:
    body = core.encode_eio_payload([core.encode_eio_packet(t, d) for t, d in packets]).decode()
    ours, theirs = ours_payload(body), theirs_payload(body)
    assert ours is not None
    assert theirs is not None
    assert len(ours) == len(theirs) == len(packets)
    for (our_type, our_data), (their_type, their_data) in zip(ours, theirs, strict=True):
        assert our_type == their_type
        assert eio_data_agrees(our_data, their_data)


def why_we_reject(body: str) -> str | None:
    """The known reason we refuse a payload python-engineio decodes, or None."""
    if body == "":
        return "empty body"
    if body.startswith("d="):
        return "JSONP form"
    for part in body.split(RS):
        if part[:1] == "b":
            try:
                binascii.a2b_base64(part[1:], strict_mode=True)
            except binascii.Error:
                return "base64 that is not strict"
        elif part[:1] not in "0123456":
            return "unknown packet type"
    return None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # engine.io-parser's decodePayload("") yields one "error" packet (an empty packet), so an
        # empty POST body is a parse error; python-engineio returns no packet at all.
        ("", "empty body"),
        # JSONP ("d=" form posts) is not part of Engine.IO v4.
        ("d=4hello", "JSONP form"),
        # base64.b64decode(validate=False) skips characters outside the alphabet.
        ("4a\x1ebAQ!IDBA==", "base64 that is not strict"),
        ("b AQIDBA==", "base64 that is not strict"),
        ("4a\x1e9b", "unknown packet type"),
    ],
)
def test_eio_payloads_we_reject_and_python_engineio_accepts(body: str, reason: str) -> None:
    assert theirs_payload(body) is not None
    assert ours_payload(body) is None
    assert why_we_reject(body) == reason


def test_eio_payload_python_engineio_rejects_and_we_accept() -> None:
    # python-engineio caps a payload at 16 packets; we bound the body size instead (the HTTP layer
    # enforces maxHttpBufferSize), as the JavaScript server does.
    body = RS.join(["4a"] * 17)
    assert theirs_payload(body) is None
    assert ours_payload(body) == [(core.EIO_MESSAGE, "a")] * 17


EIO_PAYLOAD_FUZZ = st.text() | st.lists(
    st.sampled_from(["4a", "2", "6", "b", "bAQ==", "bAQ", "b!!", "9", "d=4", "", "4€", "x", '4{"k":1}']),
    min_size=1,
    max_size=20,
).map(RS.join)


@settings(max_examples=300, deadline=None)
@given(body=EIO_PAYLOAD_FUZZ)
def test_eio_payload_decode_differential(body: str) -> None:
    ours, theirs = ours_payload(body), theirs_payload(body)
    if ours is not None and theirs is not None:
        assert [t for t, _ in ours] == [t for t, _ in theirs]
        for (_, our_data), (_, their_data) in zip(ours, theirs, strict=True):
            assert eio_data_agrees(our_data, their_data)
    elif ours is None and theirs is not None:
        assert why_we_reject(body) is not None
    elif ours is not None:
        assert body.count(RS) + 1 > EioPayload.max_decode_packets


# --- Socket.IO packets ------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12)
BINARY = st.binary(max_size=12) | st.binary(max_size=12).map(bytearray)
KEYS = st.text(max_size=8)  # never "_placeholder"


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
        max_leaves=10,
    )


# python-socketio strips "?..." from a namespace (a leftover of protocol v4, which carried the
# query string there); socket.io-parser keeps it. See test_namespace_query_string_is_kept.
NAMESPACES = st.just("/") | st.text(
    alphabet=st.characters(exclude_characters=",?", exclude_categories=("Cs",)), max_size=8
).map(lambda s: "/" + s)
ACK_IDS = st.none() | st.integers(0, 2**53 - 1)
EVENT_NAMES = st.text(max_size=10).filter(lambda s: s not in core.RESERVED_EVENTS) | st.integers(0, 1000)


def sio_packets(floats: bool) -> st.SearchStrategy[tuple[int, str, Any, int | None]]:
    """Valid packets, as (type, nsp, data, id); with or without floats in the data."""
    scalars = JSON_SCALARS | st.floats(allow_nan=False, allow_infinity=False) if floats else JSON_SCALARS
    plain, with_binary = json_values(scalars), json_values(scalars | BINARY)
    objects = st.dictionaries(KEYS, plain, max_size=4)

    @st.composite
    def packets(draw: st.DrawFn) -> tuple[int, str, Any, int | None]:
        packet_type = draw(st.sampled_from([0, 1, 2, 3, 4]))
        data = {
            core.SIO_CONNECT: st.none() | objects,
            core.SIO_DISCONNECT: st.none(),
            core.SIO_EVENT: st.tuples(EVENT_NAMES, st.lists(with_binary, max_size=3)).map(
                lambda t: [t[0], *t[1]]
            ),
            core.SIO_ACK: st.lists(with_binary, max_size=3),
            core.SIO_CONNECT_ERROR: st.text(max_size=12) | objects,
        }[packet_type]
        return packet_type, draw(NAMESPACES), draw(data), draw(ACK_IDS)

    return packets()


@settings(max_examples=300, deadline=None)
@given(packet=sio_packets(floats=False))
def test_sio_encode_differential(packet: tuple[int, str, Any, int | None]) -> None:
    packet_type, nsp, data, id_ = packet
    ours = core.encode_sio_packet(packet_type, nsp, data, id_)
    theirs = RefPacketJsStrings(packet_type, data, namespace=nsp, id=id_).encode()
    theirs = theirs if isinstance(theirs, list) else [theirs]
    assert ours[0] == theirs[0]
    assert ours[1:] == [bytes(a) for a in theirs[1:]]


@pytest.mark.parametrize(
    ("value", "ours", "python_json"),
    [
        (1.0, "1", "1.0"),
        (-0.0, "0", "-0.0"),
        (1e16, "10000000000000000", "1e+16"),
        (1.5e-6, "0.0000015", "1.5e-06"),
        (1e21, "1e+21", "1e+21"),
        (1e-7, "1e-7", "1e-07"),
    ],
)
def test_sio_floats_differ_in_form_not_in_value(value: float, ours: str, python_json: str) -> None:
    # Floats are left out of test_sio_encode_differential: Python's json prints repr(), we print
    # what JavaScript prints (see test_sio_codec). Both texts are the same number.
    our_text = core.encode_sio_packet(core.SIO_EVENT, "/", ["n", value])[0]
    their_text = SioRefPacket(core.SIO_EVENT, ["n", value]).encode()
    assert our_text == f'2["n",{ours}]'
    assert their_text == f'2["n",{python_json}]'
    assert json.loads(our_text[1:]) == json.loads(their_text[1:]) == ["n", value]


@settings(max_examples=300, deadline=None)
@given(packet=sio_packets(floats=True))
def test_sio_reference_decodes_what_we_encode(packet: tuple[int, str, Any, int | None]) -> None:
    packet_type, nsp, data, id_ = packet
    parts = core.encode_sio_packet(packet_type, nsp, data, id_)
    theirs = theirs_sio(parts)
    ours = ours_sio(parts, max_attachments=max(10, len(parts) - 1))
    assert theirs is not None
    assert ours is not None
    assert_sio_agree(ours, theirs)


@settings(max_examples=300, deadline=None)
@given(packet=sio_packets(floats=True))
def test_sio_we_decode_what_the_reference_encodes(packet: tuple[int, str, Any, int | None]) -> None:
    # Here python-socketio's own JSON (ASCII escapes, Python float forms) is what we read.
    packet_type, nsp, data, id_ = packet
    encoded = SioRefPacket(packet_type, data, namespace=nsp, id=id_).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    ours = ours_sio(parts, max_attachments=max(10, len(parts) - 1))
    assert ours is not None
    assert ours.nsp == nsp
    assert ours.id == id_
    assert as_js(ours.data) == as_js(data)


SIO_TEXT_FUZZ = (
    sio_packets(floats=True).map(lambda p: core.encode_sio_packet(*p)[0])
    | st.text()
    | st.text(alphabet='0123456789-/,[]{}":_placeholdertruenum\\ aé', max_size=40)
    | st.tuples(
        st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "50-", "2/a,", "3/b,7", "21", "4/x,"]),
        st.sampled_from(['["a"]', "[1,2]", '{"k":null}', '"s"', "[]", "{}", "12", "", "[true]"]),
    ).map("".join)
)


@settings(max_examples=300, deadline=None)
@given(text=SIO_TEXT_FUZZ)
def test_sio_decode_differential(text: str) -> None:
    assume("?" not in text)  # see NAMESPACES
    theirs = theirs_sio([text])
    try:
        ours = core.decode_sio_packet(text)
    except core.SocketIOError:
        return  # we validate; python-socketio hardly does (see the table below)
    if theirs is None:
        # The only text we accept and python-socketio refuses: integers of more than 100 digits,
        # which its json refuses to parse; JSON.parse (and we) read them as doubles.
        assert re.search(r"\d{101}", text)
        return
    assert theirs.attachment_count == 0
    assert_sio_agree(ours, theirs)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # socket.io-parser: `if (PacketType[p.type] === undefined) throw "unknown packet type"`.
        ("7", "unknown packet type"),
        ('8["a"]', "unknown packet type"),
        # socket.io-parser isPayloadValid(): EVENT is an array whose first item is a number or a
        # non-reserved string; the protocol makes the payload mandatory ("MUST be a non-empty array").
        ("2", "EVENT without payload"),
        ("2[]", "empty EVENT"),
        ('2["connect"]', "reserved event name"),
        ('2["removeListener",1]', "reserved event name"),
        ("2[null]", "event name neither string nor number"),
        ('2{"a":1}', "EVENT payload not an array"),
        # CONNECT: an object or nothing; DISCONNECT: nothing; ACK: an array; CONNECT_ERROR: a
        # string or an object.
        ("0[]", "CONNECT payload not an object"),
        ("1{}", "DISCONNECT with payload"),
        ("3{}", "ACK payload not an array"),
        ("3", "ACK without payload"),
        ("4[]", "CONNECT_ERROR payload an array"),
        # Attachments: socket.io-parser reads them for BINARY_* only, as digits then "-", and at
        # most maxAttachments (10). python-socketio reads a count before "-" for any type.
        ('5["a"]', "BINARY_EVENT without attachment count"),
        ('21-["a"]', "attachment count on a plain EVENT"),
        ('511-["a",{"_placeholder":true,"num":0}]', "more than 10 attachments"),
        # JSON.parse refuses NaN; Python's json reads it.
        ("2[NaN]", "NaN is not JSON"),
        # Ack ids are JavaScript numbers: exact only up to Number.MAX_SAFE_INTEGER.
        ('29007199254740992["a"]', "ack id over 2**53-1"),
        # str.isdigit() is true for non-ASCII digits; the wire format has ASCII digits only.
        ('2\u0661["a"]', "Arabic-Indic digit one as ack id"),
    ],
)
def test_sio_packets_we_reject_and_python_socketio_accepts(text: str, reason: str) -> None:
    assert theirs_sio([text]) is not None
    with pytest.raises(core.SocketIOError):
        core.decode_sio_packet(text)
    with pytest.raises(core.SocketIOError):
        core.SioDecoder().feed(text)


def test_namespace_query_string_is_kept() -> None:
    # socket.io-parser reads the namespace up to the comma, "?" included; python-socketio cuts
    # the query string off (Socket.IO v5 clients send their query in the handshake URL instead).
    text = '2/chat?room=1,["a"]'
    assert core.decode_sio_packet(text).nsp == "/chat?room=1"
    theirs = theirs_sio([text])
    assert theirs is not None
    assert theirs.namespace == "/chat"


def test_huge_integer_literal_is_read_as_a_double() -> None:
    # python-socketio's json refuses integer literals over 100 digits (engineio.json._safe_int);
    # JSON.parse reads any number as a double, and so do we.
    text = '2["n",1' + "0" * 150 + "]"
    assert theirs_sio([text]) is None
    assert core.decode_sio_packet(text).data == ["n", 1e150]


@pytest.mark.parametrize(
    "parts",
    [
        ['51-["a",{"_placeholder":true,"num":0}]', b"\x00\x01"],
        ['62-/x,4[{"_placeholder":true,"num":1},{"k":{"_placeholder":true,"num":0}}]', b"a", b"b"],
        ['51-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]', b"same"],
    ],
)
def test_sio_binary_decode_agrees(parts: list[str | bytes]) -> None:
    ours, theirs = ours_sio(parts), theirs_sio(parts)
    assert ours is not None
    assert theirs is not None
    assert_sio_agree(ours, theirs)


def test_sio_binary_encode_agrees_on_placeholder_numbering() -> None:
    data = ["ev", b"a", {"x": [bytearray(b"b"), {"y": b"c"}]}, [[b"d"]]]
    ours = core.encode_sio_packet(core.SIO_EVENT, "/n", data, 3)
    theirs = SioRefPacket(core.SIO_EVENT, data, namespace="/n", id=3).encode()
    assert ours[0] == theirs[0]
    assert ours[1:] == [bytes(a) for a in theirs[1:]] == [b"a", b"b", b"c", b"d"]


def test_base64_of_the_readme_vector_agrees() -> None:
    # Engine.IO v4 README, "Packet encoding" / "HTTP long-polling": 4hello\x1ebAQIDBA==
    body = "4hello\x1ebAQIDBA=="
    assert ours_payload(body) == theirs_payload(body) == [(4, "hello"), (4, b"\x01\x02\x03\x04")]
    assert base64.b64encode(b"\x01\x02\x03\x04") == b"AQIDBA=="
