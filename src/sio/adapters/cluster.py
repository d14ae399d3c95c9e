"""Node's cluster protocol (socket.io-adapter ``lib/cluster-adapter.ts``, 2.5.x) over two abstract methods.

A :class:`ClusterAdapter` turns what a namespace asks of every server into *messages*
``{"uid", "nsp", "type", "data"}`` (types 1-13 of :class:`MessageType`, Node's numbers and
field names, so a Node server with a cluster adapter on the same bus understands them) and
answers the messages of the other servers. A concrete adapter only moves them:

- ``do_publish(message)`` sends a message to every other server (in order, without blocking);
- ``do_publish_response(requester_uid, response)`` sends a response to the server that asked;
- it calls ``on_message(message)`` (and ``on_response`` if it tells them apart) with what arrives.

Messages are plain dicts of str, int, float, bool, None, bytes, lists and dicts: the concrete
adapter serialises them (Node's use msgpack). Requests (fetch_sockets, server-side emits with
an ack, broadcasts with acks) carry a ``requestId`` and are answered by responses; their
timeouts and error messages are Node's. :class:`ClusterAdapterWithHeartbeat` adds Node's node
liveness: each server publishes a heartbeat every ``heartbeat_interval`` while it has nothing
else to publish, and a server unheard of for ``heartbeat_timeout`` is counted out.

A message that does not have this shape (garbage on the channel, a newer protocol) is logged
and dropped; it never reaches a socket and never raises into the concrete adapter.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from abc import abstractmethod
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from sio._events import spawn
from sio._sio_core import SIO_BINARY_EVENT, SIO_EVENT, Timer
from sio.adapters.base import BroadcastFlags, BroadcastOptions, SocketDetails
from sio.adapters.memory import InMemoryAdapter
from sio.errors import AckTimeoutError
from sio.parser import Packet

if TYPE_CHECKING:
    from sio.namespace import Namespace
    from sio.socket import Socket

__all__ = [
    "EMITTER_UID",
    "REQUEST_TIMEOUT",
    "ClusterAdapter",
    "ClusterAdapterWithHeartbeat",
    "ClusterMessage",
    "MessageType",
    "decode_options",
    "encode_options",
]

log = logging.getLogger("sio.cluster")

EMITTER_UID = "emitter"  # the uid of messages from an emitter (no server behind it)
REQUEST_TIMEOUT = 5.0  # seconds: Node's DEFAULT_TIMEOUT for fetch_sockets and server-side emits

ClusterMessage = dict[str, Any]


class MessageType(IntEnum):
    """The message types of Node's cluster protocol (their numbers are the wire format)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


class MalformedMessage(ValueError):
    """A cluster message without the shape its type requires."""


def _random_id() -> str:
    return secrets.token_hex(8)  # Node: randomBytes(8).toString("hex")


# -- the wire form of options, flags and packets (Node's field names) -------------------------


def encode_flags(flags: BroadcastFlags) -> dict[str, Any]:
    """Node's ``BroadcastFlags`` object: only the flags that are set; ``timeout`` in milliseconds."""
    wire: dict[str, Any] = {}
    if flags.volatile:
        wire["volatile"] = True
    if not flags.compress:
        wire["compress"] = False
    if flags.local:
        wire["local"] = True
    if flags.timeout is not None:
        ms = flags.timeout * 1000.0
        wire["timeout"] = int(ms) if ms == int(ms) else ms
    if flags.expect_single_response:
        wire["expectSingleResponse"] = True
    return wire


def decode_flags(wire: Any) -> BroadcastFlags:
    """The flags of a received message (unknown ones ignored)."""
    if wire is None:
        return BroadcastFlags.DEFAULT
    if not isinstance(wire, dict):
        raise MalformedMessage(f"flags must be an object, not {type(wire).__name__}")
    timeout = wire.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
    ):
        raise MalformedMessage(f"bad timeout {timeout!r}")
    return BroadcastFlags(
        volatile=bool(wire.get("volatile")),
        compress=wire.get("compress") is not False,
        local=bool(wire.get("local")),
        timeout=None if timeout is None else timeout / 1000.0,
        expect_single_response=bool(wire.get("expectSingleResponse")),
    )


