# WebSocket (RFC 6455), server side, sans-I/O: an incremental frame parser that turns
# bytes into events, encoders for frames, and the opening-handshake helpers.

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
# Events of a compressed message (permessage-deflate, RFC 7692: RSV1 on its first frame): the
# opcode with the RSV1 bit of the frame header, the payload still deflated.
OP_TEXT_DEFLATED = 0x41
OP_BINARY_DEFLATED = 0x42

cdef enum:
    _OP_CONT = 0x0
    _OP_TEXT = 0x1
    _OP_BINARY = 0x2
    _OP_CLOSE = 0x8
    _RSV1 = 0x40

cdef bytes _WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


cdef extern from *:
    """
    /* RFC 6455 masking: XOR with the 4-byte key, repeated. GCC and Clang's generic
       vectors make this 32 bytes per iteration in SSE2 (the x86-64 baseline) or NEON,
       at memcpy speed, instead of leaving it to the auto-vectoriser (which handled a
       plain 8-byte loop in one build and not in another, at half that speed). Loads
       and stores go through memcpy, so no alignment is assumed, and dst may equal src.
       Returns the OR of all output bytes: bit 7 is clear exactly when the output is
       ASCII, which is what lets a text frame be unmasked straight into an ASCII str. */
    #if defined(__GNUC__) || defined(__clang__)
    typedef uint32_t sio_v4 __attribute__((vector_size(16)));
    #define SIO_HAVE_V4 1
    #endif

    static inline uint8_t sio_unmask(uint8_t *dst, const uint8_t *src, Py_ssize_t n,
                                     const uint8_t *key) {
        Py_ssize_t i = 0;
        uint8_t acc1 = 0;
        uint32_t key4;
        uint64_t key8, word, acc8 = 0;
        memcpy(&key4, key, 4);
    #ifdef SIO_HAVE_V4
        /* The key broadcast from a scalar stays in a register (built from a byte
           array on the stack, it was reloaded every iteration: ~25% slower). */
        sio_v4 k = {key4, key4, key4, key4}, a, b, acc = {0, 0, 0, 0};
        for (; i + 32 <= n; i += 32) {
            memcpy(&a, src + i, 16);
            memcpy(&b, src + i + 16, 16);
            a ^= k;
            b ^= k;
            memcpy(dst + i, &a, 16);
            memcpy(dst + i + 16, &b, 16);
            acc |= a | b;
        }
        acc8 = ((uint64_t)(acc[0] | acc[1]) << 32) | (acc[2] | acc[3]);
    #endif
        /* i is a multiple of 4 here, so the key phase is unchanged. */
        key8 = ((uint64_t)key4 << 32) | key4;
        for (; i + 8 <= n; i += 8) {
            memcpy(&word, src + i, 8);
            word ^= key8;
            memcpy(dst + i, &word, 8);
            acc8 |= word;
        }
        for (; i < n; i++) {
            dst[i] = src[i] ^ key[i & 3];
            acc1 |= dst[i];
        }
        return acc1 | (uint8_t)((acc8 & 0x8080808080808080ULL) ? 0x80 : 0);
    }
    """
    uint8_t sio_unmask(uint8_t* dst, const uint8_t* src, Py_ssize_t n, const uint8_t* key) noexcept nogil


cdef inline void _unmask_into(uint8_t* dst, const uint8_t* src, Py_ssize_t n,
                              const uint8_t* key) noexcept nogil:
    """XOR ``n`` bytes with the 4-byte key (dst may equal src)."""
    sio_unmask(dst, src, n, key)


cdef inline bint _valid_close_code(int code) noexcept nogil:
    if 1000 <= code <= 1003 or 1007 <= code <= 1014:
        return True
    return 3000 <= code <= 4999


