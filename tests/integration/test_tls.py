"""TLS on the built-in front end: HTTPS and WSS with a certificate made in the test (trustme).

Peers: the official socket.io-client (node, trusting the test's CA) over polling and WebSocket,
the python-socketio client (aiohttp, trusting it too), a plain-HTTP client on the TLS port, and
``python -m sio run --ssl-certfile/--ssl-keyfile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
import trustme

import sio
from tests.integration.siopeer import SioPeer
from tests.integration.test_sio_js_client import MODES, Seen

ROOT = Path(__file__).resolve().parents[2]
HANDSHAKE = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    """A certificate authority made for the test; its certificate for 127.0.0.1."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def echo_setup(seen: Seen):
    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            seen.put("connection", socket)

            @socket.on("echo")
            def echo(*args: Any) -> None:
                *data, ack = args
                ack(*data)

    return setup


@pytest.fixture
async def tls_server(server_context: ssl.SSLContext) -> AsyncIterator[tuple[sio.Server, int, Seen]]:
    seen = Seen()
    io = sio.Server()
    echo_setup(seen)(io)
    server = await io.serve("127.0.0.1", 0, ssl=server_context)
    yield io, server.sockets[0].getsockname()[1], seen
    await io.close()


@pytest.mark.parametrize("mode", ["polling", "websocket", "upgrade"])
async def test_the_official_client_over_https_and_wss(
    tls_server: tuple[sio.Server, int, Seen], node_peers: Any, authority: trustme.CA, mode: str
) -> None:
    _, port, seen = tls_server
    ca = authority.cert_pem.bytes().decode()
    peer = await SioPeer.start(node_peers, f"https://127.0.0.1:{port}", transports=MODES[mode], ca=ca)
    connected = await peer.connect()
    assert connected["event"] == "connect"
    socket: sio.Socket = await seen.get("connection")
    assert socket.handshake.secure is True
    ack = await peer.call("echo", "over tls", {"n": 1})
    assert ack["args"] == ["over tls", {"n": 1}]


async def test_the_official_client_refuses_a_certificate_it_does_not_trust(
    tls_server: tuple[sio.Server, int, Seen], node_peers: Any
) -> None:
    _, port, _ = tls_server
    peer = await SioPeer.start(node_peers, f"https://127.0.0.1:{port}", transports=["websocket"])
    refused = await peer.connect()
    assert refused["event"] == "connect_error"


async def test_the_python_socketio_client_over_tls(
    tls_server: tuple[sio.Server, int, Seen], client_context: ssl.SSLContext
) -> None:
    _, port, seen = tls_server
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_context))
    client = socketio.AsyncClient(http_session=session)
    try:
        await client.connect(f"https://127.0.0.1:{port}", transports=["polling", "websocket"])
        socket: sio.Socket = await seen.get("connection")
        assert socket.handshake.secure is True
        assert await client.call("echo", "hello", timeout=10) == "hello"
    finally:
        await client.disconnect()
        await session.close()


async def test_plain_http_on_the_tls_port_is_refused_cleanly(
    tls_server: tuple[sio.Server, int, Seen], client_context: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    _, port, _ = tls_server
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)  # the server closes: no HTTP answer in clear
    assert not answer.startswith(b"HTTP/")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # ... and the server goes on serving TLS.
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
    writer.write(HANDSHAKE)
    response = await asyncio.wait_for(reader.read(), 10)
    assert response.startswith(b"HTTP/1.1 200") and b'"sid"' in response
    writer.close()


def test_tls_with_several_workers_is_refused_with_a_clear_error(server_context: ssl.SSLContext) -> None:
    with pytest.raises(sio.InvalidOption, match="terminate TLS in front"):
        sio.Server().listen(0, workers=2, ssl=server_context)


async def sio_run(*args: str) -> asyncio.subprocess.Process:
    """``python -m sio run`` of the test app with ``args``, its stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sio",
        "run",
        "tests.integration.workers_app:io",
        *args,
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_python_m_sio_run_serves_https_with_uvicorns_flags(
    authority: trustme.CA, client_context: ssl.SSLContext, tmp_path: Path
) -> None:
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await sio_run(
        "--port", str(port), "--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)
    )
    assert process.stderr is not None
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            assert line, "the server exited"
            if "listening on" in line:
                break
        assert f"listening on https://127.0.0.1:{port}/ (Socket.IO at /socket.io/" in line
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        response = await asyncio.wait_for(reader.read(), 10)
        assert response.startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        process.terminate()
        await process.wait()


async def test_python_m_sio_run_with_an_unreadable_certificate_is_one_message(tmp_path: Path) -> None:
    process = await sio_run("--ssl-certfile", str(tmp_path / "missing.pem"))
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert b"cannot load the TLS certificate" in err and b"Traceback" not in err
