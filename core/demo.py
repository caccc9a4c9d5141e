"""First-run demo data: each app that has some registers a provider (from its
``AppConfig.ready``); ``manage.py parley`` calls them on an empty database and shows
the lines they return once (passwords included)."""

from __future__ import annotations

from collections.abc import Callable

Provider = Callable[[str], list[str]]
providers: list[Provider] = []


def provider(function: Provider) -> Provider:
    """``function(base_url)`` creates the demo rows (unless they exist) and returns
    the lines to show, or an empty list."""
    providers.append(function)
    return function


def create(base_url: str) -> list[str]:
    return [line for function in providers for line in function(base_url)]
