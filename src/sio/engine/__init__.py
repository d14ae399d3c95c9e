"""Engine.IO v4 server (and v3, with ``allow_eio3``), usable on its own like Node's ``engine.io`` package."""

from sio.engine.exchange import PreparedMessages, prepare_messages
from sio.engine.server import EngineRefusal, EngineServer
from sio.engine.socket import CLOSED, CLOSING, OPEN, OPENING, EngineSocket, SessionState

__all__ = [
    "CLOSED",
    "CLOSING",
    "OPEN",
    "OPENING",
    "EngineRefusal",
    "EngineServer",
    "EngineSocket",
    "PreparedMessages",
    "SessionState",
    "prepare_messages",
]
