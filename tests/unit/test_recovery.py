"""The recovery parts every adapter uses: options, the bounded packet log, the session store."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sio.recovery import PacketLog, RecoveryOptions, Session, SessionStore, should_include
from sio.timers import LoopTimerWheel

NONE: frozenset[str] = frozenset()


def test_options_from_the_argument() -> None:
    assert RecoveryOptions.from_option(None) is None
    assert RecoveryOptions.from_option(False) is None
    assert RecoveryOptions.from_option(True) == RecoveryOptions()
    assert RecoveryOptions().max_disconnection_duration == 120.0  # Node's 2 minutes
    assert RecoveryOptions().skip_middlewares is True
    custom = RecoveryOptions.from_option({"max_disconnection_duration": 5, "max_buffered_packets": 3})
    assert custom is not None and custom.max_disconnection_duration == 5 and custom.max_buffered_packets == 3
    with pytest.raises(TypeError, match="maxDisconnectionDuration"):
        RecoveryOptions.from_option({"maxDisconnectionDuration": 5})
    with pytest.raises(ValueError, match="positive"):
        RecoveryOptions.from_option({"max_disconnection_duration": 0})
    with pytest.raises(ValueError, match="positive"):
        RecoveryOptions.from_option({"max_buffered_bytes": 0})
    with pytest.raises(TypeError):
        RecoveryOptions.from_option("yes")  # type: ignore[arg-type]


def test_session_wire_form_round_trips_and_refuses_other_shapes() -> None:
    session = Session("sid", "pid", ["sid", "room"], {"k": [1]})
    assert Session.from_wire(session.to_wire()) == session
    assert Session.from_wire({"sid": "a", "pid": "b", "rooms": []}).data == {}
    for bad in (None, [], {"sid": 1, "pid": "b", "rooms": []}, {"sid": "a", "pid": "b", "rooms": [1]}):
        with pytest.raises(ValueError):
            Session.from_wire(bad)


def test_should_include_is_nodes_rule() -> None:
    assert should_include(["s1", "a"], [], [])  # to everyone
    assert should_include(["s1", "a"], ["a", "b"], [])
    assert not should_include(["s1", "a"], ["b"], [])
    assert not should_include(["s1", "a"], [], ["a"])
    assert not should_include(["s1", "a"], ["a"], ["s1"])  # excluded wins


async def wheel() -> LoopTimerWheel:
    return LoopTimerWheel(asyncio.get_running_loop())


async def test_log_gives_the_packets_after_an_offset_for_the_sessions_rooms() -> None:
    log = PacketLog(RecoveryOptions(), await wheel())
    offsets = []
    for rooms, except_, name in (
        (NONE, NONE, "all"),
        (frozenset({"a"}), NONE, "to-a"),
        (frozenset({"b"}), NONE, "to-b"),
        (NONE, frozenset({"a"}), "except-a"),
        (frozenset({"s1"}), NONE, "direct"),
    ):
        offset = log.next_offset()
        offsets.append(offset)
        log.append(rooms, except_, [name, offset], 10)
    assert len(set(offsets)) == 5
    missed = log.missed(offsets[0], ["s1", "a"])
    assert missed is not None
    assert [data[0] for data in missed] == ["to-a", "direct"]
    assert log.missed(offsets[-1], ["s1"]) == []  # up to date: nothing missed, still recoverable
    assert log.missed("zz", ["s1"]) is None
    assert log.missed("0" + offsets[1], ["s1"]) is None  # one spelling per offset
    assert log.missed(format(10**6, "x"), ["s1"]) is None  # never given
    assert log.missed("-1", ["s1"]) is None


async def test_log_is_bounded_in_packets_and_bytes_and_drops_the_oldest() -> None:
    log = PacketLog(RecoveryOptions(max_buffered_packets=3, max_buffered_bytes=100), await wheel())
    first = log.next_offset()
    for i in range(5):
        log.append(NONE, NONE, ["e", i], 10)
    assert len(log) == 3 and log.bytes == 30
    assert log.missed(first, []) is None  # fell out: a fresh start
    log.append(NONE, NONE, ["big"], 95)
    assert len(log) == 1 and log.bytes == 95  # bytes bound: only the newest stays
    log.append(NONE, NONE, ["huge"], 500)
    assert len(log) == 1 and log.bytes == 500  # one packet larger than the bound is still kept alone


async def test_log_and_store_are_collected_on_the_wheel() -> None:
    options = RecoveryOptions(max_disconnection_duration=0.02)
    timers = await wheel()
    log = PacketLog(options, timers)
    store = SessionStore(options.max_disconnection_duration, timers)
    log.append(NONE, NONE, ["e"], 10)
    store.put(Session("s", "p", ["s"], {}))
    assert len(log) == 1 and "p" in store
    assert timers.armed == 2  # one timer each, however many entries
    store.put(Session("s2", "p2", ["s2"], {}))
    log.append(NONE, NONE, ["e"], 10)
    assert timers.armed == 2
    deadline = asyncio.get_running_loop().time() + 5
    while (len(log) or len(store)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert len(log) == 0 and log.bytes == 0 and len(store) == 0
    assert timers.armed == 0  # nothing left to collect: the timers are idle


async def test_store_take_removes_and_peek_does_not() -> None:
    store = SessionStore(60, await wheel())
    session = Session("s", "p", ["s"], {"a": 1})
    store.put(session)
    assert store.peek("p") is session and "p" in store
    assert store.take("p") is session and "p" not in store
    assert store.take("p") is None and store.peek("unknown") is None


@given(st.text(max_size=30))
def test_any_offset_string_is_an_answer_never_an_error(offset: str) -> None:
    async def run() -> None:
        log = PacketLog(RecoveryOptions(), await wheel())
        log.append(NONE, NONE, ["e", log.next_offset()], 1)
        result = log.missed(offset, ["s"])
        assert result is None or result == []

    asyncio.run(run())
