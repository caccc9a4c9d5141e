"""The PBX domain: extensions, queues and meeting requests."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meetings.models import RoomType
from rooms.slugs import validate_click2meet_slug


class Extension(models.Model):
    """A PBX user: owns a Click2Meet URL, meetings, documents and polls."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extension", verbose_name=_("login"))
    number = models.CharField(_("number"), max_length=20, unique=True, help_text=_("The extension number on the PBX, digits only."))
    display_name = models.CharField(_("display name"), max_length=100)
    email = models.EmailField(_("e-mail"))
    slug = models.CharField(_("Click2Meet slug"), max_length=50, unique=True, validators=[validate_click2meet_slug])
    room_type = models.CharField(_("room type"), max_length=10, choices=RoomType.choices, default=RoomType.PRIVATE)
    moderate_participants = models.BooleanField(_("moderate participants"), default=False)
    is_available = models.BooleanField(_("available"), default=True, help_text=_("Unavailable extensions receive no meeting requests."))
    welcome_sent_at = models.DateTimeField(_("welcome e-mail sent"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("extension")
        verbose_name_plural = _("extensions")

    def __str__(self) -> str:
        return f"{self.number} {self.display_name}"

    @property
    def click2meet_url(self) -> str:
        return settings.PARLEY_BASE_URL + reverse("click2meet", args=[self.slug])


class Queue(models.Model):
    """A PBX call queue: its Click2Meet requests go to every available agent."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    slug = models.CharField(_("Click2Meet slug"), max_length=50, unique=True, validators=[validate_click2meet_slug])
    agents = models.ManyToManyField(Extension, related_name="queues", blank=True, verbose_name=_("agents"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @property
    def click2meet_url(self) -> str:
        return settings.PARLEY_BASE_URL + reverse("click2meet", args=[self.slug])


def _request_token() -> str:
    return secrets.token_urlsafe(24)


class MeetingRequest(models.Model):
    """A visitor asking for a meeting through a Click2Meet URL."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    token = models.CharField(max_length=64, unique=True, default=_request_token, editable=False)
    extension = models.ForeignKey(
        Extension, null=True, blank=True, on_delete=models.CASCADE, related_name="requests", verbose_name=_("extension")
    )
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="requests", verbose_name=_("queue"))
    visitor_name = models.CharField(_("visitor name"), max_length=100)
    visitor_email = models.EmailField(_("visitor e-mail"))
    visitor_session = models.CharField(max_length=64, editable=False, help_text="Session that made the request; only it may follow it.")
    visitor_ip = models.GenericIPAddressField(_("visitor IP"), null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.WAITING, db_index=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    claimed_by = models.ForeignKey(
        Extension, null=True, blank=True, on_delete=models.SET_NULL, related_name="claimed_requests", verbose_name=_("taken by")
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    ignored_by = models.ManyToManyField(Extension, blank=True, related_name="ignored_requests", verbose_name=_("ignored by"))
    # A foreign key, not one-to-one: every visitor of a shared room lands in the same personal room.
    meeting = models.ForeignKey(
        "meetings.Meeting", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests", verbose_name=_("meeting")
    )
    # The visitor's personal link into that meeting, made when the request is accepted.
    visitor_invitation = models.OneToOneField(
        "meetings.Invitation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("visitor's invitation")
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("meeting request")
        verbose_name_plural = _("meeting requests")
        constraints = [
            models.CheckConstraint(
                condition=Q(extension__isnull=False, queue__isnull=True) | Q(extension__isnull=True, queue__isnull=False),
                name="request_targets_extension_or_queue",
            )
        ]
        # The Click2Meet rate limit counts an address's recent requests (rooms.services).
        indexes = [models.Index(fields=["visitor_ip", "created_at"], name="request_ip_created")]

    def __str__(self) -> str:
        return f"{self.visitor_name} → {self.target}"

    @property
    def target(self) -> Extension | Queue:
        return self.extension or self.queue  # type: ignore[return-value]

    @property
    def is_waiting(self) -> bool:
        return self.status == self.Status.WAITING and self.expires_at > timezone.now()
