"""Transactional e-mail through the outbox and Celery.

``queue_email`` renders the message now (so it says what was true when the change
happened), stores it in the same transaction as that change, and hands its id to
Celery after commit. ``deliver`` is what the worker runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.models import OutboundEmail

logger = logging.getLogger(__name__)

# A row left in "sending" this long belongs to a worker that died mid-send.
SENDING_LEASE = timedelta(minutes=5)


def queue_email(*, kind: str, key: str, to: str, context: dict[str, Any]) -> OutboundEmail:
    """Store a mail rendered from ``emails/<kind>.{subject.txt,txt,html}`` and send it after commit.

    ``key`` names the logical message: queuing the same key twice stores one mail.
    """
    context = {"base_url": settings.PARLEY_BASE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{kind}.subject.txt", context).split())
    email, created = OutboundEmail.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "to": to,
            "subject": subject[:255],
            "body_text": render_to_string(f"emails/{kind}.txt", context),
            "body_html": render_to_string(f"emails/{kind}.html", context),
        },
    )
    if created:
        transaction.on_commit(lambda: enqueue_delivery(email.pk))
    return email


def enqueue_delivery(email_id: int) -> bool:
    """Hand the mail to Celery. If the broker is down the row stays pending and the
    periodic ``resend_stalled_emails`` task sends it later: nothing is lost."""
    from core.tasks import send_email

    try:
        send_email.delay(email_id)
    except Exception:
        logger.exception("Could not enqueue e-mail %s; it stays in the outbox and will be retried", email_id)
        return False
    return True


def claim_for_sending(email_id: int) -> bool:
    """Atomically move a mail to "sending"; only one worker can win it."""
    now = timezone.now()
    claimable = OutboundEmail.objects.filter(pk=email_id, status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED])
    stale = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
    return any(queryset.update(status=OutboundEmail.Status.SENDING, claimed_at=now) for queryset in (claimable, stale))


def deliver(email_id: int) -> str:
    """Send one outbox mail. Returns what happened; raises on a delivery error so
    that the task retries with backoff."""
    if not claim_for_sending(email_id):
        return "skipped"
    email = OutboundEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        headers={"Message-ID": email.message_id},
    )
    message.attach_alternative(email.body_html, "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        OutboundEmail.objects.filter(pk=email_id).update(
            status=OutboundEmail.Status.FAILED, attempts=email.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    OutboundEmail.objects.filter(pk=email_id).update(
        status=OutboundEmail.Status.SENT, attempts=email.attempts + 1, sent_at=timezone.now(), last_error=""
    )
    return "sent"


def stalled_emails():
    """Mails whose task was lost (broker down at commit, worker killed)."""
    now = timezone.now()
    return OutboundEmail.objects.filter(
        status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED],
        created_at__lt=now - timedelta(minutes=1),
        attempts__lt=settings.PARLEY_EMAIL_MAX_ATTEMPTS,
    ) | OutboundEmail.objects.filter(status=OutboundEmail.Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
