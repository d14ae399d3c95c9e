"""A real redis-server (Debian's package) on a free loopback port, for the Redis adapter tests.

Without the binary the tests skip with the reason, except in CI (``CI`` set), where they fail:
.ci/run installs redis-server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _free_port(bus: bool = False) -> int:
    """A free loopback port; with ``bus``, one whose cluster bus port (+10,000) is free and valid too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not bus:
            return port
        if port + 10000 <= 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def require_redis_server() -> str:
    """The redis-server executable, or skip (fail in CI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


class RedisServer:
    """One redis-server process; ``url`` to reach it; ``stop`` / ``start`` for outage tests."""

    def __init__(self, *extra: str) -> None:
        self.binary = require_redis_server()
        self.port = _free_port(bus="--cluster-enabled" in extra)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix="sio-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start (or restart, on the same port) and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16)[:7] in (b"+PONG\r\n", b"-NOAUTH"):  # up (with or without a password)
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it (an outage: connections drop at once)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


class RedisCluster:
    """Three redis-server masters joined into one Redis Cluster (``redis-cli --cluster create``)."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [
            RedisServer("--cluster-enabled", "yes", "--cluster-node-timeout", "5000") for _ in range(masters)
        ]
        for node in self.nodes:
            node.extra = (*node.extra, "--cluster-config-file", str(node.dir / "nodes.conf"))
        self.url = self.nodes[0].url

    def start(self) -> RedisCluster:
        """Start the masters, assign the 16,384 slots, wait until the cluster says ok."""
        cli = shutil.which("redis-cli")
        if cli is None:
            if os.environ.get("CI"):
                pytest.fail("redis-cli is not installed")
            pytest.skip("redis-cli is not installed")
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [cli, "-p", str(n.port), "cluster", "info"], capture_output=True, text=True, timeout=10
                ).stdout
                for n in self.nodes
            ]
            if all("cluster_state:ok" in state for state in states):
                return self
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        """Kill every master."""
        for node in self.nodes:
            node.stop()
