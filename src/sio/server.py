"""The Socket.IO v5 server with Node's API (``io = sio.Server(); io.on("connection", ...)``)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from ssl import SSLContext
from typing import Any, overload

from sio._events import H, Handler, spawn
from sio.adapters.base import BaseAdapter
from sio.adapters.memory import InMemoryAdapter
from sio.asgi_types import ASGIApplication
from sio.broadcast import BroadcastOperator, RemoteSocket
from sio.client import Client, Eio3Client
from sio.engine import EngineServer, EngineSocket
from sio.engine.compression import DeflateOptions, HttpCompression
from sio.engine.cors import CorsPolicy, Origin
from sio.engine.server import AllowRequest, front_ends
from sio.namespace import Namespace, ParentNamespace
from sio.parser import JsonParser, Parser
from sio.reasons import DisconnectReason
from sio.recovery import RecoveryOptions
from sio.socket import Socket
from sio.static import HttpFallback, StaticFiles
from sio.timers import LoopTimerWheel

log = logging.getLogger("sio")

NamespaceMatcher = Callable[[str, Any], Any]
AdapterFactory = Callable[[Namespace], BaseAdapter]


class Server:
    """A Socket.IO server (Node's ``Server``); its main namespace is ``io.sockets`` (``"/"``).

    Engine.IO options (``ping_interval`` ... ``per_message_deflate``) go to the underlying
    :class:`~sio.engine.EngineServer`, whose docstrings and the README describe them.

    ``adapter`` makes each namespace's adapter (Node's ``adapter`` option: the in-memory
    one, or a cluster adapter); ``parser`` is the wire format (Node's ``parser`` option,
    :class:`~sio.parser.JsonParser` by default).

    ``connection_state_recovery`` (True, or a dict of :class:`~sio.recovery.RecoveryOptions`)
    turns on Node's connection state recovery: a client that lost its connection for less than
    ``max_disconnection_duration`` gets its socket id, rooms and data back, and the events it
    missed (``socket.recovered`` tells).

    ``allow_eio3=True`` also serves socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4),
    as Node's ``allowEIO3``: such a client is connected to the main namespace at once (its
    middlewares run; it sends no CONNECT for it), its socket ids are the Engine.IO session id
    (``/nsp#<sid>`` for other namespaces), its auth is the namespace's query string
    (``io("/admin?token=abc")``), and a middleware's refusal reaches it as an ``error`` event
    with the error's ``data``, else its message.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        connect_timeout: float = 45.0,
        adapter: AdapterFactory = InMemoryAdapter,
        parser: Parser | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_http_buffer_size: int = 1_000_000,
        cors_allowed_origins: Origin | None = None,
        transports: Iterable[str] = ("polling", "websocket"),
        static_files: dict[str, str | Path] | None = None,
        cleanup_empty_child_namespaces: bool = False,
        max_namespace_length: int = 1024,
        max_dynamic_namespaces_per_client: int = 100,
        connection_state_recovery: bool | dict[str, Any] | RecoveryOptions | None = None,
        upgrade_timeout: float = 10.0,
        close_timeout: float = 10.0,
        max_buffered_bytes: int = 4_000_000,
        allow_upgrades: bool = True,
        allow_request: AllowRequest | None = None,
        cors_credentials: bool = False,
        cors: CorsPolicy | dict[str, Any] | None = None,
        cookie: bool | str | dict[str, Any] = False,
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
        # Set first: every adapter reads it when it is made.
        self.recovery: RecoveryOptions | None = RecoveryOptions.from_option(connection_state_recovery)
        # The built-in front end's answer to other paths (sio.metrics puts its endpoint in front).
        self.static_files: HttpFallback | None = StaticFiles(static_files) if static_files else None
        self.engine = EngineServer(
            path=path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            upgrade_timeout=upgrade_timeout,
            close_timeout=close_timeout,
            max_http_buffer_size=max_http_buffer_size,
            max_buffered_bytes=max_buffered_bytes,
            transports=transports,
            allow_upgrades=allow_upgrades,
            allow_request=allow_request,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            cors=cors,
            cookie=cookie,
            backlog=backlog,
            max_connections=max_connections,
            max_handshake_rate=max_handshake_rate,
            http_compression=http_compression,
            per_message_deflate=per_message_deflate,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            allow_eio3=allow_eio3,
            loop=loop,  # tests drive the timers on a fake loop's clock
        )
        self.connect_timeout = connect_timeout
        self.parser: Parser = parser if parser is not None else JsonParser()
        self._adapter_factory = adapter
        self._adapters_waiting: list[BaseAdapter] | None = []  # None once started (on a loop)
        self._nsps: dict[str, Namespace] = {}
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        # Bounds on what one client can make the server keep (Node has neither): a CONNECT to a
        # longer name, or one that would create more dynamic children than this for one
        # connection, gets CONNECT_ERROR "Invalid namespace".
        self.max_namespace_length = max_namespace_length
        self.max_dynamic_namespaces_per_client = max_dynamic_namespaces_per_client
        self._parent_nsps: list[ParentNamespace] = []
        self._regex_parents: list[tuple[re.Pattern[str], ParentNamespace]] = []
        self.sockets: Namespace = self.of("/")
        self.engine.on("connection", self._on_engine_connection)

    @property
    def path(self) -> str:
        """The URL path the server answers on (``/socket.io/``)."""
        return self.engine.path

    @property
    def wheel(self) -> LoopTimerWheel:
        """The timer wheel carrying heartbeats, timeouts and ack timeouts."""
        return self.engine.wheel

    def adapter(self, factory: AdapterFactory | None = None) -> AdapterFactory:
        """Set the adapter factory (Node's ``io.adapter(createAdapter(...))``); return it.

        Namespaces that exist already get a new adapter from it (call this before serving,
        as in Node: their rooms are not carried over).
        """
        if factory is not None:
            self._adapter_factory = factory
            for nsp in self._nsps.values():
                nsp.adapter = nsp._make_adapter()
                self._init_adapter(nsp.adapter)
            for parent in self._parent_nsps:
                parent.adapter = parent._make_adapter()
        return self._adapter_factory

    def _init_adapter(self, adapter: BaseAdapter) -> None:
        """Run ``adapter.init()`` now if the server runs on a loop, else once it starts."""
        if self._adapters_waiting is None:
            adapter.init()
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._adapters_waiting.append(adapter)
            return
        self._start()
        adapter.init()

    def _start(self) -> None:
        """The server runs on a loop now (serve, the first ASGI call, or the first session)."""
        waiting, self._adapters_waiting = self._adapters_waiting, None
        for adapter in waiting or ():
            adapter.init()

    # -- namespaces --------------------------------------------------------------

    def of(self, name: str | re.Pattern[str] | NamespaceMatcher) -> Namespace:
        """The namespace ``name``, created on first use.

        A compiled regex or a callable ``(name, auth) -> bool`` (sync or async) makes
        a dynamic parent namespace: a child is created for every name it accepts.
        """
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._nsps.get(name)
            if nsp is None:
                for pattern, parent in self._regex_parents:
                    if pattern.search(name):
                        return parent.create_child(name)
                nsp = self._nsps[name] = Namespace(self, name)
                if name != "/":
                    self.sockets.emit_local("new_namespace", nsp)
            return nsp
        if isinstance(name, re.Pattern):
            pattern = name
            parent = ParentNamespace(self, lambda n, auth: pattern.search(n) is not None)
            self._regex_parents.append((pattern, parent))
        elif callable(name):
            parent = ParentNamespace(self, name)
        else:
            raise TypeError(
                f"a namespace is a str, a compiled regex or a callable, not {type(name).__name__}"
            )
        self._parent_nsps.append(parent)
        return parent

    def _check_namespace(self, name: str, auth: Any, done: Callable[[Namespace | None], None]) -> None:
        """Find a dynamic parent accepting ``name`` and create the child (``done(None)`` if none).

        Matchers run in registration order; only an async matcher costs a task.
        """
        self._check_from(list(self._parent_nsps), 0, name, auth, done)

    def _check_from(
        self,
        parents: list[ParentNamespace],
        start: int,
        name: str,
        auth: Any,
        done: Callable[[Namespace | None], None],
    ) -> None:
        for i in range(start, len(parents)):
            try:
                verdict = parents[i].matcher(name, auth)
            except Exception:
                log.exception("dynamic namespace matcher %r failed for %r", parents[i].matcher, name)
                continue
            if inspect.isawaitable(verdict):
                spawn(self._await_verdict(verdict, parents, i, name, auth, done), parents[i].matcher)
                return
            if verdict:
                done(self._child(parents[i], name))
                return
        done(None)

    async def _await_verdict(
        self,
        verdict: Any,
        parents: list[ParentNamespace],
        index: int,
        name: str,
        auth: Any,
        done: Callable[[Namespace | None], None],
    ) -> None:
        try:
            accepted = bool(await verdict)
        except Exception:
            log.exception("dynamic namespace matcher %r failed for %r", parents[index].matcher, name)
            accepted = False
        if accepted:
            done(self._child(parents[index], name))
        else:
            self._check_from(parents, index + 1, name, auth, done)

    def _child(self, parent: ParentNamespace, name: str) -> Namespace:
        existing = self._nsps.get(name)
        return existing if existing is not None else parent.create_child(name)

    # -- main namespace shortcuts (Node's io.emit, io.to, ...) --------------------

    # Node forwards every EventEmitter method of the server to the main namespace.

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Add a handler on the main namespace (``connection``, ``new_namespace``, ...); also a decorator."""
        if handler is None:
            return self.sockets.on(event)
        return self.sockets.on(event, handler)

    def once(self, event: str, handler: H) -> H:
        """Add a one-shot handler on the main namespace."""
        return self.sockets.once(event, handler)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove a handler from the main namespace."""
        self.sockets.off(event, handler)

    def listeners(self, event: str) -> list[Handler]:
        """The main namespace's handlers of ``event``."""
        return self.sockets.listeners(event)

    def use(self, fn: Handler) -> Handler:
        """Add a middleware to the main namespace."""
        return self.sockets.use(fn)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Target ``room`` in the main namespace."""
        return self.sockets.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Target every socket of the main namespace but those in ``room``."""
        return self.sockets.except_(room)

    def emit(self, event: str, *args: Any) -> bool:
        """Broadcast ``event`` to every socket of the main namespace."""
        return self.sockets.emit(event, *args)

    def send(self, *args: Any) -> bool:
        """Emit a ``message`` event to the main namespace."""
        return self.sockets.send(*args)

    write = send

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Wait at most ``seconds`` for acks."""
        return self.sockets.timeout(seconds)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the event where the transport cannot take it now."""
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's sockets."""
        return self.sockets.local

    def compress(self, compress: bool) -> BroadcastOperator:
        """Whether the next broadcast may be compressed (True by default, as in Node)."""
        return self.sockets.compress(compress)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """Every socket of the main namespace, on every server."""
        return await self.sockets.fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the main namespace join ``rooms``."""
        self.sockets.sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of the main namespace leave ``rooms``."""
        self.sockets.sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of the main namespace."""
        self.sockets.disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> bool:
        """Send ``event`` to the other servers' main namespace (a trailing callable gets their answers)."""
        return self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` to the other servers and return their answers (``AckTimeoutError`` after 5 s)."""
        return await self.sockets.server_side_emit_with_ack(event, *args)

    async def server_count(self) -> int:
        """How many servers the deployment has (1 with the in-memory adapter)."""
        return await self.sockets.adapter.server_count()

    # -- running -----------------------------------------------------------------

    def listen(
        self,
        port: int = 3000,
        host: str = "127.0.0.1",
        *,
        workers: int | str = 1,
        ssl: SSLContext | None = None,
        other_asgi_app: ASGIApplication | None = None,
        root_path: str = "",
    ) -> None:
        """Serve forever on uvloop with the built-in front end (blocking); Ctrl-C or SIGTERM stops it.

        ``workers``: processes serving the port ("auto": one per core). Every request of a
        session reaches the worker holding it, and the workers form one cluster: over the
        local Unix-socket mesh, or over the adapter set here (Redis) when there is one.
        ``ssl`` (an ``ssl.SSLContext``): HTTPS and WSS, in one worker (a TLS connection cannot
        move to another process). ``other_asgi_app`` (a FastAPI or Starlette app, any ASGI 3
        app) answers the other paths on the same port, and ``root_path``: see :meth:`serve`;
        each worker runs its lifespan. A failed startup raises
        :class:`~sio.frontends.lifespan.LifespanFailed`.
        """
        front_ends().listen(
            self, host, port, workers, ssl, other_asgi_app=other_asgi_app, root_path=root_path
        )

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        reuse_port: bool = False,
        router: Any = None,
        ssl: SSLContext | None = None,
        other_asgi_app: ASGIApplication | None = None,
        root_path: str = "",
    ) -> asyncio.AbstractServer:
        """Start the built-in front end inside a running loop; return the asyncio server.

        Paths other than the Socket.IO path are answered from ``static_files``, then by
        ``other_asgi_app`` when given (else 404): the app gets those HTTP requests as uvicorn
        would give them (streamed bodies and responses, keep-alive, ``root_path`` as uvicorn's
        ``--root-path``), and its lifespan runs: the startup before connections are accepted
        (a failure raises :class:`~sio.frontends.lifespan.LifespanFailed`), the shutdown in
        :meth:`close`. ``reuse_port``, ``router`` and ``ssl``: see
        :meth:`sio.engine.EngineServer.serve`.
        """
        self._start()
        return await self.engine.serve(
            host,
            port,
            fallback=self.static_files,
            router=router,
            reuse_port=reuse_port,
            ssl=ssl,
            other_asgi_app=other_asgi_app,
            root_path=root_path,
        )

    def asgi_app(self, other_app: ASGIApplication | None = None) -> ASGIApplication:
        """This server as an ASGI 3 app; other paths (and lifespan) go to ``other_app``."""
        return front_ends().asgi_app(self.engine, other_app, self.close, self._start)

    async def close(self) -> None:
        """Disconnect every socket with ``server shutting down``, then close the engine.

        First the front end stops accepting connections and an ``other_asgi_app`` served beside
        it shuts down (its requests in flight, then its lifespan shutdown, while the sockets are
        still connected: the order under uvicorn with :meth:`asgi_app`).
        """
        await self.engine.stop_serving()
        for nsp in list(self._nsps.values()):
            for socket in list(nsp.sockets.values()):
                socket._on_close(DisconnectReason.SERVER_SHUTTING_DOWN)
            await nsp.adapter.close()
        await self.engine.close()

    # -- internals ---------------------------------------------------------------

    def _on_engine_connection(self, conn: EngineSocket) -> None:
        if self._adapters_waiting is not None:  # an engine served by hand (tests, embedding)
            self._start()
        if conn.protocol == 3:  # socket.io-client 2.x (allow_eio3)
            Eio3Client(self, conn)
        else:
            Client(self, conn)

    def _log_middleware_error(self, socket: Socket, err: BaseException) -> None:
        log.error("middleware of %s failed for socket %s", socket.nsp.name, socket.id, exc_info=err)
