"""Prometheus metrics for a :class:`sio.Server` (the ``metrics`` extra: ``pip install sio[metrics]``).

::

    import sio
    from sio.metrics import instrument_metrics

    io = sio.Server()
    metrics = instrument_metrics(io)   # GET /metrics on the built-in front end
    io.listen(3000)

Every metric is named ``socketio_*`` (docs/metrics.md lists them). Nothing is paid on the hot
path by a server that is not instrumented; an instrumented one counts its traffic
(:func:`sio.engine.counting.count_traffic`, shared with the Admin UI) and observes each
broadcast's recipients, each pong and each connection, disconnection and cluster request.
"""

from __future__ import annotations

from sio.metrics.metrics import DEFAULT_PATH, Metrics, instrument_metrics

__all__ = ["DEFAULT_PATH", "Metrics", "instrument_metrics"]
