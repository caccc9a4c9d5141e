"""Exports of a presentation, rendered by the worker (``documents.tasks.render_export``):
a PNG of one page, or a PDF of every page, each page its image (the document's
rendered page, or a blank or dotted whiteboard) with its annotations drawn on it.

Annotations are stored in page fractions, so they are drawn scaled to the output:
stroke widths and text sizes are fractions of the page width, strokes have round
caps and joins, texts are set in DejaVu Sans with ``(x, y)`` the top-left corner of
the text. They are drawn at twice the size and scaled down, for smooth edges.

The PDF is written page by page (a JPEG image per page, an img2pdf-like layout), so a
300-page document never has all its pages in memory at once. Each export has one file
under a fixed name. A worker claims the export (its lease, ``core.leases``) before it
starts and renews the lease with each page; the file is written under the export's row
lock only while the lease is still its own: a task delivered twice, an export queued
again once its worker died, and that worker coming back late still leave one file.
"""

from __future__ import annotations

import functools
import io
import logging
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from core import leases
from documents import presenting
from documents.models import Annotation, DocumentPage, Export, Presentation

logger = logging.getLogger(__name__)

EXPORTS_DIR = "documents/exports"
FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WHITEBOARD_SIZE = (1600, 900)
DOT_SPACING = 40  # a dotted whiteboard's grid, in pixels at WHITEBOARD_SIZE
DOT_COLOR = (176, 182, 194)
SUPERSAMPLE = 2
LINE_SPACING = 1.25
# A PDF page's long edge, in points (A4's).
PDF_LONG_EDGE_PT = 842.0
JPEG_QUALITY = 90
ERROR_MAX = Export._meta.get_field("error").max_length or 300


def export_name(export: Export) -> str:
    return f"{EXPORTS_DIR}/export-{export.pk}.{export.format}"


# --- Composition ----------------------------------------------------------------------


def whiteboard_background(template: str, size: tuple[int, int] = WHITEBOARD_SIZE) -> Image.Image:
    image = Image.new("RGB", size, "white")
    if template == Presentation.Template.DOTTED:
        draw = ImageDraw.Draw(image)
        width, height = size
        spacing = max(4, round(DOT_SPACING * width / WHITEBOARD_SIZE[0]))
        radius = max(1.0, spacing / 20)
        for x in range(spacing // 2, width, spacing):
            for y in range(spacing // 2, height, spacing):
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=DOT_COLOR)
    return image


def document_background(presentation: Presentation, number: int) -> Image.Image:
    """The rendered page, or a white page of its size should its image be gone."""
    page = None
    if presentation.document_id is not None:
        page = DocumentPage.objects.filter(document_id=presentation.document_id, number=number).first()
    if page is not None and page.image.name:
        try:
            with default_storage.open(page.image.name, "rb") as stream, Image.open(stream) as image:
                return image.convert("RGB")
        except (FileNotFoundError, OSError):
            logger.warning("The image of page %s of document %s is missing", number, presentation.document_id)
    size = (page.width, page.height) if page is not None else (1131, 1600)
    return Image.new("RGB", size, "white")


def page_background(presentation: Presentation, number: int) -> Image.Image:
    if presentation.kind == Presentation.Kind.WHITEBOARD:
        return whiteboard_background(presentation.template)
    return document_background(presentation, number)


@functools.lru_cache(maxsize=64)
def _font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size=pixels)


def _draw_stroke(draw: ImageDraw.ImageDraw, data: dict[str, Any], width: int, height: int) -> None:
    points = [(x * width, y * height) for x, y in data["points"]]
    if not points:
        return
    line_width = max(1, round(data["width"] * width))
    if len(points) > 1:
        draw.line(points, fill=data["color"], width=line_width, joint="curve")
    # Round caps (and a lone point is a dot).
    radius = line_width / 2
    for x, y in {points[0], points[-1]}:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=data["color"])


def _draw_text(draw: ImageDraw.ImageDraw, data: dict[str, Any], width: int, height: int) -> None:
    pixels = max(4, round(data["size"] * width))
    font = _font(pixels)
    spacing = round(pixels * (LINE_SPACING - 1))
    draw.multiline_text((data["x"] * width, data["y"] * height), data["text"], font=font, fill=data["color"], spacing=spacing)


