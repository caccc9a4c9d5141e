"""Recording through the real ASGI app: ``recording.start/stop`` on the room socket
(accepted and refused), who hears ``recording.state`` (the lobby too), and the media
worker's recorder socket (/ws/recorder/<id>/): its token, roster, events, signals.
The socket helpers are those of tests/sockets.py."""

from __future__ import annotations

import time

import pytest
from channels.layers import get_channel_layer
from django.core import signing

from core.consumers import send_event
from media_server import services
from media_server.models import Recording
from meetings.models import Participant
from meetings.roomkit import meeting_group
from tests.factories import make_extension, make_meeting, make_participant
from tests.sockets import CANDIDATE, SDP, TIMEOUT, Room, RoomSocket, db, join_lobby, open_everyone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

WORKER = "host-a:101"


def _recordings(meeting_id: int) -> list[tuple]:
    return list(Recording.objects.filter(meeting_id=meeting_id).order_by("segment").values_list("segment", "state", "preset"))


def _claim(room: Room) -> services.ClaimedJob:
    services.start_recording(room.creator.participant)
    job = services.claim_job(WORKER)
    assert job is not None
    return job


async def _recorder_socket(sockets, recording_id: int, token: str | None) -> RoomSocket:
    path = f"/ws/recorder/{recording_id}/" + (f"?token={token}" if token is not None else "")
    communicator = sockets.communicator(path, None)
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return RoomSocket(communicator)


# --- recording.start / recording.stop -------------------------------------------------


async def test_it_starts_and_stops_a_recording_and_everyone_lobby_included_hears_it(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    assert guest.first["body"]["recording"] is False

    started = await s["creator"].ok("recording.start", {"preset": "webm_720p"})
    recording = started["recording"]
    assert (recording["state"], recording["preset"], recording["started_by_name"], recording["segment"]) == (
        "pending",
        "webm_720p",
        "Cora Creator",
        1,
    )
    for socket in (s["creator"], s["participant"], guest):
        state = (await socket.until("recording.state"))["body"]
        assert (state["active"], state["recording"]["id"]) == (True, recording["id"])
    # Someone joining now sees it in the snapshot.
    late = await sockets.open(lobby_room, lobby_room.presenter)
    assert late.first["body"]["recording"]["id"] == recording["id"]

    assert await s["creator"].ok("recording.stop") == {}
    for socket in (s["participant"], guest, late):
        assert (await socket.until("recording.state"))["body"]["active"] is False
    assert await db(_recordings, lobby_room.meeting.pk) == [(1, "failed", "webm_720p")]


async def test_it_records_in_the_meetings_default_format_when_none_is_given(sockets, room):
    creator = await sockets.open(room, room.creator)
    assert (await creator.ok("recording.start"))["recording"]["preset"] == "webm_720p"


async def test_it_refuses_recording_commands_it_must_and_changes_nothing(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "organizer", "presenter", "participant")
    guest = await sockets.open(lobby_room, await db(join_lobby, lobby_room, "Gus Guest"), first="lobby.status")
    for name in ("presenter", "participant"):
        assert await s[name].refused("recording.start") == "forbidden", name
    assert await guest.refused("recording.start") == "forbidden"
    assert await s["creator"].refused("recording.stop") == "not_found"
    for body in ({"preset": "flac"}, {"preset": 720}, {"preset": None, "x": 1}, {"format": "webm_720p"}):
        assert await s["creator"].refused("recording.start", body) == "invalid", body
    assert await db(_recordings, lobby_room.meeting.pk) == []

    await s["creator"].ok("recording.start")
    assert await s["organizer"].refused("recording.start") == "recording_busy"
    for name in ("presenter", "participant"):
        assert await s[name].refused("recording.stop") == "forbidden", name
    assert await guest.refused("recording.stop") == "forbidden"
    assert await s["creator"].refused("recording.stop", {"now": True}) == "invalid"
    assert await db(_recordings, lobby_room.meeting.pk) == [(1, "pending", "webm_720p")]
    # The other organizer may stop it.
    assert await s["organizer"].ok("recording.stop") == {}


# --- The recorder socket --------------------------------------------------------------


def _old_token(job: services.ClaimedJob, monkeypatch) -> str:
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() - services.TOKEN_MAX_AGE - 5)
    try:
        return services.recorder_token(job.recording_id, WORKER)
    finally:
        monkeypatch.setattr(signing.time, "time", real)


def _other_meetings_job() -> services.ClaimedJob:
    owner = make_extension()
    meeting = make_meeting(owner)
    organizer = make_participant(meeting, user=owner.user, role="organizer")
    services.start_recording(organizer)
    job = services.claim_job("host-b:7")
    assert job is not None
    return job


