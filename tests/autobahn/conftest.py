"""Autobahn|Testsuite runs: on uvloop (as the built-in front end runs), summed up at the end of the output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

SUMMARIES: pytest.StashKey[list[str]] = pytest.StashKey()


def pytest_asyncio_loop_factories(
    config: Any, item: Any
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The echo server runs on uvloop, as the built-in front end does."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def autobahn_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a run's summary: printed in the test's own output and in pytest's terminal summary."""
    summaries = request.config.stash.setdefault(SUMMARIES, [])

    def record(text: str) -> None:
        print(text)
        summaries.append(text)

    return record


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One section with every Autobahn run's counts per behavior."""
    summaries = config.stash.get(SUMMARIES, [])
    if summaries:
        terminalreporter.section("Autobahn|Testsuite")
        for text in summaries:
            terminalreporter.write_line(text)
