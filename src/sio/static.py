"""Serving a few static files beside the server (a chat page and its client bundle, say).

``static_files`` maps URL paths to files, or URL prefixes ending in ``/`` to directories (a
folder's own URL, ending in ``/``, serves its ``index.html``); anything else gets a 404, or goes
to the ASGI app served beside them (``other_asgi_app``: static files first, then the app). Paths
never escape the mapped directory.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Protocol

from sio.engine.exchange import HttpExchange

CONTENT_TYPES = {".js": "application/javascript", ".html": "text/html; charset=utf-8", ".css": "text/css"}


class HttpFallback(Protocol):
    """What the built-in front end gives the requests that are not the engine's (``Server.static_files``:
    :class:`StaticFiles`, or ``sio.metrics``' endpoint in front of them)."""

    def __call__(self, exchange: HttpExchange) -> None:
        """Answer ``exchange``."""

    def serves(self, method: str, url_path: str) -> bool:
        """Whether this answers the request rather than an ASGI app served beside it."""


class StaticFiles:
    """Answer GET/HEAD requests from a mapping of URL paths to files or directories."""

    def __init__(self, mapping: dict[str, str | Path]) -> None:
        self.files: dict[str, Path] = {}
        self.directories: list[tuple[str, Path]] = []
        for url, target in mapping.items():
            path = Path(target).resolve()
            if url.endswith("/") and path.is_dir():
                self.directories.append((url, path))
            else:
                self.files[url] = path
        self.directories.sort(key=lambda item: len(item[0]), reverse=True)

    def resolve(self, url_path: str) -> Path | None:
        """The file for ``url_path``, or None."""
        path = self.files.get(url_path)
        if path is not None:
            return path if path.is_file() else None
        for prefix, directory in self.directories:
            if url_path.startswith(prefix):
                candidate = (directory / url_path[len(prefix) :]).resolve()
                if url_path.endswith("/") and candidate.is_dir():  # a folder's URL: its index.html
                    candidate = candidate / "index.html"
                if candidate.is_relative_to(directory) and candidate.is_file():
                    return candidate
                return None
        return None

    def serves(self, method: str, url_path: str) -> bool:
        """Whether this answers the request rather than an ASGI app beside it: a GET or HEAD of a
        file it has (anything else goes to the app)."""
        return method in ("GET", "HEAD") and self.resolve(url_path) is not None

    def __call__(self, exchange: HttpExchange) -> None:
        """Serve one request (the built-in front end's fallback)."""
        status, headers, body = self.response(exchange.method, exchange.path)
        exchange.respond(status, headers, body)

    def response(self, method: str, url_path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body for a request."""
        if method not in ("GET", "HEAD"):
            return 405, [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")], b"Method Not Allowed"
        path = self.resolve(url_path)
        if path is None:
            return 404, [("Content-Type", "text/plain")], b"Not Found"
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        body = path.read_bytes()
        return (
            200,
            [("Content-Type", content_type or "application/octet-stream")],
            b"" if method == "HEAD" else body,
        )
