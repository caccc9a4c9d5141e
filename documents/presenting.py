"""Presentations in a meeting: a PDF of the sharer's repository or a whiteboard shared
into the room, its pages, its annotations (strokes drawn live, texts), undo, clear,
cursors and exports (docs/documents.md, "Presentations").

Rules:

- A presentation takes the room's single share slot (``meetings.services.start_share``
  with kind ``pdf`` / ``whiteboard`` and stream ``presentation-<id>``), so it and a
  screen share exclude each other. It is shown while it holds the slot; when the share
  stops (Stop Sharing, the sharer leaving for good, a role or policy that no longer
  lets them share) or the meeting ends, it ends (``end_presentations``).
- Annotating needs ``can(participant, "annotate")``: joined, not in the lobby, the
  right not taken away by an organizer. The sharer turns pages; organizers and the
  sharer clear a page; everyone in the room may undo their own last action and ask
  for an export.
- Every message is validated by a pure ``clean_*`` function before any database work;
  the services take what those return.
- Lock order, the room's: meeting, then participant rows, then the presentation, then
  its annotations. A stroke chunk is one short transaction: the author's row read,
  the stroke's row (one per author and ``stroke_id``) locked and the chunk's points
  appended to it, then one ``annotation.stroke`` event to the room after commit.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import leases
from documents import services as document_services
from documents.models import Annotation, AnnotationAction, Document, DocumentPage, Export, Presentation
from meetings import services as meeting_services
from meetings.models import Meeting, Participant
from meetings.permissions import can, can_manage_meeting
from meetings.roomkit import (
    RoomError,
    current_participant,
    lock_self,
    require_joined,
    send_to_participant,
    to_room,
    valid_id,
)
from meetings.services import ShareBusy

logger = logging.getLogger(__name__)

KINDS = (Presentation.Kind.PDF, Presentation.Kind.WHITEBOARD)
WHITEBOARD_ASPECT = 16 / 9
WHITEBOARD_MAX_PAGES = 50
# Any page number above this is refused before the database is asked.
PAGE_NUMBER_MAX = 100_000
STROKE_MAX_POINTS = 5000
CHUNK_MAX_POINTS = 200
TEXT_MAX = 500
PAGE_MAX_ANNOTATIONS = 2000
STROKE_WIDTH_RANGE = (0.001, 0.05)
TEXT_SIZE_RANGE = (0.01, 0.1)
STROKE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# Line breaks are text; other control characters are not.
TEXT_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# An undo looks this far back for an action that still applies.
UNDO_LOOKBACK = 100
# An export whose task no worker took after this many seconds (a task the broker lost)
# is queued again when asked for. Once a worker took it, its lease decides (core.leases).
EXPORT_RETRY_AFTER = 120


# --- Validation: pure functions, before any database work -----------------------------


@dataclass(frozen=True)
class StrokeChunk:
    presentation_id: int
    page: int
    stroke_id: str
    points: list[list[float]]
    color: str
    width: float
    final: bool


@dataclass(frozen=True)
class TextInput:
    presentation_id: int
    page: int
    x: float
    y: float
    text: str
    color: str
    size: float
    annotation_id: int | None = None


@dataclass(frozen=True)
class EraseInput:
    presentation_id: int
    annotation_id: int
    gesture: str = ""  # the erases of one drag of the eraser share it: one undo brings them back


@dataclass(frozen=True)
class CursorInput:
    presentation_id: int
    x: float = 0.0
    y: float = 0.0
    hidden: bool = False


@dataclass(frozen=True)
class ExportInput:
    presentation_id: int
    format: str
    page: int | None = None


def _fields(body: Any, required: set[str], optional: frozenset[str] = frozenset()) -> dict:
    if not isinstance(body, dict):
        raise ValidationError(_("The message body is an object."))
    unknown = set(body) - required - optional
    if unknown:
        raise ValidationError(_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    missing = required - set(body)
    if missing:
        raise ValidationError(_("Missing fields: %(fields)s.") % {"fields": ", ".join(sorted(missing))})
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object_id(value: Any, name: str) -> int:
    """An id: an int (else ``invalid``); out of range is "not found", as in the room."""
    if not _is_int(value):
        raise ValidationError(_("“%(name)s” must be a whole number.") % {"name": name})
    if not valid_id(value):
        raise RoomError("not_found", _("There is no such presentation or annotation in this meeting."))
    return value


def _page(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= PAGE_NUMBER_MAX:
        raise ValidationError(_("“page” is a page number."))
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A finite number in [low, high]: no NaN or infinity (``1e999`` parses as one),
    no booleans, no strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(_("“%(name)s” is a number from %(low)s to %(high)s.") % {"name": name, "low": low, "high": high})
    return float(value)


def _coordinate(value: Any, name: str) -> float:
    return _number(value, name, 0.0, 1.0)


def _color(value: Any) -> str:
    if not isinstance(value, str) or not COLOR_RE.fullmatch(value):
        raise ValidationError(_("“color” is a colour like #1a2b3c."))
    return value.lower()


def _points(value: Any) -> list[list[float]]:
    if not isinstance(value, list) or not 1 <= len(value) <= CHUNK_MAX_POINTS:
        raise ValidationError(_("“points” is a list of 1 to %(max)d points.") % {"max": CHUNK_MAX_POINTS})
    points = []
    for point in value:
        if not isinstance(point, list) or len(point) != 2:
            raise ValidationError(_("Each point is [x, y]."))
        points.append([_coordinate(point[0], "x"), _coordinate(point[1], "y")])
    return points


def clean_stroke(body: Any) -> StrokeChunk:
    body = _fields(body, {"presentation_id", "page", "stroke_id", "points", "color", "width", "final"})
    stroke_id = body["stroke_id"]
    if not isinstance(stroke_id, str) or not STROKE_ID_RE.fullmatch(stroke_id):
        raise ValidationError(_("“stroke_id” is 1 to 40 letters, digits, - or _."))
    if not isinstance(body["final"], bool):
        raise ValidationError(_("“final” is true or false."))
    return StrokeChunk(
        presentation_id=_object_id(body["presentation_id"], "presentation_id"),
        page=_page(body["page"]),
        stroke_id=stroke_id,
        points=_points(body["points"]),
        color=_color(body["color"]),
        width=_number(body["width"], "width", *STROKE_WIDTH_RANGE),
        final=body["final"],
    )


def _text(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > TEXT_MAX:
        raise ValidationError(_("A text has 1 to %(max)d characters.") % {"max": TEXT_MAX})
    if TEXT_CONTROL_RE.search(text) or not all(line.isprintable() for line in text.split("\n")):
        raise ValidationError(_("A text cannot contain control characters."))
    return text


def clean_text(body: Any) -> TextInput:
    body = _fields(body, {"presentation_id", "page", "x", "y", "text", "color", "size"}, frozenset({"annotation_id"}))
    return TextInput(
        presentation_id=_object_id(body["presentation_id"], "presentation_id"),
        page=_page(body["page"]),
        x=_coordinate(body["x"], "x"),
        y=_coordinate(body["y"], "y"),
        text=_text(body["text"]),
        color=_color(body["color"]),
        size=_number(body["size"], "size", *TEXT_SIZE_RANGE),
        annotation_id=_object_id(body["annotation_id"], "annotation_id") if "annotation_id" in body else None,
    )


def clean_cursor(body: Any) -> CursorInput:
    if isinstance(body, dict) and "hidden" in body:
        body = _fields(body, {"presentation_id", "hidden"})
        if body["hidden"] is not True:
            raise ValidationError(_("“hidden” is true (or send x and y)."))
        return CursorInput(_object_id(body["presentation_id"], "presentation_id"), hidden=True)
    body = _fields(body, {"presentation_id", "x", "y"})
    return CursorInput(_object_id(body["presentation_id"], "presentation_id"), _coordinate(body["x"], "x"), _coordinate(body["y"], "y"))


def clean_presentation_id(body: Any) -> int:
    return _object_id(_fields(body, {"presentation_id"})["presentation_id"], "presentation_id")


def clean_erase(body: Any) -> EraseInput:
    body = _fields(body, {"presentation_id", "annotation_id"}, frozenset({"gesture"}))
    gesture = body.get("gesture", "")
    if "gesture" in body and (not isinstance(gesture, str) or not STROKE_ID_RE.fullmatch(gesture)):
        raise ValidationError(_("“gesture” is 1 to 40 letters, digits, - or _."))
    return EraseInput(_object_id(body["presentation_id"], "presentation_id"), _object_id(body["annotation_id"], "annotation_id"), gesture)


def clean_page_ref(body: Any) -> tuple[int, int]:
    body = _fields(body, {"presentation_id", "page"})
    return _object_id(body["presentation_id"], "presentation_id"), _page(body["page"])


def clean_export(body: Any) -> ExportInput:
    body = _fields(body, {"presentation_id", "format"}, frozenset({"page"}))
    if body["format"] not in Export.Format.values:
        raise ValidationError(_("“format” is png or pdf."))
    page = _page(body["page"]) if "page" in body else None
    # A PDF has every page: a page number there means nothing.
    return ExportInput(_object_id(body["presentation_id"], "presentation_id"), body["format"], page if body["format"] == "png" else None)


@dataclass(frozen=True)
class StartInput:
    kind: str
    document_id: int | None = None
    template: str = ""


def clean_start(body: Any) -> StartInput:
    kind = body.get("kind") if isinstance(body, dict) else None
    if kind == Presentation.Kind.PDF:
        body = _fields(body, {"kind", "document_id"})
        if not _is_int(body["document_id"]):
            raise ValidationError(_("“document_id” must be a whole number."))
        return StartInput(kind, document_id=body["document_id"])
    if kind == Presentation.Kind.WHITEBOARD:
        body = _fields(body, {"kind", "template"})
        if body["template"] not in Presentation.Template.values:
            raise ValidationError(_("“template” is blank or dotted."))
        return StartInput(kind, template=body["template"])
    raise ValidationError(_("“kind” is pdf or whiteboard."))


# --- Payloads -------------------------------------------------------------------------


def page_url(presentation: Presentation, number: int) -> str:
    return reverse("presentation_page", args=[presentation.meeting.public_id, presentation.pk, number])


def presentation_payload(presentation: Presentation) -> dict:
    """The presentation object of docs/documents.md (``presentation.meeting`` is read)."""
    pages = []
    if presentation.kind == Presentation.Kind.PDF and presentation.document_id:
        pages = [
            {"number": page.number, "width": page.width, "height": page.height, "url": page_url(presentation, page.number)}
            for page in DocumentPage.objects.filter(document_id=presentation.document_id).order_by("number")
        ]
    whiteboard = presentation.kind == Presentation.Kind.WHITEBOARD
    return {
        "id": presentation.pk,
        "kind": presentation.kind,
        "name": presentation.name,
        "page": presentation.page,
        "page_count": presentation.page_count,
        "template": presentation.template or None,
        "sharer_id": presentation.sharer_id,
        "sharer_name": presentation.sharer_name,
        "pages": pages,
        "aspect": WHITEBOARD_ASPECT if whiteboard else None,
    }


def annotation_payload(annotation: Annotation) -> dict:
    return {
        "id": annotation.pk,
        "page": annotation.page,
        "kind": annotation.kind,
        "author_id": annotation.author_id,
        "author_name": annotation.author_name,
        "data": annotation.data,
    }


def export_url(export: Export) -> str:
    presentation = export.presentation
    return reverse("presentation_export", args=[presentation.meeting.public_id, export.pk, export.filename])


def export_payload(export: Export) -> dict:
    ready = export.status == Export.Status.READY
    return {"export_id": export.pk, "status": export.status, "url": export_url(export) if ready else None, "error": export.error or None}


# --- Reading --------------------------------------------------------------------------


def shown_presentation(meeting: Meeting) -> Presentation | None:
    """The presentation holding the meeting's share slot, if any."""
    if meeting.share_kind not in KINDS or not meeting.share_stream_id.startswith("presentation-"):
        return None
    pk = meeting.share_stream_id.removeprefix("presentation-")
    if not pk.isdigit():
        return None
    presentation = Presentation.objects.filter(pk=int(pk), meeting_id=meeting.pk, ended_at__isnull=True).first()
    if presentation is not None:
        presentation.meeting = meeting
    return presentation


