"""Celery tasks of documents: they take ids, reload, and call services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext as _

from documents import rendering, services
from documents.models import Document

logger = logging.getLogger(__name__)

# The render child is killed at PARLEY_DOCUMENT_RENDER_SECONDS; these limits (enforced
# by the prefork pool) catch what is left: a storage that hangs while pages are saved.
RENDER_SOFT_LIMIT = settings.PARLEY_DOCUMENT_RENDER_SECONDS + 30
RENDER_HARD_LIMIT = RENDER_SOFT_LIMIT + 30


@shared_task(soft_time_limit=RENDER_SOFT_LIMIT, time_limit=RENDER_HARD_LIMIT)
def render_document(document_id: int) -> str:
    """Render every page; idempotent (a redelivered task starts the render over)."""
    if not Document.objects.filter(pk=document_id, deleted_at__isnull=True).exists():
        return "gone"
    try:
        services.render_document(document_id)
    except SoftTimeLimitExceeded:
        services.fail_render(document_id, services.render_error_message(rendering.PdfError.TIMEOUT))
        return "timed out"
    except Exception:
        logger.exception("Rendering document %s failed", document_id)
        services.fail_render(document_id, _("Rendering failed because of an error on the server. Try again later."))
        return "failed"
    return Document.objects.filter(pk=document_id).values_list("status", flat=True).first() or "gone"


@shared_task
def purge_deleted_documents(document_ids: list[int] | None = None) -> int:
    """Periodic (and right after a delete): files of deleted documents no presentation uses."""
    return services.purge_deleted_documents(document_ids)


# --- Exports of presentations (documents/exports.py) ----------------------------------


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=3)
def render_export(self, export_id: int) -> str:
    """Idempotent: an export whose file is ready is left alone, so a redelivered task
    (a worker killed mid-render) still leaves exactly one file."""
    from documents import exports
    from documents.models import Export

    if not Export.objects.filter(pk=export_id).exists():
        return "gone"
    return exports.render_export(export_id, last_try=self.request.retries >= self.max_retries)
