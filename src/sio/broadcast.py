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
from sio.adapter import NO_ROOMS, BroadcastFlags, BroadcastOptions
from sio.errors import AckTimeoutError, LocalProtocolError

if TYPE_CHECKING:
    from sio.adapter import Adapter
    from sio.socket import Socket


def _rooms(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


class BroadcastOperator:
    """Selects the sockets a broadcast reaches and sends it, encoded once."""

    __slots__ = ("adapter", "except_rooms", "flags", "rooms")

    def __init__(
        self,
        adapter: Adapter,
        rooms: frozenset[str] = NO_ROOMS,
        except_rooms: frozenset[str] = NO_ROOMS,
        flags: BroadcastFlags = BroadcastFlags.DEFAULT,
    ) -> None:
        self.adapter = adapter
        self.rooms = rooms
        self.except_rooms = except_rooms
        self.flags = flags

    # -- selectors -----------------------------------------------------------------

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also target ``room`` (a union: a socket in several rooms gets the event once)."""
        return BroadcastOperator(self.adapter, self.rooms | _rooms(room), self.except_rooms, self.flags)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Exclude the sockets in ``room``."""
        return BroadcastOperator(self.adapter, self.rooms, self.except_rooms | _rooms(room), self.flags)

    def _flag(self, **change: Any) -> BroadcastOperator:
        return BroadcastOperator(self.adapter, self.rooms, self.except_rooms, self.flags.replace(**change))

    def compress(self, compress: bool) -> BroadcastOperator:
        """Accepted for parity with Node; sio sends without permessage-deflate."""
        return self._flag(compress=compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the event for sockets whose transport cannot take it right now."""
        return self._flag(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's sockets (all of them, with the in-memory adapter)."""
        return self._flag(local=True)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for the acks of an ``emit`` with a callback."""
        return self._flag(timeout=seconds)

    # -- actions -------------------------------------------------------------------

    @property
    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    def emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to every selected socket.

        A trailing callable asks for acks (a timeout is required): it is called as
        ``cb(err, responses)`` once every client answered, or when the timeout
        expires (``err`` is then an :class:`~sio.AckTimeoutError`, ``responses`` the
        partial list).
        """
        if event in RESERVED_EVENTS:
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        if args and callable(args[-1]):
            self._emit_with_ack_callback([event, *args[:-1]], args[-1])
        else:
            self.adapter.broadcast(SIO_EVENT, [event, *args], self._options)
        return True

    def _emit_with_ack_callback(self, data: list[Any], callback: Callable[..., Any]) -> None:
        timeout = self.flags.timeout
        if timeout is None:
            raise LocalProtocolError("a broadcast with acks needs a timeout: use .timeout(seconds)")
        responses: list[Any] = []
        expected = -1  # the client count, once known
        done = False
        recipients: list[Socket] = []
        ack_id = -1

        def finish(err: AckTimeoutError | None) -> None:
            nonlocal done
            if done:
                return
            done = True
            timer.cancel()
            for socket in recipients:  # sockets that never answered keep no stale ack
                socket._drop_ack(ack_id)
            call_handler(callback, err, list(responses))

        def on_response(*answer: Any) -> None:
            if not done:
                responses.append(answer[0] if answer else None)
                if len(responses) == expected:
                    finish(None)

        timer = self.adapter.nsp.server.wheel.timer(
            lambda: finish(AckTimeoutError(responses=list(responses)))
        )
        ack_id, sent_to = self.adapter.broadcast_with_ack(SIO_EVENT, data, self._options, on_response)
        recipients.extend(sent_to)
        expected = len(sent_to)
        if expected == 0:
            # Like Node, complete asynchronously even when nobody was selected.
            asyncio.get_running_loop().call_soon(finish, None)
        else:
            timer.arm(timeout)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Emit with acks and return every client's answer (needs ``timeout``).

        Raises :class:`~sio.AckTimeoutError` on timeout; its ``responses`` holds the
        answers that did arrive.
        """
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def settle(err: AckTimeoutError | None, responses: list[Any]) -> None:
            if future.done():
                return
            if err is not None:
                future.set_exception(err)
            else:
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
