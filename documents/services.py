"""Writes of the Shared Documents Repository: upload, render, delete, purge.

Upload validates first (``documents.validation``), then stores the file under a
generated name and makes the row in one transaction; the render task is queued once
that commits. A rejected or failed upload leaves neither a row nor a file.

The render runs PDFium in a limited child process (``documents.rendering``) and stores
each page as it comes (``pages_rendered`` is the progress); on any failure the pages
stored so far are removed and the document says why. Every change is announced to the
owner's web client (``document.updated`` on the extension's group) after commit.

A worker claims the render first (the document's lease, ``core.leases``) and renews the
lease with each page it stores; a worker that lost its lease (it was taken for dead and
the render given to another) stops, removing only the file it just stored. A render
whose worker died is queued again by the beat sweep (``requeue_dead_renders``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import leases
from core.realtime import broadcast
from documents import rendering, validation
from documents.models import Document, DocumentPage
from rooms.groups import extension_group
from rooms.models import Extension

logger = logging.getLogger(__name__)

UPDATED_EVENT = "document.updated"


def queue_wait() -> int:
    """How long a queued render may wait for a worker before it may be queued again."""
    return 2 * settings.PARLEY_DOCUMENT_RENDER_SECONDS


class RenderStopped(Exception):
    """The document went away during its render."""


# --- Who has a repository, what is in it ---------------------------------------------------


def may_keep_documents(user) -> bool:
    """Extension users (and staff) have a Shared Documents Repository."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or Extension.objects.filter(user=user).exists()


def repository(user) -> QuerySet[Document]:
    """The user's documents that are not deleted, newest first."""
    if user is None or not user.is_authenticated:
        return Document.objects.none()
    return Document.objects.filter(owner_id=user.pk, deleted_at__isnull=True)


def document_payload(document: Document) -> dict:
    """The JSON form of a document (docs/documents.md)."""
    return {
        "id": document.pk,
        "name": document.name,
        "size": document.size,
        "page_count": document.page_count,
        "status": document.status,
        "error": document.error,
        "pages_rendered": document.pages_rendered,
        "thumbnail_url": reverse("document_thumbnail", args=[document.pk]) if document.thumbnail else None,
        "created_at": document.created_at.isoformat(),
    }


def _announce(document: Document) -> None:
    extension_id = Extension.objects.filter(user_id=document.owner_id).values_list("pk", flat=True).first()
    if extension_id is not None:
        broadcast(extension_group(extension_id), UPDATED_EVENT, document_payload(document))


# --- Upload ---------------------------------------------------------------------------------


def upload_document(owner, uploaded) -> Document:
    """Validate ``uploaded`` (a Django ``UploadedFile``), store it, make the row and
    queue its render. ``ValidationError`` (with a sentence for people) when refused."""
    if not may_keep_documents(owner):
        raise PermissionDenied
    name = validation.clean_name(uploaded.name)
    with validation.checked_upload(uploaded) as checked:
        stored_name = _store_pdf(checked.path)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                owner=owner,
                name=name,
                file=stored_name,
                size=checked.size,
                page_count=checked.page_count,
                status=Document.Status.PROCESSING,
                **leases.queued(queue_wait()),
            )
    except BaseException:
        _delete_quietly(stored_name)
        raise
    # After commit (at once outside a transaction); a failure there leaves the file be.
    transaction.on_commit(lambda: _queue_render(document.pk))
    _announce(document)
    return document


def _store_pdf(path: Path) -> str:
    """Store the file under a generated name; nothing is left behind if that fails."""
    wanted = f"documents/{uuid.uuid4().hex}.pdf"
    stored_name = None
    try:
        with path.open("rb") as source:
            stored_name = default_storage.save(wanted, File(source, name=wanted))
    except BaseException:
        _delete_quietly(stored_name or wanted)
        raise
    return stored_name


def _delete_quietly(name: str | None) -> None:
    if not name:
        return
    try:
        default_storage.delete(name)
    except Exception:
        logger.exception("Could not delete the stored file %s", name)


def _queue_render(document_id: int) -> None:
    from documents import tasks

    try:
        tasks.render_document.delay(document_id)
    except Exception:
        # The broker is down: say so rather than leave the document "processing".
        logger.exception("Could not queue the render of document %s", document_id)
        fail_render(document_id, _("The document could not be queued for rendering. Delete it and upload it again later."))


# --- Render -----------------------------------------------------------------------------------


def render_error_message(code: str) -> str:
    messages = {
        rendering.PdfError.TIMEOUT: _("Rendering took longer than %(seconds)s seconds and was stopped.")
        % {"seconds": settings.PARLEY_DOCUMENT_RENDER_SECONDS},
        rendering.PdfError.MEMORY: _("Rendering needed more memory than is allowed (the PDF may be a decompression bomb)."),
        rendering.PdfError.CRASHED: _("The PDF renderer failed on this document."),
    }
    return messages.get(code) or validation.pdf_error_message(code)