def live_annotations(presentation: Presentation, page: int | None = None):
    annotations = presentation.annotations.filter(removed_at__isnull=True)
    if page is not None:
        annotations = annotations.filter(page=page)
    return annotations.order_by("pk")


def room_presentation(participant: Participant) -> dict | None:
    """The ``presentation`` section of ``room.snapshot``: what is shown, with every
    annotation of every page (a late joiner or a reconnecting page misses nothing)."""
    presentation = shown_presentation(participant.meeting)
    if presentation is None:
        return None
    return {
        "presentation": presentation_payload(presentation),
        "annotations": [annotation_payload(annotation) for annotation in live_annotations(presentation)],
    }


def documents_for_participant(participant: Participant) -> list[dict]:
    """The caller's repository for the meeting's documents panel: ready ones first."""
    current = current_participant(participant)
    if not can(current, "share_document"):
        raise PermissionDenied(_("Your role does not allow this."))
    documents = list(document_services.repository(current.user))
    ready = [d for d in documents if d.status == Document.Status.READY]
    others = [d for d in documents if d.status != Document.Status.READY]
    return [document_services.document_payload(document) for document in ready + others]


# --- Shared helpers -------------------------------------------------------------------


def _authorise_annotating(current: Participant) -> None:
    require_joined(current)
    if not can(current, "annotate"):
        raise PermissionDenied(_("An organizer has turned annotating off for you."))


