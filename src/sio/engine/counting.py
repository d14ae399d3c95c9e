"""Traffic counting for instrumentation (the Admin UI, Prometheus metrics), paid only when asked for.

``count_traffic(engine)`` gives the engine a :class:`TrafficCounters` and turns its sessions, new
and open, into :class:`CountingEngineSocket`: the same object with a subclass's methods, which
add to the counters and call the plain ones. An engine nobody instruments never runs any of it
(its sessions stay :class:`~sio.engine.socket.EngineSocket`: not one test or attribute read is
added to the hot path).

What is counted is what Node's ``engine.io`` reports to ``@socket.io/admin-ui``: a packet with a
payload (its ``packet`` and ``packetCreate`` events with ``data``), in (while the session is
open) and out (written or buffered while open: messages; not pings, noops, nor the open packet,
which Node sends before anyone can listen), and its payload's size as ``Buffer.byteLength``
gives it (UTF-8 bytes of text; the packet type character is not counted).
"""

from __future__ import annotations

from collections.abc import Sequence

from sio.engine.exchange import PreparedMessages
from sio.engine.server import EngineServer
from sio.engine.socket import OPEN, EngineSocket


class TrafficCounters:
    """Totals since the engine was first instrumented (only ever grow)."""

    __slots__ = ("_prepared", "_prepared_size", "bytes_in", "bytes_out", "packets_in", "packets_out")

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        # The last broadcast's messages and their (packets, bytes), for its next recipient.
        self._prepared: PreparedMessages | None = None
        self._prepared_size = (0, 0)

    def snapshot(self) -> tuple[int, int, int, int]:
        """``(packets_in, bytes_in, packets_out, bytes_out)`` now."""
        return self.packets_in, self.bytes_in, self.packets_out, self.bytes_out


def _payload_size(data: str | bytes) -> int:
    """``Buffer.byteLength(data)``: UTF-8 bytes of text (``isascii`` is O(1)), the length of bytes."""
    if type(data) is str and not data.isascii():
        return len(data.encode())
    return len(data)


def _prepared_size(prepared: PreparedMessages) -> tuple[int, int]:
    """(packets, bytes) of messages framed for a broadcast, as Node counts them."""
    packets = size = 0
    for packet in prepared:
        data = packet.data
        # A text packet carries its type character ("4"); a binary one is the payload.
        length = _payload_size(data) - 1 if type(data) is str else len(data)
        if length:
            packets += 1
            size += length
    return packets, size


class CountingEngineSocket(EngineSocket):
    """An :class:`EngineSocket` that counts its packets into ``server.traffic``."""

    __slots__ = ()  # same layout as EngineSocket: an open session's class can be swapped

    def send_messages(self, messages: Sequence[str | bytes], compress: bool = True) -> None:
        """Count, then send (:meth:`EngineSocket.send_messages`)."""
        if self.ready_state is OPEN:
            counters: TrafficCounters = self.server.traffic  # type: ignore[assignment]  # set first
            for message in messages:
                if message:
                    counters.packets_out += 1
                    counters.bytes_out += _payload_size(message)
        EngineSocket.send_messages(self, messages, compress)

    def send_prepared(self, prepared: PreparedMessages) -> None:
        """Count, then send (:meth:`EngineSocket.send_prepared`)."""
        if self.ready_state is OPEN:
            counters: TrafficCounters = self.server.traffic  # type: ignore[assignment]  # set first
            # A broadcast hands the same messages to every recipient in turn: sized once.
            if counters._prepared is not prepared:
                counters._prepared = prepared
                counters._prepared_size = _prepared_size(prepared)
            packets, size = counters._prepared_size
            counters.packets_out += packets
            counters.bytes_out += size
        EngineSocket.send_prepared(self, prepared)

    def _on_packet(self, packet_type: int, data: str | bytes) -> None:
        if data and self.ready_state is OPEN:
            counters: TrafficCounters = self.server.traffic  # type: ignore[assignment]  # set first
            counters.packets_in += 1
            counters.bytes_in += _payload_size(data)
        EngineSocket._on_packet(self, packet_type, data)


def count_traffic(engine: EngineServer) -> TrafficCounters:
    """Start counting ``engine``'s traffic (idempotent); return its counters.

    Sessions already open are counted from now on, new ones from their first message.
    """
    counters = engine.traffic
    if counters is None:
        counters = engine.traffic = TrafficCounters()
        engine.socket_class = CountingEngineSocket
        for socket in engine.clients.values():
            if type(socket) is EngineSocket:
                socket.__class__ = CountingEngineSocket
    return counters
