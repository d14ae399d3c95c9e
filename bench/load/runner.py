"""The scenarios of the load benchmark and the loop running them, interleaved.

For each scenario, every repetition runs every server once, in turn (A B C A B C
...), each time in a fresh server process pinned to CPU 0 and a fresh generator
process pinned to CPU 1. A run's figures come from the generator (its window, the
server's CPU time read from ``/proc``); the server's output is kept and scanned
for errors.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loadpeers import GENERATOR_CPU, HERE, HOST, SERVERS, RunningRedis, RunningServer, child_env, pinned
from perfprof import PerfProfiler, find_perf
from procstat import WINDOW_START, WINDOW_STOP
from profiling import Profiler, find_py_spy

RESULT_PREFIX = "RESULT "
SOURCES = tuple(f"127.0.0.{i}" for i in range(1, 9))  # loopback addresses the generator connects from


@dataclass(frozen=True)
class Metric:
    """One figure of a scenario's table."""

    key: str
    label: str
    higher_is_better: bool
    digits: int = 0  # decimals shown
    ratio: bool = False  # show "vs reference" for it


@dataclass(frozen=True)
class Scenario:
    """What the generator does, against which servers, and what the table shows."""

    name: str
    title: str
    description: str
    kind: str  # the generator's scenario: echo, broadcast, storm or idle
    servers: tuple[str, ...]
    params: dict[str, Any]
    metrics: tuple[Metric, ...]
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    references: tuple[str, ...] = ("node",)  # ratio columns, against these servers
    timeout: float = 180.0  # seconds for one generator run
    ops_key: str = "acks"  # the result's count of operations in the (first) measured window
    # (server, its reference) pairs: one "vs" column, each row against the reference of its kind
    # (sio-deflate against node-deflate, ...), instead of a column per reference.
    paired: tuple[tuple[str, str], ...] = ()


class Recorder(Protocol):
    """Something that watches the server during the measured window (a profiler)."""

    def start(self, pid: int) -> None:
        """The window begins."""

    def stop(self) -> None:
        """The window ended (or the run failed)."""


CPU_METRICS = (
    Metric("server_cpu_pct", "server CPU %", False),
    Metric("server_sys_share_pct", "kernel % of server CPU", False),
    Metric("generator_cpu_pct", "generator CPU %", False),
)
# sio-before (an older checkout, SIO_BEFORE) joins every main scenario when it is there: before
# and after in the same run.
ALL_SERVERS = (
    "sio",
    "node",
    "psio-uvicorn",
    "psio-aiohttp",
    "sio-asgi",
    "sio-fastapi",
    "sio-fastapi-builtin",
    "sio-metrics",
    "sio-admin",
    "sio-admin-dev",
    *(("sio-before",) if "sio-before" in SERVERS else ()),
)


def _echo_metrics() -> tuple[Metric, ...]:
    return (
        Metric("acks_per_s", "acks/s", True, ratio=True),
        Metric("rtt_p50_us", "p50 RTT µs", False, ratio=True),
        Metric("rtt_p99_us", "p99 RTT µs", False),
        Metric("server_us_per_ack", "server CPU µs/ack", False, 2, ratio=True),
        *CPU_METRICS,
    )


def _broadcast_metrics() -> tuple[Metric, ...]:
    return (
        Metric("deliveries_per_s", "deliveries/s", True, ratio=True),
        Metric("server_us_per_delivery", "server CPU µs/delivery", False, 2, ratio=True),
        *CPU_METRICS,
    )


def _bystander_metrics() -> tuple[Metric, ...]:
    return (
        Metric("echo_p50_ms", "bystander echo p50 ms", False, 1),
        Metric("echo_p99_ms", "bystander echo p99 ms", False, 1),
        Metric("echo_max_ms", "bystander echo max ms", False, 1),
        Metric("echo_missing", "echoes unanswered", False),
        Metric("connect_ok_pct", "fresh connects ok %", True),
        Metric("clients_dropped", "clients dropped", False),
        Metric("rss_peak_mb", "server RSS peak MB", False, 1),
        Metric("rss_after_mb", "server RSS after MB", False, 1),
    )


FLOODS = {
    "ping": "WebSocket pings (125 bytes) as fast as TCP takes them, never reading the pongs",
    "acks": "acked `echo` events as fast as TCP takes them, never reading the acks",
    "pipeline": "pipelined HTTP requests for an unknown session (400 each), never reading the answers",
    "handshakes": "pipelined polling handshakes on one connection, never reading the answers",
}


