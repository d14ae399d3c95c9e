"""What the engine sees of HTTP and WebSocket, whatever front end carries them.

A front end (the built-in uvloop server or the ASGI app) turns each request into an
:class:`HttpExchange` and each accepted WebSocket into a :class:`WebSocketChannel`;
the engine answers through them and never touches a socket itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import parse_qsl, unquote_plus

from sio._sio_core import encode_binary_frame, encode_eio_messages, encode_text_frame

Headers = list[tuple[str, str]]

# What one connection's input may take of one turn of the event loop, wherever it is handled (a
# WebSocket read, a polling POST): at most TURN_MESSAGES messages and about TURN_SECONDS (the
# clock is read every TURN_CLOCK_EVERY messages). The rest waits for the next turn, so a client
# that floods costs its own latency, not everyone's.
TURN_MESSAGES = 1000
TURN_SECONDS = 0.002
TURN_CLOCK_EVERY = 4


def parse_query(query_string: str) -> dict[str, str]:
    """The fields of a query string, as ``dict(parse_qsl(qs, keep_blank_values=True))`` makes them.

    The last of repeated names wins; names and values are percent-decoded (``+`` is a
    space) only when they need it, which the usual ``EIO=4&transport=websocket`` does not.
    """
    fields: dict[str, str] = {}
    for field in query_string.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            name = unquote_plus(name)
            value = unquote_plus(value)
        fields[name] = value
    return fields


def parse_query_multi(query_string: str) -> dict[str, str | list[str]]:
    """The fields of a query string as Node's ``querystring.parse`` gives them: a repeated name
    collects its values in a list, in order (``a=1&a=2`` gives ``{"a": ["1", "2"]}``).

    This is what ``socket.handshake.query`` holds (once per connection, so the stdlib's
    ``parse_qsl``, which decodes exactly as :func:`parse_query` does); the engine's own fields
    (``EIO``, ``transport``, ``sid``) come from :func:`parse_query`.
    """
    fields: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            fields[name] = [previous, value]
    return fields


class HttpExchange(ABC):
    """One HTTP request with a complete body, and the way to answer it (once)."""

    __slots__ = (
        "authorized",
        "body",
        "extra_headers",
        "forwarded",
        "headers",
        "method",
        "on_abort",
        "path",
        "query",
        "query_string",
        "remote_address",
        "responded",
        "secure",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes = b"",
        remote_address: str | None = None,
        secure: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string  # as received (undecoded)
        self.query = parse_query(query_string)
        self.secure = secure  # the request came over TLS
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self.body = body
        self.remote_address = remote_address
        self.responded = False
        self.extra_headers: Headers = []  # added to whatever response is sent (CORS, cookie)
        self.on_abort: Callable[[], object] | None = None  # set by the engine while it holds a request
        self.authorized = False  # set by the engine once a WebSocket handshake passed every check
        self.forwarded = False  # set once proxy headers were applied (proxy_headers=True)

    def respond(self, status: int, headers: Headers, body: bytes = b"") -> None:
        """Send the response; later calls are ignored (the first answer wins)."""
        if self.responded:
            return
        self.responded = True
        self.on_abort = None
        self._send(status, [*headers, *self.extra_headers] if self.extra_headers else headers, body)

    @abstractmethod
    def _send(self, status: int, headers: Headers, body: bytes) -> None:
        """Write the response (front-end specific)."""

    def aborted(self) -> None:
        """Called by the front end when the client went away before the response."""
        if not self.responded:
            self.responded = True
            callback, self.on_abort = self.on_abort, None
            if callback is not None:
                callback()


class SharedPacket:
    """An encoded Engine.IO packet written to many sessions (a broadcast), or one that must not
    be compressed (``compress=False``: ``socket.compress(False)``, a broadcast's ``compress`` flag).

    The packet is encoded once by the caller; its WebSocket frame is built on first
    use and then the same bytes are written to every WebSocket recipient. A front end with
    permessage-deflate keeps one compressed frame here too (``deflated``), for the recipients
    whose compressor keeps no context between messages.
    """

    __slots__ = ("_eio3", "_frame", "compress", "data", "deflated", "deflated_by")

    def __init__(self, data: str | bytes, compress: bool = True) -> None:
        self.data = data
        self.compress = compress  # False: never compressed (permessage-deflate, HTTP compression)
        self._frame: bytes | None = None
        self.deflated: bytes | None = None  # the compressed frame, made by ``deflated_by``
        self.deflated_by: object = None  # the shared compressor that made it
        self._eio3: SharedPacket | None = None  # the Engine.IO v3 WebSocket form of binary data

    def eio3_binary(self) -> SharedPacket:
        """This binary packet as an Engine.IO v3 WebSocket message (``b"\\x04" + data``), made on
        first use and shared, so every v3 recipient of a broadcast gets the same frame too."""
        variant = self._eio3
        if variant is None:
            variant = self._eio3 = SharedPacket(b"\x04" + self.data, self.compress)  # type: ignore[operator]
        return variant

    @property
    def frame(self) -> bytes:
        """The server frame carrying the packet (text for str, binary for bytes)."""
        frame = self._frame
        if frame is None:
            data = self.data
            frame = self._frame = (
                encode_text_frame(data) if isinstance(data, str) else encode_binary_frame(data)
            )
        return frame


EncodedPacket = str | bytes | SharedPacket

# Messages framed once for many sessions (a broadcast): what prepare_messages makes and
# EngineSocket.send_prepared takes.
PreparedMessages = tuple[SharedPacket, ...]


def prepare_messages(messages: Iterable[str | bytes], compress: bool = True) -> PreparedMessages:
    """Frame Engine.IO messages once to send them to many sessions (``send_prepared``).

    Each WebSocket frame is then built on first use and the same bytes written to every
    WebSocket recipient (``WebSocketChannel.send_packets``). ``compress=False``: the packets
    are never compressed (neither by permessage-deflate nor in a polling response).
    """
    return tuple([SharedPacket(packet, compress) for packet in encode_eio_messages(messages)])


def uncompressed(packets: Iterable[str | bytes]) -> list[EncodedPacket]:
    """Encoded packets marked never to be compressed (``socket.compress(False)``)."""
    return [SharedPacket(packet, False) for packet in packets]


def compressible(packet: EncodedPacket) -> bool:
    """Whether a packet may be compressed (every packet unless marked ``compress=False``)."""
    return type(packet) is not SharedPacket or packet.compress  # type: ignore[union-attr]


def packet_data(packet: EncodedPacket) -> str | bytes:
    """The str or bytes of an encoded packet, shared or not."""
    return packet.data if type(packet) is SharedPacket else packet  # type: ignore[union-attr,return-value]


class WebSocketChannel(ABC):
    """An accepted WebSocket connection as the engine uses it."""

    __slots__ = ()

    @abstractmethod
    def send(self, data: EncodedPacket) -> None:
        """Send one message: str as a text frame, bytes as a binary frame (shared: its cached frame)."""

    def send_packets(self, packets: Sequence[EncodedPacket]) -> bool:
        """Send one message per packet if writable now; return whether it was (nothing sent if not).

        The connection's writer: the engine writes every Engine.IO packet through this one method,
        so a WebSocket extension (permessage-deflate) sits here. A :class:`SharedPacket`'s cached
        frame may be written as is only where no extension was negotiated.
        """
        if not self.writable:
            return False
        for packet in packets:
            self.send(packet)
        return True

    @abstractmethod
    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (idempotent)."""

    @property
    def writable(self) -> bool:
        """False while the front end asks the writer to pause (back-pressure)."""
        return True

    def input_queued(self) -> bool:
        """Whether input waits for its turn, reading held back by us meanwhile (not the peer's doing)."""
        return False

    def input_held(self) -> bool:
        """Whether bytes wait unread because reading is held back (the peer does not read)."""
        return False


class WebSocketHandler(ABC):
    """The engine's side of a WebSocket: the front end calls these."""

    __slots__ = ()

    @abstractmethod
    def on_message(self, data: str | bytes) -> None:
        """A complete text (str) or binary (bytes) message arrived."""

    @abstractmethod
    def on_close(self, error: bool) -> None:
        """The connection is gone; ``error`` tells a protocol/transport error from a clean close."""

    def on_drain(self) -> None:  # noqa: B027 - optional hook
        """The channel became writable again after back-pressure."""
