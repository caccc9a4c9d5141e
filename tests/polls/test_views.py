"""The Polling Repository pages (list, new, edit, delete), the organizer's results of
past runs with their CSV and PDF, and the PDF download of a meeting's people."""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from meetings.models import Meeting, Participant, Role, RoomType
from polls import services, tasks
from polls.models import Choice, Poll, PollRun, Question
from tests.factories import make_extension, make_meeting, make_participant, make_user, record_events

pytestmark = pytest.mark.django_db

QUESTIONS = [
    {"text": "Which day?", "multiple": False, "choices": ["Monday", "Friday"]},
    {"text": "Which snacks?", "multiple": True, "choices": ["Fruit", "Cake", "Crisps"]},
]
PDF_BYTES = b"%PDF-1.4\n% a tiny test file\n"


def make_poll(user, **changes) -> Poll:
    fields = {"title": "Team lunch", "duration_seconds": 60, "anonymous": True, "questions": copy.deepcopy(QUESTIONS), **changes}
    return services.save_poll(user, **fields)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def poll_form_data(title="Team lunch", duration="90", anonymous=True, questions=(), *, total=None, initial=0) -> dict:
    """The POST of the poll editor; ``questions`` are (text, choices text, multiple[, removed])."""
    data = {
        "title": title,
        "duration_seconds": duration,
        "questions-TOTAL_FORMS": str(total if total is not None else len(questions)),
        "questions-INITIAL_FORMS": str(initial),
        "questions-MIN_NUM_FORMS": "1",
        "questions-MAX_NUM_FORMS": str(services.MAX_QUESTIONS),
    }
    if anonymous:
        data["anonymous"] = "on"
    for index, (text, choices, multiple, *removed) in enumerate(questions):
        data[f"questions-{index}-text"] = text
        data[f"questions-{index}-choices"] = choices
        if multiple:
            data[f"questions-{index}-multiple"] = "on"
        if removed and removed[0]:
            data[f"questions-{index}-DELETE"] = "on"
    return data


def stored_polls() -> tuple[int, int, int]:
    return Poll.objects.count(), Question.objects.count(), Choice.objects.count()


@pytest.fixture(autouse=True)
def events(monkeypatch):
    return record_events(monkeypatch)


@pytest.fixture
def pdf_tasks(monkeypatch) -> list[int]:
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.render_results_pdf, "delay", enqueued.append)
    monkeypatch.setattr(tasks.close_expired_poll, "apply_async", lambda *args, **kwargs: None)
    return enqueued


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


@pytest.fixture
def member():
    """Another extension user: has a repository of their own, nothing to do with the owner's."""
    return make_extension("max", display_name="Max Member")


@pytest.fixture
def owner_client(owner):
    return logged_in(owner.user)


@pytest.fixture
def member_client(member):
    return logged_in(member.user)


@pytest.fixture
def poll(owner):
    return make_poll(owner.user)


@dataclass
class Run:
    meeting: Meeting
    organizer: Participant
    guest: Participant
    guest_client: Client
    run: PollRun

    def reload(self) -> PollRun:
        return PollRun.objects.get(pk=self.run.pk)


def guest_in(meeting: Meeting, name: str = "Gus Guest") -> tuple[Participant, Client]:
    """A guest (no account) in the meeting, known by their browser session."""
    client = Client()
    session = client.session
    session.save()
    return make_participant(meeting, session_key=session.session_key, name=name), client


def answer(run: PollRun, participant: Participant, *picks: list[str]) -> None:
    answers = []
    for question, texts in zip(run.questions, picks, strict=True):
        ids = [next(c["id"] for c in question["choices"] if c["text"] == text) for text in texts]
        answers.append({"question_id": question["id"], "choice_ids": ids})
    services.vote(participant, run.pk, answers)


def run_poll(owner, poll: Poll, *, votes: bool = True, close: bool = True) -> Run:
    """The owner runs ``poll`` in their meeting; two people answer; it is closed."""
    meeting = make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)
    organizer = make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Olivia Owner")
    guest, guest_client = guest_in(meeting, "Gus Guest")
    run = services.start_poll(organizer, poll.pk)
    if votes:
        answer(run, guest, ["Friday"], ["Fruit", "Cake"])
        answer(run, make_participant(meeting, name="Vera Voter"), ["Monday"], ["Cake"])
    if close:
        services.close_poll(organizer, run.pk)
    return Run(meeting, organizer, guest, guest_client, PollRun.objects.get(pk=run.pk))


@pytest.fixture
def ran(owner, poll, pdf_tasks) -> Run:
    return run_poll(owner, poll)


