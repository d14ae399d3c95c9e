# JSON for Socket.IO payloads through orjson, with two extra jobs done in one walk
# over the value before it is serialised:
#  - binary values (bytes, bytearray, memoryview) are replaced by placeholders
#    {"_placeholder":true,"num":N} and collected as attachments;
#  - floats that orjson would print differently from JavaScript's JSON.stringify
#    (integral values such as 1.0 and -0.0, and the magnitudes where the two switch
#    between decimal and exponent notation) are rewritten so that the output is
#    byte-identical to what a Node server sends for the same value.
# The walk allocates nothing when there is nothing to replace (the common case).

from orjson import dumps as _orjson_dumps, loads as _orjson_loads, Fragment as _JsonFragment
from orjson import JSONDecodeError as _JSONDecodeError, JSONEncodeError as _JSONEncodeError

cdef int _MAX_DEPTH = 500
cdef double _TWO_53 = 9007199254740992.0


cdef str _js_number_text(double x):
    """Format a finite double exactly as JavaScript's Number.prototype.toString does."""
    cdef str text = repr(abs(x))          # shortest round-trip digits, as in JavaScript
    cdef str mantissa, digits
    cdef int exponent = 0, point, n, k
    if "e" in text:
        mantissa, exp_text = text.split("e")
        exponent = int(exp_text)
    else:
        mantissa = text
    point = mantissa.find(".")
    if point < 0:
        point = len(mantissa)
    digits = mantissa.replace(".", "")
    n = point + exponent                  # value = 0.DIGITS x 10^n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    sign = "-" if x < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_text = ("+" if exponent >= 0 else "-") + str(abs(exponent))
    if k == 1:
        return sign + digits + "e" + exp_text
    return sign + digits[0] + "." + digits[1:] + "e" + exp_text


cdef object _js_float(double x):
    """Return a replacement for a float orjson would print unlike JavaScript, else None."""
    cdef double a = fabs(x)
    if not isfinite(x):
        return None                       # both print null
    if x == trunc(x) and a < 1e21:
        if a < _TWO_53:
            return int(x)                 # also turns -0.0 into 0, as JavaScript prints it
        return _JsonFragment(_js_number_text(x).encode("ascii"))
    if 1e-6 <= a < 1e-5:
        return _JsonFragment(_js_number_text(x).encode("ascii"))
    return None


cdef inline bint _is_json_scalar(object item) noexcept:
    """str, int, bool or None: serialised by orjson exactly as JavaScript does, left alone."""
    cdef type t = type(item)
    return t is str or t is int or item is None or t is bool


# Placeholders are orjson Fragments: the exact bytes orjson would write for the dict
# {"_placeholder": True, "num": N}, without building that dict for every attachment.
cdef list _PLACEHOLDERS = [_JsonFragment(b'{"_placeholder":true,"num":%d}' % i) for i in range(16)]


cdef inline object _placeholder(Py_ssize_t num):
    if num < PyList_GET_SIZE(_PLACEHOLDERS):
        return <object>PyList_GET_ITEM(_PLACEHOLDERS, num)
    return _JsonFragment(b'{"_placeholder":true,"num":%d}' % num)


cdef list _tuple_items(object tup):
    """The items of a tuple (or tuple subclass, whatever its ``__iter__``) as a list."""
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(tup)
    cdef list out = PyList_New(n)
    cdef object item
    for i in range(n):
        item = <object>PyTuple_GET_ITEM(tup, i)
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


