"""The web client, the meeting management pages, and the join/room/leave pages."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import OutboundEmail
from meetings.models import Invitation, Meeting, Participant, Role, RoomType
from meetings.services import INVITATION_SALT, invitation_token, meeting_link_url, resolve_invitation
from rooms.models import MeetingRequest
from tests.factories import make_extension, make_invitation, make_meeting, make_participant, make_queue, make_request, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


@pytest.fixture
def other():
    return make_extension("oscar", display_name="Oscar Other")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner.user)
    return client


@pytest.fixture
def other_client(other):
    client = Client()
    client.force_login(other.user)
    return client


@pytest.fixture
def meeting(owner):
    return make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)


@pytest.fixture
def private_meeting(owner):
    return make_meeting(owner, title="Interview", room_type=RoomType.PRIVATE)


def _join_url(meeting, token=None):
    url = reverse("meeting_join", args=[meeting.public_id])
    return f"{url}?invite={token}" if token else url


def _invite_data(rows, total=None):
    data = {"invite-TOTAL_FORMS": str(total if total is not None else len(rows)), "invite-INITIAL_FORMS": "0"}
    for index, (name, email) in enumerate(rows):
        data[f"invite-{index}-name"] = name
        data[f"invite-{index}-email"] = email
    return data


def _settings_data(meeting, **changes):
    data = {
        "title": meeting.title,
        "scheduled_at": "",
        "share_policy": meeting.share_policy,
        "recording_preset": meeting.setting("recording_preset"),
        "max_participants": str(meeting.max_participants),
    }
    if meeting.lobby_enabled:
        data["lobby_enabled"] = "on"
    data.update(changes)
    return data


# --- The web client -------------------------------------------------------------------


def test_it_sends_anonymous_visitors_of_the_client_to_the_login_page(client):
    response = client.get(reverse("client"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_refuses_the_client_to_a_user_without_extension(client):
    client.force_login(make_user())
    assert client.get(reverse("client")).status_code == 403


def test_it_shows_the_client_with_url_meetings_and_waiting_requests(owner_client, owner, other, meeting):
    theirs = make_meeting(other, title="Not yours at all")
    waiting = make_request(owner, name="Vera Visitor")
    make_request(other, name="Somebody Else")
    response = owner_client.get(reverse("client"))
    html = response.content.decode()
    assert response.status_code == 200
    assert owner.click2meet_url in html
    assert 'id="live-status"' in html and 'id="incoming-requests"' in html
    assert f'data-request-id="{waiting.pk}"' in html and "Vera Visitor" in html
    assert "Somebody Else" not in html
    assert "Roadmap review" in html and theirs.title not in html
    assert meeting.join_url in html  # the Copy meeting link button
    assert reverse("meeting_invite", args=[meeting.public_id]) in html
    assert reverse("meeting_settings", args=[meeting.public_id]) in html


def test_it_lists_a_queue_request_for_every_agent_of_the_queue(owner_client, owner, other):
    queue = make_queue([owner, other], name="Support")
    waiting = make_request(queue, name="Queue Visitor")
    html = owner_client.get(reverse("client")).content.decode()
    assert f'data-request-id="{waiting.pk}"' in html
    assert "Queue Support" in html


def test_it_creates_a_meeting_from_the_client(owner_client, owner):
    when = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post(reverse("meeting_create"), {"title": "  Budget 2026  ", "scheduled_at": when})
    meeting = Meeting.objects.get(owner=owner.user)
    assert response.status_code == 302
    assert response["Location"] == reverse("client") + f"#meeting-{meeting.public_id}"
    assert meeting.title == "Budget 2026"
    assert meeting.scheduled_at is not None
    assert meeting.room_type == RoomType.SHARED


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"title": "", "scheduled_at": ""}, "Give the meeting a title."),
        ({"title": "   ", "scheduled_at": ""}, "Give the meeting a title."),
        ({"title": "x" * 201, "scheduled_at": ""}, "at most 200 characters"),
        ({"title": "Old", "scheduled_at": "2001-01-01T10:00"}, "Pick a date and time in the future."),
        ({"title": "Bad date", "scheduled_at": "tomorrow-ish"}, "Enter a valid date/time."),
    ],
)
def test_it_shows_the_errors_of_the_create_form(owner_client, owner, data, error):
    response = owner_client.post(reverse("meeting_create"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Meeting.objects.filter(owner=owner.user).exists()


def test_it_refuses_meeting_creation_to_anonymous_and_non_extension_users(client):
    response = client.post(reverse("meeting_create"), {"title": "Sneaky"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(make_user())
    assert client.post(reverse("meeting_create"), {"title": "Sneaky"}).status_code == 403
    assert not Meeting.objects.exists()


# --- Managing a meeting: permissions --------------------------------------------------


@pytest.mark.parametrize("name", ["meeting_settings", "meeting_invite"])
def test_it_opens_the_management_pages_to_the_owner_only(name, owner_client, other_client, client, meeting):
    url = reverse(name, args=[meeting.public_id])
    assert owner_client.get(url).status_code == 200
    assert other_client.get(url).status_code == 403
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["meeting_settings", "meeting_invite", "meeting_end", "meeting_join", "meeting_room"])
def test_it_answers_404_for_an_unknown_meeting(name, owner_client):
    response = (
        owner_client.post(reverse(name, args=["no-such-meeting"]))
        if name == "meeting_end"
        else owner_client.get(reverse(name, args=["nope"]))
    )
    assert response.status_code == 404


def test_it_lets_an_organizer_in_the_meeting_manage_it(other_client, other, meeting):
    make_participant(meeting, user=other.user, role=Role.ORGANIZER)
    assert other_client.get(reverse("meeting_settings", args=[meeting.public_id])).status_code == 200


def test_it_lets_only_the_owner_end_a_meeting(owner_client, other_client, client, meeting):
    url = reverse("meeting_end", args=[meeting.public_id])
    assert other_client.post(url).status_code == 403
    assert client.post(url).status_code == 302  # to the login page
    meeting.refresh_from_db()
    assert meeting.ended_at is None
    response = owner_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("client")
    meeting.refresh_from_db()
    assert meeting.ended_at is not None
    again = owner_client.post(url, follow=True)
    assert "had already ended" in again.content.decode()


def test_it_refuses_to_end_a_meeting_with_get(owner_client, meeting):
    assert owner_client.get(reverse("meeting_end", args=[meeting.public_id])).status_code == 405
    meeting.refresh_from_db()
    assert meeting.ended_at is None


def test_it_follows_a_safe_next_url_only(owner_client, owner):
    first = make_meeting(owner)
    second = make_meeting(owner)
    room = reverse("meeting_room", args=[first.public_id])
    assert owner_client.post(reverse("meeting_end", args=[first.public_id]), {"next": room})["Location"] == room
    evil = owner_client.post(reverse("meeting_end", args=[second.public_id]), {"next": "https://evil.example/"})
    assert evil["Location"] == reverse("client")


# --- Settings -------------------------------------------------------------------------


def test_it_saves_the_meeting_settings(owner_client, meeting):
    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = _settings_data(
        meeting,
        title="Roadmap v2",
        scheduled_at=when,
        lobby_enabled="on",
        share_policy="everyone",
        recording_preset="audio_opus",
        max_participants="12",
    )
    response = owner_client.post(reverse("meeting_settings", args=[meeting.public_id]), data)
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert (meeting.title, meeting.lobby_enabled, meeting.share_policy, meeting.setting("recording_preset"), meeting.max_participants) == (
        "Roadmap v2",
        True,
        "everyone",
        "audio_opus",
        12,
    )
    assert meeting.scheduled_at is not None


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"max_participants": "1"}, "greater than or equal to 2"),
        ({"max_participants": "11"}, "less than or equal to 10"),
        ({"max_participants": "many"}, "Enter a whole number."),
        ({"title": ""}, "Give the meeting a title."),
        ({"share_policy": "anyone"}, "Select a valid choice."),
        ({"recording_preset": "8k-raw"}, "Select a valid choice."),
        ({"scheduled_at": "1999-12-31T23:00"}, "Pick a date and time in the future."),
    ],
)
def test_it_shows_the_errors_of_the_settings_form(owner_client, meeting, settings, changes, error):
    settings.PARLEY_MAX_PARTICIPANTS = 10
    before = Meeting.objects.get(pk=meeting.pk)
    response = owner_client.post(reverse("meeting_settings", args=[meeting.public_id]), _settings_data(meeting, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    meeting.refresh_from_db()
    assert (meeting.title, meeting.max_participants, meeting.share_policy) == (before.title, before.max_participants, before.share_policy)


def test_it_keeps_an_unchanged_past_schedule(owner_client, owner):
    started = make_meeting(owner, scheduled_at=timezone.now() - timedelta(days=1))
    unchanged = timezone.localtime(started.scheduled_at).strftime("%Y-%m-%dT%H:%M")
    response = owner_client.post(reverse("meeting_settings", args=[started.public_id]), _settings_data(started, scheduled_at=unchanged))
    assert response.status_code == 302


def test_it_refuses_settings_of_an_ended_meeting(owner_client, owner):
    ended = make_meeting(owner, ended=True)
    response = owner_client.post(reverse("meeting_settings", args=[ended.public_id]), _settings_data(ended, title="Changed"), follow=True)
    assert "can no longer be changed" in response.content.decode()
    ended.refresh_from_db()
    assert ended.title != "Changed"


# --- Invitations ----------------------------------------------------------------------


def test_it_invites_every_filled_row(owner_client, meeting):
    rows = [("Ada Lovelace", "ada@example.org"), ("", ""), ("Alan Turing", "alan@example.org")]
    response = owner_client.post(reverse("meeting_invite", args=[meeting.public_id]), _invite_data(rows))
    assert response.status_code == 302
    invitations = Invitation.objects.filter(meeting=meeting).order_by("pk")
    assert [(i.name, i.email) for i in invitations] == [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]
    mails = OutboundEmail.objects.filter(kind="invitation")
    assert sorted(mail.to for mail in mails) == ["ada@example.org", "alan@example.org"]
    for invitation in invitations:
        # The signed token carries a timestamp: resolve the mailed one rather than re-sign.
        body = OutboundEmail.objects.get(to=invitation.email).body_text
        token = re.search(r"\?invite=([\w.:-]+)", body).group(1)
        assert resolve_invitation(meeting, token) == invitation
    followed = owner_client.get(response["Location"])
    assert "2 invitations" in followed.content.decode()


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ([("Ada", "not-an-address")], "Enter a valid e-mail address"),
        ([("", "")], "Give this person&#x27;s name."),
        ([("Ada", "")], "Give this person&#x27;s e-mail address."),
        ([("", "ada@example.org")], "Give this person&#x27;s name."),
        ([("Ada", "ada@example.org"), ("Ada again", "ADA@example.org")], "already in the list"),
        ([("x" * 101, "ada@example.org")], "at most 100 characters"),
        ([(f"P{i}", f"p{i}@example.org") for i in range(51)], "at most 50 people"),
    ],
)
def test_it_shows_the_errors_of_the_invite_formset_and_sends_nothing(owner_client, meeting, rows, error):
    response = owner_client.post(reverse("meeting_invite", args=[meeting.public_id]), _invite_data(rows))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Invitation.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_it_refuses_an_invite_post_without_management_form(owner_client, meeting):
    response = owner_client.post(
        reverse("meeting_invite", args=[meeting.public_id]), {"invite-0-name": "A", "invite-0-email": "a@example.org"}
    )
    assert response.status_code == 200
    assert "Add at least 1 person to invite." in response.content.decode()
    assert not Invitation.objects.exists()


def test_it_refuses_invitations_to_another_extension(other_client, meeting):
    response = other_client.post(reverse("meeting_invite", args=[meeting.public_id]), _invite_data([("Eve", "eve@example.org")]))
    assert response.status_code == 403
    assert not Invitation.objects.exists()


# --- Joining --------------------------------------------------------------------------


def test_it_shows_the_join_page_with_preview_and_prefilled_name(owner_client, meeting):
    response = owner_client.get(_join_url(meeting))
    html = response.content.decode()
    assert response.status_code == 200
    for hook in ('id="join-form"', 'id="join-submit"', 'id="preview"', 'id="devices-toggle"', 'name="name"', 'name="email"'):
        assert hook in html
    assert 'value="Olivia Owner"' in html
    assert "Roadmap review" in html


def test_it_makes_the_owner_an_organizer(owner_client, owner, meeting):
    response = owner_client.post(_join_url(meeting), {"name": "Olivia Owner", "email": ""})
    assert response.status_code == 302
    assert response["Location"] == reverse("meeting_room", args=[meeting.public_id])
    participant = Participant.objects.get(meeting=meeting)
    assert (participant.user, participant.role, participant.state) == (owner.user, Role.ORGANIZER, Participant.State.JOINED)
    room = owner_client.get(response["Location"]).content.decode()
    assert 'data-participant-role="organizer"' in room and f'data-meeting-id="{meeting.public_id}"' in room
    assert "Creator" in room


def test_it_gives_an_invitee_the_role_of_the_invitation(client, private_meeting):
    invitation = make_invitation(private_meeting, name="Paula Presenter", email="paula@example.org", role=Role.PRESENTER)
    token = invitation_token(invitation)
    page = client.get(_join_url(private_meeting, token))
    assert page.status_code == 200
    assert 'value="Paula Presenter"' in page.content.decode()
    assert f'value="{token}"' in page.content.decode()  # kept in the hidden field
    response = client.post(_join_url(private_meeting), {"name": "Paula P.", "email": "paula@example.org", "invite": token})
    assert response.status_code == 302
    participant = Participant.objects.get(meeting=private_meeting)
    assert (participant.role, participant.invitation, participant.user, participant.display_name) == (
        Role.PRESENTER,
        invitation,
        None,
        "Paula P.",
    )
    assert participant.session_key == client.session.session_key
    invitation.refresh_from_db()
    assert invitation.used_at is not None


def test_it_moves_an_invitation_link_opened_in_a_second_browser_there_and_says_so_first(private_meeting):
    token = invitation_token(make_invitation(private_meeting, name="Paula"))
    first, second = Client(), Client()
    assert first.post(_join_url(private_meeting), {"name": "Paula", "invite": token}).status_code == 302
    participant = Participant.objects.get(meeting=private_meeting)
    Participant.objects.filter(pk=participant.pk).update(connected=True, channel_name="socket-1")  # her room is open
    page = second.get(_join_url(private_meeting, token)).content.decode()
    assert 'id="join-open-elsewhere"' in page
    assert "that browser leaves the meeting" in page
    assert second.post(_join_url(private_meeting), {"name": "Paula", "invite": token}).status_code == 302
    assert Participant.objects.get(meeting=private_meeting).pk == participant.pk
    assert second.get(reverse("meeting_room", args=[private_meeting.public_id])).status_code == 200
    assert first.get(reverse("meeting_room", args=[private_meeting.public_id])).status_code == 403
    assert 'id="join-open-elsewhere"' not in second.get(_join_url(private_meeting, token)).content.decode()


def test_it_refuses_the_link_of_a_banned_invitee_in_any_browser_before_the_form(client, private_meeting):
    invitation = make_invitation(private_meeting)
    banned = make_participant(private_meeting, session_key="first-browser", state=Participant.State.KICKED, banned=True)
    Participant.objects.filter(pk=banned.pk).update(invitation=invitation)
    page = client.get(_join_url(private_meeting, invitation_token(invitation)))
    assert page.status_code == 403
    assert "cannot come back" in page.content.decode()
    assert 'id="join-form"' not in page.content.decode()


def test_it_makes_a_guest_a_participant_of_a_shared_room(client, meeting):
    response = client.post(_join_url(meeting), {"name": "  Gus Guest ", "email": "gus@example.org"})
    assert response.status_code == 302
    participant = Participant.objects.get(meeting=meeting)
    assert (participant.role, participant.display_name, participant.email) == (Role.PARTICIPANT, "Gus Guest", "gus@example.org")
    assert participant.session_key and participant.session_key == client.session.session_key
    room = client.get(reverse("meeting_room", args=[meeting.public_id]))
    assert room.status_code == 200
    assert 'data-participant-role="participant"' in room.content.decode()
    assert reverse("meeting_settings", args=[meeting.public_id]) not in room.content.decode()


def test_it_refuses_an_uninvited_guest_in_a_private_room(client, private_meeting):
    page = client.get(_join_url(private_meeting))
    assert page.status_code == 403
    assert "Only invited people can join" in page.content.decode()
    assert 'id="join-form"' not in page.content.decode()
    response = client.post(_join_url(private_meeting), {"name": "Gate Crasher", "email": ""})
    assert response.status_code == 403
    assert not Participant.objects.exists()


def test_it_lets_a_guest_with_the_meeting_link_into_a_private_room_as_a_participant(client, private_meeting):
    link = meeting_link_url(private_meeting, absolute=False)
    page = client.get(link)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="join-form"' in body and "You join as a participant." in body
    assert f'name="link" value="{link.split("?link=")[1]}"' in body
    response = client.post(
        reverse("meeting_join", args=[private_meeting.public_id]), {"name": "Lena Link", "link": link.split("?link=")[1]}
    )
    assert response.status_code == 302
    guest = Participant.objects.get(display_name="Lena Link")
    assert (guest.role, guest.state) == (Role.PARTICIPANT, Participant.State.JOINED)


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_a_forged_meeting_link_and_keeps_the_bare_address_closed(client, private_meeting, method):
    forged = meeting_link_url(private_meeting, absolute=False)[:-2] + "xx"
    if method == "get":
        response = client.get(forged)
    else:
        response = client.post(_join_url(private_meeting), {"name": "Gate Crasher", "link": forged.split("?link=")[1]})
    assert response.status_code == 400
    assert 'data-code="invalid_link"' in response.content.decode()
    assert client.get(_join_url(private_meeting)).status_code == 403
    assert not Participant.objects.exists()


def test_it_copies_the_meeting_link_and_says_what_it_does(owner_client, owner):
    private = make_meeting(owner, title="Interviews", room_type=RoomType.PRIVATE, moderate_participants=True)
    open_room = make_meeting(owner, title="All hands", room_type=RoomType.SHARED)
    page = " ".join(owner_client.get(reverse("client")).content.decode().split())
    for meeting in (private, open_room):
        assert f'data-copy="{meeting_link_url(meeting)}"' in page
    private_item = page.split(f'id="meeting-{private.public_id}"', 1)[1].split("</li>", 1)[0]
    assert "ask to join as a participant; an organizer lets them in." in private_item
    open_item = page.split(f'id="meeting-{open_room.public_id}"', 1)[1].split("</li>", 1)[0]
    assert "The meeting link lets anyone you send it to join as a participant." in open_item


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_a_tampered_invitation_link(client, private_meeting, method):
    token = invitation_token(make_invitation(private_meeting))
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    if method == "get":
        response = client.get(_join_url(private_meeting, tampered))
    else:
        response = client.post(_join_url(private_meeting), {"name": "Mallory", "invite": tampered})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This invitation link is not valid" in html
    assert 'id="join-form"' not in html
    assert not Participant.objects.exists()


def test_it_refuses_an_invitation_of_another_meeting(client, owner, private_meeting):
    elsewhere = make_meeting(owner, room_type=RoomType.PRIVATE)
    token = invitation_token(make_invitation(elsewhere))
    response = client.post(_join_url(private_meeting), {"name": "Mallory", "invite": token})
    assert response.status_code == 400
    assert not Participant.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_an_expired_invitation_link(client, private_meeting, settings, method):
    settings.PARLEY_INVITATION_MAX_AGE = 3600
    invitation = make_invitation(private_meeting)

    class TwoHoursAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 7200)

    token = TwoHoursAgo(salt=INVITATION_SALT).sign(f"{private_meeting.public_id}:{invitation.pk}")
    if method == "get":
        response = client.get(_join_url(private_meeting, token))
    else:
        response = client.post(_join_url(private_meeting), {"name": "Late Larry", "invite": token})
    assert response.status_code == 400
    assert "This invitation link has expired" in response.content.decode()
    assert not Participant.objects.exists()


@pytest.mark.parametrize(
    ("data", "error"), [({"name": ""}, "Please give your name."), ({"name": "N", "email": "nope"}, "Enter a valid e-mail address")]
)
def test_it_shows_the_errors_of_the_join_form(client, meeting, data, error):
    response = client.post(_join_url(meeting), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Participant.objects.exists()


def test_it_says_that_an_ended_meeting_has_ended(client, owner):
    ended = make_meeting(owner, ended=True)
    page = client.get(_join_url(ended))
    assert page.status_code == 410
    assert "This meeting has ended" in page.content.decode()
    assert 'id="join-form"' not in page.content.decode()
    assert client.post(_join_url(ended), {"name": "Too Late"}).status_code == 410
    assert not Participant.objects.exists()


def test_it_refuses_a_full_meeting_with_409(client, owner):
    full = make_meeting(owner, room_type=RoomType.SHARED, max_participants=2)
    make_participant(full, name="One")
    make_participant(full, name="Two")
    response = client.post(_join_url(full), {"name": "Three"})
    assert response.status_code == 409
    assert "This meeting is full" in response.content.decode()
    assert full.participants.count() == 2


def test_it_refuses_a_banned_guest(client, meeting):
    assert client.post(_join_url(meeting), {"name": "Bob"}).status_code == 302
    Participant.objects.filter(meeting=meeting).update(is_banned=True, state=Participant.State.KICKED)
    page = client.get(_join_url(meeting))
    assert page.status_code == 403
    assert "cannot come back" in page.content.decode()
    assert client.post(_join_url(meeting), {"name": "Bob"}).status_code == 403
    assert client.get(reverse("meeting_room", args=[meeting.public_id])).status_code == 302
    assert Participant.objects.get(meeting=meeting).state == Participant.State.KICKED


# --- The room and leaving -------------------------------------------------------------


def test_it_refuses_the_room_to_someone_who_did_not_join(client, other_client, meeting):
    assert client.get(reverse("meeting_room", args=[meeting.public_id])).status_code == 403
    assert other_client.get(reverse("meeting_room", args=[meeting.public_id])).status_code == 403


def test_it_shows_who_is_present_and_the_manager_links(owner_client, meeting):
    make_participant(meeting, name="Present Pat")
    make_participant(meeting, name="Gone Gary", state=Participant.State.LEFT)
    owner_client.post(_join_url(meeting), {"name": "Olivia Owner"})
    html = owner_client.get(reverse("meeting_room", args=[meeting.public_id])).content.decode()
    # The People button counts who is present (Pat and Olivia) until the room's snapshot
    # comes; the list and the managers' links come with the participants panel (its part).
    assert 'id="participants-count-badge">2</span>' in html
    assert reverse("meeting_end", args=[meeting.public_id]) in html
    panel = owner_client.get(reverse("meeting_room_part", args=[meeting.public_id, "participants"])).content.decode()
    assert reverse("meeting_invite", args=[meeting.public_id]) in panel


def test_it_leaves_and_offers_to_rejoin(client, meeting):
    client.post(_join_url(meeting), {"name": "Lea Leaver"})
    response = client.post(reverse("meeting_leave", args=[meeting.public_id]))
    assert response.status_code == 200
    assert "You left the meeting" in response.content.decode()
    assert 'id="rejoin-link"' in response.content.decode()
    participant = Participant.objects.get(meeting=meeting)
    assert participant.state == Participant.State.LEFT
    assert client.get(reverse("meeting_room", args=[meeting.public_id]))["Location"] == _join_url(meeting)
    assert 'value="Lea Leaver"' in client.get(_join_url(meeting)).content.decode()


def test_it_lets_a_guest_who_left_a_private_room_back_in(client, private_meeting):
    token = invitation_token(make_invitation(private_meeting, name="Ian"))
    client.post(_join_url(private_meeting), {"name": "Ian", "invite": token})
    client.post(reverse("meeting_leave", args=[private_meeting.public_id]))
    assert client.get(_join_url(private_meeting)).status_code == 200
    assert client.post(_join_url(private_meeting), {"name": "Ian"}).status_code == 302
    assert Participant.objects.get(meeting=private_meeting).state == Participant.State.JOINED


def test_it_refuses_leave_to_someone_not_in_the_meeting(client, meeting):
    assert client.post(reverse("meeting_leave", args=[meeting.public_id])).status_code == 403


# --- Answering meeting requests -------------------------------------------------------


def test_it_gives_the_request_to_the_first_agent_and_tells_the_second_who_took_it(owner, other, owner_client, other_client):
    queue = make_queue([owner, other])
    waiting = make_request(queue, name="Vera Visitor")
    first = owner_client.post(reverse("request_join", args=[waiting.pk]))
    waiting.refresh_from_db()
    assert waiting.status == MeetingRequest.Status.ACCEPTED and waiting.claimed_by == owner
    assert first["Location"] == reverse("meeting_join", args=[waiting.meeting.public_id])
    assert waiting.meeting.owner == owner.user
    join = owner_client.post(first["Location"], {"name": "Olivia Owner"})
    assert join.status_code == 302
    assert Participant.objects.get(meeting=waiting.meeting, user=owner.user).role == Role.ORGANIZER
    second = other_client.post(reverse("request_join", args=[waiting.pk]), follow=True)
    assert second.redirect_chain[-1][0] == reverse("client")
    assert "Olivia Owner has already taken this request." in second.content.decode()
    assert Meeting.objects.filter(owner=other.user).count() == 0


def test_it_shows_who_took_a_queue_request_and_when_in_the_history_of_the_other_agent(owner, other, owner_client, other_client):
    queue = make_queue([owner, other])
    waiting = make_request(queue, name="Vera Visitor")
    owner_client.post(reverse("request_join", args=[waiting.pk]))
    waiting.refresh_from_db()
    at = timezone.localtime(waiting.closed_at).strftime("%H:%M")

    page = other_client.get(reverse("client")).content.decode()

    incoming, history = page.split('id="request-history"', 1)
    assert "Vera Visitor" not in incoming.split('id="incoming-requests"', 1)[1].split("</ul>", 1)[0]
    item = history.split("</li>", 1)[0]
    assert f'data-request-id="{waiting.pk}"' in item and "Vera Visitor" in item
    assert f"Taken by Olivia Owner at {at}." in " ".join(item.split())
    assert "request-join" not in item and "request-ignore" not in item
    mine = owner_client.get(reverse("client")).content.decode()
    assert f"You took it at {at}." in " ".join(mine.split())


def test_it_hides_other_peoples_requests(other_client, owner):
    waiting = make_request(owner)
    assert other_client.post(reverse("request_join", args=[waiting.pk])).status_code == 404
    assert other_client.post(reverse("request_ignore", args=[waiting.pk])).status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == MeetingRequest.Status.WAITING


def test_it_refuses_request_join_to_anonymous_and_get(client, owner_client, owner):
    waiting = make_request(owner)
    assert client.post(reverse("request_join", args=[waiting.pk])).status_code == 302
    assert owner_client.get(reverse("request_join", args=[waiting.pk])).status_code == 405
    waiting.refresh_from_db()
    assert waiting.status == MeetingRequest.Status.WAITING


def test_it_ignores_a_personal_request(owner_client, owner):
    waiting = make_request(owner, name="Ignored Ivy")
    response = owner_client.post(reverse("request_ignore", args=[waiting.pk]), follow=True)
    assert "You ignored the request of Ignored Ivy." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == MeetingRequest.Status.DECLINED
    incoming, history = response.content.decode().split('id="request-history"', 1)
    assert f'data-request-id="{waiting.pk}"' not in incoming
    assert f'data-request-id="{waiting.pk}" data-status="declined"' in history  # the history says so


def test_it_says_why_an_expired_request_cannot_be_taken(owner_client, owner):
    old = make_request(owner, expires_in=-5)
    response = owner_client.post(reverse("request_join", args=[old.pk]), follow=True)
    assert "This request has expired." in response.content.decode()
    old.refresh_from_db()
    assert old.meeting is None
