#!/usr/bin/env python3
"""Parley desktop helper: lets someone in your Parley meeting control this computer.

    python parley_helper.py --server https://meet.example.com --code ABCD-EFGH [--monitor N] [--consent tk|terminal] [--lang en|fr]

The meeting page gives you the code (it works once, for two minutes). The helper talks
only to that meeting server. It asks you before anyone takes control, shows who is
controlling, and stops when you press Stop (or type ``stop``, or press Ctrl+C), when
the person controlling stops, or when the connection drops.

Needs Python 3.9+ and ``websockets``; on Linux (X11) ``python-xlib``, on Windows and
macOS ``pynput``. It speaks English or French (``--lang``; by default the language of
your system's settings). See README.md beside this file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import locale
import math
import os
import queue
import string
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

VERSION = "1.0"
HELPER_PATH = "/ws/helper/"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

# --- Language -------------------------------------------------------------------------------
# What the person at the computer reads is written in English in the code, as tr("..."),
# and looked up here in French. Values go in as named {placeholders}.

LANGUAGES = ("en", "fr")
# The first of these that is set decides; then the system's locale; then English.
LANGUAGE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")
YES_ANSWERS = {"en": ("y", "yes"), "fr": ("o", "oui", "y", "yes")}
FRENCH = {
    # Command line
    "Let someone in your Parley meeting control this computer, with your consent.": (
        "Permettre à une personne de votre réunion Parley de contrôler cet ordinateur, avec votre accord."
    ),
    "usage: ": "utilisation : ",
    "options": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "the meeting server, e.g. https://meet.example.com": "le serveur de la réunion, par exemple https://meet.example.com",
    "the pairing code shown on the meeting page, e.g. ABCD-EFGH": (
        "le code d'appairage affiché sur la page de la réunion, par exemple ABCD-EFGH"
    ),
    "the screen you share, numbered from 1 (asked when there are several)": (
        "l'écran que vous partagez, numéroté à partir de 1 (demandé s'il y en a plusieurs)"
    ),
    "how to ask you (default: a window if possible)": "comment vous demander votre accord (par défaut : une fenêtre si possible)",
    "the helper's language (default: your system's language)": "la langue de l'assistant (par défaut : celle de votre système)",
    "show the version number and exit": "afficher le numéro de version et quitter",
    "The code is 8 letters and digits, as shown on the meeting page (e.g. ABCD-EFGH).": (
        "Le code se compose de 8 lettres et chiffres, comme sur la page de la réunion (par exemple ABCD-EFGH)."
    ),
    "--server is the meeting server's address, such as https://meet.example.com": (
        "--server est l'adresse du serveur de la réunion, par exemple https://meet.example.com"
    ),
    "Refusing an unencrypted connection: use the https:// address of the meeting server.": (
        "Connexion non chiffrée refusée : utilisez l'adresse https:// du serveur de la réunion."
    ),
    "--monitor is from 1 to {count}.": "--monitor va de 1 à {count}.",
    "Which screen will you share?\n{listing}\nNumber [1]: ": "Quel écran allez-vous partager ?\n{listing}\nNuméro [1] : ",
    "No such screen.": "Cet écran n'existe pas.",
    "{width}x{height} at ({x}, {y})": "{width}x{height} à ({x}, {y})",
    "parley-helper: {problem}": "parley-helper : {problem}",
    "Parley helper {version}: screen {monitor}, server {origin}.": "Assistant Parley {version} : écran {monitor}, serveur {origin}.",
    "Stopped.": "Arrêté.",
    "This helper needs Python {required} or newer, and this is Python {current}. Install a newer Python, "
    "or use parley_helper.py instead (the helper page of your meeting server says how).": (
        "Cet assistant nécessite Python {required} ou plus récent, et celui-ci est Python {current}. Installez un Python "
        "plus récent, ou utilisez plutôt parley_helper.py (la page de l'assistant de votre serveur de réunion explique comment)."
    ),
    # Performing input
    "The X server has no XTEST extension.": "Le serveur X n'a pas l'extension XTEST.",
    "No X display: the helper drives X11 through XTEST.": "Aucun affichage X : l'assistant pilote X11 au moyen de XTEST.",
    "No X display (a Wayland session: log in with an X11 session): the helper drives X11 through XTEST.": (
        "Aucun affichage X (session Wayland : ouvrez plutôt une session X11) : l'assistant pilote X11 au moyen de XTEST."
    ),
    "python-xlib is missing: pip install python-xlib": "python-xlib n'est pas installé : pip install python-xlib",
    "pynput is missing: pip install pynput": "pynput n'est pas installé : pip install pynput",
    "Could not release keys and buttons: {error}": "Impossible de relâcher les touches et les boutons : {error}",
    # Asking the person at the computer
    "Someone": "Quelqu'un",
    "{name} wants to control your computer. Allow? [y/N]": "{name} veut contrôler votre ordinateur. Autoriser ? [o/N]",
    "Nobody can answer on this terminal: refused.": "Personne ne peut répondre sur ce terminal : refusé.",
    "Remote control active: controlled by {name}. Type stop and Enter, or press Ctrl+C, to stop.": (
        "Contrôle à distance actif : contrôlé par {name}. Pour arrêter, tapez stop puis Entrée, ou appuyez sur Ctrl+C."
    ),
    "Parley helper": "Assistant Parley",
    "{name} wants to control your computer. Answer in the window.": "{name} veut contrôler votre ordinateur. Répondez dans la fenêtre.",
    "Parley: remote control": "Parley : contrôle à distance",
    "{name} wants to control your computer.": "{name} veut contrôler votre ordinateur.",
    "They will be able to use your mouse and keyboard until you stop.": (
        "Cette personne pourra utiliser votre souris et votre clavier jusqu'à ce que vous arrêtiez."
    ),
    "Allow": "Autoriser",
    "Deny": "Refuser",
    "Remote control active: controlled by {name}.": "Contrôle à distance actif : contrôlé par {name}.",
    "Parley: controlled": "Parley : sous contrôle",
    "Controlled by {name}": "Contrôlé par {name}",
    "Stop": "Arrêter",
    # The connection to the meeting
    "Pairing refused: {reason}": "Appairage refusé : {reason}",
    "the code is not valid": "le code n'est pas valide",
    "Connection to the meeting lost ({error}); remote control stopped. Get a new code from the meeting page to pair again.": (
        "Connexion à la réunion perdue ({error}) ; contrôle à distance arrêté. "
        "Obtenez un nouveau code sur la page de la réunion pour appairer à nouveau."
    ),
    "Paired with “{title}” as {name}. Waiting for a remote control request.": (
        "Appairé à la réunion “{title}” en tant que {name}. En attente d'une demande de contrôle à distance."
    ),
    "The meeting server closed the connection; remote control stopped.": (
        "Le serveur de la réunion a fermé la connexion ; contrôle à distance arrêté."
    ),
    "The meeting closed this pairing ({reason}).": "La réunion a mis fin à cet appairage ({reason}).",
    "A newer helper paired with this meeting page; this one stops here.": (
        "Un assistant plus récent s'est appairé à cette page de réunion ; celui-ci s'arrête ici."
    ),
    "Remote control refused.": "Contrôle à distance refusé.",
    "Remote control could not start: {message}": "Le contrôle à distance n'a pas pu démarrer : {message}",
    "Remote control ended ({reason}).": "Contrôle à distance terminé ({reason}).",
    "you stopped it": "vous l'avez arrêté",
    # The server's reasons (reason_text)
    "stopped": "arrêté",
    "declined in the meeting": "refusé dans la réunion",
    "request cancelled": "demande annulée",
    "someone left the meeting": "une personne a quitté la réunion",
    "removed from the meeting": "retiré de la réunion",
    "role changed": "rôle modifié",
    "connection lost": "connexion perdue",
    "helper disconnected": "assistant déconnecté",
    "refused at this computer": "refusé sur cet ordinateur",
    "screen sharing ended": "partage d'écran terminé",
    "the meeting ended": "la réunion est terminée",
    "you joined another meeting": "vous avez rejoint une autre réunion",
    "you left the meeting": "vous avez quitté la réunion",
    "you were removed from the meeting": "vous avez été retiré de la réunion",
    "your meeting page lost its connection": "votre page de réunion a perdu sa connexion",
    "ended": "terminé",
}
current_language = "en"


def set_language(code: str) -> None:
    global current_language
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}")
    current_language = code


def tr(text: str, **values: Any) -> str:
    """``text`` (English) in the helper's language, its ``{placeholders}`` filled in."""
    if current_language == "fr":
        text = FRENCH.get(text, text)
    return text.format(**values)


