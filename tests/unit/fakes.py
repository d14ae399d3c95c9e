"""A fake event loop (a clock the test moves) and fake I/O for the engine's session logic.

The engine runs unchanged on them: ``EngineServer(loop=FakeLoop())`` drives its timer wheel from
the fake clock, :class:`FakeExchange` is an HTTP request whose answer is recorded, and
:class:`FakeChannel` an accepted WebSocket whose frames are recorded and whose back-pressure
and input state the test sets.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from sio.engine.exchange import EncodedPacket, Headers, HttpExchange, WebSocketChannel, packet_data


class FakeHandle:
    """What ``call_soon`` / ``call_at`` return."""

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def run(self) -> None:
        if not self.cancelled:
            self.callback(*self.args)


class FakeLoop:
    """The parts of an asyncio loop the engine uses, on a clock that moves only in ``advance``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._ready: deque[FakeHandle] = deque()
        self._timers: list[tuple[float, int, FakeHandle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        handle = FakeHandle(self.now, callback, args)
        self._ready.append(handle)
        return handle

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        handle = FakeHandle(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> FakeHandle:
        return self.call_at(self.now + delay, callback, *args)

    def run_ready(self) -> None:
        """Run the callbacks due now (and those they schedule for now)."""
        while self._ready:
            self._ready.popleft().run()

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, running every callback due on the way, in time order."""
        target = self.now + seconds
        self.run_ready()
        while self._timers and self._timers[0][0] <= target:
            when, _, handle = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            handle.run()
            self.run_ready()
        self.now = target
        self.run_ready()


class FakeExchange(HttpExchange):
    """An HTTP request; ``answer`` is the response once given."""

    __slots__ = ("answer",)

    def __init__(self, method: str, query: str, body: bytes = b"", path: str = "/engine.io/") -> None:
        super().__init__(method, path, query, {"host": "test"}, body, "127.0.0.1")
        self.answer: tuple[int, Headers, bytes] | None = None

    def _send(self, status: int, headers: Headers, body: bytes) -> None:
        self.answer = (status, headers, body)


class FakeChannel(WebSocketChannel):
    """An accepted WebSocket: frames recorded as the packets' str or bytes."""

    __slots__ = ("closed", "handler", "held", "paused", "queued", "sent")

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed: int | None = None  # the close code, once closed
        self.paused = False  # back-pressure: not writable
        self.queued = False  # input waits for its turn (held back by us)
        self.held = False  # input unread because reading is held back (the peer does not read)

    def send(self, data: EncodedPacket) -> None:
        self.sent.append(packet_data(data))

    def send_packets(self, packets: Sequence[EncodedPacket]) -> bool:
        if self.paused or self.closed is not None:
            return False
        return super().send_packets(packets)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = code

    @property
    def writable(self) -> bool:
        return not self.paused

    def input_queued(self) -> bool:
        return self.queued

    def input_held(self) -> bool:
        return self.held
