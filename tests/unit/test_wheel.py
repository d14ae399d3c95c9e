"""The hashed timer wheel, on a fake clock, and its asyncio driver on real loops."""

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

TICK = 0.05


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_wheel(slots: int = 16, now: float = 0.0) -> tuple[TimerWheel, FakeClock]:
    clock = FakeClock(now)
    return TimerWheel(TICK, slots, clock=clock), clock


def run_until(wheel: TimerWheel, clock: FakeClock, until: float, step: float = TICK) -> None:
    """Advance the clock to ``until`` in steps (computed by multiplication, so they do not drift)."""
    start = clock.now
    k = 0
    while clock.now < until:
        k += 1
        clock.now = min(until, start + k * step)
        wheel.advance()


def test_fires_in_deadline_order_across_ticks() -> None:
    wheel, clock = make_wheel()
    fired: list[int] = []
    delays = [0.7, 0.1, 0.45, 0.3, 0.05, 0.2]
    for i, delay in enumerate(delays):
        wheel.timer(lambda i=i: fired.append(i)).arm(delay)
    run_until(wheel, clock, 1.0)
    assert [delays[i] for i in fired] == sorted(delays)


def test_never_fires_before_its_deadline() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    clock.now = 0.013
    timer.arm(0.101)  # deadline 0.114, inside tick 2
    for now in (0.05, 0.1, 0.11, 0.1139):
        clock.now = now
        wheel.advance()
        assert fired_at == []
    clock.now = 0.15
    wheel.advance()
    assert fired_at == [0.15]


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
    run_until(wheel, clock, 1.0)
    assert fired == ["keep"]
    assert wheel.count == 0


def test_rearm_moves_the_deadline_without_a_second_node() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []
    timer = wheel.timer(lambda: fired_at.append(clock.now))
    timer.arm(0.1)
    timer.arm(0.5)  # re-arm replaces the first deadline
    assert wheel.count == 1
    run_until(wheel, clock, 2.0)
    assert len(fired_at) == 1
    assert 0.5 <= fired_at[0] <= 0.5 + TICK


def test_timers_longer_than_one_revolution() -> None:
    wheel, clock = make_wheel(slots=8)  # one revolution = 0.4 s
    fired_at: dict[str, float] = {}
    for name, delay in {"short": 0.3, "two-revs": 0.85, "many-revs": 5.01}.items():
        wheel.timer(lambda name=name: fired_at.setdefault(name, clock.now)).arm(delay)
    run_until(wheel, clock, 6.0)
    assert fired_at.keys() == {"short", "two-revs", "many-revs"}
    for name, delay in {"short": 0.3, "two-revs": 0.85, "many-revs": 5.01}.items():
        assert delay <= fired_at[name] <= delay + TICK + 1e-9


def test_a_late_advance_fires_everything_due_in_order() -> None:
    """The loop was blocked for longer than a revolution: one advance catches up."""
    wheel, clock = make_wheel(slots=8)
    fired: list[float] = []
    for delay in (3.0, 0.1, 1.7, 0.9, 9.0):
        wheel.timer(lambda delay=delay: fired.append(delay)).arm(delay)
    clock.now = 5.0
    assert wheel.advance() == 4
    assert fired == [0.1, 0.9, 1.7, 3.0]
    assert wheel.count == 1
    clock.now = 9.05
    wheel.advance()
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
    run_until(wheel, clock, 0.2)
    assert fired == ["first"]
    assert moved.armed
    run_until(wheel, clock, 1.5)
    assert fired == ["first", "moved"]


def test_a_callback_rearming_itself_runs_periodically() -> None:
    wheel, clock = make_wheel()
    fired_at: list[float] = []

    def ping() -> None:
        fired_at.append(clock.now)
        timer.arm(0.25)

    timer = wheel.timer(ping)
    timer.arm(0.25)
    run_until(wheel, clock, 1.3)
    assert len(fired_at) == 5
    for previous, current in zip([0.0, *fired_at[:-1]], fired_at, strict=True):
        assert current - previous >= 0.25 - 1e-9


def test_callback_errors_are_reported_and_do_not_stop_other_timers() -> None:
    errors: list[tuple[type[BaseException], object]] = []
    clock = FakeClock()
    wheel = TimerWheel(
        TICK, 16, clock=clock, error_handler=lambda exc, timer: errors.append((type(exc), timer))
    )
    fired: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    bad = wheel.timer(boom)
    bad.arm(0.1)
    wheel.timer(lambda: fired.append("ok")).arm(0.1)
    run_until(wheel, clock, 0.3)
    assert fired == ["ok"]
    assert errors == [(RuntimeError, bad)]


