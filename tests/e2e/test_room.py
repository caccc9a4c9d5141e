"""The meeting room end to end: headless Chromium with fake camera, microphone and
screen, on loopback only, against a real daphne with a real Redis.

Three people in one room see each other's video playing (frames advancing) and hear
each other (audio samples arriving with a level), chat (escaped), react, share a
screen (a second share is refused), save a snapshot, and a dropped socket comes back
as the same participant. The helpers here are shared with the moderation and
scale-out tests.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from meetings.models import Participant, RoomType, SharePolicy
from tests.factories import make_extension, make_meeting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

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
# previous sample, once both its decoded frame count and its clock moved on.
VIDEO_SAMPLE_JS = """([selector, before]) => {
  const video = document.querySelector(selector);
  if (!video || !video.srcObject || video.paused || video.readyState < 2 || video.videoWidth === 0) return false;
  const now = { frames: video.getVideoPlaybackQuality().totalVideoFrames, time: video.currentTime,
                width: video.videoWidth, height: video.videoHeight };
  if (!before) return now;
  return now.frames >= before.frames + 5 && now.time > before.time ? now : false;
}"""

# (peer id, previous sample) → the inbound audio of the connection to that peer: a new
# sample once samples arrive and, given a previous one, once more samples arrived and
# the received level is above zero (the fake microphone beeps).
AUDIO_SAMPLE_JS = """async ([peerId, before]) => {
  const pc = window.parleyRoom.peerConnection(peerId);
  if (!pc) return false;
  const report = await pc.getStats();
  let audio = null;
  report.forEach((entry) => {
    if (entry.type === "inbound-rtp" && entry.kind === "audio") audio = entry;
  });
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


@dataclass
class Person:
    page: Page
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


def wait_video_playing(page: Page, selector: str) -> dict:
    """The video at ``selector`` has a picture and its frames advance."""
    first = page.wait_for_function(VIDEO_SAMPLE_JS, arg=[selector, None], polling=100, timeout=MEDIA_TIMEOUT_MS).json_value()
    later = page.wait_for_function(VIDEO_SAMPLE_JS, arg=[selector, first], polling=100, timeout=MEDIA_TIMEOUT_MS).json_value()
    assert later["width"] > 0 and later["height"] > 0
    return later


def wait_for_js(page: Page, script: str, arg, *, what: str, interval_s: float = 0.1):
    """Evaluate an (async) ``script`` until it returns something truthy, and return it.

    ``page.wait_for_function`` cannot be used for async scripts: it takes the promise
    itself for a truthy result and returns at once."""
    deadline = time.monotonic() + MEDIA_TIMEOUT_MS / 1000
    while True:
        value = page.evaluate(script, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval_s)


def wait_audio_flowing(page: Page, peer_id: int) -> dict:
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


def shared_room(owner_name: str, **fields):
    owner = make_extension(display_name=owner_name, room_type=RoomType.SHARED)
    meeting = make_meeting(owner, title="Room test", room_type=RoomType.SHARED, **fields)
    return owner, meeting


# --- Tests -------------------------------------------------------------------------------


def test_it_connects_three_people_with_video_audio_chat_reactions_share_and_snapshot(open_page):
    owner_ext, meeting = shared_room("Olivia Owner", share_policy=SharePolicy.EVERYONE)
    owner = join_room(open_page(user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia Owner")
    ann = join_room(open_page(init_script=WS_RECORDER), meeting, "Ann Guest")
    bob = join_room(open_page(init_script=WS_RECORDER), meeting, "Bob Guest")
    people = [owner, ann, bob]
    assert [p.page.locator("#meeting-room").get_attribute("data-participant-role") for p in people] == [
        "organizer",
        "participant",
        "participant",
    ]
    assert {p.page.locator("#meeting-room").get_attribute("data-meeting-id") for p in people} == {meeting.public_id}

    # Everyone sees and hears the two others.
    wait_media_both_ways(people)
    for viewer in people:
        others = [p for p in people if p is not viewer]
        for other in others:
            tile = viewer.page.locator(f'.tile[data-participant-id="{other.id}"]')
            expect(tile.locator(".tile__name")).to_have_text(other.name)
        assert viewer.page.locator(".tile").count() == 3
    expect(ann.page.locator(f'.tile[data-participant-id="{owner.id}"] .tile__role')).to_have_text("Creator")
    expect(owner.page.locator(f'.tile[data-participant-id="{ann.id}"] .tile__role')).to_have_text("Participant")

    # Chat: text only, never HTML.
    ann.page.click("#chat-button")
    ann.page.fill("#chat-input", "<b>x</b>")
    ann.page.click("#chat-send")
    for viewer in (owner, bob):
        viewer.page.wait_for_function(
            "text => [...document.querySelectorAll('#chat-messages .chat__text')].some((node) => node.textContent === text)",
            arg="<b>x</b>",
        )
        message = viewer.page.locator("#chat-messages li", has_text="<b>x</b>")
        expect(message).to_have_attribute("data-participant-id", str(ann.id))
        expect(message.locator(".chat__name")).to_have_text("Ann Guest")
        assert viewer.page.locator("#chat-messages b").count() == 0

    # A reaction shows on the sender's tile for the others (for a few seconds only,
    # so the pages record what their tiles show).
    for viewer in (owner, ann):
        viewer.page.evaluate(
            """() => {
              window.__reactions = [];
              new MutationObserver(() => {
                for (const node of document.querySelectorAll(".tile__reaction")) {
                  if (node.textContent) window.__reactions.push({ id: node.closest(".tile").dataset.participantId, emoji: node.textContent });
                }
              }).observe(document.getElementById("tiles"), { subtree: true, childList: true, characterData: true });
            }"""
        )
    bob.page.click("#reactions-button")
    bob.page.click('.reaction-choice[data-emoji="🎉"]')
    for viewer in (owner, ann):
        viewer.page.wait_for_function(
            "([id, emoji]) => window.__reactions.some((r) => r.id === id && r.emoji === emoji)", arg=[str(bob.id), "🎉"]
        )

    # The organizer shares the screen; the others see it playing on the stage.
    owner.page.click("#share-button")
    expect(owner.page.locator("#share-button")).to_have_attribute("aria-pressed", "true")
    for viewer in (ann, bob):
        stage = viewer.page.locator("#stage")
        expect(stage).to_be_visible()
        expect(stage).to_have_attribute("data-sharer-id", str(owner.id))
        wait_video_playing(viewer.page, "#stage-video")
        assert viewer.page.evaluate("() => document.getElementById('stage-video').srcObject.id === window.parleyRoom.share.stream_id"), (
            "the stage must show the announced screen stream, not a camera"
        )
        # The sharer's camera keeps playing in its tile.
        wait_video_playing(viewer.page, tile_video(owner.id))

    # A second share (Ann may share too) is refused while Olivia shares: the page says
    # who shares, and the server refuses one forced through the socket.
    expect(ann.page.locator("#share-button")).to_have_attribute("data-allowed", "true")
    ann.page.click("#share-button")
    notice = ann.page.locator("#room-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Olivia Owner")
    assert forced_send(ann.page, "share.start", {"kind": "screen", "stream_id": "second-screen"}) == "share_busy"
    assert ann.page.evaluate("() => window.parleyRoom.media.sharing") is False
    for viewer in people:
        assert viewer.page.evaluate("() => window.parleyRoom.share.participant_id") == owner.id

    # Snapshot of Bob's tile on Ann's page: a PNG of the video's size.
    video_size = ann.page.evaluate(
        f"() => {{ const v = document.querySelector('{tile_video(bob.id)}'); return [v.videoWidth, v.videoHeight]; }}"
    )
    with ann.page.expect_download() as download_info:
        ann.page.locator(f'.tile[data-participant-id="{bob.id}"] .tile__snapshot').click()
    download = download_info.value
    assert download.suggested_filename.startswith("Bob Guest-") and download.suggested_filename.endswith(".png")
    data = Path(download.path()).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 100
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert [width, height] == video_size


def test_it_recovers_a_dropped_connection_as_the_same_participant(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia Owner")
    ann = join_room(open_page(init_script=WS_RECORDER), meeting, "Ann Guest")
    wait_media_both_ways([owner, ann])
    before = ann.page.evaluate("() => window.parleyRoom.self")
    owner.page.evaluate(
        """(id) => {
          window.__connection = [];
          const tile = document.querySelector(`.tile[data-participant-id="${id}"]`);
          new MutationObserver(() => window.__connection.push(tile.dataset.connection))
            .observe(tile, { attributes: true, attributeFilter: ["data-connection"] });
        }""",
        ann.id,
    )

    ann.page.evaluate("() => window.parleyRoom.dropSocket()")

    # A new socket opens by itself and gets a fresh snapshot of the same participant.
    ann.page.wait_for_function(
        "() => window.__sockets.length === 2 && window.__sockets[1].types.includes('room.snapshot')", timeout=MEDIA_TIMEOUT_MS
    )
    ann.page.wait_for_function(IN_ROOM_JS)
    first, second = sockets(ann.page)
    assert first["closedAt"] is not None and second["openedAt"] is not None and second["closedAt"] is None
    after = ann.page.evaluate("() => window.parleyRoom.self")
    assert (
        (after["id"], after["role"], after["name"])
        == (before["id"], before["role"], before["name"])
        == (ann.id, "participant", "Ann Guest")
    )
    expect(ann.page.locator("#meeting-room")).to_have_attribute("data-participant-id", str(ann.id))
    expect(owner.page.locator(f'.tile[data-participant-id="{ann.id}"]')).to_have_attribute("data-connection", "online")
    seen = owner.page.evaluate("() => window.__connection")
    print(f"the organizer saw Ann's tile go through {seen or 'no change (she was back first)'}")
    assert set(seen) <= {"reconnecting", "online"}

    # Still one participant each, and the media keeps flowing both ways.
    assert Participant.objects.filter(meeting=meeting).count() == 2
    assert Participant.objects.get(pk=ann.id).state == Participant.State.JOINED
    assert owner.page.evaluate("() => [...window.parleyRoom.participants.keys()]") == [ann.id]
    wait_video_playing(owner.page, tile_video(ann.id))
    wait_video_playing(ann.page, tile_video(owner.id))
    wait_audio_flowing(owner.page, ann.id)
    wait_audio_flowing(ann.page, owner.id)
