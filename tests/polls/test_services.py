"""polls.services: the Polling Repository, runs in a meeting (start, vote, close, share,
stop sharing, the PDF request), summaries, the timer (with a real Celery worker too)
and the events each change publishes."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import leases
from meetings import services as meeting_services
from meetings.models import Meeting, Participant, Role, RoomType
from meetings.roomkit import meeting_group
from polls import services, tasks
from polls.models import DURATION_MIN, Ballot, Choice, Poll, PollRun, Question, Vote
from polls.services import PollError
from tests.factories import Events, make_extension, make_meeting, make_participant, make_user
from tests.polls.helpers import QUESTIONS, answers, make_poll, poll_fields

pytestmark = pytest.mark.django_db

TIMER_TIMEOUT = 30.0


def stored(run: PollRun) -> tuple[int, int]:
    return Ballot.objects.filter(run=run).count(), Vote.objects.filter(ballot__run=run).count()


def reload(run: PollRun) -> PollRun:
    return PollRun.objects.get(pk=run.pk)


def choice_counts(summary: dict) -> dict[str, int]:
    return {choice["text"]: choice["count"] for question in summary["questions"] for choice in question["choices"]}


class RoomEvents(Events):
    """``tests.factories.Events`` that also keeps the audience of each event."""

    def __init__(self):
        super().__init__()
        self.audiences: list[tuple[str, str | None]] = []

    def __call__(self, group: str, message: dict) -> bool:
        self.audiences.append((message["event"], message.get("audience")))
        return super().__call__(group, message)

    def names(self, meeting: Meeting) -> list[str]:
        return [event for event, _body in self.of(meeting_group(meeting.public_id))]

    def clear(self) -> None:
        self.sent.clear()
        self.audiences.clear()


@pytest.fixture
def events(monkeypatch) -> RoomEvents:
    recorder = RoomEvents()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


@pytest.fixture
def pdf_tasks(monkeypatch) -> list[int]:
    """Run ids the PDF task was enqueued for (the renderer is another piece of work)."""
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.render_results_pdf, "delay", enqueued.append)
    return enqueued


@dataclass
class Room:
    """A meeting whose creator, organizer, presenter and one participant are extension
    users with a poll each; another participant is a guest; one person waits in the lobby."""

    meeting: Meeting
    creator: Participant
    organizer: Participant
    presenter: Participant
    participant: Participant
    guest: Participant
    lobby: Participant
    polls: dict[str, Poll]


def _room() -> Room:
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED)
    users = {"creator": owner.user, **{who: make_extension().user for who in ("organizer", "presenter", "participant", "lobby")}}
    people = {
        "creator": make_participant(meeting, user=users["creator"], role=Role.ORGANIZER, name="Cora Creator"),
        "organizer": make_participant(meeting, user=users["organizer"], role=Role.ORGANIZER, name="Olaf Organizer"),
        "presenter": make_participant(meeting, user=users["presenter"], role=Role.PRESENTER, name="Pia Presenter"),
        "participant": make_participant(meeting, user=users["participant"], name="Paul Participant"),
        "guest": make_participant(meeting, name="Gus Guest"),
        "lobby": make_participant(meeting, user=users["lobby"], name="Lou Lobby", state=Participant.State.LOBBY),
    }
    polls = {who: make_poll(user, title=f"Poll of {who}") for who, user in users.items()}
    return Room(meeting=meeting, polls=polls, **people)


@pytest.fixture
def room() -> Room:
    return _room()


def start(room: Room, who: str = "creator", **poll_changes) -> PollRun:
    poll = room.polls[who] if not poll_changes else make_poll(getattr(room, who).user, **poll_changes)
    return services.start_poll(getattr(room, who), poll.pk)


def closed_run(room: Room, **poll_changes) -> PollRun:
    run = start(room, **poll_changes)
    return services.close_poll(room.creator, run.pk)


# --- The repository ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"questions": []}, "questions"),
        ({"questions": None}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": ["Yes"]}]}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": ["Yes", "  "]}]}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": ["Yes", "yes "]}]}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": [f"Choice {n}" for n in range(11)]}]}, "questions"),
        ({"questions": [{"text": "", "multiple": False, "choices": ["Yes", "No"]}]}, "questions"),
        ({"questions": [{"text": "Q" * 501, "multiple": False, "choices": ["Yes", "No"]}]}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": ["Yes", 3]}]}, "questions"),
        ({"questions": ["Yes?"]}, "questions"),
        ({"questions": [{"text": "Yes?", "multiple": False, "choices": ["Yes", "No"]}] * 21}, "questions"),
        ({"title": "T" * 10_000}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"duration_seconds": -60}, "duration_seconds"),
        ({"duration_seconds": DURATION_MIN - 1}, "duration_seconds"),
        ({"duration_seconds": 24 * 3600 + 1}, "duration_seconds"),
        ({"duration_seconds": True}, "duration_seconds"),
        ({"duration_seconds": "60"}, "duration_seconds"),
    ],
)
def test_it_refuses_a_bad_poll_and_stores_nothing(changes, field):
    owner = make_extension()
    with pytest.raises(ValidationError) as refused:
        make_poll(owner.user, **changes)
    assert field in refused.value.message_dict
    assert all(refused.value.message_dict[field])
    assert (Poll.objects.count(), Question.objects.count(), Choice.objects.count()) == (0, 0, 0)


def test_it_leaves_a_poll_as_it_was_after_a_bad_edit():
    owner = make_extension()
    poll = make_poll(owner.user)
    with pytest.raises(ValidationError):
        services.save_poll(owner.user, poll, **poll_fields(title="Renamed", questions=[]))
    poll.refresh_from_db()
    assert services.poll_data(poll) == poll_fields()


def test_it_saves_a_poll_trimmed_in_order_and_edits_it_in_place():
    owner = make_extension()
    poll = make_poll(owner.user, title="  Lunch  ", questions=[{"text": " Day? ", "choices": [" Mon", "Tue "]}, *copy.deepcopy(QUESTIONS)])
    assert services.poll_data(poll)["title"] == "Lunch"
    assert services.poll_data(poll)["questions"][0] == {"text": "Day?", "multiple": False, "choices": ["Mon", "Tue"]}
    edited = services.save_poll(owner.user, poll, **poll_fields(title="Dinner"))
    assert edited.pk == poll.pk
    assert services.poll_data(Poll.objects.get(pk=poll.pk)) == poll_fields(title="Dinner")
    assert Question.objects.count() == 2


def test_it_keeps_polls_for_extension_users_and_staff_only():
    plain, staff, owner, other = make_user(), make_user(is_staff=True), make_extension(), make_extension()
    with pytest.raises(PermissionDenied):
        make_poll(plain)
    assert Poll.objects.count() == 0
    assert make_poll(staff).owner == staff
    poll = make_poll(owner.user)
    # Someone else's poll can be neither edited nor deleted.
    with pytest.raises(PermissionDenied):
        services.save_poll(other.user, poll, **poll_fields(title="Mine now"))
    with pytest.raises(PermissionDenied):
        services.delete_poll(other.user, poll)
    assert Poll.objects.get(pk=poll.pk).title == "Team lunch"


def test_it_keeps_the_frozen_definition_and_results_of_a_run_when_the_poll_is_edited(room):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Friday"], ["Cake"]))
    services.close_poll(room.creator, run.pk)
    definition, results = reload(run).definition, services.summary(reload(run))
    poll = room.polls["creator"]
    services.save_poll(room.creator.user, poll, **poll_fields(title="Something else", questions=[{"text": "New?", "choices": ["A", "B"]}]))
    run = reload(run)
    assert (run.title, run.definition, run.poll_id) == ("Poll of creator", definition, poll.pk)
    assert services.summary(run) == results
    assert choice_counts(results) == {"Monday": 0, "Friday": 1, "Fruit": 0, "Cake": 1, "Crisps": 0}


def test_it_keeps_the_runs_of_a_deleted_poll(room):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Fruit"]))
    services.delete_poll(room.creator.user, room.polls["creator"])
    run = reload(run)
    assert run.poll is None
    assert not Poll.objects.filter(pk=room.polls["creator"].pk).exists()
    assert stored(run) == (1, 2)
    assert choice_counts(services.summary(run))["Monday"] == 1


def test_it_lists_the_callers_own_polls_to_managers_only(room):
    assert [item["title"] for item in services.polls_for_participant(room.presenter)] == ["Poll of presenter"]
    assert services.polls_for_participant(room.creator)[0]["question_count"] == 2
    for who in ("participant", "guest", "lobby"):
        with pytest.raises(PermissionDenied):
            services.polls_for_participant(getattr(room, who))


# --- Starting ---------------------------------------------------------------------------


def test_it_lets_organizers_and_presenters_start_their_polls_on_everyones_screen(room, committed, events):
    with committed():
        run = start(room, "organizer")
    assert (run.status, run.on_screen, run.started_by_id, run.started_by_name) == ("open", True, room.organizer.pk, "Olaf Organizer")
    assert [q["id"] for q in run.questions] == [1, 4]
    assert [c["id"] for c in run.questions[1]["choices"]] == [5, 6, 7]
    assert run.closes_at - run.started_at == timedelta(seconds=60)
    assert events.names(room.meeting) == ["poll.started", "poll.summary"]
    assert events.audiences == [("poll.started", None), ("poll.summary", "presenters")]
    [(_group, started)] = events.named("poll.started")
    assert "summary" not in started and "answered" not in started
    assert (started["id"], started["status"], started["started_by"]) == (run.pk, "open", room.organizer.pk)
    services.close_poll(room.organizer, run.pk)
    assert start(room, "presenter").started_by_id == room.presenter.pk


@pytest.mark.parametrize("who", ["participant", "guest", "lobby"])
def test_it_refuses_a_start_to_people_who_do_not_run_polls(room, who):
    poll = room.polls.get(who) or room.polls["creator"]
    with pytest.raises(PermissionDenied):
        services.start_poll(getattr(room, who), poll.pk)
    assert PollRun.objects.count() == 0


def test_it_refuses_a_start_to_someone_kicked_or_banned_or_in_an_ended_meeting(room):
    Participant.objects.filter(pk=room.organizer.pk).update(state=Participant.State.KICKED)
    Participant.objects.filter(pk=room.presenter.pk).update(is_banned=True)
    for who in ("organizer", "presenter"):
        with pytest.raises(PermissionDenied):
            start(room, who)
    Meeting.objects.filter(pk=room.meeting.pk).update(ended_at=timezone.now())
    with pytest.raises(PermissionDenied):
        start(room)
    assert PollRun.objects.count() == 0


@pytest.mark.parametrize("poll_id", ["other", 987_654, True, "1", None, 0, -1, 2**31, 1.0])
def test_it_says_not_found_for_a_poll_that_is_not_in_the_callers_repository(room, poll_id):
    if poll_id == "other":
        poll_id = room.polls["organizer"].pk
    with pytest.raises(PollError) as refused:
        services.start_poll(room.creator, poll_id)
    assert refused.value.code == "not_found"
    assert PollRun.objects.count() == 0


def test_it_starts_one_open_poll_at_a_time_and_a_closed_one_gives_way(room, committed, events):
    first = start(room)
    with pytest.raises(PollError) as refused:
        start(room, "organizer")
    assert refused.value.code == "poll_busy"
    assert PollRun.objects.count() == 1
    services.close_poll(room.creator, first.pk)
    with committed():
        second = start(room, "organizer")
    assert events.names(room.meeting) == ["poll.hidden", "poll.started", "poll.summary"]
    assert events.named("poll.hidden") == [(meeting_group(room.meeting.public_id), {"run_id": first.pk})]
    assert (reload(first).on_screen, reload(second).on_screen) == (False, True)
    assert services.on_screen_run(room.meeting.pk) == second


# --- Voting -----------------------------------------------------------------------------


def test_it_stores_a_vote_and_leaves_the_summary_to_the_pacer(room, committed, events):
    run = start(room)
    with committed():
        ballot = services.vote(room.participant, run.pk, answers(run, ["Friday"], ["Fruit", "Crisps"]))
    assert (ballot.participant_id, ballot.voter_name) == (room.participant.pk, "Paul Participant")
    assert sorted(Vote.objects.filter(ballot=ballot).values_list("question_id", "choice_id")) == [(1, 3), (4, 5), (4, 7)]
    assert events.audiences == []


def test_it_publishes_the_summary_that_counts_the_votes_to_the_managers(room, committed, events):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Friday"], ["Fruit", "Crisps"]))
    with committed():
        services.publish_summary(run.pk)
    assert events.audiences == [("poll.summary", "presenters")]
    [(_group, summary)] = events.named("poll.summary")
    assert (summary["run_id"], summary["answered"], summary["status"]) == (run.pk, 1, "open")
    assert choice_counts(summary) == {"Monday": 0, "Friday": 1, "Fruit": 1, "Cake": 0, "Crisps": 1}


def test_it_publishes_nothing_for_a_run_that_is_gone(room, committed, events):
    run = start(room)
    run_id = run.pk
    run.delete()
    with committed():
        services.publish_summary(run_id)
    assert events.audiences == []


def test_it_takes_one_answer_per_person_and_it_is_final(room):
    run = start(room)
    services.vote(room.guest, run.pk, answers(run, ["Monday"], ["Cake"]))
    with pytest.raises(PollError) as refused:
        services.vote(room.guest, run.pk, answers(run, ["Friday"], ["Fruit"]))
    assert refused.value.code == "already_voted"
    assert stored(run) == (1, 2)
    assert choice_counts(services.summary(run))["Monday"] == 1


def test_it_refuses_a_vote_once_the_poll_is_closed_or_its_time_ran_out(room, committed, events):
    run = start(room)
    services.close_poll(room.creator, run.pk)
    with pytest.raises(PollError) as refused:
        services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    assert refused.value.code == "poll_closed"
    services.stop_sharing(room.creator, run.pk)
    late = start(room, "organizer")
    # Still open (the timer has not run yet) but past its time.
    PollRun.objects.filter(pk=late.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    with committed(), pytest.raises(PollError) as refused:
        services.vote(room.participant, late.pk, answers(late, ["Monday"], ["Cake"]))
    assert refused.value.code == "poll_closed"
    assert stored(run) == stored(late) == (0, 0)
    assert events.sent == []


def _bad_answers(run: PollRun, bigger: PollRun) -> list:
    monday, friday = run.questions[0]["choices"][0]["id"], run.questions[0]["choices"][1]["id"]
    cake = run.questions[1]["choices"][1]["id"]
    day, snacks = run.questions[0]["id"], run.questions[1]["id"]
    foreign_choice = bigger.questions[-1]["choices"][-1]["id"]  # an id this run does not have
    return [
        [],
        None,
        "Monday",
        [{"question_id": day, "choice_ids": [monday]}],  # a question left out
        [{"question_id": day, "choice_ids": [monday]}, {"question_id": day, "choice_ids": [friday]}],  # one twice
        [{"question_id": day, "choice_ids": [cake]}, {"question_id": snacks, "choice_ids": [cake]}],  # choice of another question
        [{"question_id": day, "choice_ids": [foreign_choice]}, {"question_id": snacks, "choice_ids": [cake]}],  # of another run
        [{"question_id": day, "choice_ids": [monday, friday]}, {"question_id": snacks, "choice_ids": [cake]}],  # two on single
        [{"question_id": day, "choice_ids": []}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day, "choice_ids": [monday]}, {"question_id": snacks, "choice_ids": [cake, cake]}],
        [{"question_id": day, "choice_ids": [True]}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day, "choice_ids": [str(monday)]}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day, "choice_ids": monday}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": 999, "choice_ids": [monday]}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day, "choice_ids": [999]}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": str(day), "choice_ids": [monday]}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day, "choice_ids": [monday], "extra": 1}, {"question_id": snacks, "choice_ids": [cake]}],
        [{"question_id": day}, {"question_id": snacks, "choice_ids": [cake]}],
        [[day, monday], {"question_id": snacks, "choice_ids": [cake]}],
    ]


def test_it_refuses_answers_that_do_not_fit_the_run_and_counts_nothing(room, committed, events):
    other_meeting = make_meeting(make_extension(), room_type=RoomType.SHARED)
    other_host = make_participant(other_meeting, user=make_extension().user, role=Role.ORGANIZER)
    long_question = {"text": "Pick", "multiple": True, "choices": [f"C{n}" for n in range(10)]}
    bigger = services.start_poll(other_host, make_poll(other_host.user, questions=[long_question]).pk)
    run = start(room)
    for number, bad in enumerate(_bad_answers(run, bigger)):
        with committed(), pytest.raises(ValidationError) as refused:
            services.vote(room.participant, run.pk, bad)
        assert refused.value.messages, number
    assert stored(run) == (0, 0)
    assert events.sent == []
    # A run of another meeting is not found, whatever the answers.
    with pytest.raises(PollError) as refused:
        services.vote(room.participant, bigger.pk, [{"question_id": 1, "choice_ids": [2]}])
    assert refused.value.code == "not_found"
    for run_id in (None, "1", True, 0, 2**31, 987_654):
        with pytest.raises(PollError) as refused:
            services.vote(room.participant, run_id, answers(run, ["Monday"], ["Cake"]))
        assert refused.value.code == "not_found"
    assert stored(run) == stored(bigger) == (0, 0)
    # The same person may still answer properly.
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    assert stored(run) == (1, 2)


def test_it_refuses_votes_from_people_out_of_the_room_and_from_the_starter(room):
    run = start(room, "presenter")
    Participant.objects.filter(pk=room.guest.pk).update(state=Participant.State.KICKED)
    Participant.objects.filter(pk=room.participant.pk).update(is_banned=True)
    for who in ("guest", "participant", "lobby", "presenter"):
        with pytest.raises(PermissionDenied):
            services.vote(getattr(room, who), run.pk, answers(run, ["Monday"], ["Cake"]))
    assert stored(run) == (0, 0)
    # Organizers who did not start it answer like everyone.
    services.vote(room.creator, run.pk, answers(run, ["Monday"], ["Cake"]))
    assert stored(run) == (1, 2)


def test_it_takes_the_voter_from_the_participant_row_it_is_given(room):
    """The service has no "participant" argument a client could fill: the consumer
    passes its own participant (a body field ``participant_id`` is refused there)."""
    run = start(room)
    stale = Participant.objects.get(pk=room.guest.pk)
    stale.display_name, stale.role = "Someone Else", Role.ORGANIZER  # not saved: the service reloads
    ballot = services.vote(stale, run.pk, answers(run, ["Monday"], ["Cake"]))
    assert (ballot.participant_id, ballot.voter_name) == (room.guest.pk, "Gus Guest")


# --- Votes that arrived together (``vote_many``) ------------------------------------------


def _outcome(result) -> str:
    """A vote's result in a word: "ballot", or the code its refusal becomes on the socket."""
    if isinstance(result, Ballot):
        return "ballot"
    if isinstance(result, PermissionDenied):
        return "forbidden"
    if isinstance(result, ValidationError):
        return "invalid"
    assert isinstance(result, PollError), result
    return result.code


