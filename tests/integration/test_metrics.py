"""sio.metrics scraped over HTTP after traffic from the official socket.io-client (node), parsed by
prometheus_client's own text parser; the cluster adapter's requests between two sio servers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import sio
from sio.metrics import Metrics, instrument_metrics
from tests.integration.cluster_bus import Bus, BusAdapter
from tests.integration.siopeer import SioPeer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels (a real Prometheus text parser)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def scrape(url: str, path: str = "/metrics") -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(url + path) as response:
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()


class Seen:
    """Server-side observations, awaitable."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[Any]] = {}

    def put(self, key: str, item: Any = None) -> None:
        self.queue(key).put_nowait(item)

    def queue(self, key: str) -> asyncio.Queue[Any]:
        return self.queues.setdefault(key, asyncio.Queue())

    async def get(self, key: str) -> Any:
        return await asyncio.wait_for(self.queue(key).get(), 15)


async def test_scripted_traffic_scraped_from_the_builtin_front_end(node_peers: Any) -> None:
    seen = Seen()
    io = sio.Server()
    metrics = instrument_metrics(io, registry=CollectorRegistry())

    def on_main(socket: sio.Socket) -> None:
        socket.join("room")
        socket.on("hello", lambda *args: seen.put("hello", args))
        seen.put("/", socket)

    def on_other(socket: sio.Socket) -> None:
        socket.on("disconnect", lambda reason: seen.put("disconnect", (socket.nsp.name, reason)))
        seen.put(socket.nsp.name, socket)

    io.on("connection", on_main)
    io.of("/chat").on("connection", on_other)
    io.of(re.compile(r"^/dyn-\d+$")).on("connection", on_other)
    io.engine.on("connection", lambda session: session.on("upgrade", lambda t: seen.put("upgraded", t)))
    server = await io.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        # Three clients: polling only (with a dynamic namespace), WebSocket only (with /chat),
        # and polling upgraded to WebSocket.
        polling = await SioPeer.start(node_peers, url, transports=["polling"])
        websocket = await SioPeer.start(node_peers, url, transports=["websocket"])
        upgrading = await SioPeer.start(node_peers, url, transports=["polling", "websocket"])
        connected: list[sio.Socket] = []
        for peer in (polling, websocket, upgrading):
            assert (await peer.connect("/"))["event"] == "connect"
            connected.append(await seen.get("/"))
        assert await seen.get("upgraded") == "websocket"  # the server's side of the upgrade
        assert (await polling.connect("/dyn-1"))["event"] == "connect"
        dyn_socket: sio.Socket = await seen.get("/dyn-1")
        assert (await websocket.connect("/chat"))["event"] == "connect"
        connected += [dyn_socket, await seen.get("/chat")]

        io.to("room").emit("news", 1)  # one broadcast to the three
        for peer in (polling, websocket, upgrading):
            assert await peer.event("news") == [1]

        websocket.command("disconnect", nsp="/chat")  # client namespace disconnect
        assert await seen.get("disconnect") == ("/chat", "client namespace disconnect")
        dyn_socket.disconnect()  # server namespace disconnect
        assert await seen.get("disconnect") == ("/dyn-1", "server namespace disconnect")
        await polling.expect("disconnect", nsp="/dyn-1")

        content_type, text = await scrape(url)
        assert content_type.startswith("text/plain; version=0.0.4")
        samples = parse(text)
        assert parse(metrics.collect_text()).keys() == samples.keys()

        assert series(samples, "socketio_sockets") == {
            frozenset({("namespace", "/"), ("transport", "polling")}): 1,
            frozenset({("namespace", "/"), ("transport", "websocket")}): 2,
        }
        assert value(samples, "socketio_engine_sessions", transport="polling") == 1
        assert value(samples, "socketio_engine_sessions", transport="websocket") == 2
        assert value(samples, "socketio_engine_handshakes_total", transport="polling") == 2
        assert value(samples, "socketio_engine_handshakes_total", transport="websocket") == 1
        assert value(samples, "socketio_engine_upgrades_total") == 1
        assert series(samples, "socketio_connections_total") == {
            frozenset({("namespace", "/")}): 3,
            frozenset({("namespace", "/chat")}): 1,
            frozenset({("namespace", "/dyn-1")}): 1,
        }
        assert series(samples, "socketio_disconnections_total") == {
            frozenset({("namespace", "/chat"), ("reason", "client namespace disconnect")}): 1,
            frozenset({("namespace", "/dyn-1"), ("reason", "server namespace disconnect")}): 1,
        }
        assert series(samples, "socketio_engine_disconnections_total") == {}
        assert value(samples, "socketio_broadcast_recipients_count", namespace="/") == 1
        assert value(samples, "socketio_broadcast_recipients_sum", namespace="/") == 3
        assert value(samples, "socketio_broadcast_recipients_bucket", namespace="/", le="2.0") == 0
        assert value(samples, "socketio_broadcast_recipients_bucket", namespace="/", le="5.0") == 1
        # In: the clients' CONNECTs "0" (x3), "0/dyn-1,", "0/chat," and the DISCONNECT "1/chat,".
        assert value(samples, "socketio_engine_packets_received_total") == 6
        assert value(samples, "socketio_engine_bytes_received_total") == 3 + 8 + 7 + 7
        # Out (messages, as Node's engine.io counts them for the Admin UI): the 5 CONNECT replies,
        # the 3 news and the DISCONNECT of /dyn-1.
        connect_replies = [
            "0" + ("" if s.nsp.name == "/" else s.nsp.name + ",") + f'{{"sid":"{s.id}"}}' for s in connected
        ]
        assert value(samples, "socketio_engine_packets_sent_total") == 5 + 3 + 1
        bytes_out = sum(map(len, connect_replies)) + 3 * len('2["news",1]') + len("1/dyn-1,")
        assert value(samples, "socketio_engine_bytes_sent_total") == bytes_out

        # Known traffic, then the differences are exact: bytes as Buffer.byteLength counts them.
        upgrading.emit("hello", "héllo")
        assert await seen.get("hello") == ("héllo",)
        io.to("room").emit("tick", "é")
        after = parse((await scrape(url))[1])
        sent = '2["hello","héllo"]'.encode()
        assert value(after, "socketio_engine_packets_received_total") == 7
        assert value(after, "socketio_engine_bytes_received_total") == 25 + len(sent)
        assert value(after, "socketio_engine_packets_sent_total") == 9 + 3
        assert value(after, "socketio_engine_bytes_sent_total") == bytes_out + 3 * len(
            '2["tick","é"]'.encode()
        )
        assert value(after, "socketio_broadcast_recipients_count", namespace="/") == 2
    finally:
        await io.close()


