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
from typing import TYPE_CHECKING

import msgpack

from sio._events import spawn
from sio.adapters.cluster import ClusterAdapterWithHeartbeat, ClusterMessage, MessageType

if TYPE_CHECKING:
    from sio.namespace import Namespace

__all__ = ["LocalAdapter", "LocalMesh", "local_adapter"]

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
    """One namespace on the local mesh."""

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