def test_callback_errors_without_a_handler_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    wheel, clock = make_wheel()

    def boom() -> None:
        raise ValueError("boom")

    wheel.timer(boom).arm(0.1)
    run_until(wheel, clock, 0.3)
    assert any("timer callback" in r.message and r.exc_info for r in caplog.records)


def test_wakeup_is_called_when_the_first_timer_is_armed() -> None:
    wakeups: list[int] = []
    clock = FakeClock()
    wheel = TimerWheel(TICK, 16, clock=clock, on_wakeup=lambda: wakeups.append(wheel.count))
    a, b = wheel.timer(lambda: None), wheel.timer(lambda: None)
    a.arm(0.1)
    b.arm(0.1)
    a.arm(0.2)  # re-arm while others are armed: no new wakeup
    assert wakeups == [1]
    run_until(wheel, clock, 0.5)
    a.arm(0.1)
    assert wakeups == [1, 1]


def test_an_idle_wheel_catches_up_with_the_clock() -> None:
    """After a long idle period, arming must not fire early nor replay the idle ticks."""
    wheel, clock = make_wheel()
    clock.now = 3600.0
    fired_at: list[float] = []
    wheel.timer(lambda: fired_at.append(clock.now)).arm(0.2)
    clock.now = 3600.1
    assert wheel.advance() == 0
    assert wheel.next_tick_time() == pytest.approx(3600.15)
    run_until(wheel, clock, 3601.0)
    assert len(fired_at) == 1
    assert 3600.2 <= fired_at[0] <= 3600.2 + TICK


def test_one_hundred_thousand_timers() -> None:
    wheel, clock = make_wheel(slots=512)
    fired = [0]

    def hit() -> None:
        fired[0] += 1

    timers = [wheel.timer(hit) for _ in range(100_000)]
    for i, timer in enumerate(timers):
        timer.arm(1 + (i % 1000) * 0.03)  # spread over 30 s: more than one revolution
    for timer in timers[::2]:
        timer.cancel()
    assert wheel.count == 50_000
    run_until(wheel, clock, 40.0)
    assert fired[0] == 50_000
    assert wheel.count == 0


@settings(max_examples=200, deadline=None)
@given(
    delays=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=30),
    steps=st.lists(st.floats(min_value=0.001, max_value=0.6), min_size=1, max_size=60),
    slots=st.sampled_from([1, 2, 7, 64]),
)
def test_never_early_and_at_most_one_tick_late_when_driven_each_tick(
    delays: list[float], steps: list[float], slots: int
) -> None:
    """Property: with advance called at least once per tick, fire time is in [deadline, deadline + tick]."""
    wheel, clock = make_wheel(slots=slots, now=12.345)
    records: dict[int, float] = {}
    deadlines = {}
    for i, delay in enumerate(delays):
        timer = wheel.timer(lambda i=i: records.setdefault(i, clock.now))
        timer.arm(delay)
        deadlines[i] = timer.deadline
    end = clock.now + 3.0 + 2 * TICK
    stepper = itertools.cycle(steps)
    while clock.now < end:
        # Advance at every tick boundary, plus at random instants in between.
        boundary = (math.floor(clock.now / TICK) + 1) * TICK
        clock.now = min(boundary, clock.now + next(stepper))
        wheel.advance()
    assert records.keys() == deadlines.keys()
    for i, fired_at in records.items():
        assert fired_at >= deadlines[i]
        assert fired_at <= deadlines[i] + TICK + 1e-9


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_loop_driver_fires_on_time_and_stops_ticking_when_idle(loop_factory) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        driver = LoopTimerWheel(loop, tick=0.01)
        done = loop.create_future()
        fired_at: list[float] = []
        start = loop.time()

        def second() -> None:
            fired_at.append(loop.time())
            done.set_result(None)

        def first() -> None:
            fired_at.append(loop.time())
            driver.timer(second).arm(0.03)

        driver.timer(first).arm(0.02)
        assert driver.armed == 1
        await done
        assert fired_at[0] >= start + 0.02
        assert fired_at[1] >= fired_at[0] + 0.03
        assert driver.armed == 0
        assert driver._handle is None  # nothing armed: no tick scheduled
        driver.close()

    loop = loop_factory()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