def draw_annotations(image: Image.Image, annotations: Iterable[Annotation]) -> Image.Image:
    """``image`` with the annotations drawn over it, scaled to its size."""
    annotations = list(annotations)
    if not annotations:
        return image
    width, height = image.size
    big = (width * SUPERSAMPLE, height * SUPERSAMPLE)
    overlay = Image.new("RGBA", big, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for annotation in annotations:
        if annotation.kind == Annotation.Kind.STROKE:
            _draw_stroke(draw, annotation.data, *big)
        else:
            _draw_text(draw, annotation.data, *big)
    layer = overlay.resize((width, height), Image.Resampling.BOX)
    composed = image.convert("RGBA")
    composed.alpha_composite(layer)
    return composed.convert("RGB")


def compose_page(presentation: Presentation, number: int) -> Image.Image:
    """One page as people saw it: its background with its annotations."""
    return draw_annotations(page_background(presentation, number), presenting.live_annotations(presentation, number))


def page_png(presentation: Presentation, number: int) -> bytes:
    buffer = io.BytesIO()
    compose_page(presentation, number).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


# --- A PDF of JPEG pages --------------------------------------------------------------


class ImagePdfWriter:
    """A PDF whose pages are full-page JPEG images, written one page at a time."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.offsets: dict[int, int] = {}
        self.kids: list[int] = []
        self.next_number = 3  # 1: the catalog, 2: the page tree (written last)
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _object(self, number: int, head: bytes, stream: bytes | None = None) -> None:
        self.offsets[number] = self.out.tell()
        self.out.write(b"%d 0 obj\n" % number + head)
        if stream is not None:
            self.out.write(b"\nstream\n" + stream + b"\nendstream")
        self.out.write(b"\nendobj\n")

    def _numbers(self, count: int) -> list[int]:
        numbers = list(range(self.next_number, self.next_number + count))
        self.next_number += count
        return numbers

    def add_page(self, image: Image.Image) -> None:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
        jpeg = buffer.getvalue()
        width, height = image.size
        scale = PDF_LONG_EDGE_PT / max(width, height)
        page_width, page_height = width * scale, height * scale
        image_number, content_number, page_number = self._numbers(3)
        self._object(
            image_number,
            (
                f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
                f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>"
            ).encode(),
            jpeg,
        )
        content = f"q {page_width:.2f} 0 0 {page_height:.2f} 0 0 cm /Im0 Do Q".encode()
        self._object(content_number, f"<< /Length {len(content)} >>".encode(), content)
        self._object(
            page_number,
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_width:.2f} {page_height:.2f}] "
                f"/Resources << /XObject << /Im0 {image_number} 0 R >> >> /Contents {content_number} 0 R >>"
            ).encode(),
        )
        self.kids.append(page_number)

    def close(self) -> None:
        kids = " ".join(f"{number} 0 R" for number in self.kids)
        self._object(2, f"<< /Type /Pages /Kids [{kids}] /Count {len(self.kids)} >>".encode())
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        xref_at = self.out.tell()
        size = self.next_number
        self.out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for number in range(1, size):
            self.out.write(b"%010d 00000 n \n" % self.offsets[number])
        self.out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at))


def write_presentation_pdf(presentation: Presentation, out: IO[bytes], *, before_page: Callable[[], None] = lambda: None) -> None:
    """Every page into ``out``; ``before_page`` is called before each (the lease's renewal)."""
    writer = ImagePdfWriter(out)
    for number in range(1, presentation.page_count + 1):
        before_page()
        writer.add_page(compose_page(presentation, number))
    writer.close()


# --- The task's work ------------------------------------------------------------------


def _is_ready(export: Export) -> bool:
    name = export.file.name
    return export.status == Export.Status.READY and bool(name) and default_storage.exists(name or "")


def _rendering():
    return Export.objects.filter(status=Export.Status.RENDERING)


def _renew(export: Export) -> None:
    if not leases.renew(export, _rendering()):
        raise leases.LeaseLost


def render_export(export_id: int, *, last_try: bool = False) -> str:
    """Render and store an export, then tell its requester (``presentation.export``).

    Returns ``"gone"`` (no such export), ``"ready"`` (already there: nothing done),
    ``"skipped"`` (another worker holds its lease, or it is not rendering),
    ``"superseded"`` (this worker lost its lease to another: nothing stored) or
    ``"rendered"``. A failure is re-raised for the task to retry (the export goes back
    to the queue meanwhile); on its last try the export is marked failed first, so that
    the person waiting learns of it.
    """
    export = Export.objects.select_related("presentation", "presentation__meeting").filter(pk=export_id).first()
    if export is None:
        return "gone"
    if _is_ready(export):
        return "ready"
    if not leases.claim(export, _rendering()):
        return "skipped"
    try:
        with tempfile.TemporaryFile() as content:
            if export.format == Export.Format.PNG:
                content.write(page_png(export.presentation, export.page or 1))
            else:
                write_presentation_pdf(export.presentation, content, before_page=lambda: _renew(export))
            content.seek(0)
            return _store(export, content)
    except leases.LeaseLost:
        return _superseded(export)
    except Exception as exc:
        if last_try:
            logger.exception("Export %s failed for good", export_id)
            _mark_failed(export, exc)
        else:
            leases.release(export, _rendering(), presenting.EXPORT_RETRY_AFTER)
        raise


def _superseded(export: Export) -> str:
    logger.warning("Export %s was rendered again elsewhere; this late render is dropped", export.pk)
    return "superseded"


def _locked(export_id: int) -> Export | None:
    return Export.objects.select_for_update(of=("self",)).select_related("presentation__meeting").filter(pk=export_id).first()


def _store(export: Export, content: IO[bytes]) -> str:
    with transaction.atomic():
        current = _locked(export.pk)
        if current is None:
            return "gone"
        if not leases.holds(current, export.lease_token):  # taken for dead, the export was given to another
            return _superseded(export)
        if _is_ready(current):
            return "ready"
        name = export_name(current)
        # A file left by an attempt killed before it could commit: replace it.
        if default_storage.exists(name):
            default_storage.delete(name)
        current.file.name = default_storage.save(name, File(content, name=name))
        current.status = Export.Status.READY
        current.error = ""
        current.finished_at = timezone.now()
        current.save(update_fields=["file", "status", "error", "finished_at", *leases.finish(current)])
        presenting.publish_export_state(current)
    return "rendered"


def _mark_failed(export: Export, exc: Exception) -> None:
    with transaction.atomic():
        current = _locked(export.pk)
        if current is None or current.status == Export.Status.READY or not leases.holds(current, export.lease_token):
            return
        current.status = Export.Status.FAILED
        current.error = _("The file could not be made (%(reason)s). Try again.") % {"reason": type(exc).__name__}
        current.error = current.error[:ERROR_MAX]
        current.finished_at = timezone.now()
        current.save(update_fields=["status", "error", "finished_at", *leases.finish(current)])
        presenting.publish_export_state(current)
