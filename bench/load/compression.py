"""Compression under load: permessage-deflate on the WebSocket, gzip/deflate on polling responses.

The WebSocket clients here offer ``permessage-deflate; client_max_window_bits`` (what browsers and the
official client send) and speak it when the server accepts (RFC 7692):

- a frame with RSV1 is inflated (``decompressobj(-15)``, ``00 00 ff ff`` appended), with one inflater
  kept for the connection, or a fresh one per message when the server keeps no context (then equal
  compressed bytes inflate to equal messages, and each distinct one is inflated once per run);
- a message of at least :data:`THRESHOLD` bytes is sent compressed, with a compressor kept for the
  connection, or a fresh one per message when the server answered ``client_no_context_takeover``
  (every echo client sends the same sequence, so each compressed frame is made once per run:
  :class:`DeflateEchoRun`).

Negotiated connections are read by a small Python frame parser (:class:`DeflateReader`), plain ones by
the compiled ``FrameParser`` of the other scenarios: the generator spends more per message on the former.

Every byte the generator's sockets send and receive is counted (:class:`Wire`): the scenarios report
the bytes on the wire per message, WebSocket framing and HTTP headers included, TCP/IP not.

The polling scenario sends ``Accept-Encoding: gzip, deflate`` and decodes what comes back with a
``Content-Encoding``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from eioclient import (
    MASK,
    PONG,
    ClientError,
    Health,
    HttpClient,
    WsClient,
    client_frame,
    upgrade_request,
)
from payloads import chat_payloads
from polling import PollingSession
from procstat import Window, rss_kib
from scenarios import (
    DRAIN_TIMEOUT,
    BroadcastClient,
    BroadcastRun,
    Target,
    _percentile,
    _wait_until,
    connect_many,
    payload_text,
)

from sio._sio_core import OP_BINARY, OP_CLOSE, OP_TEXT, FrameParser, encode_frame

THRESHOLD = 1024  # bytes: what the client compresses (ws's and Node's default threshold)
# Messages each connection gets before a window starts (besides the time warm-up): a kept context is
# full (32 KiB, ~10 pages) only after several messages, and the first ones deflate less, so a slow
# server's window would otherwise hold more of them than a fast one's.
WARM_MESSAGES = 12
WARM_TIMEOUT = 30.0
OFFER = "permessage-deflate; client_max_window_bits"
TAIL = b"\x00\x00\xff\xff"  # the end of a sync flush, left off the wire (RFC 7692 7.2.1)
FIN_RSV1_TEXT = b"\xc1"


# -- payloads --------------------------------------------------------------------------------------


def event_texts(payload: int | str, count: int = 64) -> list[str]:
    """The JSON argument texts the clients cycle through: chat pages for ``"chat"``, else one string."""
    if payload == "chat":
        return chat_payloads(count)
    return [json.dumps(payload_text(int(payload)))]


# -- the wire --------------------------------------------------------------------------------------


@dataclass
class Wire:
    """Bytes the generator's sockets wrote and read, all clients of a run together."""

    sent: int = 0
    received: int = 0


class CountingTransport:
    """A transport whose writes are counted into a :class:`Wire`; everything else is the transport's."""

    __slots__ = ("_transport", "_wire")

    def __init__(self, transport: asyncio.Transport, wire: Wire) -> None:
        self._transport = transport
        self._wire = wire

    def write(self, data: bytes) -> None:
        self._wire.sent += len(data)
        self._transport.write(data)

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# -- permessage-deflate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeflateParams:
    """What the server's ``Sec-WebSocket-Extensions`` answer agreed to."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def accepted_deflate(head: bytes) -> DeflateParams | None:
    """The permessage-deflate parameters of a 101 response's headers, None when it did not accept."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"sec-websocket-extensions":
            continue
        for extension in value.decode("latin-1").split(","):
            name, *params = (part.strip() for part in extension.split(";"))
            if name.lower() != "permessage-deflate":
                continue
            found: dict[str, Any] = {}
            for param in params:
                key, _, number = param.partition("=")
                key = key.strip().lower()
                if key.endswith("_no_context_takeover"):
                    found[key] = True
                elif key.endswith("_max_window_bits") and number.strip('" '):
                    found[key] = int(number.strip('" '))
            return DeflateParams(**found)
    return None


