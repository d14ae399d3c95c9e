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

from sio import notepack  # noqa: F401  (registers its msgpack with the core's msgpack codec)
from sio._sio_core import MsgpackDecoder, SioDecoder, encode_msgpack_packet, encode_sio_packet
from sio._sio_core import SioPacket as Packet

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


class MsgpackParser:
    """socket.io-msgpack-parser 3.0.2 (Node's ``parser: require("socket.io-msgpack-parser")``).

    Each packet is one binary Engine.IO message: the msgpack map ``{type, data, nsp, id}`` as
    notepack.io writes it (bytes as ``bin``, no attachments, no BINARY_* types). The client
    must use the same parser. Incoming packets are checked as Node's ``Decoder.checkPacket``
    does (type 0-4, a string namespace, data by type, an integer ack id), and an EVENT must
    start with its name, not a reserved one (``connect``, ``disconnect``, ...), as the JSON
    parser checks (Node's msgpack parser does not: a client's ``disconnect`` event reaches the
    server's disconnect handlers there).

    Both directions are in the Cython core (``encode_msgpack_packet``, ``MsgpackDecoder``), on
    :mod:`sio.notepack`'s msgpack: the core writes the packet's map around msgpack's packing of
    the data, and decodes the usual packets itself; anything unusual goes to notepack's
    reference path, so values and errors are notepack's.
    """

    __slots__ = ("encode",)

    def __init__(self) -> None:
        # The Cython encoder itself, not a wrapper: it is called once per emit.
        self.encode = encode_msgpack_packet

    def decoder(self) -> MsgpackDecoder:
        """A decoder for one connection (stateless: nothing waits for attachments)."""
        return MsgpackDecoder()