def _flood_scenarios(n: Callable[[int], int]) -> list[Scenario]:
    servers = ("sio", "node", *(("sio-before",) if "sio-before" in SERVERS else ()))
    bystander = "A bystander sends an acked `echo` every 100 ms and a fresh client connects every 2 s; "
    items = [
        Scenario(
            f"flood-{attack}",
            f"Flood: {attack}",
            bystander + f"one attacker sends {what} for 5 s, then leaves.",
            "flood",
            servers,
            {"attack": attack, "attack_duration": 5.0},
            (
                *_bystander_metrics(),
                Metric("attacker_sent_mb", "attacker sent MB", False, 1),
                Metric("server_cpu_pct", "server CPU %", False),
            ),
            ops_key="echo_answers",
        )
        for attack, what in FLOODS.items()
    ]
    items.append(
        Scenario(
            "flood-burst",
            "Flood: broadcast burst",
            bystander + f"{n(500)} clients (ping interval 1 s, timeout 1 s) read everything and answer "
            "every ping; one of them sends 15,000 `bcast` events in one write (each a broadcast to all).",
            "flood",
            servers,
            {"attack": "burst", "attack_duration": 8.0, "clients": n(500), "burst": 15_000},
            (
                *_bystander_metrics(),
                Metric("burst_deliveries", "deliveries in 8 s", True),
                Metric("server_cpu_pct", "server CPU %", False),
            ),
            ping_interval=1.0,
            ping_timeout=1.0,
            ops_key="echo_answers",
        )
    )
    items.append(
        Scenario(
            "heartbeat",
            "Heartbeat under broadcast load",
            f"{n(5000)} clients at ping interval 1 s, timeout 1 s, reading everything and answering every "
            "ping at once; one keeps 4 broadcasts to all in flight (the rate the server sustains) for 10 s. "
            "Any client dropped is a spurious ping timeout. " + bystander.rstrip("; ") + ".",
            "heartbeat",
            servers,
            {"clients": n(5000), "window": 4, "duration": 10.0, "ping_interval": 1.0},
            (
                Metric("clients_dropped", "clients dropped", False),
                Metric("pings_per_s", "pings answered/s", True),
                Metric("pings_expected_per_s", "pings due/s", True),
                Metric("deliveries_per_s", "deliveries/s", True, ratio=True),
                Metric("echo_p50_ms", "bystander echo p50 ms", False, 1),
                Metric("echo_p99_ms", "bystander echo p99 ms", False, 1),
                Metric("connect_ok_pct", "fresh connects ok %", True),
                Metric("server_cpu_pct", "server CPU %", False),
            ),
            ping_interval=1.0,
            ping_timeout=1.0,
            timeout=240.0,
            ops_key="echo_answers",
        )
    )
    return items


def _cluster_scenarios(n: Callable[[int], int], duration: float) -> list[Scenario]:
    params = {"clients_per_node": n(500), "window": 4, "payload": 100, "warmup": 1.0, "duration": duration}
    metrics = (
        Metric("deliveries_per_s", "deliveries/s", True, ratio=True),
        Metric("servers_us_per_delivery", "CPU µs/delivery (both servers)", False, 2, ratio=True),
        Metric("with_redis_us_per_delivery", "CPU µs/delivery (+ Redis)", False, 2, ratio=True),
        Metric("remote_p50_ms", "publish→deliver p50 ms (other node)", False, 2),
        Metric("remote_p99_ms", "publish→deliver p99 ms (other node)", False, 2),
        Metric("local_p50_ms", "p50 ms (same node)", False, 2),
        Metric("node_a_cpu_pct", "node A CPU %", False),
        Metric("node_b_cpu_pct", "node B CPU %", False),
        Metric("redis_cpu_pct", "Redis CPU %", False),
        Metric("generator_cpu_pct", "generator CPU %", False),
    )
    what = (
        f"Two server processes on one redis-server, {n(500)} clients on each; a client of node A asks for "
        "`bcast` (4 in flight), every client of both nodes receives each `msg`. CPU per delivery summed over "
        "both servers (and with Redis's); latency from the request to the delivery on a client of node B "
        "(and of node A). Both servers and Redis share one CPU, the generator the other."
    )
    return [
        Scenario(
            "cluster",
            "Cluster: two nodes on Redis (classic adapters)",
            what + " sio: `redis_adapter`; Node: @socket.io/redis-adapter 8.3.0 `createAdapter`; "
            "python-socketio: `AsyncRedisManager`.",
            "cluster",
            ("sio", "node", "psio-uvicorn", *(("sio-before",) if "sio-before" in SERVERS else ())),
            {**params, "adapter": "classic"},
            metrics,
            ops_key="deliveries",
        ),
        Scenario(
            "cluster-sharded",
            "Cluster: two nodes on Redis (sharded adapters)",
            what + " sio: `sharded_redis_adapter`; Node: `createShardedAdapter` (SPUBLISH, Redis 7).",
            "cluster",
            ("sio", "node", *(("sio-before",) if "sio-before" in SERVERS else ())),
            {**params, "adapter": "sharded"},
            metrics,
            ops_key="deliveries",
        ),
    ]


