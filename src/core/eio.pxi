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
cdef enum:
    _EIO_MESSAGE = 4
    _RECORD_SEPARATOR = 0x1E


cdef inline tuple _decode_eio_text(str packet, Py_ssize_t start, Py_ssize_t end):
    """Decode the packet ``packet[start:end]``: ``(type, text after the type digit)``."""
    cdef Py_UCS4 c
    if start == end:
        raise EngineIOError("empty Engine.IO packet")
    c = PyUnicode_READ_CHAR(packet, start)
    if c < 48 or c > 54:
        raise EngineIOError(f"unknown Engine.IO packet type {packet[start:start + 1]!r}")
    return (<int>c - 48, _slice(packet, start + 1, end))


def decode_eio_packet(data):
    """Decode one packet from a WebSocket frame: str for a text frame, bytes for binary."""
    if PyUnicode_Check(data):
        return _decode_eio_text(<str>data, 0, PyUnicode_GET_LENGTH(data))
    if PyBytes_Check(data):
        return (_EIO_MESSAGE, data)
    if PyByteArray_Check(data) or isinstance(data, memoryview):
        return (_EIO_MESSAGE, bytes(data))
    raise TypeError(f"expected str or bytes, got {type(data).__name__}")


def encode_eio_packet(int packet_type, data=None):
    """Encode a packet for a WebSocket frame: str, or bytes for a binary message."""
    if not 0 <= packet_type <= 6:
        raise EncodeError(f"unknown Engine.IO packet type {packet_type}")
    if data is None:
        return _EIO_TYPE_CHARS[packet_type]
    if PyUnicode_Check(data):
        return _prefixed(<Py_UCS4>(48 + packet_type), <str>data)
    if packet_type != _EIO_MESSAGE:
        raise EncodeError("only message packets carry binary data")
    if PyBytes_Check(data):
        return data
    if PyByteArray_Check(data) or isinstance(data, memoryview):
        return bytes(data)
    raise EncodeError(f"Engine.IO data must be str or bytes, not {type(data).__name__}")


def encode_eio_messages(messages):
    """The Engine.IO message packets carrying ``messages``: ``"4"`` + each str, each bytes as is.

    This is the engine's framing of what a Socket.IO parser encodes (one call per send; a
    bytearray or memoryview is copied to bytes).
    """
    cdef list out = []
    cdef object message
    for message in messages:
        if PyUnicode_Check(message):
            out.append(_prefixed(<Py_UCS4>(48 + _EIO_MESSAGE), <str>message))
        elif PyBytes_Check(message):
            out.append(message)
        elif PyByteArray_Check(message) or isinstance(message, memoryview):
            out.append(bytes(message))
        else:
            raise EncodeError(f"an Engine.IO message is str or bytes, not {type(message).__name__}")
    return out


def decode_eio_payload(body):
    """Split a polling request body (bytes or str) into decoded packets.

    Raises :class:`EngineIOError` at the first bad packet, for invalid UTF-8 and for
    bad base64; the error's ``packets`` holds the good packets that came before it.
    """
    cdef str text
    cdef list out = []
    cdef Py_ssize_t n, start = 0, end
    if PyUnicode_Check(body):
        text = <str>body
    elif not (PyBytes_Check(body) or PyByteArray_Check(body) or isinstance(body, memoryview)):
        raise TypeError(f"expected bytes or str, got {type(body).__name__}")
    else:
        try:
            text = PyUnicode_DecodeUTF8(<const char*>PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body), NULL) \
                if PyBytes_Check(body) else bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise EngineIOError("polling payload is not valid UTF-8") from None
    # Walk the separators in place: one str per packet, no intermediate split list.
    n = PyUnicode_GET_LENGTH(text)
    while True:
        end = PyUnicode_FindChar(text, _RECORD_SEPARATOR, start, n, 1)
        if end < 0:
            end = n
        if end > start and PyUnicode_READ_CHAR(text, start) == 0x62:  # "b": base64 binary
            try:
                out.append((_EIO_MESSAGE, _a2b_base64(_slice(text, start + 1, end), strict_mode=True)))
            except (ValueError, _BinasciiError):
                raise EngineIOError("invalid base64 in a binary packet", out) from None
        else:
            try:
                out.append(_decode_eio_text(text, start, end))
            except EngineIOError as exc:
                raise EngineIOError(str(exc), out) from None
        if end == n:
            return out
        start = end + 1


