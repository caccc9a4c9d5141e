"""documents.presenting: validation of every message, starting and ending presentations
(the share slot, the hooks), pages, strokes, texts, erase, undo, clear, cursors, export
requests, the meeting report section and the page and export downloads."""

from __future__ import annotations

import io
import math
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from core import leases
from documents import presenting, tasks
from documents.models import Annotation, AnnotationAction, Document, Export, Presentation
from documents.report import presentations as report_section
from meetings import services as meeting_services
from meetings.models import Meeting, Participant, Role, SharePolicy
from meetings.roomkit import RoomError, meeting_group, participant_group
from tests.documents.helpers import (
    Room,
    RoomEvents,
    draw,
    make_document,
    make_room,
    page_color,
    show_pdf,
    stroke_body,
    whiteboard,
    write,
)
from tests.factories import make_participant

pytestmark = pytest.mark.django_db


# --- Set-up ---------------------------------------------------------------------------


@pytest.fixture
def room() -> Room:
    return make_room()


@pytest.fixture
def events(monkeypatch) -> RoomEvents:
    recorder = RoomEvents()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


@pytest.fixture
def export_tasks(monkeypatch) -> list[int]:
    """Export ids the render task was enqueued for (the renderer has tests of its own)."""
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.render_export, "delay", enqueued.append)
    return enqueued


def live(presentation: Presentation) -> list[int]:
    return list(presenting.live_annotations(presentation).values_list("pk", flat=True))


def reload(presentation: Presentation) -> Presentation:
    return Presentation.objects.get(pk=presentation.pk)


# --- Validation -----------------------------------------------------------------------


def _bad_strokes() -> list[tuple[dict, type]]:
    good = {"presentation_id": 1, "page": 1, "stroke_id": "s-1_A", "points": [[0, 1]], "color": "#aabbcc", "width": 0.01, "final": True}
    bad: list[tuple[dict, type]] = [
        ({**good, "points": [[-0.01, 0.5]]}, ValidationError),
        ({**good, "points": [[0.5, 1.0001]]}, ValidationError),
        ({**good, "points": [[math.nan, 0.5]]}, ValidationError),
        ({**good, "points": [[0.5, math.inf]]}, ValidationError),
        ({**good, "points": [[True, 0.5]]}, ValidationError),
        ({**good, "points": [["0.5", 0.5]]}, ValidationError),
        ({**good, "points": [[0.5, None]]}, ValidationError),
        ({**good, "points": [[0.5]]}, ValidationError),
        ({**good, "points": [[0.5, 0.5, 0.5]]}, ValidationError),
        ({**good, "points": [{"x": 0.5, "y": 0.5}]}, ValidationError),
        ({**good, "points": []}, ValidationError),
        ({**good, "points": [[0.5, 0.5]] * (presenting.CHUNK_MAX_POINTS + 1)}, ValidationError),
        ({**good, "points": "0.5,0.5"}, ValidationError),
        ({**good, "color": "red"}, ValidationError),
        ({**good, "color": "#abc"}, ValidationError),
        ({**good, "color": "#aabbcc\n"}, ValidationError),
        ({**good, "width": 0.0009}, ValidationError),
        ({**good, "width": 0.051}, ValidationError),
        ({**good, "width": "0.01"}, ValidationError),
        ({**good, "stroke_id": ""}, ValidationError),
        ({**good, "stroke_id": "a" * 41}, ValidationError),
        ({**good, "stroke_id": "a b"}, ValidationError),
        ({**good, "stroke_id": 7}, ValidationError),
        ({**good, "final": "yes"}, ValidationError),
        ({**good, "final": None}, ValidationError),
        ({**good, "page": 0}, ValidationError),
        ({**good, "page": True}, ValidationError),
        ({**good, "page": 1.0}, ValidationError),
        ({**good, "presentation_id": "1"}, ValidationError),
        ({**good, "presentation_id": True}, ValidationError),
        ({**good, "presentation_id": 0}, RoomError),
        ({**good, "presentation_id": 2**31}, RoomError),
        ({**good, "tool": "laser"}, ValidationError),
        ({**good, "from": 3}, ValidationError),
        ({k: v for k, v in good.items() if k != "color"}, ValidationError),
    ]
    return bad


def test_it_accepts_a_well_formed_stroke_chunk():
    chunk = presenting.clean_stroke(
        {
            "presentation_id": 4,
            "page": 2,
            "stroke_id": "s-1_A",
            "points": [[0, 1], [0.5, 0.25]],
            "color": "#AABBCC",
            "width": 0.05,
            "final": False,
        }
    )
    assert chunk == presenting.StrokeChunk(4, 2, "s-1_A", [[0.0, 1.0], [0.5, 0.25]], "#aabbcc", 0.05, False)
    assert presenting.clean_stroke({**stroke_body(Presentation(pk=1)), "points": [[0.5, 0.5]] * presenting.CHUNK_MAX_POINTS})


