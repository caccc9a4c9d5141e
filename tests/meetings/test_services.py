"""meetings.services: create, settings, invitations, join/leave, chat, end."""

import time
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import OutboundEmail
from meetings import access, chat, services
from meetings.models import ChatMessage, Invitation, Meeting, Participant, Role, RoomType, SharePolicy
from meetings.roomkit import meeting_group
from meetings.services import InvalidInvitation, JoinRefused
from rooms import services as room_services
from tests.factories import (
    make_extension,
    make_invitation,
    make_meeting,
    make_participant,
    make_queue,
    make_request,
    make_user,
    record_channel_sends,
    record_events,
)

pytestmark = pytest.mark.django_db

JOINED = Participant.State.JOINED
LEFT = Participant.State.LEFT


@pytest.fixture
def events(monkeypatch):
    return record_events(monkeypatch)


@pytest.fixture
def owner():
    return make_extension(display_name="Olga Owner", room_type=RoomType.SHARED)


@pytest.fixture
def other():
    return make_extension(display_name="Otto Other")


@pytest.fixture
def meeting(owner):
    return make_meeting(owner, title="Weekly sync", room_type=RoomType.SHARED)


def _token(url: str, name: str = "invite") -> str:
    return url.split(f"?{name}=", 1)[1]


def _refused(excinfo) -> str:
    return excinfo.value.code


# --- Creating -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("room_type", "moderate", "lobby"),
    [(RoomType.PRIVATE, False, False), (RoomType.PRIVATE, True, False), (RoomType.SHARED, False, False), (RoomType.SHARED, True, True)],
)
def test_it_creates_a_meeting_with_the_room_settings_of_the_extension(room_type, moderate, lobby, settings):
    extension = make_extension(room_type=room_type, moderate=moderate)
    meeting = services.create_meeting(extension.user, title="  Planning  ")
    assert meeting.title == "Planning"
    assert meeting.owner == extension.user
    assert (meeting.room_type, meeting.moderate_participants, meeting.lobby_enabled) == (room_type, moderate, lobby)
    assert meeting.max_participants == settings.PARLEY_MAX_PARTICIPANTS
    assert len(meeting.public_id) >= 20
    assert meeting.state == "scheduled"


def test_it_gives_each_meeting_an_unguessable_distinct_id(owner):
    ids = {services.create_meeting(owner.user, title=f"M{i}").public_id for i in range(5)}
    assert len(ids) == 5


def test_it_refuses_a_meeting_without_a_title(owner):
    with pytest.raises(ValidationError) as excinfo:
        services.create_meeting(owner.user, title="   ")
    assert "title" in excinfo.value.message_dict
    assert not Meeting.objects.exists()


def test_it_refuses_to_create_a_meeting_for_a_user_without_extension():
    with pytest.raises(PermissionDenied):
        services.create_meeting(make_user(), title="Sneaky")
    assert not Meeting.objects.exists()


def test_it_lets_a_staff_user_without_extension_create_a_shared_meeting():
    meeting = services.create_meeting(make_user(is_staff=True), title="Admin check")
    assert (meeting.room_type, meeting.moderate_participants) == (RoomType.SHARED, False)


# --- Settings -------------------------------------------------------------------------------


def test_it_lets_the_owner_change_the_settings_and_tells_the_room(meeting, owner, committed, events):
    with committed():
        services.update_meeting_settings(
            meeting,
            owner.user,
            title="Renamed",
            lobby_enabled=True,
            share_policy=SharePolicy.EVERYONE,
            recording_preset="mp4_1080p",
            max_participants=10,
        )
    meeting.refresh_from_db()
    assert (meeting.title, meeting.lobby_enabled, meeting.share_policy, meeting.setting("recording_preset"), meeting.max_participants) == (
        "Renamed",
        True,
        "everyone",
        "mp4_1080p",
        10,
    )
    [(event, body)] = events.of(meeting_group(meeting.public_id))
    assert event == "meeting.settings"
    assert body["title"] == "Renamed"
    assert body["max_participants"] == 10


def test_it_lets_an_organizer_in_the_meeting_change_the_settings(meeting):
    helper = make_extension()
    make_participant(meeting, user=helper.user, role=Role.ORGANIZER)
    services.update_meeting_settings(meeting, helper.user, title="By organizer")
    assert Meeting.objects.get(pk=meeting.pk).title == "By organizer"


