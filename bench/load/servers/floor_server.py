"""The floor of a heartbeat on this machine: the least work a uvloop server can do per ping.

Usage: ``python floor_server.py PORT PING_INTERVAL``.

Not a Socket.IO server, and not measured for speed against the others: it answers the
generator's handshake with fixed bytes (101, OPEN, CONNECT), then writes one pre-built
ping frame to every connection each ``PING_INTERVAL`` (one timer for all of them) and
drops what comes back (the pongs are read by the loop and never parsed). What it costs
per ping is the write and the read the ping and its pong need, plus the least Python
possible: a floor that any server doing one write and one read per heartbeat stands on,
so the *idle* table shows how much of a real server's cost per ping is its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys

import uvloop

HOST = "127.0.0.1"
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


def text_frame(text: str) -> bytes:
    """An unmasked server text frame (payloads here are under 126 bytes)."""
    payload = text.encode()
    return bytes([0x81, len(payload)]) + payload


PING = text_frame("2")
CONNECTED = text_frame('40{"sid":"floor"}')
connections: set[FloorConnection] = set()


class FloorConnection(asyncio.Protocol):
    """One client: handshake with fixed bytes, then only pings out and pongs dropped."""

    __slots__ = ("_head", "_open_frame", "_state", "transport")

    def __init__(self, open_frame: bytes) -> None:
        self._open_frame = open_frame
        self._head = b""
        self._state = "http"  # then "open" (OPEN sent, CONNECT awaited), then "ready"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._state == "ready":
            return  # a pong: read by the loop, dropped
        if self._state == "http":
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            key = next(
                line.split(b":", 1)[1].strip()
                for line in self._head[:end].split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self._open_frame
            )
            self._state = "open"
            if end + 4 == len(self._head):
                return
        # The client's first frame after OPEN is its CONNECT to "/".
        self._state = "ready"
        self._head = b""
        assert self.transport is not None
        self.transport.write(CONNECTED)
        connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        connections.discard(self)


def ping_everyone(loop: asyncio.AbstractEventLoop, interval: float) -> None:
    """Write the ping frame to every ready connection, then again in ``interval`` seconds."""
    for connection in connections:
        connection.transport.write(PING)  # type: ignore[union-attr]
    loop.call_later(interval, ping_everyone, loop, interval)


async def main(port: int, ping_interval: float) -> None:
    """Serve until killed."""
    loop = asyncio.get_running_loop()
    handshake = {"sid": "floor", "upgrades": [], "pingInterval": round(ping_interval * 1000)}
    open_frame = text_frame("0" + json.dumps({**handshake, "pingTimeout": 20000, "maxPayload": 1000000}))
    await loop.create_server(lambda: FloorConnection(open_frame), HOST, port)
    ping_everyone(loop, ping_interval)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), float(sys.argv[2])))
