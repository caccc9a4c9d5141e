"""Document render: how long the worker takes per page of a 50-page PDF.

The PDF is built in code (``tests.pdf_samples.multi_page_pdf``: A4 pages with a
coloured band, a frame, a large page number and eight lines of text, Flate-compressed
content). Timed in this process, as the worker runs it: ``services.render_document``
whole (copy of the PDF out of the storage, the limited PDFium child process, PNG
encoding there, each page and the thumbnail saved to the storage, a DocumentPage row
and a progress update per page, the ``document.updated`` broadcasts). Per-page times
are the gaps between consecutive pages being recorded (the first page's includes the
child's start-up and PDF loading). Baseline in the same run: pypdfium2 in this process
rendering the same pages at the same scale, nothing stored (bitmap only, and bitmap +
PNG encoding in memory at the same compression level). Also the upload check (the
probe child: open, load every page).

Run through ``benchmarks/run.sh document_render``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

from benchmarks import common

PAGES = 50


def _render_with_marks(document_id: int) -> tuple[float, list[float]]:
    """Total seconds of ``render_document`` and the seconds each page took."""
    from documents import services

    take = services._take
    marks: list[float] = []

    def marking(document, message, out_dir):
        take(document, message, out_dir)
        if "page" in message:
            marks.append(time.perf_counter())

    services._take = marking
    _ask_again(document_id)
    try:
        started = time.perf_counter()
        services.render_document(document_id)
        total = time.perf_counter() - started
    finally:
        services._take = take
    gaps = [later - earlier for earlier, later in zip([started, *marks], marks, strict=False)]
    return total, gaps


def _ask_again(document_id: int) -> None:
    """Back to processing, no worker holding its lease: the render does the whole work."""
    from core import leases
    from documents.models import Document

    Document.objects.filter(pk=document_id).update(status=Document.Status.PROCESSING, **leases.finished())


def _baseline(data: bytes, page_pixels: int, *, encode: bool) -> tuple[float, list[float]]:
    import pypdfium2 as pdfium

    from documents import rendering

    started = time.perf_counter()
    document = pdfium.PdfDocument(data)
    per_page = []
    for index in range(len(document)):
        page_started = time.perf_counter()
        page = document[index]
        width, height = page.get_size()
        image = page.render(scale=rendering.render_scale(width, height, page_pixels), may_draw_forms=False).to_pil()
        if encode:
            image.convert("RGB").save(io.BytesIO(), format="PNG", compress_level=rendering.PNG_COMPRESS_LEVEL)
        page.close()
        per_page.append(time.perf_counter() - page_started)
    document.close()
    return time.perf_counter() - started, per_page


def main() -> None:
    parser = argparse.ArgumentParser(description="Document render benchmark (see benchmarks/README.md).")
    parser.add_argument("--runs", type=int, default=3, help="full renders timed (default 3), after one warm-up")
    parser.add_argument("--pages", type=int, default=PAGES, help=f"pages of the PDF (default {PAGES})")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 1 <= args.pages <= 300:
        raise SystemExit("--runs 1..20, --pages 1..300")
    common.require_loopback_only()
    common.setup_django()

    from django.conf import settings
    from django.core.files.storage import storages
    from django.db import connection

    from documents import services, validation
    from documents.models import Document
    from tests import pdf_samples

    load1 = os.getloadavg()[0]
    print(f"document-render benchmark; load average {load1:.2f} at start ({os.cpu_count()} CPUs)", flush=True)
    data = pdf_samples.multi_page_pdf(args.pages)
    page_pixels = settings.PARLEY_DOCUMENT_PAGE_PIXELS
    owner = common.bench_owner()
    probe_started = time.perf_counter()
    document = services.upload_document(owner, pdf_samples.upload(data, "benchmark.pdf"))
    upload_seconds = time.perf_counter() - probe_started
    with validation.local_copy(pdf_samples.upload(data)) as (path, _size):
        probe_times = [_timed(lambda path=path: validation.check_pdf(path)) for _ in range(args.runs)]
    print(
        f"PDF: {args.pages} pages, {len(data) / 1024:.1f} KiB; long edge {page_pixels} px; "
        f"storage {type(storages['default']).__name__}; database {connection.vendor}",
        flush=True,
    )

    _render_with_marks(document.pk)  # warm-up: imports, first storage writes
    parley_totals, parley_pages = [], []
    for _ in range(args.runs):
        total, gaps = _render_with_marks(document.pk)
        document.refresh_from_db()
        assert document.status == Document.Status.READY and len(gaps) == args.pages, (document.status, document.error, len(gaps))
        parley_totals.append(total)
        parley_pages.extend(gaps)

    _baseline(data, page_pixels, encode=True)  # warm-up
    bare_totals, bare_pages, encoded_totals, encoded_pages = [], [], [], []
    for _ in range(args.runs):
        total, per_page = _baseline(data, page_pixels, encode=False)
        bare_totals.append(total)
        bare_pages.extend(per_page)
        total, per_page = _baseline(data, page_pixels, encode=True)
        encoded_totals.append(total)
        encoded_pages.extend(per_page)

    rows = [
        ("render_document (whole task)", parley_pages, parley_totals),
        ("baseline: pypdfium2 + PNG encode", encoded_pages, encoded_totals),
        ("baseline: pypdfium2 bitmap only", bare_pages, bare_totals),
    ]
    baseline_page = statistics.median(encoded_pages)
    baseline_total = statistics.median(encoded_totals)
    print()
    print(
        common.table(
            ["", "page p50 ms", "page p95 ms", "page max ms", "total ms (median)", "ratio p50", "ratio total"],
            [
                [
                    name,
                    common.ms(statistics.median(pages) * 1000),
                    common.ms(common.percentile(pages, 95) * 1000),
                    common.ms(max(pages) * 1000),
                    common.ms(statistics.median(totals) * 1000),
                    common.ratio(statistics.median(pages), baseline_page),
                    common.ratio(statistics.median(totals), baseline_total),
                ]
                for name, pages, totals in rows
            ],
        )
    )
    print()
    print(f"ratios against the pypdfium2 + PNG baseline; {args.runs} runs x {args.pages} pages per row")
    print(
        f"upload check (probe child: open + load every page): median {statistics.median(probe_times) * 1000:.0f} ms; "
        f"whole upload_document (copy, probe, store, row): {upload_seconds * 1000:.0f} ms"
    )
    services.delete_document(owner, document)
    services.purge_deleted_documents([document.pk])


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
