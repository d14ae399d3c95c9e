"""Messages on Redis as Node's adapters write them: msgpack as notepack.io 3 does, or JSON.

- msgpack: str as msgpack ``str``, bytes as ``bin`` (notepack's Buffers), maps with str keys.
  What notepack writes that Python has no value for is mapped as Node's socket.io would send it
  on to a client: a ``Date`` (ext type -1, a timestamp) becomes the ISO string
  ``JSON.stringify`` gives (``2026-12-01T16:10:47.123Z``).
- JSON: requests and responses without binary (a message starting with ``{``).

:func:`decode` tells them apart by the first byte, as Node's adapter does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgpack
import orjson

__all__ = ["decode", "decode_json", "encode_json", "encode_msgpack"]

_packer = msgpack.Packer(use_bin_type=True, strict_types=False, datetime=False)
# The three headers a msgpack timestamp (ext -1) can have: a cheap test before a walk.
_TIMESTAMP_HEADERS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")


def encode_msgpack(value: Any) -> bytes:
    """msgpack as notepack.io decodes it (bytes-like as ``bin``)."""
    return _packer.pack(value)  # type: ignore[no-any-return]


def encode_json(value: Any) -> bytes:
    """JSON (for requests and responses that carry no binary)."""
    return orjson.dumps(value)


def _js_date(timestamp: msgpack.Timestamp) -> str:
    moment = datetime.fromtimestamp(timestamp.seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp.nanoseconds // 1_000_000:03d}Z"


def _dates_to_strings(value: Any) -> Any:
    if isinstance(value, msgpack.Timestamp):
        return _js_date(value)
    if isinstance(value, list):
        return [_dates_to_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _dates_to_strings(item) for key, item in value.items()}
    return value


def decode_msgpack(wire: bytes) -> Any:
    """Decode msgpack (raises ValueError for bytes that are not one msgpack value)."""
    try:
        value = msgpack.unpackb(wire, raw=False, strict_map_key=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
        raise ValueError(f"not msgpack: {exc}") from None
    if any(header in wire for header in _TIMESTAMP_HEADERS):
        value = _dates_to_strings(value)
    return value


def decode_json(wire: bytes) -> Any:
    """Decode JSON (raises ValueError)."""
    try:
        return orjson.loads(wire)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def decode(wire: bytes) -> Any:
    """JSON if it starts with ``{``, else msgpack (Node's rule); ValueError for neither."""
    if wire[:1] == b"{":
        return decode_json(wire)
    return decode_msgpack(wire)
