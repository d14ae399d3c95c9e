"""Timer figures: cost per timer operation and lateness on a real loop (``python bench/timers.py``).

1. Cost (fake clock, no loop): arm+cancel and arm+fire per timer for sio's wheel, against
   ``loop.call_later`` + ``cancel`` and ``call_at`` + one loop iteration on uvloop and on the
   default asyncio loop.
2. Lateness on uvloop (real clock): N timers armed with deadlines spread over a window, each
   callback reading ``time.monotonic()``; lateness = that reading minus the deadline, p50 /
   p99 / max, for sio's wheel and its one-callback driver, and for N ``loop.call_at`` handles.
   Also the driver's wake-ups: how many loop callbacks it took to fire them.

Runs against whatever ``sio`` is importable, so the same script measures an older build (the
previous 50 ms hashed wheel) in its own virtualenv: ``/path/to/old/venv/bin/python bench/timers.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import operator
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import uvloop

from sio import _sio_core as core
from sio.timers import LoopTimerWheel

OPS = 20_000


def _noop() -> None:
    return None


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    """The best of ``repeat`` timings of ``fn()`` (seconds): the least disturbed run."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def wheel_costs() -> dict[str, float]:
    """ns per arm+cancel and per arm+fire on sio's wheel (a fake clock)."""
    now = [0.0]
    # A clock the benchmark moves, called as cheaply as the loop's own clock (C calls only).
    clock = functools.partial(operator.getitem, now, 0)
    wheel = core.TimerWheel(clock=clock)
    keep = wheel.timer(_noop)
    keep.arm(3600.0)  # a server's wheel is never empty
    timer = wheel.timer(_noop)

    def arm_cancel() -> None:
        for _ in range(OPS):
            timer.arm(25.0)
            timer.cancel()

    timers = [wheel.timer(_noop) for _ in range(OPS)]
    delays = [0.001 + (i % 997) * 0.0013 for i in range(OPS)]  # ~1.3 s of distinct deadlines

    def arm_fire() -> None:
        for t, delay in zip(timers, delays, strict=True):
            t.arm(delay)
        now[0] += 2.0
        fired = wheel.advance()
        assert fired == OPS, fired

    return {
        "arm+cancel": best_of(arm_cancel) / OPS * 1e9,
        "arm+fire": best_of(arm_fire) / OPS * 1e9,
    }


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


def loop_costs(name: str) -> dict[str, float]:
    """ns per call_later+cancel, and per call_at + firing it, on a real loop of each kind."""
    loop = uvloop.new_event_loop() if name == "uvloop" else asyncio.SelectorEventLoop()
    try:

        def arm_cancel() -> None:
            for _ in range(OPS):
                loop.call_later(25.0, _noop).cancel()

        cancel_ns = best_of(arm_cancel) / OPS * 1e9
        _drain(loop)

        def arm_fire() -> None:
            for i in range(OPS):
                loop.call_later(0.0005 + (i % 997) * 1e-6, _noop)
            # One loop run that fires them all (call_later with 1.5 ms of delays, then stop).
            loop.call_later(0.002, loop.stop)
            loop.run_forever()

        fire = best_of(arm_fire, repeat=5) - 0.002  # the wait itself is not the timers' cost
        return {"arm+cancel": cancel_ns, "arm+fire": max(fire, 0.0) / OPS * 1e9}
    finally:
        loop.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lateness(n: int, window: float, kind: str) -> dict[str, Any]:
    """Lateness (ms) of ``n`` timers spread over ``window`` seconds on uvloop."""

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        rng = random.Random(42)
        late: list[float] = []
        done = loop.create_future()
        wakeups = [0]
        driver = LoopTimerWheel(loop) if kind == "sio" else None
        if driver is not None:
            due = driver._on_due if hasattr(driver, "_on_due") else driver._on_tick  # type: ignore[attr-defined]

            def counting() -> None:
                wakeups[0] += 1
                due()

            if hasattr(driver, "_on_due"):
                driver._on_due = counting  # type: ignore[method-assign]
            else:
                driver._on_tick = counting  # type: ignore[method-assign,attr-defined]

        def make(deadline: float) -> Callable[[], None]:
            def fire() -> None:
                late.append((time.monotonic() - deadline) * 1000.0)
                if len(late) == n:
                    done.set_result(None)

            return fire

        # Deadlines on the millisecond grid of uvloop's clock, as a server's are (loop.time()
        # plus a delay in whole milliseconds), far enough ahead that arming them all is done
        # before the first is due.
        offsets = [rng.randrange(round(window * 1000)) / 1000.0 for _ in range(n)]
        start = loop.time() + 0.2 + n * 5e-6
        deadlines = [start + offset for offset in offsets]
        for deadline in deadlines:
            # Deadlines on the loop's clock; uvloop's loop.time() is the same CLOCK_MONOTONIC
            # truncated to the millisecond, so a monotonic reading minus the deadline is the
            # true lateness (never less).
            if driver is not None:
                timer = driver.timer(make(deadline))
                timer.arm_at(deadline)
            else:
                loop.call_at(deadline, make(deadline))
        await done
        if driver is not None:
            driver.close()
        return {
            "timers": n,
            "p50_ms": round(statistics.median(late), 3),
            "p99_ms": round(percentile(late, 0.99), 3),
            "max_ms": round(max(late), 3),
            "min_ms": round(min(late), 3),
            "wakeups": wakeups[0] if driver is not None else None,
            "distinct_ms": len({round(d * 1000) for d in deadlines}),
        }

    return uvloop.run(scenario())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "wheel": wheel_costs(),
        "uvloop": loop_costs("uvloop"),
        "asyncio": loop_costs("asyncio"),
        "lateness": {
            f"{kind} {n}": lateness(n, window, kind)
            for n, window in ((10_000, 2.0), (100_000, 5.0))
            for kind in ("sio", "call_at")
        },
    }
    if args.json:
        print(json.dumps(result))
        return
    print("ns per operation (best of several runs):")
    for side in ("wheel", "uvloop", "asyncio"):
        row = result[side]
        print(f"  {side:8} arm+cancel {row['arm+cancel']:7.1f}   arm+fire {row['arm+fire']:7.1f}")
    print("lateness on uvloop, ms after the deadline (time.monotonic at the callback):")
    for name, row in result["lateness"].items():
        print(f"  {name:14} {json.dumps(row)}")


if __name__ == "__main__":
    main()