async def test_heartbeats_and_ping_timeout(node_peers: Any) -> None:
    """Pong delays are observed as the pongs arrive (read in the same callback: exact counts);
    a client that stops ponging is counted under ``ping timeout`` at both layers."""
    io = sio.Server(ping_interval=0.05, ping_timeout=0.5)
    metrics = instrument_metrics(io, registry=CollectorRegistry(), path=None)
    counts: asyncio.Queue[float | None] = asyncio.Queue()
    disconnected: asyncio.Queue[str] = asyncio.Queue()
    pongs = 0

    def on_session(session: Any) -> None:
        def on_heartbeat() -> None:  # runs after the metrics' own handler
            nonlocal pongs
            pongs += 1
            counts.put_nowait(
                value(parse(metrics.collect_text()), "socketio_engine_pong_delay_seconds_count")
            )

        session.on("heartbeat", on_heartbeat)

    io.engine.on("connection", on_session)
    io.on("connection", lambda s: s.on("disconnect", disconnected.put_nowait))
    server = await io.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        await peer.connect()
        assert await asyncio.wait_for(counts.get(), 15) == 1
        assert await asyncio.wait_for(counts.get(), 15) == 2
        peer.command("dropPongs")
        assert await asyncio.wait_for(disconnected.get(), 15) == "ping timeout"
        samples = parse(metrics.collect_text())
        assert value(samples, "socketio_engine_pong_delay_seconds_count") == pongs
        # Every pong came before the ping timeout (0.5 s).
        assert value(samples, "socketio_engine_pong_delay_seconds_bucket", le="0.5") == pongs
        assert value(samples, "socketio_engine_disconnections_total", reason="ping timeout") == 1
        assert value(samples, "socketio_disconnections_total", namespace="/", reason="ping timeout") == 1
        assert series(samples, "socketio_sockets") == {}
    finally:
        await io.close()


