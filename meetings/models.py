"""Meetings, their participants, invitations and chat."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meetings import room_features


def new_public_id() -> str:
    # 128 bits of randomness: meeting links cannot be guessed or enumerated.
    return secrets.token_urlsafe(16)


class Role(models.TextChoices):
    ORGANIZER = "organizer", _("Organizer")
    PRESENTER = "presenter", _("Presenter")
    PARTICIPANT = "participant", _("Participant")


class RoomType(models.TextChoices):
    """Set per extension by the administrator (F12); a meeting takes its owner's."""

    PRIVATE = "private", _("Private room")
    SHARED = "shared", _("Shared room")


class SharePolicy(models.TextChoices):
    ORGANIZERS = "organizers", _("Organizers only")
    PRESENTERS = "presenters", _("Organizers and presenters")
    EVERYONE = "everyone", _("Everyone")


class Meeting(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    title = models.CharField(_("title"), max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_meetings", verbose_name=_("creator"))
    queue = models.ForeignKey(
        "rooms.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="meetings", verbose_name=_("queue")
    )
    is_personal_room = models.BooleanField(_("personal shared room"), default=False, editable=False)
    room_type = models.CharField(_("room type"), max_length=10, choices=RoomType, default=RoomType.SHARED)
    moderate_participants = models.BooleanField(_("moderate participants"), default=False)
    lobby_enabled = models.BooleanField(_("lobby"), default=False, help_text=_("Participants wait until an organizer accepts them."))
    share_policy = models.CharField(_("who may share"), max_length=12, choices=SharePolicy, default=SharePolicy.PRESENTERS)
    # The settings that features add (``room_features.meeting_setting``), by name.
    feature_settings = models.JSONField(_("feature settings"), default=dict, blank=True, editable=False)
    max_participants = models.PositiveSmallIntegerField(_("maximum participants"), default=25)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    # The one current share of the room (screen now; documents and whiteboard later).
    share_participant = models.ForeignKey(
        "Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("sharing")
    )
    share_kind = models.CharField(_("share kind"), max_length=20, blank=True)
    share_stream_id = models.CharField(max_length=128, blank=True, editable=False)
    share_started_at = models.DateTimeField(_("sharing since"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("meeting_join", args=[self.public_id])

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None

    def setting(self, name: str):
        """A feature's meeting setting (``room_features.meeting_setting``), or its default."""
        if name in self.feature_settings:
            return self.feature_settings[name]
        return room_features.meeting_settings[name].default()

    @property
    def state(self) -> str:
        if self.ended_at:
            return "ended"
        return "live" if self.started_at else "scheduled"

    @property
    def join_url(self) -> str:
        return settings.PARLEY_BASE_URL + self.get_absolute_url()

    @property
    def duration(self):
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None


class Invitation(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("meeting"))
    name = models.CharField(_("name"), max_length=100)
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=12, choices=Role, default=Role.PARTICIPANT)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Participant(models.Model):
    class State(models.TextChoices):
        JOINED = "joined", _("In the meeting")
        LOBBY = "lobby", _("Waiting in the lobby")
        LEFT = "left", _("Left")
        KICKED = "kicked", _("Kicked")
        REJECTED = "rejected", _("Rejected")

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="participants", verbose_name=_("meeting"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="participations")
    session_key = models.CharField(max_length=64, blank=True, editable=False, help_text="Browser session of a guest.")
    invitation = models.ForeignKey(Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="participants")
    display_name = models.CharField(_("name"), max_length=100)
    email = models.EmailField(_("e-mail"), blank=True)
    role = models.CharField(_("role"), max_length=12, choices=Role, default=Role.PARTICIPANT)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.JOINED, db_index=True)
    is_banned = models.BooleanField(_("banned"), default=False)
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    # Moderation rights (organizers change them) and what the person says they send.
    mic_allowed = models.BooleanField(_("microphone allowed"), default=True)
    camera_allowed = models.BooleanField(_("camera allowed"), default=True)
    chat_allowed = models.BooleanField(_("chat allowed"), default=True)
    # Rights that features let organizers turn off (e.g. "annotate"), by name.
    rights_off = models.JSONField(_("rights turned off"), default=list, blank=True, editable=False)
    mic_on = models.BooleanField(_("microphone on"), default=False)
    camera_on = models.BooleanField(_("camera on"), default=False)
    # Presence: the one live socket of this participant, and since when it is gone.
    channel_name = models.CharField(max_length=200, blank=True, editable=False)
    # The web process that holds that socket (core.presence): its heartbeat stopping
    # closes the socket for the room, as a disconnect would.
    web_process = models.CharField(max_length=120, blank=True, editable=False, db_index=True)
    connected = models.BooleanField(_("connected"), default=False)
    disconnected_at = models.DateTimeField(_("disconnected"), null=True, blank=True)
    # The media worker's hidden peer: never in the roster, the lobby, counts or polls.
    is_recorder = models.BooleanField(_("recorder"), default=False, editable=False)

    class Meta:
        ordering = ["joined_at"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            # One row per person per meeting; a rejoin reuses it.
            models.UniqueConstraint(fields=["meeting", "user"], condition=Q(user__isnull=False), name="one_participant_per_user"),
            models.UniqueConstraint(
                fields=["meeting", "session_key"], condition=Q(user__isnull=True), name="one_participant_per_guest_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()})"

    @property
    def is_creator(self) -> bool:
        return self.user_id is not None and self.user_id == self.meeting.owner_id

    def has_right(self, right: str) -> bool:
        """A right an organizer may turn off for this person (``rights_off``)."""
        return right not in self.rights_off


class ChatMessage(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="chat_messages")
    participant = models.ForeignKey(Participant, null=True, on_delete=models.SET_NULL, related_name="chat_messages")
    sender_name = models.CharField(max_length=100)
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")

    def __str__(self) -> str:
        return f"{self.sender_name}: {self.text[:40]}"
