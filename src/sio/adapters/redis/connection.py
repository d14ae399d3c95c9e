"""The Redis side of an adapter: one publishing and one subscribed connection per factory.

Every namespace adapter a factory makes shares one :class:`RedisLink` (Node shares its
``pubClient`` / ``subClient`` the same way). Both connections speak RESP themselves, parsed by
hiredis's ``Reader`` (a C parser made for the job): a PUBLISH is one ``transport.write`` of a few
hundred bytes, about 2 µs, where redis-py's asyncio client spends ~80 µs of Python per command
(~124 µs pipelined; bench/RESULTS.md). redis-py still carries the rare commands (``PUBSUB
NUMSUB``), and everything when the address is one the fast path does not speak (TLS, a unix
socket, a Redis Cluster client).

- Publishing never blocks and never raises: written at once on the one publishing connection
  (so this node's messages reach Redis in publication order, across channels), queued while it
  first connects, dropped while Redis is known to be away (pub/sub is at-most-once: stale
  messages are not delivered late).
- The subscribed connection reconnects with backoff (0.1 s doubling to 5 s) and subscribes
  again to every channel and pattern.
- One log line per outage (``Redis unreachable``), one when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sio._events import spawn

__all__ = ["Handler", "RedisLink", "resp_command"]

log = logging.getLogger("sio.redis")

Handler = Callable[[bytes, bytes], None]  # (channel, message)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
CONNECT_TIMEOUT = 5.0
QUEUE_LIMIT = 100_000  # messages kept while the first connection is being made (and under back-pressure)


def resp_command(*parts: str | bytes) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


def _address(client: Any) -> tuple[str, int, str | None, str | None] | None:
    """(host, port, username, password) when the fast path can reach this client's Redis, else None."""
    if isinstance(client, str):
        url = urlparse(client)
        if url.scheme != "redis" or not url.hostname:
            return None
        return (
            url.hostname,
            url.port or 6379,
            unquote(url.username) if url.username else None,
            (unquote(url.password) if url.password else None),
        )
    if type(client) is not aioredis.Redis:
        return None
    kwargs = client.connection_pool.connection_kwargs
    if "host" not in kwargs or kwargs.get("ssl") or "path" in kwargs:
        return None
    return kwargs["host"], int(kwargs.get("port", 6379)), kwargs.get("username"), kwargs.get("password")


class _RespProtocol(asyncio.Protocol):
    """One RESP connection: replies (and pushes) parsed by hiredis, handed to ``on_reply``."""

    def __init__(self, on_reply: Callable[[Any], None], on_writable: Callable[[], None]) -> None:
        self.reader = hiredis.Reader()
        self.on_reply = on_reply
        self.on_writable = on_writable
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        while True:
            reply = reader.gets()
            if reply is False:
                return
            self.on_reply(reply)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.lost.done():
            self.lost.set_result(None)


