"""sio.admin's parts without a network: the auth option, JS dates, the event buffer."""

from __future__ import annotations

import json
import subprocess

import bcrypt
import pytest

from sio.admin import hash_password
from sio.admin.auth import BasicAuth
from sio.admin.serialize import js_date, serialize_data
from sio.admin.stats import EventBuffer
from sio.errors import InvalidOption
from tests.peers import JS_DIR, ensure_js_peers


def basic(password: str) -> dict[str, str]:
    return {"type": "basic", "username": "admin", "password": password}


def test_auth_must_be_given_or_false() -> None:
    with pytest.raises(InvalidOption, match="must be specified"):
        BasicAuth.from_option(None)
    assert BasicAuth.from_option(False) is None
    with pytest.raises(InvalidOption, match="invalid `auth` option"):
        BasicAuth.from_option({"type": "digest"})
    with pytest.raises(InvalidOption, match="username"):
        BasicAuth.from_option({"type": "basic", "username": 1, "password": hash_password("x", 4)})


@pytest.mark.parametrize(
    "password",
    ["plain text", "", "$2b$10$short", "$2x$10$" + "a" * 53, "$2b$03$" + "a" * 53, "$2b$10$" + "!" * 53],
)
def test_a_password_that_is_not_a_bcrypt_hash_fails_at_once(password: str) -> None:
    with pytest.raises(InvalidOption, match="valid bcrypt hash"):
        BasicAuth.from_option(basic(password))


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_every_kind_of_bcrypt_hash_is_accepted(prefix: str) -> None:
    hashed = prefix + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()[4:]
    auth = BasicAuth.from_option(basic(hashed))
    assert auth is not None
    assert await auth.matches("admin", "pw")
    assert not await auth.matches("admin", "pW")
    assert not await auth.matches("root", "pw")
    assert not await auth.matches("admin", None)
    assert not await auth.matches(None, None)


async def test_hashes_made_by_bcryptjs_are_accepted_long_passwords_too() -> None:
    """Node's admin-ui compares with bcryptjs: a hash it makes (a 100-byte password, of which
    bcrypt reads 72 bytes) is accepted, and bcryptjs accepts a hash sio makes."""
    node = ensure_js_peers()
    password = "é" * 50  # 100 bytes of UTF-8
    script = (
        "const b = require('bcryptjs'); const [pw, mine] = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify([b.hashSync(pw, 4), b.compareSync(pw, mine), b.getRounds(mine)]))"
    )
    mine = hash_password(password, rounds=5)
    out = subprocess.run(
        [node, "-e", script, json.dumps([password, mine])],
        cwd=JS_DIR,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    theirs, they_accept_mine, rounds = json.loads(out)
    assert they_accept_mine is True and rounds == 5
    auth = BasicAuth.from_option(basic(theirs))
    assert auth is not None
    assert await auth.matches("admin", password)
    assert await auth.matches("admin", password[:36] + "extra")  # the first 72 bytes decide, as bcryptjs
    assert not await auth.matches("admin", password[:35])


def test_js_dates_as_json_stringify_writes_them() -> None:
    assert js_date(1796119200.0) == "2026-12-01T10:00:00.000Z"
    assert js_date(1796119200.1239) == "2026-12-01T10:00:00.123Z"
    assert js_date(0) == "1970-01-01T00:00:00.000Z"


def test_the_event_buffer_counts_per_second_and_type() -> None:
    buffer = EventBuffer()
    buffer.push("rawConnection", at=100.2)
    buffer.push("rawConnection", at=100.9)
    buffer.push("rawDisconnection", "ping timeout", at=100.5)
    buffer.push("bytesIn", None, 42, at=101.0)
    assert buffer.values_and_clear() == [
        {"timestamp": 100000, "type": "rawConnection", "count": 2},
        {"timestamp": 100000, "type": "rawDisconnection", "subType": "ping timeout", "count": 1},
        {"timestamp": 101000, "type": "bytesIn", "count": 42},
    ]
    assert buffer.values_and_clear() == []


def test_socket_data_is_sent_without_the_admin_key() -> None:
    assert serialize_data({"_admin": {"clientId": "x"}, "user": None}) == {"user": None}
    assert serialize_data(None) == {}
