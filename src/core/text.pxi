# str helpers shared by the codecs.
#
# UTF-8 access to str for encoders: a str that UTF-8 cannot carry (a lone surrogate)
# is the application's error, reported as EncodeError like every other bad value.
#
# Building a str: wire text is nearly always ASCII, and an ASCII str is one
# PyUnicode_New(n, 127) plus memcpy. Cython's generic slicing and concatenation
# (PyUnicode_FromKindAndData, PyUnicode_Concat) rescan the characters for their
# maximum; these helpers skip that when the inputs are known to be ASCII.

cdef inline const char* _utf8(str text, Py_ssize_t* size) except NULL:
    """Pointer to the UTF-8 form of ``text`` (cached by CPython; no copy for ASCII)."""
    if PyUnicode_IS_ASCII(text):           # an ASCII str's characters are its UTF-8
        size[0] = PyUnicode_GET_LENGTH(text)
        return <const char*>PyUnicode_DATA(text)
    return _utf8_general(text, size)


cdef const char* _utf8_general(str text, Py_ssize_t* size) except NULL:
    try:
        return PyUnicode_AsUTF8AndSize(text, size)
    except UnicodeEncodeError:
        raise EncodeError("text with a lone surrogate cannot be sent as UTF-8") from None


cdef bytes _utf8_bytes(str text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("text with a lone surrogate cannot be sent as UTF-8") from None


cdef inline bint _is_ascii(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef uint64_t acc = 0, word
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        acc |= word
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    return (acc & <uint64_t>0x8080808080808080ULL) == 0


cdef inline str _slice(str s, Py_ssize_t start, Py_ssize_t end):
    """``s[start:end]`` for 0 <= start <= end <= len(s) (an ASCII source is copied, not rescanned)."""
    return PyUnicode_Substring(s, start, end)


cdef inline str _prefixed(Py_UCS4 c, str s):
    """``c + s`` for an ASCII character ``c``: one allocation and a memcpy when ``s`` is ASCII."""
    cdef Py_ssize_t n
    cdef str out
    cdef char* dst
    if not PyUnicode_IS_ASCII(s):
        return chr(c) + s
    n = PyUnicode_GET_LENGTH(s)
    out = PyUnicode_New(n + 1, 127)
    dst = <char*>PyUnicode_DATA(out)
    dst[0] = <char>c
    memcpy(dst + 1, PyUnicode_DATA(s), n)
    return out


cdef inline str _ascii_concat(const char* head, Py_ssize_t n1, const char* tail, Py_ssize_t n2):
    """The str of the UTF-8 ``head + tail`` (one allocation when both are ASCII)."""
    cdef str out
    if _is_ascii(<const uint8_t*>head, n1) and _is_ascii(<const uint8_t*>tail, n2):
        out = PyUnicode_New(n1 + n2, 127)
        memcpy(PyUnicode_DATA(out), head, n1)
        memcpy(<char*>PyUnicode_DATA(out) + n1, tail, n2)
        return out
    return PyUnicode_DecodeUTF8(head, n1, NULL) + PyUnicode_DecodeUTF8(tail, n2, NULL)
