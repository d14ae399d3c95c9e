"""Handing a client's TCP connection to the worker that holds its session (``--workers``).

Every worker listens on the same port (``SO_REUSEPORT``), so the kernel spreads connections
over the workers without a middle process. A request whose ``sid`` names another worker
(:mod:`sio.workers.routing`) is not relayed: the connection itself moves. The worker that
read the request sends the socket's descriptor (``SCM_RIGHTS``) to the owner over a Unix
socket, with the bytes it already read from it (the parsed requests written back, then what
was not parsed yet); the owner adopts the socket as if it had accepted it and reads those
bytes first. From then on the connection is the owner's: WebSocket frames and later polls go
straight between the client and it. A keep-alive connection whose next request is for a
third worker's session moves again, so a connection pool shared by two tabs stays correct.

Wire format on the Unix socket (one stream per pair of workers, sender to receiver): frames of
a 4-byte big-endian length, then the kind (``C``: a connection), two counters of the connection
that follow it from worker to worker (2 bytes each: the Engine.IO handshakes it made, the moves it
made carrying pipelined requests) and the bytes to feed it;
the descriptor travels with the first byte of its frame, so descriptors and frames pair up in order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from sio.workers.routing import owner_of

__all__ = ["ConnectionRouter", "handoff_path"]

log = logging.getLogger("sio.workers")

_LENGTH = struct.Struct(">I")
_COUNTERS = struct.Struct(">HH")  # handshakes, pipelined moves
KIND_CONNECTION = b"C"
_HEADER = 1 + _COUNTERS.size
# A frame carries what one connection had read: a few requests (the front end bounds what it parses
# while waiting to move) and unparsed input; larger means a broken peer. ``start`` sets the limit
# from the engine's max_http_buffer_size; this is the default.
MAX_FRAME = 16 * 1024 * 1024
# Connections waiting to be written to one other worker: beyond this, that worker is stalled and
# requests for it are answered here instead (with its sessions unknown).
MAX_QUEUED = 1024
_RECV_BYTES = 256 * 1024
_RECV_FDS = 64

ProtocolFactory = Callable[[bytes, int, int], asyncio.Protocol]  # (bytes read, handshakes, pipelined moves)


def handoff_path(directory: str | os.PathLike[str], index: int) -> Path:
    """Where worker ``index`` receives connections."""
    return Path(directory) / f"handoff-{index}.sock"


class _Outgoing:
    """The stream to one other worker, and what waits to be written on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        # [bytes still to write, descriptor still to send with them (or -1)]
        self.queue: collections.deque[list[object]] = collections.deque()
        self.waiting = False  # registered for writability
        self.broken = False
        # The other side never writes: readable means it closed (the worker died). Seen at once,
        # so the next request for that worker is answered here rather than lost in a dead stream.
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()

    def send(self, frame: bytes, fd: int) -> None:
        self.queue.append([memoryview(frame), fd])
        if not self.waiting:
            self._write()

    def _write(self) -> None:
        while self.queue:
            item = self.queue[0]
            data: memoryview = item[0]  # type: ignore[assignment]
            fd: int = item[1]  # type: ignore[assignment]
            try:
                sent = socket.send_fds(self.sock, [data], [fd]) if fd >= 0 else self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                self._wait()
                return
            except OSError as exc:
                log.warning("lost the hand-over connection to a worker: %s", exc)
                self.close()
                return
            if sent <= 0:  # (not for a non-empty write on a stream: wait for writability, not spin)
                self._wait()
                return
            if fd >= 0:  # the descriptor went with these bytes: ours is no longer needed
                os.close(fd)
                item[1] = -1
            if sent < len(data):
                item[0] = data[sent:]
                continue
            self.queue.popleft()
        if self.waiting:
            self.loop.remove_writer(self.sock.fileno())
            self.waiting = False

    def _wait(self) -> None:
        if not self.waiting:
            self.waiting = True
            self.loop.add_writer(self.sock.fileno(), self._write)

    def close(self) -> None:
        """Drop the stream; descriptors not sent yet are closed (those clients are lost)."""
        if self.broken:
            return
        self.broken = True
        self.loop.remove_reader(self.sock.fileno())
        if self.waiting:
            self.loop.remove_writer(self.sock.fileno())
            self.waiting = False
        for _, fd in self.queue:
            if fd >= 0:  # type: ignore[operator]
                os.close(fd)  # type: ignore[arg-type]
        self.queue.clear()
        self.sock.close()


