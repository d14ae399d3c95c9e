"""The Redis side of an adapter: one ordered publisher and one reconnecting subscriber per factory.

Every namespace adapter a factory makes shares one :class:`RedisLink` (Node shares its
``pubClient`` / ``subClient`` the same way). Publishing never blocks and never raises: messages
go to a queue that one writer task sends in pipelines, so the messages of this node reach Redis
in the order they were published, across channels. The subscriber reconnects with backoff and
subscribes again to everything; while Redis is away, what is published is dropped (Redis
pub/sub is at-most-once) and one line is logged per outage, not one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sio._events import spawn

__all__ = ["Handler", "RedisLink"]

log = logging.getLogger("sio.redis")

Handler = Callable[[bytes, bytes], None]  # (channel, message)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
WRITE_BATCH = 512  # messages per pipeline
QUEUE_LIMIT = 100_000  # messages waiting while Redis is slow or away; beyond, the oldest are dropped


class RedisLink:
    """A publisher queue and a subscriber connection to one Redis (a URL or a ``redis.asyncio`` client)."""

    def __init__(self, client: str | aioredis.Redis, *, sharded: bool = False) -> None:
        if isinstance(client, str):
            self.client = aioredis.Redis.from_url(client, socket_connect_timeout=5.0, decode_responses=False)
        else:
            self.client = client
        self.sharded = sharded  # SSUBSCRIBE / SPUBLISH instead of SUBSCRIBE / PUBLISH
        self.channels: dict[str, Handler] = {}
        self.patterns: dict[str, Handler] = {}
        self.users = 0  # adapters using the link; the last close() closes it
        self.healthy = True
        self._queue: list[tuple[str, bytes]] = []
        self._queued: asyncio.Event | None = None
        self._wanted: asyncio.Event | None = None  # something to subscribe to
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer and the subscriber (idempotent; needs the running loop)."""
        if self._tasks or self._closed:
            return
        self._queued = asyncio.Event()
        self._wanted = asyncio.Event()
        if self._queue:
            self._queued.set()
        if self.channels or self.patterns:
            self._wanted.set()
        self._tasks = [asyncio.ensure_future(self._write()), asyncio.ensure_future(self._read())]

    async def close(self) -> None:
        """Stop both tasks and release the connections (what is queued is sent first, if it can be)."""
        if self._closed:
            return
        if self._queue and self.healthy:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(self._take()), 2.0)
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.client.aclose()

    # -- outages -------------------------------------------------------------------------

    def _down(self, exc: BaseException) -> None:
        if self.healthy:
            self.healthy = False
            log.error(
                "Redis unreachable (%s): serving local clients only until it is back; "
                "what is published meanwhile is lost",
                exc or type(exc).__name__,
            )

    def _up(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("Redis is reachable again: the cluster is whole")

    # -- publishing ----------------------------------------------------------------------

    def publish(self, channel: str, message: bytes) -> None:
        """Queue ``message`` for ``channel`` (sent in order; dropped if Redis is away)."""
        if self._closed:
            return
        queue = self._queue
        queue.append((channel, message))
        if len(queue) > QUEUE_LIMIT:
            del queue[: len(queue) - QUEUE_LIMIT]
        if self._queued is not None:
            self._queued.set()

    def _take(self) -> list[tuple[str, bytes]]:
        batch, self._queue = self._queue[:WRITE_BATCH], self._queue[WRITE_BATCH:]
        if not self._queue and self._queued is not None:
            self._queued.clear()
        return batch

    async def _flush(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for channel, message in batch:
            if self.sharded:
                pipe.execute_command("SPUBLISH", channel, message)
            else:
                pipe.publish(channel, message)
        await pipe.execute()

    async def _write(self) -> None:
        assert self._queued is not None
        backoff = BACKOFF_FIRST
        while True:
            await self._queued.wait()
            batch = self._take()
            try:
                await self._flush(batch)
            except (RedisError, OSError) as exc:
                self._down(exc)  # the batch is lost, as a PUBLISH to an absent Redis would be
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            if self._pubsub is not None:
                self._up()

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

    def unsubscribe(self, channels: list[str] = (), patterns: list[str] = ()) -> None:  # type: ignore[assignment]
        """Stop receiving ``channels`` and ``patterns``."""
        for channel in channels:
            self.channels.pop(channel, None)
        for pattern in patterns:
            self.patterns.pop(pattern, None)
        pubsub = self._pubsub
        if pubsub is not None:
            spawn(self._send_unsubscribe(pubsub, list(channels), list(patterns)))

    def _changed(self, channels: list[str], patterns: list[str]) -> None:
        if self._wanted is not None and (self.channels or self.patterns):
            self._wanted.set()
        pubsub = self._pubsub
        if pubsub is not None and (channels or patterns):
            spawn(self._send_subscribe(pubsub, channels, patterns))

    async def _send_subscribe(self, pubsub: Any, channels: list[str], patterns: list[str]) -> None:
        with contextlib.suppress(Exception):  # the reader reconnects and subscribes again
            if channels:
                await (pubsub.ssubscribe(*channels) if self.sharded else pubsub.subscribe(*channels))
            if patterns:
                await pubsub.psubscribe(*patterns)

    async def _send_unsubscribe(self, pubsub: Any, channels: list[str], patterns: list[str]) -> None:
        with contextlib.suppress(Exception):  # closing meanwhile: nothing left to unsubscribe from
            if channels:
                await (pubsub.sunsubscribe(*channels) if self.sharded else pubsub.unsubscribe(*channels))
            if patterns:
                await pubsub.punsubscribe(*patterns)

    async def _read(self) -> None:
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
                    if message is not None:
                        self._dispatch(message)
            except (RedisError, OSError) as exc:
                self._down(exc)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        if kind == "pmessage":
            pattern = message.get("pattern")
            handler = self.patterns.get(pattern.decode() if isinstance(pattern, bytes) else "")
        elif kind in ("message", "smessage"):
            handler = self.channels.get(channel.decode(errors="replace"))
        else:
            return
        if handler is None:
            return
        try:
            handler(channel, data)
        except Exception:  # a handler's bug must not end the subscription
            log.exception("error handling a Redis message on %r", channel)

    # -- commands ------------------------------------------------------------------------

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel`` (``SHARDNUMSUB`` when sharded): the servers listening."""
        command = "SHARDNUMSUB" if self.sharded else "NUMSUB"
        reply = await self.client.execute_command("PUBSUB", command, channel)
        return int(reply[1]) if isinstance(reply, list | tuple) and len(reply) > 1 else 0