@pytest.mark.parametrize("who", ["other", "anonymous", "presenter"])
def test_it_refuses_settings_from_anyone_else_and_changes_nothing(meeting, other, who, committed, events):
    if who == "other":
        actor = other.user
    elif who == "presenter":
        actor = other.user
        make_participant(meeting, user=actor, role=Role.PRESENTER)
    else:
        actor = AnonymousUser()
    with committed(), pytest.raises(PermissionDenied):
        services.update_meeting_settings(meeting, actor, title="Hijacked")
    assert Meeting.objects.get(pk=meeting.pk).title == "Weekly sync"
    assert events.sent == []


def test_it_refuses_an_unknown_setting(meeting, owner):
    with pytest.raises(ValueError, match="owner"):
        services.update_meeting_settings(meeting, owner.user, owner=make_user())
    with pytest.raises(ValueError):
        services.update_meeting_settings(meeting, owner.user, title="Ok", room_type=RoomType.PRIVATE)
    stored = Meeting.objects.get(pk=meeting.pk)
    assert (stored.owner, stored.title, stored.room_type) == (meeting.owner, "Weekly sync", RoomType.SHARED)


@pytest.mark.parametrize(
    "changes",
    [
        {"share_policy": "nobody"},
        {"recording_preset": "flac"},
        {"title": ""},
        {"title": "x" * 201},
        {"max_participants": -1},
        {"max_participants": 1},
        {"max_participants": 10_000},
        {"scheduled_at": "not a date"},
        {"title": "Fine", "share_policy": "nobody"},
        {"title": "Fine", "recording_preset": "flac"},
    ],
)
def test_it_refuses_an_invalid_setting_and_changes_nothing(meeting, owner, changes, committed, events):
    with committed(), pytest.raises(ValidationError):
        services.update_meeting_settings(meeting, owner.user, **changes)
    stored = Meeting.objects.get(pk=meeting.pk)
    assert (stored.title, stored.share_policy, stored.setting("recording_preset"), stored.max_participants) == (
        "Weekly sync",
        "presenters",
        "webm_720p",
        25,
    )
    assert (meeting.title, meeting.share_policy, meeting.max_participants) == ("Weekly sync", "presenters", 25)
    assert events.sent == []


def test_it_refuses_settings_of_an_ended_meeting(owner):
    meeting = make_meeting(owner, ended=True)
    with pytest.raises(ValidationError):
        services.update_meeting_settings(meeting, owner.user, title="Late")


# --- Invitations ----------------------------------------------------------------------------


def test_it_resolves_the_link_of_an_invitation(meeting):
    invitation = make_invitation(meeting)
    url = services.invitation_url(invitation)
    assert url.startswith("http://testserver/m/" + meeting.public_id + "/?invite=")
    assert services.invitation_url(invitation, absolute=False).startswith("/m/")
    assert services.resolve_invitation(meeting, _token(url)) == invitation


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "x" + t, lambda t: "", lambda t: "garbage"]
)
def test_it_refuses_a_tampered_invitation_link(meeting, tamper):
    token = _token(services.invitation_url(make_invitation(meeting)))
    with pytest.raises(InvalidInvitation):
        services.resolve_invitation(meeting, tamper(token))


def test_it_refuses_a_link_that_names_another_invitation_by_editing_the_pk(meeting):
    first, second = make_invitation(meeting), make_invitation(meeting, email="other@example.org")
    token = _token(services.invitation_url(first))
    forged = token.replace(f":{first.pk}:", f":{second.pk}:", 1)
    assert forged != token
    with pytest.raises(InvalidInvitation):
        services.resolve_invitation(meeting, forged)


def test_it_refuses_the_invitation_of_another_meeting(meeting, other):
    elsewhere = make_meeting(other)
    token = _token(services.invitation_url(make_invitation(elsewhere)))
    with pytest.raises(InvalidInvitation):
        services.resolve_invitation(meeting, token)


def test_it_refuses_an_invitation_that_was_deleted(meeting):
    invitation = make_invitation(meeting)
    token = _token(services.invitation_url(invitation))
    invitation.delete()
    with pytest.raises(InvalidInvitation):
        services.resolve_invitation(meeting, token)


