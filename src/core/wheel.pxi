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


@cython.final
cdef class Timer:
    """A re-armable timer of a :class:`TimerWheel`; create it with ``wheel.timer(callback)``.

    The node is reused for every arm, so re-arming allocates nothing.
    """

    cdef TimerWheel wheel
    cdef readonly object callback
    cdef Timer prev
    cdef Timer next
    cdef long long tick
    cdef double _deadline
    cdef int state

    def __cinit__(self, TimerWheel wheel=None, callback=None):
        self.wheel = wheel
        self.callback = callback
        self.prev = self
        self.next = self
        self.state = _IDLE

    @property
    def armed(self):
        """True from ``arm`` until the timer fires or is cancelled."""
        return self.state == _ARMED

    @property
    def deadline(self):
        """The time the timer was last armed for (meaningful while armed)."""
        return self._deadline

    cpdef arm(self, double delay):
        """Arm (or re-arm) the timer to fire ``delay`` seconds from the wheel's clock."""
        self.arm_at(self.wheel.now() + delay)

    cpdef arm_at(self, double deadline):
        """Arm (or re-arm) the timer to fire at ``deadline`` on the wheel's clock."""
        cdef TimerWheel wheel = self.wheel
        cdef long long tick
        cdef Timer head
        if self.state == _ARMED:
            self._unlink()
        elif wheel.count == 0 and not wheel._advancing:
            # The wheel was idle: its tick counter may be stale, catch it up.
            tick = <long long>floor(wheel.now() / wheel.tick + 1e-6)
            if tick > wheel._current:
                wheel._current = tick
        tick = <long long>ceil(deadline / wheel.tick - 1e-6)
        if tick <= wheel._current:
            tick = wheel._current + 1
        self.tick = tick
        self._deadline = deadline
        head = <Timer>wheel._heads[tick % wheel.slots]
        self.prev = head.prev
        self.next = head
        head.prev.next = self
        head.prev = self
        self.state = _ARMED
        wheel.count += 1
        if wheel.count == 1 and wheel.on_wakeup is not None:
            wheel.on_wakeup()

    cpdef cancel(self):
        """Disarm the timer; a no-op when it is not armed."""
        if self.state == _ARMED:
            self._unlink()
        self.state = _IDLE

    cdef inline void _unlink(self):
        self.prev.next = self.next
        self.next.prev = self.prev
        self.prev = self
        self.next = self
        self.wheel.count -= 1


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
        self.on_wakeup = on_wakeup
        self.error_handler = error_handler
        self._heads = [Timer() for _ in range(slots)]
        self._current = <long long>floor(self.clock() / tick)
        self._advancing = False

    cpdef double now(self) except? -1.0:
        """The wheel's clock."""
        return self.clock()

    def timer(self, callback):
        """Create an idle timer node that calls ``callback()`` when it fires."""
        return Timer(self, callback)

    def next_tick_time(self):
        """Start time of the next tick to process: when a driver should call ``advance``."""
        return (self._current + 1) * self.tick

    def advance(self, now=None):
        """Fire every timer due by ``now`` (default: the clock); return how many fired."""
        cdef double t_now = self.clock() if now is None else now
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
            head = <Timer>self._heads[t % self.slots]
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
            node.arm_at(node._deadline)  # lands in the next tick
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
