"""sio behind nginx with the configuration the docs give (docs/deployment.md's nginx block), as it is.

nginx (Debian's package; .ci/run installs it) listens on 127.0.0.1 and proxies to a sio server on
::1 started with ``proxy_headers=True`` trusting ``::1``: the official socket.io-client connects
through it over polling, WebSocket and the upgrade, and the server sees the client's address
(``127.0.0.1``, from X-Forwarded-For) rather than nginx's (``::1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import sio
from tests.integration.siopeer import SioPeer

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists() and not os.environ.get("CI"),
    reason="Debian's nginx is not installed (.ci/run installs it; in CI this never skips)",
)

MAIN_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {site};
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_listening(port: int, process: asyncio.subprocess.Process) -> None:
    """nginx has no readiness signal but its port: try it (bounded) until it accepts."""
    for _ in range(200):
        if process.returncode is not None:
            raise AssertionError(f"nginx exited with {process.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nginx did not listen")


@pytest.fixture
async def behind_nginx(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    io = sio.Server(proxy_headers=True, forwarded_allow_ips="::1")

    @io.on("connection")
    def on_connection(client: sio.Socket) -> None:
        @client.on("whoami")
        def whoami(ack: Any) -> None:
            ack(client.handshake.address, client.handshake.secure, client.conn.transport)

    server = await io.serve("::1", 0)
    sio_port = server.sockets[0].getsockname()[1]
    port = _free_port()
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS_PAGE.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/deployment.md should have one nginx block"
    site = blocks[0]
    site, upstreams = re.subn(r"server 127\.0\.0\.1:3000;", f"server [::1]:{sio_port};", site)
    site, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    assert upstreams == 1 and listens == 1, "the docs' nginx block changed: update this test"
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(MAIN_CONF.format(dir=tmp_path, site=tmp_path / "site.conf"))
    process = await asyncio.create_subprocess_exec(
        NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), stderr=asyncio.subprocess.PIPE
    )
    try:
        await _until_listening(port, process)
        yield f"http://127.0.0.1:{port}", io
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        await io.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_the_official_client_through_nginx(behind_nginx, node_peers, transports: list[str]) -> None:
    url, _ = behind_nginx
    peer = await SioPeer.start(node_peers, url, transports=transports)
    connected = await peer.connect()
    assert connected["event"] == "connect", connected
    if transports == ["polling", "websocket"]:
        while not peer.node.seen("upgrade"):  # (it may come before or after the connect)
            await peer.node.next_event()
        assert peer.node.seen("upgrade")[0]["transport"] == "websocket"
    ack = await peer.call("whoami")
    address, secure, transport = ack["args"]
    assert address == "127.0.0.1"  # the client's (X-Forwarded-For), not nginx's ::1
    assert secure is False  # X-Forwarded-Proto: http
    assert transport == transports[-1]