def test_it_refuses_an_expired_invitation_link(meeting, settings):
    settings.PARLEY_INVITATION_MAX_AGE = 3600
    invitation = make_invitation(meeting)
    token = _token(services.invitation_url(invitation))
    now = time.time()
    with mock.patch("django.core.signing.time.time", return_value=now + 3590):
        assert services.resolve_invitation(meeting, token) == invitation
    with mock.patch("django.core.signing.time.time", return_value=now + 3700), pytest.raises(InvalidInvitation, match="expired"):
        services.resolve_invitation(meeting, token)


@pytest.mark.usefixtures("fixed_signing_time")  # the link is made twice, compared
def test_it_invites_people_by_email_with_their_personal_link(meeting, owner, committed, mailoutbox):
    with committed():
        invitations = services.invite_people(meeting, owner.user, [("Ian", "ian@example.org"), ("Ina", "ina@example.org")])
    assert [(i.name, i.email, i.invited_by) for i in invitations] == [
        ("Ian", "ian@example.org", owner.user),
        ("Ina", "ina@example.org", owner.user),
    ]
    for invitation in invitations:
        email = OutboundEmail.objects.get(kind="invitation", to=invitation.email)
        assert services.invitation_url(invitation) in email.body_text
    assert sorted(m.to[0] for m in mailoutbox) == ["ian@example.org", "ina@example.org"]


@pytest.mark.parametrize("who", ["other", "anonymous"])
def test_it_refuses_invitations_from_anyone_but_a_manager(meeting, other, who):
    actor = other.user if who == "other" else AnonymousUser()
    with pytest.raises(PermissionDenied):
        services.invite_people(meeting, actor, [("Ian", "ian@example.org")])
    assert not Invitation.objects.exists()
    assert not OutboundEmail.objects.exists()


# --- Joining --------------------------------------------------------------------------------


def test_it_joins_the_owner_as_organizer(meeting, owner, committed, events):
    with committed():
        participant = services.join_meeting(meeting, user=owner.user)
    assert (participant.role, participant.state, participant.display_name, participant.user) == (
        Role.ORGANIZER,
        JOINED,
        "Olga Owner",
        owner.user,
    )
    assert participant.is_creator
    assert Meeting.objects.get(pk=meeting.pk).started_at is not None
    [(event, body)] = events.of(meeting_group(meeting.public_id))
    assert (event, body["role"], body["is_creator"]) == ("participant.joined", "organizer", True)


def test_it_joins_an_invited_guest_with_the_role_of_the_invitation(meeting):
    invitation = make_invitation(meeting, name="Petra", email="petra@example.org", role=Role.PRESENTER)
    participant = services.join_meeting(meeting, session_key="guest-1", invitation=invitation)
    assert (participant.role, participant.display_name, participant.email, participant.invitation) == (
        Role.PRESENTER,
        "Petra",
        "petra@example.org",
        invitation,
    )
    assert (participant.user, participant.session_key) == (None, "guest-1")
    assert Invitation.objects.get(pk=invitation.pk).used_at is not None


def test_it_joins_an_uninvited_guest_of_a_shared_room_as_participant(meeting):
    participant = services.join_meeting(meeting, session_key="guest-2", name="  Gus ", email="gus@example.org")
    assert (participant.role, participant.display_name, participant.email) == (Role.PARTICIPANT, "Gus", "gus@example.org")
    assert not participant.is_creator


def test_it_joins_another_extension_as_participant(meeting, other):
    participant = services.join_meeting(meeting, user=other.user)
    assert (participant.role, participant.display_name) == (Role.PARTICIPANT, "Otto Other")


def test_it_treats_an_anonymous_user_as_a_guest_of_its_session(meeting):
    participant = services.join_meeting(meeting, user=AnonymousUser(), session_key="guest-3", name="Ann")
    assert (participant.user, participant.session_key) == (None, "guest-3")


def test_it_refuses_a_guest_without_session_or_name(meeting):
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, name="No cookies")
    assert _refused(excinfo) == "no_session"
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, session_key="guest-4", name="   ")
    assert _refused(excinfo) == "name_required"
    assert not Participant.objects.exists()


def test_it_keeps_uninvited_people_out_of_a_private_room(other):
    owner = make_extension(room_type=RoomType.PRIVATE)
    meeting = make_meeting(owner)
    for kwargs in ({"session_key": "guest-5", "name": "Eve"}, {"user": other.user}):
        with pytest.raises(JoinRefused) as excinfo:
            services.join_meeting(meeting, **kwargs)
        assert _refused(excinfo) == "private_room"
    assert not Participant.objects.exists()
    assert services.join_meeting(meeting, user=owner.user).role == Role.ORGANIZER
    invited = services.join_meeting(meeting, session_key="guest-6", invitation=make_invitation(meeting))
    assert invited.role == Role.PARTICIPANT