def encode_options(opts: BroadcastOptions) -> dict[str, Any]:
    """Node's ``{rooms, except, flags}`` (rooms as lists)."""
    return {"rooms": list(opts.rooms), "except": list(opts.except_), "flags": encode_flags(opts.flags)}


def _rooms(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list | tuple) or not all(isinstance(room, str) for room in value):
        raise MalformedMessage(f"{field} must be a list of strings")
    return frozenset(value)


def decode_options(wire: Any) -> BroadcastOptions:
    """The options of a received message."""
    if not isinstance(wire, dict):
        raise MalformedMessage("opts must be an object")
    return BroadcastOptions(
        _rooms(wire.get("rooms"), "rooms"),
        _rooms(wire.get("except"), "except"),
        decode_flags(wire.get("flags")),
    )


def encode_packet(packet: Packet) -> dict[str, Any]:
    """A packet as Node's adapter publishes it: ``{type, data}`` (binary data stays bytes)."""
    return {"type": packet.type, "data": packet.data}


def decode_packet(wire: Any, nsp: str) -> Packet:
    """A received EVENT packet (Node's emitter also sends ``nsp``; the receiving namespace wins)."""
    if not isinstance(wire, dict):
        raise MalformedMessage("packet must be an object")
    kind, data = wire.get("type"), wire.get("data")
    if kind not in (SIO_EVENT, SIO_BINARY_EVENT):
        raise MalformedMessage(f"a broadcast packet is an EVENT, not type {kind!r}")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise MalformedMessage("an EVENT packet's data is a list starting with the event name")
    return Packet(SIO_EVENT, nsp, data)


def _data(message: ClusterMessage) -> dict[str, Any]:
    data = message.get("data")
    if not isinstance(data, dict):
        raise MalformedMessage("data must be an object")
    return data


def _request_id(data: dict[str, Any]) -> str:
    request_id = data.get("requestId")
    if not isinstance(request_id, str):
        raise MalformedMessage("requestId must be a string")
    return request_id


def socket_details(socket: Socket) -> SocketDetails:
    """What a FETCH_SOCKETS_RESPONSE carries for a local socket (Node's fields)."""
    return {
        "id": socket.id,
        "handshake": dataclasses.asdict(socket.handshake),
        "rooms": list(socket.rooms),
        "data": socket.data,
    }


class _Request:
    """A request waiting for the other servers' responses."""

    __slots__ = ("current", "expected", "missing", "resolve", "responses", "timer", "type")

    def __init__(self, kind: MessageType, resolve: Callable[..., None], responses: list[Any]) -> None:
        self.type = kind
        self.resolve = resolve  # fetch: resolve(err, sockets); server-side emit: resolve(err, answers)
        self.responses = responses
        self.expected = 0
        self.current = 0
        self.missing: set[str] = set()  # the heartbeat variant counts uids, not responses
        self.timer: Timer | None = None


