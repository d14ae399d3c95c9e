"""atheris fuzz targets for every parser a client can reach (``python fuzz/run.py``).

Each target feeds attacker-controlled bytes to one parser and allows only that parser's documented
error: anything else escaping (or a crash) is a finding. The Cython core is not compiled with
coverage instrumentation (no clang here), so atheris mutates blindly there; the Python layers it
drives (the HTTP front end) are instrumented. hypothesis properties in tests/unit cover the same
parsers with structure-aware inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

import atheris

with atheris.instrument_imports():
    from sio import notepack
    from sio._sio_core import (
        OP_BINARY_DEFLATED,
        OP_TEXT_DEFLATED,
        EngineIOError,
        FrameParser,
        SioDecoder,
        SocketIOError,
        WebSocketError,
        decode_eio_packet,
        decode_eio_payload,
    )
    from sio.engine import EngineServer
    from sio.engine.compression import DeflateOptions
    from sio.frontends.builtin import HttpConnection
    from sio.frontends.permessage_deflate import Agreement, PerMessageDeflate
    from sio.parser import MsgpackParser


def ws_frames(data: bytes) -> None:
    """Client WebSocket frames, fed in two pieces at a fuzzer-chosen split."""
    fdp = atheris.FuzzedDataProvider(data)
    split = fdp.ConsumeIntInRange(0, 64)
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    parser = FrameParser(4096)
    try:
        parser.feed(rest[:split])
        parser.feed(rest[split:])
    except WebSocketError:
        pass


def ws_frames_deflate(data: bytes) -> None:
    """Client frames with permessage-deflate negotiated: RSV1 allowed, compressed messages inflated
    (bounded, context kept or not); only the parser's and the codec's WebSocket errors may escape."""
    fdp = atheris.FuzzedDataProvider(data)
    split = fdp.ConsumeIntInRange(0, 64)
    keep = fdp.ConsumeBool()
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    parser = FrameParser(4096, deflate=True)
    codec = PerMessageDeflate(
        Agreement(False, not keep, None, None, "permessage-deflate"), DeflateOptions(), max_size=4096
    )
    try:
        for chunk in (rest[:split], rest[split:]):
            for opcode, payload in parser.feed(chunk):
                if opcode in (OP_TEXT_DEFLATED, OP_BINARY_DEFLATED):
                    codec.inflate_message(opcode, payload)
    except WebSocketError:
        pass


def eio_packets(data: bytes) -> None:
    """An Engine.IO polling payload (bytes), then the same as one WebSocket message (str and bytes)."""
    with contextlib.suppress(EngineIOError):
        decode_eio_payload(data)
    for message in (data, data.decode("utf-8", "replace")):
        with contextlib.suppress(EngineIOError):
            decode_eio_packet(message)


def sio_packets(data: bytes) -> None:
    """Socket.IO messages to one decoder: text packets and binary attachments, interleaved."""
    fdp = atheris.FuzzedDataProvider(data)
    decoder = SioDecoder()
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        if fdp.ConsumeBool():
            message: str | bytes = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 256))
        else:
            message = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        try:
            decoder.feed(message)
        except SocketIOError:
            decoder.reset()


def msgpack_packets(data: bytes) -> None:
    """msgpack parser messages (the core's decoder, its Python fallback behind it), and notepack."""
    with contextlib.suppress(SocketIOError):
        MsgpackParser().decoder().feed(data)
    with contextlib.suppress(ValueError):
        notepack.unpack(data)


class _Transport(asyncio.Transport):
    """Just enough of a TCP transport for HttpConnection: it records writes and closes."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass


_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)
_engine = EngineServer(cors_allowed_origins="*")


def http_requests(data: bytes) -> None:
    """Raw bytes on a built-in front-end connection (requests, pipelining, upgrades), in pieces."""

    async def feed() -> None:
        conn = HttpConnection(_engine)
        conn.connection_made(_Transport())
        fdp = atheris.FuzzedDataProvider(data)
        while fdp.remaining_bytes():
            conn.data_received(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 512)))
        conn.connection_lost(None)
        for socket in list(_engine.clients.values()):  # sessions it opened: closed, never leaked
            socket._on_close("transport close")

    _loop.run_until_complete(feed())
    assert not _engine.clients


TARGETS: dict[str, Callable[[bytes], None]] = {
    "ws_frames": ws_frames,
    "ws_frames_deflate": ws_frames_deflate,
    "eio_packets": eio_packets,
    "sio_packets": sio_packets,
    "msgpack_packets": msgpack_packets,
    "http_requests": http_requests,
}

if __name__ == "__main__":
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()