cdef const char* _B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


cdef inline Py_ssize_t _b64_size(Py_ssize_t n) noexcept nogil:
    return (n + 2) // 3 * 4


cdef void _b64_encode(char* dst, const uint8_t* src, Py_ssize_t n) noexcept nogil:
    """Standard, padded base64 (what ``binascii.b2a_base64(newline=False)`` writes)."""
    cdef Py_ssize_t i = 0
    cdef uint32_t v
    while i + 3 <= n:
        v = (<uint32_t>src[i] << 16) | (<uint32_t>src[i + 1] << 8) | src[i + 2]
        dst[0] = _B64[v >> 18]
        dst[1] = _B64[(v >> 12) & 63]
        dst[2] = _B64[(v >> 6) & 63]
        dst[3] = _B64[v & 63]
        dst += 4
        i += 3
    if n - i == 1:
        v = <uint32_t>src[i] << 16
        dst[0] = _B64[v >> 18]
        dst[1] = _B64[(v >> 12) & 63]
        dst[2] = b"="
        dst[3] = b"="
    elif n - i == 2:
        v = (<uint32_t>src[i] << 16) | (<uint32_t>src[i + 1] << 8)
        dst[0] = _B64[v >> 18]
        dst[1] = _B64[(v >> 12) & 63]
        dst[2] = _B64[(v >> 6) & 63]
        dst[3] = b"="


cdef inline Py_ssize_t _binary_size(object data) except -1:
    """Size of a binary message in a payload: "b" + base64."""
    cdef Py_buffer view
    cdef Py_ssize_t n
    if PyBytes_Check(data):
        return 1 + _b64_size(PyBytes_GET_SIZE(data))
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    n = view.len
    PyBuffer_Release(&view)
    return 1 + _b64_size(n)


cdef char* _write_binary(char* dst, char* end, object data) except NULL:
    """Write "b" + base64 of ``data`` at ``dst``; return the end of what was written."""
    cdef Py_buffer view
    cdef Py_ssize_t n
    if PyBytes_Check(data):
        n = PyBytes_GET_SIZE(data)
        dst[0] = b"b"
        _b64_encode(dst + 1, <const uint8_t*>PyBytes_AS_STRING(data), n)
        return dst + 1 + _b64_size(n)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        # No Python code runs between measuring and writing, but never trust a
        # mutable buffer's size to be the one measured: check the room left.
        if 1 + _b64_size(view.len) > end - dst:
            raise RuntimeError("a buffer changed size while being encoded")
        dst[0] = b"b"
        _b64_encode(dst + 1, <const uint8_t*>view.buf, view.len)
        return dst + 1 + _b64_size(view.len)
    finally:
        PyBuffer_Release(&view)


cdef inline bint _is_binary(object data):
    return PyBytes_Check(data) or PyByteArray_Check(data) or isinstance(data, memoryview)


def encode_eio_payload(packets):
    """Join encoded packets (str, or bytes for binary messages) into a polling payload."""
    # Two passes over the packets: sizes, then one bytes object filled in place (str
    # packets as their UTF-8, binary ones as "b" + base64), with no per-packet objects.
    # ``seq`` owns the items: the passes use borrowed pointers.
    cdef object seq = PySequence_Fast(packets, "encoded packets must be iterable")
    cdef Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), i, size, total
    cdef PyObject** items = PySequence_Fast_ITEMS(seq)
    cdef const char* text
    cdef bytes body
    cdef char* dst
    cdef char* end
    if count == 0:
        return b""
    total = count - 1                     # the separators
    for i in range(count):
        if PyUnicode_Check(<object>items[i]):
            _utf8(<str>items[i], &size)     # also refuses lone surrogates, as EncodeError
            total += size
        elif _is_binary(<object>items[i]):
            total += _binary_size(<object>items[i])
        else:
            raise EncodeError(f"encoded packets are str or bytes, not {type(<object>items[i]).__name__}")
    body = PyBytes_FromStringAndSize(NULL, total)
    dst = PyBytes_AS_STRING(body)
    end = dst + total
    for i in range(count):
        if i:
            dst[0] = _RECORD_SEPARATOR
            dst += 1
        if PyUnicode_Check(<object>items[i]):
            text = _utf8(<str>items[i], &size)
            memcpy(dst, text, size)
            dst += size
        else:
            dst = _write_binary(dst, end, <object>items[i])
    return body
