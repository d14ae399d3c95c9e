"""sio.admin against the reference: Node's socket.io instrumented by @socket.io/admin-ui 0.5.1.

tests/js/admin_peer.js plays the Admin UI (socket.io-client on /admin) through a scripted scenario
against a server, and reports what the admin socket received. It runs once against
tests/js/admin_node.js (Node) and once against sio with the same application
(tests/integration/admin_app.py); the two reports must agree once what differs by nature (ids,
times, ports, process ids) is replaced by placeholders. The traffic totals of ``server_stats`` are
checked against what the clients themselves counted, on both servers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import bcrypt
import pytest

import sio
from sio.adapters.redis import redis_adapter
from sio.admin import RedisStore, instrument
from tests.integration.admin_app import setup
from tests.integration.conftest import Running
from tests.peers import JS_DIR, ensure_js_peers
from tests.redis_server import RedisServer

PEER_TIMEOUT = 40.0  # a hang guard (the peer's own guard is 20 s)
PASSWORD = "s3cret"
# Cost 4 (bcrypt's least) keeps the logins fast; the cost is read from the hash.
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
AUTH = {"type": "basic", "username": "admin", "password": PASSWORD_HASH}
CREDENTIALS = {"username": "admin", "password": PASSWORD}

ISO_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
JS_TIME = re.compile(r"\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d GMT\+0000 \(Coordinated Universal Time\)")


async def run_peer(url: str, scenario: str, peer_options: dict[str, Any]) -> dict[str, Any]:
    """Run admin_peer.js against ``url``; its result (the test fails on its error)."""
    node = ensure_js_peers()
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "admin_peer.js"),
        url,
        scenario,
        json.dumps(peer_options),
        stdout=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    out, _ = await asyncio.wait_for(process.communicate(), PEER_TIMEOUT)
    report = json.loads(out)
    assert "error" not in report, json.dumps(report, indent=1)[:20000]
    return report["result"]  # type: ignore[no-any-return]


class NodeReference:
    """admin_node.js as a process: Node's instrumented server on a free port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls, options: dict[str, Any]) -> NodeReference:
        node = ensure_js_peers()
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "admin_node.js"),
            json.dumps(options),
            stdout=asyncio.subprocess.PIPE,
            cwd=JS_DIR,
        )
        assert process.stdout is not None
        line = json.loads(await asyncio.wait_for(process.stdout.readline(), PEER_TIMEOUT))
        assert line["event"] == "listening", line
        return cls(process, line["port"])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


_node_reports: dict[str, dict[str, Any]] = {}


async def node_report(scenario: str, options: dict[str, Any], peer_options: dict[str, Any]) -> dict[str, Any]:
    """The reference's report for a scenario, made once per module and options."""
    key = json.dumps([scenario, options, peer_options], sort_keys=True)
    if key not in _node_reports:
        reference = await NodeReference.start(options)
        try:
            _node_reports[key] = await run_peer(reference.url, scenario, peer_options)
        finally:
            await reference.stop()
    return _node_reports[key]


