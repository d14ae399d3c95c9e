"""The Redis side of the streams adapter: supervised RESP connections, replies matched in order.

One :class:`StreamsLink` per factory, shared by its namespaces (Node shares its client the same
way):

- a *command* connection: XADD, PUBLISH, SET, DEL, XRANGE, PUBSUB ... pipelined on one socket, so
  Redis takes this node's writes in the order they were made, and each reply reaches the
  callback of its command (RESP answers in order);
- a *subscriber* connection: the namespaces' public and private channels;
- one *reader* connection per stream, each looping on ``XREAD BLOCK``: a blocked read must not
  hold up the others (Node: "one Redis client per stream so they don't block each other").

Every connection is kept up by itself (backoff 0.1 s doubling to 5 s, SO_KEEPALIVE) and is
*up* once Redis answered on it, not when TCP connected (a frozen Redis accepts connections it
never answers: no answer to the login within CONNECT_TIMEOUT, and it is made again). The command
connection has a reply deadline: replies owed and none for REPLY_TIMEOUT, it is dropped (its
callbacks fail) and made again. One log line per outage (``Redis unreachable``, when a first
connection fails), one when every connection is up again. While a connection is down, or its
transport paused, commands are queued (bounded in count and bytes, as node-redis's offline queue:
the streams are the at-least-once part of the protocol) and written in order once it is back;
while it is down their callbacks are answered at once with a :class:`ConnectionError` (nothing
waits on an absent Redis), and :meth:`_Conn.call` fails at once (its commands are not run
later). Replies are parsed by hiredis; nothing goes through redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import hiredis

from sio._events import spawn
from sio.adapters.redis.connection import _RespProtocol, resp_command

__all__ = ["ReplyCallback", "StreamsLink", "Target"]

log = logging.getLogger("sio.redis")

ReplyCallback = Callable[[Any], None]  # called with the reply, or an Exception (error reply, connection lost)
PushHandler = Callable[[bytes, bytes], None]  # (channel, message)

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
CONNECT_TIMEOUT = 5.0
QUEUE_LIMIT = 100_000  # commands kept while Redis is away (the oldest go first past it) ...
QUEUE_BYTES = 64 * 1024 * 1024  # ... and their bytes
REPLY_TIMEOUT = 5.0  # the command connection: owed replies and none for this long -> dropped
DRAIN_TIMEOUT = 2.0  # close(): how long what was written may take to reach Redis


@dataclass(frozen=True)
class Target:
    """Where a Redis is and how to log in."""

    host: str | None = None
    port: int = 6379
    path: str | None = None  # a unix socket
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0

    @classmethod
    def of(cls, client: Any) -> Target:
        """The target of a URL (``redis://``, ``rediss://``, ``unix://``) or a ``redis.asyncio.Redis``."""
        if isinstance(client, str):
            url = urlparse(client)
            query = parse_qs(url.query)
            user = unquote(url.username) if url.username else None
            password = unquote(url.password) if url.password else None
            if url.scheme in ("redis", "rediss"):
                db = int(url.path.lstrip("/") or query.get("db", ["0"])[0])
                return cls(
                    url.hostname or "127.0.0.1",
                    url.port or 6379,
                    None,
                    url.scheme == "rediss",
                    user,
                    password,
                    db,
                )
            if url.scheme == "unix":
                return cls(None, 0, url.path, False, user, password, int(query.get("db", ["0"])[0]))
            raise ValueError(f"not a Redis URL: {client!r} (redis://, rediss:// or unix://)")
        pool = getattr(client, "connection_pool", None)
        kwargs = getattr(pool, "connection_kwargs", None)
        if not isinstance(kwargs, dict):
            raise TypeError(f"a Redis URL or a redis.asyncio.Redis client, not {type(client).__name__}")
        tls = "SSL" in getattr(pool, "connection_class", type(None)).__name__
        return cls(
            kwargs.get("host"),
            int(kwargs.get("port", 6379)),
            kwargs.get("path"),
            tls,
            kwargs.get("username"),
            kwargs.get("password"),
            int(kwargs.get("db", 0) or 0),
        )


class _Conn:
    """One supervised RESP connection.

    In command mode, every command written has an entry in ``pending`` (its callback or None)
    and replies pop them in order. In push mode (the subscriber), every reply goes to ``on_push``.

    A connection is *up* once Redis answered on it (its login's first reply), not when TCP
    connected: a frozen Redis accepts connections it never answers. Until then, and while the
    transport is paused (``pause_writing``), commands wait in ``queue`` (bounded in count and
    bytes, the oldest dropped first).
    """

    def __init__(
        self,
        link: StreamsLink,
        role: str,
        on_push: Callable[[Any], None] | None = None,
        on_connect: Callable[[_Conn], None] | None = None,
        *,
        reply_deadline: bool = False,
    ) -> None:
        self.link = link
        self.role = role
        self.on_push = on_push
        self.on_connect = on_connect
        self.reply_deadline = reply_deadline  # drop the connection when replies stop coming
        self.proto: _RespProtocol | None = None
        self.up = False  # Redis answered on this connection (and it is not lost yet)
        self.healthy = True  # False from a failure until the connection is up again
        self.pending: deque[ReplyCallback | None] = deque()
        # (command, callback, keep): ``keep`` False for call()'s commands, dropped when they fail.
        self.queue: deque[tuple[bytes, ReplyCallback | None, bool]] = deque()
        self.queue_bytes = 0
        self.ready = asyncio.Event()
        self.replies = 0
        self._task: asyncio.Task[None] | None = None
        self._out: list[bytes] = []  # commands written at the end of this loop turn, in one write
        self._flush_handle: asyncio.Handle | None = None
        self._came_up: asyncio.Future[None] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._replies_seen = 0
        self._quiet_checks = 0

    @property
    def connected(self) -> bool:
        """Whether commands are written to Redis now (not queued)."""
        proto = self.proto
        return self.up and proto is not None and not proto.paused

    def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run(), self)

    # -- commands ------------------------------------------------------------------------

    def send(self, command: bytes, callback: ReplyCallback | None = None, keep: bool = True) -> None:
        """Write ``command`` (RESP), or queue it while disconnected; ``callback`` gets its reply.

        While this connection is down its callback is answered at once with ConnectionError and
        the command stays queued (written once it is back), unless ``keep`` is False: then it is
        dropped (what :meth:`call` sends must not run after the caller gave up).
        """
        proto = self.proto
        if self.up and proto is not None and not proto.paused:
            self._out.append(command)
            if self._flush_handle is None:  # one write per loop turn, not one per command
                self._flush_handle = asyncio.get_running_loop().call_soon(self._write_out)
            if self.on_push is None:
                self.pending.append(callback)
                if self._watch is None and self.reply_deadline:
                    self._arm_watch()
            return
        if self.link.closed:
            if callback is not None:
                _answer(callback, ConnectionError("the Redis link is closed"))
            return
        if callback is not None and not self.healthy:
            _answer(callback, ConnectionError("Redis is unreachable"))
            if not keep:
                return
            callback = None
        self._enqueue(command, callback, keep)

    def _enqueue(self, command: bytes, callback: ReplyCallback | None, keep: bool) -> None:
        queue = self.queue
        queue.append((command, callback, keep))
        self.queue_bytes += len(command)
        while len(queue) > QUEUE_LIMIT or (self.queue_bytes > QUEUE_BYTES and len(queue) > 1):
            dropped, dropped_callback, _ = queue.popleft()
            self.queue_bytes -= len(dropped)
            if dropped_callback is not None:
                _answer(dropped_callback, ConnectionError("dropped: too many commands waiting for Redis"))

    def send_many(self, commands: Iterable[bytes]) -> None:
        """Write several commands whose replies nobody waits for, in one write."""
        commands = list(commands)
        if not commands:
            return
        proto = self.proto
        if self.up and proto is not None and not proto.paused:
            self._out.extend(commands)
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._write_out)
            if self.on_push is None:
                self.pending.extend([None] * len(commands))
                if self._watch is None and self.reply_deadline:
                    self._arm_watch()
            return
        for command in commands:
            self.send(command)

    def _write_out(self) -> None:
        self._flush_handle = None
        out, self._out = self._out, []
        proto = self.proto
        if out and proto is not None and proto.transport is not None:
            proto.transport.write(b"".join(out))

    def _write_queue(self) -> None:
        """Write what waited in the queue (the connection is up and writable)."""
        queue, self.queue = self.queue, deque()
        self.queue_bytes = 0
        proto = self.proto
        if not queue or proto is None or proto.transport is None:
            self.queue.extend(queue)
            return
        if self._flush_handle is not None:  # what was written before goes first
            self._flush_handle.cancel()
            self._write_out()
        if self.on_push is None:
            self.pending.extend(callback for _, callback, _ in queue)
            if self._watch is None and self.reply_deadline:
                self._arm_watch()
        proto.transport.write(b"".join(command for command, _, _ in queue))

    def _on_writable(self) -> None:
        if self.up and self.queue:
            self._write_queue()

    async def call(self, *parts: str | bytes | int) -> Any:
        """Run one command and return its reply (raises its error reply, or ConnectionError)."""
        replies = await self.call_many([parts])
        reply = replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def call_many(self, commands: list[tuple[str | bytes | int, ...]]) -> list[Any]:
        """Run several commands in one write; their replies (error replies as exceptions, not raised).

        A command still queued when this fails (or is cancelled) is removed from the queue.
        """
        if self.link.closed:
            raise ConnectionError("the Redis link is closed")
        if not self.up and not self.healthy:
            raise ConnectionError("Redis is unreachable")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        callbacks: list[ReplyCallback] = []
        for parts in commands:
            future = loop.create_future()
            futures.append(future)
            callbacks.append(_settle(future))
            self.send(resp_command(*(_arg(p) for p in parts)), callbacks[-1], keep=False)
        try:
            replies = []
            for future in futures:
                reply = await future
                if isinstance(reply, ConnectionError):
                    raise reply
                replies.append(reply)
            return replies
        finally:
            if not all(future.done() for future in futures):
                self._unqueue(set(map(id, callbacks)))

    def _unqueue(self, callbacks: set[int]) -> None:
        """Remove the queued commands whose callbacks are ``callbacks`` (their ids)."""
        if not any(id(callback) in callbacks for _, callback, _ in self.queue):
            return
        kept = deque(entry for entry in self.queue if id(entry[1]) not in callbacks)
        self.queue = kept
        self.queue_bytes = sum(len(command) for command, _, _ in kept)

    def fail_queued(self) -> None:
        """Answer the callbacks of queued commands with ConnectionError; the commands of
        :meth:`call` go, the others stay queued (written once Redis is back)."""
        if not self.queue:
            return
        queue, self.queue = self.queue, deque()
        self.queue_bytes = 0
        failed: list[ReplyCallback] = []
        for command, callback, keep in queue:
            if callback is not None:
                failed.append(callback)
            if keep:
                self.queue.append((command, None, True))
                self.queue_bytes += len(command)
        for callback in failed:
            _answer(callback, ConnectionError("Redis is unreachable"))

    # -- the reply deadline --------------------------------------------------------------

    def _arm_watch(self) -> None:
        self._replies_seen = self.replies
        self._quiet_checks = 0
        self._watch = asyncio.get_running_loop().call_later(REPLY_TIMEOUT / 5, self._check_replies)

    def _check_replies(self) -> None:
        """Replies are owed: if none came for REPLY_TIMEOUT, Redis stopped answering (frozen,
        or a half-open connection): drop the connection, its callbacks fail, it is made again."""
        self._watch = None
        if self.proto is None or not self.pending:
            return  # nothing owed: the next command arms the check again
        if self.replies != self._replies_seen:
            self._replies_seen = self.replies
            self._quiet_checks = 0
        else:
            self._quiet_checks += 1
            if self._quiet_checks >= 5:
                log.warning(
                    "Redis did not answer the streams adapter (%s) for %.1f s: reconnecting",
                    self.role,
                    REPLY_TIMEOUT,
                )
                self.drop()
                return
        self._watch = asyncio.get_running_loop().call_later(REPLY_TIMEOUT / 5, self._check_replies)

    # -- the connection ------------------------------------------------------------------

    def _on_reply(self, reply: Any) -> None:
        self.replies += 1
        if not self.up:
            self._mark_up()
        if self.on_push is not None:
            self.on_push(reply)
            return
        callback = self.pending.popleft() if self.pending else None
        if callback is not None:
            _answer(callback, reply)
        elif isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused a command of the streams adapter (%s): %s", self.role, reply)

    def _mark_up(self) -> None:
        """Redis answered on this connection: write what was queued, tell the link."""
        self.up = True
        proto = self.proto
        if proto is not None and not proto.paused:
            self._write_queue()
        if self.on_connect is not None:
            try:
                self.on_connect(self)
            except Exception:
                log.exception("error handling a Redis (re)connection")
        self.ready.set()
        came_up = self._came_up
        if came_up is not None and not came_up.done():
            came_up.set_result(None)
        self.link.up(self)

    def _lost(self) -> None:
        self.proto = None
        self.up = False
        self.ready.clear()
        self._out = []  # their callbacks are in pending: answered below
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        pending, self.pending = self.pending, deque()
        for callback in pending:
            if callback is not None:
                _answer(callback, ConnectionError("the connection to Redis was lost"))

    async def _run(self) -> None:
        link = self.link
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        try:
            while not link.closed:
                try:
                    proto, preamble = await link.open(self._on_reply, self.role, self._on_writable)
                except (OSError, TimeoutError) as exc:
                    link.down(self, exc)
                else:
                    if link.closed:  # Python 3.11's wait_for can swallow the cancel of close()
                        if proto.transport is not None:
                            proto.transport.close()
                        return
                    self.proto = proto
                    came_up = self._came_up = loop.create_future()
                    if self.on_push is None:
                        # What the login wrote (AUTH, SELECT, CLIENT SETNAME) answers first.
                        self.pending.extend([None] * preamble)
                    await asyncio.wait((came_up, proto.lost), timeout=CONNECT_TIMEOUT)
                    if came_up.done():
                        backoff = BACKOFF_FIRST
                        await proto.lost
                        failure: BaseException | None = None
                    else:  # connected, never answered: a frozen Redis
                        self.drop()
                        await proto.lost
                        failure = TimeoutError("Redis accepted the connection but did not answer")
                    self._lost()
                    if link.closed:
                        return
                    link.down(self, failure)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self._lost()

    def drop(self) -> None:
        """Close the connection (it is made again): a reply that never comes, say."""
        proto = self.proto
        if proto is not None and proto.transport is not None:
            proto.transport.abort()

    async def close(self) -> None:
        """Write what is buffered, stop supervising, close the connection; what is still
        queued is dropped (its callbacks get ConnectionError)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._write_out()
        proto = self.proto  # the task's end forgets it (_lost): close it after
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if proto is not None and proto.transport is not None:
            proto.transport.close()
        queue, self.queue = self.queue, deque()
        self.queue_bytes = 0
        for _, callback, _ in queue:
            if callback is not None:
                _answer(callback, ConnectionError("the Redis link is closed"))


def _arg(part: str | bytes | int) -> str | bytes:
    return str(part) if isinstance(part, int) else part


def _settle(future: asyncio.Future[Any]) -> ReplyCallback:
    def settle(reply: Any) -> None:
        if not future.done():
            future.set_result(reply)

    return settle


def _answer(callback: ReplyCallback, reply: Any) -> None:
    try:
        callback(reply)
    except Exception:  # a callback's bug must not break the connection's bookkeeping
        log.exception("error handling a Redis reply")


class StreamsLink:
    """The command, subscriber and reader connections of one factory, and its namespaces' adapters."""

    def __init__(self, client: Any, *, sharded: bool = False) -> None:
        self.target = Target.of(client)
        self.sharded = sharded
        self.closed = False
        self.users = 0
        self.adapters: dict[str, Any] = {}  # namespace name -> its adapter (what the readers feed)
        self.channels: dict[str, PushHandler] = {}
        self.commands = _Conn(self, "commands", reply_deadline=True)
        self.subscriber = _Conn(self, "subscriber", self._on_push, self._resubscribe)
        self.readers: dict[str, asyncio.Task[None]] = {}
        self._reader_conns: dict[str, _Conn] = {}
        self._started = False
        self._outage = False  # an outage was logged, and not yet its end
        self.on_commands_up: list[Callable[[], None]] = []  # called when the command connection is up

    @property
    def healthy(self) -> bool:
        """Whether every connection is up or never failed (False during an outage)."""
        return all(conn.healthy for conn in self._conns())

    def _conns(self) -> list[_Conn]:
        return [self.commands, self.subscriber, *self._reader_conns.values()]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the command and subscriber connections (idempotent; needs the running loop)."""
        if self._started or self.closed:
            return
        self._started = True
        self.commands.start()
        self.subscriber.start()

    def read(self, stream: str, on_entries: Callable[[str, list[Any]], None], options: Any) -> None:
        """Read ``stream`` (once) with ``XREAD BLOCK``; entries go to ``on_entries(stream, entries)``."""
        if stream in self.readers or self.closed:
            return
        conn = self._reader_conns[stream] = _Conn(self, f"reader {stream}")
        conn.start()
        self.readers[stream] = spawn(self._read(conn, stream, on_entries, options), self)

    async def close(self) -> None:
        """Wait (a little) until Redis has what was written, then close every connection."""
        if self.closed:
            return
        if self.commands.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.commands.call("PING"), DRAIN_TIMEOUT)
        self.closed = True
        for task in self.readers.values():
            task.cancel()
        for task in self.readers.values():
            with contextlib.suppress(BaseException):
                await task
        for conn in self._conns():
            await conn.close()

    async def drain(self) -> None:
        """Wait until Redis answered every command written so far (a PING behind them)."""
        await self.commands.call("PING")

    # -- outages -------------------------------------------------------------------------

    def down(self, conn: _Conn, exc: BaseException | None) -> None:
        """``conn`` failed: log the outage (once) and answer its queued commands' callbacks."""
        conn.healthy = False
        if not self._outage and not self.closed:
            self._outage = True
            log.error(
                "Redis unreachable (%s, %s): serving local clients only until it is back; "
                "stream writes are queued, pub/sub requests fail",
                conn.role,
                exc or "connection closed",
            )
        conn.fail_queued()

    def up(self, conn: _Conn) -> None:
        """Redis answered on ``conn``: log that Redis is back once every connection is."""
        conn.healthy = True
        if self._outage and self.healthy:
            self._outage = False
            log.warning("Redis is reachable again: the cluster is whole")
        if conn is self.commands:
            for callback in list(self.on_commands_up):
                try:
                    callback()
                except Exception:
                    log.exception("error handling the Redis command connection coming back")

    async def open(
        self, on_reply: Callable[[Any], None], role: str, on_writable: Callable[[], None]
    ) -> tuple[_RespProtocol, int]:
        """A new logged-in connection and how many commands the login wrote (AUTH, SELECT, CLIENT
        SETNAME: their replies come first)."""
        target = self.target
        loop = asyncio.get_running_loop()

        def factory() -> _RespProtocol:
            return _RespProtocol(on_reply, on_writable)

        if target.path is not None:
            connecting = loop.create_unix_connection(factory, target.path)
        else:
            context = ssl.create_default_context() if target.tls else None
            connecting = loop.create_connection(factory, target.host or "127.0.0.1", target.port, ssl=context)
        transport, proto = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        if target.path is None:  # a peer that vanished without a FIN is noticed, in the end
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError, TypeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        preamble = []
        if target.password is not None:
            auth = (
                ("AUTH", target.username, target.password) if target.username else ("AUTH", target.password)
            )
            preamble.append(resp_command(*auth))
        if target.db:
            preamble.append(resp_command("SELECT", str(target.db)))
        preamble.append(resp_command("CLIENT", "SETNAME", f"sio-streams-{role.split()[0]}"))
        assert proto.transport is not None
        proto.transport.write(b"".join(preamble))
        return proto, len(preamble)

    # -- pub/sub -------------------------------------------------------------------------

    def publish(self, channel: str, message: bytes) -> None:
        """PUBLISH (SPUBLISH when sharded) on the command connection, in order with the stream writes."""
        self.commands.send(resp_command(b"SPUBLISH" if self.sharded else b"PUBLISH", channel, message))

    def subscribe(self, channels: list[str], handler: PushHandler) -> None:
        """Call ``handler(channel, message)`` for messages on ``channels``."""
        new = [channel for channel in channels if channel not in self.channels]
        for channel in channels:
            self.channels[channel] = handler
        if new and self.subscriber.up:
            self._write_subscribe(new)

    def unsubscribe(self, channels: list[str], handler: PushHandler) -> None:
        """Stop receiving those of ``channels`` that ``handler`` receives (a channel taken over
        since by another handler, a re-created namespace's adapter, stays)."""
        gone = [channel for channel in channels if self.channels.get(channel) == handler]
        for channel in gone:
            del self.channels[channel]
        if gone and self.subscriber.up:
            verb = b"SUNSUBSCRIBE" if self.sharded else b"UNSUBSCRIBE"
            self.subscriber.send(b"".join(resp_command(verb, channel) for channel in gone))

    def _write_subscribe(self, channels: list[str]) -> None:
        if self.sharded:  # one per channel: a Redis Cluster refuses several slots at once
            self.subscriber.send(b"".join(resp_command(b"SSUBSCRIBE", channel) for channel in channels))
        else:
            self.subscriber.send(resp_command(b"SUBSCRIBE", *channels))

    def _resubscribe(self, conn: _Conn) -> None:
        if self.channels:
            self._write_subscribe(list(self.channels))

    def _on_push(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused a command of the streams adapter (subscriber): %s", reply)
            return
        if not isinstance(reply, list) or len(reply) != 3 or reply[0] not in (b"message", b"smessage"):
            return  # subscription confirmations, the login's +OK
        channel, data = reply[1], reply[2]
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        handler = self.channels.get(channel.decode(errors="replace"))
        if handler is None:
            return
        try:
            handler(channel, data)
        except Exception:  # a handler's bug must not end the subscription
            log.exception("error handling a Redis message on %r", channel)

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel`` (``SHARDNUMSUB`` when sharded): how many connections listen."""
        reply = await self.commands.call("PUBSUB", "SHARDNUMSUB" if self.sharded else "NUMSUB", channel)
        return int(reply[1]) if isinstance(reply, list) and len(reply) > 1 else 0

    # -- reading a stream ----------------------------------------------------------------

    async def _read(
        self, conn: _Conn, stream: str, on_entries: Callable[[str, list[Any]], None], options: Any
    ) -> None:
        """XREAD from the last id seen, forever; the first position is the stream's last entry."""
        block_ms = max(1, int(options.block_time * 1000))
        wait = options.block_time + CONNECT_TIMEOUT  # no answer by then: a dead connection
        last: str | None = None
        backoff = BACKOFF_FIRST
        while not self.closed:
            try:
                await conn.ready.wait()
                if last is None:
                    # Not "$" (Node's): an entry added between two reads would be missed.
                    newest = await asyncio.wait_for(
                        conn.call("XREVRANGE", stream, "+", "-", "COUNT", "1"), wait
                    )
                    last = _entry_id(newest[0]) if newest else "0-0"
                reply = await asyncio.wait_for(
                    conn.call(
                        "XREAD", "BLOCK", block_ms, "COUNT", options.read_count, "STREAMS", stream, last
                    ),
                    wait,
                )
            except TimeoutError:
                conn.drop()
                continue
            except ConnectionError:
                continue  # the connection supervises itself; wait until it is back
            except (hiredis.ReplyError, ValueError, TypeError, IndexError) as exc:
                log.warning("could not read the stream %s: %r", stream, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            if not reply:
                continue  # BLOCK timed out: nothing new
            try:
                entries = reply[0][1]
            except (IndexError, TypeError):
                continue
            if not isinstance(entries, list) or not entries:
                continue
            for entry in reversed(entries):
                with contextlib.suppress(ValueError):
                    last = _entry_id(entry)
                    break
            try:
                on_entries(stream, entries)
            except Exception:  # never: the adapters catch what they cannot handle
                log.exception("error handling entries of the stream %s", stream)


def _entry_id(entry: Any) -> str:
    """The id of a stream entry ``[id, [field, value, ...]]`` (ValueError when it is not one)."""
    if not isinstance(entry, list) or not entry or not isinstance(entry[0], bytes):
        raise ValueError("not a stream entry")
    return entry[0].decode("ascii")
