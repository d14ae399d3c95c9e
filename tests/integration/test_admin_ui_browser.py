"""The real Socket.IO Admin UI in a real browser, against sio.

The UI is @socket.io/admin-ui 0.5.1's own build (its npm package's ``ui/dist``), served by the
server under test itself (``static_files``) at ``/admin-ui/``; sio is instrumented with
basic auth in development mode. tests/js/admin_ui_browser.js drives the UI in headless Chromium
(Debian's, through playwright-core): it logs in through the UI's connection form and reads what
the views show, while official socket.io-clients (tests/js/sio_peer.js) connect, join rooms and
emit. Screenshots of the run are kept as artifacts (not committed): in ``$SIO_TEST_ARTIFACTS``
if set, else in /tmp/sio-admin-ui-screenshots.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket as stdlib_socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest

import sio
from sio.admin import instrument
from tests.integration.siopeer import SioPeer
from tests.peers import JS_DIR, NodePeer

UI_DIST = JS_DIR / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SERVER_ID = "sio-under-test"
PASSWORD = "s3cret"
# Cost 4 (bcrypt's least) keeps the logins fast.
AUTH = {
    "type": "basic",
    "username": "admin",
    "password": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
}
ANSWER_TIMEOUT = 20.0  # a hang guard per driver answer (each of its waits gives up after 10 s)
TOTAL_TIMEOUT = 60.0  # the whole scenario (about 10 s on an idle machine)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this never skips)",
)


def screenshot_dir() -> Path:
    """Where this run's screenshots go (outside the repository unless $SIO_TEST_ARTIFACTS says so)."""
    base = os.environ.get("SIO_TEST_ARTIFACTS")
    directory = Path(base) / "admin-ui" if base else Path("/tmp/sio-admin-ui-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):  # the folder is this test's: keep only this run's
        old.unlink()
    return directory


class Browser:
    """admin_ui_browser.js: one Chromium page on the UI, driven command by command."""

    def __init__(self, node: NodePeer) -> None:
        self.node = node

    async def ready(self) -> dict[str, Any]:
        return await self.answer("start")

    async def answer(self, cmd: str) -> dict[str, Any]:
        assert self.node.process.stdout is not None
        line = await asyncio.wait_for(self.node.process.stdout.readline(), ANSWER_TIMEOUT)
        if not line:
            raise AssertionError(f"the browser driver exited during {cmd!r}")
        answer: dict[str, Any] = json.loads(line)
        if answer["event"] == "failed":
            pytest.fail(
                f"the Admin UI in Chromium: {answer['cmd']!r} failed: {answer['error']}\n"
                f"location: {answer.get('hash')}, screenshot: {answer.get('screenshot')}\n"
                f"--- page text ---\n{answer.get('text')}\n"
                f"--- console ---\n"
                + "\n".join(answer.get("console", []))
                + f"\n--- failed requests ---\n{answer.get('failed')}",
                pytrace=False,
            )
        return answer

    async def do(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self.node.command(cmd, **fields)
        answer = await self.answer(cmd)
        assert answer["cmd"] == cmd, answer
        return answer

    async def screenshot(self, name: str) -> Path:
        return Path((await self.do("screenshot", name=name))["path"])


class App:
    """The application: handlers on ``/`` and ``/chat``, and what the server saw disconnect."""

    def __init__(self, io: sio.Server) -> None:
        self.disconnected: dict[str, asyncio.Future[str]] = {}
        loop = asyncio.get_running_loop()

        def on_connection(socket: sio.Socket) -> None:
            self.disconnected[socket.id] = loop.create_future()

            @socket.on("join")
            def join(room: str, name: str, ack: Any) -> None:
                socket.join(room)
                socket.data["name"] = name
                ack(sorted(socket.rooms))

            @socket.on("hello")
            def hello(text: str, detail: Any) -> None:
                socket.broadcast.emit("said", socket.data.get("name"), text)

            @socket.on("disconnect")
            def disconnect(reason: str) -> None:
                self.disconnected[socket.id].set_result(reason)

        io.on("connection", on_connection)
        io.of("/chat").on("connection", on_connection)


@pytest.fixture
async def admin_server() -> AsyncIterator[tuple[str, App]]:
    """sio, instrumented, serving the UI under /admin-ui/; its URL and app."""
    io = sio.Server(static_files={"/admin-ui/": UI_DIST})  # as docs/admin-ui.md shows
    app = App(io)
    instrument(io, auth=AUTH, mode="development", server_id=SERVER_ID)
    server = await io.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", app
    await io.close()


async def test_the_admin_ui_shows_sio_and_disconnects_a_socket(
    admin_server: tuple[str, App], node_peers: Callable[..., Awaitable[NodePeer]]
) -> None:
    """Log in through the form; the server healthy, the sockets with their rooms, a socket's page,
    an event, a socket disconnected from the UI; then a login by session id."""
    url, app = admin_server
    shots = screenshot_dir()
    print(f"\nAdmin UI screenshots: {shots}")
    try:
        await asyncio.wait_for(scenario(url, app, node_peers, shots), TOTAL_TIMEOUT)
    except asyncio.TimeoutError:
        pytest.fail(f"the Admin UI scenario took over {TOTAL_TIMEOUT} s (screenshots so far: {shots})")


async def scenario(url: str, app: App, node_peers: Callable[..., Awaitable[NodePeer]], shots: Path) -> None:
    # Three official clients: two on "/" in rooms, one on "/chat".
    alice, bob, carol = [await SioPeer.start(node_peers, url) for _ in range(3)]
    ids = {}
    for name, peer, nsp, room in (
        ("alice", alice, "/", "room-a"),
        ("bob", bob, "/", "lobby"),
        ("carol", carol, "/chat", "general"),
    ):
        ids[name] = (await peer.connect(nsp))["id"]
        assert (await peer.call("join", room, name, nsp=nsp))["args"] == [sorted([ids[name], room])]
    assert (await alice.call("join", "lobby", "alice"))["args"] == [sorted([ids["alice"], "lobby", "room-a"])]

    browser = Browser(
        await node_peers(
            "admin_ui_browser.js", json.dumps({"ui": f"{url}/admin-ui/", "screenshots": str(shots)})
        )
    )
    assert (await browser.ready())["title"] == "Socket.IO Admin UI"

    # The connection form: a wrong password is refused with the UI's own message...
    refused = await browser.do("login", serverUrl=url, username="admin", password="wrong", expectError=True)
    assert refused["error"] == "Invalid credentials", refused
    # ...the right one connects, and the UI keeps where it connected.
    login = await browser.do("login", serverUrl=url, username="admin", password=PASSWORD)
    assert login["storage"]["server_url"] == url, login
    assert login["storage"]["namespace"] == "/admin", login

    # Servers: sio listed as healthy, with its host, pid and clients (three peers and the UI).
    servers = await browser.do("servers", serverId=SERVER_ID, clientsCount=4)
    await browser.screenshot("1-servers")
    headers = ["ID", "Hostname", "PID", "Uptime", "# of clients", "Last ping", "Status"]
    assert servers["headers"][:7] == headers, servers
    [row] = servers["rows"]
    assert row[:3] == [SERVER_ID, stdlib_socket.gethostname(), str(os.getpid())], row
    assert row[4:7] == ["4", row[5], "Healthy"], row

    # Sockets: the two on "/", upgraded to WebSocket, from 127.0.0.1; the one on "/chat".
    sockets = await browser.do("sockets", nsp="/", ids=[ids["alice"], ids["bob"]], transport="WebSocket")
    await browser.screenshot("2-sockets")
    listed = {cells[0]: cells[1:3] for cells in sockets["rows"]}
    expected = {ids["alice"]: ["127.0.0.1", "WebSocket"], ids["bob"]: ["127.0.0.1", "WebSocket"]}
    assert listed == expected, sockets
    chat = await browser.do("sockets", nsp="/chat", ids=[ids["carol"]])
    assert [cells[0] for cells in chat["rows"]] == [ids["carol"]], chat

    # A socket's page: its rooms (its own id among them), data, namespace, status.
    details = await browser.do("socket", nsp="/", id=ids["alice"], rooms=[ids["alice"], "lobby", "room-a"])
    await browser.screenshot("3-socket")
    assert details["rooms"] == sorted([ids["alice"], "lobby", "room-a"]), details
    assert details["socket"]["Namespace"] == "/", details
    assert details["socket"]["ID"] == ids["alice"], details
    assert json.loads(details["socket"]["Data"]) == {"name": "alice"}, details
    assert details["socket"]["Status"] == "connected", details
    assert details["client"]["Transport"] == "WebSocket", details
    assert details["client"]["IP address"] == "127.0.0.1", details

    # Events: what alice emits now shows up, with its arguments.
    alice.emit("hello", "from alice", {"n": 1})
    assert await bob.event("said") == ["alice", "from alice"]
    events = await browser.do("events", nsp="/", id=ids["alice"], eventName="hello")
    await browser.screenshot("4-events")
    assert "Event received" in " ".join(events["row"]), events
    assert json.loads(events["args"].split(":", 1)[1]) == ["from alice", {"n": 1}], events

    # Disconnect bob from the UI: the client is told so, the server saw it, the UI lists him gone.
    gone = await browser.do("disconnect", nsp="/", id=ids["bob"])
    assert [cells[0] for cells in gone["rows"]] == [ids["alice"]], gone
    await bob.expect("disconnect", nsp="/", reason="io server disconnect")
    reason = await asyncio.wait_for(app.disconnected[ids["bob"]], ANSWER_TIMEOUT)
    assert reason == "server namespace disconnect"
    disconnection = await browser.do("disconnection", nsp="/", id=ids["bob"])
    await browser.screenshot("5-disconnected")
    assert "server namespace disconnect" in " ".join(disconnection["row"]), disconnection
    assert not app.disconnected[ids["alice"]].done()

    # A session id sio issued (here to another admin client) logs the UI in without the form, over
    # WebSocket only. (The UI does not keep the id it is sent at login: that ``session`` event comes
    # before the CONNECT reply, from Node as from sio, and 0.5.1 listens for it only once connected.)
    admin = await SioPeer.start(node_peers, url)
    connected = await admin.connect("/admin", auth={"username": "admin", "password": PASSWORD})
    assert connected["event"] == "connect", connected
    await admin.until_seen("session", nsp="/admin")
    [[session_id]] = admin.events("session", nsp="/admin")
    storage = {"server_url": url, "namespace": "/admin", "session_id": session_id, "ws_only": "true"}
    reopened = await browser.do("reopen", storage=storage)
    assert reopened["dialogs"] == 0, reopened
    assert url in reopened["header"], reopened
    sockets = await browser.do("sockets", nsp="/", ids=[ids["alice"]])
    assert [cells[0] for cells in sockets["rows"]] == [ids["alice"]], sockets
    await browser.do("servers", serverId=SERVER_ID, clientsCount=4)  # alice, carol, admin, the UI

    await browser.do("dashboard")
    await browser.screenshot("6-dashboard")
    browser.node.command("exit")
