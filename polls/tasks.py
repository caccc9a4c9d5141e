"""Celery tasks of polls: they take ids, reload, and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from polls import pdf, services
from polls.models import PollRun

# A results PDF is one step (WeasyPrint) under a lease that is not renewed meanwhile:
# the render must end within the lease (past it, the render is someone else's to do).
PDF_SOFT_LIMIT = settings.PARLEY_RENDER_LEASE_SECONDS
PDF_HARD_LIMIT = PDF_SOFT_LIMIT + 10


@shared_task
def close_expired_poll(run_id: int) -> str:
    """Scheduled at the run's ``closes_at``; the beat sweep catches any that is lost."""
    if not PollRun.objects.filter(pk=run_id).exists():
        return "gone"
    return f"closed {services.close_expired(run_id=run_id)}"


@shared_task
def close_expired_polls() -> int:
    return services.close_expired()


@shared_task(
    bind=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=PDF_SOFT_LIMIT,
    time_limit=PDF_HARD_LIMIT,
)
def render_results_pdf(self, run_id: int) -> str:
    """Idempotent: a run whose PDF is ready is left alone, and only the worker holding
    the render's lease stores it, so a redelivered task, a render queued again after its
    worker died, and that worker coming back late still leave exactly one PDF."""
    if not PollRun.objects.filter(pk=run_id).exists():
        return "gone"
    last_try = self.request.retries >= self.max_retries
    return pdf.render_run_pdf(run_id, last_try=last_try)


@shared_task
def requeue_dead_pdf_renders() -> int:
    """Beat: results PDFs whose worker died are queued again (or failed)."""
    return services.requeue_dead_pdf_renders()
