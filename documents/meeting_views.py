"""Files of presentations, under a meeting's link: the page images of a shared
document (for the meeting's participants), the exports (for whoever asked for one and
the meeting's managers) and the annotated PDF of a presentation for its managers, the
link of the meeting report. Views read freely but write only through
``documents.presenting``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from documents import presenting
from documents.models import DocumentPage, Export, Presentation
from meetings.access import meeting_by_public_id, participant_for_session
from meetings.models import Meeting, Participant
from meetings.permissions import can_manage_meeting

PAGE_CACHE = "private, max-age=600"
CONTENT_TYPES: dict[str, str] = {"png": "image/png", "pdf": "application/pdf"}


# --- Access ---------------------------------------------------------------------------


def presentation_of_meeting(public_id: str, presentation_id: int) -> Presentation:
    """A presentation named by its meeting's link: 404 when it is not of that meeting."""
    meeting = meeting_by_public_id(public_id)
    presentation = Presentation.objects.filter(pk=presentation_id, meeting=meeting).first()
    if presentation is None:
        raise Http404
    presentation.meeting = meeting
    return presentation


def export_of_meeting(public_id: str, export_id: int) -> Export:
    meeting = meeting_by_public_id(public_id)
    export = Export.objects.select_related("presentation").filter(pk=export_id, presentation__meeting=meeting).first()
    if export is None:
        raise Http404
    export.presentation.meeting = meeting
    return export


def _own_participant(request, meeting: Meeting) -> Participant | None:
    try:
        return participant_for_session(meeting, request.user, request.session.session_key)
    except PermissionDenied:
        return None


def _in_the_room(participant: Participant | None) -> bool:
    return participant is not None and participant.state == Participant.State.JOINED and not participant.is_banned


# --- Views ----------------------------------------------------------------------------


@require_safe
def presentation_page(request, public_id: str, presentation_id: int, number: int):
    """A page image of a shared document: to the people in the meeting and its managers."""
    presentation = presentation_of_meeting(public_id, presentation_id)
    meeting = presentation.meeting
    if not (_in_the_room(_own_participant(request, meeting)) or can_manage_meeting(request.user, meeting)):
        raise PermissionDenied
    page = None
    if presentation.kind == Presentation.Kind.PDF and presentation.document_id:
        page = DocumentPage.objects.filter(document_id=presentation.document_id, number=number).first()
    name = page.image.name if page is not None else None
    if page is None or not name:
        raise Http404
    try:
        stream = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(stream, content_type="image/png", filename=f"page-{page.number}.png")
    response["Cache-Control"] = PAGE_CACHE
    return response


@require_safe
def export_download(request, public_id: str, export_id: int, filename: str):
    """A ready export: to the participant who asked for it and the meeting's managers."""
    export = export_of_meeting(public_id, export_id)
    meeting = export.presentation.meeting
    participant = _own_participant(request, meeting)
    asked = participant is not None and export.requester_id == participant.pk
    if not (asked or can_manage_meeting(request.user, meeting)):
        raise PermissionDenied
    name = export.file.name
    if filename != export.filename or export.status != Export.Status.READY or not name:
        raise Http404
    try:
        stream = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(stream, as_attachment=True, filename=export.filename, content_type=CONTENT_TYPES[export.format])
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def presentation_archive(request, public_id: str, presentation_id: int):
    """The annotated PDF of a presentation, for the meeting's managers (the meeting
    report links here): the download once ready, else a page that waits for it."""
    presentation = presentation_of_meeting(public_id, presentation_id)
    export = presenting.archive_export(request.user, presentation, retry=request.GET.get("retry") == "1")
    if export.status == Export.Status.READY:
        return redirect(presenting.export_url(export))
    failed = export.status == Export.Status.FAILED
    context = {"presentation": presentation, "failed": failed, "error": export.error}
    return render(request, "documents/export_pending.html", context, status=200 if failed else 202)
