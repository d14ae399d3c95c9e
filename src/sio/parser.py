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
the Cython core; a msgpack parser (one binary message per packet) plugs in the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from sio._sio_core import SioDecoder, encode_sio_packet
from sio._sio_core import SioPacket as Packet

__all__ = ["Decoder", "JsonParser", "Packet", "Parser"]


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
