"""sio's ASGI app under the other ASGI servers users pick, hypercorn and granian: plain ASGI, no fast path.

Each serves tests/integration/uvicorn_app.py's FastAPI + sio app as a process started as its users
start it; the official socket.io-client connects over polling, WebSocket and the upgrade, and a
FastAPI route answers on the same port.
"""

from __future__ import annotations

import json
import socket as socketlib
from pathlib import Path

import pytest

from tests.integration.processes import OutputProcess
from tests.integration.rawclient import request
from tests.integration.siopeer import SioPeer

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.uvicorn_app:app"

SERVERS = {
    "hypercorn": lambda port: ["-m", "hypercorn", APP, "--bind", f"127.0.0.1:{port}"],
    "granian": lambda port: [
        *("-m", "granian", "--interface", "asgi"),
        *("--host", "127.0.0.1", "--port", str(port), APP),
    ],
}
READY = {"hypercorn": "Running on http://127.0.0.1", "granian": "Started worker"}  # (then it serves)


def free_port() -> int:
    with socketlib.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_official_client_through_plain_asgi(node_peers, server: str) -> None:
    port = free_port()
    process = await OutputProcess.python(*SERVERS[server](port))
    try:
        await process.wait_line(READY[server])
        url = f"http://127.0.0.1:{port}"
        for transports in (["polling"], ["websocket"], ["polling", "websocket"]):
            peer = await SioPeer.start(node_peers, url, transports=transports)
            assert (await peer.connect())["event"] == "connect"
            answer = await peer.call("echo", {"through": server}, b"\x01\x02")
            assert answer["args"] == [{"through": server}, b"\x01\x02"]
            if len(transports) == 2:
                while not peer.node.seen("upgrade"):
                    await peer.node.next_event()
            await peer.node.stop()
        page = await request(port, "GET", "/hello")
        assert (page.status, json.loads(page.body)) == (200, {"hello": "world"})
    finally:
        await process.stop()
