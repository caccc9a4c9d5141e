"""The repository's pages: the upload matrix, escaping, progress JSON, delete, the page
images, and who may see what (owner, another extension user, a user without an
extension, nobody logged in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.urls import reverse

from config.asgi import application
from documents import services, tasks
from documents.models import Document
from tests import pdf_samples
from tests.documents.helpers import make_document
from tests.factories import make_extension, make_user

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
XSS_NAME = "<img src=x onerror=alert(1)>.pdf"


def stored_files() -> list[str]:
    """Every file under MEDIA_ROOT/documents, relative to MEDIA_ROOT."""
    root = Path(settings.MEDIA_ROOT)
    folder = root / "documents"
    return sorted(str(path.relative_to(root)) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.fixture(autouse=True)
def _document_limits(settings):
    settings.PARLEY_DOCUMENT_RENDER_MEMORY_MB = 512
    settings.PARLEY_DOCUMENT_PAGE_PIXELS = 400


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Render tasks queued (not run)."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.render_document, "delay", calls.append)
    return calls


@pytest.fixture
def owner():
    return make_extension(display_name="Olivia Owner")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner.user)
    return client


def post_upload(client, data: bytes, name: str = "slides.pdf", **extra):
    return client.post(reverse("document_upload"), {"file": pdf_samples.upload(data, name)}, **{**JSON, **extra})


def rendered_document(owner_user, django_capture_on_commit_callbacks, pages: int = 2, name: str = "slides.pdf") -> Document:
    """Uploaded and rendered in this process (the render task runs eagerly)."""
    with django_capture_on_commit_callbacks(execute=True):
        document = services.upload_document(owner_user, pdf_samples.upload(pdf_samples.multi_page_pdf(pages), name))
    document.refresh_from_db()
    assert document.status == Document.Status.READY, document.error
    return document


# --- The upload matrix ----------------------------------------------------------------------

BAD_FILES = [
    ("wrong-magic", lambda: b"GIF89a this is not a PDF" + bytes(100), "notes.pdf", "not a PDF"),
    ("elf-renamed", pdf_samples.elf_executable, "report.pdf", "not a PDF"),
    ("pe-renamed", pdf_samples.pe_executable, "setup.pdf", "not a PDF"),
    ("encrypted", pdf_samples.encrypted_pdf, "secret.pdf", "protected by a password"),
    ("truncated", pdf_samples.truncated_pdf, "cut.pdf", "damaged"),
    ("10000-pages", pdf_samples.many_pages_pdf, "long.pdf", "This PDF has 10000 pages; at most 300 are allowed."),
    ("bomb", pdf_samples.decompression_bomb_pdf, "bomb.pdf", "more memory"),
    ("empty", lambda: b"", "empty.pdf", "empty"),
]


@pytest.mark.parametrize(("data", "name", "words"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_it_refuses_each_bad_file_with_a_clear_error_and_stores_nothing(owner_client, queued, data, name, words):
    response = post_upload(owner_client, data(), name)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert Document.objects.count() == 0
    assert stored_files() == []
    assert queued == []


def test_it_refuses_an_oversized_file_and_stores_nothing(owner_client, queued, settings):
    settings.PARLEY_DOCUMENT_MAX_BYTES = 4096
    data = pdf_samples.multi_page_pdf(30, compress=False)
    assert len(data) > 4096
    response = post_upload(owner_client, data)
    assert response.status_code == 400
    assert response.json() == {"error": "This file is larger than the 4.0\xa0KB limit."}
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_it_refuses_a_body_declared_too_large_without_reading_it(owner_client, queued):
    declared = settings.PARLEY_DOCUMENT_MAX_BYTES + 2 * 2**20
    response = post_upload(owner_client, pdf_samples.multi_page_pdf(1), CONTENT_LENGTH=str(declared))
    assert response.status_code == 400
    assert "larger than" in response.json()["error"]
    assert Document.objects.count() == 0


def test_it_refuses_without_javascript_with_a_message_on_the_list(owner_client, queued):
    response = owner_client.post(reverse("document_upload"), {"file": pdf_samples.upload(pdf_samples.encrypted_pdf())}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("document_list")
    assert "protected by a password" in response.content.decode()
    assert Document.objects.count() == 0


def test_it_asks_for_a_file_when_there_is_none(owner_client, queued):
    response = owner_client.post(reverse("document_upload"), {}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "Choose a PDF file to upload."}


def test_it_stores_a_valid_pdf_under_a_generated_name_and_queues_its_render(
    owner_client, owner, queued, django_capture_on_commit_callbacks
):
    data = pdf_samples.multi_page_pdf(3)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(owner_client, data, "Quarterly review.pdf")
    assert response.status_code == 201
    document = Document.objects.get()
    assert response.json() == {"document": services.document_payload(document)}
    assert (document.owner, document.name, document.size, document.page_count) == (owner.user, "Quarterly review.pdf", len(data), 3)
    assert document.status == Document.Status.PROCESSING
    assert document.file.name.startswith("documents/") and document.file.name.endswith(".pdf")
    assert len(Path(document.file.name).stem) == 32
    assert stored_files() == [document.file.name]
    assert (Path(settings.MEDIA_ROOT) / document.file.name).read_bytes() == data
    assert queued == [document.pk]


def test_it_accepts_a_pdf_with_javascript(owner_client, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(owner_client, pdf_samples.javascript_pdf(), "form.pdf")
    assert response.status_code == 201
    assert queued == [response.json()["document"]["id"]]


def test_a_path_in_the_name_is_never_used_for_storage(owner_client, queued, tmp_path):
    response = post_upload(owner_client, pdf_samples.multi_page_pdf(1), "../../evil.pdf")
    assert response.status_code == 201
    document = Document.objects.get()
    assert document.name == "evil.pdf"
    assert "evil" not in document.file.name
    assert not list(tmp_path.rglob("evil.pdf"))


def test_html_in_the_name_is_shown_escaped(owner_client, owner, django_capture_on_commit_callbacks):
    document = rendered_document(owner.user, django_capture_on_commit_callbacks, name=XSS_NAME)
    assert document.name == XSS_NAME
    assert XSS_NAME not in document.file.name
    for url in (reverse("document_list"), reverse("document_detail", args=[document.pk])):
        html = owner_client.get(url).content.decode()
        assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in html
        assert "<img src=x" not in html
    assert owner_client.get(reverse("document_status", args=[document.pk])).json()["name"] == XSS_NAME


def test_a_user_without_an_extension_cannot_upload(client, queued):
    client.force_login(make_user())
    response = post_upload(client, pdf_samples.multi_page_pdf(1))
    assert response.status_code == 403
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_an_upload_needs_the_csrf_token(owner, queued):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner.user)
    response = post_upload(strict, pdf_samples.multi_page_pdf(1))
    assert response.status_code == 403
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_nothing_is_left_when_the_row_cannot_be_made(owner_client, queued, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(Document.objects, "create", broken)
    with pytest.raises(RuntimeError):
        post_upload(owner_client, pdf_samples.multi_page_pdf(1))
    assert stored_files() == []


def test_nothing_is_left_when_storing_fails(owner_client, queued, monkeypatch):
    from django.core.files.storage import FileSystemStorage

    def broken(self, name, content):
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%PDF-partial")  # half written, then the disk fails
        raise OSError("disk full")

    monkeypatch.setattr(FileSystemStorage, "_save", broken)
    with pytest.raises(OSError):
        post_upload(owner_client, pdf_samples.multi_page_pdf(1))
    assert Document.objects.count() == 0
    assert stored_files() == []


# --- The request body limit, before Django reads the body --------------------------------------


async def _asgi_post(chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    sent: list[dict] = []
    pending = list(chunks)

    async def receive():
        if not pending:
            return {"type": "http.disconnect"}
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/client/documents/upload/",
        "raw_path": b"/client/documents/upload/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    await application(scope, receive, send)
    return sent, pending


async def test_the_server_answers_413_to_a_declared_huge_body_without_reading_it(settings):
    settings.PARLEY_DOCUMENT_MAX_BYTES = 1024
    sent, unread = await _asgi_post([b"x" * 1000] * 3, [(b"content-length", str(10 * 2**30).encode())])
    assert sent[0]["status"] == 413
    assert "larger than" in json.loads(sent[1]["body"])["error"]
    assert len(unread) == 3


async def test_the_server_stops_reading_an_undeclared_body_at_the_limit(settings):
    settings.PARLEY_DOCUMENT_MAX_BYTES = 1024
    chunk = b"x" * 2**20
    sent, unread = await _asgi_post([chunk] * 6, [(b"transfer-encoding", b"chunked")])
    assert sent[0]["status"] == 413
    assert len(unread) >= 3  # stopped after passing 1 MiB + 1 KiB, not at the end


# --- Pages, status, delete -----------------------------------------------------------------------


def test_the_list_shows_the_documents_with_thumbnail_status_and_progress(owner_client, owner, django_capture_on_commit_callbacks):
    ready = rendered_document(owner.user, django_capture_on_commit_callbacks, name="ready.pdf")
    processing = services.upload_document(
        owner.user, pdf_samples.upload(pdf_samples.multi_page_pdf(5), "busy.pdf")
    )  # not committed: not queued
    Document.objects.filter(pk=processing.pk).update(pages_rendered=2)
    html = owner_client.get(reverse("document_list")).content.decode()
    assert reverse("document_thumbnail", args=[ready.pk]) in html
    assert f'data-status-url="{reverse("document_status", args=[processing.pk])}"' in html
    assert "2 of 5 pages ready" in html
    assert 'id="document-upload"' in html


def test_the_status_is_the_document_json(owner_client, owner, queued):
    document = services.upload_document(owner.user, pdf_samples.upload(pdf_samples.multi_page_pdf(2), "a.pdf"))
    body = owner_client.get(reverse("document_status", args=[document.pk])).json()
    assert body == {
        "id": document.pk,
        "name": "a.pdf",
        "size": document.size,
        "page_count": 2,
        "status": "processing",
        "error": "",
        "pages_rendered": 0,
        "thumbnail_url": None,
        "created_at": document.created_at.isoformat(),
    }


def test_the_preview_shows_one_page_at_a_time(owner_client, owner, django_capture_on_commit_callbacks):
    document = rendered_document(owner.user, django_capture_on_commit_callbacks, pages=3)
    html = owner_client.get(reverse("document_detail", args=[document.pk]) + "?page=2").content.decode()
    assert reverse("document_page", args=[document.pk, 2]) in html
    assert "Page 2 of 3" in html
    assert 'href="?page=1"' in html and 'href="?page=3"' in html
    html = owner_client.get(reverse("document_detail", args=[document.pk]) + "?page=99").content.decode()
    assert "Page 3 of 3" in html


def test_the_owner_gets_the_page_images_and_thumbnail(owner_client, owner, django_capture_on_commit_callbacks):
    from io import BytesIO

    from PIL import Image

    document = rendered_document(owner.user, django_capture_on_commit_callbacks)
    response = owner_client.get(reverse("document_page", args=[document.pk, 2]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"].startswith("private")
    assert Image.open(BytesIO(b"".join(response.streaming_content))).size == (283, 400)
    thumbnail = owner_client.get(reverse("document_thumbnail", args=[document.pk]))
    assert Image.open(BytesIO(b"".join(thumbnail.streaming_content))).size[0] == 240
    assert owner_client.get(reverse("document_page", args=[document.pk, 3])).status_code == 404


def test_delete_removes_the_document_and_then_its_files(owner_client, owner, django_capture_on_commit_callbacks):
    document = rendered_document(owner.user, django_capture_on_commit_callbacks)
    assert len(stored_files()) == 4  # the PDF, two pages, the thumbnail
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("document_delete", args=[document.pk]), **JSON)
    assert response.json() == {"deleted": document.pk}
    assert not Document.objects.filter(pk=document.pk).exists()
    assert stored_files() == []
    assert owner_client.get(reverse("document_status", args=[document.pk])).status_code == 404


def test_delete_without_javascript_redirects_with_a_message(owner_client, owner, queued):
    document = services.upload_document(owner.user, pdf_samples.upload(pdf_samples.multi_page_pdf(1), "old.pdf"))
    response = owner_client.post(reverse("document_delete", args=[document.pk]), follow=True)
    assert "“old.pdf” deleted." in response.content.decode()
    assert Document.objects.get(pk=document.pk).deleted_at is not None
    assert "old.pdf</a>" not in response.content.decode()


def test_delete_needs_post(owner_client, owner, queued):
    document = services.upload_document(owner.user, pdf_samples.upload(pdf_samples.multi_page_pdf(1)))
    assert owner_client.get(reverse("document_delete", args=[document.pk])).status_code == 405
    assert Document.objects.get(pk=document.pk).deleted_at is None


# --- Owner, member, outsider, anonymous for every view --------------------------------------------

DOCUMENT_VIEWS = [
    ("document_detail", "get", lambda d: [d.pk]),
    ("document_status", "get", lambda d: [d.pk]),
    ("document_delete", "post", lambda d: [d.pk]),
    ("document_page", "get", lambda d: [d.pk, 1]),
    ("document_thumbnail", "get", lambda d: [d.pk]),
]


@pytest.fixture
def their_document(owner):
    """The owner's document as its render leaves it (rows, page images, thumbnail), made
    without rendering it: these tests are about who may see it, and the render has tests
    of its own (two PDFium processes per test saved)."""
    document = make_document(owner.user, pages=2, name="owners-secret-plan.pdf")
    page = document.pages.get(number=1)
    document.thumbnail = default_storage.save(f"{document.pages_prefix}/thumbnail.png", page.image.open("rb"))
    document.save(update_fields=["thumbnail"])
    return document


@pytest.mark.parametrize(("view", "method", "args"), DOCUMENT_VIEWS, ids=[view for view, *_ in DOCUMENT_VIEWS])
def test_the_owner_may_use_every_view(owner_client, their_document, view, method, args):
    response = getattr(owner_client, method)(reverse(view, args=args(their_document)), **JSON)
    assert response.status_code == 200


@pytest.mark.parametrize(("view", "method", "args"), DOCUMENT_VIEWS, ids=[view for view, *_ in DOCUMENT_VIEWS])
def test_another_extension_user_gets_404_for_every_view(client, their_document, view, method, args):
    client.force_login(make_extension().user)
    response = getattr(client, method)(reverse(view, args=args(their_document)), **JSON)
    assert response.status_code == 404
    their_document.refresh_from_db()
    assert their_document.deleted_at is None


@pytest.mark.parametrize(("view", "method", "args"), DOCUMENT_VIEWS, ids=[view for view, *_ in DOCUMENT_VIEWS])
def test_a_user_without_an_extension_is_refused_every_view(client, their_document, view, method, args):
    client.force_login(make_user())
    response = getattr(client, method)(reverse(view, args=args(their_document)), **JSON)
    assert response.status_code == 403
    their_document.refresh_from_db()
    assert their_document.deleted_at is None


@pytest.mark.parametrize(("view", "method", "args"), DOCUMENT_VIEWS, ids=[view for view, *_ in DOCUMENT_VIEWS])
def test_nobody_logged_in_is_sent_to_the_login_page(client, their_document, view, method, args):
    response = getattr(client, method)(reverse(view, args=args(their_document)))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_another_extension_user_does_not_see_the_document_in_their_list(client, their_document):
    client.force_login(make_extension().user)
    html = client.get(reverse("document_list")).content.decode()
    assert "owners-secret-plan.pdf" not in html
    assert f"document-{their_document.pk}" not in html


def test_the_list_is_refused_without_an_extension_and_asks_to_log_in(client):
    assert client.get(reverse("document_list")).status_code == 302
    client.force_login(make_user())
    assert client.get(reverse("document_list")).status_code == 403


def test_a_deleted_document_is_gone_for_its_owner_too(owner_client, owner, their_document):
    services.delete_document(owner.user, their_document)
    for view, method, args in DOCUMENT_VIEWS:
        assert getattr(owner_client, method)(reverse(view, args=args(their_document)), **JSON).status_code == 404, view
    assert "owners-secret-plan.pdf" not in owner_client.get(reverse("document_list")).content.decode()


def test_the_web_client_links_to_the_repository(owner_client):
    html = owner_client.get(reverse("client")).content.decode()
    assert f'href="{reverse("document_list")}"' in html
