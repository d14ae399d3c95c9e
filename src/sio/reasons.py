"""Why a socket disconnected, as data: Node's reasons, with Node's exact strings.

Both layers use them (the engine for its sessions, the Socket.IO layer for its sockets), so this
module imports nothing of sio's. Handlers get a member; it *is* its string
(``DisconnectReason.PING_TIMEOUT == "ping timeout"``), so code comparing with Node's strings works.
"""

from __future__ import annotations

from enum import Enum


class DisconnectReason(str, Enum):
    """The reason ``disconnecting`` and ``disconnect`` handlers receive (README, "Disconnect reasons")."""

    TRANSPORT_ERROR = "transport error"
    """The transport failed: overlapping polls, an aborted request, a WebSocket error, a backlog over
    ``max_buffered_bytes``."""
    TRANSPORT_CLOSE = "transport close"
    """The client closed the connection (or sent the close packet over polling)."""
    PING_TIMEOUT = "ping timeout"
    """No pong within ``ping_timeout`` after a ping."""
    PARSE_ERROR = "parse error"
    """The client sent an undecodable Engine.IO packet."""
    FORCED_CLOSE = "forced close"
    """The server closed the Engine.IO connection itself."""
    SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"
    """The application called ``socket.disconnect()``."""
    CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
    """The client sent a DISCONNECT packet for the namespace."""
    SERVER_SHUTTING_DOWN = "server shutting down"
    """``await io.close()``."""
    FORCED_SERVER_CLOSE = "forced server close"
    """The Socket.IO layer closed the connection (a protocol violation, a connect timeout)."""

    def __str__(self) -> str:
        return self.value


__all__ = ["DisconnectReason"]