# Messages a server without context takeover sent, by their compressed bytes: inflating them is then a
# function of those bytes alone, and the recipients of a broadcast (and the cycling texts) send the same
# ones again and again; each is inflated once, the first time (bounded: cleared when full).
_FRESH_INFLATED: dict[bytes, bytes] = {}
_FRESH_INFLATED_MAX = 4096


class DeflateReader:
    """Server frames (unmasked) to ``(opcode, message)`` as ``FrameParser.feed`` gives them, compressed
    messages inflated. ``inflated`` counts the messages that came compressed."""

    def __init__(self, params: DeflateParams) -> None:
        self.fresh_inflater = params.server_no_context_takeover
        self.inflater = zlib.decompressobj(-15)
        self.inflated = 0
        self._buf = b""
        self._opcode = 0
        self._compressed = False
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[tuple[int, Any]]:
        buf = self._buf + data if self._buf else data
        size = len(buf)
        pos = 0
        out: list[tuple[int, Any]] = []
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            payload = buf[start:end]
            pos = end
            opcode = b0 & 0x0F
            if opcode >= 0x8:
                if opcode == OP_CLOSE:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    out.append((OP_CLOSE, (code, payload[2:].decode(errors="replace"))))
                continue  # (Engine.IO servers send no WebSocket pings)
            if opcode:  # a message's first frame
                self._opcode, self._compressed, self._parts = opcode, bool(b0 & 0x40), [payload]
            else:
                self._parts.append(payload)
            if not b0 & 0x80:
                continue
            message = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
            self._parts = []
            if self._compressed:
                message = self._inflate(message)
            out.append((self._opcode, message.decode() if self._opcode == OP_TEXT else message))
        self._buf = buf[pos:]
        return out

    def _inflate(self, data: bytes) -> bytes:
        self.inflated += 1
        if self.fresh_inflater:
            message = _FRESH_INFLATED.get(data)
            if message is None:
                message = zlib.decompressobj(-15).decompress(data + TAIL)
                if len(_FRESH_INFLATED) >= _FRESH_INFLATED_MAX:
                    _FRESH_INFLATED.clear()
                _FRESH_INFLATED[data] = message
            return message
        message = self.inflater.decompress(data + TAIL)
        if self.inflater.eof:  # the server ended its stream (BFINAL): start again
            self.inflater = zlib.decompressobj(-15)
        return message


class DeflateClient(WsClient):
    """A :class:`WsClient` offering permessage-deflate (``request`` carries the offer), counting its bytes.

    ``params`` is the accepted extension (None: the server declined; the client then speaks plain
    WebSocket through the compiled ``FrameParser``).
    """

    def __init__(self, request: bytes, health: Health, wire: Wire) -> None:
        super().__init__(request, health)
        self.wire = wire
        self.params: DeflateParams | None = None
        self.reader: DeflateReader | None = None
        self._compressor: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CountingTransport(transport, self.wire))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.wire.received += len(data)
        super().data_received(data)

    def _setup(self, data: bytes) -> None:
        if self._parser is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._head[:end]
            if b" 101 " not in head[: head.find(b"\r\n")]:
                self._fail(f"handshake refused: {self._head[:200]!r}")
                return
            data, self._head = self._head[end + 4 :], b""
            self.params = accepted_deflate(head)
            if self.params is None:
                self._parser = FrameParser(None, require_mask=False)
            else:
                self.reader = DeflateReader(self.params)
                self._parser = self.reader  # type: ignore[assignment]
            self.on_open()
        super()._setup(data)

    def frame(self, message: bytes) -> bytes:
        """A masked text frame of ``message`` (UTF-8), compressed if negotiated and ≥ THRESHOLD bytes."""
        params = self.params
        if params is None or len(message) < THRESHOLD:
            return encode_frame(OP_TEXT, message, mask=MASK)
        return self.compressed_frame(message)

    def compressed_frame(self, message: bytes) -> bytes:
        """``message`` deflated (RSV1 set) with the connection's compressor, or a fresh one."""
        params = self.params
        assert params is not None
        if params.client_no_context_takeover:
            return _deflated_frame(_compressor(params), message)
        if self._compressor is None:
            self._compressor = _compressor(params)
        return _deflated_frame(self._compressor, message)

    @property
    def inflated(self) -> int:
        """Messages received compressed so far."""
        return self.reader.inflated if self.reader is not None else 0