def _workers_scenarios(
    n: Callable[[int], int], echo: dict[str, Any], broadcast: dict[str, Any], duration: float
) -> list[Scenario]:
    servers = ("sio", "sio-w2")
    note = (
        " Server CPU is summed over the supervisor and its workers; every server process is "
        "pinned to one core (the other runs the generator), so this measures what coordination "
        "costs, not how throughput scales."
    )
    polling_metrics = (
        Metric("acks_per_s", "acks/s", True, ratio=True),
        Metric("rtt_p50_us", "p50 RTT µs", False, ratio=True),
        Metric("server_us_per_ack", "server CPU µs/ack", False, 2, ratio=True),
        Metric("server_us_per_request", "server CPU µs/request", False, 2, ratio=True),
        Metric("moved_pct", "requests moved to their worker %", False, 1),
        Metric("requests_per_ack", "requests/ack", False, 2),
        *CPU_METRICS,
    )
    polling = {"clients": n(20), "payload": 100, "warmup": 1.0, "duration": duration}
    return [
        Scenario(
            "workers-echo",
            "--workers 2: echo with acks",
            "As *echo* (WebSocket), against one process and against `--workers 2`."
            + note
            + " `sio-w2-free` is the same two workers left free to use both cores, the generator's too: "
            "the scaling figure, as far as a generator sharing the machine allows.",
            "echo",
            (*servers, "sio-w2-free"),
            echo,
            _echo_metrics(),
            references=("sio",),
        ),
        Scenario(
            "workers-broadcast",
            "--workers 2: broadcast",
            "As *broadcast*: the clients are spread over the workers, so each broadcast crosses "
            "the local mesh once to the other worker, which frames it for its own clients." + note,
            "broadcast",
            servers,
            broadcast,
            _broadcast_metrics(),
            references=("sio",),
            ops_key="deliveries",
        ),
        Scenario(
            "workers-polling",
            "--workers 2: long-polling echo, a connection per request",
            f"{polling['clients']} polling sessions, one acked `echo` at a time each (POST, then GET "
            "until the ack), every request on a new TCP connection as the official client does in "
            "Node: with 2 workers about half land on the other worker and are moved (SCM_RIGHTS)." + note,
            "polling-echo",
            (*servers, "sio-w2-free", "node"),
            {**polling, "fresh": True},
            polling_metrics,
            references=("sio",),
        ),
        Scenario(
            "workers-polling-keepalive",
            "--workers 2: long-polling echo on keep-alive connections",
            "As above, each session on two keep-alive connections (GET, POST) as a browser keeps "
            "them: a connection moves once, then stays with its session." + note,
            "polling-echo",
            (*servers, "node"),
            {**polling, "fresh": False},
            polling_metrics,
            references=("sio",),
        ),
    ]


