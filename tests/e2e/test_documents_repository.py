"""The Shared Documents Repository page in headless Chromium against a real web server and
a real worker (documents.js): upload with progress, the render followed until the
thumbnail shows, a refused file's message, the preview with the arrow keys, delete
after a confirmation; an HTML file name stays text all along."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from documents.models import Document
from tests import pdf_samples
from tests.factories import make_extension
from tests.fixtures_live import LiveEnv
from tests.fixtures_live import make_live_env as _live_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_NAME = "<img src=x onerror=alert(1)>.pdf"
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture
def live_env(transactional_db, live_redis, asgi_server) -> LiveEnv:
    """The worker gets the web server's data directory: the PDF the web server stores is the
    file the worker renders (one machine, one local storage)."""
    return _live_env(live_redis, asgi_server.outbox.parent)


def pdf_file(data: bytes, name: str) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": data}


def test_it_uploads_follows_the_render_previews_and_deletes(open_page, celery_worker):
    owner = make_extension(display_name="Olivia Owner")
    page = open_page(user=owner.user)
    dialogs: list[tuple[str, str]] = []

    def answer(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    page.on("dialog", answer)
    page.goto("/client/documents/")
    expect(page.locator("#documents-empty")).to_be_visible()

    # A refused file: the server's sentence, nothing added.
    page.set_input_files("#id_file", files=[pdf_file(pdf_samples.encrypted_pdf(), "locked.pdf")])
    page.click("#upload-button")
    expect(page.locator("#upload-error")).to_contain_text("protected by a password")
    expect(page.locator("#document-list .document")).to_have_count(0)

    # A good one: listed at once, then followed until ready with its thumbnail.
    page.set_input_files("#id_file", files=[pdf_file(pdf_samples.multi_page_pdf(3), XSS_NAME)])
    page.click("#upload-button")
    item = page.locator("#document-list .document").first
    expect(item.locator(".document__name")).to_have_text(XSS_NAME)
    expect(page.locator("#upload-error")).to_be_hidden()
    expect(item).to_have_attribute("data-status", "ready", timeout=RENDER_TIMEOUT_MS)
    expect(item.locator(".document__badge")).to_have_text("Ready")
    thumbnail = item.locator(".document__thumb img")
    expect(thumbnail).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth === 240", arg=thumbnail.element_handle())
    expect(item.locator(".document__pages")).to_have_text("3 pages")
    document = Document.objects.get(owner=owner.user)
    assert document.name == XSS_NAME

    # Preview, page by page with the arrow keys.
    item.locator(".document__preview").click()
    page.wait_for_url(f"**/client/documents/{document.pk}/")
    expect(page.locator("h1")).to_have_text(XSS_NAME)
    expect(page.locator(".pager__position")).to_have_text("Page 1 of 3")
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**?page=2")
    expect(page.locator(".pager__position")).to_have_text("Page 2 of 3")
    page.wait_for_function("() => { const img = document.getElementById('page-image'); return img.complete && img.naturalWidth === 1131; }")

    # Delete, after saying yes.
    page.click(".document__delete button")
    page.wait_for_url("**/client/documents/")
    expect(page.locator("#documents-empty")).to_be_visible()
    assert dialogs == [("confirm", f"Delete “{XSS_NAME}” from your documents?")]  # and never an alert from the name
    assert not Document.objects.filter(pk=document.pk, deleted_at__isnull=True).exists()
