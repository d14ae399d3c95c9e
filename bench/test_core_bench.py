"""Micro-benchmarks of sio's compiled core against the pure-Python code users run today.

Every case puts sio side by side with its reference in one pytest-benchmark group,
so that the table pytest-benchmark prints (and ``bench/report.py``) pairs them:

1. a Socket.IO event over Engine.IO, decoded and encoded (python-socketio +
   python-engineio ``Packet`` classes);
2. a binary event with two 1 KiB attachments (python-socketio ``Packet``);
3. a long-polling payload of 10 packets (python-engineio ``Payload``);
4. parsing masked client WebSocket frames (websockets ``Frame.parse`` driven by
   its ``StreamReader``, as its protocol does);
5. encoding server WebSocket frames (websockets ``Frame.serialize``);
6. arming and cancelling a timer (``loop.call_later`` + ``cancel`` on uvloop and
   on the default asyncio loop);
7. one timer-wheel tick with 10k armed timers.

``bench/timers.py`` adds the timer figures a pytest-benchmark table cannot hold: arm+fire
per timer, and lateness after the deadline on a real uvloop loop.

Each benchmark records in ``extra_info`` which side it is (``sio`` or ``ref``),
a label, the speed-up target and, for batched benchmarks, how many operations a
round performs. Without ``--benchmark-enable`` (pyproject's addopts disable
benchmarks) every benchmarked function runs once and the tests check that both
sides of a pair return the same thing: that is the smoke test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import engineio.packet as eio_packet
import engineio.payload as eio_payload
import pytest
import socketio.packet as sio_packet
import websockets.frames as ws_frames
import websockets.utils as ws_utils
from websockets.streams import StreamReader

from sio import _sio_core as core

PACKET_TARGET = 10.0  # vs python-socketio / python-engineio
FRAME_PARSE_TARGET = 10.0  # vs websockets' frame parser
TIMER_TARGET = 5.0  # vs loop.call_later + TimerHandle.cancel

MAX_SIZE = 2**20  # the same message-size limit for sio and websockets


def bench(
    benchmark: Any,
    fn: Callable[[], Any],
    *,
    group: str,
    side: str,
    label: str,
    target: float | None = None,
) -> Any:
    """Benchmark ``fn`` (one operation per call) and tag it for bench/report.py."""
    benchmark.group = group
    benchmark.extra_info.update(side=side, label=label, target=target, ops=1)
    return benchmark(fn)


def bench_batch(
    benchmark: Any,
    fn: Callable[[], Any],
    *,
    ops: int,
    rounds: int,
    teardown: Callable[[], None] | None = None,
    group: str,
    side: str,
    label: str,
    target: float | None = None,
) -> Any:
    """Benchmark ``fn`` doing ``ops`` operations per call, with ``teardown`` after each round."""
    benchmark.group = group
    benchmark.extra_info.update(side=side, label=label, target=target, ops=ops)
    return benchmark.pedantic(fn, rounds=rounds, warmup_rounds=3, teardown=teardown)


def _noop() -> None:
    return None


def test_harness_overhead(benchmark):
    """The cost of the harness itself: one call of an empty Python function."""
    bench(benchmark, _noop, group="0 harness: empty function call", side="sio", label="empty call")


# --- 1. Socket.IO event over Engine.IO ------------------------------------------------

EVENT = ["chat", {"text": "hello world", "n": 1}]
EVENT_WIRE = '42["chat",{"text":"hello world","n":1}]'


def sio_decode_event(text: str = EVENT_WIRE) -> Any:
    """Engine.IO then Socket.IO decoding of one WebSocket text message."""
    return core.decode_sio_packet(core.decode_eio_packet(text)[1])


def ref_decode_event(text: str = EVENT_WIRE) -> Any:
    """What python-engineio then python-socketio do with the same message."""
    message = eio_packet.Packet(encoded_packet=text)  # its data is the str after "4"
    return sio_packet.Packet(encoded_packet=message.data)


def sio_encode_event(data: list[Any] = EVENT) -> str:
    """Socket.IO then Engine.IO encoding of an event for a WebSocket text frame."""
    return core.encode_eio_packet(core.EIO_MESSAGE, core.encode_sio_packet(core.SIO_EVENT, "/", data)[0])


def ref_encode_event(data: list[Any] = EVENT) -> str:
    """python-socketio's emit path: Packet(...).encode(), then engineio Packet.encode()."""
    text = sio_packet.Packet(sio_packet.EVENT, data=data, namespace="/").encode()
    return eio_packet.Packet(eio_packet.MESSAGE, data=text).encode()


