"""CORS in a real browser: headless Chromium (Debian's, driven by playwright-core) on a page from
another origin connects with the official socket.io-client's browser bundle.

The page is served by a second sio server (``static_files``) at ``http://localhost:<port>``; the
server under test is ``http://127.0.0.1:<port>``, another origin. What the browser allows is the
point: Node's ``cors`` semantics (tests/unit/test_cors.py checks the headers against Node's package).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import sio
from tests.peers import JS_DIR, NodePeer

PAGE = Path(__file__).parent / "browser" / "cors.html"
CLIENT_BUNDLE = JS_DIR / "node_modules" / "socket.io-client" / "dist"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this never skips)",
)


class Servers:
    """The page's server (one origin) and the server under test (another)."""

    def __init__(self) -> None:
        self.page_port = 0
        self.running: list[Any] = []

    async def page(self) -> None:
        pages = sio.Server(static_files={"/": PAGE, "/lib/": CLIENT_BUNDLE})
        server = await pages.serve("127.0.0.1", 0)
        self.running.append(pages)
        self.page_port = server.sockets[0].getsockname()[1]

    async def under_test(self, **options: Any) -> int:
        io = sio.Server(**options)

        @io.on("connection")
        def on_connection(socket: sio.Socket) -> None:
            @socket.on("hello")
            def hello(text: str, ack: Any) -> None:
                headers = socket.handshake.headers
                ack({"text": text, "origin": headers.get("origin"), "token": headers.get("x-token")})

        server = await io.serve("127.0.0.1", 0)
        self.running.append(io)
        return int(server.sockets[0].getsockname()[1])

    @property
    def page_origin(self) -> str:
        return f"http://localhost:{self.page_port}"

    async def visit(self, target_port: int, **client_options: Any) -> dict[str, Any]:
        """Open the page in Chromium; what it reports."""
        query = urlencode(
            {"target": f"http://127.0.0.1:{target_port}", "options": json.dumps(client_options)}
        )
        peer = await NodePeer.start("browser_peer.js", f"{self.page_origin}/?{query}")
        try:
            assert peer.process.stdout is not None
            line = await asyncio.wait_for(peer.process.stdout.readline(), 60)
        finally:
            await peer.stop()
        report = json.loads(line)
        assert "error" not in report, report
        return report


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    both = Servers()
    await both.page()
    yield both
    for io in both.running:
        await io.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_an_allowed_origin_connects(servers: Servers, transports: list[str]) -> None:
    port = await servers.under_test(cors_allowed_origins=[servers.page_origin])
    report = await servers.visit(port, transports=transports)
    result = report["result"]
    assert result["connected"] is True, report
    assert result["answer"] == {"text": "from the browser", "origin": servers.page_origin, "token": None}


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
async def test_a_refused_origin_does_not_connect(servers: Servers, transports: list[str]) -> None:
    """An allow-list without the page's origin: refused on polling (403) and, beyond Node, on the
    WebSocket handshake too (browsers apply no CORS to WebSockets)."""
    port = await servers.under_test(cors_allowed_origins=["https://elsewhere.example"])
    report = await servers.visit(port, transports=transports)
    assert report["result"]["connected"] is False, report


async def test_a_preflight_for_a_custom_header_is_answered(servers: Servers) -> None:
    """extraHeaders make the browser preflight (OPTIONS); the requested header is allowed (Node's
    cors reflects it) and reaches the handshake."""
    port = await servers.under_test(cors_allowed_origins=[servers.page_origin])
    report = await servers.visit(port, transports=["polling"], extraHeaders={"x-token": "abc"})
    assert report["result"]["connected"] is True, report
    assert report["result"]["answer"]["token"] == "abc"


async def test_credentials(servers: Servers) -> None:
    """withCredentials: connects when the origin is reflected with credentials allowed; Node's
    ``"*"`` answers a literal star, which the browser refuses for a credentialed request."""
    allowed = await servers.under_test(cors_allowed_origins=[servers.page_origin], cors_credentials=True)
    report = await servers.visit(allowed, transports=["polling"], withCredentials=True)
    assert report["result"]["connected"] is True, report
    star = await servers.under_test(cors_allowed_origins="*", cors_credentials=True)
    report = await servers.visit(star, transports=["polling"], withCredentials=True)
    assert report["result"]["connected"] is False, report
    no_credentials = await servers.under_test(cors_allowed_origins=[servers.page_origin])
    report = await servers.visit(no_credentials, transports=["polling"], withCredentials=True)
    assert report["result"]["connected"] is False, report  # no Access-Control-Allow-Credentials


async def test_star_without_credentials_connects(servers: Servers) -> None:
    port = await servers.under_test(cors_allowed_origins="*")
    report = await servers.visit(port, transports=["polling"])
    assert report["result"]["connected"] is True, report


async def test_cors_off_blocks_polling_but_not_websocket(servers: Servers) -> None:
    """No CORS configured (the default): the browser drops cross-origin polling answers; a
    WebSocket, which CORS does not cover, connects (as in Node)."""
    port = await servers.under_test()
    report = await servers.visit(port, transports=["polling"])
    assert report["result"]["connected"] is False, report
    report = await servers.visit(port, transports=["websocket"])
    assert report["result"]["connected"] is True, report
