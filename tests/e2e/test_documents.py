"""Documents, PDF sharing, the whiteboard and annotation (F6, F7) in headless Chromium
against a real web server, Redis and Celery worker.

The organizer uploads a PDF from inside the meeting (the worker renders it) and
double-clicks it; a guest sees page 1, then page 2 after the turn; a marker stroke
drawn by the organizer appears on the guest's canvas (read back in pixels) and in its
state; a participant who joins late sees it; the annotated PDF downloads with the
stroke in it. On a dotted whiteboard: the dots, a stroke, a second page, the PNG
download, a participant whose annotating right was removed cannot draw, and Stop
Sharing takes the whiteboard off every screen.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from core import processes
from documents.models import Annotation, Document, Presentation
from tests.documents.helpers import make_document, page_color
from tests.e2e.pages import (
    ANNOTATIONS_JS,
    COLOR_NEAR_JS,
    IN_ROOM_JS,
    PAGE_SHOWN_JS,
    WS_RECORDER,
    Person,
    forced_send,
    join_room,
    shared_room,
)
from tests.fixtures_live import LiveEnv
from tests.fixtures_live import make_live_env as _live_env
from tests.pdf_samples import multi_page_pdf, png_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_MS = 90_000  # the worker's first render on a shared machine
EXPORT_TIMEOUT_MS = 60_000
GREEN = (0x16, 0xA3, 0x4A)  # the toolbar's "Green"
RED = (0xE1, 0x1D, 0x48)  # its first colour, the default
DOT = (176, 182, 194)  # a dotted whiteboard's dots (documents/exports.py)
CANVAS = "#presentation .presentation__canvas"
BACKGROUND = "#presentation .presentation__background"

# Records the type of every frame the page sends (installed before its scripts run).
SENT_RECORDER = """
(() => {
  const send = WebSocket.prototype.send;
  window.__sent = [];
  WebSocket.prototype.send = function (data) {
    try {
      window.__sent.push(JSON.parse(data).type);
    } catch {
      window.__sent.push("?");
    }
    return send.call(this, data);
  };
})();
"""

# ([selector, [r, g, b], tolerance]) → how many pixels of the canvas have that colour.
COLOR_COUNT_JS = """([selector, rgb, tolerance]) => {
  const canvas = document.querySelector(selector);
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && [0, 1, 2].every((c) => Math.abs(data[i + c] - rgb[c]) <= tolerance)) count += 1;
  }
  return count;
}"""


@pytest.fixture
def live_env(transactional_db, live_redis, asgi_server) -> LiveEnv:
    """The worker gets the web server's data directory: the page images and exports it
    stores are the files the web server serves (as on one machine in production)."""
    return _live_env(live_redis, asgi_server.outbox.parent)


# --- Helpers ----------------------------------------------------------------------------


def open_documents(person: Person):
    person.page.click("#documents-button")
    panel = person.page.locator("#documents-panel")
    expect(panel).to_be_visible()
    return panel


def upload_in_panel(person: Person, name: str, data: bytes) -> None:
    panel = person.page.locator("#documents-panel")
    with person.page.expect_file_chooser() as chooser:
        panel.locator(".documents-panel__upload-button").click()
    chooser.value.set_files({"name": name, "mimeType": "application/pdf", "buffer": data})


def canvas_point(page: Page, fraction: tuple[float, float]) -> tuple[float, float]:
    box = page.locator(CANVAS).bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, box
    return box["x"] + fraction[0] * box["width"], box["y"] + fraction[1] * box["height"]


def draw_line(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Mouse down at ``start``, through to ``end`` in small moves, up (page fractions)."""
    page.mouse.move(*canvas_point(page, start))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, end), steps=15)
    page.mouse.up()


def choose_tool(page: Page, tool: str) -> None:
    button = page.locator(f'#presentation .annotate__button[data-tool="{tool}"]')
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")


def wait_annotations(person: Person, page_number: int, count: int) -> None:
    person.page.wait_for_function(ANNOTATIONS_JS, arg=[page_number, count])


