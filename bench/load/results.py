"""bench/RESULTS.md: one table per scenario (medians, min-max, ratios), targets, profiles.

Ratios are "times better than the reference": value ÷ reference for throughputs,
reference ÷ value for costs (latency, CPU, memory), so > 1 always means better. A
hand-written analysis between the ``analysis`` markers of an existing file is kept
when the file is rewritten.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadpeers import SERVERS
from perfprof import summarize as summarize_perf
from profiling import summarize
from runner import RunRecord, Scenario

ANALYSIS_START = "<!-- analysis:start (hand-written; kept when run.py rewrites this file) -->"
ANALYSIS_END = "<!-- analysis:end -->"
ISSUE_KEYS = ("lost", "failed", "acks_missing", "deliveries_missing")
X = "\u00d7"  # the multiplication sign of ratios
DASH = "\u2013"  # the en dash of ranges


@dataclass
class Stat:
    """Median, min and max of one figure over the repetitions."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Iterable[Any]) -> Stat | None:
        """None when no repetition produced a number."""
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if not numbers:
            return None
        return cls(statistics.median(numbers), min(numbers), max(numbers), len(numbers))


def _fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _cell(stat: Stat | None, digits: int) -> str:
    if stat is None:
        return "—"
    if stat.count == 1 or _fmt(stat.low, digits) == _fmt(stat.high, digits):
        return _fmt(stat.median, digits)
    return f"{_fmt(stat.median, digits)} ({_fmt(stat.low, digits)}{DASH}{_fmt(stat.high, digits)})"


def ratio(value: Stat | None, reference: Stat | None, higher_is_better: bool) -> float | None:
    """How many times better ``value`` is than ``reference`` (medians)."""
    if value is None or reference is None or value.median <= 0 or reference.median <= 0:
        return None
    return value.median / reference.median if higher_is_better else reference.median / value.median


class Table:
    """The runs of one scenario, grouped by server."""

    def __init__(self, scenario: Scenario, records: Sequence[RunRecord]) -> None:
        self.scenario = scenario
        self.records = [r for r in records if r.scenario == scenario.name]
        self.servers = [k for k in scenario.servers if any(r.server == k for r in self.records)]

    def runs(self, server: str) -> list[RunRecord]:
        """The runs of ``server``, errors included."""
        return [r for r in self.records if r.server == server]

    def stat(self, server: str, key: str) -> Stat | None:
        """The figure ``key`` of ``server`` over its runs."""
        return Stat.of(r.result.get(key) for r in self.runs(server) if "error" not in r.result)

    def saturation(self, server: str) -> str:
        """Which side saturated, in how many runs."""
        counts = Counter(
            str(r.result.get("saturated", "?")) for r in self.runs(server) if "error" not in r.result
        )
        return ", ".join(f"{side} {n}/{len(self.runs(server))}" for side, n in counts.most_common()) or "—"

    def issues(self, server: str) -> list[str]:
        """Everything that went wrong in ``server``'s runs."""
        found: list[str] = []
        for run in self.runs(server):
            rep = f"rep {run.repetition + 1}"
            result = run.result
            if "error" in result:
                found.append(f"{rep}: error {result['error']}")
                continue
            for key in ISSUE_KEYS:
                if result.get(key):
                    found.append(f"{rep}: {key.replace('_', ' ')} {result[key]}")
            wanted = self.scenario.params.get("connections")
            if wanted and result.get("connections", wanted) < wanted:
                found.append(f"{rep}: only {result['connections']} of {wanted} connected in time")
            opened = result.get("open_at_end")
            held = result.get(
                "connections", result.get("ws_connections", 0) + result.get("polling_connections", 0)
            )
            if opened is not None and opened < held:
                found.append(f"{rep}: {held - opened} of {held} connections closed by the server")
            if run.log_problems:
                example = run.log_problems[0][:120]
                found.append(f"{rep}: {len(run.log_problems)} error lines in the server log, as `{example}`")
            for error in result.get("errors", [])[:1]:
                found.append(f"{rep}: first client error: `{error[:120]}`")
        return found

    def markdown(self) -> str:
        """The scenario's section."""
        scenario = self.scenario
        paired = dict(scenario.paired)
        refs = [] if paired else [r for r in scenario.references if r in self.servers]
        head = ["server"]
        for metric in scenario.metrics:
            head.append(metric.label)
            if metric.ratio:
                head.extend(f"vs {SERVERS[r].key}" for r in refs)
                if paired:
                    head.append("vs Node of its kind")
        head.extend(["saturated", "issues"])
        lines = [
            f"### {scenario.title} (`{scenario.name}`)",
            "",
            scenario.description,
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(head) - 3) + ["---", "---"]) + "|",
        ]
        for server in self.servers:
            row = [SERVERS[server].label]
            for metric in scenario.metrics:
                value = self.stat(server, metric.key)
                row.append(_cell(value, metric.digits))
                if metric.ratio:
                    # Paired: one column, against this row's own reference (none: "—").
                    for ref in [paired.get(server, "")] if paired else refs:
                        r = ratio(value, self.stat(ref, metric.key), metric.higher_is_better) if ref else None
                        row.append("—" if r is None else f"{r:.2f}{X}")
            issues = self.issues(server)
            row.extend([self.saturation(server), f"{len(issues)} (below)" if issues else "none"])
            lines.append("| " + " | ".join(row) + " |")
        notes = [(server, issue) for server in self.servers for issue in self.issues(server)]
        if notes:
            lines.extend(["", "Issues:", ""])
            lines.extend(f"- {SERVERS[server].label}, {issue}" for server, issue in notes)
        return "\n".join(lines)


