"""Node's ``@socket.io/redis-adapter`` 8.3.0 ``createShardedAdapter`` (Redis 7 sharded pub/sub).

It carries the cluster protocol (:mod:`sio.adapters.cluster`, Node's ``ClusterAdapter``: no
heartbeat, ``server_count()`` is ``PUBSUB SHARDNUMSUB`` of the namespace's channel):

- messages: ``SPUBLISH <prefix>#<nsp>#``; responses to a node: ``<prefix>#<nsp>#<uid>#``;
- JSON, unless a message that may carry binary does (then notepack-compatible msgpack);
- ``subscription_mode``: ``"static"`` (one channel per namespace), ``"dynamic"`` (default: a
  broadcast to one public room goes to ``<prefix>#<nsp>#<room>#``, which only the nodes with
  members in that room subscribe to), ``"dynamic-private"`` (private rooms, a socket's own id,
  too). A broadcast with acks always uses the namespace's channel (every node must answer
  its count).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster

from sio.adapters.cluster import REQUEST_TIMEOUT, ClusterAdapter, ClusterMessage, MessageType
from sio.adapters.redis.cluster_link import ClusterLink, is_cluster_client
from sio.adapters.redis.codec import decode, encode_json, encode_msgpack
from sio.adapters.redis.connection import RedisLink
from sio.errors import AckTimeoutError

if TYPE_CHECKING:
    from sio.namespace import Namespace

__all__ = ["ShardedRedisAdapter", "sharded_redis_adapter"]

log = logging.getLogger("sio.redis")

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]

_MAY_CARRY_BINARY = frozenset(
    (
        MessageType.BROADCAST,
        MessageType.BROADCAST_ACK,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
    )
)


def has_binary(value: Any) -> bool:
    """Whether ``value`` holds bytes anywhere (Node's ``hasBinary``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(has_binary(item) for item in value.values())
    return False


def _looks_like_a_socket_id(room: Any) -> bool:
    return isinstance(room, str) and len(room) == 20


def sharded_redis_adapter(
    client: str | aioredis.Redis | aiocluster.RedisCluster = "redis://127.0.0.1:6379/0",
    *,
    channel_prefix: str = "socket.io",
    subscription_mode: SubscriptionMode = "dynamic",
    cluster: bool = False,
) -> Callable[[Namespace], ShardedRedisAdapter]:
    """A factory for ``sio.Server(adapter=...)``: Node's ``createShardedAdapter(pub, sub, opts)``.

    ``client``: a URL or client of one Redis 7, or of a Redis Cluster (``cluster=True``, or a
    ``redis.asyncio.RedisCluster``).
    """
    if subscription_mode not in ("static", "dynamic", "dynamic-private"):
        raise ValueError(
            f"subscription_mode is static, dynamic or dynamic-private, not {subscription_mode!r}"
        )
    # A Redis Cluster (``cluster=True`` with a URL of any of its nodes, or a RedisCluster client): each
    # channel on the master owning its slot. Otherwise one Redis 7.
    link: RedisLink | ClusterLink = (
        ClusterLink(client)  # type: ignore[arg-type]
        if cluster or is_cluster_client(client)
        else RedisLink(client, sharded=True)  # type: ignore[arg-type]
    )

    def factory(nsp: Namespace) -> ShardedRedisAdapter:
        return ShardedRedisAdapter(
            nsp, link, channel_prefix=channel_prefix, subscription_mode=subscription_mode
        )

    return factory


class ShardedRedisAdapter(ClusterAdapter):
    """One namespace on sharded Redis pub/sub."""

    def __init__(
        self,
        nsp: Namespace,
        link: RedisLink | ClusterLink,
        *,
        channel_prefix: str = "socket.io",
        subscription_mode: SubscriptionMode = "dynamic",
    ) -> None:
        super().__init__(nsp)
        self.link = link
        self.subscription_mode = subscription_mode
        self.channel = f"{channel_prefix}#{nsp.name}#"
        self.response_channel = f"{self.channel}{self.uid}#"
        self._subscribed = False
        if subscription_mode != "static":
            self.on("create-room", self._on_create_room)
            self.on("delete-room", self._on_delete_room)

    # -- lifecycle -----------------------------------------------------------------------

    def init(self) -> None:
        """Subscribe the namespace's channel and this node's response channel."""
        self.link.users += 1
        self.link.subscribe([self.channel, self.response_channel], self._on_raw)
        rooms = [self._room_channel(room) for room in self.rooms if self._separate(room)]
        if rooms:
            self.link.subscribe(rooms, self._on_raw)
        self._subscribed = True
        self.link.start()

    async def close(self) -> None:
        """Unsubscribe everything this namespace subscribed; the last adapter closes the link."""
        if not self._subscribed:
            return
        self._subscribed = False
        channels = [self.channel, self.response_channel]
        channels += [self._room_channel(room) for room in self.rooms if self._separate(room)]
        self.link.unsubscribe(channels)
        self.link.users -= 1
        if self.link.users <= 0:
            await self.link.close()

    # -- rooms with a channel of their own -------------------------------------------------

    def _separate(self, room: str) -> bool:
        public = room not in self.sids
        return (self.subscription_mode == "dynamic" and public) or self.subscription_mode == "dynamic-private"

    def _room_channel(self, room: str) -> str:
        return f"{self.channel}{room}#"

    def _on_create_room(self, room: str) -> None:
        if self._subscribed and self._separate(room):
            self.link.subscribe([self._room_channel(room)], self._on_raw)

    def _on_delete_room(self, room: str) -> None:
        if self._subscribed and self._separate(room):
            self.link.unsubscribe([self._room_channel(room)])

    # -- moving messages -----------------------------------------------------------------

    def _encode(self, message: ClusterMessage) -> bytes:
        if message.get("type") in _MAY_CARRY_BINARY and has_binary(message.get("data")):
            return encode_msgpack(message)
        return encode_json(message)

    def _channel_for(self, message: ClusterMessage) -> str:
        if message.get("type") == MessageType.BROADCAST and self.subscription_mode != "static":
            data = message["data"]
            rooms = data["opts"]["rooms"]
            if "requestId" not in data and len(rooms) == 1:
                room = rooms[0]
                if self.subscription_mode == "dynamic-private" or not _looks_like_a_socket_id(room):
                    return self._room_channel(room)
        return self.channel

    def do_publish(self, message: ClusterMessage) -> None:
        """SPUBLISH on the namespace's channel, or a room's (dynamic modes)."""
        self.link.publish(self._channel_for(message), self._encode(message))

    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        """SPUBLISH on the requester's response channel."""
        self.link.publish(f"{self.channel}{requester_uid}#", self._encode(response))

    def _on_raw(self, channel: bytes, raw: bytes) -> None:
        try:
            message = decode(raw)
        except ValueError as exc:
            log.debug("dropped an undecodable message on %r: %s", channel, exc)
            return
        if channel.decode(errors="replace") == self.response_channel:
            self.on_response(message)
        else:
            self.on_message(message)

    async def server_count(self) -> int:
        """``PUBSUB SHARDNUMSUB`` of the namespace's channel (this node included).

        Raises :class:`~sio.AckTimeoutError` when Redis cannot be asked (requests that need the
        count fail clearly instead of hanging).
        """
        try:
            return max(1, await asyncio.wait_for(self.link.numsub(self.channel), REQUEST_TIMEOUT))
        except Exception as exc:
            raise AckTimeoutError(f"could not count the servers (Redis: {exc})", []) from exc
