"""CPU time and memory of a process, read from ``/proc`` (Linux only).

CPU time is ``utime + stime`` of ``/proc/<pid>/stat`` (every thread of the process,
in clock ticks, usually 10 ms); memory is ``VmRSS`` of ``/proc/<pid>/status``.
A :class:`Window` snapshots both sides of a benchmark at its start and end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# A side whose CPU use reaches this share of one core is called saturated.
SATURATED_PERCENT = 85.0


def _own_cpu_ticks(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def descendants(pid: int) -> list[int]:
    """The live child processes of ``pid``, and theirs (a server with ``--workers``)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                children = [int(child) for child in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in children:
            found.append(child)
            found.extend(descendants(child))
    return found


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by every thread of ``pid`` and of its descendants.

    (A supervisor with its workers counts as one server; a worker that exits within a
    window takes its CPU time with it, so windows are taken while the workers run.)
    """
    user, system = _own_cpu_ticks(pid)
    for child in descendants(pid):
        try:
            child_user, child_system = _own_cpu_ticks(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
        user += child_user
        system += child_system
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of ``pid``."""
    user, system = cpu_times(pid)
    return user + system


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Usage:
    """What one measured window cost: wall time and each side's CPU time."""

    wall: float
    server_cpu: float
    generator_cpu: float
    server_sys: float = 0.0  # the kernel's part of server_cpu

    @property
    def server_percent(self) -> float:
        """Server CPU as a percentage of one core."""
        return 100.0 * self.server_cpu / self.wall if self.wall > 0 else 0.0

    @property
    def generator_percent(self) -> float:
        """Generator CPU as a percentage of one core."""
        return 100.0 * self.generator_cpu / self.wall if self.wall > 0 else 0.0

    @property
    def saturated(self) -> str:
        """Which side ran at (nearly) a full core: server, generator, both or neither."""
        server = self.server_percent >= SATURATED_PERCENT
        generator = self.generator_percent >= SATURATED_PERCENT
        if server and generator:
            return "both"
        return "server" if server else "generator" if generator else "neither"

    def as_dict(self) -> dict[str, float | str]:
        """The figures every result carries."""
        return {
            "wall_s": self.wall,
            "server_cpu_s": self.server_cpu,
            "generator_cpu_s": self.generator_cpu,
            "server_cpu_pct": self.server_percent,
            "server_sys_share_pct": 100.0 * self.server_sys / self.server_cpu if self.server_cpu else 0.0,
            "generator_cpu_pct": self.generator_percent,
            "saturated": self.saturated,
        }


WINDOW_START = "WINDOW_START"
WINDOW_STOP = "WINDOW_STOP"


class Window:
    """CPU use of the server and of this process between :meth:`start` and :meth:`stop`.

    With ``announce``, ``WINDOW_START`` and ``WINDOW_STOP`` lines are printed around
    the window, so that the harness can profile the server during exactly that time.
    """

    announce = False

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._self_pid = os.getpid()
        self._start: tuple[float, float, float, float] | None = None

    def _snapshot(self) -> tuple[float, float, float, float]:
        user, system = cpu_times(self.server_pid)
        return time.perf_counter(), user + system, system, cpu_seconds(self._self_pid)

    def start(self) -> None:
        """Begin the window."""
        if self.announce:
            print(WINDOW_START, flush=True)
        self._start = self._snapshot()

    def stop(self) -> Usage:
        """End the window and return what it cost."""
        if self._start is None:
            raise RuntimeError("Window.stop() before start()")
        wall0, server0, sys0, gen0 = self._start
        wall1, server1, sys1, gen1 = self._snapshot()
        if self.announce:
            print(WINDOW_STOP, flush=True)
        return Usage(wall1 - wall0, server1 - server0, gen1 - gen0, sys1 - sys0)