def test_it_lets_people_with_the_meeting_link_into_a_private_room_as_participants(other):
    owner = make_extension(room_type=RoomType.PRIVATE)
    meeting = make_meeting(owner, room_type=RoomType.PRIVATE)
    services.check_meeting_link(meeting, _token(services.meeting_link_url(meeting), "link"))
    guest = services.join_meeting(meeting, session_key="guest-5", name="Eve", by_link=True)
    colleague = services.join_meeting(meeting, user=other.user, by_link=True)
    assert [(p.role, p.state) for p in (guest, colleague)] == [(Role.PARTICIPANT, JOINED)] * 2
    # The link is not an invitation: the people it brings in are each themselves.
    assert guest.invitation is None and guest.pk != colleague.pk


def test_it_makes_people_with_the_meeting_link_wait_in_the_lobby_of_a_private_room_that_moderates():
    owner = make_extension(room_type=RoomType.PRIVATE, moderate=True)
    meeting = services.create_meeting(owner.user, title="Interviews")
    assert (meeting.room_type, meeting.moderate_participants, meeting.lobby_enabled) == (RoomType.PRIVATE, True, False)
    assert services.link_waits_in_lobby(meeting)
    guest = services.join_meeting(meeting, session_key="guest-5", name="Eve", by_link=True)
    assert (guest.role, guest.state) == (Role.PARTICIPANT, Participant.State.LOBBY)
    # The organizer and invited people go straight in, as before.
    assert services.join_meeting(meeting, user=owner.user).state == JOINED
    assert services.join_meeting(meeting, session_key="guest-6", invitation=make_invitation(meeting), by_link=True).state == JOINED


def test_it_keeps_a_banned_person_out_whatever_the_meeting_link(other):
    meeting = make_meeting(make_extension(room_type=RoomType.PRIVATE), room_type=RoomType.PRIVATE)
    make_participant(meeting, user=other.user, state=Participant.State.KICKED, banned=True)
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, user=other.user, by_link=True)
    assert _refused(excinfo) == "banned"


@pytest.mark.parametrize("tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "", lambda t: t + "x"])
def test_it_refuses_a_meeting_link_the_server_did_not_make_for_this_meeting(tamper, other):
    meeting, elsewhere = make_meeting(make_extension()), make_meeting(other)
    token = services.meeting_link_token(meeting)
    with pytest.raises(services.InvalidMeetingLink):
        services.check_meeting_link(meeting, tamper(token))
    with pytest.raises(services.InvalidMeetingLink):
        services.check_meeting_link(elsewhere, token)
    # Nor is an invitation's signature a meeting link.
    with pytest.raises(services.InvalidMeetingLink):
        services.check_meeting_link(meeting, services.invitation_token(make_invitation(meeting)))


def test_it_refuses_the_invitation_of_another_meeting_at_join(other):
    private = make_meeting(make_extension(), room_type=RoomType.PRIVATE)
    foreign_invitation = make_invitation(make_meeting(other))
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(private, session_key="guest-7", invitation=foreign_invitation)
    assert _refused(excinfo) == "invalid_invitation"
    assert not private.participants.exists()


def test_it_refuses_a_join_when_the_meeting_is_full(meeting, owner):
    Meeting.objects.filter(pk=meeting.pk).update(max_participants=2)
    services.join_meeting(meeting, user=owner.user)
    guest = services.join_meeting(meeting, session_key="guest-8", name="Gus")
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, session_key="guest-9", name="Third")
    assert _refused(excinfo) == "meeting_full"
    # Someone already inside (a reload) is not refused by their own seat.
    assert services.join_meeting(meeting, session_key="guest-8", name="Gus").pk == guest.pk
    services.leave_meeting(guest)
    assert services.join_meeting(meeting, session_key="guest-9", name="Third").state == JOINED


def test_it_refuses_a_join_to_an_ended_meeting(owner):
    meeting = make_meeting(owner, ended=True)
    with pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, user=owner.user)
    assert _refused(excinfo) == "meeting_ended"


