"""The core's msgpack codec (``MsgpackParser``'s encode and decoder, ``sio.notepack.unpack``) against
the pure-Python code it replaced, kept here as the reference: same bytes out, same values in, same
errors (type and message) for everything, malformed input included.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sio import notepack
from sio._sio_core import (
    RESERVED_EVENTS,
    SIO_CONNECT,
    SIO_CONNECT_ERROR,
    SIO_DISCONNECT,
    SIO_EVENT,
    MsgpackDecoder,
    SioPacket,
    encode_msgpack_packet,
)
from sio.errors import EncodeError, SocketIOError
from sio.parser import MsgpackParser

# --- the reference: sio.parser's and sio.notepack's Python code before the core took over -------

_MAX_ACK_ID = 2**53 - 1


def reference_encode(type: int, nsp: str, data: Any = None, id: int | None = None) -> list[bytes]:
    packet: dict[str, Any] = (
        {"type": type, "nsp": nsp} if data is None else {"type": type, "data": data, "nsp": nsp}
    )
    if id is not None:
        packet["id"] = id
    try:
        return [notepack.pack(packet)]
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot encode as msgpack: {exc}") from None


def _data_valid(kind: int, data: Any) -> bool:
    if kind == SIO_CONNECT:
        return data is None or isinstance(data, dict)
    if kind == SIO_DISCONNECT:
        return data is None
    if kind == SIO_CONNECT_ERROR:
        return isinstance(data, (str, dict))
    if kind == SIO_EVENT:
        return (
            isinstance(data, list)
            and bool(data)
            and isinstance(data[0], str)
            and data[0] not in RESERVED_EVENTS
        )
    return isinstance(data, list)


def reference_feed(message: str | bytes) -> SioPacket:
    if isinstance(message, str):
        raise SocketIOError("msgpack parser: a text message")
    try:
        packet = notepack._unpack_reference(message)
    except ValueError as exc:
        raise SocketIOError(f"msgpack parser: {exc}") from None
    if not isinstance(packet, dict):
        raise SocketIOError("msgpack parser: not a map")
    kind = packet.get("type")
    if type(kind) is not int or not SIO_CONNECT <= kind <= SIO_CONNECT_ERROR:
        raise SocketIOError("invalid packet type")
    nsp = packet.get("nsp")
    if not isinstance(nsp, str):
        raise SocketIOError("invalid namespace")
    data = packet.get("data")
    if not _data_valid(kind, data):
        raise SocketIOError("invalid payload")
    ack_id = packet.get("id")
    if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id <= _MAX_ACK_ID):
        raise SocketIOError("invalid packet id")
    return SioPacket(kind, nsp, data, ack_id)


# --- comparing outcomes strictly (1 == 1.0 == True for ==, not here) ----------------------------


def canon(value: Any) -> Any:
    if isinstance(value, SioPacket):
        return ("packet", value.type, canon(value.nsp), canon(value.data), canon(value.id), value.attachments)
    if isinstance(value, list):
        return ("list", [canon(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(canon(key), canon(item)) for key, item in value.items()])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def outcome(call: Any, *args: Any) -> Any:
    try:
        return ("ok", canon(call(*args)))
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


def same_decode(wire: Any) -> None:
    assert outcome(MsgpackDecoder().feed, wire) == outcome(reference_feed, wire)
    assert outcome(notepack.unpack, wire) == outcome(notepack._unpack_reference, wire)


def same_encode(*args: Any) -> None:
    assert outcome(encode_msgpack_packet, *args) == outcome(reference_encode, *args)


# --- strategies ---------------------------------------------------------------------------------

INT_EDGES = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 - 1, 2**53,
    2**63 - 1, 2**63, 2**64 - 1, 2**64, -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1,
    -(2**63), -(2**63) - 1,
]  # fmt: skip
ints = st.one_of(st.sampled_from(INT_EDGES), st.integers(min_value=-(2**64), max_value=2**64 + 1))
texts = st.one_of(
    st.sampled_from(
        ["", "/", "type", "data", "nsp", "id", "echo", "é ✓", "x" * 31, "x" * 32, "y" * 255, "z" * 256]
    ),
    st.text(max_size=40),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    st.floats(allow_nan=True),
    texts,
    st.binary(max_size=40),
    st.sampled_from([b"\x00" * 300, "w" * 70000, msgpack.ExtType(5, b"ab"), msgpack.ExtType(127, b"")]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(texts, ints), inner, max_size=5),
    ),
    max_leaves=20,
)


def _wire(value: Any) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True, strict_types=False)
    except OverflowError:  # an int msgpack cannot carry: not a message anyone sends
        assume(False)
        raise


packets = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.integers(min_value=-1, max_value=6), st.booleans(), st.just(2.0), ints),
        "nsp": st.one_of(texts, st.none(), st.just(1)),
        "data": st.one_of(values, st.lists(st.one_of(texts, values), min_size=1, max_size=3)),
        "id": st.one_of(st.none(), ints, st.just(True), st.just(1.0)),
        "options": st.just({"compress": True}),
        "extra": values,
    },
)


# --- decoding -----------------------------------------------------------------------------------


@settings(max_examples=500)
@given(packets)
def test_packets_decode_as_the_reference_decodes_them(packet: dict[str, Any]) -> None:
    same_decode(_wire(packet))


@settings(max_examples=300)
@given(packets, st.data())
def test_damaged_packets_decode_as_the_reference_decodes_them(
    packet: dict[str, Any], data: st.DataObject
) -> None:
    wire = bytearray(_wire(packet))
    how = data.draw(st.sampled_from(["cut", "flip", "append", "insert"]))
    at = data.draw(st.integers(min_value=0, max_value=len(wire)))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    if how == "cut":
        del wire[at:]
    elif how == "flip" and at < len(wire):
        wire[at] = byte
    elif how == "append":
        wire.append(byte)
    else:
        wire.insert(at, byte)
    same_decode(bytes(wire))


@settings(max_examples=300)
@given(values)
def test_values_unpack_as_the_reference_unpacks_them(value: Any) -> None:
    same_decode(_wire(value))


@settings(max_examples=300)
@given(st.binary(max_size=30))
def test_random_bytes_decode_as_the_reference_decodes_them(wire: bytes) -> None:
    same_decode(wire)


def _str8(text: str) -> bytes:
    return b"\xd9" + bytes([len(text)]) + text.encode()


DATE2 = bytes.fromhex("d700000001a2325f77d3")  # notepack 2's Date
TIMESTAMP = bytes.fromhex("d7ff1d5353006b0ef187")  # notepack 3's Date


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\xc1",
        "42",
        "",
        bytearray(_wire({"type": 2, "nsp": "/", "data": ["x"]})),
        memoryview(_wire({"type": 2, "nsp": "/", "data": ["x"]})),
        _wire({"type": 2, "nsp": "/", "data": ["x"]}) + b"\x00",  # extra data
        b"\x84"
        + _str8("type")
        + b"\x02"
        + _str8("nsp")
        + b"\xa1/"
        + _str8("data")
        + b"\x91\xa1x"
        + _str8("id")
        + b"\x01",
        b"\x83\xa4type\x02\xa4type\x03\xa3nsp\xa1/" + b"\xa4data\x90",  # a key twice: the last wins
        b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x\x91\x01\x02",  # an unhashable key
        b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x\xa2\xff\xfe\x01",  # a key that is not UTF-8
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa2\xc3\x28",  # a value that is not UTF-8
        b"\xde\x00\x03\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x",  # map 16
        b"\xdf\x00\x00\x00\x03\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x",  # map 32
        b"\x8f\xa4type\x02",  # more entries announced than bytes
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x" + DATE2,
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x" + TIMESTAMP,
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xd4\x00\x00",  # notepack 2's undefined
        b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x" + TIMESTAMP + b"\x01",  # a timestamp as a key
        b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x91\xa1x" + DATE2 + b"\x01",  # a Date as a key
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xd7\x00" + (2**62).to_bytes(8, "big"),  # far Date
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xd7\x00" + (2**45).to_bytes(8, "big"),
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xc7\x0c\xff" + bytes(4) + (2**62).to_bytes(8, "big"),
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xd7\xff" + b"\xff" * 8,  # nanoseconds over 1e9
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xd6\xff\x00\x00",  # a cut timestamp
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1x\xca\x3f\xc0\x00\x00",  # float 32
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data" + b"\x91" * 300 + b"\xc0",  # deep, but within msgpack's limit
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data" + b"\x91" * 1100 + b"\xc0",  # over msgpack's limit
        b"\x93\xa4type\x02\xa3nsp",  # an array
        _wire({"type": 2, "nsp": "/", "data": ["disconnect"]}),
        _wire({"type": 2, "nsp": "/", "data": []}),
        _wire({"type": 3, "nsp": "/", "data": [], "id": 2**53}),
        _wire({"type": 3, "nsp": "/", "data": [], "id": -1}),
        _wire({"type": 0, "nsp": "/", "data": None}),
        _wire({"type": 4, "nsp": "/", "data": {"message": "no"}}),
        _wire({"type": 1, "nsp": "/x"}),
    ],
)
def test_unusual_messages_decode_as_the_reference_decodes_them(wire: Any) -> None:
    same_decode(wire)


def test_deep_values_unpack_as_the_reference_unpacks_them() -> None:
    for depth in (100, 127, 128, 129, 1023, 1024, 1025):
        same_decode(b"\x91" * depth + b"\xc0")
        same_decode(b"\x81\xa1k" * depth + b"\xc0")


def test_what_the_official_client_sends_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def reference(wire: bytes) -> Any:
        calls.append(wire)
        return notepack._unpack_reference(wire)

    from sio import _sio_core

    _sio_core.msgpack_setup(notepack._ext, notepack._packer.pack, reference)
    try:
        # socket.io-client's EVENT with an ack: {type, data, options: {compress}, id, nsp}
        packet = {
            "type": 2,
            "data": ["echo", "x" * 100, b"\x01"],
            "options": {"compress": True},
            "id": 7,
            "nsp": "/",
        }
        assert MsgpackDecoder().feed(_wire(packet)) == SioPacket(2, "/", ["echo", "x" * 100, b"\x01"], 7)
        assert notepack.unpack(_wire(packet)) == packet
        assert calls == []
    finally:
        _sio_core.msgpack_setup(notepack._ext, notepack._packer.pack, notepack._unpack_reference)


# --- encoding -----------------------------------------------------------------------------------

encode_types = st.one_of(st.integers(min_value=0, max_value=6), st.sampled_from([-1, 127, 128, 2**64, True]))
encode_ids = st.one_of(st.none(), ints, st.just(False))
encode_nsps = st.one_of(texts, st.sampled_from(["\ud800", "/é", "n" * 70000]))


@settings(max_examples=500)
@given(encode_types, encode_nsps, st.one_of(st.none(), values), encode_ids)
def test_packets_encode_as_the_reference_encodes_them(kind: Any, nsp: str, data: Any, ack_id: Any) -> None:
    same_encode(kind, nsp, data, ack_id)


class _Unpackable:
    pass


@pytest.mark.parametrize(
    "data",
    [
        None,
        ["x" * 100],
        [_Unpackable()],
        [2**64],
        ["\udc00"],
        [bytearray(b"ab"), memoryview(b"cd")],
        {"deep": [[[[[[[[[[1]]]]]]]]]]},
        [{1: 2, "a": None, b"k": 1.5}],
    ],
)
@pytest.mark.parametrize("ack_id", [None, 0, 3, 2**53 - 1])
def test_unusual_data_encodes_as_the_reference_encodes_it(data: Any, ack_id: Any) -> None:
    same_encode(3, "/", data, ack_id)
    same_encode(2, "/chat", data, ack_id)


def test_deep_data_encodes_as_the_reference_encodes_it() -> None:
    for depth in (509, 510, 511, 512, 600):
        data: Any = None
        for _ in range(depth):
            data = [data]
        same_encode(2, "/", data, 1)


def test_the_parser_encodes_with_the_core() -> None:
    assert MsgpackParser().encode is encode_msgpack_packet
    assert MsgpackParser().encode(3, "/", ["x"], 3) == [
        bytes.fromhex("84a47479706503a46461746191a178a36e7370a12fa2696403")
    ]
