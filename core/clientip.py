"""The address of the client behind the reverse proxies we trust.

Behind a TLS proxy every request comes from the proxy's address; the proxy appends
the address it saw to X-Forwarded-For. Anyone can write that header, so it is read
only when the peer is one of ``PARLEY_TRUSTED_PROXIES``, and from the right: each
trusted proxy appended the entry on its left's behalf, so the first entry that is
not a trusted proxy is the client. Entries further left were written by the client
and are never believed.

(The web server's own proxy headers are off, in ``core.serve``: they take the
leftmost entry, which the client writes, from any peer.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request) -> str | None:
    """The client's address of an HTTP request (``None`` when the peer has none)."""
    return forwarded_client(request.META.get("REMOTE_ADDR"), request.headers.get("x-forwarded-for", ""), settings.PARLEY_TRUSTED_PROXIES)


def scope_client_ip(scope: Mapping[str, Any]) -> str | None:
    """The client's address of a Channels (ASGI) scope, as ``client_ip`` reads a request."""
    peer = (scope.get("client") or (None,))[0]
    # Repeated headers count as one list, as Django joins them into META.
    forwarded = ",".join(value.decode("latin1") for name, value in scope.get("headers", ()) if name.lower() == b"x-forwarded-for")
    return forwarded_client(peer, forwarded, settings.PARLEY_TRUSTED_PROXIES)


def forwarded_client(peer: str | None, forwarded_for: str, trusted: Iterable[Network]) -> str | None:
    """Walk ``forwarded_for`` from the right while the hop is a trusted proxy.

    An entry that is not an address (``unknown``, garbage, empty) ends the walk: we
    cannot tell who sent it, so the client is the last proxy that handed it on."""
    trusted = tuple(trusted)
    client = parse_address(peer or "")
    if client is None:
        return None
    for entry in reversed(forwarded_for.split(",") if forwarded_for else ()):
        if not _is_trusted(client, trusted):
            break
        hop = parse_address(entry)
        if hop is None:
            break
        client = hop
    return str(client)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:567``, ``2001:db8::1``,
    ``[2001:db8::1]:567``; IPv4-mapped IPv6 as IPv4, without an IPv6 zone."""
    text = text.strip()
    if text.startswith("["):  # [IPv6] or [IPv6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4:port
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]  # a zone (fe80::1%eth0) names an interface of the proxy
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
