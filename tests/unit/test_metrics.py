"""sio.metrics on a fake clock and fake I/O: nothing is attached to a server without metrics,
everything is once instrumented; the lag monitor's samples; the endpoint's answers."""

from __future__ import annotations

import gc
import re
import weakref
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import sio
from sio.adapters.cluster import ClusterAdapter, ClusterMessage
from sio.engine import EngineSocket
from sio.engine.counting import CountingEngineSocket
from sio.metrics import instrument_metrics
from sio.namespace import Namespace
from sio.static import StaticFiles
from tests.unit.fakes import FakeExchange, FakeLoop

PATCHED_ADAPTER_METHODS = {"publish", "publish_response", "_start_request", "_count_response", "_settle"}


class QuietClusterAdapter(ClusterAdapter):
    """A cluster adapter of one server: what it publishes goes nowhere."""

    def __init__(self, nsp: Namespace) -> None:
        super().__init__(nsp)
        self.sent: list[ClusterMessage] = []

    def do_publish(self, message: ClusterMessage) -> None:
        self.sent.append(message)

    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        self.sent.append(response)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def open_session(io: sio.Server) -> EngineSocket:
    handshake = FakeExchange("GET", "EIO=4&transport=polling", path="/socket.io/")
    io.engine.handle_request(handshake)
    assert handshake.answer is not None and handshake.answer[0] == 200
    return list(io.engine.clients.values())[-1]


def test_a_server_without_metrics_keeps_the_plain_classes_and_methods() -> None:
    io = sio.Server(loop=FakeLoop(), adapter=QuietClusterAdapter)  # type: ignore[arg-type]
    io.of("/chat")
    before = open_session(io)
    assert type(before) is EngineSocket
    assert io.engine.traffic is None and io.engine.socket_class is EngineSocket
    assert io.static_files is None
    for nsp in io._nsps.values():
        assert {"deliver", "deliver_with_ack"}.isdisjoint(vars(nsp))
        assert PATCHED_ADAPTER_METHODS.isdisjoint(vars(nsp.adapter))
    assert set(before._handlers) == {"message", "close"}  # the Socket.IO layer's only

    instrument_metrics(io, registry=CollectorRegistry())
    after = open_session(io)
    assert type(before) is CountingEngineSocket and type(after) is CountingEngineSocket
    assert {"heartbeat", "close", "upgrade"} <= set(after._handlers)
    for nsp in io._nsps.values():
        assert {"deliver", "deliver_with_ack"} <= set(vars(nsp))
        assert set(vars(nsp.adapter)) >= PATCHED_ADAPTER_METHODS
    dynamic = io.of("/later")  # a namespace made afterwards is covered too
    assert "deliver" in vars(dynamic) and "publish" in vars(dynamic.adapter)


def test_instrumenting_twice_gives_the_same_metrics() -> None:
    io = sio.Server(loop=FakeLoop())
    registry = CollectorRegistry()
    instrument_metrics(io, registry=registry)  # not kept: the server keeps it
    endpoint = io.static_files
    gc.collect()
    first = instrument_metrics(io)
    assert instrument_metrics(io, registry=registry) is first and io.static_files is endpoint
    assert first.registry is registry and first.path == "/metrics"
    assert io.static_files is not None and io.static_files.serves("GET", "/metrics")


def test_an_instrumented_server_can_be_collected() -> None:
    io = sio.Server(loop=FakeLoop())
    instrument_metrics(io, registry=CollectorRegistry())
    gone = weakref.ref(io)
    del io
    gc.collect()
    assert gone() is None


