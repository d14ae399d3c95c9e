"""Client WebSocket frames built byte by byte, independently of the core (shared by the codec tests)."""

from __future__ import annotations

import itertools
import struct

from hypothesis import strategies as st

MASK = b"\x37\xfa\x21\x3d"  # the masking key of RFC 6455's examples (section 5.7)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA  # RFC 6455 5.2

masks = st.binary(min_size=4, max_size=4)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)


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


@st.composite
def client_streams(
    draw: st.DrawFn, close_codes: st.SearchStrategy[int]
) -> tuple[bytes, list[tuple[int, object]]]:
    """Valid client input and the events it must give: random messages, randomly fragmented,
    masked and length-encoded, with control frames in between, maybe ended by a close
    (with a code drawn from ``close_codes``, or none)."""
    stream = bytearray()
    expected: list[tuple[int, object]] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from([OP_TEXT, OP_BINARY, OP_TEXT, OP_BINARY, OP_PING, OP_PONG]))
        if kind in (OP_PING, OP_PONG):
            payload = draw(st.binary(max_size=125))
            stream += client_frame(kind, payload, mask=draw(masks))
            expected.append((kind, payload))
            continue
        value: str | bytes
        if kind == OP_TEXT:
            value = draw(texts)
            raw = value.encode()
        else:
            value = raw = draw(st.binary(max_size=300))
        pieces = split_at(raw, draw(st.lists(st.integers(0, len(raw)), max_size=4)))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            form = draw(st.sampled_from([None, None, 16, 64]))
            stream += client_frame(kind if i == 0 else OP_CONT, piece, fin=last, mask=draw(masks), form=form)
            if not last and draw(st.booleans()):
                control = draw(st.sampled_from([OP_PING, OP_PONG]))
                payload = draw(st.binary(max_size=20))
                stream += client_frame(control, payload, mask=draw(masks))
                expected.append((control, payload))
        expected.append((kind, value))
    if draw(st.booleans()):
        code = draw(close_codes)
        reason = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
        stream += client_frame(OP_CLOSE, close_payload(code, reason), mask=draw(masks))
        expected.append((OP_CLOSE, (code, reason)))
    elif draw(st.booleans()):
        stream += client_frame(OP_CLOSE, mask=draw(masks))
        expected.append((OP_CLOSE, (1005, "")))
    return bytes(stream), expected
