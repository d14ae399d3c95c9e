"""The exceptions of sio, under one root.

::

    SioError                        every exception sio raises on purpose
    ├── ProtocolError (ValueError)  the peer broke the protocol (raised by the decoders)
    │   ├── WebSocketError          a frame broke RFC 6455 (``close_code``: 1002, 1007, 1009)
    │   │   ├── WebSocketProtocolError, WebSocketInvalidUtf8, WebSocketMessageTooBig
    │   │   └── WebSocketCompressionError  a compressed message is not deflate data (1007)
    │   ├── HandshakeError          not a valid WebSocket upgrade (``status``)
    │   ├── EngineIOError           an undecodable Engine.IO packet or payload
    │   └── SocketIOError           an undecodable or invalid Socket.IO packet
    ├── LocalProtocolError (ValueError)  the application asked for what the protocol forbids:
    │                                    a reserved event name, a broadcast with acks but no timeout
    ├── InvalidOption (ValueError)  an option of ``Server`` / ``EngineServer`` out of its range
    ├── EncodeError (TypeError)     a value the wire cannot carry
    ├── ConnectError                raised by a middleware to refuse a connection
    ├── EngineRefusal               what ``connection_error`` handlers get (sio.engine.server)
    └── AckTimeoutError (TimeoutError)  no acknowledgement in time

The peer's faults (``ProtocolError``) never reach application code as exceptions: the server
answers them (an HTTP status, a close code, a disconnect reason). The others are raised to the
application's own calls. Each keeps the builtin base it had (``ValueError``, ``TypeError``,
``TimeoutError``), so code catching those still works.
"""

from __future__ import annotations

from typing import Any

from sio._sio_core import (
    EncodeError,
    EngineIOError,
    HandshakeError,
    LocalProtocolError,
    ProtocolError,
    SioError,
    SocketIOError,
    WebSocketError,
    WebSocketInvalidUtf8,
    WebSocketMessageTooBig,
    WebSocketProtocolError,
)


class InvalidOption(SioError, ValueError):
    """An option of ``Server`` or ``EngineServer`` is out of its range."""


class WebSocketCompressionError(WebSocketError):
    """A compressed message (permessage-deflate) is not valid deflate data (close code 1007, as ws)."""

    close_code = 1007


class ConnectError(SioError):
    """Raised by a middleware to refuse a connection: the client gets CONNECT_ERROR ``{message, data}``."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class AckTimeoutError(SioError, TimeoutError):
    """No acknowledgement arrived in time: a client's (``emit_with_ack`` with a timeout), or the
    other servers' answers to a cluster request (``server_side_emit_with_ack``, ``fetch_sockets``).

    ``responses`` holds what did arrive (answers, or the sockets found so far).
    """

    def __init__(self, message: str = "operation has timed out", responses: Any = None) -> None:
        super().__init__(message)
        self.responses = responses


__all__ = [
    "AckTimeoutError",
    "ConnectError",
    "EncodeError",
    "EngineIOError",
    "HandshakeError",
    "InvalidOption",
    "LocalProtocolError",
    "ProtocolError",
    "SioError",
    "SocketIOError",
    "WebSocketCompressionError",
    "WebSocketError",
    "WebSocketInvalidUtf8",
    "WebSocketMessageTooBig",
    "WebSocketProtocolError",
]
