"""permessage-deflate (RFC 7692) for the built-in front end, sans-I/O.

* :func:`negotiate` reads a request's ``Sec-WebSocket-Extensions`` and returns the
  :class:`Agreement` (with the response's header value), or None for no extension. It does
  what Node's ``ws`` does (``lib/extension.js`` parses, ``PerMessageDeflate.acceptAsServer``
  decides): a malformed header, or a permessage-deflate offer with an unknown, repeated or
  invalid parameter, refuses the upgrade (:class:`HandshakeError`, 400, ws's message). One
  difference: when every offer is well formed but none suits our options, the connection goes
  on without the extension (RFC 7692 section 5: the server declines), where ws answers 400.
* :class:`PerMessageDeflate` is one connection's codec: ``inflate`` what the client sends
  (bounded by the connection's message limit *after* inflating), ``frame`` what we send.

``server_max_window_bits=8`` is agreed as asked, but compressed with a 9-bit window: zlib's raw
deflate refuses 8 bits, and with 9 it never refers further back than 250 bytes, within the
client's 256 (see :func:`_compressor_bits`). The inflater always has 15 bits: it reads any
client window.

Memory (zlib's own figures, confirmed with tracemalloc): a compressor with the default
window (15 bits) and ``memory_level`` 8 takes about 262 KiB, an inflater about 40 KiB once it
has inflated something. So neither is made before a connection needs it: a connection's
compressor on its first compressed message, its inflater on the first compressed message it
receives. With ``server_no_context_takeover`` no connection has a compressor of its own (one
:class:`SharedDeflater` per parameter set serves them all), and with
``client_no_context_takeover`` an inflater lives for one message only.
"""

from __future__ import annotations

import re
import sys
import threading
import zlib
from dataclasses import dataclass

from sio._sio_core import (
    OP_BINARY,
    OP_TEXT,
    OP_TEXT_DEFLATED,
    HandshakeError,
    WebSocketInvalidUtf8,
    WebSocketMessageTooBig,
    encode_binary_frame,
    encode_deflated_frame,
    encode_text_frame,
)
from sio.engine.compression import DeflateOptions
from sio.engine.exchange import EncodedPacket, SharedPacket
from sio.errors import WebSocketCompressionError

__all__ = ["EXTENSION", "Agreement", "PerMessageDeflate", "SharedDeflater", "negotiate", "parse_extensions"]

EXTENSION = "permessage-deflate"
# What ws answers (400) to a header it cannot parse or accept.
INVALID_HEADER = "Invalid or unacceptable Sec-WebSocket-Extensions header"
# A deflate block sequence ended by a sync flush ends with this empty stored block: the sender
# removes it from each message, the receiver puts it back (RFC 7692 section 7.2).
TRAILER = b"\x00\x00\xff\xff"

# RFC 7230 tchar, as ws's tokenChars.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SPACE = (0x20, 0x09)
_DIGITS = re.compile(r"[0-9]+")

Params = dict[str, list[str | bool]]  # parameter name -> its values (True: no value), in order


