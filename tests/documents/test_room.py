"""The presentation and annotation messages of the meeting room socket through the
real ASGI app: every message type accepted and seen by the room, every kind of bad
input refused to its sender only (others receive nothing, nothing is stored), rights
taken away, the lobby, another meeting's presentation, the share slot shared with the
screen share, Stop Sharing, a late joiner's snapshot and an export rendered in-process.
The socket helpers are those of tests/sockets.py.
"""

from __future__ import annotations

import json
import math

import pytest

from documents.models import Annotation, Export, Presentation
from meetings import room_features
from meetings.models import Meeting, Role, RoomType
from tests.documents.helpers import make_document, make_room, whiteboard
from tests.factories import make_extension, make_meeting, make_participant
from tests.sockets import Room, Seat, all_quiet, db, join_lobby, login_cookie, new_guest_seat, open_everyone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

RED = "#e11d48"


def _make_room() -> Room:
    """The creator (organizer), a presenter with a 3-page document (extension users),
    two guest participants."""
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED)
    presenter = make_extension().user
    room = Room(meeting)
    room.seats["creator"] = Seat(
        make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator"), login_cookie(owner.user)
    )
    room.seats["presenter"] = Seat(
        make_participant(meeting, user=presenter, role=Role.PRESENTER, name="Pia Presenter"), login_cookie(presenter)
    )
    room.seats["participant"] = new_guest_seat(meeting, "Paul Participant")
    room.seats["guest"] = new_guest_seat(meeting, "Gus Guest")
    room.document = make_document(presenter, pages=3, name="Slides.pdf")  # type: ignore[attr-defined]
    return room


@pytest.fixture
async def room() -> Room:
    return await db(_make_room)


def _stroke(presentation_id: int, stroke_id: str = "s1", **changes) -> dict:
    body = {
        "presentation_id": presentation_id,
        "page": 1,
        "stroke_id": stroke_id,
        "points": [[0.1, 0.1], [0.2, 0.2]],
        "color": RED,
        "width": 0.01,
        "final": False,
    }
    return {**body, **changes}


def _stored(meeting_id: int) -> list[tuple]:
    return list(
        Annotation.objects.filter(presentation__meeting_id=meeting_id)
        .order_by("pk")
        .values_list("pk", "kind", "page", "point_count", "removed_at", "data")
    )


def _presentation_state(meeting_id: int) -> tuple:
    meeting = Meeting.objects.get(pk=meeting_id)
    shown = list(Presentation.objects.filter(meeting_id=meeting_id).order_by("pk").values_list("pk", "page", "page_count", "ended_at"))
    return meeting.share_participant_id, meeting.share_kind, meeting.share_stream_id, shown


async def _start_whiteboard(s: dict, who: str = "presenter", template: str = "blank") -> int:
    reply = await s[who].ok("presentation.start", {"kind": "whiteboard", "template": template})
    presentation_id = reply["presentation"]["id"]
    for socket in s.values():
        await socket.until("share.started", stream_id=f"presentation-{presentation_id}")
        await socket.until("presentation.started", id=presentation_id)
    return presentation_id


# --- Accepted -------------------------------------------------------------------------


