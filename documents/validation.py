"""Checks an upload must pass before anything is stored.

In order: the size (``PARLEY_DOCUMENT_MAX_BYTES``, counted while copying, so a body
that lies about its length is cut short), the PDF signature ``%PDF-`` within the first
1024 bytes (the name and the declared type are not trusted), then PDFium opening it and
loading every page in a limited child process (``documents.rendering.probe``): damaged,
password-protected, page-less, too many pages (``PARLEY_DOCUMENT_MAX_PAGES``) or too
heavy to open are refused, each with a sentence for people.
"""

from __future__ import annotations

import contextlib
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from documents import rendering
from documents.models import NAME_MAX

MAGIC = b"%PDF-"
MAGIC_WINDOW = 1024
PROBE_SECONDS = 30
FALLBACK_NAME = "document.pdf"


@dataclass(frozen=True)
class CheckedPdf:
    path: Path
    size: int
    page_count: int


def too_large_message(limit: int | None = None) -> str:
    limit = settings.PARLEY_DOCUMENT_MAX_BYTES if limit is None else limit
    return _("This file is larger than the %(limit)s limit.") % {"limit": filesizeformat(limit)}


def pdf_error_message(code: str) -> str:
    """The sentence shown for a ``rendering.PdfError`` code."""
    messages = {
        rendering.PdfError.DAMAGED: _("This PDF is damaged and cannot be opened."),
        rendering.PdfError.PASSWORD: _("This PDF is protected by a password. Remove the password and upload it again."),
        rendering.PdfError.NO_PAGES: _("This PDF has no pages."),
        rendering.PdfError.MEMORY: _("This PDF needs more memory to open than is allowed (it may be a decompression bomb)."),
        rendering.PdfError.TIMEOUT: _("This PDF takes too long to open."),
    }
    return messages.get(code, _("This PDF could not be read."))


def clean_name(name: str | None) -> str:
    """The file name to show: no folders, no control or formatting characters, at
    most ``NAME_MAX`` characters (keeping the extension). It is only ever shown,
    escaped; files are stored under generated names."""
    base = PurePosixPath(str(name or "").replace("\\", "/")).name
    kept = "".join(char for char in base if unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Zl", "Zp"})
    kept = " ".join(kept.split()).strip(" .")
    if not kept:
        return FALLBACK_NAME
    if len(kept) <= NAME_MAX:
        return kept
    stem, dot, extension = kept.rpartition(".")
    if dot and 0 < len(extension) <= 10:
        return stem[: NAME_MAX - len(extension) - 1].rstrip() + "." + extension
    return kept[:NAME_MAX]


@contextlib.contextmanager
def local_copy(uploaded) -> Iterator[tuple[Path, int]]:
    """The upload copied to a temporary file (removed afterwards), with its size;
    ``ValidationError`` as soon as it goes over the size limit."""
    limit = settings.PARLEY_DOCUMENT_MAX_BYTES
    if uploaded.size is not None and uploaded.size > limit:
        raise ValidationError(too_large_message(), code="too_large")
    with tempfile.NamedTemporaryFile(prefix="parley-upload-", suffix=".pdf") as copy:
        size = 0
        uploaded.seek(0)
        for chunk in uploaded.chunks():
            size += len(chunk)
            if size > limit:
                raise ValidationError(too_large_message(), code="too_large")
            copy.write(chunk)
        copy.flush()
        yield Path(copy.name), size


def check_signature(path: Path, size: int) -> None:
    if size == 0:
        raise ValidationError(_("This file is empty."), code="empty")
    with path.open("rb") as file:
        head = file.read(MAGIC_WINDOW)
    if MAGIC not in head:
        raise ValidationError(_("This file is not a PDF. Only PDF documents can be uploaded."), code="not_pdf")


def check_pdf(path: Path) -> int:
    """The page count, once PDFium has opened the file and loaded its pages."""
    max_pages = settings.PARLEY_DOCUMENT_MAX_PAGES
    limits = rendering.Limits(
        seconds=min(PROBE_SECONDS, settings.PARLEY_DOCUMENT_RENDER_SECONDS), memory_mb=settings.PARLEY_DOCUMENT_RENDER_MEMORY_MB
    )
    try:
        page_count = rendering.probe(path, max_pages=max_pages, limits=limits)
    except rendering.PdfError as error:
        raise ValidationError(pdf_error_message(error.code), code=error.code) from None
    if page_count > max_pages:
        raise ValidationError(
            _("This PDF has %(count)s pages; at most %(max)s are allowed.") % {"count": page_count, "max": max_pages}, code="too_many_pages"
        )
    return page_count


@contextlib.contextmanager
def checked_upload(uploaded) -> Iterator[CheckedPdf]:
    """Every check, on a local copy that lives for the ``with`` block."""
    with local_copy(uploaded) as (path, size):
        check_signature(path, size)
        yield CheckedPdf(path=path, size=size, page_count=check_pdf(path))
