"""The meeting room end to end: headless Chromium with fake camera, microphone and
screen, on loopback only, against a real web server with a real Redis.

Three people in one room see each other's video playing (frames advancing) and hear
each other (audio samples arriving with a level), chat (escaped), react, share a
screen (a second share is refused), save a snapshot, and a dropped socket comes back
as the same participant. The helpers are in tests/e2e/pages.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

from meetings.models import Participant, SharePolicy
from tests.e2e.pages import (
    IN_ROOM_JS,
    MEDIA_TIMEOUT_MS,
    PNG_SIGNATURE,
    WS_RECORDER,
    forced_send,
    join_room,
    shared_room,
    sockets,
    tile_video,
    wait_audio_flowing,
    wait_media_both_ways,
    wait_video_playing,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

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
              const record = () => {
                for (const node of document.querySelectorAll(".tile__reaction[data-emoji]")) {
                  const picture = node.querySelector("img");
                  // A picture shipped with Parley, loaded: no emoji font needed.
                  const loaded = Boolean(picture && picture.complete && picture.naturalWidth > 0 && picture.src.endsWith(".svg"));
                  if (picture && !loaded) picture.addEventListener("load", record, { once: true });
                  const alt = picture ? picture.alt : "";
                  window.__reactions.push({ id: node.closest(".tile").dataset.participantId, emoji: node.dataset.emoji, loaded, alt, text: node.textContent });
                }
              };
              new MutationObserver(record).observe(document.getElementById("tiles"), { subtree: true, childList: true, attributes: true });
            }"""
        )
    bob.page.click("#reactions-button")
    # The menu shows pictures, not emoji (which need a colour-emoji font).
    choices = bob.page.locator(".reaction-choice")
    expect(choices).to_have_count(7)
    bob.page.wait_for_function(
        """() => [...document.querySelectorAll(".reaction-choice")].every(
             (b) => !b.textContent.trim() && b.querySelector("img").complete && b.querySelector("img").naturalWidth > 0)"""
    )
    bob.page.click('.reaction-choice[data-emoji="🎉"]')
    for viewer in (owner, ann):
        viewer.page.wait_for_function(
            "([id, emoji]) => window.__reactions.some((r) => r.id === id && r.emoji === emoji && r.loaded && r.alt === 'Celebrate' && !r.text)",
            arg=[str(bob.id), "🎉"],
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

    # Snapshot of Bob's tile on Ann's page: a PNG of the video's size (not the tile's).
    # The sender may change its resolution meanwhile (it adapts to the CPU): the size
    # is read before and after the click.
    video_size_js = f"() => {{ const v = document.querySelector('{tile_video(bob.id)}'); return [v.videoWidth, v.videoHeight]; }}"
    size_before = ann.page.evaluate(video_size_js)
    with ann.page.expect_download() as download_info:
        ann.page.locator(f'.tile[data-participant-id="{bob.id}"] .tile__snapshot').click()
    download = download_info.value
    size_after = ann.page.evaluate(video_size_js)
    assert download.suggested_filename.startswith("Bob Guest-") and download.suggested_filename.endswith(".png")
    data = Path(download.path()).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 100
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert [width, height] in (size_before, size_after)


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
