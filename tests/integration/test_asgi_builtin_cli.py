"""``python -m sio run app:io --asgi app:api``: a FastAPI app and Socket.IO on one port, as a process.

The app is tests/integration/fastapi_app.py; its lifespan prints ``startup <pid>`` and
``shutdown <pid> sockets <n>``. Driven by httpx and the python-socketio client.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import socketio

from tests.integration.processes import OutputProcess
from tests.integration.rawclient import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.fastapi_app"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/ \(Socket\.IO at /socket\.io/")
LISTENING_WORKERS = re.compile(
    r"listening on http://127\.0\.0\.1:(\d+)/ .* with (\d+) workers \(pids ([\d ]+)\)"
)
LIMIT = 30.0


class Process(OutputProcess):
    """``python -m sio run tests.integration.fastapi_app:io --asgi ...:api --port 0 ...``."""

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Process:
        run = ("-m", "sio", "run", f"{APP}:io", "--asgi", f"{APP}:api", "--port", "0")
        return await cls.python(*run, *args, env=env)


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.process.returncode is None:
            process.process.kill()
        with contextlib.suppress(Exception):
            await process.stop(None, LIMIT)


async def _run(processes: list[Process], *args: str, env: dict[str, str] | None = None) -> Process:
    process = await Process.start(*args, env=env)
    processes.append(process)
    return process


async def _sio_client(port: int) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(f"http://127.0.0.1:{port}", transports=["polling", "websocket"], wait_timeout=10)
    return client


async def test_fastapi_and_socketio_on_one_port_and_sigterm_runs_the_shutdown(processes) -> None:
    server = await _run(processes)
    port = int((await server.wait_line(LISTENING, LIMIT))[1])
    startup = await server.wait_line(r"^startup (\d+)$", LIMIT)
    pid = int(startup[1])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as http:
        response = await http.get("/pid")
        assert response.json() == {"pid": pid, "root_path": "", "path": "/pid"}
        assert (await http.get("/nowhere")).json() == {"detail": "Not Found"}  # FastAPI's own
    client = await _sio_client(port)
    assert await client.call("echo", "hello", timeout=10) == "hello"
    sid = client.get_sid()
    assert await server.stop(signal.SIGTERM, LIMIT) == 0
    # The app shut down while the Socket.IO socket was still connected, then the socket was closed.
    shutdown = server.lines.index(f"shutdown {pid} sockets 1")
    assert server.lines.index(f"disconnect {sid} server shutting down") > shutdown
    assert not [line for line in server.lines if "Traceback" in line], server.lines
    await client.disconnect()


async def test_root_path_from_the_command_line(processes) -> None:
    server = await _run(processes, "--root-path", "/api")
    port = int((await server.wait_line(LISTENING, LIMIT))[1])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as http:
        body = (await http.get("/pid")).json()
    assert (body["root_path"], body["path"]) == ("/api", "/api/pid")


async def test_a_failed_startup_is_one_line_and_exit_code_1(processes) -> None:
    server = await _run(processes, env={"SIO_TEST_FAIL_STARTUP": "1"})
    assert await server.stop(None, LIMIT) == 1
    assert "the ASGI application's startup failed: RuntimeError: the database is not there" in server.lines
    assert not [line for line in server.lines if LISTENING.search(line)]


async def test_two_workers_each_run_the_lifespan_and_serve(processes) -> None:
    server = await _run(processes, "--workers", "2")
    match = await server.wait_line(LISTENING_WORKERS, LIMIT)
    port = int(match[1])
    pids = {int(pid) for pid in match[3].split()}
    assert len(pids) == 2
    started = {int(m[1]) for m in map(re.compile(r"^\[?.*startup (\d+)$").search, server.lines) if m}
    assert started == pids  # each worker ran the startup before it reported ready
    # Fresh connections are spread over the workers by the kernel (SO_REUSEPORT): both answer.
    seen: set[int] = set()
    for _ in range(200):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as http:
            seen.add((await http.get("/pid")).json()["pid"])
        if seen == pids:
            break
    assert seen == pids
    client = await _sio_client(port)  # its requests reach its session's worker, whichever it lands on
    for n in range(5):
        assert await client.call("echo", n, timeout=10) == n
    await client.disconnect()
    assert await server.stop(signal.SIGTERM, LIMIT) == 0
    stopped = {int(m[1]) for m in map(re.compile(r"shutdown (\d+) sockets").search, server.lines) if m}
    assert stopped == pids


async def test_a_worker_whose_startup_fails_stops_them_all(processes) -> None:
    server = await _run(processes, "--workers", "2", env={"SIO_TEST_FAIL_STARTUP": "1"})
    assert await server.stop(None, LIMIT) == 1
    assert [line for line in server.lines if "the database is not there" in line and "worker" in line]