def _recovery_scenarios(echo: dict[str, Any], broadcast: dict[str, Any]) -> list[Scenario]:
    servers = ("sio", "sio-recovery", "node", "node-recovery")
    note = (
        " `-recovery`: `connection_state_recovery=True` (Node: `connectionStateRecovery: {}`), the "
        "defaults (2 minutes kept; sio's buffer at most 10,000 packets / 16 MiB per namespace)."
    )
    return [
        Scenario(
            "recovery-echo",
            "Connection state recovery: echo with acks",
            "As *echo*, recovery off and on. Acked events are never kept (an ack cannot be replayed), "
            "so this is the cost recovery puts on every connection's ordinary traffic." + note,
            "echo",
            servers,
            echo,
            _echo_metrics(),
            references=("node-recovery",),
        ),
        Scenario(
            "recovery-broadcast",
            "Connection state recovery: broadcast",
            "As *broadcast*, recovery off and on: each broadcast gets an offset appended and is kept." + note,
            "broadcast",
            servers,
            broadcast,
            _broadcast_metrics(),
            references=("node-recovery",),
            ops_key="deliveries",
        ),
        Scenario(
            "recovery-buffer",
            "Connection state recovery: memory of the packet buffer",
            "10 clients; one asks for 1,000 broadcasts per second (~100-byte string) for 2 minutes "
            "(Node's default window). Server RSS after connecting and every 10 s: what the kept packets "
            "cost. Node's in-memory adapter keeps every packet of the window (it sweeps once a minute); "
            "sio keeps at most 10,000 per namespace." + note,
            "paced-broadcast",
            servers,
            {"clients": 10, "rate": 1000, "payload": 100, "duration": 120.0, "sample_every": 10.0},
            (
                Metric("rss_growth_mb", "RSS growth MB", False, 1, ratio=True),
                Metric("rss_peak_mb", "RSS peak MB", False, 1),
                Metric("rss_half_mb", "RSS at half time MB", False, 1),
                Metric("broadcasts_per_s", "broadcasts/s", True),
                Metric("server_us_per_broadcast", "server CPU µs/broadcast", False, 2, ratio=True),
                Metric("deliveries_missing", "deliveries missing", False),
            ),
            references=("node-recovery",),
            timeout=300.0,
            ops_key="broadcasts",
        ),
    ]


def _msgpack_scenarios(echo: dict[str, Any], broadcast: dict[str, Any]) -> list[Scenario]:
    servers = ("sio-msgpack", "node-msgpack")
    note = (
        " Every packet is one binary WebSocket message in socket.io-msgpack-parser's format (the "
        "generator speaks it too); compare with *echo* / *broadcast* (JSON) of the same run."
    )
    return [
        Scenario(
            "msgpack-echo",
            "msgpack parser: echo with acks",
            "As *echo*, with `parser=MsgpackParser()` and Node's "
            '`parser: require("socket.io-msgpack-parser")`.' + note,
            "echo",
            servers,
            {**echo, "parser": "msgpack"},
            _echo_metrics(),
            references=("node-msgpack",),
        ),
        Scenario(
            "msgpack-broadcast",
            "msgpack parser: broadcast",
            "As *broadcast*, with the msgpack parser on both." + note,
            "broadcast",
            servers,
            {**broadcast, "parser": "msgpack"},
            _broadcast_metrics(),
            references=("node-msgpack",),
            ops_key="deliveries",
        ),
    ]


