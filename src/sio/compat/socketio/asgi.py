"""python-socketio's ``ASGIApp`` on sio's ASGI front end: Socket.IO, static files, another app."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sio.asgi_types import ASGIApplication, Receive, Scope, Send
from sio.compat.socketio.async_server import current_scope

if TYPE_CHECKING:
    from sio.compat.socketio.async_server import AsyncServer

# python-engineio's content types by extension (anything else: application/octet-stream).
CONTENT_TYPES = {
    "css": "text/css",
    "gif": "image/gif",
    "html": "text/html",
    "jpg": "image/jpeg",
    "js": "application/javascript",
    "json": "application/json",
    "png": "image/png",
    "txt": "text/plain",
}


def static_file(path: str, static_files: dict[str, Any]) -> dict[str, str] | None:
    """The file and content type for a URL path under python-socketio's ``static_files`` rules, or None.

    Keys are URL paths or prefixes (``'/static': './public'``), values a filename or
    ``{'filename', 'content_type'}``; a URL ending in ``/`` gets ``index.html`` (or the ``''``
    key's file). A path with a ``..`` segment matches nothing.
    """
    if any(part == ".." for part in path.split("/")):
        return None
    extra = ""
    rule = static_files.get(path)
    while rule is None and path:
        path, last = path.rsplit("/", 1)
        extra = "/" + last + extra
        rule = static_files.get(path)
        if rule is None:
            rule = static_files.get(path + "/")
    if rule is None:
        return None
    found = {"filename": rule} if isinstance(rule, str) else dict(rule)
    if found["filename"].endswith("/") and extra.startswith("/"):
        extra = extra[1:]
    found["filename"] += extra
    if found["filename"].endswith("/"):
        default = static_files.get("", "index.html")
        if isinstance(default, str):
            found["filename"] += default
        else:
            found["filename"] += default["filename"]
            if "content_type" in default:
                found["content_type"] = default["content_type"]
    if "content_type" not in found:
        found["content_type"] = CONTENT_TYPES.get(
            found["filename"].rsplit(".")[-1], "application/octet-stream"
        )
    return found


async def serve_engine(
    server: AsyncServer, app: ASGIApplication, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one request with ``app`` (the server's sio ASGI app) as the Socket.IO endpoint, whatever
    its path; the scope is kept for ``environ['asgi.scope']``."""
    engine = server.io.engine
    if not engine.handles_path(scope.get("path", "")):
        scope = {**scope, "path": engine.path}
    token = current_scope.set(scope)
    try:
        await app(scope, receive, send)
    finally:
        current_scope.reset(token)


class _Lifespan:
    """The ``on_startup`` / ``on_shutdown`` hooks as an ASGI lifespan app (python-socketio's rules:
    a failing hook reports ``lifespan.*.failed``)."""

    def __init__(self, on_startup: Callable[[], Any] | None, on_shutdown: Callable[[], Any] | None) -> None:
        self.hooks = {"lifespan.startup": on_startup, "lifespan.shutdown": on_shutdown}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind not in self.hooks:
                continue
            hook = self.hooks[kind]
            try:
                if hook is not None:
                    result = hook()
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                await send({"type": kind + ".failed"})
                return
            await send({"type": kind + ".complete"})
            if kind == "lifespan.shutdown":
                return


class ASGIApp:
    """python-socketio's ``socketio.ASGIApp(sio, other_asgi_app=None, static_files=None, ...)``.

    Requests for ``socketio_path`` go to the server (None: every request), then ``static_files``
    (python-socketio's mapping rules), then ``other_asgi_app``, else 404. Lifespan goes to
    ``other_asgi_app`` unless ``on_startup`` / ``on_shutdown`` (plain or coroutine functions) are
    given; either way the sio server is closed at shutdown, after them (its clients get a
    disconnect with ``server disconnect``).
    """

    def __init__(
        self,
        socketio_server: AsyncServer,
        other_asgi_app: Any = None,
        static_files: dict[str, Any] | None = None,
        socketio_path: str | None = "socket.io",
        on_startup: Callable[[], Any] | None = None,
        on_shutdown: Callable[[], Any] | None = None,
    ) -> None:
        self.engineio_server = socketio_server
        self.other_asgi_app = other_asgi_app
        self.static_files = static_files or {}
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.socketio_path = socketio_path
        if socketio_path is not None:
            socketio_server.io.engine.path = "/" + socketio_path.strip("/") + "/"
        # sio's ASGI app: the engine's requests, and lifespan (passed on, then the server closed).
        lifespan_app: ASGIApplication | None = other_asgi_app
        if on_startup is not None or on_shutdown is not None:
            lifespan_app = _Lifespan(on_startup, on_shutdown)
        self._app = socketio_server.io.asgi_app(lifespan_app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._app(scope, receive, send)
            return
        path = scope.get("path", "")
        engine_path = self.engineio_server.io.engine.path
        if kind in ("http", "websocket") and (
            self.socketio_path is None or (path if path.endswith("/") else path + "/").startswith(engine_path)
        ):
            await serve_engine(self.engineio_server, self._app, scope, receive, send)
            return
        found = static_file(path, self.static_files) if kind == "http" and self.static_files else None
        if found is not None and os.path.isfile(found["filename"]):
            await self._serve_static(found, receive, send)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _respond(send, 404, "text/plain", b"Not Found")

    async def _serve_static(self, found: dict[str, str], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "http.request":
            return
        with open(found["filename"], "rb") as file:
            body = file.read()
        await _respond(send, 200, found["content_type"], body)


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
