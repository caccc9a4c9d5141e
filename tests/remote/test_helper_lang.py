"""The desktop helper in English and French: the language it picks (``--lang``, else
the environment, else the system locale), a French table that matches the ``tr("...")``
calls of its source one for one with the same placeholders, and French at work on the
terminal (the consent question answered ``oui``) and in its output lines."""

from __future__ import annotations

import ast
import asyncio
import os
import string
import sys
from pathlib import Path

import pytest

from meetings.remote.helper import parley_helper as helper_module
from meetings.remote.helper.parley_helper import (
    FRENCH,
    Helper,
    Monitor,
    TerminalUI,
    detect_language,
    language_asked,
    parse_args,
    reason_text,
    set_language,
    tr,
)
from tests.remote.helpers import QuietUI, RecordingPerformer

SOURCE = Path(helper_module.__file__)
TIMEOUT = 10.0


@pytest.fixture
def language():
    """Sets the helper's language for one test, English again afterwards."""
    yield set_language
    set_language("en")


# --- Choosing the language -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "fr_CA"}, "fr"),
        ({"LANG": "fr"}, "fr"),
        ({"LC_MESSAGES": "fr_BE.UTF-8", "LANG": "en_GB.UTF-8"}, "fr"),
        ({"LANGUAGE": "fr:en"}, "fr"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        # The first one set decides, in the order LC_ALL, LC_MESSAGES, LANG, LANGUAGE.
        ({"LC_ALL": "C", "LANG": "fr_FR.UTF-8"}, "en"),
        ({"LC_ALL": "fr_FR.UTF-8", "LANG": "en_US.UTF-8"}, "fr"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "fr"}, "en"),
        # Empty is unset.
        ({"LC_ALL": "", "LANG": "fr_FR.UTF-8"}, "fr"),
        # Not French, though it starts with "fr": Frisian (fy), Arpitan (frp).
        ({"LANG": "frp_IT"}, "en"),
    ],
)
def test_it_detects_the_language_from_the_environment(environ, expected, monkeypatch):
    monkeypatch.setattr(helper_module.locale, "getlocale", lambda: pytest.fail("the environment decides"))
    assert detect_language(environ) == expected


def test_it_falls_back_on_the_system_locale_then_english(monkeypatch):
    for name, expected in (("fr_FR", "fr"), ("French_France", "fr"), ("English_United States", "en"), ("de_DE", "en"), (None, "en")):
        monkeypatch.setattr(helper_module.locale, "getlocale", lambda name=name: (name, "UTF-8"))
        assert detect_language({}) == expected, name

    def unparsable():
        raise ValueError("unknown locale: xx")

    monkeypatch.setattr(helper_module.locale, "getlocale", unparsable)
    assert detect_language({}) == "en"


def test_it_reads_the_process_environment_by_default(monkeypatch):
    for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert detect_language() == "fr"
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert detect_language() == "en"


def test_it_takes_lang_from_the_command_line(language):
    required = ["--server", "https://meet.example.com", "--code", "ABCD-EFGH"]
    assert language_asked([*required, "--lang", "fr"]) == "fr"
    assert language_asked([*required, "--lang=fr"]) == "fr"
    assert language_asked([*required, "--lang", "fr", "--lang", "en"]) == "en"
    assert language_asked([*required, "--lang", "de"]) is None  # argparse says why
    assert language_asked(required) is None
    assert parse_args([*required, "--lang", "fr"]).lang == "fr"
    assert parse_args(required).lang == "en"
    language("fr")
    assert parse_args(required).lang == "fr"  # the default: what was detected
    assert parse_args([*required, "--lang", "en"]).lang == "en"
    with pytest.raises(SystemExit):
        parse_args([*required, "--lang", "de"])


def test_it_writes_its_help_in_french_when_asked(capsys, monkeypatch, language):
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    with pytest.raises(SystemExit):
        helper_module.main(["--help", "--lang", "fr"])
    shown = capsys.readouterr().out
    assert shown.startswith("utilisation : ")
    assert "le code d'appairage affiché sur la page de la réunion" in shown
    assert "afficher cette aide et quitter" in shown


def test_it_tells_a_wrong_code_in_the_language_of_the_environment(capsys, monkeypatch, language):
    for variable in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert helper_module.main(["--server", "https://meet.example.com", "--code", "AB"]) == 2
    assert capsys.readouterr().out == (
        "parley-helper : Le code se compose de 8 lettres et chiffres, comme sur la page de la réunion (par exemple ABCD-EFGH).\n"
    )


# --- The French table against the source -------------------------------------------------------


def _tr_calls() -> list[ast.Call]:
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"]


def _placeholders(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}


def test_it_has_a_french_entry_for_each_tr_call_and_no_other():
    calls = _tr_calls()
    assert len(calls) > 40
    texts = set()
    for call in calls:
        first = call.args[0] if call.args else None
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"line {call.lineno}: tr() of a literal string only"
        texts.add(first.value)
        # Each placeholder is given a value, and nothing else is.
        assert {keyword.arg for keyword in call.keywords} == _placeholders(first.value), f"line {call.lineno}"
    assert sorted(texts - set(FRENCH)) == [], "English strings without a French translation"
    assert sorted(set(FRENCH) - texts) == [], "French translations no tr() call uses"