def test_event_decode_sio(benchmark):
    pkt = bench(benchmark, sio_decode_event, group="1 event decode", side="sio", label="sio")
    assert (pkt.type, pkt.nsp, pkt.data, pkt.id) == (core.SIO_EVENT, "/", EVENT, None)


def test_event_decode_ref(benchmark):
    pkt = bench(
        benchmark,
        ref_decode_event,
        group="1 event decode",
        side="ref",
        label="python-socketio + python-engineio",
        target=PACKET_TARGET,
    )
    assert (pkt.packet_type, pkt.namespace, pkt.data, pkt.id) == (sio_packet.EVENT, None, EVENT, None)


def test_event_encode_sio(benchmark):
    result = bench(benchmark, sio_encode_event, group="1 event encode", side="sio", label="sio")
    assert result == EVENT_WIRE


def test_event_encode_ref(benchmark):
    result = bench(
        benchmark,
        ref_encode_event,
        group="1 event encode",
        side="ref",
        label="python-socketio + python-engineio",
        target=PACKET_TARGET,
    )
    assert result == EVENT_WIRE


# --- 2. binary event with two 1 KiB attachments ---------------------------------------

BLOB_A = bytes(range(256)) * 4
BLOB_B = bytes(reversed(range(256))) * 4
BINARY_EVENT = ["upload", {"name": "photo.jpg", "chunks": [BLOB_A, BLOB_B]}]
BINARY_WIRE = (
    '52-["upload",{"name":"photo.jpg","chunks":'
    '[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]}]'
)


def sio_encode_binary() -> list[Any]:
    return core.encode_sio_packet(core.SIO_EVENT, "/", BINARY_EVENT)


def ref_encode_binary() -> list[Any]:
    return sio_packet.Packet(sio_packet.EVENT, data=BINARY_EVENT, namespace="/", binary=True).encode()


def make_sio_decode_binary() -> Callable[[], Any]:
    decoder = core.SioDecoder()

    def decode() -> Any:
        decoder.feed(BINARY_WIRE)
        decoder.feed(BLOB_A)
        return decoder.feed(BLOB_B).data

    return decode


def ref_decode_binary() -> Any:
    pkt = sio_packet.Packet(encoded_packet=BINARY_WIRE)
    pkt.add_attachment(BLOB_A)
    pkt.add_attachment(BLOB_B)
    return pkt.data


def test_binary_encode_sio(benchmark):
    result = bench(benchmark, sio_encode_binary, group="2 binary event encode", side="sio", label="sio")
    assert result == [BINARY_WIRE, BLOB_A, BLOB_B]


def test_binary_encode_ref(benchmark):
    result = bench(
        benchmark,
        ref_encode_binary,
        group="2 binary event encode",
        side="ref",
        label="python-socketio (binary=True)",
        target=PACKET_TARGET,
    )
    assert result == [BINARY_WIRE, BLOB_A, BLOB_B]


def test_binary_decode_sio(benchmark):
    result = bench(
        benchmark, make_sio_decode_binary(), group="2 binary event decode", side="sio", label="sio"
    )
    assert result == BINARY_EVENT


def test_binary_decode_ref(benchmark):
    result = bench(
        benchmark,
        ref_decode_binary,
        group="2 binary event decode",
        side="ref",
        label="python-socketio",
        target=PACKET_TARGET,
    )
    assert result == BINARY_EVENT


# --- 3. polling payload of 10 packets -------------------------------------------------

MESSAGES = [f'2["chat",{{"text":"hello world","n":{i}}}]' for i in range(10)]
PAYLOAD_BODY = "\x1e".join("4" + m for m in MESSAGES).encode("utf-8")


def sio_decode_payload() -> list[tuple[int, Any]]:
    """The request body as received (bytes) to decoded packets."""
    return core.decode_eio_payload(PAYLOAD_BODY)


def ref_decode_payload() -> list[Any]:
    """python-engineio's handle_post_request: body.decode('utf-8'), then Payload."""
    return eio_payload.Payload(encoded_payload=PAYLOAD_BODY.decode("utf-8")).packets


def sio_encode_payload() -> bytes:
    """Socket.IO-encoded messages to a response body (Engine.IO packets, then joined)."""
    return core.encode_eio_payload([core.encode_eio_packet(core.EIO_MESSAGE, m) for m in MESSAGES])


def ref_encode_payload() -> bytes:
    """python-engineio: Packet per send(), then Payload(...).encode().encode('utf-8')."""
    packets = [eio_packet.Packet(eio_packet.MESSAGE, data=m) for m in MESSAGES]
    return eio_payload.Payload(packets=packets).encode().encode("utf-8")


