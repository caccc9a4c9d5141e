"""The remote-control messages of the meeting room socket (docs/remote-control.md)."""

from __future__ import annotations

from core.protocol import ErrorCode, ProtocolError, require_fields
from meetings import room_features
from meetings.models import Participant
from meetings.remote import services
from meetings.remote.events import InvalidEvent, validate_event

room_features.rate("remote", 20, 10)
room_features.rate("remote_input", 400, 10)
# The requester's and the controller's panel and the question, loaded by the room page on first need.
room_features.room_part("remote", "meetings/room/_remote.html")
# The requester shares whatever the room's share policy, and keeps sharing if it changes.
room_features.share_kind("remote", services.may_share_remote, follows_policy=False)


@room_features.snapshot_section("remote", room=lambda meeting: services.remote_room(meeting.pk))
def _snapshot(participant: Participant, room: services.RemoteRoom) -> dict:
    return services.remote_for(participant, room)


@room_features.on_participant_change
def _participant_changed(meeting, participant, what: str) -> None:
    services.participant_changed(meeting, participant, what)


@room_features.on_meeting_end
def _meeting_ended(meeting) -> None:
    services.meeting_ended(meeting)


@room_features.on_share_stopped
def _share_stopped(meeting, kind: str, participant_id: int | None) -> None:
    services.share_stopped(meeting, kind, participant_id)


@room_features.room_handler("remote.request", bucket="remote")
async def remote_request(room, body):
    require_fields(body, {})
    session = await room.call("remote.request", services.request_control, room.participant)
    return {"session_id": session.pk}


@room_features.room_handler("remote.answer", bucket="remote")
async def remote_answer(room, body):
    require_fields(body, {"session_id": int, "allow": bool})
    await room.call("remote.answer", services.answer_request, room.participant, body["session_id"], body["allow"])
    return {}


@room_features.room_handler("remote.stop", bucket="remote")
async def remote_stop(room, body):
    require_fields(body, {"session_id": int})
    await room.call("remote.stop", services.stop_session, room.participant, body["session_id"])
    return {}


@room_features.room_handler("remote.pair", bucket="remote")
async def remote_pair(room, body):
    require_fields(body, {})
    session = room.scope.get("session")
    session_key = session.session_key if session is not None else None
    code, expires_in = await room.call("remote.pair", services.create_pairing_code, room.participant, session_key or "", room.channel_name)
    return {"code": code, "expires_in": expires_in}


@room_features.room_handler("remote.input", bucket="remote_input")
async def remote_input(room, body):
    """Hot path: validate (no database), one read to authorise, then straight to the
    requester's helper. The helper checks the session and the event again."""
    require_fields(body, {"session_id": int, "event": dict})
    try:
        event = validate_event(body["event"])
    except InvalidEvent as invalid:
        raise ProtocolError(ErrorCode.INVALID, str(invalid)) from None
    requester_id = await room.call("remote.input", services.relay_target, room.participant, body["session_id"])
    message = {"type": "parley.event", "event": "control.input", "body": {"session_id": body["session_id"], "event": event}}
    try:
        await room.channel_layer.group_send(services.helper_group(requester_id), message)
    except Exception:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "The live service is unavailable; try again.") from None
    return {}