def parse_extensions(header: str) -> dict[str, list[Params]]:
    """Parse a ``Sec-WebSocket-Extensions`` value (RFC 6455 section 9.1) as ws's ``extension.parse``.

    Returns each extension's offers in order, each offer's parameters with all their values
    (a quoted-string value unquoted: it must be a token once unescaped). Raises ValueError
    on anything else (an empty value, stray characters, a dangling separator).
    """
    offers: dict[str, list[Params]] = {}
    params: Params = {}
    must_unescape = is_escaping = in_quotes = False
    extension_name: str | None = None
    param_name: str | None = None
    start = end = code = -1
    size = len(header)

    def unexpected(at: int) -> ValueError:
        return ValueError(f"Unexpected character at index {at}")

    # A transliteration of ws's state machine: the three states are "reading an extension
    # name", "reading a parameter name" and "reading a parameter value".
    for i in range(size):
        code = ord(header[i])
        if extension_name is None:
            if end == -1 and code in _TOKEN:
                if start == -1:
                    start = i
            elif i != 0 and code in _SPACE:
                if end == -1 and start != -1:
                    end = i
            elif code in (0x3B, 0x2C):  # ";" ","
                if start == -1:
                    raise unexpected(i)
                if end == -1:
                    end = i
                name = header[start:end]
                if code == 0x2C:
                    offers.setdefault(name, []).append(params)
                    params = {}
                else:
                    extension_name = name
                start = end = -1
            else:
                raise unexpected(i)
        elif param_name is None:
            if end == -1 and code in _TOKEN:
                if start == -1:
                    start = i
            elif code in _SPACE:
                if end == -1 and start != -1:
                    end = i
            elif code in (0x3B, 0x2C):
                if start == -1:
                    raise unexpected(i)
                if end == -1:
                    end = i
                params.setdefault(header[start:end], []).append(True)
                if code == 0x2C:
                    offers.setdefault(extension_name, []).append(params)
                    params = {}
                    extension_name = None
                start = end = -1
            elif code == 0x3D and start != -1 and end == -1:  # "="
                param_name = header[start:i]
                start = end = -1
            else:
                raise unexpected(i)
        elif is_escaping:
            if code not in _TOKEN:
                raise unexpected(i)
            if start == -1:
                start = i
            elif not must_unescape:
                must_unescape = True
            is_escaping = False
        elif in_quotes:
            if code in _TOKEN:
                if start == -1:
                    start = i
            elif code == 0x22 and start != -1:  # the closing '"'
                in_quotes = False
                end = i
            elif code == 0x5C:  # "\"
                is_escaping = True
            else:
                raise unexpected(i)
        elif code == 0x22 and i and header[i - 1] == "=":
            in_quotes = True
        elif end == -1 and code in _TOKEN:
            if start == -1:
                start = i
        elif start != -1 and code in _SPACE:
            if end == -1:
                end = i
        elif code in (0x3B, 0x2C):
            if start == -1:
                raise unexpected(i)
            if end == -1:
                end = i
            value = header[start:end]
            if must_unescape:
                value = value.replace("\\", "")
                must_unescape = False
            params.setdefault(param_name, []).append(value)
            if code == 0x2C:
                offers.setdefault(extension_name, []).append(params)
                params = {}
                extension_name = None
            param_name = None
            start = end = -1
        else:
            raise unexpected(i)

    if start == -1 or in_quotes or code in _SPACE:
        raise ValueError("Unexpected end of input")
    if end == -1:
        end = size
    token = header[start:end]
    if extension_name is None:
        offers.setdefault(token, []).append(params)
    else:
        if param_name is None:
            params.setdefault(token, []).append(True)
        else:
            params.setdefault(param_name, []).append(token.replace("\\", "") if must_unescape else token)
        offers.setdefault(extension_name, []).append(params)
    return offers


def _window_bits(name: str, value: str | bool) -> int:
    """A window-bits value: decimal, 8..15 (ws also reads what JavaScript's Number() does, 0xA)."""
    if isinstance(value, str) and _DIGITS.fullmatch(value) and 8 <= int(value) <= 15:
        return int(value)
    raise ValueError(f'Invalid value for parameter "{name}": {value}')


def _normalize(offer: Params) -> dict[str, int | bool]:
    """One permessage-deflate offer's parameters, checked (ws's ``normalizeParams``, server side)."""
    normalized: dict[str, int | bool] = {}
    for name, values in offer.items():
        if len(values) > 1:
            raise ValueError(f'Parameter "{name}" must have only a single value')
        value = values[0]
        if name == "client_max_window_bits":
            normalized[name] = True if value is True else _window_bits(name, value)
        elif name == "server_max_window_bits":
            normalized[name] = _window_bits(name, value)
        elif name in ("client_no_context_takeover", "server_no_context_takeover"):
            if value is not True:
                raise ValueError(f'Invalid value for parameter "{name}": {value}')
            normalized[name] = True
        else:
            raise ValueError(f'Unknown parameter "{name}"')
    return normalized


def _acceptable(offer: dict[str, int | bool], options: DeflateOptions) -> bool:
    """ws's test of an offer against the options (ours cannot say ws's ``false``: "refuse")."""
    server_bits = offer.get("server_max_window_bits")
    ours = options.server_max_window_bits
    if server_bits is not None and ours is not None and ours > server_bits:
        return False  # the client wants a smaller window than we will use
    if options.client_max_window_bits is not None:
        client_bits = offer.get("client_max_window_bits")
        if client_bits is None:  # we would ask for a window the client did not say it can use
            return False
        if client_bits is not True and options.client_max_window_bits > client_bits:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Agreement:
    """The negotiated parameters of one connection, and the response's header value.

    ``server_max_window_bits`` / ``client_max_window_bits``: None when not limited (15).
    """

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    client_max_window_bits: int | None
    header: str  # the value of the 101's Sec-WebSocket-Extensions


