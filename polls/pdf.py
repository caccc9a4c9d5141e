"""The results PDF of a poll run, rendered by the worker (``polls.tasks.render_results_pdf``).

Each run has one file under a fixed name (``polls/results/run-<id>.pdf``). A worker
claims the render (the run's lease, ``core.leases``) before it starts, and writes the
file under the run's row lock only while the lease is still its own: a task delivered
twice, a render asked for again once its worker died, and that worker coming back late
still leave exactly one PDF.

The render is one step (WeasyPrint), so the lease is not renewed while it runs: the
task's time limit keeps the render within the lease (``polls.tasks``).
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import leases
from polls import services
from polls.models import PollRun

logger = logging.getLogger(__name__)

RESULTS_DIR = "polls/results"
ERROR_MAX = PollRun._meta.get_field("pdf_error").max_length or 300


def pdf_name(run_id: int) -> str:
    return f"{RESULTS_DIR}/run-{run_id}.pdf"


def results_context(run: PollRun) -> dict:
    results = services.summary(run)
    questions = [
        {
            **question,
            # A CSS length: always a dot, never the language's decimal comma.
            "choices": [{**choice, "bar_width": f"{min(choice['percent'], 100.0):.1f}"} for choice in question["choices"]],
        }
        for question in results["questions"]
    ]
    return {
        "run": run,
        "meeting_title": run.meeting.title,
        "started_at": timezone.localtime(run.started_at),
        "closed_at": timezone.localtime(run.closed_at) if run.closed_at else None,
        "results": results,
        "questions": questions,
        "language_code": translation.get_language() or "en",
    }


def results_html(run: PollRun) -> str:
    # The server's time zone, even when rendered in a request that activated a browser's
    # (the embedded mode runs tasks in-process).
    with timezone.override(timezone.get_default_timezone()):
        return render_to_string("polls/results_pdf.html", results_context(run))


def html_to_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint is slow to import and only the worker renders.
    from weasyprint import HTML

    return HTML(string=html, base_url=None, url_fetcher=_no_fetching()).write_pdf()


@functools.cache
def _no_fetching_class() -> type:
    from weasyprint.urls import URLFetcher

    class NoFetching(URLFetcher):
        """Refuses every URL: the PDF is made from the template alone, so poll text can
        never make the worker fetch a remote address or read a local file."""

        def fetch(self, url, headers=None):
            raise ValueError(f"URL fetching is disabled in results PDFs: {url[:80]}")

    return NoFetching


def _no_fetching():
    return _no_fetching_class()()


def _is_ready(run: PollRun) -> bool:
    name = run.pdf.name
    if run.pdf_status != PollRun.PdfStatus.READY or not name:
        return False
    return default_storage.exists(name)


def _workable():
    """Runs whose PDF a worker may render: asked for, or ready with its file gone."""
    return PollRun.objects.filter(pdf_status__in=(PollRun.PdfStatus.RENDERING, PollRun.PdfStatus.READY))


def render_run_pdf(run_id: int, *, last_try: bool = False) -> str:
    """Render and store the run's PDF, then tell the room (``poll.pdf``).

    Returns ``"gone"`` (no such run), ``"ready"`` (already there: nothing done),
    ``"skipped"`` (another worker holds the render's lease, or nobody asked for it),
    ``"superseded"`` (this worker's lease ran out and the render was given to another:
    nothing stored) or ``"rendered"``. A failure is re-raised for the task to retry (the
    render goes back to the queue meanwhile); on its last try the run is marked failed
    first, so that the person waiting learns of it.
    """
    run = PollRun.objects.select_related("meeting").filter(pk=run_id).first()
    if run is None:
        return "gone"
    if _is_ready(run):
        return "ready"
    if not leases.claim(run, _workable(), seconds=settings.PARLEY_RENDER_LEASE_SECONDS):
        return "skipped"
    try:
        content = html_to_pdf(results_html(run))
        return _store(run, content)
    except Exception as exc:
        if last_try:
            logger.exception("The PDF of poll run %s failed for good", run_id)
            _mark_failed(run, exc)
        else:
            leases.release(run, _workable(), services.PDF_RETRY_AFTER)
        raise


def _locked(run_id: int) -> PollRun | None:
    return PollRun.objects.select_for_update(of=("self",)).select_related("meeting").filter(pk=run_id).first()


def _store(run: PollRun, content: bytes) -> str:
    with transaction.atomic():
        current = _locked(run.pk)
        if current is None:
            return "gone"
        if not leases.holds(current, run.lease_token):  # taken for dead, the render was given to another
            logger.warning("The PDF of poll run %s was rendered again elsewhere; this late render is dropped", run.pk)
            return "superseded"
        if _is_ready(current):
            return "ready"
        name = pdf_name(current.pk)
        # A file left by an attempt killed before it could commit: replace it, under
        # the same name, rather than add another beside it.
        if default_storage.exists(name):
            default_storage.delete(name)
        current.pdf.name = default_storage.save(name, ContentFile(content))
        current.pdf_status = PollRun.PdfStatus.READY
        current.pdf_error = ""
        current.save(update_fields=["pdf", "pdf_status", "pdf_error", *leases.finish(current)])
        services.publish_pdf_state(current)
    return "rendered"


def _mark_failed(run: PollRun, exc: Exception) -> None:
    with transaction.atomic():
        current = _locked(run.pk)
        if current is None or _is_ready(current) or not leases.holds(current, run.lease_token):
            return
        current.pdf_status = PollRun.PdfStatus.FAILED
        # Shown to participants: the kind of error only; the log has the details.
        current.pdf_error = (_("The PDF could not be made (%(error)s). Try again.") % {"error": type(exc).__name__})[:ERROR_MAX]
        current.save(update_fields=["pdf_status", "pdf_error", *leases.finish(current)])
        services.publish_pdf_state(current)
