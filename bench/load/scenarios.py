"""The load scenarios, as the generator process runs them against one server.

Each ``run_*`` coroutine takes the scenario's :class:`Target` and parameters,
connects its clients, measures one bounded window with :class:`procstat.Window`
(server and generator CPU) and returns a flat dict of figures. Counts and
durations are always bounded; every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgpack
from eioclient import (
    EIO_PATH,
    PONG,
    ClientError,
    Health,
    HttpClient,
    UpgradeClient,
    WsClient,
    client_frame,
    msgpack_packet,
    open_connection,
    upgrade_request,
)
from procstat import Usage, Window, rss_kib

CONNECT_TIMEOUT = 20.0  # seconds for one connection to become ready
DRAIN_TIMEOUT = 10.0  # seconds for answers still in flight after a window

C = TypeVar("C", bound=WsClient)


@dataclass
class Target:
    """Where the server under test listens, and how the generator reaches it."""

    host: str
    port: int
    server_pid: int
    sources: Sequence[str] = ("127.0.0.1",)  # local addresses to connect from, in turn
    health: Health = field(default_factory=Health)

    @property
    def request(self) -> bytes:
        """The opening handshake of a direct WebSocket connection."""
        return upgrade_request(self.host, self.port)


def payload_text(size: int) -> str:
    """A JSON string argument of ``size`` characters."""
    return "x" * size


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def connect_many(
    target: Target,
    count: int,
    make: Callable[[], C],
    concurrency: int,
    offset: int = 0,
    deadline: float | None = None,
) -> list[C]:
    """Open ``count`` clients, at most ``concurrency`` handshakes at a time; failures are counted.

    No new connection is started after ``deadline`` (a ``time.monotonic()`` value).
    """
    clients: list[C] = []
    indices = iter(range(offset, offset + count))
    health = target.health

    async def worker() -> None:
        for i in indices:
            if deadline is not None and time.monotonic() > deadline:
                return
            client = make()
            try:
                await open_connection(
                    client, target.host, target.port, target.sources[i % len(target.sources)]
                )
                await asyncio.wait_for(client.ready, CONNECT_TIMEOUT)
            except (OSError, ClientError, asyncio.TimeoutError) as exc:
                health.failed += 1
                health.note(f"connect: {type(exc).__name__}: {exc}")
                client.close()
                continue
            clients.append(client)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    return clients


async def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# -- echo and latency ------------------------------------------------------------------


@dataclass
class EchoRun:
    """Shared state of the echo clients."""

    frames: list[bytes]
    rtts: list[float] = field(default_factory=list)  # seconds, one per ack received
    running: bool = False


class EchoClient(WsClient):
    """Keeps ``len(frames)`` acks in flight; ack id ``i`` always carries frame ``i``."""

    run: EchoRun
    sent: list[float]
    pending: int

    def start(self, run: EchoRun) -> None:
        """Send one event per slot."""
        self.run = run
        now = time.perf_counter()
        self.sent = [now] * len(run.frames)
        self.pending = len(run.frames)
        self.transport.write(b"".join(run.frames))

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        now = time.perf_counter()
        run = self.run
        frames = run.frames
        out = b""
        for _op, message in events:
            if message == "2":
                out += PONG
                continue
            # msgpack: {type: 3, data, nsp, id}; JSON: "43<slot>[...]" (single-digit ack ids)
            slot = msgpack.unpackb(message)["id"] if type(message) is bytes else ord(message[2]) - 48
            run.rtts.append(now - self.sent[slot])
            if run.running:
                self.sent[slot] = now
                out += frames[slot]
            else:
                self.pending -= 1
        if out:
            self.transport.write(out)


async def run_echo(
    target: Target,
    *,
    clients: int = 50,
    inflight: int = 8,
    payload: int = 100,
    warmup: float = 1.0,
    duration: float = 5.0,
    concurrency: int = 50,
    parser: str = "json",
) -> dict[str, Any]:
    """``clients`` sockets each keep ``inflight`` ``echo`` events with acks in flight.

    ``parser="msgpack"``: the packets are socket.io-msgpack-parser's (for a server using it).
    """
    if not 1 <= inflight <= 10:
        raise ValueError("inflight must be 1..10 (single-digit ack ids)")
    binary = parser == "msgpack"
    if binary:
        frames = [msgpack_packet(2, ["echo", payload_text(payload)], i) for i in range(inflight)]
    else:
        text = json.dumps(payload_text(payload))
        frames = [client_frame(f'42{i}["echo",{text}]') for i in range(inflight)]
    run = EchoRun(frames)
    conns = await connect_many(
        target, clients, lambda: EchoClient(target.request, target.health, binary), concurrency
    )
    if not conns:
        raise ClientError("no client connected")
    run.running = True
    for client in conns:
        client.start(run)
    await asyncio.sleep(warmup)
    window = Window(target.server_pid)
    first = len(run.rtts)
    window.start()
    await asyncio.sleep(duration)
    usage = window.stop()
    last = len(run.rtts)
    run.running = False
    drained = await _wait_until(lambda: all(c.pending == 0 for c in conns), DRAIN_TIMEOUT)
    missing = sum(c.pending for c in conns)
    rtts = sorted(run.rtts[first:last])
    acks = last - first
    return {
        "clients": len(conns),
        "inflight": inflight,
        "acks": acks,
        "acks_per_s": acks / usage.wall,
        "rtt_p50_us": _percentile(rtts, 0.50) * 1e6,
        "rtt_p99_us": _percentile(rtts, 0.99) * 1e6,
        "server_us_per_ack": usage.server_cpu / acks * 1e6 if acks else float("nan"),
        "generator_us_per_ack": usage.generator_cpu / acks * 1e6 if acks else float("nan"),
        "acks_missing": missing if not drained else 0,
        **usage.as_dict(),
    }


# -- broadcast -------------------------------------------------------------------------


@dataclass
class BroadcastRun:
    """Shared state of a broadcast: ``window`` broadcasts in flight, counted in deliveries."""

    sender: WsClient
    frame: bytes
    receivers: int
    window: int
    sent: int = 0  # broadcasts requested
    delivered: int = 0  # msg events received, all clients together
    running: bool = False

    @property
    def refill_at(self) -> int:
        """Outstanding deliveries at or below which the sender requests more broadcasts."""
        return (self.window - 1) * self.receivers

    def pump(self) -> None:
        """Request broadcasts until ``window`` are in flight."""
        n = self.receivers
        outstanding = self.sent * n - self.delivered
        more = self.window - (outstanding + n - 1) // n
        if more > 0:
            self.sent += more
            self.sender.transport.write(self.frame * more)


class BroadcastClient(WsClient):
    """Counts ``msg`` deliveries; the run's sender requests more as they arrive."""

    run: BroadcastRun

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        got = 0
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
            else:
                got += 1
        run = self.run
        run.delivered += got
        if run.running and run.sent * run.receivers - run.delivered <= run.refill_at:
            run.pump()


