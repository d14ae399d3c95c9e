"""Node's ``@socket.io/redis-streams-adapter`` 0.3.1, on the wire byte for byte, and its sessions.

The cluster protocol of :mod:`sio.adapters.cluster` (Node's ``ClusterAdapter``: no heartbeat,
``server_count()`` is ``PUBSUB NUMSUB`` of the namespace's public channel):

- messages that must not be lost (broadcasts without acks, sockets join / leave / disconnect) are
  stream entries: ``XADD <stream> MAXLEN ~ <max_len> * uid <uid> nsp <nsp> type <n> [data <d>]``,
  ``d`` the JSON text of the message's data, or base64 of its msgpack when it holds binary; one
  stream per namespace group (``stream_name``, or ``<stream_name>-<hashCode(nsp) % stream_count>``);
- ephemeral messages (broadcasts with acks, server-side emits, fetch sockets) are msgpack on pub/sub
  ``<channel_prefix>#<nsp>#``; responses go to ``<channel_prefix>#<nsp>#<requester uid>#``.

Every node reads every stream with ``XREAD BLOCK`` from the last entry it saw (the first position
is the stream's newest entry: Node's ``$`` can miss an entry added between two reads), and
resumes there after an outage, so nothing still in the stream is lost.

Connection state recovery (``sio.Server(connection_state_recovery=...)``), as Node's: offsets are
entry ids (a local broadcast is delivered once its XADD answered, with the id appended, in the
order of the broadcasts; without an answer, at once and without one); a disconnected socket's
session is ``SET <session_key_prefix><pid> <base64 msgpack> PX <max_disconnection_duration>``
(with the namespace, which Node ignores: a session is restored only in its own namespace); a
restore reads it (MULTI GET DEL) and the entries after the client's offset (``XRANGE``), within
the server's ``max_buffered_packets`` / ``max_buffered_bytes`` and ``RESTORE_TIMEOUT``.

Beyond Node (``live_sessions``, on by default): the session of every *connected* socket is also
kept under ``<session_key_prefix>live:<pid>`` as ``<uid of its node> <base64 msgpack>``, written
when it connects and when its rooms change, refreshed every ``max_disconnection_duration / 2``
(PX 1.5 times the duration), deleted when it disconnects (its normal session is written instead,
both only if the live key is still this node's). Each node also keeps
``<session_key_prefix>node:<uid>`` (PX ``NODE_TTL``, rewritten every ``NODE_HEARTBEAT``). A
restore that finds no normal session takes the live one of its namespace if its node is dead:
nobody subscribes that node's private channel (a killed process's connections close at once)
and its node key expired (a subscriber reconnecting is not a death) — so a node killed without
a clean disconnect (SIGKILL, OOM) does not take its clients' sessions with it
(socketio/socket.io-redis-streams-adapter#27, socketio/socket.io#5413). The claimed key holds
``claimed <uid>`` until the new node writes it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis

from sio._sio_core import SIO_EVENT
from sio.adapters.base import BroadcastOptions
from sio.adapters.cluster import (
    REQUEST_TIMEOUT,
    ClusterAdapter,
    ClusterMessage,
    MalformedMessage,
    MessageType,
    decode_options,
    decode_packet,
    encode_options,
    encode_packet,
)
from sio.adapters.redis.codec import decode_msgpack, encode_msgpack
from sio.adapters.redis.connection import resp_command
from sio.adapters.redis.sharded import has_binary
from sio.adapters.redis.streams_link import StreamsLink
from sio.errors import AckTimeoutError, EncodeError
from sio.parser import Packet
from sio.recovery import Session, should_include

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.socket import Socket

__all__ = [
    "RedisStreamsAdapter",
    "StreamsOptions",
    "decode_entry",
    "encode_entry",
    "hash_code",
    "redis_streams_adapter",
    "stream_for",
]

log = logging.getLogger("sio.redis")

RESTORE_SESSION_MAX_XRANGE_CALLS = 100  # Node's bound on the pages a restore reads
RESTORE_PAGE = 1_000  # entries per XRANGE page (Node reads to the end in each call)
LIVE_FLUSH_CHUNK = 1_000  # live sessions written per loop turn (a refresh of 100k sockets is spread)
OFFSET = re.compile(r"[0-9]+-[0-9]+")
PID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Node's and sio's pids are 20 base64url characters
TYPE = re.compile(r"[0-9]{1,4}")  # ASCII digits only: "²".isdigit() is True, int("²") raises
NODE_HEARTBEAT = 1.0  # seconds between two writes of a node's key (live sessions) ...
NODE_TTL = 3 * NODE_HEARTBEAT  # ... which outlives three missed writes
# A restore that takes longer gives a fresh session. It includes waiting for a dead-looking
# node's key to expire (at most NODE_TTL): a client of a killed node is back within a second or
# two, before its node's key is gone, and must be recovered all the same.
RESTORE_TIMEOUT = NODE_TTL + REQUEST_TIMEOUT
CLAIMED = b"claimed"  # what a claimed live session's key holds until its new node writes it

# A disconnecting socket's session replaces its live session only if the live key is still
# this node's (or gone): a session claimed by another node is not brought back.
_PERSIST_IF_OURS = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
if v then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
_DELETE_IF_OURS = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_MAY_CARRY_BINARY = frozenset(
    (
        MessageType.BROADCAST,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_ACK,
    )
)


@dataclass(frozen=True)
class StreamsOptions:
    """The options of :func:`redis_streams_adapter` (Node's names in snake case; seconds, not ms)."""

    stream_name: str = "socket.io"
    stream_count: int = 1
    channel_prefix: str = "socket.io"
    use_sharded_pub_sub: bool = False
    max_len: int = 10_000
    read_count: int = 100
    block_time: float = 5.0
    session_key_prefix: str = "sio:session:"
    only_plaintext: bool = False
    live_sessions: bool = True


def hash_code(name: str) -> int:
    """Node's ``hashCode``: Java's string hash over UTF-16 code units, as a signed 32-bit integer."""
    units = name.encode("utf-16-le", "surrogatepass")
    value = 0
    for index in range(0, len(units), 2):
        value = (value * 31 + (units[index] | units[index + 1] << 8)) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def stream_for(nsp: str, stream_name: str = "socket.io", stream_count: int = 1) -> str:
    """The stream of namespace ``nsp`` (Node's ``computeStreamName``: JavaScript's ``%`` keeps the
    sign, so a namespace whose hash is negative goes to ``<name>--<k>``, as in Node)."""
    if stream_count == 1:
        return stream_name
    return f"{stream_name}-{int(math.fmod(hash_code(nsp), stream_count))}"


def _is_ephemeral(message: ClusterMessage) -> bool:
    """Node's ``isEphemeral``: what goes on pub/sub rather than in the stream."""
    kind = message.get("type")
    if kind == MessageType.BROADCAST:
        return "requestId" in message.get("data", {})
    return kind in (MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS)


def _encode_data(kind: int, data: Any, only_plaintext: bool) -> bytes:
    """A message's ``data`` field: JSON text, or base64 of msgpack when it holds binary (Node's rule)."""
    try:  # orjson refuses bytes: the JSON path is tried first, hasBinary only when it fails
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        if only_plaintext or kind not in _MAY_CARRY_BINARY or not has_binary(data):
            raise EncodeError(f"cannot be sent to the cluster: {exc}") from exc
    try:
        return base64.b64encode(encode_msgpack(data))
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot be sent to the cluster: {exc}") from exc


def encode_entry(message: ClusterMessage, only_plaintext: bool = False) -> list[str]:
    """The fields of a stream entry, as Node's ``encode``: ``uid nsp type [data]``."""
    kind = int(message["type"])
    fields = ["uid", message["uid"], "nsp", message["nsp"], "type", str(kind)]
    data = message.get("data")
    if data is not None:  # JavaScript's ``if (message.data)``: an object is truthy, even empty
        fields += ["data", _encode_data(kind, data, only_plaintext).decode()]
    return fields


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def decode_entry(fields: dict[str, str]) -> ClusterMessage:
    """A cluster message from the fields of a stream entry (MalformedMessage for garbage)."""
    kind = fields.get("type")
    if kind is None or not TYPE.fullmatch(kind):
        raise MalformedMessage(f"bad type {kind!r}")
    message: ClusterMessage = {"uid": fields.get("uid"), "nsp": fields.get("nsp"), "type": int(kind)}
    data = fields.get("data")
    if data:
        try:
            if data.startswith("{"):
                message["data"] = orjson.loads(data)
            else:
                message["data"] = decode_msgpack(base64.b64decode(data, validate=True))
        except (orjson.JSONDecodeError, binascii.Error, ValueError) as exc:
            raise MalformedMessage(f"undecodable data: {exc}") from None
    return message


def _entry_fields(entry: Any) -> tuple[str, dict[str, str]]:
    """(id, fields) of a raw entry ``[id, [field, value, ...]]`` (MalformedMessage otherwise)."""
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], bytes):
        raise MalformedMessage("not a stream entry")
    raw = entry[1]
    if not isinstance(raw, list) or len(raw) % 2:
        raise MalformedMessage("an entry's fields are pairs")
    try:
        items = [item.decode() for item in raw]
    except (AttributeError, UnicodeDecodeError):
        raise MalformedMessage("an entry's fields are UTF-8 strings") from None
    return entry[0].decode("ascii"), dict(zip(items[::2], items[1::2], strict=True))