def _not_shown() -> RoomError:
    return RoomError("not_found", _("This presentation is not shown in this meeting."))


def _shown(current: Participant, presentation_id: int, *, lock: bool) -> Presentation:
    """The presentation ``presentation_id`` if it is the one shown in the caller's
    meeting (locked: it may not end meanwhile)."""
    meeting = current.meeting
    if not _is_shown(meeting, presentation_id):
        raise _not_shown()
    presentations = Presentation.objects.filter(pk=presentation_id, meeting_id=meeting.pk, ended_at__isnull=True)
    presentation = (presentations.select_for_update() if lock else presentations).first()
    if presentation is None:
        raise _not_shown()
    presentation.meeting = meeting
    return presentation


def _check_page(presentation: Presentation, page: int) -> None:
    if not 1 <= page <= presentation.page_count:
        raise ValidationError(_("This presentation has pages 1 to %(count)d.") % {"count": presentation.page_count})


def _check_room_on_page(presentation: Presentation, page: int) -> None:
    if live_annotations(presentation, page).count() >= PAGE_MAX_ANNOTATIONS:
        raise ValidationError(_("A page holds at most %(max)d annotations. Erase some first.") % {"max": PAGE_MAX_ANNOTATIONS})


def _is_sharer(current: Participant, presentation: Presentation) -> bool:
    return current.state == Participant.State.JOINED and presentation.sharer_id == current.pk


