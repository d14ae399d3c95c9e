"""The ``/metrics`` path of the built-in front end, in front of the server's static files.

The built-in front end gives the requests that are not the engine's to one *fallback* (the
server's ``static_files``); :class:`MetricsEndpoint` takes that place, answers its own path and
hands anything else to the fallback it replaced (or answers 404, as the front end would).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from sio.engine.exchange import HttpExchange
from sio.static import HttpFallback


class MetricsEndpoint:
    """Prometheus exposition on ``path`` (GET and HEAD; the format the ``Accept`` header asks for)."""

    def __init__(self, path: str, registry: CollectorRegistry, inner: HttpFallback | None = None) -> None:
        self.path = path
        self.registry = registry
        self.inner = inner
        self.on_scrape: Callable[[], None] | None = None  # called before each exposition

    def serves(self, method: str, url_path: str) -> bool:
        """GET and HEAD of the metrics path, and whatever the inner fallback serves."""
        if url_path == self.path:
            return method in ("GET", "HEAD")
        return self.inner is not None and self.inner.serves(method, url_path)

    def __call__(self, exchange: HttpExchange) -> None:
        """Answer one request given to the fallback."""
        if exchange.path != self.path:
            if self.inner is not None:
                self.inner(exchange)
            else:
                exchange.respond(404, [("Content-Type", "text/plain")], b"Not Found")
            return
        if exchange.method not in ("GET", "HEAD"):
            exchange.respond(
                405, [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")], b"Method Not Allowed"
            )
            return
        if self.on_scrape is not None:
            self.on_scrape()
        encoder, content_type = choose_encoder(exchange.headers.get("accept", ""))
        body = encoder(self.registry)
        exchange.respond(200, [("Content-Type", content_type)], b"" if exchange.method == "HEAD" else body)
