"""A small event emitter with Node's shape: ``on``/``once``/``off``/``emit``, usable as decorators.

Handlers may be plain functions, called directly, or coroutine functions, which
get a task of their own (docs/architecture.md, "Rules": callbacks, not coroutines, on
the hot path). A handler that raises is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)

log = logging.getLogger("sio")

_background: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: object = None) -> asyncio.Task[Any]:
    """Run a coroutine as a task that is kept alive and whose failure is logged."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(lambda t: _finished(t, what))
    return task


def _finished(task: asyncio.Task[Any], what: object) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("error in handler %s", what, exc_info=task.exception())


def call_handler(handler: Handler, *args: Any) -> None:
    """Call ``handler``; a coroutine it returns runs as a task. Errors are logged."""
    try:
        result = handler(*args)
    except Exception:
        log.exception("error in handler %r", handler)
        return
    if result is not None and inspect.iscoroutine(result):
        spawn(result, repr(handler))


class HandlerCall:
    """What a log line names when an event handler fails: the event, namespace, socket and handler."""

    __slots__ = ("event", "handler", "namespace", "sid")

    def __init__(self, handler: Handler, event: object, namespace: str, sid: str) -> None:
        self.handler = handler
        self.event = event
        self.namespace = namespace
        self.sid = sid

    def __str__(self) -> str:
        name = getattr(self.handler, "__qualname__", None) or repr(self.handler)
        return f"{name} for event {self.event!r} on namespace {self.namespace!r} (socket {self.sid})"


def call_event_handler(
    handler: Handler,
    args: Sequence[Any],
    arity: int,
    describe: Callable[[Handler, object], HandlerCall],
    event: object,
) -> None:
    """Call an event handler with as many of ``args`` as it takes (``arity``): extra arguments are
    dropped, as JavaScript drops them (an ack it has no parameter for is never sent). A failure is
    logged with ``describe(handler, event)`` (event, namespace, socket), made only then."""
    try:
        result = handler(*args[:arity]) if len(args) > arity else handler(*args)
    except Exception:
        log.exception("error in handler %s", describe(handler, event))
        return
    if result is not None and inspect.iscoroutine(result):
        spawn(result, describe(handler, event))


def positional_arity(handler: Handler) -> int:
    """How many positional arguments ``handler`` accepts (99 for ``*args``).

    Read from the code object (no cache, so closures made per connection are not kept
    alive); ``once`` wrappers report the arity of the handler they wrap.
    """
    wrapped = getattr(handler, "__wrapped__", None)
    if wrapped is not None:
        return positional_arity(wrapped)
    func = getattr(handler, "__func__", handler)
    code = getattr(func, "__code__", None)
    if code is not None:
        if code.co_flags & inspect.CO_VARARGS:
            return 99
        return code.co_argcount - (1 if func is not handler else 0)
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 99
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 99
    return sum(
        p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params
    )


class EventEmitter:
    """Register handlers per event name and call them synchronously on ``emit``.

    Handler lists are tuples replaced on change, so ``emit`` iterates without copying
    and a handler added or removed during an emit does not change that emit.
    """

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        self._handlers: dict[Any, tuple[Handler, ...]] = {}

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Add ``handler`` for ``event``; without a handler, return a decorator."""
        if handler is None:
            return lambda fn: self.on(event, fn)
        self._handlers[event] = (*self._handlers.get(event, ()), handler)
        return handler

    def prepend(self, event: str, handler: H) -> H:
        """Add ``handler`` for ``event`` before the others (Node's ``prependListener``)."""
        self._handlers[event] = (handler, *self._handlers.get(event, ()))
        return handler

    def once(self, event: str, handler: H) -> H:
        """Add a handler that is removed after its first call."""

        def wrapper(*args: Any) -> Any:
            self.off(event, wrapper)
            return handler(*args)

        wrapper.__wrapped__ = handler  # type: ignore[attr-defined]
        self.on(event, wrapper)
        return handler

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove one handler (or its ``once`` wrapper), or every handler of ``event``."""
        if handler is None:
            self._handlers.pop(event, None)
            return
        handlers = self._handlers.get(event, ())
        for i, registered in enumerate(handlers):
            # == (not is): bound methods are new objects at every attribute access
            if registered == handler or getattr(registered, "__wrapped__", None) == handler:
                remaining = handlers[:i] + handlers[i + 1 :]
                if remaining:
                    self._handlers[event] = remaining
                else:
                    del self._handlers[event]
                return

    def listeners(self, event: str) -> list[Handler]:
        """The handlers of ``event``, in call order."""
        return list(self._handlers.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call every handler of ``event`` with ``args``; return whether there was any."""
        handlers = self._handlers.get(event)
        if not handlers:
            return False
        for handler in handlers:
            call_handler(handler, *args)
        return True


def run_chain(fns: Sequence[Handler], arg: Any, done: Callable[[BaseException | None], None]) -> None:
    """Run middlewares ``fn(arg)`` in order, then ``done(error or None)``.

    Plain functions run synchronously; the chain turns into a task only from the
    first middleware that returns an awaitable, so a chain of plain functions costs
    no task at all.
    """
    for i, fn in enumerate(fns):
        try:
            result = fn(arg)
        except Exception as exc:
            done(exc)
            return
        if result is not None and inspect.isawaitable(result):
            spawn(_finish_chain(result, fns[i + 1 :], arg, done), fn)
            return
    done(None)


async def _finish_chain(
    pending: Any, rest: Sequence[Handler], arg: Any, done: Callable[[BaseException | None], None]
) -> None:
    try:
        await pending
        for fn in rest:
            result = fn(arg)
            if result is not None and inspect.isawaitable(result):
                await result
    except Exception as exc:
        done(exc)
        return
    done(None)
