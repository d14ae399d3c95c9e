"""Mistakes mypy must catch (tests/typing/test_typing.py; never run): each comment is the error of the next line."""

from __future__ import annotations

import sio

# E: Unexpected keyword argument "ping_intervall" for "Server"; did you mean "ping_interval"?
io = sio.Server(ping_intervall=10.0)
# E: Argument 1 to "emit" of "Server" has incompatible type "int"; expected "str"
io.emit(42)
# E: Argument "other_asgi_app" to "listen" of "Server" has incompatible type "str"; expected "Callable[[MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]], Callable[[MutableMapping[str, Any]], Awaitable[None]]], Awaitable[None]] | None"
io.listen(3000, other_asgi_app="app:api")
