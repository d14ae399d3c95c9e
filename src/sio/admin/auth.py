"""The Admin UI's basic authentication: a username and a bcrypt hash of the password.

Node's ``@socket.io/admin-ui`` checks the password with ``bcryptjs``; this uses ``bcrypt`` (the
``admin`` extra), which accepts the same hashes: ``$2a$``, ``$2b$`` and ``$2y$``, any cost. The
check runs in a thread (a cost of 10 takes tens of milliseconds of CPU, which must not stall the
loop). A hash that is not a bcrypt hash is refused when the server is instrumented, not when
someone first tries to log in.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from sio.errors import InvalidOption

# $2<a|b|y>$<cost: 04..31>$<22 characters of salt><31 of hash>, in bcrypt's base64 alphabet.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError as exc:  # pragma: no cover - the admin extra is missing
        raise InvalidOption(
            'basic authentication needs the bcrypt package: pip install "sio[admin]"'
        ) from exc
    return bcrypt


@dataclass(frozen=True)
class BasicAuth:
    """``auth={"type": "basic", "username": ..., "password": <bcrypt hash>}`` as checked."""

    username: str
    password_hash: bytes

    @classmethod
    def from_option(cls, auth: Any) -> BasicAuth | None:
        """Read ``instrument``'s ``auth`` option: None for ``False`` (no authentication)."""
        if auth is False:
            return None
        if auth is None:
            raise InvalidOption("the `auth` option must be specified or explicitly set to `False`")
        if not isinstance(auth, dict) or auth.get("type") != "basic":
            raise InvalidOption('invalid `auth` option: {"type": "basic", "username": ..., "password": ...}')
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str):
            raise InvalidOption("the `username` field must be a string")
        if not isinstance(password, str) or not _BCRYPT_HASH.fullmatch(password):
            raise InvalidOption("the `password` field must be a valid bcrypt hash")
        _bcrypt()  # fail now, not at the first login, when bcrypt is missing
        return cls(username, password.encode("ascii"))

    async def matches(self, username: Any, password: Any) -> bool:
        """Whether a login's username and password are these (False for anything not strings)."""
        if username != self.username or not isinstance(password, str):
            return False
        bcrypt = _bcrypt()
        # bcrypt reads at most 72 bytes of the password, as bcryptjs does.
        secret = password.encode()[:72]
        return bool(await asyncio.to_thread(bcrypt.checkpw, secret, self.password_hash))


def hash_password(password: str, rounds: int = 10) -> str:
    """A bcrypt hash of ``password`` for ``auth={"type": "basic", ...}`` (``$2b$``, cost ``rounds``)."""
    bcrypt = _bcrypt()
    hashed: bytes = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds))
    return hashed.decode("ascii")