@cython.final
cdef class FrameParser:
    """Incremental parser of client-to-server WebSocket frames.

    ``feed(data)`` takes any chunk of the byte stream (a frame may be split at any
    byte, a chunk may hold many frames) and returns the complete events as
    ``(opcode, payload)`` tuples: ``(OP_TEXT, str)``, ``(OP_BINARY, bytes)``,
    ``(OP_PING, bytes)``, ``(OP_PONG, bytes)`` and ``(OP_CLOSE, (code, reason))``
    (code 1005 when the close frame carried no payload). Fragmented messages are
    reassembled; control frames may arrive between fragments.

    ``deflate`` (settable; True once permessage-deflate is negotiated) allows RSV1 on the
    first frame of a data message: such a message is returned as ``(OP_TEXT_DEFLATED,
    bytes)`` or ``(OP_BINARY_DEFLATED, bytes)``, its payload unmasked but still deflated
    (nothing is checked in it: the inflater's caller checks its UTF-8). ``max_message_size``
    bounds the payload as received, compressed or not.

    On a protocol violation it raises a :class:`WebSocketError` subclass whose
    ``close_code`` says how to close, and stays failed: later calls raise the same
    error again.
    """

    cdef readonly Py_ssize_t max_message_size
    cdef readonly bint require_mask
    cdef public bint deflate       # RSV1 allowed on a message's first frame (permessage-deflate)
    cdef bytearray _buf            # bytes of an incomplete frame
    cdef int _frag_opcode          # opcode of the message being reassembled (| _RSV1 if compressed), or -1
    cdef bytearray _frag           # payload gathered so far for that message
    cdef Utf8State _utf8
    cdef object _error

    def __cinit__(self, max_message_size=1_000_000, bint require_mask=True, bint deflate=False):
        if max_message_size is None:
            self.max_message_size = PY_SSIZE_T_MAX
        else:
            if max_message_size < 0:
                raise ValueError("max_message_size must be >= 0 or None")
            self.max_message_size = max_message_size
        self.require_mask = require_mask
        self.deflate = deflate
        self._buf = bytearray()
        self._frag_opcode = -1
        self._frag = None
        self._error = None
        utf8_reset(&self._utf8)

    @property
    def buffered(self):
        """Number of bytes held for an incomplete frame or fragmented message."""
        return len(self._buf) + (len(self._frag) if self._frag is not None else 0)

    def feed(self, data):
        """Parse a chunk of the stream; return the list of complete events."""
        cdef list out = []
        cdef Py_buffer view
        cdef Py_ssize_t used, n
        cdef const uint8_t* p
        if self._error is not None:  # a fresh error: the events of the failed chunk were reported
            raise type(self._error)(str(self._error))
        if PyByteArray_GET_SIZE(self._buf) == 0:
            if PyBytes_CheckExact(data):
                # The common case (transport data_received): no buffer protocol round trip.
                p = <const uint8_t*>PyBytes_AS_STRING(data)
                n = PyBytes_GET_SIZE(data)
                used = self._parse(p, n, out)
                if used < n:
                    self._keep(p + used, n - used)
                return out
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                used = self._parse(<const uint8_t*>view.buf, view.len, out)
                if used < view.len:
                    self._keep(<const uint8_t*>view.buf + used, view.len - used)
            finally:
                PyBuffer_Release(&view)
        else:
            self._buf.extend(data)
            PyObject_GetBuffer(self._buf, &view, PyBUF_SIMPLE)
            try:
                used = self._parse(<const uint8_t*>view.buf, view.len, out)
            finally:
                PyBuffer_Release(&view)
            del self._buf[:used]
        return out

    cdef int _keep(self, const uint8_t* p, Py_ssize_t n) except -1:
        """Buffer the ``n`` bytes of an incomplete frame (``_buf`` is empty)."""
        PyByteArray_Resize(self._buf, n)
        memcpy(PyByteArray_AS_STRING(self._buf), p, n)
        return 0

    cdef _fail(self, cls, str message, list out):
        self._error = cls(message, out)
        self._buf = bytearray()
        self._frag = None
        raise self._error

    cdef Py_ssize_t _parse(self, const uint8_t* p, Py_ssize_t n, list out) except -1:
        cdef Py_ssize_t pos = 0, hdr, avail
        cdef uint64_t plen
        cdef uint8_t b0, b1, opcode
        cdef bint fin, masked
        cdef const uint8_t* key
        cdef const uint8_t* payload
        cdef Py_ssize_t prior
        while True:
            avail = n - pos
            if avail < 2:
                return pos
            b0 = p[pos]
            b1 = p[pos + 1]
            fin = (b0 & 0x80) != 0
            opcode = b0 & 0x0F
            masked = (b1 & 0x80) != 0
            plen = b1 & 0x7F
            if b0 & 0x70:
                self._check_reserved(b0, opcode, out)
            if opcode > 0xA or (0x3 <= opcode <= 0x7):
                self._fail(WebSocketProtocolError, f"unknown opcode {opcode:#x}", out)
            if opcode >= 0x8:
                if not fin:
                    self._fail(WebSocketProtocolError, "fragmented control frame", out)
                if plen > 125:
                    self._fail(WebSocketProtocolError, "control frame payload over 125 bytes", out)
            if self.require_mask and not masked:
                self._fail(WebSocketProtocolError, "client frame is not masked", out)
            hdr = 2
            if plen == 126:
                if avail < 4:
                    return pos
                plen = (<uint64_t>p[pos + 2] << 8) | p[pos + 3]
                hdr = 4
            elif plen == 127:
                if avail < 10:
                    return pos
                plen = 0
                for i in range(8):
                    plen = (plen << 8) | p[pos + 2 + i]
                if plen >> 63:
                    self._fail(WebSocketProtocolError, "frame length has its top bit set", out)
                hdr = 10
            if opcode == _OP_CONT:
                if self._frag_opcode < 0:
                    self._fail(WebSocketProtocolError, "continuation frame without a message to continue", out)
                prior = len(self._frag)
            elif opcode < 0x8:
                if self._frag_opcode >= 0:
                    self._fail(WebSocketProtocolError, "new data frame while a fragmented message is open", out)
                prior = 0
            else:
                prior = 0
            # Refuse an oversized message as soon as its header is known.
            if plen > <uint64_t>(self.max_message_size - prior):
                self._fail(WebSocketMessageTooBig,
                           f"message over the {self.max_message_size}-byte limit", out)
            if masked:
                hdr += 4
            if <uint64_t>(avail - hdr) < plen or avail < hdr:
                return pos
            key = p + pos + hdr - 4 if masked else NULL
            payload = p + pos + hdr
            pos += hdr + <Py_ssize_t>plen
            # (b0 & _RSV1 is set only on a compressed message's first frame: checked above.)
            self._frame(opcode | (b0 & _RSV1), fin, payload, <Py_ssize_t>plen, key, out)

    cdef int _check_reserved(self, uint8_t b0, uint8_t opcode, list out) except -1:
        """Refuse reserved bits, but RSV1 with permessage-deflate on a data message's first frame
        (RFC 7692 section 6.1). (An unknown opcode with RSV1 fails after this.)"""
        if b0 & 0x30 or not self.deflate:
            self._fail(WebSocketProtocolError, "reserved bits set", out)
        if opcode == _OP_CONT:
            self._fail(WebSocketProtocolError, "RSV1 set on a continuation frame", out)
        if opcode >= 0x8:
            self._fail(WebSocketProtocolError, "RSV1 set on a control frame", out)
        return 0

    cdef int _frame(self, uint8_t opcode, bint fin, const uint8_t* payload, Py_ssize_t plen,
                    const uint8_t* key, list out) except -1:
        # ``opcode`` carries _RSV1 on the first frame of a compressed message.
        cdef bytes data
        cdef Py_ssize_t start
        cdef uint8_t* dst
        if opcode == _OP_TEXT and fin:
            out.append((_OP_TEXT, self._text(payload, plen, key, out)))
        elif opcode == _OP_BINARY and fin:
            out.append((_OP_BINARY, _unmasked_bytes(payload, plen, key)))
        elif opcode <= _OP_BINARY or opcode & _RSV1:  # a fragment, or a compressed message
            if opcode & _RSV1 and fin:  # a whole compressed message: OP_TEXT_DEFLATED / OP_BINARY_DEFLATED
                out.append((<int>opcode, _unmasked_bytes(payload, plen, key)))
                return 0
            if opcode != _OP_CONT:
                self._frag_opcode = opcode
                self._frag = bytearray()
                utf8_reset(&self._utf8)
            start = len(self._frag)
            if plen:
                PyByteArray_Resize(self._frag, start + plen)
                dst = <uint8_t*>PyByteArray_AS_STRING(self._frag) + start
                if key != NULL:
                    _unmask_into(dst, payload, plen, key)
                else:
                    memcpy(dst, payload, plen)
                # (A compressed text message is checked once inflated.)
                if self._frag_opcode == _OP_TEXT and not utf8_feed(&self._utf8, dst, plen):
                    self._fail(WebSocketInvalidUtf8, "invalid UTF-8 in a text message", out)
            if fin:
                if self._frag_opcode == _OP_TEXT:
                    if self._utf8.need:
                        self._fail(WebSocketInvalidUtf8, "text message ends inside a UTF-8 sequence", out)
                    # Already validated by utf8_feed: this decode cannot fail.
                    out.append((_OP_TEXT, PyUnicode_DecodeUTF8(
                        PyByteArray_AS_STRING(self._frag), PyByteArray_GET_SIZE(self._frag), NULL)))
                else:  # binary, or compressed (OP_TEXT_DEFLATED / OP_BINARY_DEFLATED)
                    out.append((self._frag_opcode, bytes(self._frag)))
                self._frag_opcode = -1
                self._frag = None
        elif opcode == _OP_CLOSE:
            out.append((_OP_CLOSE, self._close_payload(_unmasked_bytes(payload, plen, key), out)))
        else:  # ping / pong
            out.append((<int>opcode, _unmasked_bytes(payload, plen, key)))  # OP_PING or OP_PONG
        return 0

    cdef str _text(self, const uint8_t* payload, Py_ssize_t plen, const uint8_t* key, list out):
        cdef str text
        cdef uint8_t* dst
        if plen == 0:
            return ""
        if key == NULL:
            text = _decode_text(payload, plen)
        else:
            # One pass for the usual ASCII message: unmask straight into a new ASCII str,
            # which is only returned if no byte has its top bit set. Otherwise its buffer
            # holds the unmasked UTF-8, decoded (and validated) into the real result.
            text = PyUnicode_New(plen, 127)
            dst = <uint8_t*>PyUnicode_DATA(text)
            if sio_unmask(dst, payload, plen, key) < 0x80:
                return text
            text = _decode_text(dst, plen)
        if text is None:
            self._fail(WebSocketInvalidUtf8, "invalid UTF-8 in a text message", out)
        return text

    cdef tuple _close_payload(self, bytes data, list out):
        cdef Py_ssize_t n = len(data)
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef int code
        if n == 0:
            return (1005, "")
        if n == 1:
            self._fail(WebSocketProtocolError, "close frame payload of one byte", out)
        code = (p[0] << 8) | p[1]
        if not _valid_close_code(code):
            self._fail(WebSocketProtocolError, f"invalid close code {code}", out)
        try:
            reason = PyUnicode_DecodeUTF8(<const char*>p + 2, n - 2, NULL)
        except UnicodeDecodeError:
            self._fail(WebSocketInvalidUtf8, "invalid UTF-8 in the close reason", out)
        return (code, reason)


