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

The protocol subclasses uvicorn's ``WebSocketsSansIOProtocol``, whose internals change between
versions: the ``uvicorn`` extra asks for 0.51 or later (0.49 and 0.50 fail its tests), CI tests
the version pip gives it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

try:
    from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.http11 import Request
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "sio.uvicorn needs uvicorn 0.51 or later and websockets: pip install 'sio[uvicorn]'"
    ) from exc

from sio._sio_core import HandshakeError, check_websocket_upgrade
from sio.frontends.asgi import FAST_WEBSOCKET
from sio.frontends.builtin import WebSocketConnection, switch_to_websocket
from sio.frontends.permessage_deflate import PerMessageDeflate, negotiate

if TYPE_CHECKING:
    from sio.engine.exchange import HttpExchange
    from sio.engine.server import EngineServer

__all__ = ["WebSocketProtocol"]


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, which sio's ASGI app can take over (``--ws``).

    The handshake request is read here (uvicorn hands it over whole, as it re-wrote it from its
    own parse) and the app called with uvicorn's scope; ``websockets`` is given the request only
    when the app answers with a standard message, so a connection sio takes over never goes
    through ``websockets``' Python parser.
    """

    _taken_over = False
    # The handshake request (and anything the client sent after it) while the app decides;
    # None once websockets has it, or the connection was taken over.
    _deferred: bytes | None = None
    _request_size = 0  # the request's own bytes at the start of _deferred
    _accept = ""  # its Sec-WebSocket-Accept value

    def data_received(self, data: bytes) -> None:
        """The first call is the handshake request: read it here; the rest waits for the app's answer."""
        if self._deferred is not None:
            self._deferred += data
        elif self.handshake_initiated:
            super().data_received(data)
        elif not self._start(data):
            super().data_received(data)  # not one we read: websockets answers it (a 4xx)

    def _start(self, request: bytes) -> bool:
        """Build uvicorn's scope from the request and call the app; False: leave it to websockets."""
        head, separator, rest = request.partition(b"\r\n\r\n")
        if not separator:
            return False
        lines = head.split(b"\r\n")
        method, _, target = lines[0].partition(b" ")
        target = target.rpartition(b" ")[0]
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        fields: dict[str, str] = {}
        for name, value in headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            fields[key] = text if key not in fields else fields[key] + ", " + text
        try:
            self._accept = check_websocket_upgrade(method.decode("latin-1"), fields)
            raw_path, _, query_string = target.partition(b"?")
            path = unquote(raw_path.decode("ascii"))
        except (HandshakeError, UnicodeDecodeError):
            return False
        subprotocols = [
            token.strip()
            for name, value in headers
            if name == b"sec-websocket-protocol"
            for token in value.decode("latin-1").split(",")
        ]
        self.handshake_initiated = True
        self._deferred = request
        self._request_size = len(request) - len(rest)
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": self.root_path,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": query_string,
            "headers": headers,
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}, FAST_WEBSOCKET: {"take_over": self.take_over}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)
        return True

    def _hand_to_websockets(self) -> None:
        """The app answers in standard ASGI: websockets reads the request now, as uvicorn's protocol would."""
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        self.conn.receive_data(deferred[: self._request_size])
        for event in self.conn.events_received():  # (the request: nothing else was fed)
            if isinstance(event, Request):
                self.request = event
                self.response = self.conn.accept(event)
        response = getattr(self, "response", None)
        if response is not None and response.status_code == 101:
            if len(deferred) > self._request_size:
                super().data_received(deferred[self._request_size :])  # frames sent after the request
            return
        # websockets is stricter than our reading of the request: its answer stands.
        self.handshake_complete = True
        self.close_sent = True
        self.disconnected = True  # (the app's send raises ClientDisconnected)
        if response is not None:
            self.conn.send_response(response)
            self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    async def send(self, message: Any) -> None:
        """A standard ASGI message: websockets takes the handshake from here (uvicorn's own path)."""
        if self._deferred is not None:
            self._hand_to_websockets()
        await super().send(message)

    def send_500_response(self) -> None:
        """The app failed before answering, or uvicorn stops: websockets writes the 500, as in uvicorn."""
        if self._deferred is not None:
            self._deferred = None
            self.disconnected = True  # answered: what the app sends next raises ClientDisconnected
        super().send_500_response()

    def take_over(self, engine: EngineServer, exchange: HttpExchange) -> bool:
        """Accept the WebSocket for ``engine`` on sio's own framing; False: not possible, go on in ASGI.

        Called by sio's ASGI app instead of sending ``websocket.accept``, once the engine accepted
        ``exchange`` (the handshake request); the app must then return without sending anything.
        """
        if self._deferred is None or self.transport.is_closing():
            return False
        try:
            options = engine.per_message_deflate
            offer = exchange.headers.get("sec-websocket-extensions")
            deflate = None if options is None else negotiate(offer, options)
        except HandshakeError:  # a malformed extension offer: the standard path answers it
            return False
        deferred, self._deferred = self._deferred, None
        rest = deferred[self._request_size :]  # frames the client sent after its request
        self.handshake_complete = True
        self.close_sent = True  # nothing more goes through this object
        self._taken_over = True
        self.connections.discard(self)
        self.stop_keepalive()
        address, path = get_client_addr(self.scope), get_path_with_query_string(self.scope)
        self.logger.info('%s - "WebSocket %s" [accepted]', address, path)
        switch_to_websocket(
            self.transport,
            engine,
            exchange,
            self._accept,
            deflate,
            not self.writable.is_set(),
            rest,
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
        if self.close_timer is None:
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
