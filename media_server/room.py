"""How recording plugs into the meeting room (docs/recording.md): its messages on the
room socket, snapshot and lobby sections, the meeting setting of its default format,
the room page's list of formats, and the web client's list of recordings."""

from __future__ import annotations

from django import forms
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from core.protocol import ErrorCode, ProtocolError
from media_server import access, services
from media_server.presets import DEFAULT_PRESET, PRESETS, preset_choices
from meetings import room_features
from meetings.models import Meeting, Participant
from rooms.client import client_section

room_features.rate("recording", 10, 10)
# The badge and the Record control's menu, loaded by the room page on first need.
room_features.room_part("recording", "meetings/room/_recording.html")


@room_features.snapshot_section("recording", shared=True)
def _snapshot_recording(participant: Participant) -> dict | None:
    return services.room_recording(participant)


@room_features.snapshot_section("recorder", shared=True)
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


# --- The meeting's default format, the room page's choice, the web client's list --------


room_features.meeting_setting(
    "recording_preset",
    form_field=lambda: forms.ChoiceField(label=_("Default recording format"), choices=preset_choices()),
    default=lambda: DEFAULT_PRESET,
)


@room_features.room_config_section
def _recording_config(meeting: Meeting, participant: Participant) -> dict:
    """The Record control's choice of format (static/js/room/recording.js)."""
    return {
        "recordingPresets": [{"key": preset.key, "label": str(preset.label)} for preset in PRESETS.values()],
        "recordingPreset": meeting.setting("recording_preset"),
    }


@client_section
def _client_recordings(request) -> str:
    recordings = access.recordings_for_client(request.user)
    return render_to_string("media_server/_client_recordings.html", {"recordings": recordings}, request=request)