async def run_broadcast(
    target: Target,
    *,
    clients: int = 1000,
    window: int = 4,
    payload: int = 100,
    warmup: float = 1.0,
    duration: float = 5.0,
    concurrency: int = 50,
    parser: str = "json",
) -> dict[str, Any]:
    """One sender asks for ``bcast`` (``window`` in flight); every client receives each ``msg``."""
    binary = parser == "msgpack"
    if binary:
        frame = msgpack_packet(2, ["bcast", payload_text(payload)])
    else:
        frame = client_frame(f'42["bcast",{json.dumps(payload_text(payload))}]')
    conns = await connect_many(
        target, clients, lambda: BroadcastClient(target.request, target.health, binary), concurrency
    )
    if not conns:
        raise ClientError("no client connected")
    run = BroadcastRun(conns[0], frame, len(conns), window)
    for client in conns:
        client.run = run
    run.running = True
    run.pump()
    await asyncio.sleep(warmup)
    usage_window = Window(target.server_pid)
    first, first_sent = run.delivered, run.sent
    usage_window.start()
    await asyncio.sleep(duration)
    usage = usage_window.stop()
    last, last_sent = run.delivered, run.sent
    run.running = False
    await _wait_until(lambda: run.delivered >= run.sent * run.receivers, DRAIN_TIMEOUT)
    missing = run.sent * run.receivers - run.delivered
    deliveries = last - first
    return {
        "clients": len(conns),
        "window": window,
        "broadcasts": last_sent - first_sent,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / usage.wall,
        "server_us_per_delivery": usage.server_cpu / deliveries * 1e6 if deliveries else float("nan"),
        "generator_us_per_delivery": usage.generator_cpu / deliveries * 1e6 if deliveries else float("nan"),
        "deliveries_missing": missing,
        **usage.as_dict(),
    }


