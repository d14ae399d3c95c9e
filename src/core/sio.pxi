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


cdef inline str _ascii_concat(str head, bytes tail):
    """``head + tail.decode()`` with one allocation when both are ASCII."""
    cdef Py_ssize_t n1, n2 = len(tail)
    cdef const char* t = PyBytes_AS_STRING(tail)
    cdef str out
    if PyUnicode_IS_ASCII(head) and _is_ascii(<const uint8_t*>t, n2):
        n1 = len(head)
        out = PyUnicode_New(n1 + n2, 127)
        memcpy(PyUnicode_DATA(out), PyUnicode_DATA(head), n1)
        memcpy(<char*>PyUnicode_DATA(out) + n1, t, n2)
        return out
    return head + PyUnicode_DecodeUTF8(t, n2, NULL)


cdef inline bint _is_ascii(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        if word & <uint64_t>0x8080808080808080ULL:
            return False
        i += 8
    while i < n:
        if p[i] & 0x80:
            return False
        i += 1
    return True


def encode_sio_packet(int type, str nsp="/", data=None, id=None):
    """Encode a packet as Node's encoder does: ``[text, *attachments]``.

    An EVENT or ACK whose data holds bytes, bytearray or memoryview anywhere becomes
    a BINARY_EVENT / BINARY_ACK with placeholders; the attachments follow the text.
    Raises :class:`EncodeError` for data the packet type cannot carry.
    """
    cdef list attachments = []
    cdef str head
    if not 0 <= type <= 6:
        raise EncodeError(f"unknown Socket.IO packet type {type}")
    if not nsp or nsp[0] != "/" or "," in nsp:
        raise EncodeError(f"invalid namespace {nsp!r}")
    if id is not None and (type_(id) is not int or not 0 <= id <= _MAX_SAFE_INTEGER):
        raise EncodeError(f"ack id must be an int from 0 to 2**53-1, not {id!r}")
    if type == _K_CONNECT:
        if data is not None and not PyDict_Check(data):
            raise EncodeError("CONNECT data must be a dict or None")
    elif type == _K_DISCONNECT:
        if data is not None:
            raise EncodeError("DISCONNECT carries no data")
    elif type == _K_CONNECT_ERROR:
        if not (isinstance(data, str) or PyDict_Check(data)):
            raise EncodeError("CONNECT_ERROR data must be a str or a dict")
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
        head = _SIO_TYPE_CHARS[type] + str(len(attachments)) + "-"
    elif type == _K_BINARY_EVENT or type == _K_BINARY_ACK:
        type -= 3                          # no binary after all: plain EVENT / ACK
        head = _SIO_TYPE_CHARS[type]
    else:
        head = _SIO_TYPE_CHARS[type]
    if nsp != "/":
        head = head + nsp + ","
    if id is not None:
        head = head + str(id)
    if data is None:
        return [head]
    cdef list out = [_ascii_concat(head, _dumps(data))]
    if attachments:
        out.extend(attachments)
    return out


cdef object type_ = type


cdef SioPacket _decode_sio_text(str s, int max_attachments):
    cdef Py_ssize_t n = len(s), i = 1, start
    cdef Py_UCS4 c
    cdef int ptype, attachments = 0
    cdef long long ack = -1
    cdef str nsp = "/"
    if n == 0:
        raise SocketIOError("empty Socket.IO packet")
    c = s[0]
    if c < 48 or c > 54:
        raise SocketIOError(f"unknown Socket.IO packet type {s[:1]!r}")
    ptype = <int>c - 48
    if ptype == _K_BINARY_EVENT or ptype == _K_BINARY_ACK:
        start = i
        while i < n and i - start < 4:
            c = s[i]
            if not 48 <= c <= 57:
                break
            i += 1
        if i == start or i >= n or s[i] != "-":
            raise SocketIOError("illegal attachments")
        attachments = int(s[start:i])
        if attachments < 1:
            raise SocketIOError("illegal attachments")
        if attachments > max_attachments:
            raise SocketIOError(f"too many attachments ({attachments} > {max_attachments})")
        i += 1
    if i < n and s[i] == "/":
        start = i
        while i < n and s[i] != ",":
            i += 1
        nsp = s[start:i]
        if i < n:
            i += 1                         # the comma
    while i < n:
        c = s[i]
        if not 48 <= c <= 57:
            break
        if ack < 0:
            ack = 0
        ack = ack * 10 + (<long long>c - 48)
        if ack > _MAX_SAFE_INTEGER:
            raise SocketIOError("ack id over 2**53-1")
        i += 1
    data = None
    if i < n:
        data = _loads(s[i:])
        if not _payload_valid(ptype, data):
            raise SocketIOError(f"invalid payload for packet type {ptype}")
    elif not (ptype == _K_CONNECT or ptype == _K_DISCONNECT):
        raise SocketIOError(f"packet type {ptype} needs a payload")
    cdef SioPacket packet = SioPacket.__new__(SioPacket)
    packet.type = ptype
    packet.nsp = nsp
    packet.data = data
    packet.id = None if ack < 0 else ack
    packet.attachments = attachments
    return packet


cdef bint _payload_valid(int ptype, object data):
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
    if not len(<list>data):
        return False
    first = (<list>data)[0]
    if PyUnicode_CheckExact(first):
        return first not in RESERVED_EVENTS
    return (type_(first) is int or type_(first) is float)


def decode_sio_packet(str text, int max_attachments=10):
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
    cdef list _buffers

    def __cinit__(self, int max_attachments=10):
        self.max_attachments = max_attachments
        self._pending = None
        self._buffers = None

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
                self._buffers = []
                return None
            return packet
        if not (PyBytes_Check(data) or PyByteArray_Check(data) or isinstance(data, memoryview)):
            raise TypeError(f"expected str or bytes, got {type_(data).__name__}")
        if self._pending is None:
            raise SocketIOError("binary data when no attachment is expected")
        self._buffers.append(data if PyBytes_CheckExact(data) else bytes(data))
        if len(self._buffers) < self._pending.attachments:
            return None
        packet = self._pending
        buffers = self._buffers
        self.reset()
        try:
            packet.data = _reconstruct(packet.data, buffers)
        except RecursionError:
            raise SocketIOError("payload nested too deeply") from None
        return packet

    def reset(self):
        """Drop a packet still waiting for attachments."""
        self._pending = None
        self._buffers = None