async def test_metrics_path_beside_static_files_and_an_asgi_app(node_peers: Any, tmp_path: Any) -> None:
    """The endpoint sits in front of the static files; other paths still reach them, the app
    beside them gets the rest (POST /metrics included), and ``asgi_app()`` serves the same text."""
    page = tmp_path / "index.html"
    page.write_text("<p>hi</p>")
    registry = CollectorRegistry()
    io = sio.Server(static_files={"/": page})
    metrics = instrument_metrics(io, registry=registry)
    app_paths: list[tuple[str, str]] = []
    prometheus_app = metrics.asgi_app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        app_paths.append((scope["method"], scope["path"]))
        if scope["path"] == "/other-metrics":
            await prometheus_app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = await io.serve("127.0.0.1", 0, other_asgi_app=app)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        peer = await SioPeer.start(node_peers, url, transports=["websocket"])
        await peer.connect()
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as response:
                assert response.status == 200 and await response.text() == "<p>hi</p>"
            async with http.post(url + "/metrics") as response:
                assert response.status == 204
            async with http.head(url + "/metrics") as response:
                assert response.status == 200
            async with http.get(url + "/other-metrics") as response:
                assert response.status == 200
                other = parse(await response.text())
        assert app_paths == [("POST", "/metrics"), ("GET", "/other-metrics")]
        samples = parse((await scrape(url))[1])
        assert value(other, "socketio_sockets", namespace="/", transport="websocket") == 1
        assert value(samples, "socketio_sockets", namespace="/", transport="websocket") == 1
    finally:
        await io.close()


async def test_cluster_requests_responses_and_a_timeout() -> None:
    """Two sio servers on one cluster bus: a fetch_sockets and a server-side emit answered, one
    server-side emit that times out (the other server never acks)."""
    bus = Bus()
    servers: list[sio.Server] = []
    metrics: list[Metrics] = []
    for _ in range(2):
        io = sio.Server(adapter=lambda nsp: BusAdapter(nsp, bus))
        metrics.append(instrument_metrics(io, registry=CollectorRegistry(), path=None))
        await io.serve("127.0.0.1", 0)
        servers.append(io)
    first, second = servers
    try:
        await bus.drained()
        assert await first.server_count() == 2
        second.on("answered", lambda ack: ack("yes"))
        second.on("ignored", lambda ack: None)
        assert await first.fetch_sockets() == []
        assert await first.server_side_emit_with_ack("answered") == ["yes"]
        with pytest.raises(sio.AckTimeoutError):
            await first.timeout(0.2).server_side_emit_with_ack("ignored")
        samples = parse(metrics[0].collect_text())
        assert series(samples, "socketio_cluster_requests_total") == {
            frozenset({("type", "fetch_sockets")}): 1,
            frozenset({("type", "server_side_emit")}): 2,
        }
        assert series(samples, "socketio_cluster_responses_total") == {
            frozenset({("type", "fetch_sockets")}): 1,
            frozenset({("type", "server_side_emit")}): 1,
        }
        assert series(samples, "socketio_cluster_request_timeouts_total") == {
            frozenset({("type", "server_side_emit")}): 1,
        }
        published = series(samples, "socketio_cluster_messages_published_total")
        assert published[frozenset({("type", "fetch_sockets")})] == 1
        assert published[frozenset({("type", "server_side_emit")})] == 2
        # The other server answered: responses published, no requests of its own.
        other = parse(metrics[1].collect_text())
        assert series(other, "socketio_cluster_requests_total") == {}
        assert value(other, "socketio_cluster_messages_published_total", type="fetch_sockets_response") == 1
        # One answer: the ignored emit never got one.
        assert (
            value(other, "socketio_cluster_messages_published_total", type="server_side_emit_response") == 1
        )
    finally:
        for io in servers:
            await io.close()
