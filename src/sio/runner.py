"""Putting a server on a front end: the layer above the engine, the Socket.IO layer and the front ends.

The engine imports no front end (docs/architecture.md, "Layers"): ``EngineServer.serve`` /
``listen`` / ``asgi_app`` and ``sio.Server.listen`` / ``asgi_app`` go through the
:class:`~sio.engine.server.FrontEnds` this module installs when ``sio`` is imported. ``listen``
with several workers hands over to :mod:`sio.workers`, whose worker processes serve through
:func:`serve_until_stopped` too.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Protocol

from sio.engine import server as engine_server
from sio.errors import InvalidOption, SioError
from sio.frontends import builtin
from sio.frontends.asgi import ASGIApp
from sio.frontends.asgi_http import AsgiHttp
from sio.workers.supervisor import resolve_workers, supervise

if TYPE_CHECKING:
    from sio.engine.exchange import HttpExchange
    from sio.engine.server import EngineServer
    from sio.workers.handoff import ConnectionRouter

log = logging.getLogger("sio.http")


class Servable(Protocol):
    """What :func:`run` serves: an ``EngineServer`` or a ``sio.Server``."""

    @property
    def path(self) -> str: ...  # noqa: D102

    async def serve(  # noqa: D102
        self,
        host: str,
        port: int,
        *,
        reuse_port: bool = False,
        router: Any = None,
        ssl: Any = None,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> Any: ...
    async def close(self) -> None: ...  # noqa: D102


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CannotListen(SioError, OSError):
    """The front end could not listen (the port is in use, the address is not ours, ...)."""


class ListenInRunningLoop(SioError, RuntimeError):
    """``listen()`` (which runs its own loop, blocking) was called from inside a running loop."""


# Set by ``python -m sio run`` while it imports the app: a top-level ``io.listen(...)`` in that
# module is then skipped (with a warning) instead of serving on its own port, before the CLI's.
cli_import: list[str] = []


async def serve_until_stopped(
    app: Servable,
    host: str,
    port: int,
    *,
    router: ConnectionRouter | None = None,
    reuse_port: bool = False,
    on_ready: Callable[[Any], None] | None = None,
    ssl: SSLContext | None = None,
    other_asgi_app: Any = None,
    root_path: str = "",
) -> None:
    """Serve ``app`` on the running loop until SIGINT or SIGTERM, then close it gracefully.

    (``await app.close()``: an ``other_asgi_app`` shuts down, every socket gets ``server
    shutting down``.) ``on_ready`` gets the listening asyncio server.
    """
    options: dict[str, Any] = {}
    if other_asgi_app is not None or root_path:
        options = {"other_asgi_app": other_asgi_app, "root_path": root_path}
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            listening = await app.serve(host, port, router=router, reuse_port=reuse_port, ssl=ssl, **options)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                reason = "address already in use"
            raise CannotListen(f"cannot listen on {_authority(host, port)}: {reason}") from exc
        if on_ready is not None:
            on_ready(listening)
        await stop.wait()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await app.close()
        if router is not None:
            await router.close()


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_line(app: Any, host: str, port: int, ssl: SSLContext | None, workers: int = 1) -> str:
    """What a server logs once it listens: the app's URL (not the engine path, which answers
    400 to a browser), the Socket.IO path and the transports."""
    engine = getattr(app, "engine", app)
    transports = ", ".join(getattr(engine, "transports", ()))
    url = f"{'https' if ssl else 'http'}://{_authority(host, port)}/"
    processes = f", {workers} workers" if workers > 1 else ""
    return f"listening on {url} (Socket.IO at {app.path}, transports {transports}{processes}; Ctrl-C to stop)"


def run(
    app: Servable,
    host: str,
    port: int,
    ssl: SSLContext | None = None,
    *,
    other_asgi_app: Any = None,
    root_path: str = "",
) -> None:
    """Serve ``app`` forever on uvloop; returns after Ctrl-C or SIGTERM, once it is closed."""
    import uvloop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ListenInRunningLoop(
            "listen() runs its own event loop and blocks; inside a running loop use "
            "`await io.serve(host, port)` instead"
        )

    def ready(listening: Any) -> None:
        sockets = getattr(listening, "sockets", None)
        bound = sockets[0].getsockname()[1] if sockets else port  # --port 0: the port it got
        log.info("%s", start_line(app, host, bound, ssl))

    uvloop.run(
        serve_until_stopped(
            app, host, port, on_ready=ready, ssl=ssl, other_asgi_app=other_asgi_app, root_path=root_path
        )
    )


class StandardFrontEnds:
    """The built-in uvloop front end and the ASGI app (what ``import sio`` installs)."""

    async def serve(
        self,
        engine: EngineServer,
        host: str,
        port: int,
        fallback: Callable[[HttpExchange], None] | None = None,
        *,
        router: ConnectionRouter | None = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> asyncio.AbstractServer:
        """Listen with the built-in front end on the running loop (``other_asgi_app``: the other paths)."""
        if root_path and other_asgi_app is None:
            raise InvalidOption("root_path is the ASGI app's: it needs other_asgi_app")
        asgi = None
        if other_asgi_app is not None:
            asgi = AsgiHttp(other_asgi_app, root_path, close_timeout=engine.close_timeout)
        return await builtin.serve(
            engine, host, port, fallback=fallback, router=router, reuse_port=reuse_port, ssl=ssl, asgi=asgi
        )

    def listen(
        self,
        app: Servable,
        host: str,
        port: int,
        workers: int | str = 1,
        ssl: SSLContext | None = None,
        *,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> None:
        """Serve ``app`` forever on uvloop (blocking); several ``workers`` get a supervisor."""
        if cli_import:
            log.warning(
                "%s called listen(%d) while `python -m sio run` imports it: ignored, the command "
                'line\'s --host/--port serve it (guard it with `if __name__ == "__main__":`)',
                cli_import[0],
                port,
            )
            return
        count = resolve_workers(workers)
        if root_path and other_asgi_app is None:
            raise InvalidOption("root_path is the ASGI app's: it needs other_asgi_app")
        if count == 1:
            run(app, host, port, ssl, other_asgi_app=other_asgi_app, root_path=root_path)
        elif ssl is not None:
            raise InvalidOption(builtin.TLS_WITH_WORKERS)
        else:
            supervise(app, host, port, count, other_asgi_app=other_asgi_app, root_path=root_path)

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
