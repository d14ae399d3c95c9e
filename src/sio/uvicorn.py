"""sio's WebSocket protocol for uvicorn: Socket.IO on sio's fast path inside FastAPI, Starlette, any ASGI app.

Run uvicorn with it::

    uvicorn app:app --ws sio.uvicorn:WebSocketProtocol
    # or: uvicorn.run(app, ws=sio.uvicorn.WebSocketProtocol)

Every WebSocket starts as uvicorn's own ``websockets-sansio`` protocol: the request is parsed and
the ASGI app called as usual, with one more ASGI extension in the scope, ``sio.fast_websocket``.
sio's ASGI app (``io.asgi_app(...)``, mounted anywhere, wrapped by any app that passes the scope
on) takes it: once the engine accepted the request, the 101 is written and the connection becomes
the built-in front end's :class:`~sio.frontends.builtin.WebSocketConnection` — the Cython frame
codec, one write per loop turn, a broadcast's frame built once for all. Any other ASGI WebSocket
(a FastAPI ``@app.websocket`` route) ignores the extension and gets standard ASGI messages from
uvicorn's code, unchanged.

What the fast path does not do: ASGI middleware wrapping ``send``/``receive`` does not see the
Socket.IO connection's frames once it took over (it still sees the request), and uvicorn's
``--ws-max-size``, ``--ws-ping-*`` and ``--ws-per-message-deflate`` do not apply to it: the engine's
``max_http_buffer_size``, heartbeat and ``per_message_deflate`` do, as on the built-in front end.
On uvicorn's graceful shutdown a taken-over connection is closed with 1012 (service restart), as
uvicorn closes its own.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

try:
    from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "sio.uvicorn needs uvicorn 0.35 or later and websockets: pip install 'sio[uvicorn]'"
    ) from exc

from sio._sio_core import HandshakeError, check_websocket_upgrade
from sio.frontends.asgi import FAST_WEBSOCKET
from sio.frontends.builtin import WebSocketConnection, switch_to_websocket
from sio.frontends.permessage_deflate import PerMessageDeflate, negotiate

if TYPE_CHECKING:
    from websockets.http11 import Request

    from sio.engine.exchange import HttpExchange
    from sio.engine.server import EngineServer

__all__ = ["WebSocketProtocol"]


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, which sio's ASGI app can take over (``--ws``)."""

    _taken_over = False

    def handle_connect(self, event: Request) -> None:
        """Parse the handshake as uvicorn does; offer the fast path to the app it calls."""
        super().handle_connect(event)
        if not self.handshake_complete:  # a valid request: the app runs (else it got its 4xx)
            self.scope["extensions"][FAST_WEBSOCKET] = {"take_over": self.take_over}

    def take_over(self, engine: EngineServer, exchange: HttpExchange) -> bool:
        """Accept the WebSocket for ``engine`` on sio's own framing; False: not possible, go on in ASGI.

        Called by sio's ASGI app instead of sending ``websocket.accept``, once the engine accepted
        ``exchange`` (the handshake request); the app must then return without sending anything.
        """
        if self.handshake_complete or self.initial_response is not None or self.transport.is_closing():
            return False
        try:
            accept = check_websocket_upgrade(exchange.method, exchange.headers)
            options = engine.per_message_deflate
            offer = exchange.headers.get("sec-websocket-extensions")
            deflate = None if options is None else negotiate(offer, options)
        except HandshakeError:  # (uvicorn's parser accepted it: let the standard path answer)
            return False
        self.handshake_complete = True
        self.close_sent = True  # nothing more goes through this object
        self._taken_over = True
        self.connections.discard(self)
        stop_keepalive = getattr(self, "stop_keepalive", None)  # (uvicorn 0.35 has no keepalive pings)
        if stop_keepalive is not None:
            stop_keepalive()
        address, path = get_client_addr(self.scope), get_path_with_query_string(self.scope)
        self.logger.info('%s - "WebSocket %s" [accepted]', address, path)
        switch_to_websocket(
            self.transport,
            engine,
            exchange,
            accept,
            deflate,
            not self.writable.is_set(),
            extra_headers=b"".join(name + b": " + value + b"\r\n" for name, value in self.default_headers),
            connection_class=functools.partial(_UvicornWebSocket, connections=self.connections),
        )
        return True

    async def run_asgi(self) -> None:
        """Run the app as uvicorn does; a connection the app took over is not closed when it returns."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self._taken_over:
            return  # the transport is the fast WebSocket's now
        if getattr(self, "close_timer", None) is None:  # (a closing handshake of its own under way)
            self.transport.close()


class _UvicornWebSocket(WebSocketConnection):
    """The built-in front end's WebSocket, counted among uvicorn's connections (its graceful shutdown)."""

    __slots__ = ("_connections",)

    def __init__(
        self,
        transport: asyncio.Transport,
        engine: EngineServer,
        paused: bool,
        deflate: PerMessageDeflate | None,
        *,
        connections: set[Any],
    ) -> None:
        super().__init__(transport, engine, paused, deflate)
        self._connections = connections
        connections.add(self)

    def shutdown(self) -> None:
        """uvicorn is shutting down: close with 1012 (service restart), as it closes its own WebSockets."""
        self.close(1012, "")  # (the session ends when the connection does: connection_lost)

    def connection_lost(self, exc: Exception | None = None) -> None:
        """The TCP connection is gone: no longer one of uvicorn's."""
        super().connection_lost(exc)
        self._connections.discard(self)
