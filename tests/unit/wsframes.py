"""Client WebSocket frames built byte by byte, independently of the core (shared by the codec tests)."""

from __future__ import annotations

import itertools
import struct

MASK = b"\x37\xfa\x21\x3d"  # the masking key of RFC 6455's examples (section 5.7)


def xor_mask(data: bytes, mask: bytes) -> bytes:
    """Mask (or unmask) ``data`` with a 4-byte key; a reference independent of the core."""
    if not data:
        return b""
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def client_frame(
    opcode: int,
    payload: bytes | str = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: int | None = None,
    form: int | None = None,
) -> bytes:
    """Build a frame as a client would send it.

    ``length`` overrides the declared payload length, ``form`` forces the 7, 16 or
    64-bit length encoding (default: the minimal one).
    """
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    if form is None:
        form = 7 if n < 126 else 16 if n < 65536 else 64
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if form == 7:
        head += bytes([mask_bit | n])
    elif form == 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + xor_mask(payload, mask)


def close_payload(code: int, reason: bytes | str = b"") -> bytes:
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]