@dataclass
class TargetCheck:
    """One of the issue's targets and whether the sio medians meet it."""

    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def check_targets(tables: dict[str, Table]) -> list[TargetCheck]:
    """The issue's targets, evaluated on the medians."""
    checks: list[TargetCheck] = []

    def stat(scenario: str, server: str, key: str) -> Stat | None:
        table = tables.get(scenario)
        return table.stat(server, key) if table else None

    def add_ratio(
        target: str, scenario: str, server: str, ref: str, key: str, cost_key: str, goal: float
    ) -> None:
        through = ratio(stat(scenario, server, key), stat(scenario, ref, key), True)
        capacity = ratio(stat(scenario, server, cost_key), stat(scenario, ref, cost_key), False)
        if through is None:
            checks.append(TargetCheck(target, "not measured", None))
            return
        cap = f"{capacity:.2f}{X}" if capacity is not None else "—"
        measured = f"{through:.2f}{X} throughput; {cap} on server CPU per operation"
        checks.append(TargetCheck(target, measured, through >= goal))

    def add_max(target: str, scenario: str, server: str, key: str, goal: float, unit: str) -> None:
        value = stat(scenario, server, key)
        if value is None:
            checks.append(TargetCheck(target, "not measured", None))
            return
        if value.median <= 0:  # a short or scaled-down run: less CPU than one 10 ms clock tick
            checks.append(TargetCheck(target, "0 (below the 10 ms CPU clock tick: too short a run)", None))
            return
        measured = f"{value.median:.2f} {unit} ({value.low:.2f}{DASH}{value.high:.2f})"
        checks.append(TargetCheck(target, measured, value.median <= goal))

    def add_cost_ratio(target: str, scenario: str, key: str, goal: float) -> None:
        capacity = ratio(stat(scenario, "sio", key), stat(scenario, "node", key), False)
        if capacity is None:
            checks.append(TargetCheck(target, "not measured", None))
            return
        checks.append(
            TargetCheck(target, f"{capacity:.2f}{X} less CPU per delivery than Node", capacity >= goal)
        )

    add_ratio(f"echo: ≥ 1.5{X} Node's acks/s", "echo", "sio", "node", "acks_per_s", "server_us_per_ack", 1.5)
    add_max("echo: ≤ 5 µs server CPU per ack", "echo", "sio", "server_us_per_ack", 5.0, "µs")
    add_max(
        "broadcast to 1,000: ≤ 2.5 µs per delivery", "broadcast", "sio", "server_us_per_delivery", 2.5, "µs"
    )
    add_max("storm: ≤ 120 µs per WebSocket handshake", "storm", "sio", "ws_server_us_per_conn", 120.0, "µs")
    add_max("idle: ≤ 8 KiB RSS per connection", "idle", "sio", "rss_kib_per_conn", 8.0, "KiB")
    add_max("idle: ≤ 4 µs per ping", "idle", "sio", "server_us_per_ping", 4.0, "µs")
    add_cost_ratio(
        "cluster (classic): ≤ ½ Node's CPU per delivery", "cluster", "servers_us_per_delivery", 2.0
    )
    add_cost_ratio(
        "cluster (sharded): ≤ ½ Node's CPU per delivery", "cluster-sharded", "servers_us_per_delivery", 2.0
    )

    def add_cost_at_most(target: str, scenario: str, server: str, ref: str, key: str, factor: float) -> None:
        mine, theirs = stat(scenario, server, key), stat(scenario, ref, key)
        if mine is None or theirs is None or theirs.median <= 0:
            checks.append(TargetCheck(target, "not measured", None))
            return
        times = mine.median / theirs.median
        measured = f"{mine.median:.2f} vs {theirs.median:.2f} ({times:.2f}{X})"
        checks.append(TargetCheck(target, measured, times <= factor))

    # Issue 17: sio inside FastAPI at most Node's cost per operation, and within 1.5x of sio built-in.
    for server, where in (
        ("sio-fastapi", "uvicorn + sio's protocol"),
        ("sio-fastapi-builtin", "sio's front end"),
    ):
        for scenario, key, what in (
            ("echo", "server_us_per_ack", "µs per ack"),
            ("broadcast", "server_us_per_delivery", "µs per delivery"),
            ("storm", "ws_server_us_per_conn", "µs per WebSocket handshake"),
            ("idle", "rss_kib_per_conn", "RSS KiB per connection"),
        ):
            add_cost_at_most(
                f"FastAPI ({where}) {scenario}: ≤ Node's {what}", scenario, server, "node", key, 1.0
            )
            add_cost_at_most(
                f"FastAPI ({where}) {scenario}: ≤ 1.5{X} sio built-in", scenario, server, "sio", key, 1.5
            )
    add_ratio(
        f"ASGI echo: ≥ 2{X} python-socketio (same uvicorn)",
        "asgi-echo",
        "sio-asgi",
        "psio-uvicorn",
        "acks_per_s",
        "server_us_per_ack",
        2.0,
    )
    add_ratio(
        f"ASGI broadcast: ≥ 2{X} python-socketio (same uvicorn)",
        "asgi-broadcast",
        "sio-asgi",
        "psio-uvicorn",
        "deliveries_per_s",
        "server_us_per_delivery",
        2.0,
    )
    return checks


