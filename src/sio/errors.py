"""The exceptions of sio's public API."""

from __future__ import annotations

from typing import Any

from sio._sio_core import EncodeError, ProtocolError


class ConnectError(Exception):
    """Raised by a middleware to refuse a connection: the client gets CONNECT_ERROR ``{message, data}``."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckTimeoutError(TimeoutError):
    """No acknowledgement arrived in time (``emit_with_ack`` with a timeout)."""

    def __init__(self, message: str = "operation has timed out", responses: Any = None) -> None:
        super().__init__(message)
        self.responses = responses


__all__ = ["AckTimeoutError", "ConnectError", "EncodeError", "ProtocolError"]