# --- Starting and ending --------------------------------------------------------------


def _shareable_document(current: Participant, document_id: int | None) -> Document:
    """One of the caller's own ready documents (another user's is "not found")."""
    document = None
    if valid_id(document_id):
        document = document_services.repository(current.user).filter(pk=document_id, status=Document.Status.READY).first()
    if document is None or document.page_count < 1:
        raise RoomError("not_found", _("There is no such document ready in your repository."))
    return document


_starting = threading.local()


@contextlib.contextmanager
def _starting_presentation() -> Iterator[None]:
    _starting.active = True
    try:
        yield
    finally:
        _starting.active = False


def may_take_share_slot(participant: Participant) -> bool:
    """The share kinds ``pdf`` and ``whiteboard``: only through ``start_presentation``
    (a bare ``share.start`` of these kinds would show nothing), by those who may share
    documents."""
    return getattr(_starting, "active", False) and can(participant, "share_document")


def start_presentation(participant: Participant, start: StartInput) -> Presentation:
    """Share a document or a whiteboard into the room. One share at a time: anyone
    else's is ``share_busy``; the sharer's own earlier share gives way."""
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=participant.meeting_id)
        current = meeting.participants.select_for_update().filter(pk=participant.pk).first()
        if current is None:
            raise PermissionDenied(_("You are not in this meeting."))
        current.meeting = meeting
        if not can(current, "share_document"):
            raise PermissionDenied(_("Your role does not allow this."))
        sharer = meeting.share_participant
        if sharer is not None and sharer.pk != current.pk:
            raise ShareBusy(sharer)
        if start.kind == Presentation.Kind.PDF:
            document = _shareable_document(current, start.document_id)
            fields = {"document": document, "name": document.name, "page_count": document.page_count}
        else:
            fields = {"name": _("Whiteboard"), "template": start.template, "page_count": 1}
        end_presentations(meeting, all_of_them=True)  # the sharer's own earlier one
        presentation = Presentation.objects.create(
            meeting=meeting, kind=start.kind, sharer=current, sharer_name=current.display_name, page=1, **fields
        )
        with _starting_presentation():
            meeting_services.start_share(current, kind=start.kind, stream_id=presentation.stream_id)
        to_room(meeting, "presentation.started", presentation_payload(presentation))
    return presentation