def test_it_refuses_a_banned_participant(meeting, other):
    make_participant(meeting, session_key="banned-guest", state=Participant.State.KICKED, banned=True)
    make_participant(meeting, user=other.user, state=Participant.State.KICKED, banned=True)
    for kwargs in ({"session_key": "banned-guest", "name": "Back"}, {"user": other.user}):
        with pytest.raises(JoinRefused) as excinfo:
            services.join_meeting(meeting, **kwargs)
        assert _refused(excinfo) == "banned"
    assert not meeting.participants.filter(state=JOINED).exists()


def test_it_reuses_the_participant_row_on_rejoin(meeting, other):
    first = services.join_meeting(meeting, user=other.user)
    services.leave_meeting(first)
    assert Participant.objects.get(pk=first.pk).state == LEFT
    again = services.join_meeting(meeting, user=other.user)
    assert again.pk == first.pk
    assert (again.state, again.left_at) == (JOINED, None)
    assert meeting.participants.count() == 1


def test_it_keeps_an_invited_role_on_rejoin_without_the_link(meeting):
    invitation = make_invitation(meeting, role=Role.PRESENTER)
    first = services.join_meeting(meeting, session_key="guest-10", invitation=invitation)
    services.leave_meeting(first)
    again = services.join_meeting(meeting, session_key="guest-10", name="Ian")
    assert (again.pk, again.role) == (first.pk, Role.PRESENTER)


# --- One person per invitation link ----------------------------------------------------


def _online(participant: Participant, channel: str) -> None:
    """As the room socket leaves it: connected, with its channel."""
    Participant.objects.filter(pk=participant.pk).update(connected=True, channel_name=channel, disconnected_at=None)


def test_it_lets_a_second_browser_with_the_same_invitation_link_take_over_its_participant(meeting, committed, events, monkeypatch):
    sockets = record_channel_sends(monkeypatch)
    invitation = make_invitation(meeting, name="Petra", role=Role.PRESENTER)
    first = services.join_meeting(meeting, session_key="browser-1", invitation=invitation)
    _online(first, "socket-of-browser-1")
    Participant.objects.filter(pk=first.pk).update(mic_allowed=False)  # an organizer muted her
    with committed():
        second = services.join_meeting(meeting, session_key="browser-2", invitation=invitation)
    assert second.pk == first.pk
    assert meeting.participants.count() == 1
    row = Participant.objects.get(pk=first.pk)
    assert (row.session_key, row.user, row.state, row.role, row.display_name) == ("browser-2", None, JOINED, Role.PRESENTER, "Petra")
    assert (row.connected, row.channel_name, row.mic_allowed) == (False, "", False)  # her rights stay hers
    # The first browser's socket is told and closed; its session stands for nobody now.
    assert sockets.sent == [("socket-of-browser-1", {"type": "room.replaced"})]
    with pytest.raises(PermissionDenied):
        access.participant_for_session(meeting, None, "browser-1")
    assert access.participant_for_session(meeting, None, "browser-2").pk == first.pk
    assert [(e, b["id"]) for e, b in events.of(meeting_group(meeting.public_id))] == [("participant.joined", first.pk)]


def test_it_keeps_a_banned_invitee_out_whatever_browser_brings_the_link(meeting, owner, committed, monkeypatch):
    sockets = record_channel_sends(monkeypatch)
    Meeting.objects.filter(pk=meeting.pk).update(moderate_participants=True)  # a kick bans
    invitation = make_invitation(meeting)
    host = services.join_meeting(meeting, user=owner.user)
    invitee = services.join_meeting(meeting, session_key="browser-1", invitation=invitation)
    services.kick_participant(host, invitee.pk)
    with committed(), pytest.raises(JoinRefused) as excinfo:
        services.join_meeting(meeting, session_key="browser-2", invitation=invitation)
    assert _refused(excinfo) == "banned"
    assert sockets.sent == []
    row = Participant.objects.get(pk=invitee.pk)
    assert (row.session_key, row.state, row.is_banned) == ("browser-1", Participant.State.KICKED, True)
    assert meeting.participants.count() == 2