def test_it_writes_votes_that_arrived_together_each_with_its_own_result(room, committed, events):
    closed = start(room, "organizer")
    services.close_poll(room.organizer, closed.pk)
    run = start(room)
    other_meeting = make_meeting(make_extension(), room_type=RoomType.SHARED)
    other_host = make_participant(other_meeting, user=make_extension().user, role=Role.ORGANIZER)
    elsewhere = services.start_poll(other_host, make_poll(other_host.user).pk)
    ann, bob, cy, dee = (make_participant(room.meeting, name=name) for name in ("Ann", "Bob", "Cy", "Dee"))
    services.vote(room.presenter, run.pk, answers(run, ["Friday"], ["Fruit"]))
    Participant.objects.filter(pk=room.guest.pk).update(state=Participant.State.KICKED)
    monday_cake = answers(run, ["Monday"], ["Cake"])
    batch = [
        (room.participant, run.pk, answers(run, ["Friday"], ["Fruit", "Crisps"]), "ballot"),
        (room.guest, run.pk, monday_cake, "forbidden"),  # kicked
        (ann, closed.pk, answers(closed, ["Monday"], ["Cake"]), "poll_closed"),
        (bob, run.pk, monday_cake, "ballot"),
        (bob, run.pk, answers(run, ["Friday"], ["Fruit"]), "already_voted"),  # twice in one batch
        (cy, run.pk, [], "invalid"),
        (cy, run.pk, monday_cake, "ballot"),  # a refused vote was not an answer
        (room.creator, run.pk, monday_cake, "forbidden"),  # runs it
        (room.lobby, run.pk, monday_cake, "forbidden"),
        (dee, str(run.pk), monday_cake, "not_found"),
        (dee, elsewhere.pk, answers(elsewhere, ["Monday"], ["Cake"]), "not_found"),
        (room.presenter, run.pk, monday_cake, "already_voted"),  # before this batch
        (dee, run.pk, [{**monday_cake[0], "choice_ids": [1, 2]}, monday_cake[1]], "invalid"),
        (dee, run.pk, monday_cake, "ballot"),
    ]
    with committed():
        results = services.vote_many([services.VoteRequest(who, run_id, picks) for who, run_id, picks, _expected in batch])
    assert [_outcome(result) for result in results] == [expected for *_request, expected in batch]
    assert all(
        result.messages if isinstance(result, ValidationError) else str(result) for result in results if not isinstance(result, Ballot)
    )
    assert [(r.participant_id, r.voter_name) for r in results if isinstance(r, Ballot)] == [
        (room.participant.pk, "Paul Participant"),
        (bob.pk, "Bob"),
        (cy.pk, "Cy"),
        (dee.pk, "Dee"),
    ]
    assert stored(run) == (5, 11)
    assert stored(closed) == stored(elsewhere) == (0, 0)
    assert choice_counts(services.summary(reload(run))) == {"Monday": 3, "Friday": 2, "Fruit": 2, "Cake": 3, "Crisps": 1}
    assert events.audiences == []  # the summary is the pacer's (polls.ballot_box)


