"""Celery tasks of polls: they take ids, reload, and call services."""

from __future__ import annotations

from celery import shared_task

from polls import pdf, services
from polls.models import PollRun


@shared_task
def close_expired_poll(run_id: int) -> str:
    """Scheduled at the run's ``closes_at``; the beat sweep catches any that is lost."""
    if not PollRun.objects.filter(pk=run_id).exists():
        return "gone"
    return f"closed {services.close_expired(run_id=run_id)}"


@shared_task
def close_expired_polls() -> int:
    return services.close_expired()


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=5)
def render_results_pdf(self, run_id: int) -> str:
    """Idempotent: a run whose PDF is ready is left alone, so a redelivered task (a worker
    killed mid-render) still leaves exactly one PDF."""
    if not PollRun.objects.filter(pk=run_id).exists():
        return "gone"
    last_try = self.request.retries >= self.max_retries
    return pdf.render_run_pdf(run_id, last_try=last_try)