async def test_it_runs_a_whiteboard_session_over_the_room_socket(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    reply = await s["presenter"].ok("presentation.start", {"kind": "whiteboard", "template": "dotted"})
    board = reply["presentation"]
    assert (board["kind"], board["template"], board["sharer_id"], board["page_count"]) == ("whiteboard", "dotted", room.presenter.id, 1)
    for socket in s.values():
        started = await socket.until("share.started")
        assert started["body"]["kind"] == "whiteboard" and started["body"]["stream_id"] == f"presentation-{board['id']}"
        assert (await socket.until("presentation.started"))["body"] == board

    # A stroke in two chunks: each relayed at once to every socket (the sender's page ignores its own).
    first = await s["participant"].ok("annotation.stroke", _stroke(board["id"]))
    second = await s["participant"].ok("annotation.stroke", _stroke(board["id"], points=[[0.3, 0.3]], final=True))
    assert first == second == {"annotation_id": first["annotation_id"]}
    for socket in s.values():
        chunks = [await socket.until("annotation.stroke", final=final) for final in (False, True)]
        assert [c["body"]["points"] for c in chunks] == [[[0.1, 0.1], [0.2, 0.2]], [[0.3, 0.3]]]
        assert {c["body"]["participant_id"] for c in chunks} == {room.participant.id}
        assert {c["body"]["annotation_id"] for c in chunks} == {first["annotation_id"]}

    text = await s["creator"].ok(
        "annotation.text", {"presentation_id": board["id"], "page": 1, "x": 0.5, "y": 0.5, "text": "Hi", "color": "#000000", "size": 0.05}
    )
    for socket in s.values():
        added = await socket.until("annotation.added", id=text["annotation_id"])
        assert added["body"]["data"]["text"] == "Hi" and added["body"]["author_name"] == "Cora Creator"
    await s["creator"].ok(
        "annotation.text",
        {
            "presentation_id": board["id"],
            "page": 1,
            "x": 0.5,
            "y": 0.5,
            "text": "Hello",
            "color": "#000000",
            "size": 0.05,
            "annotation_id": text["annotation_id"],
        },
    )
    assert (await s["participant"].until("annotation.updated", id=text["annotation_id"]))["body"]["data"]["text"] == "Hello"

    erase = {"presentation_id": board["id"], "annotation_id": first["annotation_id"], "gesture": "drag-1"}
    await s["presenter"].ok("annotation.erase", erase)
    removed = await s["participant"].until("annotation.removed")
    assert removed["body"] == {"presentation_id": board["id"], "annotation_ids": [first["annotation_id"]]}
    await s["presenter"].ok("annotation.undo", {"presentation_id": board["id"]})
    assert (await s["participant"].until("annotation.added", id=first["annotation_id"]))["body"]["kind"] == "stroke"

    await s["participant"].ok("annotation.cursor", {"presentation_id": board["id"], "x": 0.4, "y": 0.6})
    cursor = await s["creator"].until("annotation.cursor")
    assert cursor["body"] == {
        "presentation_id": board["id"],
        "participant_id": room.participant.id,
        "name": "Paul Participant",
        "x": 0.4,
        "y": 0.6,
    }

    assert await s["presenter"].ok("presentation.add_page", {"presentation_id": board["id"]}) == {"page_count": 2}
    assert (await s["participant"].until("presentation.page"))["body"] == {"presentation_id": board["id"], "page": 2, "page_count": 2}
    await s["presenter"].ok("presentation.page", {"presentation_id": board["id"], "page": 1})
    assert (await s["participant"].until("presentation.page", page=1))["body"]["page_count"] == 2

    await s["creator"].ok("annotation.clear", {"presentation_id": board["id"], "page": 1})
    cleared = await s["participant"].until("annotation.removed", annotation_ids=[first["annotation_id"], text["annotation_id"]])
    assert cleared["body"]["presentation_id"] == board["id"]

    # Stop Sharing ends it; what was drawn stays with the meeting.
    await s["presenter"].ok("share.stop")
    for socket in s.values():
        assert (await socket.until("share.stopped"))["body"] == {"participant_id": room.presenter.id, "kind": "whiteboard"}
        assert (await socket.until("presentation.ended"))["body"] == {"presentation_id": board["id"]}
    assert await s["participant"].refused("annotation.stroke", _stroke(board["id"], "s2")) == "not_found"
    assert len(await db(_stored, room.meeting.pk)) == 2


async def test_a_late_joiner_sees_the_document_and_every_stroke(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    reply = await s["presenter"].ok("presentation.start", {"kind": "pdf", "document_id": room.document.id})
    shown = reply["presentation"]
    assert [page["url"] for page in shown["pages"]] == [
        f"/m/{room.meeting.public_id}/presentations/{shown['id']}/pages/{n}.png" for n in (1, 2, 3)
    ]
    await s["presenter"].ok("presentation.page", {"presentation_id": shown["id"], "page": 2})
    # One stroke still being drawn, one finished, on two pages.
    await s["participant"].ok("annotation.stroke", _stroke(shown["id"], "a", page=2, points=[[0.1, 0.1]]))
    await s["participant"].ok("annotation.stroke", _stroke(shown["id"], "a", page=2, points=[[0.2, 0.2]]))
    await s["presenter"].ok("annotation.stroke", _stroke(shown["id"], "b", page=3, final=True))

    late = await db(new_guest_seat, room.meeting, "Lena Late")
    snapshot = (await sockets.open(room, late)).first["body"]
    section = snapshot["presentation"]
    assert section["presentation"]["id"] == shown["id"]
    assert section["presentation"]["page"] == 2
    strokes = {(a["page"], a["author_id"]): a["data"]["points"] for a in section["annotations"]}
    assert strokes == {(2, room.participant.id): [[0.1, 0.1], [0.2, 0.2]], (3, room.presenter.id): [[0.1, 0.1], [0.2, 0.2]]}
    assert snapshot["share"]["kind"] == "pdf"


async def test_it_renders_an_export_and_tells_the_requester_only(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    board = await _start_whiteboard(s)
    await s["participant"].ok("annotation.stroke", _stroke(board, final=True))
    await s["presenter"].until("annotation.stroke")
    reply = await s["participant"].ok("presentation.export", {"presentation_id": board, "format": "png"})
    assert reply["status"] == "rendering" and reply["url"] is None
    # Celery runs in-process in these tests: the render is done on commit.
    ready = await s["participant"].until("presentation.export", status="ready")
    export = await db(Export.objects.get, pk=reply["export_id"])
    assert ready["body"] == {
        "export_id": export.pk,
        "status": "ready",
        "url": f"/m/{room.meeting.public_id}/exports/{export.pk}/presentation-{board}-page-1.png",
        "error": None,
    }
    assert "presentation.export" not in [m["type"] for m in await s["presenter"].drain()]


async def test_it_lists_the_sharers_documents_in_the_room(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    listed = await s["presenter"].ok("document.list")
    assert [(d["id"], d["name"], d["status"]) for d in listed["documents"]] == [(room.document.id, "Slides.pdf", "ready")]
    assert await s["participant"].refused("document.list") == "forbidden"


# --- Refused --------------------------------------------------------------------------


def _bad_messages(board: int, foreign: int) -> list[tuple[str, str, dict, str]]:
    """(who, type, body, code): each refused, nothing stored, nobody else told."""
    text = {"presentation_id": board, "page": 1, "x": 0.5, "y": 0.5, "text": "Hi", "color": "#000000", "size": 0.05}
    return [
        ("participant", "annotation.stroke", _stroke(board, points=[[1.5, 0.5]]), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, points=[[-0.5, 0.5]]), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, points=[[True, 0.5]]), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, points=[["0.5", 0.5]]), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, points=[[0.5, 0.5]] * 201), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, points=[]), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, page=2), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, color="javascript:alert(1)"), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, width=1), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, stroke_id="<script>"), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, tool="laser"), "invalid"),
        ("participant", "annotation.stroke", _stroke(board, participant_id=1), "invalid"),
        ("participant", "annotation.stroke", _stroke(foreign), "not_found"),
        ("participant", "annotation.stroke", _stroke(2**31), "not_found"),
        ("participant", "annotation.laser", {"presentation_id": board}, "unknown_type"),
        ("participant", "annotation.text", {**text, "text": "x" * 501}, "invalid"),
        ("participant", "annotation.text", {**text, "text": "\x00"}, "invalid"),
        ("participant", "annotation.text", {**text, "size": math.pi}, "invalid"),
        ("participant", "annotation.text", {**text, "annotation_id": 2**30}, "not_found"),
        ("participant", "annotation.text", {**text, "presentation_id": foreign}, "not_found"),
        ("participant", "annotation.erase", {"presentation_id": board, "annotation_id": 2**30}, "not_found"),
        ("participant", "annotation.erase", {"presentation_id": board}, "invalid"),
        ("participant", "annotation.erase", {"presentation_id": board, "annotation_id": 1, "gesture": ""}, "invalid"),
        ("participant", "annotation.erase", {"presentation_id": board, "annotation_id": 1, "gesture": "<b>"}, "invalid"),
        ("participant", "annotation.erase", {"presentation_id": board, "annotation_id": 1, "gesture": "g" * 41}, "invalid"),
        ("participant", "annotation.erase", {"presentation_id": board, "annotation_id": 1, "gesture": 7}, "invalid"),
        ("participant", "annotation.undo", {"presentation_id": board}, "not_found"),
        ("participant", "annotation.undo", {"presentation_id": board, "all": True}, "invalid"),
        ("participant", "annotation.clear", {"presentation_id": board, "page": 1}, "forbidden"),
        ("creator", "annotation.clear", {"presentation_id": board, "page": 9}, "invalid"),
        ("participant", "annotation.cursor", {"presentation_id": board, "x": 2, "y": 0}, "invalid"),
        ("participant", "annotation.cursor", {"presentation_id": board, "hidden": False}, "invalid"),
        ("participant", "annotation.cursor", {"presentation_id": foreign, "x": 0.5, "y": 0.5}, "not_found"),
        ("participant", "presentation.page", {"presentation_id": board, "page": 1}, "forbidden"),
        ("presenter", "presentation.page", {"presentation_id": board, "page": 2}, "invalid"),
        ("presenter", "presentation.page", {"presentation_id": board, "page": "2"}, "invalid"),
        ("participant", "presentation.add_page", {"presentation_id": board}, "forbidden"),
        ("participant", "presentation.start", {"kind": "whiteboard", "template": "blank"}, "forbidden"),
        ("creator", "presentation.start", {"kind": "whiteboard", "template": "blank"}, "share_busy"),
        ("creator", "presentation.start", {"kind": "slideshow"}, "invalid"),
        ("creator", "share.start", {"kind": "pdf", "stream_id": "presentation-1"}, "forbidden"),
        ("participant", "presentation.export", {"presentation_id": board, "format": "gif"}, "invalid"),
        ("participant", "presentation.export", {"presentation_id": foreign, "format": "pdf"}, "not_found"),
    ]