def wait_colour_at(person: Person, selector: str, point: tuple[float, float], rgb: tuple[int, int, int], tolerance: int = 12) -> None:
    person.page.wait_for_function(COLOR_NEAR_JS, arg=[selector, point[0], point[1], list(rgb), tolerance])


def colour_at(person: Person, selector: str, point: tuple[float, float], rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    return person.page.evaluate(COLOR_NEAR_JS, [selector, point[0], point[1], list(rgb), tolerance])


def near(pixel, rgb, tolerance: int) -> bool:
    return all(abs(int(pixel[c]) - rgb[c]) <= tolerance for c in range(3))


def has_colour_near(image: Image.Image, point: tuple[float, float], rgb: tuple[int, int, int], tolerance: int = 40) -> bool:
    """A pixel of colour ``rgb`` within 3 px of ``point`` (fractions) of ``image``."""
    image = image.convert("RGB")
    cx, cy = round(point[0] * image.width), round(point[1] * image.height)
    return any(near(image.getpixel((x, y)), rgb, tolerance) for x in range(cx - 3, cx + 4) for y in range(cy - 3, cy + 4))


def wait_until(condition, *, what: str) -> None:
    processes.wait_until(condition, timeout=10, what=what)


def download(person: Person, format_: str) -> tuple[bytes, str]:
    button = person.page.locator(f'#presentation .presentation__export[data-format="{format_}"]')
    with person.page.expect_download(timeout=EXPORT_TIMEOUT_MS) as info:
        button.click()
    expect(button).to_be_enabled()
    return Path(info.value.path()).read_bytes(), info.value.suggested_filename


# --- PDF sharing -------------------------------------------------------------------------


# (rgb) → the colour at the middle of the Documents panel's preview image, once loaded.
PREVIEW_COLOUR_JS = """(rgb) => {
  const image = document.querySelector("#documents-panel .documents-preview__image");
  if (!image || !image.complete || !image.naturalWidth) return false;
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const [r, g, b] = context.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data;
  return [r, g, b].every((value, c) => Math.abs(value - rgb[c]) <= 3);
}"""


def test_it_previews_a_document_page_by_page_in_the_room_before_sharing_it(open_page, asgi_server, settings):
    owner_ext, meeting = shared_room("Olivia Owner")
    settings.MEDIA_ROOT = asgi_server.outbox.parent / "data" / "media"  # the files the web server serves
    document = make_document(owner_ext.user, pages=3, name="Budget.pdf")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(), meeting, "Ann Guest")
    panel = open_documents(owner)
    item = panel.locator(f'.document-item[data-document-id="{document.pk}"]')

    item.locator(".document-item__preview").click()

    preview = panel.locator(".documents-preview")
    expect(preview).to_be_visible()
    expect(panel.locator(".documents-list")).to_be_hidden()
    expect(preview.locator(".documents-preview__title")).to_have_text("Budget.pdf")
    expect(preview.locator(".documents-preview__position")).to_have_text("Page 1 of 3")
    owner.page.wait_for_function(PREVIEW_COLOUR_JS, arg=list(page_color(1)))
    preview.locator(".documents-preview__next").click()
    expect(preview.locator(".documents-preview__position")).to_have_text("Page 2 of 3")
    owner.page.wait_for_function(PREVIEW_COLOUR_JS, arg=list(page_color(2)))
    owner.page.keyboard.press("ArrowRight")
    expect(preview.locator(".documents-preview__next")).to_be_disabled()
    owner.page.wait_for_function(PREVIEW_COLOUR_JS, arg=list(page_color(3)))
    # Only the one who previews sees it: nothing is shared yet.
    expect(ann.page.locator("#stage")).to_be_hidden()
    assert not Presentation.objects.exists()
    preview.locator(".documents-preview__back").click()
    expect(panel.locator(".documents-list")).to_be_visible()
    expect(item.locator(".document-item__preview")).to_be_focused()

    # Share from the preview: everyone sees page 1.
    item.locator(".document-item__preview").click()
    preview.locator(".documents-preview__share").click()
    expect(panel).to_be_hidden()
    ann.page.wait_for_function(PAGE_SHOWN_JS, arg=1)
    assert Presentation.objects.get(meeting=meeting).document_id == document.pk