def end_presentations(meeting: Meeting, *, all_of_them: bool = False) -> int:
    """End every presentation of a (locked) meeting that no longer holds its share
    slot: all of them once the share stopped or the meeting ended. Called by the
    share-stopped and meeting-end hooks, inside their transaction."""
    holds_slot = meeting.share_kind in KINDS and not meeting.is_ended and not all_of_them
    keep = meeting.share_stream_id if holds_slot else ""
    ended = 0
    now = timezone.now()
    for presentation in Presentation.objects.select_for_update().filter(meeting_id=meeting.pk, ended_at__isnull=True):
        if presentation.stream_id == keep:
            continue
        presentation.ended_at = now
        presentation.save(update_fields=["ended_at"])
        to_room(meeting, "presentation.ended", {"presentation_id": presentation.pk})
        ended += 1
    return ended


def hide_cursor(meeting: Meeting, participant: Participant) -> None:
    """Someone left or lost their socket: their pointer goes from the others' screens."""
    presentation = shown_presentation(meeting)
    if presentation is not None:
        body = {"presentation_id": presentation.pk, "participant_id": participant.pk, "name": participant.display_name, "hidden": True}
        to_room(meeting, "annotation.cursor", body)


# --- Pages ----------------------------------------------------------------------------


def turn_page(participant: Participant, presentation_id: int, page: int) -> Presentation:
    """The sharer turns to ``page``; everyone follows."""
    with transaction.atomic():
        current = current_participant(participant)
        presentation = _shown(current, presentation_id, lock=True)
        if not _is_sharer(current, presentation):
            raise PermissionDenied(_("Only the person sharing turns the pages."))
        _check_page(presentation, page)
        if presentation.page != page:
            presentation.page = page
            presentation.save(update_fields=["page"])
            _publish_page(presentation)
    return presentation


def add_page(participant: Participant, presentation_id: int) -> Presentation:
    """The sharer adds a page to the whiteboard and turns to it."""
    with transaction.atomic():
        current = current_participant(participant)
        presentation = _shown(current, presentation_id, lock=True)
        if not _is_sharer(current, presentation):
            raise PermissionDenied(_("Only the person sharing adds pages."))
        if presentation.kind != Presentation.Kind.WHITEBOARD:
            raise ValidationError(_("Pages are added to a whiteboard only."))
        if presentation.page_count >= WHITEBOARD_MAX_PAGES:
            raise ValidationError(_("A whiteboard has at most %(max)d pages.") % {"max": WHITEBOARD_MAX_PAGES})
        presentation.page_count += 1
        presentation.page = presentation.page_count
        presentation.save(update_fields=["page_count", "page"])
        _publish_page(presentation)
    return presentation


def _publish_page(presentation: Presentation) -> None:
    body = {"presentation_id": presentation.pk, "page": presentation.page, "page_count": presentation.page_count}
    to_room(presentation.meeting, "presentation.page", body)


# --- Annotations ----------------------------------------------------------------------

# The right organizers may turn off for someone (``Participant.rights_off``).
ANNOTATE = "annotate"


def may_annotate(participant: Participant) -> bool:
    """The participant object's ``annotate_allowed`` (docs/protocol.md)."""
    return participant.has_right(ANNOTATE)


def set_annotate_allowed(actor: Participant, target_id: int, allowed: bool) -> Participant:
    """Organizers let someone draw on shared documents and whiteboards, or not."""
    return meeting_services.set_right(actor, target_id, ANNOTATE, allowed)


def add_stroke(participant: Participant, chunk: StrokeChunk) -> Annotation:
    """Store one chunk of a stroke and relay it to the room.

    The hot path, a chunk of a stroke already begun, is three statements: the caller's
    row (rights, the meeting's share slot), the stroke's row locked (in the shown
    presentation), its points appended. The first chunk takes the room's locks
    (author, presentation) to count the page's annotations and create the row.
    """
    with transaction.atomic():
        current = current_participant(participant)
        _authorise_annotating(current)
        if not _is_shown(current.meeting, chunk.presentation_id):
            raise _not_shown()
        annotation = _stroke_row(current, chunk).first()
        if annotation is None:
            annotation = _new_stroke(participant, chunk)
        else:
            _append(annotation, chunk)
        body = {
            "presentation_id": annotation.presentation_id,
            "participant_id": current.pk,
            "stroke_id": chunk.stroke_id,
            "annotation_id": annotation.pk,
            "page": annotation.page,
            "points": chunk.points,
            "color": annotation.data["color"],
            "width": annotation.data["width"],
            "final": chunk.final,
        }
        to_room(current.meeting, "annotation.stroke", body)
    return annotation


