"""One client against everyone else: the flood probes, and the heartbeat under a broadcast load.

Each ``run_flood`` run holds a *bystander* (an acked ``echo`` every 100 ms, open loop, so a stalled
server shows as late answers) and opens a *fresh connection* every 2 s, while one hostile client
attacks for ``attack_duration`` seconds. The figures are the bystander's: echo round trips
(p50/p99/max, answers missing), fresh connects that succeeded within ``CONNECT_OK``, whether the
bystander was dropped; and the server's RSS before, at its peak and after the attacker left.

Attacks (``attack``):

- ``ping``: WebSocket pings (125 bytes each), never reading the pongs.
- ``acks``: acked ``echo`` events as fast as TCP takes them, never reading the acks.
- ``pipeline``: pipelined HTTP requests (unknown session: 400 each), never reading the answers.
- ``handshakes``: pipelined polling handshakes on one connection, never reading the answers.
- ``burst``: ``clients`` well-behaved clients (they read and answer pings); one sends ``burst``
  ``bcast`` events in one write, each a broadcast to all. Clients dropped meanwhile are counted.

``run_heartbeat``: ``clients`` clients at a short ping interval, a broadcast window kept full (the
rate the server sustains) for ``duration``; every client reads everything and answers every ping,
so any client dropped is a spurious drop (a ping timeout the client did not cause).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from eioclient import (
    EIO_PATH,
    MASK,
    PONG,
    ClientError,
    WsClient,
    client_frame,
    open_connection,
)
from procstat import Window, rss_kib
from scenarios import CONNECT_TIMEOUT, Target, _percentile, connect_many

from sio._sio_core import OP_PING, encode_frame

ECHO_EVERY = 0.1  # seconds between the bystander's echoes
FRESH_EVERY = 2.0  # seconds between fresh connections
CONNECT_OK = 5.0  # a fresh connection ready within this many seconds counts as a success
RSS_EVERY = 0.1  # seconds between samples of the server's RSS
CHUNK = 128 * 1024  # bytes per write of a flood
FLOOD_BUFFER = 4 * 1024 * 1024  # the attacker writes while less than this waits in its own buffer
SETTLE = 2.0  # seconds after the attacker left, before the last RSS reading


class Bystander(WsClient):
    """Sends an acked ``echo`` every ``ECHO_EVERY`` seconds and records each round trip."""

    def start(self) -> None:
        """Begin the echoes (once ready)."""
        self.sent: dict[int, float] = {}
        self.rtts: list[float] = []
        self.next_id = 0
        self._task = asyncio.ensure_future(self._echo())

    async def _echo(self) -> None:
        while not self.closing:
            self.sent[self.next_id] = time.perf_counter()
            self.transport.write(client_frame(f'42{self.next_id}["echo","b"]'))
            self.next_id += 1
            await asyncio.sleep(ECHO_EVERY)

    def stop(self) -> None:
        """No more echoes."""
        self._task.cancel()

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        now = time.perf_counter()
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
            elif message.startswith("43"):
                ack_id = int(message[2 : message.index("[")])
                sent = self.sent.pop(ack_id, None)
                if sent is not None:
                    self.rtts.append(now - sent)


class Flooder(asyncio.Protocol):
    """Writes ``chunk`` again and again, never reading, while its own buffer has room."""

    def __init__(self, chunk: bytes, limit: int) -> None:
        self.chunk = chunk
        self.limit = limit  # bytes to send at most
        self.sent = 0
        self.transport: asyncio.Transport | None = None
        self.room = asyncio.Event()
        self.room.set()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=FLOOD_BUFFER)
        self.transport.pause_reading()

    def pause_writing(self) -> None:
        self.room.clear()

    def resume_writing(self) -> None:
        self.room.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.room.set()
        if not self.lost.done():
            self.lost.set_result(exc)

    async def flood(self, prefix: bytes, until: float) -> None:
        """Send ``prefix``, then chunks until ``until`` (monotonic), ``limit`` bytes, or the close."""
        assert self.transport is not None
        self.transport.write(prefix)
        while self.sent < self.limit and time.monotonic() < until and not self.lost.done():
            if not self.room.is_set():  # the server stopped reading: wait for room, not past ``until``
                try:
                    await asyncio.wait_for(self.room.wait(), max(0.0, until - time.monotonic()))
                except asyncio.TimeoutError:
                    return
            if self.lost.done():
                return
            self.transport.write(self.chunk)
            self.sent += len(self.chunk)
            await asyncio.sleep(0)

    def abort(self) -> None:
        """Leave."""
        if self.transport is not None:
            self.transport.abort()


def _repeat(unit: bytes) -> bytes:
    return unit * max(1, CHUNK // len(unit))


def _http_request(target: Target, query: str) -> bytes:
    return f"GET {EIO_PATH}?{query} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n\r\n".encode()


@dataclass
class Watch:
    """What the probe sees while an attack runs: the server's RSS and fresh connections."""

    target: Target
    rss: list[int] = field(default_factory=list)
    connect_times: list[float] = field(default_factory=list)  # seconds, for those that succeeded
    connects_tried: int = 0
    running: bool = True

    async def sample_rss(self) -> None:
        while self.running:
            self.rss.append(rss_kib(self.target.server_pid))
            await asyncio.sleep(RSS_EVERY)

    async def fresh_connects(self) -> None:
        target = self.target
        while self.running:
            started = time.perf_counter()
            self.connects_tried += 1
            client = WsClient(target.request, target.health)
            try:
                await asyncio.wait_for(open_connection(client, target.host, target.port), CONNECT_OK)
                await asyncio.wait_for(client.ready, CONNECT_OK)
                self.connect_times.append(time.perf_counter() - started)
            except (OSError, ClientError, asyncio.TimeoutError):
                pass
            finally:
                client.close()
            await asyncio.sleep(max(0.0, FRESH_EVERY - (time.perf_counter() - started)))