cdef object _prepare(object obj, list attachments, int depth):
    """Return ``obj`` ready for orjson (the same object when nothing needs replacing).

    Containers are copied (shallowly, once) only when one of their items is replaced.
    Items are re-read on every step: a float subclass's ``__float__`` is Python code and
    could mutate the container being walked.
    """
    cdef object item, new, copy = None
    cdef Py_ssize_t i, pos = 0
    cdef PyObject* key_ptr
    cdef PyObject* item_ptr
    if depth > _MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    if type(obj) is float:
        new = _js_float(<double>obj)
        return obj if new is None else new
    if PyList_Check(obj):
        i = 0
        while i < PyList_GET_SIZE(obj):
            item = <object>PyList_GET_ITEM(obj, i)
            if not _is_json_scalar(item):
                new = _prepare(item, attachments, depth + 1)
                if new is not item:
                    if copy is None:
                        copy = PyList_GetSlice(obj, 0, PyList_GET_SIZE(obj))
                    # The store below is unchecked (boundscheck=False): a __float__
                    # that shrank the list must not make it write past the copy.
                    if i >= PyList_GET_SIZE(copy):
                        raise RuntimeError("list changed size while being encoded")
                    (<list>copy)[i] = new
            i += 1
        return obj if copy is None else copy
    if PyTuple_Check(obj):
        for i in range(PyTuple_GET_SIZE(obj)):
            item = <object>PyTuple_GET_ITEM(obj, i)
            if not _is_json_scalar(item):
                new = _prepare(item, attachments, depth + 1)
                if new is not item:
                    if copy is None:
                        copy = _tuple_items(obj)
                    (<list>copy)[i] = new
        return obj if copy is None else copy
    if PyDict_Check(obj):
        while PyDict_Next(obj, &pos, &key_ptr, &item_ptr):
            item = <object>item_ptr
            if not _is_json_scalar(item):
                key = <object>key_ptr
                new = _prepare(item, attachments, depth + 1)
                if new is not item:
                    if copy is None:
                        copy = PyDict_Copy(obj)
                    copy[key] = new
        return obj if copy is None else copy
    if PyBytes_CheckExact(obj) or PyByteArray_Check(obj) or isinstance(obj, memoryview):
        attachments.append(obj if PyBytes_CheckExact(obj) else bytes(obj))
        return _placeholder(PyList_GET_SIZE(attachments) - 1)
    if PyFloat_Check(obj):                # float subclasses (numpy.float64, ...)
        new = _js_float(<double>obj)
        return float(obj) if new is None else new
    return obj


cdef bytes _dumps(object value):
    try:
        return _orjson_dumps(value)
    except _JSONEncodeError as exc:
        error = exc
    if "surrogate" in str(error):
        # JSON.stringify escapes lone surrogates (\ud800); orjson refuses them.
        try:
            return _orjson_dumps(_escape_surrogates(value, 0))
        except _JSONEncodeError as exc:
            error = exc
    raise EncodeError(f"value cannot be sent as JSON: {error}") from None


cdef object _LONE_SURROGATE = _re_compile("[\ud800-\udfff]")


cdef str _escape_surrogate(match):
    return "\\u%04x" % ord(match.group())


cdef object _escape_surrogates(object obj, int depth):
    """Slow path: strings holding lone surrogates become pre-escaped JSON fragments."""
    if depth > _MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    if PyUnicode_Check(obj):
        if _LONE_SURROGATE.search(obj) is None:
            return obj
        text = _json_dumps(obj, ensure_ascii=False)
        return _JsonFragment(_LONE_SURROGATE.sub(_escape_surrogate, text).encode("utf-8"))
    if PyList_Check(obj) or PyTuple_Check(obj):
        return [_escape_surrogates(item, depth + 1) for item in obj]
    if PyDict_Check(obj):
        return {key: _escape_surrogates(item, depth + 1) for key, item in (<dict>obj).items()}
    return obj


cdef object _reject_constant(str name):
    raise ValueError(f"{name} is not JSON")


cdef bint _nested_deeper_than(str text, int limit):
    """Whether JSON ``text`` opens more than ``limit`` arrays/objects at once (strings skipped)."""
    cdef int depth = 0
    cdef bint in_string = False, escaped = False
    cdef Py_UCS4 c
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == u"\\":
                escaped = True
            elif c == u'"':
                in_string = False
        elif c == u'"':
            in_string = True
        elif c == u"[" or c == u"{":
            depth += 1
            if depth > limit:
                return True
        elif c == u"]" or c == u"}":
            depth -= 1
    return False