@pytest.mark.parametrize(("body", "error"), _bad_strokes())
def test_it_refuses_a_bad_stroke_chunk_before_any_database_work(body, error, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(error):
        presenting.clean_stroke(body)


@pytest.mark.parametrize(
    "changes",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "x" * (presenting.TEXT_MAX + 1)},
        {"text": "bell\x07"},
        {"text": "tab\tand more"},
        {"text": "line\u2028separator"},
        {"text": 42},
        {"x": 1.5},
        {"y": -0.1},
        {"x": math.nan},
        {"size": 0.2},
        {"size": 0.001},
        {"color": "blue"},
        {"annotation_id": "3"},
        {"font": "Comic Sans"},
    ],
)
def test_it_refuses_a_bad_text_before_any_database_work(changes, django_assert_num_queries):
    body = {"presentation_id": 1, "page": 1, "x": 0.5, "y": 0.5, "text": "Hello", "color": "#000000", "size": 0.03, **changes}
    with django_assert_num_queries(0), pytest.raises(ValidationError):
        presenting.clean_text(body)


def test_it_keeps_line_breaks_in_texts_and_trims_them():
    text = presenting.clean_text(
        {"presentation_id": 1, "page": 1, "x": 0, "y": 1, "text": "  Two\nlines ", "color": "#000000", "size": 0.1}
    )
    assert text.text == "Two\nlines"
    assert text.annotation_id is None


@pytest.mark.parametrize(
    "body",
    [
        {"presentation_id": 1, "x": 0.5},
        {"presentation_id": 1, "x": 0.5, "y": 2},
        {"presentation_id": 1, "hidden": False},
        {"presentation_id": 1, "hidden": True, "x": 0.5},
        {"presentation_id": 1, "x": 0.5, "y": 0.5, "name": "Someone else"},
    ],
)
def test_it_refuses_a_bad_cursor(body):
    with pytest.raises(ValidationError):
        presenting.clean_cursor(body)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "screen", "stream_id": "x"},
        {"kind": "pdf"},
        {"kind": "pdf", "document_id": "3"},
        {"kind": "pdf", "document_id": 3, "template": "blank"},
        {"kind": "whiteboard", "template": "grid"},
        {"kind": "whiteboard"},
        {},
    ],
)
def test_it_refuses_a_bad_start(body):
    with pytest.raises(ValidationError):
        presenting.clean_start(body)


@pytest.mark.parametrize(
    "body",
    [{"presentation_id": 1, "format": "svg"}, {"presentation_id": 1, "format": "png", "page": 0}, {"presentation_id": 1}],
)
def test_it_refuses_a_bad_export_request(body):
    with pytest.raises(ValidationError):
        presenting.clean_export(body)


# --- Starting and ending --------------------------------------------------------------


def test_it_shows_a_document_in_the_share_slot_and_tells_the_room(room, events, committed):
    with committed():
        presentation = show_pdf(room.presenter, room.documents["presenter"])
    meeting = Meeting.objects.get(pk=room.meeting.pk)
    assert (meeting.share_participant_id, meeting.share_kind, meeting.share_stream_id) == (
        room.presenter.pk,
        "pdf",
        f"presentation-{presentation.pk}",
    )
    assert events.names(room.meeting) == ["share.started", "presentation.started"]
    [(_group, body)] = events.named("presentation.started")
    public_id = room.meeting.public_id
    assert body == {
        "id": presentation.pk,
        "kind": "pdf",
        "name": "Slides.pdf",
        "page": 1,
        "page_count": 2,
        "template": None,
        "sharer_id": room.presenter.pk,
        "sharer_name": "Pia Presenter",
        "pages": [
            {"number": n, "width": 400, "height": 566, "url": f"/m/{public_id}/presentations/{presentation.pk}/pages/{n}.png"}
            for n in (1, 2)
        ],
        "aspect": None,
    }


def test_it_starts_a_whiteboard_with_its_template(room, events, committed):
    with committed():
        presentation = whiteboard(room.creator, "dotted")
    [(_group, body)] = events.named("presentation.started")
    assert (body["kind"], body["template"], body["page_count"], body["pages"], body["aspect"]) == ("whiteboard", "dotted", 1, [], 16 / 9)
    assert presentation.name == "Whiteboard"


def test_it_shares_only_ones_own_ready_documents(room):
    others = [
        room.documents["creator"],  # another user's
        make_document(room.presenter.user, status=Document.Status.PROCESSING),
        make_document(room.presenter.user, status=Document.Status.FAILED),
    ]
    deleted = make_document(room.presenter.user)
    Document.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    for document in [*others, deleted]:
        with pytest.raises(RoomError) as refused:
            show_pdf(room.presenter, document)
        assert refused.value.code == "not_found"
    with pytest.raises(RoomError):
        presenting.start_presentation(room.presenter, presenting.StartInput("pdf", document_id=10**12))
    assert not Presentation.objects.exists()
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant_id is None