async def _attack(target: Target, attack: str, until: float, options: dict[str, Any]) -> dict[str, Any]:
    """Run one attacker until ``until``; return what it did."""
    loop = asyncio.get_running_loop()
    if attack in ("ping", "acks"):
        unit = (
            encode_frame(OP_PING, b"p" * 125, mask=MASK)
            if attack == "ping"
            else client_frame('421["echo","x"]')
        )
        flooder = Flooder(_repeat(unit), options.get("limit", 4 * 1024**3))
        # The Socket.IO handshake first (a real session), then the flood on the same connection.
        setup = WsClient(target.request, target.health)
        transport = await open_connection(setup, target.host, target.port)
        await asyncio.wait_for(setup.ready, CONNECT_TIMEOUT)
        setup.closing = True  # from now on the connection is the flooder's
        transport.set_protocol(flooder)
        flooder.connection_made(transport)
        await flooder.flood(b"", until)
    elif attack in ("pipeline", "handshakes"):
        query = "EIO=4&transport=polling" + ("&sid=unknown" if attack == "pipeline" else "")
        flooder = Flooder(_repeat(_http_request(target, query)), options.get("limit", 40 * 1024**2))
        await loop.create_connection(lambda: flooder, target.host, target.port)
        await flooder.flood(b"", until)
        # The whole flood is out of our hands (or the server stopped reading): hold it to the end.
        while time.monotonic() < until and not flooder.lost.done():
            await asyncio.sleep(0.05)
    else:
        raise ValueError(f"unknown attack {attack!r}")
    closed_by_server = flooder.lost.done()
    flooder.abort()
    return {"attacker_sent_mb": flooder.sent / 1e6, "attacker_closed_by_server": closed_by_server}


class Crowd(WsClient):
    """A well-behaved client: reads everything, answers pings, counts messages."""

    received = 0

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
            else:
                Crowd.received += 1


async def _burst(target: Target, crowd: list[Crowd], burst: int, until: float) -> dict[str, Any]:
    """One client of the crowd sends ``burst`` broadcasts in one write; wait until ``until``."""
    expected = burst * len(crowd)
    Crowd.received = 0
    crowd[0].transport.write(client_frame('42["bcast","x"]') * burst)
    while time.monotonic() < until and Crowd.received < expected:
        await asyncio.sleep(0.05)
    return {"burst_deliveries": Crowd.received, "burst_expected": expected}


def _summary(watch: Watch, bystander: Bystander, started_lost: int, target: Target) -> dict[str, Any]:
    rtts = sorted(bystander.rtts)
    connect_times = sorted(watch.connect_times)
    rss = watch.rss or [0]
    return {
        "echo_answers": len(rtts),
        "echo_missing": len(bystander.sent),
        "echo_p50_ms": _percentile(rtts, 0.50) * 1e3,
        "echo_p99_ms": _percentile(rtts, 0.99) * 1e3,
        "echo_max_ms": (rtts[-1] if rtts else float("nan")) * 1e3,
        "connects_tried": watch.connects_tried,
        "connects_ok": len(connect_times),
        "connect_ok_pct": 100.0 * len(connect_times) / watch.connects_tried if watch.connects_tried else 0.0,
        "connect_max_ms": (connect_times[-1] if connect_times else float("nan")) * 1e3,
        "bystander_dropped": int(bystander.transport is None or bystander.transport.is_closing()),
        "clients_dropped": target.health.lost - started_lost,
        "rss_before_mb": rss[0] / 1024,
        "rss_peak_mb": max(rss) / 1024,
    }


