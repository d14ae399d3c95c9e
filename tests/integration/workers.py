"""Driving ``python -m sio run ... --workers N`` and a crowd of official clients (tests/js/crowd_peer.js)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from tests.integration.processes import OutputProcess
from tests.peers import NodePeer

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.workers_app:io"
_LISTENING = re.compile(
    r"listening on http://127\.0\.0\.1:(\d+)/ \(Socket\.IO at /socket\.io/\) "
    r"with (\d+) workers \(pids ([\d ]+)\)"
)


class Workers(OutputProcess):
    """A supervisor with its workers, started for a test; its output collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__(process)
        self.port = 0
        self.pids: list[int] = []

    @classmethod
    async def start(cls, count: int | str, *args: str, env: dict[str, str] | None = None) -> Workers:
        """Start ``count`` workers of the test app on a free port; return once all listen."""
        process = await asyncio.create_subprocess_exec(
            *cls.command(count, "--port", "0", *args),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        workers = cls(process)
        match = await workers.wait_line(_LISTENING, limit=30)
        workers.port = int(match[1])
        workers.pids = [int(pid) for pid in match[3].split()]
        return workers

    @staticmethod
    def command(count: int | str, *args: str) -> list[str]:
        """The command line of the test app with ``count`` workers (later ``--port`` wins)."""
        return [sys.executable, "-m", "sio", "run", APP, "--workers", str(count), *args]

    @property
    def url(self) -> str:
        """The base URL of the shared port."""
        return f"http://127.0.0.1:{self.port}"

    async def kill(self) -> None:
        """End everything at once (test clean-up): the supervisor's process group is its own."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for reader in self._readers:
            reader.cancel()


class Crowd:
    """``count`` official socket.io-client sockets in one node process."""

    _refs = itertools.count(1)

    def __init__(self, node: NodePeer, count: int) -> None:
        self.node = node
        self.count = count

    @classmethod
    async def start(cls, node_peers: Any, url: str, count: int, **options: Any) -> Crowd:
        """Start the crowd; every socket connects at once."""
        node = await node_peers("crowd_peer.js", url, json.dumps({"count": count, **options}))
        return cls(node, count)

    async def connected(self) -> list[dict[str, Any]]:
        """Wait until every socket connected; their ``connect`` events, by index."""
        events: dict[int, dict[str, Any]] = {e["i"]: e for e in self.node.seen("connect")}
        while len(events) < self.count:
            event = await self.node.next_event()
            if event["event"] == "connect_error":
                raise AssertionError(f"client {event['i']} failed to connect: {event}")
            if event["event"] == "connect":
                events[event["i"]] = event
        return [events[i] for i in range(self.count)]

    async def call(self, name: str, *args: Any, to: list[int] | None = None) -> dict[int, list[Any]]:
        """Emit ``name`` with an ack from each socket (or those in ``to``); their answers, by index."""
        answers = await self.call_raw(name, *args, to=to)
        failed = {i: a for i, a in answers.items() if "error" in a}
        assert not failed, f"acks failed: {failed}"
        return {i: a["args"] for i, a in answers.items()}

    async def call_raw(self, name: str, *args: Any, to: list[int] | None = None) -> dict[int, dict[str, Any]]:
        """As :meth:`call`, each answer as ``{"args": [...]}`` or ``{"error": "..."}`` (ack timeout)."""
        ref = next(self._refs)
        self.node.command("call", ref=ref, name=name, args=list(args), to=to)
        event = await self.node.expect("acks", ref=ref)
        return {int(i): answer for i, answer in event["answers"].items()}

    def emit(self, name: str, *args: Any, to: list[int] | None = None) -> None:
        """Emit without ack."""
        self.node.command("emit", name=name, args=list(args), to=to)

    async def query(self, what: str) -> dict[str, Any]:
        """The crowd's ``pool`` or ``state`` report."""
        self.node.command(what)
        return await self.node.expect(what)

    def events(self, name: str) -> list[tuple[int, list[Any]]]:
        """(client index, arguments) of every server event ``name`` seen so far."""
        return [(e["i"], e["args"]) for e in self.node.seen("event") if e["name"] == name]

    async def until(self, kind: str, condition: Any) -> None:
        """Read events until ``condition(events of kind)`` holds."""
        while not condition(self.node.seen(kind)):
            await self.node.next_event()
