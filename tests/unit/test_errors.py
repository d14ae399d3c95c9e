"""One root for sio's exceptions, the peer's faults apart from the caller's, builtin bases kept."""

from __future__ import annotations

import pytest

import sio
from sio import errors
from sio._sio_core import decode_eio_packet


def test_every_exception_of_sio_is_under_one_root() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), sio.SioError), name


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ProtocolError", ValueError),
        ("LocalProtocolError", ValueError),
        ("InvalidOption", ValueError),
        ("EncodeError", TypeError),
        ("AckTimeoutError", TimeoutError),
    ],
)
def test_each_keeps_the_builtin_base_code_already_catches(name: str, builtin: type) -> None:
    assert issubclass(getattr(errors, name), builtin)


def test_the_peers_faults_and_the_callers_are_apart() -> None:
    peer = {errors.WebSocketError, errors.HandshakeError, errors.EngineIOError, errors.SocketIOError}
    assert all(issubclass(cls, errors.ProtocolError) for cls in peer)
    for caller in (errors.LocalProtocolError, errors.InvalidOption, errors.EncodeError, errors.ConnectError):
        assert not issubclass(caller, errors.ProtocolError)
    with pytest.raises(errors.EngineIOError):
        decode_eio_packet("9")  # a decoder raises the peer's kind


def test_api_misuse_raises_the_callers_kind() -> None:
    io = sio.Server()
    with pytest.raises(sio.LocalProtocolError, match="reserved event name"):
        io.emit("connect")
    with pytest.raises(sio.InvalidOption, match="transports"):
        sio.EngineServer(transports=["carrier-pigeon"])
    with pytest.raises(sio.InvalidOption, match="max_handshake_rate"):
        sio.EngineServer(max_handshake_rate=-1)
