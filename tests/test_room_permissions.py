"""meetings.permissions.can: every action of the room for every kind of person."""

import pytest
from django.utils import timezone

from meetings.models import Meeting, Participant, Role, RoomType, SharePolicy
from meetings.permissions import RULES, can, role_may_share
from tests.factories import make_extension, make_meeting, make_participant, make_user

pytestmark = pytest.mark.django_db

ALL_ACTIONS = sorted(RULES)


@pytest.fixture
def meeting():
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    return make_meeting(owner, room_type=RoomType.SHARED)


@pytest.fixture
def people(meeting):
    """The creator, another organizer, a presenter, a participant and a lobby guest."""
    return {
        "creator": make_participant(meeting, user=meeting.owner, role=Role.ORGANIZER, name="Cora"),
        "organizer": make_participant(meeting, user=make_user(), role=Role.ORGANIZER, name="Olaf"),
        "presenter": make_participant(meeting, role=Role.PRESENTER, name="Pia"),
        "participant": make_participant(meeting, name="Paul"),
        "lobby": make_participant(meeting, name="Lou", state=Participant.State.LOBBY),
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
def test_it_lets_the_share_policy_decide_who_shares(meeting, people, policy, sharers):
    Meeting.objects.filter(pk=meeting.pk).update(share_policy=policy)
    meeting.refresh_from_db()
    for person in people.values():
        person.meeting = meeting
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


def test_it_lets_a_banned_participant_or_anyone_in_an_ended_meeting_do_nothing(meeting, people):
    people["organizer"].is_banned = True
    assert not any(can(people["organizer"], action) for action in ALL_ACTIONS)
    meeting.ended_at = timezone.now()
    assert not any(can(people["creator"], action) for action in ALL_ACTIONS)


def test_it_refuses_targets_in_another_meeting(meeting, people):
    elsewhere = make_participant(make_meeting(make_extension(), room_type=RoomType.SHARED), name="Stranger")
    for action in ("moderate", "kick", "change_role", "stop_share"):
        assert not can(people["creator"], action, elsewhere), action


def test_it_treats_none_as_nobody_and_an_unknown_action_as_a_bug(people):
    assert not can(None, "chat")
    with pytest.raises(KeyError):
        can(people["creator"], "launch_rockets")
