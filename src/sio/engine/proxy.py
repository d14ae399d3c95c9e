"""Proxy headers, as uvicorn reads them (``--proxy-headers``, ``--forwarded-allow-ips``).

Behind a reverse proxy (nginx, a load balancer) every connection comes from the proxy: when the
peer is a trusted proxy, the client's address is taken from ``X-Forwarded-For`` (the rightmost
address that is not itself a trusted proxy) and TLS from ``X-Forwarded-Proto``. A peer that is
not trusted cannot claim another address this way. Sans-I/O: strings in, strings out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sio.errors import InvalidOption

__all__ = ["TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The peers whose ``X-Forwarded-*`` headers are believed: addresses, networks, or ``"*"``.

    ``forwarded_allow_ips`` is uvicorn's: a comma-separated string or an iterable of IP
    addresses and CIDR networks; ``"*"`` trusts every peer (only behind a proxy that
    overwrites the headers).
    """

    __slots__ = ("_any", "_networks")

    def __init__(self, forwarded_allow_ips: str | Iterable[str] = "127.0.0.1") -> None:
        entries = (
            [e.strip() for e in forwarded_allow_ips.split(",")]
            if isinstance(forwarded_allow_ips, str)
            else [e.strip() for e in forwarded_allow_ips]
        )
        self._any = "*" in entries
        self._networks: list[_Network] = []
        for entry in entries:
            if not entry or entry == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise InvalidOption(
                    f"forwarded_allow_ips: {entry!r} is not an IP address or network"
                ) from None

    def trusts(self, address: str | None) -> bool:
        """Whether ``address`` (a peer, or a hop of X-Forwarded-For) is a trusted proxy."""
        if self._any:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: ``peer`` unless it is trusted and ``X-Forwarded-For`` names another."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if not hops:
            return peer
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0]  # every hop is a trusted proxy: the first is the client

    def secure(self, peer: str | None, forwarded_proto: str | None, secure: bool) -> bool:
        """Whether the client's connection is TLS: X-Forwarded-Proto from a trusted peer, else ``secure``."""
        if not forwarded_proto or not self.trusts(peer):
            return secure
        return forwarded_proto.split(",")[0].strip().lower() in ("https", "wss")
