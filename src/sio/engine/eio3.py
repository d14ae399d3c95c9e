"""Engine.IO v3 packets and polling payloads (engine.io-parser 2.2.x, what socket.io-client 2.x speaks).

Sans-I/O, like the core's v4 codec, and with the same shapes: a decoded packet is ``(type, data)``
(``data`` the str after the type digit, or bytes for a binary message); an *encoded* packet is
what the engine hands a transport (a str such as ``"4hello"``, or bytes for a binary message,
without the type byte). Only ``allow_eio3=True`` sessions use this module; the v4 hot path never
touches it.

What differs from v4:

- **WebSocket**: a binary message travels as ``b"\\x04" + data`` in a binary frame (the type is
  its first byte); without binary support (``b64=1``) as the text ``"b4" + base64``.
- **Text payloads** (polling): each packet is ``<length>:<packet>``, the length counting UTF-16
  code units as JavaScript's ``String.length`` does (an astral character counts 2); a binary
  packet is ``"b4" + base64``. ``"0:"`` is the empty payload.
- **Binary payloads** (polling with XHR2, a browser's socket.io-client 2.x): when the client
  supports binary (no ``b64`` in its handshake) and a packet is binary, the response is
  ``application/octet-stream``: per packet a kind byte (0 text, 1 binary), the length's decimal
  digits as bytes 0-9, 255, then the packet (text as UTF-8, the length in bytes; binary as the
  type byte and the data). The client's POSTs may use the same form.

Decoding is stricter than Node's (which takes ``"0x3"`` as a length, or ignores a packet of
unknown type): every malformed input raises :class:`~sio.EngineIOError`, whose ``packets`` are
the good packets before the fault (delivered first, then ``parse error``, as Node does).
"""

from __future__ import annotations

import binascii
import re
import sys
from collections.abc import Sequence

from sio._sio_core import EIO_MESSAGE, EncodeError, EngineIOError, decode_eio_packet
from sio.engine.exchange import EncodedPacket, SharedPacket, packet_data

Packet = tuple[int, str | bytes]

BINARY_MESSAGE_TYPE = b"\x04"  # the type byte of a binary message (WebSocket frames, binary payloads)
EMPTY_PAYLOAD = b"0:"
# A character outside the Basic Multilingual Plane: two UTF-16 code units, one Python character.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Binary payload length digits are the bytes 0-9, ended by 255.
_DIGIT_BYTES = bytes.maketrans(b"0123456789", bytes(range(10)))
_BYTES_TO_DIGITS = bytes.maketrans(bytes(range(10)), b"0123456789")
_LENGTH_END = 255


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict, padded base64 (``EngineIOError`` otherwise)."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (ValueError, binascii.Error):
        raise EngineIOError("invalid base64 in a binary packet") from None


def _utf16_length(text: str) -> int:
    """JavaScript's ``text.length``: UTF-16 code units."""
    if text.isascii():  # O(1) on a str
        return len(text)
    return len(text) + len(_ASTRAL.findall(text))


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise EncodeError("text with a lone surrogate cannot be sent as UTF-8") from None


# -- packets --------------------------------------------------------------------------------


def decode_text_packet(text: str) -> Packet:
    """One text packet: ``<type digit>[data]``, or ``b<type digit><base64>`` for binary data."""
    if text[:1] == "b":
        kind = text[1:2]
        if len(kind) != 1 or not "0" <= kind <= "6":
            raise EngineIOError(f"unknown Engine.IO packet type {kind!r} in a base64 packet")
        return (ord(kind) - 48, _unb64(text[2:]))
    return decode_eio_packet(text)  # the same rules as v4 (type 0-6, then the text)


def decode_packet(data: str | bytes) -> Packet:
    """One packet from a WebSocket message: a text frame, or a binary frame led by its type byte."""
    if isinstance(data, str):
        return decode_text_packet(data)
    if not data:
        raise EngineIOError("empty binary Engine.IO packet")
    kind = data[0]
    if kind > 6:
        raise EngineIOError(f"unknown Engine.IO packet type {kind} in a binary packet")
    return (kind, bytes(data[1:]))


