"""``instrument_metrics(io)``: the metrics of one server, in a prometheus_client registry."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

try:
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, make_asgi_app
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("sio.metrics needs prometheus_client: pip install 'sio[metrics]'") from exc

from sio.asgi_types import ASGIApplication
from sio.engine.counting import count_traffic
from sio.metrics.cluster import ClusterHooks
from sio.metrics.collector import ServerCollector
from sio.metrics.endpoint import MetricsEndpoint
from sio.metrics.hooks import ServerHooks
from sio.metrics.lag import LagMonitor

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.server import Server

DEFAULT_PATH = "/metrics"
# Weak both ways: the server keeps its Metrics alive (its handlers), not this table.
_instrumented: weakref.WeakKeyDictionary[Server, weakref.ref[Metrics]] = weakref.WeakKeyDictionary()


def _namespace_name(nsp: Namespace) -> str:
    return nsp.name


class Metrics:
    """The Prometheus metrics of one :class:`sio.Server` (made by :func:`instrument_metrics`).

    ``registry`` holds them (the one given, or prometheus_client's default ``REGISTRY`` with
    the process's own metrics); :meth:`collect_text` is the exposition, :meth:`asgi_app` an
    ASGI app serving it; ``path`` is where the built-in front end serves it (None: nowhere).
    """

    def __init__(
        self,
        io: Server,
        *,
        path: str | None = DEFAULT_PATH,
        registry: CollectorRegistry | None = None,
        namespace_label: Callable[[Namespace], str] | None = None,
        lag_interval: float | None = 0.5,
    ) -> None:
        self.io = io
        self.path = path
        self.registry: CollectorRegistry = registry if registry is not None else REGISTRY
        label = namespace_label if namespace_label is not None else _namespace_name
        self.lag = LagMonitor(io.engine, self.registry, lag_interval) if lag_interval else None
        self.hooks = ServerHooks(io, self.registry, label, self._started)
        self.cluster = ClusterHooks(self.registry)
        self.collector = ServerCollector(io, count_traffic(io.engine), label)
        self.registry.register(self.collector)
        self.hooks.attach()
        for nsp in list(io._nsps.values()):
            self.cluster.watch(nsp.adapter)
        io.on("new_namespace", self._on_new_namespace)
        if path is not None:
            endpoint = MetricsEndpoint(path, self.registry, io.static_files)
            endpoint.on_scrape = self._started
            io.static_files = endpoint
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # the lag monitor starts with the first session or scrape
        else:
            self._started()

    def _on_new_namespace(self, nsp: Namespace) -> None:
        self.cluster.watch(nsp.adapter)

    def _started(self) -> None:
        """The server runs on a loop: sample its lag (idempotent; follows a restarted engine)."""
        if self.lag is not None:
            self.lag.ensure_started()

    def collect_text(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of the registry, now."""
        self._started()
        return generate_latest(self.registry).decode()

    def asgi_app(self) -> ASGIApplication:
        """An ASGI app answering with the exposition (prometheus_client's ``make_asgi_app``):
        mount it where another front end should serve it (``app.mount("/metrics", ...)``)."""
        return make_asgi_app(self.registry)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop sampling the loop's lag (the counters stay registered)."""
        if self.lag is not None:
            self.lag.stop()


def instrument_metrics(
    io: Server,
    *,
    path: str | None = DEFAULT_PATH,
    registry: CollectorRegistry | None = None,
    namespace_label: Callable[[Namespace], str] | None = None,
    lag_interval: float | None = 0.5,
) -> Metrics:
    """Collect ``io``'s metrics into ``registry`` (default: prometheus_client's ``REGISTRY``).

    Call it before ``io.listen`` / ``io.serve`` (the built-in front end then answers ``GET
    path``; ``path=None`` serves nothing) and after ``io.adapter(...)``. Every namespace is
    covered, those made later (dynamic children) included; ``namespace_label(nsp)`` names a
    namespace in the labels (default its name: give dynamic children one label to bound the
    series). ``lag_interval``: seconds between event-loop lag samples (None: none).
    Idempotent: a server instrumented already returns its :class:`Metrics` (the first call's).
    """
    known = _instrumented.get(io)
    metrics = known() if known is not None else None
    if metrics is None:
        metrics = Metrics(
            io, path=path, registry=registry, namespace_label=namespace_label, lag_interval=lag_interval
        )
        _instrumented[io] = weakref.ref(metrics)
    return metrics
