# Engine.IO v4 packets and HTTP long-polling payloads.
#
# A decoded packet is a tuple ``(type, data)``: ``data`` is the str that follows the
# type digit ("" when nothing does), or bytes for a binary message. An *encoded*
# packet is what travels in one WebSocket frame: a str ("4hello", "2probe") or, for
# a binary message, the raw bytes. A polling payload joins encoded packets with the
# record separator, binary ones as "b" + base64.

EIO_OPEN = 0
EIO_CLOSE = 1
EIO_PING = 2
EIO_PONG = 3
EIO_MESSAGE = 4
EIO_UPGRADE = 5
EIO_NOOP = 6

cdef tuple _EIO_TYPE_CHARS = ("0", "1", "2", "3", "4", "5", "6")


cdef inline tuple _decode_eio_text(str packet):
    cdef Py_ssize_t n = len(packet)
    cdef Py_UCS4 c
    if n == 0:
        raise EngineIOError("empty Engine.IO packet")
    c = packet[0]
    if c < 48 or c > 54:
        raise EngineIOError(f"unknown Engine.IO packet type {packet[:1]!r}")
    return (<int>c - 48, packet[1:])


def decode_eio_packet(data):
    """Decode one packet from a WebSocket frame: str for a text frame, bytes for binary."""
    if isinstance(data, str):
        return _decode_eio_text(<str>data)
    if isinstance(data, bytes):
        return (EIO_MESSAGE, data)
    if isinstance(data, (bytearray, memoryview)):
        return (EIO_MESSAGE, bytes(data))
    raise TypeError(f"expected str or bytes, got {type(data).__name__}")


def encode_eio_packet(int packet_type, data=None):
    """Encode a packet for a WebSocket frame: str, or bytes for a binary message."""
    if not 0 <= packet_type <= 6:
        raise EncodeError(f"unknown Engine.IO packet type {packet_type}")
    if data is None:
        return _EIO_TYPE_CHARS[packet_type]
    if isinstance(data, str):
        return _EIO_TYPE_CHARS[packet_type] + <str>data
    if packet_type != EIO_MESSAGE:
        raise EncodeError("only message packets carry binary data")
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise EncodeError(f"Engine.IO data must be str or bytes, not {type(data).__name__}")


def decode_eio_payload(body):
    """Split a polling request body (bytes or str) into decoded packets.

    Raises :class:`EngineIOError` at the first bad packet, for invalid UTF-8 and for
    bad base64; the error's ``packets`` holds the good packets that came before it.
    """
    cdef str text
    cdef list out = []
    cdef str part
    if isinstance(body, str):
        text = <str>body
    elif not (PyBytes_Check(body) or PyByteArray_Check(body) or isinstance(body, memoryview)):
        raise TypeError(f"expected bytes or str, got {type(body).__name__}")
    else:
        try:
            text = PyUnicode_DecodeUTF8(<const char*>PyBytes_AS_STRING(body), len(body), NULL) \
                if isinstance(body, bytes) else bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise EngineIOError("polling payload is not valid UTF-8") from None
    for part in text.split("\x1e"):
        if len(part) and part[0] == "b":
            try:
                out.append((EIO_MESSAGE, _a2b_base64(part[1:], strict_mode=True)))
            except (ValueError, _BinasciiError):
                raise EngineIOError("invalid base64 in a binary packet", out) from None
        else:
            try:
                out.append(_decode_eio_text(part))
            except EngineIOError as exc:
                raise EngineIOError(str(exc), out) from None
    return out


def encode_eio_payload(packets):
    """Join encoded packets (str, or bytes for binary messages) into a polling payload."""
    cdef list parts = []
    for packet in packets:
        if isinstance(packet, str):
            parts.append(packet)
        elif isinstance(packet, (bytes, bytearray, memoryview)):
            parts.append("b" + _b2a_base64(packet, newline=False).decode("ascii"))
        else:
            raise EncodeError(f"encoded packets are str or bytes, not {type(packet).__name__}")
    return _utf8_bytes("\x1e".join(parts))
