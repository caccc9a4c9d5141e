"""Janus is reached from here only: network work with retries and backoff, each task
taking ids, reloading, and returning early if the row is gone."""

from __future__ import annotations

import logging

from celery import shared_task

from media_server.sfu import janus, services

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=6)
def open_sfu_room(self, sfu_room_id: int, generation: int) -> str:
    """Create the meeting's room on its server. If the server keeps failing, the
    meeting moves to another one (the health sweep does the same on its own)."""
    try:
        return services.open_room(sfu_room_id, generation)
    except janus.JanusError as error:
        if self.request.retries >= 2 and isinstance(error, janus.Unreachable):
            services.move_room(sfu_room_id, reason="server down")
            return "moved"
        raise self.retry(exc=error, countdown=min(30, 0.5 * 2**self.request.retries)) from error


@shared_task(bind=True, max_retries=5)
def destroy_janus_room(self, server: str, room_id: int, secret: str) -> None:
    try:
        services.destroy_room(server, room_id, secret)
    except janus.Unreachable as error:
        # A server that is down lost its rooms anyway; one that comes back is asked again.
        raise self.retry(exc=error, countdown=min(60, 2**self.request.retries)) from error


@shared_task(bind=True, max_retries=5)
def evict_participant(self, sfu_room_id: int, participant_id: int) -> int:
    try:
        return services.evict(sfu_room_id, participant_id)
    except janus.Unreachable as error:
        raise self.retry(exc=error, countdown=min(30, 0.5 * 2**self.request.retries)) from error


@shared_task
def check_janus_servers() -> dict[str, str]:
    """Celery beat, every few seconds (and at once when a Janus says it started)."""
    return services.check_servers()
