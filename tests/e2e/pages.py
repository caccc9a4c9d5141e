"""What the end-to-end tests do with a room page: join, wait for media, send what a
modified page could send, read the page's state (shared by every tests/e2e module)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from meetings.models import RoomType
from tests.factories import make_extension, make_meeting
from tests.firefox_bidi import FirefoxPage

# The machine is shared and slow: media gets generous time (these are limits, not sleeps).
MEDIA_TIMEOUT_MS = 30_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Records every WebSocket of the page: when it opened and closed (with the code) and
# the type of every frame it received. Installed before the page's own scripts run.
WS_RECORDER = """
(() => {
  const Native = window.WebSocket;
  const sockets = [];
  class RecordedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      const record = { url: String(args[0]), openedAt: null, closedAt: null, code: null, types: [] };
      sockets.push(record);
      this.addEventListener("open", () => (record.openedAt = Date.now()));
      this.addEventListener("message", (event) => {
        try {
          record.types.push(JSON.parse(event.data).type);
        } catch {
          record.types.push("?");
        }
      });
      this.addEventListener("close", (event) => {
        record.closedAt = Date.now();
        record.code = event.code;
      });
    }
  }
  window.WebSocket = RecordedWebSocket;
  window.__sockets = sockets;
})();
"""

# (selector, previous sample) → a new sample once the video plays and, given a
# previous sample, once both its decoded frame count and its clock moved on. (Firefox
# counts no frame of a MediaStream in getVideoPlaybackQuality(); it counts the frames
# it paints in mozPaintedFrames.)
VIDEO_SAMPLE_JS = """([selector, before]) => {
  const video = document.querySelector(selector);
  if (!video || !video.srcObject || video.paused || video.readyState < 2 || video.videoWidth === 0) return false;
  const frames = video.getVideoPlaybackQuality().totalVideoFrames || video.mozPaintedFrames || 0;
  const now = { frames, time: video.currentTime,
                width: video.videoWidth, height: video.videoHeight };
  if (!before) return now;
  return now.frames >= before.frames + 5 && now.time > before.time ? now : false;
}"""

# (peer id, previous sample) → the inbound audio of the connection to that peer: a new
# sample once samples arrive and, given a previous one, once more samples arrived and
# the received level is above zero (the fake microphone beeps).
# A room on the media server (Janus): how long its steps may take, whether this page is
# connected to it, and whether it receives each of these people from it.
SFU_TIMEOUT_MS = 30_000
ON_MEDIA_SERVER_JS = """() => window.parleyRoom.topology.mode === "sfu" && window.parleyRoom.sfu.state === "connected" """
RECEIVES_JS = """(ids) => ids.every((id) => window.parleyRoom.sfu.receiving.includes(id))"""

AUDIO_SAMPLE_JS = """async ([peerId, before]) => {
  const audio = await window.parleyRoom.inboundAudio(peerId);
  if (!audio || !audio.totalSamplesReceived) return false;
  const now = { samples: audio.totalSamplesReceived, level: audio.audioLevel || 0, energy: audio.totalAudioEnergy || 0 };
  if (!before) return now;
  return now.samples > before.samples && now.level > 0 && now.energy > before.energy ? now : false;
}"""

# Sends any message through the page's own signalling client (as a modified page
# would) and says how the server answered: "ack" or the error code.
FORCED_SEND_JS = """async ([type, body]) => {
  try {
    await window.parleyRoom.request(type, body);
    return "ack";
  } catch (error) {
    return error.code || String(error);
  }
}"""

# What a room page that did not get in shows, for the failure message.
ROOM_STATE_JS = """() => ({
  url: location.href,
  room: { ...document.getElementById("meeting-room")?.dataset },
  socketState: window.parleyRoom ? window.parleyRoom.socketState : "no window.parleyRoom",
  sockets: window.__sockets,
  notice: document.getElementById("room-notice")?.textContent.trim(),
  closed: document.getElementById("room-closed")?.hidden === false ? document.getElementById("room-closed-text").textContent : null,
})"""

IN_ROOM_JS = "() => Boolean(window.parleyRoom && window.parleyRoom.self && window.parleyRoom.socketState === 'connected')"

# --- A shared document on the stage (tests/e2e/test_documents.py, test_firefox.py) ---

# ([selector, x, y, [r, g, b], tolerance, reach]) → whether an opaque pixel of that
# colour is within `reach` px (default 2) of the point (x, y), in fractions of the canvas.
COLOR_NEAR_JS = """([selector, fx, fy, rgb, tolerance, reach = 2]) => {
  const canvas = document.querySelector(selector);
  if (!canvas || !canvas.width || !canvas.height) return false;
  const x = Math.round(fx * canvas.width) - reach;
  const y = Math.round(fy * canvas.height) - reach;
  const data = canvas.getContext("2d").getImageData(x, y, 2 * reach + 1, 2 * reach + 1).data;
  for (let i = 0; i < data.length; i += 4) {
    const near = [0, 1, 2].every((c) => Math.abs(data[i + c] - rgb[c]) <= tolerance);
    if (data[i + 3] > 200 && near) return true;
  }
  return false;
}"""

# ([page, count]) → the presentation is on `page`, no stroke of ours is being drawn,
# and that page has `count` annotations.
ANNOTATIONS_JS = """([page, count]) => {
  const shown = window.parleyRoom.presentation;
  return Boolean(shown) && shown.page === page && !shown.drawing && (shown.annotations[page] || 0) === count;
}"""

# (page) → the document's page `page` is on screen: its image loaded, the indicator says so.
PAGE_SHOWN_JS = """(page) => {
  const shown = window.parleyRoom.presentation;
  const image = document.querySelector("#presentation .presentation__image");
  return Boolean(shown) && shown.page === page && shown.image_loaded === true && image.naturalWidth > 0
    && document.querySelector("#presentation .presentation__indicator").dataset.page === String(page);
}"""


@dataclass
class Person:
    page: Page | FirefoxPage
    id: int
    name: str


# --- Helpers shared by the room's browser tests -----------------------------------------


def submit_join_form(page: Page, meeting, name: str) -> None:
    """Open the join page, give a name if the form has none, and join."""
    page.goto(f"/m/{meeting.public_id}/")
    form = page.locator("form#join-form")
    expect(form).to_be_visible()
    field = form.locator("input[name=name]")
    if not field.input_value():
        field.fill(name)
    page.click("#join-submit")


def join_room(page: Page, meeting, name: str) -> Person:
    submit_join_form(page, meeting, name)
    page.wait_for_url(f"**/m/{meeting.public_id}/room/")
    return in_room(page, name)


def in_room(page: Page, name: str) -> Person:
    """Wait until the room page has its socket and snapshot; the person it shows."""
    expect(page.locator("#meeting-room")).to_be_attached()
    try:
        page.wait_for_function(IN_ROOM_JS)
    except PlaywrightTimeoutError:
        state = page.evaluate(ROOM_STATE_JS)
        raise AssertionError(f"{name} did not get into the room: {state}") from None
    return Person(page, int(page.locator("#meeting-room").get_attribute("data-participant-id")), name)


def tile_video(participant_id: int) -> str:
    return f'.tile[data-participant-id="{participant_id}"] video'


def join_room_in_firefox(page: FirefoxPage, meeting, name: str) -> Person:
    """``join_room`` for the Firefox tab (a guest: the join form asks for a name)."""
    page.goto(f"/m/{meeting.public_id}/")
    page.wait_for("() => Boolean(document.querySelector('form#join-form input[name=name]'))", what="the join form")
    page.fill("form#join-form input[name=name]", name)
    page.click("#join-submit")
    page.wait_for_url(f"/m/{meeting.public_id}/room/")
    page.wait_for(IN_ROOM_JS, what=f"{name} in the room")
    return Person(page, int(page.evaluate("() => document.getElementById('meeting-room').dataset.participantId")), name)


def wait_video_playing(page: Page | FirefoxPage, selector: str) -> dict:
    """The video at ``selector`` has a picture and its frames advance."""
    if isinstance(page, FirefoxPage):
        first = page.wait_for(VIDEO_SAMPLE_JS, [selector, None], what=f"{selector} playing", timeout=MEDIA_TIMEOUT_MS / 1000)
        later = page.wait_for(VIDEO_SAMPLE_JS, [selector, first], what=f"{selector}'s frames advancing", timeout=MEDIA_TIMEOUT_MS / 1000)
    else:
        try:
            first = page.wait_for_function(VIDEO_SAMPLE_JS, arg=[selector, None], polling=100, timeout=MEDIA_TIMEOUT_MS).json_value()
            later = page.wait_for_function(VIDEO_SAMPLE_JS, arg=[selector, first], polling=100, timeout=MEDIA_TIMEOUT_MS).json_value()
        except PlaywrightTimeoutError as timeout:
            raise AssertionError(f"{selector} did not play; the room's media on this page: {media_state(page)}") from timeout
    assert later["width"] > 0 and later["height"] > 0
    return later


# What the page knows of its connections, for a failure's message: the mesh's peer
# states and the last steps of its negotiation trace, the topology, the media server's.
MEDIA_STATE_JS = """() => JSON.stringify({
  peers: window.parleyRoom.peerStates,
  trace: window.parleyRoom.trace.slice(-40),
  topology: window.parleyRoom.topology,
  sfu: window.parleyRoom.sfu,
})"""


def media_state(page: Page) -> str:
    try:
        return page.evaluate(MEDIA_STATE_JS)
    except Exception as error:  # the page may be gone or not a room page
        return f"(unavailable: {error})"


def wait_for_js(
    page: Page | FirefoxPage, script: str, arg, *, what: str, interval_s: float = 0.1, timeout_s: float = MEDIA_TIMEOUT_MS / 1000
):
    """Evaluate an (async) ``script`` until it returns something truthy, and return it.

    ``page.wait_for_function`` cannot be used for async scripts: it takes the promise
    itself for a truthy result and returns at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(script, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval_s)


