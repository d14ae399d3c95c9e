"""The cluster protocol between the processes of one machine, over Unix sockets: nothing to install.

``local_adapter(directory)`` makes every server that names the same directory one node of a
cluster (:class:`~sio.adapters.cluster.ClusterAdapterWithHeartbeat`: Node's messages, heartbeats,
a node that dies is counted out). It is what ``--workers`` will use between its workers.

The transport is a mesh, no middle process: each node listens on ``<directory>/<uid>.sock``,
connects to every socket it finds there, and a node that is connected to connects back. A node
writes only on the connections it opened and reads only on those it accepted, so each message
crosses once. Frames are a 4-byte big-endian length and the message in msgpack (binary data
stays binary). A socket file whose node is gone is removed by whoever finds it dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from sio._events import spawn
from sio.adapters.cluster import (
    REQUEST_TIMEOUT,
    ClusterAdapterWithHeartbeat,
    ClusterMessage,
    MalformedMessage,
    MessageType,
)
from sio.recovery import Session

if TYPE_CHECKING:
    from sio.namespace import Namespace

__all__ = ["RESTORE_SESSION", "RESTORE_SESSION_RESPONSE", "LocalAdapter", "LocalMesh", "local_adapter"]

# Message types of the local mesh beyond Node's 1-13 (only sio servers are on a mesh).
RESTORE_SESSION = 101
RESTORE_SESSION_RESPONSE = 102

log = logging.getLogger("sio.local")

_LENGTH = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # a message larger than this is a broken peer, not a message


class LocalMesh:
    """One node's side of the mesh: a listening socket, a connection to every other node."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.name = secrets.token_hex(8)
        self.path = self.directory / f"{self.name}.sock"
        self.adapters: dict[str, LocalAdapter] = {}  # by namespace
        self.users = 0
        self._out: dict[str, asyncio.StreamWriter] = {}  # peer name -> our connection to it
        self._in: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}  # accepted, with their reader
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._packer = msgpack.Packer(use_bin_type=True)

    def start(self) -> None:
        """Listen and connect to the nodes already there (idempotent; needs the running loop)."""
        if self._task is None:
            self._task = spawn(self._start(), self)

    async def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._accepted, path=str(self.path))
        for other in sorted(self.directory.glob("*.sock")):
            if other != self.path:
                await self._connect(other.stem)
        for adapter in list(self.adapters.values()):  # now the others can hear it: announce each namespace
            adapter.publish({"type": MessageType.INITIAL_HEARTBEAT})

    async def _connect(self, peer: str) -> None:
        if peer in self._out or peer == self.name:
            return
        path = self.directory / f"{peer}.sock"
        try:
            _, writer = await asyncio.open_unix_connection(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):
                path.unlink()  # a node that is gone left its socket file
            return
        except OSError as exc:
            log.warning("could not reach the local node %s: %s", peer, exc)
            return
        if peer in self._out:  # connected meanwhile from the other side's hello
            writer.close()
            return
        hello = self.name.encode()
        writer.write(_LENGTH.pack(len(hello)) + hello)  # the first frame: who we are
        self._out[peer] = writer

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ""
        uids: set[str] = set()  # the servers (one per namespace) speaking on this connection
        self._in[writer] = asyncio.current_task()
        try:
            header = await reader.readexactly(4)
            peer = (await reader.readexactly(_LENGTH.unpack(header)[0])).decode()
            await self._connect(peer)  # a newcomer: talk back to it
            while True:
                header = await reader.readexactly(4)
                (size,) = _LENGTH.unpack(header)
                if size > MAX_FRAME:
                    raise ValueError(f"a frame of {size} bytes")
                uid = self._deliver(await reader.readexactly(size))
                if uid is not None:
                    uids.add(uid)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, UnicodeDecodeError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                log.debug("closing the connection from local node %s: %s", peer or "?", exc)
        finally:
            writer.close()
            self._in.pop(writer, None)
            # A node whose connection ends is gone (killed, or closed): its sockets stop counting
            # at once, not after the heartbeat timeout.
            for adapter in list(self.adapters.values()):
                for uid in uids:
                    adapter.node_gone(uid)
            out = self._out.pop(peer, None)
            if out is not None:
                out.close()

    def _deliver(self, frame: bytes) -> str | None:
        """Hand a frame to its namespace's adapter; return the sender's uid if it has one."""
        try:
            message = msgpack.unpackb(frame, raw=False, strict_map_key=False)
        except Exception as exc:
            log.debug("dropped an undecodable local message: %s", exc)
            return None
        nsp = message.get("nsp") if isinstance(message, dict) else None
        adapter = self.adapters.get(nsp) if isinstance(nsp, str) else None
        if adapter is not None:
            adapter.on_message(message)
        uid = message.get("uid") if isinstance(message, dict) else None
        return uid if isinstance(uid, str) and adapter is not None else None

    def publish(self, message: ClusterMessage) -> None:
        """Write ``message`` to every other node (dropped for a node whose connection is gone)."""
        body = self._packer.pack(message)
        frame = _LENGTH.pack(len(body)) + body
        for peer, writer in list(self._out.items()):
            if writer.is_closing():
                self._out.pop(peer, None)
                continue
            writer.write(frame)

    async def close(self) -> None:
        """Stop listening, close every connection, remove the socket file."""
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task
        for writer in self._out.values():
            writer.close()
        self._out.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        # The readers of accepted connections end (their peer's side closes, or ours does now)
        # before the loop does: a reader cancelled by the loop's end is logged as an error.
        readers = [task for task in self._in.values() if task is not None]
        for writer in list(self._in):
            writer.close()
        if readers:
            await asyncio.wait(readers, timeout=1.0)
        with contextlib.suppress(OSError):
            self.path.unlink()