def websocket_packets(packets: Sequence[EncodedPacket], supports_binary: bool) -> Sequence[EncodedPacket]:
    """The WebSocket messages carrying encoded packets (text packets are the same as in v4).

    A binary message becomes ``b"\\x04" + data`` (for a shared packet, one shared variant made
    once, so a broadcast still writes the same frame to every v3 recipient), or ``"b4" + base64``
    for a client without binary support. Returns ``packets`` itself when none is binary.
    """
    for packet in packets:  # the usual case, checked first: text only
        if type(packet_data(packet)) is not str:
            break
    else:
        return packets
    out: list[EncodedPacket] = []
    for packet in packets:
        data = packet_data(packet)
        if isinstance(data, str):
            out.append(packet)
            continue
        shared = packet if isinstance(packet, SharedPacket) else None
        if not supports_binary:
            text = "b4" + _b64(data)
            out.append(text if shared is None else SharedPacket(text, shared.compress))
        else:
            out.append(BINARY_MESSAGE_TYPE + data if shared is None else shared.eio3_binary())
    return out


# -- payloads: encoding ------------------------------------------------------------------------


def encode_payload(packets: Sequence[str | bytes], supports_binary: bool) -> tuple[bytes, bool]:
    """A polling response body for encoded packets, and whether it is a binary payload.

    Binary when the client supports it and a packet is binary (Node's ``hasBinary``), text
    (length-prefixed, binary packets as base64) otherwise.
    """
    if supports_binary and any(type(packet) is not str for packet in packets):
        return _encode_binary_payload(packets), True
    if not packets:
        return EMPTY_PAYLOAD, False
    parts: list[str] = []
    for packet in packets:
        text = packet if isinstance(packet, str) else "b4" + _b64(packet)
        parts.append(f"{_utf16_length(text)}:{text}")
    return _utf8("".join(parts)), False


def _length_digits(length: int) -> bytes:
    """A binary payload's length field: the decimal digits as bytes 0-9, then 255."""
    return str(length).encode("ascii").translate(_DIGIT_BYTES) + b"\xff"


def _encode_binary_payload(packets: Sequence[str | bytes]) -> bytes:
    parts: list[bytes] = []
    for packet in packets:
        if isinstance(packet, str):
            text = _utf8(packet)
            parts += (b"\x00", _length_digits(len(text)), text)
        else:
            parts += (b"\x01", _length_digits(len(packet) + 1), BINARY_MESSAGE_TYPE, packet)
    return b"".join(parts)


# -- payloads: decoding ------------------------------------------------------------------------


def decode_payload(body: bytes | str, binary: bool = False) -> list[Packet]:
    """The packets of a POST body: a binary payload (``application/octet-stream``) or a text one.

    Raises :class:`~sio.EngineIOError` at the first fault; its ``packets`` are those before it.
    """
    if binary:
        if isinstance(body, str):
            raise TypeError("a binary payload is bytes")
        return _decode_binary_payload(bytes(body))
    if isinstance(body, str):
        text = body
    else:
        try:
            text = bytes(body).decode()
        except UnicodeDecodeError:
            raise EngineIOError("polling payload is not valid UTF-8") from None
    if not text:
        raise EngineIOError("empty polling payload")
    if text.isascii() or _ASTRAL.search(text) is None:
        return _split_records(text)  # one code unit per character: lengths index the str itself
    return _split_utf16_records(text.encode("utf-16-le"))  # an astral character is two code units


