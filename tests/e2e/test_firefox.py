"""A Firefox person and a Chromium person in one room (F20: the room works in current
Chrome/Chromium and Firefox), against a real web server and Redis.

Debian's Firefox ESR, driven over WebDriver BiDi (tests/firefox_bidi.py), runs on an
Xvfb screen (headless Firefox has no screen to share); the Chromium person is a
Playwright page. They see and hear each other; the Firefox person shares the screen
(someone who joins then gets it at the screen's own size, not squeezed to the camera's)
and watches the other's share; the Firefox page's statistics name the connection;
the Firefox person answers a poll the organizer starts, and draws on the PDF the
organizer shares, which the organizer sees.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from documents.models import Annotation
from meetings.models import SharePolicy
from polls.models import Ballot
from tests.documents.helpers import make_document
from tests.e2e.pages import (
    ANNOTATIONS_JS,
    COLOR_NEAR_JS,
    MEDIA_TIMEOUT_MS,
    ON_MEDIA_SERVER_JS,
    PAGE_SHOWN_JS,
    RECEIVES_JS,
    SFU_TIMEOUT_MS,
    join_room,
    join_room_in_firefox,
    make_poll,
    shared_room,
    tile_video,
    wait_audio_flowing,
    wait_video_playing,
)
from tests.firefox_bidi import FirefoxPage
from tests.fixtures_live import XVFB_SCREEN

pytestmark = [pytest.mark.browser, pytest.mark.firefox, pytest.mark.django_db(transaction=True)]

MEDIA_TIMEOUT_S = MEDIA_TIMEOUT_MS / 1000
CANVAS = "#presentation .presentation__canvas"
RED = (0xE1, 0x1D, 0x48)  # the marker's first colour, the default

# (peer id) → whether the <audio> element of that peer's sound plays.
AUDIO_PLAYING_JS = """(id) => {
  const audio = document.querySelector(`#remote-audio audio[data-participant-id="${id}"]`);
  return Boolean(audio && audio.srcObject && !audio.paused);
}"""

# (peer id) → the bitrate limits on this page's camera, microphone and screen senders
# to that peer, {audio, video, screen: maxBitrate or null}, once the camera and the
# microphone have theirs (set once the connection is up).
SENDER_LIMITS_JS = """(id) => {
  const pc = window.parleyRoom.peerConnection(id);
  const screen = window.parleyRoom.media.sharing ? document.getElementById("stage-video").srcObject.getVideoTracks()[0] : null;
  const limits = {};
  for (const sender of pc.getSenders()) {
    if (!sender.track) continue;
    limits[sender.track === screen ? "screen" : sender.track.kind] = sender.getParameters().encodings[0].maxBitrate ?? null;
  }
  return limits.audio && limits.video ? limits : null;
}"""

# (peer id) → what the Statistics panel says of the connection to that peer, once it
# names the candidate pair and a round-trip time: [connection type, time].
STATS_SHOWN_JS = """(id) => {
  const section = document.querySelector(`#stats-panel .rp-conn[data-peer-id="${id}"]`);
  if (!section) return null;
  const [type, rtt] = [...section.querySelectorAll(".rp-conn__meta dd")].map((node) => node.textContent);
  return /\\d/.test(rtt) && !type.includes("not connected") ? [type, rtt] : null;
}"""


def test_it_lets_a_firefox_and_a_chromium_person_talk_share_vote_and_annotate(open_page, firefox_page, asgi_server, settings):
    owner_ext, meeting = shared_room("Olivia Owner", share_policy=SharePolicy.EVERYONE)
    poll = make_poll(owner_ext.user)
    # The document is stored where the live server reads its files.
    settings.MEDIA_ROOT = asgi_server.outbox.parent / "data" / "media"
    document = make_document(owner_ext.user, pages=2, name="Roadmap.pdf")

    # Fay (Firefox) comes first and shares her screen: a real click, as Firefox wants
    # a user gesture for getDisplayMedia.
    fay = join_room_in_firefox(firefox_page, meeting, "Fay Firefox")
    firefox_page.click("#share-button")
    firefox_page.wait_for("() => window.parleyRoom.media.sharing && window.parleyRoom.share !== null", what="Fay's share")

    # Olivia (Chromium) joins: they see and hear each other.
    olivia = join_room(open_page(user=owner_ext.user), meeting, "Olivia Owner")
    wait_video_playing(olivia.page, tile_video(fay.id))
    wait_video_playing(firefox_page, tile_video(olivia.id))
    wait_audio_flowing(olivia.page, fay.id)
    wait_audio_flowing(firefox_page, olivia.id)
    # Firefox plays Olivia's sound: a page that captures the microphone may autoplay.
    firefox_page.wait_for(AUDIO_PLAYING_JS, olivia.id, what="Olivia's sound playing")
    assert firefox_page.evaluate("() => document.getElementById('sound-button').hidden")

    # Olivia gets Fay's screen on the stage at the screen's size: the camera's quality
    # settings (640×360, 0.5 Mbit/s) apply to Fay's camera only.
    stage = olivia.page.locator("#stage")
    expect(stage).to_have_attribute("data-sharer-id", str(fay.id))
    screen = wait_video_playing(olivia.page, "#stage-video")
    assert (screen["width"], screen["height"]) == XVFB_SCREEN
    limits = firefox_page.wait_for(SENDER_LIMITS_JS, olivia.id, what="the camera and microphone limits")
    # (Audio "auto": Firefox estimates no bandwidth on the pair, so the medium rate.)
    assert limits == {"audio": 32_000, "video": 500_000, "screen": None}, limits

    # Fay stops; Olivia shares, and Fay watches it on her stage.
    firefox_page.click("#share-button")
    expect(stage).to_be_hidden()
    olivia.page.click("#share-button")
    expect(olivia.page.locator("#share-button")).to_have_attribute("aria-pressed", "true")
    firefox_page.wait_for("(id) => document.getElementById('stage').dataset.sharerId === String(id)", olivia.id, what="Olivia's share")
    wait_video_playing(firefox_page, "#stage-video")
    olivia.page.click("#share-button")
    firefox_page.wait_for("() => document.getElementById('stage').hidden", what="the stage to close")

    # Fay's Statistics panel names the connection (the pair on Firefox's transport) and
    # its round-trip time (on that pair).
    firefox_page.click("#stats-button")
    kind, rtt = firefox_page.wait_for(STATS_SHOWN_JS, olivia.id, what="the connection and its round-trip time in the statistics")
    assert kind.startswith("direct (host) ↔ ") and kind.endswith(" over UDP") and rtt.endswith(" ms"), (kind, rtt)
    firefox_page.click("#stats-panel .rp-close")

    # Olivia starts a poll; Fay answers it on her card and Olivia sees it complete.
    olivia.page.click("#polls-button")
    olivia.page.locator(f'#polls-panel .poll-item[data-poll-id="{poll.pk}"] .poll-item__submit').click()
    firefox_page.wait_for("() => document.querySelector('#poll-card')?.dataset.view === 'answer'", what="the poll card")
    firefox_page.click("#poll-card label.poll-choice", text="Pasta")
    firefox_page.click("#poll-card label.poll-choice", text="Juice")
    firefox_page.click("#poll-card .poll-form__submit")
    firefox_page.wait_for(
        "() => document.querySelector('#poll-card .poll-card__message')?.textContent === 'Thank you — your answers are recorded.'",
        what="the poll's thanks",
    )
    expect(olivia.page.locator("#poll-card .poll-card__completion .poll-card__answered")).to_have_text("1 of 1 answered")
    live_results = olivia.page.locator("#poll-card .poll-result__choice")
    for choice, count in (("Pasta", 1), ("Salad", 0), ("Juice", 1), ("Water", 0)):
        expect(live_results.filter(has_text=choice).locator(".poll-result__count")).to_have_attribute("data-count", str(count))
    ballot = Ballot.objects.get(participant_id=fay.id)
    assert ballot.voter_name == "Fay Firefox" and ballot.votes.count() == 2

    # Olivia shares the PDF; Fay draws a marker stroke on it, and Olivia sees it.
    olivia.page.click("#documents-button")
    olivia.page.locator(f'#documents-panel .document-item[data-document-id="{document.pk}"]').dblclick()
    olivia.page.wait_for_function(PAGE_SHOWN_JS, arg=1)
    firefox_page.wait_for(PAGE_SHOWN_JS, 1, what="page 1 of the PDF", timeout=MEDIA_TIMEOUT_S)
    firefox_page.click('#presentation .annotate__button[data-tool="marker"]')
    firefox_page.drag(CANVAS, (0.2, 0.5), (0.8, 0.5))
    firefox_page.wait_for(ANNOTATIONS_JS, [1, 1], what="Fay's stroke, finished")
    olivia.page.wait_for_function(ANNOTATIONS_JS, arg=[1, 1])
    olivia.page.wait_for_function(COLOR_NEAR_JS, arg=[CANVAS, 0.5, 0.5, list(RED), 12])
    assert not olivia.page.evaluate(COLOR_NEAR_JS, [CANVAS, 0.5, 0.2, list(RED), 12])
    stroke = Annotation.objects.get(presentation__meeting=meeting)
    assert stroke.author_id == fay.id and stroke.finished and stroke.page == 1
    assert all(abs(y - 0.5) < 0.02 for _x, y in stroke.data["points"])


def test_a_firefox_person_sees_hears_and_is_seen_through_janus(open_page, firefox_page, start_sfu_stack):
    """Three people move the room to Janus: the Firefox person publishes there (its
    camera in simulcast layers, as Chromium's) and subscribes to the two Chromium
    people, who receive Firefox's camera and sound from Janus too."""
    stack = start_sfu_stack()
    owner_ext, meeting = shared_room("Olivia Owner")
    olivia = join_room(open_page(server=stack.server, user=owner_ext.user), meeting, "Olivia Owner")
    ann = join_room(open_page(server=stack.server), meeting, "Ann Guest")
    tab = FirefoxPage(firefox_page.session, stack.server.url)
    fiona = join_room_in_firefox(tab, meeting, "Fiona Firefox")

    for person in (olivia, ann):
        person.page.wait_for_function(ON_MEDIA_SERVER_JS, timeout=SFU_TIMEOUT_MS)
    tab.wait_for(ON_MEDIA_SERVER_JS, what="Firefox on the media server", timeout=SFU_TIMEOUT_MS / 1000)
    tab.wait_for(RECEIVES_JS, [olivia.id, ann.id], what="Firefox receiving both from Janus", timeout=SFU_TIMEOUT_MS / 1000)
    for other in (olivia, ann):
        wait_video_playing(tab, tile_video(other.id))
        wait_audio_flowing(tab, other.id)
    for viewer in (olivia, ann):
        viewer.page.wait_for_function(RECEIVES_JS, arg=[fiona.id], timeout=SFU_TIMEOUT_MS)
        wait_video_playing(viewer.page, tile_video(fiona.id))
        wait_audio_flowing(viewer.page, fiona.id)
    # Firefox publishes its camera in layers: Janus forwards the one each tile asks for.
    layers = tab.evaluate(
        """() => {
          const sender = window.parleyRoom.sfuConnection("publisher").getSenders().find((s) => s.track && s.track.kind === "video");
          return sender.getParameters().encodings.map((encoding) => encoding.rid);
        }"""
    )
    assert sorted(layers) == ["h", "l", "m"]