@pytest.fixture
async def instrumented(
    serve: Callable[[Any], Awaitable[Running]],
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Factory: sio with admin_app's handlers, instrumented with the given options, served."""

    async def start(**options: Any) -> Running:
        io = sio.Server()
        setup(io)
        instrument(io, **options)
        return await serve(io)

    yield start


# -- normalising what differs by nature ------------------------------------------------------


class Normaliser:
    """Replaces ids by their order of appearance and checks, then hides, times and ports."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def label(self, value: str, kind: str) -> str:
        if value not in self.labels:
            self.labels[value] = (
                f"<{kind}{len([k for k in self.labels.values() if k.startswith('<' + kind)])}>"
            )
        return self.labels[value]

    def socket(self, serialized: dict[str, Any]) -> dict[str, Any]:
        socket = dict(serialized)
        socket["id"] = self.label(socket["id"], "socket")
        if "clientId" in socket:
            assert len(socket["clientId"]) == 12, socket
            socket["clientId"] = "<client id>"
        socket["rooms"] = sorted(self.value(room) for room in socket["rooms"])
        handshake = dict(socket["handshake"])
        assert "auth" not in handshake
        assert "127.0.0.1" in handshake["address"], handshake
        handshake["address"] = "<address>"
        headers = dict(handshake["headers"])
        assert re.fullmatch(r"127\.0\.0\.1:\d+", headers["host"]), headers
        headers["host"] = "<host>"
        if "sec-websocket-key" in headers:
            headers["sec-websocket-key"] = "<key>"
        handshake["headers"] = headers
        query = dict(handshake["query"])
        if "t" in query:
            query["t"] = "<t>"
        handshake["query"] = query
        assert isinstance(handshake["issued"], int), handshake
        handshake["issued"] = "<issued>"
        assert JS_TIME.fullmatch(handshake["time"]), handshake
        handshake["time"] = "<time>"
        handshake["url"] = re.sub(r"t=[\w-]+", "t=<t>", handshake["url"])
        socket["handshake"] = handshake
        return socket

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            if ISO_DATE.fullmatch(value):
                return "<date>"
            if value in self.labels:
                return self.labels[value]
        return value

    def event(self, event: str, args: list[Any]) -> list[Any]:
        if event in ("socket_connected", "all_sockets"):
            if event == "all_sockets":
                return [sorted((self.socket(s) for s in args[0]), key=lambda s: s["id"])]
            return [self.socket(args[0]), self.value(args[1])]
        if event == "socket_updated":
            update = dict(args[0])
            update["id"] = self.label(update["id"], "socket")
            return [update]
        if event in ("room_joined", "room_left"):
            nsp, room, sid, at = args
            sid = self.label(sid, "socket")
            return [nsp, self.value(room), sid, self.value(at)]
        if event == "session":
            assert re.fullmatch(r"[0-9a-f]{16}", args[0]), args
            return ["<session>"]
        return [self.value(arg) for arg in args]


def normalised_events(report: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """The admin socket's events, server_stats aside (their timing is the clock's)."""
    normaliser = Normaliser()
    # The ids the peer learned, so that a room named after a socket is labelled like the socket.
    for key in ("c1", "c2", "c3"):
        normaliser.label(report["ids"][key], "socket")
    admin_ids = {
        e["args"][0]["id"]
        for e in report["events"]
        if e["event"] == "socket_connected" and e["args"][0]["nsp"] == "/admin"
    }
    # The admin socket's own upgrade comes whenever it completes: checked once, then left out.
    own_upgrades = [
        e for e in report["events"] if e["event"] == "socket_updated" and e["args"][0]["id"] in admin_ids
    ]
    assert [e["args"][0] for e in own_upgrades] == [
        {"id": admin_id, "nsp": "/admin", "transport": "websocket"} for admin_id in admin_ids
    ]
    return [
        (e["event"], normaliser.event(e["event"], e["args"]))
        for e in report["events"]
        if e["event"] != "server_stats" and e not in own_upgrades
    ]


def check_stats_shape(stats: dict[str, Any]) -> None:
    """A server_stats payload as Node's: keys, their order and types."""
    assert list(stats) == [
        "serverId",
        "hostname",
        "pid",
        "uptime",
        "clientsCount",
        "pollingClientsCount",
        "aggregatedEvents",
        "namespaces",
    ]
    assert isinstance(stats["pid"], int) and isinstance(stats["uptime"], float)
    for entry in stats["aggregatedEvents"]:
        assert entry["timestamp"] % 1000 == 0
        assert list(entry) in (["timestamp", "type", "count"], ["timestamp", "type", "subType", "count"])


# -- the tests -------------------------------------------------------------------------------

DEVELOPMENT = {"auth": AUTH, "mode": "development"}


async def test_a_scripted_session_reports_what_node_reports(
    instrumented: Callable[..., Awaitable[Running]],
) -> None:
    """session, config, all_sockets and every development-mode event, in Node's order and shapes;
    server_stats adding up to the traffic the clients counted."""
    reference = await node_report("traffic", DEVELOPMENT, CREDENTIALS)
    server = await instrumented(auth=AUTH, mode="development")
    report = await run_peer(server.url, "traffic", CREDENTIALS)
    assert normalised_events(report) == normalised_events(reference)
    for result in (report, reference):
        # Every packet and byte the clients sent and received, counted by the server.
        assert result["totals"] == result["expected"]
        assert result["rawConnection"] == 4  # the admin and three clients
        assert result["rawDisconnection"] == {"transport close": 3}
        assert result["c2Reason"] == "io server disconnect"
        check_stats_shape(result["lastStats"])
        assert result["lastStats"]["clientsCount"] == 1
    assert report["lastStats"]["namespaces"] == reference["lastStats"]["namespaces"]
    assert report["totals"]["packetsIn"] == reference["totals"]["packetsIn"]
    assert report["totals"]["packetsOut"] == reference["totals"]["packetsOut"]


