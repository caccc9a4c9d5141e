"""The desktop helper's downloads and its page (meetings/remote/views.py, downloads.py):
parley-helper.pyz built once and served as an attachment, the operator's prebuilt
programs when they are there, and the download for the visitor's system first — on the
helper page and in the room's remote-control panel."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse

from meetings.models import Participant, RoomType
from meetings.remote import helper_build
from tests.factories import make_extension, make_meeting, make_participant

pytestmark = pytest.mark.django_db

LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
UBUNTU_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0"
MACOS = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148"
FRENCH = {"accept-language": "fr-FR,fr;q=0.9"}


@pytest.fixture(autouse=True)
def _folders(settings, tmp_path):
    """The archive's cache and the operator's downloads in this test's own folders."""
    settings.DATA_DIR = tmp_path / "data"
    settings.PARLEY_HELPER_DOWNLOADS_DIR = tmp_path / "downloads"
    settings.PARLEY_HELPER_DOWNLOADS_DIR.mkdir()
    return settings.PARLEY_HELPER_DOWNLOADS_DIR


def _page(client, agent: str = "", **headers) -> str:
    response = client.get("/remote/helper/", headers={"user-agent": agent, **headers})
    assert response.status_code == 200
    assert {"User-Agent", "Sec-CH-UA-Platform"} <= {part.strip() for part in response["Vary"].split(",")}
    return response.content.decode()


def _first(html: str) -> tuple[str, str, str, str]:
    """(system, kind, download link, command) of the download the page puts first."""
    heading = re.search(r'id="remote-helper-first" data-system="(\w+)" data-kind="(\w+)"', html)
    link = re.search(r'id="remote-helper-download"\s+href="([^"]+)"', html)
    command = re.search(r'<code id="remote-helper-command">([^<]+)</code>', html)
    assert heading and link and command, html
    return heading[1], heading[2], link[1], command[1].replace("&#x27;", "'")


def _others(html: str) -> list[tuple[str, str]]:
    section = html.split('id="remote-helper-others"', 1)[1]
    return re.findall(r'<li data-system="(\w+)" data-kind="(\w+)">', section)


# --- parley-helper.pyz ---------------------------------------------------------------------


def test_it_serves_the_archive_as_an_attachment_built_on_the_first_request_only(client, settings, monkeypatch):
    writes = []
    write = helper_build.write_archive
    monkeypatch.setattr(helper_build, "write_archive", lambda entries, target: writes.append(target) or write(entries, target))
    bodies = []
    for _ in range(2):
        response = client.get("/remote/helper/parley-helper.pyz")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"] == 'attachment; filename="parley-helper.pyz"'
        bodies.append(b"".join(response.streaming_content))
    assert bodies[0] == bodies[1] == helper_build.archive_bytes(helper_build.members())
    assert len(writes) == 1 and writes[0].parent == settings.DATA_DIR / "helper-build"
    with zipfile.ZipFile(BytesIO(bodies[0])) as pyz:
        assert "parley_helper.py" in pyz.namelist()
    assert client.post("/remote/helper/parley-helper.pyz").status_code == 405


def test_it_serves_the_operators_prebuilt_helpers_and_nothing_else(client, _folders):
    for name in ("parley-helper-windows.exe", "parley-helper-macos.zip"):
        assert client.get(f"/remote/helper/{name}").status_code == 404  # not provided
    (_folders / "parley-helper-windows.exe").write_bytes(b"MZ windows program")
    (_folders / "parley-helper-macos.zip").write_bytes(b"PK macos program")
    (_folders / "secret.txt").write_bytes(b"not a helper")
    windows = client.get("/remote/helper/parley-helper-windows.exe")
    assert windows["Content-Type"] == "application/vnd.microsoft.portable-executable"
    assert windows["Content-Disposition"] == 'attachment; filename="parley-helper-windows.exe"'
    assert b"".join(windows.streaming_content) == b"MZ windows program"
    macos = client.get("/remote/helper/parley-helper-macos.zip")
    assert (macos["Content-Type"], b"".join(macos.streaming_content)) == ("application/zip", b"PK macos program")
    for name in ("secret.txt", "..%2Fdownloads%2Fsecret.txt", "parley-helper-linux"):
        assert client.get(f"/remote/helper/{name}").status_code == 404, name


# --- The page: the visitor's system first -------------------------------------------------


