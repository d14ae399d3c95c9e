"""The supervisor of ``--workers N``: forks the workers, restarts one that dies, stops them all.

The supervisor relays nothing: every worker listens on the port itself (``SO_REUSEPORT``) and
connections move between workers directly (:mod:`sio.workers.handoff`). It holds the port
bound (not listening) for as long as it runs, so nobody else takes it while a worker restarts.
Workers are forked from the loaded application (as gunicorn's ``--preload``), so a restart
costs a fork, not an import.

Signals: SIGINT / SIGTERM stop every worker gracefully (each runs ``io.close()``: its sockets get
``server shutting down``); a worker still running after ``STOP_TIMEOUT`` is killed. A worker
that dies otherwise is restarted (after ``RESTART_DELAY`` when it died young). A worker that
cannot listen stops everything, with one message, and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sio.errors import InvalidOption
from sio.workers.routing import MAX_WORKERS
from sio.workers.worker import EXIT_CANNOT_SERVE, run_worker

if TYPE_CHECKING:
    from sio.runner import Servable

log = logging.getLogger("sio.workers")

STOP_TIMEOUT = 30.0  # seconds a worker has to close gracefully after SIGTERM
RESTART_DELAY = 1.0  # seconds before restarting a worker that died within YOUNG seconds of its start
YOUNG = 5.0
PR_SET_PDEATHSIG = 1  # prctl(2), Linux
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)


def resolve_workers(workers: int | str) -> int:
    """``workers`` as a count: an integer ≥ 1, or ``"auto"`` (one per core)."""
    if workers == "auto":
        return os.cpu_count() or 1
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise InvalidOption(f'workers must be a positive integer or "auto", not {workers!r}') from None
    if not 1 <= count <= MAX_WORKERS:
        raise InvalidOption(f"workers must be between 1 and {MAX_WORKERS}, not {count}")
    return count


@dataclass
class _Worker:
    index: int
    pid: int
    started: float
    ready: bool = False


def _hold_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Check that the port is free, then keep it bound (``SO_REUSEPORT``, not listening)."""
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise InvalidOption("workers > 1 needs SO_REUSEPORT and fork (Linux)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)  # without SO_REUSEPORT: fails if anything holds the port
        port = probe.getsockname()[1]
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()
    holder = socket.socket(family, kind, proto)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((address[0], port, *address[2:]))
    return holder, port


class Supervisor:
    """Runs ``count`` workers of ``app`` on ``host:port`` until told to stop (see the module)."""

    def __init__(
        self, app: Servable, host: str, port: int, count: int, serve_options: dict[str, Any] | None = None
    ) -> None:
        self.app = app
        self.serve_options = serve_options or {}  # more for app.serve in each worker (other_asgi_app, ...)
        self.host = host
        self.count = count
        self.holder, self.port = _hold_port(host, port)
        self.directory = Path(tempfile.mkdtemp(prefix="sio-workers-"))  # mode 0700: ours alone
        self.workers: dict[int, _Worker] = {}  # by pid
        self.restarts: dict[int, float] = {}  # worker index -> when to start it again
        self.stopping = False
        self.failure: str | None = None
        self.announced = False
        self._status_r, self._status_w = os.pipe()
        self._wake_r, self._wake_w = socket.socketpair()
        self._status_buffer = b""

    # -- running -------------------------------------------------------------------

    def run(self) -> int:
        """Start the workers and supervise them; return the exit code (0 after a requested stop)."""
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        os.set_blocking(self._status_r, False)
        previous = {sig: signal.signal(sig, _ignore) for sig in _SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(self._wake_w.fileno())
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        selector.register(self._status_r, selectors.EVENT_READ)
        deadline = 0.0
        try:
            for index in range(self.count):
                self._start(index)
            while self.workers or (self.restarts and not self.stopping):
                now = time.monotonic()
                if self.stopping:
                    timeout = max(0.0, deadline - now)
                elif self.restarts:
                    timeout = max(0.0, min(self.restarts.values()) - now)
                else:
                    timeout = None
                for key, _ in selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        try:
                            numbers = self._wake_r.recv(256)
                        except (BlockingIOError, InterruptedError):
                            numbers = b""
                        for number in numbers:
                            if number in (signal.SIGINT, signal.SIGTERM) and not self.stopping:
                                log.info(
                                    "stopping %d workers (%s)", len(self.workers), signal.Signals(number).name
                                )
                                self._stop()
                                deadline = time.monotonic() + STOP_TIMEOUT
                    else:
                        self._read_status()
                self._reap()
                if self.failure is not None and not self.stopping:
                    self._stop()
                    deadline = time.monotonic() + STOP_TIMEOUT
                if self.stopping and time.monotonic() >= deadline and self.workers:
                    log.warning("%d workers did not stop in %.0f s: killed", len(self.workers), STOP_TIMEOUT)
                    self._signal_all(signal.SIGKILL)
                    deadline = time.monotonic() + STOP_TIMEOUT
                self._restart_due()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            selector.close()
            self._cleanup()
        if self.failure is not None:
            log.error("%s", self.failure)
            return 1
        return 0

    def _start(self, index: int) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()
        # Blocked across the fork: a signal for the new worker before it reset the supervisor's
        # handlers would be swallowed by them (and written to the supervisor's wakeup socket).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in _SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                _end_with(supervisor)
                for sock in (self._wake_r, self._wake_w, self.holder):
                    sock.close()
                os.close(self._status_r)
                code = run_worker(
                    self.app,
                    index,
                    self.count,
                    self.host,
                    self.port,
                    self.directory,
                    self._status_w,
                    **self.serve_options,
                )
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(BaseException):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.workers[pid] = _Worker(index, pid, time.monotonic())
        return pid

    def _stop(self) -> None:
        self.stopping = True
        self.restarts.clear()
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _read_status(self) -> None:
        try:
            data = os.read(self._status_r, 65536)
        except BlockingIOError:
            return
        self._status_buffer += data
        *lines, self._status_buffer = self._status_buffer.split(b"\n")
        for line in lines:
            kind, _, rest = line.decode(errors="replace").partition(" ")
            index_text, _, why = rest.partition(" ")
            worker = next((w for w in self.workers.values() if str(w.index) == index_text), None)
            if kind == "ready" and worker is not None:
                worker.ready = True
                self._announce()
            elif kind == "failed":
                self.failure = f"cannot listen on {self.host}:{self.port}: {why}"
            elif kind == "unstartable":  # e.g. the ASGI app's lifespan startup failed
                self.failure = why

    def _announce(self) -> None:
        if (
            not self.announced
            and len(self.workers) == self.count
            and all(w.ready for w in self.workers.values())
        ):
            self.announced = True
            path = getattr(self.app, "path", "/")
            log.info(
                "listening on http://%s:%d/ (Socket.IO at %s) with %d workers (pids %s)",
                self.host,
                self.port,
                path,
                self.count,
                " ".join(str(pid) for pid in self.workers),
            )

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._read_status()  # its last words (ready, failed) count before its death does
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            if self.stopping:
                if code not in (0, -signal.SIGTERM, -signal.SIGINT):
                    log.warning("worker %d (pid %d) %s while stopping", worker.index, pid, how)
                continue
            if code == EXIT_CANNOT_SERVE or not worker.ready:
                if self.failure is None:
                    self.failure = f"worker {worker.index} could not start ({how})"
                continue
            young = time.monotonic() - worker.started < YOUNG
            log.warning("worker %d (pid %d) %s: restarting it", worker.index, pid, how)
            self.restarts[worker.index] = time.monotonic() + (RESTART_DELAY if young else 0.0)

    def _restart_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for index, when in list(self.restarts.items()):
            if when <= now:
                del self.restarts[index]
                pid = self._start(index)
                log.info("worker %d restarted (pid %d)", index, pid)

    def _cleanup(self) -> None:
        self.holder.close()
        for fd in (self._status_r, self._status_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r.close()
        self._wake_w.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _end_with(supervisor: int) -> None:
    """In a worker: get SIGTERM when the supervisor dies (even by SIGKILL), so no worker outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _ignore(signum: int, frame: object) -> None:
    """Signals only wake the supervisor's select (through the wakeup fd)."""


def supervise(
    app: Servable, host: str, port: int, count: int, *, other_asgi_app: Any = None, root_path: str = ""
) -> None:
    """Serve ``app`` with ``count`` worker processes (blocking); SystemExit(1) when they cannot start.

    ``other_asgi_app``: an ASGI app served beside it in every worker, each running its lifespan.
    """
    options: dict[str, Any] = {}
    if other_asgi_app is not None:
        options = {"other_asgi_app": other_asgi_app, "root_path": root_path}
    code = Supervisor(app, host, port, count, options).run()
    if code:
        raise SystemExit(code)
