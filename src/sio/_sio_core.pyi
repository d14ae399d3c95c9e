"""Typing stub for sio's compiled, sans-I/O core (src/_sio_core.pyx)."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

# --- errors -------------------------------------------------------------------------

class SioError(Exception):
    """The root of every exception sio raises on purpose."""

class ProtocolError(SioError, ValueError):
    """The peer broke the protocol: base class of every error raised on malformed input."""

class LocalProtocolError(SioError, ValueError):
    """The application asked for something the protocol does not allow."""

class WebSocketError(ProtocolError):
    """A WebSocket frame broke RFC 6455; ``close_code`` is the close code to send."""

    close_code: int
    events: list[tuple[int, Any]]
    def __init__(self, message: str, events: list[tuple[int, Any]] | None = ...) -> None: ...

class WebSocketProtocolError(WebSocketError):
    """Framing error (close code 1002)."""

class WebSocketInvalidUtf8(WebSocketError):
    """Invalid UTF-8 in a text message or close reason (close code 1007)."""

class WebSocketMessageTooBig(WebSocketError):
    """Message over ``max_message_size`` (close code 1009)."""

class HandshakeError(ProtocolError):
    """Not a valid WebSocket upgrade request; ``status`` is the HTTP status to answer."""

    status: int
    def __init__(self, message: str, status: int = ...) -> None: ...

class EngineIOError(ProtocolError):
    """An Engine.IO packet or polling payload could not be decoded."""

    packets: list[tuple[int, str | bytes]]
    def __init__(self, message: str, packets: list[tuple[int, str | bytes]] | None = ...) -> None: ...

class SocketIOError(ProtocolError):
    """A Socket.IO packet could not be decoded or is invalid for its type."""

class EncodeError(SioError, TypeError):
    """A value cannot be carried by the protocol."""

# --- WebSocket ----------------------------------------------------------------------

OP_CONTINUATION: Final[int]
OP_TEXT: Final[int]
OP_BINARY: Final[int]
OP_CLOSE: Final[int]
OP_PING: Final[int]
OP_PONG: Final[int]
OP_TEXT_DEFLATED: Final[int]
OP_BINARY_DEFLATED: Final[int]

# (OP_TEXT, str), (OP_BINARY, bytes), (OP_PING or OP_PONG, bytes), (OP_CLOSE, (code, reason)),
# and with ``deflate``: (OP_TEXT_DEFLATED or OP_BINARY_DEFLATED, bytes) still deflated
WsEvent = tuple[int, Any]

class FrameParser:
    """Incremental parser of client-to-server WebSocket frames."""

    @property
    def max_message_size(self) -> int:
        """The largest message accepted (``sys.maxsize`` when unlimited)."""
    @property
    def require_mask(self) -> bool:
        """Whether unmasked frames are refused (always, on a server)."""
    deflate: bool
    """RSV1 allowed on a data message's first frame (permessage-deflate negotiated)."""
    def __init__(
        self, max_message_size: int | None = 1_000_000, require_mask: bool = True, deflate: bool = False
    ) -> None: ...
    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame or fragmented message."""
    def feed(self, data: bytes | bytearray | memoryview) -> list[WsEvent]:
        """Parse a chunk of the stream; return the complete events."""

def encode_frame(
    opcode: int, data: str | bytes | bytearray | memoryview, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """Encode one frame (server frames unmasked; ``mask`` builds client frames)."""

def encode_text_frame(text: str) -> bytes:
    """Encode a complete server text frame."""

def encode_binary_frame(data: bytes | bytearray | memoryview) -> bytes:
    """Encode a complete server binary frame."""

def encode_deflated_frame(
    opcode: int, data: bytes | bytearray | memoryview, *, mask: bytes | None = None
) -> bytes:
    """Encode a complete compressed frame (FIN, RSV1) of deflated ``data`` (OP_TEXT or OP_BINARY)."""

def encode_close_frame(code: int | None = 1000, reason: str = "", *, mask: bytes | None = None) -> bytes:
    """Encode a close frame; ``code=None`` sends an empty payload."""

def websocket_accept(key: str | bytes) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``."""

def check_websocket_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """Validate an opening handshake (lower-case header names); return the accept value."""

# --- Engine.IO ----------------------------------------------------------------------

EIO_OPEN: Final[int]
EIO_CLOSE: Final[int]
EIO_PING: Final[int]
EIO_PONG: Final[int]
EIO_MESSAGE: Final[int]
EIO_UPGRADE: Final[int]
EIO_NOOP: Final[int]

EncodedEnginePacket = str | bytes

def decode_eio_packet(data: str | bytes | bytearray | memoryview) -> tuple[int, str | bytes]:
    """Decode one packet from a WebSocket frame (str for text, bytes for binary)."""

def encode_eio_messages(messages: Iterable[str | bytes | bytearray | memoryview]) -> list[str | bytes]:
    """The Engine.IO message packets carrying ``messages`` ("4" + each str, each bytes as is)."""

def encode_eio_packet(
    packet_type: int, data: str | bytes | bytearray | memoryview | None = None
) -> str | bytes:
    """Encode a packet for a WebSocket frame: str, or bytes for a binary message."""