class ClusterAdapter(InMemoryAdapter):
    """Node's ``ClusterAdapter``: the cluster protocol, over ``do_publish`` / ``do_publish_response``.

    ``server_count()`` is the in-memory one (1) unless a subclass knows better (Node's
    Redis adapter asks Redis; :class:`ClusterAdapterWithHeartbeat` counts live nodes).
    """

    def __init__(self, nsp: Namespace) -> None:
        super().__init__(nsp)
        self.uid = _random_id()  # this server's id, per namespace as in Node
        self._requests: dict[str, _Request] = {}
        self._ack_requests: dict[str, tuple[Callable[[int], None], Callable[..., None]]] = {}

    # -- what a concrete adapter implements and calls ------------------------------------

    @abstractmethod
    def do_publish(self, message: ClusterMessage) -> None:
        """Send ``message`` to every other server (keep the order; do not block)."""

    @abstractmethod
    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        """Send ``response`` to the server ``requester_uid`` (a broadcast to all is fine)."""

    def on_message(self, message: Any, offset: str | None = None) -> None:
        """Handle a message from the cluster (its own are ignored, as are other namespaces')."""
        try:
            if not isinstance(message, dict):
                raise MalformedMessage(f"a message is an object, not {type(message).__name__}")
            uid = message.get("uid")
            if not isinstance(uid, str):
                raise MalformedMessage("uid must be a string")
            if uid == self.uid or message.get("nsp", self.nsp.name) != self.nsp.name:
                return
            self._on_message(message, offset)
        except MalformedMessage as exc:
            log.debug("dropped a malformed cluster message for %s: %s", self.nsp.name, exc)
        except (KeyError, TypeError, ValueError) as exc:  # a packet the parser cannot encode, say
            log.debug("dropped a cluster message for %s that failed: %r", self.nsp.name, exc)

    def on_response(self, response: Any) -> None:
        """Handle a response to one of this server's requests."""
        try:
            if not isinstance(response, dict):
                raise MalformedMessage(f"a response is an object, not {type(response).__name__}")
            self._on_response(response)
        except MalformedMessage as exc:
            log.debug("dropped a malformed cluster response for %s: %s", self.nsp.name, exc)
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("dropped a cluster response for %s that failed: %r", self.nsp.name, exc)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Stamp ``message`` with this server's uid and namespace and publish it."""
        message["uid"] = self.uid
        message["nsp"] = self.nsp.name
        try:
            self.do_publish(message)
        except Exception:
            log.exception("could not publish a cluster message (type %s)", message.get("type"))

    def publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        """Stamp ``response`` and send it to ``requester_uid``."""
        response["uid"] = self.uid
        response["nsp"] = self.nsp.name
        try:
            self.do_publish_response(requester_uid, response)
        except Exception:
            log.exception("could not publish a cluster response (type %s)", response.get("type"))

    # -- receiving -----------------------------------------------------------------------

    def _on_message(self, message: ClusterMessage, offset: str | None) -> None:
        kind = message.get("type")
        sender = message["uid"]
        if kind == MessageType.BROADCAST:
            data = _data(message)
            packet = decode_packet(data.get("packet"), self.nsp.name)
            opts = decode_options(data.get("opts"))
            if "requestId" in data:
                request_id = _request_id(data)
                if opts.flags.timeout is None:  # Node requires one; forget stale acks anyway
                    opts = BroadcastOptions(
                        opts.rooms, opts.except_, opts.flags.replace(timeout=REQUEST_TIMEOUT)
                    )
                InMemoryAdapter.broadcast_with_ack(
                    self,
                    packet,
                    opts,
                    lambda count: self.publish_response(
                        sender,
                        {
                            "type": MessageType.BROADCAST_CLIENT_COUNT,
                            "data": {"requestId": request_id, "clientCount": count},
                        },
                    ),
                    lambda *answer: self.publish_response(
                        sender,
                        {
                            "type": MessageType.BROADCAST_ACK,
                            "data": {"requestId": request_id, "packet": answer[0] if answer else None},
                        },
                    ),
                )
            else:
                InMemoryAdapter.broadcast(self, packet, opts)
        elif kind == MessageType.SOCKETS_JOIN:
            data = _data(message)
            InMemoryAdapter.add_sockets(
                self, decode_options(data.get("opts")), _rooms(data.get("rooms"), "rooms")
            )
        elif kind == MessageType.SOCKETS_LEAVE:
            data = _data(message)
            InMemoryAdapter.del_sockets(
                self, decode_options(data.get("opts")), _rooms(data.get("rooms"), "rooms")
            )
        elif kind == MessageType.DISCONNECT_SOCKETS:
            data = _data(message)
            InMemoryAdapter.disconnect_sockets(
                self, decode_options(data.get("opts")), bool(data.get("close"))
            )
        elif kind == MessageType.FETCH_SOCKETS:
            data = _data(message)
            request_id = _request_id(data)
            opts = decode_options(data.get("opts"))
            sockets = [socket_details(socket) for socket in self.matching(opts)]
            self.publish_response(
                sender,
                {
                    "type": MessageType.FETCH_SOCKETS_RESPONSE,
                    "data": {"requestId": request_id, "sockets": sockets},
                },
            )
        elif kind == MessageType.SERVER_SIDE_EMIT:
            data = _data(message)
            args = data.get("packet")
            if not isinstance(args, list) or not args or not isinstance(args[0], str):
                raise MalformedMessage("a server-side emit's packet is a list starting with the event name")
            if "requestId" not in data:
                self.nsp.receive_server_side_emit(args)
                return
            request_id = _request_id(data)
            answered = False

            def answer(*args: Any) -> None:
                nonlocal answered
                if answered:  # one answer per server
                    return
                answered = True
                self.publish_response(
                    sender,
                    {
                        "type": MessageType.SERVER_SIDE_EMIT_RESPONSE,
                        "data": {"requestId": request_id, "packet": args[0] if args else None},
                    },
                )

            self.nsp.receive_server_side_emit([*args, answer])
        elif kind in (
            MessageType.BROADCAST_CLIENT_COUNT,
            MessageType.BROADCAST_ACK,
            MessageType.FETCH_SOCKETS_RESPONSE,
            MessageType.SERVER_SIDE_EMIT_RESPONSE,
        ):
            # Some adapters carry responses on the message channel (Node does the same).
            self._on_response(message)
        elif kind in (MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE):
            pass  # liveness: ClusterAdapterWithHeartbeat's business
        elif not self._on_extension_message(message):
            raise MalformedMessage(f"unknown message type {kind!r}")

    def _on_extension_message(self, message: ClusterMessage) -> bool:
        """A message of a type beyond Node's 1-13: True if this adapter handles it (a transport
        only sio servers share may add types; on Node's buses there are none)."""
        return False

    def _on_response(self, response: ClusterMessage) -> None:
        kind = response.get("type")
        data = _data(response)
        request_id = _request_id(data)
        if kind == MessageType.BROADCAST_CLIENT_COUNT:
            count = data.get("clientCount")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise MalformedMessage(f"bad clientCount {count!r}")
            ack_request = self._ack_requests.get(request_id)
            if ack_request is not None:
                ack_request[0](count)
        elif kind == MessageType.BROADCAST_ACK:
            ack_request = self._ack_requests.get(request_id)
            if ack_request is not None:
                ack_request[1](data.get("packet"))
        elif kind in (MessageType.FETCH_SOCKETS_RESPONSE, MessageType.SERVER_SIDE_EMIT_RESPONSE):
            request = self._requests.get(request_id)
            if request is None or request.type + 1 != kind:
                return  # answered already, timed out, or not ours
            if kind == MessageType.FETCH_SOCKETS_RESPONSE:
                sockets = data.get("sockets")
                if not isinstance(sockets, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("id"), str) for s in sockets
                ):
                    raise MalformedMessage("sockets must be a list of socket details")
                request.responses.extend(sockets)
            else:
                request.responses.append(data.get("packet"))
            self._count_response(request_id, request, response.get("uid"))
        else:
            raise MalformedMessage(f"unknown response type {kind!r}")

    def _count_response(self, request_id: str, request: _Request, uid: Any) -> None:
        request.current += 1
        if request.current == request.expected:
            self._settle(request_id, None)

    def _settle(self, request_id: str, err: AckTimeoutError | None) -> None:
        request = self._requests.pop(request_id, None)
        if request is None:
            return
        if request.timer is not None:
            request.timer.cancel()
        request.resolve(err, request.responses)

    def _timeout_message(self, request: _Request) -> str:
        return f"timeout reached: only {request.current} responses received out of {request.expected}"

    def _start_request(
        self, request_id: str, request: _Request, timeout: float, message: ClusterMessage
    ) -> None:
        def on_timeout() -> None:
            if request_id in self._requests:
                self._settle(
                    request_id, AckTimeoutError(self._timeout_message(request), list(request.responses))
                )

        self._requests[request_id] = request
        request.timer = self.nsp.server.wheel.timer(on_timeout)
        request.timer.arm(timeout)
        self.publish(message)

    # -- the contract, cluster-wide ------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish the broadcast (unless ``local``), then write it to this server's sockets."""
        if not opts.flags.local:
            self.publish(
                {
                    "type": MessageType.BROADCAST,
                    "data": {"packet": encode_packet(packet), "opts": encode_options(opts)},
                }
            )
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[..., None],
    ) -> None:
        """Publish with a request id: each server answers its client count, then each client's ack."""
        if not opts.flags.local:
            request_id = _random_id()
            self._ack_requests[request_id] = (client_count_callback, ack)
            self.publish(
                {
                    "type": MessageType.BROADCAST,
                    "data": {
                        "packet": encode_packet(packet),
                        "requestId": request_id,
                        "opts": encode_options(opts),
                    },
                }
            )
            # As Node: whether every client answered is not known here; forget after the timeout.
            timer = self.nsp.server.wheel.timer(lambda: self._ack_requests.pop(request_id, None))
            timer.arm(opts.flags.timeout if opts.flags.timeout is not None else REQUEST_TIMEOUT)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server join ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self.publish(
                {"type": MessageType.SOCKETS_JOIN, "data": {"opts": encode_options(opts), "rooms": rooms}}
            )
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the selected sockets of every server leave ``rooms``."""
        rooms = list(rooms)
        if not opts.flags.local:
            self.publish(
                {"type": MessageType.SOCKETS_LEAVE, "data": {"opts": encode_options(opts), "rooms": rooms}}
            )
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the selected sockets of every server."""
        if not opts.flags.local:
            self.publish(
                {
                    "type": MessageType.DISCONNECT_SOCKETS,
                    "data": {"opts": encode_options(opts), "close": close},
                }
            )
        super().disconnect_sockets(opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | SocketDetails]:
        """This server's sockets and the other servers' (as details), or AckTimeoutError."""
        local: list[Socket | SocketDetails] = list(self.matching(opts))
        expected = await self.server_count() - 1
        if opts.flags.local or expected <= 0:
            return local
        return await self._fetch_remote(opts, local, expected)

    async def _fetch_remote(
        self, opts: BroadcastOptions, found: list[Socket | SocketDetails], expected: int
    ) -> list[Socket | SocketDetails]:
        future = self.nsp.server.wheel.loop.create_future()

        def resolve(err: AckTimeoutError | None, responses: list[Any]) -> None:
            if not future.done():
                future.set_exception(err) if err is not None else future.set_result(responses)

        request_id = _random_id()
        request = _Request(MessageType.FETCH_SOCKETS, resolve, found)
        request.expected = expected
        request.missing = self._live_nodes()
        self._start_request(
            request_id,
            request,
            opts.flags.timeout or REQUEST_TIMEOUT,
            {
                "type": MessageType.FETCH_SOCKETS,
                "data": {"opts": encode_options(opts), "requestId": request_id},
            },
        )
        return await future  # type: ignore[no-any-return]

    def _live_nodes(self) -> set[str]:
        return set()

    def server_side_emit(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Publish ``[event, *args]``; with ``ack``, wait for one answer per other server."""
        if ack is None:
            self.publish({"type": MessageType.SERVER_SIDE_EMIT, "data": {"packet": packet}})
            return
        spawn(self._server_side_emit_with_ack(packet, ack, timeout), self)

    async def _server_side_emit_with_ack(
        self, packet: list[Any], ack: Callable[[Any, list[Any]], None], timeout: float | None
    ) -> None:
        try:
            expected = await self.server_count() - 1
        except Exception as exc:  # the count needs the broker: a clear error, not a hang
            ack(AckTimeoutError(f"could not count the servers: {exc}", []), [])
            return
        self._request_answers(packet, ack, timeout, expected, set())

    def _request_answers(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None],
        timeout: float | None,
        expected: int,
        missing: set[str],
    ) -> None:
        if expected <= 0:
            ack(None, [])
            return
        request_id = _random_id()
        request = _Request(MessageType.SERVER_SIDE_EMIT, ack, [])
        request.expected = expected
        request.missing = missing
        self._start_request(
            request_id,
            request,
            timeout if timeout is not None else REQUEST_TIMEOUT,
            {"type": MessageType.SERVER_SIDE_EMIT, "data": {"requestId": request_id, "packet": packet}},
        )


class ClusterAdapterWithHeartbeat(ClusterAdapter):
    """Node's ``ClusterAdapterWithHeartbeat``: the cluster counts the servers it hears from.

    Each server publishes ``INITIAL_HEARTBEAT`` when it starts (the others answer with a
    ``HEARTBEAT``), a ``HEARTBEAT`` whenever it published nothing for ``heartbeat_interval``
    seconds, and ``ADAPTER_CLOSE`` when it closes. A server unheard of for
    ``heartbeat_timeout`` seconds is counted out (checked every second). Requests wait for
    the servers known when they were sent; a server that leaves meanwhile is not waited for.
    """

    def __init__(
        self, nsp: Namespace, heartbeat_interval: float = 5.0, heartbeat_timeout: float = 10.0
    ) -> None:
        super().__init__(nsp)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.nodes: dict[str, float] = {}  # uid -> loop time of its last message
        self._heartbeat_timer: Timer | None = None
        self._cleanup_timer: Timer | None = None

    def init(self) -> None:
        """Announce this server and start the heartbeat and the liveness check."""
        wheel = self.nsp.server.wheel
        self._heartbeat_timer = wheel.timer(self._on_heartbeat_timer)
        self._cleanup_timer = wheel.timer(self._on_cleanup_timer)
        self._cleanup_timer.arm(1.0)
        self.publish({"type": MessageType.INITIAL_HEARTBEAT})

    async def close(self) -> None:
        """Tell the cluster this server leaves; stop the timers."""
        self.publish({"type": MessageType.ADAPTER_CLOSE})
        for timer in (self._heartbeat_timer, self._cleanup_timer):
            if timer is not None:
                timer.cancel()
        self._heartbeat_timer = self._cleanup_timer = None  # a later publish re-arms nothing

    def publish(self, message: ClusterMessage) -> None:
        """Publish, and push the next heartbeat back (any message shows this server is alive)."""
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.arm(self.heartbeat_interval)
        super().publish(message)

    def _on_heartbeat_timer(self) -> None:
        self.publish({"type": MessageType.HEARTBEAT})

    def _on_cleanup_timer(self) -> None:
        now = self.nsp.server.wheel.loop.time()
        for uid, last_seen in list(self.nodes.items()):
            if now - last_seen > self.heartbeat_timeout:
                log.debug("[%s] node %s seems down", self.uid, uid)
                self._remove_node(uid)
        if self._cleanup_timer is not None:
            self._cleanup_timer.arm(1.0)

    def _on_message(self, message: ClusterMessage, offset: str | None) -> None:
        uid = message["uid"]
        kind = message.get("type")
        if kind == MessageType.ADAPTER_CLOSE:
            self._remove_node(uid)
            return
        if kind == MessageType.INITIAL_HEARTBEAT:
            self.publish({"type": MessageType.HEARTBEAT})
        elif kind != MessageType.HEARTBEAT:
            super()._on_message(message, offset)
        # Counted once its message proved well-formed (garbage raised above), where Node counts
        # any uid first: a malformed message must not make up a server that requests then wait
        # for. A server is any uid we hear from; an emitter is not one.
        if uid != EMITTER_UID:
            self.nodes[uid] = self.nsp.server.wheel.loop.time()

    async def server_count(self) -> int:
        """This server and every server heard from within ``heartbeat_timeout``."""
        return 1 + len(self.nodes)

    def _live_nodes(self) -> set[str]:
        return set(self.nodes)

    def _timeout_message(self, request: _Request) -> str:
        return f"timeout reached: missing {len(request.missing)} responses"

    def server_side_emit(
        self,
        packet: list[Any],
        ack: Callable[[Any, list[Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """As the base, waiting for the servers known now (no count to await)."""
        if ack is None:
            super().server_side_emit(packet)
            return
        self._request_answers(packet, ack, timeout, len(self.nodes), set(self.nodes))

    def _count_response(self, request_id: str, request: _Request, uid: Any) -> None:
        request.missing.discard(uid)
        if not request.missing:
            self._settle(request_id, None)

    def node_gone(self, uid: str) -> None:
        """The transport saw server ``uid`` go (its connection closed): count it out now,
        without waiting for ``heartbeat_timeout``."""
        self._remove_node(uid)

    def _remove_node(self, uid: str) -> None:
        """Count a server out; requests that only waited for it complete."""
        self.nodes.pop(uid, None)
        for request_id, request in list(self._requests.items()):
            if uid in request.missing:
                request.missing.discard(uid)
                if not request.missing:
                    self._settle(request_id, None)
