"""The hierarchical timer wheel, on a fake clock, and its asyncio driver on real loops."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from sio._sio_core import TimerWheel
from sio.timers import LoopTimerWheel

TICK = 0.001
SPAN = 64**6 * TICK  # what six levels of 64 slots cover


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_wheel(now: float = 0.0, tick: float = TICK) -> tuple[TimerWheel, FakeClock]:
    clock = FakeClock(now)
    return TimerWheel(tick, clock=clock), clock


def not_before(t: float, deadline: float) -> bool:
    """``t >= deadline`` up to the float rounding of the deadline's own sum (the wheel's tolerance)."""
    return t >= deadline - 2 * math.ulp(deadline)


def drive(wheel: TimerWheel, clock: FakeClock, until: float = math.inf) -> int:
    """Advance exactly when the wheel says something is due (what the loop driver does); return
    how many wake-ups that took."""
    wakeups = 0
    while (when := wheel.next_deadline()) is not None and when <= until:
        clock.now = max(clock.now, when)
        wheel.advance()
        wakeups += 1
    clock.now = max(clock.now, until) if until != math.inf else clock.now
    return wakeups


def test_fires_in_deadline_order_across_levels() -> None:
    wheel, clock = make_wheel()
    fired: list[int] = []
    # From one tick to hours: every level of the wheel holds some of them.
    delays = [0.7, 0.001, 0.45, 3.0, 0.063, 0.065, 262.2, 4.1, 17_000.0, 0.0305, 90_000.0]
    for i, delay in enumerate(delays):
        wheel.timer(lambda i=i: fired.append(i)).arm(delay)
    drive(wheel, clock)
    assert [delays[i] for i in fired] == sorted(delays)
    assert wheel.count == 0


def test_never_fires_before_its_deadline() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    clock.now = 0.0133
    timer.arm(0.1012)  # deadline 0.1145, inside the tick ending at 0.115
    for now in (0.05, 0.1, 0.114, 0.1144999):
        clock.now = now
        wheel.advance()
        assert fired_at == []
    clock.now = 0.115
    wheel.advance()
    assert fired_at == [0.115]


def test_fires_on_the_tick_that_holds_the_deadline() -> None:
    """Driven at the times the wheel names, a timer fires at most one tick after its deadline."""
    wheel, clock = make_wheel(now=5.0)
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    timer.arm(0.3)
    assert wheel.next_deadline() == pytest.approx(5.3)
    drive(wheel, clock)
    assert not_before(fired_at[0], timer.deadline)
    assert fired_at[0] <= timer.deadline + TICK


def test_cancel_prevents_firing_and_is_idempotent() -> None:
    wheel, clock = make_wheel()
    fired: list[str] = []
    keep = wheel.timer(lambda: fired.append("keep"))
    drop = wheel.timer(lambda: fired.append("drop"))
    keep.arm(0.2)
    drop.arm(0.2)
    assert wheel.count == 2
    drop.cancel()
    drop.cancel()
    assert not drop.armed
    assert wheel.count == 1
    drive(wheel, clock)
    assert fired == ["keep"]
    assert wheel.count == 0


def test_rearm_moves_the_deadline_without_a_second_node() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    timer.arm(0.1)
    timer.arm(25.0)  # re-arm replaces the first deadline (another level)
    assert wheel.count == 1
    drive(wheel, clock)
    assert len(fired_at) == 1
    assert 25.0 <= fired_at[0] <= 25.0 + TICK


def test_a_late_advance_fires_everything_due_in_order() -> None:
    """The loop was blocked for a long time: one advance catches up, in deadline order."""
    wheel, clock = make_wheel()
    fired: list[float] = []
    for delay in (3.0, 0.1, 1.7, 0.9, 9.0, 300.0, 0.0011):
        wheel.timer(lambda delay=delay: fired.append(delay)).arm(delay)
    clock.now = 5.0
    assert wheel.advance() == 5
    assert fired == [0.0011, 0.1, 0.9, 1.7, 3.0]
    assert wheel.count == 2
    assert wheel.next_deadline() == pytest.approx(9.0)
    clock.now = 9.0
    assert wheel.advance() == 1
    assert fired[-1] == 9.0


def test_a_callback_may_cancel_or_rearm_timers_due_in_the_same_tick() -> None:
    wheel, clock = make_wheel()
    fired: list[str] = []
    victim = wheel.timer(lambda: fired.append("victim"))
    moved = wheel.timer(lambda: fired.append("moved"))

    def first() -> None:
        fired.append("first")
        victim.cancel()
        moved.arm(1.0)

    wheel.timer(first).arm(0.1)
    victim.arm(0.1)
    moved.arm(0.1)
    clock.now = 0.1
    wheel.advance()
    assert fired == ["first"]
    assert moved.armed
    drive(wheel, clock)
    assert fired == ["first", "moved"]


def test_a_callback_rearming_itself_runs_periodically() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []

    def ping() -> None:
        fired_at.append(clock.now)
        if len(fired_at) < 5:
            timer.arm(0.25)

    timer = wheel.timer(ping)
    timer.arm(0.25)
    assert drive(wheel, clock) == 5
    for previous, current in zip([0.0, *fired_at[:-1]], fired_at, strict=True):
        assert current - previous >= 0.25 - 1e-9


def test_a_timer_armed_in_the_past_fires_at_the_next_advance() -> None:
    wheel, clock = make_wheel(now=10.0)
    fired: list[str] = []
    wheel.timer(lambda: fired.append("late")).arm_at(3.0)
    wheel.timer(lambda: fired.append("now")).arm(0.0)
    assert wheel.next_deadline() <= clock.now
    assert wheel.advance() == 2
    assert fired == ["late", "now"]


def test_callback_errors_are_reported_and_do_not_stop_other_timers() -> None:
    errors: list[tuple[type[BaseException], object]] = []
    clock = FakeClock()
    wheel = TimerWheel(TICK, clock=clock, error_handler=lambda exc, timer: errors.append((type(exc), timer)))
    fired: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    bad = wheel.timer(boom)
    bad.arm(0.1)
    wheel.timer(lambda: fired.append("ok")).arm(0.1)
    drive(wheel, clock)
    assert fired == ["ok"]
    assert errors == [(RuntimeError, bad)]


def test_callback_errors_without_a_handler_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    wheel, clock = make_wheel()

    def boom() -> None:
        raise ValueError("boom")

    wheel.timer(boom).arm(0.1)
    drive(wheel, clock)
    assert any("timer callback" in r.message and r.exc_info for r in caplog.records)


def test_wakeup_is_reported_only_for_a_timer_earlier_than_the_last_one_reported() -> None:
    wakeups: list[float] = []
    clock = FakeClock(100.0)
    wheel = TimerWheel(TICK, clock=clock, on_wakeup=wakeups.append)
    a, b, c = (wheel.timer(lambda: None) for _ in range(3))
    a.arm(20.0)
    assert wakeups == [pytest.approx(120.0)]
    b.arm(30.0)  # later than the wake-up already asked for: nothing to do
    assert len(wakeups) == 1
    c.arm(0.5)  # earlier: the driver must wake sooner
    assert wakeups[-1] == pytest.approx(100.5)
    assert len(wakeups) == 2
    clock.now = 100.5
    wheel.advance()
    assert wheel.next_deadline() == pytest.approx(120.0)
    c.arm(30.0)  # the next wake-up (120) is still the earliest
    assert len(wakeups) == 2
    a.cancel()
    b.cancel()
    c.cancel()
    assert wheel.next_deadline() is None
    a.arm(1.0)  # nothing was scheduled any more
    assert wakeups[-1] == pytest.approx(101.5)


def test_timers_armed_by_callbacks_are_not_reported_while_advancing() -> None:
    """The driver asks ``next_deadline`` after ``advance``: no wake-up call from inside it."""
    wakeups: list[float] = []
    clock = FakeClock()
    wheel = TimerWheel(TICK, clock=clock, on_wakeup=wakeups.append)
    follow_up = wheel.timer(lambda: None)
    wheel.timer(lambda: follow_up.arm(0.5)).arm(0.1)
    assert len(wakeups) == 1
    clock.now = 0.1
    assert wheel.advance() == 1
    assert len(wakeups) == 1
    assert wheel.next_deadline() == pytest.approx(0.6)


def test_one_wakeup_per_distinct_due_tick() -> None:
    """Timers deep in the upper levels still cost one wake-up each distinct due tick: the wheel
    names the earliest timer's tick, not the start of the slot that must cascade first."""
    wheel, clock = make_wheel(now=42.0)
    fired: list[float] = []
    deadlines = set()
    for i in range(300):
        timer = wheel.timer(lambda: fired.append(clock.now))
        timer.arm(0.5 + (i % 60) * 7.3)  # 60 distinct deadlines, 0.5 s to 7 min away
        deadlines.add(math.ceil(timer.deadline / TICK - 1e-6))
    assert drive(wheel, clock) == len(deadlines) == 60
    assert len(fired) == 300