def test_payload_decode_sio(benchmark):
    result = bench(benchmark, sio_decode_payload, group="3 polling payload decode", side="sio", label="sio")
    assert result == [(core.EIO_MESSAGE, m) for m in MESSAGES]


def test_payload_decode_ref(benchmark):
    packets = bench(
        benchmark,
        ref_decode_payload,
        group="3 polling payload decode",
        side="ref",
        label="python-engineio Payload",
        target=PACKET_TARGET,
    )
    assert [(p.packet_type, p.data) for p in packets] == [(eio_packet.MESSAGE, m) for m in MESSAGES]


def test_payload_encode_sio(benchmark):
    result = bench(benchmark, sio_encode_payload, group="3 polling payload encode", side="sio", label="sio")
    assert result == PAYLOAD_BODY


def test_payload_encode_ref(benchmark):
    result = bench(
        benchmark,
        ref_encode_payload,
        group="3 polling payload encode",
        side="ref",
        label="python-engineio Payload",
        target=PACKET_TARGET,
    )
    assert result == PAYLOAD_BODY


# --- 4. parsing masked client frames --------------------------------------------------


def _text_of_size(size: int) -> str:
    head, tail = '42["chat",{"text":"', '"}]'
    return head + "x" * (size - len(head) - len(tail)) + tail


TEXT_100 = _text_of_size(100)
TEXT_64K = _text_of_size(64 * 1024)
BINARY_64K = bytes(range(256)) * 256
MASK = b"abcd"

# (group, opcode, payload)
PARSE_CASES = [
    ("4 ws parse 100 B text frame", core.OP_TEXT, TEXT_100),
    ("4 ws parse 64 KiB text frame", core.OP_TEXT, TEXT_64K),
    ("4 ws parse 64 KiB binary frame", core.OP_BINARY, BINARY_64K),
]
PARSE_IDS = ["100B-text", "64KiB-text", "64KiB-binary"]


def make_sio_parse(frame: bytes) -> Callable[[], list[tuple[int, Any]]]:
    parser = core.FrameParser(max_message_size=MAX_SIZE)

    def parse() -> list[tuple[int, Any]]:
        return parser.feed(frame)

    return parse


def make_ref_parse(frame: bytes) -> Callable[[], tuple[Any, str | bytes]]:
    """websockets' Protocol.receive_data for one frame, then the text decode its Assembler does."""
    reader = StreamReader()
    text = ws_frames.Opcode.TEXT

    def parse() -> tuple[Any, str | bytes]:
        reader.feed_data(frame)
        parser = ws_frames.Frame.parse(reader.read_exact, mask=True, max_size=MAX_SIZE, extensions=[])
        try:
            next(parser)
        except StopIteration as done:
            parsed = done.value
        else:  # pragma: no cover - the whole frame is buffered
            raise AssertionError("incomplete frame")
        return parsed, parsed.data.decode() if parsed.opcode is text else parsed.data

    return parse


@pytest.mark.parametrize(("group", "opcode", "payload"), PARSE_CASES, ids=PARSE_IDS)
def test_frame_parse_sio(benchmark, group, opcode, payload):
    frame = core.encode_frame(opcode, payload, mask=MASK)
    result = bench(benchmark, make_sio_parse(frame), group=group, side="sio", label="sio FrameParser")
    assert result == [(opcode, payload)]


@pytest.mark.parametrize("mask_impl", ["c", "python"], ids=["C-apply_mask", "pure-Python-apply_mask"])
@pytest.mark.parametrize(("group", "opcode", "payload"), PARSE_CASES, ids=PARSE_IDS)
def test_frame_parse_ref(benchmark, monkeypatch, group, opcode, payload, mask_impl):
    from websockets import speedups

    installed = ws_frames.apply_mask
    if mask_impl == "c":
        # What users get: websockets ships a C apply_mask and frames.py imports it.
        assert installed is speedups.apply_mask
        label, target = "websockets (C apply_mask, as installed)", FRAME_PARSE_TARGET
    else:
        monkeypatch.setattr(ws_frames, "apply_mask", ws_utils.apply_mask)
        label, target = "websockets (pure-Python apply_mask)", None
    frame = core.encode_frame(opcode, payload, mask=MASK)
    parse = make_ref_parse(frame)
    parsed, data = bench(benchmark, parse, group=group, side="ref", label=label, target=target)
    assert (parsed.opcode.value, parsed.fin, data) == (opcode, True, payload)


# --- 5. encoding server frames --------------------------------------------------------


