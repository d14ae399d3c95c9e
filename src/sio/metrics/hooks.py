"""Events counted as they happen: handshakes, upgrades, closes, connections, disconnections,
broadcast fan-out and pong delays.

Everything here is attached to an instrumented server only: handlers on its engine, its
namespaces and their sockets, and each namespace's ``deliver`` / ``deliver_with_ack`` replaced
on the instance by a wrapper that observes the recipients (a server without metrics runs the
class's methods, untouched).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from sio._events import EventEmitter
from sio.metrics.histogram import LoopHistogram
from sio.namespace import Namespace, ParentNamespace

if TYPE_CHECKING:
    from sio.adapters.base import BroadcastFlags
    from sio.engine.socket import EngineSocket
    from sio.parser import Packet
    from sio.server import Server
    from sio.socket import Socket

# Recipients of one broadcast, on this server (0: a room with nobody here).
FAN_OUT_BUCKETS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000)
# From a ping's due time to its pong: the timer's lateness, the write, the round trip, the read.
PONG_DELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _reason(reason: Any) -> str:
    """A reason's string (``DisconnectReason`` members are their strings)."""
    return str(getattr(reason, "value", reason))


class ServerHooks:
    """The counters and histograms of one server, and the handlers that feed them."""

    def __init__(
        self,
        io: Server,
        registry: CollectorRegistry,
        namespace_label: Callable[[Namespace], str],
        on_session: Callable[[], None],
    ) -> None:
        self.io = io
        self.namespace_label = namespace_label
        self._on_session = on_session  # the lag monitor starts with the first session, at the latest
        self._watched: weakref.WeakSet[Namespace] = weakref.WeakSet()
        self.handshakes = Counter(
            "socketio_engine_handshakes",
            "Engine.IO sessions opened, by the transport of the handshake.",
            ["transport"],
            registry=registry,
        )
        self.upgrades = Counter(
            "socketio_engine_upgrades",
            "Engine.IO sessions upgraded from polling to WebSocket.",
            registry=registry,
        )
        self.closes = Counter(
            "socketio_engine_disconnections",
            "Engine.IO sessions closed, by reason (Node's strings: 'transport close', 'ping timeout', ...).",
            ["reason"],
            registry=registry,
        )
        self.connections = Counter(
            "socketio_connections",
            "Socket.IO sockets connected (middlewares passed), by namespace.",
            ["namespace"],
            registry=registry,
        )
        self.disconnections = Counter(
            "socketio_disconnections",
            "Socket.IO sockets disconnected, by namespace and reason (sio.DisconnectReason's strings).",
            ["namespace", "reason"],
            registry=registry,
        )
        self.fan_out = LoopHistogram(
            "socketio_broadcast_recipients",
            "Sockets of this server one broadcast was written to, by namespace.",
            FAN_OUT_BUCKETS,
            ["namespace"],
            registry=registry,
        )
        self.pong_delay = LoopHistogram(
            "socketio_engine_pong_delay_seconds",
            "From the moment a ping was due to the arrival of its pong (Engine.IO v4 sessions).",
            PONG_DELAY_BUCKETS,
            registry=registry,
        )
        self._closes_by_reason: dict[Any, Any] = {}
        self._handshakes_by_transport: dict[str, Any] = {}
        # Bound once: every session holds the same handler objects (memory per idle session).
        self._upgrade_handler = self._on_upgrade
        self._close_handler = self._on_session_closed
        self.observe_pong_delay = self.pong_delay.labels().observe
        self.clock: Callable[[], float] = time.monotonic  # the engine loop's, from the first session
        self.ping_interval = io.engine.ping_interval

    def attach(self) -> None:
        """Watch the engine's sessions, every namespace there is and every one made later."""
        self.io.engine.on("connection", self._on_session_opened)
        self.io.on("new_namespace", self.watch_namespace)
        for nsp in list(self.io._nsps.values()):
            self.watch_namespace(nsp)

    # -- Engine.IO sessions ---------------------------------------------------------------

    def _on_session_opened(self, session: EngineSocket) -> None:
        self._on_session()
        transport = session.transport
        child = self._handshakes_by_transport.get(transport)
        if child is None:
            child = self._handshakes_by_transport[transport] = self.handshakes.labels(transport)
        child.inc()
        session.on("upgrade", self._upgrade_handler)
        session.on("close", self._close_handler)
        if session.protocol != 3:  # a v3 client pings, the server only answers
            self._watch_heartbeat(session)

    def _on_upgrade(self, transport: str) -> None:
        self.upgrades.inc()

    def _on_session_closed(self, reason: Any, description: Any) -> None:
        child = self._closes_by_reason.get(reason)
        if child is None:
            child = self._closes_by_reason[reason] = self.closes.labels(_reason(reason))
        child.inc()

    def _watch_heartbeat(self, session: EngineSocket) -> None:
        """Observe each pong's delay after its ping's due time (see :class:`PongWatch`)."""
        engine = session.server
        self.clock = clock = engine.wheel.loop.time  # the wheel's loop (a new one after a restart)
        self.ping_interval = engine.ping_interval
        session.on("heartbeat", PongWatch(self, clock() + engine.ping_interval))

    # -- Socket.IO namespaces and sockets -------------------------------------------------

    def watch_namespace(self, nsp: Namespace) -> None:
        """Count ``nsp``'s connections and disconnections and observe its broadcasts (once)."""
        # A dynamic parent's handlers are copied to each child it makes: its children are
        # watched themselves (new_namespace), the parent never.
        if isinstance(nsp, ParentNamespace) or nsp in self._watched:
            return
        self._watched.add(nsp)
        name = self.namespace_label(nsp)
        connected = self.connections.labels(name)
        disconnections = self.disconnections
        by_reason: dict[Any, Any] = {}

        def on_disconnect(reason: Any) -> None:
            child = by_reason.get(reason)
            if child is None:
                child = by_reason[reason] = disconnections.labels(name, _reason(reason))
            child.inc()

        def on_connect(socket: Socket) -> None:
            connected.inc()
            # EventEmitter's own on: Socket.on keeps an arity per handler, which "disconnect"
            # handlers do not use (memory per socket).
            EventEmitter.on(socket, "disconnect", on_disconnect)

        nsp.on("connect", on_connect)  # before "connection": its handlers may disconnect at once
        self._observe_fan_out(nsp, name)

    def _observe_fan_out(self, nsp: Namespace, name: str) -> None:
        observe = self.fan_out.labels(name).observe
        plain_deliver = nsp.deliver
        plain_deliver_with_ack = nsp.deliver_with_ack

        def deliver(packet: Packet, sockets: Iterable[Socket], flags: BroadcastFlags) -> list[str | bytes]:
            # The adapter's selection is iterated once: listed here (one list per broadcast) to count it.
            recipients = sockets if type(sockets) is list else list(sockets)
            observe(len(recipients))
            return plain_deliver(packet, recipients, flags)

        def deliver_with_ack(
            packet: Packet, sockets: list[Socket], flags: BroadcastFlags, ack: Callable[..., Any]
        ) -> int:
            observe(len(sockets))
            return plain_deliver_with_ack(packet, sockets, flags, ack)

        nsp.deliver = deliver  # type: ignore[method-assign]
        nsp.deliver_with_ack = deliver_with_ack  # type: ignore[method-assign]


class PongWatch:
    """One session's ``heartbeat`` handler: the pong's delay after its ping's due time.

    The session's heartbeat timer is armed for ``ping_interval`` at the open packet and again
    at each pong, on the loop's clock, which this reads in the same callback: so the due time
    of the next ping is known without touching the engine. (An object with two slots rather
    than a closure: a closure's cells cost about 300 bytes per session more.)
    """

    __slots__ = ("due", "hooks")

    def __init__(self, hooks: ServerHooks, due: float) -> None:
        self.hooks = hooks
        self.due = due

    def __call__(self) -> None:
        """A pong arrived."""
        hooks = self.hooks
        now = hooks.clock()
        delay = now - self.due
        hooks.observe_pong_delay(delay if delay > 0.0 else 0.0)
        self.due = now + hooks.ping_interval
