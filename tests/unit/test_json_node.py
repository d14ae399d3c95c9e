"""JSON output must be byte-identical to JavaScript's JSON.stringify (checked with node).

Node parses each string we produced and stringifies it again: for a JSON text to
come back unchanged, it must already be exactly what JavaScript prints for that
value (number formatting, escaping, key order, no spaces).
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess

import pytest

from sio._sio_core import EncodeError, encode_json, encode_sio_packet
from tests.peers import require_node

ROUND_TRIP_JS = r"""
const inputs = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(inputs.map((s) => JSON.stringify(JSON.parse(s)))));
"""

EDGE_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.5,
    1.5,
    100.0,
    2.0**53,
    2.0**53 + 2,
    2.0**60,
    2.0**63,
    2.0**64,
    1e15,
    1e16,
    1.5e16,
    1e20,
    1.2345678901234568e20,
    1e21,
    1.5e21,
    1e300,
    1.7976931348623157e308,
    1e-5,
    1.5e-5,
    1e-6,
    1.5e-6,
    9.99e-6,
    1e-7,
    1.5e-7,
    5e-324,
    2.2250738585072014e-308,
    0.1 + 0.2,
    123.456,
    1 / 3,
    -2.5e-6,
    -1e16,
    -123456789012345680000.0,
]
EDGE_STRINGS = [
    "",
    "a\x00b",
    "\x1f\x7f",
    '"quoted" \\ /',
    "\u2028\u2029",
    "é日本語🎉",
    "\b\f\n\r\t",
    "cut \ud83d",
    "\udfff lone",
]


def random_float(rng: random.Random) -> float:
    while True:
        (value,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(value):
            return value


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return random_float(rng)
    if kind == 1:
        return rng.choice(EDGE_FLOATS) * rng.choice([1, -1, 10, 1e-3])
    if kind == 2:
        return rng.randint(-(2**53), 2**53)
    if kind == 3:
        return "".join(
            chr(rng.choice([rng.randrange(0x20), rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0xD800)]))
            for _ in range(rng.randrange(8))
        )
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        return float(rng.randint(-(10**6), 10**6))
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {f"k{i}-{rng.randrange(100)}": random_value(rng, depth + 1) for i in range(rng.randrange(5))}


def as_js_value(value):
    """Numbers as JavaScript sees them (one number type; NaN and infinities become null in JSON)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, list):
        return [as_js_value(v) for v in value]
    return {k: as_js_value(v) for k, v in value.items()}


def node_restringify(texts: list[str]) -> list[str]:
    result = subprocess.run(
        [require_node(), "-e", ROUND_TRIP_JS],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def test_encoded_json_is_what_javascript_prints() -> None:
    rng = random.Random(20261126)
    values = [*EDGE_FLOATS, *(-x for x in EDGE_FLOATS), *EDGE_STRINGS]
    values += [random_value(rng) for _ in range(3000)]
    values.append({"z": 1, "a": [1.0, {"b": -0.0}], "m": "x"})  # key order is insertion order
    texts = [encode_json(v).decode("utf-8") for v in values]
    assert node_restringify(texts) == texts
    for value, text in zip(values, texts, strict=True):
        assert as_js_value(json.loads(text)) == as_js_value(value)  # and it still means the same value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e16, "10000000000000000"),
        (2.0**60, "1152921504606847000"),
        (1.2345678901234568e20, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (float("nan"), "null"),
        ([1.5, 2.0], "[1.5,2]"),
        ({"b": 1, "a": 2}, '{"b":1,"a":2}'),
    ],
)
def test_javascript_number_formatting(value, expected: str) -> None:
    assert encode_json(value).decode() == expected


@pytest.mark.parametrize("value", [{1: "int key"}, {"s": {1, 2}}, [object()], 2**64])
def test_values_json_cannot_carry_are_refused(value) -> None:
    with pytest.raises(EncodeError):
        encode_json(value)
    with pytest.raises(EncodeError):
        encode_sio_packet(2, "/", ["event", value])


def test_binary_is_refused_outside_a_packet() -> None:
    with pytest.raises(EncodeError):
        encode_json({"data": b"\x00"})


def test_deep_nesting_is_refused_not_a_crash() -> None:
    value: list = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(EncodeError):
        encode_sio_packet(2, "/", ["deep", value])