def _rendering() -> QuerySet[Document]:
    """Documents a worker may render: processing, not deleted."""
    return Document.objects.filter(status=Document.Status.PROCESSING, deleted_at__isnull=True)


def render_document(document_id: int) -> str:
    """Render every page of the document from scratch (the Celery task calls this),
    under the document's lease.

    Idempotent: earlier pages and thumbnail are removed first. Raises nothing: a bad
    PDF, the time limit or an error mark the document failed with the reason. Returns
    ``"ready"``, ``"failed"``, ``"timed out"``, ``"gone"`` (deleted), ``"skipped"``
    (another worker holds its lease, or it is not processing) or ``"superseded"`` (this
    worker lost its lease to another: it stopped).
    """
    document = Document.objects.filter(pk=document_id, deleted_at__isnull=True).first()
    if document is None:
        return "gone"
    if not leases.claim(document, _rendering()):
        return "skipped"
    try:
        _render(document)
    except rendering.PdfError as error:
        return _fail_held(document, render_error_message(error.code), "failed")
    except RenderStopped:
        _remove_page_files(document)
        if not Document.objects.filter(pk=document.pk).exists():
            _delete_quietly(document.file.name)
        return "gone"
    except leases.LeaseLost:
        logger.warning("The render of document %s was given to another worker; this one stops", document.pk)
        return "superseded"
    except SoftTimeLimitExceeded:
        return _fail_held(document, render_error_message(rendering.PdfError.TIMEOUT), "timed out")
    except Exception:
        logger.exception("Rendering document %s failed", document.pk)
        return _fail_held(document, _("Rendering failed because of an error on the server. Try again later."), "failed")
    return "ready"


def _render(document: Document) -> None:
    _start_render(document)
    deadline = time.monotonic() + settings.PARLEY_DOCUMENT_RENDER_SECONDS
    limits = rendering.deadline_limits(deadline, settings.PARLEY_DOCUMENT_RENDER_MEMORY_MB)
    with _local_pdf(document) as path, tempfile.TemporaryDirectory(prefix="parley-render-") as out_dir:
        for message in rendering.render(path, out_dir, page_pixels=settings.PARLEY_DOCUMENT_PAGE_PIXELS, limits=limits):
            _take(document, message, Path(out_dir))


def _fail_held(document: Document, reason: str, outcome: str) -> str:
    fail_render(document.pk, reason, holder=document)
    return outcome


def _lease_lost(document: Document) -> Exception:
    """Why a renewal failed: the document is gone, or another worker has its render."""
    if not Document.objects.filter(pk=document.pk).exists():
        return RenderStopped()
    return leases.LeaseLost()


def _renew(document: Document, *, stored: str = "", **progress) -> None:
    """Renew the lease, writing ``progress``; when it is lost, remove the file this
    worker just stored (``stored``) and stop."""
    if not leases.renew(document, Document.objects.all(), **progress):
        _delete_quietly(stored)
        raise _lease_lost(document)


def _start_render(document: Document) -> None:
    with transaction.atomic():
        _renew(document, status=Document.Status.PROCESSING, error="", pages_rendered=0, thumbnail="")
        DocumentPage.objects.filter(document=document).delete()
        document.refresh_from_db()
        _announce(document)
    _remove_page_files(document)


@contextlib.contextmanager
def _local_pdf(document: Document) -> Iterator[Path]:
    """The stored PDF as a local file (the storage may be S3)."""
    with tempfile.NamedTemporaryFile(prefix="parley-render-", suffix=".pdf") as copy:
        with default_storage.open(document.file.name or "", "rb") as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        yield Path(copy.name)


def _take(document: Document, message: dict, out_dir: Path) -> None:
    """Store what the renderer just produced and record the progress, renewing the lease."""
    if "page" in message:
        number = int(message["page"])
        name = _store_image(out_dir / message["file"], f"{document.pages_prefix}/page-{number}.png")
        with transaction.atomic():
            _renew(document, stored=name, pages_rendered=number)
            DocumentPage.objects.create(document=document, number=number, image=name, width=message["width"], height=message["height"])
            document.pages_rendered = number
            _announce(document)
    elif "thumbnail" in message:
        name = _store_image(out_dir / message["thumbnail"], f"{document.pages_prefix}/thumbnail.png")
        _renew(document, stored=name, thumbnail=name)
        document.thumbnail.name = name
    elif "pages" in message:
        document.page_count = int(message["pages"])
        _renew(document, page_count=document.page_count)
    elif message.get("done"):
        _finish_render(document)


def _store_image(path: Path, wanted: str) -> str:
    with path.open("rb") as source:
        name = default_storage.save(wanted, File(source, name=wanted))
    path.unlink()
    return name


def _finish_render(document: Document) -> None:
    with transaction.atomic():
        held = Document.objects.filter(pk=document.pk, status=Document.Status.PROCESSING, lease_token=document.lease_token)
        if not document.lease_token or not held.update(status=Document.Status.READY, error="", **leases.finished()):
            raise _lease_lost(document)
        document.status = Document.Status.READY
        _announce(document)


