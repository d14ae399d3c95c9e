"""The Engine.IO v4 server: request routing, handshakes, errors and CORS.

Usable on its own, like Node's ``engine.io`` package::

    eio = EngineServer(cors_allowed_origins="*")

    @eio.on("connection")
    def on_connection(socket):
        socket.on("message", socket.send)

    eio.listen(3000)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from sio._events import EventEmitter
from sio.engine.compression import DeflateOptions, HttpCompression
from sio.engine.cors import CorsPolicy, Origin
from sio.engine.exchange import Headers, HttpExchange, WebSocketChannel
from sio.engine.proxy import TrustedProxies
from sio.engine.socket import (
    OPEN,
    Eio3PollingTransport,
    Eio3WebSocketTransport,
    EngineSocket,
    PollingTransport,
    Transport,
    WebSocketTransport,
)
from sio.errors import InvalidOption, SioError
from sio.reasons import DisconnectReason
from sio.timers import LoopTimerWheel

if TYPE_CHECKING:
    from sio.engine.counting import TrafficCounters

log = logging.getLogger("sio.engine")

TRANSPORTS = ("polling", "websocket")

# Engine.IO error codes, messages and HTTP statuses (as Node's engine.io answers them).
UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5
ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}

AllowRequest = Callable[[HttpExchange], "bool | Awaitable[bool]"]


class FrontEnds(Protocol):
    """How an engine is put on a front end. The layer above installs it (``sio.runner``, when
    ``sio`` is imported), so that the engine imports no front end."""

    async def serve(
        self,
        engine: EngineServer,
        host: str,
        port: int,
        fallback: Callable[[HttpExchange], None] | None,
        *,
        router: Any = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> asyncio.AbstractServer:
        """Listen with the built-in front end on the running loop (``router``: a worker's routing;
        ``other_asgi_app``: an ASGI app for the other paths, its lifespan run)."""
        ...

    def listen(
        self,
        app: Any,
        host: str,
        port: int,
        workers: int | str = 1,
        ssl: SSLContext | None = None,
        *,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> None:
        """Serve ``app`` (an engine or a ``sio.Server``) forever (blocking), in ``workers`` processes."""

    def asgi_app(
        self,
        engine: EngineServer,
        other_app: Any,
        on_shutdown: Callable[[], Awaitable[None]] | None,
        on_startup: Callable[[], None] | None = None,
    ) -> Any:
        """``engine`` as an ASGI 3 app (``on_startup``: called on its first call, in the loop)."""


_front_ends: list[FrontEnds] = []  # the one installed


def install_front_ends(front_ends: FrontEnds) -> None:
    """Make ``front_ends`` what ``EngineServer.serve`` / ``listen`` / ``asgi_app`` use."""
    _front_ends[:] = [front_ends]


def front_ends() -> FrontEnds:
    """The installed front ends (``import sio`` installs the standard ones)."""
    if not _front_ends:
        raise RuntimeError("no front ends are installed: import sio (sio.runner installs them)")
    return _front_ends[0]


SERVER_FULL = "Too many connections"
HANDSHAKE_RATE_EXCEEDED = "Too many handshakes, try again later"


class EngineRefusal(SioError):
    """A request the engine answers with an Engine.IO error (code, message, HTTP status)."""

    def __init__(self, code: int, message: str | None = None, status: int | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES[code])
        self.code = code
        self.message = message or ERROR_MESSAGES[code]
        self.status = status if status is not None else 403 if code == FORBIDDEN else 400

    def body(self) -> bytes:
        """The JSON error body Node sends."""
        return orjson.dumps({"code": self.code, "message": self.message})


class EngineServer(EventEmitter):
    """An Engine.IO v4 server (Node's ``engine.io`` Server).

    Events: ``connection`` (an :class:`EngineSocket`), ``connection_error``
    (the request and the :class:`EngineRefusal`).

    ``allow_eio3=True`` also serves Engine.IO v3 clients (socket.io-client 2.x), as Node's
    ``allowEIO3``: a handshake whose ``EIO`` is not ``4`` opens a v3 session (``protocol == 3``)
    instead of being refused with code 5. JSONP polling (v3's ``j`` query) is not supported.
    """

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        close_timeout: float = 10.0,
        max_http_buffer_size: int = 1_000_000,
        max_buffered_bytes: int = 4_000_000,
        transports: Iterable[str] = TRANSPORTS,
        allow_upgrades: bool = True,
        allow_request: AllowRequest | None = None,
        cors_allowed_origins: Origin | None = None,
        cors_credentials: bool = False,
        cors: CorsPolicy | dict[str, Any] | None = None,
        cookie: bool | str | dict[str, Any] = False,
        path: str = "/engine.io/",
        backlog: int = 2048,
        max_connections: int | None = None,
        max_handshake_rate: float | None = None,
        http_compression: bool | dict[str, Any] | HttpCompression = True,
        per_message_deflate: bool | dict[str, Any] | DeflateOptions = False,
        proxy_headers: bool = False,
        forwarded_allow_ips: str | Iterable[str] = "127.0.0.1",
        allow_eio3: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__()
        # The loop whose clock and callbacks the timers follow: the running one by default; a
        # test passes a fake one (time, call_soon, call_at) to drive sessions on a fake clock.
        self._loop = loop
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.upgrade_timeout = upgrade_timeout
        # How long a closing connection may take to flush and end (a peer that stops reading
        # keeps a graceful close waiting forever): then it is aborted and what it held freed.
        self.close_timeout = close_timeout
        self.max_http_buffer_size = max_http_buffer_size
        # Outgoing backlog per session while its transport cannot write (a client that
        # stops polling, a WebSocket under back-pressure): over it, "transport error".
        self.max_buffered_bytes = max_buffered_bytes
        self.transports = tuple(transports)
        unknown = set(self.transports) - set(TRANSPORTS)
        if unknown or not self.transports:
            raise InvalidOption(
                f"transports must be a non-empty subset of {TRANSPORTS}, not {self.transports}"
            )
        self.allow_upgrades = allow_upgrades
        self.allow_request = allow_request
        # Node's cors package semantics (sio.engine.cors): ``cors`` takes Node's options; the
        # shorthand cors_allowed_origins / cors_credentials builds the same policy. None: CORS off.
        self.cors = CorsPolicy.from_option(cors) or CorsPolicy.from_allowed_origins(
            cors_allowed_origins, cors_credentials
        )
        self.cookie = cookie
        self.path = "/" + path.strip("/") + "/"
        # Admission: the listen backlog of the built-in front end (uvicorn's default), and an
        # optional cap on open sessions (new handshakes over it: 503, or a WebSocket closed 1013).
        self.backlog = backlog
        self.max_connections = max_connections
        # Optional cap on new sessions per second, a token bucket holding one second's worth:
        # a reconnect storm or a handshake flood is refused cleanly instead of queueing up.
        if max_handshake_rate is not None and max_handshake_rate <= 0:
            raise InvalidOption(f"max_handshake_rate must be positive, not {max_handshake_rate}")
        self.max_handshake_rate = max_handshake_rate
        # Node's defaults: polling responses compressed (threshold 1024), permessage-deflate off.
        self.http_compression = HttpCompression.from_option(http_compression)
        self.per_message_deflate = DeflateOptions.from_option(per_message_deflate)
        # Behind a reverse proxy (uvicorn's --proxy-headers): the client's address and scheme from
        # X-Forwarded-For / X-Forwarded-Proto when the peer is a trusted proxy. Off by default, as
        # Node (its handshake.address is the peer's).
        self.trusted_proxies = TrustedProxies(forwarded_allow_ips) if proxy_headers else None
        # Engine.IO v3 clients (socket.io-client 2.x) too; off by default, as in Node.
        self.allow_eio3 = allow_eio3
        self._handshake_tokens = max(1.0, max_handshake_rate or 0.0)
        self._handshake_tokens_at = 0.0
        self.clients: dict[str, EngineSocket] = {}
        # What a new session is: EngineSocket, or CountingEngineSocket once instrumented
        # (sio.engine.counting.count_traffic, which sets ``traffic`` too).
        self.socket_class: type[EngineSocket] = EngineSocket
        self.traffic: TrafficCounters | None = None
        # The first characters of every new session id: with --workers, the worker that holds the
        # session (sio.workers.routing), so that any worker can route its requests.
        self.sid_prefix = ""
        # With --workers: this worker's ConnectionRouter (its counters: handed_over, adopted).
        self.router: Any = None
        self._wheel: LoopTimerWheel | None = None
        self._servers: list[asyncio.AbstractServer] = []
        # Run when the server stops, after it stopped accepting and before its sessions close
        # (an ASGI app served beside it by the built-in front end shuts down there).
        self._stop_hooks: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- public API --------------------------------------------------------------

    @property
    def clients_count(self) -> int:
        """Number of open sessions."""
        return len(self.clients)

    @property
    def wheel(self) -> LoopTimerWheel:
        """The timer wheel of the running loop (created on first use)."""
        if self._wheel is None:
            self._wheel = LoopTimerWheel(self._loop if self._loop is not None else asyncio.get_running_loop())
        return self._wheel

    def handles_path(self, path: str) -> bool:
        """Whether a request path belongs to this server."""
        return path == self.path or path == self.path[:-1]

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        fallback: Callable[[HttpExchange], None] | None = None,
        router: Any = None,
        reuse_port: bool = False,
        ssl: SSLContext | None = None,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> asyncio.AbstractServer:
        """Start the built-in HTTP/WebSocket front end on the running loop; return the server.

        ``reuse_port`` lets several processes listen on the port; ``router`` (a
        :class:`sio.workers.handoff.ConnectionRouter`) is what a worker of ``--workers`` routes with;
        ``ssl`` (an ``ssl.SSLContext``) serves HTTPS and WSS. ``other_asgi_app`` (FastAPI,
        Starlette, any ASGI 3 app) answers the HTTP requests for other paths (after ``fallback``,
        which must then have a ``serves(method, path)`` method), as uvicorn would serve it, under
        ``root_path``; its lifespan startup runs before connections are accepted (a failure raises
        :class:`sio.frontends.lifespan.LifespanFailed`), its shutdown in :meth:`close`.
        """
        options: dict[str, Any] = {}
        if other_asgi_app is not None or root_path:
            options = {"other_asgi_app": other_asgi_app, "root_path": root_path}
        server = await front_ends().serve(
            self, host, port, fallback, router=router, reuse_port=reuse_port, ssl=ssl, **options
        )
        self._servers.append(server)
        return server

    def listen(
        self,
        port: int = 3000,
        host: str = "127.0.0.1",
        *,
        workers: int | str = 1,
        ssl: SSLContext | None = None,
        other_asgi_app: Any = None,
        root_path: str = "",
    ) -> None:
        """Serve forever on uvloop (blocking), in ``workers`` processes ("auto": one per core);
        ``ssl`` serves HTTPS and WSS (one worker); ``other_asgi_app`` and ``root_path``: see
        :meth:`serve` (each worker runs the app's lifespan)."""
        front_ends().listen(
            self, host, port, workers, ssl, other_asgi_app=other_asgi_app, root_path=root_path
        )

    def asgi_app(self, other_app: Any = None) -> Any:
        """This server as an ASGI 3 application; other paths go to ``other_app``."""
        return front_ends().asgi_app(self, other_app, None)

    def at_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await ``hook()`` once when the server stops (:meth:`stop_serving`): after it stopped
        accepting connections, before its sessions close. A front end's ASGI app shuts down there."""
        self._stop_hooks.append(hook)

    async def stop_serving(self) -> None:
        """Stop accepting connections and run the :meth:`at_stop` hooks; the sessions stay open."""
        for server in self._servers:
            server.close()
        hooks, self._stop_hooks = self._stop_hooks, []
        for hook in hooks:
            await hook()

    async def close(self) -> None:
        """Close every session (``forced close``) and stop the front ends (:meth:`stop_serving` first)."""
        await self.stop_serving()
        for task in list(self._tasks):  # handshakes waiting for allow_request
            task.cancel()
        for socket in list(self.clients.values()):
            socket.close()
            socket._transport.discard()
            socket._on_close(DisconnectReason.FORCED_CLOSE)
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._wheel is not None:
            self._wheel.close()
            self._wheel = None

    # -- HTTP --------------------------------------------------------------------

    def handle_request(self, exchange: HttpExchange) -> None:
        """Serve one polling request (or CORS preflight) for this server's path."""
        policy = self.cors
        if policy is not None:  # (with CORS off, OPTIONS is just another refused method)
            origin = exchange.headers.get("origin")
            if exchange.method == "OPTIONS":
                requested = exchange.headers.get("access-control-request-headers")
                preflight = policy.preflight_headers(origin, requested)
                if preflight is None:
                    self._refuse(exchange, EngineRefusal(FORBIDDEN, "Origin not allowed"), [])
                    return
                if preflight:  # as Node's cors: answered here, an empty body with Content-Length 0
                    exchange.respond(policy.options_success_status, preflight, b"")
                    return
            cors = policy.response_headers(origin)
            if cors is None:
                self._refuse(exchange, EngineRefusal(FORBIDDEN, "Origin not allowed"), [])
                return
            exchange.extra_headers.extend(cors)
        try:
            self._verify(exchange, websocket=False)
        except EngineRefusal as refusal:
            self._refuse(exchange, refusal, [])
            return
        sid = exchange.query.get("sid")
        if not sid:
            refused = self._admission_refusal()
            if refused is not None:
                self._refuse(exchange, EngineRefusal(FORBIDDEN, refused, status=503), [("Retry-After", "1")])
                return
            self._handshake(exchange, None)
            return
        transport = self.clients[sid]._transport
        if not isinstance(transport, PollingTransport):  # an HTTP request for a WebSocket session
            self._refuse(exchange, EngineRefusal(BAD_REQUEST), [])
        elif exchange.method == "GET":
            transport.on_poll(exchange)
        elif exchange.method == "POST":
            transport.on_data(exchange)
        else:
            self._refuse(exchange, EngineRefusal(BAD_REQUEST, "Bad request method"), [])

    # -- WebSocket ---------------------------------------------------------------

    def check_websocket(self, exchange: HttpExchange) -> EngineRefusal | None:
        """The synchronous checks of a WebSocket request (all but ``allow_request``)."""
        self._behind_proxy(exchange)
        try:
            if self.cors is not None and self.cors.refuses(exchange.headers.get("origin")):
                raise EngineRefusal(FORBIDDEN, "Origin not allowed")
            self._verify(exchange, websocket=True)
        except EngineRefusal as refusal:
            self._refused(exchange, refusal)
            return refusal
        return None

    def verify_websocket(
        self, exchange: HttpExchange, callback: Callable[[EngineRefusal | None], None]
    ) -> None:
        """Decide on a WebSocket request before the 101, ``allow_request`` included.

        ``callback`` gets the refusal, or None to go ahead; it is called at once, or
        later when ``allow_request`` is a coroutine function. An accepted handshake is
        then opened by :meth:`accept_websocket` without asking ``allow_request`` again.
        """
        refusal = self.check_websocket(exchange)
        if refusal is not None or exchange.query.get("sid") or self.allow_request is None:
            exchange.authorized = refusal is None
            callback(refusal)
            return

        def decide(allowed: bool, message: str | None = None) -> None:
            if allowed:
                exchange.authorized = True
                callback(None)
            else:
                denial = EngineRefusal(FORBIDDEN, message)
                self._refused(exchange, denial)
                callback(denial)

        self._ask_allow_request(exchange, decide)

    def accept_websocket(
        self, exchange: HttpExchange, channel: WebSocketChannel
    ) -> WebSocketTransport | None:
        """Attach an accepted WebSocket: a new session or an upgrade; return its handler."""
        sid = exchange.query.get("sid")
        if not sid:
            refused = self._admission_refusal()
            if refused is not None:
                self._refused(exchange, EngineRefusal(FORBIDDEN, refused, status=503))
                channel.close(1013, refused)  # "Try Again Later"
                return None
            transport = _websocket_transport(channel, exchange, _handshake_protocol(exchange))
            if exchange.authorized:
                self._open_session(exchange, transport)
            else:  # not verified before the 101: ask allow_request now
                self._handshake(exchange, transport)
            return transport
        socket = self.clients.get(sid)
        if (
            socket is None
            or socket.upgrading
            or socket.transport != "polling"
            or socket.ready_state is not OPEN
        ):
            # Gone meanwhile, already upgrading, or on WebSocket already (upgraded, or opened
            # that way): close the newcomer, as Node does; only a polling session upgrades.
            channel.close(1008, "cannot upgrade this session")
            return None
        transport = _websocket_transport(channel, exchange, socket.protocol)
        socket._start_upgrade(transport)
        return transport

    # -- verification and handshakes -----------------------------------------------

    def _verify(self, exchange: HttpExchange, websocket: bool) -> None:
        """The checks of Node's ``Server.verify``, in its order (EIO only on a handshake)."""
        query = exchange.query
        transport = query.get("transport")
        if transport not in self.transports:
            raise EngineRefusal(UNKNOWN_TRANSPORT)
        sid = query.get("sid")
        if sid:
            socket = self.clients.get(sid)
            if socket is None:
                raise EngineRefusal(UNKNOWN_SID)
            if websocket:
                if transport != "websocket" or not self.allow_upgrades:
                    raise EngineRefusal(BAD_REQUEST)
                # A second WebSocket for a session that is upgrading or upgraded is not
                # refused here: as in Node, it gets its 101 and is closed at once
                # (accept_websocket), and the session it names is untouched.
            elif socket.transport != transport:
                raise EngineRefusal(BAD_REQUEST)  # transport mismatch
            return
        if exchange.method != "GET":
            raise EngineRefusal(BAD_HANDSHAKE_METHOD)
        if websocket != (transport == "websocket"):
            raise EngineRefusal(BAD_REQUEST)
        if query.get("EIO") != "4":  # as Node: any other value (or none) is v3
            if not self.allow_eio3:
                raise EngineRefusal(UNSUPPORTED_PROTOCOL_VERSION)
            if "j" in query:  # v3's JSONP polling (Node's polling-jsonp): out of scope
                raise EngineRefusal(BAD_REQUEST, "JSONP polling is not supported")

    def _refuse(self, exchange: HttpExchange, refusal: EngineRefusal, extra: Headers) -> None:
        self._refused(exchange, refusal)
        exchange.respond(refusal.status, [("Content-Type", "application/json"), *extra], refusal.body())

    def _ask_allow_request(self, exchange: HttpExchange, decide: Callable[..., None]) -> None:
        """Call ``decide(allowed, message=None)`` with ``allow_request``'s verdict, now or later."""
        assert self.allow_request is not None
        try:
            verdict = self.allow_request(exchange)
        except Exception as exc:
            decide(False, str(exc) or None)
            return
        if not inspect.isawaitable(verdict):
            decide(bool(verdict))
            return

        async def wait() -> None:
            try:
                allowed = bool(await verdict)
            except Exception as exc:
                decide(False, str(exc) or None)
                return
            decide(allowed)

        task = asyncio.ensure_future(wait())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _behind_proxy(self, exchange: HttpExchange) -> None:
        """With ``proxy_headers``: the client's address and scheme as a trusted proxy forwarded them
        (before ``allow_request``, which may read them). Applying it twice changes nothing more:
        the forwarded address is not a trusted proxy."""
        proxies = self.trusted_proxies
        if proxies is not None and not exchange.forwarded:
            exchange.forwarded = True
            peer = exchange.remote_address
            headers = exchange.headers
            exchange.remote_address = proxies.client(peer, headers.get("x-forwarded-for"))
            exchange.secure = proxies.secure(peer, headers.get("x-forwarded-proto"), exchange.secure)

    def _handshake(self, exchange: HttpExchange, transport: WebSocketTransport | None) -> None:
        self._behind_proxy(exchange)
        if self.allow_request is None:
            self._open_session(exchange, transport)
            return

        def decide(allowed: bool, message: str | None = None) -> None:
            if exchange.responded and transport is None:
                return  # the client went away while allow_request was thinking
            if transport is not None and transport.closed:
                return
            if allowed:
                self._open_session(exchange, transport)
            else:
                self._refusal_for(exchange, transport, EngineRefusal(FORBIDDEN, message))

        self._ask_allow_request(exchange, decide)

    def _refusal_for(
        self, exchange: HttpExchange, transport: WebSocketTransport | None, refusal: EngineRefusal
    ) -> None:
        if transport is None:
            self._refuse(exchange, refusal, [])
        else:  # already accepted as a WebSocket: all that is left is to close it
            self._refused(exchange, refusal)
            transport.close_unbound(1008, refusal.message)

    def _open_session(self, exchange: HttpExchange, transport: WebSocketTransport | None) -> None:
        sid = secrets.token_urlsafe(15)  # 20 characters, as Node's base64id
        if self.sid_prefix:
            sid = self.sid_prefix + sid[len(self.sid_prefix) :]
        polling = transport is None
        active: Transport
        if transport is not None:
            active = transport
        elif _handshake_protocol(exchange) == 4:
            active = PollingTransport()
        else:  # Node's supportsBinary: no b64 in the handshake
            active = Eio3PollingTransport(supports_binary=not exchange.query.get("b64"))
        socket = self.socket_class(self, sid, active, exchange)
        self.clients[sid] = socket
        upgrades = ["websocket"] if polling and self.allow_upgrades and "websocket" in self.transports else []
        # The same open packet for v3 as for v4, maxPayload included, as Node 6 sends it (Engine.IO
        # 3.x servers sent no maxPayload; socket.io-client 2.x ignores it).
        open_packet = (
            "0"
            + orjson.dumps(
                {
                    "sid": sid,
                    "upgrades": upgrades,
                    "pingInterval": round(self.ping_interval * 1000),
                    "pingTimeout": round(self.ping_timeout * 1000),
                    "maxPayload": self.max_http_buffer_size,
                }
            ).decode()
        )
        if polling:
            cookie = self._cookie_header(sid)
            if cookie:
                exchange.extra_headers.append(cookie)
            socket._transport.on_poll(exchange)  # type: ignore[attr-defined]
        socket._open(open_packet)
        self.emit("connection", socket)

    def _admission_refusal(self) -> str | None:
        """Why a new session may not open now (``max_connections``, ``max_handshake_rate``), if so.

        Admitting takes a token from the rate bucket: call once per handshake.
        """
        if self.max_connections is not None and len(self.clients) >= self.max_connections:
            return SERVER_FULL
        rate = self.max_handshake_rate
        if rate is None:
            return None
        now = time.monotonic()
        refilled = self._handshake_tokens + (now - self._handshake_tokens_at) * rate
        self._handshake_tokens = min(max(1.0, rate), refilled)
        self._handshake_tokens_at = now
        if self._handshake_tokens < 1.0:
            return HANDSHAKE_RATE_EXCEEDED
        self._handshake_tokens -= 1.0
        return None

    def _refused(self, exchange: HttpExchange, refusal: EngineRefusal) -> None:
        """A request or handshake is refused: logged at debug (never a payload), ``connection_error``."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "refused %s %s from %s: %s (code %d)",
                exchange.method,
                exchange.path,
                exchange.remote_address,
                refusal.message,
                refusal.code,
            )
        self.emit("connection_error", exchange, refusal)

    def _forget(self, socket: EngineSocket) -> None:
        if self.clients.get(socket.id) is socket:
            del self.clients[socket.id]

    # -- cookies -------------------------------------------------------------------

    def _cookie_header(self, sid: str) -> tuple[str, str] | None:
        """``Set-Cookie`` for the handshake, serialised like Node's ``cookie`` package.

        ``cookie`` is True (name ``io``), a name, or a dict of Node's options; keys may be
        Node's camelCase or snake_case: name, path, domain, httpOnly, secure, sameSite, maxAge.
        """
        cookie = self.cookie
        if not cookie:
            return None
        options: dict[str, Any] = {"name": "io", "path": "/", "samesite": "Lax"}
        if isinstance(cookie, str):
            options["name"] = cookie
        elif isinstance(cookie, dict):
            options.update({k.lower().replace("_", ""): v for k, v in cookie.items()})
        options.setdefault("httponly", options["path"] is not False)
        parts = [f"{options['name']}={sid}"]
        if options.get("maxage") is not None:
            parts.append(f"Max-Age={int(options['maxage'])}")
        if options.get("domain"):
            parts.append(f"Domain={options['domain']}")
        if options.get("path"):
            parts.append(f"Path={options['path']}")
        if options.get("httponly"):
            parts.append("HttpOnly")
        if options.get("secure"):
            parts.append("Secure")
        same_site = options.get("samesite")
        if same_site:
            parts.append("SameSite=" + ("Strict" if same_site is True else str(same_site).capitalize()))
        return ("Set-Cookie", "; ".join(parts))


def _handshake_protocol(exchange: HttpExchange) -> int:
    """The Engine.IO revision of a verified handshake: 4 for ``EIO=4``, else 3 (as Node)."""
    return 4 if exchange.query.get("EIO") == "4" else 3


def _websocket_transport(
    channel: WebSocketChannel, exchange: HttpExchange, protocol: int
) -> WebSocketTransport:
    """The WebSocket transport for a session of ``protocol`` (v3: binary support unless ``b64``)."""
    if protocol == 4:
        return WebSocketTransport(channel)
    return Eio3WebSocketTransport(channel, supports_binary=not exchange.query.get("b64"))
