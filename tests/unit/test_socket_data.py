"""SocketData: a dict whose every write (and no read) calls its callback, serialised as a dict."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
import pytest

from sio import notepack
from sio.socket_data import SocketData


def counted(initial: dict[str, Any] | None = None) -> tuple[SocketData, list[int]]:
    calls: list[int] = []
    return SocketData(lambda: calls.append(1), initial or {}), calls


WRITES: list[tuple[str, Callable[[SocketData], Any], dict[str, Any]]] = [
    ("setitem", lambda d: d.__setitem__("b", 2), {"a": 1, "b": 2}),
    ("delitem", lambda d: d.__delitem__("a"), {}),
    ("update", lambda d: d.update({"b": 2}, c=3), {"a": 1, "b": 2, "c": 3}),
    ("ior", lambda d: d.__ior__({"b": 2}), {"a": 1, "b": 2}),
    ("setdefault new", lambda d: d.setdefault("b", 2), {"a": 1, "b": 2}),
    ("pop present", lambda d: d.pop("a"), {}),
    ("popitem", lambda d: d.popitem(), {}),
    ("clear", lambda d: d.clear(), {}),
]


@pytest.mark.parametrize(("name", "write", "after"), WRITES, ids=[w[0] for w in WRITES])
def test_every_write_calls_back_once(
    name: str, write: Callable[[SocketData], Any], after: dict[str, Any]
) -> None:
    data, calls = counted({"a": 1})
    write(data)
    assert data == after
    assert calls == [1]


def test_reads_and_writes_that_change_nothing_do_not_call_back() -> None:
    data, calls = counted({"a": 1})
    assert data["a"] == 1 and data.get("z") is None and list(data) == ["a"] and dict(data.items()) == {"a": 1}
    assert data.setdefault("a", 5) == 1
    assert data.pop("z", None) is None
    data, calls2 = counted()
    data.clear()
    assert calls == [] and calls2 == []
    with pytest.raises(KeyError):
        data.pop("z")
    assert calls2 == []


def test_what_changes_inside_a_value_is_not_seen_as_with_nodes_proxy() -> None:
    data, calls = counted({"user": {"name": "a"}})
    data["user"]["name"] = "b"
    assert calls == []


def test_serialised_and_copied_as_the_plain_dict_it_is() -> None:
    data, _ = counted({"a": [1, 2], "b": None})
    assert orjson.loads(orjson.dumps(data)) == {"a": [1, 2], "b": None}
    assert json.loads(json.dumps(data)) == {"a": [1, 2], "b": None}
    assert msgpack.unpackb(msgpack.packb(data)) == {"a": [1, 2], "b": None}
    assert notepack.unpack(notepack.pack(data)) == {"a": [1, 2], "b": None}
    for clone in (data.copy(), copy.copy(data), copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert type(clone) is dict and clone == {"a": [1, 2], "b": None}
