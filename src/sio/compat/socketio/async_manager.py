"""Client managers: python-socketio's in-memory ``AsyncManager`` on sio's rooms; its message-queue
managers refused (their wire formats are python-socketio's own, not Node's)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sio.compat.socketio.exceptions import Unsupported

if TYPE_CHECKING:
    from sio.compat.socketio.async_server import AsyncServer


class AsyncManager:
    """python-socketio's default client manager: this server's clients and rooms (sio's in-memory adapter).

    Only the query methods are offered (``get_participants``, ``get_namespaces``, ``get_rooms``,
    ``is_connected``, the sid look-ups); changes go through the server's methods.
    """

    def __init__(self) -> None:
        self.server: AsyncServer | None = None

    def set_server(self, server: AsyncServer) -> None:
        """Called by the server that uses this manager."""
        self.server = server

    def initialize(self) -> None:
        """Nothing to start: sio's adapter starts with the server."""

    def _server(self) -> AsyncServer:
        if self.server is None:
            raise RuntimeError("this manager is not attached to a server (pass it as client_manager=)")
        return self.server

    def get_namespaces(self) -> Iterable[str]:
        """The namespaces with clients on this server."""
        return self._server()._namespaces_with_clients()

    def get_participants(self, namespace: str, room: Any) -> Iterator[tuple[str, str]]:
        """``(sid, eio_sid)`` of this server's clients in ``room`` (None: all of them; a list: any room)."""
        server = self._server()
        rooms = None if room is None else _room_list(room)
        for socket in server._local_sockets(namespace or "/", rooms, frozenset(), include_connecting=True):
            yield socket.id, socket.client.id

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms of a client (its own sid room included)."""
        return self._server().rooms(sid, namespace)

    def is_connected(self, sid: str, namespace: str) -> bool:
        """Whether ``sid`` is a connected client of ``namespace`` on this server."""
        return self._server()._connected(namespace or "/", sid) is not None

    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None:
        """The client's sid in ``namespace`` for an Engine.IO session id."""
        return self._server()._sid_from_eio_sid(eio_sid, namespace or "/")

    def eio_sid_from_sid(self, sid: str, namespace: str) -> str | None:
        """The Engine.IO session id of a client."""
        client = self._server()._client(namespace or "/", sid)
        return None if client is None else client.eio_sid


def _room_list(room: Any) -> list[Any]:
    """One room or several (python-socketio: anything with a length but a str is a list of rooms)."""
    if isinstance(room, str) or not hasattr(room, "__len__"):
        return [room]
    return list(room)


_QUEUE_HELP = (
    "sio's cluster adapters speak Node's formats (docs/compat.md, 'Client managers'): pass one as "
    "client_manager=, e.g. sio.adapters.redis.redis_adapter({url!r}); every server of the cluster "
    "must then run sio (or Node's socket.io with the same adapter), not python-socketio"
)


class AsyncRedisManager:
    """Refused: python-socketio's Redis messages (JSON or pickle on its ``socketio`` channel) are not
    the format of Node's @socket.io/redis-adapter, which sio's Redis adapters speak."""

    def __init__(self, url: str = "redis://localhost:6379/0", *args: Any, **kwargs: Any) -> None:
        raise Unsupported(
            "AsyncRedisManager: python-socketio's Redis message format is its own; "
            + _QUEUE_HELP.format(url=url)
        )


class AsyncAioPikaManager:
    """Refused: sio has no RabbitMQ adapter, and python-socketio's queue messages are its own format."""

    def __init__(self, url: str = "amqp://guest:guest@localhost:5672//", *args: Any, **kwargs: Any) -> None:
        raise Unsupported(
            "AsyncAioPikaManager: sio has no RabbitMQ adapter; "
            + _QUEUE_HELP.format(url="redis://localhost:6379/0")
        )
