"""A server process started for a test (``python -m sio run ...``), its output collected line by line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path
from typing import TypeVar

from tests.peers import EVENT_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
P = TypeVar("P", bound="OutputProcess")


class OutputProcess:
    """A subprocess whose stdout and stderr lines are kept in ``lines``, awaitable by pattern."""

    @classmethod
    async def python(cls: type[P], *args: str, env: dict[str, str] | None = None) -> P:
        """``python *args`` in the repository (unbuffered, the repository importable), ``env`` added."""
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._readers = [
            asyncio.ensure_future(self._collect(stream)) for stream in (process.stdout, process.stderr)
        ]

    async def _collect(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()

    async def wait_line(self, pattern: re.Pattern[str] | str, limit: float = EVENT_TIMEOUT) -> re.Match[str]:
        """The first output line (seen or to come) matching ``pattern``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found() -> re.Match[str] | None:
            return next((m for m in map(regex.search, self.lines) if m), None)

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: found() or self.process.returncode is not None), limit
                )
        match = found()
        if match is None:
            raise AssertionError(f"no line matching {regex.pattern!r}; output:\n" + "\n".join(self.lines))
        return match

    async def stop(self, sig: int | None = signal.SIGTERM, limit: float = 60) -> int:
        """Signal it (unless ``sig`` is None); its exit code once it and its output ended."""
        if sig is not None and self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), limit)
        await asyncio.gather(*self._readers)
        return code
