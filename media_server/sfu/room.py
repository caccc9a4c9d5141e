"""How the SFU plugs into the meeting room (docs/sfu.md): the ``media`` snapshot
section (mesh or SFU), the hooks that move a filling room to Janus and take leavers out
of it, the capacity of a room without a media server, and the ``sfu.*`` messages."""

from __future__ import annotations

from core.protocol import require_fields
from media_server.sfu import services
from meetings import room_features
from meetings.models import Meeting, Participant
from meetings.room_features import RoomSocket

room_features.rate("sfu", 20, 10)


@room_features.snapshot_section("media", shared=True)
def _media(participant: Participant) -> dict:
    return services.room_topology(participant)


@room_features.on_participant_change
def _participant_changed(meeting: Meeting, participant: Participant, what: str) -> None:
    services.participant_changed(meeting, participant, what)


@room_features.on_meeting_end
def _meeting_ended(meeting: Meeting) -> None:
    services.meeting_ended(meeting)


room_features.capacity_limit(services.capacity)


@room_features.room_handler("sfu.credentials", bucket="sfu")
async def sfu_credentials(room: RoomSocket, body: dict) -> dict:
    """Tokens to publish and subscribe in the meeting's Janus room (renewed by asking
    again before ``expires_in``)."""
    require_fields(body, {})
    return await room.call("sfu.credentials", services.credentials, room.participant)
