"""meetings.services of the room: lobby, presence, media, moderation, sharing,
reactions, the end, the snapshot — and the events each one publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import WebProcess
from meetings import chat, services, tasks
from meetings.models import ChatMessage, Meeting, Participant, Role, RoomType, SharePolicy
from meetings.remote.models import HelperPairing
from meetings.roomkit import RoomError
from meetings.services import JoinRefused, ShareBusy
from tests.factories import Sent, make_extension, make_invitation, make_meeting, make_participant, make_user

pytestmark = pytest.mark.django_db

JOINED, LOBBY, LEFT = Participant.State.JOINED, Participant.State.LOBBY, Participant.State.LEFT
KICKED, REJECTED = Participant.State.KICKED, Participant.State.REJECTED


@pytest.fixture
def sent(monkeypatch):
    recorder = Sent()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


@dataclass
class Room:
    meeting: Meeting
    creator: Participant
    organizer: Participant
    presenter: Participant
    participant: Participant

    def reload(self, person: Participant) -> Participant:
        return Participant.objects.select_related("meeting").get(pk=person.pk)


def _room(**meeting_fields) -> Room:
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED, **meeting_fields)
    return Room(
        meeting=meeting,
        creator=make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator"),
        organizer=make_participant(meeting, user=make_user(), role=Role.ORGANIZER, name="Olaf Organizer"),
        presenter=make_participant(meeting, role=Role.PRESENTER, name="Pia Presenter"),
        participant=make_participant(meeting, name="Paul Participant"),
    )


@pytest.fixture
def room() -> Room:
    return _room()


@pytest.fixture
def lobby_room() -> Room:
    return _room(lobby_enabled=True, moderate_participants=True)


def _connect(*people) -> None:
    for person in people:
        services.connect_participant(person, f"channel-{person.pk}")


def _state(person) -> str:
    return Participant.objects.get(pk=person.pk).state


def _state_and_ban(person) -> tuple[str, bool]:
    current = Participant.objects.get(pk=person.pk)
    return current.state, current.is_banned


# --- Joining with a lobby -------------------------------------------------------------------


def test_it_puts_a_guest_of_a_lobby_meeting_in_the_lobby_and_tells_organizers_only(lobby_room, committed, sent):
    with committed():
        guest = services.join_meeting(lobby_room.meeting, session_key="guest-1", name="Gus")
    assert guest.state == LOBBY
    assert sent.room(lobby_room.meeting) == []
    [(event, body)] = sent.room(lobby_room.meeting, audience="organizers")
    assert (event, body["id"], body["state"], body["name"]) == ("lobby.request", guest.pk, "lobby", "Gus")


def test_it_lets_organizers_past_the_lobby(lobby_room, committed, sent):
    invited = make_invitation(lobby_room.meeting, name="Ines", role=Role.ORGANIZER)
    with committed():
        assert services.join_meeting(lobby_room.meeting, user=lobby_room.meeting.owner).state == JOINED
        assert services.join_meeting(lobby_room.meeting, session_key="inv", invitation=invited).state == JOINED
    assert [event for event, _b in sent.room(lobby_room.meeting)] == ["participant.joined", "participant.joined"]


def test_it_does_not_start_the_meeting_or_count_the_seat_of_a_waiting_guest(lobby_room):
    Meeting.objects.filter(pk=lobby_room.meeting.pk).update(max_participants=5)
    services.join_meeting(lobby_room.meeting, session_key="guest-2", name="Gus")
    meeting = Meeting.objects.get(pk=lobby_room.meeting.pk)
    assert meeting.started_at is None
    assert meeting.participants.filter(state=JOINED).count() == 4


def test_it_keeps_an_admitted_person_in_on_a_reload_but_not_after_leaving(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-3", name="Gus")
    services.accept_lobby(lobby_room.creator, guest.pk)
    assert services.join_meeting(lobby_room.meeting, session_key="guest-3", name="Gus").state == JOINED
    services.leave_meeting(guest)
    assert services.join_meeting(lobby_room.meeting, session_key="guest-3", name="Gus").state == LOBBY


def test_it_lets_a_rejected_guest_knock_again(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-4", name="Gus")
    services.reject_lobby(lobby_room.creator, guest.pk)
    assert _state(guest) == REJECTED
    assert services.join_meeting(lobby_room.meeting, session_key="guest-4", name="Gus").state == LOBBY


def test_it_starts_the_reconnect_grace_at_join_so_a_socket_that_never_comes_is_let_go(room, settings):
    guest = services.join_meeting(room.meeting, session_key="guest-5", name="Gus")
    assert (guest.connected, guest.disconnected_at is not None) == (False, True)
    assert services.sweep_disconnected(timezone.now()) == 0
    later = timezone.now() + timedelta(seconds=settings.PARLEY_RECONNECT_GRACE + 1)
    assert services.sweep_disconnected(later) == 1
    assert _state(guest) == LEFT


# --- Presence -------------------------------------------------------------------------------


def test_it_keeps_one_socket_per_participant_and_returns_the_one_it_replaces(room):
    assert services.connect_participant(room.participant, "first") == ""
    assert services.connect_participant(room.participant, "second") == "first"
    # The replaced socket closing later changes nothing.
    assert services.disconnect_participant(room.participant, "first") is False
    current = room.reload(room.participant)
    assert (current.connected, current.channel_name) == (True, "second")


def test_it_shows_a_dropped_participant_as_reconnecting_then_online(room, committed, sent):
    with committed():
        services.connect_participant(room.presenter, "c1")
    assert sent.room(room.meeting) == [("participants.online", {"ids": [room.presenter.pk]})]
    sent.clear()
    with committed():
        assert services.disconnect_participant(room.presenter, "c1") is True
    [(event, body)] = sent.room(room.meeting)
    assert (event, body["id"], body["connection"], body["role"]) == ("participant.updated", room.presenter.pk, "reconnecting", "presenter")
    assert room.reload(room.presenter).disconnected_at is not None
    sent.clear()
    with committed():
        services.connect_participant(room.presenter, "c2")
    assert sent.room(room.meeting) == [("participants.online", {"ids": [room.presenter.pk]})]
    current = room.reload(room.presenter)
    assert (current.pk, current.role, current.state, current.disconnected_at) == (room.presenter.pk, Role.PRESENTER, JOINED, None)


def test_it_does_not_announce_a_second_socket_of_someone_online(room, committed, sent):
    services.connect_participant(room.participant, "c1")
    with committed():
        services.connect_participant(room.participant, "c2")
    assert sent.room(room.meeting) == []


@pytest.mark.parametrize("state", [LEFT, KICKED, REJECTED])
def test_it_refuses_a_socket_to_someone_out_of_the_meeting(room, state):
    Participant.objects.filter(pk=room.participant.pk).update(state=state)
    with pytest.raises(PermissionDenied):
        services.connect_participant(room.participant, "c1")
    with pytest.raises(PermissionDenied):
        services.room_participant(room.meeting.public_id, None, room.participant.session_key)


def test_it_resolves_the_room_participant_from_the_session(room):
    found = services.room_participant(room.meeting.public_id, AnonymousUser(), room.participant.session_key)
    assert found == room.participant
    assert services.room_participant(room.meeting.public_id, room.meeting.owner, None) == room.creator
    with pytest.raises(Http404):
        services.room_participant("no-such-meeting", None, room.participant.session_key)
    with pytest.raises(PermissionDenied):
        services.room_participant(room.meeting.public_id, AnonymousUser(), "stranger")
    Participant.objects.filter(pk=room.participant.pk).update(is_banned=True)
    with pytest.raises(PermissionDenied):
        services.room_participant(room.meeting.public_id, None, room.participant.session_key)
    Meeting.objects.filter(pk=room.meeting.pk).update(ended_at=timezone.now())
    with pytest.raises(RoomError) as refused:
        services.room_participant(room.meeting.public_id, room.meeting.owner, None)
    assert refused.value.code == "ended"


def test_it_sweeps_only_people_away_past_the_grace(room, settings, committed, sent):
    settings.PARLEY_RECONNECT_GRACE = 20
    _connect(room.presenter, room.participant, room.organizer)
    services.start_share(room.presenter, kind="screen", stream_id="s1")
    services.disconnect_participant(room.presenter, f"channel-{room.presenter.pk}")
    services.disconnect_participant(room.participant, f"channel-{room.participant.pk}")
    now = timezone.now()
    assert services.sweep_disconnected(now + timedelta(seconds=10)) == 0
    with committed():
        assert services.sweep_disconnected(now + timedelta(seconds=21)) == 2
    assert {_state(room.presenter), _state(room.participant), _state(room.organizer)} == {LEFT, JOINED}
    assert _state(room.organizer) == JOINED
    left = [(body["participant_id"], body["reason"]) for event, body in sent.room(room.meeting) if event == "participant.left"]
    assert sorted(left) == sorted([(room.presenter.pk, "timeout"), (room.participant.pk, "timeout")])
    assert ("share.stopped", {"participant_id": room.presenter.pk, "kind": "screen"}) in sent.room(room.meeting)
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant is None


def test_it_takes_the_sockets_of_a_web_process_whose_heartbeat_stopped_for_closed(room, settings, committed, sent, monkeypatch):
    """A web process killed outright runs no disconnect handler: its heartbeat
    stopping closes its sockets as of the last beat; the grace runs from there."""
    settings.PARLEY_WEB_HEARTBEAT_SECONDS, settings.PARLEY_RECONNECT_GRACE = 5, 20
    monkeypatch.setattr("core.presence.this_process", lambda: "web-a")
    _connect(room.presenter, room.participant)
    monkeypatch.setattr("core.presence.this_process", lambda: "web-b")
    _connect(room.organizer)
    last_beat = timezone.now()
    WebProcess.objects.create(name="web-a", last_seen=last_beat)
    WebProcess.objects.create(name="web-b", last_seen=last_beat + timedelta(seconds=30))

    assert services.sweep_disconnected(last_beat + timedelta(seconds=14)) == 0  # two beats missed: not yet
    assert Participant.objects.filter(connected=True).count() == 3
    with committed():
        assert services.sweep_disconnected(last_beat + timedelta(seconds=16)) == 0
    dropped = Participant.objects.filter(pk__in=[room.presenter.pk, room.participant.pk])
    assert {(p.connected, p.disconnected_at, p.web_process) for p in dropped} == {(False, last_beat, "")}
    reconnecting = {
        body["id"] for event, body in sent.room(room.meeting) if event == "participant.updated" and body["connection"] == "reconnecting"
    }
    assert reconnecting == {room.presenter.pk, room.participant.pk}
    assert not WebProcess.objects.filter(name="web-a").exists()
    # The grace counts from the last beat, not from when the sweep noticed.
    with committed():
        assert services.sweep_disconnected(last_beat + timedelta(seconds=21)) == 2
    assert (_state(room.presenter), _state(room.participant), _state(room.organizer)) == (LEFT, LEFT, JOINED)
    assert Participant.objects.get(pk=room.organizer.pk).connected


def test_it_sweeps_a_lobby_guest_who_went_away(lobby_room, settings, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-6", name="Gus")
    services.connect_participant(guest, "g1")
    services.disconnect_participant(guest, "g1")
    with committed():
        assert services.sweep_disconnected(timezone.now() + timedelta(seconds=settings.PARLEY_RECONNECT_GRACE + 1)) == 1
    assert _state(guest) == LEFT
    assert sent.room(lobby_room.meeting, audience="organizers") == [("lobby.removed", {"participant_id": guest.pk, "outcome": "left"})]


def test_it_runs_the_sweep_as_a_beat_task_every_five_seconds(room, settings):
    Participant.objects.filter(pk=room.participant.pk).update(disconnected_at=timezone.now() - timedelta(hours=1))
    assert tasks.sweep_disconnected.delay().get() == 1
    assert _state(room.participant) == LEFT
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-disconnected-participants"]
    assert (entry["task"], entry["schedule"]) == ("meetings.tasks.sweep_disconnected", 5.0)


def test_it_tells_the_lobby_when_the_first_organizer_comes_and_the_last_goes(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-7", name="Gus")
    assert services.lobby_status(guest) == {"status": "no_organizer", "recording": False}
    with committed():
        services.connect_participant(lobby_room.participant, "p")  # not an organizer
        services.connect_participant(lobby_room.creator, "c")
        services.connect_participant(lobby_room.organizer, "o")
    assert sent.to(guest) == [("lobby.status", {"status": "waiting", "recording": False})]
    assert services.lobby_status(guest) == {"status": "waiting", "recording": False}
    sent.clear()
    with committed():
        services.disconnect_participant(lobby_room.creator, "c")
        services.disconnect_participant(lobby_room.organizer, "o")
    assert sent.to(guest) == [("lobby.status", {"status": "no_organizer", "recording": False})]


def test_it_tells_the_lobby_of_an_organizer_promoted_after_their_socket_was_looked_up(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-7", name="Gus")
    stale = Participant.objects.get(pk=lobby_room.participant.pk)  # read as a participant
    Participant.objects.filter(pk=stale.pk).update(role=Role.ORGANIZER)
    with committed():
        services.connect_participant(stale, "p")
    assert stale.role == Role.ORGANIZER
    assert sent.to(guest) == [("lobby.status", {"status": "waiting", "recording": False})]


# --- Media state and moderation -------------------------------------------------------------


def test_it_records_the_media_state_and_refuses_what_an_organizer_turned_off(room, committed, sent):
    with committed():
        services.set_media_state(room.participant, mic=True, camera=True)
        services.set_media_state(room.participant, mic=True, camera=True)  # unchanged: no event
    [(event, body)] = sent.room(room.meeting)
    assert (event, body["mic"], body["camera"]) == ("participant.updated", True, True)
    services.set_media_allowed(room.organizer, room.participant.pk, "mic", False)
    current = room.reload(room.participant)
    assert (current.mic_on, current.mic_allowed, current.camera_on) == (False, False, True)
    with pytest.raises(PermissionDenied):
        services.set_media_state(room.participant, mic=True, camera=True)
    services.set_media_state(room.participant, mic=False, camera=False)
    services.set_media_allowed(room.organizer, room.participant.pk, "mic", True)
    assert services.set_media_state(room.participant, mic=True, camera=False).mic_on is True


def test_it_turns_off_a_disallowed_camera_and_tells_the_room(room, committed, sent):
    services.set_media_state(room.presenter, mic=False, camera=True)
    with committed():
        services.set_media_allowed(room.creator, room.presenter.pk, "camera", False)
    [(event, body)] = sent.room(room.meeting)
    assert (event, body["id"], body["camera"], body["camera_allowed"]) == ("participant.updated", room.presenter.pk, False, False)


def test_it_turns_a_persons_chat_off_and_the_server_refuses_their_chat(room):
    services.set_chat_allowed(room.organizer, room.participant.pk, False)
    with pytest.raises(PermissionDenied):
        chat.post_chat_message(room.participant, "let me speak")
    assert not ChatMessage.objects.exists()
    services.set_chat_allowed(room.organizer, room.participant.pk, True)
    assert chat.post_chat_message(room.participant, "thanks").text == "thanks"


def _moderation_calls(room, target):
    return [
        lambda actor: services.set_media_allowed(actor, target.pk, "mic", False),
        lambda actor: services.set_chat_allowed(actor, target.pk, False),
        lambda actor: services.change_role(actor, target.pk, Role.PRESENTER),
        lambda actor: services.kick_participant(actor, target.pk),
    ]


@pytest.mark.parametrize("who", ["presenter", "participant"])
def test_it_refuses_every_moderation_to_non_organizers(room, who, committed, sent):
    actor = getattr(room, who)
    target = room.organizer
    with committed():
        for call in _moderation_calls(room, target):
            with pytest.raises(PermissionDenied):
                call(actor)
    current = room.reload(target)
    assert (current.mic_allowed, current.chat_allowed, current.role, current.state) == (True, True, Role.ORGANIZER, JOINED)
    assert sent.messages == []


def test_it_protects_the_creator_from_other_organizers(room):
    for call in _moderation_calls(room, room.creator):
        with pytest.raises(PermissionDenied):
            call(room.organizer)
    current = room.reload(room.creator)
    assert (current.mic_allowed, current.chat_allowed, current.role, current.state) == (True, True, Role.ORGANIZER, JOINED)
    # The creator may moderate the other organizer.
    services.set_chat_allowed(room.creator, room.organizer.pk, False)
    assert room.reload(room.organizer).chat_allowed is False


def test_it_answers_not_found_for_someone_not_in_the_room(room, lobby_room):
    Participant.objects.filter(pk=room.participant.pk).update(state=LEFT)
    for target_id in (room.participant.pk, lobby_room.participant.pk, 999_999, 0, -1, 2**40):
        with pytest.raises(RoomError) as refused:
            services.set_chat_allowed(room.creator, target_id, False)
        assert refused.value.code == "not_found"


def test_it_refuses_an_unknown_media_kind_or_role(room):
    with pytest.raises(ValidationError):
        services.set_media_allowed(room.creator, room.participant.pk, "screen", False)
    with pytest.raises(ValidationError):
        services.change_role(room.creator, room.participant.pk, "king")


def test_it_changes_a_role_and_tells_the_room(room, committed, sent):
    with committed():
        services.change_role(room.organizer, room.participant.pk, Role.PRESENTER)
    [(event, body)] = sent.room(room.meeting)
    assert (event, body["id"], body["role"]) == ("participant.updated", room.participant.pk, "presenter")
    assert room.reload(room.participant).role == Role.PRESENTER


def test_it_ends_the_share_of_a_demoted_presenter(room, committed, sent):
    services.start_share(room.presenter, kind="screen", stream_id="s1")
    with committed():
        services.change_role(room.creator, room.presenter.pk, Role.PARTICIPANT)
    events = [event for event, _b in sent.room(room.meeting)]
    assert events == ["share.stopped", "participant.updated"]
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant is None


def test_it_keeps_the_share_of_a_demoted_sharer_the_policy_still_allows(room):
    Meeting.objects.filter(pk=room.meeting.pk).update(share_policy=SharePolicy.EVERYONE)
    services.start_share(room.presenter, kind="screen", stream_id="s1")
    services.change_role(room.creator, room.presenter.pk, Role.PARTICIPANT)
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant_id == room.presenter.pk


def test_it_shows_a_new_organizer_who_is_waiting(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-8", name="Gus")
    with committed():
        services.change_role(lobby_room.creator, lobby_room.participant.pk, Role.ORGANIZER)
    [(event, body)] = sent.to(lobby_room.participant)
    assert (event, body["id"], body["state"]) == ("lobby.request", guest.pk, "lobby")


def test_it_kicks_without_ban_in_a_normal_room_and_the_person_may_rejoin(room, committed, sent):
    services.connect_participant(room.participant, "victim")
    with committed():
        services.kick_participant(room.organizer, room.participant.pk)
    current = room.reload(room.participant)
    assert (current.state, current.is_banned, current.connected, current.channel_name) == (KICKED, False, False, "")
    assert sent.to(room.participant) == [("you.kicked", {"by": "Olaf Organizer", "banned": False})]
    assert ("participant.left", {"participant_id": room.participant.pk, "reason": "kicked"}) in sent.room(room.meeting)
    # The kicked socket closing is not a drop.
    assert services.disconnect_participant(room.participant, "victim") is False
    again = services.join_meeting(room.meeting, session_key=room.participant.session_key, name="Paul")
    assert (again.pk, again.state) == (room.participant.pk, JOINED)


def test_it_bans_a_kicked_person_in_a_room_that_moderates_participants(lobby_room, committed, sent):
    services.start_share(lobby_room.presenter, kind="screen", stream_id="s1")
    with committed():
        services.kick_participant(lobby_room.creator, lobby_room.presenter.pk)
    assert sent.to(lobby_room.presenter) == [("you.kicked", {"by": "Cora Creator", "banned": True})]
    assert "share.stopped" in [event for event, _b in sent.room(lobby_room.meeting)]
    assert _state_and_ban(lobby_room.presenter) == (KICKED, True)
    with pytest.raises(JoinRefused) as refused:
        services.join_meeting(lobby_room.meeting, session_key=lobby_room.presenter.session_key, name="Pia")
    assert refused.value.code == "banned"


def test_it_removes_without_a_ban_in_a_room_that_moderates_participants_when_asked(lobby_room, committed, sent):
    with committed():
        services.kick_participant(lobby_room.creator, lobby_room.presenter.pk, ban=False)
    assert sent.to(lobby_room.presenter) == [("you.kicked", {"by": "Cora Creator", "banned": False})]
    assert _state_and_ban(lobby_room.presenter) == (KICKED, False)
    # Back through the lobby, as anyone not admitted.
    again = services.join_meeting(lobby_room.meeting, session_key=lobby_room.presenter.session_key, name="Pia")
    assert (again.pk, again.state) == (lobby_room.presenter.pk, Participant.State.LOBBY)


def test_it_refuses_a_ban_where_the_meeting_does_not_moderate_participants(room, committed, sent):
    with committed(), pytest.raises(PermissionDenied):
        services.kick_participant(room.organizer, room.participant.pk, ban=True)
    assert _state_and_ban(room.participant) == (JOINED, False)
    assert sent.to(room.participant) == []


def test_it_lets_nobody_kick_themselves(room):
    with pytest.raises(PermissionDenied):
        services.kick_participant(room.organizer, room.organizer.pk)
    assert _state(room.organizer) == JOINED


# --- Lobby ----------------------------------------------------------------------------------


def test_it_accepts_a_waiting_guest_into_the_room(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-9", name="Gus")
    sent.clear()
    with committed():
        services.accept_lobby(lobby_room.organizer, guest.pk)
    assert _state(guest) == JOINED
    assert sent.to(guest) == [("lobby.status", {"status": "accepted"})]
    assert sent.room(lobby_room.meeting, audience="organizers") == [("lobby.removed", {"participant_id": guest.pk, "outcome": "accepted"})]
    [(event, body)] = sent.room(lobby_room.meeting)
    assert (event, body["id"], body["state"]) == ("participant.joined", guest.pk, "joined")


def test_it_rejects_a_waiting_guest(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-10", name="Gus")
    sent.clear()
    with committed():
        services.reject_lobby(lobby_room.creator, guest.pk)
    assert _state(guest) == REJECTED
    assert sent.to(guest) == [("lobby.status", {"status": "rejected"})]
    assert sent.room(lobby_room.meeting, audience="organizers") == [("lobby.removed", {"participant_id": guest.pk, "outcome": "rejected"})]
    assert sent.room(lobby_room.meeting) == []


def test_it_keeps_the_lobby_to_organizers_and_waiting_people(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-11", name="Gus")
    for actor in (lobby_room.presenter, lobby_room.participant, guest):
        for call in (services.accept_lobby, services.reject_lobby):
            with pytest.raises(PermissionDenied):
                call(actor, guest.pk)
        for call in (services.accept_all_lobby, services.reject_all_lobby):
            with pytest.raises(PermissionDenied):
                call(actor)
    assert _state(guest) == LOBBY
    for target_id in (lobby_room.participant.pk, 999_999):
        with pytest.raises(RoomError) as refused:
            services.accept_lobby(lobby_room.creator, target_id)
        assert refused.value.code == "not_found"


def test_it_accepts_everyone_while_there_are_seats(lobby_room):
    Meeting.objects.filter(pk=lobby_room.meeting.pk).update(max_participants=6)
    guests = [services.join_meeting(lobby_room.meeting, session_key=f"g{n}", name=f"Guest {n}") for n in range(3)]
    assert services.accept_all_lobby(lobby_room.creator) == 2
    assert [_state(g) for g in guests] == [JOINED, JOINED, LOBBY]
    with pytest.raises(RoomError) as refused:
        services.accept_lobby(lobby_room.creator, guests[2].pk)
    assert refused.value.code == "unavailable"
    assert services.reject_all_lobby(lobby_room.creator) == 1
    assert _state(guests[2]) == REJECTED


def test_it_takes_a_guest_who_leaves_out_of_the_lobby(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-12", name="Gus")
    with committed():
        services.leave_meeting(guest)
    assert _state(guest) == LEFT
    assert sent.room(lobby_room.meeting, audience="organizers")[-1] == ("lobby.removed", {"participant_id": guest.pk, "outcome": "left"})


# --- Sharing --------------------------------------------------------------------------------


def test_it_shares_one_screen_at_a_time(room, committed, sent):
    with committed():
        share = services.start_share(room.presenter, kind="screen", stream_id="stream-1")
    assert share == {"participant_id": room.presenter.pk, "kind": "screen", "stream_id": "stream-1", "name": "Pia Presenter"}
    assert sent.room(room.meeting) == [("share.started", share)]
    with pytest.raises(ShareBusy) as busy:
        services.start_share(room.organizer, kind="screen", stream_id="stream-2")
    assert (busy.value.code, busy.value.sharer_id) == ("share_busy", room.presenter.pk)
    assert "Pia Presenter" in busy.value.message
    # The sharer may start again (a new stream replaces theirs).
    assert services.start_share(room.presenter, kind="screen", stream_id="stream-3")["stream_id"] == "stream-3"


def test_it_refuses_sharing_to_roles_the_policy_excludes(room):
    with pytest.raises(PermissionDenied):
        services.start_share(room.participant, kind="screen", stream_id="s")
    Meeting.objects.filter(pk=room.meeting.pk).update(share_policy=SharePolicy.EVERYONE)
    assert services.start_share(room.participant, kind="screen", stream_id="s")["participant_id"] == room.participant.pk


@pytest.mark.parametrize(("kind", "stream_id"), [("gif", "s"), ("window", "s"), ("screen", ""), ("screen", "x" * 129), ("screen", "a\nb")])
def test_it_refuses_an_invalid_share(room, kind, stream_id):
    with pytest.raises(ValidationError):
        services.start_share(room.presenter, kind=kind, stream_id=stream_id)
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant is None


def test_it_lets_the_sharer_or_an_organizer_stop_the_share(room, committed, sent):
    services.start_share(room.presenter, kind="screen", stream_id="s")
    with pytest.raises(PermissionDenied):
        services.stop_share(room.participant)
    with committed():
        services.stop_share(room.organizer)
    assert sent.room(room.meeting) == [("share.stopped", {"participant_id": room.presenter.pk, "kind": "screen"})]
    with pytest.raises(RoomError) as refused:
        services.stop_share(room.presenter)
    assert refused.value.code == "not_found"
    services.start_share(room.presenter, kind="screen", stream_id="s")
    services.stop_share(room.presenter)
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant is None


def test_it_lets_no_other_organizer_stop_the_creators_share(room):
    services.start_share(room.creator, kind="screen", stream_id="s")
    with pytest.raises(PermissionDenied):
        services.stop_share(room.organizer)
    assert Meeting.objects.get(pk=room.meeting.pk).share_participant_id == room.creator.pk


def test_it_ends_the_share_of_someone_who_leaves(room, committed, sent):
    services.start_share(room.presenter, kind="screen", stream_id="s")
    with committed():
        services.leave_meeting(room.presenter)
    assert [event for event, _b in sent.room(room.meeting)] == ["share.stopped", "participant.left"]


def test_it_ends_a_share_the_new_policy_no_longer_allows(room, committed, sent):
    services.start_share(room.presenter, kind="screen", stream_id="s")
    with committed():
        services.update_meeting_settings(room.meeting, room.meeting.owner, share_policy=SharePolicy.ORGANIZERS)
    assert [event for event, _b in sent.room(room.meeting)] == ["meeting.settings", "share.stopped"]


# --- Reactions, chat, the end ---------------------------------------------------------------


@pytest.mark.parametrize("emoji", chat.REACTIONS)
def test_it_sends_a_reaction_to_the_room(room, committed, sent, emoji):
    with committed():
        chat.send_reaction(room.participant, emoji)
    assert sent.room(room.meeting) == [("reaction", {"participant_id": room.participant.pk, "emoji": emoji})]


@pytest.mark.parametrize("emoji", ["", "💩", "👍👍", "<b>", "❤"])
def test_it_refuses_other_reactions(room, emoji):
    with pytest.raises(ValidationError):
        chat.send_reaction(room.participant, emoji)


def test_it_refuses_reactions_and_chat_from_the_lobby(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-13", name="Gus")
    with pytest.raises(PermissionDenied):
        chat.send_reaction(guest, "👍")
    with pytest.raises(PermissionDenied):
        chat.post_chat_message(guest, "hello?")
    with pytest.raises(PermissionDenied):
        services.set_media_state(guest, mic=True, camera=False)


def test_it_tells_everyone_including_the_lobby_that_the_meeting_ended(lobby_room, committed, sent):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-14", name="Gus")
    services.start_share(lobby_room.presenter, kind="screen", stream_id="s")
    sent.clear()
    with pytest.raises(PermissionDenied):
        services.end_meeting_as(lobby_room.presenter)
    with committed():
        assert services.end_meeting_as(lobby_room.organizer) is True
    assert sent.room(lobby_room.meeting) == [("meeting.ended", {"by": "Olaf Organizer"})]
    assert sent.to(guest) == [("meeting.ended", {"by": "Olaf Organizer"})]
    meeting = Meeting.objects.get(pk=lobby_room.meeting.pk)
    assert meeting.is_ended and meeting.share_participant is None
    assert set(meeting.participants.values_list("state", flat=True)) == {LEFT}
    # Everyone is out now: a second end from the room is refused, the owner's is a no-op.
    with pytest.raises(PermissionDenied):
        services.end_meeting_as(lobby_room.creator)
    assert services.end_meeting(meeting, lobby_room.meeting.owner) is False


def test_it_lets_a_guest_organizer_end_the_meeting_from_the_room(room):
    guest_organizer = make_participant(room.meeting, role=Role.ORGANIZER, name="Gail")
    assert services.end_meeting_as(guest_organizer) is True


# --- Snapshot and signals -------------------------------------------------------------------


def test_it_gives_a_joined_participant_the_room_snapshot(lobby_room, settings):
    settings.TURN_URLS, settings.TURN_SECRET, settings.STUN_URLS = ["turn:127.0.0.1:3478"], "s3cret", ["stun:127.0.0.1:3478"]
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-15", name="Gus")
    _connect(lobby_room.creator)
    services.start_share(lobby_room.presenter, kind="screen", stream_id="s")
    snapshot = services.room_snapshot(lobby_room.participant)
    assert set(snapshot) == {
        "self",
        "participants",
        "lobby",
        "share",
        "meeting",
        "ice_servers",
        "version",
        "poll",
        "remote",
        "presentation",
        "recording",
        "recorder",
        "media",
    }
    assert snapshot["media"] == {"mode": "mesh"}
    assert snapshot["self"] == {
        "id": lobby_room.participant.pk,
        "name": "Paul Participant",
        "role": "participant",
        "is_creator": False,
        "state": "joined",
        "connection": "reconnecting",
        "mic": False,
        "camera": False,
        "mic_allowed": True,
        "camera_allowed": True,
        "chat_allowed": True,
        "annotate_allowed": True,
    }
    others = {p["id"]: p for p in snapshot["participants"]}
    assert set(others) == {lobby_room.creator.pk, lobby_room.organizer.pk, lobby_room.presenter.pk}
    assert (others[lobby_room.creator.pk]["is_creator"], others[lobby_room.creator.pk]["connection"]) == (True, "online")
    assert snapshot["lobby"] == []
    assert snapshot["share"]["participant_id"] == lobby_room.presenter.pk
    assert snapshot["meeting"]["owner_name"] == "Cora Creator"
    assert snapshot["meeting"]["moderate_participants"] is True
    assert snapshot["version"] == settings.VERSION
    assert snapshot["ice_servers"][1]["username"].endswith(f":participant-{lobby_room.participant.pk}")
    assert [p["id"] for p in services.room_snapshot(lobby_room.organizer)["lobby"]] == [guest.pk]
    with pytest.raises(PermissionDenied):
        services.room_snapshot(guest)
    # Only organizers get the meeting link, which they may hand out (the Info panel).
    assert "join_url" not in snapshot["meeting"]
    assert services.room_snapshot(lobby_room.organizer)["meeting"]["join_url"] == services.meeting_link_url(
        lobby_room.meeting, absolute=False
    )


def test_it_reads_the_snapshots_of_sockets_that_join_together_as_each_alone(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-31", name="Gus")
    _connect(lobby_room.creator, lobby_room.participant)
    services.start_share(lobby_room.presenter, kind="screen", stream_id="s")
    people = [lobby_room.creator, lobby_room.presenter, lobby_room.participant]
    together = services.room_snapshots(people)
    assert together == [services.room_snapshot(person) for person in people]
    creator, presenter, participant = together
    # Each one's own: self, the others, and the lobby and the link for organizers only.
    assert [s["self"]["id"] for s in together] == [p.pk for p in people]
    assert {p["id"] for p in participant["participants"]} == {lobby_room.creator.pk, lobby_room.organizer.pk, lobby_room.presenter.pk}
    assert ([p["id"] for p in creator["lobby"]], presenter["lobby"], participant["lobby"]) == ([guest.pk], [], [])
    assert "join_url" in creator["meeting"] and "join_url" not in presenter["meeting"]
    assert participant["share"]["participant_id"] == lobby_room.presenter.pk


def test_it_reads_what_the_room_shares_once_for_sockets_that_join_together(room):
    people = [room.creator, room.organizer, room.presenter, room.participant]

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            services.room_snapshots(people[:count])
        return len(captured)

    assert queries(1) == queries(2) == queries(4)


def test_it_tells_each_socket_read_together_whether_its_own_helper_is_paired(room):
    soon = timezone.now() + timedelta(minutes=5)
    HelperPairing.objects.create(participant=room.presenter, paired=True, expires_at=soon)
    HelperPairing.objects.create(participant=room.participant, paired=False, expires_at=soon)  # a code asked for, not used
    snapshots = services.room_snapshots([room.creator, room.presenter, room.participant])
    assert [snapshot["remote"]["helper_paired"] for snapshot in snapshots] == [False, True, False]


def test_it_refuses_only_the_sockets_no_longer_in_the_room(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-32", name="Gus")
    gone = make_participant(lobby_room.meeting, name="Gone", state=LEFT)
    snapshot, waiting, left = services.room_snapshots([lobby_room.participant, guest, gone])
    assert snapshot["self"]["id"] == lobby_room.participant.pk
    assert isinstance(waiting, PermissionDenied) and isinstance(left, PermissionDenied)
    Meeting.objects.filter(pk=lobby_room.meeting.pk).update(ended_at=timezone.now())
    assert all(isinstance(result, PermissionDenied) for result in services.room_snapshots([lobby_room.participant, lobby_room.creator]))


def test_it_reads_the_snapshots_of_one_meeting_at_a_time(room):
    elsewhere = make_participant(make_meeting(make_extension(), room_type=RoomType.SHARED))
    with pytest.raises(ValueError):
        services.room_snapshots([room.participant, elsewhere])


def test_it_does_not_ask_whether_an_organizer_is_online_when_a_guest_comes_or_goes(room):
    with CaptureQueriesContext(connection) as captured:
        services.connect_participant(room.participant, "p")
        services.disconnect_participant(room.participant, "p")
    assert not [q["sql"] for q in captured if "'organizer'" in q["sql"]]
    with CaptureQueriesContext(connection) as captured:
        services.connect_participant(room.creator, "c")
    assert [q["sql"] for q in captured if "'organizer'" in q["sql"]]


def test_it_lets_signals_go_only_to_connected_people_in_the_room(lobby_room):
    guest = services.join_meeting(lobby_room.meeting, session_key="guest-16", name="Gus")
    elsewhere = make_participant(make_meeting(make_extension(), room_type=RoomType.SHARED))
    _connect(lobby_room.creator, lobby_room.participant, guest, elsewhere)
    services.check_signal(lobby_room.creator, lobby_room.participant.pk)
    for target_id in (guest.pk, elsewhere.pk, lobby_room.presenter.pk, 999_999):  # presenter: no socket
        with pytest.raises(RoomError) as refused:
            services.check_signal(lobby_room.creator, target_id)
        assert refused.value.code == "not_found"
    with pytest.raises(ValidationError):
        services.check_signal(lobby_room.creator, lobby_room.creator.pk)
    with pytest.raises(PermissionDenied):
        services.check_signal(guest, lobby_room.creator.pk)


@pytest.mark.django_db
def test_it_ignores_the_disconnect_of_a_socket_whose_meeting_was_deleted():
    owner = make_extension()
    meeting = make_meeting(owner)
    participant = services.join_meeting(meeting, user=owner.user)
    services.connect_participant(participant, "channel-1")
    Meeting.objects.filter(pk=meeting.pk).delete()
    assert services.disconnect_participant(participant, "channel-1") is False
