"""The recording messages of the meeting room socket (docs/recording.md)."""

from __future__ import annotations

from core.protocol import ErrorCode, ProtocolError
from media_server import services
from meetings import room_features
from meetings.models import Participant

room_features.rate("recording", 10, 10)


@room_features.snapshot_section("recording")
def _snapshot_recording(participant: Participant) -> dict | None:
    return services.room_recording(participant)


@room_features.snapshot_section("recorder")
def _snapshot_recorder(participant: Participant) -> dict | None:
    return services.room_recorder(participant)


@room_features.lobby_status_section("recording")
def _lobby_recording(meeting_id: int) -> bool:
    return services.is_recording(meeting_id)


@room_features.on_meeting_end
def _meeting_ended(meeting) -> None:
    services.stop_for_meeting_end(meeting)


@room_features.room_handler("recording.start", bucket="recording")
async def recording_start(room, body):
    if set(body) - {"preset"}:
        raise ProtocolError(ErrorCode.INVALID, "Unknown fields: " + ", ".join(sorted(set(body) - {"preset"})) + ".")
    preset = body.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise ProtocolError(ErrorCode.INVALID, "“preset” must be a str.")
    recording = await room.call("recording.start", services.start_recording, room.participant, preset)
    return {"recording": services.recording_payload(recording)}


@room_features.room_handler("recording.stop", bucket="recording")
async def recording_stop(room, body):
    if body:
        raise ProtocolError(ErrorCode.INVALID, "Unknown fields: " + ", ".join(sorted(body)) + ".")
    await room.call("recording.stop", services.stop_recording, room.participant)
    return {}