def _record_length(digits: str, max_digits: int, out: list[Packet]) -> int:
    """A record's length prefix; more digits than the payload's size has is past its end anyway."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise EngineIOError(f"invalid packet length {digits[:20]!r}", out)
    return int(digits) if len(digits) <= max_digits else sys.maxsize


def _split_records(text: str) -> list[Packet]:
    """Split ``<length>:<packet>`` records of a payload whose characters are one code unit each."""
    out: list[Packet] = []
    size = len(text)
    max_digits = len(str(size))
    pos = 0
    while pos < size:
        colon = text.find(":", pos)
        if colon < 0:
            raise EngineIOError("a packet length without ':'", out)
        length = _record_length(text[pos:colon], max_digits, out)
        start = colon + 1
        end = start + length
        if end > size:
            raise EngineIOError(f"packet length {text[pos:colon][:20]} runs past the end of the payload", out)
        if length:  # "0:" is the empty payload: nothing to deliver
            try:
                out.append(decode_text_packet(text[start:end]))
            except EngineIOError as exc:
                raise EngineIOError(str(exc), out) from None
        pos = end
    return out


def _split_utf16_records(units: bytes) -> list[Packet]:
    """:func:`_split_records` over UTF-16-LE (two bytes per code unit, positions in code units)."""
    out: list[Packet] = []
    size = len(units) // 2
    max_digits = len(str(size))
    pos = 0
    while pos < size:
        colon = units.find(b":\x00", 2 * pos)
        while colon > 0 and colon % 2:  # a match across two code units: not a ":"
            colon = units.find(b":\x00", colon + 1)
        if colon < 0:
            raise EngineIOError("a packet length without ':'", out)
        colon //= 2
        digits = units[2 * pos : 2 * colon].decode("utf-16-le", "replace")
        length = _record_length(digits, max_digits, out)
        start = colon + 1
        end = start + length
        if end > size:
            raise EngineIOError(f"packet length {digits[:20]} runs past the end of the payload", out)
        if length:
            try:
                piece = units[2 * start : 2 * end].decode("utf-16-le")
            except UnicodeDecodeError:  # the length ends inside a surrogate pair
                raise EngineIOError("a packet length splits a character", out) from None
            try:
                out.append(decode_text_packet(piece))
            except EngineIOError as exc:
                raise EngineIOError(str(exc), out) from None
        pos = end
    return out


def _decode_binary_payload(body: bytes) -> list[Packet]:
    """Split a binary payload: per packet its kind (0 text, 1 binary), length digits, 255, bytes."""
    out: list[Packet] = []
    size = len(body)
    max_digits = len(str(size))
    pos = 0
    while pos < size:
        kind = body[pos]
        if kind > 1:
            raise EngineIOError(f"binary payload: packet kind {kind} is neither 0 (text) nor 1 (binary)", out)
        # The length's digits end with 255 within as many digits as the payload's size has.
        end_of_length = body.find(_LENGTH_END, pos + 1, pos + 2 + max_digits)
        digits = body[pos + 1 : end_of_length]
        if end_of_length < 0 or not digits or max(digits) > 9:
            raise EngineIOError("binary payload: invalid packet length", out)
        length = int(digits.translate(_BYTES_TO_DIGITS))
        start = end_of_length + 1
        end = start + length
        if end > size:
            raise EngineIOError(f"binary payload: packet length {length} runs past the end", out)
        chunk = body[start:end]
        try:
            if kind == 0:
                try:
                    text = chunk.decode()
                except UnicodeDecodeError:
                    raise EngineIOError("binary payload: a text packet is not valid UTF-8") from None
                if not text:
                    raise EngineIOError("empty Engine.IO packet")
                out.append(decode_text_packet(text))
            else:
                if not chunk:
                    raise EngineIOError("empty binary Engine.IO packet")
                if chunk[0] != EIO_MESSAGE:
                    raise EngineIOError(f"binary payload: packet type {chunk[0]} cannot carry binary data")
                out.append((EIO_MESSAGE, chunk[1:]))
        except EngineIOError as exc:
            raise EngineIOError(str(exc), out) from None
        pos = end
    return out
