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
from asgiref.sync import async_to_sync
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


# --- Served in the event loop (StaticFilesApp) ------------------------------------------

STATIC_FILE = "/static/js/room/main.js"


async def fetch(app, path: str, headers: list[tuple[bytes, bytes]] | None = None, method: str = "GET", timeout: float = 10) -> dict:
    """One HTTP request to the ASGI ``app``: {status, headers, body}."""
    from asgiref.testing import ApplicationCommunicator

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout)
    body = b""
    while True:
        message = await communicator.receive_output(timeout)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout)
    return {"status": start["status"], "headers": start["headers"], "body": body}


def test_it_answers_a_static_file_as_django_would():
    """Status, headers (WhiteNoise's and SecurityMiddleware's) and body: the same as
    Django's own answer through its middleware."""
    from django.test import Client

    from core.staticfiles import StaticFilesApp

    app = StaticFilesApp(refusing_app)
    for headers in ([], [(b"accept-encoding", b"gzip")]):
        ours = async_to_sync(fetch)(app, STATIC_FILE, headers)
        django = Client().get(STATIC_FILE, headers={k.decode(): v.decode() for k, v in headers})
        assert ours["status"] == django.status_code == 200
        assert {k.decode().lower(): v.decode() for k, v in ours["headers"]} == {k.lower(): v for k, v in django.items()}
        assert ours["body"] == b"".join(django.streaming_content)
    assert {"x-content-type-options", "referrer-policy", "cross-origin-opener-policy"} <= {k.decode().lower() for k, _ in ours["headers"]}
    etag = dict(ours["headers"])[b"ETag"]
    assert async_to_sync(fetch)(app, STATIC_FILE, [(b"if-none-match", etag)])["status"] == 304
    assert async_to_sync(fetch)(app, STATIC_FILE, method="HEAD")["body"] == b""


async def refusing_app(scope, receive, send):
    raise AssertionError(f"{scope['path']} reached Django")


async def test_it_hands_every_other_request_to_django():
    from core.staticfiles import StaticFilesApp

    seen: list[str] = []

    async def django(scope, receive, send):
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = StaticFilesApp(django)
    for path in ("/m/abc/room/", "/static/js/no-such-file.js", "/jsi18n/"):
        assert (await fetch(app, path))["status"] == 204
    assert seen == ["/m/abc/room/", "/static/js/no-such-file.js", "/jsi18n/"]


async def test_a_static_file_never_enters_djangos_request_cycle():
    """Django handles each request on a thread of its own, between request_started and
    request_finished; the site's application answers a static file before that."""
    from django.core.signals import request_started

    from config.asgi import application

    started: list[str] = []

    def on_started(sender, scope=None, environ=None, **kwargs):
        started.append(scope["path"] if scope else "?")

    request_started.connect(on_started)
    try:
        response = await fetch(application, STATIC_FILE)
        assert response["status"] == 200 and b"registerFeature" in response["body"]
        assert started == []
        assert (await fetch(application, "/static/js/no-such-file.js"))["status"] == 404  # Django's
        assert started == ["/static/js/no-such-file.js"]
    finally:
        request_started.disconnect(on_started)
