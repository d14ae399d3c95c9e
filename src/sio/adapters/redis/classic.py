"""Node's ``@socket.io/redis-adapter`` 8.3.0 ``createAdapter`` ("classic" pub/sub), byte for byte.

Channels, per namespace (``key`` is ``socket.io`` by default):

- broadcasts: ``PUBLISH <key>#<nsp>#`` (``<key>#<nsp>#<room>#`` for a single room), msgpack
  ``[uid, packet, opts]``; received with ``PSUBSCRIBE <key>#<nsp>#*`` (a room channel is skipped
  when this node has nobody in that room);
- requests (join, leave, disconnect, fetch sockets, all rooms, server-side emit, broadcast with
  acks) on ``<key>-request#<nsp>#``, JSON (msgpack for a broadcast with acks);
- responses on ``<key>-response#<nsp>#`` (or ``<key>-response#<nsp>#<uid>#`` with
  ``publish_on_specific_response_channel``).

``server_count()`` is ``PUBSUB NUMSUB`` of the request channel. A node's uid is 6 characters
(Node's ``uid2(6)``); the emitter's is ``"emitter"``. Requests that act on sockets (join, leave,
disconnect) are applied here at once and published for the others (Node applies its own when
Redis echoes them back: the result is the same, and ours still works while Redis is away).
Malformed messages are logged at debug level and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from sio._events import spawn
from sio.adapters.base import BroadcastOptions, SocketDetails
from sio.adapters.cluster import (
    MalformedMessage,
    decode_options,
    decode_packet,
    encode_flags,
    socket_details,
)
from sio.adapters.memory import InMemoryAdapter
from sio.adapters.redis.codec import decode, decode_msgpack, encode_json, encode_msgpack
from sio.adapters.redis.connection import RedisLink
from sio.errors import AckTimeoutError
from sio.parser import Packet

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.socket import Socket

__all__ = ["RedisAdapter", "RequestType", "redis_adapter"]

log = logging.getLogger("sio.redis")

_ALNUM = string.ascii_letters + string.digits


def _uid2(length: int = 6) -> str:
    """Node's ``uid2``: random characters from [A-Za-z0-9]."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class RequestType:
    """The request types of the classic adapter (Node's numbers)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class _Request:
    __slots__ = ("count", "expected", "resolve", "result", "timer", "type")

    def __init__(self, kind: int, expected: int, result: Any, resolve: Callable[..., None]) -> None:
        self.type = kind
        self.expected = expected
        self.count = 1  # responses so far, this node included (fetch, sockets, rooms)
        self.result = result
        self.resolve = resolve
        self.timer: Any = None


def redis_adapter(
    client: str | aioredis.Redis = "redis://127.0.0.1:6379/0",
    *,
    key: str = "socket.io",
    requests_timeout: float = 5.0,
    publish_on_specific_response_channel: bool = False,
) -> Callable[[Namespace], RedisAdapter]:
    """A factory for ``sio.Server(adapter=...)``: Node's ``createAdapter(pubClient, subClient, opts)``.

    ``client`` is a Redis URL or a ``redis.asyncio.Redis``; the namespaces of the server share one
    publisher queue and one subscriber connection to it.
    """
    link = RedisLink(client)

    def factory(nsp: Namespace) -> RedisAdapter:
        return RedisAdapter(
            nsp,
            link,
            key=key,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
        )

    return factory


class RedisAdapter(InMemoryAdapter):
    """One namespace on the classic Redis adapter."""

    def __init__(
        self,
        nsp: Namespace,
        link: RedisLink,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(nsp)
        self.link = link
        self.uid = _uid2(6)
        self.requests_timeout = requests_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.channel = f"{key}#{nsp.name}#"
        self.request_channel = f"{key}-request#{nsp.name}#"
        self.response_channel = f"{key}-response#{nsp.name}#"
        self.specific_response_channel = f"{self.response_channel}{self.uid}#"
        self._requests: dict[str, _Request] = {}
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[..., None]]] = {}
        self._subscribed = False

    # -- lifecycle -----------------------------------------------------------------------

    def init(self) -> None:
        """Subscribe this namespace's channels and start the link."""
        link = self.link
        link.users += 1
        link.psubscribe(self.channel + "*", self._on_broadcast)
        link.subscribe(
            [self.request_channel, self.response_channel, self.specific_response_channel], self._on_request
        )
        self._subscribed = True
        link.start()

    async def close(self) -> None:
        """Unsubscribe; the last adapter of the link closes it."""
        if not self._subscribed:
            return
        self._subscribed = False
        link = self.link
        link.unsubscribe(
            [self.request_channel, self.response_channel, self.specific_response_channel],
            [self.channel + "*"],
        )
        link.users -= 1
        if link.users <= 0:
            await link.close()

    # -- receiving -----------------------------------------------------------------------

    def _on_broadcast(self, channel: bytes, message: bytes) -> None:
        try:
            name = channel.decode()
            if not name.startswith(self.channel):
                return
            room = name[len(self.channel) : -1]
            if room and room not in self.rooms:
                return  # nobody here is in that room: not even decoded
            value = decode_msgpack(message)
            if not isinstance(value, list) or len(value) < 3:
                raise MalformedMessage("a broadcast is [uid, packet, opts]")
            uid, packet, opts = value[0], value[1], value[2]
            if uid == self.uid:
                return
            if not isinstance(packet, dict):
                raise MalformedMessage("the packet must be an object")
            if packet.get("nsp", "/") != self.nsp.name:
                return  # as Node: another namespace's (a prefix clash)
            InMemoryAdapter.broadcast(self, decode_packet(packet, self.nsp.name), decode_options(opts))
        except (MalformedMessage, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            log.debug("dropped a malformed broadcast on %r: %s", channel, exc)

    def _on_request(self, channel: bytes, message: bytes) -> None:
        try:
            name = channel.decode()
            if name.startswith(self.response_channel):
                self._on_response(decode(message))
            elif name == self.request_channel:
                self._handle_request(decode(message))
        except (MalformedMessage, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            log.debug("dropped a malformed message on %r: %s", channel, exc)

    def _handle_request(self, request: Any) -> None:
        if not isinstance(request, dict):
            raise MalformedMessage("a request is an object")
        kind = request.get("type")
        request_id = request.get("requestId")
        if request.get("uid") == self.uid:
            return  # our own, echoed by Redis: already applied here
        if kind == RequestType.SOCKETS:
            rooms = _strings(request.get("rooms"), "rooms")
            self._respond(request, {"requestId": request_id, "sockets": list(self.sockets(rooms))})
        elif kind == RequestType.ALL_ROOMS:
            self._respond(request, {"requestId": request_id, "rooms": list(self.rooms)})
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
            self._remote_socket_request(kind, request)
        elif kind == RequestType.REMOTE_FETCH:
            opts = decode_options(request.get("opts"))
            sockets = [socket_details(socket) for socket in self.matching(opts)]
            self._respond(request, {"requestId": request_id, "sockets": sockets})
        elif kind == RequestType.SERVER_SIDE_EMIT:
            data = request.get("data")
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                raise MalformedMessage("a server-side emit's data is a list starting with the event name")
            if request_id is None:
                self.nsp.receive_server_side_emit(data)
                return
            answered = False

            def answer(*args: Any) -> None:
                nonlocal answered
                if answered:
                    return
                answered = True
                self.link.publish(
                    self.response_channel,
                    encode_json(
                        {
                            "type": RequestType.SERVER_SIDE_EMIT,
                            "requestId": request_id,
                            "data": args[0] if args else None,
                        }
                    ),
                )

            self.nsp.receive_server_side_emit([*data, answer])
        elif kind == RequestType.BROADCAST:
            if request_id in self._ack_requests:
                return
            packet = decode_packet(request.get("packet"), self.nsp.name)
            opts = decode_options(request.get("opts"))
            if opts.flags.timeout is None:
                opts = BroadcastOptions(
                    opts.rooms, opts.except_, opts.flags.replace(timeout=self.requests_timeout)
                )
            InMemoryAdapter.broadcast_with_ack(
                self,
                packet,
                opts,
                lambda count: self._respond(
                    request,
                    {
                        "type": RequestType.BROADCAST_CLIENT_COUNT,
                        "requestId": request_id,
                        "clientCount": count,
                    },
                ),
                lambda *answer: self._respond(
                    request,
                    {
                        "type": RequestType.BROADCAST_ACK,
                        "requestId": request_id,
                        "packet": answer[0] if answer else None,
                    },
                    binary=True,
                ),
            )
        else:
            raise MalformedMessage(f"unknown request type {kind!r}")

    def _remote_socket_request(self, kind: int, request: dict[str, Any]) -> None:
        if request.get("opts") is not None:
            opts = decode_options(request["opts"])
            if kind == RequestType.REMOTE_JOIN:
                InMemoryAdapter.add_sockets(self, opts, _strings(request.get("rooms"), "rooms"))
            elif kind == RequestType.REMOTE_LEAVE:
                InMemoryAdapter.del_sockets(self, opts, _strings(request.get("rooms"), "rooms"))
            else:
                InMemoryAdapter.disconnect_sockets(self, opts, bool(request.get("close")))
            return
        socket = self.nsp.sockets.get(request.get("sid"))  # type: ignore[arg-type]
        if socket is None:
            return
        room = request.get("room")
        if kind == RequestType.REMOTE_JOIN and isinstance(room, str):
            socket.join(room)
        elif kind == RequestType.REMOTE_LEAVE and isinstance(room, str):
            socket.leave(room)
        elif kind == RequestType.REMOTE_DISCONNECT:
            socket.disconnect(bool(request.get("close")))
        self._respond(request, {"requestId": request.get("requestId")})

    def _respond(self, request: dict[str, Any], response: dict[str, Any], binary: bool = False) -> None:
        channel = (
            f"{self.response_channel}{request.get('uid')}#"
            if self.publish_on_specific_response_channel
            else self.response_channel
        )
        self.link.publish(channel, encode_msgpack(response) if binary else encode_json(response))

    def _on_response(self, response: Any) -> None:
        if not isinstance(response, dict):
            raise MalformedMessage("a response is an object")
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            raise MalformedMessage("a response's requestId is a string")
        ack_request = self._ack_requests.get(request_id)
        if ack_request is not None:
            kind = response.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                count = response.get("clientCount")
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise MalformedMessage(f"bad clientCount {count!r}")
                ack_request[0](count)
            elif kind == RequestType.BROADCAST_ACK:
                ack_request[1](response.get("packet"))
            return
        request = self._requests.get(request_id)
        if request is None:
            return  # not ours, or answered already
        if request.type in (RequestType.SOCKETS, RequestType.REMOTE_FETCH, RequestType.ALL_ROOMS):
            field = "rooms" if request.type == RequestType.ALL_ROOMS else "sockets"
            items = response.get(field)
            if not isinstance(items, list):
                return  # as Node: a response without its list is not counted
            if request.type == RequestType.REMOTE_FETCH:
                if not all(isinstance(s, dict) and isinstance(s.get("id"), str) for s in items):
                    raise MalformedMessage("sockets must be socket details")
                request.result.extend(items)
            else:
                request.result.update(item for item in items if isinstance(item, str))
            request.count += 1
            if request.count == request.expected:
                self._settle(request_id, None)  # type: ignore[arg-type]
        elif request.type == RequestType.SERVER_SIDE_EMIT:
            request.result.append(response.get("data"))
            if len(request.result) == request.expected:
                self._settle(request_id, None)  # type: ignore[arg-type]

    def _settle(self, request_id: str, err: BaseException | None) -> None:
        request = self._requests.pop(request_id, None)
        if request is None:
            return
        if request.timer is not None:
            request.timer.cancel()
        request.resolve(err, request.result)

    def _start_request(
        self,
        request_id: str,
        request: _Request,
        message: dict[str, Any],
        error: Callable[[_Request], str],
        timeout: float | None = None,
    ) -> None:
        """Publish a request; after ``timeout`` (``requests_timeout``) settle it with ``error(request)``."""

        def on_timeout() -> None:
            if request_id in self._requests:
                result = request.result
                partial = list(result) if isinstance(result, list | set) else result
                self._settle(request_id, AckTimeoutError(error(request), partial))

        self._requests[request_id] = request
        request.timer = self.nsp.server.wheel.timer(on_timeout)
        request.timer.arm(timeout if timeout is not None else self.requests_timeout)
        self.link.publish(self.request_channel, encode_json(message))

    async def _await(
        self, request_id: str, kind: int, expected: int, result: Any, message: dict[str, Any], error: str
    ) -> Any:
        """Publish a request and wait for its answers (AckTimeoutError with ``error`` after the timeout)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def resolve(err: BaseException | None, value: Any) -> None:
            if not future.done():
                future.set_exception(err) if err is not None else future.set_result(value)

        self._start_request(request_id, _Request(kind, expected, result, resolve), message, lambda _: error)
        return await future

    # -- the contract, cluster-wide ------------------------------------------------------

    @staticmethod
    def _wire_packet(packet: Packet, nsp: str) -> dict[str, Any]:
        return {"type": packet.type, "data": packet.data, "nsp": nsp}

    @staticmethod
    def _wire_options(opts: BroadcastOptions) -> dict[str, Any]:
        return {"rooms": list(opts.rooms), "except": list(opts.except_), "flags": encode_flags(opts.flags)}

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish (unless ``local``) on the namespace's channel (a single room's); deliver here."""
        if not opts.flags.local:
            channel = self.channel
            if len(opts.rooms) == 1:
                channel += next(iter(opts.rooms)) + "#"
            message = [self.uid, self._wire_packet(packet, self.nsp.name), self._wire_options(opts)]
            self.link.publish(channel, encode_msgpack(message))
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[..., None],
    ) -> None:
        """Publish a BROADCAST request (msgpack); every node answers its client count, then each ack."""
        if not opts.flags.local:
            request_id = _uid2(6)
            self._ack_requests[request_id] = (client_count_callback, ack)
            message = {
                "uid": self.uid,
                "requestId": request_id,
                "type": RequestType.BROADCAST,
                "packet": self._wire_packet(packet, self.nsp.name),
                "opts": self._wire_options(opts),
            }
            self.link.publish(self.request_channel, encode_msgpack(message))
            timer = self.nsp.server.wheel.timer(lambda: self._ack_requests.pop(request_id, None))
            timer.arm(opts.flags.timeout if opts.flags.timeout is not None else self.requests_timeout)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    def _socket_request(self, kind: int, opts: BroadcastOptions, **fields: Any) -> None:
        message = {
            "uid": self.uid,
            "type": kind,
            "opts": {"rooms": list(opts.rooms), "except": list(opts.except_)},
            **fields,
        }
        self.link.publish(self.request_channel, encode_json(message))

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every node join ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self._socket_request(RequestType.REMOTE_JOIN, opts, rooms=rooms)
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every node leave ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self._socket_request(RequestType.REMOTE_LEAVE, opts, rooms=rooms)
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets of every node."""
        if not opts.flags.local:
            self._socket_request(RequestType.REMOTE_DISCONNECT, opts, close=close)
        super().disconnect_sockets(opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | SocketDetails]:
        """This node's sockets and the other nodes' (details); AckTimeoutError after ``requests_timeout``."""
        local: list[Socket | SocketDetails] = list(self.matching(opts))
        if opts.flags.local:
            return local
        expected = await self.server_count()
        if expected <= 1:
            return local
        request_id = _uid2(6)
        message = {
            "uid": self.uid,
            "requestId": request_id,
            "type": RequestType.REMOTE_FETCH,
            "opts": {"rooms": list(opts.rooms), "except": list(opts.except_)},
        }
        return await self._await(  # type: ignore[no-any-return]
            request_id,
            RequestType.REMOTE_FETCH,
            expected,
            local,
            message,
            "timeout reached while waiting for fetchSockets response",
        )

    async def all_rooms(self) -> set[str]:
        """Every room of the namespace, on every node (Node's ``allRooms``)."""
        rooms = set(self.rooms)
        expected = await self.server_count()
        if expected <= 1:
            return rooms
        request_id = _uid2(6)
        message = {"uid": self.uid, "requestId": request_id, "type": RequestType.ALL_ROOMS}
        return await self._await(  # type: ignore[no-any-return]
            request_id,
            RequestType.ALL_ROOMS,
            expected,
            rooms,
            message,
            "timeout reached while waiting for allRooms response",
        )

    def server_side_emit(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Publish ``[event, *args]`` to the other nodes; with ``ack``, wait for one answer per node."""
        if ack is None:
            message = {"uid": self.uid, "type": RequestType.SERVER_SIDE_EMIT, "data": packet}
            self.link.publish(self.request_channel, encode_json(message))
            return
        spawn(self._server_side_emit_with_ack(packet, ack, timeout), self)

    async def _server_side_emit_with_ack(
        self, packet: list[Any], ack: Callable[[Any, list[Any]], None], timeout: float | None
    ) -> None:
        try:
            expected = await self.server_count() - 1
        except Exception as exc:  # Redis away: a clear error, not a hang
            ack(AckTimeoutError(f"could not count the servers: {exc}", []), [])
            return
        if expected <= 0:
            ack(None, [])
            return
        request_id = _uid2(6)
        request = _Request(RequestType.SERVER_SIDE_EMIT, expected, [], ack)
        message = {
            "uid": self.uid,
            "requestId": request_id,
            "type": RequestType.SERVER_SIDE_EMIT,
            "data": packet,
        }
        self._start_request(
            request_id,
            request,
            message,
            lambda r: f"timeout reached: only {len(r.result)} responses received out of {r.expected}",
            timeout,
        )

    async def server_count(self) -> int:
        """``PUBSUB NUMSUB`` of the request channel: the nodes serving this namespace (this one included)."""
        try:
            return max(
                1, await asyncio.wait_for(self.link.numsub(self.request_channel), self.requests_timeout)
            )
        except (TimeoutError, OSError, Exception) as exc:
            raise AckTimeoutError(f"could not count the servers (Redis: {exc})", []) from exc


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MalformedMessage(f"{field} must be a list of strings")
    return value
