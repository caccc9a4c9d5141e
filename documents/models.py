"""Shared Documents Repository (F6, F7).

A ``Document`` is a PDF in an extension user's repository. Its file is stored under a
generated name (``documents/<uuid>.pdf``, never the uploaded name); a Celery task
renders every page to a PNG (``documents/<uuid>/page-<n>.png``, one ``DocumentPage``
each) and a thumbnail of page 1, counting its progress in ``pages_rendered``.
Deleting is soft (``deleted_at``): the document leaves the repository at once and its
files go when no presentation refers to it any more.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.leases import Leased

NAME_MAX = 200


class Document(Leased, models.Model):
    """Its lease (``Leased``) is the render of its pages (``documents.services``)."""

    class Status(models.TextChoices):
        PROCESSING = "processing", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents", verbose_name=_("owner"))
    name = models.CharField(_("name"), max_length=NAME_MAX)
    file = models.FileField(_("file"), max_length=200)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    page_count = models.PositiveIntegerField(_("pages"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROCESSING)
    error = models.CharField(_("error"), max_length=500, blank=True)
    pages_rendered = models.PositiveIntegerField(_("pages rendered"), default=0)
    thumbnail = models.FileField(_("thumbnail"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        indexes = [models.Index(fields=["owner", "deleted_at"], name="documents_owner_live")]

    def __str__(self) -> str:
        return self.name

    @property
    def storage_key(self) -> str:
        """The generated uuid of the stored file, which also names its page folder."""
        return PurePosixPath(self.file.name or "").stem

    @property
    def pages_prefix(self) -> str:
        return f"documents/{self.storage_key}"


class DocumentPage(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages", verbose_name=_("document"))
    number = models.PositiveIntegerField(_("page number"))
    image = models.FileField(_("image"), max_length=200)
    width = models.PositiveIntegerField(_("width (px)"))
    height = models.PositiveIntegerField(_("height (px)"))

    class Meta:
        ordering = ["document", "number"]
        verbose_name = _("document page")
        verbose_name_plural = _("document pages")
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="documents_page_unique")]

    def __str__(self) -> str:
        return f"{self.document} p. {self.number}"


# --- Presentations and annotations (shared in a meeting) ------------------------------


class Presentation(models.Model):
    """A PDF or a whiteboard shared in a meeting. It holds the room's share slot
    (``meeting.share_stream_id`` is ``presentation-<id>``) until it ends."""

    class Kind(models.TextChoices):
        PDF = "pdf", _("Document")
        WHITEBOARD = "whiteboard", _("Whiteboard")

    class Template(models.TextChoices):
        BLANK = "blank", _("Blank")
        DOTTED = "dotted", _("Dotted")

    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="presentations", verbose_name=_("meeting"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # The document's files stay while a presentation refers to it (see Document): its
    # pages are shown, exported and kept with the meeting.
    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.PROTECT, related_name="presentations", verbose_name=_("document")
    )
    name = models.CharField(_("name"), max_length=NAME_MAX)
    template = models.CharField(_("template"), max_length=8, choices=Template.choices, blank=True)
    page = models.PositiveIntegerField(_("current page"), default=1)
    page_count = models.PositiveIntegerField(_("pages"), default=1)
    sharer = models.ForeignKey(
        "meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("shared by")
    )
    sharer_name = models.CharField(_("shared by"), max_length=100)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["meeting", "started_at", "pk"]
        verbose_name = _("presentation")
        verbose_name_plural = _("presentations")
        constraints = [
            models.UniqueConstraint(fields=["meeting"], condition=models.Q(ended_at__isnull=True), name="documents_one_live_presentation"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def stream_id(self) -> str:
        return f"presentation-{self.pk}"


class Annotation(models.Model):
    """A stroke or a text on one page. A stroke is one row per author and
    ``stroke_id``, its points appended chunk by chunk while it is drawn. Erased and
    cleared ones are kept (``removed_at``) so that an undo can bring them back."""

    class Kind(models.TextChoices):
        STROKE = "stroke", _("Stroke")
        TEXT = "text", _("Text")

    presentation = models.ForeignKey(Presentation, on_delete=models.CASCADE, related_name="annotations", verbose_name=_("presentation"))
    page = models.PositiveIntegerField(_("page"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    author = models.ForeignKey(
        "meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("author")
    )
    author_name = models.CharField(_("author"), max_length=100)
    stroke_id = models.CharField(max_length=40, blank=True, editable=False)
    data = models.JSONField(_("data"), default=dict)
    point_count = models.PositiveIntegerField(default=0, editable=False)
    finished = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)

    class Meta:
        ordering = ["presentation", "pk"]
        verbose_name = _("annotation")
        verbose_name_plural = _("annotations")
        indexes = [models.Index(fields=["presentation", "page"], name="documents_annotation_page")]
        constraints = [
            models.UniqueConstraint(
                fields=["presentation", "author", "stroke_id"], condition=~models.Q(stroke_id=""), name="documents_one_row_per_stroke"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} p. {self.page}"


class AnnotationAction(models.Model):
    """What one participant did, newest last, for their undo: an annotation added
    (undo removes it), erased (undo restores it) or a text edited (undo puts back
    ``previous``)."""

    class Kind(models.TextChoices):
        ADD = "add", _("Added")
        ERASE = "erase", _("Erased")
        EDIT = "edit", _("Edited")

    presentation = models.ForeignKey(Presentation, on_delete=models.CASCADE, related_name="actions")
    participant = models.ForeignKey("meetings.Participant", null=True, on_delete=models.SET_NULL, related_name="+")
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    previous = models.JSONField(null=True, blank=True)
    # The erases of one drag of the eraser share it: they are undone together.
    gesture = models.CharField(max_length=40, blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["presentation", "participant", "undone_at"], name="documents_action_undo")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.annotation_id}"


class Export(Leased, models.Model):
    """A PNG of one page or a PDF of all pages with their annotations, rendered by the
    worker (``documents.tasks.render_export``, under the lease of ``Leased``) and stored
    under a fixed name."""

    class Format(models.TextChoices):
        PNG = "png", "PNG"
        PDF = "pdf", "PDF"

    class Status(models.TextChoices):
        RENDERING = "rendering", _("Rendering")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    presentation = models.ForeignKey(Presentation, on_delete=models.CASCADE, related_name="exports", verbose_name=_("presentation"))
    # Asked for in the room by a participant, or afterwards by a manager of the meeting.
    requester = models.ForeignKey(
        "meetings.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("requested by")
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    page = models.PositiveIntegerField(_("page"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RENDERING)
    error = models.CharField(_("error"), max_length=300, blank=True)
    file = models.FileField(_("file"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self) -> str:
        return self.filename

    @property
    def filename(self) -> str:
        """The download's name: ids only (document names are free text)."""
        if self.format == self.Format.PNG:
            return f"presentation-{self.presentation_id}-page-{self.page}.png"
        return f"presentation-{self.presentation_id}.pdf"
