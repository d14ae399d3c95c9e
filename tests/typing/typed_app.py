"""A typed application, checked with ``mypy --strict`` by tests/typing/test_typing.py (never run).

Each ``reveal_type`` line ends with the type mypy must report for it (the comment after it).
"""

from __future__ import annotations

from typing import Any

import sio
from sio.asgi_types import ASGIApplication, Receive, Scope, Send

io = sio.Server(cors_allowed_origins=["https://example.com"], per_message_deflate=True, ping_interval=10.0)
admin = io.of("/admin")
reveal_type(admin)  # T: sio.namespace.Namespace


@io.on("connection")
def on_connection(socket: sio.Socket) -> None:
    reveal_type(socket.conn)  # T: sio.engine.socket.EngineSocket
    reveal_type(socket.handshake.auth)  # T: dict[str, Any]
    reveal_type(socket.to("room"))  # T: sio.broadcast.BroadcastOperator
    reveal_type(socket.compress(False))  # T: sio.socket.Socket
    reveal_type(socket.emit("hello", 1))  # T: bool

    @socket.on("chat")
    def chat(text: str, ack: Any = None) -> None:
        io.to("lobby").emit("chat", text)

    reveal_type(chat)  # T: def (text: str, ack: Any =)

    @socket.on("question")
    async def question(*args: Any) -> None:
        answer = await socket.timeout(5).emit_with_ack("what", *args)
        reveal_type(answer)  # T: Any
        answers = await io.timeout(5).emit_with_ack("poll")
        reveal_type(answers)  # T: list[Any]


reveal_type(on_connection)  # T: def (socket: sio.socket.Socket)


@io.use
async def authenticate(socket: sio.Socket) -> None:
    if socket.handshake.auth.get("token") != "secret":
        raise sio.ConnectError("not authorized", {"hint": "send a token"})


async def main() -> None:
    server = await io.serve("127.0.0.1", 3000)
    reveal_type(server)  # T: asyncio.events.AbstractServer
    sockets = await io.fetch_sockets()
    reveal_type(sockets)  # T: list[sio.socket.Socket | sio.broadcast.RemoteSocket]
    reveal_type(await io.server_count())  # T: int
    await io.close()


async def api(scope: Scope, receive: Receive, send: Send) -> None:
    """Another ASGI app, spelt as Starlette and FastAPI spell theirs."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


app: ASGIApplication = io.asgi_app(api)


async def beside() -> None:
    """The other ASGI app on the built-in front end, on the same port."""
    server = await io.serve("127.0.0.1", 3001, other_asgi_app=api, root_path="/api")
    reveal_type(server)  # T: asyncio.events.AbstractServer
    await io.close()
