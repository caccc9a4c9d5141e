"""Who may do what: meetings.permissions (managing a meeting, and ``can`` for every
action of the room and every kind of person) and the access helpers of both apps."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from meetings import access as meeting_access
from meetings.models import Meeting, Participant, Role, RoomType, SharePolicy
from meetings.permissions import RULES, active_participant, can, can_manage_meeting, role_may_share
from rooms import access as room_access
from tests.factories import make_extension, make_meeting, make_participant, make_queue, make_request, make_user

pytestmark = pytest.mark.django_db

ALL_ACTIONS = sorted(RULES)


@pytest.fixture
def owner():
    return make_extension(display_name="Olga Owner")


@pytest.fixture
def other():
    return make_extension(display_name="Otto Other")


@pytest.fixture
def meeting(owner):
    return make_meeting(owner)


# --- meetings.permissions -------------------------------------------------------------------


def test_it_lets_the_owner_manage_the_meeting(meeting, owner):
    assert can_manage_meeting(owner.user, meeting)


def test_it_lets_an_organizer_in_the_meeting_manage_it(meeting, other):
    make_participant(meeting, user=other.user, role=Role.ORGANIZER)
    assert can_manage_meeting(other.user, meeting)


def test_it_stops_an_organizer_who_left_from_managing(meeting, other):
    make_participant(meeting, user=other.user, role=Role.ORGANIZER, state=Participant.State.LEFT)
    assert not can_manage_meeting(other.user, meeting)


@pytest.mark.parametrize("role", [Role.PRESENTER, Role.PARTICIPANT])
def test_it_refuses_management_to_presenters_and_participants(meeting, other, role):
    make_participant(meeting, user=other.user, role=role)
    assert not can_manage_meeting(other.user, meeting)


def test_it_refuses_management_to_another_extension(meeting, other):
    assert not can_manage_meeting(other.user, meeting)


def test_it_refuses_management_to_a_staff_user_who_is_not_in_the_meeting(meeting):
    assert not can_manage_meeting(make_user(is_staff=True), meeting)


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_it_refuses_management_to_anonymous_visitors(meeting, user):
    assert not can_manage_meeting(user, meeting)


def test_it_finds_the_active_participant_of_a_user(meeting, owner, other):
    row = make_participant(meeting, user=other.user)
    assert active_participant(other.user, meeting) == row
    assert active_participant(owner.user, meeting) is None
    assert active_participant(AnonymousUser(), meeting) is None
    Participant.objects.filter(pk=row.pk).update(state=Participant.State.LEFT)
    assert active_participant(other.user, meeting) is None


# --- meetings.permissions.can: every action of the room for every kind of person --------


@pytest.fixture
def room_meeting():
    """A shared room (the meeting above is a private one)."""
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    return make_meeting(owner, room_type=RoomType.SHARED)


@pytest.fixture
def people(room_meeting):
    """The creator, another organizer, a presenter, a participant and a lobby guest."""
    return {
        "creator": make_participant(room_meeting, user=room_meeting.owner, role=Role.ORGANIZER, name="Cora"),
        "organizer": make_participant(room_meeting, user=make_user(), role=Role.ORGANIZER, name="Olaf"),
        "presenter": make_participant(room_meeting, role=Role.PRESENTER, name="Pia"),
        "participant": make_participant(room_meeting, name="Paul"),
        "lobby": make_participant(room_meeting, name="Lou", state=Participant.State.LOBBY),
    }


def _allowed(people, action, target=None) -> set[str]:
    return {who for who, person in people.items() if can(person, action, people.get(target) if target else None)}


@pytest.mark.parametrize(
    ("policy", "sharers"),
    [
        (SharePolicy.ORGANIZERS, {"creator", "organizer"}),
        (SharePolicy.PRESENTERS, {"creator", "organizer", "presenter"}),
        (SharePolicy.EVERYONE, {"creator", "organizer", "presenter", "participant"}),
    ],
)
def test_it_lets_the_share_policy_decide_who_shares(room_meeting, people, policy, sharers):
    Meeting.objects.filter(pk=room_meeting.pk).update(share_policy=policy)
    room_meeting.refresh_from_db()
    for person in people.values():
        person.meeting = room_meeting
    assert _allowed(people, "share") == sharers
    assert _allowed(people, "share_document") == sharers
    assert {role for role in Role.values if role_may_share(role, policy)} == {people[s].role for s in sharers}


def test_it_lets_organizers_moderate_everyone_but_the_creator(people):
    assert _allowed(people, "moderate") == {"creator", "organizer"}
    assert _allowed(people, "moderate", "participant") == {"creator", "organizer"}
    assert _allowed(people, "moderate", "organizer") == {"creator", "organizer"}
    # The creator cannot be moderated by other organizers, only by themselves.
    assert _allowed(people, "moderate", "creator") == {"creator"}
    assert _allowed(people, "change_role", "creator") == {"creator"}
    assert _allowed(people, "change_role", "presenter") == {"creator", "organizer"}


def test_it_lets_nobody_kick_themselves_or_the_creator(people):
    assert _allowed(people, "kick", "participant") == {"creator", "organizer"}
    assert _allowed(people, "kick", "organizer") == {"creator"}
    assert _allowed(people, "kick", "creator") == set()


def test_it_lets_the_sharer_or_an_organizer_stop_a_share(people):
    assert _allowed(people, "stop_share", "presenter") == {"creator", "organizer", "presenter"}
    assert _allowed(people, "stop_share", "participant") == {"creator", "organizer", "participant"}
    assert _allowed(people, "stop_share", "creator") == {"creator"}


def test_it_keeps_the_lobby_and_the_end_to_organizers(people):
    for action in ("manage_lobby", "end_meeting"):
        assert _allowed(people, action) == {"creator", "organizer"}, action


def test_it_gives_presenters_polls_and_remote_control_answers(people):
    for action in ("run_poll", "answer_remote_control"):
        assert _allowed(people, action) == {"creator", "organizer", "presenter"}, action


def test_it_lets_everyone_in_the_room_chat_react_signal_and_ask_for_control(people):
    joined = {"creator", "organizer", "presenter", "participant"}
    for action in ("chat", "react", "signal", "media", "request_remote_control"):
        assert _allowed(people, action) == joined, action


def test_it_follows_the_chat_right(people):
    Participant.objects.filter(pk=people["participant"].pk).update(chat_allowed=False)
    people["participant"].refresh_from_db()
    assert not can(people["participant"], "chat")
    assert can(people["participant"], "react")


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_it_lets_a_lobby_guest_do_nothing(people, action):
    assert not can(people["lobby"], action, people["participant"])


@pytest.mark.parametrize("state", [Participant.State.LEFT, Participant.State.KICKED, Participant.State.REJECTED])
def test_it_lets_someone_out_of_the_room_do_nothing(people, state):
    creator = people["creator"]
    creator.state = state
    assert not any(can(creator, action, people["participant"]) for action in ALL_ACTIONS)


def test_it_lets_a_banned_participant_or_anyone_in_an_ended_meeting_do_nothing(room_meeting, people):
    people["organizer"].is_banned = True
    assert not any(can(people["organizer"], action) for action in ALL_ACTIONS)
    room_meeting.ended_at = timezone.now()
    assert not any(can(people["creator"], action) for action in ALL_ACTIONS)


def test_it_refuses_targets_in_another_meeting(room_meeting, people):
    elsewhere = make_participant(make_meeting(make_extension(), room_type=RoomType.SHARED), name="Stranger")
    for action in ("moderate", "kick", "change_role", "stop_share"):
        assert not can(people["creator"], action, elsewhere), action


def test_it_treats_none_as_nobody_and_an_unknown_action_as_a_bug(people):
    assert not can(None, "chat")
    with pytest.raises(KeyError):
        can(people["creator"], "launch_rockets")


# --- meetings.access ------------------------------------------------------------------------


def test_it_finds_a_meeting_by_public_id_or_404(meeting):
    assert meeting_access.meeting_by_public_id(meeting.public_id) == meeting
    for public_id in ("", None, "nope", str(meeting.pk), meeting.public_id[:-1]):
        with pytest.raises(Http404):
            meeting_access.meeting_by_public_id(public_id)


def test_it_gives_the_meeting_to_its_manager_only(meeting, owner, other):
    assert meeting_access.meeting_for_manager(owner.user, meeting.public_id) == meeting
    for user in (other.user, AnonymousUser(), make_user()):
        with pytest.raises(PermissionDenied):
            meeting_access.meeting_for_manager(user, meeting.public_id)
    with pytest.raises(Http404):
        meeting_access.meeting_for_manager(owner.user, "missing")


def test_it_finds_the_callers_own_participant_row(meeting, other):
    member = make_participant(meeting, user=other.user)
    guest = make_participant(meeting, session_key="guest-session")
    assert meeting_access.participant_for_session(meeting, other.user, None) == member
    assert meeting_access.participant_for_session(meeting, AnonymousUser(), "guest-session") == guest
    assert meeting_access.participant_for_session(meeting, None, "guest-session") == guest


def test_it_refuses_a_caller_without_a_participant_row(meeting, owner, other):
    make_participant(meeting, session_key="guest-session")
    make_participant(meeting, user=other.user)
    cases = [
        (AnonymousUser(), None),
        (AnonymousUser(), ""),
        (AnonymousUser(), "another-session"),
        # A logged-in user is known by the account, never by a guest session.
        (owner.user, "guest-session"),
    ]
    for user, session_key in cases:
        with pytest.raises(PermissionDenied):
            meeting_access.participant_for_session(meeting, user, session_key)


def test_it_does_not_find_a_guest_row_of_another_meeting(meeting, owner):
    elsewhere = make_meeting(owner)
    make_participant(elsewhere, session_key="guest-session")
    with pytest.raises(PermissionDenied):
        meeting_access.participant_for_session(meeting, None, "guest-session")


def test_it_finds_the_callers_own_row_of_a_room_by_its_public_id_in_one_query(meeting, other, django_assert_num_queries):
    member = make_participant(meeting, user=other.user)
    guest = make_participant(meeting, session_key="guest-session")
    with django_assert_num_queries(1):
        found = meeting_access.participant_for_room(meeting.public_id, AnonymousUser(), "guest-session")
        assert (found, found.meeting.public_id) == (guest, meeting.public_id)
    assert meeting_access.participant_for_room(meeting.public_id, other.user, None) == member


def test_it_tells_a_room_that_is_not_there_from_a_caller_who_is_not_in_it(meeting, owner, other):
    make_participant(meeting, session_key="guest-session")
    make_participant(make_meeting(owner), user=other.user)  # in another meeting only
    for public_id in ("no-such-meeting", ""):
        with pytest.raises(Http404):
            meeting_access.participant_for_room(public_id, None, "guest-session")
    for user, session_key in [
        (AnonymousUser(), None),
        (AnonymousUser(), "another-session"),
        (owner.user, "guest-session"),
        (other.user, None),
    ]:
        with pytest.raises(PermissionDenied):
            meeting_access.participant_for_room(meeting.public_id, user, session_key)


# --- rooms.access ---------------------------------------------------------------------------


def test_it_gives_an_extension_user_their_extension(owner):
    assert room_access.extension_for(owner.user) == owner


@pytest.mark.parametrize("kind", ["none", "anonymous", "plain", "staff"])
def test_it_refuses_the_web_client_to_users_without_extension(kind):
    user = {"none": None, "anonymous": AnonymousUser()}.get(kind) or make_user(is_staff=kind == "staff")
    with pytest.raises(PermissionDenied):
        room_access.extension_for(user)


def test_it_gives_an_agent_their_own_and_their_queues_requests(owner, other):
    personal = make_request(owner)
    queued = make_request(make_queue(agents=[owner, other]))
    assert room_access.request_for_agent(owner.user, personal.pk) == (owner, personal)
    assert room_access.request_for_agent(other.user, queued.pk) == (other, queued)


def test_it_hides_other_agents_requests_as_not_found(owner, other):
    personal = make_request(owner)
    other_queue = make_request(make_queue(agents=[owner]))
    for request_id in (personal.pk, other_queue.pk, 999_999, "abc", None):
        with pytest.raises(Http404):
            room_access.request_for_agent(other.user, request_id)


def test_it_refuses_requests_to_anonymous_and_plain_users(owner):
    request = make_request(owner)
    for user in (AnonymousUser(), make_user()):
        with pytest.raises(PermissionDenied):
            room_access.request_for_agent(user, request.pk)


def test_it_shows_a_request_only_to_the_visitor_session_that_made_it(owner):
    request = make_request(owner, session_key="visitor-session")
    assert room_access.request_for_visitor(request.token, "visitor-session") == request
    for token, session_key in (
        (request.token, "another-session"),
        (request.token, None),
        (request.token, ""),
        ("unknown", "visitor-session"),
    ):
        with pytest.raises(Http404):
            room_access.request_for_visitor(token, session_key)