def _compressor(params: DeflateParams) -> Any:
    """A raw deflate compressor as ws's client makes it (zlib's default level and memory level)."""
    return zlib.compressobj(-1, zlib.DEFLATED, -params.client_max_window_bits)


def _deflated_frame(compressor: Any, message: bytes) -> bytes:
    """``message`` through ``compressor`` (sync flush, its 00 00 ff ff left off), in a masked text
    frame with RSV1 set."""
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    # The same masking, any opcode: a binary frame's bytes with the first byte made FIN|RSV1|TEXT.
    return FIN_RSV1_TEXT + encode_frame(OP_BINARY, data[:-4], mask=MASK)[1:]


def deflate_request(target: Target) -> bytes:
    """The WebSocket handshake with the permessage-deflate offer."""
    return upgrade_request(target.host, target.port, extensions=OFFER)


# -- echo -------------------------------------------------------------------------------------------


@dataclass
class DeflateEchoRun:
    """Shared state of the echo clients, and the frames of their events.

    Every client sends the same sequence: its ``k``-th event is slot ``k % inflight`` (the ack id)
    with text ``k % len(texts)``, because the servers ack one connection's events in order (checked:
    a client whose ack comes out of order goes on with a compressor of its own, ``diverged`` counts
    them). So the ``k``-th compressed frame is the same bytes for every client, context takeover or
    not: it is compressed once per run (:meth:`frame`), not once per client, and the generator's
    zlib time stays off the hot path. The server still inflates every event with its own inflater.
    """

    messages: list[list[bytes]]  # [slot][text]: the Socket.IO event, UTF-8
    plain: list[list[bytes]]  # the same, framed uncompressed
    rtts: list[float] = field(default_factory=list)
    running: bool = False
    diverged: int = 0
    _streams: dict[tuple[bool, int], tuple[Any, list[bytes]]] = field(default_factory=dict)

    @classmethod
    def of(cls, texts: list[str], inflight: int) -> DeflateEchoRun:
        messages = [[f'42{slot}["echo",{text}]'.encode() for text in texts] for slot in range(inflight)]
        plain = [[client_frame(m.decode()) for m in row] for row in messages]
        return cls(messages, plain)

    def message(self, k: int) -> bytes:
        """The ``k``-th event of the sequence."""
        return self.messages[k % len(self.messages)][k % len(self.messages[0])]

    def frame(self, k: int, params: DeflateParams | None) -> bytes:
        """The ``k``-th event's frame, as a client with ``params`` sends it."""
        slot, index = k % len(self.messages), k % len(self.messages[0])
        message = self.messages[slot][index]
        if params is None or len(message) < THRESHOLD:
            return self.plain[slot][index]
        key = (params.client_no_context_takeover, params.client_max_window_bits)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = (_compressor(params), [])
        compressor, frames = stream
        if params.client_no_context_takeover:  # periodic: slot and text repeat every lcm of the two
            k %= math.lcm(len(self.messages), len(self.messages[0]))
        while len(frames) <= k:
            m = self.message(len(frames))
            if params.client_no_context_takeover:
                compressor = _compressor(params)
            frames.append(_deflated_frame(compressor, m) if len(m) >= THRESHOLD else b"")
        return frames[k]

    def replayed(self, k: int, params: DeflateParams) -> Any:
        """A compressor that has compressed the sequence's events before ``k`` (a client that diverges)."""
        compressor = _compressor(params)
        if not params.client_no_context_takeover:
            for j in range(k):
                m = self.message(j)
                if len(m) >= THRESHOLD:
                    compressor.compress(m)
                    compressor.flush(zlib.Z_SYNC_FLUSH)
        return compressor


