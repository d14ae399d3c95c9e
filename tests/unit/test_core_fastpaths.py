"""The core's internal fast paths give exactly what the general paths give.

Each fast path (see bench/README.md) takes a shortcut for the common case: SIMD
unmasking, ASCII text frames unmasked straight into a str, one-pass polling payloads
with their own base64, a C-level header for Socket.IO packets, cached attachment
placeholders, reading CLOCK_MONOTONIC directly for the default wheel clock, and
borrowed back-pointers in the wheel's timer rings. These tests sit on the boundaries
where a shortcut hands over to the general path.
"""

from __future__ import annotations

import binascii
import gc
import math
import time
import weakref

import pytest

from sio import _sio_core as core

MASK = b"\x37\xfa\x21\x3d"


def masked_frame(opcode: int, payload: bytes, mask: bytes = MASK) -> bytes:
    return core.encode_frame(opcode, payload, mask=mask)


# --- WebSocket: SIMD unmasking and one-pass ASCII text --------------------------------

# Around the 32-byte vector loop, the 8-byte loop and the byte tail.
LENGTHS = [0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 95, 96, 97, 200, 1000, 4099]


@pytest.mark.parametrize("n", LENGTHS)
def test_ascii_text_frames_of_every_boundary_length(n: int) -> None:
    text = "".join(chr(32 + i % 95) for i in range(n))
    assert core.FrameParser().feed(masked_frame(core.OP_TEXT, text.encode())) == [(core.OP_TEXT, text)]


