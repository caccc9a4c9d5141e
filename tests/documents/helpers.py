"""Documents set-ups shared by the documents tests: rendered documents (a plain
colour per page, so that a pixel tells which page it is), a room with its people and
their documents, presentations, strokes and texts drawn through the services."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from documents import presenting
from documents.models import Annotation, Document, DocumentPage, Presentation
from meetings.models import Meeting, Participant, Role, RoomType
from meetings.roomkit import meeting_group
from tests.factories import Events, make_extension, make_meeting, make_participant

PAGE_SIZE = (400, 566)


def make_document(owner, *, pages: int = 3, status: str = Document.Status.READY, name: str = "Plan.pdf") -> Document:
    """A rendered document as the repository leaves it: a row, and a PNG per page in
    the storage (a plain colour each, so that a pixel tells which page it is)."""
    key = uuid.uuid4().hex
    document = Document.objects.create(
        owner=owner, name=name, file=f"documents/{key}.pdf", size=1000, page_count=pages, status=status, pages_rendered=pages
    )
    for number in range(1, pages + 1):
        buffer = io.BytesIO()
        Image.new("RGB", PAGE_SIZE, page_color(number)).save(buffer, "PNG")
        stored = default_storage.save(f"documents/{key}/page-{number}.png", ContentFile(buffer.getvalue()))
        DocumentPage.objects.create(document=document, number=number, image=stored, width=PAGE_SIZE[0], height=PAGE_SIZE[1])
    return document


def page_color(number: int) -> tuple[int, int, int]:
    return (250, 250 - 10 * number, 240)


@dataclass
class Room:
    """Creator and another organizer, a presenter (extension users with a document
    each), a participant (a guest), one person in the lobby."""

    meeting: Meeting
    creator: Participant
    organizer: Participant
    presenter: Participant
    participant: Participant
    lobby: Participant
    documents: dict[str, Document]


def make_room() -> Room:
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED)
    organizer, presenter = make_extension().user, make_extension().user
    return Room(
        meeting=meeting,
        creator=make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator"),
        organizer=make_participant(meeting, user=organizer, role=Role.ORGANIZER, name="Olaf Organizer"),
        presenter=make_participant(meeting, user=presenter, role=Role.PRESENTER, name="Pia Presenter"),
        participant=make_participant(meeting, name="Paul Participant"),
        lobby=make_participant(meeting, name="Lou Lobby", state=Participant.State.LOBBY),
        documents={"creator": make_document(owner.user), "presenter": make_document(presenter, pages=2, name="Slides.pdf")},
    )


class RoomEvents(Events):
    def names(self, meeting: Meeting) -> list[str]:
        return [event for event, _body in self.of(meeting_group(meeting.public_id))]


def whiteboard(who: Participant, template: str = "blank") -> Presentation:
    return presenting.start_presentation(who, presenting.clean_start({"kind": "whiteboard", "template": template}))


def show_pdf(who: Participant, document: Document) -> Presentation:
    return presenting.start_presentation(who, presenting.clean_start({"kind": "pdf", "document_id": document.pk}))


def stroke_body(presentation: Presentation, stroke_id: str = "s1", *, page: int = 1, points=None, final: bool = False, **changes) -> dict:
    body = {
        "presentation_id": presentation.pk,
        "page": page,
        "stroke_id": stroke_id,
        "points": [[0.1, 0.2], [0.3, 0.4]] if points is None else points,
        "color": "#E11D48",
        "width": 0.01,
        "final": final,
    }
    return {**body, **changes}


def draw(who: Participant, presentation: Presentation, stroke_id: str = "s1", **kwargs) -> Annotation:
    return presenting.add_stroke(who, presenting.clean_stroke(stroke_body(presentation, stroke_id, **kwargs)))


def text_body(presentation: Presentation, text: str = "Look here", **changes) -> dict:
    return {"presentation_id": presentation.pk, "page": 1, "x": 0.5, "y": 0.25, "text": text, "color": "#2563eb", "size": 0.03, **changes}


def write(who: Participant, presentation: Presentation, text: str = "Look here", **changes) -> Annotation:
    return presenting.put_text(who, presenting.clean_text(text_body(presentation, text, **changes)))