def test_it_shares_an_uploaded_pdf_turns_pages_and_shows_strokes_live_to_everyone(open_page, celery_worker):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(), meeting, "Ann Guest")
    expect(owner.page.locator("#documents-button")).to_be_visible()
    expect(ann.page.locator("#documents-button")).to_be_hidden()  # participants do not share
    assert forced_send(ann.page, "document.list", {}) == "forbidden"

    # Upload from inside the meeting: a file that is not a PDF is refused with the reason.
    panel = open_documents(owner)
    expect(panel.locator(".documents-panel__repository-link")).to_have_attribute("href", "/client/documents/")
    upload_in_panel(owner, "picture.pdf", png_image())
    expect(panel.locator(".documents-panel__error")).to_have_text("This file is not a PDF. Only PDF documents can be uploaded.")
    expect(panel.locator(".document-item")).to_have_count(0)
    assert not Document.objects.exists()

    # A three-page PDF: uploaded, rendered by the worker while the panel follows it.
    upload_in_panel(owner, "Q3 <b>plan<b> & co.pdf", multi_page_pdf(3))
    item = panel.locator(".document-item")
    expect(item).to_have_count(1)
    expect(item.locator(".document-item__name")).to_have_text("Q3 <b>plan<b> & co.pdf")  # text, not markup
    expect(item).to_have_attribute("data-status", "ready", timeout=RENDER_TIMEOUT_MS)
    expect(item.locator(".document-item__meta")).to_contain_text("3 pages")
    expect(item.locator(".document-item__thumb img")).to_have_count(1)
    item.dblclick()
    expect(panel).to_be_hidden()

    # Everyone sees page 1 of it on the stage, instead of a video.
    for person in (owner, ann):
        expect(person.page.locator("#stage")).to_have_attribute("data-kind", "presentation")
        expect(person.page.locator("#presentation")).to_be_visible()
        person.page.wait_for_function(PAGE_SHOWN_JS, arg=1)
    expect(ann.page.locator("#presentation .presentation__indicator")).to_have_text("Page 1 of 3")
    expect(ann.page.locator("#stage-label")).to_have_text("Olivia Owner is presenting")
    expect(ann.page.locator("#presentation .presentation__next")).to_be_hidden()  # the sharer turns pages
    presentation = Presentation.objects.get(meeting=meeting)
    assert presentation.kind == "pdf" and presentation.page_count == 3

    # The sharer turns: Next, then keys on the page, then the page number.
    owner.page.locator("#presentation .presentation__next").click()
    ann.page.wait_for_function(PAGE_SHOWN_JS, arg=2)
    expect(ann.page.locator("#presentation .presentation__indicator")).to_have_text("Page 2 of 3")
    owner.page.locator("#presentation .presentation__view").focus()
    owner.page.keyboard.press("PageDown")
    ann.page.wait_for_function(PAGE_SHOWN_JS, arg=3)
    expect(owner.page.locator("#presentation .presentation__next")).to_be_disabled()
    page_input = owner.page.locator("#presentation .presentation__page-input")
    page_input.fill("2")
    page_input.press("Enter")
    ann.page.wait_for_function(PAGE_SHOWN_JS, arg=2)
    assert forced_send(ann.page, "presentation.page", {"presentation_id": presentation.pk, "page": 1}) == "forbidden"

    # The organizer draws a thick green stroke across the middle of page 2.
    choose_tool(owner.page, "marker")
    owner.page.locator('#presentation .annotate__swatch[data-color="#16a34a"]').click()
    owner.page.locator('#presentation .annotate__width[data-width="0.012"]').click()
    draw_line(owner.page, (0.2, 0.5), (0.8, 0.5))
    for person in (owner, ann):
        wait_annotations(person, 2, 1)
    wait_colour_at(ann, CANVAS, (0.5, 0.5), GREEN)
    wait_colour_at(ann, CANVAS, (0.3, 0.5), GREEN)
    assert not colour_at(ann, CANVAS, (0.5, 0.2), GREEN)  # only where it was drawn
    stroke = Annotation.objects.get(presentation=presentation)
    assert stroke.page == 2 and stroke.finished and stroke.data["color"] == "#16a34a" and stroke.data["width"] == 0.012
    assert len(stroke.data["points"]) >= 3
    assert all(abs(y - 0.5) < 0.02 for _x, y in stroke.data["points"])

    # The organizer's pointer, named, on the guest's page; hidden once idle.
    choose_tool(owner.page, "cursor")
    owner.page.mouse.move(*canvas_point(owner.page, (0.4, 0.3)))
    owner.page.mouse.move(*canvas_point(owner.page, (0.45, 0.35)), steps=3)
    pointer = ann.page.locator(f'#presentation .remote-cursor[data-participant-id="{owner.id}"]')
    expect(pointer).to_be_visible()
    expect(pointer.locator(".remote-cursor__label")).to_have_text("Olivia Owner")
    expect(pointer).to_be_hidden(timeout=10_000)

    # A participant who joins late gets page 2 with its stroke (from the snapshot).
    cy = join_room(open_page(), meeting, "Cy Latecomer")
    cy.page.wait_for_function(PAGE_SHOWN_JS, arg=2)
    wait_annotations(cy, 2, 1)
    wait_colour_at(cy, CANVAS, (0.5, 0.5), GREEN)

    # A narrower window: the canvas follows and draws the stroke again, in place.
    width_before = ann.page.evaluate(f"() => document.querySelector('{CANVAS}').width")
    ann.page.set_viewport_size({"width": 820, "height": 640})
    ann.page.wait_for_function(f"(before) => document.querySelector('{CANVAS}').width < before", arg=width_before)
    wait_colour_at(ann, CANVAS, (0.5, 0.5), GREEN)
    assert not colour_at(ann, CANVAS, (0.5, 0.2), GREEN)

    # The annotated PDF: every page, the stroke on page 2 only.
    data, filename = download(ann, "pdf")
    assert data.startswith(b"%PDF") and filename.endswith(".pdf"), (data[:20], filename)
    pdf = pypdfium2.PdfDocument(data)
    try:
        assert len(pdf) == 3
        second = pdf[1].render(scale=1).to_pil()
        first = pdf[0].render(scale=1).to_pil()
    finally:
        pdf.close()
    assert has_colour_near(second, (0.5, 0.5), GREEN)
    assert has_colour_near(second, (0.3, 0.5), GREEN)
    assert not has_colour_near(first, (0.5, 0.5), GREEN)