def test_it_lets_only_the_share_policys_roles_present(room):
    with pytest.raises(PermissionDenied):
        whiteboard(room.participant)
    with pytest.raises(PermissionDenied):
        whiteboard(room.lobby)
    Meeting.objects.filter(pk=room.meeting.pk).update(share_policy=SharePolicy.EVERYONE)
    assert whiteboard(room.participant).sharer_id == room.participant.pk


def test_a_screen_share_and_a_presentation_exclude_each_other(room):
    meeting_services.start_share(room.organizer, kind="screen", stream_id="screen-1")
    with pytest.raises(RoomError) as busy:
        whiteboard(room.presenter)
    assert busy.value.code == "share_busy"
    assert not Presentation.objects.exists()
    meeting_services.stop_share(room.organizer)

    presentation = whiteboard(room.presenter)
    with pytest.raises(RoomError) as busy:
        meeting_services.start_share(room.organizer, kind="screen", stream_id="screen-2")
    assert busy.value.code == "share_busy"
    assert Meeting.objects.get(pk=room.meeting.pk).share_stream_id == presentation.stream_id


def test_a_bare_share_start_cannot_take_the_slot_as_a_presentation(room):
    for kind in ("pdf", "whiteboard"):
        with pytest.raises(PermissionDenied):
            meeting_services.start_share(room.creator, kind=kind, stream_id="presentation-1")
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant_id is None


def test_the_sharers_new_presentation_replaces_their_own_earlier_share(room, events, committed):
    meeting_services.start_share(room.presenter, kind="screen", stream_id="screen-1")
    first = whiteboard(room.presenter)
    with committed():
        second = show_pdf(room.presenter, room.documents["presenter"])
    assert reload(first).ended_at is not None
    assert reload(second).ended_at is None
    assert events.names(room.meeting) == ["presentation.ended", "share.started", "presentation.started"]
    assert Meeting.objects.get(pk=room.meeting.pk).share_stream_id == second.stream_id


def test_stop_sharing_ends_the_presentation(room, events, committed):
    presentation = whiteboard(room.presenter)
    draw(room.participant, presentation)
    with committed():
        meeting_services.stop_share(room.creator)  # an organizer stops it
    assert reload(presentation).ended_at is not None
    assert events.names(room.meeting) == ["share.stopped", "presentation.ended"]
    assert events.named("presentation.ended") == [(meeting_group(room.meeting.public_id), {"presentation_id": presentation.pk})]
    assert presenting.room_presentation(Participant.objects.select_related("meeting").get(pk=room.participant.pk)) is None
    assert Annotation.objects.filter(presentation=presentation).count() == 1  # kept with the meeting
    with pytest.raises(RoomError):
        draw(room.participant, presentation, "s2")


@pytest.mark.parametrize("how", ["leave", "kick", "role", "policy", "meeting_end"])
def test_the_presentation_ends_when_its_sharer_may_no_longer_share(room, how):
    presentation = whiteboard(room.presenter)
    if how == "leave":
        meeting_services.leave_meeting(room.presenter)
    elif how == "kick":
        meeting_services.kick_participant(room.creator, room.presenter.pk)
    elif how == "role":
        meeting_services.change_role(room.creator, room.presenter.pk, Role.PARTICIPANT)
    elif how == "policy":
        meeting_services.update_meeting_settings(room.meeting, room.creator.user, share_policy=SharePolicy.ORGANIZERS)
    else:
        meeting_services.end_meeting(room.meeting, room.creator.user)
    assert reload(presentation).ended_at is not None


def test_a_dropped_connection_of_the_sharer_loses_nothing(room):
    presentation = whiteboard(room.presenter)
    draw(room.presenter, presentation, final=True)
    meeting_services.connect_participant(room.presenter, "channel-1")
    meeting_services.disconnect_participant(room.presenter, "channel-1")
    assert reload(presentation).ended_at is None
    section = presenting.room_presentation(Participant.objects.select_related("meeting").get(pk=room.participant.pk))
    assert section is not None
    assert section["presentation"]["id"] == presentation.pk
    assert len(section["annotations"]) == 1


# --- Pages ----------------------------------------------------------------------------


