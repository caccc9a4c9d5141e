"""Remote-control sessions and the pairing of a participant's desktop helper."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RemoteSession(models.Model):
    """One request for remote control in a meeting, from request to end."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    class Consent(models.TextChoices):
        PENDING = "pending", _("Asked")
        GIVEN = "given", _("Given")
        REFUSED = "refused", _("Refused")

    class Reason(models.TextChoices):
        STOPPED = "stopped", _("Stopped")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")
        LEFT = "left", _("Left the meeting")
        KICKED = "kicked", _("Kicked")
        ROLE = "role", _("Role changed")
        DISCONNECTED = "disconnected", _("Disconnected")
        HELPER_GONE = "helper_gone", _("Desktop helper gone")
        REFUSED = "refused", _("Refused at the computer")
        SHARE_ENDED = "share_ended", _("Screen share ended")
        MEETING_END = "meeting_end", _("Meeting ended")

    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="remote_sessions", verbose_name=_("meeting"))
    requester = models.ForeignKey("meetings.Participant", on_delete=models.CASCADE, related_name="+", verbose_name=_("requester"))
    controller = models.ForeignKey(
        "meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("controller")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    consent = models.CharField(_("consent"), max_length=10, choices=Consent.choices, blank=True)
    reason = models.CharField(_("end reason"), max_length=16, choices=Reason.choices, blank=True)
    # Organizers and presenters who said no; when every one available did, the request ends.
    declined_by = models.JSONField(default=list, blank=True, editable=False)
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    active_at = models.DateTimeField(_("active since"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("remote-control session")
        verbose_name_plural = _("remote-control sessions")
        constraints = [
            # One session under way per meeting: a second request is ``remote_busy``.
            models.UniqueConstraint(fields=["meeting"], condition=~Q(state="ended"), name="one_open_remote_session_per_meeting"),
        ]

    def __str__(self) -> str:
        return f"{self.requester_id} → {self.controller_id or '?'} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.ENDED


class HelperPairing(models.Model):
    """A participant's desktop helper: the current pairing code (hashed; single use,
    short-lived, bound to the browser session and page that asked) and the live
    helper socket, if one is paired. One row per participant: one helper at a time."""

    participant = models.OneToOneField(
        "meetings.Participant", on_delete=models.CASCADE, related_name="helper_pairing", verbose_name=_("participant")
    )
    code_hash = models.CharField(max_length=64, db_index=True, editable=False)
    session_key_hash = models.CharField(max_length=64, editable=False)
    # The room socket that asked for the code: the code pairs only while it is still
    # the participant's live socket (same page, same browser session).
    room_channel = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(_("code created"), default=timezone.now)
    expires_at = models.DateTimeField(_("code expires"))
    used_at = models.DateTimeField(_("code used"), null=True, blank=True)
    paired = models.BooleanField(_("helper connected"), default=False)
    helper_channel = models.CharField(max_length=200, blank=True, editable=False)
    paired_at = models.DateTimeField(_("paired"), null=True, blank=True)
    platform = models.CharField(_("platform"), max_length=40, blank=True)
    screens = models.JSONField(_("screens"), default=list, blank=True)

    class Meta:
        verbose_name = _("desktop helper pairing")
        verbose_name_plural = _("desktop helper pairings")

    def __str__(self) -> str:
        return f"helper of participant {self.participant_id}"
