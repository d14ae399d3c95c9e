"""Sharded pub/sub on a Redis Cluster: one :class:`RedisLink` per master, each channel on its slot's owner.

A shard channel lives on the master that owns its hash slot (CRC16 of the name, or of its
``{hashtag}``), so SPUBLISH and SSUBSCRIBE for it go to that master; ``PUBSUB SHARDNUMSUB``
is asked there too (Node sums it over every master: the same number, since only the owner
has subscribers). The slot map is read once, when the link starts (``CLUSTER SLOTS`` through
redis-py's ``RedisCluster``). Not followed yet: slots that move while the servers run
(resharding); the links reconnect to their masters, but a moved channel stays where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio.cluster as aiocluster
from redis.crc import key_slot

from sio._events import spawn
from sio.adapters.redis.connection import Handler, RedisLink

__all__ = ["ClusterLink"]

log = logging.getLogger("sio.redis")


class ClusterLink:
    """The interface of :class:`RedisLink` (sharded), over every master of a Redis Cluster."""

    sharded = True

    def __init__(self, client: str | aiocluster.RedisCluster) -> None:
        self.cluster = (
            aiocluster.RedisCluster.from_url(client, socket_connect_timeout=5.0)
            if isinstance(client, str)
            else client
        )
        self.channels: dict[str, Handler] = {}
        self.users = 0
        self.healthy = True
        self._masters: dict[str, RedisLink] = {}  # "host:port" -> its link
        self._owner: dict[int, str] = {}  # slot -> "host:port"
        self._pending: list[tuple[str, bytes]] = []  # published before the slot map was read
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Read the slot map (once) and start a link to every master."""
        if self._task is None and not self._closed:
            self._task = spawn(self._discover(), self)

    async def _discover(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                await self.cluster.initialize()
                break
            except Exception as exc:
                if self.healthy:
                    self.healthy = False
                    log.error(
                        "Redis Cluster unreachable (%s): serving local clients only until it is back", exc
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        for node in self.cluster.get_primaries():
            name = f"{node.host}:{node.port}"
            link = RedisLink(f"redis://{node.host}:{node.port}", sharded=True)
            self._masters[name] = link
            link.start()
        self._ready = True
        self.healthy = True
        channels, self.channels = self.channels, {}
        for channel, handler in channels.items():
            self.subscribe([channel], handler)
        pending, self._pending = self._pending, []
        for channel, message in pending:
            self.publish(channel, message)

    def _link(self, channel: str) -> RedisLink:
        slot = key_slot(channel.encode())
        name = self._owner.get(slot)
        if name is None:
            node = self.cluster.get_node_from_key(channel)
            if node is None:
                raise ConnectionError(f"no master owns the slot of {channel!r}")
            name = self._owner[slot] = f"{node.host}:{node.port}"
        return self._masters[name]

    def publish(self, channel: str, message: bytes) -> None:
        """SPUBLISH on the master owning ``channel``'s slot."""
        if self._closed:
            return
        if not self._ready:
            self._pending.append((channel, message))
            return
        self._link(channel).publish(channel, message)

    def subscribe(self, channels: list[str], handler: Handler) -> None:
        """SSUBSCRIBE each channel on its master."""
        for channel in channels:
            self.channels[channel] = handler
            if self._ready:
                self._link(channel).subscribe([channel], handler)

    def psubscribe(self, pattern: str, handler: Handler) -> None:
        """Not in sharded pub/sub."""
        raise NotImplementedError("sharded pub/sub has no patterns")

    def unsubscribe(self, channels: list[str] | None = None, patterns: list[str] | None = None) -> None:
        """SUNSUBSCRIBE each channel on its master."""
        for channel in channels or ():
            self.channels.pop(channel, None)
            if self._ready:
                self._link(channel).unsubscribe([channel])

    async def numsub(self, channel: str) -> int:
        """``PUBSUB SHARDNUMSUB`` on the channel's master."""
        if not self._ready:
            raise ConnectionError("the Redis Cluster's slot map is not read yet")
        return await self._link(channel).numsub(channel)

    async def close(self) -> None:
        """Close every master's link and the cluster client."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        for link in self._masters.values():
            await link.close()
        with contextlib.suppress(Exception):
            await self.cluster.aclose()

    def __repr__(self) -> str:
        return f"<ClusterLink masters={sorted(self._masters)}>"


def is_cluster_client(client: Any) -> bool:
    """Whether ``client`` is a redis-py asyncio RedisCluster."""
    return isinstance(client, aiocluster.RedisCluster)
