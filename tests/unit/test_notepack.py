"""sio.notepack against bytes node's notepack.io wrote (2.2.0: socket.io-msgpack-parser's; 3.0.1: the
Redis adapter's), printed by ``node -e 'require("notepack.io").encode(...)'`` in tests/js."""

from __future__ import annotations

import struct

import pytest

from sio.errors import SocketIOError
from sio.notepack import pack, unpack
from sio.parser import MsgpackParser

DATE = "2026-12-01T16:10:47.123Z"  # new Date(Date.UTC(2026, 11, 1, 16, 10, 47, 123))


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ("92d4000001", [None, 1]),  # 2.2.0: [undefined, 1]
        ("82a161d40000a16201", {"a": None, "b": 1}),  # 2.2.0: {a: undefined, b: 1}
        ("d700000001a2325f77d3", DATE),  # 2.2.0: a Date
        ("92c001", [None, 1]),  # 3.0.1: [undefined, 1]
        ("81a16201", {"b": 1}),  # 3.0.1: {a: undefined, b: 1}
        ("d7ff1d5353006b0ef187", DATE),  # 3.0.1: a Date (a msgpack timestamp)
    ],
)
def test_what_node_wrote_reads_as_node_would_send_it_on(wire: str, value: object) -> None:
    assert unpack(bytes.fromhex(wire)) == value


def test_bytes_go_out_as_bin_and_come_back() -> None:
    assert pack({"b": b"\x00\xff"}) == bytes.fromhex("81a162c40200ff")  # bin 8, as a Buffer
    assert unpack(pack(["x", b"\x01", {"n": 2**40}])) == ["x", b"\x01", {"n": 2**40}]


@pytest.mark.parametrize("wire", ["c1", "92", "9201", "0102"])  # never used, cut, cut, two values
def test_what_is_not_one_value_is_refused(wire: str) -> None:
    with pytest.raises(ValueError):
        unpack(bytes.fromhex(wire))


def test_a_date_out_of_any_calendar_is_a_value_error_and_a_protocol_error() -> None:
    huge = b"\xc7\x0c\xff" + struct.pack(">IQ", 0, 2**62)  # timestamp 96: 2**62 seconds
    with pytest.raises(ValueError, match="out of range"):
        unpack(huge)
    notepack2 = b"\xd7\x00" + (2**62).to_bytes(8, "big")  # notepack 2's Date: 2**62 ms
    with pytest.raises(ValueError):
        unpack(notepack2)
    packet = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1e" + huge
    with pytest.raises(SocketIOError):
        MsgpackParser().decoder().feed(packet)
