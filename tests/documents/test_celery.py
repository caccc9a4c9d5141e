"""A real Celery worker renders uploaded PDFs: page images of the right count and
size, the progress seen through the status URL, a huge page capped in pixels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from documents.models import Document
from tests import pdf_samples
from tests.factories import make_extension

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT = 60.0


@pytest.fixture
def shared_media(live_env, settings) -> Path:
    """The worker's MEDIA_ROOT, used by this process too (one local storage)."""
    media = Path(live_env.variables["PARLEY_DATA_DIR"]) / "media"
    settings.MEDIA_ROOT = media
    return media


@pytest.fixture
def owner_client(client):
    owner = make_extension()
    client.force_login(owner.user)
    return client


def upload(client, data: bytes, name: str) -> dict:
    response = client.post(reverse("document_upload"), {"file": pdf_samples.upload(data, name)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201, response.content
    return response.json()["document"]


def finished(client, document_id: int) -> tuple[dict, list[int]]:
    """Follow the status URL as the page does until the render is over; the
    ``pages_rendered`` values seen on the way."""
    deadline = time.monotonic() + RENDER_TIMEOUT
    seen: list[int] = []
    while True:
        body = client.get(reverse("document_status", args=[document_id])).json()
        seen.append(body["pages_rendered"])
        if body["status"] != "processing":
            return body, seen
        if time.monotonic() > deadline:
            pytest.fail(f"document {document_id} still processing after {RENDER_TIMEOUT:.0f} s: {body}")
        time.sleep(0.05)


def test_it_renders_an_uploaded_pdf_into_page_images_of_the_right_count_and_size(celery_worker, shared_media, owner_client):
    sizes = [pdf_samples.A4, pdf_samples.LETTER_LANDSCAPE]
    uploaded = upload(owner_client, pdf_samples.multi_page_pdf(6, sizes=sizes), "Six pages.pdf")
    poster = upload(owner_client, pdf_samples.huge_page_pdf(200_000), "poster.pdf")
    assert uploaded["status"] == "processing"
    body, seen = finished(owner_client, uploaded["id"])
    assert (body["status"], body["error"], body["page_count"], body["pages_rendered"]) == ("ready", "", 6, 6)
    assert seen == sorted(seen)
    document = Document.objects.get(pk=uploaded["id"])
    pages = list(document.pages.order_by("number"))
    assert [page.number for page in pages] == [1, 2, 3, 4, 5, 6]
    for page in pages:
        with Image.open(shared_media / page.image.name) as image:
            expected = (1131, 1600) if page.number % 2 else (1600, 1237)
            assert image.format == "PNG"
            assert image.size == expected == (page.width, page.height)
    with Image.open(shared_media / document.thumbnail.name) as thumbnail:
        assert thumbnail.width == 240
    assert body["thumbnail_url"] == reverse("document_thumbnail", args=[document.pk])
    assert owner_client.get(reverse("document_page", args=[document.pk, 6])).status_code == 200

    # A page of 200,000 × 200,000 points, capped at the configured long edge.
    body, _seen = finished(owner_client, poster["id"])
    assert body["status"] == "ready"
    page = Document.objects.get(pk=poster["id"]).pages.get()
    with Image.open(shared_media / page.image.name) as image:
        assert image.size == (settings.PARLEY_DOCUMENT_PAGE_PIXELS, settings.PARLEY_DOCUMENT_PAGE_PIXELS)
