"""Recording jobs of the aiortc media worker (F3, docs/recording.md).

One ``Recording`` row is one segment of a meeting's recording: started by an
organizer (or continued after a worker died), taken by exactly one worker, stored
through ``default_storage`` when it ends.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def format_duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; empty when unknown."""
    if seconds is None:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Recording(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for a media worker")
        RECORDING = "recording", _("Recording")
        FINALIZING = "finalizing", _("Finishing")
        DONE = "done", _("Done")
        INTERRUPTED = "interrupted", _("Interrupted")
        FAILED = "failed", _("Failed")

    ACTIVE_STATES = (State.PENDING, State.RECORDING)
    # A segment in these states may still produce a file: the e-mail waits for them.
    UNSETTLED_STATES = (State.PENDING, State.RECORDING, State.FINALIZING)

    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="recordings", verbose_name=_("meeting"))
    segment = models.PositiveIntegerField(_("segment"))
    preset = models.CharField(_("format"), max_length=20)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    started_by = models.ForeignKey(
        "meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("started by")
    )
    started_by_name = models.CharField(_("started by"), max_length=100, blank=True)
    # Who gets the e-mail with the links (the organizer's address when they started it).
    started_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stop_requested = models.BooleanField(_("stop asked"), default=False)
    worker_id = models.CharField(_("worker"), max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(_("lease until"), null=True, blank=True)
    # The hidden participant the worker is in the room as.
    recorder = models.ForeignKey("meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    finalized_at = models.DateTimeField(_("stored"), null=True, blank=True)
    file = models.FileField(_("file"), max_length=300, blank=True)
    size = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    duration = models.FloatField(_("duration (seconds)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # Checkpoints: while recording, the worker stores what its file gained as numbered
    # parts, so that a worker on another machine (the killed one's spool out of reach)
    # can rebuild the file. Back to 0 once the file is stored (the parts deleted).
    parts = models.PositiveIntegerField(_("parts stored while recording"), default=0)
    parts_size = models.BigIntegerField(_("bytes in those parts"), default=0)
    parts_duration = models.FloatField(_("seconds in those parts"), default=0.0)

    class Meta:
        ordering = ["meeting", "segment"]
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "segment"], name="one_recording_segment_number"),
            # One active recording per meeting: the database settles two concurrent starts.
            models.UniqueConstraint(fields=["meeting"], condition=Q(state__in=["pending", "recording"]), name="one_active_recording"),
        ]

    def __str__(self) -> str:
        return f"{self.meeting} #{self.segment}"

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration)

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


# --- Group rooms through Janus (docs/sfu.md) ------------------------------------------------


class SfuRoom(models.Model):
    """A meeting's VideoRoom on one Janus server, while the meeting is on the SFU.

    Its row is the meeting's topology: none, a mesh; one, the SFU. ``generation`` grows
    each time the Janus room is made again (Janus restarted, the meeting moved to another
    server): browsers re-publish when they see a newer one.
    """

    class State(models.TextChoices):
        OPENING = "opening", _("Opening on the media server")
        READY = "ready", _("Ready")

    meeting = models.OneToOneField("meetings.Meeting", on_delete=models.CASCADE, related_name="sfu_room", verbose_name=_("meeting"))
    server = models.CharField(_("media server"), max_length=300, help_text=_("The Janus Admin API (one of JANUS_URLS)."))
    janus_room = models.BigIntegerField(_("Janus room"), unique=True)
    secret = models.CharField(max_length=64, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPENING)
    generation = models.PositiveIntegerField(_("generation"), default=1)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    ready_at = models.DateTimeField(_("ready"), null=True, blank=True)
    # Opening failed this many times in a row (the task retries with backoff).
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("SFU room")
        verbose_name_plural = _("SFU rooms")

    def __str__(self) -> str:
        return f"{self.meeting} on {self.server} (#{self.generation})"


class JanusServerState(models.Model):
    """What the health sweep last saw of one server of JANUS_URLS."""

    url = models.CharField(_("Admin API"), max_length=300, unique=True)
    available = models.BooleanField(_("available"), default=True)
    failures = models.PositiveSmallIntegerField(_("failed checks in a row"), default=0)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    down_since = models.DateTimeField(_("down since"), null=True, blank=True)

    class Meta:
        verbose_name = _("media server")
        verbose_name_plural = _("media servers")

    def __str__(self) -> str:
        return self.url


class JanusSession(models.Model):
    """A Janus session a participant opened (learnt from the event handler, by the
    signed identity in its token): ended when the participant is kicked or leaves."""

    participant = models.ForeignKey("meetings.Participant", on_delete=models.CASCADE, related_name="janus_sessions")
    server = models.CharField(max_length=300)
    session_id = models.BigIntegerField()
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "session_id"], name="one_row_per_janus_session")]

    def __str__(self) -> str:
        return f"{self.session_id}@{self.server}"
