"""Which ICE candidates of a participant the recorder may act on.

A browser's candidates are whatever its page says: a participant could name
169.254.169.254 (a cloud's metadata service), a link-local or multicast address, or
an mDNS name that aiortc would resolve, and make the media worker send ICE checks and
media there. The recorder adds a remote candidate only when its address is in
``PARLEY_MEDIA_PEER_NETWORKS`` and not in ``ALWAYS_REFUSED``; host names (mDNS
``.local`` and any other) are never resolved. Refusing a candidate never stops a
browser that can reach the recorder: its checks reach one of the recorder's
candidates, and aiortc answers the address they came from (a peer-reflexive
candidate).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from core.networks import Networks

# Never a peer, whatever the setting says.
ALWAYS_REFUSED = tuple(
    ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 included
        "169.254.0.0/16",  # link-local: the metadata service of AWS, GCP, Azure, OpenStack…
        "100.100.100.200/32",  # Alibaba Cloud's metadata service
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, 255.255.255.255 included
        "::/128",  # unspecified
        "fe80::/10",  # link-local
        "fd00:ec2::254/128",  # AWS's metadata service over IPv6
        "ff00::/8",  # multicast
    )
)
# IPv6 prefixes that carry an IPv4 address a packet may end up at (NAT64, 6to4).
NAT64 = ip_network("64:ff9b::/96")

CANDIDATE_LINE = "a=candidate:"
END_OF_CANDIDATES = "a=end-of-candidates"


@dataclass(frozen=True)
class Refusal:
    candidate: str
    reason: str


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def address_refusal(host: str, networks: Networks) -> str | None:
    """Why the recorder must not send to ``host`` (a candidate's address), or None."""
    try:
        address = ip_address(host)
    except ValueError:
        return "an mDNS name" if host.lower().rstrip(".").endswith(".local") else "a host name"
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # what the socket really sends to
    reached = [address, _embedded_ipv4(address)] if isinstance(address, IPv6Address) else [address]
    if any(a is not None and a in network for a in reached for network in ALWAYS_REFUSED):
        return "a link-local, metadata, multicast or reserved address"
    if address not in networks:
        return "outside PARLEY_MEDIA_PEER_NETWORKS"
    return None


def candidate_refusal(candidate: str, networks: Networks) -> str | None:
    """Why a candidate (``candidate:…`` as trickled, or the value of an SDP
    ``a=candidate:`` line) must not reach aiortc, or None."""
    fields = candidate.strip().removeprefix("candidate:").split()
    # foundation component transport priority address port "typ" type …
    if len(fields) < 8 or fields[6] != "typ":
        return "unreadable"
    return address_refusal(fields[4], networks)


def filter_sdp(sdp: str, networks: Networks) -> tuple[str, list[Refusal]]:
    """``sdp`` without the ``a=candidate:`` lines the recorder must not act on, and
    those lines' refusals. When a line was refused, ``a=end-of-candidates`` goes too:
    the peer may then be reached only through the checks it sends (peer-reflexive
    candidates), which aioice learns only while it still expects candidates. Every
    other line is kept as it was (line endings too)."""
    kept: list[str] = []
    refused: list[Refusal] = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith(CANDIDATE_LINE):
            candidate = line.strip().removeprefix("a=")
            reason = candidate_refusal(candidate, networks)
            if reason is not None:
                refused.append(Refusal(candidate, reason))
                continue
        kept.append(line)
    if refused:
        kept = [line for line in kept if line.strip() != END_OF_CANDIDATES]
    return "".join(kept), refused


def configured_networks() -> Networks:
    from django.conf import settings

    return settings.PARLEY_MEDIA_PEER_NETWORKS
