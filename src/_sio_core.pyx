# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, freethreading_compatible=False
# cython: profile=False, linetrace=False, initializedcheck=False, binding=False
"""sio's sans-I/O core: WebSocket frames, Engine.IO and Socket.IO packets, msgpack, timer wheel.

One compilation unit (uvloop style) made of the focused parts under ``core/``.
Nothing here knows about asyncio or sockets: bytes in, events out; packets in,
bytes out; a timer wheel advanced by whoever owns the clock.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t
from libc.string cimport memcpy, memcmp
from libc.math cimport trunc, fabs, isfinite
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport (PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_Check,
                            PyBytes_CheckExact)
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize,
                                PyByteArray_Check)
from cpython.dict cimport PyDict_Check, PyDict_CheckExact, PyDict_Next, PyDict_Copy, PyDict_GetItemWithError
from cpython.list cimport (PyList_Check, PyList_CheckExact, PyList_New, PyList_GET_ITEM, PyList_GET_SIZE,
                          PyList_SET_ITEM)
from cpython.list cimport PyList_GetSlice
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.sequence cimport PySequence_Fast, PySequence_Fast_ITEMS, PySequence_Fast_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport (PyUnicode_DecodeUTF8, PyUnicode_Check, PyUnicode_CheckExact,
                              PyUnicode_GET_LENGTH, PyUnicode_READ_CHAR, PyUnicode_Substring,
                              PyUnicode_FindChar)
from cpython.float cimport PyFloat_Check
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    bint PyUnicode_IS_ASCII(object text)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)
    int PyList_SetSlice(object lst, Py_ssize_t low, Py_ssize_t high, PyObject* items) except -1

from base64 import b64encode as _b64encode, b64decode as _b64decode
from binascii import a2b_base64 as _a2b_base64, Error as _BinasciiError
from hashlib import sha1 as _sha1
from json import dumps as _json_dumps, loads as _json_loads
from re import compile as _re_compile
from time import monotonic as _monotonic

include "core/errors.pxi"
include "core/text.pxi"
include "core/utf8.pxi"
include "core/ws.pxi"
include "core/eio.pxi"
include "core/json.pxi"
include "core/sio.pxi"
include "core/msgpack.pxi"
include "core/wheel.pxi"