def reason_text(code: str) -> str:
    """A reason code of the server (``control.stopped``, ``helper.closed``) in words."""
    texts = {
        "stopped": tr("stopped"),
        "declined": tr("declined in the meeting"),
        "cancelled": tr("request cancelled"),
        "left": tr("someone left the meeting"),
        "kicked": tr("removed from the meeting"),
        "role": tr("role changed"),
        "disconnected": tr("connection lost"),
        "timeout": tr("connection lost"),
        "helper_gone": tr("helper disconnected"),
        "refused": tr("refused at this computer"),
        "share_ended": tr("screen sharing ended"),
        "meeting_end": tr("the meeting ended"),
        "ended": tr("ended"),
    }
    return texts.get(code, code)


def closed_text(code: str) -> str:
    """Why the meeting closed this helper's pairing: its own participant went."""
    texts = {
        "left": tr("you left the meeting"),
        "kicked": tr("you were removed from the meeting"),
        "timeout": tr("your meeting page lost its connection"),
        "moved": tr("you joined another meeting"),
    }
    return texts.get(code) or reason_text(code)


def is_french(name: str | None) -> bool:
    """``fr``, ``fr_FR.UTF-8``, ``fr-CA``, ``fr:en`` (LANGUAGE), ``French_France`` (Windows)."""
    language = (name or "").strip().lower()
    for separator in ":_-.@":
        language = language.split(separator, 1)[0]
    return language in ("fr", "french")


def detect_language(environ: Any = None) -> str:
    """The language of the system's settings: the first of LC_ALL, LC_MESSAGES, LANG,
    LANGUAGE that is set, else the locale Python starts with (Windows, macOS)."""
    environ = os.environ if environ is None else environ
    for variable in LANGUAGE_VARIABLES:
        if environ.get(variable):
            return "fr" if is_french(environ[variable]) else "en"
    try:
        name = locale.getlocale()[0]
    except (ValueError, TypeError):  # a locale Python cannot parse
        return "en"
    return "fr" if is_french(name) else "en"


def language_asked(argv: list) -> str | None:
    """The value of ``--lang`` on the command line, read before the help text is made."""
    value = None
    for index, argument in enumerate(argv):
        if argument == "--lang" and index + 1 < len(argv):
            value = argv[index + 1]
        elif isinstance(argument, str) and argument.startswith("--lang="):
            value = argument.split("=", 1)[1]
    return value if value in LANGUAGES else None


# --- Pairing codes ------------------------------------------------------------------------
# Shared with the server (meetings.remote.services): no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def normalise_code(code: str) -> str | None:
    """``abcd efgh`` / ``ABCD-EFGH`` → ``ABCD-EFGH``; None if it cannot be a code."""
    if not isinstance(code, str) or len(code) > 32:
        return None
    compact = "".join(code.split()).replace("-", "").upper()
    if len(compact) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


# --- Input events: one definition, used by the server and by this program ----------------

