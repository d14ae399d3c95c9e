"""What instrumentation costs per operation, in one process: sio plain, with sio.metrics, with
sio.admin (production and development mode, no admin socket connected).

    python bench/instrumentation.py [--sockets 1000] [--repeat 5]

1,000 Socket.IO sockets over in-memory WebSockets (channels that drop what they are sent, on a
fake loop: no sockets, no kernel), then the best of ``--repeat`` timings of: an event received
and dispatched to its handler, an event emitted to one socket, a broadcast to every socket (per
delivery). What it measures is the Python work added on those paths; bench/load measures the
servers over real sockets (bench/RESULTS.md has both).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sio
from sio.engine.exchange import EncodedPacket, WebSocketChannel
from tests.unit.fakes import FakeExchange, FakeLoop


class NullChannel(WebSocketChannel):
    """An accepted WebSocket that drops what it is sent (always writable)."""

    __slots__ = ()

    def send(self, data: EncodedPacket) -> None:
        pass

    def send_packets(self, packets: Sequence[EncodedPacket]) -> bool:
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def build(variant: str, sockets: int) -> tuple[sio.Server, list[object]]:
    """A server of ``variant`` with ``sockets`` connected sockets; their transports."""
    io = sio.Server(loop=FakeLoop())  # type: ignore[arg-type]
    if variant == "metrics":
        from prometheus_client import CollectorRegistry

        from sio.metrics import instrument_metrics

        instrument_metrics(io, registry=CollectorRegistry())
    elif variant.startswith("admin"):
        from sio.admin import instrument

        instrument(io, auth=False, mode="development" if variant == "admin-dev" else "production")

    @io.on("connection")
    def on_connection(socket: sio.Socket) -> None:
        socket.on("echo", lambda *args: None)

    transports = []
    for _ in range(sockets):
        exchange = FakeExchange("GET", "EIO=4&transport=websocket", path="/socket.io/")
        exchange.authorized = True
        transport = io.engine.accept_websocket(exchange, NullChannel())
        assert transport is not None
        transport.on_message("40")
        transports.append(transport)
    assert len(io.of("/").sockets) == sockets, "the sockets did not connect"
    return io, transports


def best(fn: Callable[[], None], repeat: int) -> float:
    """The least seconds one call of ``fn`` took, over ``repeat`` timings."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(variant: str, sockets: int, repeat: int) -> dict[str, float]:
    """µs per received event, per emit to one socket, per broadcast delivery."""
    io, transports = build(variant, sockets)
    message = '42["echo","' + "x" * 100 + '"]'
    one = next(iter(io.of("/").sockets.values()))
    payload = "x" * 100

    def receive() -> None:
        for transport in transports:
            transport.on_message(message)  # type: ignore[attr-defined]

    def emit() -> None:
        for socket in io.of("/").sockets.values():
            socket.emit("msg", payload)

    def broadcast() -> None:
        for _ in range(20):
            io.emit("msg", payload)

    assert one.connected
    return {
        "receive": best(receive, repeat) / sockets * 1e6,
        "emit": best(emit, repeat) / sockets * 1e6,
        "broadcast": best(broadcast, repeat) / (20 * sockets) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    variants = ["plain", "metrics", "admin", "admin-dev"]
    results = {variant: measure(variant, args.sockets, args.repeat) for variant in variants}
    print(f"µs per operation, best of {args.repeat}, {args.sockets} sockets (in-process, no I/O)")
    print(f"{'':28}" + "".join(f"{v:>12}" for v in variants))
    for name, label in [
        ("receive", "event received, dispatched"),
        ("emit", "emit to one socket"),
        ("broadcast", "broadcast, per delivery"),
    ]:
        print(f"{label:28}" + "".join(f"{results[v][name]:12.3f}" for v in variants))


if __name__ == "__main__":
    main()