def _is_shown(meeting: Meeting, presentation_id: int) -> bool:
    return meeting.share_kind in KINDS and meeting.share_stream_id == f"presentation-{presentation_id}"


def _stroke_row(author: Participant, chunk: StrokeChunk):
    """The author's row of this stroke in the presentation, if it is still shown, locked."""
    return Annotation.objects.select_for_update(of=("self",)).filter(
        presentation_id=chunk.presentation_id,
        presentation__meeting_id=author.meeting_id,
        presentation__ended_at__isnull=True,
        author_id=author.pk,
        stroke_id=chunk.stroke_id,
    )


def _new_stroke(participant: Participant, chunk: StrokeChunk) -> Annotation:
    current = lock_self(participant)
    presentation = _shown(current, chunk.presentation_id, lock=True)
    _check_page(presentation, chunk.page)
    existing = _stroke_row(current, chunk).first()
    if existing is not None:  # the same stroke begun meanwhile (another socket of the author)
        _append(existing, chunk)
        return existing
    _check_room_on_page(presentation, chunk.page)
    annotation = Annotation.objects.create(
        presentation=presentation,
        page=chunk.page,
        kind=Annotation.Kind.STROKE,
        author=current,
        author_name=current.display_name,
        stroke_id=chunk.stroke_id,
        data={"points": chunk.points, "color": chunk.color, "width": chunk.width},
        point_count=len(chunk.points),
        finished=chunk.final,
    )
    AnnotationAction.objects.create(presentation=presentation, participant=current, annotation=annotation, kind=AnnotationAction.Kind.ADD)
    return annotation


def _append(annotation: Annotation, chunk: StrokeChunk) -> None:
    if annotation.removed_at is not None:
        raise RoomError("not_found", _("This stroke was erased."))
    if annotation.finished:
        raise ValidationError(_("This stroke is finished; start a new one."))
    if annotation.page != chunk.page:
        raise ValidationError(_("A stroke stays on its page."))
    if annotation.point_count + len(chunk.points) > STROKE_MAX_POINTS:
        raise ValidationError(_("A stroke has at most %(max)d points.") % {"max": STROKE_MAX_POINTS})
    annotation.data["points"].extend(chunk.points)
    annotation.point_count += len(chunk.points)
    annotation.finished = chunk.final
    annotation.save(update_fields=["data", "point_count", "finished"])


def put_text(participant: Participant, text: TextInput) -> Annotation:
    """Place a text, or edit one's own (``annotation_id``)."""
    data = {"x": text.x, "y": text.y, "text": text.text, "color": text.color, "size": text.size}
    with transaction.atomic():
        current = lock_self(participant)
        _authorise_annotating(current)
        presentation = _shown(current, text.presentation_id, lock=True)
        _check_page(presentation, text.page)
        if text.annotation_id is None:
            _check_room_on_page(presentation, text.page)
            annotation = Annotation.objects.create(
                presentation=presentation,
                page=text.page,
                kind=Annotation.Kind.TEXT,
                author=current,
                author_name=current.display_name,
                data=data,
            )
            _record(presentation, current, annotation, AnnotationAction.Kind.ADD)
            to_room(current.meeting, "annotation.added", annotation_payload(annotation))
            return annotation
        annotation = _live_annotation(presentation, text.annotation_id)
        if annotation.kind != Annotation.Kind.TEXT or annotation.author_id != current.pk:
            raise PermissionDenied(_("You may edit your own texts only."))
        if annotation.page != text.page:
            raise ValidationError(_("A text stays on its page."))
        _record(presentation, current, annotation, AnnotationAction.Kind.EDIT, previous=annotation.data)
        annotation.data = data
        annotation.save(update_fields=["data"])
        to_room(current.meeting, "annotation.updated", annotation_payload(annotation))
    return annotation


def _record(
    presentation: Presentation, current: Participant, annotation: Annotation, kind: str, previous: dict | None = None, gesture: str = ""
) -> None:
    AnnotationAction.objects.create(
        presentation=presentation, participant=current, annotation=annotation, kind=kind, previous=previous, gesture=gesture
    )


def _live_annotation(presentation: Presentation, annotation_id: int) -> Annotation:
    annotation = Annotation.objects.select_for_update().filter(pk=annotation_id, presentation=presentation, removed_at__isnull=True).first()
    if annotation is None:
        raise RoomError("not_found", _("There is no such annotation on this presentation."))
    return annotation


