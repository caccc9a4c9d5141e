"""Group rooms through Janus, end to end: headless Chromium pages (fake camera and
microphone) against a real web server, Celery worker and Janus (docs/sfu.md), all inside
the test's network namespace (Janus on the test's veth address).

The third person moves the room from the mesh to the media server without anybody's
picture stopping for long; six people see and hear each other there, and again soon
after Janus restarts; a kicked person's media stops everywhere at once; a person whose
browser vanishes leaves Janus and the roster after the reconnect grace.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from media_server.mixing import grid_layout
from media_server.sfu import janus
from meetings.models import Participant
from tests.e2e.pages import (
    ON_MEDIA_SERVER_JS,
    RECEIVES_JS,
    SFU_TIMEOUT_MS,
    Person,
    forced_send,
    join_room,
    shared_room,
    tile_video,
    wait_audio_flowing,
    wait_for_js,
    wait_video_playing,
)
from tests.media_server.recorded import decoded_video
from tests.recording_live import recorded_past, recording_in, recording_started, stored_path, wait_for, wait_janus_media_from

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Every frame a tile's video shows, with its time (requestVideoFrameCallback).
WATCH_FRAMES_JS = """(id) => {
  const video = document.querySelector(`.tile[data-participant-id="${id}"] video`);
  const times = (window.__frames ||= {})[id] = [];
  const tick = (now) => { times.push(now); video.requestVideoFrameCallback(tick); };
  video.requestVideoFrameCallback(tick);
}"""
LONGEST_PAUSE_JS = """(id) => {
  const times = window.__frames[id];
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, times[i] - times[i - 1]);
  return {longest, frames: times.length};
}"""
# Frames and sound of each of them decoded on this page's current connection to Janus.
FLOWING_JS = """async (ids) => {
  for (const id of ids) {
    const stats = await window.parleyRoom.inboundStats(id);
    if (!stats.video || !stats.video.framesDecoded || !stats.audio || !stats.audio.totalSamplesReceived) return false;
  }
  return true;
}"""


def on_media_server(person: Person) -> None:
    person.page.wait_for_function(ON_MEDIA_SERVER_JS, timeout=SFU_TIMEOUT_MS)


def sees_and_hears(viewer: Person, others: list[Person]) -> None:
    """Every other person's video plays on the viewer's page (frames advancing) and their
    sound arrives, from the media server."""
    viewer.page.wait_for_function(RECEIVES_JS, arg=[other.id for other in others], timeout=SFU_TIMEOUT_MS)
    for other in others:
        wait_video_playing(viewer.page, tile_video(other.id))
        wait_audio_flowing(viewer.page, other.id)


def join_everyone(open_page, stack, meeting, owner_user, names: list[str]) -> list[Person]:
    people = [join_room(open_page(server=stack.server, user=owner_user), meeting, names[0])]
    people += [join_room(open_page(server=stack.server), meeting, name) for name in names[1:]]
    return people


def three_on_janus(open_page, stack) -> tuple[object, list[Person]]:
    """Olivia (the owner), Ann and Bob in a shared room, on the media server, Olivia and
    Ann seeing and hearing the two others."""
    owner_ext, meeting = shared_room("Olivia Owner")
    people = join_everyone(open_page, stack, meeting, owner_ext.user, ["Olivia Owner", "Ann Guest", "Bob Guest"])
    for person in people:
        on_media_server(person)
    for viewer in people[:2]:
        sees_and_hears(viewer, [p for p in people if p is not viewer])
    return meeting, people


def test_the_third_person_moves_the_room_to_janus_and_nobodys_picture_stops_for_long(open_page, start_sfu_stack):
    stack = start_sfu_stack()
    owner_ext, meeting = shared_room("Olivia Owner")
    olivia, ann = join_everyone(open_page, stack, meeting, owner_ext.user, ["Olivia Owner", "Ann Guest"])
    for viewer, other in ((olivia, ann), (ann, olivia)):
        wait_video_playing(viewer.page, tile_video(other.id))
    assert olivia.page.evaluate("() => window.parleyRoom.topology.mode") == "mesh"
    assert olivia.page.evaluate("() => window.parleyRoom.peerStates")[str(ann.id)]["connection"] == "connected"
    olivia.page.evaluate(WATCH_FRAMES_JS, ann.id)
    ann.page.evaluate(WATCH_FRAMES_JS, olivia.id)

    bob = join_room(open_page(server=stack.server), meeting, "Bob Guest")
    people = [olivia, ann, bob]
    for person in people:
        on_media_server(person)
    for viewer in people:
        sees_and_hears(viewer, [p for p in people if p is not viewer])
    # The mesh connections closed once the media server's streams played.
    for person in people:
        person.page.wait_for_function("() => Object.keys(window.parleyRoom.peerStates).length === 0", timeout=SFU_TIMEOUT_MS)
    # Through the switch, the longest pause between two frames of the other's tile.
    for viewer, other in ((olivia, ann), (ann, olivia)):
        pause = viewer.page.evaluate(LONGEST_PAUSE_JS, other.id)
        print(f"{viewer.name} saw {other.name}: {pause['frames']} frames, longest pause {pause['longest']:.0f} ms")
        assert pause["longest"] < 2000, pause
    # What the Statistics panel lists: the media server's connections, not one per person.
    assert set(bob.page.evaluate("() => window.parleyRoom.sfu.connections")) == {"publisher", "subscriber"}


def test_six_people_see_and_hear_each_other_through_janus_and_again_after_it_restarts(open_page, start_sfu_stack):
    stack = start_sfu_stack()
    owner_ext, meeting = shared_room("Olivia Owner")
    names = ["Olivia Owner", "Ann Guest", "Bob Guest", "Cid Guest", "Dee Guest", "Eve Guest"]
    people = join_everyone(open_page, stack, meeting, owner_ext.user, names)
    for person in people:
        on_media_server(person)
    for viewer in people:
        sees_and_hears(viewer, [p for p in people if p is not viewer])
    roles_before = {p.id: p.page.evaluate("() => window.parleyRoom.self.role") for p in people}
    generation = people[0].page.evaluate("() => window.parleyRoom.topology.generation")

    stack.janus.restart()
    back = time.monotonic()
    # Celery beat checks the servers every 3 s: the room is made again, pages follow.
    # How fast is printed, not asserted: six pages encoding and decoding on two cores
    # take what the machine gives them (benchmarks/sfu_load.py measures joins).
    for person in people:
        person.page.wait_for_function(f"() => window.parleyRoom.topology.generation > {generation}", timeout=SFU_TIMEOUT_MS)
    remade = time.monotonic() - back
    for viewer in people:
        others = [p.id for p in people if p is not viewer]
        wait_for_js(viewer.page, FLOWING_JS, others, what=f"{viewer.name} to receive everyone again", timeout_s=SFU_TIMEOUT_MS / 1000)
    elapsed = time.monotonic() - back
    print(f"the room was made again {remade:.1f} s and everyone receives everyone {elapsed:.1f} s after Janus was back")
    for viewer in people:  # and it plays: frames advancing, sound with a level
        sees_and_hears(viewer, [p for p in people if p is not viewer])
    # Roles and roster are what they were.
    for person in people:
        assert person.page.evaluate("() => window.parleyRoom.self.role") == roles_before[person.id]
        assert sorted(person.page.evaluate("() => [...window.parleyRoom.participants.keys()]")) == sorted(
            p.id for p in people if p is not person
        )


def test_a_kicked_persons_media_stops_everywhere_within_three_seconds(open_page, start_sfu_stack):
    stack = start_sfu_stack()
    meeting, (olivia, ann, bob) = three_on_janus(open_page, stack)
    room = janus.AdminApi(stack.janus.admin_url)
    sfu_room = meeting.sfu_room
    sfu_room.refresh_from_db()
    assert bob.id in {p["id"] for p in room.publishers(sfu_room.janus_room)}

    kicked_at = time.monotonic()
    assert forced_send(olivia.page, "moderate.kick", {"participant_id": bob.id}) == "ack"
    for viewer in (olivia, ann):
        expect(viewer.page.locator(f'.tile[data-participant-id="{bob.id}"]')).to_have_count(0, timeout=3000)
    expect(bob.page.locator("#kicked-notice")).to_be_visible(timeout=3000)
    while bob.id in {p["id"] for p in room.publishers(sfu_room.janus_room)}:
        assert time.monotonic() - kicked_at < 3, "Janus still forwards the kicked person"
        time.sleep(0.1)
    # Nothing of Bob reaches the others any more.
    for viewer in (olivia, ann):
        assert bob.id not in viewer.page.evaluate("() => window.parleyRoom.sfu.receiving")


def test_someone_who_comes_after_another_left_is_seen_and_heard_by_everyone(open_page, start_sfu_stack):
    """Someone leaving makes Janus renegotiate everyone's subscription on its own (an
    offer nobody asked for). Unanswered, Janus postpones every later subscription: the
    next person to arrive would stay a black tile for the others."""
    stack = start_sfu_stack()
    meeting, (olivia, ann, bob) = three_on_janus(open_page, stack)

    bob.page.click("#leave-button")
    for viewer in (olivia, ann):
        expect(viewer.page.locator(f'.tile[data-participant-id="{bob.id}"]')).to_have_count(0, timeout=SFU_TIMEOUT_MS)
    room = janus.AdminApi(stack.janus.admin_url)
    wait_for(lambda: bob.id not in {p["id"] for p in room.publishers(meeting.sfu_room.janus_room)}, "Bob leaves Janus")

    dan = join_room(open_page(server=stack.server), meeting, "Dan Guest")
    on_media_server(dan)
    for viewer in (olivia, ann):
        sees_and_hears(viewer, [dan])
    sees_and_hears(dan, [olivia, ann])


def test_a_browser_that_vanishes_leaves_janus_and_the_roster_after_the_grace(open_page, start_sfu_stack, settings):
    settings.PARLEY_RECONNECT_GRACE = 2
    stack = start_sfu_stack(PARLEY_RECONNECT_GRACE="2")
    owner_ext, meeting = shared_room("Olivia Owner")
    olivia, ann, bob = join_everyone(open_page, stack, meeting, owner_ext.user, ["Olivia Owner", "Ann Guest", "Bob Guest"])
    for person in (olivia, ann, bob):
        on_media_server(person)
    sees_and_hears(olivia, [ann, bob])
    room = janus.AdminApi(stack.janus.admin_url)
    sfu_room = meeting.sfu_room

    _vanish(bob.page)
    gone_at = time.monotonic()
    # The presence sweep (Celery beat every 5 s) lets Bob go once the grace is over.
    while Participant.objects.get(pk=bob.id).state == Participant.State.JOINED:
        assert time.monotonic() - gone_at < 15, "Bob is still in the room"
        time.sleep(0.2)
    expect(olivia.page.locator(f'.tile[data-participant-id="{bob.id}"]')).to_have_count(0)
    while bob.id in {p["id"] for p in room.publishers(sfu_room.janus_room)}:
        assert time.monotonic() - gone_at < 20, "Janus still has the vanished browser's publisher"
        time.sleep(0.2)


def _vanish(page: Page) -> None:
    """The browser goes without a goodbye: its context closes (sockets torn down, no
    leave form submitted), as when a laptop lid closes."""
    page.context.close()


def test_a_recording_of_a_room_on_janus_decodes_with_every_persons_tile(open_page, start_sfu_stack, start_media_worker, live_env, tmp_path):
    """The recorder subscribes to the room from Janus: nothing is uploaded to it from the
    pages, and the file shows each person's moving camera in their tile."""
    stack = start_sfu_stack()
    worker = start_media_worker(server=stack.server, **stack.environment())
    owner_ext, meeting = shared_room("Olivia Owner")
    people = join_everyone(open_page, stack, meeting, owner_ext.user, ["Olivia Owner", "Ann Guest", "Bob Guest"])
    for person in people:
        on_media_server(person)

    assert forced_send(people[0].page, "recording.start", {"preset": "webm_720p"}) == "ack"
    started = recording_started(meeting, worker)
    wait_janus_media_from(worker, *people)
    everyone_in = time.time() - started
    recorded_past(worker, tmp_path, everyone_in + 4)
    assert forced_send(people[0].page, "recording.stop", {}) == "ack"
    recording = wait_for(lambda: recording_in(meeting, 1, ("done",)), "the recording to be stored", worker=worker)

    pictures = [picture for t, picture in decoded_video(stored_path(live_env, recording), every=2) if t > everyone_in + 0.5]
    assert len(pictures) >= 10
    height, width = pictures[0].shape[:2]
    for number, rect in enumerate(grid_layout(len(people), width, height)):
        tile = [p[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width].mean(axis=2) for p in pictures]
        # A camera, not the grey placeholder: it has detail, and Chromium's fake picture moves.
        moving = sum(np.abs(b - a).mean() > 0.5 for a, b in zip(tile, tile[1:], strict=False))
        print(f"tile {number}: the picture changed in {moving} of {len(tile) - 1} samples")
        assert np.mean([t.std() for t in tile]) > 10 and moving >= len(tile) // 2, (number, moving, len(tile))
    # The pages sent the recorder nothing: no signal from its socket, no mesh track.
    assert worker.count("signal to participant") == 0
    assert worker.count("track video from participant") == 0