def test_the_sharer_turns_pages_and_everyone_follows(room, events, committed):
    presentation = show_pdf(room.creator, room.documents["creator"])
    with committed():
        presenting.turn_page(room.creator, presentation.pk, 3)
    assert reload(presentation).page == 3
    assert events.named("presentation.page") == [
        (meeting_group(room.meeting.public_id), {"presentation_id": presentation.pk, "page": 3, "page_count": 3})
    ]
    for page in (0, 4):
        with pytest.raises(ValidationError):
            presenting.turn_page(room.creator, presentation.pk, page)
    for other in (room.organizer, room.participant):
        with pytest.raises(PermissionDenied):
            presenting.turn_page(other, presentation.pk, 1)
    assert reload(presentation).page == 3


def test_the_sharer_adds_whiteboard_pages_up_to_the_limit(room):
    board = whiteboard(room.presenter)
    assert presenting.add_page(room.presenter, board.pk).page_count == 2
    assert reload(board).page == 2
    with pytest.raises(PermissionDenied):
        presenting.add_page(room.creator, board.pk)
    Presentation.objects.filter(pk=board.pk).update(page_count=presenting.WHITEBOARD_MAX_PAGES)
    with pytest.raises(ValidationError):
        presenting.add_page(room.presenter, board.pk)
    meeting_services.stop_share(room.presenter)
    document = show_pdf(room.presenter, room.documents["presenter"])
    with pytest.raises(ValidationError):
        presenting.add_page(room.presenter, document.pk)


# --- Strokes --------------------------------------------------------------------------


def test_it_appends_the_chunks_of_a_stroke_to_one_row_and_relays_each(room, events, committed):
    board = whiteboard(room.presenter)
    with committed():
        first = draw(room.participant, board, points=[[0.1, 0.1], [0.2, 0.2]])
        second = draw(room.participant, board, points=[[0.3, 0.3]], final=True)
    assert first.pk == second.pk
    stored = Annotation.objects.get(pk=first.pk)
    assert stored.data == {"points": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "color": "#e11d48", "width": 0.01}
    assert (stored.point_count, stored.finished, stored.author_name) == (3, True, "Paul Participant")
    relayed = [body for _group, body in events.named("annotation.stroke")]
    assert relayed == [
        {
            "presentation_id": board.pk,
            "participant_id": room.participant.pk,
            "stroke_id": "s1",
            "annotation_id": first.pk,
            "page": 1,
            "points": points,
            "color": "#e11d48",
            "width": 0.01,
            "final": final,
        }
        for points, final in (([[0.1, 0.1], [0.2, 0.2]], False), ([[0.3, 0.3]], True))
    ]
    # The same stroke id of another author is another stroke.
    assert draw(room.creator, board).pk != first.pk


def test_a_chunk_of_a_begun_stroke_is_three_statements(room, django_assert_num_queries):
    board = whiteboard(room.presenter)
    draw(room.participant, board)
    chunk = presenting.clean_stroke(stroke_body(board, points=[[0.5, 0.5]]))
    # The caller's row, the stroke's row locked, the update (and the savepoint around them).
    with django_assert_num_queries(5):
        presenting.add_stroke(room.participant, chunk)
    assert Annotation.objects.get().point_count == 3


def test_a_late_joiner_gets_every_stroke_of_every_page(room):
    board = whiteboard(room.presenter)
    draw(room.participant, board, "a", points=[[0.1, 0.1]])
    draw(room.participant, board, "a", points=[[0.2, 0.2]])  # still being drawn
    presenting.add_page(room.presenter, board.pk)
    draw(room.creator, board, "b", page=2, final=True)
    write(room.presenter, board)
    late = make_participant(room.meeting, name="Lena Late")
    section = presenting.room_presentation(Participant.objects.select_related("meeting").get(pk=late.pk))
    assert section is not None
    assert section["presentation"]["page"] == 2
    by_page = {(a["page"], a["kind"], a["author_name"]): a for a in section["annotations"]}
    assert set(by_page) == {(1, "stroke", "Paul Participant"), (2, "stroke", "Cora Creator"), (1, "text", "Pia Presenter")}
    assert by_page[(1, "stroke", "Paul Participant")]["data"]["points"] == [[0.1, 0.1], [0.2, 0.2]]


def test_it_refuses_strokes_that_break_the_limits_and_stores_nothing_of_them(room, monkeypatch):
    board = whiteboard(room.presenter)
    with pytest.raises(ValidationError):
        draw(room.participant, board, page=2)  # the whiteboard has one page
    draw(room.participant, board, "done", final=True)
    with pytest.raises(ValidationError):
        draw(room.participant, board, "done")
    draw(room.participant, board, "long", points=[[0.5, 0.5]] * 200)
    Annotation.objects.filter(stroke_id="long").update(point_count=presenting.STROKE_MAX_POINTS - 100)
    with pytest.raises(ValidationError):
        draw(room.participant, board, "long", points=[[0.5, 0.5]] * 101)
    presenting.add_page(room.presenter, board.pk)
    with pytest.raises(ValidationError):
        draw(room.participant, board, "long", page=2)  # a stroke stays on its page
    monkeypatch.setattr(presenting, "PAGE_MAX_ANNOTATIONS", 2)
    with pytest.raises(ValidationError):
        draw(room.creator, board, "third")
    assert sorted(Annotation.objects.values_list("stroke_id", "point_count")) == [("done", 2), ("long", presenting.STROKE_MAX_POINTS - 100)]


