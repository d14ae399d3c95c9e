"""The sans-I/O parts of HTTP compression: Accept-Encoding negotiation (Node's negotiator) and options."""

from __future__ import annotations

import gzip
import math
import zlib

import pytest

from sio.engine import EngineServer
from sio.engine.compression import (
    DeflateOptions,
    HttpCompression,
    _parse_float,
    compress_body,
    negotiate_encoding,
)
from sio.errors import InvalidOption


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),  # codings are case-insensitive
        ("deflate", "deflate"),
        ("gzip, deflate", "gzip"),
        ("deflate, gzip", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("gzip;q=0.5, deflate;q=0.5", "gzip"),
        ("deflate;q=0.5, gzip;q=0.5", "deflate"),
        ("gzip;q=0", None),
        ("gzip;q=0, deflate;q=0.001", "deflate"),
        ("*", "gzip"),
        ("*;q=0.1, deflate;q=0.1", "deflate"),  # exact beats * at equal q
        ("*, gzip;q=0", "deflate"),
        ("*;q=0", None),
        ("identity", None),
        ("identity, deflate;q=0.2", "deflate"),
        ("br, zstd, compress", None),
        ("gzip;level=9;q=0.3, deflate;q=0.2", "gzip"),  # the first q parameter counts
        ("gzip;q=abc, deflate", "deflate"),
        ("gzip;q=abc, gzip", "gzip"),  # a later valid spec replaces a NaN one, as in JavaScript
        ("gzip;q=1e-3", "gzip"),
        (" , ,gzip ,", "gzip"),
        ("gzip deflate", None),  # not a coding
        (";q=1", None),
    ],
)
def test_negotiate_encoding(header: str | None, expected: str | None) -> None:
    assert negotiate_encoding(header) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.5", 0.5), ("1", 1.0), (" 2x", 2.0), (".5", 0.5), ("1e3", 1000.0), ("1e", 1.0), ("-1", -1.0)],
)
def test_parse_float_as_javascript(text: str, value: float) -> None:
    assert _parse_float(text) == value


@pytest.mark.parametrize("text", ["", "abc", "e5", ".", "-"])
def test_parse_float_nan(text: str) -> None:
    assert math.isnan(_parse_float(text))


def test_compress_body_formats() -> None:
    body = b"payload " * 500
    assert gzip.decompress(compress_body(body, "gzip")) == body
    assert zlib.decompress(compress_body(body, "deflate")) == body  # HTTP deflate is the zlib format


def test_http_compression_options() -> None:
    assert EngineServer().http_compression == HttpCompression(threshold=1024)  # Node's default: on
    assert EngineServer(http_compression=False).http_compression is None
    assert EngineServer(http_compression={"threshold": 0}).http_compression == HttpCompression(threshold=0)
    for bad in ({"threshold": -1}, {"treshold": 10}, {"level": 10}, "gzip"):
        with pytest.raises(InvalidOption):
            EngineServer(http_compression=bad)  # type: ignore[arg-type]


def test_per_message_deflate_options() -> None:
    assert EngineServer().per_message_deflate is None  # Node's default: off
    assert EngineServer(per_message_deflate=True).per_message_deflate == DeflateOptions()
    options = DeflateOptions.from_option(
        {"threshold": 0, "server_no_context_takeover": True, "client_max_window_bits": 9}
    )
    assert options is not None and options.server_no_context_takeover and options.client_max_window_bits == 9
    for bad in (
        {"server_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"memory_level": 0},
        {"level": 11},
        {"threshold": -1},
        {"window_bits": 15},
        1,
    ):
        with pytest.raises(InvalidOption):
            EngineServer(per_message_deflate=bad)  # type: ignore[arg-type]
