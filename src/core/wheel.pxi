# A hierarchical timer wheel (as in the Linux kernel and tokio): O(1) arm, cancel and
# re-arm with intrusive, reusable timer nodes, millisecond resolution by default.
#
# Time is counted in ticks (``tick`` seconds, 1 ms by default) from the wheel's
# creation. Level L has 64 slots of 64**L ticks each; six levels span 64**6 ticks
# (795 days at 1 ms). A timer due in tick t sits at the lowest level whose slot
# range holds t given ``_elapsed`` (the level of the highest 6-bit digit in which t
# and _elapsed differ), in the slot of t's digit at that level. A 64-bit occupancy
# bitmap per level finds the next non-empty slot in a few instructions.
#
# Invariants (what ``advance`` and ``next_deadline`` rely on):
# - every armed timer has tick >= _elapsed, and every timer of a tick <= _elapsed
#   that was armed before the last advance has fired (or was re-queued, see below);
# - a timer at level L > 0 shares _elapsed's digits above L and has a larger digit
#   at L, so every timer at level L is due after every timer at the levels below;
#   the top level is a ring instead: a tick beyond its current revolution waits in
#   the slot of its top digit, which comes round first, and is re-placed from there;
# - a slot at level L > 0 is "cascaded" (its timers re-placed, landing lower) when
#   _elapsed reaches its start, so timers only ever fire from level 0, in tick order.
# Never early: a timer fires only once the clock has reached its deadline; a timer
# whose tick is reached a hair before its deadline (float rounding) is re-queued.

import logging as _logging

cdef object _wheel_log = _logging.getLogger("sio.timers")

cdef enum:
    _IDLE = 0
    _ARMED = 1
    _FIRING = 2

cdef enum:
    _LEVEL_BITS = 6
    _LEVEL_SLOTS = 64          # 1 << _LEVEL_BITS: one bit of a uint64 occupancy word each
    _LEVELS = 6
    _SPAN_BITS = 36            # _LEVELS * _LEVEL_BITS

cdef extern from *:
    """
    static inline int sio_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    static inline int sio_clz64(unsigned long long x) { return __builtin_clzll(x); }
    """
    int sio_ctz64(unsigned long long x) noexcept nogil
    int sio_clz64(unsigned long long x) noexcept nogil

cdef long long _NO_WAKE = 0x7FFFFFFFFFFFFFFF
# Deadlines compare with the clock within one or two ulps of it (DBL_EPSILON * |now|):
# the float sum now + 0.3 and the clock's own reading of that very instant may differ
# in the last bit, and a strict comparison would then make about one timer in 13 a
# whole tick late on uvloop's millisecond clock. That is 2 ns at ten days of uptime,
# far below any clock's resolution.
cdef double _CLOCK_ULPS = 2.220446049250313e-16