def test_it_refuses_strokes_of_people_who_may_not_annotate(room, events, committed):
    board = whiteboard(room.presenter)
    presenting.set_annotate_allowed(room.creator, room.participant.pk, False)
    events.sent.clear()
    with committed():
        with pytest.raises(PermissionDenied):
            draw(room.participant, board)
        with pytest.raises(PermissionDenied):
            draw(room.lobby, board)
        with pytest.raises(PermissionDenied):
            write(room.participant, board)
        with pytest.raises(PermissionDenied):
            presenting.move_cursor(room.participant, presenting.CursorInput(board.pk, 0.5, 0.5))
    assert not Annotation.objects.exists()
    assert events.sent == []
    presenting.set_annotate_allowed(room.creator, room.participant.pk, True)
    assert draw(room.participant, board)


def test_it_refuses_a_presentation_of_another_meeting_or_one_not_shown(room):
    board = whiteboard(room.presenter)
    elsewhere = make_room()
    foreign = whiteboard(elsewhere.presenter)
    for presentation in (foreign, Presentation(pk=10**9)):
        with pytest.raises(RoomError) as refused:
            draw(room.participant, presentation)
        assert refused.value.code == "not_found"
    meeting_services.stop_share(room.presenter)
    with pytest.raises(RoomError):
        draw(room.participant, board)
    assert not Annotation.objects.filter(presentation=foreign).exists()


# --- Texts, erase, undo, clear --------------------------------------------------------


def test_it_places_and_edits_ones_own_text(room, events, committed):
    board = whiteboard(room.presenter)
    with committed():
        text = write(room.participant, board, "First")
        write(room.participant, board, "Second", annotation_id=text.pk, x=0.1)
    assert Annotation.objects.get(pk=text.pk).data == {"x": 0.1, "y": 0.25, "text": "Second", "color": "#2563eb", "size": 0.03}
    assert events.names(room.meeting)[-2:] == ["annotation.added", "annotation.updated"]
    [(_group, updated)] = events.named("annotation.updated")
    assert updated["id"] == text.pk and updated["data"]["text"] == "Second" and updated["author_id"] == room.participant.pk
    with pytest.raises(PermissionDenied):
        write(room.creator, board, "Mine now", annotation_id=text.pk)
    stroke = draw(room.participant, board)
    with pytest.raises(PermissionDenied):
        write(room.participant, board, "A stroke is no text", annotation_id=stroke.pk)
    presenting.add_page(room.presenter, board.pk)
    with pytest.raises(ValidationError):
        write(room.participant, board, "Moved", annotation_id=text.pk, page=2)
    with pytest.raises(RoomError):
        write(room.participant, board, "Gone", annotation_id=10**9)
    assert Annotation.objects.get(pk=text.pk).data["text"] == "Second"


def test_anyone_annotating_erases_a_whole_stroke_or_text(room, events, committed):
    board = whiteboard(room.presenter)
    stroke = draw(room.creator, board)
    text = write(room.presenter, board)
    with committed():
        presenting.erase(room.participant, board.pk, stroke.pk)
    assert live(board) == [text.pk]
    assert events.named("annotation.removed")[-1][1] == {"presentation_id": board.pk, "annotation_ids": [stroke.pk]}
    with pytest.raises(RoomError):
        presenting.erase(room.participant, board.pk, stroke.pk)  # already gone
    presenting.set_annotate_allowed(room.creator, room.participant.pk, False)
    with pytest.raises(PermissionDenied):
        presenting.erase(room.participant, board.pk, text.pk)
    assert live(board) == [text.pk]


def test_undo_takes_back_ones_own_last_actions_in_order(room, events, committed):
    board = whiteboard(room.presenter)
    stroke = draw(room.participant, board, final=True)
    text = write(room.participant, board, "Before")
    write(room.participant, board, "After", annotation_id=text.pk)
    other = draw(room.creator, board)
    presenting.erase(room.participant, board.pk, other.pk)

    with committed():
        presenting.undo(room.participant, board.pk)  # the erase: the creator's stroke is back
    assert live(board) == [stroke.pk, text.pk, other.pk]
    assert events.named("annotation.added")[-1][1]["id"] == other.pk
    presenting.undo(room.participant, board.pk)  # the edit
    assert Annotation.objects.get(pk=text.pk).data["text"] == "Before"
    presenting.undo(room.participant, board.pk)  # placing the text
    presenting.undo(room.participant, board.pk)  # the stroke
    assert live(board) == [other.pk]
    with pytest.raises(RoomError) as nothing:
        presenting.undo(room.participant, board.pk)
    assert nothing.value.code == "not_found"
    assert live(board) == [other.pk]  # the creator's own actions are theirs to undo
    presenting.undo(room.creator, board.pk)
    assert live(board) == []


