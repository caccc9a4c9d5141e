"""The desktop helper as one file that runs with no install: a zipapp (PEP 441,
``python3 parley-helper.pyz``) of ``helper/parley_helper.py`` and the libraries it
needs on Linux (X11), copied from the packages of this environment (no network).

Only pure Python goes in, so the archive runs on any CPU: compiled extension modules
(websockets' optional C speedups) are left out, and websockets falls back to its
Python code. The bytes depend only on the inputs (entries sorted, fixed timestamps and
modes), so a cache keyed by their hash is served as it was built, by any process.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

HELPER = Path(__file__).resolve().parent / "helper" / "parley_helper.py"
ARCHIVE_NAME = "parley-helper.pyz"
INTERPRETER = "/usr/bin/env python3"
# The helper's libraries on Linux and theirs (python-xlib needs six): pure Python.
DISTRIBUTIONS = ("websockets", "python-xlib", "six")
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")
LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
HELPER_PYTHON = (3, 9)  # what parley_helper.py itself runs on
# The earliest date a zip entry can hold: the same inputs give the same bytes.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
# Part of the cache key: change it when the archive's layout changes.
LAYOUT = "1"

BOOTSTRAP = '''\
"""The Parley desktop helper and its libraries in one file (Parley's meetings/remote/helper_build.py)."""

import sys

import parley_helper

sys.exit(parley_helper.main(requires_python={python!r}))
'''


class HelperBuildError(RuntimeError):
    pass


def _distribution(name: str) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise HelperBuildError(f"{name} is not installed in this environment (it is in requirements.txt).") from None


def required_python() -> tuple[int, int]:
    """The oldest Python the archive runs on: the newest of the floors that the helper
    and each bundled library declare (``Requires-Python: >=3.11``)."""
    floors = [HELPER_PYTHON]
    for name in DISTRIBUTIONS:
        declared = " ".join(_distribution(name).metadata.get_all("Requires-Python") or [])
        floors += [(int(major), int(minor)) for major, minor in re.findall(r">=\s*(\d+)\.(\d+)", declared)]
    return max(floors)


def _is_licence(relative: Path) -> bool:
    in_metadata = relative.parts[0].endswith((".dist-info", ".egg-info"))
    return in_metadata and relative.name.upper().startswith(LICENCE_NAMES)


def _distribution_members(name: str) -> dict[str, bytes]:
    """The distribution's Python modules under their import paths, and its licence
    texts under ``licenses/<name>/``; no bytecode, no compiled modules, no scripts."""
    distribution = _distribution(name)
    if not distribution.files:
        raise HelperBuildError(f"{name} lists no files (installed without a RECORD?).")
    members = {}
    for file in distribution.files:
        relative = Path(file)
        if ".." in relative.parts or "__pycache__" in relative.parts or relative.suffix in COMPILED_SUFFIXES:
            continue
        if relative.suffix == ".py":
            members[relative.as_posix()] = Path(str(file.locate())).read_bytes()
        elif _is_licence(relative):
            members[f"licenses/{name}/{relative.name}"] = Path(str(file.locate())).read_bytes()
    return members


def members() -> list[tuple[str, bytes]]:
    """Every entry of the archive, (name, content), sorted by name."""
    entries = {
        "__main__.py": BOOTSTRAP.format(python=required_python()).encode(),
        "parley_helper.py": HELPER.read_bytes(),
    }
    for name in DISTRIBUTIONS:
        entries.update(_distribution_members(name))
    return sorted(entries.items())


def inputs_digest(entries: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256(f"{LAYOUT}\0{INTERPRETER}\0".encode())
    for name, content in entries:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def archive_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    """The zipapp: the ``#!`` line, then a zip of ``entries``. Written like
    ``zipapp.create_archive`` would, except that the zip's offsets count the ``#!``
    line, so that unzip tools read it without a warning."""
    buffer = io.BytesIO()
    buffer.write(f"#!{INTERPRETER}\n".encode())
    # Mode "a" on data that is not a zip appends a zip after it, offsets included.
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.create_system = 3  # Unix, wherever it is built
            info.external_attr = 0o644 << 16
            archive.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def write_archive(entries: list[tuple[str, bytes]], target: Path) -> Path:
    """The zipapp of ``entries`` at ``target``, executable, written whole or not at all
    (a download never reads half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".parley-helper-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(archive_bytes(entries))
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def build(target: Path) -> Path:
    return write_archive(members(), target)


def cached_archive(directory: Path) -> Path:
    """The archive of the current inputs in ``directory``, built the first time they
    are asked for (a new helper or library version is a new file)."""
    entries = members()
    path = directory / f"parley-helper-{inputs_digest(entries)[:16]}.pyz"
    if not path.is_file():
        write_archive(entries, path)
    return path