class DeflateEchoClient(DeflateClient):
    """Keeps one acked ``echo`` per slot in flight, each time with the next text of the cycle."""

    run: DeflateEchoRun
    sent: list[float]
    pending: int
    count: int  # events sent
    own: bool  # diverged from the shared sequence: compressing with its own compressor

    def start(self, run: DeflateEchoRun) -> None:
        """Send one event per slot (the sequence's first ``inflight``, or the next ones)."""
        self.run = run
        if not hasattr(self, "count"):
            self.count, self.own = 0, False
        slots = len(run.messages)
        self.sent = [time.perf_counter()] * slots
        self.pending = slots
        self.transport.write(b"".join(self.event(slot) for slot in range(slots)))

    def event(self, slot: int) -> bytes:
        """The frame of the next event, on slot ``slot`` (just freed by its ack)."""
        run = self.run
        k = self.count
        self.count = k + 1
        if not self.own:
            if slot == k % len(run.messages):
                return run.frame(k, self.params)
            self.own = True  # an ack out of order: from now on, this client's own sequence
            run.diverged += 1
            if self.params is not None:
                self._compressor = run.replayed(k, self.params)
        return self.frame(run.messages[slot][k % len(run.messages[0])])

    def on_frames(self, events: list[tuple[int, Any]]) -> None:
        now = time.perf_counter()
        run = self.run
        out = []
        for _op, message in events:
            if message == "2":
                out.append(PONG)
                continue
            slot = ord(message[2]) - 48  # "43<slot>[...]"
            run.rtts.append(now - self.sent[slot])
            if run.running:
                self.sent[slot] = now
                out.append(self.event(slot))
            else:
                self.pending -= 1
        if out:
            self.transport.write(b"".join(out))


def _negotiated(clients: list[Any]) -> float:
    return 100.0 * sum(c.params is not None for c in clients) / len(clients) if clients else float("nan")


async def run_deflate_echo(
    target: Target,
    *,
    clients: int = 50,
    inflight: int = 8,
    payload: int | str = "chat",
    warmup: float = 1.0,
    duration: float = 5.0,
    concurrency: int = 50,
) -> dict[str, Any]:
    """As ``echo``, offering permessage-deflate; ``payload`` ``"chat"`` cycles through ~3 KB chat pages."""
    if not 1 <= inflight <= 10:
        raise ValueError("inflight must be 1..10 (single-digit ack ids)")
    texts = event_texts(payload)
    run = DeflateEchoRun.of(texts, inflight)
    wire = Wire()
    request = deflate_request(target)
    conns = await connect_many(
        target, clients, lambda: DeflateEchoClient(request, target.health, wire), concurrency
    )
    if not conns:
        raise ClientError("no client connected")
    run.running = True
    for client in conns:
        client.start(run)
    await asyncio.sleep(warmup)
    await _wait_until(lambda: min(c.count for c in conns) >= WARM_MESSAGES + inflight, WARM_TIMEOUT)
    window = Window(target.server_pid)
    first, sent0, received0 = len(run.rtts), wire.sent, wire.received
    inflated0 = sum(c.inflated for c in conns)
    window.start()
    await asyncio.sleep(duration)
    usage = window.stop()
    last, sent1, received1 = len(run.rtts), wire.sent, wire.received
    inflated = sum(c.inflated for c in conns) - inflated0
    run.running = False
    drained = await _wait_until(lambda: all(c.pending == 0 for c in conns), DRAIN_TIMEOUT)
    rtts = sorted(run.rtts[first:last])
    acks = last - first
    nan = float("nan")
    return {
        "clients": len(conns),
        "inflight": inflight,
        "message_bytes": round(sum(len(m) for m in run.messages[0]) / len(run.messages[0])),
        "negotiated_pct": _negotiated(conns),
        "acks": acks,
        "acks_per_s": acks / usage.wall,
        "rtt_p50_us": _percentile(rtts, 0.50) * 1e6,
        "rtt_p99_us": _percentile(rtts, 0.99) * 1e6,
        "server_us_per_ack": usage.server_cpu / acks * 1e6 if acks else nan,
        "down_bytes_per_ack": (received1 - received0) / acks if acks else nan,
        "up_bytes_per_ack": (sent1 - sent0) / acks if acks else nan,
        "compressed_in_pct": 100.0 * inflated / acks if acks else nan,
        "acks_missing": sum(c.pending for c in conns) if not drained else 0,
        "diverged": run.diverged,
        **usage.as_dict(),
    }