def test_one_undo_brings_back_everything_one_drag_of_the_eraser_removed(room, events, committed):
    board = whiteboard(room.presenter)
    alone, first, second = (draw(room.creator, board, name, final=True) for name in ("alone", "first", "second"))
    presenting.erase(room.participant, board.pk, alone.pk)  # a click
    presenting.erase(room.participant, board.pk, first.pk, gesture="drag-1")  # a drag across two strokes
    presenting.erase(room.participant, board.pk, second.pk, gesture="drag-1")
    assert live(board) == []

    with committed():
        presenting.undo(room.participant, board.pk)
    assert live(board) == [first.pk, second.pk]
    assert sorted(body["id"] for _name, body in events.named("annotation.added")) == [first.pk, second.pk]
    presenting.undo(room.participant, board.pk)  # then the click
    assert live(board) == [alone.pk, first.pk, second.pk]


def test_undo_passes_over_actions_that_others_made_moot(room):
    board = whiteboard(room.presenter)
    kept = draw(room.participant, board, "kept", final=True)
    erased = draw(room.participant, board, "erased", final=True)
    presenting.erase(room.creator, board.pk, erased.pk)
    presenting.undo(room.participant, board.pk)
    assert live(board) == []
    assert AnnotationAction.objects.filter(annotation=kept, undone_at__isnull=False).exists()


def test_organizers_and_the_sharer_clear_a_page(room, events, committed):
    board = whiteboard(room.presenter)
    presenting.add_page(room.presenter, board.pk)
    first = [draw(room.participant, board, f"s{n}", page=1).pk for n in range(3)]
    second = draw(room.participant, board, "other-page", page=2)
    with pytest.raises(PermissionDenied):
        presenting.clear_page(room.participant, board.pk, 1)
    with committed():
        assert presenting.clear_page(room.organizer, board.pk, 1) == first
    assert live(board) == [second.pk]
    assert events.named("annotation.removed")[-1][1] == {"presentation_id": board.pk, "annotation_ids": first}
    assert presenting.clear_page(room.presenter, board.pk, 2) == [second.pk]
    with pytest.raises(ValidationError):
        presenting.clear_page(room.presenter, board.pk, 3)


# --- Cursors --------------------------------------------------------------------------


def test_it_relays_a_named_cursor_and_hides_it_when_its_owner_goes(room, events, committed):
    board = whiteboard(room.presenter)
    with committed():
        presenting.move_cursor(room.participant, presenting.CursorInput(board.pk, 0.25, 0.75))
        presenting.move_cursor(room.participant, presenting.CursorInput(board.pk, hidden=True))
        meeting_services.connect_participant(room.organizer, "channel-1")
        meeting_services.disconnect_participant(room.organizer, "channel-1")
    cursors = [body for _group, body in events.named("annotation.cursor")]
    base = {"presentation_id": board.pk, "participant_id": room.participant.pk, "name": "Paul Participant"}
    assert cursors == [
        {**base, "x": 0.25, "y": 0.75},
        {**base, "hidden": True},
        {"presentation_id": board.pk, "participant_id": room.organizer.pk, "name": "Olaf Organizer", "hidden": True},
    ]
    assert not Annotation.objects.exists()


# --- Exports --------------------------------------------------------------------------


def test_it_asks_the_worker_for_an_export_once(room, export_tasks, committed):
    document = show_pdf(room.presenter, room.documents["presenter"])
    presenting.turn_page(room.presenter, document.pk, 2)
    with committed():
        export = presenting.request_export(room.participant, presenting.clean_export({"presentation_id": document.pk, "format": "png"}))
        again = presenting.request_export(room.participant, presenting.clean_export({"presentation_id": document.pk, "format": "png"}))
        pdf = presenting.request_export(
            room.participant, presenting.clean_export({"presentation_id": document.pk, "format": "pdf", "page": 2})
        )
    assert again.pk == export.pk
    assert (export.format, export.page, export.status, export.requester_id) == ("png", 2, "rendering", room.participant.pk)
    assert (pdf.format, pdf.page) == ("pdf", None)
    assert export_tasks == [export.pk, pdf.pk]
    assert presenting.export_payload(export) == {"export_id": export.pk, "status": "rendering", "url": None, "error": None}
    with pytest.raises(ValidationError):
        presenting.request_export(room.participant, presenting.ExportInput(document.pk, "png", 3))
    with pytest.raises(PermissionDenied):
        presenting.request_export(room.lobby, presenting.ExportInput(document.pk, "pdf"))
    foreign = whiteboard(make_room().presenter)
    with pytest.raises(RoomError):
        presenting.request_export(room.participant, presenting.ExportInput(foreign.pk, "pdf"))
    assert Export.objects.count() == 2


