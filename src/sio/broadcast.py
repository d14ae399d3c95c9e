"""Broadcasting: Node's ``BroadcastOperator`` (``io.to(room).emit(...)`` and friends).

An operator is an immutable description of the recipients (rooms, excluded rooms)
and flags; every selector returns a new operator, so operators can be kept and
reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sio._events import call_handler
from sio._sio_core import RESERVED_EVENTS, SIO_EVENT
from sio.adapter import BroadcastFlags, BroadcastOptions
from sio.errors import AckTimeoutError

if TYPE_CHECKING:
    from sio.adapter import Adapter
    from sio.socket import Socket


def _rooms(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset([room]) if isinstance(room, str) else frozenset(room)


class BroadcastOperator:
    """Selects the sockets a broadcast reaches and sends it, encoded once."""

    __slots__ = ("adapter", "except_rooms", "flags", "rooms")

    def __init__(
        self,
        adapter: Adapter,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        *,
        volatile: bool = False,
        local: bool = False,
        timeout: float | None = None,
        flags: BroadcastFlags | None = None,
    ) -> None:
        self.adapter = adapter
        self.rooms = rooms
        self.except_rooms = except_rooms
        self.flags = flags or BroadcastFlags(volatile=volatile, local=local, timeout=timeout)

    def _with(self, **changes: Any) -> BroadcastOperator:
        rooms = changes.pop("rooms", self.rooms)
        except_rooms = changes.pop("except_rooms", self.except_rooms)
        flags = BroadcastFlags(**{**self.flags.__dict__, **changes})
        return BroadcastOperator(self.adapter, rooms, except_rooms, flags=flags)

    # -- selectors -----------------------------------------------------------------

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also target ``room`` (a union: a socket in several rooms gets the event once)."""
        return self._with(rooms=self.rooms | _rooms(room))

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Exclude the sockets in ``room``."""
        return self._with(except_rooms=self.except_rooms | _rooms(room))

    def compress(self, compress: bool) -> BroadcastOperator:
        """Accepted for parity with Node; sio sends without permessage-deflate."""
        return self._with(compress=compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the event for sockets whose transport cannot take it right now."""
        return self._with(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's sockets (all of them, with the in-memory adapter)."""
        return self._with(local=True)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for the acks of an ``emit`` with a callback."""
        return self._with(timeout=seconds)

    # -- actions -------------------------------------------------------------------

    @property
    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    def emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to every selected socket.

        A trailing callable asks for acks: it is called as ``cb(err, responses)`` once
        every client answered, or when ``timeout(s)`` expires (``err`` is then an
        :class:`~sio.AckTimeoutError` and ``responses`` the partial list).
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if args and callable(args[-1]):
            self._emit_with_ack_callback([event, *args[:-1]], args[-1])
            return True
        self.adapter.broadcast(SIO_EVENT, [event, *args], self._options)
        return True

    def _emit_with_ack_callback(self, data: list[Any], callback: Callable[..., Any]) -> None:
        timeout = self.flags.timeout
        if timeout is None:
            raise ValueError("a broadcast with acks needs a timeout: use .timeout(seconds)")
        responses: list[Any] = []
        expected: list[int] = []  # the client count, once known
        done = False

        def finish(err: AckTimeoutError | None) -> None:
            nonlocal done
            if done:
                return
            done = True
            timer.cancel()
            call_handler(callback, err, responses if err is None else list(responses))

        def on_response(*answer: Any) -> None:
            if done:
                return
            responses.append(answer[0] if answer else None)
            if expected and len(responses) >= expected[0]:
                finish(None)

        def on_client_count(count: int) -> None:
            expected.append(count)
            if len(responses) >= count:
                finish(None)

        timer = self.adapter.nsp.server.wheel.timer(
            lambda: finish(AckTimeoutError(responses=list(responses)))
        )
        timer.arm(timeout)
        self.adapter.broadcast_with_ack(SIO_EVENT, data, self._options, on_client_count, on_response)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Emit with acks and return every client's answer (the partial list on timeout)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def settle(err: Any, responses: list[Any]) -> None:
            if not future.done():
                future.set_result(responses)

        self.emit(event, *args, settle)
        return await future

    async def fetch_sockets(self) -> list[Socket]:
        """The selected sockets."""
        return self.adapter.fetch_sockets(self._options)

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        self.adapter.add_sockets(self._options, _rooms(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        self.adapter.del_sockets(self._options, _rooms(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (``close=True`` closes their connections)."""
        self.adapter.disconnect_sockets(self._options, close)
