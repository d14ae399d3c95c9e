"""Compression options and the sans-I/O parts of HTTP compression (polling responses).

* :class:`HttpCompression` (``http_compression=``, Node's ``httpCompression``): polling
  responses compressed with gzip or deflate, as Node's engine.io does by default.
  :func:`negotiate_encoding` reads ``Accept-Encoding`` exactly as Node's ``negotiator``
  package does for the offer ``["gzip", "deflate"]``.
* :class:`DeflateOptions` (``per_message_deflate=``, Node's ``perMessageDeflate``): the
  WebSocket extension's settings (RFC 7692); the built-in front end negotiates and runs it
  (:mod:`sio.frontends.permessage_deflate`); an ASGI server negotiates its own.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from sio.errors import InvalidOption

__all__ = ["DeflateOptions", "HttpCompression", "compress_body", "negotiate_encoding"]

# What the server offers, in its order of preference (Node: accepts(req).encodings(["gzip", "deflate"])).
ENCODINGS = ("gzip", "deflate")
DEFAULT_THRESHOLD = 1024
_JS_FLOAT = re.compile(r"\s*[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


@dataclass(frozen=True, slots=True)
class HttpCompression:
    """Compression of polling responses: a payload of at least ``threshold`` bytes (UTF-8) with at
    least one packet that may be compressed is sent gzip- or deflate-encoded when the client
    accepts either. ``level``: zlib's level (-1: zlib's default, as Node)."""

    threshold: int = DEFAULT_THRESHOLD
    level: int = -1

    @classmethod
    def from_option(cls, value: bool | dict[str, Any] | HttpCompression | None) -> HttpCompression | None:
        """``http_compression=``: True or a dict (``threshold``, ``level``) turns it on, False/None off."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, HttpCompression):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"threshold", "level"}
            if unknown:
                raise InvalidOption(f"http_compression: unknown option(s) {sorted(unknown)}")
            options = cls(**value)
            if not isinstance(options.threshold, int) or options.threshold < 0:
                raise InvalidOption(
                    f"http_compression: threshold must be an int >= 0, not {options.threshold!r}"
                )
            if not isinstance(options.level, int) or not -1 <= options.level <= 9:
                raise InvalidOption(f"http_compression: level must be -1..9, not {options.level!r}")
            return options
        raise InvalidOption(f"http_compression must be a bool or a dict, not {value!r}")


def _quality(params: str) -> float:
    """The q of ``;q=0.5;x=y`` as Node's negotiator reads it (the first ``q``, parseFloat)."""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            return _parse_float(value)
    return 1.0


def _parse_float(text: str) -> float:
    """JavaScript's ``parseFloat``: the longest leading decimal number, NaN when there is none."""
    match = _JS_FLOAT.match(text)
    if match is None:
        return math.nan
    number = match.group()
    if number.endswith("Infinity"):
        return -math.inf if number.lstrip()[0] == "-" else math.inf
    return float(number)


def _js_or(*values: float) -> float:
    """JavaScript's ``a || b || c`` on numbers: the first that is neither 0 nor NaN (else the last)."""
    for value in values:
        if value and value == value:
            return value
    return values[-1]