def test_the_export_state_goes_to_its_requester_only(room, events, committed):
    board = whiteboard(room.presenter)
    export = Export.objects.create(presentation=board, requester=room.participant, format="png", page=1, status="ready", file="x.png")
    with committed():
        presenting.publish_export_state(export)
    url = f"/m/{room.meeting.public_id}/exports/{export.pk}/presentation-{board.pk}-page-1.png"
    assert events.sent == [(participant_group(room.participant.pk), "presentation.export", presenting.export_payload(export))]
    assert presenting.export_payload(export)["url"] == url


def test_managers_get_the_annotated_pdf_rendered_once_after_the_end(room, export_tasks, committed):
    board = whiteboard(room.presenter)
    with pytest.raises(PermissionDenied):
        presenting.archive_export(room.presenter.user, board)
    with committed():
        first = presenting.archive_export(room.creator.user, board)
        assert presenting.archive_export(room.creator.user, board).pk == first.pk  # still rendering
        Export.objects.filter(pk=first.pk).update(status="failed", error="Broken.")
        assert presenting.archive_export(room.creator.user, board).pk == first.pk  # says it failed
        retried = presenting.archive_export(room.creator.user, board, retry=True)
        assert retried.pk != first.pk
        meeting_services.stop_share(room.presenter)
        Export.objects.filter(pk=retried.pk).update(status="ready", created_at=timezone.now() - timedelta(hours=1))
        final = presenting.archive_export(room.creator.user, board)  # the ready one predates the end
        assert final.pk not in (first.pk, retried.pk)
        Export.objects.filter(pk=final.pk).update(status="ready", created_at=timezone.now() - timedelta(hours=1))
        Presentation.objects.filter(pk=board.pk).update(ended_at=timezone.now() - timedelta(hours=2))
        assert presenting.archive_export(room.creator.user, board).pk == final.pk
    assert export_tasks == [first.pk, retried.pk, final.pk]


RENDERING = Export.objects.filter(status=Export.Status.RENDERING)


def worker_claims(export: Export) -> Export:
    taken = Export.objects.get(pk=export.pk)
    assert leases.claim(taken, RENDERING)
    return taken


