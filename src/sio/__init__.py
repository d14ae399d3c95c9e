"""sio: a fast Socket.IO server for Python (Engine.IO v4 / Socket.IO v5, Node's API).

import sio

io = sio.Server()

@io.on("connection")
def on_connection(socket):
    socket.on("message", lambda *args: socket.emit("message-back", *args))

io.listen(3000)
"""

try:
    from sio import _sio_core
except ImportError as exc:  # pragma: no cover - depends on how sio was installed
    raise ImportError(
        "sio's compiled core (sio._sio_core) is missing or broken: sio has no pure-Python "
        "fallback. Install sio with 'pip install .' (or 'pip install -e .') so that the "
        f"extension is built; the import failed with: {exc}"
    ) from exc

from sio import runner as runner  # installs the front ends that listen / serve / asgi_app use
from sio.adapters import Adapter, InMemoryAdapter
from sio.broadcast import BroadcastOperator, RemoteSocket
from sio.engine import EngineServer, EngineSocket
from sio.errors import (
    AckTimeoutError,
    ConnectError,
    EncodeError,
    InvalidOption,
    LocalProtocolError,
    ProtocolError,
    SioError,
)
from sio.namespace import Namespace, ParentNamespace
from sio.parser import JsonParser, Packet, Parser
from sio.reasons import DisconnectReason
from sio.server import Server
from sio.socket import Handshake, Socket

__all__ = [
    "AckTimeoutError",
    "Adapter",
    "BroadcastOperator",
    "ConnectError",
    "DisconnectReason",
    "EncodeError",
    "EngineServer",
    "EngineSocket",
    "Handshake",
    "InMemoryAdapter",
    "InvalidOption",
    "JsonParser",
    "LocalProtocolError",
    "Namespace",
    "Packet",
    "ParentNamespace",
    "Parser",
    "ProtocolError",
    "RemoteSocket",
    "Server",
    "SioError",
    "Socket",
    "_sio_core",
]
__version__ = "0.1.0"