async def test_it_refuses_a_recorder_socket_without_the_right_token(sockets, room, monkeypatch):
    job = await db(_claim, room)
    other = await db(_other_meetings_job)
    forged = signing.dumps({"r": job.recording_id, "s": job.segment, "w": WORKER}, salt="another.salt")
    wrong_worker = await db(services._sign_token, await db(Recording.objects.get, pk=job.recording_id), "host-z:1")
    expired = await db(_old_token, job, monkeypatch)
    for token in (None, "garbage", forged, wrong_worker, expired, other.token):
        socket = await _recorder_socket(sockets, job.recording_id, token)
        assert await socket.closed() == 4403, token
    # Another recording's path with this token, and this token once the recording is stopped.
    assert await (await _recorder_socket(sockets, other.recording_id, job.token)).closed() == 4403
    await db(services.stop_recording, room.creator.participant)
    assert await (await _recorder_socket(sockets, job.recording_id, job.token)).closed() == 4403
    assert not await db(Participant.objects.filter(meeting=room.meeting, is_recorder=True).exists)


async def test_it_lets_the_worker_in_as_a_hidden_peer_that_only_signals(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    job = await db(_claim, room)
    recorder = await _recorder_socket(sockets, job.recording_id, job.token)
    roster = (await recorder.until("room.roster"))["body"]
    assert sorted(p["name"] for p in roster["participants"]) == ["Cora Creator", "Olaf Organizer", "Paul Participant", "Pia Presenter"]
    assert roster["share"] is None
    assert roster["media"] == {"mode": "mesh"}  # browsers offer to it (on the SFU: it subscribes in Janus)
    recorder_id = (await s["participant"].until("recorder.joined"))["body"]["id"]
    await s["creator"].until("recorder.joined", id=recorder_id)
    snapshot = (await sockets.open(room, room.presenter)).first["body"]
    assert snapshot["recorder"] == {"id": recorder_id}
    assert recorder_id not in [p["id"] for p in snapshot["participants"]]

    # Browser → recorder: the offer; recorder → browser: the answer.
    await s["participant"].ok("signal", {"to": recorder_id, "description": {"type": "offer", "sdp": SDP}})
    offer = (await recorder.until("signal"))["body"]
    assert (offer["from"], offer["description"]["type"]) == (room.participant.id, "offer")
    await recorder.ok("signal", {"to": room.participant.id, "description": {"type": "answer", "sdp": SDP}})
    answer = (await s["participant"].until("signal"))["body"]
    assert (answer["from"], answer["description"]["type"]) == (recorder_id, "answer")

    # It hears what it needs of the room, not the chat.
    await s["participant"].ok("media.state", {"mic": True, "camera": True})
    updated = (await recorder.until("participant.updated", id=room.participant.id))["body"]
    assert (updated["mic"], updated["camera"]) == (True, True)
    await s["participant"].ok("chat.send", {"text": "hello"})
    await s["creator"].ok("share.start", {"kind": "screen", "stream_id": "screen-1"})
    assert (await recorder.until("share.started"))["body"]["participant_id"] == room.creator.id
    topology = {"mode": "sfu", "state": "ready", "server": "ws://127.0.0.1:8188/", "room": 7, "generation": 2}
    await send_event(get_channel_layer(), meeting_group(room.meeting.public_id), "media.topology", topology)
    assert (await recorder.until("media.topology"))["body"] == topology
    assert "chat.message" not in [m["type"] for m in await recorder.drain()]

    assert await recorder.ok("recorder.heartbeat") == {"state": "recording"}
    assert await recorder.refused("chat.send", {"text": "hi"}) == "unknown_type"
    assert await recorder.refused("signal", {"to": room.participant.id, "description": {"type": "offer", "sdp": "nope"}}) == "invalid"

    # Nobody can be the recorder with a browser session, even one forged to its key.
    recorder_key = await db(Participant.objects.filter(pk=recorder_id).values_list("session_key", flat=True).get)
    assert await sockets.refused(room.path, recorder_key) == 4403

    await recorder.communicator.disconnect()
    assert (await s["participant"].until("recorder.left"))["body"] == {"id": recorder_id}


async def test_it_refuses_the_recorders_signals_to_anyone_not_in_its_room(sockets, lobby_room):
    creator = await sockets.open(lobby_room, lobby_room.creator)
    waiting = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, waiting, first="lobby.status")
    outsider = await db(make_participant, await db(make_meeting, await db(make_extension)))
    await db(Participant.objects.filter(pk=outsider.pk).update, connected=True)
    job = await db(_claim, lobby_room)
    recorder = await _recorder_socket(sockets, job.recording_id, job.token)
    await recorder.until("room.roster")
    await creator.until("recorder.joined")
    for target in (waiting.id, lobby_room.participant.id, outsider.pk, 2**40):
        assert await recorder.refused("signal", {"to": target, "candidate": CANDIDATE}) == "not_found", target
    assert "signal" not in [m["type"] for m in await guest.drain()]
    await recorder.ok("signal", {"to": lobby_room.creator.id, "candidate": CANDIDATE})
    assert (await creator.until("signal"))["body"]["candidate"] == CANDIDATE


async def test_it_closes_the_recorder_socket_when_the_meeting_ends(sockets, room):
    creator = await sockets.open(room, room.creator)
    job = await db(_claim, room)
    recorder = await _recorder_socket(sockets, job.recording_id, job.token)
    await recorder.until("room.roster")
    await creator.ok("meeting.end")
    assert await recorder.closed() == 4410
    assert "meeting.ended" in [m["type"] for m in recorder.inbox]
    assert await db(_recordings, room.meeting.pk) == [(1, "finalizing", "webm_720p")]
