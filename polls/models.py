"""Polls (F14): the Polling Repository of each extension user, and the runs of those
polls in meetings.

A ``Poll`` (with its ``Question``s and ``Choice``s) is the editable definition in the
repository. Submitting it in a meeting makes a ``PollRun`` that freezes a copy of the
definition (``definition``), so editing or deleting the poll later never changes the
results of a run. Each participant answers a run once with a ``Ballot``; the ballot's
``Vote`` rows name the frozen question and choice ids.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.leases import Leased

TITLE_MAX = 200
QUESTION_MAX = 500
CHOICE_MAX = 200
DURATION_MIN = 10
DURATION_MAX = 24 * 60 * 60


class Poll(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="polls", verbose_name=_("owner"))
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    duration_seconds = models.PositiveIntegerField(
        _("duration (seconds)"),
        default=120,
        validators=[MinValueValidator(DURATION_MIN), MaxValueValidator(DURATION_MAX)],
        help_text=_("The poll closes by itself after this time."),
    )
    anonymous = models.BooleanField(_("anonymous results"), default=True, help_text=_("Organizers do not see who answered what."))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        verbose_name = _("poll")
        verbose_name_plural = _("polls")

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="questions", verbose_name=_("poll"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("question"), max_length=QUESTION_MAX)
    multiple = models.BooleanField(_("several answers allowed"), default=False)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self) -> str:
        return self.text


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices", verbose_name=_("question"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    text = models.CharField(_("answer"), max_length=CHOICE_MAX)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("answer choice")
        verbose_name_plural = _("answer choices")

    def __str__(self) -> str:
        return self.text


class PollRun(Leased, models.Model):
    """One submission of a poll in a meeting, with its frozen questions and results.

    Its lease (``Leased``) is the results PDF's render (``polls.pdf``)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    class ClosedBy(models.TextChoices):
        ORGANIZER = "organizer", _("Closed by an organizer")
        TIMER = "timer", _("Time ran out")
        MEETING_END = "meeting_end", _("The meeting ended")

    class PdfStatus(models.TextChoices):
        NONE = "", _("Not rendered")
        RENDERING = "rendering", _("Rendering")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="poll_runs", verbose_name=_("meeting"))
    poll = models.ForeignKey(Poll, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs", verbose_name=_("poll"))
    started_by = models.ForeignKey(
        "meetings.Participant", on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("started by")
    )
    started_by_name = models.CharField(_("started by (name)"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=TITLE_MAX)
    anonymous = models.BooleanField(_("anonymous results"), default=True)
    # {"questions": [{"id", "text", "multiple", "choices": [{"id", "text"}]}]}: ids are
    # unique within the run and are what votes name.
    definition = models.JSONField(_("questions"))
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    closes_at = models.DateTimeField(_("closes at"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.CharField(_("closed by"), max_length=20, choices=ClosedBy.choices, blank=True)
    # On everyone's screen until Stop Sharing; results shown to all once shared.
    on_screen = models.BooleanField(_("on screen"), default=True)
    results_shared = models.BooleanField(_("results shared"), default=False)
    pdf = models.FileField(_("results PDF"), upload_to="polls/results/", blank=True)
    pdf_status = models.CharField(_("PDF"), max_length=10, choices=PdfStatus.choices, default=PdfStatus.NONE, blank=True)
    pdf_error = models.CharField(_("PDF error"), max_length=300, blank=True)
    pdf_requested_at = models.DateTimeField(_("PDF requested"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("poll run")
        verbose_name_plural = _("poll runs")
        constraints = [
            # One poll on screen per meeting at a time.
            models.UniqueConstraint(fields=["meeting"], condition=models.Q(on_screen=True), name="one_poll_on_screen"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.meeting})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def questions(self) -> list[dict]:
        return self.definition.get("questions", [])


class Ballot(models.Model):
    """One participant's answers to a run: given once, not changed."""

    run = models.ForeignKey(PollRun, on_delete=models.CASCADE, related_name="ballots", verbose_name=_("poll run"))
    participant = models.ForeignKey("meetings.Participant", on_delete=models.CASCADE, related_name="+", verbose_name=_("participant"))
    voter_name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("answered"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("ballot")
        verbose_name_plural = _("ballots")
        constraints = [models.UniqueConstraint(fields=["run", "participant"], name="one_ballot_per_participant")]

    def __str__(self) -> str:
        return f"{self.voter_name} — {self.run.title}"


class Vote(models.Model):
    ballot = models.ForeignKey(Ballot, on_delete=models.CASCADE, related_name="votes")
    question_id = models.PositiveIntegerField()
    choice_id = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ballot", "question_id", "choice_id"], name="one_vote_per_choice")]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.choice_id}"
