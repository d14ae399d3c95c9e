"""python-socketio's class-based namespaces: ``on_<event>`` methods, helpers bound to the namespace."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from sio._events import positional_arity

if TYPE_CHECKING:
    from sio.compat.socketio.async_server import AsyncServer, _Session


class AsyncNamespace:
    """Handlers of one namespace as methods: event ``my_event`` calls ``on_my_event(sid, *args)``.

    ``on_connect(sid, environ[, auth])`` and ``on_disconnect(sid[, reason])`` are the connection
    handlers; methods may be plain or coroutines. One instance serves every client. Register it
    with ``sio.register_namespace(MyNamespace("/chat"))`` (``'*'``: every namespace, which methods
    then get as their first argument).
    """

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self.server: AsyncServer | None = None

    def is_asyncio_based(self) -> bool:
        """True: a namespace for :class:`~sio.compat.socketio.AsyncServer`."""
        return True

    def _set_server(self, server: AsyncServer) -> None:
        self.server = server

    def _server(self) -> AsyncServer:
        if self.server is None:
            raise RuntimeError("this namespace is not registered (sio.register_namespace(...))")
        return self.server

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Call ``on_<event>``; its result is the event's ack. Override to dispatch otherwise.

        ``on_connect`` and ``on_disconnect`` get the optional last argument (auth, reason) only
        if they take it.
        """
        handler = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        if event in ("connect", "disconnect") and positional_arity(handler) < len(args):
            args = args[:-1]
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
    ) -> None:
        """:meth:`AsyncServer.emit <sio.compat.socketio.AsyncServer.emit>` in this namespace."""
        await self._server().emit(
            event,
            data=data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    async def send(
        self,
        data: Any,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Any = None,
        ignore_queue: bool = False,
    ) -> None:
        """:meth:`AsyncServer.send <sio.compat.socketio.AsyncServer.send>` in this namespace."""
        await self._server().send(
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
        ignore_queue: bool = False,
    ) -> Any:
        """:meth:`AsyncServer.call <sio.compat.socketio.AsyncServer.call>` in this namespace (no timeout
        by default, as python-socketio's namespaces)."""
        return await self._server().call(
            event,
            data=data,
            to=to,
            sid=sid,
            namespace=namespace or self.namespace,
            timeout=timeout,
            ignore_queue=ignore_queue,
        )

    async def enter_room(self, sid: str, room: Any, namespace: str | None = None) -> None:
        """Put a client in ``room``."""
        await self._server().enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid: str, room: Any, namespace: str | None = None) -> None:
        """Take a client out of ``room``."""
        await self._server().leave_room(sid, room, namespace=namespace or self.namespace)

    async def close_room(self, room: Any, namespace: str | None = None) -> None:
        """Empty ``room``."""
        await self._server().close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[Any]:
        """The rooms a client is in."""
        return self._server().rooms(sid, namespace=namespace or self.namespace)

    async def get_session(self, sid: str, namespace: str | None = None) -> Any:
        """The client's session."""
        return await self._server().get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid: str, session: Any, namespace: str | None = None) -> None:
        """Replace the client's session."""
        await self._server().save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: str | None = None) -> _Session:
        """``async with self.session(sid) as session:``."""
        return self._server().session(sid, namespace=namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect a client from this namespace."""
        await self._server().disconnect(sid, namespace=namespace or self.namespace)