def _takes_offset(packet: Any, opts: Any) -> bool:
    """Node's ``addOffsetIfNecessary``, on the packet as it was sent: an EVENT (type 2, not
    normalised from 5), no ack id (even null), no ``volatile`` flag (even false)."""
    if not isinstance(packet, dict) or packet.get("type") != SIO_EVENT or "id" in packet:
        return False
    flags = opts.get("flags") if isinstance(opts, dict) else None
    return not (isinstance(flags, dict) and "volatile" in flags)


def _next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (Node's ``nextOffset``; exclusive ranges need Redis 6.2)."""
    timestamp, sequence = offset.split("-")
    return f"{timestamp}-{int(sequence) + 1}"


def _encode_session(wire: dict[str, Any]) -> bytes:
    return base64.b64encode(encode_msgpack(wire))


def _decode_session(raw: bytes) -> dict[str, Any]:
    try:
        value = decode_msgpack(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a session: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("a session is an object")
    return value


def redis_streams_adapter(
    client: str | aioredis.Redis = "redis://127.0.0.1:6379/0",
    *,
    stream_name: str = "socket.io",
    stream_count: int = 1,
    channel_prefix: str = "socket.io",
    use_sharded_pub_sub: bool = False,
    max_len: int = 10_000,
    read_count: int = 100,
    block_time: float = 5.0,
    session_key_prefix: str = "sio:session:",
    only_plaintext: bool = False,
    live_sessions: bool = True,
) -> Callable[[Namespace], RedisStreamsAdapter]:
    """A factory for ``sio.Server(adapter=...)``: Node's ``createAdapter(redisClient, opts)``.

    ``client``: a Redis URL (``redis://``, ``rediss://``, ``unix://``) or a ``redis.asyncio.Redis``
    (only its address is used). ``block_time`` is Node's ``blockTimeInMs`` in seconds.
    ``live_sessions`` (sio only): keep connected sockets' sessions in Redis too, so a node killed
    without a clean disconnect does not take them with it.
    """
    if stream_count < 1 or max_len < 1 or read_count < 1 or block_time <= 0:
        raise ValueError("stream_count, max_len and read_count are positive, block_time > 0")
    options = StreamsOptions(
        stream_name,
        stream_count,
        channel_prefix,
        use_sharded_pub_sub,
        max_len,
        read_count,
        block_time,
        session_key_prefix,
        only_plaintext,
        live_sessions,
    )
    link = StreamsLink(client, sharded=use_sharded_pub_sub)

    def factory(nsp: Namespace) -> RedisStreamsAdapter:
        return RedisStreamsAdapter(nsp, link, options)

    return factory


def _on_entries(link: StreamsLink, stream: str, entries: list[Any]) -> None:
    """Entries read from ``stream``: each with an ``nsp`` to that namespace's adapter."""
    adapters = link.adapters
    for entry in entries:
        try:  # whatever one entry does, the next ones of the batch are handled
            entry_id, fields = _entry_fields(entry)
            nsp = fields.get("nsp")
            if nsp:
                adapter = adapters.get(nsp)
                if adapter is not None:
                    adapter.on_entry(fields, entry_id)
        except Exception as exc:
            log.debug("dropped a malformed entry of the stream %s: %r", stream, exc)


class RedisStreamsAdapter(ClusterAdapter):
    """One namespace on the Redis streams adapter."""

    def __init__(self, nsp: Namespace, link: StreamsLink, options: StreamsOptions) -> None:
        super().__init__(nsp)
        self.link = link
        self.options = options
        self.stream = stream_for(nsp.name, options.stream_name, options.stream_count)
        self.public_channel = f"{options.channel_prefix}#{nsp.name}#"
        self.private_channel = f"{self.public_channel}{self.uid}#"
        self._subscribed = False
        self._xadd_prefix: bytes | None = None
        # Live sessions: the sockets whose key was written (sid -> pid), those to (re)write.
        self._live_on = self.recovery is not None and options.live_sessions
        self._live: dict[str, str] = {}
        self._dirty: dict[str, None] = {}  # ordered: a refresh writes the oldest first
        self._flush_handle: asyncio.Handle | None = None
        self._refresh_timer: Any = None
        self._heartbeat_timer: Any = None
        self._node_key = f"{options.session_key_prefix}node:{self.uid}"
        self._owner_prefix = f"{self.uid} ".encode()  # what this node's live session values start with
        if self.recovery is not None:
            duration = self.recovery.max_disconnection_duration
            self._session_ms = max(1, int(duration * 1000))
            self._refresh_every = duration / 2
            self._live_ms = max(1, int((duration + self._refresh_every) * 1000))

    # -- lifecycle -----------------------------------------------------------------------

    def init(self) -> None:
        """Subscribe the public and private channels, read the streams, start the link."""
        link = self.link
        if link.closed:
            raise RuntimeError(
                "this redis_streams_adapter() factory was closed with its server: "
                "make a new one for another server"
            )
        link.users += 1
        link.adapters[self.nsp.name] = self
        link.subscribe([self.public_channel, self.private_channel], self._on_pubsub)
        self._subscribed = True
        link.start()
        options = self.options

        def on_entries(stream: str, entries: list[Any]) -> None:
            _on_entries(link, stream, entries)

        # As Node, every stream of the factory is read; a namespace whose stream Node never reads
        # (a negative hash) has its own reader too, so sio nodes still hear each other there.
        if options.stream_count == 1:
            link.read(options.stream_name, on_entries, options)
        else:
            for index in range(options.stream_count):
                link.read(f"{options.stream_name}-{index}", on_entries, options)
        link.read(self.stream, on_entries, options)
        if self._live_on:
            wheel = self.nsp.server.wheel
            self._refresh_timer = wheel.timer(self._refresh)
            self._refresh_timer.arm(self._refresh_every)
            self._heartbeat_timer = wheel.timer(self._heartbeat)
            link.on_commands_up.append(self._on_commands_up)
            self._heartbeat()

    async def close(self) -> None:
        """Unsubscribe; the last adapter of the link closes it (after what it wrote reached Redis)."""
        if not self._subscribed:
            return
        self._subscribed = False
        link = self.link
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            with contextlib.suppress(ValueError):
                link.on_commands_up.remove(self._on_commands_up)
            link.commands.send(resp_command("DEL", self._node_key))
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        while self._dirty and link.commands.connected:
            self._flush()
        if link.adapters.get(self.nsp.name) is self:
            del link.adapters[self.nsp.name]
        link.unsubscribe([self.public_channel, self.private_channel], self._on_pubsub)
        link.users -= 1
        if link.users <= 0:
            await link.close()

    async def drain(self) -> None:
        """Wait until Redis has everything this adapter wrote so far (live sessions included)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        while self._dirty and self.link.commands.connected:
            self._flush()
        await self.link.drain()

    # -- moving messages -----------------------------------------------------------------

    def do_publish(self, message: ClusterMessage) -> None:
        """Ephemeral messages on the public channel, the others in the namespace's stream."""
        if _is_ephemeral(message):
            self.link.publish(self.public_channel, encode_msgpack(message))
        else:
            self._xadd(message, None)

    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        """msgpack on the requester's private channel."""
        self.link.publish(
            f"{self.options.channel_prefix}#{self.nsp.name}#{requester_uid}#", encode_msgpack(response)
        )

    def _xadd(self, message: ClusterMessage, on_id: Callable[[str | None], None] | None) -> None:
        """XADD ``message``; ``on_id`` gets its entry id once Redis answered (None if it could not)."""
        kind = int(message["type"])
        data = message.get("data")
        prefix = self._xadd_prefix
        if prefix is None:  # XADD <stream> MAXLEN ~ <n> * uid <uid> nsp <nsp> type: the same every time
            head = resp_command(
                "XADD", self.stream, "MAXLEN", "~", str(self.options.max_len), "*",
                "uid", self.uid, "nsp", self.nsp.name, "type",
            )  # fmt: skip
            prefix = self._xadd_prefix = head[head.index(b"\r\n") + 2 :]
        if data is None:
            command = b"*12\r\n" + prefix + _bulk(b"%d" % kind)
        else:
            body = _encode_data(kind, data, self.options.only_plaintext)  # raises for what cannot be encoded
            command = b"*14\r\n" + prefix + _bulk(b"%d" % kind) + b"$4\r\ndata\r\n" + _bulk(body)
        if on_id is None:
            self.link.commands.send(command)
            return

        def answered(reply: Any) -> None:
            if isinstance(reply, bytes):
                on_id(reply.decode("ascii"))
            else:
                log.debug("XADD to %s failed (%s): delivered here without an offset", self.stream, reply)
                on_id(None)

        self.link.commands.send(command, answered)

    def _on_pubsub(self, channel: bytes, payload: bytes) -> None:
        try:
            message = decode_msgpack(payload)
        except ValueError as exc:
            log.debug("dropped an undecodable message on %r: %s", channel, exc)
            return
        self.on_message(message)  # responses too: ClusterAdapter routes them (as Node's onMessage)

    def on_entry(self, fields: dict[str, str], entry_id: str) -> None:
        """An entry of this namespace read from the stream (garbage is logged and dropped)."""
        if fields.get("uid") == self.uid:
            return  # our own: not even decoded
        try:
            message = decode_entry(fields)
        except MalformedMessage as exc:
            log.debug("dropped a malformed entry %s of %s: %s", entry_id, self.stream, exc)
            return
        self.on_message(message, entry_id)

    def _on_message(self, message: ClusterMessage, offset: str | None) -> None:
        if self.recovery is not None and message.get("type") == MessageType.BROADCAST:
            data = message.get("data")
            if isinstance(data, dict) and "requestId" not in data:
                # The entry id is the packet's offset (ClusterAdapter's own path would log it locally).
                wire = data.get("packet")
                packet = decode_packet(wire, self.nsp.name)
                opts = decode_options(data.get("opts"))
                if offset is not None and _takes_offset(wire, data.get("opts")):
                    packet = Packet(SIO_EVENT, packet.nsp, [*packet.data, offset])
                self.nsp.deliver(packet, self.matching(opts), opts.flags)
                return
        super()._on_message(message, offset)

    # -- broadcasts ----------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Write the broadcast to the stream (unless ``local``) and to this server's sockets.

        With recovery on, the local delivery waits for the XADD's answer and carries its entry
        id (broadcasts are delivered in the order they were made); otherwise it is at once.
        """
        flags = opts.flags
        nsp = self.nsp
        if flags.local:
            nsp.deliver(packet, self.matching(opts), flags)
            return
        message: ClusterMessage = {
            "type": MessageType.BROADCAST,
            "data": {"packet": encode_packet(packet), "opts": encode_options(opts)},
        }
        if self.recovery is None:
            self.publish(message)
            nsp.deliver(packet, self.matching(opts), flags)
            return
        eligible = packet.type == SIO_EVENT and packet.id is None and not flags.volatile

        def deliver(entry_id: str | None) -> None:
            if eligible and entry_id is not None:
                nsp.deliver(
                    Packet(SIO_EVENT, packet.nsp, [*packet.data, entry_id]), self.matching(opts), flags
                )
            else:
                nsp.deliver(packet, self.matching(opts), flags)

        message["uid"] = self.uid
        message["nsp"] = nsp.name
        self._xadd(message, deliver)

    def emit_to_socket(self, socket: Socket, data: list[Any], compress: bool = True) -> None:
        """A socket's own emit (recovery on): in the stream as a broadcast to its room, as Node,
        then written to it with the entry id appended."""
        nsp = self.nsp
        message: ClusterMessage = {
            "type": MessageType.BROADCAST,
            "data": {
                "packet": {"type": SIO_EVENT, "data": data},
                "opts": {
                    "rooms": [socket.id],
                    "except": [],
                    "flags": {} if compress else {"compress": False},
                },
            },
            "uid": self.uid,
            "nsp": nsp.name,
        }

        def write(entry_id: str | None) -> None:
            if not socket.connected:
                return  # gone meanwhile: the entry is in the stream, a restore replays it
            payload = [*data, entry_id] if entry_id is not None else data
            socket._send(nsp.encode(SIO_EVENT, nsp.name, payload), payload, compress)

        self._xadd(message, write)

    async def server_count(self) -> int:
        """``PUBSUB NUMSUB`` (``SHARDNUMSUB``) of the public channel: the nodes subscribed.

        Raises :class:`~sio.AckTimeoutError` when Redis cannot be asked.
        """
        try:
            return max(1, await asyncio.wait_for(self.link.numsub(self.public_channel), REQUEST_TIMEOUT))
        except Exception as exc:
            raise AckTimeoutError(f"could not count the servers (Redis: {exc})", []) from exc

    # -- connection state recovery -------------------------------------------------------

    def persist_session(self, session: Session) -> None:
        """``SET <prefix><pid> <base64 msgpack {sid, pid, rooms, data, nsp}> PX <duration ms>``
        (Node's, and the namespace: Node ignores it, sio restores a session only in its own).

        A socket with a live session: the session replaces it only if the live key is still this
        node's (a session another node claimed meanwhile is not brought back)."""
        wire = session.to_wire()
        wire["nsp"] = self.nsp.name
        try:
            value = _encode_session(wire)
        except (TypeError, ValueError, OverflowError) as exc:
            log.warning("could not keep the session of %s (its data cannot be encoded): %s", session.sid, exc)
            return
        key = self.options.session_key_prefix + session.pid
        ms = str(self._session_ms)
        if self._live_on and self._live.get(session.sid) == session.pid:
            del self._live[session.sid]
            self._dirty.pop(session.sid, None)
            command = resp_command(
                "EVAL", _PERSIST_IF_OURS, "2", self._live_key(session.pid), key, self._owner_prefix, value, ms
            )
        else:
            command = resp_command("SET", key, value, "PX", ms)
        self.link.commands.send(command)

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session of ``pid`` and the entries after ``offset`` meant for it (None: a fresh one,
        also when Redis does not answer within RESTORE_TIMEOUT)."""
        if self.recovery is None or not OFFSET.fullmatch(offset) or not PID.fullmatch(pid):
            return None
        try:
            return await asyncio.wait_for(self._restore(pid, offset), RESTORE_TIMEOUT)
        except TimeoutError:
            log.warning("could not restore session %s in %s: Redis did not answer", pid, self.nsp.name)
            return None

    async def _restore(self, pid: str, offset: str) -> Session | None:
        key = self.options.session_key_prefix + pid
        commands = self.link.commands
        replies = await commands.call_many(
            [("MULTI",), ("GET", key), ("DEL", key), ("EXEC",), ("XRANGE", self.stream, offset, offset)]
        )
        executed, found = replies[3], replies[4]
        raw = executed[0] if isinstance(executed, list) and executed else None
        if not isinstance(found, list) or not found:
            return None  # the offset is not (or no longer) in the stream (the session went, as Node)
        session: Session | None = None
        if isinstance(raw, bytes):
            try:
                wire = _decode_session(raw)
                session = Session.from_wire(wire)
            except ValueError as exc:
                log.debug("dropped an undecodable session %s: %s", pid, exc)
                return None
            if wire.get("nsp", self.nsp.name) != self.nsp.name:  # Node's sessions name none
                log.debug("refused session %s of %r in %s", pid, wire.get("nsp"), self.nsp.name)
                return None
        elif self._live_on:
            session = await self._claim_live_session(pid)
        if session is None:
            return None
        missed = await self._missed(offset, session.rooms)
        if missed is None:
            return None
        session.missed_packets = missed
        return session

    async def _missed(self, offset: str, rooms: list[str]) -> list[list[Any]] | None:
        """The EVENT data after ``offset`` in this namespace's stream meant for ``rooms`` (None
        past the server's ``max_buffered_packets`` / ``max_buffered_bytes``: a fresh session)."""
        assert self.recovery is not None
        max_packets = self.recovery.max_buffered_packets
        max_bytes = self.recovery.max_buffered_bytes
        size = 0
        missed: list[list[Any]] = []
        session_rooms = frozenset(rooms)
        start = _next_offset(offset)
        name = self.nsp.name
        for _ in range(RESTORE_SESSION_MAX_XRANGE_CALLS):
            entries = await self.link.commands.call("XRANGE", self.stream, start, "+", "COUNT", RESTORE_PAGE)
            if not isinstance(entries, list) or not entries:
                break
            for entry in entries:
                raw_id = entry[0] if isinstance(entry, list) and entry else None
                if isinstance(raw_id, bytes) and OFFSET.fullmatch(raw_id.decode("latin-1")):
                    start = _next_offset(raw_id.decode("ascii"))  # first: a malformed page is passed
                try:
                    entry_id, fields = _entry_fields(entry)
                except MalformedMessage:
                    continue
                if fields.get("nsp") != name or fields.get("type") != "3":
                    continue
                try:
                    data = decode_entry(fields).get("data")
                    if not isinstance(data, dict) or "requestId" in data:
                        continue
                    wire = data.get("packet")
                    packet = decode_packet(wire, name)
                    opts = decode_options(data.get("opts"))
                except MalformedMessage as exc:
                    log.debug("skipped a malformed entry %s while restoring: %s", entry_id, exc)
                    continue
                if not _takes_offset(wire, data.get("opts")):  # never offset, so never replayed
                    continue
                if should_include(session_rooms, opts.rooms, opts.except_):
                    missed.append([*packet.data, entry_id])
                    size += len(fields.get("data", ""))
                    if len(missed) > max_packets or size > max_bytes:
                        log.debug("a session of %s missed too much to be restored", name)
                        return None
            if len(entries) < RESTORE_PAGE:
                break
        return missed

    # -- live sessions (beyond Node) -----------------------------------------------------

    def _live_key(self, pid: str) -> str:
        return f"{self.options.session_key_prefix}live:{pid}"

    async def _claim_live_session(self, pid: str) -> Session | None:
        """The live session of ``pid`` in this namespace if the node that held it is dead: nobody
        subscribes its private channel and its node key expired (then the key is marked claimed)."""
        key = self._live_key(pid)
        commands = self.link.commands
        raw = await commands.call("GET", key)
        if not isinstance(raw, bytes):
            return None
        try:
            owner, wire = _decode_live(raw)
            Session.from_wire(wire)
        except ValueError as exc:
            log.debug("dropped an undecodable live session %s: %s", pid, exc)
            return None
        if owner == self.uid:
            return None  # ours, and its socket still connected here
        nsp = wire.get("nsp")
        if nsp != self.nsp.name:
            log.debug("refused live session %s of %r in %s", pid, nsp, self.nsp.name)
            return None
        if not await self._owner_is_dead(nsp, owner):
            return None
        tombstone = CLAIMED + b" " + self.uid.encode()
        replies = await commands.call_many(
            [("MULTI",), ("GET", key), ("SET", key, tombstone, "PX", self._live_ms), ("EXEC",)]
        )
        executed = replies[3]
        raw = executed[0] if isinstance(executed, list) and executed else None
        if not isinstance(raw, bytes):
            return None
        try:
            owner_now, wire = _decode_live(raw)
            if owner_now != owner:
                return None  # claimed (or rewritten) by another node meanwhile
            return Session.from_wire(wire)
        except ValueError:
            return None

    async def _owner_is_dead(self, nsp: str, owner: str) -> bool:
        """Whether node ``owner`` is gone: nobody subscribes its private channel and its node key
        expired. A node whose subscriber is gone but whose key is still there is either dead (the
        key expires within NODE_TTL) or reconnecting (it rewrites the key every NODE_HEARTBEAT): the
        answer waits for the key's expiry, once or twice, bounded by NODE_TTL and a second."""
        owner_channel = f"{self.options.channel_prefix}#{nsp}#{owner}#"
        node_key = f"{self.options.session_key_prefix}node:{owner}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NODE_TTL + 1.0
        while True:
            if await self.link.numsub(owner_channel):
                return False  # alive: the socket is connected there, or about to persist itself
            ttl = await self.link.commands.call("PTTL", node_key)  # ms; -2: no key, -1: no expiry
            if ttl == -2:
                return True
            remaining = deadline - loop.time()
            if not isinstance(ttl, int) or ttl < 0 or remaining <= 0:
                return False  # a key that does not expire, or a node that keeps writing it: alive
            await asyncio.sleep(min(ttl / 1000 + 0.05, remaining))

    def _heartbeat(self) -> None:
        """Write this node's key (live sessions are claimed only once it expired)."""
        if self.link.commands.connected:
            self.link.commands.send(resp_command("SET", self._node_key, "1", "PX", str(int(NODE_TTL * 1000))))
        if self._subscribed:
            self._heartbeat_timer.arm(NODE_HEARTBEAT)

    def _on_commands_up(self) -> None:
        """The command connection is back (or writable again): the node key and the live
        sessions skipped meanwhile are written now."""
        if not self._subscribed:
            return
        self._heartbeat_timer.cancel()
        self._heartbeat()
        if self._dirty and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms`` (and, for a connected socket, rewrite its live session)."""
        super().add_all(sid, rooms)
        if self._live_on and sid in self.nsp.sockets:
            self._touch(sid)

    def socket_data_changed(self, sid: str) -> None:
        """Socket ``sid``'s ``data`` changed: its live session is rewritten (once per loop turn)."""
        if self._live_on and sid in self._live:
            self._touch(sid)

    def delete(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room`` (its live session follows)."""
        super().delete(sid, room)
        if self._live_on and sid in self._live:
            self._touch(sid)

    def delete_all(self, sid: str) -> None:
        """Remove socket ``sid`` from every room; it is gone: its live session goes too (if it
        is still this node's)."""
        super().delete_all(sid)
        if not self._live_on:
            return
        self._dirty.pop(sid, None)
        pid = self._live.pop(sid, None)
        if pid is not None:
            self.link.commands.send(
                resp_command("EVAL", _DELETE_IF_OURS, "1", self._live_key(pid), self._owner_prefix)
            )

    def _touch(self, sid: str) -> None:
        self._dirty[sid] = None
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write the live sessions of changed sockets (at most a chunk; the rest next turn).

        Not while the command connection is down: they stay to write, once, when it is back
        (refreshes must not fill the offline queue and push out stream writes)."""
        self._flush_handle = None
        if not self.link.commands.connected:
            return
        dirty = self._dirty
        sockets = self.nsp.sockets
        commands: list[bytes] = []
        ttl = str(self._live_ms)
        prefix = self._owner_prefix
        name = self.nsp.name
        while dirty and len(commands) < LIVE_FLUSH_CHUNK:
            sid = next(iter(dirty))
            del dirty[sid]
            socket = sockets.get(sid)
            if socket is None or not socket.connected or socket.pid is None:
                continue
            wire = {"sid": sid, "pid": socket.pid, "rooms": list(self.sids.get(sid, ())), "data": socket.data}
            wire["nsp"] = name
            try:
                value = prefix + _encode_session(wire)
            except (TypeError, ValueError, OverflowError) as exc:
                log.debug("could not keep the live session of %s: %s", sid, exc)
                continue
            self._live[sid] = socket.pid
            commands.append(resp_command("SET", self._live_key(socket.pid), value, "PX", ttl))
        self.link.commands.send_many(commands)
        if dirty:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _refresh(self) -> None:
        """Rewrite every connected socket's live session (it outlives a dead node by the duration)."""
        for sid in self._live:
            self._dirty[sid] = None
        if self._dirty and self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
        if self._subscribed:
            self._refresh_timer.arm(self._refresh_every)


def _decode_live(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(owner uid, wire) of a live session value ``<uid> <base64 msgpack>`` (ValueError otherwise)."""
    owner, sep, rest = raw.partition(b" ")
    if not sep or owner == CLAIMED:
        raise ValueError("not a live session")
    return owner.decode("ascii", errors="replace"), _decode_session(rest)
