"""A few seconds of the load harness: tiny echo and storm runs against sio and Node's socket.io, idle
against sio and the floor server.

It checks the whole chain (servers started pinned, the raw Engine.IO/Socket.IO
generator, CPU read from /proc, the report) rather than any speed: every ack and
every connection must arrive, nothing may be lost, and the figures must be there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path

import pytest
from loadpeers import ensure_node_modules
from results import render
from runner import RunRecord, Scenario, run_once, scenarios

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="the harness reads /proc (Linux)"
)

ECHO = {"clients": 4, "inflight": 3, "payload": 100, "warmup": 0.2, "duration": 0.6}
STORM = {"websocket": 60, "polling": 15, "concurrency": 10}
IDLE = {"connections": 40, "baseline": 10, "settle": 0.1, "duration": 1.5, "concurrency": 10}


def _scenario(name: str, params: dict[str, object]) -> Scenario:
    return dataclasses.replace(scenarios()[name], params=params, timeout=30.0)


def _servers() -> list[str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required in CI (Node's socket.io is the reference peer)")
        return ["sio"]
    ensure_node_modules()
    return ["sio", "node"]


def _is_reading(value: object) -> bool:
    """A CPU figure as /proc gives it: a finite, non-negative number."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def _check_common(record: RunRecord) -> None:
    result = record.result
    where = f"{record.scenario} against {record.server}"
    assert "error" not in result, f"{where}: {result['error']}"
    assert result["lost"] == 0 and result["failed"] == 0, f"{where}: {result['errors']}"
    # Short windows are a few 10 ms clock ticks long: the CPU figures must be there (a number read
    # from /proc, not a missing or NaN one), not precise.
    for key in ("server_cpu_pct", "generator_cpu_pct"):
        assert _is_reading(result.get(key)), (key, result)
    assert result["saturated"] in ("server", "generator", "both", "neither")
    if record.server.startswith("sio"):
        assert record.log_problems == [], record.log_problems


def test_echo_and_storm(tmp_path: Path) -> None:
    echo = _scenario("echo", ECHO)
    storm = _scenario("storm", STORM)
    records: list[RunRecord] = []
    # (sio in FastAPI, under uvicorn with sio's protocol and on sio's own front end, and sio with
    # sio.metrics: the bench's servers.)
    for server in [*_servers(), "sio-fastapi", "sio-fastapi-builtin", "sio-metrics"]:
        record = run_once(echo, server, tmp_path)
        _check_common(record)
        result = record.result
        assert result["clients"] == ECHO["clients"]
        assert result["acks"] > 0 and result["acks_missing"] == 0
        assert 0 < result["rtt_p50_us"] <= result["rtt_p99_us"]
        assert result["server_cpu_s"] > 0 and result["server_us_per_ack"] > 0
        records.append(record)

        record = run_once(storm, server, tmp_path)
        _check_common(record)
        result = record.result
        assert result["ws_connections"] == STORM["websocket"]
        assert result["polling_connections"] == STORM["polling"]
        assert result["open_at_end"] == STORM["websocket"] + STORM["polling"]
        records.append(record)

    text = render([echo, storm], records, command="smoke", environment=["test"], repetitions=1)
    assert "| sio (built-in uvloop front end) |" in text
    assert "echo: ≤ 5 µs server CPU per ack" in text


def test_idle_against_sio_and_the_floor(tmp_path: Path) -> None:
    """The idle scenario, and the floor server it is read against, still run end to end."""
    idle = _scenario("idle", IDLE)
    for server in ("sio", "floor"):
        record = run_once(idle, server, tmp_path)
        _check_common(record)
        result = record.result
        assert result["connections"] == result["open_at_end"] == IDLE["connections"]
        assert result["pings"] > 0  # the window spans a ping interval
        # A few 10 ms CPU clock ticks at most: there (pings were counted, so not NaN), not precise;
        # and it is the server's CPU spread over those pings.
        assert _is_reading(result["server_us_per_ping"])
        assert result["server_us_per_ping"] == pytest.approx(result["server_cpu_s"] / result["pings"] * 1e6)
        assert result["rss_kib_per_conn"] > 0


CLUSTER = {"clients_per_node": 6, "window": 2, "payload": 100, "warmup": 0.3, "duration": 0.8}


