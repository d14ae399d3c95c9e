"""``allow_eio3`` in a real browser: headless Chromium (Debian's, driven by playwright-core) runs
socket.io-client 2.5.0's browser bundle, whose polling uses XHR2: binary payloads
(``application/octet-stream``) both ways, which Node's socket.io-client 2 (no XHR2 in node)
never sends. The page comes from a second server (another origin, so CORS is on), the server
under test runs on both front ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import sio
from sio.engine.socket import Eio3PollingTransport
from tests.peers import JS_DIR, NodePeer

PAGE = Path(__file__).parent / "browser" / "eio3.html"
CLIENT_BUNDLE = JS_DIR / "node_modules" / "socket.io-client-v2" / "dist"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this never skips)",
)


async def visit(page_origin: str, target: str, **client_options: Any) -> dict[str, Any]:
    """Open the page in Chromium; what it reports."""
    query = urlencode({"target": target, "options": json.dumps(client_options)})
    peer = await NodePeer.start("browser_peer.js", f"{page_origin}/?{query}")
    try:
        assert peer.process.stdout is not None
        line = await asyncio.wait_for(peer.process.stdout.readline(), 60)
    finally:
        await peer.stop()
    report = json.loads(line)
    assert "error" not in report, report
    result: dict[str, Any] = report["result"]
    assert result["connected"] is True, report
    return result


@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"], ["websocket"]])
async def test_binary_both_ways_from_a_browser(sio_server, monkeypatch, transports: list[str]) -> None:
    pages = sio.Server(static_files={"/": PAGE, "/lib/": CLIENT_BUNDLE})
    page_port = (await pages.serve("127.0.0.1", 0)).sockets[0].getsockname()[1]
    page_origin = f"http://localhost:{page_port}"
    # What the polling transport decoded and encoded: binary payloads or text ones.
    posts: list[bool] = []
    polls: list[str] = []
    decode, encode = Eio3PollingTransport._decode, Eio3PollingTransport._encode

    def recording_decode(self: Eio3PollingTransport, body: bytes, binary: bool) -> Any:
        posts.append(binary)
        return decode(self, body, binary)

    def recording_encode(self: Eio3PollingTransport, packets: Any) -> Any:
        body, headers = encode(self, packets)
        polls.append(dict(headers)["Content-Type"])
        return body, headers

    monkeypatch.setattr(Eio3PollingTransport, "_decode", recording_decode)
    monkeypatch.setattr(Eio3PollingTransport, "_encode", recording_encode)
    connections: list[sio.Socket] = []

    def setup(io: sio.Server) -> None:
        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            connections.append(socket)
            socket.emit("bin", b"\x00\xff\x10", "from the server 😀")

            @socket.on("echo")
            def echo(data: bytes, text: str, ack: Any) -> None:
                ack(data, text)

    try:
        # engine.io-client 3 sends credentials (withCredentials) unless told otherwise.
        running = await sio_server(
            setup, allow_eio3=True, cors_allowed_origins=[page_origin], cors_credentials=True
        )
        result = await visit(page_origin, running.url, transports=transports)
    finally:
        await pages.close()
    [socket] = connections
    assert socket.conn.protocol == 3 and result["id"] == socket.id
    assert result["echoed"] == {"data": "0001feff", "text": "é😀"}
    assert result["received"] == [{"data": "00ff10", "text": "from the server 😀"}]
    if transports == ["polling"]:
        assert result["transport"] == "polling"
        assert "b64" not in socket.conn.request.query  # XHR2: the browser supports binary
        assert True in posts  # the browser POSTed a binary payload (the echo's attachment)
        assert "application/octet-stream" in polls  # and was answered with binary ones
        assert "text/plain; charset=UTF-8" in polls  # text-only answers stay text (the handshake)
