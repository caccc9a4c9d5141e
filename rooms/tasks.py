"""Celery tasks of the request flow: they take ids, reload, and call services."""

from __future__ import annotations

import logging

from celery import shared_task

from rooms import services
from rooms.models import MeetingRequest

logger = logging.getLogger(__name__)


@shared_task
def expire_meeting_request(request_id: int) -> str:
    if not MeetingRequest.objects.filter(pk=request_id).exists():
        return "gone"
    return f"expired {services.expire_meeting_requests()}"


@shared_task
def expire_meeting_requests() -> int:
    return services.expire_meeting_requests()
