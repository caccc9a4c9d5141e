"""The client's address behind trusted reverse proxies (core/clientip.py)."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import RequestFactory

from core.clientip import client_ip, forwarded_client, parse_address, scope_client_ip

PROXY = "10.0.0.2"  # the TLS proxy the web server sees
TRUSTED = [ipaddress.ip_network(PROXY), ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8:ffff::/48")]


def test_it_takes_the_peer_when_there_is_no_proxy_to_trust():
    assert forwarded_client("198.51.100.9", "", []) == "198.51.100.9"
    assert forwarded_client("198.51.100.9", "203.0.113.10", []) == "198.51.100.9"


def test_it_ignores_x_forwarded_for_from_a_peer_that_is_no_trusted_proxy():
    assert forwarded_client("198.51.100.9", "203.0.113.10", TRUSTED) == "198.51.100.9"
    assert forwarded_client("198.51.100.9", f"203.0.113.10, {PROXY}", TRUSTED) == "198.51.100.9"


def test_it_takes_the_address_the_trusted_proxy_saw():
    assert forwarded_client(PROXY, "203.0.113.10", TRUSTED) == "203.0.113.10"
    assert forwarded_client(PROXY, "", TRUSTED) == PROXY  # the proxy's own request


def test_it_walks_the_chain_from_the_right_past_trusted_proxies_only():
    # The visitor forged the first entry; proxy 10.1.0.5 saw the visitor, we saw PROXY.
    assert forwarded_client(PROXY, "198.51.100.66, 203.0.113.10, 10.1.0.5", TRUSTED) == "203.0.113.10"
    # An untrusted hop in the middle is the client, whatever is on its left.
    assert forwarded_client(PROXY, "203.0.113.10, 198.51.100.7", TRUSTED) == "198.51.100.7"
    # Every hop trusted: the leftmost one (someone inside the trusted network).
    assert forwarded_client(PROXY, "10.1.2.3, 10.1.0.5", TRUSTED) == "10.1.2.3"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("unknown", PROXY),
        ("not an address", PROXY),
        ("203.0.113.10, garbage", PROXY),  # the walk stops at what it cannot read
        ("garbage, 203.0.113.10", "203.0.113.10"),  # never reached: the client is found first
        ("203.0.113.10, unknown, 10.1.0.5", "10.1.0.5"),  # the last proxy that handed it on
        (",", PROXY),
        (" , 203.0.113.10 ", "203.0.113.10"),
        ("203.0.113.10,,", PROXY),
        ("999.1.1.1", PROXY),
        ("203.0.113.10/24", PROXY),
        ("x" * 10_000, PROXY),
        ("203.0.113.10:4711", "203.0.113.10"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.10", "203.0.113.10"),
        ("fe80::1%eth0", "fe80::1"),
        ("[2001:db8::1", PROXY),
    ],
)
def test_it_handles_malformed_and_unusual_entries_sanely(forwarded, client):
    assert forwarded_client(PROXY, forwarded, TRUSTED) == client


def test_it_knows_trusted_peers_however_they_are_written():
    assert forwarded_client(f"::ffff:{PROXY}", "203.0.113.10", TRUSTED) == "203.0.113.10"
    assert forwarded_client("2001:db8:ffff::7", "2001:db8::1", TRUSTED) == "2001:db8::1"
    assert forwarded_client("2001:db8:fffe::7", "2001:db8::1", TRUSTED) == "2001:db8:fffe::7"


def test_it_has_no_address_without_a_readable_peer():
    assert forwarded_client(None, "203.0.113.10", TRUSTED) is None
    assert forwarded_client("", "", TRUSTED) is None
    assert forwarded_client("unix-socket", "203.0.113.10", TRUSTED) is None


def test_it_parses_addresses_as_proxies_write_them():
    assert parse_address(" 203.0.113.10 ") == ipaddress.ip_address("203.0.113.10")
    assert parse_address("[::1]") == ipaddress.ip_address("::1")
    assert parse_address("unknown") is None


def test_it_reads_the_client_of_an_http_request(settings):
    settings.PARLEY_TRUSTED_PROXIES = TRUSTED
    factory = RequestFactory()
    assert client_ip(factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.10")) == "203.0.113.10"
    assert client_ip(factory.get("/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.10")) == "198.51.100.9"
    request = factory.get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) is None


def test_it_reads_the_client_of_a_channels_scope(settings):
    settings.PARLEY_TRUSTED_PROXIES = TRUSTED
    scope = {
        "client": (PROXY, 40000),
        "headers": [(b"host", b"x"), (b"X-Forwarded-For", b"198.51.100.66"), (b"x-forwarded-for", b"203.0.113.10")],
    }
    assert scope_client_ip(scope) == "203.0.113.10"  # repeated headers read as one list
    assert scope_client_ip({**scope, "client": ("198.51.100.9", 40000)}) == "198.51.100.9"
    assert scope_client_ip({"headers": []}) is None
    assert scope_client_ip({"client": None, "headers": []}) is None
