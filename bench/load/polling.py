"""Echo over HTTP long-polling: what a request costs when it may land on a worker that is not its session's.

Each client is one Engine.IO polling session doing acked ``echo`` events one at a time (POST the
event, GET until the ack comes back). ``fresh`` opens a TCP connection per request, as the
official client does in Node (xmlhttprequest-ssl without an agent): with ``--workers N`` about
(N-1)/N of them land on another worker than the session's and move. Otherwise each client keeps
two keep-alive connections (GET and POST), as a browser does: they move once, then stay.
A control session asks the server (``handoffs``) how many connections moved during the window.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from eioclient import EIO_PATH, ClientError, HttpClient, open_connection
from procstat import Window

CONTROL_TIMEOUT = 3.0  # a server without the ``handoffs`` handler (Node) does not answer


class PollingSession:
    """One polling session: its requests, on fresh or kept connections."""

    def __init__(self, host: str, port: int, source: str, fresh: bool) -> None:
        self.host, self.port, self.source, self.fresh = host, port, source, fresh
        self.query = f"{EIO_PATH}?EIO=4&transport=polling"
        self._kept: dict[str, tuple[HttpClient, asyncio.Transport]] = {}
        self.requests = 0

    def new_client(self) -> HttpClient:
        """The protocol of a new connection."""
        return HttpClient()

    async def request(self, method: str, body: bytes = b"") -> bytes:
        """One request; its body (non-200 is an error)."""
        self.requests += 1
        kept = self._kept.get(method)
        if kept is not None and kept[1].is_closing():  # the server closed it (idle keep-alive timeout)
            del self._kept[method]
        if self.fresh or method not in self._kept:
            http = self.new_client()
            transport = await open_connection(http, self.host, self.port, self.source)
            if not self.fresh:
                self._kept[method] = (http, transport)
        else:
            http, transport = self._kept[method]
        try:
            status, answer = await http.request(method, self.query, f"{self.host}:{self.port}", body)
        finally:
            if self.fresh:
                transport.close()
        if status != 200:
            raise ClientError(f"{method}: {status} {answer[:200]!r}")
        return answer

    async def open(self) -> None:
        """Handshake, then CONNECT to ``/``."""
        body = await self.request("GET")
        self.query += "&sid=" + json.loads(body[1:])["sid"]
        await self.request("POST", b"40")
        await self.until(b"40")

    async def until(self, prefix: bytes) -> bytes:
        """Poll until a packet starting with ``prefix`` arrives (answering pings); return it."""
        while True:
            for packet in (await self.request("GET")).split(b"\x1e"):
                if packet.startswith(prefix):
                    return packet
                if packet == b"2":
                    await self.request("POST", b"3")

    def close(self) -> None:
        """Close the kept connections."""
        for _, transport in self._kept.values():
            transport.close()


@dataclass
class PollingRun:
    """Shared state of the polling clients."""

    frame: bytes
    rtts: list[float] = field(default_factory=list)
    running: bool = True


async def _echo_loop(session: PollingSession, run: PollingRun) -> None:
    while run.running:
        started = time.perf_counter()
        await session.request("POST", run.frame)
        await session.until(b"431")
        run.rtts.append(time.perf_counter() - started)


async def _handoffs(control: PollingSession) -> float:
    try:
        await control.request("POST", b'422["handoffs"]')
        packet = await asyncio.wait_for(control.until(b"432"), CONTROL_TIMEOUT)
    except (TimeoutError, ClientError):
        control.close()  # its GET may still be waiting: its connections are not reused
        control._kept.clear()
        return float("nan")
    return float(json.loads(packet[3:])[0])


async def run_polling_echo(
    target: Any,
    *,
    clients: int = 20,
    payload: int = 100,
    fresh: bool = True,
    warmup: float = 1.0,
    duration: float = 5.0,
) -> dict[str, Any]:
    """``clients`` polling sessions, each with one acked ``echo`` at a time."""
    sources = target.sources
    text = json.dumps("x" * payload)
    run = PollingRun(f'421["echo",{text}]'.encode())
    sessions = [
        PollingSession(target.host, target.port, sources[i % len(sources)], fresh) for i in range(clients)
    ]
    control = PollingSession(target.host, target.port, sources[0], fresh=False)
    await asyncio.gather(control.open(), *(s.open() for s in sessions))
    tasks = [asyncio.ensure_future(_echo_loop(s, run)) for s in sessions]
    try:
        await asyncio.sleep(warmup)
        moved_before = await _handoffs(control)
        requests_before = sum(s.requests for s in sessions)
        first = len(run.rtts)
        window = Window(target.server_pid)
        window.start()
        await asyncio.sleep(duration)
        usage = window.stop()
        last = len(run.rtts)
        requests = sum(s.requests for s in sessions) - requests_before
        # (A server without the handler, Node, answered nothing: not asked again.)
        moved = await _handoffs(control) - moved_before if moved_before == moved_before else float("nan")
    finally:
        run.running = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in (control, *sessions):
            session.close()
    rtts = sorted(run.rtts[first:last])
    acks = last - first
    return {
        "clients": clients,
        "fresh_connections": fresh,
        "acks": acks,
        "acks_per_s": acks / usage.wall,
        "requests": requests,
        "requests_per_ack": requests / acks if acks else float("nan"),
        "rtt_p50_us": rtts[len(rtts) // 2] * 1e6 if rtts else float("nan"),
        "server_us_per_ack": usage.server_cpu / acks * 1e6 if acks else float("nan"),
        "server_us_per_request": usage.server_cpu / requests * 1e6 if requests else float("nan"),
        "moved_pct": 100.0 * max(0.0, moved) / requests if requests else float("nan"),
        **usage.as_dict(),
    }
