"""The application tests/integration/test_deployment.py runs with ``python -m sio run``.

``whoami`` answers (through the ack) the handshake's address and ``secure``. Every disconnect is
printed on stdout as ``disconnect <socket id> <reason>``. With ``SIO_TEST_LISTEN_AT_IMPORT=<port>``
the module calls ``io.listen(port)`` at top level, as a script written for ``python app.py`` does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import sio

io = sio.Server()


@io.on("connection")
def on_connection(socket: sio.Socket) -> None:
    @socket.on("whoami")
    def whoami(ack: Any) -> None:
        ack(socket.handshake.address, socket.handshake.secure)

    @socket.on("disconnect")
    def on_disconnect(reason: str) -> None:
        sys.stdout.write(f"disconnect {socket.id} {reason}\n")
        sys.stdout.flush()


if os.environ.get("SIO_TEST_LISTEN_AT_IMPORT"):
    io.listen(int(os.environ["SIO_TEST_LISTEN_AT_IMPORT"]))