def test_dynamic_children_are_watched_once_with_their_label() -> None:
    io = sio.Server(loop=FakeLoop())
    parent = io.of(re.compile(r"^/room-\d+$"))
    metrics = instrument_metrics(
        io,
        registry=CollectorRegistry(),
        namespace_label=lambda nsp: "/room-*" if nsp.parent is parent else nsp.name,
    )
    assert "deliver" not in vars(parent)  # its handlers are copied to children: never the parent
    child = parent.create_child("/room-1")
    assert "deliver" in vars(child)
    child.emit("x")  # a broadcast to nobody
    got = samples(metrics.collect_text())
    assert got["socketio_broadcast_recipients_count", frozenset({("namespace", "/room-*")})] == 1
    assert got["socketio_broadcast_recipients_sum", frozenset({("namespace", "/room-*")})] == 0
    # Handlers on the child: one "connect" handler of the metrics (not two, not the parent's copy).
    assert len(child.listeners("connect")) == 1


async def test_the_lag_monitor_measures_how_late_its_timer_fires() -> None:
    loop = FakeLoop()
    io = sio.Server(loop=loop)
    metrics = instrument_metrics(io, registry=CollectorRegistry(), path=None, lag_interval=0.5)
    loop.advance(0.5)  # on time
    # A callback that holds the loop for 30 ms just before the next sample is due.
    loop.call_at(loop.now + 0.499, lambda: setattr(loop, "now", loop.now + 0.03))
    loop.advance(0.6)
    got = samples(metrics.collect_text())
    bucket = "socketio_event_loop_lag_seconds_bucket"
    assert got["socketio_event_loop_lag_seconds_count", frozenset()] == 2
    assert got[bucket, frozenset({("le", "0.001")})] == 1  # the first, on the tick
    assert got[bucket, frozenset({("le", "0.025")})] == 1
    assert got[bucket, frozenset({("le", "0.05")})] == 2  # the second, about 29 ms late
    assert got["socketio_event_loop_lag_seconds_sum", frozenset()] == pytest.approx(0.029, abs=0.0015)
    metrics.close()
    loop.advance(5)
    assert samples(metrics.collect_text())["socketio_event_loop_lag_seconds_count", frozenset()] == 2


def test_lag_monitor_off() -> None:
    io = sio.Server(loop=FakeLoop())
    metrics = instrument_metrics(io, registry=CollectorRegistry(), lag_interval=None)
    assert metrics.lag is None
    assert "socketio_event_loop_lag_seconds" not in metrics.collect_text()


def _get(io: sio.Server, method: str, path: str, accept: str | None = None) -> tuple[int, Any, bytes]:
    exchange = FakeExchange(method, "", path=path)
    if accept is not None:
        exchange.headers["accept"] = accept
    assert io.static_files is not None
    io.static_files(exchange)
    assert exchange.answer is not None
    return exchange.answer


def test_the_endpoint_answers_its_path_and_passes_the_rest_on(tmp_path: Any) -> None:
    page = tmp_path / "page.html"
    page.write_text("hi")
    io = sio.Server(loop=FakeLoop(), static_files={"/page.html": page})
    static = io.static_files
    assert isinstance(static, StaticFiles)
    instrument_metrics(io, registry=CollectorRegistry(), path="/stats")
    endpoint = io.static_files
    assert endpoint is not None and endpoint is not static

    status, headers, body = _get(io, "GET", "/stats")
    assert status == 200 and dict(headers)["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"socketio_sockets" in body
    status, headers, body = _get(io, "GET", "/stats", accept="application/openmetrics-text; version=1.0.0")
    assert dict(headers)["Content-Type"].startswith("application/openmetrics-text") and body.endswith(
        b"# EOF\n"
    )
    assert _get(io, "HEAD", "/stats")[::2] == (200, b"")
    assert _get(io, "POST", "/stats")[0] == 405
    assert _get(io, "GET", "/page.html")[::2] == (200, b"hi")
    assert _get(io, "GET", "/nothing")[0] == 404
    assert endpoint.serves("GET", "/stats") and endpoint.serves("GET", "/page.html")
    assert not endpoint.serves("POST", "/stats") and not endpoint.serves("GET", "/nothing")


def test_no_path_serves_nothing() -> None:
    io = sio.Server(loop=FakeLoop())
    instrument_metrics(io, registry=CollectorRegistry(), path=None)
    assert io.static_files is None
