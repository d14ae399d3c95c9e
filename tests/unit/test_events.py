"""The event emitter under the whole API: ordering, once, off, re-entrancy, arity, middleware chains."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from sio._events import EventEmitter, positional_arity, run_chain


def test_a_handler_added_or_removed_during_an_emit_does_not_change_that_emit() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def late(*args: Any) -> None:
        calls.append("late")

    def first(*args: Any) -> None:
        calls.append("first")
        emitter.on("event", late)
        emitter.off("event", second)

    def second(*args: Any) -> None:
        calls.append("second")

    emitter.on("event", first)
    emitter.on("event", second)
    emitter.emit("event")
    assert calls == ["first", "second"]
    calls.clear()
    emitter.off("event", first)
    emitter.emit("event")
    assert calls == ["late"]


def test_once_runs_once_and_can_be_removed_by_the_original_handler() -> None:
    emitter = EventEmitter()
    calls: list[int] = []
    emitter.once("event", calls.append)
    emitter.emit("event", 1)
    emitter.emit("event", 2)
    assert calls == [1]
    emitter.once("other", calls.append)
    emitter.off("other", calls.append)
    assert emitter.emit("other", 3) is False
    assert calls == [1]


def test_a_failing_handler_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    emitter.on("event", boom)
    emitter.on("event", lambda: calls.append("ok"))
    assert emitter.emit("event") is True
    assert calls == ["ok"]
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_decorator_form_returns_the_function() -> None:
    emitter = EventEmitter()

    @emitter.on("event")
    def handler() -> None: ...

    assert emitter.listeners("event") == [handler]


class Handlers:
    def method(self, a: Any, b: Any) -> None: ...

    def star(self, *args: Any) -> None: ...


@pytest.mark.parametrize(
    ("handler", "arity"),
    [
        (lambda: None, 0),
        (lambda reason: None, 1),
        (lambda reason, description: None, 2),
        (lambda *args: None, 99),
        (lambda reason, *rest: None, 99),
        (Handlers().method, 2),
        (Handlers().star, 99),
        (print, 99),
        (functools.partial(lambda a, b: None, 1), 1),
    ],
)
def test_positional_arity(handler: Any, arity: int) -> None:
    assert positional_arity(handler) == arity


async def test_a_middleware_chain_turns_async_only_from_the_first_coroutine() -> None:
    order: list[str] = []
    done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def sync_one(arg: list[str]) -> None:
        order.append("sync")

    async def async_one(arg: list[str]) -> None:
        order.append("async")

    def refuse(arg: list[str]) -> None:
        raise ValueError("no")

    run_chain([sync_one, async_one, sync_one, refuse, sync_one], order, done.set_result)
    assert order == ["sync"]  # the chain went on in a task from the coroutine on
    error = await asyncio.wait_for(done, 5)
    assert isinstance(error, ValueError)
    assert order == ["sync", "async", "sync"]
    finished: list[BaseException | None] = []
    run_chain([sync_one], order, finished.append)
    assert finished == [None]  # a plain chain completes synchronously
