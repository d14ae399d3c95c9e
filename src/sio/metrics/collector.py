"""What is read from the server's state when Prometheus scrapes: sockets, sessions, traffic totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sio.engine.counting import TrafficCounters

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.server import Server


class ServerCollector(Collector):
    """A prometheus_client collector reading ``io``'s namespaces, sessions and traffic counters.

    ``socketio_sockets{namespace,transport}``: the Socket.IO sockets connected now;
    ``socketio_engine_sessions{transport}``: the open Engine.IO sessions;
    ``socketio_engine_{packets,bytes}_{received,sent}_total``: the traffic since instrumentation
    (as Node's engine.io reports it to the Admin UI: payload packets and their bytes).
    """

    def __init__(
        self, io: Server, traffic: TrafficCounters, namespace_label: Callable[[Namespace], str]
    ) -> None:
        self.io = io
        self.traffic = traffic
        self.namespace_label = namespace_label

    def describe(self) -> list[Metric]:
        """The families (no samples): what registration checks for clashes, without a scrape."""
        sockets, sessions, traffic = self._families()
        return [sockets, sessions, *traffic]

    def collect(self) -> Iterator[Metric]:
        """The samples, read now."""
        sockets, sessions, traffic = self._families()
        counts: Counter[tuple[str, str]] = Counter()
        label = self.namespace_label
        for nsp in list(self.io._nsps.values()):
            name = label(nsp)
            for socket in list(nsp.sockets.values()):
                counts[name, socket.conn.transport] += 1
        for (name, transport), count in sorted(counts.items()):
            sockets.add_metric([name, transport], count)
        by_transport = Counter(session.transport for session in list(self.io.engine.clients.values()))
        for transport in ("polling", "websocket"):
            sessions.add_metric([transport], by_transport.get(transport, 0))
        yield sockets
        yield sessions
        yield from traffic

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, list[Metric]]:
        sockets = GaugeMetricFamily(
            "socketio_sockets",
            "Socket.IO sockets connected now, by namespace and current transport.",
            labels=["namespace", "transport"],
        )
        sessions = GaugeMetricFamily(
            "socketio_engine_sessions",
            "Engine.IO sessions open now, by current transport.",
            labels=["transport"],
        )
        packets_in, bytes_in, packets_out, bytes_out = self.traffic.snapshot()
        traffic: list[Metric] = [
            CounterMetricFamily(
                "socketio_engine_packets_received",
                "Engine.IO packets with a payload received (messages; not pings, pongs or noops).",
                value=packets_in,
            ),
            CounterMetricFamily(
                "socketio_engine_bytes_received",
                "Payload bytes of the packets received (UTF-8 bytes of text, as Buffer.byteLength).",
                value=bytes_in,
            ),
            CounterMetricFamily(
                "socketio_engine_packets_sent",
                "Engine.IO packets with a payload sent (the open packet and messages).",
                value=packets_out,
            ),
            CounterMetricFamily(
                "socketio_engine_bytes_sent",
                "Payload bytes of the packets sent (UTF-8 bytes of text, as Buffer.byteLength).",
                value=bytes_out,
            ),
        ]
        return sockets, sessions, traffic