cdef inline double _monotonic_now() noexcept nogil:
    """``time.monotonic()`` without the Python call: the same clock, converted the same way.

    CPython reads CLOCK_MONOTONIC into integer nanoseconds and divides by 1e9
    (``_PyTime_AsSecondsDouble``); doing exactly that keeps the two bit-identical, so
    deadlines computed here compare correctly with times a driver got from
    ``time.monotonic()``.
    """
    cdef timespec ts
    cdef int64_t t
    clock_gettime(CLOCK_MONOTONIC, &ts)
    t = <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec
    if t % 1000000000 == 0:
        return <double>(t // 1000000000)
    return <double>t / 1e9


cdef inline long long _floor_ll(double x) noexcept nogil:
    """``<long long>floor(x)`` without the libm call (x86-64 baseline has no roundsd)."""
    cdef long long i = <long long>x
    return i - (<double>i > x)


cdef inline long long _ceil_ll(double x) noexcept nogil:
    """``<long long>ceil(x)`` without the libm call."""
    cdef long long i = <long long>x
    return i + (<double>i < x)


@cython.final
cdef class Timer:
    """A re-armable timer of a :class:`TimerWheel`; create it with ``wheel.timer(callback)``.

    The node is reused for every arm, so re-arming allocates nothing.
    """

    cdef TimerWheel wheel
    cdef readonly object callback
    # A slot is a ring: a sentinel node (in the wheel's _heads) and the armed timers.
    # ``next`` is an owned reference, so the ring is a cycle the GC can see and every
    # member is kept alive by its predecessor; ``prev`` is a borrowed back-pointer.
    # Idle timers have next None and prev NULL.
    cdef Timer next
    cdef void* prev
    cdef long long tick            # the tick whose slot holds the timer (wheel-relative)
    cdef double _deadline
    cdef int state
    cdef int slot                  # level * 64 + digit while armed

    def __cinit__(self, TimerWheel wheel=None, callback=None):
        self.wheel = wheel
        self.callback = callback
        self.next = None
        self.prev = NULL
        self.state = _IDLE
        self.slot = -1

    @property
    def armed(self):
        """True from ``arm`` until the timer fires or is cancelled."""
        return self.state == _ARMED

    @property
    def deadline(self):
        """The time the timer was last armed for (meaningful while armed)."""
        return self._deadline

    def arm(self, double delay):
        """Arm (or re-arm) the timer to fire ``delay`` seconds from the wheel's clock."""
        cdef double now
        if self.wheel is None:
            raise RuntimeError("timer has no wheel")
        # One fresh clock read serves both the deadline and an idle wheel's catch-up.
        now = self.wheel._now()
        self._link(now + delay, now, True)

    def arm_at(self, double deadline):
        """Arm (or re-arm) the timer to fire at ``deadline`` on the wheel's clock."""
        if self.wheel is None:
            raise RuntimeError("timer has no wheel")
        self._link(deadline, 0.0, False)

    def cancel(self):
        """Disarm the timer; a no-op when it is not armed."""
        if self.state == _ARMED:
            self._unlink()
        self.state = _IDLE

    cdef int _link(self, double deadline, double now, bint have_now) except -1:
        """Arm for ``deadline`` (``now``: a fresh clock read, when ``have_now``)."""
        cdef TimerWheel wheel = self.wheel
        cdef long long tick
        if not isfinite(deadline):
            raise ValueError(f"a timer's deadline must be finite, not {deadline!r}")
        if self.state == _ARMED:
            self._unlink()
        elif wheel.count == 0 and not wheel._advancing:
            # The wheel was idle: its elapsed tick may be stale, catch it up (an empty
            # wheel has no placement to keep valid). Fewer cascades for what follows.
            if not have_now:
                now = wheel._now()
            tick = wheel._tick_of_time(now)
            if tick > wheel._elapsed:
                wheel._elapsed = tick
        tick = _ceil_ll(deadline * wheel._per_tick - 1e-6) - wheel._origin
        if tick < wheel._elapsed:
            tick = wheel._elapsed          # already due: the next advance fires it
        self._deadline = deadline
        wheel._insert(self, tick)
        if tick < wheel._wake_tick and not wheel._advancing:
            wheel._wake_tick = tick
            if wheel.on_wakeup is not None:
                wheel.on_wakeup(wheel._time_of_tick(tick))
        return 0

    cdef inline void _unlink(self) noexcept:
        # The caller holds a reference to self: dropping the ring's one is safe.
        cdef Timer nxt = self.next
        cdef void* prv = self.prev
        nxt.prev = prv
        (<Timer>prv).next = nxt
        if <void*>nxt == prv:          # only the sentinel is left: the slot is empty
            self.wheel._occupied[self.slot >> _LEVEL_BITS] &= ~(1ULL << (self.slot & (_LEVEL_SLOTS - 1)))
        self.next = None
        self.prev = NULL
        self.slot = -1
        self.wheel.count -= 1


cdef Timer _sentinel():
    """The head of an empty ring: its own successor and predecessor."""
    cdef Timer head = Timer()
    head.next = head
    head.prev = <void*>head
    return head


@cython.final
cdef class TimerWheel:
    """Hierarchical timer wheel driven by whoever owns the clock (sans-I/O).

    ``tick`` is the resolution in seconds (default 1 ms): a timer fires at the first
    ``advance`` whose clock has reached its deadline, and ``advance`` only has work
    to do at the times ``next_deadline`` names. ``clock`` returns the current time in
    seconds (``loop.time`` in production, a fake in tests). ``on_wakeup(when)`` is
    called when a timer is armed that is due before the wake-up last reported (by
    ``next_deadline`` or ``on_wakeup``), so that a driver can move its one loop
    callback earlier. Exceptions from callbacks are passed to
    ``error_handler(exc, timer)`` (default: logged) and never stop the other timers.
    """

    cdef readonly double tick
    cdef readonly Py_ssize_t count
    cdef readonly object clock
    cdef public object on_wakeup
    cdef public object error_handler
    cdef list _heads               # _LEVELS * _LEVEL_SLOTS ring sentinels, level-major
    cdef uint64_t _occupied[_LEVELS]
    cdef long long _elapsed        # ticks since _origin processed so far
    cdef long long _origin         # absolute tick number of the wheel's creation
    cdef long long _wake_tick      # the wake-up last reported to the driver, or _NO_WAKE
    cdef bint _advancing
    cdef bint _c_clock             # clock is time.monotonic: read CLOCK_MONOTONIC directly
    # 1 / tick: tick numbers are computed by multiplying by it, not dividing by tick.
    # The product is within 2 ulps of the quotient, far inside the 1e-6 tick epsilon,
    # and never-early does not depend on it: advance() re-queues a timer whose
    # deadline is not yet reached.
    cdef double _per_tick

    def __cinit__(self, double tick=0.001, clock=None, on_wakeup=None, error_handler=None):
        cdef int level
        if not tick > 0:
            raise ValueError("tick must be positive")
        self.tick = tick
        self.count = 0
        self.clock = _monotonic if clock is None else clock
        self._c_clock = self.clock is _monotonic
        self._per_tick = 1.0 / tick
        self.on_wakeup = on_wakeup
        self.error_handler = error_handler
        self._heads = [_sentinel() for _ in range(_LEVELS * _LEVEL_SLOTS)]
        for level in range(_LEVELS):
            self._occupied[level] = 0
        self._origin = _floor_ll(self._now() * self._per_tick + 1e-6)
        self._elapsed = 0
        self._wake_tick = _NO_WAKE
        self._advancing = False

    cpdef double now(self) except? -1.0:
        """The wheel's clock."""
        return self._now()

    cdef inline double _now(self) except? -1.0:
        if self._c_clock:
            return _monotonic_now()
        return self.clock()

    cdef inline long long _tick_of_time(self, double t) noexcept:
        """The last tick whose start ``t`` has reached (the epsilon absorbs float error)."""
        return _floor_ll(t * self._per_tick + 1e-6) - self._origin

    cdef inline double _time_of_tick(self, long long tick) noexcept:
        return <double>(tick + self._origin) * self.tick

    def timer(self, callback):
        """Create an idle timer node that calls ``callback()`` when it fires."""
        return Timer(self, callback)

    cdef int _insert(self, Timer timer, long long tick) except -1:
        """Link an unlinked timer into the slot for ``tick`` (>= _elapsed) and count it."""
        cdef unsigned long long masked = <unsigned long long>(self._elapsed ^ tick) | (_LEVEL_SLOTS - 1)
        cdef int level, digit, index
        cdef Timer head
        if masked >> _SPAN_BITS:
            # Beyond the top level's current revolution (a deadline far away, or just past
            # a boundary of 64**6 ticks): the top level is a ring, and the slot of the
            # tick's top digit comes round before the tick does. There it is re-placed.
            level = _LEVELS - 1
        else:
            level = (63 - sio_clz64(masked)) // _LEVEL_BITS
        digit = <int>((tick >> (level * _LEVEL_BITS)) & (_LEVEL_SLOTS - 1))
        index = level * _LEVEL_SLOTS + digit
        head = <Timer>PyList_GET_ITEM(self._heads, index)
        # Insert before the sentinel (at the tail of the ring).
        timer.prev = head.prev
        timer.next = head
        (<Timer>head.prev).next = timer
        head.prev = <void*>timer
        timer.tick = tick
        timer.slot = index
        timer.state = _ARMED
        self._occupied[level] |= 1ULL << digit
        self.count += 1
        return 0

    cdef bint _next_slot(self, int* index, long long* start) noexcept:
        """The first non-empty slot in time order and the tick it starts at; False if none."""
        cdef int level, shift, digit, now_digit
        cdef uint64_t occupied, ahead
        cdef long long revolution
        for level in range(_LEVELS):
            occupied = self._occupied[level]
            if occupied == 0:
                continue
            shift = level * _LEVEL_BITS
            now_digit = <int>((self._elapsed >> shift) & (_LEVEL_SLOTS - 1))
            # Level 0 may hold the current tick (a timer armed in the past); above it the
            # current digit's slot has been cascaded, so what it holds is a revolution away.
            if level == 0:
                ahead = occupied & (~0ULL << now_digit)
            elif now_digit < _LEVEL_SLOTS - 1:
                ahead = occupied & (~0ULL << (now_digit + 1))
            else:
                ahead = 0
            revolution = 1LL << (shift + _LEVEL_BITS)
            start[0] = self._elapsed & ~(revolution - 1)
            if ahead:
                digit = sio_ctz64(ahead)
            else:
                digit = sio_ctz64(occupied)
                start[0] += revolution
            start[0] += <long long>digit << shift
            index[0] = level * _LEVEL_SLOTS + digit
            return True
        return False

    def next_deadline(self):
        """When ``advance`` next has something to do (a time on the clock), or None if idle.

        A driver calls this after each ``advance`` and wakes up then; until it does,
        arming an earlier timer reports the earlier time through ``on_wakeup``.
        """
        cdef int index
        cdef long long start, tick
        cdef Timer head, node
        if not self._next_slot(&index, &start):
            self._wake_tick = _NO_WAKE
            return None
        tick = start
        if index >= _LEVEL_SLOTS:
            # A higher level: wake at its earliest timer, not at the slot's start (one
            # wake-up per due tick, not one per cascade). The scan costs no more than the
            # cascade that follows.
            head = <Timer>PyList_GET_ITEM(self._heads, index)
            node = head.next
            tick = node.tick
            while node is not head:
                if node.tick < tick:
                    tick = node.tick
                node = node.next
        self._wake_tick = tick
        return self._time_of_tick(tick)

    def advance(self, now=None):
        """Fire every timer due by ``now`` (default: the clock); return how many fired."""
        cdef double t_now = self._now() if now is None else now
        cdef double tolerance = fabs(t_now) * _CLOCK_ULPS
        cdef long long target = self._tick_of_time(t_now)
        cdef long long start
        cdef int index
        cdef list fired, nodes
        cdef Timer head, node
        self._wake_tick = _NO_WAKE         # the driver is awake: it asks next_deadline() after
        if self.count == 0:
            if target > self._elapsed:
                self._elapsed = target
            return 0
        fired = []
        while self._next_slot(&index, &start) and start <= target:
            self._elapsed = start
            head = <Timer>PyList_GET_ITEM(self._heads, index)
            nodes = []
            while head.next is not head:
                node = head.next
                node._unlink()
                nodes.append(node)
            if index >= _LEVEL_SLOTS:
                for node in nodes:             # cascade: each lands at a lower level
                    self._insert(node, node.tick)
                continue
            for node in nodes:
                if node._deadline <= t_now + tolerance:
                    node.state = _FIRING
                    fired.append(node)
                else:
                    # Reached its tick a hair before its deadline (float rounding): queue
                    # it for the next tick, never fire early.
                    self._insert(node, target + 1)
        if target > self._elapsed:
            self._elapsed = target
        if not fired:
            return 0
        self._advancing = True
        try:
            for node in fired:
                if node.state != _FIRING:  # cancelled or re-armed by an earlier callback
                    continue
                node.state = _IDLE
                try:
                    node.callback()
                except Exception as exc:
                    self._report(exc, node)
        finally:
            self._advancing = False
        return len(fired)

    cdef _report(self, exc, Timer node):
        if self.error_handler is not None:
            try:
                self.error_handler(exc, node)
                return
            except Exception:
                pass
        _wheel_log.error("timer callback %r failed", node.callback, exc_info=exc)
