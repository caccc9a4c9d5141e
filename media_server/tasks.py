"""Periodic work of recordings (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from media_server import services


@shared_task
def sweep_expired_leases() -> int:
    """Recordings whose media worker went silent are interrupted (and continued)."""
    return services.sweep_expired_leases()
