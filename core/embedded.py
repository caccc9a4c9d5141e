"""Services ``manage.py parley`` runs beside the product on embedded defaults.

An app that needs a server of its own on one machine (the media app's Janus) registers
a provider from its ``AppConfig.ready``; the command calls it with the data directory
and the product's public address, starts what it returns before the web tier,
supervises it with the other children, and hands its ``environment`` to every process
of the product. A provider returns None when it has nothing to run (the operator
configured an external server, or the software is not installed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EmbeddedService:
    name: str
    command: list[str]
    # Settings the product's processes need to use it (e.g. JANUS_URLS and secrets).
    environment: dict[str, str] = field(default_factory=dict)
    # True once it answers; waited for before the web tier starts.
    ready: Callable[[], bool] = lambda: True
    # Shown once at start (where it listens).
    description: str = ""
    # Where its output goes (None: nowhere).
    log_file: Path | None = None


Provider = Callable[[Path, str], "EmbeddedService | None"]
providers: list[Provider] = []


def provider(function: Provider) -> Provider:
    """``function(data_dir, base_url)`` → the service to run, or None."""
    providers.append(function)
    return function


def services(data_dir: Path, base_url: str) -> list[EmbeddedService]:
    return [service for function in providers if (service := function(data_dir, base_url)) is not None]