# -- paced broadcasts: what a server keeps over time (connection state recovery's buffer) ----


async def run_paced_broadcast(
    target: Target,
    *,
    clients: int = 10,
    rate: int = 1000,
    payload: int = 100,
    duration: float = 120.0,
    sample_every: float = 10.0,
    concurrency: int = 10,
) -> dict[str, Any]:
    """One client asks for ``rate`` ``bcast`` per second for ``duration`` seconds; RSS is sampled.

    The server's resident memory after the clients connected, then every ``sample_every``
    seconds: with recovery on it is where the kept packets show.
    """
    text = json.dumps(payload_text(payload))
    conns = await connect_many(
        target, clients, lambda: BroadcastClient(target.request, target.health), concurrency
    )
    if not conns:
        raise ClientError("no client connected")
    run = BroadcastRun(conns[0], client_frame(f'42["bcast",{text}]'), len(conns), 1)
    for client in conns:
        client.run = run  # counts deliveries; run.running stays False: no window pump
    rss_start = rss_kib(target.server_pid)
    samples: list[int] = []
    usage_window = Window(target.server_pid)
    usage_window.start()
    loop = asyncio.get_running_loop()
    begin = loop.time()
    tick = 0.01  # a batch every 10 ms
    per_tick = rate * tick
    owed = 0.0
    next_sample = begin + sample_every
    while (now := loop.time()) < begin + duration:
        owed += per_tick
        batch = int(owed)
        owed -= batch
        if batch:
            run.sender.transport.write(run.frame * batch)
            run.sent += batch
        if now >= next_sample:
            samples.append(rss_kib(target.server_pid))
            next_sample += sample_every
        await asyncio.sleep(max(0.0, begin + (run.sent / rate) - loop.time()) or tick)
    usage = usage_window.stop()
    rss_end = rss_kib(target.server_pid)
    await _wait_until(lambda: run.delivered >= run.sent * run.receivers, DRAIN_TIMEOUT)
    return {
        "clients": len(conns),
        "broadcasts": run.sent,
        "broadcasts_per_s": run.sent / usage.wall,
        "deliveries_missing": run.sent * run.receivers - run.delivered,
        "rss_start_mb": rss_start / 1024,
        "rss_end_mb": rss_end / 1024,
        "rss_peak_mb": max([rss_end, *samples]) / 1024,
        "rss_growth_mb": (max([rss_end, *samples]) - rss_start) / 1024,
        "rss_samples_mb": " ".join(f"{v / 1024:.0f}" for v in samples),  # in the JSON record
        "rss_half_mb": samples[len(samples) // 2 - 1] / 1024 if len(samples) >= 2 else float("nan"),
        "server_us_per_broadcast": usage.server_cpu / run.sent * 1e6 if run.sent else float("nan"),
        **usage.as_dict(),
    }


# -- cluster: two nodes on one Redis ------------------------------------------------------


@dataclass
class ClusterRun(BroadcastRun):
    """A broadcast across two nodes: send times per broadcast, for the probes' latency."""

    sent_at: list[float] = field(default_factory=list)

    def pump(self) -> None:
        """As :meth:`BroadcastRun.pump`, noting when each broadcast was asked for."""
        before = self.sent
        super().pump()
        if self.sent > before:
            now = time.perf_counter()
            self.sent_at.extend([now] * (self.sent - before))


class ProbeClient(BroadcastClient):
    """A receiver that also times each delivery: the n-th ``msg`` it gets is the n-th broadcast."""

    received: int
    latencies: list[float]

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        now = time.perf_counter()
        run = self.run
        assert isinstance(run, ClusterRun)
        for _op, message in events:
            if message != "2":
                if self.received < len(run.sent_at):
                    self.latencies.append(now - run.sent_at[self.received])
                self.received += 1
        super().on_frames(events)


async def run_cluster(
    target: Target,
    *,
    nodes: list[dict[str, int]],
    redis_pid: int,
    clients_per_node: int = 500,
    window: int = 4,
    payload: int = 100,
    warmup: float = 1.0,
    duration: float = 5.0,
    concurrency: int = 50,
) -> dict[str, Any]:
    """``clients_per_node`` clients on each node; one client of node A asks for ``bcast`` (``window`` in
    flight), every client of both nodes receives each ``msg``. CPU: both servers and Redis."""
    targets = [
        Target(target.host, node["port"], node["pid"], target.sources, target.health) for node in nodes
    ]
    text = json.dumps(payload_text(payload))
    per_node: list[list[BroadcastClient]] = []
    for node_target in targets:

        def make(node_target: Target = node_target) -> BroadcastClient:
            return BroadcastClient(node_target.request, node_target.health)

        conns = await connect_many(node_target, clients_per_node - 1, make, concurrency)
        probe = ProbeClient(node_target.request, node_target.health)
        probe.received = 0
        probe.latencies = []
        await open_connection(probe, node_target.host, node_target.port, node_target.sources[0])
        await asyncio.wait_for(probe.ready, CONNECT_TIMEOUT)
        per_node.append([*conns, probe])
    everyone = [client for conns in per_node for client in conns]
    run = ClusterRun(per_node[0][0], client_frame(f'42["bcast",{text}]'), len(everyone), window)
    for client in everyone:
        client.run = run
    run.running = True
    run.pump()
    await asyncio.sleep(warmup)
    windows = [Window(node_target.server_pid) for node_target in targets] + [Window(redis_pid)]
    first = run.delivered
    probes = [conns[-1] for conns in per_node]
    first_latency = [len(probe.latencies) for probe in probes]  # type: ignore[attr-defined]
    for usage_window in windows:
        usage_window.start()
    await asyncio.sleep(duration)
    usages = [usage_window.stop() for usage_window in windows]
    last = run.delivered
    local = sorted(probes[0].latencies[first_latency[0] :])  # type: ignore[attr-defined]
    remote = sorted(probes[1].latencies[first_latency[1] :])  # type: ignore[attr-defined]
    run.running = False
    await _wait_until(lambda: run.delivered >= run.sent * run.receivers, DRAIN_TIMEOUT)
    deliveries = last - first
    wall = usages[0].wall
    servers_cpu = sum(u.server_cpu for u in usages[:2])
    redis_cpu = usages[2].server_cpu
    # The servers and Redis share one core: "server" saturation is their sum.
    combined = Usage(
        wall, servers_cpu + redis_cpu, usages[0].generator_cpu, sum(u.server_sys for u in usages)
    )
    return {
        **combined.as_dict(),
        "clients": len(everyone),
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / wall,
        "remote_p50_ms": _percentile(remote, 0.50) * 1e3,
        "remote_p99_ms": _percentile(remote, 0.99) * 1e3,
        "local_p50_ms": _percentile(local, 0.50) * 1e3,
        "servers_us_per_delivery": servers_cpu / deliveries * 1e6 if deliveries else float("nan"),
        "with_redis_us_per_delivery": (servers_cpu + redis_cpu) / deliveries * 1e6
        if deliveries
        else float("nan"),
        "node_a_cpu_pct": 100.0 * usages[0].server_cpu / wall,
        "node_b_cpu_pct": 100.0 * usages[1].server_cpu / wall,
        "redis_cpu_pct": 100.0 * redis_cpu / wall,
        "deliveries_missing": run.sent * run.receivers - run.delivered,
    }


# -- connection storm ------------------------------------------------------------------


async def _polling_upgrade(target: Target, index: int) -> UpgradeClient:
    """Open one session the way a default client does: polling first, then the upgrade."""
    host = f"{target.host}:{target.port}"
    source = target.sources[index % len(target.sources)]
    http = HttpClient()
    transport = await open_connection(http, target.host, target.port, source)
    try:
        base = f"{EIO_PATH}?EIO=4&transport=polling"
        status, body = await http.request("GET", base, host)
        if status != 200 or not body.startswith(b"0{"):
            raise ClientError(f"polling handshake: {status} {body[:200]!r}")
        sid = json.loads(body[1:])["sid"]
        query = f"{base}&sid={sid}"
        status, body = await http.request("POST", query, host, b"40")
        if status != 200:
            raise ClientError(f"POST 40: {status} {body[:200]!r}")
        for _ in range(5):
            status, body = await http.request("GET", query, host)
            if status != 200:
                raise ClientError(f"polling GET: {status} {body[:200]!r}")
            if any(packet.startswith(b"40") for packet in body.split(b"\x1e")):
                break
        else:
            raise ClientError("no CONNECT answer over polling")
        ws = UpgradeClient(upgrade_request(target.host, target.port, sid), target.health)
        try:
            await open_connection(ws, target.host, target.port, source)
            await ws.ready
        except BaseException:
            ws.close()
            raise
        return ws
    finally:
        transport.close()


async def connect_polling_many(target: Target, count: int, concurrency: int) -> list[UpgradeClient]:
    """Open ``count`` sessions through polling + upgrade, ``concurrency`` at a time."""
    clients: list[UpgradeClient] = []
    indices = iter(range(count))
    health = target.health

    async def worker() -> None:
        for i in indices:
            try:
                clients.append(await asyncio.wait_for(_polling_upgrade(target, i), CONNECT_TIMEOUT))
            except (OSError, ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
                health.failed += 1
                health.note(f"polling+upgrade: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    return clients


async def run_storm(
    target: Target, *, websocket: int = 2000, polling: int = 500, concurrency: int = 50
) -> dict[str, Any]:
    """Open ``websocket`` direct WebSocket sessions, then ``polling`` polling + upgrade sessions."""
    result: dict[str, Any] = {}
    window = Window(target.server_pid)
    window.start()
    ws_clients = await connect_many(
        target, websocket, lambda: WsClient(target.request, target.health), concurrency
    )
    ws_usage = window.stop()
    n = len(ws_clients)
    result.update(
        {
            "ws_connections": n,
            "ws_connects_per_s": n / ws_usage.wall,
            "ws_server_us_per_conn": ws_usage.server_cpu / n * 1e6 if n else float("nan"),
            "ws_generator_us_per_conn": ws_usage.generator_cpu / n * 1e6 if n else float("nan"),
            **{f"ws_{k}": v for k, v in ws_usage.as_dict().items()},
        }
    )
    pl_clients: list[UpgradeClient] = []
    if polling:
        window.start()
        pl_clients = await connect_polling_many(target, polling, concurrency)
        pl_usage = window.stop()
        m = len(pl_clients)
        result.update(
            {
                "polling_connections": m,
                "polling_connects_per_s": m / pl_usage.wall,
                "polling_server_us_per_conn": pl_usage.server_cpu / m * 1e6 if m else float("nan"),
                "polling_generator_us_per_conn": pl_usage.generator_cpu / m * 1e6 if m else float("nan"),
                **{f"polling_{k}": v for k, v in pl_usage.as_dict().items()},
            }
        )
    await asyncio.sleep(0.5)  # connections the server drops right after the upgrade show up here
    result["open_at_end"] = sum(not c.closing for c in [*ws_clients, *pl_clients])
    # The headline figures are the WebSocket storm's.
    result.update({k: result[f"ws_{k}"] for k in ("server_cpu_pct", "generator_cpu_pct", "saturated")})
    return result


# -- idle connections ------------------------------------------------------------------


@dataclass
class IdleRun:
    """Pings answered, all clients together."""

    pings: int = 0


class IdleClient(WsClient):
    """Answers and counts pings; nothing else."""

    run: IdleRun

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
                self.run.pings += 1


async def connect_idle(
    target: Target,
    connections: int,
    baseline: int,
    make: Callable[[], C],
    concurrency: int,
    connect_limit: float,
) -> tuple[list[C], list[C], int, float]:
    """Open ``baseline`` sessions, read the server's RSS, then open the rest (for at most
    ``connect_limit`` seconds); return (first, rest, RSS after the first in KiB, seconds the rest took)."""
    first = await connect_many(target, baseline, make, concurrency)
    await asyncio.sleep(0.5)
    rss_base = rss_kib(target.server_pid)
    started = time.perf_counter()
    rest = await connect_many(
        target,
        connections - baseline,
        make,
        concurrency,
        offset=baseline,
        deadline=time.monotonic() + connect_limit,
    )
    return first, rest, rss_base, time.perf_counter() - started


async def run_idle(
    target: Target,
    *,
    connections: int = 10_000,
    baseline: int = 100,
    settle: float = 2.0,
    duration: float = 5.0,
    concurrency: int = 50,
    connect_limit: float = 20.0,
) -> dict[str, Any]:
    """Hold ``connections`` idle sessions; measure memory per connection and CPU per ping.

    A server too slow to take them all within ``connect_limit`` seconds is measured
    with the sessions it has by then (``connections`` in the result says how many).
    """
    run = IdleRun()

    def make() -> IdleClient:
        client = IdleClient(target.request, target.health)
        client.run = run
        return client

    pid = target.server_pid
    rss_empty = rss_kib(pid)
    first, rest, rss_base, connect_wall = await connect_idle(
        target, connections, baseline, make, concurrency, connect_limit
    )
    await asyncio.sleep(settle)
    window = Window(pid)
    pings0 = run.pings
    window.start()
    await asyncio.sleep(duration)
    usage = window.stop()
    pings = run.pings - pings0
    rss_full = rss_kib(pid)
    clients = [*first, *rest]
    open_now = sum(not c.closing for c in clients)
    added = len(rest)
    return {
        "connections": len(clients),
        "open_at_end": open_now,
        "connects_per_s": added / connect_wall if connect_wall else float("nan"),
        "rss_empty_kib": rss_empty,
        "rss_base_kib": rss_base,
        "rss_full_kib": rss_full,
        "rss_kib_per_conn": (rss_full - rss_base) / added if added else float("nan"),
        "pings": pings,
        "pings_per_s": pings / usage.wall,
        "server_us_per_ping": usage.server_cpu / pings * 1e6 if pings else float("nan"),
        **usage.as_dict(),
    }


from polling import run_polling_echo  # noqa: E402 - it builds on this module's neighbours

SCENARIOS = {
    "echo": run_echo,
    "polling-echo": run_polling_echo,
    "broadcast": run_broadcast,
    "paced-broadcast": run_paced_broadcast,
    "cluster": run_cluster,
    "storm": run_storm,
    "idle": run_idle,
}
