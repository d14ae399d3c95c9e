"""The load generator process: runs one scenario against one server and prints its figures.

Usage: ``python generator.py '{"scenario": "echo", "host": "127.0.0.1", "port": 3000,
"server_pid": 1234, "sources": [...], "params": {...}}'``

It runs on uvloop, prints ``RESULT <json>`` and then keeps its connections open
until its standard input closes: the harness stops the server first, so the
server closes the connections and no TIME_WAIT piles up on the client side.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from typing import Any

import uvloop
from compression import COMPRESSION_SCENARIOS
from floods import FLOOD_SCENARIOS
from procstat import Window
from scale import run_scale
from scenarios import SCENARIOS, Target

RESULT_PREFIX = "RESULT "


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def run(config: dict[str, Any]) -> None:
    """Run the configured scenario, print its figures, then wait for standard input to close."""
    target = Target(
        host=config["host"],
        port=config["port"],
        server_pid=config["server_pid"],
        sources=tuple(config.get("sources") or ("127.0.0.1",)),
    )
    scenario = {**SCENARIOS, **FLOOD_SCENARIOS, **COMPRESSION_SCENARIOS, "scale": run_scale}[
        config["scenario"]
    ]
    Window.announce = bool(config.get("announce_windows"))
    gc.freeze()  # what exists now is never garbage: keep it out of the collector's way
    started = time.perf_counter()
    try:
        result = await scenario(target, **config.get("params", {}))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    health = target.health
    result.update({"lost": health.lost, "failed": health.failed, "errors": health.errors})
    result["generator_wall_s"] = time.perf_counter() - started
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    config = json.loads(sys.argv[1])
    raise_fd_limit()
    uvloop.run(run(config))


if __name__ == "__main__":
    main()