def lease_runs_out(export: Export) -> None:
    Export.objects.filter(pk=export.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_asking_again_queues_the_same_export_once_its_worker_died(room, export_tasks, committed):
    board = whiteboard(room.presenter)
    wanted = presenting.ExportInput(board.pk, "pdf")
    with committed():
        export = presenting.request_export(room.participant, wanted)
    worker = worker_claims(export)
    with committed():
        assert presenting.request_export(room.participant, wanted).pk == export.pk
    assert export_tasks == [export.pk]  # its worker holds the lease
    assert Export.objects.get(pk=export.pk).lease_token == worker.lease_token

    lease_runs_out(export)
    with committed():
        again = presenting.request_export(room.participant, wanted)
    assert (again.pk, again.status, again.lease_token) == (export.pk, "rendering", "")
    assert export_tasks == [export.pk, export.pk]
    assert Export.objects.count() == 1  # one export, one file to come


def test_the_managers_annotated_pdf_is_queued_again_once_its_worker_died(room, export_tasks, committed):
    board = whiteboard(room.presenter)
    with committed():
        first = presenting.archive_export(room.creator.user, board)
    worker_claims(first)
    with committed():
        assert presenting.archive_export(room.creator.user, board).pk == first.pk
    lease_runs_out(first)
    with committed():
        assert presenting.archive_export(room.creator.user, board).pk == first.pk
    assert export_tasks == [first.pk, first.pk]


def test_the_sweep_queues_again_an_export_whose_worker_died_and_fails_it_after_too_many(room, events, export_tasks, committed):
    board = whiteboard(room.presenter)
    with committed():
        export = presenting.request_export(room.participant, presenting.ExportInput(board.pk, "png"))
    worker_claims(export)
    assert presenting.requeue_dead_exports() == 0
    for lost in range(1, leases.MAX_EXPIRIES):
        lease_runs_out(export)
        with committed():
            assert presenting.requeue_dead_exports() == 1
        assert export_tasks == [export.pk] * (lost + 1)
        worker_claims(export)

    lease_runs_out(export)
    with committed():
        assert presenting.requeue_dead_exports() == 1

    export.refresh_from_db()
    assert (export.status, export.lease_token, export.lease_until) == ("failed", "", None)
    assert export.error == "The file could not be made: the worker rendering it stopped several times. Try again."
    assert events.named("presentation.export") == [(participant_group(room.participant.pk), presenting.export_payload(export))]
    assert len(export_tasks) == leases.MAX_EXPIRIES


# --- The repository in the room -------------------------------------------------------


def test_it_lists_the_sharers_own_documents_ready_ones_first(room):
    processing = make_document(room.presenter.user, status=Document.Status.PROCESSING, name="Later.pdf")
    listed = presenting.documents_for_participant(room.presenter)
    assert [d["id"] for d in listed] == [room.documents["presenter"].pk, processing.pk]
    assert listed[0]["name"] == "Slides.pdf"
    assert presenting.documents_for_participant(room.organizer) == []  # a user without documents
    with pytest.raises(PermissionDenied):
        presenting.documents_for_participant(room.participant)


# --- The meeting report ---------------------------------------------------------------


def test_the_report_lists_each_presentation_with_its_annotation_count(room, settings):
    settings.PARLEY_BASE_URL = "https://parley.example.com"
    document = make_document(room.presenter.user, name="<b>Budget</b>.pdf")
    shown = show_pdf(room.presenter, document)
    draw(room.participant, shown, "a")
    erased = draw(room.participant, shown, "b")
    presenting.erase(room.creator, shown.pk, erased.pk)
    meeting_services.stop_share(room.presenter)
    board = whiteboard(room.creator)
    for n in range(3):
        draw(room.participant, board, f"w{n}")
    pieces = report_section(room.meeting)
    assert [piece["title"] for piece in pieces] == ["Document: <b>Budget</b>.pdf", "Whiteboard"]
    assert "1 annotation." in pieces[0]["text"] and "3 annotations." in pieces[1]["text"]
    url = f"https://parley.example.com/m/{room.meeting.public_id}/presentations/{shown.pk}/annotated.pdf"
    assert url in pieces[0]["text"] and url in pieces[0]["html"]
    assert "<b>Budget" not in pieces[0]["html"]


# --- Downloads ------------------------------------------------------------------------


def _client_of(participant: Participant) -> Client:
    client = Client()
    if participant.user_id:
        client.force_login(participant.user)
    else:
        session = client.session
        session.save()
        Participant.objects.filter(pk=participant.pk).update(session_key=session.session_key)
    return client


def test_page_images_go_to_the_people_in_the_meeting(room):
    shown = show_pdf(room.presenter, room.documents["presenter"])
    url = reverse("presentation_page", args=[room.meeting.public_id, shown.pk, 2])
    response = _client_of(room.participant).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as image:
        assert image.getpixel((10, 10)) == page_color(2)
    assert _client_of(room.lobby).get(url).status_code == 403
    assert _client_of(make_participant(make_room().meeting, name="Elsewhere")).get(url).status_code == 403
    assert Client().get(url).status_code == 403
    missing = reverse("presentation_page", args=[room.meeting.public_id, shown.pk, 3])
    assert _client_of(room.participant).get(missing).status_code == 404
    other_meeting = reverse("presentation_page", args=[make_room().meeting.public_id, shown.pk, 1])
    assert _client_of(room.participant).get(other_meeting).status_code == 404


def test_an_export_goes_to_its_requester_and_the_managers(room):
    board = whiteboard(room.presenter)
    name = default_storage.save("documents/exports/export-test.png", ContentFile(b"\x89PNG fake"))
    export = Export.objects.create(presentation=board, requester=room.participant, format="png", page=1, status="ready", file=name)
    url = presenting.export_url(export)
    response = _client_of(room.participant).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="presentation-{board.pk}-page-1.png"'
    assert b"".join(response.streaming_content) == b"\x89PNG fake"
    assert _client_of(room.creator).get(url).status_code == 200  # a manager
    assert _client_of(room.presenter).get(url).status_code == 403
    assert Client().get(url).status_code == 403
    assert _client_of(room.participant).get(url.replace(".png", ".pdf")).status_code == 404
    Export.objects.filter(pk=export.pk).update(status="rendering")
    assert _client_of(room.participant).get(url).status_code == 404


def test_the_report_link_waits_for_the_pdf_then_downloads_it(room, export_tasks, committed):
    board = whiteboard(room.presenter)
    url = reverse("presentation_archive", args=[room.meeting.public_id, board.pk])
    assert _client_of(room.presenter).get(url).status_code == 403
    assert Client().get(url).status_code == 302  # to the login page
    manager = _client_of(room.creator)
    with committed():
        waiting = manager.get(url)
    assert waiting.status_code == 202
    assert "being prepared" in waiting.content.decode()
    [export_id] = export_tasks
    Export.objects.filter(pk=export_id).update(status="ready", file="documents/exports/x.pdf")
    response = manager.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/m/{room.meeting.public_id}/exports/{export_id}/presentation-{board.pk}.pdf"
