"""The meeting room socket (/ws/meetings/<public_id>/) through the real ASGI app.

Every client → server type accepted and refused, fuzzed frames, the lobby's
isolation, signalling, presence (replace, reconnect, timeout), kick, share, end.
Works with the in-memory channel layer and, when REDIS_URL is set, channels-redis.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from core import online
from core.webrtc import valid_sdp
from meetings import room_features, services
from meetings.models import Meeting, Participant, RoomType
from meetings.roomkit import meeting_group
from tests.factories import make_invitation, make_meeting
from tests.sockets import (
    CANDIDATE,
    SDP,
    Room,
    SocketPool,
    all_quiet,
    db,
    disconnect_all,
    guest_session,
    join_lobby,
    join_with_link,
    make_room,
    open_everyone,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


def _states(meeting_id: int) -> tuple:
    meeting = Meeting.objects.get(pk=meeting_id)
    people = Participant.objects.filter(meeting_id=meeting_id).order_by("pk")
    return (
        meeting.ended_at,
        meeting.share_participant_id,
        [(p.pk, p.state, p.role, p.is_banned, p.mic_on, p.camera_on, p.mic_allowed, p.camera_allowed, p.chat_allowed) for p in people],
        meeting.chat_messages.count(),
    )


# --- Connecting ---------------------------------------------------------------------------------


async def test_it_refuses_sockets_of_people_who_are_not_in_the_room(sockets, room):
    stranger = await db(guest_session)
    assert await sockets.refused("/ws/meetings/no-such-meeting/", room.creator.cookie) == 4404
    assert await sockets.refused(room.path, None) == 4403
    assert await sockets.refused(room.path, stranger) == 4403
    for state, banned in ((Participant.State.LEFT, False), (Participant.State.KICKED, False), (Participant.State.REJECTED, False)):
        await db(Participant.objects.filter(pk=room.participant.id).update, state=state, is_banned=banned)
        assert await sockets.refused(room.path, room.participant.cookie) == 4403, state
    await db(Participant.objects.filter(pk=room.presenter.id).update, is_banned=True)
    assert await sockets.refused(room.path, room.presenter.cookie) == 4403
    assert await sockets.handshake(room.path, room.creator.cookie, b"http://evil.example.com") is False
    await db(Meeting.objects.filter(pk=room.meeting.pk).update, ended_at=timezone.now())
    assert await sockets.refused(room.path, room.creator.cookie) == 4410


async def test_it_sends_the_snapshot_and_shows_the_newcomer_online(sockets, room):
    creator = await sockets.open(room, room.creator)
    snapshot = creator.first["body"]
    assert (snapshot["self"]["id"], snapshot["self"]["role"], snapshot["self"]["is_creator"]) == (room.creator.id, "organizer", True)
    assert snapshot["self"]["connection"] == "online"
    assert {p["id"] for p in snapshot["participants"]} == {room.organizer.id, room.presenter.id, room.participant.id}
    assert (snapshot["lobby"], snapshot["share"], snapshot["version"]) == ([], None, settings.VERSION)
    assert snapshot["meeting"]["public_id"] == room.meeting.public_id
    participant = await sockets.open(room, room.participant)
    assert participant.first["body"]["self"]["role"] == "participant"
    await creator.until_online(room.participant.id)


async def test_it_never_tells_a_socket_of_its_own_arrival_but_passes_on_the_others(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter")
    layer = get_channel_layer()
    group = meeting_group(room.meeting.public_id)
    await layer.group_send(group, online.event_message([room.presenter.id]))
    await layer.group_send(group, online.event_message([room.creator.id, room.presenter.id, room.participant.id]))
    batch = await s["presenter"].until("participants.online")
    assert batch["body"] == {"ids": [room.creator.id, room.participant.id]}
    assert (await s["creator"].until("participants.online"))["body"] == {"ids": [room.presenter.id]}
    assert (await s["creator"].until("participants.online"))["body"] == {"ids": [room.presenter.id, room.participant.id]}
    assert await all_quiet(s) == {}


# --- Signals ------------------------------------------------------------------------------------


async def test_it_relays_signals_to_the_target_only_with_the_senders_id(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    assert await s["creator"].ok("signal", {"to": room.participant.id, "description": {"type": "offer", "sdp": SDP}}) == {}
    offer = await s["participant"].until("signal")
    assert offer == {"type": "signal", "id": None, "body": {"from": room.creator.id, "description": {"type": "offer", "sdp": SDP}}}
    await s["participant"].ok("signal", {"to": room.creator.id, "description": {"type": "answer", "sdp": SDP}})
    await s["participant"].ok("signal", {"to": room.creator.id, "candidate": CANDIDATE})
    await s["participant"].ok("signal", {"to": room.creator.id, "candidate": {**CANDIDATE, "usernameFragment": "abcd"}})
    await s["participant"].ok("signal", {"to": room.creator.id, "candidate": None})
    answer = await s["creator"].until("signal")
    assert (answer["body"]["from"], answer["body"]["description"]["type"]) == (room.participant.id, "answer")
    assert (await s["creator"].until("signal"))["body"] == {"from": room.participant.id, "candidate": CANDIDATE}
    assert (await s["creator"].until("signal"))["body"]["candidate"]["usernameFragment"] == "abcd"
    assert (await s["creator"].until("signal"))["body"] == {"from": room.participant.id, "candidate": None}
    await s["presenter"].nothing()


def _bad_signals(room: Room) -> list[tuple[dict, str]]:
    to = room.participant.id
    offer = lambda sdp: {"to": to, "description": {"type": "offer", "sdp": sdp}}  # noqa: E731
    return [
        (offer("garbage"), "invalid"),
        (offer(""), "invalid"),
        (offer("v=0\r\nthis is not sdp\r\n"), "invalid"),
        (offer("v=0\r\no=- 1 2 IN IP4 127.0.0.1\x00\r\n"), "invalid"),
        (offer("v=0\r\ns=-\rt=0 0\r\n"), "invalid"),
        (offer("v=0\r\n\r\ns=-\r\n"), "invalid"),
        (offer("v=0\r\n" + "a=x" * 21000 + "\r\n"), "invalid"),
        (offer(7), "invalid"),
        ({"to": to, "description": {"type": "rollback", "sdp": SDP}}, "invalid"),
        ({"to": to, "description": {"type": "offer", "sdp": SDP, "extra": 1}}, "invalid"),
        ({"to": to, "description": "v=0"}, "invalid"),
        ({"to": to, "candidate": {**CANDIDATE, "candidate": "not a candidate"}}, "invalid"),
        ({"to": to, "candidate": {**CANDIDATE, "candidate": "candidate:" + "1" * 1100}}, "invalid"),
        ({"to": to, "candidate": {**CANDIDATE, "sdpMLineIndex": "0"}}, "invalid"),
        ({"to": to, "candidate": {"candidate": CANDIDATE["candidate"]}}, "invalid"),
        ({"to": to, "candidate": "candidate:1"}, "invalid"),
        ({"to": to, "description": {"type": "offer", "sdp": SDP}, "candidate": CANDIDATE}, "invalid"),
        ({"to": to}, "invalid"),
        ({"to": str(to), "candidate": None}, "invalid"),
        ({"to": True, "candidate": None}, "invalid"),
        ({"to": to, "candidate": None, "from": room.creator.id}, "invalid"),
        ({"to": to, "candidate": None, "role": "organizer"}, "invalid"),
        ({"to": room.presenter.id, "candidate": None}, "invalid"),  # to oneself (sent by the presenter)
        ({"to": 987_654_321, "candidate": None}, "not_found"),
        ({"to": room.organizer.id, "candidate": None}, "not_found"),  # no socket
        ({"to": 10**30, "candidate": None}, "not_found"),
    ]


async def test_it_refuses_garbage_signals_to_their_sender_only(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    for number, (body, code) in enumerate(_bad_signals(room)):
        assert await s["presenter"].refused("signal", body) == code, number
    await s["presenter"].ping_works()
    await s["participant"].nothing()
    await s["creator"].nothing()


async def test_it_relays_an_sdp_close_to_the_frame_limit_and_refuses_bigger_frames(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    lines = "".join(f"a=candidate:{n} 1 udp 2113937151 127.0.0.1 {50000 + n % 10000} typ host\r\n" for n in range(1200))
    big_sdp = (SDP + lines)[: 60 * 1024 - 200]
    big_sdp = big_sdp[: big_sdp.rindex("\r\n") + 2]
    assert valid_sdp(big_sdp) and len(big_sdp) > 59 * 1024
    await s["creator"].ok("signal", {"to": room.participant.id, "description": {"type": "offer", "sdp": big_sdp}})
    assert (await s["participant"].until("signal"))["body"]["description"]["sdp"] == big_sdp
    frame = json.dumps({"type": "ping", "id": "big", "body": {"pad": "x" * (64 * 1024)}})
    await s["creator"].communicator.send_to(text_data=frame)
    reply = await s["creator"].reply_to(None)
    assert reply["body"]["code"] == "too_large"
    await s["creator"].ping_works()


# --- Every command accepted ---------------------------------------------------------------------


async def test_it_accepts_media_state_chat_and_reactions_from_anyone_in_the_room(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    await s["participant"].ok("media.state", {"mic": True, "camera": False})
    updated = await s["creator"].until("participant.updated", id=room.participant.id)
    assert (updated["body"]["mic"], updated["body"]["camera"]) == (True, False)
    reply = await s["participant"].ok("chat.send", {"text": "  <b>hello</b>  "})
    for socket in s.values():
        message = await socket.until("chat.message")
        assert (message["body"]["id"], message["body"]["participant_id"], message["body"]["text"]) == (
            reply["id"],
            room.participant.id,
            "<b>hello</b>",
        )
        assert message["body"]["name"] == "Paul Participant"
    await s["participant"].ok("reaction.send", {"emoji": "🎉"})
    for socket in s.values():
        assert (await socket.until("reaction"))["body"] == {"participant_id": room.participant.id, "emoji": "🎉"}


async def test_it_shares_one_screen_at_a_time_and_says_who_shares(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    share = await s["presenter"].ok("share.start", {"kind": "screen", "stream_id": "{stream-1}"})
    assert share == {"participant_id": room.presenter.id, "kind": "screen", "stream_id": "{stream-1}", "name": "Pia Presenter"}
    for socket in s.values():
        assert (await socket.until("share.started"))["body"] == share
    reply = await s["creator"].request("share.start", {"kind": "screen", "stream_id": "s2"})
    assert (reply["type"], reply["body"]["code"]) == ("error", "share_busy")
    assert "Pia Presenter" in reply["body"]["message"]
    assert await s["participant"].refused("share.stop") == "forbidden"
    await s["presenter"].ok("share.stop")
    for socket in s.values():
        assert (await socket.until("share.stopped"))["body"] == {"participant_id": room.presenter.id, "kind": "screen"}
    assert await s["presenter"].refused("share.stop") == "not_found"
    # An organizer stops anyone's share.
    await s["presenter"].ok("share.start", {"kind": "screen", "stream_id": "s3"})
    await s["creator"].ok("share.stop")
    assert (await s["presenter"].until("share.stopped"))["body"]["participant_id"] == room.presenter.id


async def test_it_refuses_a_share_until_the_participant_is_promoted(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    assert await s["participant"].refused("share.start", {"kind": "screen", "stream_id": "s"}) == "forbidden"
    await s["creator"].ok("role.change", {"participant_id": room.participant.id, "role": "presenter"})
    promoted = await s["participant"].until("participant.updated", id=room.participant.id)
    assert promoted["body"]["role"] == "presenter"
    await s["participant"].ok("share.start", {"kind": "screen", "stream_id": "s"})
    # Demoted again: the share ends.
    await s["creator"].ok("role.change", {"participant_id": room.participant.id, "role": "participant"})
    assert (await s["creator"].until("share.stopped"))["body"]["participant_id"] == room.participant.id


async def test_it_lets_an_organizer_turn_off_a_mic_and_a_chat_and_the_server_holds_it(sockets, room, caplog):
    s = await open_everyone(sockets, room, "organizer", "participant")
    await s["participant"].ok("media.state", {"mic": True, "camera": True})
    await s["organizer"].ok("moderate.media", {"participant_id": room.participant.id, "kind": "mic", "allowed": False})
    told = await s["participant"].until("participant.updated", id=room.participant.id, mic_allowed=False)
    assert (told["body"]["mic"], told["body"]["camera"]) == (False, True)
    caplog.set_level(logging.WARNING, logger="meetings.consumers")
    assert await s["participant"].refused("media.state", {"mic": True, "camera": True}) == "forbidden"
    await s["participant"].ok("media.state", {"mic": False, "camera": False})
    await s["organizer"].ok("moderate.chat", {"participant_id": room.participant.id, "allowed": False})
    await s["participant"].until("participant.updated", id=room.participant.id, chat_allowed=False)
    assert await s["participant"].refused("chat.send", {"text": "let me talk"}) == "forbidden"
    refusals = [r.getMessage() for r in caplog.records if r.name == "meetings.consumers"]
    assert any("chat.send" in text and str(room.participant.id) in text for text in refusals)
    await s["organizer"].ok("moderate.chat", {"participant_id": room.participant.id, "allowed": True})
    await s["participant"].ok("chat.send", {"text": "thanks"})


async def test_it_kicks_someone_out_at_once_and_lets_them_back_in_a_normal_room(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    await s["creator"].ok("moderate.kick", {"participant_id": room.participant.id})
    kicked = await s["participant"].until("you.kicked")
    assert kicked["body"] == {"by": "Cora Creator", "banned": False}
    assert await s["participant"].closed() == 4403
    left = await s["presenter"].until("participant.left", participant_id=room.participant.id)
    assert left["body"]["reason"] == "kicked"
    # Not in the room any more: the socket needs the join page first.
    assert await sockets.refused(room.path, room.participant.cookie) == 4403
    again = await db(services.join_meeting, room.meeting, session_key=room.participant.cookie, name="Paul")
    assert (again.pk, again.state) == (room.participant.id, Participant.State.JOINED)
    back = await sockets.open(room, room.participant)
    await back.ping_works()


async def test_it_bars_a_kicked_person_from_a_room_that_moderates_participants(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    await s["creator"].ok("moderate.kick", {"participant_id": lobby_room.participant.id})
    assert (await s["participant"].until("you.kicked"))["body"]["banned"] is True
    assert await s["participant"].closed() == 4403
    with pytest.raises(services.JoinRefused):
        await db(services.join_meeting, lobby_room.meeting, session_key=lobby_room.participant.cookie, name="Paul")
    assert await sockets.refused(lobby_room.path, lobby_room.participant.cookie) == 4403


async def test_it_removes_without_a_ban_in_a_moderated_room_when_asked_and_the_person_waits_again(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    await s["creator"].ok("moderate.kick", {"participant_id": lobby_room.participant.id, "ban": False})
    assert (await s["participant"].until("you.kicked"))["body"] == {"by": "Cora Creator", "banned": False}
    assert await s["participant"].closed() == 4403
    again = await db(services.join_meeting, lobby_room.meeting, session_key=lobby_room.participant.cookie, name="Paul")
    assert (again.pk, again.state, again.is_banned) == (lobby_room.participant.id, Participant.State.LOBBY, False)
    assert (await s["creator"].until("lobby.request"))["body"]["id"] == lobby_room.participant.id


async def test_it_bans_when_asked_in_a_moderated_room(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    await s["creator"].ok("moderate.kick", {"participant_id": lobby_room.participant.id, "ban": True})
    assert (await s["participant"].until("you.kicked"))["body"]["banned"] is True
    with pytest.raises(services.JoinRefused):
        await db(services.join_meeting, lobby_room.meeting, session_key=lobby_room.participant.cookie, name="Paul")


async def test_it_ends_the_meeting_for_everyone_and_closes_every_socket(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "presenter", "participant")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    assert await s["participant"].refused("meeting.end") == "forbidden"
    assert await s["creator"].ok("meeting.end") == {}
    for socket in [*s.values(), guest]:
        assert (await socket.until("meeting.ended"))["body"] == {"by": "Cora Creator"}
        assert await socket.closed() == 4410
    assert await sockets.refused(lobby_room.path, lobby_room.creator.cookie) == 4410


# --- Events passed on at once (core.serve's parley.write_now) --------------------------------------


def at_once(sockets, socket) -> list[str]:
    """The event types this socket's server wrote at once, outside its turn."""
    return [json.loads(text)["type"] for text in sockets.written_at_once[socket.communicator]]


