"""Connection state recovery (Node's ``connectionStateRecovery``): sessions kept, packets replayed.

With recovery on, every socket gets a private id (``pid``, sent in the CONNECT reply) and every
EVENT packet that may be replayed (no ack id, not volatile) gets an *offset* appended as its last
argument. The official client remembers the last offset it processed and sends ``pid`` and
``offset`` in the CONNECT of its next connection. A socket that disconnected for a recoverable
reason (:data:`RECOVERABLE_REASONS`) leaves its :class:`Session` (id, pid, rooms, data) with the
adapter for ``max_disconnection_duration`` seconds; a CONNECT naming it and an offset the adapter
still has gets the same socket id, rooms and data back, and the packets it missed first.

This module holds the parts every adapter can use: the options, the session, the bounded
:class:`PacketLog` of one namespace and the :class:`SessionStore`, both collected on the
server's timer wheel (one timer per store, armed for the oldest entry's expiry; no task).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sio.reasons import DisconnectReason

if TYPE_CHECKING:
    from sio.timers import LoopTimerWheel

__all__ = [
    "RECOVERABLE_REASONS",
    "PacketLog",
    "RecoveryOptions",
    "Session",
    "SessionStore",
    "should_include",
]

# Node's RECOVERABLE_DISCONNECT_REASONS: the client did not mean to leave.
RECOVERABLE_REASONS: frozenset[DisconnectReason] = frozenset(
    (
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    )
)


@dataclass(frozen=True)
class RecoveryOptions:
    """``sio.Server(connection_state_recovery=...)``: Node's two options and sio's buffer bounds.

    ``max_disconnection_duration`` (seconds, Node's default 2 minutes): how long a session and
    the packets sent meanwhile are kept. ``skip_middlewares``: a recovered socket connects
    without running the namespace's middlewares. ``max_buffered_packets`` and
    ``max_buffered_bytes`` bound each namespace's packet log (Node's grows with traffic times the
    window): past them the oldest packets go, and a session whose offset went with them starts
    afresh.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_buffered_packets: int = 10_000
    max_buffered_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_option(cls, option: bool | dict[str, Any] | RecoveryOptions | None) -> RecoveryOptions | None:
        """The options a ``connection_state_recovery`` argument means (None: recovery off)."""
        if option is None or option is False:
            return None
        if option is True:
            return cls()
        if isinstance(option, RecoveryOptions):
            return option
        if not isinstance(option, dict):
            raise TypeError("connection_state_recovery is True, a dict of options or None")
        unknown = set(option) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise TypeError(f"unknown connection_state_recovery option(s): {', '.join(sorted(unknown))}")
        options = cls(**option)
        if options.max_disconnection_duration <= 0:
            raise ValueError("max_disconnection_duration must be positive")
        if options.max_buffered_packets < 1 or options.max_buffered_bytes < 1:
            raise ValueError("max_buffered_packets and max_buffered_bytes must be positive")
        return options


@dataclass
class Session:
    """What a disconnected socket leaves behind (Node's ``Session``; ``missed_packets`` once restored).

    ``missed_packets`` are EVENT data lists (``[event, *args, offset]``), oldest first.
    """

    sid: str
    pid: str
    rooms: list[str]
    data: Any
    missed_packets: list[list[Any]] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """Node's persisted form: ``{sid, pid, rooms, data}``."""
        return {"sid": self.sid, "pid": self.pid, "rooms": list(self.rooms), "data": self.data}

    @classmethod
    def from_wire(cls, wire: Any) -> Session:
        """A session from Node's persisted form (ValueError when it has not that shape)."""
        if not isinstance(wire, dict):
            raise ValueError("a session is an object")
        sid, pid, rooms = wire.get("sid"), wire.get("pid"), wire.get("rooms")
        if not isinstance(sid, str) or not isinstance(pid, str):
            raise ValueError("a session has a string sid and pid")
        if not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
            raise ValueError("a session's rooms are a list of strings")
        data = wire.get("data")
        return cls(sid, pid, rooms, data if data is not None else {})


def should_include(session_rooms: Iterable[str], rooms: Collection[str], except_: Collection[str]) -> bool:
    """Whether a packet broadcast to ``rooms`` minus ``except_`` was meant for a session in ``session_rooms``.

    Node's ``shouldIncludePacket``: any room matches (or the broadcast had none), and none is excluded.
    (Pass ``session_rooms`` as a frozenset when checking many packets: it is not copied then.)
    """
    if not isinstance(session_rooms, frozenset | set):
        session_rooms = frozenset(session_rooms)
    return (not rooms or not session_rooms.isdisjoint(rooms)) and session_rooms.isdisjoint(except_)


