"""Where the Admin UI's session ids are kept (Node's ``InMemoryStore`` and ``RedisStore``).

A successful login creates a session id that the UI sends back (``auth.sessionId``) when it
reconnects, instead of the password. In a cluster every server must know every session: use
:class:`RedisStore`, whose keys are Node's (``socket.io-admin#<sessionId>`` = ``"1"``, expiring
after a day), so sio and Node servers instrumented on the same Redis accept each other's sessions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Store(ABC):
    """Keeps session ids (Node's ``Store``)."""

    @abstractmethod
    async def does_session_exist(self, session_id: str) -> bool:
        """Whether ``session_id`` was saved (and has not expired)."""

    @abstractmethod
    async def save_session(self, session_id: str) -> None:
        """Remember ``session_id``."""


class InMemoryStore(Store):
    """Session ids in this process, for as long as it runs (the default, for one server)."""

    def __init__(self) -> None:
        self._sessions: set[str] = set()

    async def does_session_exist(self, session_id: str) -> bool:
        """Whether ``session_id`` was saved here."""
        return session_id in self._sessions

    async def save_session(self, session_id: str) -> None:
        """Remember ``session_id`` until the process ends."""
        self._sessions.add(session_id)


class RedisStore(Store):
    """Session ids in Redis, as Node's ``RedisStore`` / ``RedisV4Store`` keep them.

    ``client`` is a ``redis.asyncio.Redis`` (the ``redis`` extra); keys are
    ``<prefix>#<sessionId>``, set to ``"1"`` with an expiry of ``session_duration`` seconds.
    """

    def __init__(
        self, client: Any, *, prefix: str = "socket.io-admin", session_duration: int = 86400
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.session_duration = session_duration

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}#{session_id}"

    async def does_session_exist(self, session_id: str) -> bool:
        """Whether the session's key exists in Redis."""
        return bool(await self.client.exists(self._key(session_id)))

    async def save_session(self, session_id: str) -> None:
        """Set the session's key, expiring after ``session_duration`` seconds."""
        await self.client.set(self._key(session_id), "1", ex=self.session_duration)
