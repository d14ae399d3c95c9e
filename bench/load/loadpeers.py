"""The servers under test, started as pinned subprocesses with identical handlers.

Every server serves ``echo`` (acks its argument) and ``bcast`` (emits ``msg`` with
its argument to every client) on 127.0.0.1 at a free port, with the scenario's ping
interval. Node's ``socket.io`` is installed from ``node/package-lock.json`` with
``npm ci`` when ``node/node_modules`` is missing or older than the lock file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from procstat import descendants

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NODE_DIR = HERE / "node"
HOST = "127.0.0.1"
SERVER_CPU = 0  # the server under test runs on this CPU ...
GENERATOR_CPU = 1  # ... and the load generator on this one
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServerSpec:
    """One kind of server: how to start it and what to call it."""

    key: str
    label: str
    argv: tuple[str, ...]  # the command, before PORT, PING_INTERVAL and PING_TIMEOUT
    needs_node: bool = False
    src: Path | None = None  # the ``src/`` the server imports sio from (default: this checkout's)
    ready_text: str | None = None  # once listening, wait for this line in its log (all workers up)
    pinned: bool = True  # on SERVER_CPU; False: free to use every core (the generator's too)
    env: tuple[tuple[str, str], ...] = ()  # set for the server process (a feature turned on)


def _python(script: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, str(HERE / "servers" / script), *args)


# An older build to compare with ("before" figures), in the same run: a checkout with its own
# built venv (``git worktree add /tmp/before <commit>`` then ``pip install -e .`` in its ``.venv``).
BEFORE = Path(os.environ.get("SIO_BEFORE", "/nonexistent-SIO_BEFORE"))


def _before_spec() -> ServerSpec:
    argv = (str(BEFORE / ".venv" / "bin" / "python"), str(HERE / "servers" / "sio_server.py"), "builtin")
    return ServerSpec("sio-before", f"sio at {_commit(BEFORE)} (SIO_BEFORE)", argv, src=BEFORE / "src")


def _commit(checkout: Path) -> str:
    try:
        return (
            subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "?"
        )
    except OSError:
        return "?"


def _compression_specs() -> list[ServerSpec]:
    """sio and Node with permessage-deflate on (context takeover, or none), and without HTTP compression."""
    node = ("node", str(NODE_DIR / "server.js"))
    builtin = _python("sio_server.py", "builtin")
    deflate = (("BENCH_DEFLATE", "1"),)
    nct = (("BENCH_DEFLATE", "nct"),)
    off = (("BENCH_HTTP_COMPRESSION", "0"),)
    return [
        ServerSpec("sio-deflate", "sio, per_message_deflate=True", builtin, env=deflate),
        ServerSpec("sio-deflate-nct", "sio, per_message_deflate without context takeover", builtin, env=nct),
        ServerSpec("node-deflate", "Node socket.io 4.8, perMessageDeflate: true", node, True, env=deflate),
        ServerSpec(
            "node-deflate-nct",
            "Node socket.io 4.8, perMessageDeflate without context takeover",
            node,
            True,
            env=nct,
        ),
        ServerSpec("sio-nohttpcomp", "sio, http_compression=False", builtin, env=off),
        ServerSpec("node-nohttpcomp", "Node socket.io 4.8, httpCompression: false", node, True, env=off),
    ]


SERVERS: dict[str, ServerSpec] = {
    spec.key: spec
    for spec in (
        ServerSpec("sio", "sio (built-in uvloop front end)", _python("sio_server.py", "builtin")),
        ServerSpec(
            "node", "Node socket.io 4.8 (default ws engine)", ("node", str(NODE_DIR / "server.js")), True
        ),
        ServerSpec(
            "psio-uvicorn", "python-socketio (uvicorn + uvloop)", _python("psio_server.py", "uvicorn")
        ),
        ServerSpec(
            "psio-aiohttp", "python-socketio (aiohttp + uvloop)", _python("psio_server.py", "aiohttp")
        ),
        ServerSpec(
            "sio-asgi",
            "sio ASGI in Starlette (uvicorn + uvloop, uvicorn's websockets-sansio)",
            _python("sio_server.py", "asgi"),
        ),
        ServerSpec(
            "sio-fastapi",
            "sio in FastAPI (uvicorn + uvloop, --ws sio.uvicorn:WebSocketProtocol)",
            _python("sio_server.py", "fastapi-uvicorn"),
        ),
        ServerSpec(
            "sio-fastapi-builtin",
            "sio + FastAPI on sio's built-in front end (other_asgi_app)",
            _python("sio_server.py", "fastapi-builtin"),
        ),
        ServerSpec(
            "sio-metrics",
            "sio with sio.metrics (Prometheus; built-in front end)",
            _python("sio_server.py", "builtin"),
            env=(("BENCH_METRICS", "1"),),
        ),
        ServerSpec(
            "sio-admin",
            "sio with sio.admin in production mode (the Admin UI's stats; built-in front end)",
            _python("sio_server.py", "builtin"),
            env=(("BENCH_ADMIN", "production"),),
        ),
        ServerSpec(
            "sio-admin-dev",
            "sio with sio.admin in development mode (an admin broadcast per event; no admin connected)",
            _python("sio_server.py", "builtin"),
            env=(("BENCH_ADMIN", "development"),),
        ),
        ServerSpec(
            "sio-w2",
            "sio --workers 2 (built-in front end)",
            _python("sio_server.py", "builtin-w2"),
            ready_text="with 2 workers",
        ),
        ServerSpec(
            "sio-w2-free",
            "sio --workers 2, not pinned (both cores, shared with the generator)",
            _python("sio_server.py", "builtin-w2"),
            ready_text="with 2 workers",
            pinned=False,
        ),
        ServerSpec(
            "sio-recovery",
            "sio with connection state recovery (built-in front end)",
            _python("sio_server.py", "builtin"),
            env=(("BENCH_RECOVERY", "1"),),
        ),
        ServerSpec(
            "node-recovery",
            "Node socket.io 4.8 with connectionStateRecovery",
            ("node", str(NODE_DIR / "server.js")),
            True,
            env=(("BENCH_RECOVERY", "1"),),
        ),
        ServerSpec(
            "sio-msgpack",
            "sio with the msgpack parser (built-in front end)",
            _python("sio_server.py", "builtin"),
            env=(("BENCH_PARSER", "msgpack"),),
        ),
        ServerSpec(
            "node-msgpack",
            "Node socket.io 4.8 with socket.io-msgpack-parser",
            ("node", str(NODE_DIR / "server.js")),
            True,
            env=(("BENCH_PARSER", "msgpack"),),
        ),
        *_compression_specs(),
        ServerSpec("floor", "floor: fixed bytes on bare uvloop (not Socket.IO)", _python("floor_server.py")),
        *([_before_spec()] if BEFORE.is_dir() else []),
    )
}


def ensure_node_modules() -> str:
    """Return the node executable, installing ``socket.io`` with ``npm ci`` if needed."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: the Node socket.io peer cannot run")
    lock = NODE_DIR / "package-lock.json"
    stamp = NODE_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install Node's socket.io for the load benchmarks")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=300
        )
    return node


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env(src: Path | None = None) -> dict[str, str]:
    """The environment of every child process: ``src/`` importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src or ROOT / "src"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pinned(cpu: int) -> Callable[[], None]:
    """A ``preexec_fn`` pinning the child to ``cpu`` (as ``taskset -c cpu``), when that CPU exists."""

    def pin() -> None:
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})

    return pin


class RunningServer:
    """A server subprocess listening on ``port``; its output goes to ``log_path``."""

    def __init__(
        self,
        spec: ServerSpec,
        ping_interval: float,
        log_path: Path,
        ping_timeout: float = 20.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = log_path
        argv = list(spec.argv)
        if spec.needs_node:
            argv[0] = ensure_node_modules()
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*argv, str(self.port), repr(ping_interval), repr(ping_timeout)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**child_env(spec.src), **dict(spec.env), **(extra_env or {})},
            preexec_fn=pinned(SERVER_CPU) if spec.pinned else None,  # the harness is single-threaded
        )
        self.pid = self.process.pid

    def wait_ready(self) -> None:
        """Wait until the port accepts connections (or fail if the process died)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.key} exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self.spec.ready_text is None or self.spec.ready_text in self.log_tail(50):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.spec.key} did not listen within {START_TIMEOUT} s: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the server (its sockets are closed by the kernel) and close the log."""
        if self.process.poll() is None:
            children = descendants(self.process.pid)  # a supervisor's workers
            self.process.send_signal(signal.SIGKILL)  # first the supervisor: it restarts nobody
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Lines of the server's output that look like errors or warnings (the first twenty)."""
        pattern = re.compile(r"Traceback|Error|ERROR|WARNING|Exception|exception", re.ASCII)
        problems = [
            line for line in self.log_path.read_text(errors="replace").splitlines() if pattern.search(line)
        ]
        return problems[:20]


class RunningRedis:
    """A redis-server for the cluster scenarios, on a free port, pinned with the servers."""

    def __init__(self, log_path: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pinned(SERVER_CPU),
        )
        self.pid = self.process.pid

    def wait_ready(self) -> None:
        """Wait until it answers PING."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill it and close the log."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()
