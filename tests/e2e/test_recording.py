"""Recording from the browser's side, end to end: headless Chromium with fake devices
(loopback only) against a real web server, Redis and media worker process.

An organizer and a guest are in a moderated room, another guest waits in the lobby.
The organizer starts a recording: every page, the lobby's included, shows the badge;
both browsers connect to the recorder (always offering, sending only) and send it
their media, a shared screen included; the recorder has no tile. A reloaded page and
a guest who arrives in the lobby later learn of the recording too. Stopping takes the
badge away, and the stored file plays with video and audio and a picture that
changes. A participant cannot start or stop a recording, even through a modified page.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from media_server.models import Recording
from meetings.models import Participant
from tests.e2e.pages import MEDIA_TIMEOUT_MS, forced_send, in_room, join_room, shared_room, submit_join_form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORDED_SECONDS = 4  # long enough to see the picture move, short for the shared CPU
STORED_TIMEOUT = 90.0
BADGE = "#recording-badge"

# (recorder id, previous sample) → the bytes this page sent the recorder (audio, video),
# once both grew past the previous sample.
SENT_TO_RECORDER_JS = """async ([id, before]) => {
  const pc = window.parleyRoom.peerConnection(id);
  if (!pc || pc.connectionState !== "connected") return false;
  const sent = { audio: 0, video: 0 };
  (await pc.getStats()).forEach((entry) => {
    if (entry.type === "outbound-rtp" && entry.kind in sent) sent[entry.kind] += entry.bytesSent || 0;
  });
  if (!before) return sent.audio && sent.video ? sent : false;
  return sent.audio > before.audio && sent.video > before.video ? sent : false;
}"""

# (recorder id, previous sample) → the bytes of each video this page sends the recorder
# (by mid), once there are two (camera and screen) and, given a sample, both grew.
VIDEOS_TO_RECORDER_JS = """async ([id, before]) => {
  const pc = window.parleyRoom.peerConnection(id);
  if (!pc || pc.connectionState !== "connected") return false;
  const sent = {};
  (await pc.getStats()).forEach((entry) => {
    if (entry.type === "outbound-rtp" && entry.kind === "video" && entry.bytesSent) sent[entry.mid] = entry.bytesSent;
  });
  const mids = Object.keys(sent);
  if (mids.length < 2) return false;
  return !before || mids.every((mid) => sent[mid] > (before[mid] || 0)) ? sent : false;
}"""

# The recorder's connection receives nothing from it (send only), and nobody's tile is it.
RECORDER_LINK_JS = """(id) => {
  const pc = window.parleyRoom.peerConnection(id);
  return {
    directions: pc.getTransceivers().map((t) => t.currentDirection),
    tiles: [...document.querySelectorAll(".tile")].map((tile) => Number(tile.dataset.participantId)),
    inMesh: Object.keys(window.parleyRoom.peerStates).map(Number),
    participants: [...window.parleyRoom.participants.keys()],
  };
}"""


def wait_in_lobby(page: Page, meeting, name: str) -> int:
    submit_join_form(page, meeting, name)
    page.wait_for_url(f"**/m/{meeting.public_id}/room/")
    expect(page.locator("#lobby-status")).to_have_attribute("data-status", "waiting")
    return int(page.locator("#lobby-status").get_attribute("data-participant-id"))


def recorder_id(page: Page) -> int:
    handle = page.wait_for_function("() => window.parleyRoom.recording.recorderId", polling=200, timeout=MEDIA_TIMEOUT_MS * 2)
    return int(handle.json_value())


def poll_page(page: Page, script: str, arg, *, what: str, timeout: float = MEDIA_TIMEOUT_MS / 1000):
    # page.evaluate awaits an async script; wait_for_function would take its promise as truthy.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(script, arg)
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def wait_sending_to_recorder(page: Page, recorder: int) -> dict:
    first = poll_page(page, SENT_TO_RECORDER_JS, [recorder, None], what="a connection to the recorder that sends")
    return poll_page(page, SENT_TO_RECORDER_JS, [recorder, first], what="more media sent to the recorder")


def wait_for(condition, *, timeout: float, what: str, worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n--- worker output ---\n{worker.output()}")


def badge_seconds(page: Page) -> int:
    text = page.locator(f"{BADGE} .recording-badge__time").get_attribute("datetime") or "PT0S"
    return int(text.removeprefix("PT").removesuffix("S"))


def stored_file(recording: Recording, live_env) -> Path:
    # The worker stored it under its PARLEY_DATA_DIR (the live processes' one).
    return Path(live_env.variables["PARLEY_DATA_DIR"]) / "media" / recording.file.name


def read_back(path: Path) -> dict:
    """Decode the file: its streams, its frames, how many differ from the one before
    (the fake cameras' pictures move), and the loudest audio sample."""
    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        pictures = [frame.to_ndarray(format="gray").astype(np.int16) for frame in container.decode(video=0)]
    changed = sum(int(np.abs(b - a).mean() > 0.5) for a, b in zip(pictures, pictures[1:], strict=False))
    with av.open(str(path)) as container:
        audio = np.concatenate([frame.to_ndarray().ravel() for frame in container.decode(audio=0)])
    return {"kinds": kinds, "frames": len(pictures), "changed": changed, "audio_peak": float(np.abs(audio).max())}


def test_it_records_what_the_browsers_send_and_shows_everyone_the_badge(open_page, live_env, start_media_worker):
    worker = start_media_worker()
    owner_ext, meeting = shared_room("Olivia Owner", moderate_participants=True, lobby_enabled=True)
    owner = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    gus_page = open_page()
    gus_id = wait_in_lobby(gus_page, meeting, "Gus Guest")
    owner.page.locator(f'#lobby-list li[data-participant-id="{gus_id}"] .lobby-accept').click()
    gus = in_room(gus_page, "Gus Guest")
    lou_page = open_page()
    wait_in_lobby(lou_page, meeting, "Lou Lobby")
    pages = [owner.page, gus.page, lou_page]
    for page in pages:
        expect(page.locator(BADGE)).to_be_hidden()

    # Only organizers have the control, and the server refuses the others anyway.
    expect(gus.page.locator("#record-control")).to_be_hidden()
    assert forced_send(gus.page, "recording.start", {}) == "forbidden"
    assert forced_send(owner.page, "recording.start", {"preset": "no_such_format"}) == "invalid"
    assert not Recording.objects.filter(meeting=meeting).exists()
    expect(gus.page.locator(BADGE)).to_be_hidden()

    owner.page.click("#record-button")
    expect(owner.page.locator("#record-menu")).to_be_visible()
    owner.page.select_option("#record-preset", "webm_720p")
    owner.page.click("#record-start")

    for page in pages:
        expect(page.locator(BADGE)).to_be_visible()
        expect(page.locator(BADGE)).to_contain_text("Recording")
    expect(owner.page.locator("#record-button")).to_have_attribute("aria-pressed", "true")
    assert forced_send(owner.page, "recording.start", {}) == "recording_busy"
    assert forced_send(gus.page, "recording.stop", {}) == "forbidden"

    # The worker takes the job and joins: both browsers send it their media.
    recorder = recorder_id(owner.page)
    assert recorder_id(gus.page) == recorder
    for person in (owner, gus):
        sent = wait_sending_to_recorder(person.page, recorder)
        link = person.page.evaluate(RECORDER_LINK_JS, recorder)
        print(f"{person.name} → recorder {recorder}: {sent}, {link}")
        assert recorder not in link["tiles"] and recorder not in link["participants"] and recorder not in link["inMesh"]
        assert set(link["directions"]) == {"sendonly"}, link
    expect(owner.page.locator(".tile")).to_have_count(2)
    expect(owner.page.locator("#participants-count-badge")).to_have_text("2")

    # A page opened now learns both from its snapshot, and a guest arriving in the lobby
    # from its lobby status.
    gus.page.reload()
    gus = in_room(gus.page, "Gus Guest")
    expect(gus.page.locator(BADGE)).to_be_visible()
    assert wait_sending_to_recorder(gus.page, recorder)
    max_page = open_page()
    wait_in_lobby(max_page, meeting, "Max Late")
    expect(max_page.locator(BADGE)).to_be_visible()
    pages = [owner.page, gus.page, lou_page, max_page]

    # A shared screen goes to the recorder too, beside the camera.
    owner.page.click("#share-button")
    expect(owner.page.locator("#stage")).to_be_visible()
    first = poll_page(owner.page, VIDEOS_TO_RECORDER_JS, [recorder, None], what="the screen sent to the recorder")
    poll_page(owner.page, VIDEOS_TO_RECORDER_JS, [recorder, first], what="more of the screen sent to the recorder")
    assert set(owner.page.evaluate(RECORDER_LINK_JS, recorder)["directions"]) == {"sendonly"}
    share = owner.page.evaluate("() => window.parleyRoom.share")
    worker.wait_for_line(f"track video from participant {owner.id} (stream {share['stream_id']})", timeout=MEDIA_TIMEOUT_MS / 1000)

    # The elapsed time runs on every page that knows when it started.
    owner.page.wait_for_function(
        f"() => Number((document.querySelector('{BADGE} time').dateTime || 'PT0S').slice(2, -1)) >= {RECORDED_SECONDS}",
        polling=250,
        timeout=MEDIA_TIMEOUT_MS,
    )
    assert badge_seconds(gus.page) >= RECORDED_SECONDS - 1

    owner.page.click("#record-button")
    expect(owner.page.locator("#confirm-dialog")).to_be_visible()
    owner.page.click("#confirm-ok")

    for page in pages:
        expect(page.locator(BADGE)).to_be_hidden()
    expect(owner.page.locator("#record-button")).to_have_attribute("aria-pressed", "false")
    # The recorder leaves: the connections to it close.
    for person in (owner, gus):
        person.page.wait_for_function("(id) => window.parleyRoom.peerConnection(id) === null", arg=recorder, timeout=MEDIA_TIMEOUT_MS)

    recording = wait_for(
        lambda: Recording.objects.filter(meeting=meeting, state=Recording.State.DONE).first(),
        timeout=STORED_TIMEOUT,
        what="the recording to be stored",
        worker=worker,
    )
    assert recording.preset == "webm_720p" and recording.size and recording.duration
    figures = read_back(stored_file(recording, live_env))
    print(f"stored {recording.file.name}: {recording.size} bytes, {recording.duration:.1f} s, {figures}")
    assert figures["kinds"] == ["audio", "video"]
    # The worker skips frames when the machine is busy (two browsers here): few, but moving.
    assert figures["frames"] >= 10 and figures["changed"] >= 5, figures
    assert figures["audio_peak"] > 0.01, figures
    assert recording.duration >= RECORDED_SECONDS - 1
    assert Recording.objects.filter(meeting=meeting).count() == 1

    # Let the worker and the server finish with the database before the tables are
    # emptied: a write of theirs racing the flush can deadlock it.
    worker.stop()
    for page in pages:
        page.context.close()
    wait_for(
        lambda: not Participant.objects.filter(meeting=meeting, connected=True).exists(),
        timeout=STORED_TIMEOUT,
        what="the server to see the pages go",
        worker=worker,
    )
