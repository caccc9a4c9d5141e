"""The results PDF rendered by a real Celery worker through a real Redis, and rendered
exactly once when the worker is killed while rendering: the task handed out again by
the broker, or the render queued again once the dead worker's lease ran out; and a
worker taken for dead that comes back stores nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import redis
from django.core.files.storage import default_storage
from django.utils import timezone

from core import processes
from polls import pdf, services
from polls.models import PollRun
from tests.fixtures_live import LiveProcess
from tests.paused_renders import PAUSED
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
    # Shorter than the visibility timeout, as in production (60 s against 600 s): the
    # task handed out again finds the dead worker's lease over and claims the render.
    live_env.variables["PARLEY_RENDER_LEASE_SECONDS"] = str(VISIBILITY_TIMEOUT - 2)
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


# --- The render's lease ------------------------------------------------------------------

# The workers' PARLEY_RENDER_LEASE_SECONDS (the product's default is 60). The broker's
# visibility timeout stays at its default (600 s): the killed worker's task is not
# handed out again within the test, so only the lease can bring the PDF.
LEASE_SECONDS = 3


def paused_worker(start_celery_worker, gate: Path) -> LiveProcess:
    """A worker whose renders wait, once it holds their lease, until ``gate`` exists."""
    return start_celery_worker(
        module="tests.paused_renders", PARLEY_TEST_RENDER_GATE=str(gate), PARLEY_RENDER_LEASE_SECONDS=str(LEASE_SECONDS)
    )


def wait_for_the_lease_to_run_out(run: PollRun) -> None:
    lease_until = PollRun.objects.get(pk=run.pk).lease_until
    assert lease_until is not None
    processes.wait_until(lambda: timezone.now() > lease_until, timeout=LEASE_SECONDS + 5, what="the render's lease to run out")


def test_it_queues_again_a_pdf_whose_worker_was_killed_once_its_lease_ran_out(start_celery_worker, worker_storage, tmp_path):
    setup = make_setup()
    run = closed_run(setup, shared=True)
    first = paused_worker(start_celery_worker, tmp_path / "never-opened")

    services.request_pdf(setup.voters[0], run.pk)
    first.wait_for_line(PAUSED)
    held = PollRun.objects.get(pk=run.pk)
    assert held.lease_token  # the worker claimed the render
    first.kill()  # the whole worker, mid-render

    # Seen rendering; while the dead worker's lease runs, asking again does nothing.
    assert services.request_pdf(setup.voters[1], run.pk)["status"] == "rendering"
    assert PollRun.objects.get(pk=run.pk).lease_token == held.lease_token
    assert render_lines(first, "succeeded") == []

    wait_for_the_lease_to_run_out(run)
    assert services.request_pdf(setup.voters[1], run.pk) == {"run_id": run.pk, "status": "rendering", "url": None, "error": None}
    assert PollRun.objects.get(pk=run.pk).lease_token == ""  # queued again
    second = start_celery_worker(PARLEY_RENDER_LEASE_SECONDS=str(LEASE_SECONDS))

    run = wait_for_pdf(run)
    processes.wait_until(lambda: render_lines(second, "succeeded"), timeout=RENDER_TIMEOUT, what="the queued render", alive=second.alive)
    [done] = render_lines(second, "succeeded")
    assert done.endswith("'rendered'")
    assert stored_files() == [f"run-{run.pk}.pdf"]
    assert "Pizza 2 66.7%" in pdf_text(default_storage.open(run.pdf.name).read())
    assert (run.lease_token, run.lease_until) == ("", None)
    assert not first.alive()


def test_a_worker_taken_for_dead_that_comes_back_stores_nothing(start_celery_worker, worker_storage, tmp_path):
    gate = tmp_path / "gate"
    setup = make_setup()
    run = closed_run(setup, shared=True)
    first = paused_worker(start_celery_worker, gate)

    services.request_pdf(setup.voters[0], run.pk)
    first.wait_for_line(PAUSED)
    wait_for_the_lease_to_run_out(run)  # stuck: no progress within its lease
    services.request_pdf(setup.voters[1], run.pk)
    second = start_celery_worker(PARLEY_RENDER_LEASE_SECONDS=str(LEASE_SECONDS))
    run = wait_for_pdf(run)
    rendered = default_storage.open(run.pdf.name).read()

    gate.touch()  # the first worker goes on with its render
    processes.wait_until(lambda: render_lines(first, "succeeded"), timeout=RENDER_TIMEOUT, what="the late render", alive=first.alive)

    [late] = render_lines(first, "succeeded")
    assert late.endswith("'superseded'")
    assert render_lines(second, "succeeded")[0].endswith("'rendered'")
    assert stored_files() == [f"run-{run.pk}.pdf"]
    current = PollRun.objects.get(pk=run.pk)
    assert (current.pdf_status, current.pdf.name) == (PollRun.PdfStatus.READY, run.pdf.name)
    assert default_storage.open(run.pdf.name).read() == rendered
