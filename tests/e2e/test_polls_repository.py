"""The Polling Repository pages in headless Chromium against a real web server: the
editor's "Add a question" / "Remove" (poll-editor.js) and the "Download PDF" button
that asks for the PDF, shows "Rendering…", follows its state and downloads it
(poll-downloads.js)."""

from __future__ import annotations

import copy

import pytest
from playwright.sync_api import Page, expect

from meetings.models import Role, RoomType
from polls import services
from polls.models import Poll, PollRun
from tests.factories import make_extension, make_meeting, make_participant
from tests.fixtures_live import LiveEnv
from tests.fixtures_live import make_live_env as _live_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTIONS = [
    {"text": "Which day?", "multiple": False, "choices": ["Monday", "Friday"]},
    {"text": "Which snacks?", "multiple": True, "choices": ["Fruit", "Cake", "Crisps"]},
]
PDF_TIMEOUT_MS = 60_000  # the worker's first render imports WeasyPrint on a shared machine


@pytest.fixture
def owner():
    return make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)


def fill_question(page: Page, index: int, text: str, choices: str) -> None:
    page.fill(f'[name="questions-{index}-text"]', text)
    page.fill(f'[name="questions-{index}-choices"]', choices)


def test_it_adds_and_removes_questions_before_saving(open_page, owner):
    page = open_page(user=owner.user)
    page.goto("/client/polls/new/")
    questions = page.locator("[data-question-form]:visible")
    expect(questions).to_have_count(2)
    expect(page.locator(".question-form__delete").first).to_be_hidden()  # the Remove button replaces the checkbox

    page.fill('[name="title"]', "Team lunch")
    page.fill('[name="duration_seconds"]', "90")
    fill_question(page, 0, "Which day?", "Monday\nFriday")
    page.click("#question-add")
    expect(questions).to_have_count(3)
    fill_question(page, 2, "Which drinks?", "Tea\nCoffee")
    page.locator("[data-question-form]").nth(1).locator(".question-remove").click()  # the empty one
    expect(questions).to_have_count(2)
    expect(page.locator('input[name="questions-TOTAL_FORMS"]')).to_have_value("2")
    expect(questions.nth(1).locator(".question-form__number")).to_have_text("2")
    expect(page.locator('[name="questions-1-text"]')).to_have_value("Which drinks?")
    page.click("#poll-save")
    page.wait_for_url("**/client/polls/")

    poll = Poll.objects.get(owner=owner.user)
    assert [q["text"] for q in services.poll_data(poll)["questions"]] == ["Which day?", "Which drinks?"]

    # A saved question removed in the editor is deleted on save.
    page.goto(f"/client/polls/{poll.pk}/edit/")
    page.locator("[data-question-form]").first.locator(".question-remove").click()
    expect(page.locator("[data-question-form]:visible")).to_have_count(2)  # Which drinks? and the empty one
    page.click("#poll-save")
    page.wait_for_url("**/client/polls/")
    assert [q["text"] for q in services.poll_data(poll)["questions"]] == ["Which drinks?"]


@pytest.fixture
def live_env(transactional_db, live_redis, asgi_server) -> LiveEnv:
    """The worker gets the web server's data directory: the PDF it stores is the file
    the web server serves (as on one machine in production)."""
    return _live_env(live_redis, asgi_server.outbox.parent)


def test_it_renders_the_pdf_and_downloads_it(open_page, owner, celery_worker):
    poll = services.save_poll(owner.user, title="Team lunch", duration_seconds=60, anonymous=True, questions=copy.deepcopy(QUESTIONS))
    meeting = make_meeting(owner, title="Roadmap review", room_type=RoomType.SHARED)
    organizer = make_participant(meeting, user=owner.user, role=Role.ORGANIZER)
    run = services.start_poll(organizer, poll.pk)
    services.close_poll(organizer, run.pk)

    page = open_page(user=owner.user)
    page.goto("/client/polls/")
    button = page.locator(f"#run-{run.pk} form.pdf-download button")
    with page.expect_download(timeout=PDF_TIMEOUT_MS) as download:
        button.click()
        expect(button).to_have_text("Rendering…")
    # The real worker rendered it, and the web server served the stored file.
    assert PollRun.objects.get(pk=run.pk).pdf_status == PollRun.PdfStatus.READY
    assert download.value.url.endswith(services.pdf_url(run))
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
