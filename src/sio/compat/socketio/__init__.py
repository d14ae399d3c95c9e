"""python-socketio 5.x's asyncio server API on sio: change ``import socketio`` to
``from sio.compat import socketio`` and the application runs on sio's server.

::

    from sio.compat import socketio

    sio = socketio.AsyncServer(async_mode="asgi")
    app = socketio.ASGIApp(sio)

    @sio.event
    async def connect(sid, environ, auth):
        await sio.emit("hello", (1, 2), to=sid)

    @sio.on("add")
    async def add(sid, a, b):
        return a + b            # the client's ack

Covered: ``AsyncServer``, ``AsyncNamespace``, ``ASGIApp``, ``AsyncManager``, ``exceptions``.
The synchronous server, the clients, WSGI, aiohttp/Tornado/Sanic and python-socketio's
message-queue managers are not: naming them raises
:class:`~sio.compat.socketio.exceptions.Unsupported` with what to use instead. The differences
from python-socketio are in docs/compat.md.
"""

from __future__ import annotations

from typing import Any

from sio.compat.socketio import exceptions
from sio.compat.socketio.asgi import ASGIApp
from sio.compat.socketio.async_manager import AsyncAioPikaManager, AsyncManager, AsyncRedisManager
from sio.compat.socketio.async_namespace import AsyncNamespace
from sio.compat.socketio.async_server import AsyncServer
from sio.compat.socketio.exceptions import Unsupported

_QUEUES = "python-socketio's message-queue format is its own: use an sio adapter (docs/compat.md)"

# python-socketio names this layer does not provide, and what to use instead.
_NOT_HERE = {
    "Server": "sio runs on asyncio: use AsyncServer",
    "Namespace": "sio runs on asyncio: use AsyncNamespace",
    "WSGIApp": "sio runs on asyncio: use ASGIApp",
    "Middleware": "sio runs on asyncio: use ASGIApp",
    "get_tornado_handler": "sio serves through ASGI (ASGIApp) or its own front end",
    "Client": "this layer is the server side: use python-socketio's own client",
    "AsyncClient": "this layer is the server side: use python-socketio's own client",
    "SimpleClient": "this layer is the server side: use python-socketio's own client",
    "AsyncSimpleClient": "this layer is the server side: use python-socketio's own client",
    "ClientNamespace": "this layer is the server side: use python-socketio's own client",
    "AsyncClientNamespace": "this layer is the server side: use python-socketio's own client",
    "Manager": "sio runs on asyncio: use AsyncManager",
    "PubSubManager": _QUEUES,
    "RedisManager": "python-socketio's Redis format is its own: use sio.adapters.redis (docs/compat.md)",
    "KombuManager": _QUEUES,
    "KafkaManager": _QUEUES,
    "ZmqManager": _QUEUES,
    "AsyncPubSubManager": _QUEUES,
}


def __getattr__(name: str) -> Any:
    reason = _NOT_HERE.get(name)
    if reason is not None:
        raise Unsupported(f"socketio.{name} is not available in sio.compat.socketio: {reason}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ASGIApp",
    "AsyncAioPikaManager",
    "AsyncManager",
    "AsyncNamespace",
    "AsyncRedisManager",
    "AsyncServer",
    "exceptions",
]
