"""The SFU on the room socket: the ``media`` snapshot section, ``media.topology`` as the
room moves to Janus, and ``sfu.credentials`` (given and refused). The refusals need no
Janus (the meeting's ``SfuRoom`` row is made by hand); the move is a real one."""

from __future__ import annotations

import time

import pytest

from media_server.models import SfuRoom
from media_server.sfu import janus
from meetings import services as meeting_services
from meetings.models import Meeting
from tests.sockets import Room, db, guest_session, join_lobby, open_everyone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

ADMIN_URL = "http://127.0.0.1:9/admin"  # never called: these tests make the room's row themselves


@pytest.fixture
def janus_settings(settings):
    settings.JANUS_URLS = [ADMIN_URL]
    settings.JANUS_PUBLIC_URLS = ["ws://127.0.0.1:9/"]
    settings.JANUS_TOKEN_SECRET = "token-secret"
    settings.JANUS_ADMIN_SECRET = settings.JANUS_ROOM_ADMIN_KEY = settings.JANUS_EVENTS_SECRET = "unused"
    return settings


def _on_janus(meeting: Meeting, state: str = SfuRoom.State.READY) -> SfuRoom:
    return SfuRoom.objects.create(meeting=meeting, server=ADMIN_URL, janus_room=janus.new_room_id(), secret="s", state=state)


def _signed_part(token: str) -> list[str]:
    """The signed fields of a Janus token (``expiry,realm,descriptors…:signature``)."""
    data, _signature = token.rsplit(":", 1)
    return data.split(",")


async def test_it_gives_a_joined_participant_tokens_for_the_meetings_janus_room(sockets, room: Room, janus_settings):
    sfu_room = await db(_on_janus, room.meeting)
    paul = await sockets.open(room, room.participant)
    assert paul.first["body"]["media"] == {
        "mode": "sfu",
        "state": "ready",
        "server": "ws://127.0.0.1:9/",
        "room": sfu_room.janus_room,
        "generation": 1,
    }

    given = await paul.ok("sfu.credentials")
    assert {key: given[key] for key in ("mode", "state", "server", "room", "generation", "publisher_id", "expires_in")} == {
        "mode": "sfu",
        "state": "ready",
        "server": "ws://127.0.0.1:9/",
        "room": sfu_room.janus_room,
        "generation": 1,
        "publisher_id": room.participant.id,
        "expires_in": janus_settings.JANUS_TOKEN_TTL,
    }
    # The core token names this person (Janus checks it on every request of the
    # session); the room token this room only.
    expiry, *core = _signed_part(given["core_token"])
    assert core == ["janus", "janus.plugin.videoroom", f"p={room.participant.id}"]
    assert abs(int(expiry) - (time.time() + janus_settings.JANUS_TOKEN_TTL)) < 5
    assert _signed_part(given["room_token"])[1:] == ["janus.plugin.videoroom", f"room={sfu_room.janus_room}"]


async def test_it_says_a_mesh_room_is_not_on_the_media_server(sockets, room: Room, janus_settings):
    paul = await sockets.open(room, room.participant)
    assert paul.first["body"]["media"] == {"mode": "mesh"}
    assert await paul.refused("sfu.credentials") == "not_found"


async def test_it_asks_to_wait_while_the_janus_room_is_being_made(sockets, room: Room, janus_settings):
    await db(_on_janus, room.meeting, SfuRoom.State.OPENING)
    paul = await sockets.open(room, room.participant)
    assert paul.first["body"]["media"]["state"] == "opening"
    assert await paul.refused("sfu.credentials") == "unavailable"


async def test_it_gives_nothing_to_someone_waiting_in_the_lobby(sockets, lobby_room: Room, janus_settings):
    await db(_on_janus, lobby_room.meeting)
    guest = await sockets.open(lobby_room, await db(join_lobby, lobby_room, "Gus Guest"), first="lobby.status")
    assert await guest.refused("sfu.credentials") == "forbidden"


async def test_it_refuses_a_body_with_anything_in_it(sockets, room: Room, janus_settings):
    await db(_on_janus, room.meeting)
    paul = await sockets.open(room, room.participant)
    # Nobody asks for another person's or another room's tokens.
    for body in ({"publisher_id": room.creator.id}, {"room": 1}):
        assert await paul.refused("sfu.credentials", body) == "invalid"
    await paul.ok("sfu.credentials")


async def test_it_limits_how_often_tokens_are_asked(sockets, room: Room, janus_settings):
    await db(_on_janus, room.meeting)
    paul, pia = (await open_everyone(sockets, room, "participant", "presenter")).values()
    for _ in range(20):  # the documented limit: 20 per 10 s
        await paul.ok("sfu.credentials")
    assert await paul.refused("sfu.credentials") == "rate_limited"
    await pia.ok("sfu.credentials")  # per socket: the others are not held back


@pytest.mark.integration
async def test_it_tells_the_room_as_it_moves_to_janus_and_the_tokens_follow(sockets, room: Room, janus_server):
    """Four people are on the mesh (the room was made without the join service); the
    fifth, through it, moves the room: opening, then ready once Janus made it."""
    s = await open_everyone(sockets, room, "creator", "participant")
    assert s["participant"].first["body"]["media"] == {"mode": "mesh"}
    await db(meeting_services.join_meeting, room.meeting, session_key=await db(guest_session), name="Zoe Guest")
    for socket in s.values():
        opening = (await socket.until("media.topology"))["body"]
        ready = (await socket.until("media.topology"))["body"]
        assert (opening["mode"], opening["state"], ready["state"], ready["server"]) == ("sfu", "opening", "ready", janus_server.public_url)
    given = await s["participant"].ok("sfu.credentials")
    assert (given["room"], given["publisher_id"]) == (ready["room"], room.participant.id)
    assert janus.AdminApi(janus_server.admin_url).room_exists(ready["room"])