# --- The whiteboard ----------------------------------------------------------------------


def test_it_runs_a_dotted_whiteboard_with_pages_png_download_rights_and_stop_sharing(open_page, celery_worker):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia Owner")
    ann = join_room(open_page(init_script=SENT_RECORDER), meeting, "Ann Guest")

    panel = open_documents(owner)
    panel.get_by_label("Dotted").check()
    panel.locator(".documents-panel__open-whiteboard").click()
    expect(panel).to_be_hidden()
    for person in (owner, ann):
        expect(person.page.locator("#presentation")).to_have_attribute("data-kind", "whiteboard")
        person.page.wait_for_function("() => window.parleyRoom.presentation?.template === 'dotted'")
    # The dots are on the guest's screen: many small grey-blue dots on white.
    ann.page.wait_for_function("([s, rgb, t]) => (" + COLOR_COUNT_JS + ")([s, rgb, t]) > 200", arg=[BACKGROUND, list(DOT), 30])
    assert ann.page.evaluate(COLOR_COUNT_JS, [BACKGROUND, [255, 255, 255], 3]) > 10_000
    expect(ann.page.locator("#presentation .presentation__indicator")).to_have_text("Page 1 of 1")

    # A stroke in the default colour (red), on everyone's page 1.
    choose_tool(owner.page, "marker")
    draw_line(owner.page, (0.25, 0.4), (0.75, 0.6))
    for person in (owner, ann):
        wait_annotations(person, 1, 1)
    wait_colour_at(ann, CANVAS, (0.5, 0.5), RED)

    # A second page, empty; back to the first, with its stroke.
    owner.page.locator("#presentation .presentation__add-page").click()
    ann.page.wait_for_function("() => window.parleyRoom.presentation?.page === 2 && window.parleyRoom.presentation.page_count === 2")
    expect(ann.page.locator("#presentation .presentation__indicator")).to_have_text("Page 2 of 2")
    ann.page.wait_for_function("([s, x, y, rgb, t]) => !(" + COLOR_NEAR_JS + ")([s, x, y, rgb, t])", arg=[CANVAS, 0.5, 0.5, list(RED), 12])
    owner.page.locator("#presentation .presentation__previous").click()
    wait_annotations(ann, 1, 1)
    wait_colour_at(ann, CANVAS, (0.5, 0.5), RED)

    # The guest downloads page 1 as PNG: the dots and the stroke are in it.
    data, filename = download(ann, "png")
    assert filename.endswith(".png"), filename
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (1600, 900)
    assert has_colour_near(image, (0.5, 0.5), RED, tolerance=30)
    assert not has_colour_near(image, (0.5, 0.2), RED, tolerance=30)
    assert sum(1 for pixel in image.get_flattened_data() if near(pixel, DOT, 20)) > 500

    # The sharer's connection drops and comes back: the whiteboard and its stroke stay.
    board_id = owner.page.evaluate("() => window.parleyRoom.presentation.id")
    owner.page.evaluate("() => window.parleyRoom.dropSocket()")
    owner.page.wait_for_function("() => window.__sockets.length === 2 && window.__sockets[1].types.includes('room.snapshot')")
    owner.page.wait_for_function(IN_ROOM_JS)
    # A later message on the new socket: whatever the page sent on the snapshot came first.
    assert forced_send(owner.page, "document.list", {}) == "ack"
    wait_annotations(owner, 1, 1)
    assert owner.page.evaluate("() => window.parleyRoom.presentation.id") == board_id
    wait_colour_at(owner, CANVAS, (0.5, 0.5), RED)
    expect(ann.page.locator("#stage")).to_have_attribute("data-kind", "presentation")
    assert Presentation.objects.get(pk=board_id).ended_at is None

    # The organizer takes Ann's annotating right away: her toolbar is off, nothing goes out.
    assert forced_send(owner.page, "moderate.annotate", {"participant_id": ann.id, "allowed": False}) == "ack"
    marker = ann.page.locator('#presentation .annotate__button[data-tool="marker"]')
    expect(marker).to_be_disabled()
    expect(ann.page.locator(CANVAS)).to_have_attribute("data-tool", "none")
    ann.page.wait_for_function("() => window.parleyRoom.presentation.annotate_allowed === false")
    sent_before = ann.page.evaluate("() => window.__sent.length")
    draw_line(ann.page, (0.2, 0.8), (0.8, 0.8))
    ann.page.mouse.move(*canvas_point(ann.page, (0.3, 0.3)), steps=5)
    # Nothing to poll for when nothing may happen: give the stroke and cursor timers
    # (50 ms) several turns before looking.
    ann.page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 300))")
    sent = ann.page.evaluate("(from) => window.__sent.slice(from)", sent_before)
    assert not [kind for kind in sent if kind.startswith("annotation.")], sent
    assert Annotation.objects.count() == 1
    presentation_id = ann.page.evaluate("() => window.parleyRoom.presentation.id")
    chunk = {"presentation_id": presentation_id, "page": 1, "stroke_id": "x1", "points": [[0.1, 0.1]], "color": "#000000"}
    assert forced_send(ann.page, "annotation.stroke", {**chunk, "width": 0.01, "final": True}) == "forbidden"
    wait_annotations(owner, 1, 1)

    # Given back, she draws; the organizer sees it.
    assert forced_send(owner.page, "moderate.annotate", {"participant_id": ann.id, "allowed": True}) == "ack"
    expect(marker).to_be_enabled()
    choose_tool(ann.page, "marker")
    draw_line(ann.page, (0.2, 0.8), (0.8, 0.8))
    wait_annotations(owner, 1, 2)
    wait_colour_at(owner, CANVAS, (0.5, 0.8), RED)

    # Text: Ann places one, then edits her own.
    choose_tool(ann.page, "text")
    ann.page.mouse.click(*canvas_point(ann.page, (0.1, 0.1)))
    text_input = ann.page.locator("#presentation .presentation__text-input")
    expect(text_input).to_be_focused()
    ann.page.keyboard.type("Hello <b>")
    ann.page.keyboard.press("Enter")
    expect(text_input).to_be_hidden()
    wait_annotations(owner, 1, 3)
    text = Annotation.objects.get(kind="text")
    assert text.data["text"] == "Hello <b>" and text.author_id == ann.id
    assert abs(text.data["x"] - 0.1) < 0.01 and abs(text.data["y"] - 0.1) < 0.01
    owner.page.wait_for_function(COLOR_NEAR_JS, arg=[CANVAS, 0.12, 0.12, list(RED), 40, 20])  # its letters
    ann.page.mouse.click(*canvas_point(ann.page, (0.11, 0.115)))
    expect(text_input).to_have_value("Hello <b>")
    text_input.fill("Hello world")
    text_input.press("Enter")
    expect(text_input).to_be_hidden()
    wait_until(lambda: Annotation.objects.get(pk=text.pk).data["text"] == "Hello world", what="the edited text")
    wait_annotations(owner, 1, 3)

    # The organizer's eraser takes Ann's stroke away whole; Ann's Undo reverts her edit.
    choose_tool(owner.page, "eraser")
    owner.page.mouse.click(*canvas_point(owner.page, (0.5, 0.8)))
    for person in (owner, ann):
        wait_annotations(person, 1, 2)
    ann.page.locator('#presentation .annotate__button[data-tool="undo"]').click()
    wait_until(lambda: Annotation.objects.get(pk=text.pk).data["text"] == "Hello <b>", what="the text as it was")

    # Clear (organizers and the sharer; confirmed): the page is empty for everyone.
    expect(ann.page.locator('#presentation .annotate__button[data-tool="clear"]')).to_be_hidden()
    owner.page.locator('#presentation .annotate__button[data-tool="clear"]').click()
    owner.page.locator("#confirm-ok").click()
    for person in (owner, ann):
        wait_annotations(person, 1, 0)
    ann.page.wait_for_function("([s, x, y, rgb, t]) => !(" + COLOR_NEAR_JS + ")([s, x, y, rgb, t])", arg=[CANVAS, 0.5, 0.5, list(RED), 12])

    # Stop Sharing: off every screen, the presentation ended.
    owner.page.locator("#stage-stop").click()
    for person in (owner, ann):
        expect(person.page.locator("#stage")).to_be_hidden()
        person.page.wait_for_function("() => window.parleyRoom.presentation === null && window.parleyRoom.share === null")
    assert Presentation.objects.get(meeting=meeting).ended_at is not None


