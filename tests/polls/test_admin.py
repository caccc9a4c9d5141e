"""The admin of polls: repositories and runs are looked at; "Close selected polls"
closes through the service (the room is told)."""

from __future__ import annotations

import copy

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from meetings.models import Role, RoomType
from meetings.roomkit import meeting_group
from polls import services, tasks
from polls.models import Ballot, Poll, PollRun
from tests.factories import make_extension, make_meeting, make_participant, make_user, record_events

pytestmark = pytest.mark.django_db

QUESTIONS = [
    {"text": "Which day?", "multiple": False, "choices": ["Monday", "Friday"]},
    {"text": "Which snacks?", "multiple": True, "choices": ["Fruit", "Cake", "Crisps"]},
]


@pytest.fixture(autouse=True)
def events(monkeypatch):
    monkeypatch.setattr(tasks.close_expired_poll, "apply_async", lambda *args, **kwargs: None)
    return record_events(monkeypatch)


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


@pytest.fixture
def poll(owner):
    return services.save_poll(owner.user, title="Team lunch", duration_seconds=60, anonymous=False, questions=copy.deepcopy(QUESTIONS))


def start_run(owner, poll) -> tuple[PollRun, object]:
    """An open run in the owner's meeting, answered by one guest."""
    meeting = make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)
    organizer = make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Olivia Owner")
    run = services.start_poll(organizer, poll.pk)
    guest = make_participant(meeting, name="Gus Guest")
    day, snacks = run.questions
    services.vote(
        guest,
        run.pk,
        [
            {"question_id": day["id"], "choice_ids": [day["choices"][1]["id"]]},
            {"question_id": snacks["id"], "choice_ids": [snacks["choices"][1]["id"]]},
        ],
    )
    return PollRun.objects.get(pk=run.pk), organizer


@pytest.fixture
def run(owner, poll) -> PollRun:
    return start_run(owner, poll)[0]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("model", ["poll", "pollrun", "ballot"])
def test_it_renders_every_changelist(admin_client, model, run):
    response = admin_client.get(reverse(f"admin:polls_{model}_changelist"))
    assert response.status_code == 200
    assert "Team lunch" in response.content.decode() or "Gus Guest" in response.content.decode()


def test_it_shows_a_poll_with_its_questions_and_choices(admin_client, poll):
    response = admin_client.get(reverse("admin:polls_poll_change", args=[poll.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Which snacks?" in html and "<div>Crisps</div>" in html
    assert admin_client.get(reverse("admin:polls_poll_add")).status_code == 403


def test_it_deletes_a_poll_and_keeps_its_runs(admin_client, poll, run):
    response = admin_client.post(reverse("admin:polls_poll_delete", args=[poll.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Poll.objects.filter(pk=poll.pk).exists()
    assert PollRun.objects.get(pk=run.pk).poll is None


def test_it_shows_a_run_with_its_summary(admin_client, run):
    response = admin_client.get(reverse("admin:polls_pollrun_change", args=[run.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Which day?" in html
    assert "<li>Friday — 1 (100.0 %) · Gus Guest</li>" in html
    assert "<li>Monday — 0 (0.0 %)</li>" in html
    assert 'name="_save"' not in html  # read-only


def test_it_shows_the_answers_of_a_ballot(admin_client, run):
    ballot = Ballot.objects.get(run=run)
    response = admin_client.get(reverse("admin:polls_ballot_change", args=[ballot.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<div><strong>Which day?</strong>: Friday</div>" in html
    assert "<div><strong>Which snacks?</strong>: Cake</div>" in html


def test_it_closes_selected_runs_through_the_service(admin_client, owner, poll, events, django_capture_on_commit_callbacks):
    first, _organizer = start_run(owner, poll)
    second, organizer = start_run(owner, poll)
    services.close_poll(organizer, second.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:polls_pollrun_changelist"),
            {"action": "close_runs", "_selected_action": [str(first.pk), str(second.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    assert messages_of(response) == ["1 poll closed.", "1 poll was already closed."]
    first.refresh_from_db()
    assert (first.status, first.closed_by) == (PollRun.Status.CLOSED, PollRun.ClosedBy.ORGANIZER)
    assert [body["run_id"] for _group, body in events.named("poll.closed") if _group == meeting_group(first.meeting.public_id)] == [
        first.pk
    ]


def test_it_keeps_the_poll_admin_from_non_staff(run):
    client = Client()
    client.force_login(run.meeting.owner)
    response = client.get(reverse("admin:polls_pollrun_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