@pytest.mark.parametrize("n", [n for n in LENGTHS if n >= 2])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_non_ascii_text_falls_back_to_utf8_decoding(n: int, where: str) -> None:
    # A two-byte character anywhere (vector part or tail) sends the frame to the UTF-8 path.
    position = {"first": 0, "middle": n // 2 - 1, "last": n - 2}[where]
    raw = bytearray(b"a" * n)
    raw[position : position + 2] = "é".encode()
    text = raw.decode()
    assert core.FrameParser().feed(masked_frame(core.OP_TEXT, bytes(raw))) == [(core.OP_TEXT, text)]


@pytest.mark.parametrize("n", [1, 31, 32, 33, 64, 100])
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\xed\xa0\x80"])
def test_invalid_utf8_in_an_otherwise_ascii_frame_is_refused(n: int, bad: bytes) -> None:
    for payload in (bad + b"a" * n, b"a" * n + bad, b"a" * (n // 2) + bad + b"a" * (n // 2)):
        parser = core.FrameParser()
        with pytest.raises(core.WebSocketInvalidUtf8) as excinfo:
            parser.feed(masked_frame(core.OP_TEXT, payload))
        assert excinfo.value.close_code == 1007


def test_ascii_is_judged_after_unmasking() -> None:
    # The mask flips bit 7: ASCII on the wire but not once unmasked (0xC1 is never
    # valid UTF-8), and the other way round.
    flip = b"\x80\x80\x80\x80"
    with pytest.raises(core.WebSocketInvalidUtf8):
        core.FrameParser().feed(masked_frame(core.OP_TEXT, b"\xc1" + b"A" * 39, mask=flip))
    frame = masked_frame(core.OP_TEXT, b"A" * 40, mask=flip)
    assert all(b & 0x80 for b in frame[6:])
    assert core.FrameParser().feed(frame) == [(core.OP_TEXT, "A" * 40)]


@pytest.mark.parametrize("n", [33, 4096])
def test_binary_frames_from_bytearray_memoryview_and_split_chunks(n: int) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    frame = masked_frame(core.OP_BINARY, payload)
    expected = [(core.OP_BINARY, payload)]
    assert core.FrameParser().feed(bytearray(frame)) == expected
    assert core.FrameParser().feed(memoryview(frame)) == expected
    parser = core.FrameParser()
    for cut in (1, 7, n // 2):  # kept from a bytes chunk, completed from the buffer
        assert parser.feed(frame[:cut]) == []
        assert parser.buffered == cut
        assert parser.feed(frame[cut:]) == expected
        assert parser.buffered == 0


def test_frames_after_an_incomplete_bytes_chunk_keep_their_order() -> None:
    one = masked_frame(core.OP_TEXT, b"one")
    two = masked_frame(core.OP_BINARY, b"\x00two")
    parser = core.FrameParser()
    assert parser.feed(one + two[:4]) == [(core.OP_TEXT, "one")]
    assert parser.feed(two[4:] + one) == [(core.OP_BINARY, b"\x00two"), (core.OP_TEXT, "one")]


# --- Engine.IO: one-pass payloads ------------------------------------------------------


@pytest.mark.parametrize("n", range(0, 70))
def test_payload_base64_matches_binascii(n: int) -> None:
    data = bytes((i * 37 + 11) % 256 for i in range(n))
    expected = b"b" + binascii.b2a_base64(data, newline=False)
    for convert in (bytes, bytearray, memoryview):
        assert core.encode_eio_payload([convert(data)]) == expected


def test_payload_mixes_ascii_non_ascii_and_binary_packets() -> None:
    packets = ["4hello", "4héllo ☃ 😀", b"\x00\xff", "6", bytearray(b"ab"), "4"]
    expected = "\x1e".join(
        p if isinstance(p, str) else "b" + binascii.b2a_base64(bytes(p), newline=False).decode()
        for p in packets
    ).encode()
    assert core.encode_eio_payload(packets) == expected
    assert core.encode_eio_payload(iter(packets)) == expected  # any iterable
    assert core.decode_eio_payload(expected) == [
        (4, "hello"),
        (4, "héllo ☃ 😀"),
        (4, b"\x00\xff"),
        (6, ""),
        (4, b"ab"),
        (4, ""),
    ]


def test_payload_str_subclasses_are_encoded_as_text() -> None:
    class Text(str):
        pass

    assert core.encode_eio_payload([Text("4a"), Text("4é")]) == "4a\x1e4é".encode()
    assert core.encode_eio_packet(4, Text("é")) == "4é"
    assert type(core.encode_eio_packet(4, Text("a"))) is str


@pytest.mark.parametrize("bad", ["4\ud800", "4a\udfff"])
def test_payload_lone_surrogate_anywhere_is_an_encode_error(bad: str) -> None:
    with pytest.raises(core.EncodeError):
        core.encode_eio_payload(["4ok", b"\x01", bad])


def test_decode_payload_walks_separators_in_place() -> None:
    with pytest.raises(core.EngineIOError) as excinfo:
        core.decode_eio_payload(b"4a\x1e\x1e4b")
    assert excinfo.value.packets == [(4, "a")]
    assert core.decode_eio_payload("4é\x1eb\x1e2") == [(4, "é"), (4, b""), (2, "")]
    with pytest.raises(core.EngineIOError) as excinfo:
        core.decode_eio_payload(b"4a\x1e")
    assert excinfo.value.packets == [(4, "a")]


# --- Socket.IO: header on the stack, cached placeholders ------------------------------


@pytest.mark.parametrize(
    ("nsp", "ack", "expected_head"),
    [
        ("/", None, "2"),
        ("/", 0, "20"),
        ("/", 2**53 - 1, "29007199254740991"),
        ("/admin", 7, "2/admin,7"),
        ("/é", 1, "2/é,1"),  # not ASCII: the general header path
        ("/" + "n" * 200, None, "2/" + "n" * 200 + ","),  # longer than the stack header
    ],
)
def test_event_headers(nsp: str, ack: int | None, expected_head: str) -> None:
    assert core.encode_sio_packet(core.SIO_EVENT, nsp, ["ev", "ü"], ack) == [expected_head + '["ev","ü"]']
    packet = core.decode_sio_packet(expected_head + '["ev","ü"]')
    assert (packet.nsp, packet.id, packet.data) == (nsp, ack, ["ev", "ü"])


def test_headers_without_data_and_with_attachments() -> None:
    assert core.encode_sio_packet(core.SIO_DISCONNECT, "/a") == ["1/a,"]
    assert core.encode_sio_packet(core.SIO_CONNECT, "/é") == ["0/é,"]
    text, blob = core.encode_sio_packet(core.SIO_ACK, "/a", [b"x"], 12)
    assert (text, blob) == ('61-/a,12[{"_placeholder":true,"num":0}]', b"x")


@pytest.mark.parametrize("count", [1, 15, 16, 17, 40])
def test_many_attachments_beyond_the_placeholder_cache(count: int) -> None:
    blobs = [bytes([i]) for i in range(count)]
    text, *attachments = core.encode_sio_packet(core.SIO_EVENT, "/", ["up", *blobs])
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(count))
    assert text == f'5{count}-["up",{placeholders}]'
    assert attachments == blobs
    decoder = core.SioDecoder(max_attachments=count)
    assert decoder.feed(text) is None
    for blob in blobs[:-1]:
        assert decoder.feed(blob) is None
    assert decoder.feed(blobs[-1]).data == ["up", *blobs]


def test_decoder_reuses_its_buffers_between_packets() -> None:
    decoder = core.SioDecoder()
    for round_ in range(3):
        assert decoder.feed('52-["b",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]') is None
        assert decoder.feed(b"zero%d" % round_) is None
        assert decoder.feed(bytearray(b"one")).data == ["b", b"one", b"zero%d" % round_]
        assert not decoder.pending
    assert decoder.feed('51-["b",{"_placeholder":true,"num":0}]') is None
    decoder.reset()
    assert decoder.feed('2["plain"]').data == ["plain"]


@pytest.mark.parametrize("num", ["1.0", "0.0", "-0.0"])
def test_integral_float_placeholder_numbers(num: str) -> None:
    decoder = core.SioDecoder()
    decoder.feed(f'62-[{{"_placeholder":true,"num":{num}}},{{"num":1,"_placeholder":true}}]')
    decoder.feed(b"a")
    index = int(float(num))
    assert decoder.feed(b"b").data == [[b"a", b"b"][index], b"b"]


@pytest.mark.parametrize("num", ["1.5", "2", "-1", "1e400", '"0"', "true", "null", "99999999999999999999"])
def test_bad_placeholder_numbers_are_protocol_errors(num: str) -> None:
    decoder = core.SioDecoder()
    decoder.feed(f'52-["e",{{"_placeholder":true,"num":{num}}}]')
    decoder.feed(b"a")
    with pytest.raises(core.SocketIOError):
        decoder.feed(b"b")
    assert not decoder.pending


def test_reserved_event_names_of_every_length() -> None:
    for name in sorted(core.RESERVED_EVENTS):
        with pytest.raises(core.SocketIOError):
            core.decode_sio_packet(f'2["{name}"]')
    for name in ("connecT", "disconnectin", "x" * 7, "x" * 13, "newListeners", "e"):
        assert core.decode_sio_packet(f'2["{name}"]').data == [name]


def test_tuple_subclass_is_encoded_from_its_items() -> None:
    class Odd(tuple):
        def __iter__(self):  # type: ignore[override]
            return iter(())

    assert core.encode_sio_packet(core.SIO_EVENT, "/", Odd(("e", 1.0, b"x"))) == [
        '51-["e",1,{"_placeholder":true,"num":0}]',
        b"x",
    ]


def test_a_float_that_mutates_its_list_cannot_corrupt_the_walk() -> None:
    data: list[object] = ["e"]

    class Sneaky(float):
        def __float__(self) -> float:
            data.clear()
            return 1.5

    data += [Sneaky(1.5), 2.0, b"x"]
    with pytest.raises(RuntimeError, match="changed size while being encoded"):
        core.encode_sio_packet(core.SIO_EVENT, "/", data)
    assert data == []  # the mutation happened, and the walk stopped instead of reading freed items


def test_decode_and_encode_refuse_none_as_text() -> None:
    with pytest.raises(TypeError):
        core.decode_sio_packet(None)  # type: ignore[arg-type]
    with pytest.raises(core.EncodeError):
        core.encode_sio_packet(core.SIO_EVENT, None, ["e"])  # type: ignore[arg-type]


# --- timer wheel: C clock, tick numbers, ring links -------------------------------------


def test_default_clock_is_time_monotonic() -> None:
    for wheel in (core.TimerWheel(), core.TimerWheel(clock=time.monotonic)):
        assert wheel.clock is time.monotonic
        for _ in range(1000):
            before = time.monotonic()
            now = wheel.now()
            after = time.monotonic()
            assert before <= now <= after


def test_default_clock_timer_never_fires_early() -> None:
    wheel = core.TimerWheel(tick=0.001)
    fired: list[float] = []
    timer = wheel.timer(lambda: fired.append(time.monotonic()))
    before = time.monotonic()
    timer.arm(0.003)
    assert timer.deadline >= before + 0.003
    assert wheel.advance(timer.deadline - 1e-6) == 0
    while not fired:
        wheel.advance()
    assert fired[0] >= timer.deadline - 2 * math.ulp(timer.deadline)  # the wheel's float tolerance


@pytest.mark.parametrize("tick", [0.001, 0.05, 0.3])
@pytest.mark.parametrize("start", [-1000.0, -0.37, 0.0, 1e6])
def test_any_tick_and_negative_times(tick: float, start: float) -> None:
    now = [start]
    wheel = core.TimerWheel(tick, clock=lambda: now[0])
    fired: list[tuple[int, float]] = []
    timers = [wheel.timer(lambda i=i: fired.append((i, now[0]))) for i in range(20)]
    for i, timer in enumerate(timers):
        timer.arm(0.013 * i)
    step = 0
    while len(fired) < len(timers):
        step += 1
        now[0] = start + step * 0.01
        wheel.advance()
        assert step < 1000
    deadlines = {i: t.deadline for i, t in enumerate(timers)}
    assert all(at >= deadlines[i] - 2 * math.ulp(deadlines[i]) for i, at in fired)
    assert wheel.count == 0


def test_ring_survives_arm_cancel_rearm_in_any_order() -> None:
    now = [0.0]
    wheel = core.TimerWheel(0.05, clock=lambda: now[0])
    fired: list[int] = []
    timers = [wheel.timer(lambda i=i: fired.append(i)) for i in range(12)]
    for i, timer in enumerate(timers):  # three to a tick
        timer.arm_at(0.05 * (1 + i % 4))
    for i in (0, 5, 11, 4):
        timers[i].cancel()
    timers[5].arm_at(0.1)
    timers[6].arm_at(0.3)  # re-arm while armed
    timers[6].cancel()
    timers[6].cancel()  # a no-op
    assert wheel.count == 8
    now[0] = 1.0
    assert wheel.advance() == 8
    assert sorted(fired) == [1, 2, 3, 5, 7, 8, 9, 10]
    assert wheel.count == 0 and not any(t.armed for t in timers)


def test_armed_timer_without_other_references_still_fires() -> None:
    now = [0.0]
    wheel = core.TimerWheel(0.05, clock=lambda: now[0])
    fired: list[str] = []
    wheel.timer(lambda: fired.append("kept alive by the wheel")).arm(0.1)
    gc.collect()
    now[0] = 0.2
    assert wheel.advance() == 1
    assert fired == ["kept alive by the wheel"]


def test_wheel_with_armed_timers_is_garbage_collected() -> None:
    # The rings are reference cycles the GC can see (wheel -> heads -> timers -> wheel).
    class Callback:
        def __call__(self) -> None:
            return None

    wheel = core.TimerWheel(0.05)
    callbacks = [Callback() for _ in range(10)]
    refs = [weakref.ref(cb) for cb in callbacks]
    for i, callback in enumerate(callbacks):
        wheel.timer(callback).arm(60.0 + i)
    assert wheel.count == 10
    del wheel, callbacks, callback
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_timer_without_wheel_refuses_to_arm() -> None:
    timer = core.Timer()
    with pytest.raises(RuntimeError):
        timer.arm(1.0)
    with pytest.raises(RuntimeError):
        timer.arm_at(1.0)
    timer.cancel()
    assert not timer.armed


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((2, "/", ["chat", {"text": "hi"}]), {}),
        ((2, "/admin", ["chat", 1.0]), {"id": 12}),
        ((5, "/", ["bin", b"\x00", {"b": bytearray(b"x")}]), {}),
        ((3, "/é-namespace", ["ack"]), {"id": 7}),
        ((0, "/", None), {}),
        ((1, "/" + "n" * 200, None), {}),
        ((4, "/", {"message": "refused"}), {}),
    ],
)
def test_engine_prefixed_packets_are_the_engine_message_of_the_plain_encoding(args, kwargs) -> None:
    plain = core.encode_sio_packet(*args, **kwargs)
    prefixed = core.encode_sio_packet(*args, **kwargs, engine=True)
    assert prefixed == ["4" + plain[0], *plain[1:]]