def _perf_lines(data: Path, ops: int | None) -> list[str]:
    summary = summarize_perf(data)
    if not summary.by_dso:
        return ["No perf samples recorded."]
    split = ", ".join(f"{dso} {pct:.1f} %" for dso, pct in summary.by_dso if pct >= 0.5)
    lines = [f"On-CPU time by binary (perf): {split}."]
    if summary.syscalls and ops:
        counts = ", ".join(
            f"`{name}` {count / ops:.3f}"
            for name, count in sorted(summary.syscalls.items(), key=lambda kv: -kv[1])
            if count
        )
        lines.extend(["", f"System calls per operation ({ops:,} operations in the window): {counts}."])
    lines.extend(["", "| binary | symbol (perf, self) | % |", "|---|---|---:|"])
    lines.extend(f"| {dso} | `{symbol}` | {pct:.1f} |" for dso, symbol, pct in summary.top_symbols[:12])
    return lines


def _py_spy_lines(path: Path) -> list[str]:
    summary = summarize(path)
    if not summary.samples:
        return ["No py-spy samples recorded."]
    lines = [f"py-spy ({summary.samples:,} samples):", ""]
    syscalls = summary.syscalls()
    if syscalls:  # only with --native
        lines.extend(["| system call (py-spy) | % | issued from (% of all samples) |", "|---|---:|---|"])
        for syscall, pct, callers in syscalls:
            where = ", ".join(f"`{c}` {p:.1f}" for c, p in callers)
            lines.append(f"| `{syscall}` | {pct:.1f} | {where} |")
        lines.append("")
    lines.extend(["| function (py-spy self) | self % | total % |", "|---|---:|---:|"])
    lines.extend(f"| `{fn}` | {s:.1f} | {t:.1f} |" for fn, s, t in summary.top_self(12))
    lines.extend(["", "| Python function (py-spy, inclusive) | self % | total % |", "|---|---:|---:|"])
    lines.extend(f"| `{fn}` | {s:.1f} | {t:.1f} |" for fn, s, t in summary.top_python(12))
    return lines


