"""parley-helper.pyz (meetings/remote/helper_build.py): the desktop helper and its Linux
libraries in one file, pure Python, the same bytes from the same inputs, and run for
real by a Python that has none of those libraries."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from meetings.remote import helper_build
from meetings.remote.helper import parley_helper
from tests.fixtures_live import REPO_DIR
from tests.remote.helpers import BARE_PYTHON, TIMEOUT


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return helper_build.build(tmp_path_factory.mktemp("helper") / "parley-helper.pyz")


def _run(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*BARE_PYTHON, *arguments], capture_output=True, text=True, timeout=TIMEOUT, env=env)


def test_it_bundles_the_helper_and_its_pure_python_libraries_and_nothing_compiled(archive):
    # The installed websockets has its C speedups: they are what is left out.
    installed = [Path(file) for file in importlib.metadata.distribution("websockets").files or []]
    assert any(file.suffix in helper_build.COMPILED_SUFFIXES for file in installed)

    assert archive.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.stat(archive).st_mode & 0o111
    with zipfile.ZipFile(archive) as pyz:
        assert pyz.testzip() is None
        names = pyz.namelist()
        assert pyz.read("parley_helper.py") == (REPO_DIR / "meetings/remote/helper/parley_helper.py").read_bytes()
        main = pyz.read("__main__.py").decode()
        first_offset = pyz.infolist()[0].header_offset
    # The zip's offsets count the #! line: unzip tools read it without complaint.
    assert first_offset == len(b"#!/usr/bin/env python3\n")
    assert names == sorted(names)
    for module in ("websockets/__init__.py", "websockets/asyncio/client.py", "websockets/utils.py", "Xlib/ext/xtest.py", "six.py"):
        assert module in names
    assert {name.split("/")[1] for name in names if name.startswith("licenses/")} == {"websockets", "python-xlib", "six"}
    assert [name for name in names if not name.endswith(".py") and not name.startswith("licenses/")] == []
    assert [name for name in names if "__pycache__" in name] == []
    assert "parley_helper.main(requires_python=(3, 11))" in main  # websockets 17 says Requires-Python >=3.11


def test_it_builds_the_same_bytes_from_the_same_inputs(tmp_path, archive, monkeypatch):
    again = helper_build.build(tmp_path / "again.pyz")
    assert again.read_bytes() == archive.read_bytes()
    with zipfile.ZipFile(again) as pyz:
        assert {info.date_time for info in pyz.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in pyz.infolist()} == {0o644}
    # Another helper, another digest: the cache never serves a stale archive.
    changed = tmp_path / "parley_helper.py"
    changed.write_bytes(helper_build.HELPER.read_bytes() + b"\n# changed\n")
    digest = helper_build.inputs_digest(helper_build.members())
    monkeypatch.setattr(helper_build, "HELPER", changed)
    assert helper_build.inputs_digest(helper_build.members()) != digest


def test_it_builds_the_cached_archive_once_per_inputs(tmp_path, monkeypatch):
    writes = []
    write = helper_build.write_archive
    monkeypatch.setattr(helper_build, "write_archive", lambda entries, target: writes.append(target) or write(entries, target))
    first = helper_build.cached_archive(tmp_path)
    assert helper_build.cached_archive(tmp_path) == first
    assert writes == [first]
    assert first.name.startswith("parley-helper-") and first.suffix == ".pyz"
    assert [path.name for path in tmp_path.iterdir()] == [first.name]  # no temporary file left
    changed = tmp_path / "parley_helper.py"
    changed.write_bytes(helper_build.HELPER.read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(helper_build, "HELPER", changed)
    second = helper_build.cached_archive(tmp_path)
    assert second != first and writes == [first, second]


def test_it_says_which_library_is_missing(monkeypatch):
    monkeypatch.setattr(helper_build, "DISTRIBUTIONS", ("websockets", "no-such-library"))
    with pytest.raises(helper_build.HelperBuildError, match="no-such-library is not installed"):
        helper_build.members()


@pytest.mark.integration
def test_it_runs_with_a_python_that_has_none_of_its_libraries(archive):
    for library in ("websockets", "Xlib", "six"):
        assert _run("-c", f"import {library}").returncode != 0, f"{library} is importable without the archive"

    help_text = _run(str(archive), "--help", "--lang", "en")
    assert help_text.returncode == 0, help_text.stderr
    assert "--server URL" in help_text.stdout
    # Its libraries come from the archive; websockets masks frames with its Python code.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import websockets.asyncio.client, websockets.frames, Xlib.ext.xtest;"
        "print(websockets.frames.apply_mask.__module__, websockets.__file__)"
    )
    imported = _run("-c", code, str(archive))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["websockets.utils", str(archive / "websockets" / "__init__.py")]
    # python-xlib is there: without a display it says so (not that python-xlib is missing).
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = _run(str(archive), "--server", "http://127.0.0.1:9", "--code", "ABCD-EFGH", "--consent", "terminal", "--lang", "en", env=env)
    assert (run.returncode, run.stdout.strip()) == (2, "parley-helper: No X display: the helper drives X11 through XTEST.")


@pytest.fixture
def english_afterwards():
    yield
    parley_helper.set_language("en")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_it_says_plainly_when_its_python_is_older_than_its_libraries_need(capsys, english_afterwards, language):
    current = "{}.{}".format(*sys.version_info[:2])
    arguments = ["--server", "https://meet.example.com", "--code", "ABCD-EFGH", "--lang", language]
    assert parley_helper.main(arguments, requires_python=(99, 0)) == 2
    said = capsys.readouterr().out
    if language == "en":
        assert said.startswith(f"parley-helper: This helper needs Python 99.0 or newer, and this is Python {current}.")
    else:
        assert said.startswith(f"parley-helper : Cet assistant nécessite Python 99.0 ou plus récent, et celui-ci est Python {current}.")
    assert "parley_helper.py" in said
    # Its own Python is new enough: it goes on (and stops at the next problem, here the code).
    assert parley_helper.main(["--server", "https://meet.example.com", "--code", "ABC", "--lang", "en"], requires_python=(3, 9)) == 2
    assert "The code is 8 letters" in capsys.readouterr().out