def test_an_idle_wheel_catches_up_with_the_clock() -> None:
    """After a long idle period, arming must not fire early nor replay the idle ticks."""
    wheel, clock = make_wheel()
    clock.now = 3600.0
    fired_at: list[float] = []
    wheel.timer(lambda: fired_at.append(clock.now)).arm(0.2)
    clock.now = 3600.1
    assert wheel.advance() == 0
    assert wheel.next_deadline() == pytest.approx(3600.2)
    assert drive(wheel, clock) == 1
    assert fired_at == [pytest.approx(3600.2)]
    assert fired_at[0] >= 3600.2


def test_delays_beyond_the_span_of_the_wheel_are_never_early() -> None:
    wheel, clock = make_wheel(now=1.0)
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    timer.arm(2.5 * SPAN)
    wakeups = drive(wheel, clock)
    assert fired_at and not_before(fired_at[0], timer.deadline)
    assert fired_at[0] <= timer.deadline + TICK
    assert wakeups == 1  # woken at the real tick: the cascades happen in that one advance


def test_ticks_just_past_a_boundary_of_the_span_fire_on_time() -> None:
    """A wheel that has run for nearly 64**6 ticks: timers due just after the top level's
    revolution wraps fire on their tick, neither early nor a revolution late."""
    wheel, clock = make_wheel(now=0.0)
    keep = wheel.timer(lambda: None)
    keep.arm(SPAN - 0.005)  # brings the wheel to 5 ticks before the boundary
    assert drive(wheel, clock) == 1
    fired_at: dict[float, float] = {}
    for delay in (0.003, 0.010, 0.070, 5.0):
        timer = wheel.timer(lambda delay=delay: fired_at.setdefault(delay, clock.now))
        timer.arm(delay)
    start = clock.now
    drive(wheel, clock)
    for delay, at in fired_at.items():
        assert start + delay - 1e-6 <= at <= start + delay + TICK
    assert len(fired_at) == 4


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_deadline_must_be_finite(bad: float) -> None:
    wheel, _ = make_wheel()
    timer = wheel.timer(lambda: None)
    with pytest.raises(ValueError, match="finite"):
        timer.arm(bad)
    with pytest.raises(ValueError, match="finite"):
        timer.arm_at(bad)
    assert wheel.count == 0 and not timer.armed