def _publish_removed(meeting: Meeting, presentation: Presentation, ids: list[int]) -> None:
    to_room(meeting, "annotation.removed", {"presentation_id": presentation.pk, "annotation_ids": ids})


def erase(participant: Participant, presentation_id: int, annotation_id: int, gesture: str = "") -> None:
    """Remove a whole stroke or text (anyone's); its author or the eraser may undo.
    The erases of one drag of the eraser share ``gesture``: one undo restores them all."""
    with transaction.atomic():
        current = lock_self(participant)
        _authorise_annotating(current)
        presentation = _shown(current, presentation_id, lock=True)
        annotation = _live_annotation(presentation, annotation_id)
        annotation.removed_at = timezone.now()
        annotation.save(update_fields=["removed_at"])
        _record(presentation, current, annotation, AnnotationAction.Kind.ERASE, gesture=gesture)
        _publish_removed(current.meeting, presentation, [annotation.pk])


def undo(participant: Participant, presentation_id: int) -> None:
    """Undo the caller's own last action that still applies: an addition is removed,
    an erasure restored, a text edit reverted. Actions made moot by others (an
    addition someone erased, a page cleared) are passed over."""
    with transaction.atomic():
        current = lock_self(participant)
        require_joined(current)
        presentation = _shown(current, presentation_id, lock=True)
        actions = (
            AnnotationAction.objects.select_for_update()
            .filter(presentation=presentation, participant=current, undone_at__isnull=True)
            .select_related("annotation")
            .order_by("-pk")[:UNDO_LOOKBACK]
        )
        now = timezone.now()
        for action in actions:
            action.undone_at = now
            action.save(update_fields=["undone_at"])
            if _revert(current.meeting, presentation, action):
                if action.gesture:
                    _revert_rest_of_gesture(current, presentation, action, now)
                return
        raise RoomError("not_found", _("There is nothing of yours to undo."))


def _revert_rest_of_gesture(current: Participant, presentation: Presentation, first: AnnotationAction, now) -> None:
    """One drag of the eraser is one action to undo: what else it erased comes back."""
    rest = (
        AnnotationAction.objects.select_for_update()
        .filter(presentation=presentation, participant=current, undone_at__isnull=True, kind=first.kind, gesture=first.gesture)
        .select_related("annotation")
        .order_by("-pk")
    )
    for action in rest:
        action.undone_at = now
        action.save(update_fields=["undone_at"])
        _revert(current.meeting, presentation, action)


def _revert(meeting: Meeting, presentation: Presentation, action: AnnotationAction) -> bool:
    annotation = action.annotation
    removed = annotation.removed_at is not None
    if action.kind == AnnotationAction.Kind.ADD and not removed:
        annotation.removed_at = timezone.now()
        annotation.save(update_fields=["removed_at"])
        _publish_removed(meeting, presentation, [annotation.pk])
        return True
    if action.kind == AnnotationAction.Kind.ERASE and removed:
        annotation.removed_at = None
        annotation.save(update_fields=["removed_at"])
        to_room(meeting, "annotation.added", annotation_payload(annotation))
        return True
    if action.kind == AnnotationAction.Kind.EDIT and not removed and action.previous:
        annotation.data = action.previous
        annotation.save(update_fields=["data"])
        to_room(meeting, "annotation.updated", annotation_payload(annotation))
        return True
    return False


def clear_page(participant: Participant, presentation_id: int, page: int) -> list[int]:
    """Organizers and the sharer remove every annotation of a page."""
    with transaction.atomic():
        current = lock_self(participant)
        require_joined(current)
        presentation = _shown(current, presentation_id, lock=True)
        if not (can(current, "moderate") or _is_sharer(current, presentation)):
            raise PermissionDenied(_("Only organizers and the person sharing clear a page."))
        _check_page(presentation, page)
        annotations = live_annotations(presentation, page)
        ids = list(annotations.values_list("pk", flat=True))
        if ids:
            Annotation.objects.filter(pk__in=ids).update(removed_at=timezone.now())
            _publish_removed(current.meeting, presentation, ids)
    return ids


def move_cursor(participant: Participant, cursor: CursorInput) -> None:
    """Relay the caller's pointer to the room (not stored)."""
    current = current_participant(participant)
    _authorise_annotating(current)
    presentation = _shown(current, cursor.presentation_id, lock=False)
    body: dict[str, Any] = {"presentation_id": presentation.pk, "participant_id": current.pk, "name": current.display_name}
    if cursor.hidden:
        body["hidden"] = True
    else:
        body.update(x=cursor.x, y=cursor.y)
    to_room(current.meeting, "annotation.cursor", body)