def test_it_writes_votes_of_runs_of_several_meetings_in_one_batch(room):
    run = start(room)
    other_meeting = make_meeting(make_extension(), room_type=RoomType.SHARED)
    other_host = make_participant(other_meeting, user=make_extension().user, role=Role.ORGANIZER)
    elsewhere = services.start_poll(other_host, make_poll(other_host.user).pk)
    visitor = make_participant(other_meeting, name="Vic Visitor")
    results = services.vote_many(
        [
            services.VoteRequest(room.guest, run.pk, answers(run, ["Monday"], ["Cake"])),
            services.VoteRequest(visitor, elsewhere.pk, answers(elsewhere, ["Friday"], ["Fruit"])),
            services.VoteRequest(visitor, run.pk, answers(run, ["Friday"], ["Fruit"])),  # not their meeting
        ]
    )
    assert [_outcome(result) for result in results] == ["ballot", "ballot", "not_found"]
    assert stored(run) == stored(elsewhere) == (1, 2)


def test_it_writes_a_batch_in_the_same_few_queries_whatever_its_size(room):
    run = start(room)
    voters = [make_participant(room.meeting, name=f"Voter {n}") for n in range(40)]
    picks = answers(run, ["Friday"], ["Fruit", "Cake"])
    queries = []
    for few_or_many in (voters[:2], voters[2:]):
        with CaptureQueriesContext(connection) as captured:
            results = services.vote_many([services.VoteRequest(voter, run.pk, picks) for voter in few_or_many])
        assert {_outcome(result) for result in results} == {"ballot"}
        queries.append(len(captured))
    # Voters, their meeting, runs, earlier ballots, ballots, votes (and the savepoint around them).
    assert queries[0] == queries[1] <= 8
    assert stored(run) == (40, 120)


