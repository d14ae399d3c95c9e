"""``python -m sio run`` as an operator meets it: the start line, a port in use, SIGTERM, debug
logs, a top-level ``io.listen()`` in the app, proxy headers; and ``listen()`` inside a running loop.

The server is a real process (tests/integration/deploy_app.py) driven by the python-socketio
client and raw HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket as socket_module
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import socketio

import sio
from sio.runner import ListenInRunningLoop
from tests.integration.processes import OutputProcess
from tests.integration.rawclient import request

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.deploy_app:io"
TIMEOUT = 30.0
LISTENING = re.compile(
    r"listening on http://127\.0\.0\.1:(\d+)/ "
    r"\(Socket\.IO at /socket\.io/, transports polling, websocket; Ctrl-C to stop\)"
)


class Process(OutputProcess):
    """``python -m sio run`` of the deployment app."""

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Process:
        return await cls.python("-m", "sio", "run", APP, *args, env=env)

    async def line(self, pattern: re.Pattern[str] | str) -> re.Match[str]:
        return await self.wait_line(pattern, TIMEOUT)

    async def port(self) -> int:
        return int((await self.line(LISTENING))[1])

    async def finish(self, sig: int | None = None) -> int:
        """Signal it (if given) and return its exit code once it and its output ended."""
        return await self.stop(sig, TIMEOUT)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()
        with contextlib.suppress(Exception):
            await process.finish()


async def _run(processes: list[Process], *args: str, env: dict[str, str] | None = None) -> Process:
    process = await Process.start("--port", "0", *args, env=env)
    processes.append(process)
    return process


async def _client(
    port: int, headers: dict[str, str] | None = None, transport: str = "polling"
) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(f"http://127.0.0.1:{port}", transports=[transport], headers=headers or {})
    return client


def _free_port() -> int:
    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_start_line_names_the_app_url_and_sigterm_closes_gracefully(processes) -> None:
    server = await _run(processes)
    port = await server.port()
    client = await _client(port)
    sid = client.get_sid()
    assert sid is not None
    assert await server.finish(signal.SIGTERM) == 0
    assert f"disconnect {sid} server shutting down" in server.lines
    assert not [line for line in server.lines if "Traceback" in line]


async def test_a_port_in_use_is_one_line_and_exit_code_1(processes) -> None:
    first = await _run(processes)
    port = await first.port()
    second = await Process.start("--port", str(port))
    processes.append(second)
    assert await second.finish() == 1
    errors = [line for line in second.lines if "cannot listen" in line]
    assert errors == [f"cannot listen on 127.0.0.1:{port}: address already in use"], second.lines
    assert not [line for line in second.lines if "Traceback" in line], second.lines


async def test_a_top_level_listen_in_the_app_is_skipped_with_a_warning(processes) -> None:
    other = _free_port()
    server = await _run(processes, env={"SIO_TEST_LISTEN_AT_IMPORT": str(other)})
    port = await server.port()
    warning = await server.line(r"WARNING .*called listen\((\d+)\) while `python -m sio run` imports it")
    assert int(warning[1]) == other
    client = await _client(port)
    assert await client.call("whoami") == ("127.0.0.1", False)
    await client.disconnect()
    with pytest.raises(OSError):  # nothing listens on the port the module asked for
        await asyncio.open_connection("127.0.0.1", other)


async def test_debug_logs_connections_disconnections_and_refusals(processes) -> None:
    server = await _run(processes, "--log-level", "debug")
    port = await server.port()
    # Over WebSocket: python-socketio's disconnect over polling can be lost to its own race (its
    # DISCONNECT POST cut by the engine close), leaving the server to time the session out.
    client = await _client(port, transport="websocket")
    sid = client.get_sid()
    await server.line(
        rf"DEBUG socket {re.escape(sid or '?')} connected to / from 127\.0\.0\.1 over websocket"
    )
    await client.disconnect()
    await server.line(
        rf"DEBUG socket {re.escape(sid or '?')} left /: (client namespace disconnect|transport close)"
    )
    refused = await request(port, "GET", "/socket.io/?EIO=4&transport=carrier-pigeon")
    assert refused.status == 400
    await server.line(r"DEBUG refused GET /socket\.io/ from 127\.0\.0\.1: Transport unknown \(code 0\)")
    assert not [line for line in server.lines if "carrier-pigeon" in line and "socket " in line]


async def test_proxy_headers_from_a_trusted_proxy(processes) -> None:
    server = await _run(processes, "--proxy-headers")
    port = await server.port()
    forwarded = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
    client = await _client(port, forwarded)
    assert await client.call("whoami") == ("203.0.113.7", True)
    await client.disconnect()
    # Without the flag the headers are not believed.
    plain = await _run(processes)
    client = await _client(await plain.port(), forwarded)
    assert await client.call("whoami") == ("127.0.0.1", False)
    await client.disconnect()


async def test_proxy_headers_from_an_untrusted_peer_are_ignored(processes) -> None:
    server = await _run(processes, "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8")
    client = await _client(await server.port(), {"X-Forwarded-For": "203.0.113.7"})
    assert await client.call("whoami") == ("127.0.0.1", False)
    await client.disconnect()


async def test_listen_inside_a_running_loop_points_to_serve() -> None:
    io = sio.Server()
    with pytest.raises(ListenInRunningLoop, match=r"await io\.serve\(host, port\)"):
        io.listen(_free_port())
    assert isinstance(ListenInRunningLoop("x"), sio.SioError)


def test_the_cli_refuses_a_bad_forwarded_allow_ips(capsys: pytest.CaptureFixture[str]) -> None:
    from sio.__main__ import main

    with pytest.raises(SystemExit, match=r"--forwarded-allow-ips: .*'not-an-ip' is not an IP address"):
        main(["run", APP, "--proxy-headers", "--forwarded-allow-ips", "not-an-ip"])
    assert "Traceback" not in capsys.readouterr().err