KINDS = ("move", "down", "up", "click", "wheel", "key", "text")
BUTTONS = ("left", "middle", "right")
KEY_ACTIONS = ("press", "down", "up")
MODIFIERS = ("shift", "ctrl", "alt", "meta")
WHEEL_MAX = 10
TEXT_MAX = 200
# KeyboardEvent.key names → X keysym names.
NAMED_KEYS = {
    "Enter": "Return",
    "Tab": "Tab",
    "Escape": "Escape",
    "Backspace": "BackSpace",
    "Delete": "Delete",
    "ArrowUp": "Up",
    "ArrowDown": "Down",
    "ArrowLeft": "Left",
    "ArrowRight": "Right",
    "Home": "Home",
    "End": "End",
    "PageUp": "Prior",
    "PageDown": "Next",
    " ": "space",
    **{f"F{number}": f"F{number}" for number in range(1, 13)},
}
PUNCTUATION = "`~!@#$%^&*()-_=+[]{}\\|;:'\",.<>/?"
KEY_NAMES = frozenset(NAMED_KEYS) | frozenset(string.ascii_letters + string.digits + PUNCTUATION)
FIELDS = {
    "move": {"x", "y"},
    "down": {"x", "y", "button"},
    "up": {"x", "y", "button"},
    "click": {"x", "y", "button", "count"},
    "wheel": {"x", "y", "dx", "dy"},
    "key": {"key", "action", "modifiers"},
    "text": {"text"},
}
OPTIONAL_FIELDS = {"key": {"modifiers"}}


class InvalidEvent(ValueError):
    pass


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _coordinate(event: dict, name: str) -> float:
    value = event[name]
    if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidEvent(f"“{name}” is a number from 0 to 1.")
    return float(value)


def _wheel_notches(event: dict, name: str) -> int:
    value = event[name]
    if not _is_int(value) or not -WHEEL_MAX <= value <= WHEEL_MAX:
        raise InvalidEvent(f"“{name}” is a whole number from -{WHEEL_MAX} to {WHEEL_MAX}.")
    return value


def _modifiers(value: Any) -> list:
    if not isinstance(value, list) or len(value) > len(MODIFIERS):
        raise InvalidEvent("“modifiers” is a list of shift, ctrl, alt, meta.")
    if any(not isinstance(item, str) or item not in MODIFIERS for item in value) or len(set(value)) != len(value):
        raise InvalidEvent("“modifiers” is a list of shift, ctrl, alt, meta, each at most once.")
    return [name for name in MODIFIERS if name in value]


