"""Putting a server on a front end: the layer above the engine, the Socket.IO layer and the front ends.

The engine imports no front end (docs/architecture.md, "Layers"): ``EngineServer.serve`` /
``listen`` / ``asgi_app`` and ``sio.Server.listen`` / ``asgi_app`` go through the
:class:`~sio.engine.server.FrontEnds` this module installs when ``sio`` is imported. The worker
processes of ``--workers`` will start servers through here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from sio.engine import server as engine_server
from sio.frontends import builtin
from sio.frontends.asgi import ASGIApp

if TYPE_CHECKING:
    from sio.engine.exchange import HttpExchange
    from sio.engine.server import EngineServer

log = logging.getLogger("sio.http")


class Servable(Protocol):
    """What :func:`run` serves: an ``EngineServer`` or a ``sio.Server``."""

    @property
    def path(self) -> str: ...  # noqa: D102

    async def serve(self, host: str, port: int) -> Any: ...  # noqa: D102
    async def close(self) -> None: ...  # noqa: D102


def run(app: Servable, host: str, port: int) -> None:
    """Serve ``app`` forever on uvloop; returns after Ctrl-C, once it is closed."""
    import uvloop

    async def main() -> None:
        await app.serve(host, port)
        log.info("listening on http://%s:%d%s", host, port, app.path)
        try:
            await asyncio.Event().wait()
        finally:
            await app.close()

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main())


class StandardFrontEnds:
    """The built-in uvloop front end and the ASGI app (what ``import sio`` installs)."""

    async def serve(
        self,
        engine: EngineServer,
        host: str,
        port: int,
        fallback: Callable[[HttpExchange], None] | None = None,
    ) -> asyncio.AbstractServer:
        """Listen with the built-in front end on the running loop."""
        return await builtin.serve(engine, host, port, fallback=fallback)

    def listen(self, app: Servable, host: str, port: int) -> None:
        """Serve ``app`` forever on uvloop (blocking)."""
        run(app, host, port)

    def asgi_app(
        self,
        engine: EngineServer,
        other_app: Any = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        on_startup: Callable[[], None] | None = None,
    ) -> ASGIApp:
        """``engine`` as an ASGI 3 app; other paths (and lifespan) go to ``other_app``."""
        return ASGIApp(engine, other_app, on_shutdown=on_shutdown, on_startup=on_startup)


engine_server.install_front_ends(StandardFrontEnds())