cdef str _decode_text(const uint8_t* p, Py_ssize_t n):
    """Decode UTF-8 text, or return None when it is not valid UTF-8."""
    try:
        return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)
    except UnicodeDecodeError:
        return None


cdef bytes _unmasked_bytes(const uint8_t* payload, Py_ssize_t plen, const uint8_t* key):
    cdef bytes result = PyBytes_FromStringAndSize(NULL, plen)
    cdef uint8_t* dst = <uint8_t*>PyBytes_AS_STRING(result)
    if key != NULL:
        _unmask_into(dst, payload, plen, key)
    else:
        memcpy(dst, payload, plen)
    return result


cdef bytes _encode_frame(int opcode, const uint8_t* payload, Py_ssize_t plen, bint fin,
                         const uint8_t* key):
    cdef Py_ssize_t hdr = 2
    cdef bytes frame
    cdef uint8_t* out
    if plen > 65535:
        hdr = 10
    elif plen > 125:
        hdr = 4
    if key != NULL:
        hdr += 4
    frame = PyBytes_FromStringAndSize(NULL, hdr + plen)
    out = <uint8_t*>PyBytes_AS_STRING(frame)
    out[0] = (0x80 if fin else 0) | opcode
    if plen > 65535:
        out[1] = 127
        for i in range(8):
            out[2 + i] = (<uint64_t>plen >> (56 - 8 * i)) & 0xFF
    elif plen > 125:
        out[1] = 126
        out[2] = (plen >> 8) & 0xFF
        out[3] = plen & 0xFF
    else:
        out[1] = <uint8_t>plen
    if key != NULL:
        out[1] |= 0x80
        memcpy(out + hdr - 4, key, 4)
        _unmask_into(out + hdr, payload, plen, key)
    elif plen:
        memcpy(out + hdr, payload, plen)
    return frame