# One kept packet: (rooms, except, data, size, emitted_at). A tuple, not an object: this is built
# once per broadcast, and the log's sequence numbers are implicit (the first entry's is ``_first``).
_Entry = tuple[frozenset[str], frozenset[str], list[Any], int, float]
_ROOMS: Final = 0
_EXCEPT: Final = 1
_DATA: Final = 2
_SIZE: Final = 3
_AT: Final = 4


class PacketLog:
    """One namespace's replayable packets, oldest first, bounded in count, bytes and age.

    Offsets are a counter in hexadecimal, so finding one is arithmetic, not a search. A packet
    older than ``max_age`` seconds is collected by one wheel timer armed for the oldest entry.
    """

    def __init__(self, options: RecoveryOptions, wheel: LoopTimerWheel) -> None:
        self.max_packets = options.max_buffered_packets
        self.max_bytes = options.max_buffered_bytes
        self.max_age = options.max_disconnection_duration
        self._entries: deque[_Entry] = deque()
        self._first = 0  # the sequence number of the oldest entry
        self._next = 0  # the sequence number of the next packet
        self.bytes = 0
        self._clock = wheel.loop.time
        self._timer = wheel.timer(self._expire)

    def __len__(self) -> int:
        return len(self._entries)

    def next_offset(self) -> str:
        """The offset the next appended packet gets (append it before asking again)."""
        return f"{self._next:x}"

    def append(self, rooms: frozenset[str], except_: frozenset[str], data: list[Any], size: int) -> None:
        """Keep a packet sent to ``rooms`` minus ``except_`` (``data`` ends with its offset)."""
        entries = self._entries
        entries.append((rooms, except_, data, size, self._clock()))
        self._next += 1
        self.bytes += size
        if len(entries) > self.max_packets or self.bytes > self.max_bytes:
            self._trim()
        if not self._timer.armed:
            self._timer.arm_at(entries[0][_AT] + self.max_age)

    def _trim(self) -> None:
        entries = self._entries
        while len(entries) > self.max_packets or (self.bytes > self.max_bytes and len(entries) > 1):
            self.bytes -= entries.popleft()[_SIZE]
            self._first += 1

    def _expire(self) -> None:
        entries = self._entries
        threshold = self._clock() - self.max_age
        while entries and entries[0][_AT] <= threshold:
            self.bytes -= entries.popleft()[_SIZE]
            self._first += 1
        if entries:
            self._timer.arm_at(entries[0][_AT] + self.max_age)

    def missed(self, offset: str, session_rooms: list[str]) -> list[list[Any]] | None:
        """The packets after ``offset`` meant for a session in ``session_rooms``; None if ``offset``
        is not (or no longer) in the log."""
        try:
            seq = int(offset, 16)
        except ValueError:
            return None
        entries = self._entries
        if not entries or f"{seq:x}" != offset:  # one spelling per offset: "0a" is not "a"
            return None
        first = self._first
        if seq < first or seq >= self._next:
            return None
        rooms = frozenset(session_rooms)
        return [
            entry[_DATA]
            for index in range(seq - first + 1, len(entries))
            if should_include(rooms, (entry := entries[index])[_ROOMS], entry[_EXCEPT])
        ]

    def close(self) -> None:
        """Drop every packet and the timer."""
        self._timer.cancel()
        self._entries.clear()
        self._first = self._next
        self.bytes = 0


class SessionStore:
    """Sessions of disconnected sockets by pid, each kept ``max_age`` seconds (one wheel timer)."""

    def __init__(self, max_age: float, wheel: LoopTimerWheel) -> None:
        self.max_age = max_age
        self._sessions: dict[str, tuple[Session, float]] = {}  # insertion order = expiry order
        self._clock = wheel.loop.time
        self._timer = wheel.timer(self._expire)

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, pid: object) -> bool:
        return pid in self._sessions

    def put(self, session: Session) -> None:
        """Keep ``session`` for ``max_age`` seconds from now."""
        self._sessions.pop(session.pid, None)  # re-inserted last: the order stays the expiry order
        expires = self._clock() + self.max_age
        self._sessions[session.pid] = (session, expires)
        if not self._timer.armed:
            self._timer.arm_at(expires)

    def peek(self, pid: str) -> Session | None:
        """The live session of ``pid``, left in place."""
        found = self._sessions.get(pid)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def take(self, pid: str) -> Session | None:
        """Remove and return the live session of ``pid``."""
        session = self.peek(pid)
        if session is not None:
            del self._sessions[pid]
        return session

    def _expire(self) -> None:
        now = self._clock()
        sessions = self._sessions
        while sessions:
            pid = next(iter(sessions))
            expires = sessions[pid][1]
            if expires > now:
                self._timer.arm_at(expires)
                return
            del sessions[pid]

    def close(self) -> None:
        """Drop every session and the timer."""
        self._timer.cancel()
        self._sessions.clear()
