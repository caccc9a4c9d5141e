"""The results PDF rendered by a real Celery worker through a real Redis, and rendered
exactly once when the worker is killed while rendering."""

from __future__ import annotations

import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import redis
from django.core.files.storage import default_storage

from core import processes
from polls import pdf, services
from polls.models import PollRun
from tests.fixtures_live import LiveProcess
from tests.polls.helpers import Setup, closed_run, make_setup, pdf_text

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT = 60.0
# The shortest the settings allow: Redis hands an unacknowledged task out again once
# it has been out this long (the product's default is 600 s).
VISIBILITY_TIMEOUT = 5
TASK = "polls.tasks.render_results_pdf["


@pytest.fixture
def worker_storage(live_env, settings):
    """This process's storage on the workers' media directory, to read what they wrote."""
    settings.MEDIA_ROOT = Path(live_env.variables["PARLEY_DATA_DIR"]) / "media"


def wait_for_pdf(run: PollRun) -> PollRun:
    deadline = time.monotonic() + RENDER_TIMEOUT
    while True:
        current = PollRun.objects.get(pk=run.pk)
        if current.pdf_status == PollRun.PdfStatus.READY:
            return current
        if current.pdf_status == PollRun.PdfStatus.FAILED or time.monotonic() > deadline:
            pytest.fail(f"the PDF of run {run.pk} is {current.pdf_status!r} ({current.pdf_error!r}) after {RENDER_TIMEOUT:.0f} s")
        time.sleep(0.05)


def render_lines(worker: LiveProcess, word: str) -> list[str]:
    """The worker's log lines about the PDF task that contain ``word`` ("received", "succeeded")."""
    return [line for line in list(worker.lines) if TASK in line and word in line]


def stored_files() -> list[str]:
    if not default_storage.exists(pdf.RESULTS_DIR):
        return []
    return sorted(default_storage.listdir(pdf.RESULTS_DIR)[1])


def test_it_renders_the_shared_results_in_the_worker(celery_worker, worker_storage):
    setup = make_setup()
    run = closed_run(setup, shared=True)

    event = services.request_pdf(setup.voters[0], run.pk)
    assert event == {"run_id": run.pk, "status": "rendering", "url": None, "error": None}

    run = wait_for_pdf(run)
    assert run.pdf.name == f"polls/results/run-{run.pk}.pdf"
    content = default_storage.open(run.pdf.name).read()
    assert content.startswith(b"%PDF-")
    assert len(pdfium.PdfDocument(content)) >= 1
    text = pdf_text(content)
    for expected in ("Team lunch", "Team sync", "Where do we eat?", "Pizza 2 66.7%", "Sushi 1 33.3%", "Monday 3 100.0%"):
        assert expected in text
    assert stored_files() == [f"run-{run.pk}.pdf"]
    assert services.request_pdf(setup.voters[1], run.pk)["url"] == services.pdf_url(run)  # ready: not rendered again
    celery_worker.wait_for_line("succeeded")
    assert len(render_lines(celery_worker, "succeeded")) == 1


def big_closed_run() -> tuple[Setup, PollRun]:
    """As many questions and choices as a poll may have: several pages to render."""
    questions = [
        {
            "text": f"Question {q} about the plan?",
            "multiple": q % 2 == 1,
            "choices": [f"Answer {q}.{c}" for c in range(services.MAX_CHOICES)],
        }
        for q in range(1, services.MAX_QUESTIONS + 1)
    ]
    setup = make_setup(questions)
    run = services.start_poll(setup.organizer, setup.poll.pk)
    for n, voter in enumerate(setup.voters):
        picks = [{"question_id": q["id"], "choice_ids": [q["choices"][n]["id"]]} for q in run.questions]
        services.vote(voter, run.pk, picks)
    services.close_poll(setup.organizer, run.pk)
    services.share_results(setup.organizer, run.pk)
    return setup, PollRun.objects.get(pk=run.pk)


def unacked_since(redis_url: str) -> float | None:
    """When the newest task still unacknowledged in Redis was handed to a worker."""
    client = redis.Redis.from_url(redis_url)
    try:
        newest = client.zrange("unacked_index", -1, -1, withscores=True)
    finally:
        client.close()
    return newest[0][1] if newest else None


def test_it_renders_exactly_one_pdf_when_the_worker_is_killed_while_rendering(start_celery_worker, live_env, worker_storage):
    live_env.variables["CELERY_VISIBILITY_TIMEOUT"] = str(VISIBILITY_TIMEOUT)
    setup, run = big_closed_run()
    first = start_celery_worker()

    services.request_pdf(setup.voters[0], run.pk)
    processes.wait_until(lambda: render_lines(first, "received"), timeout=RENDER_TIMEOUT, what="the PDF task", alive=first.alive)
    first.kill()

    # The kill lands mid-render: a fresh worker's first render imports WeasyPrint and
    # lays out 20 questions (over a second here), the kill comes within ~0.1 s of
    # "received". Had it come later, the PDF would be ready and nothing redelivered.
    assert render_lines(first, "succeeded") == [], first.output()
    assert PollRun.objects.get(pk=run.pk).pdf_status == PollRun.PdfStatus.RENDERING

    # Unacknowledged (acks_late), the task waits in Redis; a worker starting once it
    # is past the visibility timeout takes it back.
    processes.wait_until(
        lambda: (since := unacked_since(live_env.variables["REDIS_URL"])) is not None and time.time() - since > VISIBILITY_TIMEOUT + 0.5,
        timeout=RENDER_TIMEOUT,
        what="the killed worker's task to be past the visibility timeout",
    )
    second = start_celery_worker()

    run = wait_for_pdf(run)
    processes.wait_until(lambda: render_lines(second, "succeeded"), timeout=RENDER_TIMEOUT, what="the redelivered task", alive=second.alive)
    assert stored_files() == [f"run-{run.pk}.pdf"]
    content = default_storage.open(run.pdf.name).read()
    assert len(pdfium.PdfDocument(content)) >= 2
    text = pdf_text(content)
    assert "20. Question 20 about the plan?" in text
    assert "Answer 20.2 1 33.3%" in text
    assert not first.alive()