class _Incoming:
    """A stream from another worker: frames in, each adopted with its descriptor."""

    def __init__(self, router: ConnectionRouter, sock: socket.socket) -> None:
        self.router = router
        self.sock = sock
        self.buffer = bytearray()
        self.fds: collections.deque[int] = collections.deque()
        router.loop.add_reader(sock.fileno(), self._read)

    def _read(self) -> None:
        try:
            data, fds, flags, _ = socket.recv_fds(self.sock, _RECV_BYTES, _RECV_FDS)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("hand-over connection from a worker failed: %s", exc)
            self.close()
            return
        self.fds.extend(fds)
        if flags & socket.MSG_CTRUNC:
            log.error("descriptors handed over were truncated (a client connection is lost)")
            self.close()
            return
        if not data:
            self.close()
            return
        self.buffer += data
        while len(self.buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self.buffer)
            if size > self.router.max_frame or size < 1:
                log.error("a hand-over frame of %d bytes: closing that stream", size)
                self.close()
                return
            end = _LENGTH.size + size
            if len(self.buffer) < end:
                return
            start = _LENGTH.size
            if self.buffer[start : start + 1] != KIND_CONNECTION or size < _HEADER or not self.fds:
                log.error("a hand-over frame without its connection: closing that stream")
                self.close()
                return
            handshakes, moves = _COUNTERS.unpack_from(self.buffer, start + 1)
            data = bytes(self.buffer[start + _HEADER : end])  # the one copy of what the client sent
            del self.buffer[:end]
            self.router._adopt(self.fds.popleft(), data, handshakes, moves)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.router.loop.remove_reader(self.sock.fileno())
        while self.fds:
            os.close(self.fds.popleft())
        self.sock.close()
        self.router._incoming.discard(self)


class ConnectionRouter:
    """One worker's routing: who owns a sid, connections sent to their owner and received from others."""

    def __init__(self, directory: str | os.PathLike[str], index: int, count: int) -> None:
        self.directory = Path(directory)
        self.index = index
        self.count = count
        self.handed_over = 0  # connections sent to another worker
        self.adopted = 0  # connections received from another worker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self._factory: ProtocolFactory | None = None
        self.max_frame = MAX_FRAME
        self._out: dict[int, _Outgoing] = {}
        self._incoming: set[_Incoming] = set()
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the router runs on (set by :meth:`start`)."""
        assert self._loop is not None, "ConnectionRouter.start() was not called"
        return self._loop

    def owner(self, sid: str) -> int | None:
        """The other worker that holds ``sid``; None when it is this one's (or no worker's)."""
        index = owner_of(sid, self.count)
        return None if index == self.index else index

    def start(self, factory: ProtocolFactory, max_frame: int = MAX_FRAME) -> None:
        """Receive connections on the running loop.

        ``factory(bytes_read, handshakes, pipelined_moves)`` makes the protocol of each connection
        handed over.
        """
        self._loop = asyncio.get_running_loop()
        self._factory = factory
        self.max_frame = max_frame
        path = handoff_path(self.directory, self.index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by the worker this one replaces
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept)

    def hand_over(
        self, index: int, transport: asyncio.Transport, data: bytes, handshakes: int = 0, moves: int = 0
    ) -> bool:
        """Send ``transport``'s connection and ``data`` (read from it) to worker ``index``.

        ``handshakes`` and ``moves`` (those carrying pipelined requests): the connection's counters,
        whose limits hold across workers.

        Returns False, with nothing done, when that worker cannot be reached (it died and is
        being restarted): the request is then answered here. Otherwise the connection is the
        other worker's, and ``transport`` is closed here without touching the connection.
        """
        out = self._outgoing(index)
        sock = transport.get_extra_info("socket")
        if out is None or sock is None or len(out.queue) >= MAX_QUEUED:
            return False
        try:
            fd = os.dup(sock.fileno())  # ours until sent: the transport's own is closed now
        except OSError as exc:  # out of descriptors: answered here
            log.warning("cannot hand a connection over: %s", exc)
            return False
        transport.pause_reading()
        transport.abort()
        header = KIND_CONNECTION + _COUNTERS.pack(min(handshakes, 0xFFFF), min(moves, 0xFFFF))
        out.send(_LENGTH.pack(len(header) + len(data)) + header + data, fd)
        self.handed_over += 1
        return True

    def _outgoing(self, index: int) -> _Outgoing | None:
        out = self._out.get(index)
        if out is not None and not out.broken:
            return out
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(handoff_path(self.directory, index)))
        except OSError as exc:  # not listening (restarting), or its backlog is full
            sock.close()
            log.debug("worker %d cannot take connections now: %s", index, exc)
            self._out.pop(index, None)
            return None
        out = self._out[index] = _Outgoing(self.loop, sock)
        return out

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accepting a hand-over connection failed: %s", exc)
                return
            sock.setblocking(False)
            self._incoming.add(_Incoming(self, sock))

    def _adopt(self, fd: int, data: bytes, handshakes: int, moves: int) -> None:
        """A connection handed to this worker: serve it as if accepted here, ``data`` read first."""
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            os.close(fd)
            log.warning("a handed-over connection could not be used: %s", exc)
            return
        sock.setblocking(False)
        assert self._factory is not None
        factory = self._factory
        task = self.loop.create_task(self._connect(sock, lambda: factory(data, handshakes, moves)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.adopted += 1

    async def _connect(self, sock: socket.socket, factory: Callable[[], asyncio.Protocol]) -> None:
        try:
            await self.loop.connect_accepted_socket(factory, sock)
        except OSError as exc:  # the client left in the meantime
            log.debug("a handed-over connection was gone: %s", exc)
            sock.close()

    async def close(self) -> None:
        """Stop receiving; close the streams to the other workers."""
        if self._listener is not None:
            self.loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                handoff_path(self.directory, self.index).unlink()
        for incoming in list(self._incoming):
            incoming.close()
        for out in self._out.values():
            out.close()
        self._out.clear()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