def test_one_hundred_thousand_timers() -> None:
    wheel, clock = make_wheel()
    fired = [0]

    def hit() -> None:
        fired[0] += 1

    timers = [wheel.timer(hit) for _ in range(100_000)]
    for i, timer in enumerate(timers):
        timer.arm(1 + (i % 1000) * 0.03)  # spread over 30 s: several levels
    for timer in timers[::2]:
        timer.cancel()
    assert wheel.count == 50_000
    assert drive(wheel, clock) == 500  # one wake-up per distinct deadline left
    assert fired[0] == 50_000
    assert wheel.count == 0


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from([0.0, 12.345, 86_400.5, 3e6]),
    delays=st.lists(
        st.one_of(st.floats(min_value=0.0, max_value=0.2), st.floats(min_value=0.0, max_value=5_000.0)),
        min_size=1,
        max_size=30,
    ),
    steps=st.lists(st.floats(min_value=0.0001, max_value=700.0), min_size=1, max_size=60),
)
def test_never_early_and_at_most_one_tick_late_when_driven_at_its_deadlines(
    start: float, delays: list[float], steps: list[float]
) -> None:
    """Property: advanced at the times ``next_deadline`` names and at random instants besides, every
    timer fires in [deadline, deadline + tick]; the random instants never fire one early."""
    wheel, clock = make_wheel(now=start)
    records: dict[int, float] = {}
    deadlines = {}
    for i, delay in enumerate(delays):
        timer = wheel.timer(lambda i=i: records.setdefault(i, clock.now))
        timer.arm(delay)
        deadlines[i] = timer.deadline
    stepper = itertools.cycle(steps)
    for _ in range(200):  # random instants (bounded), each capped at the next due time
        if (due := wheel.next_deadline()) is None:
            break
        clock.now = min(due, clock.now + next(stepper))
        wheel.advance()
    drive(wheel, clock)
    assert records.keys() == deadlines.keys()
    for i, fired_at in records.items():
        # Never early, to within the rounding of the float sum now + delay itself (2 ulps; the
        # wheel compares the same way, so that a clock reading of the very tick still counts).
        assert not_before(fired_at, deadlines[i])
        assert fired_at <= deadlines[i] + TICK * (1 + 1e-9) + 1e-9


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_loop_driver_fires_never_early_and_sleeps_when_idle(loop_factory) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        driver = LoopTimerWheel(loop)
        done = loop.create_future()
        fired_at: list[float] = []
        deadlines: list[float] = []

        def second() -> None:
            fired_at.append(loop.time())
            done.set_result(None)

        def first() -> None:
            fired_at.append(loop.time())
            timer = driver.timer(second)
            timer.arm(0.03)
            deadlines.append(timer.deadline)

        timer = driver.timer(first)
        timer.arm(0.02)
        deadlines.append(timer.deadline)
        assert driver.armed == 1 and driver.scheduled
        await done
        assert not_before(fired_at[0], deadlines[0])
        assert not_before(fired_at[1], deadlines[1])
        assert driver.armed == 0
        assert not driver.scheduled  # nothing armed: no loop callback
        driver.close()

    loop = loop_factory()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_loop_driver_moves_its_one_wakeup_earlier_for_an_earlier_timer(loop_factory) -> None:
    """A far timer then a near one: the near one fires on time (the loop callback moved), and the
    far one is still pending, with a single callback scheduled for it."""
    calls: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        original_call_at, original_call_later = loop.call_at, loop.call_later

        def call_at(when, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(when)
            return original_call_at(when, callback, *args, **kwargs)

        def call_later(delay, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(loop.time() + delay)
            return original_call_later(delay, callback, *args, **kwargs)

        loop.call_at = call_at  # type: ignore[method-assign]
        loop.call_later = call_later  # type: ignore[method-assign]
        driver = LoopTimerWheel(loop)
        near_done = loop.create_future()
        far = driver.timer(lambda: None)
        far.arm(60.0)
        near = driver.timer(lambda: near_done.set_result(loop.time()))
        near.arm(0.01)
        many = [driver.timer(lambda: None) for _ in range(100)]
        for i, timer in enumerate(many):
            timer.arm(30.0 + i)  # later than the scheduled wake-up: no new loop callback
        assert len(calls) == 2
        assert not_before(await near_done, near.deadline)
        assert far.armed and driver.scheduled
        assert calls[-1] == pytest.approx(many[0].deadline, abs=0.0011)  # the earliest left
        driver.close()
        assert not driver.scheduled

    loop = loop_factory()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
