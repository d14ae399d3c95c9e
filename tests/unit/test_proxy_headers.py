"""TrustedProxies: X-Forwarded-For / X-Forwarded-Proto believed only from trusted peers, as uvicorn does."""

from __future__ import annotations

import pytest

from sio.engine.proxy import TrustedProxies
from sio.errors import InvalidOption


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", "127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the rightmost untrusted
        ("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),  # proxies skipped
        ("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "10.0.0.1, 10.1.2.3", "10.0.0.1"),  # all trusted: the first
        ("127.0.0.1", "192.0.2.9", "203.0.113.7", "192.0.2.9"),  # an untrusted peer cannot claim an address
        ("127.0.0.1", "127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1", " , ", "127.0.0.1"),
        ("*", "192.0.2.9", "203.0.113.7", "203.0.113.7"),
        ("::1", "::1", "2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", None, "203.0.113.7", None),
        ("127.0.0.1", "127.0.0.1", "garbage", "garbage"),  # not an address: untrusted, so it is the client
    ],
)
def test_client_address(
    trusted: str, peer: str | None, forwarded_for: str | None, client: str | None
) -> None:
    assert TrustedProxies(trusted).client(peer, forwarded_for) == client


def test_scheme_from_a_trusted_peer_only() -> None:
    proxies = TrustedProxies(["127.0.0.1"])
    assert proxies.secure("127.0.0.1", "https", False) is True
    assert proxies.secure("127.0.0.1", "HTTPS, http", False) is True
    assert proxies.secure("127.0.0.1", "http", True) is False
    assert proxies.secure("192.0.2.9", "https", False) is False
    assert proxies.secure("127.0.0.1", None, True) is True


def test_bad_entries_are_refused() -> None:
    with pytest.raises(InvalidOption, match="not an IP address"):
        TrustedProxies("127.0.0.1, localhost")