def test_frame_encode_text_sio(benchmark):
    result = bench(
        benchmark,
        lambda: core.encode_text_frame(TEXT_100),
        group="5 ws encode 100 B text frame",
        side="sio",
        label="sio encode_text_frame",
    )
    assert result == core.encode_frame(core.OP_TEXT, TEXT_100)


def test_frame_encode_text_ref(benchmark):
    text = ws_frames.Opcode.TEXT

    def encode() -> bytes:
        # websockets' send(str) encodes to UTF-8, then Protocol.send_frame serialises.
        return ws_frames.Frame(text, TEXT_100.encode()).serialize(mask=False, extensions=[])

    result = bench(
        benchmark,
        encode,
        group="5 ws encode 100 B text frame",
        side="ref",
        label="websockets Frame.serialize",
    )
    assert result == core.encode_text_frame(TEXT_100)


def test_frame_encode_binary_sio(benchmark):
    result = bench(
        benchmark,
        lambda: core.encode_binary_frame(BINARY_64K),
        group="5 ws encode 64 KiB binary frame",
        side="sio",
        label="sio encode_binary_frame",
    )
    assert result == core.encode_frame(core.OP_BINARY, BINARY_64K)


def test_frame_encode_binary_ref(benchmark):
    binary = ws_frames.Opcode.BINARY

    def encode() -> bytes:
        return ws_frames.Frame(binary, BINARY_64K).serialize(mask=False, extensions=[])

    result = bench(
        benchmark,
        encode,
        group="5 ws encode 64 KiB binary frame",
        side="ref",
        label="websockets Frame.serialize",
    )
    assert result == core.encode_binary_frame(BINARY_64K)


# --- 6. timer arm + cancel ------------------------------------------------------------
#
# Batched: a round arms and cancels ARM_OPS timers in a plain for loop (about 13 ns of
# loop overhead per operation on both sides). asyncio's loops only free cancelled
# timers when they iterate (the default loop drops them from its heap, uvloop closes
# its libuv handles), so each round is followed, untimed, by one loop iteration.

ARM_OPS = 1000
ARM_ROUNDS = 200
ARM_GROUP = "6 timer arm+cancel"


def _callback() -> None:
    return None


def drain(loop: asyncio.AbstractEventLoop) -> None:
    """Run one iteration of ``loop``: it drops cancelled timers and closes their handles."""
    loop.call_soon(loop.stop)
    loop.run_forever()


@pytest.fixture
def uvloop_loop() -> Iterator[asyncio.AbstractEventLoop]:
    import uvloop

    loop = uvloop.new_event_loop()
    yield loop
    drain(loop)
    loop.close()


@pytest.fixture
def asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.SelectorEventLoop()  # the default loop on Unix
    yield loop
    drain(loop)
    loop.close()


def make_wheel_arm_cancel(wheel: Any) -> Callable[[], bool]:
    timer = wheel.timer(_callback)

    def arm_cancel() -> bool:
        for _ in range(ARM_OPS):
            timer.arm(25.0)
            timer.cancel()
        return timer.armed

    return arm_cancel


def make_loop_arm_cancel(loop: asyncio.AbstractEventLoop) -> Callable[[], bool]:
    def arm_cancel() -> bool:
        for _ in range(ARM_OPS):
            handle = loop.call_later(25.0, _callback)
            handle.cancel()
        return not handle.cancelled()

    return arm_cancel


def test_arm_cancel_sio(benchmark):
    wheel = core.TimerWheel()
    fn = make_wheel_arm_cancel(wheel)
    result = bench_batch(
        benchmark,
        fn,
        ops=ARM_OPS,
        rounds=ARM_ROUNDS,
        group=ARM_GROUP,
        side="sio",
        label="TimerWheel arm+cancel (empty wheel)",
    )
    assert result is False
    assert wheel.count == 0


def test_arm_cancel_sio_busy_wheel(benchmark):
    # A server's wheel is rarely empty; arming on an empty wheel also reads the clock
    # a second time (to catch the wheel's tick counter up).
    wheel = core.TimerWheel()
    other = wheel.timer(_callback)
    other.arm(3600.0)
    result = bench_batch(
        benchmark,
        make_wheel_arm_cancel(wheel),
        ops=ARM_OPS,
        rounds=ARM_ROUNDS,
        group="6 timer arm+cancel, wheel holding another timer",
        side="sio",
        label="TimerWheel arm+cancel (non-empty wheel)",
    )
    assert result is False
    assert wheel.count == 1


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_arm_cancel_ref(benchmark, request, loop_name):
    loop = request.getfixturevalue(f"{loop_name}_loop")
    result = bench_batch(
        benchmark,
        make_loop_arm_cancel(loop),
        ops=ARM_OPS,
        rounds=ARM_ROUNDS,
        teardown=lambda: drain(loop),
        group=ARM_GROUP,
        side="ref",
        label=f"{loop_name} call_later+cancel",
        target=TIMER_TARGET,
    )
    assert result is False