def _profile_section(profiles: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Where sio's time goes (perf and py-spy)",
        "",
        "Two extra runs per scenario of the sio server, not part of the tables above, each profiled for "
        "exactly the measured window (the first one, WebSocket handshakes, for *storm*):",
        "",
        "- `perf record -F 999 -g` (on-CPU samples, kernel included: the true split of the server's CPU "
        "between the kernel, libpython, the Cython core, uvloop and orjson) with `perf stat` counting "
        "system calls on the `syscalls:sys_enter_*` tracepoints, divided by the operations of that run.",
        "- `py-spy record --nonblocking --format raw --rate 250` for Python-level attribution (Python "
        "frames only: a function's *self* time includes the C code it calls, `transport.write` and its "
        "system call included; *inclusive* leaves the event loop's own frames out). Not `--native`: that "
        "mode stops the process for every sample and put ~90 % of the echo samples inside `write` where "
        "perf measures ~60 %. Without stopping, py-spy may read a stack while it changes, so single "
        "self percentages are approximate; the inclusive ones are the useful part.",
        "",
        "On loopback, a `write` runs the receiving socket's TCP input path too (softirq in the writer's "
        "context, charged to the writer): the kernel share below is mostly the cost of one `write` per "
        "message, for every server.",
    ]
    for name, entry in profiles.items():
        lines.extend(["", f"### `{name}`", ""])
        if entry.get("perf"):
            lines.extend(_perf_lines(Path(entry["perf"]), entry.get("ops")))
            lines.append("")
        if entry.get("py_spy"):
            lines.extend(_py_spy_lines(Path(entry["py_spy"])))
    return lines


def kept_analysis(path: Path) -> str:
    """The hand-written analysis of an existing RESULTS.md (empty if none)."""
    if not path.exists():
        return ""
    text = path.read_text()
    start, end = text.find(ANALYSIS_START), text.find(ANALYSIS_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(ANALYSIS_START) : end].strip("\n")


def render(
    scenarios: Sequence[Scenario],
    records: Sequence[RunRecord],
    *,
    command: str,
    environment: Sequence[str],
    repetitions: int,
    profiles: dict[str, dict[str, Any]] | None = None,
    analysis: str = "",
) -> str:
    """The whole RESULTS.md."""
    tables = {s.name: Table(s, records) for s in scenarios}
    lines = [
        "# Load benchmarks: sio next to Node socket.io and python-socketio",
        "",
        f"Made by `{command}` (see `bench/load/run.py --help`). Every server ran in its own process "
        "pinned to CPU 0, the load generator (raw Engine.IO v4 / Socket.IO v5 over WebSocket on uvloop, "
        f"one process) pinned to CPU 1; each figure is the **median of {repetitions} runs "
        f"(min{DASH}max)**, runs interleaved server by server. CPU is `utime + stime` from "
        "`/proc/<pid>/stat` over the measured window (10 ms ticks), memory is `VmRSS`. Ratios are "
        "*times better than the reference* (throughput ÷ reference; reference ÷ cost for latency, CPU "
        "and memory): above 1 is better. A side is *saturated* at ≥ 85 % of a core; where the generator "
        "(or neither side) saturates, throughput is the generator's limit and the server's CPU per "
        "operation is the figure to compare.",
        "",
        "Environment: " + "; ".join(environment) + ".",
        "",
        "## Targets",
        "",
        "| target | sio (median) | met? |",
        "|---|---|---|",
    ]
    for check in check_targets(tables):
        met = "n/a" if check.met is None else "**yes**" if check.met else "**no**"
        lines.append(f"| {check.target} | {check.measured} | {met} |")
    lines.extend(["", "## Results", ""])
    for scenario in scenarios:
        if tables[scenario.name].records:
            lines.extend([tables[scenario.name].markdown(), ""])
    if profiles:
        lines.extend([*_profile_section(profiles), ""])
    lines.extend(["## Analysis", "", ANALYSIS_START, analysis or "_(none yet)_", ANALYSIS_END, ""])
    return "\n".join(lines)
