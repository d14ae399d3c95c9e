"""python-socketio's ``AsyncServer``, on sio's own :class:`sio.Server`.

The protocol, the transports, rooms and broadcasts are sio's; this module only maps
python-socketio's shape onto them: handlers keyed by ``(namespace, event)`` that get the
client's ``sid`` first, connect handlers that refuse by returning False or raising
``ConnectionRefusedError``, handler return values sent as the ack, ``emit(data=...)`` where a
tuple is several arguments, and coroutine methods (``await sio.emit(...)``). What differs from
python-socketio is listed in docs/compat.md.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import inspect
import json as stdlib_json
import logging
import sys
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from sio._events import positional_arity, spawn
from sio.asgi_types import Receive, Scope, Send
from sio.compat.socketio import exceptions
from sio.compat.socketio.async_manager import AsyncManager, _room_list
from sio.compat.socketio.async_namespace import AsyncNamespace
from sio.compat.socketio.exceptions import Unsupported
from sio.errors import ConnectError
from sio.parser import JsonParser, MsgpackParser, Parser
from sio.reasons import DisconnectReason
from sio.server import Server

if TYPE_CHECKING:
    from sio.engine import EngineSocket
    from sio.engine.exchange import HttpExchange
    from sio.namespace import Namespace
    from sio.socket import Socket

Handler = Callable[..., Any]

default_logger = logging.getLogger("socketio.server")

# The ASGI scope of the request being served, set by sio.compat.socketio.ASGIApp: the handshake's
# scope becomes environ["asgi.scope"].
current_scope: contextvars.ContextVar[MutableMapping[str, Any] | None] = contextvars.ContextVar(
    "sio_compat_asgi_scope", default=None
)

# How long an emit with a callback waits for the answers of clients on other servers of a cluster
# (python-socketio waits forever; sio's cluster acks need a bound).
CLUSTER_CALLBACK_TIMEOUT = 60.0


class reason:
    """Disconnect reasons, as python-socketio's disconnect handlers receive them."""

    SERVER_DISCONNECT = "server disconnect"
    CLIENT_DISCONNECT = "client disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"


# sio's reasons (Node's) folded onto python-socketio's five.
_REASONS: dict[str, str] = {
    DisconnectReason.SERVER_NAMESPACE_DISCONNECT: reason.SERVER_DISCONNECT,
    DisconnectReason.SERVER_SHUTTING_DOWN: reason.SERVER_DISCONNECT,
    DisconnectReason.FORCED_CLOSE: reason.SERVER_DISCONNECT,
    DisconnectReason.FORCED_SERVER_CLOSE: reason.SERVER_DISCONNECT,
    DisconnectReason.CLIENT_NAMESPACE_DISCONNECT: reason.CLIENT_DISCONNECT,
    DisconnectReason.PING_TIMEOUT: reason.PING_TIMEOUT,
    DisconnectReason.TRANSPORT_CLOSE: reason.TRANSPORT_CLOSE,
    DisconnectReason.TRANSPORT_ERROR: reason.TRANSPORT_ERROR,
    DisconnectReason.PARSE_ERROR: reason.TRANSPORT_ERROR,
}

_CONNECTING, _CONNECTED, _DISCONNECTED = "connecting", "connected", "disconnected"
_ASYNC_MODES = (None, "asgi")
_COOKIE_KEYS = frozenset(("name", "path", "domain", "httponly", "secure", "samesite", "maxage"))


class _Client:
    """One client in one namespace: its sio socket and what python-socketio keeps beside it."""

    __slots__ = (
        "auth",
        "closing",
        "eio_sid",
        "environ",
        "namespace",
        "refused",
        "rooms",
        "server",
        "sid",
        "socket",
        "state",
        "tail",
    )

    def __init__(self, server: AsyncServer, socket: Socket, environ: dict[str, Any]) -> None:
        self.server = server
        self.socket = socket
        self.sid = socket.id
        self.namespace = socket.nsp.name
        self.eio_sid: str = socket.client.id
        self.environ = environ
        # python-socketio passes None when the client sent no auth (or an empty one).
        self.auth = socket.handshake.auth or None
        self.state = _CONNECTING
        self.refused = False  # refused after an always_connect accept: no disconnect handler
        self.rooms: list[Any] | None = None  # its rooms as it left them (for rooms() in disconnect)
        # The handler the next event must wait for: async_handlers=False, or a connect handler
        # still running after an always_connect accept (python-socketio awaits it first).
        self.tail: asyncio.Task[Any] | None = None
        self.closing: asyncio.Task[Any] | None = None  # a coroutine disconnect handler, running

    def on_event(self, event: str, *args: Any) -> None:
        """Every incoming event (``socket.on_any``): the ack, when asked for, is the last argument."""
        if args and callable(args[-1]):
            self.server._dispatch(self, event, args[:-1], args[-1])
        else:
            self.server._dispatch(self, event, args, None)

    def on_disconnecting(self, why: str) -> None:
        """Keep the rooms: ``rooms(sid)`` in a disconnect handler still lists them, as python-socketio."""
        self.rooms = _rooms_of(self.socket)

    def on_disconnect(self, why: str) -> None:
        """The socket is gone: run the application's disconnect handler."""
        self.server._on_disconnect(self, why)