def negotiate_encoding(accept_encoding: str | None) -> str | None:
    """``gzip``, ``deflate`` or None (send it as is) for a request's ``Accept-Encoding``.

    As Node's ``negotiator``: each coding's best match (an exact name beats ``*``, then the
    higher q, then the earlier entry), codings with q 0 (or no valid q) refused, then sorted
    by q, exact over ``*``, the client's order, the server's order. No header: no compression.
    """
    if not accept_encoding:
        return None
    specs: list[tuple[str, float, int]] = []  # (coding, q, index in the header)
    for index, entry in enumerate(accept_encoding.split(",")):
        coding, _, params = entry.strip().partition(";")
        coding = coding.strip()
        if not coding or any(c.isspace() for c in coding):
            continue
        specs.append((coding.lower(), _quality(params) if params else 1.0, index))
    best: list[tuple[float, int, int, int]] = []  # (q, s, o, i) per offered coding that is accepted
    for offer_index, offered in enumerate(ENCODINGS):
        priority = (0.0, 0, -1, offer_index)  # q, s (1 exact, 0 for *), o (header index)
        found = False
        for coding, q, index in specs:
            if coding == offered:
                s = 1
            elif coding == "*":
                s = 0
            else:
                continue
            # Node: replace while (priority.s - spec.s || priority.q - spec.q || priority.o - spec.o) < 0
            difference = _js_or(priority[1] - s, priority[0] - q, priority[2] - index)
            if not found or difference < 0:
                priority = (q, s, index, offer_index)
                found = True
        if found and priority[0] > 0:  # NaN > 0 is False, as in JavaScript
            best.append(priority)
    if not best:
        return None
    # compareSpecs: (b.q - a.q) || (b.s - a.s) || (a.o - b.o) || (a.i - b.i)
    best.sort(key=lambda p: (-p[0], -p[1], p[2], p[3]))
    return ENCODINGS[best[0][3]]


def compress_body(body: bytes, encoding: str, level: int = -1) -> bytes:
    """``body`` gzip- or deflate-encoded (HTTP's ``deflate``: the zlib format, Node's ``createDeflate``)."""
    wbits = 31 if encoding == "gzip" else 15
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return compressor.compress(body) + compressor.flush()


# -- permessage-deflate options ------------------------------------------------------------------

_DEFLATE_KEYS = {
    "threshold",
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
    "memory_level",
    "level",
}


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    """permessage-deflate (RFC 7692) settings, Node's ``perMessageDeflate`` (ws's names in snake case).

    ``threshold``: messages under it (UTF-8 bytes of the Engine.IO packet) go out uncompressed.
    ``server_no_context_takeover``: our compressor keeps nothing between messages (then one
    compressed frame is shared by every recipient of a broadcast); ``client_no_context_takeover``:
    asked of the client (our inflater then keeps nothing either). ``server_max_window_bits`` /
    ``client_max_window_bits``: 8..15, None for the peer's offer / 15 (8 is agreed and compressed with
    9 bits: zlib's raw deflate needs 9, and never refers back more than 250 bytes). ``memory_level`` 1..9 and
    ``level`` -1..9 are zlib's (Node's defaults: 8 and -1).
    """

    threshold: int = DEFAULT_THRESHOLD
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    memory_level: int = 8
    level: int = -1

    @classmethod
    def from_option(cls, value: bool | dict[str, Any] | DeflateOptions | None) -> DeflateOptions | None:
        """``per_message_deflate=``: True or a dict turns it on (off by default, as in Node)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, DeflateOptions):
            options = value
        elif isinstance(value, dict):
            unknown = set(value) - _DEFLATE_KEYS
            if unknown:
                raise InvalidOption(f"per_message_deflate: unknown option(s) {sorted(unknown)}")
            options = cls(**value)
        else:
            raise InvalidOption(f"per_message_deflate must be a bool or a dict, not {value!r}")
        options._check()
        return options

    def _check(self) -> None:
        if not isinstance(self.threshold, int) or self.threshold < 0:
            raise InvalidOption(f"per_message_deflate: threshold must be an int >= 0, not {self.threshold!r}")
        for name in ("server_max_window_bits", "client_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and (not isinstance(bits, int) or not 8 <= bits <= 15):
                raise InvalidOption(f"per_message_deflate: {name} must be 8..15 or None, not {bits!r}")
        if not isinstance(self.memory_level, int) or not 1 <= self.memory_level <= 9:
            raise InvalidOption(f"per_message_deflate: memory_level must be 1..9, not {self.memory_level!r}")
        if not isinstance(self.level, int) or not -1 <= self.level <= 9:
            raise InvalidOption(f"per_message_deflate: level must be -1..9, not {self.level!r}")