# The layers (rid) our page sends to Janus with their frame widths, once all three go.
THREE_LAYERS_SENT_JS = """async () => {
  const pc = window.parleyRoom.sfuConnection("publisher");
  const layers = {};
  (await pc.getStats()).forEach((entry) => {
    if (entry.type === "outbound-rtp" && entry.kind === "video" && entry.rid) layers[entry.rid] = entry.frameWidth || 0;
  });
  return Object.values(layers).filter(Boolean).length === 3 && layers;
}"""
WHY_NOT_JS = """async () => {
  const pc = window.parleyRoom.sfuConnection("publisher");
  const out = [];
  (await pc.getStats()).forEach((e) => {
    if (e.type === "outbound-rtp" && e.kind === "video") out.push([e.rid, e.frameWidth, e.bytesSent, e.qualityLimitationReason]);
  });
  return out;
}"""
# Once the frames received of a person have this width.
RECEIVED_WIDTH_JS = """async ([id, width]) => ((await window.parleyRoom.inboundStats(id)).video?.frameWidth || 0) === width"""


def test_cameras_go_out_in_three_layers_each_tile_gets_the_one_it_needs_and_a_screen_goes_through_janus(open_page, start_sfu_stack):
    stack = start_sfu_stack()
    owner_ext, meeting = shared_room("Olivia Owner")
    # Only Olivia has a camera: the pages of one browser share its one fake camera, which
    # gives a second page the format it already captures in (people have a camera each).
    without_devices = f'sessionStorage.setItem("parley.devices.{meeting.public_id}", "off")'
    olivia = join_room(open_page(server=stack.server, user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(server=stack.server, init_script=without_devices), meeting, "Ann Guest")
    bob = join_room(open_page(server=stack.server, init_script=without_devices), meeting, "Bob Guest")
    for person in (olivia, ann, bob):
        on_media_server(person)
    sees_and_hears(ann, [olivia])
    # Simulcast: three layers, each a fraction of the one above.
    try:
        layers = wait_for_js(olivia.page, THREE_LAYERS_SENT_JS, None, what="three layers sent")
    except AssertionError:
        raise AssertionError(f"not three layers: {olivia.page.evaluate(WHY_NOT_JS)}") from None
    assert (layers["h"], layers["m"], layers["l"]) == (1280, 640, 320), layers  # the camera asked for 720p
    # Three people, nobody sharing: grid tiles get the middle layer.
    wait_for_js(ann.page, RECEIVED_WIDTH_JS, [olivia.id, layers["m"]], what="the middle layer")

    # Olivia shares her screen: a publisher of its own, on everyone's stage; the tiles
    # beside the stage are small and get the low layer.
    olivia.page.click("#share-button")
    for viewer in (ann, bob):
        expect(viewer.page.locator("#stage")).to_be_visible()
        wait_video_playing(viewer.page, "#stage-video")
        assert viewer.page.evaluate("() => document.getElementById('stage-video').srcObject.id !== undefined")
    wait_for_js(ann.page, RECEIVED_WIDTH_JS, [olivia.id, layers["l"]], what="the low layer beside the stage")
    assert set(olivia.page.evaluate("() => window.parleyRoom.sfu.connections")) == {"publisher", "screen", "subscriber"}
