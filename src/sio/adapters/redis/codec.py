"""Messages on Redis as Node's adapters write them: msgpack as notepack.io 3 does, or JSON.

- msgpack: as notepack.io writes and reads it (:mod:`sio.notepack`: bytes as ``bin``, a ``Date``
  as the ISO string ``JSON.stringify`` gives, ``undefined`` as None).
- JSON: requests and responses without binary (a message starting with ``{``).

:func:`decode` tells them apart by the first byte, as Node's adapter does.
"""

from __future__ import annotations

from typing import Any

import orjson

from sio import notepack

__all__ = ["decode", "decode_json", "encode_json", "encode_msgpack"]


def encode_msgpack(value: Any) -> bytes:
    """msgpack as notepack.io decodes it (bytes-like as ``bin``)."""
    return notepack.pack(value)


def encode_json(value: Any) -> bytes:
    """JSON (for requests and responses that carry no binary)."""
    return orjson.dumps(value)


def decode_msgpack(wire: bytes) -> Any:
    """Decode msgpack (raises ValueError for bytes that are not one msgpack value)."""
    return notepack.unpack(wire)


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
