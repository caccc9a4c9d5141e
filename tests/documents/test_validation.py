"""Validation of uploaded PDFs and the limited PDFium child process (no database)."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError

from documents import rendering, validation
from documents.models import NAME_MAX
from tests import pdf_samples

LIMITS = rendering.Limits(seconds=20, memory_mb=512)


def checked(data: bytes, name: str = "file.pdf"):
    with validation.checked_upload(pdf_samples.upload(data, name)) as result:
        return result


def refusal(data: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        checked(data)
    return caught.value


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.PARLEY_DOCUMENT_RENDER_MEMORY_MB = 512
    settings.PARLEY_DOCUMENT_MAX_PAGES = 300


# --- File names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../evil.pdf", "evil.pdf"),
        ("..\\..\\windows\\evil.pdf", "evil.pdf"),
        ("/etc/passwd", "passwd"),
        ("<img src=x onerror=alert(1)>.pdf", "<img src=x onerror=alert(1)>.pdf"),
        ("report\x00\x1b[31m\u202e.pdf", "report[31m.pdf"),
        ("  spaced \t name .pdf ", "spaced name .pdf"),
        ("", validation.FALLBACK_NAME),
        ("..", validation.FALLBACK_NAME),
        (None, validation.FALLBACK_NAME),
    ],
)
def test_it_cleans_file_names_for_display(uploaded, shown):
    assert validation.clean_name(uploaded) == shown


def test_it_shortens_long_names_keeping_the_extension():
    name = validation.clean_name("a" * 500 + ".pdf")
    assert len(name) == NAME_MAX
    assert name.endswith("aaa.pdf")
    assert len(validation.clean_name("b" * 500)) == NAME_MAX


# --- The checks, in order ---------------------------------------------------------------


def test_it_accepts_a_valid_pdf_with_its_page_count():
    data = pdf_samples.multi_page_pdf(4)
    result = checked(data)
    assert (result.size, result.page_count) == (len(data), 4)


def test_it_removes_its_local_copy_afterwards():
    with validation.checked_upload(pdf_samples.upload(pdf_samples.multi_page_pdf(1))) as result:
        path = result.path
        assert path.exists()
    assert not path.exists()


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "empty", "empty"),
        (b"Hello, this is plain text, not a PDF at all.", "not_pdf", "not a PDF"),
        (pdf_samples.png_image(), "not_pdf", "not a PDF"),
        (pdf_samples.elf_executable(), "not_pdf", "not a PDF"),
        (pdf_samples.pe_executable(), "not_pdf", "not a PDF"),
        (pdf_samples.late_magic_pdf(), "not_pdf", "not a PDF"),
        (b"%PDF-1.7\n" + pdf_samples.elf_executable(), "damaged", "damaged"),
        (pdf_samples.truncated_pdf(), "damaged", "damaged"),
        (pdf_samples.encrypted_pdf(), "password", "password"),
        (pdf_samples.build_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]), "damaged", "damaged"),
        (pdf_samples.decompression_bomb_pdf(), "memory", "memory"),
    ],
    ids=["empty", "text", "png", "elf", "pe", "late-magic", "magic-then-garbage", "truncated", "encrypted", "no-pages", "bomb"],
)
def test_it_refuses_what_is_not_a_usable_pdf_with_a_clear_message(data, code, words):
    error = refusal(data)
    assert error.code == code
    assert words in error.messages[0]


def test_the_encrypted_sample_is_a_real_encrypted_pdf():
    # With the right password PDFium opens it: the refusal above is about the password.
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf_samples.encrypted_pdf(), password=pdf_samples.USER_PASSWORD)
    assert len(document) == 1
    document.close()


def test_it_refuses_more_pages_than_allowed_with_the_numbers(settings):
    error = refusal(pdf_samples.many_pages_pdf(10_000))
    assert error.code == "too_many_pages"
    assert "10000 pages" in error.messages[0] and "300" in error.messages[0]
    settings.PARLEY_DOCUMENT_MAX_PAGES = 3
    assert refusal(pdf_samples.multi_page_pdf(4)).code == "too_many_pages"
    assert checked(pdf_samples.multi_page_pdf(3)).page_count == 3


def test_it_refuses_a_file_over_the_size_limit_while_copying_it(settings):
    settings.PARLEY_DOCUMENT_MAX_BYTES = 2048
    upload = pdf_samples.upload(pdf_samples.multi_page_pdf(10))
    upload.size = None  # a body that does not say its size: counted while copied
    with pytest.raises(ValidationError) as caught, validation.checked_upload(upload):
        pass
    assert caught.value.code == "too_large"
    assert "2.0\xa0KB" in caught.value.messages[0]


def test_it_accepts_a_pdf_that_asks_to_run_javascript():
    assert checked(pdf_samples.javascript_pdf()).page_count == 1


# --- The child process -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "pixels"),
    [((595, 842), (1131, 1600)), ((842, 595), (1600, 1131)), ((200_000, 200_000), (1600, 1600)), ((10, 10), (1600, 1600))],
)
def test_the_render_scale_puts_the_long_edge_at_the_limit(size, pixels):
    width, height = size
    scale = rendering.render_scale(width, height, 1600)
    # pypdfium2 rounds the bitmap size up
    assert (math.ceil(width * scale), math.ceil(height * scale)) == pixels


def test_the_render_scale_keeps_the_area_under_the_cap():
    scale = rendering.render_scale(4096, 4096, 4096)
    assert (4096 * scale) ** 2 <= rendering.MAX_PAGE_AREA
    scale = rendering.render_scale(200_000, 3, 1600)
    assert 200_000 * scale <= 1600


def test_the_probe_is_killed_at_its_deadline(monkeypatch):
    monkeypatch.setattr(rendering, "_spawn", _hanging_child)
    with pytest.raises(rendering.PdfError) as caught:
        rendering.probe("/nonexistent.pdf", max_pages=10, limits=rendering.Limits(seconds=0.5, memory_mb=512))
    assert caught.value.code == rendering.PdfError.TIMEOUT


def _hanging_child(arguments, limits):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


def test_the_child_never_initialises_forms_or_javascript(monkeypatch, tmp_path):
    """In-process run of the child's code with ``init_forms`` booby-trapped."""
    import pypdfium2 as pdfium

    def forbidden(*args, **kwargs):
        raise AssertionError("init_forms must never be called")

    monkeypatch.setattr(pdfium.PdfDocument, "init_forms", forbidden)
    path = tmp_path / "js.pdf"
    path.write_bytes(pdf_samples.javascript_pdf())
    messages = list(rendering.render_document_pages(str(path), str(tmp_path), 400))
    assert messages[0] == {"pages": 1}
    assert {"page": 1, "file": "page-1.png", "width": 283, "height": 400} in messages
    assert rendering.probe_document(str(path), 10) == 1
