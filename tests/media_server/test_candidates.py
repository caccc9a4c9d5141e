"""media_server.candidates: which remote ICE candidates the recorder may act on
(pure functions: nothing here sends a packet)."""

from __future__ import annotations

import pytest

from config.env import env_network_allowlist
from media_server.candidates import Refusal, address_refusal, candidate_refusal, filter_sdp

DEFAULT = env_network_allowlist("PARLEY_MEDIA_PEER_NETWORKS", "0.0.0.0/0,::/0", environ={})
ALL_BUT_SERVERS = env_network_allowlist("PARLEY_MEDIA_PEER_NETWORKS", "0.0.0.0/0,::/0,!10.20.0.0/16", environ={})
LOOPBACK_ONLY = env_network_allowlist("PARLEY_MEDIA_PEER_NETWORKS", "127.0.0.0/8,::1", environ={})


def candidate(address: str, kind: str = "host") -> str:
    return f"candidate:842163049 1 udp 1677729535 {address} 50000 typ {kind} generation 0"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # the tests' peers
        "::1",
        "10.1.2.3",  # a company's private networks
        "172.16.5.4",
        "192.168.1.20",
        "fd12:3456::1",  # ULA
        "100.64.0.7",  # CGNAT, VPNs
        "203.0.113.9",  # public
        "2001:db8::7",
        "::ffff:192.168.1.20",  # IPv4-mapped: judged as the IPv4 address
    ],
)
def test_it_allows_public_private_and_loopback_addresses_by_default(address):
    assert address_refusal(address, DEFAULT) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # the metadata service of AWS, GCP, Azure
        "169.254.10.1",
        "fe80::1",
        "fe80::1%eth0",
        "FE80::abcd",
        "fd00:ec2::254",  # AWS's metadata service over IPv6
        "100.100.100.200",  # Alibaba Cloud's
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.251",
        "239.255.255.250",
        "ff02::1",
        "255.255.255.255",
        "240.0.0.1",
        "::ffff:169.254.169.254",  # the same addresses inside IPv6 ones
        "64:ff9b::a9fe:a9fe",  # NAT64
        "2002:a9fe:a9fe::1",  # 6to4
    ],
)
def test_it_refuses_link_local_metadata_multicast_and_reserved_addresses(address):
    assert address_refusal(address, DEFAULT) == "a link-local, metadata, multicast or reserved address"


def test_it_refuses_them_even_when_the_setting_lists_them():
    listed = env_network_allowlist("PARLEY_MEDIA_PEER_NETWORKS", "169.254.0.0/16,fe80::/10", environ={})
    assert address_refusal("169.254.169.254", listed) is not None
    assert address_refusal("fe80::1", listed) is not None


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("2b1e9a6c-0a4f-4f43-9d8b-5b0d9a7c1e2f.local", "an mDNS name"),
        ("printer.LOCAL.", "an mDNS name"),
        ("metadata.google.internal", "a host name"),
        ("localhost", "a host name"),
    ],
)
def test_it_refuses_host_names_without_resolving_them(host, reason):
    assert address_refusal(host, DEFAULT) == reason


def test_it_keeps_to_the_configured_networks():
    assert address_refusal("10.20.3.4", ALL_BUT_SERVERS) == "outside PARLEY_MEDIA_PEER_NETWORKS"
    assert address_refusal("10.21.3.4", ALL_BUT_SERVERS) is None
    assert address_refusal("10.1.2.3", LOOPBACK_ONLY) == "outside PARLEY_MEDIA_PEER_NETWORKS"
    assert address_refusal("::1", LOOPBACK_ONLY) is None


def test_it_judges_a_trickled_candidate_by_its_address_whatever_its_type():
    assert candidate_refusal(candidate("127.0.0.1"), DEFAULT) is None
    assert candidate_refusal(candidate("10.1.2.3", "srflx") + " raddr 169.254.169.254 rport 9", DEFAULT) is None
    assert candidate_refusal(candidate("169.254.169.254", "relay"), DEFAULT) is not None
    assert candidate_refusal(candidate("fe80::1"), DEFAULT) is not None
    assert candidate_refusal(candidate("abc.local"), DEFAULT) == "an mDNS name"
    # As an SDP attribute value (no "candidate:" prefix), and unreadable ones.
    assert candidate_refusal(candidate("169.254.169.254").removeprefix("candidate:"), DEFAULT) is not None
    assert candidate_refusal("candidate:1 1 udp 1 127.0.0.1", DEFAULT) == "unreadable"
    assert candidate_refusal("candidate:1 1 udp 1 127.0.0.1 9 host 1", DEFAULT) == "unreadable"


def test_it_drops_the_refused_candidate_lines_of_an_sdp_and_its_end_of_candidates_and_keeps_every_other_line():
    sdp = (
        "v=0\r\n"
        "o=- 1 2 IN IP4 127.0.0.1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=mid:0\r\n"
        f"a={candidate('127.0.0.1')}\r\n"
        f"a={candidate('169.254.169.254')}\r\n"
        f"a={candidate('10.1.2.3')}\r\n"
        f"a={candidate('fe80::1')}\r\n"
        f"a={candidate('abc.local')}\r\n"
        "a=end-of-candidates\r\n"
    )
    filtered, refused = filter_sdp(sdp, DEFAULT)
    assert filtered == (
        "v=0\r\n"
        "o=- 1 2 IN IP4 127.0.0.1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=mid:0\r\n"
        f"a={candidate('127.0.0.1')}\r\n"
        f"a={candidate('10.1.2.3')}\r\n"
    )
    assert [r.candidate for r in refused] == [candidate(a) for a in ("169.254.169.254", "fe80::1", "abc.local")]
    assert refused[2] == Refusal(candidate("abc.local"), "an mDNS name")
    # LF line endings stay LF.
    lf, _refused = filter_sdp(sdp.replace("\r\n", "\n"), LOOPBACK_ONLY)
    assert lf == f"v=0\no=- 1 2 IN IP4 127.0.0.1\nm=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:0\na={candidate('127.0.0.1')}\n"


def test_it_keeps_the_end_of_candidates_of_an_sdp_it_refused_nothing_of():
    sdp = f"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na={candidate('127.0.0.1')}\r\na=end-of-candidates\r\n"
    assert filter_sdp(sdp, DEFAULT) == (sdp, [])
