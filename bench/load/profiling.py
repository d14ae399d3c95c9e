"""Sampling profiles of the server under test with py-spy, and their summary.

py-spy (``pip install py-spy``; optional) is attached to the server for exactly
the generator's measured window and records collapsed stacks (``--format raw``).
It runs ``--nonblocking`` (Python frames only): ``--native`` has to stop the
process for each sample, which over-weights system calls badly here (perf, in
:mod:`perfprof`, gives the native and kernel split instead). :func:`summarize`
turns the stacks into the functions with the most samples: *self* (the sample's
innermost frame) and *total* (anywhere on the stack). Idle samples are not
recorded, so the percentages are shares of the server's busy time.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE = 250  # samples per second
PY_SPY_MODE = ["--nonblocking"]  # or ["--native"]: see the module docstring


def interrupt(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """Stop profilers together with SIGINT, so that they write their output; kill any still
    running after ``timeout`` seconds."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def find_py_spy() -> str | None:
    """The py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


class Profiler:
    """One py-spy recording of ``pid``, from :meth:`start` until :meth:`stop`."""

    def __init__(self, py_spy: str, output: Path) -> None:
        self.py_spy = py_spy
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        """Attach to ``pid`` and start sampling."""
        self.process = subprocess.Popen(
            [
                self.py_spy,
                "record",
                *PY_SPY_MODE,
                "--format",
                "raw",
                "--rate",
                str(RATE),
                "--pid",
                str(pid),
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stop sampling and let py-spy write its output."""
        process, self.process = self.process, None
        if process is not None:
            interrupt([process], timeout=30)


_LINE_NUMBER = re.compile(r":\d+\)$")


def _frame_name(frame: str) -> str:
    """``name (path/to/file.py:12)`` -> ``name (file.py)``; native frames keep their library name."""
    frame = _LINE_NUMBER.sub(")", frame.strip())
    name, sep, location = frame.partition(" (")
    if not sep:
        return name
    location = location.rstrip(")")
    parts = location.replace("\\", "/").split("/")
    short = "/".join(parts[-2:]) if parts[-1] in ("__init__.py", "server.py", "socket.py") else parts[-1]
    return f"{name} ({short})"


SYSCALLS = frozenset(
    {
        "write", "__GI___libc_write", "writev", "send", "sendmsg", "read", "recv", "recvmsg", "readv",
        "epoll_pwait", "epoll_wait", "epoll_ctl", "accept4", "close", "__close", "shutdown", "setsockopt",
        "getsockopt", "getpeername", "getsockname", "getrandom", "syscall", "ioctl", "clock_gettime",
    }
)  # fmt: skip


LOOP_FRAME = "Runner.run ("  # asyncio.run's frame: what is above it only starts the loop


def _is_python(frame: str) -> bool:
    return frame.endswith(".py)")


@dataclass
class ProfileSummary:
    """Sample counts per function, per system call and per Python caller of a system call."""

    samples: int
    self_counts: Counter[str]
    total_counts: Counter[str]
    syscall_counts: Counter[str]  # innermost frame is this system call's libc wrapper
    syscall_callers: Counter[tuple[str, str]]  # (system call, innermost Python frame above it)
    scaffolding: frozenset[str]  # frames that only start the loop (main, asyncio.run, ...)

    def _pct(self, count: int) -> float:
        return 100.0 * count / self.samples if self.samples else 0.0

    def syscalls(self, n: int = 8) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """System calls by share of samples, each with its top Python callers."""
        rows = []
        for name, count in self.syscall_counts.most_common(n):
            callers = [(c, self._pct(k)) for (sc, c), k in self.syscall_callers.most_common() if sc == name]
            rows.append((name, self._pct(count), callers[:3]))
        return rows

    def top_self(self, n: int = 15) -> list[tuple[str, float, float]]:
        """Functions with the most self samples outside system calls: (name, self %, total %)."""
        rows = []
        for name, count in self.self_counts.most_common():
            if name.split(" (")[0] in SYSCALLS:
                continue
            rows.append((name, self._pct(count), self._pct(self.total_counts[name])))
            if len(rows) == n:
                break
        return rows

    def top_python(self, n: int = 15) -> list[tuple[str, float, float]]:
        """Python functions by total (inclusive) samples, the loop's scaffolding left out."""
        rows = []
        for name, count in self.total_counts.most_common():
            if not _is_python(name) or name in self.scaffolding:
                continue
            rows.append((name, self._pct(self.self_counts[name]), self._pct(count)))
            if len(rows) == n:
                break
        return rows


def summarize(path: Path) -> ProfileSummary:
    """Read py-spy's raw (collapsed) output."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    syscall_counts: Counter[str] = Counter()
    syscall_callers: Counter[tuple[str, str]] = Counter()
    scaffolding: set[str] = set()
    samples = 0
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        # py-spy may start a stack with the process or thread: not a function
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        # Everything from the stack's root down to the event loop's run() is scaffolding.
        loop_at = max((i for i, f in enumerate(frames) if f.startswith(LOOP_FRAME)), default=-1)
        scaffolding.update(frames[: loop_at + 1])
        leaf = frames[-1]
        self_counts[leaf] += count
        for name in set(frames):
            total_counts[name] += count
        leaf_name = leaf.split(" (")[0]
        if leaf_name in SYSCALLS:
            syscall = "write" if leaf_name == "__GI___libc_write" else leaf_name
            syscall_counts[syscall] += count
            caller = next((f for f in reversed(frames) if _is_python(f)), "(no Python frame)")
            syscall_callers[(syscall, caller)] += count
    scaffolding.update(name for name, count in total_counts.items() if count >= 0.97 * samples)
    return ProfileSummary(
        samples, self_counts, total_counts, syscall_counts, syscall_callers, frozenset(scaffolding)
    )