# -- broadcast --------------------------------------------------------------------------------------


@dataclass
class DeflateBroadcastRun(BroadcastRun):
    """A broadcast whose sender sends the next text of ``messages`` each time (compressed if it may)."""

    messages: list[bytes] = field(default_factory=list)
    next_text: int = 0

    def pump(self) -> None:
        n = self.receivers
        more = self.window - (self.sent * n - self.delivered + n - 1) // n
        if more > 0:
            self.sent += more
            sender = self.sender
            assert isinstance(sender, DeflateClient)
            frames = []
            for _ in range(more):
                frames.append(sender.frame(self.messages[self.next_text]))
                self.next_text = (self.next_text + 1) % len(self.messages)
            sender.transport.write(b"".join(frames))


class DeflateBroadcastClient(DeflateClient, BroadcastClient):
    """Counts ``msg`` deliveries (BroadcastClient's ``on_frames``) on a deflate-offering connection."""


async def run_deflate_broadcast(
    target: Target,
    *,
    clients: int = 1000,
    window: int = 4,
    payload: int | str = "chat",
    warmup: float = 1.0,
    duration: float = 5.0,
    concurrency: int = 50,
) -> dict[str, Any]:
    """As ``broadcast``, offering permessage-deflate; the sender cycles through the payload texts."""
    texts = event_texts(payload)
    wire = Wire()
    request = deflate_request(target)
    conns = await connect_many(
        target, clients, lambda: DeflateBroadcastClient(request, target.health, wire), concurrency
    )
    if not conns:
        raise ClientError("no client connected")
    messages = [f'42["bcast",{text}]'.encode() for text in texts]
    run = DeflateBroadcastRun(conns[0], b"", len(conns), window, messages=messages)
    for client in conns:
        client.run = run
    run.running = True
    run.pump()
    await asyncio.sleep(warmup)
    await _wait_until(lambda: run.delivered >= WARM_MESSAGES * run.receivers, WARM_TIMEOUT)
    usage_window = Window(target.server_pid)
    first, first_sent, received0, sent0 = run.delivered, run.sent, wire.received, wire.sent
    inflated0 = sum(c.inflated for c in conns)
    usage_window.start()
    await asyncio.sleep(duration)
    usage = usage_window.stop()
    last, last_sent, received1, sent1 = run.delivered, run.sent, wire.received, wire.sent
    inflated = sum(c.inflated for c in conns) - inflated0
    run.running = False
    await _wait_until(lambda: run.delivered >= run.sent * run.receivers, DRAIN_TIMEOUT)
    deliveries = last - first
    broadcasts = last_sent - first_sent
    nan = float("nan")
    return {
        "clients": len(conns),
        "window": window,
        "message_bytes": round(sum(len(m) for m in messages) / len(messages)),
        "negotiated_pct": _negotiated(conns),
        "broadcasts": broadcasts,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / usage.wall,
        "server_us_per_delivery": usage.server_cpu / deliveries * 1e6 if deliveries else nan,
        "down_bytes_per_delivery": (received1 - received0) / deliveries if deliveries else nan,
        "up_bytes_per_broadcast": (sent1 - sent0) / broadcasts if broadcasts else nan,
        "compressed_in_pct": 100.0 * inflated / deliveries if deliveries else nan,
        "deliveries_missing": run.sent * run.receivers - run.delivered,
        **usage.as_dict(),
    }


# -- idle memory once compressed ----------------------------------------------------------------------


