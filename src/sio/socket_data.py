"""``socket.data``: a dict that says when it was written to.

Node's ``socket.data`` is a plain object; the tools that watch it (the Admin UI wraps it in a
``Proxy``) learn of a property being set. :class:`SocketData` is that for Python: a ``dict``
(reads, iteration, ``orjson`` and ``msgpack`` see a dict, at a dict's speed) whose writing
methods call ``on_change()`` after the write. Only the top level is watched, as Node's Proxy:
``data["user"]["name"] = x`` changes an object inside, not ``data``; ``data["user"] = user``
is a change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SocketData(dict[str, Any]):
    """A ``dict`` that calls ``on_change()`` after every write to it (not after reads)."""

    __slots__ = ("on_change",)

    def __init__(self, on_change: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_change = on_change

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.on_change()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.on_change()

    def __ior__(self, other: Any) -> SocketData:  # type: ignore[override,misc]
        super().update(other)
        self.on_change()
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        super().update(*args, **kwargs)
        self.on_change()

    def setdefault(self, key: str, default: Any = None) -> Any:  # noqa: D102
        if key in self:
            return self[key]
        super().__setitem__(key, default)
        self.on_change()
        return default

    def pop(self, key: str, *default: Any) -> Any:  # noqa: D102
        present = key in self
        value = super().pop(key, *default)
        if present:
            self.on_change()
        return value

    def popitem(self) -> tuple[str, Any]:  # noqa: D102
        item = super().popitem()
        self.on_change()
        return item

    def clear(self) -> None:  # noqa: D102
        had = bool(self)
        super().clear()
        if had:
            self.on_change()

    def __reduce__(self) -> Any:
        # Pickled / copied as the plain dict it holds (the callback is the socket's, not data).
        return (dict, (dict(self),))

    def copy(self) -> dict[str, Any]:  # type: ignore[override]
        """A plain ``dict`` with the same items (not watched)."""
        return dict(self)
