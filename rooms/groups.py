"""The channel-layer groups of the request flow."""

from __future__ import annotations


def extension_group(extension_id: int) -> str:
    """The web client sockets of one extension (requests, document renders)."""
    return f"extension-{extension_id}"


def request_group(token: str) -> str:
    """The waiting visitor's page of one request."""
    return f"request-{token}"