async def test_logins_sessions_and_refusals_as_node(instrumented: Callable[..., Awaitable[Running]]) -> None:
    """Bad credentials get `invalid credentials`; a login gets `session` before its connection; the
    session id is accepted again without the password, with no new session."""
    reference = dict(await node_report("login", DEVELOPMENT, CREDENTIALS))
    server = await instrumented(auth=AUTH, mode="development")
    report = await run_peer(server.url, "login", CREDENTIALS)
    for result in (report, reference):
        assert re.fullmatch(r"[0-9a-f]{16}", result.pop("sessionId"))
    assert report == reference
    assert report["order"] == ["session", "connect", "config"]
    assert report["wrongPassword"] == {"message": "invalid credentials", "data": None}


@pytest.mark.parametrize(
    "options",
    [
        {"auth": AUTH, "mode": "development", "readonly": True},
        {"auth": AUTH, "mode": "production"},
        {"auth": False, "mode": "development"},
    ],
    ids=["readonly", "production", "no-auth"],
)
async def test_readonly_production_and_no_auth_as_node(
    instrumented: Callable[..., Awaitable[Running]], options: dict[str, Any]
) -> None:
    """The features announced, the events sent (production mode: stats only) and the UI's
    commands obeyed or ignored (readonly), as Node."""
    peer_options = CREDENTIALS if options["auth"] else {}
    reference = await node_report("config", options, peer_options)
    server = await instrumented(**options)
    report = await run_peer(server.url, "config", peer_options)
    assert report == reference
    if options.get("readonly"):
        assert report["emitOutcome"] == "ignored"
        assert "EMIT" not in report["config"]["supportedFeatures"]
    if options["mode"] == "production":
        assert set(report["events"]) == {"config", "server_stats", "session"}


# -- a mixed cluster on Redis ------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("frontend", ["uvloop"])
@pytest.mark.parametrize("admin_on", ["sio", "node"])
async def test_a_cluster_of_sio_and_node_shows_every_server(
    redis_server: RedisServer, admin_on: str, serve: Callable[[Any], Awaitable[Running]]
) -> None:
    """sio and Node on Redis (Node's redis adapter, sessions in Redis): an admin socket on one
    server sees the other's sockets and events, its commands act there, its session is valid there."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url)
    io = sio.Server(adapter=redis_adapter(redis_server.url))
    setup(io)
    instrument(io, auth=AUTH, server_id="sio-1", store=RedisStore(client))
    server = await serve(io)
    reference = await NodeReference.start({"auth": AUTH, "serverId": "node-1", "redis": redis_server.url})
    try:
        await redis_server_ready(io)
        urls = (server.url, reference.url) if admin_on == "sio" else (reference.url, server.url)
        report = await run_peer(urls[0], "cluster", {**CREDENTIALS, "otherUrl": urls[1]})
        # The session is a key of Node's shape, for a day (sio writes "1", Node 0.5.1 "true").
        key = f"socket.io-admin#{report['sessionId']}"
        assert await client.get(key) == (b"1" if admin_on == "sio" else b"true")
        assert 86000 < await client.ttl(key) <= 86400
    finally:
        await reference.stop()
        await client.aclose()
    assert report["servers"] == ["node-1", "sio-1"]
    assert report["connectedSocket"]["nsp"] == "/"
    assert report["connectedSocket"]["data"] == {"early": "set by a middleware"}
    listed = report["listed"]
    assert listed is not None and listed["transport"] == "websocket" and len(listed["clientId"]) == 12
    assert listed["data"] == {"early": "set by a middleware"}
    assert report["announceArgs"] == ["across"]
    assert report["sentArgs"] == ["announce", "across"]
    assert report["reason"] == "io server disconnect"
    assert report["remoteReason"] == "server namespace disconnect"
    assert report["otherSession"] is False
    assert "ALL_EVENTS" in report["otherConfig"]["supportedFeatures"]


async def redis_server_ready(io: sio.Server) -> None:
    """Wait until both servers listen on Redis (sio's server_count counts Node's subscription too)."""
    for _ in range(200):
        if await io.server_count() == 2:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the two servers did not both subscribe to Redis")