def test_it_erases_every_stroke_a_drag_of_the_eraser_crosses_and_one_undo_brings_them_back(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(), meeting, "Ann Guest")
    panel = open_documents(owner)
    panel.locator(".documents-panel__open-whiteboard").click()
    ann.page.wait_for_function("() => window.parleyRoom.presentation?.kind === 'whiteboard'")
    choose_tool(owner.page, "marker")
    for x in (0.3, 0.5, 0.7):  # three upright strokes, side by side
        draw_line(owner.page, (x, 0.3), (x, 0.7))
    wait_annotations(ann, 1, 3)
    wait_colour_at(ann, CANVAS, (0.5, 0.5), RED)

    # One drag across the first two strokes, between them and the third: those two go.
    choose_tool(owner.page, "eraser")
    draw_line(owner.page, (0.2, 0.5), (0.6, 0.5))

    wait_annotations(ann, 1, 1)
    wait_annotations(owner, 1, 1)
    assert not colour_at(ann, CANVAS, (0.3, 0.4), RED) and not colour_at(ann, CANVAS, (0.5, 0.4), RED)
    assert colour_at(ann, CANVAS, (0.7, 0.4), RED)
    assert Annotation.objects.filter(removed_at__isnull=True).count() == 1
    # The drag is one change: one Undo brings both strokes back.
    owner.page.locator('#presentation .annotate__button[data-tool="undo"]').click()
    wait_annotations(ann, 1, 3)
    wait_colour_at(ann, CANVAS, (0.3, 0.4), RED)
