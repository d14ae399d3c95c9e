"""msgpack as notepack.io writes and reads it (the msgpack of Node's socket.io ecosystem).

Used by the msgpack parser (socket.io-msgpack-parser) and the Redis adapters' messages.

- Out: str as msgpack ``str``, bytes-like as ``bin`` (notepack's Buffers), maps with str keys.
- In: ``undefined`` becomes None; a ``Date`` (notepack 3: a msgpack timestamp; notepack 2: ext
  type 0, 8 bytes of milliseconds) becomes the ISO string ``JSON.stringify`` gives
  (``2026-12-01T16:10:47.123Z``), as Node's socket.io would send it on to a JSON client.

``unpack`` runs the core's decoder (``_sio_core.msgpack_unpack``) for the usual msgpack; the core
hands anything else (bad bytes, timestamps, deep nesting) to :func:`_unpack_reference` below, which
decides values and errors alike. The msgpack parser's packets take the same paths.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgpack

from sio import _sio_core

__all__ = ["pack", "unpack"]

_packer = msgpack.Packer(use_bin_type=True, strict_types=False, datetime=False)
# The three headers a msgpack timestamp (ext -1) can have: a cheap test before a walk.
_TIMESTAMP_HEADERS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")
# notepack 2 (socket.io-msgpack-parser's) writes undefined as ext type 0 with one byte, and a Date
# as ext type 0 with 8 (milliseconds); notepack 3 (the Redis adapter's) writes a Date as a msgpack
# timestamp (ext -1) and undefined in an array as nil.
_NOTEPACK2 = 0


def pack(value: Any) -> bytes:
    """msgpack as notepack.io decodes it (raises TypeError / ValueError / OverflowError)."""
    return _packer.pack(value)  # type: ignore[no-any-return]


def _ext(code: int, data: bytes) -> Any:
    if code == _NOTEPACK2:
        if len(data) == 8:  # notepack 2's Date: milliseconds since the epoch
            milliseconds = int.from_bytes(data, "big", signed=True)
            return iso_date(milliseconds // 1000, milliseconds % 1000)
        return None  # its undefined
    return msgpack.ExtType(code, data)


def iso_date(seconds: int, milliseconds: int) -> str:
    """A time as a JavaScript ``Date`` goes out in JSON (``2026-12-01T10:00:00.000Z``); ValueError
    for a date no calendar holds."""
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # a date no calendar holds: a peer's garbage
        raise ValueError(f"a date out of range ({seconds} s)") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milliseconds:03d}Z"


def _js_date(timestamp: msgpack.Timestamp) -> str:
    return iso_date(timestamp.seconds, timestamp.nanoseconds // 1_000_000)


def _dates_to_strings(value: Any) -> Any:
    if isinstance(value, msgpack.Timestamp):
        return _js_date(value)
    if isinstance(value, list):
        return [_dates_to_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _dates_to_strings(item) for key, item in value.items()}
    return value


def _unpack_reference(wire: bytes) -> Any:
    """What :func:`unpack` returns or raises, for any input (the core's fast path agrees with it)."""
    try:
        value = msgpack.unpackb(wire, raw=False, strict_map_key=False, ext_hook=_ext)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        raise ValueError(f"not msgpack: {exc}") from None
    if any(header in wire for header in _TIMESTAMP_HEADERS):
        value = _dates_to_strings(value)
    return value


_sio_core.msgpack_setup(_ext, _packer.pack, _unpack_reference)


def unpack(wire: bytes) -> Any:
    """Decode one msgpack value (ValueError for bytes that are not exactly one)."""
    return _sio_core.msgpack_unpack(wire)