def _compression_scenarios(
    n: Callable[[int], int], echo: dict[str, Any], broadcast: dict[str, Any]
) -> list[Scenario]:
    kinds = ("", "-deflate", "-deflate-nct")
    servers = (*(f"sio{k}" for k in kinds), *(f"node{k}" for k in kinds))
    paired = tuple((f"{side}{k}", f"node{k}") for k in kinds for side in ("sio", "node"))
    note = (
        " `-deflate`: `per_message_deflate=True` (Node: `perMessageDeflate: true`; both: threshold 1024 "
        "bytes, context takeover); `-deflate-nct`: no context takeover either way (sio: one compressed "
        "frame for every recipient of a broadcast). The generator offers `permessage-deflate; "
        "client_max_window_bits` as the official client does, inflates what comes compressed and "
        "compresses what it sends from 1024 bytes (its own context per the server's answer; it reads "
        "negotiated connections with a Python frame parser, so it is slower there). Each window starts "
        "once every connection has had 12 messages (a kept context fills over the first ~10 pages, "
        "which deflate less). Wire bytes: what "
        "the generator's sockets sent and received (WebSocket framing included) per operation. Ratios: "
        "each row against Node of its kind."
    )
    chat = (
        "~3.1 KB chat pages (JSON: 20-odd message objects of ids, names, timestamps and a sentence of "
        "English words; 64 different ones in turn; 3.3x smaller deflated alone, 5.3x with a kept context)"
    )
    wire_echo = (
        Metric("acks_per_s", "acks/s", True, ratio=True),
        Metric("server_us_per_ack", "server CPU µs/ack", False, 2, ratio=True),
        Metric("down_bytes_per_ack", "wire B/ack down", False, ratio=True),
        Metric("up_bytes_per_ack", "wire B/event up", False),
        Metric("compressed_in_pct", "acks compressed %", True),
        Metric("rtt_p50_us", "p50 RTT µs", False),
        *CPU_METRICS,
    )
    return [
        Scenario(
            "deflate-echo",
            "permessage-deflate: echo with acks",
            f"As *echo* ({echo['clients']} clients x 8 acked `echo` in flight), the argument one of "
            + chat
            + "; the ack carries it back."
            + note,
            "deflate-echo",
            servers,
            {**echo, "payload": "chat"},
            wire_echo,
            paired=paired,
        ),
        Scenario(
            "deflate-echo-small",
            "permessage-deflate: echo of a small payload (below the threshold)",
            "As *echo*, ~100-byte string: nothing reaches the 1024-byte threshold, so this is what "
            "negotiating deflate costs when it compresses nothing (sio; Node's ws applies its threshold "
            "only without context takeover, so `node-deflate` compresses these too)." + note,
            "deflate-echo",
            ("sio", "sio-deflate", "node", "node-deflate"),
            {**echo, "payload": 100},
            wire_echo,
            paired=paired,
        ),
        Scenario(
            "deflate-broadcast",
            "permessage-deflate: broadcast",
            f"As *broadcast* ({broadcast['clients']} clients, 4 `bcast` in flight), each `msg` one of "
            + chat
            + "."
            + note,
            "deflate-broadcast",
            servers,
            {**broadcast, "payload": "chat"},
            (
                Metric("deliveries_per_s", "deliveries/s", True, ratio=True),
                Metric("server_us_per_delivery", "server CPU µs/delivery", False, 2, ratio=True),
                Metric("down_bytes_per_delivery", "wire B/delivery", False, ratio=True),
                Metric("compressed_in_pct", "deliveries compressed %", True),
                *CPU_METRICS,
            ),
            paired=paired,
            ops_key="deliveries",
        ),
        Scenario(
            "deflate-idle",
            "permessage-deflate: memory of idle connections that compressed once",
            f"{n(2000)} sessions, each sending one acked `echo` of a chat page (so, with deflate, the "
            "server inflated one message and compressed one for it: its inflater and compressor exist), "
            "then idle; RSS per connection after all of them, minus after the first "
            f"{min(100, n(2000) // 2)}. "
            "Context takeover keeps a zlib deflate stream (window and hash tables, ~256 KiB allocated at "
            "the default memory level) and an inflate stream per connection." + note,
            "deflate-idle",
            servers,
            {"connections": n(2000), "baseline": min(100, n(2000) // 2), "settle": 1.0, "concurrency": 50},
            (
                Metric("rss_kib_per_conn", "RSS KiB/conn", False, 1, ratio=True),
                Metric("rss_full_mb", "server RSS MB", False, 1),
                Metric("server_us_per_conn", "server CPU µs/(connect + echo)", False, ratio=True),
                Metric("compressed_in_pct", "acks compressed %", True),
                Metric("connects_per_s", "connects/s", True),
            ),
            paired=paired,
            timeout=240.0,
            ops_key="connections",
        ),
        Scenario(
            "polling-compression",
            "HTTP long-polling: compression of the answers on and off",
            f"{n(20)} polling sessions on keep-alive connections (GET and POST), each with one acked `echo` "
            "at a time (POST the event, GET until the ack), the argument one of " + chat + "; every "
            "request says `Accept-Encoding: gzip, deflate` and the generator gunzips. `sio` and `node` "
            "compress answers of 1024 bytes or more by default (gzip here); `-nohttpcomp`: "
            "`http_compression=False` / `httpCompression: false`. Wire bytes include the HTTP headers. "
            "Ratios: each row against Node of its kind.",
            "polling-compression",
            ("sio", "sio-nohttpcomp", "node", "node-nohttpcomp"),
            {"clients": n(20), "payload": "chat", "warmup": 1.0, "duration": echo["duration"]},
            (
                Metric("acks_per_s", "round trips/s", True, ratio=True),
                Metric("server_us_per_ack", "server CPU µs/ack", False, 2, ratio=True),
                Metric("server_us_per_request", "server CPU µs/request", False, 2, ratio=True),
                Metric("bytes_per_ack_answer", "wire B/ack answer", False, ratio=True),
                Metric("bytes_per_response", "wire B/response", False),
                Metric("compressed_pct", "ack answers compressed %", True),
                Metric("rtt_p50_us", "p50 RTT µs", False),
                *CPU_METRICS,
            ),
            paired=(
                ("sio", "node"),
                ("node", "node"),
                ("sio-nohttpcomp", "node-nohttpcomp"),
                ("node-nohttpcomp", "node-nohttpcomp"),
            ),
        ),
    ]


def _scale_scenario(n: Callable[[int], int]) -> Scenario:
    count = n(19_000)
    return Scenario(
        "scale",
        "Scale: idle connections at the default heartbeat",
        f"{count:,} idle WebSocket sessions in one server process (the machine allows 20,000 descriptors "
        "per process), ping interval 25 s and timeout 20 s (the defaults), opened 50 at a time from "
        "127.0.0.1-8; then a 55 s window, so that every session sees two pings. Ping lateness: the gap "
        "between two pings a client receives, minus 25 s (it includes one round trip).",
        "scale",
        ("sio", "node"),
        {"connections": count, "baseline": min(100, count // 2), "window": 55.0, "concurrency": 50},
        (
            Metric("rss_kib_per_conn", "RSS KiB/conn", False, 2, ratio=True),
            Metric("rss_full_mb", "server RSS MB", False, 1),
            Metric("server_cpu_pct", "server CPU %", False, 2, ratio=True),
            Metric("lateness_p50_ms", "ping lateness p50 ms", False, 2),
            Metric("lateness_p99_ms", "ping lateness p99 ms", False, 2),
            Metric("lateness_max_ms", "ping lateness max ms", False, 2),
            Metric("connects_per_s", "connects/s", True, ratio=True),
            Metric("open_at_end", "open at end", True),
        ),
        timeout=420.0,
        ops_key="connections",
    )


def scenarios(duration: float = 5.0, scale: float = 1.0) -> dict[str, Scenario]:
    """Every scenario; ``scale`` multiplies connection counts (1.0 = the issue's sizes)."""

    def n(count: int) -> int:
        return max(1, round(count * scale))

    echo = {"clients": n(50), "inflight": 8, "payload": 100, "warmup": 1.0, "duration": duration}
    broadcast = {"clients": n(1000), "window": 4, "payload": 100, "warmup": 1.0, "duration": duration}
    items = [
        Scenario(
            "echo",
            "Echo with acks",
            f"{echo['clients']} clients x 8 `echo` events with acks in flight, ~100-byte string payload.",
            "echo",
            ALL_SERVERS,
            echo,
            _echo_metrics(),
        ),
        Scenario(
            "latency",
            "Latency",
            "1 client, 1 `echo` with ack in flight (round trip through the server and back).",
            "echo",
            ALL_SERVERS,
            {**echo, "clients": 1, "inflight": 1},
            (
                Metric("rtt_p50_us", "p50 RTT µs", False, 1, ratio=True),
                Metric("rtt_p99_us", "p99 RTT µs", False, 1, ratio=True),
                Metric("acks_per_s", "acks/s", True),
                Metric("server_us_per_ack", "server CPU µs/ack", False, 2, ratio=True),
                *CPU_METRICS,
            ),
        ),
        Scenario(
            "broadcast",
            "Broadcast",
            f"{broadcast['clients']} clients; one of them sends `bcast` (4 in flight) and the server "
            "emits `msg` (~100-byte string) to every client, the sender included.",
            "broadcast",
            ALL_SERVERS,
            broadcast,
            _broadcast_metrics(),
            ops_key="deliveries",
        ),
        Scenario(
            "storm",
            "Connection storm",
            f"{n(2000)} sessions through the full WebSocket handshake (101, OPEN, CONNECT), then "
            f"{n(500)} through polling + upgrade (GET handshake, POST 40, GET, WebSocket with sid, "
            "2probe/3probe/5), 50 handshakes at a time. Connections stay open until the end.",
            "storm",
            ALL_SERVERS,
            {"websocket": n(2000), "polling": n(500), "concurrency": 50},
            (
                Metric("ws_connects_per_s", "ws connects/s", True, ratio=True),
                Metric("ws_server_us_per_conn", "server CPU µs/ws conn", False, ratio=True),
                Metric("polling_connects_per_s", "polling+upgrade connects/s", True, ratio=True),
                Metric("polling_server_us_per_conn", "server CPU µs/polling conn", False, ratio=True),
                Metric("ws_server_cpu_pct", "server CPU % (ws)", False),
                Metric("ws_server_sys_share_pct", "kernel % of server CPU (ws)", False),
                Metric("ws_generator_cpu_pct", "generator CPU % (ws)", False),
            ),
            ops_key="ws_connections",
        ),
        Scenario(
            "idle",
            "Idle connections",
            f"{n(10000)} idle sessions, ping interval 1 s (so ~{n(10000)} pings/s); RSS per connection "
            f"from VmRSS (after the window, minus after the first {min(100, n(10000) // 2)}), CPU per "
            f"ping over a {duration:g} s window.",
            "idle",
            (*ALL_SERVERS, "floor"),
            {
                "connections": n(10000),
                "baseline": min(100, n(10000) // 2),
                "settle": 2.0,
                "duration": duration,
                "concurrency": 50,
            },
            (
                Metric("rss_kib_per_conn", "RSS KiB/conn", False, 2, ratio=True),
                Metric("server_us_per_ping", "server CPU µs/ping", False, 2, ratio=True),
                Metric("pings_per_s", "pings/s", True),
                Metric("connects_per_s", "connects/s (setup)", True),
                Metric("server_cpu_pct", "server CPU %", False),
                Metric("server_sys_share_pct", "kernel % of server CPU", False),
            ),
            ping_interval=1.0,
            timeout=300.0,
            ops_key="pings",
        ),
        Scenario(
            "asgi-echo",
            "ASGI: echo with acks",
            "As *echo*, with sio mounted beside a Starlette app (`io.asgi_app(Starlette())`) and "
            "python-socketio's `ASGIApp(..., other_asgi_app=Starlette())`, both under the same uvicorn "
            "(uvloop, httptools, its default websockets-sansio).",
            "echo",
            ("sio-asgi", "psio-uvicorn", "node"),
            echo,
            _echo_metrics(),
            references=("node", "psio-uvicorn"),
        ),
        Scenario(
            "asgi-broadcast",
            "ASGI: broadcast",
            "As *broadcast*, with the same two ASGI apps under uvicorn.",
            "broadcast",
            ("sio-asgi", "psio-uvicorn", "node"),
            broadcast,
            _broadcast_metrics(),
            references=("node", "psio-uvicorn"),
            ops_key="deliveries",
        ),
        *_flood_scenarios(n),
        _scale_scenario(n),
        *_cluster_scenarios(n, duration),
        *_workers_scenarios(n, echo, broadcast, duration),
        *_recovery_scenarios(echo, broadcast),
        *_msgpack_scenarios(echo, broadcast),
        *_compression_scenarios(n, echo, broadcast),
    ]
    return {s.name: s for s in items}


@dataclass
class RunRecord:
    """One run of one server in one scenario."""

    scenario: str
    server: str
    repetition: int
    result: dict[str, Any]
    log_problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "scenario": self.scenario,
            "server": self.server,
            "repetition": self.repetition,
            "result": self.result,
            "log_problems": self.log_problems,
        }


class _LineReader:
    """Lines of a child's stdout, with a deadline (no blocking past it)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        self.buffer = b""

    def readline(self, deadline: float) -> str | None:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace")


def run_once(
    scenario: Scenario,
    server_key: str,
    log_dir: Path,
    repetition: int = 0,
    profiler: Recorder | None = None,
) -> RunRecord:
    """Start the server, run the generator against it, stop both; return the figures.

    A ``profiler`` is started and stopped around the generator's (first) measured window.
    """
    spec = SERVERS[server_key]
    log_dir.mkdir(parents=True, exist_ok=True)
    params = dict(scenario.params)
    redis: RunningRedis | None = None
    others: list[RunningServer] = []  # a cluster's second node
    extra_env: dict[str, str] = {}
    if scenario.kind == "cluster":
        redis = RunningRedis(log_dir / f"{scenario.name}-{server_key}-{repetition}-redis.log")
        redis.wait_ready()
        extra_env = {
            "BENCH_REDIS_URL": redis.url,
            "BENCH_REDIS_ADAPTER": str(params.pop("adapter", "classic")),
        }
    server = RunningServer(
        spec,
        scenario.ping_interval,
        log_dir / f"{scenario.name}-{server_key}-{repetition}.log",
        scenario.ping_timeout,
        extra_env,
    )
    if redis is not None:
        others.append(
            RunningServer(
                spec,
                scenario.ping_interval,
                log_dir / f"{scenario.name}-{server_key}-{repetition}-b.log",
                scenario.ping_timeout,
                extra_env,
            )
        )
    generator: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {}
    try:
        server.wait_ready()
        for other in others:
            other.wait_ready()
        if redis is not None:
            nodes = [server, *others]
            # The nodes subscribe as they start (Node before it listens); connecting the clients
            # takes seconds more, and the generator's warm-up follows.
            params.update(nodes=[{"port": n.port, "pid": n.pid} for n in nodes], redis_pid=redis.pid)
        config = {
            "scenario": scenario.kind,
            "host": HOST,
            "port": server.port,
            "server_pid": server.pid,
            "sources": SOURCES,
            "params": params,
            "announce_windows": profiler is not None,
        }
        generator = subprocess.Popen(
            [sys.executable, str(HERE / "generator.py"), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=HERE,
            env=child_env(),
            preexec_fn=pinned(GENERATOR_CPU),  # the harness is single-threaded
        )
        reader = _LineReader(generator)
        deadline = time.monotonic() + scenario.timeout
        profiled = False
        while True:
            line = reader.readline(deadline)
            if line is None:
                result = {"error": f"no result within {scenario.timeout:g} s (or the generator died)"}
                break
            if line == WINDOW_START and profiler is not None and not profiled:
                profiler.start(server.pid)
                profiled = True
            elif line == WINDOW_STOP and profiler is not None:
                profiler.stop()
            elif line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX) :])
                break
    except Exception as exc:  # a server that does not start is a result too
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if profiler is not None:
            profiler.stop()
        server.stop()  # first the server: it closes the connections (no TIME_WAIT for the generator)
        for other in others:
            other.stop()
        if redis is not None:
            redis.stop()
        if generator is not None:
            if generator.stdin is not None:
                generator.stdin.close()
            try:
                generator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                generator.kill()
                generator.wait()
            if generator.stdout is not None:
                generator.stdout.close()
    return RunRecord(scenario.name, server_key, repetition, result, server.log_problems())


def run_all(
    selected: list[Scenario],
    servers: list[str] | None,
    repetitions: int,
    log_dir: Path,
    progress: Callable[[str], None] = print,
) -> list[RunRecord]:
    """Every selected scenario, ``repetitions`` rounds of every server, interleaved."""
    records: list[RunRecord] = []
    for scenario in selected:
        keys = [k for k in scenario.servers if servers is None or k in servers]
        for repetition in range(repetitions):
            for key in keys:
                started = time.monotonic()
                record = run_once(scenario, key, log_dir, repetition)
                records.append(record)
                progress(
                    f"{scenario.name:15} {key:13} rep {repetition + 1}/{repetitions}: "
                    f"{_brief(scenario, record.result)} ({time.monotonic() - started:.1f} s)"
                )
    return records


def profile_all(
    selected: list[Scenario], profile_dir: Path, log_dir: Path, progress: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
    """Extra runs of each sio server of each scenario: one under py-spy, one under perf.

    Returns, by ``scenario/server``, the output paths (``py_spy``, ``perf``; None when
    the tool is missing) and the run's operation count (``ops``, from the perf run).
    """
    profiles: dict[str, dict[str, Any]] = {}
    py_spy, perf = find_py_spy(), find_perf()
    if py_spy is None:
        progress("py-spy is not installed: no Python-level profiles (pip install py-spy)")
    if perf is None:
        progress("perf is not installed: no on-CPU profiles")
    profile_dir.mkdir(parents=True, exist_ok=True)
    for scenario in selected:
        for key in scenario.servers:
            if not key.startswith("sio"):
                continue
            entry: dict[str, Any] = {"py_spy": None, "perf": None, "ops": None}
            if py_spy is not None:
                output = profile_dir / f"{scenario.name}-{key}.py-spy.txt"
                output.unlink(missing_ok=True)
                record = run_once(scenario, key, log_dir, 98, Profiler(py_spy, output))
                progress(f"py-spy  {scenario.name} {key}: {_brief(scenario, record.result)}")
                entry["py_spy"] = str(output)
            if perf is not None:
                output = profile_dir / f"{scenario.name}-{key}.perf.data"
                output.unlink(missing_ok=True)
                record = run_once(scenario, key, log_dir, 99, PerfProfiler(perf, output))
                progress(f"perf    {scenario.name} {key}: {_brief(scenario, record.result)}")
                entry["perf"] = str(output)
                entry["ops"] = record.result.get(scenario.ops_key)
            profiles[f"{scenario.name}/{key}"] = entry
    return profiles


def _brief(scenario: Scenario, result: dict[str, Any]) -> str:
    if "error" in result:
        return "ERROR " + str(result["error"])
    parts = []
    for metric in scenario.metrics[:2]:
        value = result.get(metric.key)
        if isinstance(value, (int, float)):
            parts.append(f"{metric.label} {value:,.{metric.digits}f}")
    parts.append(f"server {result.get('server_cpu_pct', float('nan')):.0f}%")
    parts.append(f"gen {result.get('generator_cpu_pct', float('nan')):.0f}%")
    issues = {
        k: result.get(k) for k in ("lost", "failed", "acks_missing", "deliveries_missing") if result.get(k)
    }
    if issues:
        parts.append(f"ISSUES {issues}")
    return ", ".join(parts)