def test_it_sends_a_kicked_invitee_through_the_lobby_again_and_an_admitted_one_straight_in(owner):
    meeting = make_meeting(owner, room_type=RoomType.SHARED, lobby_enabled=True, moderate_participants=True)
    host = services.join_meeting(meeting, user=owner.user)
    admitted_link, kicked_link = make_invitation(meeting, name="Ada"), make_invitation(meeting, name="Kim")
    admitted = services.join_meeting(meeting, session_key="ada-1", invitation=admitted_link)
    kicked = services.join_meeting(meeting, session_key="kim-1", invitation=kicked_link)
    services.accept_all_lobby(host)
    Meeting.objects.filter(pk=meeting.pk).update(moderate_participants=False)  # a kick without a ban
    services.kick_participant(host, kicked.pk)
    again = services.join_meeting(meeting, session_key="kim-2", invitation=kicked_link)
    assert (again.pk, again.state) == (kicked.pk, Participant.State.LOBBY)
    moved = services.join_meeting(meeting, session_key="ada-2", invitation=admitted_link)
    assert (moved.pk, moved.state) == (admitted.pk, JOINED)
    assert meeting.participants.count() == 3


def test_it_lets_the_link_take_over_in_a_browser_that_had_joined_as_someone_else(meeting, committed, events):
    invitation = make_invitation(meeting, name="Petra")
    holder = services.join_meeting(meeting, session_key="phone", invitation=invitation)
    own = services.join_meeting(meeting, session_key="laptop", name="Guest on the laptop")
    with committed():
        taken = services.join_meeting(meeting, session_key="laptop", invitation=invitation)
    assert taken.pk == holder.pk
    own.refresh_from_db()
    assert (own.state, own.user, own.session_key) == (LEFT, None, f"released-{own.pk}")
    assert access.participant_for_session(meeting, None, "laptop").pk == holder.pk
    assert list(meeting.participants.filter(state=JOINED).values_list("pk", flat=True)) == [holder.pk]
    assert ("participant.left", {"participant_id": own.pk, "reason": "moved"}) in events.of(meeting_group(meeting.public_id))


def test_it_gives_the_participant_of_a_link_to_the_user_who_comes_with_it(meeting, other):
    invitation = make_invitation(meeting)
    guest = services.join_meeting(meeting, session_key="browser-1", invitation=invitation)
    signed_in = services.join_meeting(meeting, user=other.user, invitation=invitation)
    assert signed_in.pk == guest.pk
    row = Participant.objects.get(pk=guest.pk)
    assert (row.user, row.session_key) == (other.user, "")
    assert meeting.participants.count() == 1


def test_it_moves_a_user_out_of_the_first_meeting_when_joining_another(owner, other, committed, events):
    a = make_meeting(owner, title="A")
    b = make_meeting(owner, title="B")
    in_a = services.join_meeting(a, user=other.user)
    with committed():
        in_b = services.join_meeting(b, user=other.user)
    in_a.refresh_from_db()
    assert (in_a.state, in_b.state) == (LEFT, JOINED)
    assert in_a.left_at is not None
    assert events.of(meeting_group(a.public_id)) == [("participant.left", {"participant_id": in_a.pk, "reason": "moved"})]
    assert [e for e, _b in events.of(meeting_group(b.public_id))] == ["participant.joined"]


def test_it_identifies_guests_by_their_session(owner):
    a = make_meeting(owner, title="A")
    b = make_meeting(owner, title="B")
    s1_in_a = services.join_meeting(a, session_key="s1", name="Same Name")
    s2_in_a = services.join_meeting(a, session_key="s2", name="Same Name")
    assert s1_in_a.pk != s2_in_a.pk
    assert services.join_meeting(a, session_key="s1", name="Renamed").pk == s1_in_a.pk
    services.join_meeting(b, session_key="s1", name="Same Name")
    states = dict(a.participants.values_list("session_key", "state"))
    assert states == {"s1": LEFT, "s2": JOINED}


# --- Leaving --------------------------------------------------------------------------------


def test_it_marks_a_participant_as_left_once(meeting, committed, events):
    guest = services.join_meeting(meeting, session_key="guest-11", name="Gus")
    with committed():
        services.leave_meeting(guest)
        services.leave_meeting(guest)
    guest.refresh_from_db()
    assert guest.state == LEFT
    assert guest.left_at is not None
    assert events.of(meeting_group(meeting.public_id)) == [("participant.left", {"participant_id": guest.pk, "reason": "left"})]


# --- Chat -----------------------------------------------------------------------------------