async def test_it_refuses_bad_messages_to_their_sender_only_and_changes_nothing(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant", "guest")
    board = await _start_whiteboard(s)
    await s["guest"].ok("annotation.stroke", _stroke(board, "kept", final=True))
    for socket in s.values():
        await socket.until("annotation.stroke")
    elsewhere = await db(make_room)
    foreign = (await db(whiteboard, elsewhere.presenter)).pk
    before = (await db(_stored, room.meeting.pk), await db(_presentation_state, room.meeting.pk))
    for who, kind, body, code in _bad_messages(board, foreign):
        row = f"{who} {kind} {body}"[:160]
        assert await s[who].refused(kind, body) == code, row
        await s[who].ping_works()
    # 1e999 is valid JSON and parses as infinity (NaN and Infinity themselves are not JSON).
    infinite = json.dumps({"type": "annotation.stroke", "id": "inf", "body": _stroke(board, points=[[0.5, 0.75]])}).replace("0.75", "1e999")
    await s["participant"].communicator.send_input({"type": "websocket.receive", "text": infinite})
    reply = await s["participant"].reply_to("inf")
    assert (reply["type"], reply["body"]["code"]) == ("error", "invalid")
    assert (await db(_stored, room.meeting.pk), await db(_presentation_state, room.meeting.pk)) == before
    assert await db(Annotation.objects.filter(presentation_id=foreign).count) == 0
    assert await all_quiet(s) == {}
    # The room carries on.
    await s["participant"].ok("annotation.stroke", _stroke(board, "after"))
    assert (await s["guest"].until("annotation.stroke"))["body"]["stroke_id"] == "after"


async def test_someone_whose_annotating_right_is_removed_is_refused_and_nothing_is_relayed(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    board = await _start_whiteboard(s)
    await s["creator"].ok("moderate.annotate", {"participant_id": room.participant.id, "allowed": False})
    for socket in s.values():
        assert (await socket.until("participant.updated", id=room.participant.id))["body"]["annotate_allowed"] is False
    text = {"presentation_id": board, "page": 1, "x": 0.5, "y": 0.5, "text": "Hi", "color": "#000000", "size": 0.05}
    for kind, body in (
        ("annotation.stroke", _stroke(board)),
        ("annotation.text", text),
        ("annotation.cursor", {"presentation_id": board, "x": 0.5, "y": 0.5}),
    ):
        assert await s["participant"].refused(kind, body) == "forbidden", kind
    assert await all_quiet(s) == {}
    assert await db(_stored, room.meeting.pk) == []
    await s["creator"].ok("moderate.annotate", {"participant_id": room.participant.id, "allowed": True})
    await s["participant"].ok("annotation.stroke", _stroke(board))
    assert (await s["presenter"].until("annotation.stroke"))["body"]["participant_id"] == room.participant.id


async def test_a_guest_in_the_lobby_may_not_annotate(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "organizer")
    board = (await db(whiteboard, lobby_room.creator.participant)).pk
    waiting = await db(join_lobby, lobby_room, "Wanda Waiting")
    guest = await sockets.open(lobby_room, waiting, first="lobby.status")
    for kind, body in (
        ("annotation.stroke", _stroke(board)),
        ("annotation.cursor", {"presentation_id": board, "x": 0.5, "y": 0.5}),
        ("annotation.undo", {"presentation_id": board}),
        ("presentation.export", {"presentation_id": board, "format": "pdf"}),
        ("document.list", {}),
    ):
        assert await guest.refused(kind, body) == "forbidden", kind
    assert await db(Annotation.objects.count) == 0
    assert "annotation.stroke" not in [m["type"] for m in await s["creator"].drain()]


async def test_a_screen_share_and_a_presentation_are_busy_for_each_other(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter")
    await s["creator"].ok("share.start", {"kind": "screen", "stream_id": "screen-1"})
    assert await s["presenter"].refused("presentation.start", {"kind": "pdf", "document_id": room.document.id}) == "share_busy"
    await s["creator"].ok("share.stop")
    board = await _start_whiteboard(s)
    reply = await s["creator"].request("share.start", {"kind": "screen", "stream_id": "screen-2"})
    assert (reply["type"], reply["body"]["code"]) == ("error", "share_busy")
    assert "Pia Presenter" in reply["body"]["message"]
    # The organizer stops it (Stop Sharing): the presentation ends, the slot is free.
    await s["creator"].ok("share.stop")
    assert (await s["presenter"].until("presentation.ended"))["body"] == {"presentation_id": board}
    await s["creator"].ok("share.start", {"kind": "screen", "stream_id": "screen-3"})


async def test_it_rate_limits_cursors_apart_from_strokes(sockets, room, monkeypatch):
    monkeypatch.setitem(room_features.rates, "cursor", (3, 60))
    s = await open_everyone(sockets, room, "presenter", "participant")
    board = await _start_whiteboard(s)
    for n in range(3):
        await s["participant"].ok("annotation.cursor", {"presentation_id": board, "x": n / 10, "y": 0.5})
    assert await s["participant"].refused("annotation.cursor", {"presentation_id": board, "x": 0.9, "y": 0.5}) == "rate_limited"
    await s["participant"].ok("annotation.stroke", _stroke(board))
