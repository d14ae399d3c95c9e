"""The cluster adapter's messages, requests, responses and timeouts (``ClusterAdapter`` subclasses:
the local mesh of ``--workers``, the sharded Redis adapter, the Redis streams adapter).

Each instrumented adapter gets wrappers on the instance around five of its methods; adapters of
a server without metrics, and adapters that are not cluster adapters, are left as they are.
"""

from __future__ import annotations

import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from sio.adapters.base import BaseAdapter
from sio.adapters.cluster import ClusterAdapter, ClusterMessage, MessageType
from sio.errors import AckTimeoutError


def _type_name(kind: Any) -> str:
    """A message type as a label: Node's constant in lower case (``fetch_sockets``)."""
    try:
        return MessageType(kind).name.lower()
    except ValueError:
        return str(kind)


class ClusterHooks:
    """Counters of what the server's cluster adapters publish and request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "socketio_cluster_messages_published",
            "Cluster messages and responses this server published, by type (heartbeat, broadcast, ...).",
            ["type"],
            registry=registry,
        )
        self.requests = Counter(
            "socketio_cluster_requests",
            "Requests to the other servers that wait for responses (fetch_sockets, server_side_emit).",
            ["type"],
            registry=registry,
        )
        self.responses = Counter(
            "socketio_cluster_responses",
            "Responses received to this server's pending requests, by request type.",
            ["type"],
            registry=registry,
        )
        self.timeouts = Counter(
            "socketio_cluster_request_timeouts",
            "Requests whose responses did not all come within their timeout, by request type.",
            ["type"],
            registry=registry,
        )
        self._watched: weakref.WeakSet[BaseAdapter] = weakref.WeakSet()

    def watch(self, adapter: BaseAdapter) -> None:
        """Instrument ``adapter`` if it is a cluster adapter (once)."""
        if not isinstance(adapter, ClusterAdapter) or adapter in self._watched:
            return
        self._watched.add(adapter)
        count = self._count
        plain_publish = adapter.publish
        plain_publish_response = adapter.publish_response
        plain_start_request = adapter._start_request
        plain_count_response = adapter._count_response
        plain_settle = adapter._settle
        pending = adapter._requests

        def publish(message: ClusterMessage) -> None:
            count(self.published, message.get("type"))
            plain_publish(message)

        def publish_response(requester_uid: str, response: ClusterMessage) -> None:
            count(self.published, response.get("type"))
            plain_publish_response(requester_uid, response)

        def start_request(request_id: str, request: Any, timeout: float, message: ClusterMessage) -> None:
            count(self.requests, request.type)
            plain_start_request(request_id, request, timeout, message)

        def count_response(request_id: str, request: Any, uid: Any) -> None:
            count(self.responses, request.type)
            plain_count_response(request_id, request, uid)

        def settle(request_id: str, err: AckTimeoutError | None) -> None:
            request = pending.get(request_id)
            if err is not None and request is not None:  # only a timeout settles with an error
                count(self.timeouts, request.type)
            plain_settle(request_id, err)

        adapter.publish = publish  # type: ignore[method-assign]
        adapter.publish_response = publish_response  # type: ignore[method-assign]
        adapter._start_request = start_request  # type: ignore[method-assign]
        adapter._count_response = count_response  # type: ignore[method-assign]
        adapter._settle = settle  # type: ignore[method-assign]

    @staticmethod
    def _count(counter: Counter, kind: Any) -> None:
        counter.labels(_type_name(kind)).inc()
