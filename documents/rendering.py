"""PDF work with pypdfium2, in a child process with memory and time limits.

Parsing a PDF is the riskiest thing Parley does with what people upload: a
decompression bomb or a crafted file can make PDFium allocate gigabytes (and it aborts
the whole process when an allocation fails) or spin. So PDFium never runs in the web
server or the Celery worker: ``probe()`` and ``render()`` start
``python -m documents.rendering`` with an address-space limit (``RLIMIT_AS``) and a CPU
limit, and a watchdog kills it at the wall-clock deadline. The child answers in JSON
lines on stdout; the parent stores what it produced.

Forms and JavaScript are never initialised (no ``init_forms``): the document is only
drawn, page by page, at a scale that keeps the long edge at ``page_pixels`` whatever
size the page declares.

No Django import at module level: the child starts quickly and needs no settings.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

THUMBNAIL_WIDTH = 240
THUMBNAIL_MAX_HEIGHT = 2 * THUMBNAIL_WIDTH
# Whatever PARLEY_DOCUMENT_PAGE_PIXELS says, one page bitmap stays below this many pixels.
MAX_PAGE_AREA = 4096 * 4096
PNG_COMPRESS_LEVEL = 3


class PdfError(Exception):
    """Why a PDF could not be probed or rendered; ``code`` names the reason."""

    DAMAGED = "damaged"
    PASSWORD = "password"
    NO_PAGES = "no_pages"
    MEMORY = "memory"
    TIMEOUT = "timeout"
    CRASHED = "crashed"

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_mb: int


# --- Scale -------------------------------------------------------------------------------


def render_scale(width: float, height: float, page_pixels: int) -> float:
    """The scale (pixels per point) that puts the long edge at ``page_pixels`` and the
    area under ``MAX_PAGE_AREA``; pypdfium2 rounds sizes up, so aim a hair below."""
    long_edge = max(width, height, 1e-3)
    scale = (page_pixels - 0.01) / long_edge
    area = max(width, 1e-3) * max(height, 1e-3) * scale * scale
    if area > MAX_PAGE_AREA:
        scale *= math.sqrt(MAX_PAGE_AREA / area)
    return scale


# --- In the child --------------------------------------------------------------------------


def _emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _open(path: str):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise PdfError(PdfError.PASSWORD) from None
        raise PdfError(PdfError.DAMAGED, str(error)) from None


def probe_document(path: str, max_pages: int) -> int:
    """The page count of the PDF at ``path``, once every page has loaded (the count
    alone when it is over ``max_pages``: the file is refused anyway)."""
    import pypdfium2 as pdfium

    document = _open(path)
    try:
        count = len(document)
        if count < 1:
            raise PdfError(PdfError.NO_PAGES)
        if count > max_pages:
            return count
        # A damaged file can open with a page tree whose pages are missing, and a
        # decompression bomb shows only once a page's content is parsed: PDFium's
        # page loading does both, so do it now, before anything is stored.
        for index in range(count):
            try:
                document[index].close()
            except pdfium.PdfiumError:
                raise PdfError(PdfError.DAMAGED, f"page {index + 1} does not load") from None
        return count
    finally:
        document.close()


def render_document_pages(path: str, out_dir: str, page_pixels: int) -> Iterator[dict]:
    """Render each page to ``out_dir/page-<n>.png``, then the thumbnail; yield one
    message per file written."""
    import pypdfium2 as pdfium

    document = _open(path)
    try:
        count = len(document)
        if count < 1:
            raise PdfError(PdfError.NO_PAGES)
        yield {"pages": count}
        for index in range(count):
            try:
                page = document[index]
            except pdfium.PdfiumError:
                raise PdfError(PdfError.DAMAGED, f"page {index + 1} does not load") from None
            try:
                image = _render_page(page, page_pixels)
            finally:
                page.close()
            name = f"page-{index + 1}.png"
            image.save(Path(out_dir) / name, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
            yield {"page": index + 1, "file": name, "width": image.width, "height": image.height}
            if index == 0:
                yield _thumbnail(image, out_dir)
            image.close()
    finally:
        document.close()


def _render_page(page, page_pixels: int):
    width, height = page.get_size()
    bitmap = page.render(scale=render_scale(width, height, page_pixels), may_draw_forms=False)
    try:
        return bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()


def _thumbnail(image, out_dir: str) -> dict:
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_MAX_HEIGHT))
    thumbnail.save(Path(out_dir) / "thumbnail.png", format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return {"thumbnail": "thumbnail.png", "width": thumbnail.width, "height": thumbnail.height}


def _limit_self(limits: Limits) -> None:
    memory = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = math.ceil(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def child_main(argv: list[str]) -> int:
    """``probe SECONDS MEMORY_MB PATH MAX_PAGES`` or ``render SECONDS MEMORY_MB PATH OUT_DIR PAGE_PIXELS``."""
    command, seconds, memory_mb, path, *rest = argv
    _limit_self(Limits(float(seconds), int(memory_mb)))
    try:
        if command == "probe":
            (max_pages,) = rest
            _emit({"pages": probe_document(path, int(max_pages))})
        elif command == "render":
            out_dir, page_pixels = rest
            for message in render_document_pages(path, out_dir, int(page_pixels)):
                _emit(message)
            _emit({"done": True})
        else:
            raise SystemExit(f"unknown command {command!r}")
    except PdfError as error:
        _emit({"error": error.code, "detail": error.detail})
    except MemoryError:
        _emit({"error": PdfError.MEMORY})
    return 0


# --- In the parent ---------------------------------------------------------------------------


def _spawn(arguments: list[str], limits: Limits) -> subprocess.Popen:
    command = [sys.executable, "-m", "documents.rendering", arguments[0], str(limits.seconds), str(limits.memory_mb), *arguments[1:]]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "DATABASE_", "SECRET_", "EMAIL_"))}
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(Path(__file__).resolve().parent.parent),
        env=environment,
        start_new_session=True,
    )


def _messages(arguments: list[str], limits: Limits) -> Iterator[dict]:
    """Run the child and yield its messages as they come; kill it at the deadline
    and whenever the caller stops early (an exception, a closed generator)."""
    child = _spawn(arguments, limits)
    timed_out = threading.Event()

    def kill_late():
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            child.kill()

    watchdog = threading.Timer(limits.seconds, kill_late)
    watchdog.daemon = True
    watchdog.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            message = json.loads(line)
            if "error" in message:
                raise PdfError(message["error"], message.get("detail", ""))
            yield message
        returncode = child.wait()
        if timed_out.is_set() or returncode in (-signal.SIGKILL, -signal.SIGXCPU):
            raise PdfError(PdfError.TIMEOUT)
        if returncode == -signal.SIGABRT:
            # PDFium aborts when an allocation fails: the memory limit was reached.
            raise PdfError(PdfError.MEMORY)
        if returncode != 0:
            raise PdfError(PdfError.CRASHED, f"exit code {returncode}")
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()


def probe(path: str | Path, *, max_pages: int, limits: Limits) -> int:
    """The page count of a PDF, or ``PdfError``."""
    for message in _messages(["probe", str(path), str(max_pages)], limits):
        if "pages" in message:
            return int(message["pages"])
    raise PdfError(PdfError.CRASHED, "no answer")


def render(path: str | Path, out_dir: str | Path, *, page_pixels: int, limits: Limits) -> Iterator[dict]:
    """Messages of the render as the pages come: ``{"pages"}`` first, then
    ``{"page", "file", "width", "height"}`` per page and ``{"thumbnail", …}`` after
    page 1, and ``{"done": True}`` last; ``PdfError`` on failure."""
    finished = False
    for message in _messages(["render", str(path), str(out_dir), str(page_pixels)], limits):
        finished = finished or bool(message.get("done"))
        yield message
    if not finished:
        raise PdfError(PdfError.CRASHED, "the renderer stopped early")


def deadline_limits(deadline: float, memory_mb: int) -> Limits:
    """Limits for a child that must be done by ``deadline`` (``time.monotonic()``)."""
    return Limits(seconds=max(deadline - time.monotonic(), 0.5), memory_mb=memory_mb)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
