"""The chat example and ``python -m sio run``, driven by the official socket.io-client."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import socket as socketlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.rawclient import bounded, request
from tests.integration.siopeer import SioPeer
from tests.peers import require_node

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "chat"


def ensure_chat_client() -> None:
    """Install the browser client the chat page serves (as ./scripts/chat does)."""
    require_node()
    if not (CHAT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js").exists():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed for the chat example"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CHAT, check=True, timeout=300
        )


@pytest.fixture
def chat_io():
    ensure_chat_client()
    module = importlib.reload(importlib.import_module("examples.chat.app"))
    return module.io


async def test_chat_rooms_nicknames_typing_and_disconnect_notices(
    serve, node_peers, chat_io, frontend
) -> None:
    running = await serve(chat_io)
    alice = await SioPeer.start(node_peers, running.url, transports=["websocket"])
    bob = await SioPeer.start(node_peers, running.url, transports=["polling", "websocket"])
    await alice.connect("/", auth={"nickname": "alice"})
    assert await alice.event("welcome") == [{"nickname": "alice", "room": "lobby"}]
    await bob.connect("/", auth={"nickname": "bob"})
    assert await bob.event("welcome") == [{"nickname": "bob", "room": "lobby"}]
    assert await alice.event("notice") == ["bob joined lobby"]

    alice.emit("message", "  hello bob  ")
    assert await bob.event("message") == [{"from": "alice", "text": "hello bob"}]
    assert await alice.event("message") == [{"from": "alice", "text": "hello bob"}]
    alice.emit("typing", True)
    assert await bob.event("typing") == [{"nickname": "alice", "active": True}]

    renamed = await bob.call("nickname", "robert")
    assert renamed["args"] == ["robert"]
    assert await alice.event("notice") == ["bob is now robert"]
    moved = await bob.call("join", "games")
    assert moved["args"] == ["games"]
    assert await alice.event("notice") == ["robert left lobby"]
    alice.emit("message", "anyone?")
    assert await alice.event("message") == [{"from": "alice", "text": "anyone?"}]
    assert [args for args in bob.events("message") if args[0]["text"] == "anyone?"] == []

    await bob.call("join", "lobby")
    assert await alice.event("notice") == ["robert joined lobby"]
    bob.emit("typing", True)  # and leaves while typing: the others must not see it typing forever
    assert await alice.event("typing") == [{"nickname": "robert", "active": True}]
    bob.command("disconnect")
    assert await alice.event("typing") == [{"nickname": "robert", "active": False}]
    assert await alice.event("notice") == ["robert left (client namespace disconnect)"]
    if frontend == "uvloop":  # static files are served by the built-in front end
        page = await request(running.port, "GET", "/")
        assert page.status == 200
        assert b"<title>sio chat</title>" in page.body
        bundle = await request(running.port, "GET", "/socket.io.min.js")
        assert bundle.status == 200
        assert bundle.headers["content-type"] == "application/javascript"
        assert (await request(running.port, "GET", "/static/../app.py")).status == 404


def free_port() -> int:
    with socketlib.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_python_dash_m_sio_run_serves_the_chat(node_peers) -> None:
    ensure_chat_client()
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sio",
        "run",
        "examples.chat.app:io",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        started = f"listening on http://127.0.0.1:{port}/ (Socket.IO at /socket.io/"
        while not any(started in line for line in lines):
            line = (await bounded(process.stdout.readline())).decode()
            assert line, f"the server exited: {lines}"
            lines.append(line)
        peer = await SioPeer.start(node_peers, f"http://127.0.0.1:{port}", transports=["websocket"])
        assert (await peer.connect("/", auth={"nickname": "cli"}))["event"] == "connect"
        assert await peer.event("welcome") == [{"nickname": "cli", "room": "lobby"}]
    finally:
        process.terminate()
        await process.wait()


def test_python_dash_m_sio_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sio", "run", "--help"], capture_output=True, text=True, check=True, timeout=30
    )
    assert "module:attribute" in result.stdout
    assert "--port" in result.stdout