def encode_frame(int opcode, data, *, bint fin=True, mask=None):
    """Encode one frame; ``data`` is str (sent as UTF-8) or bytes-like.

    Server frames are never masked; pass a 4-byte ``mask`` only to build client
    frames (tests, load generators).
    """
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* s
    cdef const uint8_t* key
    if not (0 <= opcode <= 0xA) or (0x3 <= opcode <= 0x7):
        raise EncodeError(f"unknown opcode {opcode:#x}")
    key = _mask_key(mask)
    if opcode >= 0x8 and not fin:
        raise EncodeError("control frames cannot be fragmented")
    if isinstance(data, str):
        s = _utf8(<str>data, &n)
        if opcode >= 0x8 and n > 125:
            raise EncodeError("control frame payload over 125 bytes")
        return _encode_frame(opcode, <const uint8_t*>s, n, fin, key)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if opcode >= 0x8 and view.len > 125:
            raise EncodeError("control frame payload over 125 bytes")
        return _encode_frame(opcode, <const uint8_t*>view.buf, view.len, fin, key)
    finally:
        PyBuffer_Release(&view)


cdef const uint8_t* _mask_key(mask) except? NULL:
    """The 4-byte masking key in ``mask`` (bytes, kept alive by the caller), NULL for None."""
    if mask is None:
        return NULL
    if not isinstance(mask, bytes) or len(<bytes>mask) != 4:
        raise EncodeError("mask must be 4 bytes")
    return <const uint8_t*>PyBytes_AS_STRING(mask)