def negotiate(header: str | None, options: DeflateOptions) -> Agreement | None:
    """What to answer a request's ``Sec-WebSocket-Extensions`` with permessage-deflate on.

    The first acceptable permessage-deflate offer wins; None when the client offers none (or
    none is acceptable). Raises :class:`HandshakeError` (400) for a header ws refuses.
    """
    if header is None:
        return None
    try:
        offers = [_normalize(offer) for offer in parse_extensions(header).get(EXTENSION, ())]
    except ValueError as exc:
        raise HandshakeError(INVALID_HEADER) from exc
    accepted = next((offer for offer in offers if _acceptable(offer, options)), None)
    if accepted is None:
        return None
    # The response: the offer's parameters as the client sent them (in its order), ours set
    # or overriding (ws's acceptAsServer; a dict keeps a JavaScript object's key order).
    if options.server_no_context_takeover:
        accepted["server_no_context_takeover"] = True
    if options.client_no_context_takeover:
        accepted["client_no_context_takeover"] = True
    if options.server_max_window_bits is not None:
        accepted["server_max_window_bits"] = options.server_max_window_bits
    if options.client_max_window_bits is not None:
        accepted["client_max_window_bits"] = options.client_max_window_bits
    elif accepted.get("client_max_window_bits") is True:
        del accepted["client_max_window_bits"]  # "I can take a limit", and we ask for none
    server_bits = accepted.get("server_max_window_bits")  # always a number (_normalize)
    client_bits = accepted.get("client_max_window_bits")  # a number once here (True was removed)
    return Agreement(
        server_no_context_takeover="server_no_context_takeover" in accepted,
        client_no_context_takeover="client_no_context_takeover" in accepted,
        server_max_window_bits=None if server_bits is None else int(server_bits),
        client_max_window_bits=None if client_bits is None else int(client_bits),
        header="; ".join(
            [EXTENSION, *(name if value is True else f"{name}={value}" for name, value in accepted.items())]
        ),
    )


def _compressor_bits(server_max_window_bits: int | None) -> int:
    """zlib's window for our compressor: raw deflate refuses 8 bits (zlib 1.2.9 on), so 9.

    Safe for a client whose inflater has a 256-byte window: zlib never refers further back than
    its window less MIN_LOOKAHEAD (262 bytes), 250 bytes with 9 bits, within the client's 256.
    """
    return max(9, server_max_window_bits or 15)


class SharedDeflater:
    """One compressor for every connection with ``server_no_context_takeover`` and the same parameters.

    Each message ends with a full flush, which also resets the compressor's history: its output
    never refers to an earlier message, so it is what a fresh compressor would make for any
    connection, and one compressed frame serves every recipient of a broadcast (cached on the
    :class:`SharedPacket`, ``deflated_by`` this object). One per parameter set and thread
    (:meth:`get`): a message's compress and flush calls must not interleave with another's.
    """

    __slots__ = ("_compressor",)

    _instances = threading.local()

    def __init__(self, wbits: int, memory_level: int, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits, memory_level)

    @classmethod
    def get(cls, wbits: int, memory_level: int, level: int) -> SharedDeflater:
        """This thread's shared compressor for these parameters (made on first use)."""
        instances: dict[tuple[int, int, int], SharedDeflater] | None
        instances = getattr(cls._instances, "by_params", None)
        if instances is None:
            instances = cls._instances.by_params = {}
        key = (wbits, memory_level, level)
        deflater = instances.get(key)
        if deflater is None:
            deflater = instances[key] = cls(wbits, memory_level, level)
        return deflater

    def deflate(self, data: bytes) -> bytes:
        """``data`` compressed on its own (the trailing ``00 00 ff ff`` removed)."""
        if not data:
            return b"\x00"  # an empty stored block's first byte (RFC 7692 section 7.2.3.6)
        compressor = self._compressor
        return (compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH))[:-4]


