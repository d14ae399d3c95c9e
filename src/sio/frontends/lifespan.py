"""The ASGI lifespan protocol of an application served by the built-in front end, as uvicorn runs it.

uvicorn's ``lifespan="auto"``: the app gets one ``lifespan`` scope for the life of the server,
``lifespan.startup`` before the port serves requests and ``lifespan.shutdown`` when the server
stops; the ``state`` dict it fills at startup is copied into every request's scope. An app that
raises on the lifespan scope before answering the startup does not support the protocol: it is
served without one (logged at info). ``lifespan.startup.failed`` (Starlette sends it when a
startup handler raises) stops the server from starting: :class:`LifespanFailed`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sio.errors import SioError

log = logging.getLogger("sio.asgi")

Message = dict[str, Any]


class LifespanFailed(SioError, RuntimeError):
    """The ASGI application's lifespan startup failed: the server does not start."""


def _summary(message: str) -> str:
    """The last non-empty line of what the app said (Starlette sends a whole traceback)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Lifespan:
    """One run of an ASGI application's lifespan protocol: :meth:`startup`, later :meth:`shutdown`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}  # scope["state"]: what the app keeps between startup and requests
        self.supported = True  # False: the app raised on the lifespan scope before its startup
        self._task: asyncio.Task[None] | None = None
        self._received = 0
        self._started: asyncio.Future[None] | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._startup_sent = False
        self._failure: str | None = None  # the message of startup.failed / shutdown.failed

    async def startup(self) -> None:
        """Run the app's startup; raise :class:`LifespanFailed` when it reports a failure."""
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._stopping = loop.create_future()
        self._stopped = loop.create_future()
        self._task = loop.create_task(self._main())
        await asyncio.shield(self._started)
        if self._failure is not None:
            log.error("ASGI application startup failed: %s", self._failure)
            summary = _summary(self._failure)
            raise LifespanFailed(
                "the ASGI application's startup failed" + (f": {summary}" if summary else "")
            )
        log.debug("ASGI application startup complete")

    async def shutdown(self) -> None:
        """Run the app's shutdown (nothing when it has no lifespan or its lifespan ended)."""
        task, self._task = self._task, None
        if task is None or self._stopping is None or self._stopped is None:
            return
        if not task.done():
            if not self._stopping.done():
                self._stopping.set_result(None)
            await asyncio.shield(self._stopped)
        if self._failure is not None:
            log.error("ASGI application shutdown failed: %s", self._failure)
        else:
            log.debug("ASGI application shutdown complete")

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if self._failure is not None:
                pass  # it said why already (Starlette re-raises after startup.failed)
            elif not self._startup_sent:
                self.supported = False
                log.info("ASGI 'lifespan' protocol appears unsupported by the application")
            else:
                log.error("Exception in 'lifespan' protocol", exc_info=exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            for future in (self._started, self._stopped):
                if future is not None and not future.done():
                    future.set_result(None)

    async def _receive(self) -> Message:
        self._received += 1
        if self._received == 1:
            return {"type": "lifespan.startup"}
        assert self._stopping is not None
        await asyncio.shield(self._stopping)
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        started, stopped = self._started, self._stopped
        assert started is not None and stopped is not None
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if self._startup_sent or started.done():
                raise RuntimeError(f"unexpected ASGI message {kind!r}: the startup was answered already")
            self._startup_sent = True
            if kind == "lifespan.startup.failed":
                self._failure = str(message.get("message") or "")
            started.set_result(None)
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if self._stopping is None or not self._stopping.done() or stopped.done():
                raise RuntimeError(f"unexpected ASGI message {kind!r}: no shutdown was asked for")
            if kind == "lifespan.shutdown.failed":
                self._failure = str(message.get("message") or "")
            stopped.set_result(None)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on the lifespan scope")
