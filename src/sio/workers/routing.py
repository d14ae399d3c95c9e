"""Which worker holds a session, and a parsed request written back as bytes (sans-I/O).

A session id is 20 URL-safe characters, as Node's ``base64id`` gives. With ``--workers N`` its
first character (two when N > 64) names the worker that created it, so any worker knows a
session's owner from the id alone: routing knows a session before its client does (no
registration to race with, unlike socket.io-sticky#2).
"""

from __future__ import annotations

from collections.abc import Mapping

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # base64url
_VALUE = {char: value for value, char in enumerate(ALPHABET)}
SID_LENGTH = 20
MAX_WORKERS = len(ALPHABET) ** 2


def prefix_width(count: int) -> int:
    """Characters of a sid that name its worker, for ``count`` workers."""
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, not {count}")
    return 1 if count <= len(ALPHABET) else 2


def worker_prefix(index: int, count: int) -> str:
    """The sid prefix of worker ``index`` (of ``count``)."""
    if not 0 <= index < count:
        raise ValueError(f"worker index {index} out of range for {count} workers")
    if prefix_width(count) == 1:
        return ALPHABET[index]
    return ALPHABET[index // len(ALPHABET)] + ALPHABET[index % len(ALPHABET)]


def owner_of(sid: str, count: int) -> int | None:
    """The worker that created ``sid``, or None when the id cannot be one of ours."""
    if len(sid) != SID_LENGTH:
        return None
    if prefix_width(count) == 1:
        index = _VALUE.get(sid[0])
    else:
        high, low = _VALUE.get(sid[0]), _VALUE.get(sid[1])
        index = None if high is None or low is None else high * len(ALPHABET) + low
    return index if index is not None and index < count else None


# Headers a request written back must not repeat: its body is sent whole, with its own length.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def request_bytes(method: str, target: bytes, version: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """A parsed request as HTTP/1.x bytes that parse back to the same request.

    ``headers`` are the parsed ones (lower-case names, repeated ones joined with ``", "``);
    a chunked body was already decoded, so the bytes carry it with a ``Content-Length``.
    """
    lines = [f"{method} ".encode("latin-1") + target + f" HTTP/{version}\r\n".encode("latin-1")]
    for name, value in headers.items():
        if name not in _FRAMING:
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    if body or "content-length" in headers or "transfer-encoding" in headers:
        lines.append(b"content-length: %d\r\n" % len(body))
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