def _text(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= TEXT_MAX or not value.isprintable():
        raise InvalidEvent(f"“text” is 1 to {TEXT_MAX} printable characters.")
    return value


def validate_event(event: Any) -> dict:
    """A clean copy of a valid input event (docs/remote-control.md), or ``InvalidEvent``."""
    if not isinstance(event, dict) or event.get("kind") not in KINDS:
        raise InvalidEvent(f"“kind” is one of {', '.join(KINDS)}.")
    kind = event["kind"]
    given = set(event) - {"kind"}
    required = FIELDS[kind] - OPTIONAL_FIELDS.get(kind, set())
    if not required <= given <= FIELDS[kind]:
        raise InvalidEvent(f"A “{kind}” event has {', '.join(sorted(FIELDS[kind]))}; nothing else.")
    clean: dict[str, Any] = {"kind": kind}
    if "x" in FIELDS[kind]:
        clean["x"], clean["y"] = _coordinate(event, "x"), _coordinate(event, "y")
    if "button" in FIELDS[kind]:
        if event["button"] not in BUTTONS:
            raise InvalidEvent("“button” is left, middle or right.")
        clean["button"] = event["button"]
    if kind == "click":
        if not _is_int(event["count"]) or event["count"] not in (1, 2):
            raise InvalidEvent("“count” is 1 or 2.")
        clean["count"] = event["count"]
    elif kind == "wheel":
        clean["dx"], clean["dy"] = _wheel_notches(event, "dx"), _wheel_notches(event, "dy")
    elif kind == "key":
        if not isinstance(event["key"], str) or event["key"] not in KEY_NAMES:
            raise InvalidEvent("This key is not one that may be sent.")
        if event["action"] not in KEY_ACTIONS:
            raise InvalidEvent("“action” is press, down or up.")
        clean.update(key=event["key"], action=event["action"], modifiers=_modifiers(event.get("modifiers", [])))
    elif kind == "text":
        clean["text"] = _text(event["text"])
    return clean


# --- Screens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Monitor:
    x: int
    y: int
    width: int
    height: int

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    def __str__(self) -> str:
        return tr("{width}x{height} at ({x}, {y})", width=self.width, height=self.height, x=self.x, y=self.y)


def map_point(nx: float, ny: float, monitor: Monitor) -> tuple[int, int]:
    """A point normalised to the shared screen (0..1, origin top left) → a pixel of
    the whole desktop, on that monitor."""
    nx, ny = min(max(nx, 0.0), 1.0), min(max(ny, 0.0), 1.0)
    return monitor.x + round(nx * (monitor.width - 1)), monitor.y + round(ny * (monitor.height - 1))


# --- Performing input ------------------------------------------------------------------------


class Performer:
    """Carries validated events out on this computer. Subclasses provide the primitives
    (``move_to``, ``button``, ``scroll``, ``key``, ``type_text``); this class maps
    points and keeps track of what is held down, so that a stop releases it all."""

    platform = "unknown"

    def __init__(self) -> None:
        self.buttons_down: set[str] = set()
        self.keys_down: set[str] = set()

    def monitors(self) -> list[Monitor]:
        raise NotImplementedError

    def move_to(self, x: int, y: int) -> None:
        raise NotImplementedError

    def button(self, name: str, down: bool) -> None:
        raise NotImplementedError

    def scroll(self, dx: int, dy: int) -> None:
        raise NotImplementedError

    def key(self, name: str, down: bool) -> None:
        """``name``: a KEY_NAMES value or a modifier (shift, ctrl, alt, meta)."""
        raise NotImplementedError

    def type_text(self, text: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def perform(self, event: dict, monitor: Monitor) -> None:
        kind = event["kind"]
        if "x" in event:
            self.move_to(*map_point(event["x"], event["y"], monitor))
        if kind in ("down", "up"):
            self._button(event["button"], kind == "down")
        elif kind == "click":
            for _ in range(event["count"]):
                self._button(event["button"], True)
                self._button(event["button"], False)
        elif kind == "wheel":
            self.scroll(event["dx"], event["dy"])
        elif kind == "key":
            self._key_event(event["key"], event["action"], event["modifiers"])
        elif kind == "text":
            self.type_text(event["text"])
        self.flush()

    def _button(self, name: str, down: bool) -> None:
        if down:
            self.buttons_down.add(name)
        elif name in self.buttons_down:
            self.buttons_down.discard(name)
        self.button(name, down)

    def _hold(self, name: str, down: bool) -> None:
        if down and name not in self.keys_down:
            self.keys_down.add(name)
            self.key(name, True)
        elif not down and name in self.keys_down:
            self.keys_down.discard(name)
            self.key(name, False)

    def _key_event(self, name: str, action: str, modifiers: list) -> None:
        added = [modifier for modifier in modifiers if modifier not in self.keys_down]
        if action in ("press", "down"):
            for modifier in modifiers:
                self._hold(modifier, True)
            if action == "press":
                self.key(name, True)
                self.key(name, False)
            else:
                self._hold(name, True)
        if action == "press":
            for modifier in added:
                self._hold(modifier, False)
        elif action == "up":
            self._hold(name, False)
            for modifier in modifiers:
                self._hold(modifier, False)

    def release_all(self) -> None:
        """Nothing stays pressed once control ends."""
        for name in list(self.keys_down):
            self._hold(name, False)
        for name in list(self.buttons_down):
            self._button(name, False)
        self.flush()


X_BUTTONS = {"left": 1, "middle": 2, "right": 3}
X_MODIFIERS = {"shift": "Shift_L", "ctrl": "Control_L", "alt": "Alt_L", "meta": "Super_L"}


def char_to_keysym(char: str) -> int:
    """The X keysym of a character: Latin-1 keysyms equal the code point; others are
    the Unicode keysyms 0x01000000 + code point."""
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


class XTestPerformer(Performer):
    """X11, through the XTEST extension (python-xlib)."""

    platform = "x11"

    def __init__(self, display_name: str | None = None) -> None:
        super().__init__()
        from Xlib import XK, X
        from Xlib import display as xdisplay
        from Xlib.ext import xtest

        self.X, self.XK, self.xtest = X, XK, xtest
        self.display = xdisplay.Display(display_name)
        if not self.display.has_extension("XTEST"):
            raise RuntimeError(tr("The X server has no XTEST extension."))
        self.root = self.display.screen().root
        self.spares: SpareKeys | None = None

    def monitors(self) -> list[Monitor]:
        try:
            reply = self.display.xrandr_get_monitors(self.root, is_active=True)
            found = [Monitor(m.x, m.y, m.width_in_pixels, m.height_in_pixels) for m in reply.monitors]
        except Exception:  # no RandR 1.5: the whole root window is one screen
            found = []
        found = [monitor for monitor in found if monitor.width > 0 and monitor.height > 0]
        if found:
            return sorted(found, key=lambda m: (m.x, m.y))
        geometry = self.root.get_geometry()
        return [Monitor(0, 0, geometry.width, geometry.height)]

    def move_to(self, x: int, y: int) -> None:
        self.xtest.fake_input(self.display, self.X.MotionNotify, x=x, y=y)

    def button(self, name: str, down: bool) -> None:
        self.xtest.fake_input(self.display, self.X.ButtonPress if down else self.X.ButtonRelease, X_BUTTONS[name])

    def scroll(self, dx: int, dy: int) -> None:
        # X wheel buttons: 4 up, 5 down, 6 left, 7 right; one press and release a notch.
        for button, notches in ((5 if dy > 0 else 4, abs(dy)), (7 if dx > 0 else 6, abs(dx))):
            for _ in range(notches):
                self.xtest.fake_input(self.display, self.X.ButtonPress, button)
                self.xtest.fake_input(self.display, self.X.ButtonRelease, button)

    def _keysym(self, name: str) -> int:
        if name in X_MODIFIERS:
            return self.XK.string_to_keysym(X_MODIFIERS[name])
        if name in NAMED_KEYS:
            return self.XK.string_to_keysym(NAMED_KEYS[name])
        return char_to_keysym(name)

    def _keycode(self, keysym: int) -> tuple[int, bool]:
        """(keycode, needs shift), or (0, False) if no key of the layout makes it."""
        for keycode, index in sorted(self.display.keysym_to_keycodes(keysym), key=lambda pair: pair[1]):
            if index in (0, 1):
                return keycode, index == 1
        return 0, False

    def _send_key(self, keycode: int, down: bool) -> None:
        self.xtest.fake_input(self.display, self.X.KeyPress if down else self.X.KeyRelease, keycode)

    def key(self, name: str, down: bool) -> None:
        keysym = self._keysym(name)
        keycode, shifted = self._keycode(keysym)
        if not keycode:
            if down:  # not on this layout: type it through a spare key
                self._type_keysym(keysym)
            return
        # "!" or "A" sent without shift held: hold it for this key only.
        add_shift = shifted and down and "shift" not in self.keys_down
        if add_shift:
            self.key("shift", True)
        self._send_key(keycode, down)
        if add_shift:
            self.key("shift", False)

    def type_text(self, text: str) -> None:
        for char in text:
            keysym = char_to_keysym(char)
            keycode, shifted = self._keycode(keysym)
            if not keycode:
                self._type_keysym(keysym)
                continue
            held_shift = "shift" in self.keys_down
            if shifted and not held_shift:
                self.key("shift", True)
            elif not shifted and held_shift:
                self.key("shift", False)
            self._send_key(keycode, True)
            self._send_key(keycode, False)
            if shifted and not held_shift:
                self.key("shift", False)
            elif not shifted and held_shift:
                self.key("shift", True)

    def _type_keysym(self, keysym: int) -> None:
        """A character no key of the layout makes (é on a US layout, €…): typed on a
        spare keycode lent to it (``SpareKeys``)."""
        if self.spares is None:
            self.spares = SpareKeys(self.display)
        keycode = self.spares.keycode_for(keysym)
        if not keycode:
            return
        self._send_key(keycode, True)
        self._send_key(keycode, False)
        self.display.sync()

    def flush(self) -> None:
        self.display.sync()

    def release_all(self) -> None:
        super().release_all()
        if self.spares is not None:
            self.spares.give_back()


class SpareKeys:
    """Keycodes that no key of the layout uses, lent to the characters it cannot type.

    A program reads the keysym of a key press from the keyboard mapping when it handles
    the event, which may be well after we sent it: a keycode remapped meanwhile reads
    as another character, or as none. So each character gets a keycode of its own and
    keeps it while it is in use; a keycode is lent again to another character only
    after ``HOLD`` seconds without use, the least recently used first. Control's end
    gives them all back (unmapped)."""

    HOLD = 2.0

    def __init__(self, display, clock=time.monotonic, sleep=time.sleep) -> None:
        self.display = display
        self.clock, self.sleep = clock, sleep
        first = display.display.info.min_keycode
        count = display.display.info.max_keycode - first + 1
        mapping = display.get_keyboard_mapping(first, count)
        self.free = [first + offset for offset, syms in enumerate(mapping) if not any(syms)]
        self.lent: OrderedDict[int, tuple[int, float]] = OrderedDict()  # keysym → (keycode, last used)

    def keycode_for(self, keysym: int) -> int:
        """The keycode that types ``keysym`` now (0: no spare keycode at all)."""
        if keysym in self.lent:
            keycode, _used = self.lent.pop(keysym)
        elif self.free:
            keycode = self._map(self.free.pop(), keysym)
        elif self.lent:
            _oldest, (keycode, used) = self.lent.popitem(last=False)
            self.sleep(max(0.0, used + self.HOLD - self.clock()))  # still being read: wait
            keycode = self._map(keycode, keysym)
        else:
            return 0
        self.lent[keysym] = (keycode, self.clock())
        return keycode

    def _map(self, keycode: int, keysym: int) -> int:
        self.display.change_keyboard_mapping(keycode, [(keysym, keysym)])
        self.display.sync()
        return keycode

    def give_back(self) -> None:
        for keycode, _used in self.lent.values():
            self.display.change_keyboard_mapping(keycode, [(0, 0)])
            self.free.append(keycode)
        self.lent.clear()
        self.display.sync()


class PynputPerformer(Performer):
    """Windows and macOS (and X11 as a fallback), through pynput. The screen is the
    main display on macOS (or each display, with Quartz) and the whole virtual screen
    on Windows."""

    platform = sys.platform

    def __init__(self) -> None:
        super().__init__()
        from pynput import keyboard, mouse

        self.keyboard_module, self.mouse_module = keyboard, mouse
        self.mouse = mouse.Controller()
        self.keyboard = keyboard.Controller()
        key = keyboard.Key
        self.named = {
            "Enter": key.enter,
            "Tab": key.tab,
            "Escape": key.esc,
            "Backspace": key.backspace,
            "Delete": key.delete,
            "ArrowUp": key.up,
            "ArrowDown": key.down,
            "ArrowLeft": key.left,
            "ArrowRight": key.right,
            "Home": key.home,
            "End": key.end,
            "PageUp": key.page_up,
            "PageDown": key.page_down,
            " ": key.space,
            "shift": key.shift,
            "ctrl": key.ctrl,
            "alt": key.alt,
            "meta": key.cmd,
            **{f"F{number}": getattr(key, f"f{number}") for number in range(1, 13)},
        }

    def monitors(self) -> list[Monitor]:
        return _windows_virtual_screen() or _quartz_displays() or _tk_screen() or [Monitor(0, 0, 1920, 1080)]

    def move_to(self, x: int, y: int) -> None:
        self.mouse.position = (x, y)

    def button(self, name: str, down: bool) -> None:
        button = getattr(self.mouse_module.Button, name)
        (self.mouse.press if down else self.mouse.release)(button)

    def scroll(self, dx: int, dy: int) -> None:
        self.mouse.scroll(dx, -dy)  # pynput: positive dy scrolls up

    def key(self, name: str, down: bool) -> None:
        key = self.named.get(name) or self.keyboard_module.KeyCode.from_char(name)
        (self.keyboard.press if down else self.keyboard.release)(key)

    def type_text(self, text: str) -> None:
        self.keyboard.type(text)


def _windows_virtual_screen() -> list[Monitor]:
    if sys.platform != "win32":
        return []
    import ctypes

    metrics = ctypes.windll.user32.GetSystemMetrics
    # SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN
    return [Monitor(metrics(76), metrics(77), metrics(78), metrics(79))]


def _quartz_displays() -> list[Monitor]:
    if sys.platform != "darwin":
        return []
    try:
        import Quartz  # comes with pynput on macOS (pyobjc)
    except ImportError:
        return []
    _error, ids, _count = Quartz.CGGetActiveDisplayList(16, None, None)
    bounds = [Quartz.CGDisplayBounds(display_id) for display_id in ids or ()]
    return [Monitor(int(b.origin.x), int(b.origin.y), int(b.size.width), int(b.size.height)) for b in bounds]


def _tk_screen() -> list[Monitor]:
    try:
        import tkinter

        root = tkinter.Tk()
        size = root.winfo_screenwidth(), root.winfo_screenheight()
        root.destroy()
    except Exception:
        return []
    return [Monitor(0, 0, size[0], size[1])]


def make_performer() -> Performer:
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        if not os.environ.get("DISPLAY"):
            if os.environ.get("WAYLAND_DISPLAY"):
                raise RuntimeError(tr("No X display (a Wayland session: log in with an X11 session): the helper drives X11 through XTEST."))
            raise RuntimeError(tr("No X display: the helper drives X11 through XTEST."))
        try:
            return XTestPerformer()
        except ImportError:
            raise RuntimeError(tr("python-xlib is missing: pip install python-xlib")) from None
    try:
        return PynputPerformer()
    except ImportError:
        raise RuntimeError(tr("pynput is missing: pip install pynput")) from None


# --- Asking the person at the computer --------------------------------------------------------


class TerminalUI:
    """Questions on stdin/stdout; while controlled, a line ``stop`` stops."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.loop: asyncio.AbstractEventLoop | None = None
        self._answer: asyncio.Future | None = None
        self._on_stop: Callable[[], None] | None = None
        self._eof = False
        self.fd = -1

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        try:
            self.fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            self._eof = True  # no terminal at all: nobody can answer
            return
        threading.Thread(target=self._read_lines, name="stdin", daemon=True).start()

    def _read_lines(self) -> None:
        # os.read, not sys.stdin: a thread blocked inside sys.stdin would hold its lock
        # when the program exits on Ctrl+C.
        assert self.loop is not None
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self.loop.call_soon_threadsafe(self._on_line, line.decode(errors="replace").strip())
        self.loop.call_soon_threadsafe(self._on_eof)

    def _on_line(self, line: str) -> None:
        # A line typed before the question was asked is no answer to it.
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(line)
        elif line.lower() == "stop" and self._on_stop:
            self._on_stop()

    def _on_eof(self) -> None:
        self._eof = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_result("")

    async def ask_consent(self, controller_name: str) -> bool:
        self.out(tr("{name} wants to control your computer. Allow? [y/N]", name=controller_name))
        if self._eof:
            self.out(tr("Nobody can answer on this terminal: refused."))
            return False
        assert self.loop is not None
        self._answer = self.loop.create_future()
        try:
            answer = await self._answer
        finally:
            self._answer = None
        return answer.lower() in YES_ANSWERS[current_language]

    def cancel_question(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()

    def show_controlled(self, controller_name: str, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop
        self.out(tr("Remote control active: controlled by {name}. Type stop and Enter, or press Ctrl+C, to stop.", name=controller_name))

    def hide(self) -> None:
        self._on_stop = None

    def close(self) -> None:
        pass


class TkUI:
    """Tk windows, run by the main thread (macOS allows Tk nowhere else); the network
    runs in another thread and posts commands here through a queue."""

    POLL_MS = 50

    def __init__(self, out: Callable[[str], None]) -> None:
        import tkinter

        self.tk = tkinter
        self.out = out
        self.root = tkinter.Tk()
        self.root.withdraw()
        self.root.title(tr("Parley helper"))
        self.commands: queue.Queue = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._question: Any = None
        self._banner: Any = None
        self._answer: asyncio.Future | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, until_done: threading.Event) -> None:
        """The main thread's loop, until ``until_done`` is set."""

        def poll() -> None:
            while True:
                try:
                    command = self.commands.get_nowait()
                except queue.Empty:
                    break
                command()
            if until_done.is_set():
                self.root.quit()
            else:
                self.root.after(self.POLL_MS, poll)

        self.root.after(self.POLL_MS, poll)
        self.root.mainloop()
        self.root.destroy()

    def _post(self, command: Callable[[], None]) -> None:
        self.commands.put(command)

    def _in_loop(self, function: Callable, *args: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(function, *args)

    def _window(self, title: str) -> Any:
        window = self.tk.Toplevel(self.root)
        window.title(title)
        window.attributes("-topmost", True)
        window.resizable(False, False)
        return window

    async def ask_consent(self, controller_name: str) -> bool:
        assert self.loop is not None
        self.out(tr("{name} wants to control your computer. Answer in the window.", name=controller_name))
        answer = self._answer = self.loop.create_future()

        def answered(allow: bool) -> None:
            if not answer.done():
                answer.set_result(allow)

        def decide(allow: bool) -> None:
            self._close_question()
            self._in_loop(answered, allow)

        def show() -> None:
            window = self._question = self._window(tr("Parley: remote control"))
            question = tr("{name} wants to control your computer.", name=controller_name)
            self.tk.Label(window, text=question, padx=20, pady=12, font=("TkDefaultFont", 12, "bold")).pack()
            self.tk.Label(window, text=tr("They will be able to use your mouse and keyboard until you stop."), padx=20).pack()
            buttons = self.tk.Frame(window, pady=12)
            buttons.pack()
            self.tk.Button(buttons, text=tr("Allow"), width=10, command=lambda: decide(True)).pack(side="left", padx=6)
            deny = self.tk.Button(buttons, text=tr("Deny"), width=10, command=lambda: decide(False))
            deny.pack(side="left", padx=6)
            deny.focus_set()
            window.protocol("WM_DELETE_WINDOW", lambda: decide(False))

        self._post(show)
        try:
            return await answer
        finally:
            self._answer = None
            self._post(self._close_question)

    def _close_question(self) -> None:
        if self._question is not None:
            self._question.destroy()
            self._question = None

    def cancel_question(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()

    def show_controlled(self, controller_name: str, on_stop: Callable[[], None]) -> None:
        self.out(tr("Remote control active: controlled by {name}.", name=controller_name))

        def show() -> None:
            self._close_banner()
            window = self._banner = self._window(tr("Parley: controlled"))
            self.tk.Label(window, text=tr("Controlled by {name}", name=controller_name), padx=14, pady=8).pack(side="left")
            self.tk.Button(window, text=tr("Stop"), command=lambda: self._in_loop(on_stop)).pack(side="left", padx=8, pady=8)
            window.protocol("WM_DELETE_WINDOW", lambda: self._in_loop(on_stop))

        self._post(show)

    def _close_banner(self) -> None:
        if self._banner is not None:
            self._banner.destroy()
            self._banner = None

    def hide(self) -> None:
        self._post(self._close_banner)

    def close(self) -> None:
        self._post(self._close_banner)
        self._post(self._close_question)


def tk_available() -> bool:
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not os.environ.get("DISPLAY"):
        return False
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return False
    return True


# --- The connection to the meeting -----------------------------------------------------------


def websocket_url(server: str) -> tuple[str, str]:
    """(the helper socket's URL, the Origin to send) for ``https://host[:port]``.
    Plain http/ws is allowed only to this computer (tests, development)."""
    parts = urlsplit(server.strip())
    scheme = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(tr("--server is the meeting server's address, such as https://meet.example.com"))
    if scheme == "ws" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError(tr("Refusing an unencrypted connection: use the https:// address of the meeting server."))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    prefix = parts.path.rstrip("/")
    origin = f"{'https' if scheme == 'wss' else 'http'}://{netloc}"
    return f"{scheme}://{netloc}{prefix}{HELPER_PATH}", origin


# Close codes of the helper socket (docs/remote-control.md).
CLOSE_REPLACED = 4409
CLOSE_ENDED = 4410


class PairingRefused(Exception):
    pass


class Helper:
    """Pairs with the meeting, asks for consent, performs the controller's input for
    the one active session, and stops at once when told or when the socket drops."""

    def __init__(self, url: str, origin: str, code: str, performer: Performer, monitor: Monitor, ui: Any, out: Callable[[str], None]):
        self.url, self.origin, self.code = url, origin, code
        self.performer, self.monitor, self.ui, self.out = performer, monitor, ui, out
        self.socket: Any = None
        self.ids = itertools.count(1)
        self.replies: dict[str, tuple[asyncio.Future, Callable[[dict], None] | None]] = {}
        self.asking: int | None = None  # the session whose consent is being asked
        self.active: int | None = None  # the session whose input is performed
        self.controller_name = ""
        self.consent_task: asyncio.Task | None = None
        self.closed_by_meeting = False  # told why (helper.closed) before the socket closed

    async def run(self) -> int:
        try:
            from websockets.asyncio.client import connect
        except ImportError:  # websockets < 13
            from websockets import connect
        from websockets.exceptions import ConnectionClosed

        self.ui.start(asyncio.get_running_loop())
        try:
            async with connect(self.url, origin=self.origin, max_size=64 * 1024, open_timeout=20) as socket:  # type: ignore[arg-type]
                self.socket = socket
                return await self._session(socket)
        except PairingRefused as refused:
            self.out(tr("Pairing refused: {reason}", reason=refused))
            return 3
        except ConnectionClosed as closed:
            return self._closed(closed)
        except OSError as error:
            self.out(
                tr(
                    "Connection to the meeting lost ({error}); remote control stopped. Get a new code from the meeting page to pair again.",
                    error=error,
                )
            )
            return 1
        finally:
            self._stop_locally(None)
            self.ui.close()

    def _closed(self, closed: Any) -> int:
        """The server closed the socket: a normal end (the meeting said why, or a newer
        helper took over) is 0; a connection lost is 1."""
        code = closed.rcvd.code if getattr(closed, "rcvd", None) else None
        if self.closed_by_meeting or code == CLOSE_ENDED:
            return 0  # the reason was printed when the meeting said it
        if code == CLOSE_REPLACED:
            self.out(tr("A newer helper paired with this meeting page; this one stops here."))
            return 0
        self.out(
            tr(
                "Connection to the meeting lost ({error}); remote control stopped. Get a new code from the meeting page to pair again.",
                error=closed,
            )
        )
        return 1

    async def _session(self, socket: Any) -> int:
        await socket.send(
            self._envelope("helper.pair", {"code": self.code, "platform": self.performer.platform, "screens": self._screens()})
        )
        reply = json.loads(await socket.recv())
        if reply.get("type") != "ack":
            raise PairingRefused(reply.get("body", {}).get("message", tr("the code is not valid")))
        body = reply["body"]
        self.out(
            tr(
                "Paired with “{title}” as {name}. Waiting for a remote control request.",
                title=body.get("meeting_title", ""),
                name=body.get("participant_name", ""),
            )
        )
        async for raw in socket:
            self._dispatch(json.loads(raw))
        if self.closed_by_meeting:
            return 0
        self.out(tr("The meeting server closed the connection; remote control stopped."))
        return 1

    def _screens(self) -> list:
        return [monitor.as_dict() for monitor in self.performer.monitors()][:16]

    def _envelope(self, kind: str, body: dict, request_id: str | None = None) -> str:
        return json.dumps({"type": kind, "id": request_id, "body": body})

    async def request(self, kind: str, body: dict, on_ack: Callable[[dict], None] | None = None) -> dict:
        """Send and wait for the reply; ``on_ack`` runs as soon as the ack is read,
        before any later message is handled."""
        request_id = f"h{next(self.ids)}"
        future = asyncio.get_running_loop().create_future()
        self.replies[request_id] = (future, on_ack)
        await self.socket.send(self._envelope(kind, body, request_id))
        return await future

    def _dispatch(self, message: dict) -> None:
        kind, body = message.get("type"), message.get("body") or {}
        if kind in ("ack", "error"):
            future, on_ack = self.replies.pop(message.get("id") or "", (None, None))
            if future is not None and not future.done():
                if kind == "ack" and on_ack:
                    on_ack(body)
                future.set_result(message)
        elif kind == "control.request":
            self._on_request(body)
        elif kind == "control.input":
            self._on_input(body)
        elif kind == "control.stopped" and body.get("session_id") in (self.active, self.asking):
            self._stop_locally(reason_text(str(body.get("reason") or "stopped")))
        elif kind == "helper.closed":
            self.closed_by_meeting = True
            self._stop_locally(None)
            self.out(tr("The meeting closed this pairing ({reason}).", reason=closed_text(str(body.get("reason") or "ended"))))

    def _on_request(self, body: dict) -> None:
        session_id, name = body.get("session_id"), str(body.get("controller_name") or tr("Someone"))[:100]
        if not isinstance(session_id, int) or isinstance(session_id, bool) or self.active is not None or self.asking is not None:
            return
        self.asking, self.controller_name = session_id, name
        self.consent_task = asyncio.ensure_future(self._ask(session_id, name))

    async def _ask(self, session_id: int, name: str) -> None:
        try:
            allow = await self.ui.ask_consent(name)
        except asyncio.CancelledError:
            return
        if self.asking != session_id:
            return  # stopped while asking

        def activate(_body: dict) -> None:
            self.asking, self.active = None, session_id

        reply = await self.request("control.consent", {"session_id": session_id, "allow": allow}, on_ack=activate if allow else None)
        if reply.get("type") != "ack" or not allow:
            self.asking = None
            if not allow:
                self.out(tr("Remote control refused."))
            else:
                self.out(tr("Remote control could not start: {message}", message=reply["body"].get("message")))
            return
        if self.active == session_id:
            self.ui.show_controlled(name, self.stop_by_user)

    def _on_input(self, body: dict) -> None:
        if self.active is None or body.get("session_id") != self.active:
            return  # stale or foreign: never performed
        try:
            event = validate_event(body.get("event"))
        except InvalidEvent:
            return
        self.performer.perform(event, self.monitor)

    def _stop_locally(self, reason: str | None) -> None:
        was_on = self.active is not None or self.asking is not None
        self.active = self.asking = None
        if self.consent_task is not None and not self.consent_task.done():
            self.ui.cancel_question()
        try:
            self.performer.release_all()
        except Exception as error:  # the display may be gone already
            self.out(tr("Could not release keys and buttons: {error}", error=error))
        self.ui.hide()
        if was_on and reason:
            self.out(tr("Remote control ended ({reason}).", reason=reason))

    def stop_by_user(self) -> None:
        session_id = self.active or self.asking
        if session_id is None:
            return
        self._stop_locally(tr("you stopped it"))
        if self.socket is not None:
            asyncio.ensure_future(self._send_stop(session_id))

    async def _send_stop(self, session_id: int) -> None:
        # If the socket is gone, the server ends the session anyway.
        with contextlib.suppress(Exception):
            await self.socket.send(self._envelope("control.stop", {"session_id": session_id}, f"h{next(self.ids)}"))


# --- Command line ------------------------------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    """argparse's own, with "usage: " in the helper's language."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any = None) -> None:
        super().add_usage(usage, actions, groups, tr("usage: ") if prefix is None else prefix)


def parse_args(argv: list | None) -> argparse.Namespace:
    """The options; the help text is in the language chosen already (``set_language``),
    which is also the default of ``--lang``."""
    parser = argparse.ArgumentParser(
        description=tr("Let someone in your Parley meeting control this computer, with your consent."),
        formatter_class=HelpFormatter,
        add_help=False,
    )
    options = parser.add_argument_group(tr("options"))
    options.add_argument("-h", "--help", action="help", help=tr("show this help message and exit"))
    options.add_argument("--server", required=True, metavar="URL", help=tr("the meeting server, e.g. https://meet.example.com"))
    options.add_argument("--code", required=True, help=tr("the pairing code shown on the meeting page, e.g. ABCD-EFGH"))
    options.add_argument(
        "--monitor", type=int, metavar="N", help=tr("the screen you share, numbered from 1 (asked when there are several)")
    )
    options.add_argument(
        "--consent", choices=("auto", "tk", "terminal"), default="auto", help=tr("how to ask you (default: a window if possible)")
    )
    options.add_argument(
        "--lang", choices=LANGUAGES, default=current_language, help=tr("the helper's language (default: your system's language)")
    )
    options.add_argument("--version", action="version", version=f"parley-helper {VERSION}", help=tr("show the version number and exit"))
    return parser.parse_args(argv)


def choose_monitor(monitors: list[Monitor], number: int | None, ask: Callable[[str], str]) -> Monitor:
    if number is not None:
        if not 1 <= number <= len(monitors):
            raise ValueError(tr("--monitor is from 1 to {count}.", count=len(monitors)))
        return monitors[number - 1]
    if len(monitors) == 1:
        return monitors[0]
    listing = "\n".join(f"  {index}: {monitor}" for index, monitor in enumerate(monitors, start=1))
    answer = ask(tr("Which screen will you share?\n{listing}\nNumber [1]: ", listing=listing)).strip() or "1"
    if not answer.isdigit() or not 1 <= int(answer) <= len(monitors):
        raise ValueError(tr("No such screen."))
    return monitors[int(answer) - 1]


def python_too_old(required: tuple[int, int]) -> str:
    return tr(
        "This helper needs Python {required} or newer, and this is Python {current}. Install a newer Python, "
        "or use parley_helper.py instead (the helper page of your meeting server says how).",
        required="{}.{}".format(*required),
        current="{}.{}".format(*sys.version_info[:2]),
    )


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list | None = None, requires_python: tuple[int, int] | None = None) -> int:
    """``requires_python``: the oldest Python the libraries bundled with this copy run
    on (parley-helper.pyz), said plainly rather than failing on their first import."""
    argv = sys.argv[1:] if argv is None else argv
    set_language(language_asked(argv) or detect_language())
    args = parse_args(argv)
    set_language(args.lang)
    if requires_python and sys.version_info[:2] < tuple(requires_python):
        say(tr("parley-helper: {problem}", problem=python_too_old(requires_python)))
        return 2
    code = normalise_code(args.code)
    try:
        if code is None:
            raise ValueError(tr("The code is 8 letters and digits, as shown on the meeting page (e.g. ABCD-EFGH)."))
        url, origin = websocket_url(args.server)
        performer = make_performer()
        monitor = choose_monitor(performer.monitors(), args.monitor, input)
    except (ValueError, RuntimeError, EOFError) as problem:
        say(tr("parley-helper: {problem}", problem=problem))
        return 2
    use_tk = args.consent == "tk" or (args.consent == "auto" and tk_available())
    say(tr("Parley helper {version}: screen {monitor}, server {origin}.", version=VERSION, monitor=monitor, origin=origin))
    if not use_tk:
        try:
            return asyncio.run(Helper(url, origin, code, performer, monitor, TerminalUI(say), say).run())
        except KeyboardInterrupt:
            say(tr("Stopped."))
            return 0
    return _run_with_tk(url, origin, code, performer, monitor)


def _run_with_tk(url: str, origin: str, code: str, performer: Performer, monitor: Monitor) -> int:
    ui = TkUI(say)
    done = threading.Event()
    result = [1]

    def network() -> None:
        try:
            result[0] = asyncio.run(Helper(url, origin, code, performer, monitor, ui, say).run())
        finally:
            done.set()

    threading.Thread(target=network, name="network", daemon=True).start()
    try:
        ui.run(done)
    except KeyboardInterrupt:
        say(tr("Stopped."))
        return 0
    return result[0]


if __name__ == "__main__":
    sys.exit(main())
