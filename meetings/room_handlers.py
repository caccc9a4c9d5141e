"""The room's own messages (docs/protocol.md): keep-alive, WebRTC signalling, media
state, sharing, roles and moderation, the lobby and ending the meeting. They are
registered like every feature's (``meetings.room_features``); the consumer is only a
router."""

from __future__ import annotations

from core.consumers import send_event
from core.protocol import ErrorCode, ProtocolError, require_fields
from core.webrtc import SIGNAL_RATE, validate_signal
from meetings import room_features, services
from meetings.room_features import RoomSocket
from meetings.roomkit import participant_group, valid_id

room_features.rate("signal", *SIGNAL_RATE)


def _participant_id(body: dict) -> int:
    """The ``participant_id`` of a body checked by ``require_fields``; out of range is
    "not found", like an id that does not exist."""
    target_id = body["participant_id"]
    if not valid_id(target_id):
        raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such participant.")
    return target_id


@room_features.room_handler("ping", lobby=True)
async def ping(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {})
    return {}


@room_features.room_handler("signal", bucket="signal")
async def signal(room: RoomSocket, body: dict) -> dict:
    to, payload = validate_signal(body)
    await room.call("signal", services.check_signal, room.participant, to)
    await send_event(room.channel_layer, participant_group(to), "signal", {"from": room.participant_id, **payload})
    return {}


@room_features.room_handler("media.state")
async def media_state(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"mic": bool, "camera": bool})
    await room.call("media.state", services.set_media_state, room.participant, mic=body["mic"], camera=body["camera"])
    return {}


@room_features.room_handler("share.start")
async def share_start(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"kind": str, "stream_id": str})
    return await room.call("share.start", services.start_share, room.participant, kind=body["kind"], stream_id=body["stream_id"])


@room_features.room_handler("share.stop")
async def share_stop(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {})
    await room.call("share.stop", services.stop_share, room.participant)
    return {}


@room_features.room_handler("role.change")
async def role_change(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int, "role": str})
    await room.call("role.change", services.change_role, room.participant, _participant_id(body), body["role"])
    return {}


@room_features.room_handler("moderate.media")
async def moderate_media(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int, "kind": str, "allowed": bool})
    if body["kind"] not in services.MEDIA_KINDS:
        raise ProtocolError(ErrorCode.INVALID, "“kind” is mic or camera.")
    target_id = _participant_id(body)
    await room.call("moderate.media", services.set_media_allowed, room.participant, target_id, body["kind"], body["allowed"])
    return {}


@room_features.room_handler("moderate.chat")
async def moderate_chat(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int, "allowed": bool})
    await room.call("moderate.chat", services.set_chat_allowed, room.participant, _participant_id(body), body["allowed"])
    return {}


@room_features.room_handler("moderate.kick")
async def moderate_kick(room: RoomSocket, body: dict) -> dict:
    # ``ban`` is optional: without it the meeting decides (services.kick_participant).
    require_fields(body, {"participant_id": int, "ban": bool} if "ban" in body else {"participant_id": int})
    target_id = _participant_id(body)
    await room.call("moderate.kick", services.kick_participant, room.participant, target_id, ban=body.get("ban"))
    return {}


@room_features.room_handler("lobby.accept")
async def lobby_accept(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int})
    await room.call("lobby.accept", services.accept_lobby, room.participant, _participant_id(body))
    return {}


@room_features.room_handler("lobby.reject")
async def lobby_reject(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {"participant_id": int})
    await room.call("lobby.reject", services.reject_lobby, room.participant, _participant_id(body))
    return {}


@room_features.room_handler("lobby.accept_all")
async def lobby_accept_all(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {})
    return {"count": await room.call("lobby.accept_all", services.accept_all_lobby, room.participant)}


@room_features.room_handler("lobby.reject_all")
async def lobby_reject_all(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {})
    return {"count": await room.call("lobby.reject_all", services.reject_all_lobby, room.participant)}


@room_features.room_handler("meeting.end")
async def meeting_end(room: RoomSocket, body: dict) -> dict:
    require_fields(body, {})
    await room.call("meeting.end", services.end_meeting_as, room.participant)
    return {}
