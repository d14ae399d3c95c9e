"""python-socketio's exceptions (``socketio.exceptions``), and sio's refusal of what it cannot map."""

from __future__ import annotations

from typing import Any

from sio.errors import SioError


class SocketIOError(Exception):
    """The root of python-socketio's exceptions."""


class ConnectionError(SocketIOError):
    """A connection could not be made."""


class ConnectionRefusedError(ConnectionError):
    """Raised by a connect handler to refuse the connection.

    The arguments reach the client in the CONNECT_ERROR packet: the first as ``message``,
    the second (or the rest, as a list) as ``data``.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if not args:
            self.error_args: dict[str, Any] = {"message": "Connection rejected by server"}
        else:
            self.error_args = {"message": str(args[0])}
            if len(args) == 2:
                self.error_args["data"] = args[1]
            elif len(args) > 2:
                self.error_args["data"] = list(args[1:])


class TimeoutError(SocketIOError):
    """``call()`` got no answer in time."""


class BadNamespaceError(SocketIOError):
    """A namespace is not connected (client side in python-socketio; kept for imports)."""


class DisconnectedError(SocketIOError):
    """The connection is gone (client side in python-socketio; kept for imports)."""


class Unsupported(SioError, NotImplementedError):
    """sio's own: a python-socketio feature or option this layer cannot map (docs/compat.md)."""


__all__ = [
    "BadNamespaceError",
    "ConnectionError",
    "ConnectionRefusedError",
    "DisconnectedError",
    "SocketIOError",
    "TimeoutError",
    "Unsupported",
]