# --- 7. one wheel tick with 10k armed timers ------------------------------------------
#
# A fake clock drives the wheel (1 ms ticks, six levels of 64 slots); each benchmarked
# call advances the clock by one tick and calls advance().
#  - "none due": every deadline is ~1e7 s away (the wheel's upper levels): a tick with
#    nothing due looks at six occupancy words and fires none.
#  - "1/512 due": heartbeat-like timers spread over 512 ticks that re-arm themselves
#    just under 512 ticks later when they fire: every tick fires ~19.5 (1/512 of 10k)
#    and re-arms them, so the wheel stays at 10k timers; cascades from the upper levels
#    are included. The callbacks are Python functions, and their cost is included.
# The asyncio counterpart of the second case is one iteration of the default loop
# (with the same fake clock) holding 10k TimerHandles, ~19.5 due per tick, each of
# whose callbacks re-schedules itself with call_later. It also pays for one
# select(0) system call, which sio's wheel driver pays too (outside advance()).

N_TIMERS = 10_000
TICK = 0.001
SLOTS = 512  # ticks the heartbeats are spread over
PERIOD = SLOTS * TICK - TICK / 4  # deadlines stay clear of tick boundaries
FAR = 1e7


def _fake_clock() -> tuple[list[float], Callable[[], float]]:
    now = [0.0]
    return now, lambda: now[0]


def make_wheel_tick(wheel: Any, now: list[float]) -> Callable[[], int]:
    step = [0]

    def tick() -> int:
        step[0] += 1
        t = (step[0] + 0.5) * TICK  # mid-tick: one tick boundary crossed per call
        now[0] = t
        return wheel.advance(t)

    return tick


def test_wheel_tick_none_due(benchmark):
    now, clock = _fake_clock()
    wheel = core.TimerWheel(tick=TICK, clock=clock)
    for i in range(N_TIMERS):
        wheel.timer(_callback).arm_at(FAR + (i % SLOTS + 0.5) * TICK)
    benchmark.extra_info["armed"] = N_TIMERS
    fired = bench(
        benchmark,
        make_wheel_tick(wheel, now),
        group="7 wheel tick, 10k armed, none due",
        side="sio",
        label="TimerWheel.advance (one tick, 0 fire)",
    )
    assert fired == 0
    assert wheel.count == N_TIMERS


def test_wheel_tick_some_due(benchmark):
    now, clock = _fake_clock()
    wheel = core.TimerWheel(tick=TICK, clock=clock)

    def heartbeat() -> Any:
        timer = wheel.timer(lambda: timer.arm(PERIOD))
        return timer

    for i in range(N_TIMERS):
        heartbeat().arm_at((i % SLOTS + 0.75) * TICK)
    benchmark.extra_info["armed"] = N_TIMERS
    fired = bench(
        benchmark,
        make_wheel_tick(wheel, now),
        group="7 wheel tick, 10k armed, ~1/512 due + re-armed",
        side="sio",
        label="TimerWheel.advance (one tick, ~19.5 fire)",
    )
    assert 0 < fired < 2 * N_TIMERS // SLOTS
    assert wheel.count == N_TIMERS


class _FakeClockLoop(asyncio.SelectorEventLoop):
    """The default loop with a clock the benchmark controls."""

    def __init__(self, now: list[float]) -> None:
        super().__init__()
        self._fake_now = now

    def time(self) -> float:
        return self._fake_now[0]


def test_wheel_tick_some_due_ref_asyncio(benchmark):
    now, _ = _fake_clock()
    loop = _FakeClockLoop(now)

    def heartbeat() -> None:
        loop.call_later(PERIOD, heartbeat)

    try:
        for i in range(N_TIMERS):
            loop.call_at((i % SLOTS + 0.75) * TICK, heartbeat)
        step = [0]

        def iteration() -> int:
            step[0] += 1
            now[0] = (step[0] + 0.5) * TICK
            loop._run_once()  # one iteration of run_forever(), timers included
            return len(loop._scheduled)

        benchmark.extra_info["armed"] = N_TIMERS
        scheduled = bench(
            benchmark,
            iteration,
            group="7 wheel tick, 10k armed, ~1/512 due + re-armed",
            side="ref",
            label="asyncio loop iteration (10k TimerHandles)",
        )
        assert scheduled == N_TIMERS
    finally:
        loop.close()
