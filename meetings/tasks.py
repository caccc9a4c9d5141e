"""Celery tasks of the meetings app: they call services."""

from __future__ import annotations

from celery import shared_task

from meetings import services


@shared_task
def sweep_disconnected() -> int:
    """Run by beat every few seconds: people whose socket stayed away past the grace leave."""
    return services.sweep_disconnected()
