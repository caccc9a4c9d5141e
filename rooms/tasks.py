"""Celery tasks of the rooms app: they take ids, reload, and call services."""

from __future__ import annotations

import logging

from celery import shared_task

from rooms import mail, services
from rooms.models import MeetingRequest, OutboundEmail

logger = logging.getLogger(__name__)


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=5, retry_backoff_max=600, retry_jitter=True, max_retries=8)
def send_email(self, email_id: int) -> str:
    if not OutboundEmail.objects.filter(pk=email_id).exists():
        return "gone"
    return mail.deliver(email_id)


@shared_task
def resend_stalled_emails() -> int:
    """Re-enqueue mails whose task was lost (broker down, worker killed)."""
    ids = list(mail.stalled_emails().values_list("pk", flat=True)[:500])
    for email_id in ids:
        mail.enqueue_delivery(email_id)
    return len(ids)


@shared_task
def expire_meeting_request(request_id: int) -> str:
    if not MeetingRequest.objects.filter(pk=request_id).exists():
        return "gone"
    return f"expired {services.expire_meeting_requests()}"


@shared_task
def expire_meeting_requests() -> int:
    return services.expire_meeting_requests()
