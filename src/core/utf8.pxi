# Incremental UTF-8 validation (RFC 3629), used for text messages that arrive in
# several WebSocket fragments, so that a bad sequence is refused as soon as the
# fragment holding it arrives, even when a code point is split between fragments.

cdef struct Utf8State:
    int need        # continuation bytes still expected for the current code point
    uint8_t lo      # allowed range for the next continuation byte
    uint8_t hi


cdef inline void utf8_reset(Utf8State* st) noexcept nogil:
    st.need = 0
    st.lo = 0x80
    st.hi = 0xBF


cdef bint utf8_feed(Utf8State* st, const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Advance the validator over ``n`` bytes; return False at the first invalid byte."""
    cdef Py_ssize_t i = 0
    cdef uint8_t b
    cdef uint64_t word
    while i < n:
        if st.need == 0:
            # ASCII fast path: eight bytes at a time while no high bit is set.
            while i + 8 <= n:
                memcpy(&word, p + i, 8)
                if word & <uint64_t>0x8080808080808080ULL:
                    break
                i += 8
            if i >= n:
                break
            b = p[i]
            i += 1
            if b < 0x80:
                continue
            elif 0xC2 <= b <= 0xDF:
                st.need = 1
            elif b == 0xE0:
                st.need = 2
                st.lo = 0xA0
            elif b == 0xED:
                st.need = 2
                st.hi = 0x9F          # no UTF-16 surrogates
            elif 0xE1 <= b <= 0xEF:
                st.need = 2
            elif b == 0xF0:
                st.need = 3
                st.lo = 0x90
            elif 0xF1 <= b <= 0xF3:
                st.need = 3
            elif b == 0xF4:
                st.need = 3
                st.hi = 0x8F          # nothing above U+10FFFF
            else:
                return False
        else:
            b = p[i]
            i += 1
            if b < st.lo or b > st.hi:
                return False
            st.need -= 1
            st.lo = 0x80
            st.hi = 0xBF
    return True
