"""sio.compat.socketio as a module: it stands without python-socketio, and its names are python-socketio's."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import socketio as pysocketio

from sio.compat import socketio


def test_it_imports_without_python_socketio_installed() -> None:
    probe = (
        "import sys\n"
        "sys.modules['socketio'] = sys.modules['engineio'] = None  # as if not installed\n"
        "from sio.compat import socketio\n"
        "sio = socketio.AsyncServer(async_mode='asgi')\n"
        "app = socketio.ASGIApp(sio)\n"
        "print(type(sio.io).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Server"


@pytest.mark.parametrize("args", [(), ("refused",), ("refused", {"why": 1}), ("refused", 1, 2), (42,)])
def test_connection_refused_error_args_are_python_socketios(args: tuple[Any, ...]) -> None:
    ours = socketio.exceptions.ConnectionRefusedError(*args).error_args
    theirs = pysocketio.exceptions.ConnectionRefusedError(*args).error_args
    if "data" in theirs and isinstance(theirs["data"], tuple):
        theirs["data"] = list(theirs["data"])  # a tuple on their side: the same JSON array on the wire
    assert ours == theirs


def test_the_exception_tree_is_python_socketios() -> None:
    exceptions = socketio.exceptions
    assert issubclass(exceptions.ConnectionRefusedError, exceptions.ConnectionError)
    for name in ("ConnectionError", "TimeoutError", "BadNamespaceError", "DisconnectedError"):
        assert issubclass(getattr(exceptions, name), exceptions.SocketIOError)
    assert issubclass(exceptions.Unsupported, NotImplementedError)


def test_the_server_side_names_are_there_and_the_others_say_what_to_use() -> None:
    for name in (
        "AsyncServer",
        "AsyncNamespace",
        "ASGIApp",
        "AsyncManager",
        "AsyncRedisManager",
        "exceptions",
    ):
        assert hasattr(socketio, name)
    assert socketio.AsyncServer.reason.CLIENT_DISCONNECT == pysocketio.AsyncServer.reason.CLIENT_DISCONNECT
    ours = {k: v for k, v in vars(socketio.AsyncServer.reason).items() if k.isupper()}
    theirs = {k: v for k, v in vars(pysocketio.AsyncServer.reason).items() if k.isupper()}
    assert ours == theirs
    for name, hint in (
        ("Server", "AsyncServer"),
        ("WSGIApp", "ASGIApp"),
        ("RedisManager", "sio.adapters.redis"),
    ):
        with pytest.raises(socketio.exceptions.Unsupported, match=hint):
            getattr(socketio, name)
    with pytest.raises(AttributeError):
        socketio.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    # Every name python-socketio exports is provided here, or refused with what to use instead.
    assert [n for n in pysocketio.__all__ if n not in socketio.__all__ and n not in socketio._NOT_HERE] == []
