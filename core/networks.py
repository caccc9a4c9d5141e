"""Allow-lists of IP networks (settings such as ``PARLEY_MEDIA_PEER_NETWORKS``, read by
``config.env.env_networks``)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network


@dataclass(frozen=True)
class Networks:
    """An address is in it when it is in one of ``allowed`` and in none of ``excluded``."""

    allowed: tuple[IPv4Network | IPv6Network, ...]
    excluded: tuple[IPv4Network | IPv6Network, ...] = ()

    def __contains__(self, address: IPv4Address | IPv6Address) -> bool:
        return any(address in network for network in self.allowed) and not any(address in network for network in self.excluded)
