# msgpack as notepack.io writes and reads it: the hot path of sio.notepack and of the msgpack
# parser (socket.io-msgpack-parser's packets: one msgpack map {type, data, nsp, id} per binary
# Engine.IO message).
#
# The fast paths decode the usual msgpack (nil, booleans, numbers, str, bin, arrays, maps,
# notepack 2's ext 0, other ext types) straight into Python objects, and encode a packet's
# envelope around msgpack's own packing of its data. Anything else -- bytes that are not exactly
# one msgpack value, a msgpack timestamp (notepack 3's Date), nesting deeper than _MP_DEPTH, a
# str that is not UTF-8, an unhashable map key, input that is not bytes -- is handed to
# sio.notepack's Python path, the reference, which decides: values, errors and their messages
# are always the reference's. sio.notepack registers that path (msgpack_setup) on import.

cdef object _mp_ext_hook = None     # notepack's ext_hook: (code, data) -> value
cdef object _mp_pack = None         # notepack's msgpack.Packer(...).pack
cdef object _mp_unpack = None       # notepack's reference unpack (ValueError for bad input)

cdef enum:
    _MP_DEPTH = 128                 # deeper input goes to the reference (msgpack allows 1024)


class _MsgpackFallback(Exception):
    """Raised inside the fast decoder (a new one each time): the reference decides about this input."""


def msgpack_setup(ext_hook, pack, unpack):
    """Register sio.notepack's msgpack: its ext_hook, its Packer's ``pack``, its reference unpack."""
    global _mp_ext_hook, _mp_pack, _mp_unpack
    _mp_ext_hook = ext_hook
    _mp_pack = pack
    _mp_unpack = unpack


cdef struct _MpReader:
    const uint8_t* p
    const uint8_t* end


cdef inline uint32_t _mp_be16(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 8) | p[1]


cdef inline uint32_t _mp_be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t _mp_be64(const uint8_t* p) noexcept nogil:
    return (<uint64_t>_mp_be32(p) << 32) | _mp_be32(p + 4)


cdef inline const uint8_t* _mp_take(_MpReader* r, Py_ssize_t n) except NULL:
    """Consume ``n`` bytes; the input must hold them."""
    cdef const uint8_t* p = r.p
    if r.end - p < n:
        raise _MsgpackFallback
    r.p = p + n
    return p


cdef object _mp_str(_MpReader* r, Py_ssize_t hdr, Py_ssize_t n):
    cdef const uint8_t* p = _mp_take(r, hdr + n) + hdr
    # Invalid UTF-8 raises here: the reference reports it.
    return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)


cdef object _mp_bin(_MpReader* r, Py_ssize_t hdr, Py_ssize_t n):
    cdef const uint8_t* p = _mp_take(r, hdr + n) + hdr
    return PyBytes_FromStringAndSize(<const char*>p, n)


cdef object _mp_ext(_MpReader* r, Py_ssize_t hdr, Py_ssize_t n):
    cdef const uint8_t* p = _mp_take(r, hdr + 1 + n) + hdr
    cdef int code = <int8_t>p[0]
    if code == -1:  # a msgpack timestamp: the reference turns it into a JSON date string
        raise _MsgpackFallback
    if code == 0 and n != 8:  # notepack 2's undefined (as the ext_hook answers it)
        return None
    return _mp_ext_hook(code, PyBytes_FromStringAndSize(<const char*>p + 1, n))


cdef object _mp_array(_MpReader* r, Py_ssize_t hdr, Py_ssize_t n, int depth):
    cdef Py_ssize_t i
    cdef list out
    cdef object item
    _mp_take(r, hdr)
    if depth >= _MP_DEPTH or n > r.end - r.p:  # every item takes a byte at least
        raise _MsgpackFallback
    out = PyList_New(n)
    for i in range(n):
        item = _mp_value(r, depth + 1)
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


cdef object _mp_map(_MpReader* r, Py_ssize_t hdr, Py_ssize_t n, int depth):
    cdef Py_ssize_t i
    cdef dict out = {}
    cdef object key
    _mp_take(r, hdr)
    if depth >= _MP_DEPTH or n > (r.end - r.p) // 2:  # every entry takes two bytes at least
        raise _MsgpackFallback
    for i in range(n):
        key = _mp_value(r, depth + 1)
        out[key] = _mp_value(r, depth + 1)  # an unhashable key raises: the reference reports it
    return out


