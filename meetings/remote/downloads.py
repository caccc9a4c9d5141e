"""Which desktop helper a visitor downloads, and how they run it: a ready-to-run one
for their system when there is one (Linux: parley-helper.pyz, built here; Windows and
macOS: the binaries an operator put in PARLEY_HELPER_DOWNLOADS_DIR), else the Python
script with the libraries to install first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from meetings.remote import helper_build

LINUX, WINDOWS, MACOS = "linux", "windows", "macos"
LABELS = {LINUX: "Linux", WINDOWS: "Windows", MACOS: "macOS"}
# The order of the page when the visitor's system is not known.
SYSTEMS = (WINDOWS, MACOS, LINUX)

# File name → (system, what to type to run it from the folder it is in, Content-Type).
PREBUILT = {
    "parley-helper-windows.exe": (WINDOWS, r".\parley-helper-windows.exe", "application/vnd.microsoft.portable-executable"),
    # A zip of the one-file program "parley-helper" (macOS keeps its executable bit).
    "parley-helper-macos.zip": (MACOS, "./parley-helper", "application/zip"),
}
SCRIPT_NAME = "parley_helper.py"
# The script's libraries and how to run it: python3 on Linux and macOS (macOS has no
# "python"), python on Windows; pip run by that same Python.
SCRIPT = {
    LINUX: ("python3 -m pip install websockets python-xlib", "python3 parley_helper.py"),
    MACOS: ("python3 -m pip install websockets pynput", "python3 parley_helper.py"),
    WINDOWS: ("python -m pip install websockets pynput", "python parley_helper.py"),
}


@dataclass(frozen=True)
class Offer:
    system: str
    kind: str  # "archive" (parley-helper.pyz), "binary" (prebuilt), "script" (parley_helper.py)
    url: str
    filename: str
    command: str  # what to type, before "--server … --code …"
    install: str = ""  # what to run first, if anything
    python: str = ""  # the oldest Python it runs on, if it needs one

    @property
    def label(self) -> str:
        return LABELS[self.system]


def visitor_system(request) -> str | None:
    """Linux, Windows or macOS from the browser's platform hint (Sec-CH-UA-Platform,
    Chromium) or its User-Agent; None for phones, tablets, ChromeOS and the unknown."""
    hint = request.headers.get("Sec-CH-UA-Platform", "").strip('" ').lower()
    hinted = {"windows": WINDOWS, "macos": MACOS, "linux": LINUX}
    if hint in hinted:
        return hinted[hint]
    agent = request.headers.get("User-Agent", "")
    if any(mobile in agent for mobile in ("Android", "iPhone", "iPad", "iPod", "CrOS")):
        return None
    if "Windows" in agent:
        return WINDOWS
    if "Macintosh" in agent or "Mac OS X" in agent:
        return MACOS
    if "Linux" in agent or "X11" in agent:
        return LINUX
    return None


def prebuilt_file(name: str) -> Path | None:
    """The operator's prebuilt helper of that name, if it is one and is there."""
    if name not in PREBUILT:
        return None
    path = Path(settings.PARLEY_HELPER_DOWNLOADS_DIR) / name
    return path if path.is_file() else None


def archive_directory() -> Path:
    return Path(settings.DATA_DIR) / "helper-build"


def script_offer(system: str) -> Offer:
    install, command = SCRIPT[system]
    url = reverse("remote_helper_download")
    return Offer(system, "script", url, SCRIPT_NAME, command, install, ".".join(map(str, helper_build.HELPER_PYTHON)))


def offer_for(system: str) -> Offer:
    """The download for that system: ready to run when there is one, else the script."""
    for name, (prebuilt_system, command, _content_type) in PREBUILT.items():
        if prebuilt_system == system and prebuilt_file(name):
            return Offer(system, "binary", reverse("remote_helper_prebuilt", args=[name]), name, command)
    if system == LINUX:
        try:
            python = helper_build.required_python()
        except helper_build.HelperBuildError:  # a library missing here: the script still works
            return script_offer(system)
        command = f"python3 {helper_build.ARCHIVE_NAME}"
        return Offer(system, "archive", reverse("remote_helper_archive"), helper_build.ARCHIVE_NAME, command, "", "{}.{}".format(*python))
    return script_offer(system)


def offers(request) -> tuple[str | None, list[Offer]]:
    """The visitor's system (or None) and one offer per system, theirs first."""
    system = visitor_system(request)
    order = sorted(SYSTEMS, key=lambda each: each != system)
    return system, [offer_for(each) for each in order]