def decode_eio_payload(body: bytes | bytearray | memoryview | str) -> list[tuple[int, str | bytes]]:
    """Split a polling request body into decoded packets."""

def encode_eio_payload(packets: Iterable[EncodedEnginePacket]) -> bytes:
    """Join encoded packets into a polling response body."""

# --- Socket.IO ----------------------------------------------------------------------

SIO_CONNECT: Final[int]
SIO_DISCONNECT: Final[int]
SIO_EVENT: Final[int]
SIO_ACK: Final[int]
SIO_CONNECT_ERROR: Final[int]
SIO_BINARY_EVENT: Final[int]
SIO_BINARY_ACK: Final[int]
RESERVED_EVENTS: Final[frozenset[str]]

class SioPacket:
    """A decoded Socket.IO packet."""

    @property
    def type(self) -> int: ...
    @property
    def nsp(self) -> str: ...
    @property
    def data(self) -> Any: ...
    @property
    def id(self) -> int | None: ...
    @property
    def attachments(self) -> int: ...
    def __init__(
        self, type: int, nsp: str = "/", data: Any = None, id: int | None = None, attachments: int = 0
    ) -> None: ...

def encode_sio_packet(
    type: int, nsp: str = "/", data: Any = None, id: int | None = None, *, engine: bool = False
) -> list[Any]:
    """Encode a packet as ``[text, *attachments]``; ``engine=True`` prefixes the text with "4"."""

def decode_sio_packet(text: str, max_attachments: int = 10) -> SioPacket:
    """Decode one text packet that has no attachments to wait for."""

class SioDecoder:
    """Stateful decoder: text packets, then their binary attachments."""

    @property
    def max_attachments(self) -> int:
        """The most attachments one packet may announce."""
    def __init__(self, max_attachments: int = 10) -> None: ...
    @property
    def pending(self) -> bool:
        """True while a binary packet waits for attachments."""
    def feed(self, data: str | bytes) -> SioPacket | None:
        """Feed one message; return the completed packet or None."""
    def reset(self) -> None:
        """Drop a packet still waiting for attachments."""

def encode_json(value: Any) -> bytes:
    """Serialise ``value`` exactly as JavaScript's JSON.stringify would."""

# --- msgpack (socket.io-msgpack-parser's packets, sio.notepack's values) ------------------

def msgpack_setup(
    ext_hook: Callable[[int, bytes], Any], pack: Callable[[Any], bytes], unpack: Callable[[bytes], Any]
) -> None:
    """Register sio.notepack's msgpack: its ext_hook, its Packer's ``pack``, its reference unpack."""

def msgpack_unpack(wire: bytes) -> Any:
    """Decode one msgpack value as sio.notepack.unpack does (ValueError for bad bytes)."""

def encode_msgpack_packet(type: int, nsp: str, data: Any = None, id: int | None = None) -> list[str | bytes]:
    """One packet as socket.io-msgpack-parser sends it: ``[bytes]`` (EncodeError for bad data)."""

class MsgpackDecoder:
    """socket.io-msgpack-parser's packets in, checked packets out (stateless)."""

    def feed(self, message: str | bytes) -> SioPacket:
        """Decode one message (SocketIOError for anything but one valid packet)."""
    def reset(self) -> None:
        """Nothing is ever half-received."""

# --- timer wheel --------------------------------------------------------------------

class Timer:
    """A re-armable timer node of a TimerWheel."""

    @property
    def callback(self) -> Callable[[], object]: ...
    @property
    def armed(self) -> bool: ...
    @property
    def deadline(self) -> float: ...
    def arm(self, delay: float) -> None:
        """Arm (or re-arm) to fire ``delay`` seconds from now."""
    def arm_at(self, deadline: float) -> None:
        """Arm (or re-arm) to fire at ``deadline``."""
    def cancel(self) -> None:
        """Disarm; a no-op when not armed."""

class TimerWheel:
    """Hierarchical timer wheel (1 ms ticks by default) driven by whoever owns the clock."""

    @property
    def tick(self) -> float:
        """Seconds per tick (the resolution)."""
    @property
    def count(self) -> int:
        """Armed timers."""
    @property
    def clock(self) -> Callable[[], float]:
        """The time source."""
    on_wakeup: Callable[[float], object] | None
    error_handler: Callable[[BaseException, Timer], object] | None
    def __init__(
        self,
        tick: float = 0.001,
        clock: Callable[[], float] | None = None,
        on_wakeup: Callable[[float], object] | None = None,
        error_handler: Callable[[BaseException, Timer], object] | None = None,
    ) -> None: ...
    def now(self) -> float:
        """The wheel's clock."""
    def timer(self, callback: Callable[[], object]) -> Timer:
        """Create an idle timer that calls ``callback()`` when it fires."""
    def next_deadline(self) -> float | None:
        """When ``advance`` next has something to do, or None when nothing is armed."""
    def advance(self, now: float | None = None) -> int:
        """Fire every timer due by ``now``; return how many fired."""