cdef object _mp_value(_MpReader* r, int depth):
    """One msgpack value at ``r.p`` (raises for anything the reference must decide)."""
    cdef const uint8_t* p
    cdef uint8_t b
    cdef uint32_t u32
    cdef uint64_t u64
    cdef float f32
    cdef double f64
    if r.p >= r.end:
        raise _MsgpackFallback
    p = r.p
    b = p[0]
    if b <= 0x7F:  # positive fixint
        r.p = p + 1
        return <long>b
    if b >= 0xE0:  # negative fixint
        r.p = p + 1
        return <long><int8_t>b
    if b <= 0x8F:  # fixmap
        return _mp_map(r, 1, b & 0x0F, depth)
    if b <= 0x9F:  # fixarray
        return _mp_array(r, 1, b & 0x0F, depth)
    if b <= 0xBF:  # fixstr
        return _mp_str(r, 1, b & 0x1F)
    if b == 0xC0:
        r.p = p + 1
        return None
    if b == 0xC2:
        r.p = p + 1
        return False
    if b == 0xC3:
        r.p = p + 1
        return True
    if b == 0xD9:  # str 8
        _mp_take(r, 2)
        r.p = p
        return _mp_str(r, 2, p[1])
    if b == 0xDA:
        _mp_take(r, 3)
        r.p = p
        return _mp_str(r, 3, _mp_be16(p + 1))
    if b == 0xDB:
        _mp_take(r, 5)
        r.p = p
        return _mp_str(r, 5, _mp_be32(p + 1))
    if b == 0xC4:  # bin 8
        _mp_take(r, 2)
        r.p = p
        return _mp_bin(r, 2, p[1])
    if b == 0xC5:
        _mp_take(r, 3)
        r.p = p
        return _mp_bin(r, 3, _mp_be16(p + 1))
    if b == 0xC6:
        _mp_take(r, 5)
        r.p = p
        return _mp_bin(r, 5, _mp_be32(p + 1))
    if b == 0xCA:  # float 32
        p = _mp_take(r, 5)
        u32 = _mp_be32(p + 1)
        memcpy(&f32, &u32, 4)
        return <double>f32
    if b == 0xCB:  # float 64
        p = _mp_take(r, 9)
        u64 = _mp_be64(p + 1)
        memcpy(&f64, &u64, 8)
        return f64
    if b == 0xCC:  # uint 8, 16, 32, 64
        return <long>_mp_take(r, 2)[1]
    if b == 0xCD:
        return <long>_mp_be16(_mp_take(r, 3) + 1)
    if b == 0xCE:
        return <unsigned long long>_mp_be32(_mp_take(r, 5) + 1)
    if b == 0xCF:
        return <unsigned long long>_mp_be64(_mp_take(r, 9) + 1)
    if b == 0xD0:  # int 8, 16, 32, 64
        return <long><int8_t>_mp_take(r, 2)[1]
    if b == 0xD1:
        return <long><int16_t>_mp_be16(_mp_take(r, 3) + 1)
    if b == 0xD2:
        return <long long><int32_t>_mp_be32(_mp_take(r, 5) + 1)
    if b == 0xD3:
        return <long long><int64_t>_mp_be64(_mp_take(r, 9) + 1)
    if b == 0xDC:  # array 16, 32
        _mp_take(r, 3)
        r.p = p
        return _mp_array(r, 3, _mp_be16(p + 1), depth)
    if b == 0xDD:
        _mp_take(r, 5)
        r.p = p
        return _mp_array(r, 5, _mp_be32(p + 1), depth)
    if b == 0xDE:  # map 16, 32
        _mp_take(r, 3)
        r.p = p
        return _mp_map(r, 3, _mp_be16(p + 1), depth)
    if b == 0xDF:
        _mp_take(r, 5)
        r.p = p
        return _mp_map(r, 5, _mp_be32(p + 1), depth)
    if 0xD4 <= b <= 0xD8:  # fixext 1, 2, 4, 8, 16
        return _mp_ext(r, 1, 1 << (b - 0xD4))
    if b == 0xC7:  # ext 8, 16, 32
        _mp_take(r, 2)
        r.p = p
        return _mp_ext(r, 2, p[1])
    if b == 0xC8:
        _mp_take(r, 3)
        r.p = p
        return _mp_ext(r, 3, _mp_be16(p + 1))
    if b == 0xC9:
        _mp_take(r, 5)
        r.p = p
        return _mp_ext(r, 5, _mp_be32(p + 1))
    raise _MsgpackFallback  # 0xc1, never used


