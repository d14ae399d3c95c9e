"""Helpers of the sio.compat.socketio tests: ASGI apps under uvicorn, the python-socketio client, the
examples copied from python-socketio (tests/compat/examples)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import socketio
import uvicorn

from tests.integration.rawclient import bounded

EXAMPLES = Path(__file__).resolve().parents[1] / "compat" / "examples"


@contextlib.asynccontextmanager
async def uvicorn_app(app: Any, lifespan: str = "on") -> AsyncIterator[tuple[str, int]]:
    """Serve an ASGI app on a free loopback port in this loop; yield its URL and port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop="none", lifespan=lifespan, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    started = asyncio.Event()
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    done, _ = await asyncio.wait({task, asyncio.ensure_future(started.wait())}, return_when="FIRST_COMPLETED")
    if task in done:
        task.result()  # it failed to start: raise why
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        await bounded(task)


def load_example(name: str) -> ModuleType:
    """Import one of the copied examples (file names like fastapi-fiddle.py are no module names)."""
    path = EXAMPLES / name
    spec = importlib.util.spec_from_file_location("compat_example_" + path.stem.replace("-", "_"), path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def example_process(target: str) -> AsyncIterator[tuple[str, int, ExampleOutput]]:
    """Run ``uvicorn <target>`` (an example module:app) as a process in the examples directory."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        "-m",
        "uvicorn",
        "--port",
        str(port),
        "--log-level",
        "info",
        target,
        cwd=EXAMPLES,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = ExampleOutput(process)
    try:
        await output.expect(f"Uvicorn running on http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}", port, output
    finally:
        if process.returncode is None:
            process.terminate()
        await bounded(process.wait())


class ExampleOutput:
    """The lines an example process prints (its own prints and uvicorn's log)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def expect(self, text: str) -> str:
        """Read lines until one contains ``text``; return it."""
        for line in self.lines:
            if text in line:
                return line
        assert self.process.stdout is not None
        while True:
            raw = await bounded(self.process.stdout.readline())
            assert raw, f"the example exited; it printed: {self.lines}"
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if text in line:
                return line


class PyClient:
    """python-socketio's AsyncClient, every event it receives queued as ``(namespace, event, args)``."""

    def __init__(self, **options: Any) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, **options)
        self.received: asyncio.Queue[tuple[str, str, tuple[Any, ...]]] = asyncio.Queue()
        self.seen: list[tuple[str, str, tuple[Any, ...]]] = []
        self.disconnects: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_errors: list[Any] = []

    async def connect(
        self,
        url: str,
        namespaces: list[str] | None = None,
        auth: Any = None,
        transports: list[str] | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        """Connect to ``namespaces`` (``/`` by default) over ``transports`` (WebSocket by default)."""
        for namespace in namespaces or ["/"]:
            self._listen(namespace)
        await self.sio.connect(
            url,
            namespaces=namespaces or ["/"],
            auth=auth,
            transports=transports or ["websocket"],
            headers=headers or {},
            wait_timeout=10,
            **options,
        )

    def _listen(self, namespace: str) -> None:
        async def any_event(event: str, *args: Any) -> None:
            self.received.put_nowait((namespace, event, args))

        def disconnected(*why: Any) -> None:
            self.disconnects.put_nowait((namespace, why[0] if why else None))

        self.sio.on("*", any_event, namespace=namespace)
        self.sio.on("disconnect", disconnected, namespace=namespace)
        self.sio.on("connect_error", self.connect_errors.append, namespace=namespace)

    async def event(self, name: str, namespace: str = "/") -> tuple[Any, ...]:
        """The arguments of the next ``name`` event in ``namespace`` (others are kept in ``seen``)."""
        while True:
            item = await bounded(self.received.get())
            self.seen.append(item)
            if item[0] == namespace and item[1] == name:
                return item[2]

    def events(self, name: str, namespace: str = "/") -> list[tuple[Any, ...]]:
        """Every ``name`` event seen so far."""
        return [args for nsp, event, args in self.seen if nsp == namespace and event == name]

    async def disconnect(self) -> None:
        """Disconnect, once the client's queue has left (python-engineio may drop it otherwise)."""
        if self.sio.eio.queue is not None:
            await bounded(self.sio.eio.queue.join())
        await self.sio.disconnect()
