"""Redis adapters in Node's wire formats (``pip install "sio[redis]"``).

- :func:`redis_adapter`: Node's ``@socket.io/redis-adapter`` ``createAdapter`` (classic pub/sub);
- :func:`sharded_redis_adapter`: its ``createShardedAdapter`` (Redis 7 sharded pub/sub, the cluster
  protocol of :mod:`sio.adapters.cluster`);
- :func:`redis_streams_adapter`: Node's ``@socket.io/redis-streams-adapter`` ``createAdapter`` (Redis
  streams for what must not be lost, pub/sub for requests; connection state recovery in Redis);
- :class:`RedisEmitter`: Node's ``@socket.io/redis-emitter``, to emit from a process without clients.

sio servers and Node servers on the same Redis, with the same adapter kind, form one cluster.

Redis pub/sub is at-most-once: what is published while Redis is unreachable is lost (each
node keeps serving its own clients, and the cluster is whole again once Redis is back). The
streams adapter's stream writes are queued meanwhile, and its readers resume where they were.
"""

from sio.adapters.redis.classic import RedisAdapter, RequestType, redis_adapter
from sio.adapters.redis.emitter import RedisEmitter
from sio.adapters.redis.sharded import ShardedRedisAdapter, sharded_redis_adapter
from sio.adapters.redis.streams import RedisStreamsAdapter, redis_streams_adapter

__all__ = [
    "RedisAdapter",
    "RedisEmitter",
    "RedisStreamsAdapter",
    "RequestType",
    "ShardedRedisAdapter",
    "redis_adapter",
    "redis_streams_adapter",
    "sharded_redis_adapter",
]
