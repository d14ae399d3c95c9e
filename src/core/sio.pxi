# Socket.IO v5 packets:  <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
# followed, for BINARY_EVENT and BINARY_ACK, by one binary Engine.IO message per
# attachment. Validation follows the reference parser (socket.io-parser).

SIO_CONNECT = 0
SIO_DISCONNECT = 1
SIO_EVENT = 2
SIO_ACK = 3
SIO_CONNECT_ERROR = 4
SIO_BINARY_EVENT = 5
SIO_BINARY_ACK = 6

RESERVED_EVENTS = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"))

cdef enum:
    _K_CONNECT = 0
    _K_DISCONNECT = 1
    _K_EVENT = 2
    _K_ACK = 3
    _K_CONNECT_ERROR = 4
    _K_BINARY_EVENT = 5
    _K_BINARY_ACK = 6

cdef tuple _SIO_TYPE_CHARS = ("0", "1", "2", "3", "4", "5", "6")
cdef long long _MAX_SAFE_INTEGER = 9007199254740991


@cython.final
@cython.freelist(64)
cdef class SioPacket:
    """A decoded Socket.IO packet.

    ``type`` is one of the SIO_* constants (binary packets keep their BINARY_* type),
    ``nsp`` the namespace, ``data`` the payload (None when absent; binary
    attachments already put back in place), ``id`` the ack id or None, and
    ``attachments`` the number of binary attachments it carried.
    """

    cdef readonly int type
    cdef readonly str nsp
    cdef readonly object data
    cdef readonly object id
    cdef readonly int attachments

    def __init__(self, int type, str nsp="/", data=None, id=None, int attachments=0):
        self.type = type
        self.nsp = nsp
        self.data = data
        self.id = id
        self.attachments = attachments

    def __repr__(self):
        return (f"SioPacket(type={self.type}, nsp={self.nsp!r}, data={self.data!r}, "
                f"id={self.id!r}, attachments={self.attachments})")

    def __eq__(self, other):
        if not isinstance(other, SioPacket):
            return NotImplemented
        cdef SioPacket o = <SioPacket>other
        return (self.type == o.type and self.nsp == o.nsp and self.data == o.data
                and self.id == o.id and self.attachments == o.attachments)

    __hash__ = None


cdef enum:
    _HEAD_MAX = 128      # a packet header built on the stack: type, count, namespace, ack id


cdef inline Py_ssize_t _write_decimal(char* dst, unsigned long long value) noexcept nogil:
    """Write ``value`` in decimal at ``dst``; return the number of digits (at most 20)."""
    cdef char digits[20]
    cdef Py_ssize_t n = 0, i
    while True:
        digits[n] = <char>(48 + value % 10)
        n += 1
        value //= 10
        if value == 0:
            break
    for i in range(n):
        dst[i] = digits[n - 1 - i]
    return n


