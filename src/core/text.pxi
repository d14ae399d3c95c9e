# UTF-8 access to str for encoders: a str that UTF-8 cannot carry (a lone surrogate)
# is the application's error, reported as EncodeError like every other bad value.

cdef const char* _utf8(str text, Py_ssize_t* size) except NULL:
    """Pointer to the UTF-8 form of ``text`` (cached by CPython; no copy for ASCII)."""
    try:
        return PyUnicode_AsUTF8AndSize(text, size)
    except UnicodeEncodeError:
        raise EncodeError("text with a lone surrogate cannot be sent as UTF-8") from None


cdef bytes _utf8_bytes(str text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("text with a lone surrogate cannot be sent as UTF-8") from None