def test_it_posts_a_chat_message_and_broadcasts_it(meeting, committed, events):
    guest = services.join_meeting(meeting, session_key="guest-12", name="Gus")
    with committed():
        message = chat.post_chat_message(guest, "  hello  ")
    assert (message.text, message.sender_name, message.participant) == ("hello", "Gus", guest)
    [(event, body)] = events.of(meeting_group(meeting.public_id))
    assert (event, body["text"], body["participant_id"]) == ("chat.message", "hello", guest.pk)
    assert chat.post_chat_message(guest, "x" * chat.CHAT_MAX_LENGTH).text == "x" * chat.CHAT_MAX_LENGTH


@pytest.mark.parametrize("text", ["", "   ", None, "x" * 2001])
def test_it_refuses_an_empty_or_too_long_chat_message(meeting, text):
    guest = services.join_meeting(meeting, session_key="guest-13", name="Gus")
    with pytest.raises(ValidationError):
        chat.post_chat_message(guest, text)
    assert not ChatMessage.objects.exists()


def test_it_refuses_chat_from_someone_who_left_or_after_the_end(meeting, owner):
    guest = services.join_meeting(meeting, session_key="guest-14", name="Gus")
    services.leave_meeting(guest)
    guest.refresh_from_db()
    with pytest.raises(PermissionDenied):
        chat.post_chat_message(guest, "still here?")
    host = services.join_meeting(meeting, user=owner.user)
    services.end_meeting(meeting, owner.user)
    host.refresh_from_db()
    with pytest.raises(PermissionDenied):
        chat.post_chat_message(host, "after the end")
    assert not ChatMessage.objects.exists()


# --- Ending ---------------------------------------------------------------------------------


def test_it_lets_the_owner_end_the_meeting_once(meeting, owner, committed, events):
    host = services.join_meeting(meeting, user=owner.user)
    guest = services.join_meeting(meeting, session_key="guest-15", name="Gus")
    with committed():
        assert services.end_meeting(meeting, owner.user) is True
    with committed():
        assert services.end_meeting(meeting, owner.user) is False
    meeting.refresh_from_db()
    assert meeting.is_ended
    assert set(meeting.participants.values_list("state", flat=True)) == {LEFT}
    assert all(p.left_at is not None for p in Participant.objects.filter(pk__in=[host.pk, guest.pk]))
    ended = [body for e, body in events.of(meeting_group(meeting.public_id)) if e == "meeting.ended"]
    assert ended == [{"by": "Olga Owner"}]
    assert not OutboundEmail.objects.filter(kind="meeting_report").exists()


@pytest.mark.parametrize("who", ["other", "anonymous", "participant"])
def test_it_refuses_to_let_anyone_else_end_the_meeting(meeting, other, who):
    actor = AnonymousUser() if who == "anonymous" else other.user
    if who == "participant":
        services.join_meeting(meeting, user=other.user)
    with pytest.raises(PermissionDenied):
        services.end_meeting(meeting, actor)
    assert not Meeting.objects.get(pk=meeting.pk).is_ended


def test_it_lets_an_administrator_end_any_meeting(meeting):
    admin = make_user(is_staff=True, is_superuser=True)
    assert services.end_meeting(meeting, admin) is True
    assert Meeting.objects.get(pk=meeting.pk).is_ended


def test_it_lets_a_staff_member_with_meeting_rights_end_a_meeting(meeting):
    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_meeting"))
    assert services.end_meeting(meeting, staff) is True


def test_it_sends_the_report_of_a_request_meeting_to_the_agent(committed):
    ada, bob = make_extension(display_name="Ada"), make_extension(display_name="Bob")
    request = make_request(make_queue(agents=[ada, bob]), name="Vera", email="vera@example.org")
    meeting = room_services.claim_meeting_request(request.pk, ada)
    host = services.join_meeting(meeting, user=ada.user)
    visitor = services.join_meeting(meeting, session_key="visitor", invitation=meeting.invitations.get())
    chat.post_chat_message(visitor, "My router blinks red")
    chat.post_chat_message(host, "Unplug it for ten seconds")
    with committed():
        assert services.end_meeting(meeting, ada.user) is True
        assert services.end_meeting(meeting, ada.user) is False
    [report] = OutboundEmail.objects.filter(kind="meeting_report")
    assert report.to == ada.email
    for text in ("Vera", "Ada", "My router blinks red", "Unplug it for ten seconds"):
        assert text in report.body_text
        assert text in report.body_html
    assert not OutboundEmail.objects.filter(kind="meeting_report", to=bob.email).exists()