def encode_sio_packet(int type, str nsp="/", data=None, id=None, *, bint engine=False):
    """Encode a packet as Node's encoder does: ``[text, *attachments]``.

    An EVENT or ACK whose data holds bytes, bytearray or memoryview anywhere becomes
    a BINARY_EVENT / BINARY_ACK with placeholders; the attachments follow the text.
    With ``engine=True`` the text is already the Engine.IO message packet carrying it
    (``"4"`` in front), built in the same allocation.
    Raises :class:`EncodeError` for data the packet type cannot carry.
    """
    cdef list attachments = []
    cdef long long ack = -1
    cdef int overflow = 0
    cdef Py_ssize_t nsp_len, hn = 0, jn
    cdef bint root
    cdef char head[_HEAD_MAX]
    cdef bytes json
    cdef str text
    if not 0 <= type <= 6:
        raise EncodeError(f"unknown Socket.IO packet type {type}")
    if nsp is None:
        raise EncodeError("invalid namespace None")
    nsp_len = PyUnicode_GET_LENGTH(nsp)
    if not nsp_len or PyUnicode_READ_CHAR(nsp, 0) != 0x2F or PyUnicode_FindChar(nsp, 0x2C, 0, nsp_len, 1) >= 0:
        raise EncodeError(f"invalid namespace {nsp!r}")
    if id is not None:
        if type_(id) is int:
            ack = PyLong_AsLongLongAndOverflow(id, &overflow)
        if overflow or not 0 <= ack <= _MAX_SAFE_INTEGER:
            raise EncodeError(f"ack id must be an int from 0 to 2**53-1, not {id!r}")
    if type == _K_CONNECT:
        if data is not None and not PyDict_Check(data):
            raise EncodeError("CONNECT data must be a dict or None")
    elif type == _K_DISCONNECT:
        if data is not None:
            raise EncodeError("DISCONNECT carries no data")
    elif type == _K_CONNECT_ERROR:
        # v5: {message, data}; to a socket.io-client 2.x (Socket.IO v4) the error's data as it
        # is, any JSON value (Node's `err.data || err.message`).
        if data is None:
            raise EncodeError("CONNECT_ERROR carries data")
    else:
        if not (PyList_Check(data) or PyTuple_Check(data)):
            raise EncodeError("EVENT and ACK data must be a list")
        if type == _K_EVENT or type == _K_BINARY_EVENT:
            if not len(data):
                raise EncodeError("EVENT data must start with the event name")
    if data is not None:
        data = _prepare(data, attachments, 0)
    if attachments:
        if type == _K_EVENT or type == _K_BINARY_EVENT:
            type = _K_BINARY_EVENT
        elif type == _K_ACK or type == _K_BINARY_ACK:
            type = _K_BINARY_ACK
        else:
            raise EncodeError("only EVENT and ACK packets carry binary data")
    elif type == _K_BINARY_EVENT or type == _K_BINARY_ACK:
        type -= 3                          # no binary after all: plain EVENT / ACK
    root = nsp_len == 1
    if not root and (not PyUnicode_IS_ASCII(nsp) or nsp_len > _HEAD_MAX - 48):
        return _encode_sio_slow(type, nsp, data, ack, attachments, engine)
    # [4]<type>[<attachments>-][<nsp>,][<ack id>]  (at most 2 + 21 + nsp_len + 1 + 16 bytes)
    if engine:
        head[0] = b"4"
        hn = 1
    head[hn] = <char>(48 + type)
    hn += 1
    if attachments:
        hn += _write_decimal(head + hn, <unsigned long long>PyList_GET_SIZE(attachments))
        head[hn] = b"-"
        hn += 1
    if not root:
        memcpy(head + hn, PyUnicode_DATA(nsp), nsp_len)
        hn += nsp_len
        head[hn] = b","
        hn += 1
    if ack >= 0:
        hn += _write_decimal(head + hn, <unsigned long long>ack)
    if data is None:
        text = PyUnicode_DecodeUTF8(head, hn, NULL)
        return [text]
    json = _dumps(data)
    jn = PyBytes_GET_SIZE(json)
    text = _ascii_concat(head, hn, PyBytes_AS_STRING(json), jn)
    if attachments:
        return [text, *attachments]
    return [text]


cdef list _encode_sio_slow(int type, str nsp, object data, long long ack, list attachments, bint engine):
    """The general header path: a namespace that is not ASCII (or very long)."""
    cdef str head = ("4" if engine else "") + _SIO_TYPE_CHARS[type]
    if attachments:
        head = head + str(len(attachments)) + "-"
    head = head + nsp + ","
    if ack >= 0:
        head = head + str(ack)
    if data is None:
        return [head]
    cdef bytes json = _dumps(data)
    cdef list out = [head + PyUnicode_DecodeUTF8(PyBytes_AS_STRING(json), PyBytes_GET_SIZE(json), NULL)]
    if attachments:
        out.extend(attachments)
    return out


cdef object type_ = type


cdef SioPacket _decode_sio_text(str s, int max_attachments):
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s), i = 1, start, comma
    cdef Py_UCS4 c
    cdef int ptype, attachments = 0
    cdef long long ack = -1
    cdef str nsp = "/"
    cdef object data = None
    cdef SioPacket packet
    if n == 0:
        raise SocketIOError("empty Socket.IO packet")
    c = PyUnicode_READ_CHAR(s, 0)
    if c < 48 or c > 54:
        raise SocketIOError(f"unknown Socket.IO packet type {s[:1]!r}")
    ptype = <int>c - 48
    if ptype == _K_BINARY_EVENT or ptype == _K_BINARY_ACK:
        start = i
        while i < n and i - start < 4:      # at most 4 digits, then "-"
            c = PyUnicode_READ_CHAR(s, i)
            if not 48 <= c <= 57:
                break
            attachments = attachments * 10 + (<int>c - 48)
            i += 1
        if i == start or i >= n or PyUnicode_READ_CHAR(s, i) != 0x2D:
            raise SocketIOError("illegal attachments")
        if attachments < 1:
            raise SocketIOError("illegal attachments")
        if attachments > max_attachments:
            raise SocketIOError(f"too many attachments ({attachments} > {max_attachments})")
        i += 1
    if i < n and PyUnicode_READ_CHAR(s, i) == 0x2F:      # "/": a namespace up to ","
        comma = PyUnicode_FindChar(s, 0x2C, i, n, 1)
        if comma < 0:
            nsp = _slice(s, i, n)
            i = n
        else:
            nsp = _slice(s, i, comma)
            i = comma + 1
    while i < n:
        c = PyUnicode_READ_CHAR(s, i)
        if not 48 <= c <= 57:
            break
        if ack < 0:
            ack = 0
        ack = ack * 10 + (<long long>c - 48)
        if ack > _MAX_SAFE_INTEGER:
            raise SocketIOError("ack id over 2**53-1")
        i += 1
    if i < n:
        data = _loads(_slice(s, i, n))
        if not _payload_valid(ptype, data):
            raise SocketIOError(f"invalid payload for packet type {ptype}")
    elif not (ptype == _K_CONNECT or ptype == _K_DISCONNECT):
        raise SocketIOError(f"packet type {ptype} needs a payload")
    packet = SioPacket.__new__(SioPacket)
    packet.type = ptype
    packet.nsp = nsp
    packet.data = data
    packet.id = None if ack < 0 else ack
    packet.attachments = attachments
    return packet


