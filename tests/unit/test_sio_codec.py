"""Socket.IO v5 codec: packet text, binary attachments, validation and JSON fidelity.

Byte vectors come from the Socket.IO protocol README, version 5 (socketio/socket.io-protocol,
Readme.md, and docs/socket.io-protocol/v5-current.md in socketio/socket.io); each group names the
README section it comes from. Validation follows the reference parser, socket.io-parser's
``Decoder`` (``decodeString``, ``isPayloadValid``, ``BinaryReconstructor``, ``reconstructPacket``).
JSON must come out exactly as JavaScript's ``JSON.stringify`` prints it, since Node peers and
their tests compare strings.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio import _sio_core as core

B1234 = b"\x01\x02\x03\x04"
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def decode_all(parts: list[str | bytes], max_attachments: int = 10) -> core.SioPacket:
    """Feed an encoded packet (text, then its attachments) to a fresh decoder; return the packet."""
    decoder = core.SioDecoder(max_attachments)
    *head, last = parts
    for part in head:
        assert decoder.feed(part) is None
        assert decoder.pending
    packet = decoder.feed(last)
    assert packet is not None
    assert not decoder.pending
    return packet


# --- README vectors ------------------------------------------------------------------------

# (README section, type as the application gives it, nsp, data, id, wire type, encoded parts)
EVENT, ACK, CONNECT = core.SIO_EVENT, core.SIO_ACK, core.SIO_CONNECT
README_VECTORS = [
    # "Packet encoding" / connection to a namespace
    ("connection, main namespace", CONNECT, "/", None, None, CONNECT, ["0"]),
    (
        "connection, main namespace, with sid",
        CONNECT,
        "/",
        {"sid": "wZX3oN0bSVIhsaknAAAI"},
        None,
        CONNECT,
        ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
    ),
    ("connection, custom namespace", CONNECT, "/admin", None, None, CONNECT, ["0/admin,"]),
    (
        "connection, custom namespace, with sid",
        CONNECT,
        "/admin",
        {"sid": "oSO0OpakMV_3jnilAAAA"},
        None,
        CONNECT,
        ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
    ),
    # "Exchange protocol" / "Connection to a namespace": "with an additional payload" (auth).
    (
        "connection with auth payload",
        CONNECT,
        "/admin",
        {"token": "123"},
        None,
        CONNECT,
        ['0/admin,{"token":"123"}'],
    ),
    (
        "connection refused",
        core.SIO_CONNECT_ERROR,
        "/",
        {"message": "Not authorized"},
        None,
        core.SIO_CONNECT_ERROR,
        ['4{"message":"Not authorized"}'],
    ),
    # "Packet encoding" / sending and receiving data
    ("event, main namespace", EVENT, "/", ["foo"], None, EVENT, ['2["foo"]']),
    ("event, custom namespace", EVENT, "/admin", ["bar"], None, EVENT, ['2/admin,["bar"]']),
    (
        "event with binary data",
        EVENT,
        "/",
        ["baz", B1234],
        None,
        core.SIO_BINARY_EVENT,
        [f'51-["baz",{PH0}]', B1234],
    ),
    (
        "event with multiple attachments",
        EVENT,
        "/admin",
        ["baz", b"\x01\x02", b"\x03\x04"],
        None,
        core.SIO_BINARY_EVENT,
        [f'52-/admin,["baz",{PH0},{PH1}]', b"\x01\x02", b"\x03\x04"],
    ),
    # "Packet encoding" / acknowledgement
    ("ack: event with id", EVENT, "/", ["foo"], 12, EVENT, ['212["foo"]']),
    ("ack: empty ack", ACK, "/", [], 12, ACK, ["312[]"]),
    ("ack: event, custom namespace", EVENT, "/admin", ["foo"], 13, EVENT, ['2/admin,13["foo"]']),
    ("ack: ack, custom namespace", ACK, "/admin", ["bar"], 13, ACK, ['3/admin,13["bar"]']),
    (
        "ack: binary event with id",
        EVENT,
        "/",
        ["foo", B1234],
        14,
        core.SIO_BINARY_EVENT,
        [f'51-14["foo",{PH0}]', B1234],
    ),
    ("ack: ack of the binary event", ACK, "/", ["bar"], 14, ACK, ['314["bar"]']),
    ("ack: event 15", EVENT, "/", ["foo"], 15, EVENT, ['215["foo"]']),
    (
        "ack: binary ack",
        ACK,
        "/",
        ["bar", B1234],
        15,
        core.SIO_BINARY_ACK,
        [f'61-15["bar",{PH0}]', B1234],
    ),
    # "Packet encoding" / disconnection from a namespace
    ("disconnect, main namespace", core.SIO_DISCONNECT, "/", None, None, core.SIO_DISCONNECT, ["1"]),
    (
        "disconnect, custom namespace",
        core.SIO_DISCONNECT,
        "/admin",
        None,
        None,
        core.SIO_DISCONNECT,
        ["1/admin,"],
    ),
    # "Sample session" (the Socket.IO packets, without the Engine.IO "4" prefix)
    (
        "sample session, request 3",
        CONNECT,
        "/",
        {"sid": "wZX3oN0bSVIhsaknAAAI"},
        None,
        CONNECT,
        ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}'],
    ),
    ("sample session, request 4", EVENT, "/", ["hey", "Jude"], None, EVENT, ['2["hey","Jude"]']),
    ("sample session, request 5a", EVENT, "/", ["hello"], None, EVENT, ['2["hello"]']),
    ("sample session, request 5b", EVENT, "/", ["world"], None, EVENT, ['2["world"]']),
    (
        "sample session, ws: grant admin",
        CONNECT,
        "/admin",
        {"sid": "-G5j-67EZFp-q59rADQM"},
        None,
        CONNECT,
        ['0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'],
    ),
    ("sample session, ws: tellme", EVENT, "/admin", ["tellme"], 1, EVENT, ['2/admin,1["tellme"]']),
    (
        "sample session, ws: binary ack",
        ACK,
        "/admin",
        [b"<binary>"],
        1,
        core.SIO_BINARY_ACK,
        [f"61-/admin,1[{PH0}]", b"<binary>"],
    ),
]
README_FIELDS = ("section", "type_", "nsp", "data", "id_", "wire_type", "parts")
README_IDS = [v[0] for v in README_VECTORS]


@pytest.mark.parametrize(README_FIELDS, README_VECTORS, ids=README_IDS)
def test_readme_vector_encodes(section, type_, nsp, data, id_, wire_type, parts) -> None:
    assert core.encode_sio_packet(type_, nsp, data, id_) == parts


@pytest.mark.parametrize(README_FIELDS, README_VECTORS, ids=README_IDS)
def test_readme_vector_encodes_from_wire_type(section, type_, nsp, data, id_, wire_type, parts) -> None:
    # Asking for BINARY_EVENT / BINARY_ACK directly gives the same wire format.
    assert core.encode_sio_packet(wire_type, nsp, data, id_) == parts


@pytest.mark.parametrize(README_FIELDS, README_VECTORS, ids=README_IDS)
def test_readme_vector_decodes(section, type_, nsp, data, id_, wire_type, parts) -> None:
    packet = decode_all(parts)
    assert packet.type == wire_type
    assert packet.nsp == nsp
    assert packet.data == data
    assert packet.id == id_
    assert packet.attachments == len(parts) - 1
    if len(parts) == 1:
        assert core.decode_sio_packet(parts[0]) == packet


def test_readme_over_engineio() -> None:
    # "Packet encoding": each packet travels as an Engine.IO message, so 2["foo"] is 42["foo"].
    (text,) = core.encode_sio_packet(core.SIO_EVENT, "/", ["foo"])
    assert core.encode_eio_packet(core.EIO_MESSAGE, text) == '42["foo"]'
    # "Sample session", request 5: two Socket.IO packets in one polling body.
    body = b'42["hello"]\x1e42["world"]'
    packets = [core.decode_sio_packet(data) for _, data in core.decode_eio_payload(body)]
    assert [(p.type, p.nsp, p.data) for p in packets] == [(2, "/", ["hello"]), (2, "/", ["world"])]


def test_readme_sample_session_binary_ack_over_websocket() -> None:
    # "Sample session", WebSocket frames: 461-/admin,1[{"_placeholder":true,"num":0}] then <binary>.
    decoder = core.SioDecoder()
    frames: list[str | bytes] = [f"461-/admin,1[{PH0}]", b"\xde\xad"]
    results = [decoder.feed(core.decode_eio_packet(frame)[1]) for frame in frames]
    assert results[0] is None
    assert results[1] == core.SioPacket(core.SIO_BINARY_ACK, "/admin", [b"\xde\xad"], 1, 1)


def test_readme_packet_type_table() -> None:
    # "Exchange protocol": CONNECT 0 ... BINARY_ACK 6.
    constants = [
        core.SIO_CONNECT,
        core.SIO_DISCONNECT,
        core.SIO_EVENT,
        core.SIO_ACK,
        core.SIO_CONNECT_ERROR,
        core.SIO_BINARY_EVENT,
        core.SIO_BINARY_ACK,
    ]
    assert constants == list(range(7))


# The namespace ends at the first comma or at the end of the packet (socket.io-parser reads
# "until ',' or the end"), so the trailing comma is optional when nothing follows.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0/admin,", (0, "/admin", None, None)),
        ("0/admin", (0, "/admin", None, None)),
        ("1/admin,", (1, "/admin", None, None)),
        ("1/admin", (1, "/admin", None, None)),
        ("0/admin,{}", (0, "/admin", {}, None)),
        ("2/admin,7[1]", (2, "/admin", [1], 7)),
        ('2/,["a"]', (2, "/", ["a"], None)),
        ('2/a/b.c-d_e,["a"]', (2, "/a/b.c-d_e", ["a"], None)),
        ('2/é€😀,["a"]', (2, "/é€😀", ["a"], None)),
        ('2/123,["a"]', (2, "/123", ["a"], None)),
    ],
)
def test_namespace_with_and_without_trailing_comma(text: str, expected: tuple) -> None:
    packet = core.decode_sio_packet(text)
    assert (packet.type, packet.nsp, packet.data, packet.id) == expected


@pytest.mark.parametrize(
    ("text", "data"),
    [
        # CONNECT with auth ("the CONNECT packet now can contain a payload", v5 history).
        ('0{"token":"123"}', {"token": "123"}),
        ("0{}", {}),
        # CONNECT_ERROR: an object in v5; socket.io-parser still accepts a plain string.
        (
            '4{"message":"Not authorized","data":{"code":7}}',
            {"message": "Not authorized", "data": {"code": 7}},
        ),
        ('4"Not authorized"', "Not authorized"),
        ('4""', ""),
    ],
)
def test_connect_and_connect_error_payloads(text: str, data: Any) -> None:
    assert core.decode_sio_packet(text).data == data


@pytest.mark.parametrize(
    ("text", "id_"),
    [
        ('20["a"]', 0),
        ('21["a"]', 1),
        ('2007["a"]', 7),
        ("3123456789[]", 123456789),
        ('29007199254740991["a"]', 2**53 - 1),  # Number.MAX_SAFE_INTEGER
        ("1/admin,5", 5),
    ],
)
def test_ack_ids(text: str, id_: int) -> None:
    assert core.decode_sio_packet(text).id == id_


# --- decoder validation (socket.io-parser rules) -------------------------------------------

# Valid per isPayloadValid: (text, type, data)
VALID = [
    ("0", 0, None),
    ("1", 1, None),
    ('2["a",null,{"b":[1,2]}]', 2, ["a", None, {"b": [1, 2]}]),
    ("2[1]", 2, [1]),  # the event name may be a number...
    ("2[1.5]", 2, [1.5]),
    ("2[-3]", 2, [-3]),
    ('2["disconnected"]', 2, ["disconnected"]),  # ...or any string that is not reserved
    ('2["Connect"]', 2, ["Connect"]),
    ('2[""]', 2, [""]),
    ("3[]", 3, []),  # an ack payload is any array, possibly empty
    ("3[null]", 3, [None]),
    ("3[[]]", 3, [[]]),
    ("4{}", 4, {}),
]


@pytest.mark.parametrize(("text", "type_", "data"), VALID, ids=[v[0] for v in VALID])
def test_valid_packets(text: str, type_: int, data: Any) -> None:
    packet = core.decode_sio_packet(text)
    assert (packet.type, packet.data) == (type_, data)


def _invalid(text: str, reason: str) -> Any:
    return pytest.param(text, id=f"{reason}: {text[:30]}")


INVALID = [
    _invalid("", "empty"),
    *(_invalid(t, "unknown type") for t in ["7", "8[]", "9", "x", "-", "٢[1]", '/2["a"]']),
    # CONNECT: the payload is an object, or absent.
    *(_invalid(t, "CONNECT payload") for t in ["0[]", '0"x"', "0null", "0true", "0/admin,[]", "01.5"]),
    # DISCONNECT: no payload at all.
    *(_invalid(t, "DISCONNECT payload") for t in ["1{}", "1[]", '1"x"', "1null", "1/admin,{}"]),
    # EVENT: a non-empty array whose first item is a number or a non-reserved string. The payload
    # is mandatory ("The payload is mandatory and MUST be a non-empty array").
    *(
        _invalid(t, "EVENT payload")
        for t in ["2", "2/admin,", "27", "2[]", "2{}", '2"foo"', "2null", "2[null]", "2[true]", '2[["a"]]']
    ),
    _invalid('2[{"a":1}]', "EVENT payload"),
    *(_invalid(f'2["{name}",1]', "reserved event") for name in sorted(core.RESERVED_EVENTS)),
    *(_invalid(f'2/admin,3["{name}"]', "reserved event") for name in sorted(core.RESERVED_EVENTS)),
    # ACK: an array (mandatory: "The payload is mandatory and MUST be an array").
    *(_invalid(t, "ACK payload") for t in ["3", "312", "3{}", '3"x"', "3null", "31"]),
    # CONNECT_ERROR: a string or an object.
    *(_invalid(t, "CONNECT_ERROR payload") for t in ["4", "4[]", "4null", "4true", "4/admin,[1]"]),
    # BINARY_EVENT / BINARY_ACK follow the EVENT / ACK rules.
    *(_invalid(t, "BINARY payload") for t in ["51-[]", f'51-["connect",{PH0}]', "51-{}", "61-{}", "61-"]),
    # Attachment count: digits then "-" (socket.io-parser: "Illegal attachments").
    *(_invalid(t, "attachments") for t in ['5["a"]', '5-["a"]', '5a-["a"]', "5", "51", '6[""]']),
    # Invalid JSON.
    *(
        _invalid(t, "JSON")
        for t in ['2["a"', '2["a"]x', "2['a']", "2[NaN]", "2[Infinity]", "2[1,]", '2["\x01"]', "2[01]"]
    ),
    # Ack ids are JavaScript numbers: nothing above Number.MAX_SAFE_INTEGER.
    _invalid('29007199254740992["a"]', "ack id"),
    _invalid('2123456789012345678901234567890["a"]', "ack id"),
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_packets_raise_socketio_error(text: str) -> None:
    with pytest.raises(core.SocketIOError):
        core.decode_sio_packet(text)
    decoder = core.SioDecoder()
    with pytest.raises(core.SocketIOError):
        decoder.feed(text)
    assert not decoder.pending


def test_reserved_events() -> None:
    # socket.io-parser's RESERVED_EVENTS.
    reserved = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
    assert frozenset(reserved) == core.RESERVED_EVENTS


def test_zero_attachments_is_illegal() -> None:
    # socket.io-parser (with the maxAttachments option): `if (!isInteger(n) || n < 1) throw new
    # Error("Illegal attachments")`. A BINARY_* packet announces at least one attachment; our
    # encoder turns a binary packet without binary data into a plain EVENT / ACK.
    for text in ['50-["a"]', "60-[]", '500-["a"]', '50-/admin,["a"]']:
        with pytest.raises(core.SocketIOError):
            core.decode_sio_packet(text)
        with pytest.raises(core.SocketIOError):
            core.SioDecoder().feed(text)


@pytest.mark.parametrize(("max_attachments", "count", "ok"), [(10, 10, True), (10, 11, False), (2, 3, False)])
def test_max_attachments(max_attachments: int, count: int, ok: bool) -> None:
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(count))
    text = f'5{count}-["a",{placeholders}]'
    decoder = core.SioDecoder(max_attachments)
    assert decoder.max_attachments == max_attachments
    if not ok:
        with pytest.raises(core.SocketIOError):
            decoder.feed(text)
        with pytest.raises(core.SocketIOError):
            core.decode_sio_packet(text, max_attachments)
        assert not decoder.pending
        return
    parts = [text, *(bytes([i]) for i in range(count))]
    packet = decode_all(parts, max_attachments)
    assert packet.data == ["a", *(bytes([i]) for i in range(count))]


def test_max_attachments_is_configurable_upwards() -> None:
    text = '511-["a",' + ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(11)) + "]"
    with pytest.raises(core.SocketIOError, match="too many attachments"):
        core.SioDecoder().feed(text)
    decoder = core.SioDecoder(max_attachments=11)
    assert decoder.feed(text) is None
    assert decoder.pending


def test_decode_sio_packet_refuses_packets_with_attachments() -> None:
    # decode_sio_packet cannot wait for attachments: that is SioDecoder's job.
    with pytest.raises(core.SocketIOError):
        core.decode_sio_packet(f'51-["a",{PH0}]')


# --- SioDecoder state machine ----------------------------------------------------------


def test_text_while_attachments_pending() -> None:
    decoder = core.SioDecoder()
    assert decoder.feed(f'52-["a",{PH0},{PH1}]') is None
    assert decoder.feed(b"1") is None
    with pytest.raises(core.SocketIOError):
        decoder.feed('2["b"]')
    # The incomplete packet is dropped; the decoder works again from a clean state.
    assert not decoder.pending
    assert decoder.feed('2["c"]') == core.SioPacket(2, "/", ["c"])


@pytest.mark.parametrize("data", [b"", b"x", bytearray(b"x"), memoryview(b"x")])
def test_binary_when_none_expected(data: bytes) -> None:
    decoder = core.SioDecoder()
    with pytest.raises(core.SocketIOError):
        decoder.feed(data)
    assert decoder.feed('2["a"]') == core.SioPacket(2, "/", ["a"])
    with pytest.raises(core.SocketIOError):
        decoder.feed(data)  # also after a completed packet


def test_binary_after_completed_binary_packet() -> None:
    decoder = core.SioDecoder()
    decoder.feed(f'51-["a",{PH0}]')
    assert decoder.feed(b"1") is not None
    with pytest.raises(core.SocketIOError):
        decoder.feed(b"2")


def test_reset_drops_pending_packet() -> None:
    decoder = core.SioDecoder()
    decoder.feed(f'51-["a",{PH0}]')
    assert decoder.pending
    decoder.reset()
    assert not decoder.pending
    with pytest.raises(core.SocketIOError):
        decoder.feed(b"late attachment")


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview])
def test_attachments_come_back_as_bytes(convert) -> None:
    decoder = core.SioDecoder()
    decoder.feed(f'51-["a",{PH0}]')
    packet = decoder.feed(convert(b"xyz"))
    assert packet.data == ["a", b"xyz"]
    assert type(packet.data[1]) is bytes


@pytest.mark.parametrize(
    "placeholder",
    [
        pytest.param('{"_placeholder":true,"num":1}', id="index past the attachments"),
        pytest.param('{"_placeholder":true,"num":-1}', id="negative index"),
        pytest.param('{"_placeholder":true,"num":"0"}', id="string index"),
        pytest.param('{"_placeholder":true,"num":true}', id="boolean index"),
        pytest.param('{"_placeholder":true,"num":null}', id="null index"),
        pytest.param('{"_placeholder":true,"num":0.5}', id="fractional index"),
        pytest.param('{"_placeholder":true,"num":[0]}', id="array index"),
        pytest.param('{"_placeholder":true}', id="missing index"),
        pytest.param('{"x":[{"_placeholder":true,"num":9}]}', id="nested bad index"),
    ],
)
def test_illegal_placeholders(placeholder: str) -> None:
    decoder = core.SioDecoder()
    assert decoder.feed(f'51-["a",{placeholder}]') is None
    with pytest.raises(core.SocketIOError):
        decoder.feed(b"x")
    assert not decoder.pending
    assert decoder.feed('2["next"]') == core.SioPacket(2, "/", ["next"])


@pytest.mark.parametrize(
    ("placeholder", "expected"),
    [
        # JSON has a single number type: 0.0 is the same number as 0.
        ('{"_placeholder":true,"num":0.0}', b"x"),
        ('{"num":0,"_placeholder":true}', b"x"),
        # Only `_placeholder === true` marks a placeholder; other values are plain data.
        ('{"_placeholder":1,"num":0}', {"_placeholder": 1, "num": 0}),
        ('{"_placeholder":"true","num":0}', {"_placeholder": "true", "num": 0}),
    ],
)
def test_placeholder_detection(placeholder: str, expected: Any) -> None:
    packet = decode_all([f'51-["a",{placeholder}]', b"x"])
    assert packet.data == ["a", expected]


def test_placeholders_in_a_plain_event_are_data() -> None:
    # Only BINARY_* packets are reconstructed; in an EVENT a placeholder-shaped object is data.
    assert core.decode_sio_packet(f'2["a",{PH0}]').data == ["a", {"_placeholder": True, "num": 0}]


def test_lone_surrogate_escapes_decode_like_json_parse() -> None:
    # JSON.parse (socket.io-parser) and json.loads (python-socketio) both accept the escape of a
    # lone UTF-16 surrogate and return a string holding it. A JavaScript peer sends one whenever
    # it emits a string cut in the middle of a surrogate pair (JSON.stringify escapes it).
    packet = core.decode_sio_packet(r'2["a","\ud800","x\udc00y"]')
    assert packet.data == ["a", "\ud800", "x\udc00y"]


def test_deeply_nested_payload_is_a_socketio_error() -> None:
    with pytest.raises(core.SocketIOError):
        core.decode_sio_packet('2["a",' + "[" * 5000 + "]" * 5000 + "]")


# --- encoder ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        # packet type
        pytest.param((7, "/", ["a"]), {}, id="type 7"),
        pytest.param((-1, "/", ["a"]), {}, id="type -1"),
        # namespace: starts with "/", and a comma would end it on the wire
        pytest.param((2, "", ["a"]), {}, id="empty namespace"),
        pytest.param((2, "admin", ["a"]), {}, id="namespace without slash"),
        pytest.param((2, "/a,b", ["a"]), {}, id="namespace with comma"),
        pytest.param((0, "/admin,"), {}, id="namespace with trailing comma"),
        # ack id: an integer from 0 to Number.MAX_SAFE_INTEGER
        pytest.param((2, "/", ["a"], -1), {}, id="negative id"),
        pytest.param((2, "/", ["a"], 2**53), {}, id="id over 2**53-1"),
        pytest.param((2, "/", ["a"], True), {}, id="bool id"),
        pytest.param((2, "/", ["a"], 1.0), {}, id="float id"),
        pytest.param((2, "/", ["a"], "1"), {}, id="str id"),
        # payload shape per packet type
        pytest.param((0, "/", []), {}, id="CONNECT list"),
        pytest.param((0, "/", "x"), {}, id="CONNECT str"),
        pytest.param((1, "/", {}), {}, id="DISCONNECT with data"),
        pytest.param((2, "/", None), {}, id="EVENT without data"),
        pytest.param((2, "/", []), {}, id="EVENT empty"),
        pytest.param((2, "/", {"a": 1}), {}, id="EVENT dict"),
        pytest.param((2, "/", "a"), {}, id="EVENT str"),
        pytest.param((3, "/", None), {}, id="ACK without data"),
        pytest.param((3, "/", {}), {}, id="ACK dict"),
        pytest.param((4, "/"), {}, id="CONNECT_ERROR without data"),
        # binary only in EVENT / ACK
        pytest.param((0, "/", {"a": b"x"}), {}, id="binary in CONNECT"),
        pytest.param((4, "/", {"a": b"x"}), {}, id="binary in CONNECT_ERROR"),
        # values JSON cannot carry
        pytest.param((2, "/", ["a", set()]), {}, id="set"),
        pytest.param((2, "/", ["a", object()]), {}, id="object"),
        pytest.param((2, "/", ["a", {1: "x"}]), {}, id="int dict key"),
        pytest.param((2, "/", ["a", {("k",): "x"}]), {}, id="tuple dict key"),
        pytest.param((0, "/", {1: "x"}), {}, id="int key in CONNECT"),
        pytest.param((2, "/", ["a", 2**64]), {}, id="int beyond 64 bits"),
        pytest.param((2, "/", ["a", 1j]), {}, id="complex"),
        pytest.param((2, "/", ["a", [b"x", set()]]), {}, id="set next to binary"),
    ],
)
def test_encode_errors(args: tuple, kwargs: dict) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_sio_packet(*args, **kwargs)


def test_encode_error_is_a_type_error_not_a_protocol_error() -> None:
    assert issubclass(core.EncodeError, TypeError)
    assert not issubclass(core.EncodeError, core.ProtocolError)


def test_encode_too_deep_is_an_encode_error() -> None:
    deep: list[Any] = ["leaf"]
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(core.EncodeError):
        core.encode_sio_packet(core.SIO_EVENT, "/", ["a", deep])


def test_connect_error_carries_any_json_value() -> None:
    # v5 sends {message, data}; a socket.io-client 2.x gets the error's data as it is (Node's
    # `err.data || err.message`), whatever JSON it is, as socket.io-parser's encoder writes it.
    assert core.encode_sio_packet(core.SIO_CONNECT_ERROR, "/", [1, "x"]) == ['4[1,"x"]']
    assert core.encode_sio_packet(core.SIO_CONNECT_ERROR, "/admin", 7) == ["4/admin,7"]
    assert core.encode_sio_packet(core.SIO_CONNECT_ERROR, "/", "no") == ['4"no"']


def test_binary_type_without_binary_data_is_sent_as_plain() -> None:
    assert core.encode_sio_packet(core.SIO_BINARY_EVENT, "/", ["a"], 1) == ['21["a"]']
    assert core.encode_sio_packet(core.SIO_BINARY_ACK, "/x", []) == ["3/x,[]"]


def test_tuples_are_arrays() -> None:
    assert core.encode_sio_packet(core.SIO_EVENT, "/", ("a", (1, 2))) == ['2["a",[1,2]]']


# --- binary data --------------------------------------------------------------------------


def test_several_attachments_anywhere() -> None:
    data = [
        "ev",
        b"a",
        {"x": [bytearray(b"b"), {"y": memoryview(b"c")}], "n": 1},
        [[b"d"]],
        {"z": b""},
    ]
    parts = core.encode_sio_packet(core.SIO_EVENT, "/nsp", data, 9)
    ph = [f'{{"_placeholder":true,"num":{i}}}' for i in range(5)]
    assert parts == [
        f'55-/nsp,9["ev",{ph[0]},{{"x":[{ph[1]},{{"y":{ph[2]}}}],"n":1}},[[{ph[3]}]],{{"z":{ph[4]}}}]',
        b"a",
        b"b",
        b"c",
        b"d",
        b"",
    ]
    assert all(type(p) is bytes for p in parts[1:])
    packet = decode_all(parts)
    assert packet == core.SioPacket(
        core.SIO_BINARY_EVENT,
        "/nsp",
        ["ev", b"a", {"x": [b"b", {"y": b"c"}], "n": 1}, [[b"d"]], {"z": b""}],
        9,
        5,
    )


def test_the_same_buffer_twice_is_two_attachments() -> None:
    buf = b"same"
    assert core.encode_sio_packet(core.SIO_ACK, "/", [buf, buf]) == [f"62-[{PH0},{PH1}]", buf, buf]


def test_attachments_may_arrive_in_any_placeholder_order() -> None:
    packet = decode_all([f'52-["a",{PH1},{PH0},{PH1}]', b"zero", b"one"])
    assert packet.data == ["a", b"one", b"zero", b"one"]


def test_encoding_does_not_modify_the_callers_data() -> None:
    inner = {"k": bytearray(b"x"), "f": 1.0}
    data = ["ev", inner, [b"y"]]
    core.encode_sio_packet(core.SIO_EVENT, "/", data)
    assert data == ["ev", {"k": bytearray(b"x"), "f": 1.0}, [b"y"]]
    assert data[1] is inner
    assert type(inner["f"]) is float


# --- JSON fidelity ---------------------------------------------------------------------------


def test_json_is_compact_and_keeps_insertion_order() -> None:
    value = {"z": 1, "a": [1, {"y": None, "b": True}], "m": "x", "é": False}
    assert core.encode_json(value) == '{"z":1,"a":[1,{"y":null,"b":true}],"m":"x","é":false}'.encode()
    assert core.encode_sio_packet(core.SIO_EVENT, "/", ["e", value]) == [
        '2["e",{"z":1,"a":[1,{"y":null,"b":true}],"m":"x","é":false}]'
    ]


# What JavaScript's Number.prototype.toString (hence JSON.stringify) prints.
JS_NUMBERS = [
    (1.0, "1"),
    (-0.0, "0"),
    (0.0, "0"),
    (-1.0, "-1"),
    (100.0, "100"),
    (0.1, "0.1"),
    (-1.5, "-1.5"),
    (1e16, "10000000000000000"),
    (2.0**53, "9007199254740992"),
    (2.0**64, "18446744073709552000"),
    (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"),
    (1e21, "1e+21"),
    (2.5e21, "2.5e+21"),
    (1e300, "1e+300"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1e-6, "0.000001"),
    (1.5e-6, "0.0000015"),
    (1.234e-5, "0.00001234"),
    (1e-7, "1e-7"),
    (-1.234e-7, "-1.234e-7"),
    (5e-324, "5e-324"),
    (0.000123, "0.000123"),
    (1.0000000000000002, "1.0000000000000002"),
    (float("nan"), "null"),
    (float("inf"), "null"),
    (float("-inf"), "null"),
]


@pytest.mark.parametrize(("value", "text"), JS_NUMBERS, ids=[t for _, t in JS_NUMBERS])
def test_floats_are_formatted_like_javascript(value: float, text: str) -> None:
    assert core.encode_json(value) == text.encode()
    assert core.encode_json([value, {"k": value}]) == f'[{text},{{"k":{text}}}]'.encode()
    assert core.encode_sio_packet(core.SIO_EVENT, "/", ["n", value]) == [f'2["n",{text}]']


def js_number_to_string(x: float) -> str:
    """ECMA-262 Number::toString(x) for a finite double, written from the specification.

    The shortest digits that round-trip (what ``repr`` gives) are the digits JavaScript uses; the
    spec then picks plain, fixed or exponent notation from the digit count k and the decimal
    exponent n (value = 0.DIGITS x 10**n).
    """
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    _, digits_tuple, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = f"+{e}" if e >= 0 else f"-{-e}"
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return sign + mantissa + "e" + exp


@pytest.mark.parametrize(("value", "text"), [v for v in JS_NUMBERS if math.isfinite(v[0])])
def test_js_number_oracle_matches_the_table(value: float, text: str) -> None:
    assert js_number_to_string(value) == text


@settings(max_examples=300, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_is_formatted_like_javascript(value: float) -> None:
    assert core.encode_json(value) == js_number_to_string(value).encode()


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False).map(
        lambda f: float(Decimal(repr(f)).scaleb(-30)) if abs(f) > 1 else f
    )
)
def test_small_floats_are_formatted_like_javascript(value: float) -> None:
    # The same check weighted towards tiny magnitudes, where fixed and exponent notation meet.
    assert core.encode_json(value) == js_number_to_string(value).encode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # JSON.stringify escapes ", \ and the C0 controls (\b \t \n \f \r short forms), nothing else.
        ('"\\', r'"\"\\"'),
        ("\b\t\n\f\r", r'"\b\t\n\f\r"'),
        ("\x00\x01\x1f", r'"\u0000\u0001\u001f"'),
        ("\x7f/é€😀\u2028\u2029", '"\x7f/é€😀\u2028\u2029"'),
    ],
)
def test_strings_are_escaped_like_javascript(value: str, text: str) -> None:
    assert core.encode_json(value) == text.encode()


def test_lone_surrogates_are_escaped_like_javascript() -> None:
    # Well-formed JSON.stringify (ES2019, Node >= 12) writes a lone surrogate as a \uXXXX escape,
    # so a string decoded from a JavaScript peer can be sent back.
    assert core.encode_json(["\ud800", "x\udc00y"]) == rb'["\ud800","x\udc00y"]'
    assert core.encode_sio_packet(core.SIO_EVENT, "/", ["a", "\udbff"]) == [r'2["a","\udbff"]']


@pytest.mark.parametrize(
    "value",
    [
        set(),
        frozenset(),
        object(),
        {1: "x"},
        {"a": {None: 1}},
        [2**64],
        -(2**63) - 1,
        1j,
        [[["deep", {1.5: 0}]]],
    ],
    ids=repr,
)
def test_encode_json_refuses_what_json_cannot_carry(value: Any) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_json(value)


@pytest.mark.parametrize("binary", [b"x", bytearray(b"x"), memoryview(b"x"), [{"k": b"x"}]])
def test_encode_json_refuses_binary(binary: Any) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_json(binary)


# --- property tests ------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
BINARY = (
    st.binary(max_size=16) | st.binary(max_size=16).map(bytearray) | st.binary(max_size=16).map(memoryview)
)
# Keys of at most 8 characters can never be "_placeholder", which would be ambiguous on the wire.
KEYS = st.text(max_size=8)


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
        max_leaves=12,
    )


JSON_DATA = json_values(JSON_SCALARS)
JSON_WITH_BINARY = json_values(JSON_SCALARS | BINARY)
EVENT_NAMES = (
    st.text(max_size=12).filter(lambda s: s not in core.RESERVED_EVENTS)
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
NAMESPACES = st.just("/") | st.text(
    alphabet=st.characters(exclude_characters=",", exclude_categories=("Cs",)), max_size=10
).map(lambda s: "/" + s)
ACK_IDS = st.none() | st.integers(min_value=0, max_value=2**53 - 1)


@st.composite
def sio_packets(draw: st.DrawFn) -> tuple[int, str, Any, int | None]:
    packet_type = draw(st.sampled_from([0, 1, 2, 3, 4]))
    if packet_type == core.SIO_CONNECT:
        data = draw(st.none() | st.dictionaries(KEYS, JSON_DATA, max_size=4))
    elif packet_type == core.SIO_DISCONNECT:
        data = None
    elif packet_type == core.SIO_EVENT:
        data = [draw(EVENT_NAMES), *draw(st.lists(JSON_WITH_BINARY, max_size=4))]
    elif packet_type == core.SIO_ACK:
        data = draw(st.lists(JSON_WITH_BINARY, max_size=4))
    else:
        data = draw(st.text(max_size=20) | st.dictionaries(KEYS, JSON_DATA, max_size=4))
    return packet_type, draw(NAMESPACES), data, draw(ACK_IDS)


def count_binary(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 1
    if isinstance(value, list):
        return sum(map(count_binary, value))
    if isinstance(value, dict):
        return sum(map(count_binary, value.values()))
    return 0


def assert_same_json(decoded: Any, original: Any) -> None:
    """Equal as JSON values, with binary values decoded as bytes."""
    if isinstance(original, (bytes, bytearray, memoryview)):
        assert type(decoded) is bytes
        assert decoded == bytes(original)
    elif isinstance(original, list):
        assert type(decoded) is list
        assert len(decoded) == len(original)
        for d, o in zip(decoded, original, strict=True):
            assert_same_json(d, o)
    elif isinstance(original, dict):
        assert type(decoded) is dict
        assert list(decoded) == list(original)  # key order survives the trip
        for key in original:
            assert_same_json(decoded[key], original[key])
    elif isinstance(original, float):
        # JSON numbers are doubles: 1.0 arrives as 1, -0.0 as 0, and 4.450068371006707e16 as the
        # integer 44500683710067070 (the digits JavaScript prints), which is that double again.
        assert type(decoded) in (int, float)
        assert float(decoded) == original
    else:
        assert type(decoded) is type(original)
        assert decoded == original


@settings(max_examples=300, deadline=None)
@given(packet=sio_packets())
def test_sio_round_trip(packet: tuple[int, str, Any, int | None]) -> None:
    packet_type, nsp, data, id_ = packet
    parts = core.encode_sio_packet(packet_type, nsp, data, id_)
    attachments = count_binary(data)
    assert len(parts) == 1 + attachments
    assert isinstance(parts[0], str)
    assert all(type(p) is bytes for p in parts[1:])
    decoded = decode_all(parts, max_attachments=max(10, attachments))
    assert decoded.type == (packet_type + 3 if attachments else packet_type)
    assert decoded.nsp == nsp
    assert decoded.id == id_
    assert decoded.attachments == attachments
    assert_same_json(decoded.data, data)
    # Re-encoding what was decoded gives the same wire text (floats already in JavaScript form).
    assert core.encode_sio_packet(decoded.type, decoded.nsp, decoded.data, decoded.id) == parts


JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@settings(max_examples=300, deadline=None)
@given(value=JSON_DATA)
def test_encode_json_is_valid_compact_json(value: Any) -> None:
    text = core.encode_json(value).decode()
    # Read every number as a double, as JavaScript does (see assert_same_json).
    assert json.loads(text, parse_int=float) == value
    # Compact: no whitespace at all outside string literals.
    assert not re.search(r"\s", JSON_STRING.sub('""', text))


# Text biased towards the packet grammar: type digits, "-", "/", ",", JSON and placeholders.
SIO_TEXT_FUZZ = (
    st.text()
    | st.text(alphabet='0123456789-/,[]{}":_placeholdertruenum\\ abé', max_size=50)
    | st.tuples(
        st.sampled_from(["0", "1", "2", "3", "4", "51-", "52-", "61-", "2/a,", "53-/b,7"]),
        st.sampled_from(["", "[", '["a",', f'["a",{PH0}', f"[{PH1}", '{"a":', "12", "["]),
        st.text(alphabet='[]{},":01-_placeholdertruenum', max_size=20),
    ).map("".join)
)


@settings(max_examples=300, deadline=None)
@given(text=SIO_TEXT_FUZZ)
def test_decode_sio_packet_only_raises_socketio_error(text: str) -> None:
    try:
        packet = core.decode_sio_packet(text)
    except core.SocketIOError:
        return
    assert 0 <= packet.type <= 6
    assert packet.nsp.startswith("/")
    assert packet.id is None or 0 <= packet.id <= 2**53 - 1


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(SIO_TEXT_FUZZ | st.binary(max_size=8), max_size=12))
def test_decoder_feed_only_raises_socketio_error(messages: list[str | bytes]) -> None:
    decoder = core.SioDecoder()
    for message in messages:
        try:
            packet = decoder.feed(message)
        except core.SocketIOError:
            assert not decoder.pending
            continue
        assert packet is None or isinstance(packet, core.SioPacket)
        if packet is not None:
            assert not decoder.pending


@pytest.mark.parametrize("depth", [600, 5000, 100_000])
def test_deep_nesting_is_refused_whatever_the_recursion_limit(depth: int) -> None:
    """The stdlib fallback (what orjson refuses) is bounded by a nesting check, not by the interpreter's
    recursion limit, which an application (mypy does) may raise far enough to overflow the C stack."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        with pytest.raises(core.SocketIOError, match="nested deeper than 500 levels"):
            # A lone surrogate makes orjson refuse it: the fallback is what is tested.
            core.decode_sio_packet('2["a","\\ud800",' + "[" * depth + "]" * depth + "]")
    finally:
        sys.setrecursionlimit(limit)


def test_the_nesting_check_skips_brackets_inside_strings() -> None:
    text = '"[[[[' + "[" * 1000 + '\\"{{"'
    assert core.decode_sio_packet('2["a","\\ud800",' + text + "]").data == [
        "a",
        "\ud800",
        text[1:-1].replace('\\"', '"'),
    ]