def local_adapter(
    directory: str | os.PathLike[str], *, heartbeat_interval: float = 5.0, heartbeat_timeout: float = 10.0
) -> Callable[[Namespace], LocalAdapter]:
    """A factory for ``sio.Server(adapter=...)``: the servers naming ``directory`` form one cluster."""
    mesh = LocalMesh(directory)

    def factory(nsp: Namespace) -> LocalAdapter:
        return LocalAdapter(
            nsp, mesh, heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout
        )

    return factory


class LocalAdapter(ClusterAdapterWithHeartbeat):
    """One namespace on the local mesh.

    Connection state recovery across the mesh: each server keeps the sessions of its own
    sockets that left and the log of what it delivered (the in-memory adapter's), so the
    offsets a client holds are the ones its server gave. A client that comes back to another
    server is restored there by asking the others (``RESTORE_SESSION``): the one holding the
    session answers with it and the packets it missed, from its own log, in its own order.
    """

    def __init__(
        self,
        nsp: Namespace,
        mesh: LocalMesh,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
    ) -> None:
        super().__init__(nsp, heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout)
        self.mesh = mesh
        # restore requests sent: request id -> (the answer, the servers yet to answer)
        self._restores: dict[str, tuple[asyncio.Future[Session | None], set[str]]] = {}

    def init(self) -> None:
        """Join the mesh, then announce this node (INITIAL_HEARTBEAT)."""
        self.mesh.adapters[self.nsp.name] = self
        self.mesh.users += 1
        self.mesh.start()
        super().init()

    async def close(self) -> None:
        """Say ADAPTER_CLOSE; the last namespace leaving closes the mesh."""
        await super().close()
        if self.mesh.adapters.get(self.nsp.name) is self:
            del self.mesh.adapters[self.nsp.name]
            self.mesh.users -= 1
            if self.mesh.users <= 0:
                await self.mesh.close()

    def do_publish(self, message: ClusterMessage) -> None:
        """To every other node."""
        self.mesh.publish(message)

    def do_publish_response(self, requester_uid: str, response: ClusterMessage) -> None:
        """To every node (the others ignore a response to a request they did not send)."""
        self.mesh.publish(response)

    # -- connection state recovery across the mesh ------------------------------------

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """This server's own session of ``pid``, else the one another server of the mesh holds."""
        session = self.restore_local_session(pid, offset)
        if session is not None or not self.nodes:
            return session
        request_id = secrets.token_hex(8)
        future: asyncio.Future[Session | None] = self.nsp.server.wheel.loop.create_future()
        self._restores[request_id] = (future, set(self.nodes))
        timer = self.nsp.server.wheel.timer(lambda: self._settle_restore(request_id, None))
        timer.arm(REQUEST_TIMEOUT)
        self.publish(
            {"type": RESTORE_SESSION, "data": {"requestId": request_id, "pid": pid, "offset": offset}}
        )
        try:
            return await future
        finally:
            timer.cancel()

    def _settle_restore(self, request_id: str, session: Session | None) -> None:
        pending = self._restores.pop(request_id, None)
        if pending is not None and not pending[0].done():
            pending[0].set_result(session)

    def _on_extension_message(self, message: ClusterMessage) -> bool:
        kind = message.get("type")
        if kind == RESTORE_SESSION:
            self._answer_restore(message)
        elif kind == RESTORE_SESSION_RESPONSE:
            self._on_restore_response(message)
        else:
            return False
        return True

    def _answer_restore(self, message: ClusterMessage) -> None:
        data = message.get("data")
        if not isinstance(data, dict):
            raise MalformedMessage("data must be an object")
        request_id, pid, offset = data.get("requestId"), data.get("pid"), data.get("offset")
        if not isinstance(request_id, str) or not isinstance(pid, str) or not isinstance(offset, str):
            raise MalformedMessage("a restore request has a string requestId, pid and offset")
        session = self.restore_local_session(pid, offset)
        answer: dict[str, Any] = {"requestId": request_id, "session": None}
        if session is not None:
            answer["session"] = session.to_wire()
            answer["missedPackets"] = session.missed_packets
        self.publish_response(message["uid"], {"type": RESTORE_SESSION_RESPONSE, "data": answer})

    def _on_restore_response(self, message: ClusterMessage) -> None:
        data = message.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("requestId"), str):
            raise MalformedMessage("a restore response has a requestId")
        pending = self._restores.get(data["requestId"])
        if pending is None:
            return  # not ours, or settled already
        wire = data.get("session")
        if wire is not None:
            try:
                session = Session.from_wire(wire)
            except ValueError as exc:
                raise MalformedMessage(str(exc)) from exc
            missed = data.get("missedPackets")
            if not isinstance(missed, list) or not all(isinstance(p, list) and p for p in missed):
                raise MalformedMessage("missedPackets must be a list of packet data")
            session.missed_packets = missed
            self._settle_restore(data["requestId"], session)
            return
        waiting = pending[1]
        waiting.discard(message["uid"])
        if not waiting:
            self._settle_restore(data["requestId"], None)

    def _remove_node(self, uid: str) -> None:
        """As the base; a restore that only waited for that server settles (no session)."""
        super()._remove_node(uid)
        for request_id, (_, waiting) in list(self._restores.items()):
            if uid in waiting:
                waiting.discard(uid)
                if not waiting:
                    self._settle_restore(request_id, None)