class RedisLink:
    """A publishing and a subscribed connection to one Redis (a URL or a ``redis.asyncio`` client)."""

    def __init__(self, client: str | aioredis.Redis, *, sharded: bool = False) -> None:
        self.address = _address(client)
        if isinstance(client, str):
            self.client = aioredis.Redis.from_url(
                client, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=False
            )
        else:
            self.client = client
        self.sharded = sharded  # SSUBSCRIBE / SPUBLISH instead of SUBSCRIBE / PUBLISH
        self._publish_verb = b"SPUBLISH" if sharded else b"PUBLISH"
        self.channels: dict[str, Handler] = {}
        self.patterns: dict[str, Handler] = {}
        self.users = 0  # adapters using the link; the last close() closes it
        self.healthy = True
        self._queue: list[tuple[str, bytes]] = []  # (channel, message) waiting for the publishing connection
        self._pub: _RespProtocol | None = None
        self._sub: _RespProtocol | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._started = False
        self._pong: asyncio.Future[None] | None = None  # close() waits for the answer to its PING
        # The redis-py path (no fast-path address): a writer task and a redis-py PubSub.
        self._queued: asyncio.Event | None = None
        self._wanted: asyncio.Event | None = None
        self._pubsub: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start both connections (idempotent; needs the running loop)."""
        if self._started or self._closed:
            return
        self._started = True
        if self.address is not None:
            self._tasks = [spawn(self._run_publisher(), self), spawn(self._run_subscriber(), self)]
        else:
            self._queued = asyncio.Event()
            self._wanted = asyncio.Event()
            if self._queue:
                self._queued.set()
            if self.channels or self.patterns:
                self._wanted.set()
            self._tasks = [spawn(self._slow_write(), self), spawn(self._slow_read(), self)]

    async def close(self) -> None:
        """Stop both connections and release them (what is written is sent first, if it can be)."""
        if self._closed:
            return
        self._closed = True
        pub = self._pub
        if pub is not None and pub.transport is not None and not pub.paused:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain(pub), 2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        for proto in (self._pub, self._sub):
            if proto is not None and proto.transport is not None:
                proto.transport.close()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def _drain(self, proto: _RespProtocol) -> None:
        """Wait until Redis answered a PING sent after everything published (our writes reached it)."""
        self._pong = asyncio.get_running_loop().create_future()
        assert proto.transport is not None
        proto.transport.write(resp_command(b"PING"))
        await self._pong

    # -- outages -------------------------------------------------------------------------

    def _down(self, exc: BaseException | None) -> None:
        if self.healthy:
            self.healthy = False
            log.error(
                "Redis unreachable (%s): serving local clients only until it is back; "
                "what is published meanwhile is lost",
                exc or "connection closed",
            )

    def _up(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("Redis is reachable again: the cluster is whole")

    async def _connect(
        self, on_reply: Callable[[Any], None], on_writable: Callable[[], None]
    ) -> _RespProtocol:
        assert self.address is not None
        host, port, username, password = self.address
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _RespProtocol(on_reply, on_writable), host, port), CONNECT_TIMEOUT
        )
        if password is not None:
            assert proto.transport is not None
            auth = (b"AUTH", username, password) if username else (b"AUTH", password)
            proto.transport.write(resp_command(*auth))
        return proto

    async def _supervise(self, connect: Callable[[], Any]) -> None:
        """Keep one connection up: connect, wait until it is lost, back off, again."""
        backoff = BACKOFF_FIRST
        while not self._closed:
            try:
                proto = await connect()
            except (OSError, TimeoutError) as exc:
                self._down(exc)
            else:
                backoff = BACKOFF_FIRST
                await proto.lost
                if self._closed:
                    return
                self._down(None)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` on ``channel`` now (queued while connecting, dropped while Redis is away)."""
        if self._closed:
            return
        pub = self._pub
        if pub is not None and pub.transport is not None and not pub.paused and not self._queue:
            pub.transport.write(resp_command(self._publish_verb, channel, message))
            return
        if self.address is not None and not self.healthy:
            return  # at-most-once: nothing piles up to be delivered late
        queue = self._queue
        queue.append((channel, message))
        if len(queue) > QUEUE_LIMIT:
            del queue[: len(queue) - QUEUE_LIMIT]
        if self._queued is not None:
            self._queued.set()

    def _flush_queue(self) -> None:
        pub = self._pub
        if pub is None or pub.transport is None or not self._queue:
            return
        queue, self._queue = self._queue, []
        verb = self._publish_verb
        pub.transport.write(b"".join(resp_command(verb, channel, message) for channel, message in queue))

    def _on_publisher_reply(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused a command of the publisher: %s", reply)
        elif reply == b"PONG":
            pong = self._pong
            if pong is not None and not pong.done():
                pong.set_result(None)

    async def _run_publisher(self) -> None:
        async def connect() -> _RespProtocol:
            proto = await self._connect(self._on_publisher_reply, self._flush_queue)
            self._pub = proto
            self._up()
            self._flush_queue()
            return proto

        try:
            await self._supervise(connect)
        finally:
            self._pub = None

    # -- subscribing ---------------------------------------------------------------------

    def subscribe(self, channels: list[str], handler: Handler) -> None:
        """Call ``handler(channel, message)`` for messages on ``channels``."""
        new = [channel for channel in channels if channel not in self.channels]
        for channel in channels:
            self.channels[channel] = handler
        self._changed(new, [])

    def psubscribe(self, pattern: str, handler: Handler) -> None:
        """Call ``handler(channel, message)`` for messages on channels matching ``pattern``."""
        new = pattern not in self.patterns
        self.patterns[pattern] = handler
        self._changed([], [pattern] if new else [])

    def unsubscribe(self, channels: list[str] | None = None, patterns: list[str] | None = None) -> None:
        """Stop receiving ``channels`` and ``patterns``."""
        channels, patterns = list(channels or ()), list(patterns or ())
        for channel in channels:
            self.channels.pop(channel, None)
        for pattern in patterns:
            self.patterns.pop(pattern, None)
        sub = self._sub
        if sub is not None and sub.transport is not None:
            if channels and self.sharded:
                sub.transport.write(b"".join(resp_command(b"SUNSUBSCRIBE", channel) for channel in channels))
            elif channels:
                sub.transport.write(resp_command(b"UNSUBSCRIBE", *channels))
            if patterns:
                sub.transport.write(resp_command(b"PUNSUBSCRIBE", *patterns))
        elif self._pubsub is not None:
            spawn(self._slow_unsubscribe(self._pubsub, channels, patterns), self)

    def _changed(self, channels: list[str], patterns: list[str]) -> None:
        if self._wanted is not None and (self.channels or self.patterns):
            self._wanted.set()
        sub = self._sub
        if sub is not None and sub.transport is not None:
            self._send_subscribe(sub, channels, patterns)
        elif self._pubsub is not None and (channels or patterns):
            spawn(self._slow_subscribe(self._pubsub, channels, patterns), self)

    def _send_subscribe(self, sub: _RespProtocol, channels: list[str], patterns: list[str]) -> None:
        assert sub.transport is not None
        if channels and self.sharded:  # one per channel: a Redis Cluster refuses several slots at once
            sub.transport.write(b"".join(resp_command(b"SSUBSCRIBE", channel) for channel in channels))
        elif channels:
            sub.transport.write(resp_command(b"SUBSCRIBE", *channels))
        if patterns:
            sub.transport.write(resp_command(b"PSUBSCRIBE", *patterns))

    def _on_push(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused a command of the subscriber: %s", reply)
            return
        if not isinstance(reply, list) or not reply:
            return
        kind = reply[0]
        if kind in (b"message", b"smessage") and len(reply) == 3:
            self._dispatch(self.channels.get(reply[1].decode(errors="replace")), reply[1], reply[2])
        elif kind == b"pmessage" and len(reply) == 4:
            self._dispatch(self.patterns.get(reply[1].decode(errors="replace")), reply[2], reply[3])
        elif kind in (b"subscribe", b"ssubscribe", b"psubscribe"):
            self._up()

    def _dispatch(self, handler: Handler | None, channel: Any, data: Any) -> None:
        if handler is None or not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        try:
            handler(channel, data)
        except Exception:  # a handler's bug must not end the subscription
            log.exception("error handling a Redis message on %r", channel)

    async def _run_subscriber(self) -> None:
        async def connect() -> _RespProtocol:
            proto = await self._connect(self._on_push, lambda: None)
            self._sub = proto
            self._send_subscribe(proto, list(self.channels), list(self.patterns))
            if not self.channels and not self.patterns:
                self._up()
            return proto

        try:
            await self._supervise(connect)
        finally:
            self._sub = None

    # -- the redis-py path (TLS, unix sockets, other clients) -----------------------------

    async def _slow_write(self) -> None:
        assert self._queued is not None
        backoff = BACKOFF_FIRST
        while True:
            await self._queued.wait()
            batch, self._queue = self._queue, []
            self._queued.clear()
            try:
                pipe = self.client.pipeline(transaction=False)
                for channel, message in batch:
                    pipe.execute_command(self._publish_verb, channel, message)
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self._down(exc)  # the batch is lost, as a PUBLISH to an absent Redis would be
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            if self._pubsub is not None:
                self._up()

    async def _slow_subscribe(self, pubsub: Any, channels: list[str], patterns: list[str]) -> None:
        with contextlib.suppress(Exception):  # the reader reconnects and subscribes again
            if channels:
                await (pubsub.ssubscribe(*channels) if self.sharded else pubsub.subscribe(*channels))
            if patterns:
                await pubsub.psubscribe(*patterns)

    async def _slow_unsubscribe(self, pubsub: Any, channels: list[str], patterns: list[str]) -> None:
        with contextlib.suppress(Exception):  # closing meanwhile: nothing left to unsubscribe from
            if channels:
                await (pubsub.sunsubscribe(*channels) if self.sharded else pubsub.unsubscribe(*channels))
            if patterns:
                await pubsub.punsubscribe(*patterns)

    async def _slow_read(self) -> None:
        assert self._wanted is not None
        backoff = BACKOFF_FIRST
        while True:
            await self._wanted.wait()
            pubsub = self.client.pubsub()
            try:
                if self.channels:
                    channels = list(self.channels)
                    await (pubsub.ssubscribe(*channels) if self.sharded else pubsub.subscribe(*channels))
                if self.patterns:
                    await pubsub.psubscribe(*self.patterns)
                self._pubsub = pubsub
                self._up()
                backoff = BACKOFF_FIRST
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind == "pmessage":
                        pattern = message.get("pattern")
                        handler = self.patterns.get(pattern.decode() if isinstance(pattern, bytes) else "")
                    else:
                        channel = message.get("channel")
                        handler = self.channels.get(channel.decode() if isinstance(channel, bytes) else "")
                    self._dispatch(handler, message.get("channel"), message.get("data"))
            except (RedisError, OSError) as exc:
                self._down(exc)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    # -- commands ------------------------------------------------------------------------

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel`` (``SHARDNUMSUB`` when sharded): the servers listening."""
        command = "SHARDNUMSUB" if self.sharded else "NUMSUB"
        reply = await self.client.execute_command("PUBSUB", command, channel)
        if isinstance(reply, list | tuple) and reply and isinstance(reply[0], list | tuple):
            reply = reply[0]  # redis-py's pairs
        return int(reply[1]) if isinstance(reply, list | tuple) and len(reply) > 1 else 0