def wait_audio_flowing(page: Page | FirefoxPage, peer_id: int) -> dict:
    """Audio from ``peer_id`` arrives on this page's connection to them, with a level."""
    first = wait_for_js(page, AUDIO_SAMPLE_JS, [peer_id, None], what=f"audio samples from {peer_id}")
    return wait_for_js(page, AUDIO_SAMPLE_JS, [peer_id, first], what=f"more audio, with a level, from {peer_id}")


def wait_media_both_ways(people: list[Person]) -> None:
    for viewer in people:
        for other in people:
            if other is not viewer:
                wait_video_playing(viewer.page, tile_video(other.id))
                wait_audio_flowing(viewer.page, other.id)


def forced_send(page: Page, type_: str, body: dict) -> str:
    return page.evaluate(FORCED_SEND_JS, [type_, body])


def sockets(page: Page) -> list[dict]:
    return page.evaluate("() => window.__sockets")


def open_people_menu(page: Page, participant_id: int):
    """The organizer's action menu for one person in the participants panel."""
    if page.locator("#participants-panel").is_hidden():
        page.click("#participants-button")
    item = page.locator(f'#participants-list li[data-participant-id="{participant_id}"]')
    menu = item.locator(".person__menu")
    if menu.is_hidden():
        item.locator(".person__menu-toggle").click()
    expect(menu).to_be_visible()
    return item


def change_role(page: Page, participant_id: int, role: str) -> None:
    """The organizer's *Change Role*, next to the person's name, then the role."""
    if page.locator("#participants-panel").is_hidden():
        page.click("#participants-button")
    item = page.locator(f'#participants-list li[data-participant-id="{participant_id}"]')
    item.locator(".person__change-role").click()
    item.locator(f'.person__roles [data-role="{role}"]').click()


def shared_room(owner_name: str, **fields):
    owner = make_extension(display_name=owner_name, room_type=RoomType.SHARED)
    meeting = make_meeting(owner, title="Room test", room_type=RoomType.SHARED, **fields)
    return owner, meeting


# A poll of the organizer's repository for the room tests: two questions, five minutes.
POLL_QUESTIONS = [
    {"text": "Where do we eat?", "multiple": False, "choices": ["Pasta", "Salad"]},
    {"text": "What do you drink?", "multiple": True, "choices": ["Water", "Juice", "Coffee"]},
]


def make_poll(owner_user, **fields):
    from polls.services import save_poll

    data = {"title": "Team lunch", "duration_seconds": 300, "anonymous": False, "questions": POLL_QUESTIONS, **fields}
    return save_poll(owner_user, **data)