async def _echo_once(clients: list[DeflateEchoClient], run: DeflateEchoRun) -> bool:
    for client in clients:
        client.start(run)  # run.running is False: one event each, then pending 0
    return await _wait_until(lambda: all(c.pending == 0 for c in clients), DRAIN_TIMEOUT + len(clients) / 500)


async def run_deflate_idle(
    target: Target,
    *,
    connections: int = 2000,
    baseline: int = 100,
    payload: int | str = "chat",
    settle: float = 1.0,
    concurrency: int = 50,
    connect_limit: float = 30.0,
) -> dict[str, Any]:
    """``connections`` sessions that each sent one acked ``echo`` of a chat page (compressed both ways
    when negotiated: the server's inflater and compressor for it exist), then idle; RSS per connection
    as in *idle* (after all, minus after the first ``baseline``, over the others)."""
    texts = event_texts(payload)
    run = DeflateEchoRun.of(texts, 1)
    wire = Wire()
    request = deflate_request(target)

    def make() -> DeflateEchoClient:
        return DeflateEchoClient(request, target.health, wire)

    pid = target.server_pid
    rss_empty = rss_kib(pid)
    first = await connect_many(target, baseline, make, concurrency)
    if not first:
        raise ClientError("no client connected")
    done_first = await _echo_once(first, run)
    await asyncio.sleep(0.5)
    rss_base = rss_kib(pid)
    started = time.perf_counter()
    window = Window(pid)
    window.start()
    rest = await connect_many(
        target,
        connections - baseline,
        make,
        concurrency,
        offset=baseline,
        deadline=time.monotonic() + connect_limit,
    )
    done_rest = await _echo_once(rest, run)
    usage = window.stop()
    setup_wall = time.perf_counter() - started
    await asyncio.sleep(settle)
    rss_full = rss_kib(pid)
    clients = [*first, *rest]
    added = len(rest)
    return {
        "connections": len(clients),
        "open_at_end": sum(not c.closing for c in clients),
        "negotiated_pct": _negotiated(clients),
        "compressed_in_pct": 100.0 * sum(c.inflated > 0 for c in clients) / len(clients),
        "acks_missing": 0 if done_first and done_rest else sum(c.pending for c in clients),
        "connects_per_s": added / setup_wall if setup_wall else float("nan"),
        "server_us_per_conn": usage.server_cpu / added * 1e6 if added else float("nan"),
        "rss_empty_kib": rss_empty,
        "rss_base_kib": rss_base,
        "rss_full_kib": rss_full,
        "rss_full_mb": rss_full / 1024,
        "rss_kib_per_conn": (rss_full - rss_base) / added if added else float("nan"),
        **usage.as_dict(),
    }


# -- polling: HTTP compression ------------------------------------------------------------------------


@dataclass
class HttpStats:
    """Polling responses of a run, all sessions together."""

    responses: int = 0
    received: int = 0  # bytes read, headers included
    sent: int = 0  # bytes written
    compressed: int = 0  # responses with a Content-Encoding
    big: int = 0  # responses whose (decoded) body is ≥ THRESHOLD bytes: the acks here
    big_received: int = 0  # bytes read for those
    big_compressed: int = 0


class EncodingHttpClient(HttpClient):
    """An :class:`HttpClient` accepting gzip and deflate, decoding the answers, counting into ``stats``."""

    extra_headers = "Accept-Encoding: gzip, deflate\r\n"

    def __init__(self, stats: HttpStats) -> None:
        super().__init__()
        self.stats = stats
        self.encoding = b""
        self._mark = 0

    def on_message_begin(self) -> None:
        self.encoding = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-encoding":
            self.encoding = value.strip().lower()

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body, self._body = b"".join(self._body), []
        stats = self.stats
        wire = self.received - self._mark
        self._mark = self.received
        if self.encoding:
            stats.compressed += 1
            if self.encoding == b"gzip":
                body = zlib.decompress(body, 31)
            elif self.encoding == b"deflate":
                body = zlib.decompress(body)
            else:
                raise ClientError(f"unexpected Content-Encoding {self.encoding!r}")
        stats.responses += 1
        stats.received += wire
        if len(body) >= THRESHOLD:
            stats.big += 1
            stats.big_received += wire
            stats.big_compressed += bool(self.encoding)
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), body))

    def request(
        self, method: str, target: str, host: str, body: bytes = b""
    ) -> asyncio.Future[tuple[int, bytes]]:
        before = self.sent
        future = super().request(method, target, host, body)
        self.stats.sent += self.sent - before
        return future


