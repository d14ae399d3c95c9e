"""Run the load benchmarks and write bench/RESULTS.md.

From the repository root (the Python running this is the one the servers and the
generator use; node and npm are needed for Node's socket.io, installed on first use
with ``npm ci`` into bench/load/node/node_modules)::

    python bench/load/run.py                           # everything, 3 repetitions (~12 min)
    python bench/load/run.py --scenarios echo,storm -r 5 --duration 3
    python bench/load/run.py --servers sio,node --scale 0.1 --output /tmp/quick.md
    python bench/load/run.py --profile         # + perf and py-spy profiles of sio (2 runs per scenario)
    python bench/load/run.py --from-json bench/load/logs/last-run.json   # re-render a saved run

Scenarios: echo, latency, broadcast, storm, idle, asgi-echo, asgi-broadcast; the floods (one
attacker next to a bystander, bench/load/floods.py): flood-ping, flood-acks, flood-pipeline,
flood-handshakes, flood-burst, heartbeat; scale (19,000 idle sessions at the default heartbeat);
the cluster ones (cluster, cluster-sharded: two nodes on a redis-server); the --workers ones
(workers-echo, workers-broadcast, workers-polling, workers-polling-keepalive); recovery-echo,
recovery-broadcast, recovery-buffer; msgpack-echo, msgpack-broadcast; compression (compression.py):
deflate-echo, deflate-echo-small, deflate-broadcast, deflate-idle (permessage-deflate), and
polling-compression (gzip of polling answers).
Servers: sio, node, psio-uvicorn, psio-aiohttp, sio-asgi, sio-metrics (sio.metrics on),
sio-admin / sio-admin-dev (sio.admin in production / development mode), floor (idle
only: the least a ping costs),
sio-w2 (--workers 2, pinned to the server's core), sio-w2-free (the same, free to use both cores),
sio-recovery / node-recovery, sio-msgpack / node-msgpack, sio-deflate / node-deflate (permessage-deflate,
context takeover), sio-deflate-nct / node-deflate-nct (no context takeover), sio-nohttpcomp /
node-nohttpcomp (HTTP compression off), and sio-before when SIO_BEFORE names another checkout with a
built .venv (floods: before and after in the same run)::

    git worktree add /tmp/before <commit>
    (cd /tmp/before && python -m venv .venv && .venv/bin/pip install -e .)
    SIO_BEFORE=/tmp/before python bench/load/run.py --scenarios flood-acks,flood-burst
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadpeers import NODE_DIR, ROOT, SERVERS  # noqa: E402
from results import kept_analysis, render  # noqa: E402
from runner import RunRecord, profile_all, run_all, scenarios  # noqa: E402


def _node_versions() -> str:
    try:
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        return "node not installed"
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]
    versions = {
        name: lock.get(f"node_modules/{name}", {}).get("version", "?")
        for name in ("socket.io", "engine.io", "ws")
    }
    listed = ", ".join(f"{name} {version}" for name, version in versions.items())
    return f"node {node} ({listed})"


def environment() -> list[str]:
    """What the results depend on, in a few words each."""
    packages = [
        "python-socketio",
        "python-engineio",
        "uvicorn",
        "aiohttp",
        "starlette",
        "websockets",
        "uvloop",
        "httptools",
        "orjson",
    ]
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT, timeout=10
        ).stdout.strip()
    except OSError:
        commit = "?"
    load = Path("/proc/loadavg").read_text().split()[:3]
    return [
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        f"sio at {commit or '?'}",
        f"{cpu}, {len(os.sched_getaffinity(0))} CPUs (shared; load average {' '.join(load)} at start)",
        f"Python {platform.python_version()}",
        _node_versions(),
        ", ".join(versions),
    ]


def raise_fd_limit() -> None:
    """Open-file limit up to the hard limit, for us and (inherited) every child."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    all_scenarios = scenarios()
    parser.add_argument("--scenarios", default=",".join(all_scenarios), help="comma-separated (default: all)")
    parser.add_argument("--servers", default=None, help=f"comma-separated subset of {', '.join(SERVERS)}")
    parser.add_argument("-r", "--repetitions", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured window (default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply connection counts (default 1)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile sio with perf and py-spy (two extra runs per scenario)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--log-dir", type=Path, default=HERE / "logs", help="server logs, raw results, profiles"
    )
    parser.add_argument("--from-json", type=Path, help="only render a saved run")
    args = parser.parse_args(args_list)

    command = "python bench/load/run.py" + "".join(" " + shlex.quote(a) for a in args_list)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        selected = [scenarios(saved["duration"], saved["scale"])[n] for n in saved["scenarios"]]
        records = [RunRecord(**r) for r in saved["records"]]
        profiles = saved.get("profiles", {})
        command, env, repetitions = saved["command"], saved["environment"], saved["repetitions"]
    else:
        defined = scenarios(args.duration, args.scale)
        names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
        unknown = [n for n in names if n not in defined]
        if unknown:
            parser.error(f"unknown scenarios {unknown}; known: {', '.join(defined)}")
        servers = [s.strip() for s in args.servers.split(",")] if args.servers else None
        if servers and (bad := [s for s in servers if s not in SERVERS]):
            parser.error(f"unknown servers {bad}; known: {', '.join(SERVERS)}")
        selected = [defined[n] for n in names]
        raise_fd_limit()
        env = environment()
        repetitions = args.repetitions
        started = time.monotonic()
        records = run_all(selected, servers, repetitions, args.log_dir)
        profiles = profile_all(selected, args.log_dir / "profiles", args.log_dir) if args.profile else {}
        print(f"done in {time.monotonic() - started:.0f} s")
        saved_path = args.log_dir / "last-run.json"
        saved_path.write_text(
            json.dumps(
                {
                    "command": command,
                    "environment": env,
                    "repetitions": repetitions,
                    "duration": args.duration,
                    "scale": args.scale,
                    "scenarios": names,
                    "records": [r.as_dict() for r in records],
                    "profiles": profiles,
                },
                indent=1,
            )
        )
        print(f"raw results: {saved_path}")
    text = render(
        selected,
        records,
        command=command,
        environment=env,
        repetitions=repetitions,
        profiles=profiles,
        analysis=kept_analysis(args.output),
    )
    args.output.write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
