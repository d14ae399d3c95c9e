"""On-CPU profiles of the server under test with Linux ``perf``, and their summary.

py-spy tells which Python function is running, but it samples wall-clock time of
a paused process and over-weights system calls. ``perf record`` samples on-CPU
time only, kernel included, so it gives the true split between the kernel (on
loopback a ``write`` also runs the receiving socket's TCP input), libpython, the
Cython core, uvloop and orjson. ``perf stat`` on the ``syscalls:sys_enter_*``
tracepoints counts the system calls, to be divided by the operations of the run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from profiling import interrupt

FREQUENCY = 999  # samples per second
SYSCALLS = (
    "write",
    "writev",
    "sendmsg",
    "read",
    "recvfrom",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "accept4",
)


def find_perf() -> str | None:
    """The perf executable, if it can record here."""
    return shutil.which("perf")


class PerfProfiler:
    """``perf record`` and ``perf stat`` of ``pid`` from :meth:`start` until :meth:`stop`."""

    def __init__(self, perf: str, output: Path) -> None:
        self.perf = perf
        self.output = output  # perf.data; the counts go to <output>.stat
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def stat_output(self) -> Path:
        """Where ``perf stat`` writes its counts."""
        return self.output.with_suffix(".stat")

    def start(self, pid: int) -> None:
        """Attach both perf commands to ``pid``."""
        events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.processes = [
            subprocess.Popen(
                [self.perf, "record", "-F", str(FREQUENCY), "-g", "-p", str(pid), "-o", str(self.output)],
                **quiet,
            ),
            subprocess.Popen(
                [self.perf, "stat", "-x", ",", "-e", events, "-p", str(pid), "-o", str(self.stat_output)],
                **quiet,
            ),
        ]

    def stop(self) -> None:
        """Stop both and let them write their output."""
        processes, self.processes = self.processes, []
        interrupt(processes, timeout=60)


_SELF_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$")
_DSO_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S.*?)\s*$")


@dataclass
class PerfSummary:
    """Where the on-CPU time went, and how many system calls were made."""

    by_dso: list[tuple[str, float]] = field(default_factory=list)
    top_symbols: list[tuple[str, str, float]] = field(default_factory=list)  # (dso, symbol, self %)
    syscalls: dict[str, int] = field(default_factory=dict)


def _report(perf: str, data: Path, sort: str) -> list[str]:
    result = subprocess.run(
        [perf, "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort, "-g", "none"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return [line for line in result.stdout.splitlines() if line.strip() and not line.startswith("#")]


def summarize(data: Path, top: int = 15) -> PerfSummary:
    """Summarize a ``perf record`` output and the ``perf stat`` counts beside it."""
    summary = PerfSummary()
    perf = find_perf()
    if perf is not None and data.exists():
        for line in _report(perf, data, "dso"):
            match = _DSO_LINE.match(line)
            if match:
                summary.by_dso.append((match.group(2), float(match.group(1))))
        for line in _report(perf, data, "dso,sym")[:top]:
            match = _SELF_LINE.match(line)
            if match:
                summary.top_symbols.append((match.group(2), match.group(4), float(match.group(1))))
    stat = data.with_suffix(".stat")
    if stat.exists():
        for line in stat.read_text().splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:sys_enter_") and parts[0].isdigit():
                summary.syscalls[parts[2].removeprefix("syscalls:sys_enter_")] = int(parts[0])
    return summary
