"""Celery tasks of documents: they take ids, reload, and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from documents import services
from documents.models import Document

# The render child is killed at PARLEY_DOCUMENT_RENDER_SECONDS; these limits (enforced
# by the prefork pool) catch what is left: a storage that hangs while pages are saved.
RENDER_SOFT_LIMIT = settings.PARLEY_DOCUMENT_RENDER_SECONDS + 30
RENDER_HARD_LIMIT = RENDER_SOFT_LIMIT + 30


@shared_task(soft_time_limit=RENDER_SOFT_LIMIT, time_limit=RENDER_HARD_LIMIT)
def render_document(document_id: int) -> str:
    """Render every page; idempotent (a redelivered task starts the render over, unless
    it is over or another worker holds its lease)."""
    if not Document.objects.filter(pk=document_id, deleted_at__isnull=True).exists():
        return "gone"
    return services.render_document(document_id)


@shared_task
def purge_deleted_documents(document_ids: list[int] | None = None) -> int:
    """Periodic (and right after a delete): files of deleted documents no presentation uses."""
    return services.purge_deleted_documents(document_ids)


# --- Exports of presentations (documents/exports.py) ----------------------------------


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=3)
def render_export(self, export_id: int) -> str:
    """Idempotent: an export whose file is ready is left alone, and only the worker
    holding the export's lease stores it, so a redelivered task, an export queued again
    after its worker died, and that worker coming back late still leave one file."""
    from documents import exports
    from documents.models import Export

    if not Export.objects.filter(pk=export_id).exists():
        return "gone"
    return exports.render_export(export_id, last_try=self.request.retries >= self.max_retries)


@shared_task
def requeue_dead_renders() -> int:
    """Beat: document renders and exports whose worker died are queued again (or failed)."""
    from documents import presenting

    return services.requeue_dead_renders() + presenting.requeue_dead_exports()