def _rooms_of(socket: Socket) -> list[Any]:
    rooms = socket.rooms
    rooms.discard(socket.id)
    return [socket.id, *sorted(rooms, key=str)]


def _arguments(data: Any) -> tuple[Any, ...]:
    """python-socketio's ``data``: a tuple is several arguments, None none, anything else one."""
    if isinstance(data, tuple):
        return data
    return () if data is None else (data,)


def _ack_values(result: Any) -> tuple[Any, ...]:
    """A handler's return value as the ack's arguments (a tuple is several)."""
    if result is None:
        return ()
    return result if isinstance(result, tuple) else (result,)


def _skipped(skip_sid: Any) -> frozenset[Any]:
    if skip_sid is None:
        return frozenset()
    if isinstance(skip_sid, list | tuple | set | frozenset):
        return frozenset(s for s in skip_sid if s is not None)
    return frozenset((skip_sid,))


def _normal_namespace(namespace: str | None) -> str:
    if not namespace:
        return "/"
    if namespace != "*" and not namespace.startswith("/"):
        return "/" + namespace
    return namespace


def build_environ(request: HttpExchange, scope: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
    """A WSGI-like ``environ`` from the Engine.IO handshake request (and its ASGI scope, when known)."""
    headers = request.headers
    query = request.query_string
    forwarded = headers.get("x-forwarded-proto")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": forwarded.split(",")[0].strip()
        if forwarded
        else "https"
        if request.secure
        else "http",
        "wsgi.errors": sys.stderr,
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "sio",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.path,
        "QUERY_STRING": query,
        "RAW_URI": request.path + ("?" + query if query else ""),
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.remote_address or "",
        "REMOTE_PORT": "0",
    }
    host = headers.get("host", "")
    name, colon, port = host.rpartition(":")
    if not colon or "]" in port:  # no port (an IPv6 address has colons of its own)
        name, port = host, ""
    environ["SERVER_NAME"] = name
    environ["SERVER_PORT"] = port or ("443" if request.secure else "80")
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    if scope is not None:
        environ["asgi.scope"] = scope
        client = scope.get("client")
        if client:
            environ["REMOTE_PORT"] = str(client[1])
        server = scope.get("server")
        if server:
            environ["SERVER_NAME"] = str(server[0])
            environ["SERVER_PORT"] = str(server[1])
    return environ


def _same_origin(request: HttpExchange) -> bool:
    """python-socketio's default CORS policy: an ``Origin`` header must name the server itself."""
    headers = request.headers
    origin = headers.get("origin")
    if not origin:
        return True
    host = headers.get("host")
    if not host:
        return False
    scheme = "https" if request.secure else "http"
    allowed = {f"{scheme}://{host}"}
    forwarded_proto = headers.get("x-forwarded-proto")
    forwarded_host = headers.get("x-forwarded-host")
    if forwarded_proto or forwarded_host:
        proto = (forwarded_proto or scheme).split(",")[0].strip()
        allowed.add(f"{proto}://{(forwarded_host or host).split(',')[0].strip()}")
    return origin in allowed


class _Session:
    """``async with sio.session(sid) as session``: the session, saved back on exit."""

    def __init__(self, server: AsyncServer, sid: str, namespace: str | None) -> None:
        self.server = server
        self.sid = sid
        self.namespace = namespace
        self.session: Any = None

    async def __aenter__(self) -> Any:
        self.session = await self.server.get_session(self.sid, namespace=self.namespace)
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        await self.server.save_session(self.sid, self.session, namespace=self.namespace)


