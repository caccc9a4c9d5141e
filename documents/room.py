"""The document, presentation and annotation messages of the meeting room socket
(docs/documents.md, "Presentations"), the ``presentation`` snapshot section, the share
kinds ``pdf`` and ``whiteboard``, and the hooks that end a presentation with its share
or with the meeting.

Each body is checked by a pure ``presenting.clean_*`` function here, before any
database work; the service then authorises and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError

from core.protocol import ErrorCode, ProtocolError, require_fields
from documents import presenting
from meetings import room_features
from meetings.models import Meeting, Participant
from meetings.room_features import RoomSocket
from meetings.roomkit import RoomError, valid_id

T = TypeVar("T")

room_features.rate("presentation", 60, 10)
room_features.rate("annotation", 400, 10)
room_features.rate("cursor", 40, 1)
room_features.rate("export", 10, 60)
# The Documents panel, loaded by the room page when it is first opened.
room_features.room_part("documents", "meetings/room/_documents.html")

for _kind in presenting.KINDS:
    room_features.share_kind(_kind.value, presenting.may_take_share_slot)

# A pointer goes from the others' screens when its owner goes.
CURSOR_GONE = ("left", "kicked", "timeout", "moved", "disconnected")


@room_features.snapshot_section("presentation", shared=True)
def _snapshot(participant: Participant) -> dict | None:
    return presenting.room_presentation(participant)


@room_features.on_share_stopped
def _share_stopped(meeting: Meeting, kind: str, participant_id: int | None) -> None:
    presenting.end_presentations(meeting)


@room_features.on_meeting_end
def _meeting_ended(meeting: Meeting) -> None:
    presenting.end_presentations(meeting, all_of_them=True)


@room_features.on_participant_change
def _participant_changed(meeting: Meeting, participant: Participant, what: str) -> None:
    if what in CURSOR_GONE:
        presenting.hide_cursor(meeting, participant)


@room_features.participant_fields
def _annotate_allowed(participant: Participant) -> dict:
    return {"annotate_allowed": presenting.may_annotate(participant)}


def _clean(function: Callable[[Any], T], body: dict) -> T:
    """Run a pure validator; its refusals become protocol errors."""
    try:
        return function(body)
    except ValidationError as invalid:
        raise ProtocolError(ErrorCode.INVALID, " ".join(invalid.messages)) from None
    except RoomError as refused:
        raise ProtocolError(refused.code, refused.message) from None


# --- Documents and presentations ------------------------------------------------------


@room_features.room_handler("moderate.annotate")
async def moderate_annotate(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int, "allowed": bool})
    target_id = body["participant_id"]
    if not valid_id(target_id):
        raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such participant.")
    await room.call("moderate.annotate", presenting.set_annotate_allowed, room.participant, target_id, body["allowed"])
    return {}


@room_features.room_handler("document.list", bucket="presentation")
async def document_list(room, body):
    require_fields(body, {})
    return {"documents": await room.call("document.list", presenting.documents_for_participant, room.participant)}


@room_features.room_handler("presentation.start", bucket="presentation")
async def presentation_start(room, body):
    start = _clean(presenting.clean_start, body)
    presentation = await room.call("presentation.start", presenting.start_presentation, room.participant, start)
    return {"presentation": await room.call("presentation.start", presenting.presentation_payload, presentation)}


@room_features.room_handler("presentation.page", bucket="presentation")
async def presentation_page(room, body):
    presentation_id, page = _clean(presenting.clean_page_ref, body)
    await room.call("presentation.page", presenting.turn_page, room.participant, presentation_id, page)
    return {}


@room_features.room_handler("presentation.add_page", bucket="presentation")
async def presentation_add_page(room, body):
    presentation_id = _clean(presenting.clean_presentation_id, body)
    presentation = await room.call("presentation.add_page", presenting.add_page, room.participant, presentation_id)
    return {"page_count": presentation.page_count}


@room_features.room_handler("presentation.export", bucket="export")
async def presentation_export(room, body):
    wanted = _clean(presenting.clean_export, body)
    export = await room.call("presentation.export", presenting.request_export, room.participant, wanted)
    payload = await room.call("presentation.export", presenting.export_payload, export)
    return {key: payload[key] for key in ("export_id", "status", "url")}


# --- Annotations ----------------------------------------------------------------------


@room_features.room_handler("annotation.cursor", bucket="cursor")
async def annotation_cursor(room, body):
    cursor = _clean(presenting.clean_cursor, body)
    await room.call("annotation.cursor", presenting.move_cursor, room.participant, cursor)
    return {}


@room_features.room_handler("annotation.stroke", bucket="annotation")
async def annotation_stroke(room, body):
    chunk = _clean(presenting.clean_stroke, body)
    annotation = await room.call("annotation.stroke", presenting.add_stroke, room.participant, chunk)
    return {"annotation_id": annotation.pk}


@room_features.room_handler("annotation.text", bucket="annotation")
async def annotation_text(room, body):
    text = _clean(presenting.clean_text, body)
    annotation = await room.call("annotation.text", presenting.put_text, room.participant, text)
    return {"annotation_id": annotation.pk}


@room_features.room_handler("annotation.erase", bucket="annotation")
async def annotation_erase(room, body):
    wanted = _clean(presenting.clean_erase, body)
    await room.call("annotation.erase", presenting.erase, room.participant, wanted.presentation_id, wanted.annotation_id, wanted.gesture)
    return {}


@room_features.room_handler("annotation.undo", bucket="annotation")
async def annotation_undo(room, body):
    presentation_id = _clean(presenting.clean_presentation_id, body)
    await room.call("annotation.undo", presenting.undo, room.participant, presentation_id)
    return {}


@room_features.room_handler("annotation.clear", bucket="annotation")
async def annotation_clear(room, body):
    presentation_id, page = _clean(presenting.clean_page_ref, body)
    await room.call("annotation.clear", presenting.clear_page, room.participant, presentation_id, page)
    return {}