def test_it_writes_ballots_one_by_one_where_a_bulk_insert_gives_no_ids_back(room, monkeypatch):
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)  # SQLite before 3.35
    run = start(room)
    picks = answers(run, ["Friday"], ["Fruit", "Cake"])
    results = services.vote_many([services.VoteRequest(who, run.pk, picks) for who in (room.guest, room.participant)])
    assert [_outcome(result) for result in results] == ["ballot", "ballot"]
    assert [sorted(Vote.objects.filter(ballot=ballot).values_list("choice_id", flat=True)) for ballot in results] == [[3, 5, 6]] * 2
    assert stored(run) == (2, 6)


# --- Votes against other writers, each thread with its own connection -------------------


def _in_threads(*calls):
    """Run each call in its own thread (its own database connection), all released at
    once; return each one's result or what it raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as exc:  # reported by the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_counts_exact_when_batches_and_a_close_race():
    room = _room()
    voters = [make_participant(room.meeting, name=f"Voter {n}") for n in range(24)]
    for _round in range(4):
        run = start(room)
        picks = answers(run, ["Monday"], ["Cake"])
        # Three batches, each voter in two of them (two sockets, two web processes),
        # in orders of their own; the organizer closes the run meanwhile.
        batches = [voters[0:16], list(reversed(voters[8:24])), voters[16:24] + voters[0:8]]

        def vote_batch(batch, run_id=run.pk, picks=picks):
            return services.vote_many([services.VoteRequest(voter, run_id, picks) for voter in batch])

        outcomes = _in_threads(
            *(lambda batch=batch: vote_batch(batch) for batch in batches), lambda run_id=run.pk: services.close_poll(room.creator, run_id)
        )
        assert isinstance(outcomes[-1], PollRun), outcomes[-1]
        results = [result for batch_results in outcomes[:-1] for result in batch_results]
        assert {_outcome(result) for result in results} <= {"ballot", "already_voted", "poll_closed"}, results
        closed = reload(run)
        ballots = list(Ballot.objects.filter(run=run))
        assert len(ballots) == sum(isinstance(result, Ballot) for result in results)
        assert len({ballot.participant_id for ballot in ballots}) == len(ballots)  # once each
        assert all(ballot.created_at <= closed.closed_at for ballot in ballots)  # none after the close
        assert services.summary(closed)["answered"] == len(ballots)
        assert stored(run) == (len(ballots), 2 * len(ballots))
        services.stop_sharing(room.creator, run.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database, never one row")
@pytest.mark.django_db(transaction=True)
def test_it_writes_a_batch_without_waiting_for_a_voter_whose_row_is_held_and_sees_the_kick_that_held_it():
    room = _room()
    run = start(room)
    picks = answers(run, ["Monday"], ["Cake"])
    held, release = threading.Event(), threading.Event()

    def kick_slowly():
        with transaction.atomic():
            guest = Participant.objects.select_for_update().get(pk=room.guest.pk)
            held.set()
            assert release.wait(timeout=30)
            guest.state = Participant.State.KICKED
            guest.save(update_fields=["state"])

    def vote_when_held():
        assert held.wait(timeout=30)
        return services.vote_many([services.VoteRequest(who, run.pk, picks) for who in (room.participant, room.guest, room.organizer)])

    def release_once_the_others_are_in():
        assert held.wait(timeout=30)
        deadline = time.monotonic() + 15
        while Ballot.objects.filter(run=run).count() < 2:
            assert time.monotonic() < deadline, "the batch waited for the held row"
            time.sleep(0.02)
        counted_while_held = sorted(Ballot.objects.filter(run=run).values_list("participant_id", flat=True))
        release.set()
        return counted_while_held

    kicked, results, counted_while_held = _in_threads(kick_slowly, vote_when_held, release_once_the_others_are_in)
    assert kicked is None
    assert counted_while_held == sorted([room.participant.pk, room.organizer.pk])
    assert [_outcome(result) for result in results] == ["ballot", "forbidden", "ballot"]
    assert stored(run) == (2, 4)


# --- Summaries --------------------------------------------------------------------------


def test_it_sums_up_answers_in_percent_of_those_who_answered(room):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Fruit", "Cake"]))
    services.vote(room.guest, run.pk, answers(run, ["Friday"], ["Cake"]))
    summary = services.summary(reload(run))
    day, snacks = summary["questions"]
    assert [(c["text"], c["count"], c["percent"]) for c in day["choices"]] == [("Monday", 1, 50.0), ("Friday", 1, 50.0)]
    assert [(c["text"], c["count"], c["percent"]) for c in snacks["choices"]] == [
        ("Fruit", 1, 50.0),
        ("Cake", 2, 100.0),
        ("Crisps", 0, 0.0),
    ]
    # Eligible: everyone joined but the starter (organizer, presenter, participant, guest).
    assert (summary["answered"], summary["eligible"], summary["completion"]) == (2, 4, 50.0)
    assert all("voters" not in c for c in day["choices"])


def test_it_counts_someone_who_answered_and_left_but_not_someone_who_left_without_answering(room):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    meeting_services.leave_meeting(room.participant)
    summary = services.summary(reload(run))
    assert (summary["answered"], summary["eligible"], summary["completion"]) == (1, 4, 25.0)
    meeting_services.leave_meeting(room.guest)
    summary = services.summary(reload(run))
    assert (summary["answered"], summary["eligible"], summary["completion"]) == (1, 3, 33.3)
    # Nobody who may answer: no division by zero.
    Participant.objects.filter(meeting=room.meeting).exclude(pk=room.creator.pk).update(state=Participant.State.LEFT)
    Ballot.objects.filter(run=run).delete()
    summary = services.summary(reload(run))
    assert (summary["answered"], summary["eligible"], summary["completion"]) == (0, 0, 0.0)


def test_it_names_voters_to_managers_of_a_poll_that_is_not_anonymous(room, committed, events):
    run = start(room, anonymous=False)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    services.vote(room.guest, run.pk, answers(run, ["Monday"], ["Fruit"]))
    with committed():
        services.publish_summary(run.pk)
    summary = events.named("poll.summary")[-1][1]
    monday = summary["questions"][0]["choices"][0]
    assert monday["voters"] == ["Gus Guest", "Paul Participant"]
    assert services.room_poll(room.presenter)["summary"]["questions"][0]["choices"][0]["voters"] == ["Gus Guest", "Paul Participant"]
    # Shared results never name anyone.
    services.close_poll(room.creator, run.pk)
    events.clear()
    with committed():
        services.share_results(room.creator, run.pk)
    [(_group, results)] = events.named("poll.results")
    assert all("voters" not in c for q in results["summary"]["questions"] for c in q["choices"])
    assert all("voters" not in c for q in services.room_poll(room.guest)["summary"]["questions"] for c in q["choices"])


def test_it_shows_a_participant_whether_they_answered_and_the_results_only_once_shared(room):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    mine, guests, managers = (services.room_poll(getattr(room, who)) for who in ("participant", "guest", "organizer"))
    assert (mine["id"], mine["answered"], guests["answered"]) == (run.pk, True, False)
    assert "summary" not in mine and "summary" not in guests
    assert managers["summary"]["answered"] == 1
    services.close_poll(room.creator, run.pk)
    assert "summary" not in services.room_poll(room.guest)
    services.share_results(room.creator, run.pk)
    assert services.room_poll(room.guest)["summary"]["answered"] == 1
    services.stop_sharing(room.creator, run.pk)
    assert services.room_poll(room.guest) is None


# --- Closing ----------------------------------------------------------------------------


def test_it_closes_a_poll_for_a_manager_once(room, committed, events):
    run = start(room)
    with pytest.raises(PermissionDenied):
        services.close_poll(room.participant, run.pk)
    assert reload(run).is_open
    with committed():
        services.close_poll(room.presenter, run.pk)
    run = reload(run)
    assert (run.status, run.closed_by, run.on_screen) == ("closed", "organizer", True)
    assert events.names(room.meeting) == ["poll.closed", "poll.summary"]
    assert events.named("poll.closed")[0][1] == {"run_id": run.pk, "closed_at": run.closed_at.isoformat(), "closed_by": "organizer"}
    assert events.named("poll.summary")[0][1]["status"] == "closed"
    events.clear()
    with committed():
        services.close_poll(room.creator, run.pk)
    assert reload(run).closed_at == run.closed_at
    assert events.sent == []


def test_it_closes_only_the_runs_whose_time_ran_out_as_closed_by_the_timer(room, committed, events):
    due = start(room)
    other_meeting = make_meeting(make_extension(), room_type=RoomType.SHARED)
    host = make_participant(other_meeting, user=make_extension().user, role=Role.ORGANIZER)
    running = services.start_poll(host, make_poll(host.user).pk)
    PollRun.objects.filter(pk=due.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    with committed():
        assert services.close_expired(run_id=running.pk) == 0
        assert services.close_expired() == 1
    due, running = reload(due), reload(running)
    assert (due.status, due.closed_by) == ("closed", "timer")
    assert (running.status, running.closed_by) == ("open", "")
    assert events.names(room.meeting) == ["poll.closed", "poll.summary"]
    assert events.named("poll.closed")[0][1]["closed_by"] == "timer"
    events.clear()
    with committed():
        assert services.close_expired() == 0  # a closed run stays as it is
        assert tasks.close_expired_poll(due.pk) == "closed 0"
        assert tasks.close_expired_polls() == 0
    assert events.sent == []
    PollRun.objects.filter(pk=running.pk).update(closes_at=timezone.now())
    assert tasks.close_expired_poll(running.pk) == "closed 1"
    assert tasks.close_expired_poll(987_654) == "gone"


def test_it_schedules_the_end_of_a_run_at_its_closing_time(room, committed, monkeypatch):
    scheduled: list[tuple] = []
    monkeypatch.setattr(tasks.close_expired_poll, "apply_async", lambda args, eta: scheduled.append((args, eta)))
    with committed():
        run = start(room)
    assert scheduled == [((run.pk,), run.closes_at)]


def test_it_starts_a_run_even_when_its_end_cannot_be_scheduled(room, committed, monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.close_expired_poll, "apply_async", broker_down)
    with committed():
        run = start(room)
    assert reload(run).is_open
    assert "periodic sweep closes it" in caplog.text


def test_it_closes_open_runs_when_the_meeting_ends(room, committed, events):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    with committed():
        assert meeting_services.end_meeting(room.meeting, room.creator.user)
    run = reload(run)
    assert (run.status, run.closed_by) == ("closed", "meeting_end")
    assert [name for name in events.names(room.meeting) if name.startswith("poll.")] == ["poll.closed", "poll.summary"]
    assert events.named("poll.closed")[0][1]["closed_by"] == "meeting_end"
    # Who answered still counts once everyone has left.
    assert events.named("poll.summary")[0][1]["answered"] == 1


# --- Sharing results, stopping, the PDF --------------------------------------------------


def test_it_shares_the_results_of_a_closed_poll_only(room, committed, events):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    with pytest.raises(PollError) as refused:
        services.share_results(room.creator, run.pk)
    assert refused.value.code == "poll_open"
    with pytest.raises(PermissionDenied):
        services.share_results(room.participant, run.pk)
    assert not reload(run).results_shared
    services.close_poll(room.creator, run.pk)
    with committed():
        services.share_results(room.presenter, run.pk)
    assert (reload(run).results_shared, reload(run).on_screen) == (True, True)
    [(_group, results)] = events.named("poll.results")
    assert events.audiences[-1] == ("poll.results", None)
    assert (results["id"], results["results_shared"], results["summary"]["answered"]) == (run.pk, True, 1)


def test_it_shares_an_earlier_run_in_place_of_a_closed_one_but_not_of_an_open_one(room, committed, events):
    first = closed_run(room)
    second = start(room, "organizer")
    with pytest.raises(PollError) as refused:
        services.share_results(room.creator, first.pk)
    assert refused.value.code == "poll_busy"
    services.close_poll(room.organizer, second.pk)
    with committed():
        services.share_results(room.creator, first.pk)
    assert events.names(room.meeting) == ["poll.hidden", "poll.results"]
    assert events.named("poll.hidden")[0][1] == {"run_id": second.pk}
    assert services.on_screen_run(room.meeting.pk) == first


def test_it_stops_sharing_an_open_poll_by_closing_it_first(room, committed, events):
    run = start(room)
    with pytest.raises(PermissionDenied):
        services.stop_sharing(room.guest, run.pk)
    with committed():
        services.stop_sharing(room.presenter, run.pk)
    run = reload(run)
    assert (run.status, run.closed_by, run.on_screen) == ("closed", "organizer", False)
    assert events.names(room.meeting) == ["poll.closed", "poll.summary", "poll.hidden"]
    assert events.named("poll.hidden")[0][1] == {"run_id": run.pk}
    # Off screen: a new poll starts without anything to hide.
    events.clear()
    with committed():
        start(room, "organizer")
    assert events.names(room.meeting) == ["poll.started", "poll.summary"]


def test_it_refuses_changes_to_a_run_of_another_meeting(room):
    other_meeting = make_meeting(make_extension(), room_type=RoomType.SHARED)
    host = make_participant(other_meeting, user=make_extension().user, role=Role.ORGANIZER)
    foreign = services.start_poll(host, make_poll(host.user).pk)
    for change in (services.close_poll, services.share_results, services.stop_sharing, services.request_pdf):
        with pytest.raises(PollError) as refused:
            change(room.creator, foreign.pk)
        assert refused.value.code == "not_found", change.__name__
    assert (reload(foreign).status, reload(foreign).on_screen) == ("open", True)


def test_it_gives_the_pdf_to_managers_and_to_participants_once_results_are_shared(room, committed, events, pdf_tasks):
    run = start(room)
    with pytest.raises(PollError) as refused:
        services.request_pdf(room.creator, run.pk)
    assert refused.value.code == "poll_open"
    services.close_poll(room.creator, run.pk)
    with pytest.raises(PermissionDenied):
        services.request_pdf(room.participant, run.pk)
    assert pdf_tasks == []
    # A manager may before sharing; only managers hear of it.
    with committed():
        state = services.request_pdf(room.presenter, run.pk)
    assert state == {"run_id": run.pk, "status": "rendering", "url": None, "error": None}
    assert pdf_tasks == [run.pk]
    assert events.audiences == [("poll.pdf", "presenters")]
    # Already rendering: asked once only.
    with committed():
        assert services.request_pdf(room.creator, run.pk)["status"] == "rendering"
    assert pdf_tasks == [run.pk]
    services.share_results(room.creator, run.pk)
    assert services.request_pdf(room.participant, run.pk)["status"] == "rendering"
    with pytest.raises(PermissionDenied):
        services.request_pdf(room.lobby, run.pk)
    Participant.objects.filter(pk=room.guest.pk).update(state=Participant.State.KICKED)
    with pytest.raises(PermissionDenied):
        services.request_pdf(room.guest, run.pk)


def test_it_asks_again_for_a_pdf_whose_rendering_was_lost_and_announces_it_to_everyone_once_shared(room, committed, events, pdf_tasks):
    run = closed_run(room)
    services.share_results(room.creator, run.pk)
    PollRun.objects.filter(pk=run.pk).update(
        pdf_status=PollRun.PdfStatus.RENDERING, pdf_requested_at=timezone.now() - timedelta(seconds=services.PDF_RETRY_AFTER + 1)
    )
    with committed():
        services.request_pdf(room.guest, run.pk)
    assert pdf_tasks == [run.pk]
    assert events.audiences == [("poll.pdf", None)]


def worker_claims(run: PollRun) -> PollRun:
    """What a worker's task does first: take the render's lease (``polls.pdf``)."""
    taken = reload(run)
    assert leases.claim(taken, PollRun.objects.filter(pdf_status=PollRun.PdfStatus.RENDERING))
    return taken


def lease_runs_out(run: PollRun) -> None:
    PollRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_it_queues_again_a_pdf_whose_worker_died_once_its_lease_ran_out(room, committed, events, pdf_tasks):
    run = closed_run(room)
    services.share_results(room.creator, run.pk)
    with committed():
        services.request_pdf(room.guest, run.pk)
    worker = worker_claims(run)
    events.clear()
    # The worker holds the lease: asking again does nothing.
    with committed():
        assert services.request_pdf(room.participant, run.pk)["status"] == "rendering"
    assert (pdf_tasks, events.audiences) == ([run.pk], [])
    assert reload(run).lease_token == worker.lease_token

    # Killed: no progress, the lease runs out; asking again queues it at once.
    lease_runs_out(run)
    with committed():
        state = services.request_pdf(room.participant, run.pk)
    assert state == {"run_id": run.pk, "status": "rendering", "url": None, "error": None}
    assert pdf_tasks == [run.pk, run.pk]
    assert events.audiences == [("poll.pdf", None)]
    queued = reload(run)
    assert queued.lease_token == ""
    assert not leases.is_dead(queued)  # now waiting for a worker
    with committed():
        services.request_pdf(room.guest, run.pk)
    assert pdf_tasks == [run.pk, run.pk]


def test_the_sweep_queues_again_a_pdf_whose_worker_died_and_fails_it_after_too_many(room, committed, events, pdf_tasks):
    run = closed_run(room)
    with committed():
        services.request_pdf(room.creator, run.pk)
    worker_claims(run)
    assert services.requeue_dead_pdf_renders() == 0  # its worker is alive
    for lost in range(1, leases.MAX_EXPIRIES):
        lease_runs_out(run)
        with committed():
            assert services.requeue_dead_pdf_renders() == 1
        assert pdf_tasks == [run.pk] * (lost + 1)
        assert (reload(run).pdf_status, reload(run).lease_expiries) == ("rendering", lost)
        worker_claims(run)
    events.clear()

    lease_runs_out(run)
    with committed():
        assert services.requeue_dead_pdf_renders() == 1

    run = reload(run)
    assert (run.pdf_status, run.lease_token, run.lease_until) == ("failed", "", None)
    assert run.pdf_error == "The PDF could not be made: the worker rendering it stopped several times. Try again."
    assert pdf_tasks == [run.pk] * leases.MAX_EXPIRIES
    assert events.named("poll.pdf")[0][1] == {"run_id": run.pk, "status": "failed", "url": None, "error": run.pdf_error}
    # Asked for again by hand: a fresh start, the count of lost workers with it.
    with committed():
        services.request_pdf(room.creator, run.pk)
    assert (reload(run).pdf_status, reload(run).lease_expiries) == ("rendering", 0)
    assert len(pdf_tasks) == leases.MAX_EXPIRIES + 1


# --- The timer with a real worker --------------------------------------------------------


def _wait_closed(run_id: int) -> PollRun:
    deadline = time.monotonic() + TIMER_TIMEOUT
    while True:
        run = PollRun.objects.get(pk=run_id)
        if not run.is_open:
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"poll run {run_id} still open {TIMER_TIMEOUT:.0f} s later (closes_at {run.closes_at})")
        time.sleep(0.1)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_closes_a_run_at_its_time_through_the_scheduled_task(celery_worker, live_env):
    room = _room()
    run = start(room)  # also schedules its own end, at +60 s
    closes_at = timezone.now() + timedelta(seconds=2)
    PollRun.objects.filter(pk=run.pk).update(closes_at=closes_at)
    tasks.close_expired_poll.apply_async((run.pk,), eta=closes_at)
    closed = _wait_closed(run.pk)
    assert closed.closed_by == "timer"
    # At its time: not before (the eta held), and by this task (the other one is far off).
    assert closes_at <= closed.closed_at < run.closes_at
    celery_worker.wait_for_line("succeeded")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_closes_a_run_whose_task_was_lost_by_the_periodic_sweep(celery_worker, live_env, monkeypatch):
    def lost(*args, **kwargs):
        raise ConnectionError("the process restarted meanwhile")

    monkeypatch.setattr(tasks.close_expired_poll, "apply_async", lost)
    room = _room()
    run = start(room)
    monkeypatch.undo()
    PollRun.objects.filter(pk=run.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    tasks.close_expired_polls.delay()
    closed = _wait_closed(run.pk)
    assert closed.closed_by == "timer"
    celery_worker.wait_for_line("close_expired_polls")


# --- Completion follows who is in the room ------------------------------------------------


def test_it_tells_the_managers_the_new_completion_when_someone_leaves_or_joins(room, committed, events):
    run = start(room)
    services.vote(room.participant, run.pk, answers(run, ["Monday"], ["Cake"]))
    with committed():
        meeting_services.leave_meeting(room.guest)
    [(_group, after_leave)] = events.named("poll.summary")
    # Organizer, presenter and participant may answer (not the creator, who runs it).
    assert (after_leave["answered"], after_leave["eligible"], after_leave["completion"]) == (1, 3, 33.3)
    events.clear()
    with committed():
        meeting_services.accept_lobby(room.creator, room.lobby.pk)
    [(_group, after_join)] = events.named("poll.summary")
    assert (after_join["answered"], after_join["eligible"], after_join["completion"]) == (1, 4, 25.0)


def test_it_sends_no_summary_for_comings_and_goings_without_an_open_poll(room, committed, events):
    closed_run(room)
    events.clear()
    with committed():
        meeting_services.leave_meeting(room.guest)
    assert events.named("poll.summary") == []
