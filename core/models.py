"""The kernel's one model: the e-mail outbox."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboundEmail(models.Model):
    """The e-mail outbox: written in the same transaction as the change it reports,
    sent by a Celery task, so a mail is neither lost (the row stays until sent) nor
    sent twice (the task claims the row before sending)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    message_id = models.CharField(max_length=200, default="", editable=False)
    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    to = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=255)
    body_text = models.TextField(_("text"))
    body_html = models.TextField(_("HTML"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mail outbox")

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"

    def save(self, *args, **kwargs):
        if not self.message_id:
            domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "parley"
            self.message_id = f"<{uuid.uuid4().hex}@{domain}>"
        super().save(*args, **kwargs)


class WebProcess(models.Model):
    """A web process (``core.serve``) that holds live sockets, and when it last said it is
    alive. A process killed outright runs no disconnect handler: its sockets are known
    to be gone once its heartbeat stops (``core.presence``)."""

    name = models.CharField(_("name"), max_length=120, primary_key=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("web process")
        verbose_name_plural = _("web processes")

    def __str__(self) -> str:
        return self.name
