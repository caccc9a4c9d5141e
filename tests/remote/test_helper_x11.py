"""The desktop helper for real, under Xvfb: parley-helper.pyz downloaded from the live
server, run as a program by a Python that has none of its libraries, paired with a
meeting participant, consent given on its terminal (``y`` on stdin, ``--consent
terminal``). A full-screen test window records what X delivers.

The controller's click at (0.25, 0.75) lands on (320, 539) of a 1280×720 screen and
the window gets the press and release; typed text arrives as key presses that decode
to that text; a non-controller's input and input after stop do nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from core import processes
from meetings.models import Participant, Role, RoomType
from meetings.remote.helper.parley_helper import (
    Helper,
    Monitor,
    TkUI,
    XTestPerformer,
    choose_monitor,
    map_point,
    websocket_url,
)
from tests.factories import make_extension, make_meeting, make_participant
from tests.fixtures_live import REPO_DIR, session_cookie_for
from tests.remote.helpers import BARE_PYTHON, HEIGHT, TIMEOUT, WIDTH, HelperProgram, QuietUI, RecordingPerformer, RecordingWindow

# --- Pure parts ---------------------------------------------------------------------------


def test_it_maps_normalised_points_onto_the_chosen_monitor_of_two():
    left, right = Monitor(0, 0, 1920, 1080), Monitor(1920, 0, 1280, 1024)
    assert map_point(0.0, 0.0, left) == (0, 0)
    assert map_point(1.0, 1.0, left) == (1919, 1079)
    assert map_point(0.25, 0.75, Monitor(0, 0, WIDTH, HEIGHT)) == (320, 539)
    assert map_point(0.0, 0.0, right) == (1920, 0)
    assert map_point(1.0, 1.0, right) == (3199, 1023)
    assert map_point(0.5, 0.5, right) == (2560, 512)
    # A monitor left of and above the primary one (negative desktop coordinates).
    assert map_point(1.0, 0.0, Monitor(-1280, -200, 1280, 1024)) == (-1, -200)
    assert choose_monitor([left, right], 2, input) == right
    assert choose_monitor([left, right], None, lambda _prompt: "2") == right
    assert choose_monitor([left], None, lambda _prompt: pytest.fail("asked with one screen")) == left
    for wrong in (0, 3):
        with pytest.raises(ValueError):
            choose_monitor([left, right], wrong, input)


def test_it_talks_plain_websocket_only_to_this_computer():
    assert websocket_url("https://meet.example.com") == ("wss://meet.example.com/ws/helper/", "https://meet.example.com")
    assert websocket_url("http://127.0.0.1:8000/") == ("ws://127.0.0.1:8000/ws/helper/", "http://127.0.0.1:8000")
    assert websocket_url("http://[::1]:8000")[0] == "ws://[::1]:8000/ws/helper/"
    for refused in ("http://meet.example.com", "ws://10.0.0.1", "ftp://meet.example.com", "meet.example.com"):
        with pytest.raises(ValueError):
            websocket_url(refused)


def _input(session_id: int, event: dict) -> dict:
    return {"type": "control.input", "id": None, "body": {"session_id": session_id, "event": event}}


def test_it_performs_only_valid_input_of_its_active_session_and_releases_all_on_stop():
    performer, said = RecordingPerformer(), []
    helper = Helper(
        "ws://127.0.0.1/ws/helper/", "http://127.0.0.1", "ABCD-EFGH", performer, Monitor(0, 0, 101, 101), QuietUI(), said.append
    )
    down = {"kind": "down", "x": 0.5, "y": 0.25, "button": "left"}
    helper._dispatch(_input(7, down))
    assert performer.calls == []  # no session is active
    helper.active = 7
    helper._dispatch(_input(8, down))  # another session's
    helper._dispatch(_input(7, {"kind": "move", "x": 2, "y": 0}))  # out of range
    helper._dispatch(_input(7, {"kind": "key", "key": "Super", "action": "press"}))  # unknown key
    assert performer.calls == []
    helper._dispatch(_input(7, down))
    helper._dispatch(_input(7, {"kind": "key", "key": "c", "action": "down", "modifiers": ["ctrl"]}))
    assert performer.calls == [("move", 50, 25), ("button", "left", True), ("key", "ctrl", True), ("key", "c", True)]
    performer.calls.clear()
    helper._dispatch({"type": "control.stopped", "id": None, "body": {"session_id": 7, "reason": "stopped"}})
    assert sorted(performer.calls) == [("button", "left", False), ("key", "c", False), ("key", "ctrl", False)]
    assert helper.active is None
    assert said == ["Remote control ended (stopped)."]
    performer.calls.clear()
    helper._dispatch(_input(7, down))
    assert performer.calls == []


def test_it_holds_modifiers_for_one_key_press_only():
    performer = RecordingPerformer()
    performer.perform({"kind": "key", "key": "A", "action": "press", "modifiers": ["shift"]}, Monitor(0, 0, 10, 10))
    performer.perform({"kind": "click", "x": 1.0, "y": 0.0, "button": "right", "count": 2}, Monitor(100, 0, 10, 10))
    assert performer.calls == [
        ("key", "shift", True),
        ("key", "A", True),
        ("key", "A", False),
        ("key", "shift", False),
        ("move", 109, 0),
        *[("button", "right", True), ("button", "right", False)] * 2,
    ]
    assert performer.keys_down == set() and performer.buttons_down == set()


# --- Typing on a real X server (Xvfb, US layout) --------------------------------------------

FRENCH = "é€ñàç, déjà là: Ça coûte 5 € à Noël! ÉÈÀÙ œ æ ß ü " * 2


def test_it_types_characters_the_layout_lacks_exactly_and_in_order(xvfb):
    """French text on a US layout: every accented character goes through a spare key.
    A program that reads its events late still reads each one right."""
    window = RecordingWindow(xvfb)
    performer = XTestPerformer(xvfb)
    try:
        performer.type_text(FRENCH)
        performer.flush()
        assert window.text_as_a_program_reads_it() == FRENCH
        # Control ends: the spare keys are given back to the layout.
        performer.release_all()
        first = window.display.display.info.min_keycode
        count = window.display.display.info.max_keycode - first + 1
        mapping = window.display.get_keyboard_mapping(first, count)
        assert not [syms for syms in mapping if any(s in syms for s in (0xE9, 0x20AC, 0x010020AC))]
    finally:
        window.close()


# --- The live server's side --------------------------------------------------------------


class RoomSocket:
    """A room socket of one person on the live server (websockets' sync client)."""

    def __init__(self, stack: contextlib.ExitStack, server_url: str, public_id: str, cookie: str):
        from websockets.sync.client import connect

        port = server_url.rsplit(":", 1)[1]
        connection = connect(
            f"ws://127.0.0.1:{port}/ws/meetings/{public_id}/",
            origin=server_url,
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
            open_timeout=TIMEOUT,
        )
        self.socket = stack.enter_context(connection)
        self.inbox: list[dict] = []
        self.counter = 0
        self.until("room.snapshot")

    def _read(self) -> dict:
        return json.loads(self.socket.recv(timeout=TIMEOUT))

    def until(self, kind: str, **match) -> dict:
        def fits(message: dict) -> bool:
            return message["type"] == kind and all(message["body"].get(k) == v for k, v in match.items())

        for message in self.inbox:
            if fits(message):
                self.inbox.remove(message)
                return message
        for _ in range(200):
            message = self._read()
            if fits(message):
                return message
            self.inbox.append(message)
        raise AssertionError(f"no {kind} {match}")

    def request(self, kind: str, body: dict | None = None) -> dict:
        self.counter += 1
        request_id = f"t{self.counter}"
        self.socket.send(json.dumps({"type": kind, "id": request_id, "body": body or {}}))
        for _ in range(200):
            message = self._read()
            if message["type"] in ("ack", "error") and message["id"] == request_id:
                return message
            self.inbox.append(message)
        raise AssertionError(f"no reply to {kind}")

    def ok(self, kind: str, body: dict | None = None) -> dict:
        reply = self.request(kind, body)
        assert reply["type"] == "ack", reply
        return reply["body"]

    def refused(self, kind: str, body: dict | None = None) -> str:
        reply = self.request(kind, body)
        assert reply["type"] == "error", reply
        return reply["body"]["code"]


def _guest_cookie() -> str:
    store = SessionStore()
    store["guest"] = True
    store.create()
    return store.session_key


def _download_helper(server_url: str, folder: Path) -> Path:
    """parley-helper.pyz as a Linux visitor gets it: the helper and its libraries."""
    with urllib.request.urlopen(f"{server_url}/remote/helper/parley-helper.pyz", timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"] == 'attachment; filename="parley-helper.pyz"'
        archive = folder / "parley-helper.pyz"
        archive.write_bytes(response.read())
    with zipfile.ZipFile(archive) as pyz:
        assert pyz.read("parley_helper.py") == (REPO_DIR / "meetings/remote/helper/parley_helper.py").read_bytes()
    return archive


# --- The helper for real ----------------------------------------------------------------------


@pytest.mark.integration
def test_it_performs_the_controllers_click_and_text_and_nothing_else(asgi_server, xvfb, tmp_path):
    from Xlib import X

    owner = make_extension(display_name="Cora Controller", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED)
    make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Controller")
    requester_key, other_key = _guest_cookie(), _guest_cookie()
    make_participant(meeting, session_key=requester_key, name="Rita Requester")
    make_participant(meeting, session_key=other_key, role=Role.PRESENTER, name="Pia Presenter")

    window = RecordingWindow(xvfb)
    with contextlib.ExitStack() as stack:
        stack.callback(window.close)
        controller = RoomSocket(stack, asgi_server.url, meeting.public_id, session_cookie_for(owner.user))
        requester = RoomSocket(stack, asgi_server.url, meeting.public_id, requester_key)
        other = RoomSocket(stack, asgi_server.url, meeting.public_id, other_key)
        code = requester.ok("remote.pair")["code"]
        # Run by a Python without websockets or python-xlib: the archive brings them.
        helper = HelperProgram(_download_helper(asgi_server.url, tmp_path), asgi_server.url, code, xvfb, python=BARE_PYTHON)
        stack.callback(helper.stop)
        helper.wait_for_line("Paired with")
        requester.until("remote.helper", paired=True)

        session_id = requester.ok("remote.request")["session_id"]
        controller.until("remote.requested", id=session_id)
        controller.ok("remote.answer", {"session_id": session_id, "allow": True})
        assert "Cora Controller wants to control your computer" in helper.wait_for_line("Allow? [y/N]")
        helper.say("y")
        helper.wait_for_line("Remote control active: controlled by Cora Controller")
        controller.until("remote.session", id=session_id, state="active")
        start = window.pointer()

        # Someone else's click: refused by the server, nothing moves.
        assert other.refused("remote.input", {"session_id": session_id, "event": click(0.9, 0.1)}) == "forbidden"
        assert window.quiet() == []
        assert window.pointer() == start

        controller.ok("remote.input", {"session_id": session_id, "event": click(0.25, 0.75)})
        window.wait_for(lambda: window.of_type(X.ButtonRelease), "the click's release")
        x, y = window.pointer()
        assert abs(x - 320) <= 1 and abs(y - 540) <= 1, (x, y)
        presses, releases = window.of_type(X.ButtonPress), window.of_type(X.ButtonRelease)
        assert [(e.detail, e.event_x, e.event_y) for e in presses] == [(1, x, y)]
        assert [(e.detail, e.event_x, e.event_y) for e in releases] == [(1, x, y)]
        window.events.clear()

        text = "Hello, World 42!"
        controller.ok("remote.input", {"session_id": session_id, "event": {"kind": "text", "text": text}})
        window.wait_for(lambda: window.typed_text() == text, f"the key presses of {text!r}")
        assert len(window.of_type(X.KeyRelease)) >= len(text)
        window.quiet()

        # Stopped: the server refuses the controller's input, and nothing moves.
        controller.ok("remote.stop", {"session_id": session_id})
        helper.wait_for_line("Remote control ended")
        assert controller.refused("remote.input", {"session_id": session_id, "event": click(0.9, 0.9)}) == "forbidden"
        assert window.quiet() == []
        assert window.pointer() == (x, y)
        assert Participant.objects.filter(meeting=meeting, state=Participant.State.JOINED).count() == 3
        assert helper.interrupt() == 0
        requester.until("remote.helper", paired=False)
    # The server is done with the room sockets before the tables are emptied.
    processes.wait_until(
        lambda: not Participant.objects.filter(meeting=meeting, connected=True).exists(), timeout=TIMEOUT, what="the room sockets to close"
    )


def click(x: float, y: float) -> dict:
    return {"kind": "click", "x": x, "y": y, "button": "left", "count": 1}


# --- The consent window (Tk), clicked through X ---------------------------------------------


def _button_centre(window, text: str) -> tuple[int, int] | None:
    """Run in the Tk thread: the screen centre of the button labelled ``text``."""
    for child in window.winfo_children():
        if child.winfo_class() == "Button" and child.cget("text") == text:
            return child.winfo_rootx() + child.winfo_width() // 2, child.winfo_rooty() + child.winfo_height() // 2
        found = _button_centre(child, text)
        if found:
            return found
    return None


def test_it_asks_in_a_window_and_stops_from_the_window(xvfb, monkeypatch):
    pytest.importorskip("tkinter")
    monkeypatch.setenv("DISPLAY", xvfb)
    ui, problems = TkUI(lambda line: None), []
    mouse = XTestPerformer(xvfb)
    finished = threading.Event()
    outcome: dict = {}

    async def helper_side() -> None:
        ui.start(asyncio.get_running_loop())
        outcome["allowed"] = await ui.ask_consent("Cora Controller")
        stopped = asyncio.Event()
        ui.show_controlled("Cora Controller", stopped.set)
        await asyncio.wait_for(stopped.wait(), TIMEOUT)
        outcome["stopped"] = True

    def network() -> None:
        try:
            asyncio.run(helper_side())
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error
        finally:
            finished.set()

    def click(window_attribute: str, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        centre = None
        while centre is None and time.monotonic() < deadline and not finished.is_set():
            window = getattr(ui, window_attribute)
            if window is not None:
                answer: queue.Queue = queue.Queue()
                ui.commands.put(
                    lambda window=window, answer=answer: answer.put(_button_centre(window, text) if window.winfo_ismapped() else None)
                )
                centre = answer.get(timeout=TIMEOUT)
            if centre is None:
                time.sleep(0.05)
        if centre is None:
            problems.append(f"no {text} button")
            return
        mouse.move_to(*centre)
        mouse.button("left", True)
        mouse.button("left", False)
        mouse.flush()

    def person() -> None:
        click("_question", "Allow")
        click("_banner", "Stop")

    threading.Thread(target=network, daemon=True).start()
    threading.Thread(target=person, daemon=True).start()
    watchdog = threading.Timer(3 * TIMEOUT, finished.set)
    watchdog.start()
    try:
        ui.run(finished)  # Tk in this (main) thread, as on macOS
    finally:
        watchdog.cancel()
    assert problems == []
    assert outcome == {"allowed": True, "stopped": True}
