"""Admission control of the engine, without sockets: the handshake rate bucket on a fake clock."""

from __future__ import annotations

import pytest

from sio.engine import EngineServer
from sio.engine import server as engine_server


def test_the_handshake_rate_bucket_refills_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token bucket holding one second's worth: a burst of ``rate`` is admitted, then one more
    per 1/rate seconds; time without handshakes does not bank more than the burst."""

    now = [1000.0]
    monkeypatch.setattr(engine_server.time, "monotonic", lambda: now[0])
    eio = EngineServer(max_handshake_rate=4)
    assert [eio._admission_refusal() for _ in range(5)] == [None] * 4 + [
        engine_server.HANDSHAKE_RATE_EXCEEDED
    ]
    now[0] += 0.25
    assert eio._admission_refusal() is None
    assert eio._admission_refusal() == engine_server.HANDSHAKE_RATE_EXCEEDED
    now[0] += 3600
    assert [eio._admission_refusal() for _ in range(5)] == [None] * 4 + [
        engine_server.HANDSHAKE_RATE_EXCEEDED
    ]
    with pytest.raises(ValueError, match="max_handshake_rate"):
        EngineServer(max_handshake_rate=0)
