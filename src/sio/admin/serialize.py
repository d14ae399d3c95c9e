"""What the Admin UI is sent about sockets and times, in the shapes Node's admin-ui sends."""

from __future__ import annotations

import dataclasses
import os
import socket as _socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sio.notepack import iso_date

if TYPE_CHECKING:
    from sio.broadcast import RemoteSocket
    from sio.socket import Socket

# The key of socket.data where the admin keeps what a server needs to show another's sockets
# (fetch_sockets carries data across the cluster): as Node's, so mixed clusters agree.
ADMIN_DATA_KEY = "_admin"


def js_date(timestamp: float | None = None) -> str:
    """A time (now by default) as a JavaScript ``Date`` goes out in JSON (``2026-12-01T10:00:00.000Z``)."""
    seconds, milliseconds = divmod(int((time.time() if timestamp is None else timestamp) * 1000), 1000)
    return iso_date(seconds, milliseconds)


def serialize_data(data: Any) -> Any:
    """``socket.data`` without the admin's own key (Node's ``serializeData``)."""
    if not isinstance(data, Mapping):
        return {}
    return {key: value for key, value in data.items() if key != ADMIN_DATA_KEY}


def _handshake_fields(handshake: Any) -> Mapping[str, Any]:
    """A local socket's :class:`~sio.socket.Handshake`, or a remote one's as the cluster carried it."""
    if isinstance(handshake, Mapping):
        return handshake
    return {field.name: getattr(handshake, field.name) for field in dataclasses.fields(handshake)}


def serialize_socket(socket: Socket | RemoteSocket, nsp: str) -> dict[str, Any]:
    """A socket as the UI lists it (Node's ``serialize``): the handshake without ``auth``."""
    data = socket.data
    admin = data.get(ADMIN_DATA_KEY) if isinstance(data, Mapping) else None
    if not isinstance(admin, Mapping):
        admin = {}
    fields = _handshake_fields(socket.handshake)
    headers = fields.get("headers") or {}
    address = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for") or fields.get("address")
    joined = getattr(socket, "adapter", None)
    if joined is not None:  # a local socket: its rooms in the order it joined them, as Node's Set
        ordered = list(joined.sids.get(socket.id, ()))
    else:  # a remote one's came as a set: its own room first, then by name
        rooms = socket.rooms
        ordered = [socket.id] if socket.id in rooms else []
        ordered.extend(sorted(room for room in rooms if room != socket.id))
    serialized: dict[str, Any] = {"id": socket.id}
    # Node's undefined members are left out of the JSON, not sent as null.
    if "clientId" in admin:
        serialized["clientId"] = admin["clientId"]
    if "transport" in admin:
        serialized["transport"] = admin["transport"]
    serialized["nsp"] = nsp
    serialized["data"] = serialize_data(data)
    handshake: dict[str, Any] = {"address": address}
    for key in ("headers", "query", "issued", "secure", "time", "url", "xdomain"):
        if key in fields:
            handshake[key] = fields[key]
    serialized["handshake"] = handshake
    serialized["rooms"] = ordered
    return serialized


def _process_start() -> float:
    """When this process started, on the ``time.monotonic()`` clock (Linux: read from /proc once)."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            # Field 22, after the parenthesised command name (which may hold spaces).
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            system_uptime = float(uptime.read().split()[0])
        return now - max(0.0, system_uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):  # not Linux: since sio.admin was imported
        return now


def process_uptime() -> float:
    """Seconds since this process started (Node's ``process.uptime()``)."""
    return time.monotonic() - _PROCESS_START


def hostname() -> str:
    """This machine's name (Node's ``os.hostname()``)."""
    return _socket.gethostname()


_PROCESS_START = _process_start()