def test_cluster_scenario_on_a_real_redis(tmp_path: Path) -> None:
    """Two nodes on one redis-server, every delivery counted on both (the cluster scenarios' chain)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI (the cluster scenarios run on it)")
        pytest.skip("redis-server is not installed")
    for name in ("cluster", "cluster-sharded"):
        scenario = _scenario(name, {**CLUSTER, "adapter": scenarios()[name].params["adapter"]})
        for server in _servers():
            record = run_once(scenario, server, tmp_path)
            _check_common(record)
            result = record.result
            assert result["clients"] == 2 * CLUSTER["clients_per_node"]
            assert result["deliveries"] > 0 and result["deliveries_missing"] == 0, result
            assert result["local_p50_ms"] > 0 and 0 < result["remote_p50_ms"] <= result["remote_p99_ms"]


def test_polling_echo_against_two_workers(tmp_path: Path) -> None:
    """The --workers chain: a supervisor's process tree measured, requests moved between workers counted."""
    polling = _scenario("workers-polling", {"clients": 4, "payload": 10, "warmup": 0.2, "duration": 0.8})
    for server in ("sio", "sio-w2"):
        record = run_once(polling, server, tmp_path)
        result = record.result
        assert "error" not in result, f"{server}: {result['error']}"
        assert result["acks"] > 0 and result["requests_per_ack"] > 1.5, (
            result
        )  # a POST and a GET each (the window cuts some)
        assert _is_reading(result.get("server_cpu_pct")), result
        if server == "sio":
            assert result["moved_pct"] == 0.0, result
        else:  # a connection per request: about half land on the other worker
            assert 0.0 < result["moved_pct"] < 100.0, result
        assert record.log_problems == [], record.log_problems


def _node_or_not(servers: tuple[str, ...]) -> list[str]:
    """``servers`` without the Node ones when Node is not there (outside CI)."""
    return [s for s in servers if not s.startswith("node") or "node" in _servers()]


def test_deflate_scenarios(tmp_path: Path) -> None:
    """permessage-deflate negotiated both ways, every ack and delivery inflated, fewer bytes on the wire."""
    echo = _scenario("deflate-echo", {**ECHO, "payload": "chat"})
    broadcast = _scenario(
        "deflate-broadcast",
        {"clients": 5, "window": 2, "payload": "chat", "warmup": 0.2, "duration": 0.6},
    )
    for server in _node_or_not(("sio-deflate", "sio-deflate-nct", "node-deflate", "node-deflate-nct")):
        for scenario in (echo, broadcast):
            record = run_once(scenario, server, tmp_path)
            _check_common(record)
            result = record.result
            assert result["negotiated_pct"] == 100.0, (server, result)
            assert result["compressed_in_pct"] == 100.0, (server, result)
            down = result.get("down_bytes_per_ack", result.get("down_bytes_per_delivery"))
            assert 0 < down < result["message_bytes"] / 2, (server, result)  # ~3.3x or better
            if scenario is echo:
                assert result["acks"] > 0 and result["acks_missing"] == 0 and result["diverged"] == 0
                assert result["up_bytes_per_ack"] < result["message_bytes"] / 2  # the generator compressed
            else:
                assert result["deliveries"] > 0 and result["deliveries_missing"] == 0
    plain = run_once(_scenario("deflate-echo", {**ECHO, "payload": 100}), "sio", tmp_path)
    _check_common(plain)
    assert plain.result["negotiated_pct"] == 0.0 and plain.result["acks"] > 0  # the offer declined


def test_deflate_idle_memory(tmp_path: Path) -> None:
    """Every idle connection got one compressed message; RSS per connection is measured."""
    idle = _scenario("deflate-idle", {"connections": 30, "baseline": 10, "settle": 0.1, "concurrency": 10})
    for server in _node_or_not(("sio-deflate", "sio-deflate-nct", "node-deflate")):
        record = run_once(idle, server, tmp_path)
        _check_common(record)
        result = record.result
        assert result["connections"] == result["open_at_end"] == 30, result
        assert result["compressed_in_pct"] == 100.0 and result["acks_missing"] == 0, result
        assert _is_reading(result["rss_kib_per_conn"]), result


def test_polling_compression(tmp_path: Path) -> None:
    """Polling answers gzipped when compression is on (sio's default, Node's), plain when it is off."""
    polling = _scenario(
        "polling-compression", {"clients": 3, "payload": "chat", "warmup": 0.2, "duration": 0.8}
    )
    for server in _node_or_not(("sio", "sio-nohttpcomp", "node", "node-nohttpcomp")):
        record = run_once(polling, server, tmp_path)
        _check_common(record)
        result = record.result
        assert result["acks"] > 0, result
        compressed = not server.endswith("nohttpcomp")
        assert result["compressed_pct"] == (100.0 if compressed else 0.0), (server, result)
        answer = result["bytes_per_ack_answer"]
        assert (answer < result["message_bytes"] / 2) if compressed else (answer > result["message_bytes"])
