"""Adapters: where a namespace's rooms live and how its broadcasts reach every server.

- :mod:`sio.adapters.base`: the contract (:class:`BaseAdapter`, :class:`BroadcastOptions`,
  :class:`BroadcastFlags`);
- :mod:`sio.adapters.memory`: one server (:class:`InMemoryAdapter`, Node's ``Adapter``);
- :mod:`sio.adapters.cluster`: Node's cluster protocol (:class:`ClusterAdapter`,
  :class:`ClusterAdapterWithHeartbeat`) over two abstract methods that move messages;
- :mod:`sio.adapters.local`: that protocol between the processes of one machine (Unix sockets);
- :mod:`sio.adapters.redis`: Redis in Node's formats (``pip install "sio[redis]"``).
"""

from sio.adapters.base import NO_ROOMS, BaseAdapter, BroadcastFlags, BroadcastOptions, SocketDetails
from sio.adapters.cluster import ClusterAdapter, ClusterAdapterWithHeartbeat, ClusterMessage, MessageType
from sio.adapters.memory import Adapter, InMemoryAdapter, ParentAdapter

__all__ = [
    "NO_ROOMS",
    "Adapter",
    "BaseAdapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "ClusterAdapter",
    "ClusterAdapterWithHeartbeat",
    "ClusterMessage",
    "InMemoryAdapter",
    "MessageType",
    "ParentAdapter",
    "SocketDetails",
]