def with_ready_pdf(run: PollRun) -> PollRun:
    run.pdf.save(f"results-{run.pk}.pdf", ContentFile(PDF_BYTES), save=False)
    run.pdf_status = PollRun.PdfStatus.READY
    run.save()
    return run


def pdf_download_url(run: PollRun, meeting: Meeting | None = None) -> str:
    return reverse("poll_run_pdf", args=[(meeting or run.meeting).public_id, run.pk])


def downloaded(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Who may open the pages -----------------------------------------------------------

REPOSITORY_PAGES = ["poll_list", "poll_create"]
POLL_PAGES = ["poll_edit", "poll_delete"]
RUN_PAGES = ["poll_run_results", "poll_run_csv", "poll_run_request_pdf"]


@pytest.mark.parametrize("name", REPOSITORY_PAGES + POLL_PAGES + RUN_PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(name, poll, ran):
    args = [] if name in REPOSITORY_PAGES else [poll.pk] if name in POLL_PAGES else [ran.run.pk]
    # A guest of the meeting has no account: the organizer's pages are not for them.
    for client in (Client(), ran.guest_client):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", REPOSITORY_PAGES)
def test_it_refuses_the_repository_to_a_user_without_extension(name):
    assert logged_in(make_user()).get(reverse(name)).status_code == 403


def test_it_opens_the_repository_to_staff_without_extension():
    response = logged_in(make_user(is_staff=True)).get(reverse("poll_list"))
    assert response.status_code == 200


@pytest.mark.parametrize("name", POLL_PAGES)
def test_it_answers_not_found_for_another_users_poll(name, member_client, poll):
    url = reverse(name, args=[poll.pk])
    assert member_client.get(url).status_code == 404
    assert member_client.post(url, poll_form_data(questions=[("Hacked?", "Yes\nNo", False)])).status_code == 404
    assert Poll.objects.get(pk=poll.pk).title == "Team lunch"
    assert services.poll_data(poll)["questions"] == QUESTIONS


@pytest.mark.parametrize("name", POLL_PAGES)
def test_it_answers_not_found_for_an_unknown_poll(name, owner_client):
    assert owner_client.get(reverse(name, args=[999999])).status_code == 404


@pytest.mark.parametrize("name", RUN_PAGES)
def test_it_refuses_the_results_of_a_run_to_who_does_not_manage_its_meeting(name, member_client, ran):
    url = reverse(name, args=[ran.run.pk])
    assert member_client.get(url).status_code == 403
    assert member_client.post(url).status_code in (403, 405)
    assert ran.reload().pdf_status == ""


@pytest.mark.parametrize("name", RUN_PAGES)
def test_it_answers_not_found_for_an_unknown_run(name, owner_client):
    assert owner_client.get(reverse(name, args=[999999])).status_code == 404


@pytest.mark.parametrize("name", ["poll_run_results", "poll_run_csv"])
def test_it_shows_the_results_to_an_organizer_in_the_meeting(name, member, ran):
    make_participant(ran.meeting, user=member.user, role=Role.ORGANIZER, name="Max Member")
    assert logged_in(member.user).get(reverse(name, args=[ran.run.pk])).status_code == 200


# --- The list -------------------------------------------------------------------------


def test_it_lists_the_users_polls_and_the_runs_of_their_meetings(owner_client, owner, member, poll, ran):
    theirs = make_poll(member.user, title="Not yours at all")
    other_run = run_poll(member, theirs)
    html = owner_client.get(reverse("poll_list")).content.decode()
    assert reverse("poll_edit", args=[poll.pk]) in html and reverse("poll_delete", args=[poll.pk]) in html
    assert "Team lunch" in html and "1 min" in html
    assert "Not yours at all" not in html
    assert 'id="run-table"' in html and "Roadmap review" in html
    assert reverse("poll_run_results", args=[ran.run.pk]) in html
    assert reverse("poll_run_csv", args=[ran.run.pk]) in html
    assert reverse("poll_run_request_pdf", args=[ran.run.pk]) in html
    assert reverse("poll_run_results", args=[other_run.run.pk]) not in html


def test_it_lists_the_runs_of_a_meeting_the_user_organizes_without_owning_it(member, owner, poll, ran):
    make_participant(ran.meeting, user=member.user, role=Role.ORGANIZER, name="Max Member")
    html = logged_in(member.user).get(reverse("poll_list")).content.decode()
    assert reverse("poll_run_results", args=[ran.run.pk]) in html
    assert reverse("poll_edit", args=[poll.pk]) not in html  # the poll stays the owner's


def test_it_offers_the_pdf_link_once_ready(owner_client, ran):
    html = owner_client.get(reverse("poll_list")).content.decode()
    assert pdf_download_url(ran.run) not in html
    with_ready_pdf(ran.run)
    html = owner_client.get(reverse("poll_list")).content.decode()
    assert pdf_download_url(ran.run) in html


def test_it_links_the_repository_from_the_web_client(owner_client):
    html = owner_client.get(reverse("client")).content.decode()
    assert f'href="{reverse("poll_list")}"' in html


# --- New ------------------------------------------------------------------------------


def test_it_shows_an_empty_poll_form_that_works_without_javascript(owner_client):
    response = owner_client.get(reverse("poll_create"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="questions-0-text"' in html and 'name="questions-1-text"' in html  # one more to fill
    assert 'name="questions-__prefix__-text"' in html  # the template "Add a question" clones
    assert 'name="questions-TOTAL_FORMS"' in html
    assert 'id="question-add"' in html


def test_it_creates_a_poll_with_its_questions_and_choices(owner_client, owner):
    data = poll_form_data(
        "  Team lunch  ",
        "90",
        anonymous=False,
        questions=[("Which day?", "Monday\n\n  Friday  \n", False), ("Which snacks?", "Fruit\r\nCake\r\nCrisps", True), ("", "", False)],
    )
    response = owner_client.post(reverse("poll_create"), data)
    assert response.status_code == 302 and response["Location"] == reverse("poll_list")
    poll = Poll.objects.get(owner=owner.user)
    assert (poll.title, poll.duration_seconds, poll.anonymous) == ("Team lunch", 90, False)
    assert services.poll_data(poll)["questions"] == QUESTIONS
    assert "Team lunch" in owner_client.get(response["Location"]).content.decode()


def test_it_leaves_out_a_question_marked_for_removal(owner_client, owner):
    data = poll_form_data(questions=[("Drop me", "A\nB", False, True), ("Which day?", "Monday\nFriday", False)])
    assert owner_client.post(reverse("poll_create"), data).status_code == 302
    assert [q["text"] for q in services.poll_data(Poll.objects.get(owner=owner.user))["questions"]] == ["Which day?"]


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"questions": [("", "", False), ("", "", False)]}, "questions", "Add at least one question."),
        ({"questions": [("Which day?", "Monday\nFriday", False), ("Which snack?", "Cake", False)]}, 1, "Give at least two answer choices."),
        ({"questions": [("", "Yes\nNo", False)]}, 0, "Write the question."),
        ({"questions": [("Which day?", "Monday\nmonday", False)]}, 0, "Two answer choices are the same."),
        ({"title": "x" * 10_000}, "title", "At most 200 characters."),
        ({"title": "   "}, "title", "Give the poll a title."),
        ({"duration": "-30"}, "duration_seconds", "From 10 seconds to 24 hours."),
        ({"duration": "ten"}, "duration_seconds", "Enter a number of seconds."),
    ],
)
def test_it_shows_what_is_wrong_next_to_it_and_stores_nothing(owner_client, changes, where, message):
    fields = {"questions": [("Which day?", "Monday\nFriday", False)], **changes}
    response = owner_client.post(reverse("poll_create"), poll_form_data(**fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    form, formset = response.context["form"], response.context["formset"]
    if where == "questions":
        assert message in formset.non_form_errors()
    elif isinstance(where, int):
        assert formset.forms[where].non_field_errors() == [message]
        assert all(not f.errors for i, f in enumerate(formset.forms) if i != where)  # on the right question only
    else:
        assert form.errors[where] == [message]
    assert stored_polls() == (0, 0, 0)


def test_it_shows_every_error_at_once(owner_client):
    data = poll_form_data("", "5", questions=[("Fine?", "Yes\nNo", False), ("Lonely?", "Alone", False)])
    response = owner_client.post(reverse("poll_create"), data)
    form, formset = response.context["form"], response.context["formset"]
    assert form.errors["title"] == ["Give the poll a title."]
    assert form.errors["duration_seconds"] == ["From 10 seconds to 24 hours."]
    assert formset.forms[1].non_field_errors() == ["Give at least two answer choices."]
    # What was typed stays in the form.
    html = response.content.decode()
    assert "Lonely?" in html and "Alone" in html
    assert stored_polls() == (0, 0, 0)


def test_it_refuses_more_questions_than_allowed(owner_client):
    too_many = [(f"Question {n}?", "Yes\nNo", False) for n in range(services.MAX_QUESTIONS + 1)]
    response = owner_client.post(reverse("poll_create"), poll_form_data(questions=too_many))
    assert f"At most {services.MAX_QUESTIONS} questions." in response.content.decode()
    assert stored_polls() == (0, 0, 0)


def test_it_refuses_to_create_for_a_user_without_extension():
    response = logged_in(make_user()).post(reverse("poll_create"), poll_form_data(questions=[("Which day?", "Monday\nFriday", False)]))
    assert response.status_code == 403
    assert stored_polls() == (0, 0, 0)


# --- Edit -----------------------------------------------------------------------------


def test_it_shows_the_poll_in_the_edit_form(owner_client, poll):
    response = owner_client.get(reverse("poll_edit", args=[poll.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="Team lunch"' in html and 'value="Which snacks?"' in html
    assert "Fruit\nCake\nCrisps</textarea>" in html
    assert 'name="questions-INITIAL_FORMS" value="2"' in html
    assert 'name="questions-2-text"' in html  # one empty question to add without JavaScript


def test_it_edits_a_poll_and_the_past_run_keeps_its_results(owner_client, poll, ran):
    before = services.summary(ran.run)
    data = poll_form_data(
        "Friday lunch",
        "300",
        questions=[("Which day?", "Monday\nFriday", False, True), ("Which drinks?", "Tea\nCoffee", True), ("", "", False)],
        initial=2,
    )
    response = owner_client.post(reverse("poll_edit", args=[poll.pk]), data)
    assert response.status_code == 302
    assert services.poll_data(Poll.objects.get(pk=poll.pk)) == {
        "title": "Friday lunch",
        "duration_seconds": 300,
        "anonymous": True,
        "questions": [{"text": "Which drinks?", "multiple": True, "choices": ["Tea", "Coffee"]}],
    }
    assert ran.reload().title == "Team lunch"
    assert services.summary(ran.reload()) == before
    html = owner_client.get(reverse("poll_run_results", args=[ran.run.pk])).content.decode()
    assert "Which snacks?" in html and "Which drinks?" not in html


def test_it_changes_nothing_on_an_invalid_edit(owner_client, poll):
    before = services.poll_data(poll)
    data = poll_form_data("x" * 10_000, "-1", questions=[("Only one?", "Yes", False), ("Which snacks?", "Fruit\nCake", True)], initial=2)
    response = owner_client.post(reverse("poll_edit", args=[poll.pk]), data)
    assert response.status_code == 200
    form, formset = response.context["form"], response.context["formset"]
    assert form.errors["title"] == ["At most 200 characters."]
    assert form.errors["duration_seconds"] == ["From 10 seconds to 24 hours."]
    assert formset.forms[0].non_field_errors() == ["Give at least two answer choices."]
    assert services.poll_data(Poll.objects.get(pk=poll.pk)) == before


# --- Delete ---------------------------------------------------------------------------


def test_it_asks_before_deleting(owner_client, poll, ran):
    response = owner_client.get(reverse("poll_delete", args=[poll.pk]))
    assert response.status_code == 200
    assert "Team lunch" in response.content.decode() and "those results are kept" in response.content.decode()
    assert Poll.objects.filter(pk=poll.pk).exists()


def test_it_deletes_the_poll_and_keeps_the_results_of_its_runs(owner_client, poll, ran):
    response = owner_client.post(reverse("poll_delete", args=[poll.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("poll_list")
    assert not Poll.objects.filter(pk=poll.pk).exists()
    assert ran.reload().poll is None
    html = owner_client.get(reverse("poll_list")).content.decode()
    assert reverse("poll_run_results", args=[ran.run.pk]) in html


# --- Results, CSV ---------------------------------------------------------------------


def test_it_shows_counts_and_percentages_without_names_for_an_anonymous_run(owner_client, ran):
    response = owner_client.get(reverse("poll_run_results", args=[ran.run.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "2 people answered" in html
    assert "Which day?" in html and "Which snacks?" in html
    assert "1 vote · 50.0 %" in html and "2 votes · 100.0 %" in html  # Friday / Cake
    assert "width: 100.0%" in html and "width: 0.0%" in html  # Crisps
    assert "Gus Guest" not in html and "Vera Voter" not in html


def test_it_names_the_voters_of_a_run_that_is_not_anonymous(owner_client, owner, pdf_tasks):
    named = run_poll(owner, make_poll(owner.user, title="Named poll", anonymous=False))
    html = owner_client.get(reverse("poll_run_results", args=[named.run.pk])).content.decode()
    assert "Gus Guest, Vera Voter" in html  # both took Cake


def test_it_downloads_the_results_as_csv(owner_client, ran):
    response = owner_client.get(reverse("poll_run_csv", args=[ran.run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="poll-results-{ran.run.pk}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["Which snacks?", "Cake", "2", "100.0"] in rows
    assert ["Which day?", "Monday", "1", "50.0"] in rows
    assert "Gus Guest" not in response.content.decode()


# --- Asking for the PDF ---------------------------------------------------------------


def test_it_asks_the_worker_for_the_pdf_and_reports_its_state(owner_client, ran, pdf_tasks, django_capture_on_commit_callbacks):
    url = reverse("poll_run_request_pdf", args=[ran.run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url)
    assert response.status_code == 200
    assert response.json() == {"run_id": ran.run.pk, "status": "rendering", "url": None, "error": None}
    assert pdf_tasks == [ran.run.pk]
    # Following it does not ask again.
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.get(url).json()["status"] == "rendering"
    assert pdf_tasks == [ran.run.pk]
    with_ready_pdf(ran.reload())
    assert owner_client.get(url).json()["url"] == pdf_download_url(ran.run)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(url).json()["url"] == pdf_download_url(ran.run)
    assert pdf_tasks == [ran.run.pk]


def test_it_refuses_the_pdf_of_an_open_run(owner_client, owner, poll, pdf_tasks, django_capture_on_commit_callbacks):
    open_run = run_poll(owner, poll, close=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("poll_run_request_pdf", args=[open_run.run.pk]))
    assert response.status_code == 409
    assert response.json()["code"] == "poll_open"
    assert open_run.reload().pdf_status == "" and pdf_tasks == []


def test_it_answers_a_form_without_javascript_with_the_results_page(owner_client, ran, pdf_tasks):
    url = reverse("poll_run_request_pdf", args=[ran.run.pk])
    response = owner_client.post(url, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8", follow=True)
    assert response.redirect_chain == [(reverse("poll_run_results", args=[ran.run.pk]), 302)]
    assert "The PDF is being prepared" in response.content.decode()
    assert ran.reload().pdf_status == "rendering"


# --- Downloading the PDF --------------------------------------------------------------


def test_it_streams_the_pdf_to_the_owner_of_the_meeting(owner_client, ran):
    with_ready_pdf(ran.run)
    response = owner_client.get(pdf_download_url(ran.run))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="poll-results-{ran.run.pk}.pdf"'
    assert downloaded(response) == PDF_BYTES


def test_it_gives_the_pdf_to_a_guest_of_the_meeting_once_the_results_are_shared(ran):
    with_ready_pdf(ran.run)
    url = pdf_download_url(ran.run)
    assert ran.guest_client.get(url).status_code == 403
    services.share_results(ran.organizer, ran.run.pk)
    response = ran.guest_client.get(url)
    assert response.status_code == 200 and downloaded(response) == PDF_BYTES


def test_it_refuses_the_pdf_to_outsiders(member_client, owner, poll, ran):
    with_ready_pdf(ran.run)
    services.share_results(ran.organizer, ran.run.pk)
    url = pdf_download_url(ran.run)
    _guest_elsewhere, elsewhere_client = guest_in(make_meeting(owner, title="Another meeting"))
    assert Client().get(url).status_code == 403
    assert member_client.get(url).status_code == 403
    assert elsewhere_client.get(url).status_code == 403


def test_it_refuses_the_pdf_to_a_guest_who_left(ran):
    with_ready_pdf(ran.run)
    services.share_results(ran.organizer, ran.run.pk)
    Participant.objects.filter(pk=ran.guest.pk).update(state=Participant.State.LEFT)
    assert ran.guest_client.get(pdf_download_url(ran.run)).status_code == 403


def test_it_answers_not_found_for_a_pdf_not_ready_or_of_another_meeting(owner_client, owner, ran):
    assert owner_client.get(pdf_download_url(ran.run)).status_code == 404  # not rendered yet
    with_ready_pdf(ran.run)
    other_meeting = make_meeting(owner, title="Another meeting")
    assert owner_client.get(pdf_download_url(ran.run, other_meeting)).status_code == 404
    assert owner_client.get(reverse("poll_run_pdf", args=["no-such-meeting", ran.run.pk])).status_code == 404
    assert owner_client.get(reverse("poll_run_pdf", args=[ran.meeting.public_id, 999999])).status_code == 404


def test_it_answers_not_found_when_the_stored_file_is_gone(owner_client, ran):
    run = with_ready_pdf(ran.run)
    run.pdf.storage.delete(run.pdf.name)
    assert owner_client.get(pdf_download_url(run)).status_code == 404