class EncodingSession(PollingSession):
    """A polling session on keep-alive connections that accept compressed answers."""

    def __init__(self, host: str, port: int, source: str, stats: HttpStats) -> None:
        super().__init__(host, port, source, fresh=False)
        self.stats = stats

    def new_client(self) -> HttpClient:
        return EncodingHttpClient(self.stats)


async def _compressed_echo_loop(
    session: EncodingSession, bodies: list[bytes], offset: int, rtts: list[float], state: dict[str, bool]
) -> None:
    index = offset % len(bodies)
    while state["running"]:
        started = time.perf_counter()
        await session.request("POST", bodies[index])
        await session.until(b"431")
        rtts.append(time.perf_counter() - started)
        index = (index + 1) % len(bodies)


async def run_polling_compression(
    target: Target,
    *,
    clients: int = 20,
    payload: int | str = "chat",
    warmup: float = 1.0,
    duration: float = 5.0,
) -> dict[str, Any]:
    """``clients`` polling sessions (keep-alive GET and POST connections, ``Accept-Encoding: gzip,
    deflate``), each with one acked ``echo`` at a time: its ack comes back in a GET answer of ~3 KB."""
    bodies = [f'421["echo",{text}]'.encode() for text in event_texts(payload)]
    stats = HttpStats()
    sources = target.sources
    sessions = [
        EncodingSession(target.host, target.port, sources[i % len(sources)], stats) for i in range(clients)
    ]
    await asyncio.gather(*(s.open() for s in sessions))
    rtts: list[float] = []
    state = {"running": True}
    tasks = [
        asyncio.ensure_future(_compressed_echo_loop(s, bodies, i * 7, rtts, state))
        for i, s in enumerate(sessions)
    ]
    try:
        await asyncio.sleep(warmup)
        before = HttpStats(**vars(stats))
        requests_before = sum(s.requests for s in sessions)
        first = len(rtts)
        window = Window(target.server_pid)
        window.start()
        await asyncio.sleep(duration)
        usage = window.stop()
        last = len(rtts)
        after = HttpStats(**vars(stats))
        requests = sum(s.requests for s in sessions) - requests_before
    finally:
        state["running"] = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in sessions:
            session.close()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    acks = last - first
    responses = after.responses - before.responses
    big = after.big - before.big
    nan = float("nan")
    window_rtts = sorted(rtts[first:last])
    return {
        "clients": clients,
        "message_bytes": round(sum(len(b) for b in bodies) / len(bodies)),
        "acks": acks,
        "acks_per_s": acks / usage.wall,
        "requests": requests,
        "requests_per_ack": requests / acks if acks else nan,
        "rtt_p50_us": _percentile(window_rtts, 0.5) * 1e6,
        "server_us_per_ack": usage.server_cpu / acks * 1e6 if acks else nan,
        "server_us_per_request": usage.server_cpu / requests * 1e6 if requests else nan,
        "bytes_per_response": (after.received - before.received) / responses if responses else nan,
        "bytes_per_ack_answer": (after.big_received - before.big_received) / big if big else nan,
        "down_bytes_per_ack": (after.received - before.received) / acks if acks else nan,
        "up_bytes_per_ack": (after.sent - before.sent) / acks if acks else nan,
        "compressed_pct": 100.0 * (after.big_compressed - before.big_compressed) / big if big else nan,
        **usage.as_dict(),
    }


COMPRESSION_SCENARIOS = {
    "deflate-echo": run_deflate_echo,
    "deflate-broadcast": run_deflate_broadcast,
    "deflate-idle": run_deflate_idle,
    "polling-compression": run_polling_compression,
}