cdef frozenset _RESERVED = RESERVED_EVENTS


cdef inline bint _is_reserved(str name) except -1:
    # Hashing a fresh event name costs more than the lookup: only the lengths of the
    # reserved names (7, 10, 11, 13, 14) can match.
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(name)
    if n < 7 or n > 14 or n == 8 or n == 9 or n == 12:
        return False
    return name in _RESERVED


cdef bint _payload_valid(int ptype, object data) except -1:
    cdef object first
    if ptype == _K_CONNECT:
        return PyDict_CheckExact(data)
    if ptype == _K_DISCONNECT:
        return False                       # DISCONNECT carries no payload
    if ptype == _K_CONNECT_ERROR:
        return PyUnicode_CheckExact(data) or PyDict_CheckExact(data)
    if not PyList_CheckExact(data):
        return False
    if ptype == _K_ACK or ptype == _K_BINARY_ACK:
        return True
    if not PyList_GET_SIZE(data):
        return False
    first = <object>PyList_GET_ITEM(data, 0)
    if PyUnicode_CheckExact(first):
        return not _is_reserved(<str>first)
    return (type_(first) is int or type_(first) is float)


def decode_sio_packet(str text not None, int max_attachments=10):
    """Decode one text packet that has no attachments to wait for."""
    cdef SioPacket packet = _decode_sio_text(text, max_attachments)
    if packet.attachments:
        raise SocketIOError("packet announces attachments; use SioDecoder to collect them")
    return packet


@cython.final
cdef class SioDecoder:
    """Stateful decoder for one connection: text packets, then their binary attachments.

    ``feed(data)`` takes each Engine.IO message (str or bytes) and returns a
    :class:`SioPacket` once complete, or None while attachments are pending. A text
    packet while attachments are pending, or binary data when none is expected, raises
    :class:`SocketIOError` and drops the incomplete packet.
    """

    cdef readonly int max_attachments
    cdef SioPacket _pending
    cdef list _buffers             # attachments received for _pending (reused, emptied)

    def __cinit__(self, int max_attachments=10):
        self.max_attachments = max_attachments
        self._pending = None
        self._buffers = []

    @property
    def pending(self):
        """True while a binary packet waits for attachments."""
        return self._pending is not None

    def feed(self, data):
        """Feed one message; return the completed packet or None."""
        cdef SioPacket packet
        if PyUnicode_Check(data):
            if self._pending is not None:
                self.reset()
                raise SocketIOError("text packet while binary attachments are pending")
            packet = _decode_sio_text(<str>data, self.max_attachments)
            if packet.attachments:
                self._pending = packet
                return None
            return packet
        if not (PyBytes_Check(data) or PyByteArray_Check(data) or isinstance(data, memoryview)):
            raise TypeError(f"expected str or bytes, got {type_(data).__name__}")
        if self._pending is None:
            raise SocketIOError("binary data when no attachment is expected")
        self._buffers.append(data if PyBytes_CheckExact(data) else bytes(data))
        if PyList_GET_SIZE(self._buffers) < self._pending.attachments:
            return None
        packet = self._pending
        self._pending = None
        try:
            packet.data = _reconstruct(packet.data, self._buffers)
        except RecursionError:
            raise SocketIOError("payload nested too deeply") from None
        finally:
            PyList_SetSlice(self._buffers, 0, PY_SSIZE_T_MAX, NULL)
        return packet

    def reset(self):
        """Drop a packet still waiting for attachments."""
        self._pending = None
        PyList_SetSlice(self._buffers, 0, PY_SSIZE_T_MAX, NULL)
