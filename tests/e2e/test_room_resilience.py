"""The room survives what networks and servers do: a web process restarted under
its participants, and a participant offline for ten seconds."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from meetings import services
from meetings.models import Participant
from tests.e2e.pages import (
    IN_ROOM_JS,
    MEDIA_TIMEOUT_MS,
    WS_RECORDER,
    join_room,
    shared_room,
    tile_video,
    wait_media_both_ways,
    wait_video_playing,
)
from tests.fixtures_live import start_web_server as _start_web_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _self(page) -> dict:
    return page.evaluate("() => ({id: window.parleyRoom.self.id, role: window.parleyRoom.self.role})")


def test_it_reconnects_everyone_to_a_restarted_web_process(open_page, live_redis, tmp_path):
    server = _start_web_server(live_redis, tmp_path / "first", name="web server (before restart)")
    try:
        owner_ext, meeting = shared_room("Olivia Owner")
        owner = join_room(open_page(server=server, user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia Owner")
        ann = join_room(open_page(server=server, init_script=WS_RECORDER), meeting, "Ann Guest")
        wait_media_both_ways([owner, ann])
        before = {person.name: _self(person.page) for person in (owner, ann)}

        # SIGKILL: no disconnect handler runs; the pages only see their sockets die.
        server.process.kill()
        for person in (owner, ann):
            person.page.wait_for_function("() => window.parleyRoom.socketState !== 'connected'", timeout=MEDIA_TIMEOUT_MS)
        server = _start_web_server(live_redis, tmp_path / "second", name="web server (after restart)", port=urlparse(server.url).port)

        # Each page reconnects by itself (backoff) as the same participant with the same role.
        for person in (owner, ann):
            person.page.wait_for_function(IN_ROOM_JS, timeout=MEDIA_TIMEOUT_MS)
            assert _self(person.page) == before[person.name]
        owner.page.wait_for_function(f"() => window.parleyRoom.participants.has({ann.id})", timeout=MEDIA_TIMEOUT_MS)
        ann.page.wait_for_function(f"() => window.parleyRoom.participants.has({owner.id})", timeout=MEDIA_TIMEOUT_MS)
        assert Participant.objects.filter(meeting=meeting).count() == 2
        wait_video_playing(owner.page, tile_video(ann.id))
        wait_video_playing(ann.page, tile_video(owner.id))
    finally:
        server.process.stop()


def test_it_keeps_a_participant_offline_for_ten_seconds(open_page):
    owner_ext, meeting = shared_room("Olivia Owner")
    owner = join_room(open_page(user=owner_ext.user, init_script=WS_RECORDER), meeting, "Olivia Owner")
    ann = join_room(open_page(init_script=WS_RECORDER), meeting, "Ann Guest")
    wait_media_both_ways([owner, ann])
    before = _self(ann.page)

    ann.page.context.set_offline(True)
    ann.page.evaluate("() => window.parleyRoom.dropSocket()")
    expect(owner.page.locator(f'.tile[data-participant-id="{ann.id}"]')).to_have_attribute(
        "data-connection", "reconnecting", timeout=MEDIA_TIMEOUT_MS
    )
    offline_since = time.monotonic()
    # Ten seconds offline, well inside the reconnect grace: the presence sweep keeps her.
    while time.monotonic() - offline_since < 10:
        services.sweep_disconnected()
        assert ann.page.evaluate("() => window.parleyRoom.socketState") != "connected"
        ann.page.wait_for_timeout(1000)  # the length of the outage is the point of this test
    assert Participant.objects.get(pk=ann.id).state == Participant.State.JOINED

    ann.page.context.set_offline(False)
    ann.page.wait_for_function(IN_ROOM_JS, timeout=MEDIA_TIMEOUT_MS)
    assert _self(ann.page) == before
    expect(owner.page.locator(f'.tile[data-participant-id="{ann.id}"]')).to_have_attribute(
        "data-connection", "online", timeout=MEDIA_TIMEOUT_MS
    )
    wait_video_playing(owner.page, tile_video(ann.id))
    wait_video_playing(ann.page, tile_video(owner.id))