class AsyncServer:
    """python-socketio's ``AsyncServer`` (5.x), served by a :class:`sio.Server` (``self.io``).

    Options are python-socketio's and python-engineio's, mapped onto sio's (docs/compat.md);
    one that cannot be mapped raises :class:`~sio.compat.socketio.exceptions.Unsupported`.
    Other keyword arguments go to :class:`sio.Server` as they are (``connection_state_recovery``,
    ``per_message_deflate``, ``max_connections``, ...). The sio server serves the ASGI app
    (:class:`~sio.compat.socketio.ASGIApp`) or, through ``self.io``, sio's own front end.
    """

    reason = reason
    reserved_events = ("connect", "disconnect")

    def __init__(
        self,
        client_manager: Any = None,
        logger: bool | logging.Logger = False,
        json: Any = None,
        async_handlers: bool = True,
        namespaces: list[str] | str | None = None,
        *,
        always_connect: bool = False,
        serializer: str | Any = "default",
        async_mode: str | None = None,
        ping_interval: float | tuple[float, float] = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        allow_upgrades: bool = True,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        cookie: str | dict[str, Any] | None = None,
        cors_allowed_origins: str | Iterable[str] | Callable[..., bool] | None = None,
        cors_credentials: bool = True,
        monitor_clients: bool | None = None,
        transports: str | Iterable[str] | None = None,
        engineio_logger: bool | logging.Logger | None = None,
        **sio_options: Any,
    ) -> None:
        if async_mode not in _ASYNC_MODES:
            raise Unsupported(
                f"async_mode={async_mode!r}: sio serves through ASGI (socketio.ASGIApp, async_mode='asgi') "
                "or its own front end (AsyncServer.io.listen / serve)"
            )
        if json is not None and json is not stdlib_json:
            raise Unsupported(
                "json=: sio encodes with its own JSON codec (Node's output); convert values the "
                "standard json module cannot encode before emitting them"
            )
        self.async_mode = "asgi"
        self.logger = self._logger(logger)
        if isinstance(engineio_logger, logging.Logger):
            warnings.warn(
                "engineio_logger=<Logger>: sio's engine logs to the 'sio' loggers; configure those",
                RuntimeWarning,
                stacklevel=2,
            )
        elif engineio_logger:
            logging.getLogger("sio").setLevel(logging.INFO)
        del monitor_clients  # sio's heartbeats always run (in its timer wheel): nothing to switch
        self.async_handlers = async_handlers
        self.always_connect = always_connect
        self.namespaces: list[str] | str = namespaces or ["/"]
        self.handlers: dict[str, dict[str, Handler]] = {}
        self.namespace_handlers: dict[str, AsyncNamespace] = {}
        self.environ: dict[str, dict[str, Any]] = {}  # by Engine.IO session id, as python-socketio
        self._clients: dict[str, dict[str, _Client]] = {}  # namespace -> sid -> connected client
        self._connecting: dict[str, dict[str, _Client]] = {}  # ... whose connect handler runs

        self.manager, adapter = self._client_manager(client_manager)
        if isinstance(ping_interval, tuple):  # (interval, grace): the grace lengthens the timeout
            ping_interval, grace = ping_interval
            ping_timeout += grace
        cors, origin_check = self._cors(cors_allowed_origins)
        user_allow_request = sio_options.pop("allow_request", None)
        if origin_check is not None or user_allow_request is not None:
            sio_options["allow_request"] = self._allow_request(origin_check, user_allow_request)
        if adapter is not None:
            sio_options["adapter"] = adapter
        # Namespaces made for namespaces="*" are dropped once empty (python-socketio keeps none).
        sio_options.setdefault("cleanup_empty_child_namespaces", True)
        self.io = Server(
            parser=self._parser(serializer),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            allow_upgrades=allow_upgrades,
            http_compression={"threshold": compression_threshold} if http_compression else False,
            cookie=self._cookie(cookie),
            cors_allowed_origins=cors,
            cors_credentials=cors_credentials,
            transports=[transports]
            if isinstance(transports, str)
            else transports or ("polling", "websocket"),
            **sio_options,
        )
        self._hooked: weakref.WeakSet[Namespace] = weakref.WeakSet()
        self._hook(self.io.sockets)
        self.io.on("new_namespace", self._hook)
        if self.namespaces == "*":
            self.io.of(lambda name, auth: True)
        else:
            for name in self.namespaces:
                self.io.of(_normal_namespace(name))
        self.io.engine.on("connection", self._on_engine_connection)
        self._asgi_app: Any = None  # handle_request's sio ASGI app, made on first use
        self.manager.set_server(self)

    # -- options ----------------------------------------------------------------------

    @staticmethod
    def _logger(logger: bool | logging.Logger) -> logging.Logger:
        if isinstance(logger, logging.Logger):
            return logger
        if logger and default_logger.level == logging.NOTSET:
            default_logger.setLevel(logging.INFO)
        return default_logger

    @staticmethod
    def _client_manager(manager: Any) -> tuple[AsyncManager, Any]:
        """The manager python-socketio code sees, and sio's adapter factory (None: in memory)."""
        if manager is None:
            return AsyncManager(), None
        if isinstance(manager, AsyncManager):
            return manager, None
        if callable(manager):  # an sio adapter factory, e.g. sio.adapters.redis.redis_adapter(url)
            return AsyncManager(), manager
        raise Unsupported(
            f"client_manager={type(manager).__name__}: python-socketio's managers speak their own "
            "message-queue format; pass an sio adapter factory instead "
            "(sio.adapters.redis.redis_adapter(url), docs/compat.md)"
        )

    @staticmethod
    def _parser(serializer: Any) -> Parser:
        if serializer == "default":
            return JsonParser()
        if serializer == "msgpack":
            return MsgpackParser()
        raise Unsupported(
            f"serializer={serializer!r}: a custom packet class cannot drive sio's codecs; write an "
            "sio Parser (sio.parser) and pass it as parser="
        )

    @staticmethod
    def _cookie(cookie: str | dict[str, Any] | None) -> bool | str | dict[str, Any]:
        if not cookie:
            return False
        if isinstance(cookie, str):
            return cookie
        options: dict[str, Any] = {}
        for key, value in cookie.items():
            name = key.lower().replace("-", "").replace("_", "")
            if name not in _COOKIE_KEYS or callable(value):
                raise Unsupported(
                    f"cookie attribute {key!r}={value!r}: sio writes name, path, domain, HttpOnly, "
                    "Secure, SameSite and Max-Age, with fixed values"
                )
            options[name] = value
        return options

    def _cors(self, option: Any) -> tuple[Any, Callable[[HttpExchange], bool] | None]:
        """sio's ``cors_allowed_origins``, and a check of the handshake's origin sio cannot express.

        python-socketio reflects an allowed origin (``'*'`` included), hence ``True`` for ``'*'``.
        """
        if option is None:
            return None, _same_origin
        if isinstance(option, str):
            return (True if option == "*" else option), None
        if callable(option):
            takes_environ = positional_arity(option) >= 2

            def check(request: HttpExchange) -> bool:
                origin = request.headers.get("origin")
                if not origin:
                    return True
                if takes_environ:
                    return bool(option(origin, build_environ(request, current_scope.get())))
                return bool(option(origin))

            return True, check
        origins = list(option)
        if not origins:
            return None, None  # [] turns CORS handling off, as in python-socketio
        return (True if "*" in origins else origins), None

    def _allow_request(
        self, origin_check: Callable[[HttpExchange], bool] | None, user: Callable[..., Any] | None
    ) -> Callable[[HttpExchange], Any]:
        def allow(request: HttpExchange) -> Any:
            if origin_check is not None and not origin_check(request):
                self.logger.info("%s is not an accepted origin.", request.headers.get("origin"))
                return False
            return True if user is None else user(request)

        return allow

    # -- handlers ---------------------------------------------------------------------

    def on(self, event: str, handler: Handler | None = None, namespace: str | None = None) -> Any:
        """Register ``handler`` for ``event`` (a decorator without it).

        ``'*'`` as the event catches events that have no handler (it gets the event name first);
        ``'*'`` as the namespace catches every namespace (it gets the namespace first).
        """
        name = _normal_namespace(namespace)

        def set_handler(handler: Handler) -> Handler:
            self.handlers.setdefault(name, {})[event] = handler
            if name != "*":
                self._hook(self.io.of(name))
            return handler

        if handler is None:
            return set_handler
        return set_handler(handler)

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Register a handler named after the function (``@sio.event`` or ``@sio.event(namespace=...)``)."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def set_handler(handler: Handler) -> Handler:
            return self.on(handler.__name__, *args, **kwargs)(handler)  # type: ignore[no-any-return]

        return set_handler

    def register_namespace(self, namespace_handler: AsyncNamespace) -> None:
        """Register a class-based namespace (an :class:`~sio.compat.socketio.AsyncNamespace`)."""
        if not isinstance(namespace_handler, AsyncNamespace):
            raise ValueError("Not a namespace instance")
        name = _normal_namespace(namespace_handler.namespace)
        namespace_handler.namespace = name
        namespace_handler._set_server(self)
        self.namespace_handlers[name] = namespace_handler
        if name != "*":
            self._hook(self.io.of(name))

    def _event_handler(
        self, event: str, namespace: str, args: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        """python-socketio's order: the namespace's handler, its ``'*'``, then the ``'*'`` namespace's."""
        handlers = self.handlers.get(namespace)
        if handlers is not None:
            handler = handlers.get(event)
            if handler is not None:
                return handler, args
            if event not in self.reserved_events and "*" in handlers:
                return handlers["*"], (event, *args)
        anywhere = self.handlers.get("*")
        if anywhere is not None:
            handler = anywhere.get(event)
            if handler is not None:
                return handler, (namespace, *args)
            if event not in self.reserved_events and "*" in anywhere:
                return anywhere["*"], (event, namespace, *args)
        return None, args

    def _namespace_handler(
        self, namespace: str, args: tuple[Any, ...]
    ) -> tuple[AsyncNamespace | None, tuple[Any, ...]]:
        handler = self.namespace_handlers.get(namespace)
        if handler is not None:
            return handler, args
        handler = self.namespace_handlers.get("*")
        if handler is not None:
            return handler, (namespace, *args)
        return None, args

    def _call(self, event: str, namespace: str, args: tuple[Any, ...], optional_last: bool) -> Any:
        """Call the handler of ``event`` and return what it returns (maybe an awaitable), or ``_NOT_HANDLED``.

        With ``optional_last``, a plain handler that takes fewer arguments loses the last one.
        """
        handler, args = self._event_handler(event, namespace, args)
        if handler is not None:
            if optional_last and positional_arity(handler) < len(args):
                args = args[:-1]
            return handler(*args)
        namespace_handler, args = self._namespace_handler(namespace, args)
        if namespace_handler is not None:
            return namespace_handler.trigger_event(event, *args)
        return _NOT_HANDLED

    # -- namespaces and connections -------------------------------------------------------

    def _accepts(self, namespace: str) -> bool:
        return (
            namespace in self.handlers
            or namespace in self.namespace_handlers
            or self.namespaces == "*"
            or namespace in self.namespaces
        )

    def _hook(self, nsp: Namespace) -> None:
        """Put the compat layer on an sio namespace (once): its connect check and connection handler."""
        if nsp in self._hooked:
            return
        self._hooked.add(nsp)
        nsp.use(self._connect_middleware)
        nsp.on("connection", self._on_connection)

    def _on_engine_connection(self, conn: EngineSocket) -> None:
        eio_sid = conn.id
        self.environ[eio_sid] = build_environ(conn.request, current_scope.get())
        conn.on("close", lambda *_: self._on_engine_close(eio_sid))

    def _on_engine_close(self, eio_sid: str) -> None:
        self.environ.pop(eio_sid, None)
        for namespace, clients in list(self._connecting.items()):  # connect handlers cut short
            for sid, client in list(clients.items()):
                if client.eio_sid == eio_sid:
                    del clients[sid]
            if not clients:
                del self._connecting[namespace]

    def _environ_of(self, socket: Socket) -> dict[str, Any]:
        environ = self.environ.get(socket.client.id)
        if environ is None:
            environ = self.environ[socket.client.id] = build_environ(socket.conn.request)
        return environ

    def _connect_middleware(self, socket: Socket) -> Awaitable[None] | None:
        """Refuse namespaces python-socketio would refuse, then run the connect handler (before CONNECT)."""
        if not self._accepts(socket.nsp.name):
            raise ConnectError("Invalid namespace")
        if self.always_connect:
            return None
        client = _Client(self, socket, self._environ_of(socket))
        self._connecting.setdefault(client.namespace, {})[client.sid] = client
        try:
            verdict = self._call("connect", client.namespace, (client.sid, client.environ, client.auth), True)
        except Exception as exc:
            self._forget_connecting(client)
            raise self._refusal(client, exc) from None
        if inspect.isawaitable(verdict):
            return self._connect_later(client, verdict)
        self._check_verdict(client, verdict)
        return None

    async def _connect_later(self, client: _Client, pending: Awaitable[Any]) -> None:
        try:
            verdict = await pending
        except Exception as exc:
            self._forget_connecting(client)
            raise self._refusal(client, exc) from None
        self._check_verdict(client, verdict)

    def _check_verdict(self, client: _Client, verdict: Any) -> None:
        if verdict is False:
            self._forget_connecting(client)
            raise ConnectError(exceptions.ConnectionRefusedError().error_args["message"])

    def _forget_connecting(self, client: _Client) -> None:
        clients = self._connecting.get(client.namespace)
        if clients is not None and clients.get(client.sid) is client:
            del clients[client.sid]
            if not clients:
                del self._connecting[client.namespace]

    def _refusal(self, client: _Client, exc: BaseException) -> ConnectError:
        """What a connect handler's exception tells the client (CONNECT_ERROR ``{message, data}``)."""
        if isinstance(exc, ConnectError):
            return exc
        error_args = getattr(exc, "error_args", None)  # ours, or python-socketio's own class
        if isinstance(error_args, dict) and "message" in error_args:
            return ConnectError(str(error_args["message"]), error_args.get("data"))
        if isinstance(exc, builtins.ConnectionRefusedError):
            return ConnectError("Connection refused by server")
        self.logger.error(
            "connect handler failed for %s (namespace %s)", client.sid, client.namespace, exc_info=exc
        )
        return ConnectError("Connection rejected by server")

    def _on_connection(self, socket: Socket) -> None:
        clients = self._connecting.get(socket.nsp.name)
        client = clients.pop(socket.id, None) if clients is not None else None
        if clients is not None and not clients:
            del self._connecting[socket.nsp.name]
        if client is None:
            client = _Client(self, socket, self._environ_of(socket))
        client.state = _CONNECTED
        self._clients.setdefault(client.namespace, {})[client.sid] = client
        socket.on_any(client.on_event)
        socket.on("disconnecting", client.on_disconnecting)
        socket.on("disconnect", client.on_disconnect)
        if self.always_connect:
            self._connect_accepted(client)

    def _connect_accepted(self, client: _Client) -> None:
        """always_connect: the client is in; the connect handler may still send it away."""
        try:
            verdict = self._call("connect", client.namespace, (client.sid, client.environ, client.auth), True)
        except Exception as exc:
            self._send_away(client, exc)
            return
        if inspect.isawaitable(verdict):
            client.tail = spawn(self._connected_later(client, verdict), "connect handler")
        elif verdict is False:
            self._send_away(client, None)

    async def _connected_later(self, client: _Client, pending: Awaitable[Any]) -> None:
        try:
            verdict = await pending
        except Exception as exc:
            self._send_away(client, exc)
            return
        if verdict is False:
            self._send_away(client, None)

    def _send_away(self, client: _Client, exc: BaseException | None) -> None:
        if exc is not None:
            self._refusal(client, exc)  # logs what deserves it
        client.refused = True
        client.socket.disconnect()

    def _on_disconnect(self, client: _Client, why: str) -> None:
        client.state = _DISCONNECTED
        if client.refused:
            self._forget(client)
            return
        args = (client.sid, _REASONS.get(why, reason.TRANSPORT_ERROR))
        tail = client.tail
        if tail is not None and not tail.done():
            client.closing = spawn(self._disconnect_after(tail, client, args), "disconnect handler")
            return
        try:
            result = self._call("disconnect", client.namespace, args, True)
        except Exception:
            self.logger.exception(
                "disconnect handler failed for %s (namespace %s)", client.sid, client.namespace
            )
            self._forget(client)
            return
        if inspect.isawaitable(result):
            client.closing = spawn(self._finish_disconnect(client, result), "disconnect handler")
        else:
            self._forget(client)

    async def _disconnect_after(
        self, tail: asyncio.Task[Any], client: _Client, args: tuple[Any, ...]
    ) -> None:
        await asyncio.wait((tail,))
        if client.refused:  # its connect handler, still running when it left, refused it
            self._forget(client)
            return
        try:
            result = self._call("disconnect", client.namespace, args, True)
        except Exception:
            self.logger.exception(
                "disconnect handler failed for %s (namespace %s)", client.sid, client.namespace
            )
            self._forget(client)
            return
        await self._finish_disconnect(client, result)

    async def _finish_disconnect(self, client: _Client, result: Any) -> None:
        try:
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.logger.exception(
                "disconnect handler failed for %s (namespace %s)", client.sid, client.namespace
            )
        finally:
            self._forget(client)

    def _forget(self, client: _Client) -> None:
        clients = self._clients.get(client.namespace)
        if clients is not None and clients.get(client.sid) is client:
            del clients[client.sid]
            if not clients:
                del self._clients[client.namespace]

    # -- events -------------------------------------------------------------------------

    def _dispatch(self, client: _Client, event: str, data: tuple[Any, ...], ack: Handler | None) -> None:
        tail = client.tail
        if tail is not None and not tail.done():
            client.tail = spawn(self._handle_after(tail, client, event, data, ack), event)
            return
        try:
            result = self._call(event, client.namespace, (client.sid, *data), False)
        except Exception:
            self._log_handler_error(client, event)
            return
        if result is _NOT_HANDLED:
            return
        if inspect.isawaitable(result):
            task = spawn(self._finish_event(client, event, result, ack), event)
            if not self.async_handlers:
                client.tail = task
        elif ack is not None:
            ack(*_ack_values(result))

    async def _handle_after(
        self, tail: asyncio.Task[Any], client: _Client, event: str, data: tuple[Any, ...], ack: Handler | None
    ) -> None:
        await asyncio.wait((tail,))
        try:
            result = self._call(event, client.namespace, (client.sid, *data), False)
        except Exception:
            self._log_handler_error(client, event)
            return
        if result is not _NOT_HANDLED:
            await self._finish_event(client, event, result, ack)

    async def _finish_event(self, client: _Client, event: str, result: Any, ack: Handler | None) -> None:
        try:
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            self._log_handler_error(client, event)
            return
        if ack is not None:
            ack(*_ack_values(result))

    def _log_handler_error(self, client: _Client, event: str) -> None:
        self.logger.exception(
            "handler for event %r failed (sid %s, namespace %s)", event, client.sid, client.namespace
        )

    # -- looking clients up -------------------------------------------------------------

    def _client(self, namespace: str, sid: str) -> _Client | None:
        """A client of this server, connected, connecting, or in its disconnect handler."""
        clients = self._clients.get(namespace)
        client = clients.get(sid) if clients is not None else None
        if client is None:
            connecting = self._connecting.get(namespace)
            client = connecting.get(sid) if connecting is not None else None
        return client

    def _connected(self, namespace: str, sid: Any) -> _Client | None:
        clients = self._clients.get(namespace)
        client = clients.get(sid) if clients is not None and isinstance(sid, str) else None
        return client if client is not None and client.state is _CONNECTED else None

    def _namespaces_with_clients(self) -> list[str]:
        return sorted(set(self._clients) | set(self._connecting))

    def _sid_from_eio_sid(self, eio_sid: str, namespace: str) -> str | None:
        for clients in (self._clients.get(namespace), self._connecting.get(namespace)):
            for client in (clients or {}).values():
                if client.eio_sid == eio_sid:
                    return client.sid
        return None

    def _local_sockets(
        self, namespace: str, rooms: list[Any] | None, skip: frozenset[Any], include_connecting: bool
    ) -> list[Socket]:
        """This server's sockets in any of ``rooms`` (None: all), but those in ``skip``."""
        found: dict[str, Socket] = {}
        clients = self._clients.get(namespace, {})
        if rooms is None:
            for sid, client in clients.items():
                if client.state is _CONNECTED:
                    found[sid] = client.socket
        elif clients:
            adapter = next(iter(clients.values())).socket.adapter
            for room in rooms:
                for sid in adapter.rooms.get(room, ()):
                    member = clients.get(sid)
                    if member is not None and member.state is _CONNECTED:
                        found[sid] = member.socket
        if include_connecting:
            for socket in self._connecting_sockets(namespace, rooms):
                found[socket.id] = socket
        return [socket for sid, socket in found.items() if sid not in skip]

    def _connecting_sockets(self, namespace: str, rooms: list[Any] | None) -> list[Socket]:
        """The sockets whose connect handler runs, in any of ``rooms`` (None: all): not in the
        adapter's rooms yet (sio joins a socket to its own room once connected)."""
        return [
            client.socket
            for sid, client in self._connecting.get(namespace, {}).items()
            if rooms is None or sid in rooms or not client.socket.rooms.isdisjoint(rooms)
        ]

    # -- emitting -----------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Handler | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit ``event`` to one client (``to=sid``), a room, several rooms (a list), or everyone.

        ``data`` is one argument, or several as a tuple. ``callback`` gets the client's ack (the
        target must be a client or a room). ``ignore_queue``: this server's clients only.
        """
        name = _normal_namespace(namespace)
        target = to or room
        args = _arguments(data)
        skip = _skipped(skip_sid)
        if callback is not None:
            await self._emit_with_callback(event, args, name, target, skip, callback, ignore_queue)
            return
        if isinstance(target, str):
            client = self._client(name, target)
            if client is not None:  # one local client: straight to its socket
                if client.state is not _DISCONNECTED and target not in skip:
                    client.socket.emit(event, *args)
                return
        nsp = self.io.of(name)
        operator = nsp.local if ignore_queue else nsp.except_(())
        if skip:
            operator = operator.except_(skip)
        if target is not None:
            operator = operator.to(_room_list(target))
        operator.emit(event, *args)
        # Clients whose connect handler runs are not in the rooms yet; python-socketio reaches them.
        if name in self._connecting:
            for socket in self._connecting_sockets(name, None if target is None else _room_list(target)):
                if socket.id not in skip:
                    socket.emit(event, *args)

    async def _emit_with_callback(
        self,
        event: str,
        args: tuple[Any, ...],
        namespace: str,
        target: Any,
        skip: frozenset[Any],
        callback: Handler,
        ignore_queue: bool,
    ) -> None:
        if target is None:
            raise ValueError("Cannot use callback without a room set.")
        rooms = _room_list(target)
        local = self._local_sockets(namespace, rooms, skip, include_connecting=True)
        for socket in local:  # each with its own ack id, as python-socketio
            socket.emit(event, *args, callback)
        if ignore_queue or (len(rooms) == 1 and self._client(namespace, rooms[0]) is not None):
            return
        nsp = self.io.of(namespace)
        if await nsp.adapter.server_count() <= 1:
            return
        # Clients on the other servers: sio's broadcast acks (their first argument each).
        excluded = skip | {socket.id for socket in local}
        operator = nsp.to(rooms).except_(excluded).timeout(CLUSTER_CALLBACK_TIMEOUT)

        def answered(err: Exception | None, responses: list[Any]) -> None:
            for response in responses:
                result = callback(response)
                if inspect.iscoroutine(result):
                    spawn(result, callback)

        operator.emit(event, *args, answered)

    async def send(
        self,
        data: Any,
        to: Any = None,
        room: Any = None,
        skip_sid: Any = None,
        namespace: str | None = None,
        callback: Handler | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit a ``message`` event."""
        await self.emit(
            "message",
            data=data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace,
            callback=callback,
            ignore_queue=ignore_queue,
        )

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit to one client and return its ack: one value, a tuple of several, or None.

        Raises :class:`~sio.compat.socketio.exceptions.TimeoutError` after ``timeout`` seconds.
        """
        if to is None and sid is None:
            raise ValueError("Cannot use call() to broadcast.")
        if not self.async_handlers:
            raise RuntimeError("Cannot use call() when async_handlers is False.")
        answer: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def on_ack(*values: Any) -> None:
            if not answer.done():
                answer.set_result(values)

        await self.emit(
            event, data=data, room=to or sid, namespace=namespace, callback=on_ack, ignore_queue=ignore_queue
        )
        try:
            values = await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            raise exceptions.TimeoutError() from None
        if len(values) > 1:
            return values
        return values[0] if values else None

    # -- rooms --------------------------------------------------------------------------

    async def enter_room(self, sid: str, room: Any, namespace: str | None = None) -> None:
        """Put a client in ``room``."""
        name = _normal_namespace(namespace)
        client = self._client(name, sid)
        if client is not None and client.state is not _DISCONNECTED:
            if room != sid and self._client(name, room) is not None:
                raise ValueError("cannot enter a sid room")
            client.socket.join([room])
            return
        self.io.of(name).in_(sid).sockets_join([room])  # on another server of the cluster

    async def leave_room(self, sid: str, room: Any, namespace: str | None = None) -> None:
        """Take a client out of ``room``."""
        name = _normal_namespace(namespace)
        client = self._client(name, sid)
        if client is not None and client.state is not _DISCONNECTED:
            client.socket.leave(room)
            return
        self.io.of(name).in_(sid).sockets_leave([room])

    async def close_room(self, room: Any, namespace: str | None = None) -> None:
        """Take every client (on every server) out of ``room``."""
        name = _normal_namespace(namespace)
        if self._client(name, room) is not None:
            raise ValueError("cannot close a sid room")
        self.io.of(name).in_([room]).sockets_leave([room])

    def rooms(self, sid: str, namespace: str | None = None) -> list[Any]:
        """The rooms a client of this server is in, its own sid room first."""
        client = self._client(_normal_namespace(namespace), sid)
        if client is None:
            return []
        if client.state is _DISCONNECTED:
            return list(client.rooms or [])
        return _rooms_of(client.socket)

    # -- sessions and what the server knows of a client -----------------------------------

    def _session_client(self, sid: str, namespace: str | None) -> _Client:
        client = self._client(_normal_namespace(namespace), sid)
        if client is None:
            raise KeyError("Session not found")
        return client

    async def get_session(self, sid: str, namespace: str | None = None) -> Any:
        """The client's session (a dict by default; it is its sio ``socket.data``)."""
        return self._session_client(sid, namespace).socket.data

    async def save_session(self, sid: str, session: Any, namespace: str | None = None) -> None:
        """Replace the client's session."""
        self._session_client(sid, namespace).socket.data = session

    def session(self, sid: str, namespace: str | None = None) -> _Session:
        """``async with sio.session(sid) as session:`` changes are saved on exit."""
        return _Session(self, sid, namespace)

    def get_environ(self, sid: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The WSGI-like environ of the client's handshake request (None for an unknown client)."""
        client = self._client(_normal_namespace(namespace), sid)
        return None if client is None else client.environ

    def transport(self, sid: str, namespace: str | None = None) -> str:
        """``'polling'`` or ``'websocket'``."""
        return str(self._session_client(sid, namespace).socket.conn.transport)

    async def disconnect(self, sid: str, namespace: str | None = None, ignore_queue: bool = False) -> None:
        """Disconnect a client from a namespace (its disconnect handler has run when this returns)."""
        name = _normal_namespace(namespace)
        client = self._client(name, sid)
        if client is not None:
            if client.state is _CONNECTED:
                client.socket.disconnect()
                if client.closing is not None:
                    await asyncio.wait((client.closing,))
            return  # connecting (its connect handler runs) or gone already: as python-socketio
        if not ignore_queue:
            self.io.of(name).in_(sid).disconnect_sockets()  # on another server of the cluster

    # -- running ------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        """Run the coroutine function ``target(*args, **kwargs)`` as a task (kept alive, failures logged)."""
        return spawn(target(*args, **kwargs), target)

    async def sleep(self, seconds: float = 0) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    def instrument(self, *args: Any, **kwargs: Any) -> None:
        """Not available: sio has no Admin UI. Warns and does nothing (``/admin`` is refused)."""
        warnings.warn(
            "AsyncServer.instrument(): the Socket.IO Admin UI is not available on sio; the server runs "
            "without it (docs/compat.md)",
            RuntimeWarning,
            stacklevel=2,
        )

    def attach(self, app: Any, socketio_path: str = "socket.io") -> None:
        """Not available (aiohttp, Sanic and Tornado): use :class:`~sio.compat.socketio.ASGIApp`."""
        raise Unsupported("attach(): sio serves through ASGI (socketio.ASGIApp) or its own front end")

    async def handle_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request as the Socket.IO endpoint, whatever its path."""
        from sio.compat.socketio.asgi import serve_engine

        if self._asgi_app is None:
            self._asgi_app = self.io.asgi_app()
        await serve_engine(self, self._asgi_app, scope, receive, send)

    async def shutdown(self) -> None:
        """Disconnect every client and close the server (``io.close()``)."""
        await self.io.close()


class _NotHandled:
    def __repr__(self) -> str:
        return "<not handled>"


_NOT_HANDLED: Any = _NotHandled()
