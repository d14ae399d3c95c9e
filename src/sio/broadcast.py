"""Broadcasting: Node's ``BroadcastOperator`` (``io.to(room).emit(...)`` and friends).

An operator is an immutable description of the recipients (rooms, excluded rooms)
and flags; every selector returns a new operator, so operators can be kept and
reused.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sio._events import call_handler
from sio._sio_core import RESERVED_EVENTS, SIO_EVENT
from sio.adapters.base import NO_ROOMS, BroadcastFlags, BroadcastOptions, SocketDetails
from sio.errors import AckTimeoutError, LocalProtocolError
from sio.parser import Packet

if TYPE_CHECKING:
    from sio.adapters.base import BaseAdapter
    from sio.socket import Handshake, Socket

# How long server_side_emit waits for the other servers' answers unless timeout() says
# (Node's cluster adapter: DEFAULT_TIMEOUT).
SERVER_SIDE_EMIT_TIMEOUT = 5.0
# Names a namespace keeps for itself (Node's namespace RESERVED_EVENTS): not server-side events.
NAMESPACE_RESERVED_EVENTS = frozenset(("connect", "connection", "new_namespace"))


def _answers() -> tuple[asyncio.Future[list[Any]], Callable[[BaseException | None, list[Any]], None]]:
    """A future and the ``(err, responses)`` callback that settles it (the first call wins)."""
    future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

    def settle(err: BaseException | None, responses: list[Any]) -> None:
        if future.done():
            return
        if err is not None:
            future.set_exception(err)
        else:
            future.set_result(responses)

    return future, settle


def _rooms(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


class BroadcastOperator:
    """Selects the sockets a broadcast reaches and sends it, encoded once."""

    __slots__ = ("adapter", "except_rooms", "flags", "rooms")

    def __init__(
        self,
        adapter: BaseAdapter,
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
        """Whether the broadcast may be compressed (permessage-deflate on the built-in front end, HTTP
        compression of polling responses); True by default, as in Node."""
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
        """Send ``event`` to every selected socket, on every server.

        A trailing callable asks for acks (a timeout is required): it is called as
        ``cb(err, responses)`` once every server reported its client count and every
        client answered, or when the timeout expires (``err`` is then an
        :class:`~sio.AckTimeoutError`, ``responses`` the partial list).
        """
        if event in RESERVED_EVENTS:
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        adapter = self.adapter
        if args and callable(args[-1]):
            self._emit_with_ack_callback([event, *args[:-1]], args[-1])
        else:
            adapter.broadcast(Packet(SIO_EVENT, adapter.nsp.name, [event, *args]), self._options)
        return True

    def _emit_with_ack_callback(self, data: list[Any], callback: Callable[..., Any]) -> None:
        # Node's BroadcastOperator.emit with an ack: complete once server_count() servers
        # reported their client counts and that many answers came, or at the timeout.
        timeout = self.flags.timeout
        if timeout is None:
            raise LocalProtocolError("a broadcast with acks needs a timeout: use .timeout(seconds)")
        single = self.flags.expect_single_response
        responses: list[Any] = []
        expected_servers = -1
        servers = 0
        expected_clients = 0
        done = False

        def finish(err: AckTimeoutError | None) -> None:
            nonlocal done
            done = True
            timer.cancel()
            if single:
                call_handler(callback, err, responses[0] if responses and err is None else None)
            else:
                call_handler(callback, err, list(responses))

        def check() -> None:
            if not done and expected_servers == servers and len(responses) == expected_clients:
                finish(None)

        def on_client_count(count: int) -> None:
            nonlocal servers, expected_clients
            expected_clients += count
            servers += 1
            check()

        def on_response(*answer: Any) -> None:
            if not done:
                responses.append(answer[0] if answer else None)
                check()

        def on_server_count(task: asyncio.Future[int]) -> None:
            nonlocal expected_servers
            if task.cancelled() or task.exception() is not None:
                return  # the timeout settles it
            expected_servers = task.result()
            check()

        adapter = self.adapter
        timer = adapter.nsp.server.wheel.timer(
            lambda: None if done else finish(AckTimeoutError(responses=list(responses)))
        )
        try:
            adapter.broadcast_with_ack(
                Packet(SIO_EVENT, adapter.nsp.name, data), self._options, on_client_count, on_response
            )
        except BaseException:
            done = True  # nothing was sent (bad data, or not supported here)
            raise
        timer.arm(timeout)
        # Completes asynchronously even when nobody was selected, as Node.
        asyncio.ensure_future(adapter.server_count()).add_done_callback(on_server_count)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Emit with acks and return every client's answer (needs ``timeout``).

        Raises :class:`~sio.AckTimeoutError` on timeout; its ``responses`` holds the
        answers that did arrive.
        """
        future, settle = _answers()
        self.emit(event, *args, settle)
        return await future

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """The selected sockets of every server: this server's :class:`~sio.Socket` objects,
        and a :class:`RemoteSocket` for each socket another server holds."""
        found = await self.adapter.fetch_sockets(self._options)
        return [
            RemoteSocket.from_details(self.adapter, item) if isinstance(item, dict) else item
            for item in found
        ]

    def server_side_emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to the namespace's handlers on the other servers (Node's ``serverSideEmit``).

        A trailing callable gets ``(err, responses)``: one answer per other server, or an
        :class:`~sio.AckTimeoutError` with the answers that came within the timeout
        (``timeout(s)``, 5 s by default).
        """
        if event in NAMESPACE_RESERVED_EVENTS:
            raise LocalProtocolError(f'"{event}" is a reserved event name')
        packet = [event, *args]
        # The application's callback, through call_handler: errors logged, coroutines run.
        ack = functools.partial(call_handler, packet.pop()) if args and callable(args[-1]) else None

        timeout = self.flags.timeout if self.flags.timeout is not None else SERVER_SIDE_EMIT_TIMEOUT
        self.adapter.server_side_emit(packet, ack, timeout)
        return True

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` to the other servers and return their answers (Node's ``serverSideEmitWithAck``).

        Raises :class:`~sio.AckTimeoutError` (``responses``: the answers that came) when a
        server does not answer within the timeout.
        """
        future, settle = _answers()
        self.server_side_emit(event, *args, settle)
        return await future

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        self.adapter.add_sockets(self._options, _rooms(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        self.adapter.del_sockets(self._options, _rooms(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (``close=True`` closes their connections)."""
        self.adapter.disconnect_sockets(self._options, close)


class RemoteSocket:
    """A socket another server of the cluster holds, as ``fetch_sockets`` finds it (Node's ``RemoteSocket``).

    ``id``, ``handshake``, ``rooms`` and ``data`` are a snapshot; ``emit``, ``join``,
    ``leave`` and ``disconnect`` act on the server that holds it, through the adapter.
    """

    __slots__ = ("_operator", "data", "handshake", "id", "rooms")

    def __init__(
        self,
        adapter: BaseAdapter,
        id: str,
        handshake: Handshake | dict[str, Any],
        rooms: Iterable[str],
        data: Any,
    ) -> None:
        self.id = id
        self.handshake = handshake
        self.rooms = set(rooms)
        self.data = data
        # A broadcast to its own room; an ack callback takes one answer, as socket.emit's.
        self._operator = BroadcastOperator(
            adapter, frozenset((id,)), NO_ROOMS, BroadcastFlags(expect_single_response=True)
        )

    @classmethod
    def from_details(cls, adapter: BaseAdapter, details: SocketDetails) -> RemoteSocket:
        """Build one from what the cluster carries (``{"id", "handshake", "rooms", "data"}``)."""
        return cls(
            adapter,
            details["id"],
            details.get("handshake") or {},
            details.get("rooms") or (),
            details.get("data"),
        )

    def __repr__(self) -> str:
        return f"<RemoteSocket id={self.id} rooms={sorted(self.rooms)}>"

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for the ack of the next ``emit``."""
        return self._operator.timeout(seconds)

    def emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to this socket (a trailing callable needs ``timeout``: ``cb(err, answer)``)."""
        return self._operator.emit(event, *args)

    def join(self, rooms: str | Iterable[str]) -> None:
        """Make the socket join ``rooms``."""
        self._operator.sockets_join(rooms)

    def leave(self, room: str) -> None:
        """Make the socket leave ``room``."""
        self._operator.sockets_leave(room)

    def disconnect(self, close: bool = False) -> RemoteSocket:
        """Disconnect the socket (``close=True``: its whole connection)."""
        self._operator.disconnect_sockets(close)
        return self