class PerMessageDeflate:
    """One connection's permessage-deflate codec, from its :class:`Agreement`.

    ``max_size`` bounds a message once inflated (the engine's ``max_http_buffer_size``).
    """

    __slots__ = (
        "_deflater",
        "_inflater",
        "_keep_inflater",
        "_level",
        "_memory_level",
        "_wbits",
        "max_size",
        "shared",
        "threshold",
    )

    def __init__(self, agreement: Agreement, options: DeflateOptions, max_size: int) -> None:
        self.threshold = options.threshold
        self.max_size = max_size
        self._wbits = _compressor_bits(agreement.server_max_window_bits)
        self._memory_level = options.memory_level
        self._level = options.level
        # server_no_context_takeover: the process's shared compressor, none of our own.
        self.shared: SharedDeflater | None = (
            SharedDeflater.get(self._wbits, self._memory_level, self._level)
            if agreement.server_no_context_takeover
            else None
        )
        self._deflater: zlib._Compress | None = None  # made on the first compressed message
        self._inflater: zlib._Decompress | None = None  # made on the first compressed message received
        # The client keeps its history between messages (its context takeover): so does our
        # inflater. (Its window is 15 bits whatever the client's: a larger window reads any smaller.)
        self._keep_inflater = not agreement.client_no_context_takeover

    # -- incoming ------------------------------------------------------------------------------

    def inflate(self, payload: bytes) -> bytes:
        """A compressed message's payload inflated.

        Raises :class:`WebSocketMessageTooBig` (1009) once the output would pass ``max_size``:
        zlib stops there (``max_length``), so a deflate bomb is never inflated further; and
        :class:`WebSocketCompressionError` (1007) for data that is not deflate.
        """
        inflater = self._inflater
        if inflater is None:
            inflater = zlib.decompressobj(-15)
            if self._keep_inflater:
                self._inflater = inflater
        limit = self.max_size
        try:
            # One more byte than allowed: getting it means over the limit. (Below max_length,
            # decompress stops only once all its input is consumed: nothing is left behind.)
            data = inflater.decompress(payload + TRAILER, min(limit + 1, sys.maxsize))
        except zlib.error as exc:
            self._inflater = None
            raise WebSocketCompressionError(f"invalid compressed data ({exc})") from None
        if len(data) > limit:
            self._inflater = None
            raise WebSocketMessageTooBig(f"message over the {limit}-byte limit once inflated")
        if inflater.eof:
            # The client ended its deflate stream (a block with BFINAL): its next message starts
            # a new one, and what followed the final block (the trailer at least) is ignored.
            self._inflater = None
        return data

    def inflate_message(self, opcode: int, payload: bytes) -> str | bytes:
        """An ``OP_TEXT_DEFLATED`` (str, strict UTF-8: else :class:`WebSocketInvalidUtf8`, 1007)
        or ``OP_BINARY_DEFLATED`` (bytes) event's message."""
        data = self.inflate(payload)
        if opcode != OP_TEXT_DEFLATED:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise WebSocketInvalidUtf8("invalid UTF-8 in a text message") from None

    # -- outgoing ------------------------------------------------------------------------------

    def deflate(self, data: bytes) -> bytes:
        """``data`` compressed for this connection (the trailing ``00 00 ff ff`` removed).

        With context takeover the compressor keeps its history: messages must be compressed
        in the order they are written.
        """
        shared = self.shared
        if shared is not None:
            return shared.deflate(data)
        if not data:
            return b"\x00"
        compressor = self._deflater
        if compressor is None:
            compressor = zlib.compressobj(self._level, zlib.DEFLATED, -self._wbits, self._memory_level)
            self._deflater = compressor
        return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]

    def frame(self, packet: EncodedPacket) -> bytes:
        """The frame carrying an encoded packet: compressed (RSV1) when the packet may be and its
        UTF-8 is at least ``threshold`` bytes, else the plain frame (a shared packet's cached one).

        A shared packet's compressed frame is cached on it when made by the shared compressor,
        and reused for every recipient using that compressor.
        """
        shared_packet = packet if type(packet) is SharedPacket else None
        if shared_packet is not None:
            if not shared_packet.compress:
                return shared_packet.frame
            if self.shared is not None and shared_packet.deflated_by is self.shared:
                return shared_packet.deflated  # type: ignore[return-value]
            data = shared_packet.data
        else:
            data = packet  # type: ignore[assignment]
        threshold = self.threshold
        if isinstance(data, str):
            # (An ASCII str's length is its UTF-8 size, and a str of threshold characters has at
            # least threshold bytes: only the rest is encoded just to be measured.)
            if len(data) < threshold and (data.isascii() or len(data.encode()) < threshold):
                return shared_packet.frame if shared_packet is not None else encode_text_frame(data)
            opcode, payload = OP_TEXT, data.encode()
        else:
            if len(data) < threshold:
                return shared_packet.frame if shared_packet is not None else encode_binary_frame(data)
            opcode, payload = OP_BINARY, bytes(data)
        frame = encode_deflated_frame(opcode, self.deflate(payload))
        if shared_packet is not None and self.shared is not None:
            shared_packet.deflated = frame
            shared_packet.deflated_by = self.shared
        return frame

    def close(self) -> None:
        """Free the compressor and the inflater (the connection is done)."""
        self._deflater = None
        self._inflater = None
