"""The Redis side of the streams adapter: supervised RESP connections, replies matched in order.

One :class:`StreamsLink` per factory, shared by its namespaces (Node shares its client the same
way):

- a *command* connection: XADD, PUBLISH, SET, DEL, XRANGE, PUBSUB ... pipelined on one socket, so
  Redis takes this node's writes in the order they were made, and each reply reaches the
  callback of its command (RESP answers in order);
- a *subscriber* connection: the namespaces' public and private channels;
- one *reader* connection per stream, each looping on ``XREAD BLOCK``: a blocked read must not
  hold up the others (Node: "one Redis client per stream so they don't block each other").

Every connection is kept up by itself (backoff 0.1 s doubling to 5 s). One log line per
outage (``Redis unreachable``), one when it is back. While Redis is away, commands are queued
(bounded, as node-redis's offline queue: the streams are the at-least-once part of the protocol)
and written in order once it is back; their callbacks are answered at once with a
:class:`ConnectionError` (nothing waits on an absent Redis), and :meth:`StreamsLink.call` fails
at once. Replies are parsed by hiredis; nothing goes through redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
QUEUE_LIMIT = 100_000  # commands kept while Redis is away (the oldest go first past it)
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
    """

    def __init__(
        self,
        link: StreamsLink,
        role: str,
        on_push: Callable[[Any], None] | None = None,
        on_connect: Callable[[_Conn], None] | None = None,
    ) -> None:
        self.link = link
        self.role = role
        self.on_push = on_push
        self.on_connect = on_connect
        self.proto: _RespProtocol | None = None
        self.pending: deque[ReplyCallback | None] = deque()
        self.queue: deque[tuple[bytes, ReplyCallback | None]] = deque()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._out: list[bytes] = []  # commands written at the end of this loop turn, in one write
        self._flush_handle: asyncio.Handle | None = None

    @property
    def connected(self) -> bool:
        """Whether commands are written to Redis now (not queued)."""
        proto = self.proto
        return proto is not None and proto.transport is not None

    def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run(), self)

    # -- commands ------------------------------------------------------------------------

    def send(self, command: bytes, callback: ReplyCallback | None = None) -> None:
        """Write ``command`` (RESP), or queue it while disconnected; ``callback`` gets its reply."""
        proto = self.proto
        if proto is not None and proto.transport is not None:
            self._out.append(command)
            if self._flush_handle is None:  # one write per loop turn, not one per command
                self._flush_handle = asyncio.get_running_loop().call_soon(self._write_out)
            if self.on_push is None:
                self.pending.append(callback)
            return
        if callback is not None and not self.link.healthy:
            _answer(callback, ConnectionError("Redis is unreachable"))
            callback = None
        queue = self.queue
        queue.append((command, callback))
        while len(queue) > QUEUE_LIMIT:
            _, dropped = queue.popleft()
            if dropped is not None:
                _answer(dropped, ConnectionError("dropped: too many commands while Redis is unreachable"))

    def send_many(self, commands: Iterable[bytes]) -> None:
        """Write several commands whose replies nobody waits for, in one write."""
        commands = list(commands)
        if not commands:
            return
        proto = self.proto
        if proto is not None and proto.transport is not None:
            self._out.extend(commands)
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._write_out)
            if self.on_push is None:
                self.pending.extend([None] * len(commands))
            return
        for command in commands:
            self.send(command)

    def _write_out(self) -> None:
        self._flush_handle = None
        out, self._out = self._out, []
        proto = self.proto
        if out and proto is not None and proto.transport is not None:
            proto.transport.write(b"".join(out))

    async def call(self, *parts: str | bytes | int) -> Any:
        """Run one command and return its reply (raises its error reply, or ConnectionError)."""
        replies = await self.call_many([parts])
        reply = replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def call_many(self, commands: list[tuple[str | bytes | int, ...]]) -> list[Any]:
        """Run several commands in one write; their replies (error replies as exceptions, not raised)."""
        if not self.connected and not self.link.healthy:
            raise ConnectionError("Redis is unreachable")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for parts in commands:
            future = loop.create_future()
            futures.append(future)
            self.send(resp_command(*(_arg(p) for p in parts)), _settle(future))
        replies = []
        for future in futures:
            reply = await future
            if isinstance(reply, ConnectionError):
                raise reply
            replies.append(reply)
        return replies

    def fail_queued(self) -> None:
        """Answer the callbacks of queued commands with ConnectionError (the commands stay queued)."""
        queue = self.queue
        for index, (command, callback) in enumerate(queue):
            if callback is not None:
                queue[index] = (command, None)
                _answer(callback, ConnectionError("Redis is unreachable"))

    # -- the connection ------------------------------------------------------------------

    def _on_reply(self, reply: Any) -> None:
        if self.on_push is not None:
            self.on_push(reply)
            return
        callback = self.pending.popleft() if self.pending else None
        if callback is not None:
            _answer(callback, reply)
        elif isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused a command of the streams adapter (%s): %s", self.role, reply)

    def _lost(self) -> None:
        self.proto = None
        self.ready.clear()
        self._out = []  # their callbacks are in pending: answered below
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self.pending = self.pending, deque()
        for callback in pending:
            if callback is not None:
                _answer(callback, ConnectionError("the connection to Redis was lost"))

    async def _run(self) -> None:
        link = self.link
        backoff = BACKOFF_FIRST
        try:
            while not link.closed:
                try:
                    proto, preamble = await link.open(self._on_reply, self.role)
                except (OSError, TimeoutError) as exc:
                    link.down(exc)
                else:
                    backoff = BACKOFF_FIRST
                    self.proto = proto
                    queue, self.queue = self.queue, deque()
                    if self.on_push is None:
                        # What the login wrote (AUTH, SELECT, CLIENT SETNAME) answers first.
                        self.pending.extend([None] * preamble)
                        self.pending.extend(callback for _, callback in queue)
                    if queue and proto.transport is not None:
                        proto.transport.write(b"".join(command for command, _ in queue))
                    if self.on_connect is not None:
                        self.on_connect(self)
                    link.up()
                    self.ready.set()
                    await proto.lost
                    self._lost()
                    if link.closed:
                        return
                    link.down(None)
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
        """Write what is buffered, stop supervising, close the connection."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._write_out()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        proto = self.proto
        if proto is not None and proto.transport is not None:
            proto.transport.close()


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
        self.healthy = True
        self.users = 0
        self.adapters: dict[str, Any] = {}  # namespace name -> its adapter (what the readers feed)
        self.channels: dict[str, PushHandler] = {}
        self.commands = _Conn(self, "commands")
        self.subscriber = _Conn(self, "subscriber", self._on_push, self._resubscribe)
        self.readers: dict[str, asyncio.Task[None]] = {}
        self._reader_conns: dict[str, _Conn] = {}
        self._started = False

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
        for conn in (self.commands, self.subscriber, *self._reader_conns.values()):
            await conn.close()

    async def drain(self) -> None:
        """Wait until Redis answered every command written so far (a PING behind them)."""
        await self.commands.call("PING")

    # -- outages -------------------------------------------------------------------------

    def down(self, exc: BaseException | None) -> None:
        """A connection failed: log the outage (once) and answer the queued commands' callbacks."""
        if self.healthy:
            self.healthy = False
            log.error(
                "Redis unreachable (%s): serving local clients only until it is back; "
                "stream writes are queued, pub/sub requests fail",
                exc or "connection closed",
            )
        self.commands.fail_queued()

    def up(self) -> None:
        """A connection is made: log that Redis is back (once per outage)."""
        if not self.healthy:
            self.healthy = True
            log.warning("Redis is reachable again: the cluster is whole")

    async def open(self, on_reply: Callable[[Any], None], role: str) -> tuple[_RespProtocol, int]:
        """A new logged-in connection and how many commands the login wrote (AUTH, SELECT, CLIENT
        SETNAME: their replies come first)."""
        target = self.target
        loop = asyncio.get_running_loop()

        def factory() -> _RespProtocol:
            return _RespProtocol(on_reply, lambda: None)

        if target.path is not None:
            connecting = loop.create_unix_connection(factory, target.path)
        else:
            context = ssl.create_default_context() if target.tls else None
            connecting = loop.create_connection(factory, target.host or "127.0.0.1", target.port, ssl=context)
        _, proto = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
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
        if new and self.subscriber.connected:
            self._write_subscribe(new)

    def unsubscribe(self, channels: list[str]) -> None:
        """Stop receiving ``channels``."""
        for channel in channels:
            self.channels.pop(channel, None)
        if channels and self.subscriber.connected:
            verb = b"SUNSUBSCRIBE" if self.sharded else b"UNSUBSCRIBE"
            self.subscriber.send(b"".join(resp_command(verb, channel) for channel in channels))

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