def fail_render(document_id: int, reason: str, *, holder: Document | None = None) -> None:
    """Mark the render failed with ``reason`` and remove every page stored so far; with
    ``holder`` (a worker's own failure), only while it still holds the lease."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return
    failed = Document.objects.filter(pk=document.pk)
    if holder is not None:
        if not holder.lease_token:
            return
        failed = failed.filter(lease_token=holder.lease_token)
    with transaction.atomic():
        if not failed.update(status=Document.Status.FAILED, error=reason[:500], pages_rendered=0, thumbnail="", **leases.finished()):
            return
        DocumentPage.objects.filter(document=document).delete()
        document.refresh_from_db()
        _announce(document)
    _remove_page_files(document)


def _remove_page_files(document: Document) -> None:
    """Every file in the document's page folder (pages, thumbnail, leftovers)."""
    try:
        _folders, files = default_storage.listdir(document.pages_prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        _delete_quietly(f"{document.pages_prefix}/{name}")
    with contextlib.suppress(OSError, NotImplementedError):
        # Local disk: drop the empty folder too (object stores have no folders).
        folder = Path(default_storage.path(document.pages_prefix))
        folder.rmdir()


def render_again(document: Document) -> bool:
    """Queue a fresh render (admin action). Not while a worker holds the render's lease
    or its task still waits for a worker."""
    with transaction.atomic():
        current = Document.objects.select_for_update().filter(pk=document.pk, deleted_at__isnull=True).first()
        if current is None:
            return False
        if current.status == Document.Status.PROCESSING and not leases.is_dead(current):
            return False
        lease_fields = leases.queue(current, queue_wait(), fresh=True)
        current.status, current.error, current.pages_rendered = Document.Status.PROCESSING, "", 0
        current.save(update_fields=["status", "error", "pages_rendered", *lease_fields])
        transaction.on_commit(lambda: _queue_render(current.pk))
    return True


def requeue_dead_renders(now=None) -> int:
    """Renders whose worker died (its lease ran out) are queued again; after
    ``leases.MAX_EXPIRIES`` of them the document is failed (beat, every few seconds)."""

    def requeue(document: Document) -> None:
        transaction.on_commit(lambda: _queue_render(document.pk))

    return leases.sweep(_rendering(), wait_seconds=queue_wait(), requeue=requeue, give_up=_give_up_render, now=now)


def _give_up_render(document: Document) -> None:
    reason = _("The worker rendering this document stopped several times. Delete it and upload it again later.")
    Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=reason, pages_rendered=0, thumbnail="")
    DocumentPage.objects.filter(document=document).delete()
    document.refresh_from_db()
    _announce(document)
    transaction.on_commit(lambda: _remove_page_files(document))


# --- Delete and purge ---------------------------------------------------------------------------


def delete_document(user, document: Document) -> None:
    """Soft delete: the document leaves the repository now; its files go when no
    presentation refers to it (``purge_deleted_documents``)."""
    if document.owner_id != user.pk:
        raise PermissionDenied
    with transaction.atomic():
        Document.objects.filter(pk=document.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
        extension_id = Extension.objects.filter(user_id=document.owner_id).values_list("pk", flat=True).first()
        if extension_id is not None:
            broadcast(extension_group(extension_id), "document.deleted", {"id": document.pk})
        transaction.on_commit(lambda: _queue_purge(document.pk))


def _queue_purge(document_id: int) -> None:
    from documents import tasks

    try:
        tasks.purge_deleted_documents.delay([document_id])
    except Exception:
        logger.warning("Could not queue the purge of document %s; the periodic purge will do it", document_id)


def _not_presented(documents: QuerySet[Document]) -> QuerySet[Document]:
    """Those no presentation refers to (the relation comes with presentations)."""
    try:
        Document._meta.get_field("presentations")
    except FieldDoesNotExist:
        return documents
    return documents.filter(presentations__isnull=True)


def purge_deleted_documents(document_ids: list[int] | None = None) -> int:
    """Remove the files and rows of deleted documents no presentation refers to, and
    whose render cannot still be running (no live lease). Returns how many were removed."""
    candidates = Document.objects.filter(deleted_at__isnull=False).exclude(
        status=Document.Status.PROCESSING, lease_until__gt=timezone.now()
    )
    if document_ids is not None:
        candidates = candidates.filter(pk__in=document_ids)
    removed = 0
    for document in _not_presented(candidates).order_by("pk")[:500]:
        try:
            with transaction.atomic():
                still_deleted = Document.objects.select_for_update(of=("self",)).filter(pk=document.pk, deleted_at__isnull=False)
                locked = _not_presented(still_deleted).first()
                if locked is None:
                    continue
                locked.delete()
        except ProtectedError:
            continue  # a presentation began to refer to it meanwhile
        _remove_page_files(document)
        _delete_quietly(document.file.name)
        removed += 1
    return removed