# --- Exports --------------------------------------------------------------------------


def request_export(participant: Participant, wanted: ExportInput) -> Export:
    """A PNG of one page (default: the page shown) or a PDF of every page, with their
    annotations, rendered by the worker; ``presentation.export`` follows to the caller."""
    with transaction.atomic():
        current = current_participant(participant)
        require_joined(current)
        presentation = (
            Presentation.objects.select_related("meeting").filter(pk=wanted.presentation_id, meeting_id=current.meeting_id).first()
        )
        if presentation is None:
            raise RoomError("not_found", _("There is no such presentation in this meeting."))
        page = None
        if wanted.format == Export.Format.PNG:
            page = wanted.page or presentation.page
            _check_page(presentation, page)
        asked = (
            Export.objects.select_for_update()
            .filter(presentation=presentation, requester=current, format=wanted.format, page=page, status=Export.Status.RENDERING)
            .order_by("-pk")
            .first()
        )
        if asked is not None:  # asked twice: one render (queued again if its worker died)
            _requeue_if_dead(asked)
            return asked
        export = Export.objects.create(
            presentation=presentation, requester=current, format=wanted.format, page=page, **leases.queued(EXPORT_RETRY_AFTER)
        )
        _enqueue_export(export)
    return export


def archive_export(user, presentation: Presentation, *, retry: bool = False) -> Export:
    """The annotated PDF for the meeting's managers, during or after the meeting.

    The latest PDF export serves while it is rendering (queued again if its worker
    died), once it failed (unless ``retry``), and once ready if nothing can have changed
    since: the presentation ended before it was asked for, or it is only a few moments
    old.
    """
    if not can_manage_meeting(user, presentation.meeting):
        raise PermissionDenied
    with transaction.atomic():
        presentation = Presentation.objects.select_for_update().select_related("meeting").get(pk=presentation.pk)
        latest = Export.objects.select_for_update().filter(presentation=presentation, format=Export.Format.PDF).order_by("-pk").first()
        if latest is not None and _still_serves(presentation, latest, retry=retry):
            _requeue_if_dead(latest)
            return latest
        export = Export.objects.create(
            presentation=presentation, requested_by=user, format=Export.Format.PDF, **leases.queued(EXPORT_RETRY_AFTER)
        )
        _enqueue_export(export)
    return export


def _still_serves(presentation: Presentation, export: Export, *, retry: bool) -> bool:
    recent = timezone.now() - export.created_at < timedelta(seconds=EXPORT_RETRY_AFTER)
    if export.status == Export.Status.RENDERING:
        return True
    if export.status == Export.Status.FAILED:
        return not retry
    final = presentation.ended_at is not None and export.created_at >= presentation.ended_at
    return final or recent


def _requeue_if_dead(export: Export) -> None:
    """A rendering export (locked) whose lease ran out (its worker died) or whose task
    was never taken: queue it again."""
    if export.status != Export.Status.RENDERING or not leases.is_dead(export):
        return
    export.save(update_fields=leases.queue(export, EXPORT_RETRY_AFTER, fresh=False))
    _enqueue_export(export)


def _enqueue_export(export: Export) -> None:
    from documents.tasks import render_export

    def enqueue() -> None:
        try:
            render_export.delay(export.pk)
        except Exception:
            logger.exception("Could not enqueue export %s", export.pk)

    transaction.on_commit(enqueue)


def requeue_dead_exports(now=None) -> int:
    """Exports whose worker died (its lease ran out) are queued again; after
    ``leases.MAX_EXPIRIES`` of them the export is failed (beat, every few seconds)."""
    rendering = Export.objects.filter(status=Export.Status.RENDERING).select_related("presentation__meeting")
    return leases.sweep(rendering, wait_seconds=EXPORT_RETRY_AFTER, requeue=_enqueue_export, give_up=_give_up_export, now=now)


def _give_up_export(export: Export) -> None:
    export.status = Export.Status.FAILED
    export.error = _("The file could not be made: the worker rendering it stopped several times. Try again.")
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "error", "finished_at"])
    publish_export_state(export)


def publish_export_state(export: Export) -> None:
    """``presentation.export`` to the requester's sockets, after commit."""
    if export.requester_id is not None:
        send_to_participant(export.requester_id, "presentation.export", export_payload(export))
