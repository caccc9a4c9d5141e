"""The room page's parts (meetings.views.meeting_room_part): the markup a feature adds
to the room page, fetched by the page the first time it needs the feature, for the
people in the room only — as the room page itself."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from meetings import room_features
from meetings.models import Participant, Role, RoomType
from tests.factories import make_extension, make_meeting, make_participant

pytestmark = pytest.mark.django_db

# Every part the features register, and a hook of its markup.
PARTS = {
    "chat": 'id="chat-input"',
    "participants": 'id="participants-list"',
    "lobby": 'id="lobby-badge"',
    "polls": 'id="poll-card"',
    "documents": 'id="documents-panel"',
    "remote": 'id="remote-ask"',
    "recording": 'id="record-menu"',
    "settings": 'id="settings-panel"',
    "stats": 'id="info-panel"',
}


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


@pytest.fixture
def meeting(owner):
    return make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)


def part_url(meeting, name: str) -> str:
    return reverse("meeting_room_part", args=[meeting.public_id, name])


def guest_client(meeting, *, state=Participant.State.JOINED, banned=False, name="Gail Guest") -> Client:
    client = Client()
    client.get(reverse("meeting_join", args=[meeting.public_id]))  # creates the session
    make_participant(meeting, session_key=client.session.session_key, name=name, state=state, banned=banned)
    return client


def owner_client(owner, meeting) -> Client:
    client = Client()
    client.force_login(owner.user)
    make_participant(meeting, user=owner.user, name="Olivia Owner", role=Role.ORGANIZER)
    return client


def test_every_feature_registers_its_part():
    assert set(room_features.room_parts) == set(PARTS)


@pytest.mark.parametrize("name", sorted(PARTS))
def test_a_guest_in_the_room_gets_each_part(meeting, name):
    response = guest_client(meeting).get(part_url(meeting, name))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert PARTS[name] in response.content.decode()


def test_the_owner_gets_the_parts_with_the_repositories_links(owner, meeting):
    client = owner_client(owner, meeting)
    polls = client.get(part_url(meeting, "polls")).content.decode()
    documents = client.get(part_url(meeting, "documents")).content.decode()
    assert 'id="polls-new"' in polls and 'data-edit-url="/client/polls/0/edit/"' in polls
    assert 'data-upload-url="/client/documents/upload/"' in documents and 'data-repository-url="/client/documents/"' in documents


def test_the_participants_part_links_the_invitations_and_settings_for_those_who_manage_the_meeting(owner, meeting):
    owners_part = owner_client(owner, meeting).get(part_url(meeting, "participants")).content.decode()
    guests_part = guest_client(meeting).get(part_url(meeting, "participants")).content.decode()
    links = (f'href="/client/meetings/{meeting.public_id}/invite/"', f'href="/client/meetings/{meeting.public_id}/settings/"')
    assert all(link in owners_part for link in links)
    assert not any(link in guests_part for link in links)


def test_a_guest_gets_no_repository_links(meeting):
    client = guest_client(meeting)
    polls = client.get(part_url(meeting, "polls")).content.decode()
    documents = client.get(part_url(meeting, "documents")).content.decode()
    assert 'id="polls-new"' not in polls and 'data-edit-url=""' in polls
    assert "data-upload-url" not in documents


def test_the_parts_speak_the_rooms_language(meeting):
    client = guest_client(meeting)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    html = client.get(part_url(meeting, "polls")).content.decode()
    assert "Envoyer les réponses" in html and "Submit answers" not in html


def test_an_outsider_is_refused(meeting):
    client = Client()
    client.get(reverse("meeting_join", args=[meeting.public_id]))  # a session, but no participant here
    assert client.get(part_url(meeting, "polls")).status_code == 403
    assert Client().get(part_url(meeting, "polls")).status_code == 403  # no session at all


def test_someone_of_another_meeting_is_refused(owner, meeting):
    other = make_meeting(owner, title="Another one")
    client = guest_client(other)
    assert client.get(part_url(meeting, "polls")).status_code == 403


@pytest.mark.parametrize(
    "state, banned",
    [
        (Participant.State.LOBBY, False),
        (Participant.State.LEFT, False),
        (Participant.State.KICKED, False),
        (Participant.State.REJECTED, False),
        (Participant.State.JOINED, True),
    ],
)
def test_someone_who_is_not_in_the_room_is_refused(meeting, state, banned):
    client = guest_client(meeting, state=state, banned=banned)
    assert client.get(part_url(meeting, "polls")).status_code == 403


def test_an_ended_meeting_has_no_parts(owner):
    meeting = make_meeting(owner, ended=True)
    client = guest_client(meeting)
    assert client.get(part_url(meeting, "polls")).status_code == 403


def test_an_unknown_part_or_meeting_is_not_found(meeting):
    client = guest_client(meeting)
    assert client.get(part_url(meeting, "nothing")).status_code == 404
    assert client.get(reverse("meeting_room_part", args=["no-such-meeting", "polls"])).status_code == 404


def test_only_get(meeting):
    client = guest_client(meeting)
    assert client.post(part_url(meeting, "polls")).status_code == 405


def test_the_room_page_carries_only_the_core(meeting):
    """The features' markup and styles are not on the page: they come with the part."""
    client = guest_client(meeting)
    html = client.get(reverse("meeting_room", args=[meeting.public_id])).content.decode()
    for hook in PARTS.values():
        assert hook not in html
    for feature_file in (
        "polls.js",
        "remote.js",
        "annotate.js",
        "presentation.js",
        "recording.js",
        "chat.js",
        "participants.js",
        "lobby.js",
        "room-polls.css",
        "room-remote.css",
        "room-chat.css",
    ):
        assert feature_file not in html
    # The site's pages' stylesheet, script, header and footer neither.
    assert "css/base.css" in html and "css/parley.css" not in html and "js/base.js" not in html
    assert 'class="site-header"' not in html and 'class="site-footer"' not in html
    assert f'data-parts-url="/m/{meeting.public_id}/room/parts/NAME/"' in html
    # No template comment left as text on the page (a multi-line {# #} is not one).
    assert "{#" not in html and "#}" not in html
