"""documents.exports: pages composed with their annotations (strokes scaled to the
output with round caps, texts in DejaVu Sans, blank and dotted whiteboards, document
pages), the page-by-page PDF read back with pypdfium2, the idempotent render, and a
real Celery worker rendering a whiteboard PNG and an annotated PDF of an uploaded
document."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from core import leases
from documents import exports, presenting
from documents import services as document_services
from documents.models import Document, Export, Presentation
from meetings.roomkit import participant_group
from tests import pdf_samples
from tests.documents.helpers import (
    RoomEvents,
    draw,
    make_room,
    page_color,
    show_pdf,
    whiteboard,
    write,
)
from tests.listeners import GroupListener

RED = (225, 29, 72)  # #e11d48, the colour of the strokes of tests/documents/helpers.py
BLUE = (37, 99, 235)  # #2563eb, its text colour
WHITE = (255, 255, 255)
RENDER_TIMEOUT = 60.0


def near(pixel, color, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))


def colored_pixels(image: Image.Image, color, box=None, tolerance: int = 40) -> int:
    region = image.crop(box) if box else image
    return sum(1 for pixel in region.convert("RGB").get_flattened_data() if near(pixel, color, tolerance))


def horizontal(presentation: Presentation, who, stroke_id: str = "line", *, page: int = 1, y: float = 0.5, width: float = 0.02):
    """A stroke across the middle third of the page at height ``y``."""
    return draw(who, presentation, stroke_id, page=page, points=[[1 / 3, y], [0.5, y], [2 / 3, y]], width=width, final=True)


# --- Composition ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_draws_strokes_scaled_to_the_output_with_round_caps():
    room = make_room()
    board = whiteboard(room.presenter)
    horizontal(board, room.participant, width=0.02)
    for size in ((1600, 900), (800, 450)):
        image = exports.draw_annotations(exports.whiteboard_background("blank", size), presenting.live_annotations(board))
        width, height = size
        radius = 0.01 * width  # half the stroke width, a fraction of the page width
        assert near(image.getpixel((width // 2, height // 2)), RED, 5)
        assert near(image.getpixel((round(width / 3 - radius * 0.6), height // 2)), RED)  # the round cap
        assert image.getpixel((round(width / 3 - radius * 0.6), round(height / 2 - radius * 0.9))) != RED  # not a square one
        assert image.getpixel((width // 2, round(height / 2 + radius * 2))) == WHITE
        assert image.getpixel((width // 4, height // 2)) == WHITE


@pytest.mark.django_db
def test_it_draws_texts_and_leaves_out_erased_annotations():
    room = make_room()
    board = whiteboard(room.presenter)
    write(room.participant, board, "HELLO", x=0.1, y=0.1, size=0.05)
    erased = horizontal(board, room.participant, "gone", y=0.8)
    presenting.erase(room.creator, board.pk, erased.pk)
    image = exports.compose_page(board, 1)
    # DejaVu Sans at 5 % of 1600 px: about 80 px tall, from (160, 90).
    assert colored_pixels(image, BLUE, (160, 90, 700, 200)) > 500
    assert colored_pixels(image, BLUE, (0, 200, 1600, 900)) == 0
    assert colored_pixels(image, RED) == 0


@pytest.mark.django_db
def test_a_dotted_whiteboard_has_its_dots_and_a_blank_one_none():
    dotted = exports.whiteboard_background("dotted")
    blank = exports.whiteboard_background("blank")
    assert dotted.size == blank.size == (1600, 900)
    assert dotted.getpixel((20, 20)) == exports.DOT_COLOR
    assert dotted.getpixel((40, 40)) == WHITE
    assert blank.getcolors() == [(1600 * 900, WHITE)]


@pytest.mark.django_db
def test_a_document_page_is_its_image_with_its_annotations():
    room = make_room()
    shown = show_pdf(room.presenter, room.documents["presenter"])
    horizontal(shown, room.participant, page=2, y=0.5)
    png = exports.page_png(shown, 2)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (400, 566)
        assert image.getpixel((5, 5))[:3] == page_color(2)
        assert near(image.getpixel((200, 283)), RED, 5)
    with Image.open(io.BytesIO(exports.page_png(shown, 1))) as first:
        assert colored_pixels(first, RED) == 0


@pytest.mark.django_db
def test_the_pdf_has_every_page_with_its_annotations(tmp_path):
    room = make_room()
    shown = show_pdf(room.creator, room.documents["creator"])  # 3 pages of 400 x 566
    horizontal(shown, room.participant, page=3, y=0.25, width=0.03)
    path = tmp_path / "out.pdf"
    with path.open("wb") as out:
        exports.write_presentation_pdf(shown, out)
    pdf = pdfium.PdfDocument(str(path))
    assert len(pdf) == 3
    width, height = pdf[0].get_size()
    assert height == pytest.approx(exports.PDF_LONG_EDGE_PT)
    assert width / height == pytest.approx(400 / 566, rel=1e-3)
    pages = [pdf[n].render(scale=1).to_pil().convert("RGB") for n in range(3)]
    for number, image in enumerate(pages, start=1):
        w, h = image.size
        assert near(image.getpixel((10, 10)), page_color(number), 6)
        assert near(image.getpixel((w // 2, round(h * 0.25))), RED) is (number == 3)
    pdf.close()


# --- The render, in this process ------------------------------------------------------


@pytest.mark.django_db
def test_the_render_stores_one_file_and_is_idempotent(monkeypatch, django_capture_on_commit_callbacks):
    events = RoomEvents()
    monkeypatch.setattr("core.realtime.send_now", events)
    room = make_room()
    board = whiteboard(room.presenter)
    horizontal(board, room.participant)
    export = Export.objects.create(presentation=board, requester=room.participant, format="png", page=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert exports.render_export(export.pk) == "rendered"
    assert exports.render_export(export.pk) == "ready"
    assert exports.render_export(10**9) == "gone"
    export.refresh_from_db()
    assert (export.status, export.file.name) == ("ready", f"documents/exports/export-{export.pk}.png")
    assert default_storage.listdir("documents/exports")[1] == [f"export-{export.pk}.png"]
    with default_storage.open(export.file.name) as stored, Image.open(stored) as image:
        assert near(image.getpixel((800, 450)), RED, 5)
    [(group, body)] = events.named("presentation.export")
    assert group == participant_group(room.participant.pk)
    assert body["status"] == "ready" and body["url"].endswith(f"/exports/{export.pk}/presentation-{board.pk}-page-1.png")


@pytest.mark.django_db
def test_a_render_that_keeps_failing_says_so_to_its_requester(monkeypatch, django_capture_on_commit_callbacks):
    events = RoomEvents()
    monkeypatch.setattr("core.realtime.send_now", events)
    room = make_room()
    board = whiteboard(room.presenter)
    export = Export.objects.create(presentation=board, requester=room.participant, format="pdf")

    def broken(presentation, out, **renewal):
        raise OSError("disk full")

    monkeypatch.setattr(exports, "write_presentation_pdf", broken)
    with pytest.raises(OSError):
        exports.render_export(export.pk)
    assert Export.objects.get(pk=export.pk).status == "rendering"  # the task tries again
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(OSError):
        exports.render_export(export.pk, last_try=True)
    export.refresh_from_db()
    assert export.status == "failed" and "OSError" in export.error
    [(_group, body)] = events.named("presentation.export")
    assert body == {"export_id": export.pk, "status": "failed", "url": None, "error": export.error}


@pytest.mark.django_db
def test_an_export_renews_its_lease_page_by_page_and_stops_once_another_worker_has_it(monkeypatch, django_capture_on_commit_callbacks):
    events = RoomEvents()
    monkeypatch.setattr("core.realtime.send_now", events)
    room = make_room()
    board = whiteboard(room.presenter)
    Presentation.objects.filter(pk=board.pk).update(page_count=3)
    export = Export.objects.create(presentation=board, requester=room.participant, format="pdf")
    compose = exports.compose_page
    leases_seen: list = []
    others: list[Export] = []

    def slow_page(presentation, number):
        leases_seen.append(Export.objects.get(pk=export.pk).lease_until)
        if number == 2:
            # This worker stalls past its lease: taken for dead, another takes the export.
            Export.objects.filter(pk=export.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
            other = Export.objects.get(pk=export.pk)
            assert leases.claim(other, Export.objects.filter(status=Export.Status.RENDERING))
            others.append(other)
        return compose(presentation, number)

    monkeypatch.setattr(exports, "compose_page", slow_page)
    with django_capture_on_commit_callbacks(execute=True):
        assert exports.render_export(export.pk) == "superseded"

    assert leases_seen[0] < leases_seen[1]  # renewed before page 2
    current = Export.objects.get(pk=export.pk)
    assert (current.status, current.file.name, current.lease_token) == ("rendering", "", others[0].lease_token)
    assert not default_storage.exists("documents/exports")
    assert events.named("presentation.export") == []


# --- A real worker --------------------------------------------------------------------


@pytest.fixture
def worker_storage(live_env, settings):
    """This process's storage on the worker's media directory, to read what it wrote."""
    settings.MEDIA_ROOT = Path(live_env.variables["PARLEY_DATA_DIR"]) / "media"


def wait_for(what: str, check, timeout: float = RENDER_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.05)


def ready_export(export: Export) -> Export:
    def check():
        current = Export.objects.get(pk=export.pk)
        if current.status == Export.Status.FAILED:
            pytest.fail(f"export {export.pk} failed: {current.error}")
        return current if current.status == Export.Status.READY else None

    return wait_for(f"export {export.pk}", check)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_renders_the_whiteboard_as_png_and_tells_the_requester(celery_worker, worker_storage):
    room = make_room()
    board = whiteboard(room.presenter, "dotted")
    horizontal(board, room.participant, y=0.5, width=0.02)
    listener = GroupListener(participant_group(room.participant.pk))
    try:
        export = presenting.request_export(room.participant, presenting.ExportInput(board.pk, "png"))
        export = ready_export(export)
        with default_storage.open(export.file.name) as stored, Image.open(stored) as image:
            assert image.size == (1600, 900)
            assert near(image.getpixel((800, 450)), RED, 5)
            assert image.getpixel((20, 20)) == exports.DOT_COLOR
            assert image.getpixel((800, 300)) == WHITE
        event = listener.next_event()
    finally:
        listener.close()
    assert (event["event"], event["body"]["status"]) == ("presentation.export", "ready")
    assert event["body"]["url"] == presenting.export_url(export)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_renders_an_uploaded_document_with_its_annotations_as_pdf(celery_worker, worker_storage):
    room = make_room()
    owner = room.presenter.user
    uploaded = document_services.upload_document(owner, pdf_samples.upload(pdf_samples.multi_page_pdf(2), "Report.pdf"))
    document = wait_for("the document's render", lambda: Document.objects.filter(pk=uploaded.pk, status=Document.Status.READY).first())
    assert document.page_count == 2
    shown = show_pdf(room.presenter, document)
    horizontal(shown, room.participant, page=2, y=0.9, width=0.03)
    write(room.presenter, shown, "Checked", page=1, x=0.6, y=0.05, size=0.04)

    export = ready_export(presenting.request_export(room.participant, presenting.ExportInput(shown.pk, "pdf")))
    with default_storage.open(export.file.name) as stored:
        pdf = pdfium.PdfDocument(stored.read())
    assert len(pdf) == 2
    first, second = (pdf[n].render(scale=1).to_pil().convert("RGB") for n in range(2))
    w, h = second.size
    assert near(second.getpixel((w // 2, round(h * 0.9))), RED)
    assert not near(first.getpixel((w // 2, round(h * 0.9))), RED)
    assert colored_pixels(first, BLUE, (round(w * 0.6), 0, w, round(h * 0.15))) > 50
    assert colored_pixels(second, BLUE) == 0
    pdf.close()
