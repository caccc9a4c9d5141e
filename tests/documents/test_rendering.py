"""The render of a document, run in this process (the task eagerly, PDFium in its
limited child process): pages and thumbnail stored, progress, idempotence, and every
way it can fail leaving no page behind. Then delete and purge."""

from __future__ import annotations

import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from core import leases
from documents import rendering, services, tasks
from documents.models import Document, DocumentPage, Presentation
from rooms.groups import extension_group
from tests import pdf_samples
from tests.factories import make_extension, make_meeting, record_events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _document_limits(settings):
    settings.PARLEY_DOCUMENT_RENDER_MEMORY_MB = 512
    settings.PARLEY_DOCUMENT_PAGE_PIXELS = 1600


@pytest.fixture
def owner():
    return make_extension()


def stored_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    folder = root / "documents"
    return sorted(str(path.relative_to(root)) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def uploaded(owner, data: bytes, name: str = "slides.pdf", *, capture) -> Document:
    """Upload through the service; the render task runs eagerly on commit."""
    with capture(execute=True):
        document = services.upload_document(owner.user, pdf_samples.upload(data, name))
    document.refresh_from_db()
    return document


def stored_without_checks(owner, data: bytes) -> Document:
    """A document row for a file that skipped validation (to reach the renderer's limits)."""
    name = default_storage.save("documents/0123456789abcdef0123456789abcdef.pdf", ContentFile(data))
    return Document.objects.create(owner=owner.user, name="raw.pdf", file=name, size=len(data), page_count=1)


def page_sizes(document: Document) -> list[tuple[int, int]]:
    sizes = []
    for page in document.pages.order_by("number"):
        with Image.open(Path(settings.MEDIA_ROOT) / page.image.name) as image:
            assert (image.width, image.height) == (page.width, page.height)
            sizes.append(image.size)
    return sizes


# --- A good render ----------------------------------------------------------------------------


def test_it_renders_every_page_and_a_thumbnail(owner, django_capture_on_commit_callbacks):
    sizes = [pdf_samples.A4, pdf_samples.LETTER_LANDSCAPE]
    document = uploaded(owner, pdf_samples.multi_page_pdf(3, sizes=sizes), capture=django_capture_on_commit_callbacks)
    assert (document.status, document.error, document.page_count, document.pages_rendered) == ("ready", "", 3, 3)
    assert page_sizes(document) == [(1131, 1600), (1600, 1237), (1131, 1600)]
    prefix = f"documents/{document.storage_key}"
    assert [page.image.name for page in document.pages.order_by("number")] == [f"{prefix}/page-{n}.png" for n in (1, 2, 3)]
    assert document.thumbnail.name == f"{prefix}/thumbnail.png"
    with Image.open(Path(settings.MEDIA_ROOT) / document.thumbnail.name) as thumbnail:
        assert thumbnail.size == (240, 340)


def test_the_pages_show_the_pdf_content(owner, django_capture_on_commit_callbacks):
    document = uploaded(owner, pdf_samples.multi_page_pdf(1), capture=django_capture_on_commit_callbacks)
    with Image.open(Path(settings.MEDIA_ROOT) / document.pages.get().image.name) as image:
        top_band = image.getpixel((image.width // 2, 20))
        middle_margin = image.getpixel((image.width - 5, image.height // 2))
    assert top_band != (255, 255, 255)  # the coloured band across the top
    assert middle_margin == (255, 255, 255)


def test_it_reports_progress_to_the_owners_web_client(owner, monkeypatch, django_capture_on_commit_callbacks):
    events = record_events(monkeypatch)
    document = uploaded(owner, pdf_samples.multi_page_pdf(3), capture=django_capture_on_commit_callbacks)
    updates = [body for event, body in events.of(extension_group(owner.pk)) if event == "document.updated"]
    assert all(body["id"] == document.pk for body in updates)
    assert [body["pages_rendered"] for body in updates if body["status"] == "processing"][-3:] == [1, 2, 3]
    assert updates[-1] == services.document_payload(document)
    assert updates[-1]["status"] == "ready" and updates[-1]["thumbnail_url"]


def test_a_huge_page_is_rendered_within_the_pixel_cap(owner, django_capture_on_commit_callbacks):
    document = uploaded(owner, pdf_samples.huge_page_pdf(200_000), capture=django_capture_on_commit_callbacks)
    assert document.status == "ready"
    assert page_sizes(document) == [(1600, 1600)]


def test_a_pdf_with_javascript_is_only_drawn(owner, django_capture_on_commit_callbacks):
    # The render never calls init_forms (test_documents_validation checks the child's
    # code with it booby-trapped); here the whole path completes as for any PDF.
    document = uploaded(owner, pdf_samples.javascript_pdf(), capture=django_capture_on_commit_callbacks)
    assert (document.status, document.pages_rendered) == ("ready", 1)
    assert page_sizes(document) == [(1131, 1600)]


def test_rendering_again_starts_clean(owner, django_capture_on_commit_callbacks):
    document = uploaded(owner, pdf_samples.multi_page_pdf(2), capture=django_capture_on_commit_callbacks)
    before = stored_files()
    assert tasks.render_document(document.pk) == "skipped"  # a redelivered task: the render is over
    with django_capture_on_commit_callbacks(execute=True):
        assert services.render_again(document)
    document.refresh_from_db()
    assert (document.status, document.pages_rendered) == ("ready", 2)
    assert DocumentPage.objects.filter(document=document).count() == 2
    assert stored_files() == before


# --- Failures -------------------------------------------------------------------------------------


def assert_no_pages_left(document: Document, reason: str) -> None:
    document.refresh_from_db()
    assert document.status == "failed"
    assert reason in document.error
    assert (document.pages_rendered, document.thumbnail.name) == (0, "")
    assert not DocumentPage.objects.filter(document=document).exists()
    assert stored_files() == [document.file.name]  # the PDF itself stays until deleted


def test_a_decompression_bomb_fails_at_the_memory_limit(owner):
    document = stored_without_checks(owner, pdf_samples.decompression_bomb_pdf())
    tasks.render_document(document.pk)
    assert_no_pages_left(document, "more memory than is allowed")


def _stalling_child(arguments, limits):
    """A renderer that writes page 1, reports it, then hangs."""
    import subprocess

    out_dir = arguments[2]
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from PIL import Image
        Image.new("RGB", (10, 10)).save({out_dir!r} + "/page-1.png")
        print(json.dumps({{"pages": 3}}), flush=True)
        print(json.dumps({{"page": 1, "file": "page-1.png", "width": 10, "height": 10}}), flush=True)
        time.sleep(60)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


def test_a_render_over_the_time_limit_fails_and_removes_its_pages(owner, settings, monkeypatch):
    settings.PARLEY_DOCUMENT_RENDER_SECONDS = 2
    monkeypatch.setattr(rendering, "_spawn", _stalling_child)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(3))
    assert tasks.render_document(document.pk) == "failed"
    assert_no_pages_left(document, "longer than 2 seconds")


def test_the_celery_soft_time_limit_fails_the_render_and_removes_its_pages(owner, monkeypatch):
    take = services._take

    def slow_storage(document, message, out_dir):
        take(document, message, out_dir)
        if message.get("page") == 2:
            raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "_take", slow_storage)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(4))
    assert tasks.render_document(document.pk) == "timed out"
    assert_no_pages_left(document, "was stopped")


def test_an_unexpected_error_fails_the_render_with_a_sentence(owner, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("storage unreachable")

    monkeypatch.setattr(services, "_store_image", broken)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    assert tasks.render_document(document.pk) == "failed"
    assert_no_pages_left(document, "error on the server")


def test_a_document_removed_during_its_render_leaves_no_files(owner, monkeypatch):
    take = services._take

    def removed_meanwhile(document, message, out_dir):
        take(document, message, out_dir)
        if message.get("page") == 1:
            Document.objects.filter(pk=document.pk).delete()

    monkeypatch.setattr(services, "_take", removed_meanwhile)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(3))
    tasks.render_document(document.pk)
    assert stored_files() == []


def test_a_document_deleted_before_its_render_is_not_rendered(owner, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(tasks.render_document, "delay", lambda pk: None)
    document = uploaded(owner, pdf_samples.multi_page_pdf(2), capture=django_capture_on_commit_callbacks)
    services.delete_document(owner.user, document)
    assert tasks.render_document(document.pk) == "gone"
    assert not DocumentPage.objects.exists()


def test_a_broker_down_at_upload_fails_the_document_instead_of_leaving_it_processing(
    owner, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(pk):
        raise ConnectionError("redis unreachable")

    monkeypatch.setattr(tasks.render_document, "delay", broker_down)
    document = uploaded(owner, pdf_samples.multi_page_pdf(1), capture=django_capture_on_commit_callbacks)
    assert document.status == "failed"
    assert "could not be queued" in document.error


def test_render_again_renders_a_failed_document(owner, monkeypatch, django_capture_on_commit_callbacks):
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    services.fail_render(document.pk, "The PDF renderer failed on this document.")
    document.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.render_again(document)
    document.refresh_from_db()
    assert (document.status, document.error, document.pages_rendered) == ("ready", "", 2)


def test_render_again_leaves_a_running_render_alone(owner, django_capture_on_commit_callbacks):
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    assert leases.claim(Document.objects.get(pk=document.pk), PROCESSING)  # a worker renders it
    assert not services.render_again(document)
    # A render queued at upload waits for a worker.
    with django_capture_on_commit_callbacks():
        queued = services.upload_document(owner.user, pdf_samples.upload(pdf_samples.multi_page_pdf(1), "queued.pdf"))
    assert not services.render_again(queued)


def test_render_again_renders_a_document_whose_worker_died(owner, django_capture_on_commit_callbacks):
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    assert leases.claim(Document.objects.get(pk=document.pk), PROCESSING)
    lease_runs_out(document)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.render_again(document)
    document.refresh_from_db()
    assert (document.status, document.pages_rendered, document.lease_token) == ("ready", 2, "")


# --- Leases: a worker that died, a worker that comes back late ---------------------------------


PROCESSING = Document.objects.filter(status=Document.Status.PROCESSING)


def lease_runs_out(document: Document) -> None:
    Document.objects.filter(pk=document.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def killed_after_one_page(document: Document) -> None:
    """A worker claimed the render, stored page 1 and died."""
    dead = Document.objects.get(pk=document.pk)
    assert leases.claim(dead, PROCESSING)
    stored = default_storage.save(f"{document.pages_prefix}/page-1.png", ContentFile(pdf_samples.multi_page_pdf(1)))
    DocumentPage.objects.create(document=document, number=1, image=stored, width=10, height=10)
    Document.objects.filter(pk=document.pk).update(pages_rendered=1)
    lease_runs_out(document)


def test_a_worker_that_lost_its_lease_stops_and_leaves_the_new_render_alone(owner, monkeypatch):
    take = services._take
    tokens: list[str] = []

    def stalls_at_page_two(document, message, out_dir):
        if message.get("page") == 2 and not tokens:
            # This worker stalls past its lease: taken for dead, the render goes to
            # another worker, which renders the whole document; then this one goes on.
            tokens.append(document.lease_token)
            lease_runs_out(document)
            assert tasks.render_document(document.pk) == "ready"
        take(document, message, out_dir)

    monkeypatch.setattr(services, "_take", stalls_at_page_two)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(3))

    assert tasks.render_document(document.pk) == "superseded"

    document.refresh_from_db()
    assert (document.status, document.error, document.pages_rendered, document.lease_token) == ("ready", "", 3, "")
    prefix = document.pages_prefix
    assert [page.image.name for page in document.pages.order_by("number")] == [f"{prefix}/page-{n}.png" for n in (1, 2, 3)]
    assert stored_files() == sorted([document.file.name, *(f"{prefix}/page-{n}.png" for n in (1, 2, 3)), f"{prefix}/thumbnail.png"])


def test_the_sweep_renders_again_a_document_whose_worker_died(owner, django_capture_on_commit_callbacks):
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    killed_after_one_page(document)
    alive = stored_without_checks(owner, pdf_samples.multi_page_pdf(1))
    assert leases.claim(Document.objects.get(pk=alive.pk), PROCESSING)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_dead_renders() == 1

    document.refresh_from_db()
    assert (document.status, document.pages_rendered, document.lease_expiries) == ("ready", 2, 1)
    assert Document.objects.get(pk=alive.pk).status == "processing"  # its worker is alive


def test_the_sweep_fails_a_document_whose_workers_died_too_often(owner, monkeypatch, django_capture_on_commit_callbacks):
    events = record_events(monkeypatch)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    Document.objects.filter(pk=document.pk).update(lease_expiries=leases.MAX_EXPIRIES - 1)
    killed_after_one_page(document)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_dead_renders() == 1

    assert_no_pages_left(document, "The worker rendering this document stopped several times.")
    assert document.lease_token == ""
    [(event, body)] = events.of(extension_group(owner.pk))
    assert (event, body["status"]) == ("document.updated", "failed")


def test_a_deleted_document_is_purged_only_once_no_worker_renders_it(owner, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(tasks.purge_deleted_documents, "delay", lambda ids: None)
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(1))
    assert leases.claim(Document.objects.get(pk=document.pk), PROCESSING)
    services.delete_document(owner.user, document)
    assert services.purge_deleted_documents() == 0
    lease_runs_out(document)
    assert services.purge_deleted_documents() == 1
    assert stored_files() == []


# --- Delete and purge --------------------------------------------------------------------------------


def test_a_deleted_document_keeps_its_files_while_a_presentation_uses_them(owner, django_capture_on_commit_callbacks):
    document = uploaded(owner, pdf_samples.multi_page_pdf(2), capture=django_capture_on_commit_callbacks)
    Presentation.objects.create(
        meeting=make_meeting(owner), kind="pdf", document=document, name=document.name, sharer_name="Ada", page_count=2
    )
    files = stored_files()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_document(owner.user, document)
    assert services.purge_deleted_documents() == 0
    assert Document.objects.filter(pk=document.pk).exists()
    assert stored_files() == files
    assert not services.repository(owner.user).exists()


def test_the_purge_removes_only_deleted_documents_nobody_presents(owner, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(tasks.purge_deleted_documents, "delay", lambda ids: None)
    kept = uploaded(owner, pdf_samples.multi_page_pdf(1), "kept.pdf", capture=django_capture_on_commit_callbacks)
    gone = uploaded(owner, pdf_samples.multi_page_pdf(2), "gone.pdf", capture=django_capture_on_commit_callbacks)
    services.delete_document(owner.user, gone)
    assert services.purge_deleted_documents() == 1
    assert list(Document.objects.values_list("name", flat=True)) == ["kept.pdf"]
    assert all(name.startswith((kept.file.name, f"documents/{kept.storage_key}/")) for name in stored_files())
    assert len(stored_files()) == 3


def test_only_the_owner_may_delete(owner, django_capture_on_commit_callbacks):
    from django.core.exceptions import PermissionDenied

    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(1))
    with pytest.raises(PermissionDenied):
        services.delete_document(make_extension().user, document)
    document.refresh_from_db()
    assert document.deleted_at is None


# --- Admin ---------------------------------------------------------------------------------------------


def test_the_admin_lists_documents_with_their_pages_and_renders_again(client, owner, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from tests.factories import make_user

    client.force_login(make_user(is_staff=True, is_superuser=True))
    document = stored_without_checks(owner, pdf_samples.multi_page_pdf(2))
    services.fail_render(document.pk, "The PDF renderer failed on this document.")
    assert client.get(reverse("admin:documents_document_changelist")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:documents_document_changelist"), {"action": "render_again", "_selected_action": [document.pk]}, follow=True
        )
    assert "1 document queued for rendering." in response.content.decode()
    document.refresh_from_db()
    assert (document.status, document.pages_rendered) == ("ready", 2)
    change = client.get(reverse("admin:documents_document_change", args=[document.pk])).content.decode()
    assert f"documents/{document.storage_key}/page-2.png" in change
    assert client.post(reverse("admin:documents_document_delete", args=[document.pk])).status_code == 403
