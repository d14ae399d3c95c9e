# The one exception hierarchy of sio (the tree is drawn in src/sio/errors.py). Its root and
# the core's exceptions live here, so that the compiled decoders raise them. Every decoder
# raises only subclasses of ProtocolError on bad input ("the peer broke the protocol");
# EncodeError and LocalProtocolError are the application's faults ("you misused the API").


class SioError(Exception):
    """The root of every exception sio raises on purpose."""


class ProtocolError(SioError, ValueError):
    """The peer broke the protocol: base class of every error raised on malformed input."""


class LocalProtocolError(SioError, ValueError):
    """The application asked for something the protocol does not allow (a reserved event name)."""


class WebSocketError(ProtocolError):
    """A WebSocket frame broke RFC 6455; ``close_code`` is the close code to send.

    ``events`` holds the events parsed from the same input before the bad frame,
    so that a caller can still deliver them before closing.
    """

    close_code = 1002

    def __init__(self, message, events=None):
        super().__init__(message)
        self.events = events if events is not None else []


class WebSocketProtocolError(WebSocketError):
    """Framing error: reserved bits, bad opcode, unmasked or malformed frame (close code 1002)."""

    close_code = 1002


class WebSocketInvalidUtf8(WebSocketError):
    """A text message or close reason is not valid UTF-8 (close code 1007)."""

    close_code = 1007


class WebSocketMessageTooBig(WebSocketError):
    """A message is larger than the parser's ``max_message_size`` (close code 1009)."""

    close_code = 1009


class HandshakeError(ProtocolError):
    """The HTTP request is not a valid WebSocket upgrade; ``status`` is the HTTP status to answer."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class EngineIOError(ProtocolError):
    """An Engine.IO packet or polling payload could not be decoded (maps to ``parse error``).

    ``packets`` holds the packets of a polling payload decoded before the bad one.
    """

    def __init__(self, message, packets=None):
        super().__init__(message)
        self.packets = packets if packets is not None else []


class SocketIOError(ProtocolError):
    """A Socket.IO packet could not be decoded or is invalid for its type."""


class EncodeError(SioError, TypeError):
    """A value cannot be carried by the protocol (not JSON-serialisable, bad argument)."""
