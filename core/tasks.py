"""Celery tasks of the outbox: they take ids, reload, and call ``core.mail``."""

from __future__ import annotations

from celery import shared_task

from core import mail
from core.models import OutboundEmail


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
