"""Remote control (F5) end to end: headless Chromium with a fake screen, a real web server
and Redis, and the real desktop helper acting on an Xvfb display.

A guest asks for remote control, the organizer allows, the guest shares the whole
screen (a window is refused and asked again), pairs the helper with the code the page
shows; the organizer sees the screen on the stage and a click on it moves the X
pointer to the same place and reaches a test window there, typed text too; Stop ends
it on both pages and later input does nothing. The request button says why it
cannot be used while nobody may take control, and a request can be cancelled or taken
by another presenter.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from Xlib import XK, X

from meetings.remote.models import RemoteSession
from tests.e2e.pages import (
    MEDIA_TIMEOUT_MS,
    WS_RECORDER,
    forced_send,
    join_room,
    shared_room,
    wait_video_playing,
)
from tests.remote.helpers import BARE_PYTHON, HelperProgram, RecordingWindow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = (1280, 720)  # xvfb's screen; Chromium's fake shared screen is 1280×720 too
CODE_PATTERN = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")

# The remote.input events the page sends, in order (wraps WebSocket.send).
INPUT_RECORDER = """
(() => {
  const send = WebSocket.prototype.send;
  window.__inputs = [];
  WebSocket.prototype.send = function (data) {
    try {
      const message = JSON.parse(data);
      if (message.type === "remote.input") window.__inputs.push(message.body.event);
    } catch {}
    return send.call(this, data);
  };
})();
"""

# The first getDisplayMedia() picks a window (the fake picker gives what is asked
# for), the next ones what the page asks for.
WINDOW_FIRST = """
(() => {
  const media = navigator.mediaDevices;
  const pick = media.getDisplayMedia.bind(media);
  window.__picks = [];
  media.getDisplayMedia = (options = {}) => {
    window.__picks.push(JSON.parse(JSON.stringify(options)));
    if (window.__picks.length === 1) options = { ...options, video: { ...(options.video || {}), displaySurface: "window" } };
    return pick(options);
  };
})();
"""

# The picture's rectangle inside the stage video (object-fit: contain), in page pixels.
PICTURE_RECT_JS = """() => {
  const video = document.getElementById("stage-video");
  const box = video.getBoundingClientRect();
  const scale = Math.min(box.width / video.videoWidth, box.height / video.videoHeight);
  const width = video.videoWidth * scale;
  const height = video.videoHeight * scale;
  return { left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2, width, height,
           boxTop: box.top, boxHeight: box.height, boxLeft: box.left };
}"""

REMOTE_JS = "() => window.parleyRoom.remote"


def remote_state(page: Page) -> dict:
    return page.evaluate(REMOTE_JS)


def wait_remote_view(page: Page, view: str) -> None:
    page.wait_for_function("(view) => window.parleyRoom.remote.view === view", arg=view)


def wait_no_session(page: Page) -> None:
    page.wait_for_function("() => window.parleyRoom.remote.session === null")


def expect_blocked(page: Page, reason: str) -> None:
    button = page.locator("#remote-button")
    expect(button).to_have_attribute("aria-disabled", "true")
    expect(button).to_have_attribute("title", re.compile(re.escape(reason)))
    expect(page.locator("#remote-reason")).to_contain_text(reason)


def expect_available(page: Page) -> None:
    button = page.locator("#remote-button")
    expect(button).not_to_have_attribute("aria-disabled", "true")
    expect(button).to_have_attribute("title", "Request remote control")


NOBODY = "No organizer or presenter other than you"


def press_blocked_button(page: Page) -> None:
    """A disabled request button still says why when pressed (from the keyboard: it
    stays focusable)."""
    page.focus("#remote-button")
    page.keyboard.press("Enter")
    expect(page.locator("#remote-control")).to_have_attribute("data-open", "true")
    expect(page.locator("#remote-reason")).to_be_visible()


# --- Xvfb, a window that records what X delivers, the helper program ---------------------
# (shared with the helper's own tests: tests/remote/helpers.py)


@pytest.fixture
def test_window(xvfb):
    window = RecordingWindow(xvfb)
    yield window
    window.close()


def keysyms(window: RecordingWindow) -> list[int]:
    """The keysyms of the key presses the window got, as the layout maps them."""
    return [window.display.keycode_to_keysym(event.detail, 0) for event in window.of_type(X.KeyPress)]


def button_presses(window: RecordingWindow, button: int) -> list:
    return [event for event in window.of_type(X.ButtonPress) if event.detail == button]


# --- Tests -----------------------------------------------------------------------------


def test_it_offers_remote_control_only_when_an_organizer_or_presenter_can_take_it(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    pat = join_room(open_page(), meeting, "Pat Participant")

    # The organizer alone among organizers and presenters: nobody could take control.
    expect_blocked(owner.page, NOBODY)
    press_blocked_button(owner.page)
    assert forced_send(owner.page, "remote.request", {}) == "no_controller"
    expect_available(pat.page)

    # A request can be cancelled: the organizer's question goes away.
    pat.page.click("#remote-button")
    wait_remote_view(pat.page, "waiting")
    expect(pat.page.locator("#remote-panel")).to_contain_text("Waiting for an organizer or presenter to accept…")
    ask = owner.page.locator("#remote-ask")
    expect(ask).to_be_visible()
    expect(ask.locator("#remote-ask-text")).to_have_text("Pat Participant asks for remote control. Allow remote control?")
    expect_blocked(owner.page, "already in use")
    pat.page.locator("#remote-panel [data-action=stop]").click()
    expect(ask).to_be_hidden()
    expect(pat.page.locator("#remote-panel")).to_be_hidden()
    expect(pat.page.locator("#room-notice")).to_contain_text("cancelled")
    wait_no_session(owner.page)
    expect_blocked(owner.page, NOBODY)

    # With a presenter too, both are asked; the first "yes" takes it, the other is told.
    bea = join_room(open_page(), meeting, "Bea Presenter")
    assert forced_send(owner.page, "role.change", {"participant_id": bea.id, "role": "presenter"}) == "ack"
    expect(bea.page.locator("#meeting-room")).to_have_attribute("data-participant-role", "presenter")
    expect_available(owner.page)  # Bea could take control of the organizer's screen
    pat.page.click("#remote-button")
    for asked in (owner, bea):
        expect(asked.page.locator("#remote-ask")).to_be_visible()
    bea.page.click("#remote-ask-yes")
    expect(owner.page.locator("#remote-ask")).to_be_hidden()
    expect(owner.page.locator("#room-notice")).to_contain_text("Bea Presenter took it.")
    wait_remote_view(pat.page, "share")
    expect(pat.page.locator("#remote-panel")).to_contain_text("Choose your entire screen")
    wait_remote_view(bea.page, "controller-waiting")
    assert remote_state(bea.page)["session"]["state"] == "approved"

    # Stop by the requester: everyone is back to normal.
    pat.page.locator("#remote-panel [data-action=stop]").click()
    for person in (pat, bea, owner):
        wait_no_session(person.page)
        expect(person.page.locator("#remote-panel")).to_be_hidden()
    expect(bea.page.locator("#room-notice")).to_contain_text("Remote control was stopped.")
    expect_available(pat.page)

    # Nobody left who may take control: the button says so, and the server agrees.
    for leaving in (bea, owner):
        leaving.page.click("#leave-button")
        leaving.page.wait_for_url(f"**/m/{meeting.public_id}/leave/")
    expect_blocked(pat.page, NOBODY)
    press_blocked_button(pat.page)
    assert forced_send(pat.page, "remote.request", {}) == "no_controller"
    expect(pat.page.locator("#remote-panel")).to_be_hidden()


def test_it_says_the_requester_left_when_they_click_leave_not_that_the_connection_was_lost(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    pat = join_room(open_page(), meeting, "Pat Participant")
    pat.page.click("#remote-button")
    owner.page.locator("#remote-ask-yes").click()
    wait_remote_view(pat.page, "share")

    pat.page.click("#leave-button")
    pat.page.wait_for_url(f"**/m/{meeting.public_id}/leave/")

    wait_no_session(owner.page)
    expect(owner.page.locator("#room-notice")).to_contain_text("Remote control ended: a participant left the meeting.")
    assert list(RemoteSession.objects.values_list("reason", flat=True)) == [RemoteSession.Reason.LEFT]


def test_it_carries_the_controllers_click_and_keys_to_the_helper_on_the_requesters_screen(
    open_page, asgi_server, xvfb, test_window, tmp_path
):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user, init_script=WS_RECORDER + INPUT_RECORDER), meeting, "Olivia Owner")
    # A taller window than the screen's 16:9: the picture has bands above and below.
    owner.page.set_viewport_size({"width": 1280, "height": 960})
    ann = join_room(open_page(init_script=WINDOW_FIRST), meeting, "Ann Guest")

    ann.page.click("#remote-button")
    owner.page.locator("#remote-ask-yes").click()
    wait_remote_view(ann.page, "share")

    # A window is not enough: the page says so and asks again (for a whole screen).
    ann.page.locator("#remote-panel [data-action=share]").click()
    wait_remote_view(ann.page, "share-again")
    expect(ann.page.locator("#remote-panel")).to_contain_text("needs your whole screen")
    assert ann.page.evaluate("() => window.parleyRoom.media.sharing") is False
    ann.page.locator("#remote-panel [data-action=share]").click()
    wait_remote_view(ann.page, "helper")
    picks = ann.page.evaluate("() => window.__picks")
    assert [pick["video"]["displaySurface"] for pick in picks] == ["monitor", "monitor"]
    assert ann.page.evaluate("() => window.parleyRoom.share.kind") == "remote"

    # The organizer sees the screen large.
    stage = owner.page.locator("#stage")
    expect(stage).to_be_visible()
    expect(stage).to_have_attribute("data-sharer-id", str(ann.id))
    wait_video_playing(owner.page, "#stage-video")

    # The helper panel: where to get it (on Linux, parley-helper.pyz: nothing to install),
    # how to run it, with a fresh pairing code.
    panel = ann.page.locator("#remote-panel")
    download = panel.locator("#remote-helper-download")
    expect(download).to_have_attribute("download", "parley-helper.pyz")
    response = ann.page.request.get(download.get_attribute("href"))
    assert response.ok
    archive = tmp_path / "parley-helper.pyz"
    archive.write_bytes(response.body())
    code_node = panel.locator("#remote-code")
    expect(code_node).to_have_text(CODE_PATTERN)
    code = code_node.inner_text()
    expect(panel).not_to_contain_text("pip install")
    expect(panel.locator("#remote-command")).to_have_text(f"python3 parley-helper.pyz --server {asgi_server.url} --code {code}")

    # The downloaded helper, run as the command says by a Python without its libraries.
    helper = HelperProgram(archive, asgi_server.url, code, xvfb, python=BARE_PYTHON)
    try:
        # The person at the computer is asked, in the helper: yes.
        helper.wait_for_line("Olivia Owner wants to control your computer. Allow? [y/N]")
        wait_remote_view(ann.page, "consent")
        expect(panel).to_contain_text("Waiting for you to allow it in the Parley helper…")
        helper.say("y")
        ann.page.wait_for_function("() => window.parleyRoom.remote.session?.state === 'active'", timeout=MEDIA_TIMEOUT_MS)
        wait_remote_view(ann.page, "controlled")
        expect(panel).to_contain_text("Olivia Owner is controlling your screen.")
        owner.page.wait_for_function("() => window.parleyRoom.remote.controlling")
        expect(stage).to_have_attribute("data-remote", "controlling")
        expect(owner.page.locator(".remote-stage__label")).to_have_text("You are controlling Ann Guest's screen")
        capture = owner.page.locator(".remote-capture")
        expect(capture).to_be_focused()

        # A click in the band below the picture is not on the screen: nothing is sent.
        rect = owner.page.evaluate(PICTURE_RECT_JS)
        band = rect["boxTop"] + rect["boxHeight"] - (rect["top"] + rect["height"])
        assert band > 40, rect
        owner.page.mouse.click(rect["left"] + rect["width"] * 0.03, rect["top"] + rect["height"] + band / 2)
        assert owner.page.evaluate("() => window.__inputs.filter((e) => e.kind !== 'move')") == []

        # A click at (0.25, 0.75) of the picture lands at the same place of the X screen.
        owner.page.mouse.click(rect["left"] + rect["width"] * 0.25, rect["top"] + rect["height"] * 0.75)
        sent = owner.page.evaluate("() => window.__inputs.filter((e) => e.kind !== 'move')")
        assert [(e["kind"], e["button"]) for e in sent] == [("down", "left"), ("up", "left")]
        one_pixel = 1.5 / rect["width"], 1.5 / rect["height"]
        assert abs(sent[0]["x"] - 0.25) <= one_pixel[0] and abs(sent[0]["y"] - 0.75) <= one_pixel[1], sent
        # The helper's mapping onto the X screen: 0 → the first pixel, 1 → the last.
        expected = (round(sent[0]["x"] * (SCREEN[0] - 1)), round(sent[0]["y"] * (SCREEN[1] - 1)))
        test_window.wait_for(lambda: test_window.of_type(X.ButtonRelease), "the click on the test window")
        presses = test_window.of_type(X.ButtonPress)
        assert len(presses) == 1 and presses[0].detail == 1, presses
        assert abs(presses[0].root_x - expected[0]) <= 1 and abs(presses[0].root_y - expected[1]) <= 1, (presses[0], expected)
        pointer = test_window.pointer()
        assert abs(pointer[0] - expected[0]) <= 1 and abs(pointer[1] - expected[1]) <= 1, (pointer, expected)

        # The wheel (a notch down: X button 5), typed text and a key go there too.
        owner.page.mouse.wheel(0, 100)
        test_window.wait_for(lambda: button_presses(test_window, 5), "the wheel notch")
        owner.page.keyboard.type("hi")
        owner.page.keyboard.press("Enter")
        expected_keys = [XK.string_to_keysym(name) for name in ("h", "i", "Return")]
        test_window.wait_for(lambda: len(keysyms(test_window)) >= len(expected_keys), "the typed text and Enter")
        assert keysyms(test_window) == expected_keys
        kinds = owner.page.evaluate("() => window.__inputs.map((e) => e.kind).filter((kind) => kind !== 'move')")
        assert kinds == ["down", "up", "wheel", "text", "key"], kinds

        # Stop (the controller): both pages are back to normal, the share ends.
        session_id = remote_state(owner.page)["session"]["id"]
        owner.page.locator(".remote-stage__stop").click()
        for person in (owner, ann):
            wait_no_session(person.page)
            expect(person.page.locator("#room-notice")).to_contain_text("Remote control was stopped.")
        expect(panel).to_be_hidden()
        ann.page.wait_for_function("() => window.parleyRoom.media.sharing === false && window.parleyRoom.share === null")
        expect(stage).to_be_hidden()
        expect(capture).to_be_hidden()

        # Later input does nothing: refused, and nothing moves on the X screen.
        helper.wait_for_line("Remote control ended (stopped).")
        test_window.events.clear()
        before = test_window.pointer()
        later = {"kind": "click", "x": 0.9, "y": 0.1, "button": "left", "count": 1}
        assert forced_send(owner.page, "remote.input", {"session_id": session_id, "event": later}) == "forbidden"
        assert [event for event in test_window.quiet() if event.type == X.ButtonPress] == []
        assert test_window.pointer() == before

        # The helper closes: the page hears of it (and the server is done with it
        # before the test's tables are emptied).
        assert remote_state(ann.page)["helperPaired"] is True
        helper.stop()
        ann.page.wait_for_function("() => window.parleyRoom.remote.helperPaired === false")
    finally:
        helper.stop()
        print(f"--- helper output ---\n{helper.output()}")
