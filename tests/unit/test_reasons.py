"""The disconnect reasons as data: Node's exact strings, usable as strings."""

from __future__ import annotations

import json

import orjson

import sio
from sio.reasons import DisconnectReason

# socket.io 4.8, lib/socket.ts: `export type DisconnectReason = ...`, in its order.
NODE_REASONS = [
    "transport error",
    "transport close",
    "forced close",
    "ping timeout",
    "parse error",
    "server shutting down",
    "forced server close",
    "client namespace disconnect",
    "server namespace disconnect",
]


def test_the_reasons_are_nodes_exact_strings() -> None:
    assert sorted(reason.value for reason in DisconnectReason) == sorted(NODE_REASONS)
    assert sio.DisconnectReason is DisconnectReason


def test_a_reason_is_its_string_wherever_a_string_is_expected() -> None:
    reason = DisconnectReason.PING_TIMEOUT
    assert reason == "ping timeout"
    assert str(reason) == f"{reason}" == "ping timeout"
    assert {"ping timeout": 1}[reason] == 1
    assert json.dumps(reason) == orjson.dumps(reason).decode() == '"ping timeout"'
    assert DisconnectReason("transport close") is DisconnectReason.TRANSPORT_CLOSE
