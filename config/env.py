"""Typed readers for settings that come from environment variables.

Every helper fails loudly (ImproperlyConfigured) on a value it cannot parse, so a
typo in a deployment stops the process at start-up instead of running with a
silently wrong setting.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

from core.networks import Networks

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_UNSET = object()


def _raw(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    return (os.environ if environ is None else environ).get(name)


def env_str(name: str, default: str | None | object = _UNSET, *, environ=None) -> str:
    value = _raw(name, environ)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool, *, environ=None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}.")


def env_int(name: str, default: int, *, min_value: int | None = None, max_value: int | None = None, environ=None) -> int:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
    if min_value is not None and number < min_value:
        raise ImproperlyConfigured(f"{name} must be at least {min_value}, got {number}.")
    if max_value is not None and number > max_value:
        raise ImproperlyConfigured(f"{name} must be at most {max_value}, got {number}.")
    return number


def env_list(name: str, default: list[str], *, environ=None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...], *, environ=None) -> str:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def env_url(name: str, default: str | None | object = _UNSET, *, schemes: tuple[str, ...], environ=None) -> str:
    value = env_str(name, default, environ=environ)
    if value is None:
        return value
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}.")
    return value


def env_url_list(name: str, *, schemes: tuple[str, ...], environ=None) -> list[str]:
    """Comma-separated URLs, each starting with one of ``schemes``; trailing slashes dropped."""
    urls = [url.rstrip("/") for url in env_list(name, [], environ=environ)]
    for url in urls:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in schemes or not url.split("://", 1)[1]:
            raise ImproperlyConfigured(f"{name} must list URLs starting with {' or '.join(s + '://' for s in schemes)}, got {url!r}.")
    return urls


def env_networks(name: str, *, environ=None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated IP addresses or CIDR networks (an address is a network of one)."""
    networks = []
    for item in env_list(name, [], environ=environ):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as error:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks such as 10.0.0.0/8, got {item!r} ({error}).") from None
    return networks


def env_network_allowlist(name: str, default: str, *, environ=None) -> Networks:
    """Comma-separated networks in CIDR notation (``10.0.0.0/8``, ``::/0``; a single
    address is a /32 or /128); an entry starting with ``!`` is excluded. At least one
    network must be allowed (``0.0.0.0/0,::/0,!10.20.0.0/16``: everything but one)."""
    value = _raw(name, environ)
    entries = [item.strip() for item in (default if value is None or not value.strip() else value).split(",") if item.strip()]
    allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    excluded: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in entries:
        network_text = entry.removeprefix("!").strip()
        try:
            network = ipaddress.ip_network(network_text)
        except ValueError as error:
            raise ImproperlyConfigured(
                f"{name} must list networks such as 10.0.0.0/8 or !169.254.0.0/16, got {entry!r}: {error}."
            ) from None
        (excluded if entry.startswith("!") else allowed).append(network)
    if not allowed:
        raise ImproperlyConfigured(f"{name} allows no network (only exclusions); start it with 0.0.0.0/0,::/0 to allow all but them.")
    return Networks(tuple(allowed), tuple(excluded))
