"""The real reference peers the tests run against: node with the official npm clients.

``tests/js/package.json`` and its ``package-lock.json`` pin the clients; they are
installed with ``npm ci`` into ``tests/js/node_modules`` on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).parent / "js"
EVENT_TIMEOUT = 15.0  # a hang guard only: every wait below ends on an event


def require_node() -> str:
    """Return the path of node; skip the test without it, except in CI where that is a failure."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI (the JavaScript reference peer) but is not installed")
        pytest.skip("node is not installed: the JavaScript reference checks cannot run here")
    return node


def ensure_js_peers() -> str:
    """Install the pinned npm clients if needed; return the node executable."""
    node = require_node()
    lock = JS_DIR / "package-lock.json"
    stamp = JS_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install the JavaScript test clients")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR, check=True, timeout=300
        )
    return node


class NodePeer:
    """A node script speaking JSON lines: commands on stdin, events on stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []  # every event seen, in order

    @classmethod
    async def start(cls, script: str, *args: str) -> NodePeer:
        """Run ``tests/js/<script>`` with ``args``."""
        node = ensure_js_peers()
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / script),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=JS_DIR,
        )
        return cls(process)

    def command(self, cmd: str, **fields: Any) -> None:
        """Send one command."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())

    async def next_event(self) -> dict[str, Any]:
        """The next event the peer reports."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), EVENT_TIMEOUT)
        if not line:
            raise AssertionError(f"the node peer exited; events so far: {self.events}")
        event = json.loads(line)
        self.events.append(event)
        return event

    async def expect(self, name: str, /, **fields: Any) -> dict[str, Any]:
        """Wait for the next event called ``name`` (skipping others) and check its fields."""
        while True:
            event = await self.next_event()
            if event["event"] == name:
                for key, value in fields.items():
                    assert event.get(key) == value, f"{name}.{key}: {event} (all events: {self.events})"
                return event

    def seen(self, name: str) -> list[dict[str, Any]]:
        """Events called ``name`` seen so far."""
        return [e for e in self.events if e["event"] == name]

    async def stop(self) -> None:
        """End the node process."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
