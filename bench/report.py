"""Run sio's micro-benchmarks and print a Markdown table pairing sio with its references.

Usage (from the repository root)::

    .venv/bin/python bench/report.py                     # run, then report
    .venv/bin/python bench/report.py --json r.json       # run, keep the JSON
    .venv/bin/python bench/report.py --from-json r.json  # report a saved run

Extra arguments after ``--`` go to pytest (e.g. ``-- -k frame``). Times are the
median per operation; the ratio is reference / sio (higher is better for sio);
a target is met when that raw ratio reaches it. Every call pytest-benchmark times
also pays the harness's own call overhead (the "0 harness" benchmark), which is
the same on both sides and shrinks the ratio of fast operations; the "net" ratio
subtracts it from both times and is shown for information.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PYTEST_OPTIONS = [
    "--benchmark-enable",  # pyproject's addopts has --benchmark-disable
    "--benchmark-only",
    "--benchmark-warmup=on",
    "--benchmark-min-time=0.0001",  # rounds of >= 100 us: timer resolution does not matter
    "--benchmark-sort=name",
    "-q",
]


def run_benchmarks(json_path: Path, pytest_args: list[str]) -> None:
    """Run ``pytest bench/`` with benchmarks enabled, writing pytest-benchmark's JSON."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "bench/",
        *PYTEST_OPTIONS,
        f"--benchmark-json={json_path}",
        *pytest_args,
    ]
    print("$ " + " ".join(command), file=sys.stderr)
    # pytest's own output (its grouped tables) goes to stderr; the Markdown to stdout.
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=sys.stderr, check=False)
    if result.returncode != 0:
        sys.exit(f"pytest failed with exit code {result.returncode}")


def format_time(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits readable."""
    if seconds < 1e-8:
        return f"{seconds * 1e9:.3f} ns"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e3:.2f} ms"


HARNESS_GROUP = "0 harness: empty function call"


def per_op(bench: dict[str, Any], harness: float = 0.0) -> float:
    """Median time of one operation (batched benchmarks divide by their ``ops``).

    ``harness`` (the cost of one timed call of an empty function) is subtracted
    from the time of the call, before dividing by the number of operations.
    """
    return (bench["stats"]["median"] - harness) / bench["extra_info"].get("ops", 1)


def build_tables(data: dict[str, Any]) -> str:
    """Markdown for the comparisons (sio vs each reference) and the sio-only measurements."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)

    harness = groups[HARNESS_GROUP][0]["stats"]["median"] if HARNESS_GROUP in groups else 0.0
    compare = [
        "| case | reference | sio / op | reference / op | ratio (ref / sio) | net of harness "
        "| target | met? |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    alone = ["| measurement | per op | note |", "|---|---:|---|"]
    for group in sorted(groups):
        benches = groups[group]
        sio = [b for b in benches if b["extra_info"].get("side") == "sio"]
        refs = [b for b in benches if b["extra_info"].get("side") == "ref"]
        if len(sio) != 1:
            raise SystemExit(f"group {group!r} needs exactly one sio benchmark, found {len(sio)}")
        sio_time = per_op(sio[0])
        if not refs:
            note = ""
            armed = sio[0]["extra_info"].get("armed")
            if armed:
                note = f"{format_time(sio_time / armed)} per armed timer"
            alone.append(f"| {group} | {format_time(sio_time)} | {note} |")
            continue
        for ref in sorted(refs, key=lambda b: b["extra_info"]["label"]):
            ref_time = per_op(ref)
            ratio = ref_time / sio_time
            net = per_op(ref, harness) / per_op(sio[0], harness)
            target = ref["extra_info"].get("target")
            if target:
                verdict = "yes" if ratio >= target else f"**no** ({ratio / target:.0%} of target)"
                target_text = f"≥{target:g}x"
            else:
                verdict, target_text = "n/a", "—"
            compare.append(
                f"| {group} | {ref['extra_info']['label']} | {format_time(sio_time)} | "
                f"{format_time(ref_time)} | {ratio:.1f}x | {net:.1f}x | {target_text} | {verdict} |"
            )
    machine = data.get("machine_info", {})
    header = (
        f"Python {machine.get('python_version', '?')} on {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{data.get('datetime', '?')}; median time per operation."
    )
    return "\n".join([header, "", *compare, "", *alone])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", type=Path, help="report this saved run instead of running pytest")
    parser.add_argument("--json", type=Path, help="where to keep the JSON of a new run")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    if args.from_json:
        json_path = args.from_json
    else:
        if args.json:
            json_path = args.json.resolve()
        else:
            handle, name = tempfile.mkstemp(suffix=".json", prefix="sio-bench-")
            os.close(handle)
            json_path = Path(name)
        run_benchmarks(json_path, args.pytest_args)
    data = json.loads(json_path.read_text())
    if not args.from_json and not args.json:
        json_path.unlink()
    print(build_tables(data))


if __name__ == "__main__":
    main()