cdef object _loads(str text):
    try:
        return _orjson_loads(text)
    except _JSONDecodeError as exc:
        error = exc
    # orjson refuses what JSON.parse accepts in two cases: escaped lone surrogates
    # ("\ud800", sent by JavaScript for a string cut inside a surrogate pair) and
    # integers beyond 64 bits. The standard library parses both. It recurses once per level,
    # bounded by the interpreter's recursion limit only (which an embedding app may have
    # raised far enough to overflow the C stack): the nesting is bounded here first.
    if _nested_deeper_than(text, _MAX_DEPTH):
        raise SocketIOError(f"invalid JSON payload: nested deeper than {_MAX_DEPTH} levels")
    try:
        return _json_loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        pass
    raise SocketIOError(f"invalid JSON payload: {error}") from None


# The keys as orjson returns them: its key cache hands out the same str objects, so
# lookups with these usually match by identity (and by equality when they do not).
cdef str _PLACEHOLDER_KEY, _NUM_KEY
_PLACEHOLDER_KEY, _NUM_KEY = _orjson_loads(b'{"_placeholder":true,"num":0}')


cdef object _reconstruct(object obj, list buffers):
    """Replace attachment placeholders in decoded JSON by the buffers they stand for.

    ``obj`` comes from orjson: exact lists and dicts, mutated in place.
    """
    cdef Py_ssize_t i, pos = 0
    cdef PyObject* key_ptr
    cdef PyObject* item_ptr
    cdef object item, new
    if PyList_CheckExact(obj):
        for i in range(PyList_GET_SIZE(obj)):
            item = <object>PyList_GET_ITEM(obj, i)
            if PyList_CheckExact(item) or PyDict_CheckExact(item):
                new = _reconstruct(item, buffers)
                if new is not item:
                    (<list>obj)[i] = new
        return obj
    if PyDict_CheckExact(obj):
        item_ptr = PyDict_GetItemWithError(obj, _PLACEHOLDER_KEY)
        if item_ptr != NULL and <object>item_ptr is True:
            item_ptr = PyDict_GetItemWithError(obj, _NUM_KEY)
            return _attachment(None if item_ptr == NULL else <object>item_ptr, buffers)
        while PyDict_Next(obj, &pos, &key_ptr, &item_ptr):
            item = <object>item_ptr
            if PyList_CheckExact(item) or PyDict_CheckExact(item):
                new = _reconstruct(item, buffers)
                if new is not item:
                    # Replacing the value of an existing key keeps PyDict_Next valid.
                    (<dict>obj)[<object>key_ptr] = new
        return obj
    return obj


cdef object _attachment(object num, list buffers):
    """The buffer a placeholder's ``num`` points at (an int, or an integral float)."""
    cdef double x
    cdef long long index
    cdef int overflow = 0
    if type(num) is float:
        x = <double>num
        if not (isfinite(x) and x == trunc(x) and 0 <= x < PyList_GET_SIZE(buffers)):
            raise SocketIOError("illegal attachments")
        return <object>PyList_GET_ITEM(buffers, <Py_ssize_t>x)
    if type(num) is not int:
        raise SocketIOError("illegal attachments")
    index = PyLong_AsLongLongAndOverflow(num, &overflow)
    if overflow or not 0 <= index < PyList_GET_SIZE(buffers):
        raise SocketIOError("illegal attachments")
    return <object>PyList_GET_ITEM(buffers, <Py_ssize_t>index)


def encode_json(value):
    """Serialise ``value`` exactly as JavaScript's JSON.stringify would (compact, key order kept).

    Binary values are refused here (they only travel as Socket.IO attachments).
    """
    cdef list attachments = []
    prepared = _prepare(value, attachments, 0)
    if attachments:
        raise EncodeError("binary values need a Socket.IO packet with attachments")
    return _dumps(prepared)
