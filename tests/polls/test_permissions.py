"""meetings.permissions.can for polls: who runs them (``run_poll``) and who answers
them (``answer_poll``), for every role and for people out of the room."""

import pytest
from django.utils import timezone

from meetings.models import Meeting, Participant, Role, RoomType
from meetings.permissions import can
from tests.factories import make_extension, make_meeting, make_participant, make_user

pytestmark = pytest.mark.django_db

JOINED, LOBBY, LEFT, KICKED, REJECTED = (
    Participant.State.JOINED,
    Participant.State.LOBBY,
    Participant.State.LEFT,
    Participant.State.KICKED,
    Participant.State.REJECTED,
)


@pytest.fixture
def meeting():
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    return make_meeting(owner, room_type=RoomType.SHARED)


def _person(meeting, role: str, state: str = JOINED, banned: bool = False) -> Participant:
    return make_participant(meeting, user=make_user(), role=role, state=state, banned=banned)


@pytest.mark.parametrize(
    ("role", "runs", "answers"),
    [(Role.ORGANIZER, True, True), (Role.PRESENTER, True, True), (Role.PARTICIPANT, False, True)],
)
def test_it_lets_organizers_and_presenters_run_polls_and_everyone_in_the_room_answer(meeting, role, runs, answers):
    person = _person(meeting, role)
    assert (can(person, "run_poll"), can(person, "answer_poll")) == (runs, answers)


def test_it_lets_the_creator_run_and_answer_polls(meeting):
    creator = make_participant(meeting, user=meeting.owner, role=Role.ORGANIZER)
    assert creator.is_creator
    assert (can(creator, "run_poll"), can(creator, "answer_poll")) == (True, True)


@pytest.mark.parametrize("state", [LOBBY, LEFT, KICKED, REJECTED])
@pytest.mark.parametrize("role", [Role.ORGANIZER, Role.PRESENTER, Role.PARTICIPANT])
def test_it_lets_nobody_out_of_the_room_run_or_answer_a_poll(meeting, state, role):
    person = _person(meeting, role, state=state)
    assert (can(person, "run_poll"), can(person, "answer_poll")) == (False, False)


@pytest.mark.parametrize("role", [Role.ORGANIZER, Role.PRESENTER, Role.PARTICIPANT])
def test_it_lets_no_banned_person_run_or_answer_a_poll(meeting, role):
    person = _person(meeting, role, banned=True)
    assert (can(person, "run_poll"), can(person, "answer_poll")) == (False, False)


@pytest.mark.parametrize("role", [Role.ORGANIZER, Role.PRESENTER, Role.PARTICIPANT])
def test_it_lets_nobody_run_or_answer_a_poll_once_the_meeting_ended(meeting, role):
    person = _person(meeting, role)
    assert can(person, "answer_poll")
    Meeting.objects.filter(pk=meeting.pk).update(ended_at=timezone.now())
    person = Participant.objects.select_related("meeting").get(pk=person.pk)
    assert (can(person, "run_poll"), can(person, "answer_poll")) == (False, False)


def test_it_follows_a_role_change(meeting):
    person = _person(meeting, Role.PARTICIPANT)
    assert not can(person, "run_poll")
    person.role = Role.PRESENTER
    assert can(person, "run_poll")
    person.role = Role.PARTICIPANT
    assert not can(person, "run_poll")


def test_it_answers_no_for_nobody():
    assert (can(None, "run_poll"), can(None, "answer_poll")) == (False, False)
