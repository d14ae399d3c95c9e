"""A small chat on sio: rooms, nicknames, a typing indicator and disconnect notices.

Run it with ``./scripts/chat`` (or ``python -m sio run examples.chat.app:io``) and open
http://127.0.0.1:3000 in two browser windows. The page uses the official browser
client, served from this folder's node_modules (``npm ci`` installs it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sio

HERE = Path(__file__).parent

io = sio.Server(
    static_files={
        "/": HERE / "static" / "index.html",
        "/static/": HERE / "static",
        "/socket.io.min.js": HERE / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js",
    }
)

DEFAULT_ROOM = "lobby"


def clean(text: Any, limit: int) -> str:
    """A trimmed, bounded string (clients are not trusted)."""
    return str(text).strip()[:limit] if isinstance(text, str) else ""


@io.on("connection")
def on_connection(socket: sio.Socket) -> None:
    """A new visitor: a default nickname, the lobby, and the handlers of the chat's events."""
    socket.data["nickname"] = clean(socket.handshake.auth.get("nickname"), 32) or f"guest-{socket.id[:4]}"
    socket.data["room"] = DEFAULT_ROOM
    socket.data["typing"] = False
    socket.join(DEFAULT_ROOM)
    socket.emit("welcome", {"nickname": socket.data["nickname"], "room": DEFAULT_ROOM})
    socket.to(DEFAULT_ROOM).emit("notice", f"{socket.data['nickname']} joined {DEFAULT_ROOM}")

    def stop_typing() -> None:
        """A typist who leaves the room (or the chat, or their name) stops typing there."""
        if socket.data["typing"]:
            socket.data["typing"] = False
            socket.to(socket.data["room"]).emit(
                "typing", {"nickname": socket.data["nickname"], "active": False}
            )

    @socket.on("nickname")
    def nickname(new: Any, ack: Any = None) -> None:
        stop_typing()
        old = socket.data["nickname"]
        socket.data["nickname"] = clean(new, 32) or old
        socket.to(socket.data["room"]).emit("notice", f"{old} is now {socket.data['nickname']}")
        if callable(ack):
            ack(socket.data["nickname"])

    @socket.on("join")
    def join(room: Any, ack: Any = None) -> None:
        room = clean(room, 32) or DEFAULT_ROOM
        previous = socket.data["room"]
        if room != previous:
            stop_typing()
            socket.leave(previous)
            socket.to(previous).emit("notice", f"{socket.data['nickname']} left {previous}")
            socket.join(room)
            socket.data["room"] = room
            socket.to(room).emit("notice", f"{socket.data['nickname']} joined {room}")
        if callable(ack):
            ack(room)

    @socket.on("message")
    def message(text: Any) -> None:
        text = clean(text, 2000)
        if text:
            io.to(socket.data["room"]).emit("message", {"from": socket.data["nickname"], "text": text})

    @socket.on("typing")
    def typing(active: Any) -> None:
        socket.data["typing"] = bool(active)
        socket.to(socket.data["room"]).volatile.emit(
            "typing", {"nickname": socket.data["nickname"], "active": bool(active)}
        )

    @socket.on("disconnecting")
    def disconnecting(reason: str) -> None:
        stop_typing()  # still in the room: the others hear it

    @socket.on("disconnect")
    def disconnect(reason: str) -> None:
        io.to(socket.data["room"]).emit("notice", f"{socket.data['nickname']} left ({reason})")
