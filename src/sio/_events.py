"""A small event emitter with Node's shape: ``on``/``once``/``off``/``emit``, usable as decorators."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)

log = logging.getLogger("sio")


class EventEmitter:
    """Register handlers per event name and call them synchronously on ``emit``.

    A handler that raises is logged and does not stop the others: one faulty
    listener must not take a connection or the server down.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Add ``handler`` for ``event``; without a handler, return a decorator."""
        if handler is None:
            return lambda fn: self.on(event, fn)
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def once(self, event: str, handler: Handler) -> Handler:
        """Add a handler that is removed after its first call."""

        def wrapper(*args: Any) -> Any:
            self.off(event, wrapper)
            return handler(*args)

        return self.on(event, wrapper)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove one handler, or every handler of ``event`` when none is given."""
        if handler is None:
            self._handlers.pop(event, None)
            return
        handlers = self._handlers.get(event)
        if handlers and handler in handlers:
            handlers.remove(handler)

    def listeners(self, event: str) -> list[Handler]:
        """The handlers of ``event``, in call order."""
        return list(self._handlers.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call every handler of ``event`` with ``args``; return whether there was any."""
        handlers = self._handlers.get(event)
        if not handlers:
            return False
        for handler in list(handlers) if len(handlers) > 1 else handlers:
            try:
                handler(*args)
            except Exception:
                log.exception("error in %r handler %r", event, handler)
        return True
