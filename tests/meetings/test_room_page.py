"""The room page (meetings.views.meeting_room): the meeting for joined participants,
the waiting page for people in the lobby, and the configuration the scripts read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from media_server.presets import PRESETS
from meetings.models import Participant, Role, RoomType
from tests.factories import make_extension, make_meeting, make_participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


@pytest.fixture
def meeting(owner):
    return make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)


def _guest(meeting, *, state=Participant.State.JOINED, role=Role.PARTICIPANT, banned=False, name="Gail Guest"):
    client = Client()
    client.get(reverse("meeting_join", args=[meeting.public_id]))  # creates the session
    participant = make_participant(meeting, session_key=client.session.session_key, name=name, state=state, role=role, banned=banned)
    return client, participant


def _config(html: str) -> dict:
    match = re.search(r'<script id="room-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries its configuration as json_script"
    return json.loads(match.group(1))


def test_it_renders_the_room_with_its_hooks_and_configuration(meeting):
    client, participant = _guest(meeting)
    response = client.get(reverse("meeting_room", args=[meeting.public_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-participant-id="{participant.pk}"' in html and 'data-participant-role="participant"' in html
    for hook in (
        'id="tiles"',
        'id="stage-video"',
        'id="mic-button"',
        'id="share-button"',
        'id="chat-button"',
        'id="side-panel"',
        'id="kicked-notice"',
    ):
        assert hook in html
    assert "js/room/early.js" in html and "css/room.css" in html and "css/base.css" in html
    config = _config(html)
    assert config == {
        "meetingId": meeting.public_id,
        "participantId": participant.pk,
        "name": "Gail Guest",
        "role": "participant",
        "isCreator": False,
        "wsPath": f"/ws/meetings/{meeting.public_id}/",
        "devicesKey": f"parley.devices.{meeting.public_id}",
        # The organizers' choice of recording format, with the meeting's preselected.
        "recordingPresets": [{"key": preset.key, "label": str(preset.label)} for preset in PRESETS.values()],
        "recordingPreset": meeting.setting("recording_preset"),
    }


def test_it_escapes_names_in_the_configuration(meeting):
    client, _participant = _guest(meeting, name="</script><b>x")
    html = client.get(reverse("meeting_room", args=[meeting.public_id])).content.decode()
    assert "</script><b>x" not in html
    assert _config(html)["name"] == "</script><b>x"


def test_it_shows_the_waiting_page_to_someone_in_the_lobby(meeting):
    client, participant = _guest(meeting, state=Participant.State.LOBBY)
    html = client.get(reverse("meeting_room", args=[meeting.public_id])).content.decode()
    assert 'id="lobby-status"' in html and 'data-status="connecting"' in html
    assert 'id="meeting-room"' not in html, "nothing of the meeting before an organizer accepts"
    assert "js/room/lobby-page.js" in html and "js/room/early.js" not in html
    assert _config(html)["participantId"] == participant.pk


@pytest.mark.parametrize(
    "state, banned",
    [
        (Participant.State.LEFT, False),
        (Participant.State.KICKED, False),
        (Participant.State.REJECTED, False),
        (Participant.State.JOINED, True),
    ],
)
def test_it_sends_people_who_are_not_in_the_room_back_to_the_join_page(meeting, state, banned):
    client, _participant = _guest(meeting, state=state, banned=banned)
    response = client.get(reverse("meeting_room", args=[meeting.public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("meeting_join", args=[meeting.public_id])


def test_it_shows_the_end_button_to_organizers_only(meeting):
    organizer_client, _organizer = _guest(meeting, role=Role.ORGANIZER, name="Orla")
    guest_client, _guest_participant = _guest(meeting, name="Gus")
    url = reverse("meeting_room", args=[meeting.public_id])
    end_form = re.compile(r'<form[^>]*id="end-form"[^>]*>')
    organizer_form = end_form.search(organizer_client.get(url).content.decode()).group(0)
    guest_form = end_form.search(guest_client.get(url).content.decode()).group(0)
    assert "hidden" not in organizer_form and "hidden" in guest_form


ROOM_JS = Path(settings.BASE_DIR) / "static" / "js" / "room"
IMPORT = re.compile(r'^(?:import|} from)[^"]*"(\.{1,2}/[^"]+\.js)";', re.M)


def static_imports(module: Path) -> set[Path]:
    """Every module ``module`` imports statically, at any depth."""
    found: set[Path] = set()
    waiting = [module]
    while waiting:
        current = waiting.pop()
        for name in IMPORT.findall(current.read_text()):
            imported = (current.parent / name).resolve()
            if imported not in found:
                found.add(imported)
                waiting.append(imported)
    return found


def test_early_js_fetches_the_whole_core_at_once():
    """early.js opens the socket first, then fetches main.js and everything it imports
    (beyond early.js's own imports) in one go: its list must name all of it."""
    early = ROOM_JS / "early.js"
    listed = re.search(r"CORE_MODULES = \[([^\]]*)\]", early.read_text())
    assert listed, "early.js lists the core's modules"
    core = {(ROOM_JS / name).resolve() for name in re.findall(r'"([^"]+)"', listed.group(1))}
    main = (ROOM_JS / "main.js").resolve()
    assert core == ({main} | static_imports(main)) - ({early.resolve()} | static_imports(early))