async def run_flood(
    target: Target,
    *,
    attack: str,
    attack_duration: float = 5.0,
    clients: int = 0,
    burst: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    """Hold a bystander, start the watchers, run ``attack``; return the bystander's figures."""
    crowd: list[Crowd] = []
    if clients:
        crowd = await connect_many(target, clients, lambda: Crowd(target.request, target.health), 50)
        if len(crowd) < clients:
            raise ClientError(f"only {len(crowd)} of {clients} crowd clients connected")
    bystander = Bystander(target.request, target.health)
    await open_connection(bystander, target.host, target.port)
    await asyncio.wait_for(bystander.ready, CONNECT_TIMEOUT)
    bystander.start()
    watch = Watch(target)
    lost_before = target.health.lost
    tasks = [asyncio.ensure_future(watch.sample_rss()), asyncio.ensure_future(watch.fresh_connects())]
    await asyncio.sleep(0.5)  # the bystander's figures before the attack start here
    window = Window(target.server_pid)
    window.start()
    until = time.monotonic() + attack_duration
    options = {} if limit is None else {"limit": limit}
    if attack == "burst":
        outcome = await _burst(target, crowd, burst, until)
    else:
        outcome = await _attack(target, attack, until, options)
    while time.monotonic() < until:
        await asyncio.sleep(0.05)
    usage = window.stop()
    bystander.stop()
    await asyncio.sleep(SETTLE)  # answers still in flight, and the server freeing what it held
    watch.running = False
    rss_after = rss_kib(target.server_pid)
    await asyncio.gather(*tasks, return_exceptions=True)
    result = _summary(watch, bystander, lost_before, target)
    result.update(outcome)
    result["rss_after_mb"] = rss_after / 1024
    result.update(usage.as_dict())
    for client in crowd:
        client.closing = True  # the server may drop them at the end: not the bystander's problem
    return result


@dataclass
class HeartbeatRun:
    """A broadcast window kept full across the crowd, and the pings the crowd answered."""

    sender: WsClient | None = None
    receivers: int = 0
    window: int = 4
    sent: int = 0
    delivered: int = 0
    pings: int = 0
    running: bool = False
    frame: bytes = b""

    def pump(self) -> None:
        """Request broadcasts until ``window`` are in flight."""
        n = self.receivers
        outstanding = self.sent * n - self.delivered
        more = self.window - (outstanding + n - 1) // n
        if more > 0 and self.sender is not None:
            self.sent += more
            self.sender.transport.write(self.frame * more)


class HeartbeatClient(WsClient):
    """Reads everything, answers every ping at once; keeps the run's broadcast window full."""

    run: HeartbeatRun

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        got = 0
        for _op, message in events:
            if message == "2":
                self.transport.write(PONG)
                self.run.pings += 1
            else:
                got += 1
        run = self.run
        run.delivered += got
        if run.running and run.sent * run.receivers - run.delivered <= (run.window - 1) * run.receivers:
            run.pump()


async def run_heartbeat(
    target: Target,
    *,
    clients: int = 5000,
    window: int = 4,
    payload: int = 100,
    duration: float = 10.0,
    ping_interval: float = 1.0,
) -> dict[str, Any]:
    """``clients`` clients at ping ``ping_interval``; broadcasts as fast as the server sustains them."""
    run = HeartbeatRun(window=window, frame=client_frame(f'42["bcast",{json.dumps("x" * payload)}]'))

    def make() -> HeartbeatClient:
        client = HeartbeatClient(target.request, target.health)
        client.run = run
        return client

    crowd = await connect_many(target, clients, make, 50)
    if not crowd:
        raise ClientError("no client connected")
    run.sender, run.receivers = crowd[0], len(crowd)
    lost_before = target.health.lost
    bystander = Bystander(target.request, target.health)
    await open_connection(bystander, target.host, target.port)
    await asyncio.wait_for(bystander.ready, CONNECT_TIMEOUT)
    bystander.start()
    watch = Watch(target)
    tasks = [asyncio.ensure_future(watch.sample_rss()), asyncio.ensure_future(watch.fresh_connects())]
    run.running = True
    run.pump()
    usage_window = Window(target.server_pid)
    usage_window.start()
    delivered0, pings0 = run.delivered, run.pings
    await asyncio.sleep(duration)
    usage = usage_window.stop()
    deliveries, pings = run.delivered - delivered0, run.pings - pings0
    run.running = False
    bystander.stop()
    await asyncio.sleep(SETTLE)
    watch.running = False
    await asyncio.gather(*tasks, return_exceptions=True)
    result = _summary(watch, bystander, lost_before, target)
    result.update(
        {
            "clients": len(crowd),
            "deliveries_per_s": deliveries / usage.wall,
            "pings_per_s": pings / usage.wall,
            "pings_expected_per_s": len(crowd) / ping_interval,
            **usage.as_dict(),
        }
    )
    for client in crowd:
        client.closing = True
    return result


FLOOD_SCENARIOS = {"flood": run_flood, "heartbeat": run_heartbeat}