def encode_deflated_frame(int opcode, data, *, mask=None):
    """Encode a complete compressed frame (FIN and RSV1 set: permessage-deflate).

    ``opcode`` is OP_TEXT or OP_BINARY; ``data`` (bytes-like) is the deflated payload, its
    trailing ``00 00 ff ff`` already removed. Server frames are never masked; pass a 4-byte
    ``mask`` only to build client frames (tests, load generators).
    """
    cdef Py_buffer view
    cdef const uint8_t* key
    if opcode != _OP_TEXT and opcode != _OP_BINARY:
        raise EncodeError(f"a compressed frame is text or binary, not opcode {opcode:#x}")
    key = _mask_key(mask)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _encode_frame(opcode | _RSV1, <const uint8_t*>view.buf, view.len, True, key)
    finally:
        PyBuffer_Release(&view)


def encode_text_frame(str text):
    """Encode a complete server text frame (FIN, unmasked)."""
    cdef Py_ssize_t n
    cdef const char* s = _utf8(text, &n)
    return _encode_frame(_OP_TEXT, <const uint8_t*>s, n, True, NULL)


def encode_binary_frame(data):
    """Encode a complete server binary frame (FIN, unmasked) from a bytes-like object."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return _encode_frame(_OP_BINARY, <const uint8_t*>view.buf, view.len, True, NULL)
    finally:
        PyBuffer_Release(&view)


def encode_close_frame(code=1000, str reason="", *, mask=None):
    """Encode a close frame with ``code`` and UTF-8 ``reason``; ``code=None`` sends no payload."""
    cdef bytes reason_bytes
    if code is None:
        if reason:
            raise EncodeError("a close reason needs a close code")
        return encode_frame(_OP_CLOSE, b"", mask=mask)
    if not isinstance(code, int) or not _valid_close_code(code):
        raise EncodeError(f"invalid close code {code!r}")
    reason_bytes = _utf8_bytes(reason)
    if len(reason_bytes) > 123:
        raise EncodeError("close reason over 123 bytes")
    return encode_frame(_OP_CLOSE, (<int>code).to_bytes(2, "big") + reason_bytes, mask=mask)


def websocket_accept(key):
    """Return the ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``."""
    if isinstance(key, str):
        key = (<str>key).encode("ascii")
    return _b64encode(_sha1(key + _WS_GUID).digest()).decode("ascii")


cdef bint _has_token(value, str token):
    if value is None:
        return False
    for part in (<str>value).split(","):
        if part.strip().lower() == token:
            return True
    return False


def check_websocket_upgrade(str method, headers):
    """Validate a client's opening handshake; return the ``Sec-WebSocket-Accept`` value.

    ``headers`` maps lower-case header names to values. Raises :class:`HandshakeError`
    (``status`` 400, or 426 for an unsupported ``Sec-WebSocket-Version``).
    """
    if method != "GET":
        raise HandshakeError(f"WebSocket upgrade needs GET, not {method}", 405)
    if not _has_token(headers.get("upgrade"), "websocket"):
        raise HandshakeError("missing 'Upgrade: websocket' header")
    if not _has_token(headers.get("connection"), "upgrade"):
        raise HandshakeError("missing 'Connection: Upgrade' header")
    version = headers.get("sec-websocket-version")
    if version is None or version.strip() != "13":
        raise HandshakeError("unsupported Sec-WebSocket-Version (only 13)", 426)
    key = headers.get("sec-websocket-key")
    if key is None:
        raise HandshakeError("missing Sec-WebSocket-Key header")
    key = key.strip()
    try:
        raw = _b64decode(key.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise HandshakeError("Sec-WebSocket-Key is not base64") from None
    if len(raw) != 16:
        raise HandshakeError("Sec-WebSocket-Key must encode 16 bytes")
    return websocket_accept(key)
