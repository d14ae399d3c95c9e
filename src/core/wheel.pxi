# A hashed timer wheel: O(1) arm, cancel and re-arm with intrusive, reusable timer
# nodes. Time is split into ticks of ``tick`` seconds; slot ``t % slots`` holds, in a
# circular doubly linked list behind a sentinel node, every armed timer due in tick
# ``t`` (of any revolution). ``advance(now)`` fires what is due. A timer with
# deadline d is placed in tick ceil(d / tick), so it fires at the first advance with
# now >= that tick's start >= d: never early, and at most one tick late when
# advance is called on every tick boundary.

import logging as _logging

cdef object _wheel_log = _logging.getLogger("sio.timers")

cdef enum:
    _IDLE = 0
    _ARMED = 1
    _FIRING = 2


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
    # Idle timers have next None and prev NULL. Linking and unlinking therefore cost
    # four reference-count updates each, not two per pointer written.
    cdef Timer next
    cdef void* prev
    cdef long long tick
    cdef double _deadline
    cdef int state

    def __cinit__(self, TimerWheel wheel=None, callback=None):
        self.wheel = wheel
        self.callback = callback
        self.next = None
        self.prev = NULL
        self.state = _IDLE

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
        """Put the timer in the slot of the tick holding ``deadline`` (``now``: a fresh clock read)."""
        cdef TimerWheel wheel = self.wheel
        cdef long long tick
        cdef PyObject* head              # borrowed: the wheel's _heads list owns it
        if self.state == _ARMED:
            self._unlink()
        elif wheel.count == 0 and not wheel._advancing:
            # The wheel was idle: its tick counter may be stale, catch it up.
            if not have_now:
                now = wheel._now()
            tick = _floor_ll(now * wheel._per_tick + 1e-6)
            if tick > wheel._current:
                wheel._current = tick
        tick = _ceil_ll(deadline * wheel._per_tick - 1e-6)
        if tick <= wheel._current:
            tick = wheel._current + 1
        self.tick = tick
        self._deadline = deadline
        head = PyList_GET_ITEM(wheel._heads, wheel._slot(tick))
        # Insert before the sentinel (at the tail of the ring).
        self.prev = (<Timer>head).prev
        self.next = <Timer>head
        (<Timer>(<Timer>head).prev).next = self
        (<Timer>head).prev = <void*>self
        self.state = _ARMED
        wheel.count += 1
        if wheel.count == 1 and wheel.on_wakeup is not None:
            wheel.on_wakeup()
        return 0

    cdef inline void _unlink(self):
        # The caller holds a reference to self: dropping the ring's one is safe.
        self.next.prev = self.prev
        (<Timer>self.prev).next = self.next
        self.next = None
        self.prev = NULL
        self.wheel.count -= 1


cdef Timer _sentinel():
    """The head of an empty ring: its own successor and predecessor."""
    cdef Timer head = Timer()
    head.next = head
    head.prev = <void*>head
    return head


cdef inline long long _floor_ll(double x) noexcept nogil:
    """``<long long>floor(x)`` without the libm call (x86-64 baseline has no roundsd)."""
    cdef long long i = <long long>x
    return i - (<double>i > x)


cdef inline long long _ceil_ll(double x) noexcept nogil:
    """``<long long>ceil(x)`` without the libm call."""
    cdef long long i = <long long>x
    return i + (<double>i < x)


cdef object _timer_tick(Timer timer):
    return timer.tick


@cython.final
cdef class TimerWheel:
    """Hashed timer wheel driven by whoever owns the clock (sans-I/O).

    ``clock`` returns the current time in seconds (``loop.time`` in production, a
    fake in tests); ``on_wakeup`` is called when the first timer is armed on an
    empty wheel, so that a driver can start calling ``advance`` on every tick.
    Exceptions from callbacks are passed to ``error_handler(exc, timer)`` (default:
    logged) and never stop the other timers.
    """

    cdef readonly double tick
    cdef readonly Py_ssize_t slots
    cdef readonly Py_ssize_t count
    cdef readonly object clock
    cdef public object on_wakeup
    cdef public object error_handler
    cdef list _heads
    cdef long long _current        # the last tick processed
    cdef bint _advancing
    cdef bint _c_clock             # clock is time.monotonic: read CLOCK_MONOTONIC directly
    cdef long long _mask           # slots - 1 when slots is a power of two, else -1
    # 1 / tick: tick numbers are computed by multiplying by it, not dividing by tick.
    # The product is within 2 ulps of the quotient, far inside the 1e-6 tick epsilon,
    # and never-early does not depend on it: advance() re-queues a timer whose
    # deadline is not yet reached.
    cdef double _per_tick

    def __cinit__(self, double tick=0.05, Py_ssize_t slots=512, clock=None, on_wakeup=None,
                  error_handler=None):
        if tick <= 0:
            raise ValueError("tick must be positive")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.tick = tick
        self.slots = slots
        self.count = 0
        self.clock = _monotonic if clock is None else clock
        self._c_clock = self.clock is _monotonic
        self._per_tick = 1.0 / tick
        self._mask = slots - 1 if slots & (slots - 1) == 0 else -1
        self.on_wakeup = on_wakeup
        self.error_handler = error_handler
        self._heads = [_sentinel() for _ in range(slots)]
        self._current = <long long>floor(self._now() / tick)
        self._advancing = False

    cpdef double now(self) except? -1.0:
        """The wheel's clock."""
        return self._now()

    cdef inline double _now(self) except? -1.0:
        if self._c_clock:
            return _monotonic_now()
        return self.clock()

    cdef inline Py_ssize_t _slot(self, long long tick) noexcept:
        cdef long long r
        if self._mask >= 0:
            return <Py_ssize_t>(tick & self._mask)
        r = tick % self.slots              # C remainder: negative for a negative tick
        return <Py_ssize_t>(r + self.slots if r < 0 else r)

    def timer(self, callback):
        """Create an idle timer node that calls ``callback()`` when it fires."""
        return Timer(self, callback)

    def next_tick_time(self):
        """Start time of the next tick to process: when a driver should call ``advance``."""
        return (self._current + 1) * self.tick

    def advance(self, now=None):
        """Fire every timer due by ``now`` (default: the clock); return how many fired."""
        cdef double t_now = self._now() if now is None else now
        # The epsilon absorbs float error in now / tick at tick boundaries; the
        # deadline check below still guarantees that nothing fires early.
        cdef long long target = <long long>floor(t_now / self.tick + 1e-6)
        cdef long long steps, t
        cdef list fired, late
        cdef Timer head, node, nxt
        cdef bint wrapped
        if target <= self._current:
            return 0
        steps = target - self._current
        wrapped = steps > self.slots
        if wrapped:
            steps = self.slots           # every slot visited once is enough
        fired = []
        late = []
        t = self._current + 1
        while steps > 0:
            head = <Timer>PyList_GET_ITEM(self._heads, self._slot(t))
            node = head.next
            while node is not head:
                nxt = node.next
                if node.tick <= target:
                    node._unlink()
                    if node._deadline <= t_now:
                        node.state = _FIRING
                        fired.append(node)
                    else:
                        late.append(node)  # float rounding put it a hair early
                node = nxt
            t += 1
            steps -= 1
        self._current = target
        for node in late:
            node.state = _IDLE
            node._link(node._deadline, 0.0, False)  # lands in the next tick
        if wrapped and len(fired) > 1:
            fired.sort(key=_timer_tick)
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