async def test_it_passes_other_peoples_events_on_at_once_between_turns(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    await all_quiet(s)
    await s["creator"].ok("chat.send", {"text": "hello"})
    await s["creator"].ok("reaction.send", {"emoji": "🎉"})
    for name in ("presenter", "participant"):
        assert [m["type"] for m in [await s[name].until("chat.message"), await s[name].until("reaction")]] == ["chat.message", "reaction"]
        assert at_once(sockets, s[name])[-2:] == ["chat.message", "reaction"]


async def test_it_keeps_the_events_that_change_a_socket_for_its_turn_and_what_follows_in_order(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    await all_quiet(s)
    await s["creator"].ok("role.change", {"participant_id": lobby_room.participant.id, "role": "organizer"})
    await s["creator"].ok("chat.send", {"text": "welcome, organizer"})
    received = [
        await s["participant"].until("participant.updated", id=lobby_room.participant.id),
        await s["participant"].until("chat.message"),
    ]
    assert [m["type"] for m in received] == ["participant.updated", "chat.message"]
    assert "participant.updated" not in at_once(sockets, s["participant"])  # its role changed in its turn
    # Its new role counts for what follows: the organizers' events reach it.
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    await s["participant"].until("lobby.request", id=guest_seat.id)
    await s["creator"].ok("moderate.kick", {"participant_id": lobby_room.participant.id})
    assert (await s["participant"].until("you.kicked"))["body"]["by"] == "Cora Creator"
    assert await s["participant"].closed() == 4403
    assert "you.kicked" not in at_once(sockets, s["participant"])


async def test_it_passes_an_organizers_event_on_at_once_to_organizers_only(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    await all_quiet(s)
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    await s["creator"].until("lobby.request", id=guest_seat.id)
    assert "lobby.request" in at_once(sockets, s["creator"])
    assert await s["participant"].drain() == []
    assert at_once(sockets, s["participant"]) == []


async def test_it_works_the_same_on_a_server_that_cannot_write_at_once():
    pool = SocketPool(plain=True)
    try:
        room = await db(make_room)
        s = await open_everyone(pool, room, "creator", "participant")
        await s["creator"].ok("chat.send", {"text": "hello"})
        assert (await s["participant"].until("chat.message"))["body"]["text"] == "hello"
        assert pool.written_at_once == {}
    finally:
        await disconnect_all(pool.opened)


# --- Every command refused ----------------------------------------------------------------------


# (who, type, body, code); chat rows are spread so that no socket hits its chat rate.
REFUSALS = [
    # Wrong role.
    ("participant", "role.change", {"participant_id": "presenter", "role": "organizer"}, "forbidden"),
    ("presenter", "moderate.media", {"participant_id": "participant", "kind": "mic", "allowed": False}, "forbidden"),
    ("participant", "moderate.chat", {"participant_id": "presenter", "allowed": False}, "forbidden"),
    ("presenter", "moderate.kick", {"participant_id": "participant"}, "forbidden"),
    ("presenter", "lobby.accept", {"participant_id": "participant"}, "forbidden"),
    ("participant", "lobby.reject", {"participant_id": "presenter"}, "forbidden"),
    ("presenter", "lobby.accept_all", {}, "forbidden"),
    ("participant", "lobby.reject_all", {}, "forbidden"),
    ("presenter", "meeting.end", {}, "forbidden"),
    ("participant", "share.start", {"kind": "screen", "stream_id": "s"}, "forbidden"),
    # The creator is protected from other organizers; nobody kicks themselves.
    ("organizer", "role.change", {"participant_id": "creator", "role": "participant"}, "forbidden"),
    ("organizer", "moderate.media", {"participant_id": "creator", "kind": "camera", "allowed": False}, "forbidden"),
    ("organizer", "moderate.chat", {"participant_id": "creator", "allowed": False}, "forbidden"),
    ("organizer", "moderate.kick", {"participant_id": "creator"}, "forbidden"),
    ("organizer", "moderate.kick", {"participant_id": "organizer"}, "forbidden"),
    # Unknown targets.
    ("organizer", "moderate.kick", {"participant_id": 987_654_321}, "not_found"),
    ("organizer", "moderate.media", {"participant_id": 0, "kind": "mic", "allowed": False}, "not_found"),
    ("organizer", "role.change", {"participant_id": 10**30, "role": "presenter"}, "not_found"),
    ("organizer", "lobby.accept", {"participant_id": "participant"}, "not_found"),
    ("organizer", "lobby.reject", {"participant_id": 987_654_321}, "not_found"),
    ("participant", "share.stop", {}, "not_found"),
    # Wrong fields, and forged identity fields.
    ("organizer", "role.change", {"participant_id": "participant", "role": "king"}, "invalid"),
    ("organizer", "role.change", {"participant_id": "participant"}, "invalid"),
    ("organizer", "moderate.media", {"participant_id": "participant", "kind": "screen", "allowed": False}, "invalid"),
    ("organizer", "moderate.media", {"participant_id": "participant", "kind": "mic", "allowed": 0}, "invalid"),
    ("organizer", "moderate.chat", {"participant_id": "participant", "allowed": "no"}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": 1.0}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": True}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": "participant", "ban": "yes"}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": "participant", "ban": None}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": "participant", "ban": 1}, "invalid"),
    ("organizer", "moderate.kick", {"participant_id": "participant", "ban": False, "for": "good"}, "invalid"),
    # A ban needs a meeting that moderates participants (this one does not).
    ("organizer", "moderate.kick", {"participant_id": "participant", "ban": True}, "forbidden"),
    ("presenter", "moderate.kick", {"participant_id": "participant", "ban": False}, "forbidden"),
    ("organizer", "meeting.end", {"now": True}, "invalid"),
    ("organizer", "lobby.accept_all", {"participant_id": 1}, "invalid"),
    ("participant", "chat.send", {"text": "hi", "from": "creator"}, "invalid"),
    ("participant", "chat.send", {"text": "hi", "role": "organizer"}, "invalid"),
    ("participant", "chat.send", {"text": "hi", "participant_id": "creator"}, "invalid"),
    ("presenter", "chat.send", {"text": "   "}, "invalid"),
    ("presenter", "chat.send", {"text": "x" * 2001}, "invalid"),
    ("presenter", "chat.send", {"text": "nul \x00 byte"}, "invalid"),
    ("organizer", "chat.send", {"text": ["hi"]}, "invalid"),
    ("participant", "reaction.send", {"emoji": "💩"}, "invalid"),
    ("participant", "reaction.send", {"emoji": "👍", "from": "creator"}, "invalid"),
    ("participant", "media.state", {"mic": 1, "camera": False}, "invalid"),
    ("participant", "media.state", {"mic": True}, "invalid"),
    ("participant", "media.state", {"mic": True, "camera": False, "id": "participant"}, "invalid"),
    ("presenter", "share.start", {"kind": "gif", "stream_id": "s"}, "invalid"),
    ("presenter", "share.start", {"kind": "screen", "stream_id": ""}, "invalid"),
    ("presenter", "share.start", {"kind": "screen", "stream_id": "s", "from": "creator"}, "invalid"),
    ("participant", "share.stop", {"participant_id": "presenter"}, "invalid"),
    ("participant", "ping", {"x": 1}, "invalid"),
]


async def test_it_refuses_each_command_it_must_changes_nothing_and_logs_forbidden_ones(sockets, room, caplog):
    s = await open_everyone(sockets, room, "creator", "organizer", "presenter", "participant")
    before = await db(_states, room.meeting.pk)
    caplog.set_level(logging.WARNING, logger="meetings.consumers")
    for who, kind, body, code in REFUSALS:
        row = f"{who} {kind} {body}"
        # A seat name as participant_id stands for that seat's participant id.
        body = {k: room.seats[v].id if k == "participant_id" and isinstance(v, str) else v for k, v in body.items()}
        caplog.clear()
        assert await s[who].refused(kind, body) == code, row
        await s[who].ping_works()
        assert await db(_states, room.meeting.pk) == before, row
        logged = [r.getMessage() for r in caplog.records if r.name == "meetings.consumers"]
        if code == "forbidden":
            assert any(kind in text and str(room.seats[who].id) in text for text in logged), row
    # Nobody was told anything.
    assert await all_quiet(s) == {}


# --- Fuzzing ------------------------------------------------------------------------------------


def _fuzz_frames() -> list[tuple[str | bytes, str, str | None]]:
    """(frame, error code, reply id)."""
    deep = lambda n: '{"type": "ping", "id": "d", "body": {"x": ' + "[" * n + "]" * n + "}}"  # noqa: E731
    return [
        ("{not json", "bad_json", None),
        ("", "bad_json", None),
        ("null", "bad_envelope", None),
        ("[1, 2]", "bad_envelope", None),
        ('"chat.send"', "bad_envelope", None),
        ("12", "bad_envelope", None),
        ('{"type": 5}', "bad_envelope", None),
        ('{"type": "Chat.Send"}', "bad_envelope", None),
        ('{"type": "chat.send", "id": 7}', "bad_envelope", None),
        ('{"type": "chat.send", "id": "a b"}', "bad_envelope", None),
        ('{"type": "chat.send", "body": []}', "bad_envelope", None),
        ('{"type": "chat.send", "body": "hi"}', "bad_envelope", None),
        ('{"type": "chat.send", "body": {"text": "hi"}, "from": 1}', "bad_envelope", None),
        ('{"type": "ping", "type": "meeting.end"}', "bad_envelope", None),
        ('{"type": "chat.send", "id": "f1", "body": {"text": "a", "text": "b"}}', "bad_envelope", None),
        ('{"type": "ping", "body": {"x": NaN}}', "bad_json", None),
        ('{"type": "chat.send", "id": "f2", "body": {"text": "\\ud800"}}', "bad_json", None),
        (deep(1000), "bad_envelope", None),
        (deep(30), "bad_envelope", None),
        ("[" * 50_000, "bad_envelope", None),
        (json.dumps({"type": "ping", "id": "big", "body": {"pad": "x" * 70_000}}), "too_large", None),
        (b'{"type": "ping"}', "bad_envelope", None),
        (b"\x00\xff" * 100, "bad_envelope", None),
        ('{"type": "no.such.type", "id": "u1"}', "unknown_type", "u1"),
        ('{"type": "request.ignore", "id": "u2", "body": {"request_id": 1}}', "unknown_type", "u2"),
        ('{"type": "chat.send", "id": "f3", "body": {"text": 5}}', "invalid", "f3"),
        ('{"type": "chat.send", "id": "f4", "body": {"text": {"nested": [[[]]]}}}', "invalid", "f4"),
        ('{"type": "moderate.kick", "id": "f5", "body": {"participant_id": 1e400}}', "invalid", "f5"),
        ('{"type": "signal", "id": "f6", "body": {"to": null, "candidate": null}}', "invalid", "f6"),
    ]


async def test_it_answers_fuzzed_frames_with_errors_and_the_room_keeps_working(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    before = await db(_states, room.meeting.pk)
    fuzzer = s["participant"]
    for frame, code, reply_id in _fuzz_frames():
        kind = "bytes" if isinstance(frame, bytes) else "text"
        await fuzzer.communicator.send_input({"type": "websocket.receive", kind: frame})
        reply = await fuzzer.reply_to(reply_id)
        assert (reply["type"], reply["body"]["code"]) == ("error", code), frame[:60]
        await fuzzer.ping_works()
    assert await db(_states, room.meeting.pk) == before
    assert await all_quiet(s) == {}
    # Everyone, the fuzzer included, still chats.
    await s["presenter"].ok("chat.send", {"text": "still here?"})
    for socket in s.values():
        assert (await socket.until("chat.message"))["body"]["text"] == "still here?"
    await fuzzer.ok("chat.send", {"text": "yes"})
    assert (await s["creator"].until("chat.message"))["body"]["text"] == "yes"


async def test_it_rate_limits_chat_and_reactions_per_socket(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    chat_limit, reaction_limit = room_features.rates["chat"][0], room_features.rates["reaction"][0]
    for n in range(chat_limit):
        await s["participant"].ok("chat.send", {"text": f"message {n}"})
    assert await s["participant"].refused("chat.send", {"text": "one too many"}) == "rate_limited"
    for _ in range(reaction_limit):
        await s["participant"].ok("reaction.send", {"emoji": "👍"})
    assert await s["participant"].refused("reaction.send", {"emoji": "👍"}) == "rate_limited"
    # Another socket has its own allowance.
    await s["creator"].ok("chat.send", {"text": "mine still goes"})


# --- The lobby ----------------------------------------------------------------------------------


async def test_it_tells_a_waiting_guest_nothing_of_the_meeting(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    assert guest.first["body"] == {"status": "waiting", "recording": False}
    request = await s["creator"].until("lobby.request", id=guest_seat.id)
    assert (request["body"]["name"], request["body"]["state"]) == ("Gus Guest", "lobby")
    # The room goes on: people come, talk, react, signal, share, change roles.
    presenter = await sockets.open(lobby_room, lobby_room.presenter)
    await s["participant"].ok("chat.send", {"text": "secret plans"})
    await s["participant"].ok("reaction.send", {"emoji": "👍"})
    await s["creator"].ok("signal", {"to": lobby_room.participant.id, "description": {"type": "offer", "sdp": SDP}})
    await presenter.ok("share.start", {"kind": "screen", "stream_id": "s"})
    await s["creator"].ok("role.change", {"participant_id": lobby_room.participant.id, "role": "presenter"})
    await s["participant"].ok("media.state", {"mic": True, "camera": True})
    assert await s["participant"].refused("signal", {"to": guest_seat.id, "candidate": None}) == "not_found"
    for kind, body in (
        ("chat.send", {"text": "let me in"}),
        ("reaction.send", {"emoji": "✋"}),
        ("media.state", {"mic": True, "camera": False}),
        ("signal", {"to": lobby_room.creator.id, "candidate": None}),
        ("share.start", {"kind": "screen", "stream_id": "s"}),
        ("lobby.accept", {"participant_id": guest_seat.id}),
        ("meeting.end", {}),
    ):
        assert await guest.refused(kind, body) == "forbidden", kind
    await guest.ping_works()
    assert await guest.drain() == []
    assert (await s["participant"].until("chat.message"))["body"]["text"] == "secret plans"


async def test_it_shows_the_lobby_to_organizers_only(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    await s["creator"].until("lobby.request", id=guest_seat.id)
    assert await s["participant"].drain() == []
    assert (await sockets.open(lobby_room, lobby_room.participant)).first["body"]["lobby"] == []
    organizer = await sockets.open(lobby_room, lobby_room.organizer)
    assert [p["id"] for p in organizer.first["body"]["lobby"]] == [guest_seat.id]


async def test_it_shows_a_promoted_organizer_who_is_waiting(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    first = await db(join_lobby, lobby_room, "First Guest")
    await s["creator"].ok("role.change", {"participant_id": lobby_room.participant.id, "role": "organizer"})
    assert (await s["participant"].until("lobby.request", id=first.id))["body"]["name"] == "First Guest"
    second = await db(join_lobby, lobby_room, "Second Guest")
    await s["participant"].until("lobby.request", id=second.id)
    await s["participant"].ok("lobby.accept", {"participant_id": second.id})


async def test_it_lets_an_accepted_guest_into_the_room_on_the_same_socket(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator", "participant")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    await s["creator"].ok("lobby.accept", {"participant_id": guest_seat.id})
    assert (await guest.until("lobby.status"))["body"] == {"status": "accepted"}
    snapshot = (await guest.until("room.snapshot"))["body"]
    assert (snapshot["self"]["id"], snapshot["self"]["state"]) == (guest_seat.id, "joined")
    assert {p["id"] for p in snapshot["participants"]} >= {lobby_room.creator.id, lobby_room.participant.id}
    removed = await s["creator"].until("lobby.removed")
    assert removed["body"] == {"participant_id": guest_seat.id, "outcome": "accepted"}
    for socket in s.values():
        assert (await socket.until("participant.joined", id=guest_seat.id))["body"]["state"] == "joined"
    await guest.ok("chat.send", {"text": "hello everyone"})
    assert (await s["participant"].until("chat.message"))["body"]["participant_id"] == guest_seat.id
    await s["participant"].ok("signal", {"to": guest_seat.id, "description": {"type": "offer", "sdp": SDP}})
    assert (await guest.until("signal"))["body"]["from"] == lobby_room.participant.id


async def test_it_closes_the_socket_of_a_rejected_guest(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator")
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    await s["creator"].ok("lobby.reject", {"participant_id": guest_seat.id})
    assert (await guest.until("lobby.status"))["body"] == {"status": "rejected"}
    assert await guest.closed() == 4403
    assert (await s["creator"].until("lobby.removed"))["body"] == {"participant_id": guest_seat.id, "outcome": "rejected"}
    assert await sockets.refused(lobby_room.path, guest_seat.cookie) == 4403


async def test_it_accepts_and_rejects_everyone_waiting(sockets, lobby_room):
    s = await open_everyone(sockets, lobby_room, "creator")
    seats = [await db(join_lobby, lobby_room, f"Guest {n}") for n in range(2)]
    guests = [await sockets.open(lobby_room, seat, first="lobby.status") for seat in seats]
    assert await s["creator"].ok("lobby.accept_all") == {"count": 2}
    for guest in guests:
        await guest.until("room.snapshot")
    late_seat = await db(join_lobby, lobby_room, "Late Guest")
    late = await sockets.open(lobby_room, late_seat, first="lobby.status")
    assert await s["creator"].ok("lobby.reject_all") == {"count": 1}
    assert await late.closed() == 4403


async def test_it_tells_the_lobby_whether_an_organizer_is_there(sockets, lobby_room):
    guest_seat = await db(join_lobby, lobby_room, "Gus Guest")
    guest = await sockets.open(lobby_room, guest_seat, first="lobby.status")
    assert guest.first["body"] == {"status": "no_organizer", "recording": False}
    creator = await sockets.open(lobby_room, lobby_room.creator)
    assert (await guest.until("lobby.status"))["body"] == {"status": "waiting", "recording": False}
    await creator.communicator.disconnect()
    assert (await guest.until("lobby.status"))["body"] == {"status": "no_organizer", "recording": False}


# --- Presence -----------------------------------------------------------------------------------


async def test_it_replaces_the_older_socket_of_the_same_participant(sockets, room):
    s = await open_everyone(sockets, room, "creator", "participant")
    second = await sockets.open(room, room.participant)
    assert await s["participant"].until("session.replaced") == {"type": "session.replaced", "id": None, "body": {}}
    assert await s["participant"].closed() == 4409
    await s["participant"].communicator.disconnect()
    await second.ping_works()
    # The room never saw the participant drop.
    assert [m for m in await s["creator"].drain() if m["body"].get("connection") == "reconnecting"] == []
    current = await db(Participant.objects.get, pk=room.participant.id)
    assert (current.connected, current.state) == (True, Participant.State.JOINED)
    await s["creator"].ok("signal", {"to": room.participant.id, "candidate": None})
    assert (await second.until("signal"))["body"]["from"] == room.creator.id


async def test_it_lets_a_second_browser_with_the_same_invitation_link_take_over_the_first(sockets, room):
    invitation = await db(make_invitation, room.meeting, name="Ines Invitee")
    first_seat = await db(join_with_link, room, invitation)
    creator = await sockets.open(room, room.creator)
    first = await sockets.open(room, first_seat)
    await creator.until_online(first_seat.id)
    second_seat = await db(join_with_link, room, invitation)
    assert await first.until("session.replaced") == {"type": "session.replaced", "id": None, "body": {}}
    assert await first.closed() == 4409
    second = await sockets.open(room, second_seat)
    me = second.first["body"]["self"]
    assert (me["id"], me["name"], me["connection"]) == (first_seat.id, "Ines Invitee", "online")
    # One person in the room, not two of the same name; the first browser is nobody now.
    assert await db(Participant.objects.filter(meeting=room.meeting, invitation=invitation).count) == 1
    roster = [p["name"] for p in (await sockets.open(room, room.organizer)).first["body"]["participants"]]
    assert roster.count("Ines Invitee") == 1
    assert await sockets.refused(room.path, first_seat.cookie) == 4403
    await creator.ok("signal", {"to": first_seat.id, "candidate": None})
    assert (await second.until("signal"))["body"]["from"] == room.creator.id


async def test_it_does_not_let_the_link_of_a_banned_invitee_in_from_another_browser(sockets, room):
    await db(Meeting.objects.filter(pk=room.meeting.pk).update, moderate_participants=True)  # a kick bans
    invitation = await db(make_invitation, room.meeting, name="Ines Invitee")
    first_seat = await db(join_with_link, room, invitation)
    creator = await sockets.open(room, room.creator)
    first = await sockets.open(room, first_seat)
    await creator.ok("moderate.kick", {"participant_id": first_seat.id})
    assert (await first.until("you.kicked"))["body"]["banned"] is True
    assert await first.closed() == 4403
    with pytest.raises(services.JoinRefused) as refused:
        await db(join_with_link, room, invitation)
    assert refused.value.code == "banned"
    banned = await db(Participant.objects.get, pk=first_seat.id)
    assert (banned.session_key, banned.state, banned.is_banned) == (first_seat.cookie, Participant.State.KICKED, True)
    assert await db(Participant.objects.filter(meeting=room.meeting, invitation=invitation).count) == 1


async def test_it_keeps_the_same_participant_through_a_reconnect_within_the_grace(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter")
    await s["presenter"].communicator.disconnect()
    dropped = await s["creator"].until("participant.updated", id=room.presenter.id)
    assert (dropped["body"]["connection"], dropped["body"]["role"]) == ("reconnecting", "presenter")
    assert await db(services.sweep_disconnected) == 0
    back = await sockets.open(room, room.presenter)
    me = back.first["body"]["self"]
    assert (me["id"], me["role"], me["connection"]) == (room.presenter.id, "presenter", "online")
    await s["creator"].until_online(room.presenter.id)


async def test_it_lets_go_of_someone_away_past_the_grace(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter")
    await s["presenter"].ok("share.start", {"kind": "screen", "stream_id": "s"})
    await s["presenter"].communicator.disconnect()
    await s["creator"].until("participant.updated", id=room.presenter.id, connection="reconnecting")
    later = timezone.now() + timedelta(seconds=settings.PARLEY_RECONNECT_GRACE + 1)
    assert await db(services.sweep_disconnected, later) == 1
    assert (await s["creator"].until("share.stopped"))["body"]["participant_id"] == room.presenter.id
    left = await s["creator"].until("participant.left", participant_id=room.presenter.id)
    assert left["body"]["reason"] == "timeout"
    assert await sockets.refused(room.path, room.presenter.cookie) == 4403


async def test_it_closes_the_room_socket_of_someone_who_moved_to_another_meeting(sockets, room):
    s = await open_everyone(sockets, room, "creator", "organizer")
    elsewhere = await db(make_meeting, room.meeting.owner, room_type=RoomType.SHARED)
    organizer_user = await db(lambda: room.organizer.participant.user)
    await db(services.join_meeting, elsewhere, user=organizer_user)
    assert (await s["organizer"].until("participant.left", participant_id=room.organizer.id))["body"]["reason"] == "moved"
    assert await s["organizer"].closed() == 4403
    assert (await s["creator"].until("participant.left", participant_id=room.organizer.id))["body"]["reason"] == "moved"