@pytest.mark.parametrize("english", sorted(FRENCH))
def test_it_keeps_the_placeholders_of_each_french_translation(english):
    french = FRENCH[english]
    assert _placeholders(french) == _placeholders(english)
    values = dict.fromkeys(_placeholders(english), "X")
    assert french.format(**values).strip()  # no stray braces, not empty
    # A prompt keeps its trailing space, a listing its lines.
    assert french.endswith(" ") == english.endswith(" ") and french.count("\n") == english.count("\n")
    assert "\u00a0" not in french and "\u202f" not in french  # plain spaces on a terminal


def test_it_shows_the_user_only_translated_text():
    """What the helper prints, its windows' titles and labels, and the errors it shows
    (ValueError, RuntimeError: printed by main) all go through tr()."""
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))

    def through_tr(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"

    untranslated = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            shown = name in ("out", "say", "title", "_window", "ValueError", "RuntimeError") and node.args
            # A name is a value passed on (translated where it was made).
            if shown and not (through_tr(node.args[0]) or isinstance(node.args[0], ast.Name)):
                untranslated.append((node.lineno, ast.unparse(node)))
            for keyword in node.keywords:
                if keyword.arg in ("text", "help", "description") and not (
                    through_tr(keyword.value) or isinstance(keyword.value, ast.Name)
                ):
                    untranslated.append((node.lineno, ast.unparse(node)))
    # set_language's own complaint is for programmers only.
    assert [line for line in untranslated if "unknown language" not in line[1]] == []


def test_it_speaks_english_by_default_and_french_when_set(language):
    assert tr("Remote control ended ({reason}).", reason="stopped") == "Remote control ended (stopped)."
    assert str(Monitor(0, 0, 1280, 720)) == "1280x720 at (0, 0)"
    language("fr")
    assert tr("Remote control ended ({reason}).", reason="stopped") == "Contrôle à distance terminé (stopped)."
    assert str(Monitor(0, 0, 1280, 720)) == "1280x720 à (0, 0)"
    assert tr("Not in the table") == "Not in the table"
    with pytest.raises(ValueError):
        language("de")


# --- French at work -------------------------------------------------------------------------


def test_it_says_an_output_line_in_french(language):
    language("fr")
    said: list[str] = []
    helper = Helper(
        "ws://127.0.0.1/ws/helper/", "http://127.0.0.1", "ABCD-EFGH", RecordingPerformer(), Monitor(0, 0, 101, 101), QuietUI(), said.append
    )
    helper.active = 7
    helper._dispatch({"type": "control.stopped", "id": None, "body": {"session_id": 7, "reason": "stopped"}})
    helper.active = 8
    helper.stop_by_user()
    helper._dispatch({"type": "helper.closed", "id": None, "body": {"reason": "left"}})
    assert said == [
        "Contrôle à distance terminé (arrêté).",
        "Contrôle à distance terminé (vous l'avez arrêté).",
        "La réunion a mis fin à cet appairage (vous avez quitté la réunion).",
    ]


class PipeStdin:
    """A terminal's stdin for TerminalUI, which reads its file descriptor."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


async def _consent_on_the_terminal(answer: str, monkeypatch) -> tuple[bool, list[str]]:
    """The question asked on a terminal, ``answer`` typed once it is asked."""
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", PipeStdin(read_end))
    said: list[str] = []
    ui = TerminalUI(said.append)
    try:
        ui.start(asyncio.get_running_loop())
        asking = asyncio.ensure_future(ui.ask_consent("Cora Controller"))
        async with asyncio.timeout(TIMEOUT):
            while ui._answer is None:
                await asyncio.sleep(0.01)
            os.write(write_end, f"{answer}\n".encode())
            allowed = await asking
    finally:
        os.close(write_end)  # the reading thread sees the end and stops
    await asyncio.sleep(0.05)
    os.close(read_end)
    return allowed, said


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [("oui", True), ("o", True), ("OUI", True), (" O ", True), ("y", True), ("yes", True), ("n", False), ("", False), ("non", False)],
)
async def test_it_asks_consent_on_the_terminal_in_french(answer, allowed, language, monkeypatch):
    language("fr")
    assert await _consent_on_the_terminal(answer, monkeypatch) == (
        allowed,
        ["Cora Controller veut contrôler votre ordinateur. Autoriser ? [o/N]"],
    )


@pytest.mark.parametrize(("answer", "allowed"), [("y", True), ("yes", True), ("oui", False), ("o", False), ("n", False), ("", False)])
async def test_it_asks_consent_on_the_terminal_in_english(answer, allowed, monkeypatch):
    assert await _consent_on_the_terminal(answer, monkeypatch) == (
        allowed,
        ["Cora Controller wants to control your computer. Allow? [y/N]"],
    )


def test_it_says_the_servers_reasons_in_words(language):
    assert reason_text("meeting_end") == "the meeting ended"
    assert reason_text("stopped") == "stopped"
    assert reason_text("something_new") == "something_new"  # a reason of a newer server, as it is
    language("fr")
    assert reason_text("meeting_end") == "la réunion est terminée"
    assert tr("Remote control ended ({reason}).", reason=reason_text("kicked")) == "Contrôle à distance terminé (retiré de la réunion)."
