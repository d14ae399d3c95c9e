"""Driving the official JavaScript socket.io-client (tests/js/sio_peer.js) from a test."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.peers import NodePeer


def to_wire(value: Any) -> Any:
    """Python value -> the peer's JSON (bytes as {"$bin": hex})."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """The peer's JSON -> Python value."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


class SioPeer:
    """One socket.io-client Manager (one connection) with sockets on several namespaces."""

    _refs = itertools.count(1)

    def __init__(self, node: NodePeer) -> None:
        self.node = node

    @classmethod
    async def start(cls, node_peers: Any, url: str, **options: Any) -> SioPeer:
        """Start a client for ``url`` with Manager ``options`` (nothing connects yet)."""
        return cls(await node_peers("sio_peer.js", url, json.dumps(options)))

    async def connect(self, nsp: str = "/", auth: Any = None) -> dict[str, Any]:
        """Connect a namespace and return the ``connect`` event."""
        self.node.command("connect", nsp=nsp, auth=auth)
        return await self.expect_any({"connect", "connect_error"}, nsp=nsp)

    def emit(self, name: str, *args: Any, nsp: str = "/") -> None:
        """Emit without ack."""
        self.node.command("emit", nsp=nsp, name=name, args=to_wire(list(args)))

    async def call(
        self, name: str, *args: Any, nsp: str = "/", timeout: float | None = None
    ) -> dict[str, Any]:
        """Emit with an ack callback and return the ``ack`` event (``args`` decoded)."""
        ref = next(self._refs)
        fields: dict[str, Any] = {
            "nsp": nsp,
            "name": name,
            "args": to_wire(list(args)),
            "ack": True,
            "ref": ref,
        }
        if timeout is not None:
            fields["timeout"] = timeout * 1000
        self.node.command("emit", **fields)
        event = await self.expect("ack", ref=ref)
        event["args"] = from_wire(event["args"])
        return event

    async def reply(self, name: str, reply: Any, nsp: str = "/") -> None:
        """How the client answers acks the server asks for on ``name``: "echo", "none" or values."""
        self.node.command(
            "reply", nsp=nsp, name=name, reply=reply if isinstance(reply, str) else to_wire(reply)
        )
        await self.expect("ok", cmd="reply")

    async def event(self, name: str, nsp: str = "/") -> list[Any]:
        """Wait for the server event ``name`` and return its arguments (decoded)."""
        event = await self.expect("event", name=name, nsp=nsp)
        return from_wire(event["args"])

    def events(self, name: str, nsp: str = "/") -> list[list[Any]]:
        """Arguments of every ``name`` event seen so far."""
        return [
            from_wire(e["args"]) for e in self.node.seen("event") if e["name"] == name and e["nsp"] == nsp
        ]

    async def until_seen(self, *names: str, nsp: str = "/") -> None:
        """Read events until each server event in ``names`` was seen, in whatever order they come."""
        while not all(self.events(name, nsp) for name in names):
            await self.node.next_event()

    async def expect(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        """Wait for the next peer event ``kind`` matching ``fields`` (others are skipped)."""
        while True:
            event = await self.node.expect(kind)
            if all(event.get(k) == v for k, v in fields.items()):
                return event

    async def expect_any(self, names: set[str], **fields: Any) -> dict[str, Any]:
        """Wait for the next event among ``names`` matching ``fields``."""
        while True:
            event = await self.node.next_event()
            if event["event"] in names and all(event.get(k) == v for k, v in fields.items()):
                return event

    def command(self, cmd: str, **fields: Any) -> None:
        """Send a raw command to the peer."""
        self.node.command(cmd, **fields)
