"""The static files as production serves them (core.staticfiles): collectstatic minifies
the project's JavaScript and CSS, then hashes and compresses the minified copies, and
leaves the sources and other apps' files as they are."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from core.staticfiles import MEDIA_TYPES, MinifiedStaticFilesStorage

MODULE = """// A module of the room: comments go, what the code does stays.
import { notice } from "./dom.js";

const spaced = `two  spaces, ${1 + 1} and a // that is no comment`;
const pattern = /\\/\\*[^*]*\\*\\//g; // a regular expression literal, not a comment

export function show(value) {
  /* A block comment. */
  notice(value?.text ?? spaced.replace(pattern, ""));
}
"""
STYLES = """/* The room's styles. */
.room   .tile {
  color : #ffffff;
  margin: 0px 0px 0px 0px;
}
"""
OTHER_APP = "// Another app's file: left as it ships.\nvar x = 1;\n"


@pytest.fixture
def sources(tmp_path, settings):
    """A static/ of its own, collected into a STATIC_ROOT of its own with the production storage."""
    source = tmp_path / "static"
    (source / "js" / "room").mkdir(parents=True)
    (source / "css").mkdir()
    (source / "vendor").mkdir()
    (source / "js" / "room" / "show.js").write_text(MODULE)
    (source / "css" / "room.css").write_text(STYLES)
    (source / "vendor" / "other.js").write_text(OTHER_APP)
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "core.staticfiles.MinifiedStaticFilesStorage"}}
    return source


def collect() -> None:
    call_command("collectstatic", interactive=False, verbosity=0)


def manifest() -> dict[str, str]:
    return json.loads((Path(settings.STATIC_ROOT) / "staticfiles.json").read_text())["paths"]


def test_it_minifies_the_projects_javascript_and_css_and_serves_that_under_both_names(sources):
    collect()
    root = Path(settings.STATIC_ROOT)
    module = (root / "js/room/show.js").read_text()
    assert len(module) < len(MODULE) * 0.6
    assert "comments go" not in module and "A block comment" not in module
    # The program is the same: the import's URL, the template literal and the regex as written.
    assert 'from"./dom.js"' in module.replace(" ", "")
    assert "`two  spaces, ${1+1} and a // that is no comment`" in module
    assert "/\\/\\*[^*]*\\*\\//g" in module
    assert "?.text??" in module
    css = (root / "css/room.css").read_text()
    assert "/*" not in css and "#fff" in css and len(css) < len(STYLES) / 2
    # The hashed copies (what {% static %} names) and the compressed ones are the minified file.
    hashed = manifest()["js/room/show.js"]
    assert hashed != "js/room/show.js"
    assert (root / hashed).read_text() == module
    assert gzip.decompress((root / f"{hashed}.gz").read_bytes()).decode() == module
    assert gzip.decompress((root / "js/room/show.js.gz").read_bytes()).decode() == module


def test_it_leaves_the_sources_and_other_files_as_they_are(sources):
    collect()
    collect()  # again: a file collectstatic skips is minified from its source, once
    assert (sources / "js/room/show.js").read_text() == MODULE
    assert (Path(settings.STATIC_ROOT) / "vendor/other.js").read_text() == OTHER_APP
    assert (Path(settings.STATIC_ROOT) / "js/room/show.js").read_text().startswith('import{notice}from"./dom.js";')


def test_a_file_it_cannot_parse_stops_collectstatic_naming_it(sources):
    (sources / "js" / "broken.js").write_text("const x = ;\n")
    with pytest.raises(ValueError, match="js/broken.js could not be minified"):
        collect()


def test_every_file_of_the_project_minifies_into_valid_javascript_and_css(tmp_path):
    """The minifier parses all of static/ (it refuses what it cannot), and Node parses
    every minified module back (when Node is there, as it is where ESLint runs)."""
    node = shutil.which("node")
    static = Path(settings.BASE_DIR) / "static"
    storage = MinifiedStaticFilesStorage(location=tmp_path)
    files = sorted(p for p in static.rglob("*") if p.suffix in MEDIA_TYPES)
    assert len(files) > 40
    for path in files:
        name = path.relative_to(static).as_posix()
        _storage, minified_name = storage._minified(name, (storage_of(static), name))
        minified = tmp_path / minified_name
        assert minified.stat().st_size < path.stat().st_size
        if node and path.suffix == ".js":
            module = minified.rename(minified.with_suffix(".mjs"))
            check = subprocess.run([node, "--check", str(module)], capture_output=True, text=True)
            assert check.returncode == 0, f"{name}: {check.stderr}"


def storage_of(location: Path):
    from django.core.files.storage import FileSystemStorage

    return FileSystemStorage(location=location)
