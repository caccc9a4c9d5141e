"""Remote-control set-ups shared by the desktop helper's tests and the end-to-end
test: a performer and a UI that record instead of acting, a full-screen X window that
records what X delivers (under the ``xvfb`` fixture of tests/fixtures_live.py), and
the helper run as a program."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest

from core import processes
from meetings.remote.helper.parley_helper import Monitor, Performer
from tests.fixtures_live import XVFB_SCREEN

WIDTH, HEIGHT = XVFB_SCREEN
TIMEOUT = 20.0
QUIET = 0.5  # how long "nothing happens" is watched
# A Python with nothing installed, as on a support customer's computer: isolated (-I: no
# user site, no PYTHON* variables) and without site-packages (-S), unbuffered (-u).
BARE_PYTHON = (sys.executable, "-I", "-S", "-u")


# --- Without X --------------------------------------------------------------------------


class RecordingPerformer(Performer):
    platform = "test"

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def monitors(self):
        return [Monitor(0, 0, 101, 101)]

    def move_to(self, x, y):
        self.calls.append(("move", x, y))

    def button(self, name, down):
        self.calls.append(("button", name, down))

    def scroll(self, dx, dy):
        self.calls.append(("scroll", dx, dy))

    def key(self, name, down):
        self.calls.append(("key", name, down))

    def type_text(self, text):
        self.calls.append(("text", text))


class QuietUI:
    def start(self, loop):
        pass

    def hide(self):
        pass

    def cancel_question(self):
        pass

    def close(self):
        pass


# --- Under Xvfb ------------------------------------------------------------------------


class RecordingWindow:
    """A full-screen window of our own X connection, with the keyboard focus."""

    def __init__(self, display_name: str):
        from Xlib import X, display

        self.X = X
        self.display = display.Display(display_name)
        screen = self.display.screen()
        self.root = screen.root
        mask = X.ButtonPressMask | X.ButtonReleaseMask | X.KeyPressMask | X.KeyReleaseMask | X.PointerMotionMask | X.StructureNotifyMask
        self.window = self.root.create_window(
            0, 0, WIDTH, HEIGHT, 0, screen.root_depth, X.InputOutput, X.CopyFromParent, override_redirect=True, event_mask=mask
        )
        self.window.map()
        self.events: list = []
        self.wait_for(lambda: any(e.type == X.MapNotify for e in self.events), "the window to show")
        self.window.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.display.sync()
        self.events.clear()

    def _read(self) -> None:
        while self.display.pending_events():
            self.events.append(self.display.next_event())

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            self._read()
            if condition():
                return
            time.sleep(0.02)
        pytest.fail(f"X never delivered {what}; got {[e.__class__.__name__ for e in self.events]}")

    def quiet(self) -> list:
        """The events that arrive within QUIET seconds."""
        self.display.sync()
        deadline = time.monotonic() + QUIET
        while time.monotonic() < deadline:
            self._read()
            time.sleep(0.02)
        arrived, self.events = self.events, []
        return arrived

    def of_type(self, event_type) -> list:
        return [e for e in self.events if e.type == event_type]

    def pointer(self) -> tuple[int, int]:
        reply = self.root.query_pointer()
        return reply.root_x, reply.root_y

    def typed_text(self) -> str:
        """The characters of the key presses, as a keyboard layout reads them."""
        text = []
        for event in self.of_type(self.X.KeyPress):
            keysym = self.display.keycode_to_keysym(event.detail, 1 if event.state & self.X.ShiftMask else 0)
            if 0x20 <= keysym <= 0x7E:
                text.append(chr(keysym))
        return "".join(text)

    def text_as_a_program_reads_it(self) -> str:
        """The characters of the key presses that arrived, read as an X program reads
        them: in order, the keyboard mapping refreshed when a MappingNotify comes and
        each key looked up when its event is handled (here: after all of them came, as
        a busy program would)."""
        self.display.sync()
        self.quiet_read()
        text = []
        for event in self.events:
            if event.type == self.X.MappingNotify:
                self.display.refresh_keyboard_mapping(event)
            elif event.type == self.X.KeyPress:
                keysym = self.display.keycode_to_keysym(event.detail, 1 if event.state & self.X.ShiftMask else 0)
                text.append(_keysym_text(keysym))
        self.events = []
        return "".join(text)

    def quiet_read(self) -> None:
        deadline = time.monotonic() + QUIET
        while time.monotonic() < deadline:
            self._read()
            time.sleep(0.02)

    def close(self) -> None:
        self.window.destroy()
        self.display.close()


def _keysym_text(keysym: int) -> str:
    """What a keysym types: Latin-1 keysyms are their code point, Unicode ones 0x01000000
    plus it, EuroSign €; a modifier or NoSymbol nothing; anything else is shown."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if keysym & 0xFF000000 == 0x01000000:
        return chr(keysym & 0x00FFFFFF)
    if keysym == 0x20AC:
        return "€"
    if 0xFFE1 <= keysym <= 0xFFEE:  # Shift, Control, Alt…
        return ""
    return f"<{keysym:#x}>"


def _ctrl_c_as_in_a_terminal() -> None:
    """In the helper's process before exec: Ctrl+C (SIGINT) at its default, as in the
    person's terminal. A test run started in the background (``&``) ignores SIGINT,
    children inherit that, and the helper would never see the test's Ctrl+C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class HelperProgram:
    """The helper as a user runs it: its output read line by line, its stdin ours."""

    def __init__(self, script: Path, server_url: str, code: str, display_name: str, python: tuple[str, ...] = (sys.executable,)):
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "DJANGO_"))}
        env.update(DISPLAY=display_name, PYTHONUNBUFFERED="1")
        # English whatever the developer's locale: the tests read its lines.
        command = [*python, str(script), "--server", server_url, "--code", code, "--consent", "terminal", "--lang", "en"]
        self.process = processes.spawn(
            command,
            env=env,
            before_exec=_ctrl_c_as_in_a_terminal,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: deque[str] = deque(maxlen=500)
        self._new_line = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()

    def wait_for_line(self, text: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        with self._new_line:
            while True:
                for line in self.lines:
                    if text in line:
                        self.lines.remove(line)
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None and not self.lines:
                    pytest.fail(f"the helper never said {text!r}; it said:\n{self.output()}")
                self._new_line.wait(min(left, 0.5))

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            processes.stop(self.process)

    def interrupt(self) -> int:
        """Ctrl+C, as the person at the computer would press it."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            processes.stop(self.process)
            pytest.fail("the helper did not stop on Ctrl+C")