def msgpack_unpack(wire):
    """Decode one msgpack value as sio.notepack.unpack does (its reference decides the rest)."""
    cdef _MpReader r
    cdef object value
    if PyBytes_Check(wire):
        r.p = <const uint8_t*>PyBytes_AS_STRING(wire)
        r.end = r.p + PyBytes_GET_SIZE(wire)
        try:
            value = _mp_value(&r, 0)
            if r.p == r.end:
                return value
        except Exception:
            pass  # the reference raises its own error (outside this handler: no chained context)
    return _mp_unpack(wire)


# -- the msgpack parser's packets ---------------------------------------------------------------

cdef enum:
    _MP_TYPE = 0
    _MP_DATA = 1
    _MP_NSP = 2
    _MP_ID = 3
    _MP_OTHER = 4


cdef inline int _mp_field(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Which of the packet's fields a str key of ``n`` UTF-8 bytes at ``p`` names."""
    if n == 4:
        if memcmp(p, b"type", 4) == 0:
            return _MP_TYPE
        if memcmp(p, b"data", 4) == 0:
            return _MP_DATA
    elif n == 3:
        if memcmp(p, b"nsp", 3) == 0:
            return _MP_NSP
    elif n == 2:
        if memcmp(p, b"id", 2) == 0:
            return _MP_ID
    return _MP_OTHER


cdef int _mp_key(_MpReader* r) except -1:
    """Read one key of the packet's map: the field it names, or _MP_OTHER (a key still checked)."""
    cdef const uint8_t* p = r.p
    cdef Py_ssize_t n, hdr
    cdef int field
    if p >= r.end:
        raise _MsgpackFallback
    if 0xA0 <= p[0] <= 0xBF:
        hdr, n = 1, p[0] & 0x1F
    elif p[0] == 0xD9 and r.end - p >= 2:
        hdr, n = 2, p[1]
    else:  # any other key: decoded, and hashed as the reference's dict would
        hash(_mp_value(r, 1))
        return _MP_OTHER
    if r.end - p < hdr + n:
        raise _MsgpackFallback
    field = _mp_field(p + hdr, n)
    if field == _MP_OTHER:
        _mp_str(r, hdr, n)  # checked as UTF-8, then dropped
    else:
        r.p = p + hdr + n
    return field


cdef SioPacket _mp_checked(object kind, object nsp, object data, object ack_id):
    """The packet, checked as socket.io-msgpack-parser's ``checkPacket`` (and for a reserved event)."""
    cdef long long k, ack = -1
    cdef int overflow = 0
    cdef SioPacket packet
    if not PyLong_CheckExact(kind):
        raise SocketIOError("invalid packet type")
    k = PyLong_AsLongLongAndOverflow(kind, &overflow)
    if overflow or not _K_CONNECT <= k <= _K_CONNECT_ERROR:
        raise SocketIOError("invalid packet type")
    if not PyUnicode_Check(nsp):
        raise SocketIOError("invalid namespace")
    if not _mp_data_valid(<int>k, data):
        raise SocketIOError("invalid payload")
    if ack_id is not None:
        if not PyLong_CheckExact(ack_id):
            raise SocketIOError("invalid packet id")
        ack = PyLong_AsLongLongAndOverflow(ack_id, &overflow)
        if overflow or not 0 <= ack <= _MAX_SAFE_INTEGER:
            raise SocketIOError("invalid packet id")
    packet = SioPacket.__new__(SioPacket)
    packet.type = <int>k
    packet.nsp = nsp
    packet.data = data
    packet.id = ack_id
    packet.attachments = 0
    return packet


cdef bint _mp_data_valid(int kind, object data) except -1:
    cdef object first
    if kind == _K_CONNECT:
        return data is None or PyDict_Check(data)
    if kind == _K_DISCONNECT:
        return data is None
    if kind == _K_CONNECT_ERROR:
        return PyUnicode_Check(data) or PyDict_Check(data)
    if not PyList_Check(data):
        return False
    if kind == _K_EVENT:  # named, and not a name the server keeps (as the JSON parser checks)
        if PyList_GET_SIZE(data) == 0:
            return False
        first = <object>PyList_GET_ITEM(data, 0)
        return PyUnicode_Check(first) and first not in _RESERVED
    return True  # ACK


cdef SioPacket _mp_packet_reference(object message):
    """The reference: sio.notepack's unpack, then the packet's checks."""
    try:
        packet = _mp_unpack(message)
    except ValueError as exc:
        raise SocketIOError(f"msgpack parser: {exc}") from None
    if not PyDict_Check(packet):
        raise SocketIOError("msgpack parser: not a map")
    return _mp_checked(packet.get("type"), packet.get("nsp"), packet.get("data"), packet.get("id"))


@cython.final
cdef class MsgpackDecoder:
    """socket.io-msgpack-parser's packets in (one binary message each), checked packets out.

    Stateless: nothing waits for attachments. ``feed`` raises :class:`SocketIOError` for
    anything but one valid packet (a text message, bytes that are not one msgpack map, a
    packet ``checkPacket`` refuses, an EVENT named as a reserved event).
    """

    def feed(self, message):
        """Decode one message into a :class:`SioPacket`."""
        cdef _MpReader r
        cdef object kind = None, nsp = None, data = None, ack_id = None, value
        cdef Py_ssize_t n, i
        cdef uint8_t b
        cdef int field
        cdef bint fast = False
        if PyUnicode_Check(message):
            raise SocketIOError("msgpack parser: a text message")
        if not PyBytes_Check(message):
            return _mp_packet_reference(message)
        r.p = <const uint8_t*>PyBytes_AS_STRING(message)
        r.end = r.p + PyBytes_GET_SIZE(message)
        try:
            if r.p == r.end:
                raise _MsgpackFallback
            b = r.p[0]
            if 0x80 <= b <= 0x8F:
                n = b & 0x0F
                r.p += 1
            elif b == 0xDE and r.end - r.p >= 3:
                n = _mp_be16(r.p + 1)
                r.p += 3
            else:  # not a map (or a map 32): the reference says what it is
                raise _MsgpackFallback
            if n > (r.end - r.p) // 2:
                raise _MsgpackFallback
            for i in range(n):
                field = _mp_key(&r)
                value = _mp_value(&r, 1)
                if field == _MP_TYPE:
                    kind = value
                elif field == _MP_DATA:
                    data = value
                elif field == _MP_NSP:
                    nsp = value
                elif field == _MP_ID:
                    ack_id = value
            fast = r.p == r.end
        except Exception:
            pass
        if not fast:  # the reference decides (outside the handler: no chained context)
            return _mp_packet_reference(message)
        return _mp_checked(kind, nsp, data, ack_id)

    def reset(self):
        """Nothing is ever half-received."""


# -- encoding ------------------------------------------------------------------------------------

cdef inline Py_ssize_t _mp_uint_size(unsigned long long v) noexcept nogil:
    if v < 0x80:
        return 1
    if v < 0x100:
        return 2
    if v < 0x10000:
        return 3
    if v < <unsigned long long>0x100000000ULL:
        return 5
    return 9


cdef uint8_t* _mp_write_uint(uint8_t* out, unsigned long long v) noexcept nogil:
    """A non-negative int as msgpack-python packs it (the shortest form)."""
    cdef int i, n
    if v < 0x80:
        out[0] = <uint8_t>v
        return out + 1
    if v < 0x100:
        out[0] = 0xCC
        n = 1
    elif v < 0x10000:
        out[0] = 0xCD
        n = 2
    elif v < <unsigned long long>0x100000000ULL:
        out[0] = 0xCE
        n = 4
    else:
        out[0] = 0xCF
        n = 8
    for i in range(n):
        out[n - i] = (v >> (8 * i)) & 0xFF
    return out + 1 + n


cdef inline uint8_t* _mp_write_key(uint8_t* out, const char* key, Py_ssize_t n) noexcept nogil:
    out[0] = 0xA0 | n
    memcpy(out + 1, key, n)
    return out + 1 + n


def encode_msgpack_packet(type, nsp, data=None, id=None):
    """One packet as socket.io-msgpack-parser sends it: ``[bytes]``, the map ``{type, data, nsp, id}``
    (no ``data`` when None, no ``id`` when None) as sio.notepack packs it, byte for byte.

    Raises :class:`EncodeError` for data msgpack cannot carry.
    """
    cdef long long t, ack = 0
    cdef int overflow = 0
    cdef Py_ssize_t nsp_len, data_len = 0, size
    cdef const char* nsp_utf8
    cdef const char* data_buf = NULL
    cdef object packed = None
    cdef bytes frame
    cdef uint8_t* out
    cdef list wrapped
    # The envelope is written here for the usual arguments; anything else is packed whole.
    if not PyLong_CheckExact(type) or not PyUnicode_CheckExact(nsp):
        return _mp_encode_reference(type, nsp, data, id)
    t = PyLong_AsLongLongAndOverflow(type, &overflow)
    if overflow or not 0 <= t <= 0x7F:
        return _mp_encode_reference(type, nsp, data, id)
    if id is not None:
        if not PyLong_CheckExact(id):
            return _mp_encode_reference(type, nsp, data, id)
        ack = PyLong_AsLongLongAndOverflow(id, &overflow)
        if overflow or ack < 0:
            return _mp_encode_reference(type, nsp, data, id)
    nsp_len = PyUnicode_GET_LENGTH(nsp)
    if not PyUnicode_IS_ASCII(nsp) or nsp_len > 0xFFFF:  # rare: the reference packs it (and its errors)
        return _mp_encode_reference(type, nsp, data, id)
    nsp_utf8 = <const char*>PyUnicode_DATA(nsp)  # an ASCII str's characters are its UTF-8
    if data is not None:
        # Packed inside a one-item array, so that it is as deep as in the packet's map.
        wrapped = [data]
        try:
            packed = _mp_pack(wrapped)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"cannot encode as msgpack: {exc}") from None
        data_buf = PyBytes_AS_STRING(packed) + 1  # after the array's header (0x91)
        data_len = PyBytes_GET_SIZE(packed) - 1
    size = 1 + 5 + 1 + 4 + (1 if nsp_len < 32 else 2 if nsp_len < 256 else 3) + nsp_len
    if data is not None:
        size += 5 + data_len
    if id is not None:
        size += 3 + _mp_uint_size(<unsigned long long>ack)
    frame = PyBytes_FromStringAndSize(NULL, size)
    out = <uint8_t*>PyBytes_AS_STRING(frame)
    out[0] = 0x80 | (2 + (data is not None) + (id is not None))
    out = _mp_write_key(out + 1, b"type", 4)
    out[0] = <uint8_t>t
    out += 1
    if data is not None:
        out = _mp_write_key(out, b"data", 4)
        memcpy(out, data_buf, data_len)
        out += data_len
    out = _mp_write_key(out, b"nsp", 3)
    if nsp_len < 32:
        out[0] = 0xA0 | nsp_len
        out += 1
    elif nsp_len < 256:
        out[0] = 0xD9
        out[1] = <uint8_t>nsp_len
        out += 2
    else:
        out[0] = 0xDA
        out[1] = <uint8_t>(nsp_len >> 8)
        out[2] = <uint8_t>nsp_len
        out += 3
    memcpy(out, nsp_utf8, nsp_len)
    out += nsp_len
    if id is not None:
        out = _mp_write_key(out, b"id", 2)
        _mp_write_uint(out, <unsigned long long>ack)
    return [frame]


cdef list _mp_encode_reference(object type, object nsp, object data, object id):
    """The packet's map packed whole by sio.notepack's Packer."""
    cdef dict packet = {"type": type, "nsp": nsp} if data is None else {"type": type, "data": data, "nsp": nsp}
    if id is not None:
        packet["id"] = id
    try:
        return [_mp_pack(packet)]
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot encode as msgpack: {exc}") from None
