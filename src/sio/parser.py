"""The parser seam: how Socket.IO packets become Engine.IO messages and back.

A parser is chosen per server (``sio.Server(parser=...)``), as Node's ``parser`` option
(socket.io-parser's ``Encoder``/``Decoder``; socketioxide's ``Parse`` trait):

- ``encode(type, nsp, data, id)`` turns one packet into the list of Engine.IO *messages*
  that carry it (str for a text message, bytes for a binary one), without Engine.IO
  framing: the engine alone adds the ``4`` (``EngineSocket.send_messages``). Stateless, so
  one encoder serves every connection, and a broadcast is encoded once.
- ``decoder()`` makes one stateful decoder per connection: ``feed(message)`` returns the
  completed :class:`Packet` or None (a binary packet waiting for attachments), raising
  :class:`~sio.ProtocolError` for a message the peer should not have sent; ``reset()``
  drops a half-received packet when the connection closes.

The default :class:`JsonParser` is the official one (JSON text, binary attachments), in
the Cython core; :class:`MsgpackParser` is socket.io-msgpack-parser's format (one binary
message per packet), for clients built with that parser.
"""

from __future__ import annotations

from typing import Any, Protocol

from sio import notepack
from sio._sio_core import (
    RESERVED_EVENTS,
    SIO_CONNECT,
    SIO_CONNECT_ERROR,
    SIO_DISCONNECT,
    SIO_EVENT,
    SioDecoder,
    encode_sio_packet,
)
from sio._sio_core import SioPacket as Packet
from sio.errors import EncodeError, SocketIOError

__all__ = ["Decoder", "JsonParser", "MsgpackDecoder", "MsgpackParser", "Packet", "Parser"]


class Decoder(Protocol):
    """One connection's decoder: Engine.IO messages in, Socket.IO packets out."""

    def feed(self, message: str | bytes) -> Packet | None:
        """Take one message; return the packet it completes, or None while one waits for more."""
        ...

    def reset(self) -> None:
        """Drop a packet still waiting for its binary attachments."""
        ...


class Parser(Protocol):
    """A Socket.IO wire format: a stateless encoder and a decoder per connection."""

    def encode(self, type: int, nsp: str, data: Any = None, id: int | None = None) -> list[str | bytes]:
        """The Engine.IO messages carrying one packet (raises :class:`~sio.EncodeError` for bad data)."""
        ...

    def decoder(self) -> Decoder:
        """A fresh decoder for one connection."""
        ...


class JsonParser:
    """The default parser (socket.io-parser): JSON text messages, binary data as attachments.

    An EVENT or ACK whose data holds bytes becomes a BINARY_EVENT / BINARY_ACK: one text
    message with placeholders, then one binary message per attachment. A packet may
    announce at most ``max_attachments`` attachments (Node has no such bound).
    """

    __slots__ = ("encode", "max_attachments")

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments
        # The Cython encoder itself, not a wrapper: it is called once per emit.
        self.encode = encode_sio_packet

    def decoder(self) -> SioDecoder:
        """A decoder for one connection."""
        return SioDecoder(self.max_attachments)


_MAX_ACK_ID = 2**53 - 1  # what a JavaScript number holds exactly


class MsgpackParser:
    """socket.io-msgpack-parser 3.0.2 (Node's ``parser: require("socket.io-msgpack-parser")``).

    Each packet is one binary Engine.IO message: the msgpack map ``{type, data, nsp, id}`` as
    notepack.io writes it (bytes as ``bin``, no attachments, no BINARY_* types). The client
    must use the same parser. Incoming packets are checked as Node's ``Decoder.checkPacket``
    does (type 0-4, a string namespace, data by type, an integer ack id), and an EVENT must
    start with its name, not a reserved one (``connect``, ``disconnect``, ...), as the JSON
    parser checks (Node's msgpack parser does not: a client's ``disconnect`` event reaches the
    server's disconnect handlers there).
    """

    __slots__ = ()

    def encode(self, type: int, nsp: str, data: Any = None, id: int | None = None) -> list[str | bytes]:
        """One binary message."""
        packet: dict[str, Any] = (
            {"type": type, "nsp": nsp} if data is None else {"type": type, "data": data, "nsp": nsp}
        )
        if id is not None:
            packet["id"] = id
        try:
            return [notepack.pack(packet)]
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"cannot encode as msgpack: {exc}") from None

    def decoder(self) -> MsgpackDecoder:
        """A decoder for one connection (stateless: nothing waits for attachments)."""
        return MsgpackDecoder()


class MsgpackDecoder:
    """Binary messages in, checked packets out."""

    __slots__ = ()

    def feed(self, message: str | bytes) -> Packet:
        """Decode one message (:class:`~sio.SocketIOError` for anything but one valid packet)."""
        if isinstance(message, str):
            raise SocketIOError("msgpack parser: a text message")
        try:
            packet = notepack.unpack(message)
        except ValueError as exc:
            raise SocketIOError(f"msgpack parser: {exc}") from None
        if not isinstance(packet, dict):
            raise SocketIOError("msgpack parser: not a map")
        kind = packet.get("type")
        if type(kind) is not int or not SIO_CONNECT <= kind <= SIO_CONNECT_ERROR:
            raise SocketIOError("invalid packet type")
        nsp = packet.get("nsp")
        if not isinstance(nsp, str):
            raise SocketIOError("invalid namespace")
        data = packet.get("data")
        if not _data_valid(kind, data):
            raise SocketIOError("invalid payload")
        ack_id = packet.get("id")
        if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id <= _MAX_ACK_ID):
            raise SocketIOError("invalid packet id")
        return Packet(kind, nsp, data, ack_id)

    def reset(self) -> None:
        """Nothing is ever half-received."""


def _data_valid(kind: int, data: Any) -> bool:
    if kind == SIO_CONNECT:
        return data is None or isinstance(data, dict)
    if kind == SIO_DISCONNECT:
        return data is None
    if kind == SIO_CONNECT_ERROR:
        return isinstance(data, (str, dict))
    if kind == SIO_EVENT:  # named, and not a name the server keeps (as the JSON parser checks)
        return (
            isinstance(data, list)
            and bool(data)
            and isinstance(data[0], str)
            and data[0] not in RESERVED_EVENTS
        )
    return isinstance(data, list)  # ACK