def test_it_offers_linux_the_archive_first_with_the_command_that_runs_it(client):
    html = _page(client, LINUX)
    assert _first(html) == (
        "linux",
        "archive",
        "/remote/helper/parley-helper.pyz",
        "python3 parley-helper.pyz --server http://testserver --code XXXX-XXXX",
    )
    assert 'download="parley-helper.pyz"' in html
    assert "Python 3.11 or newer" in html and "python3-tk" in html
    assert _others(html) == [("windows", "script"), ("macos", "script")]
    # The script stays within reach (an older Python): with what it needs.
    assert "python -m pip install websockets pynput" in html and "python3 -m pip install websockets pynput" in html
    assert 'href="/remote/helper/parley_helper.py"' in html and "pip install websockets python-xlib" in html
    assert _first(_page(client, UBUNTU_CHROME))[:2] == ("linux", "archive")
    assert _first(_page(client, WINDOWS, **{"sec-ch-ua-platform": '"Linux"'}))[:2] == ("linux", "archive")


@pytest.mark.parametrize(
    ("agent", "system", "program", "run"),
    [
        (WINDOWS, "windows", "parley-helper-windows.exe", r".\parley-helper-windows.exe"),
        (MACOS, "macos", "parley-helper-macos.zip", "./parley-helper"),
    ],
)
def test_it_offers_windows_and_macos_the_operators_program_else_the_script(client, _folders, agent, system, program, run):
    html = _page(client, agent)
    command = "python" if system == "windows" else "python3"
    script_line = f"{command} parley_helper.py --server http://testserver --code XXXX-XXXX"
    assert _first(html) == (system, "script", "/remote/helper/parley_helper.py", script_line)
    assert f"<code>{command} -m pip install websockets pynput</code>" in html
    assert ("linux", "archive") in _others(html)

    (_folders / program).write_bytes(b"a ready-to-run helper")
    html = _page(client, agent)
    assert _first(html) == (system, "binary", f"/remote/helper/{program}", f"{run} --server http://testserver --code XXXX-XXXX")
    assert f'download="{program}"' in html
    assert ("Accessibility" in html) == (system == "macos")


def test_it_lists_every_system_alike_when_it_cannot_tell_the_visitors(client):
    for agent in ("", ANDROID, IPHONE, "curl/8.5.0"):
        html = _page(client, agent)
        assert 'data-system=""' in html, agent
        assert "For this computer" not in html
        assert _first(html)[:2] == ("windows", "script")
        assert _others(html) == [("macos", "script"), ("linux", "archive")]


def test_it_asks_for_french_in_every_command_of_a_french_page(client, _folders):
    (_folders / "parley-helper-windows.exe").write_bytes(b"a ready-to-run helper")
    for agent in (LINUX, WINDOWS):
        html = _page(client, agent, **FRENCH)
        assert '<html lang="fr">' in html and "Contrôle à distance" in html
        commands = re.findall(r"--server http://testserver --code XXXX-XXXX[^<]*<", html)
        assert len(commands) == 4 and set(commands) == {"--server http://testserver --code XXXX-XXXX --lang fr<"}
    assert "--lang" not in _page(client, LINUX)


# --- The room's remote-control panel ---------------------------------------------------------


def _panel(agent: str) -> dict[str, str]:
    owner = make_extension("olivia", display_name="Olivia Owner", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED)
    client = Client(headers={"user-agent": agent})
    client.get(reverse("meeting_join", args=[meeting.public_id]))  # creates the session
    make_participant(meeting, session_key=client.session.session_key, name="Gail Guest", state=Participant.State.JOINED)
    html = client.get(reverse("meeting_room_part", args=[meeting.public_id, "remote"])).content.decode()
    section = re.search(r'<section class="remote-panel"[^>]*>', html)
    assert section, html
    return dict(re.findall(r'data-(helper-\w+|help-url)="([^"]*)"', section[0]))


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (LINUX, ("/remote/helper/parley-helper.pyz", "parley-helper.pyz", "python3 parley-helper.pyz", "")),
        (
            WINDOWS,
            ("/remote/helper/parley_helper.py", "parley_helper.py", "python parley_helper.py", "python -m pip install websockets pynput"),
        ),
        (
            MACOS,
            ("/remote/helper/parley_helper.py", "parley_helper.py", "python3 parley_helper.py", "python3 -m pip install websockets pynput"),
        ),
    ],
)
def test_it_gives_the_room_panel_the_download_for_the_visitors_system(agent, expected):
    panel = _panel(agent)
    assert (panel["helper-url"], panel["helper-file"], panel["helper-run"], panel["helper-install"]) == expected
    assert panel["help-url"] == "/remote/helper/"
