"""meetings.remote.services: every state change and refusal of remote control, the
first "allow" winning a race, the pairing code rules, the helper's consent, and the
hooks that end a session when someone or the meeting goes away."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from meetings import services as room_services
from meetings.models import Meeting, Participant, Role, RoomType, SharePolicy
from meetings.remote import services
from meetings.remote.access import RemoteError
from meetings.remote.models import HelperPairing, RemoteSession
from meetings.remote.services import helper_group
from meetings.roomkit import PRESENTERS, participant_group
from tests.factories import Sent, make_extension, make_meeting, make_participant, make_user

pytestmark = pytest.mark.django_db

State, Reason = RemoteSession.State, RemoteSession.Reason
SCREENS = [{"x": 0, "y": 0, "width": 1280, "height": 720}]


class HelperSent(Sent):
    """Messages published after commit, and those for a participant's desktop helper."""

    def helper(self, participant) -> list[tuple[str, dict]]:
        return self.of(helper_group(participant.pk))


@pytest.fixture
def sent(monkeypatch):
    recorder = HelperSent()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


@dataclass
class Room:
    meeting: Meeting
    creator: Participant
    organizer: Participant
    presenter: Participant
    participant: Participant
    other: Participant  # a second plain participant

    def reload(self, person: Participant) -> Participant:
        return Participant.objects.select_related("meeting").get(pk=person.pk)


def _online(person: Participant) -> Participant:
    Participant.objects.filter(pk=person.pk).update(connected=True, channel_name=f"room-socket-{person.pk}")
    return Participant.objects.select_related("meeting").get(pk=person.pk)


def _room(**meeting_fields) -> Room:
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED, **meeting_fields)
    people = [
        make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator"),
        make_participant(meeting, user=make_user(), role=Role.ORGANIZER, name="Olaf Organizer"),
        make_participant(meeting, role=Role.PRESENTER, name="Pia Presenter"),
        make_participant(meeting, name="Paul Participant"),
        make_participant(meeting, name="Quinn Participant"),
    ]
    return Room(meeting, *(_online(person) for person in people))


@pytest.fixture
def room() -> Room:
    return _room()


def _session(session: RemoteSession) -> RemoteSession:
    return RemoteSession.objects.get(pk=session.pk)


def _pair(person: Participant, channel: str = "helper-1", session_key: str | None = None) -> services.Paired:
    """A code for ``person`` from their live room socket, used by a helper at once."""
    key = session_key or person.session_key or "user-browser-session"
    code, _ttl = services.create_pairing_code(person, key, person.channel_name)
    return services.pair_helper(code, channel, "x11", SCREENS)


def _approved(room: Room) -> RemoteSession:
    """The participant asked, the presenter allowed."""
    session = services.request_control(room.participant)
    services.answer_request(room.presenter, session.pk, True)
    return _session(session)


def _active(room: Room, channel: str = "helper-1") -> RemoteSession:
    _pair(room.participant, channel)
    session = _approved(room)
    services.helper_consent(channel, session.pk, True)
    return _session(session)


# --- Request ----------------------------------------------------------------------------


def test_it_records_a_request_and_tells_organizers_presenters_and_the_room(room, sent, committed, caplog):
    caplog.set_level(logging.INFO, logger="meetings.remote")
    with committed():
        session = services.request_control(room.participant)
    session = _session(session)
    assert (session.state, session.requester, session.controller, session.consent, session.reason) == (
        State.REQUESTED,
        room.participant,
        None,
        "",
        "",
    )
    payload = {
        "id": session.pk,
        "state": "requested",
        "requester_id": room.participant.pk,
        "requester_name": "Paul Participant",
        "controller_id": None,
        "controller_name": None,
        "helper_paired": False,
        "consent": None,
        "reason": None,
    }
    assert sent.room(room.meeting, audience=PRESENTERS) == [("remote.requested", payload)]
    assert sent.room(room.meeting) == [("remote.session", payload)]
    assert services.room_remote(room.other) == {"session": payload, "helper_paired": False}
    assert any("Remote control requested" in r.getMessage() and room.meeting.public_id in r.getMessage() for r in caplog.records)


def test_it_refuses_a_request_when_no_organizer_or_presenter_is_online(room, sent, committed):
    for person in (room.creator, room.organizer, room.presenter):
        Participant.objects.filter(pk=person.pk).update(connected=False)
    with pytest.raises(RemoteError) as refused, committed():
        services.request_control(room.participant)
    assert refused.value.code == "no_controller"
    # The presenter online but asking for themselves: still nobody to answer.
    _online(room.presenter)
    with pytest.raises(RemoteError) as refused, committed():
        services.request_control(room.presenter)
    assert refused.value.code == "no_controller"
    assert not RemoteSession.objects.exists()
    assert sent.messages == []


def test_it_refuses_a_second_request_while_one_is_under_way_and_anyone_not_in_the_room(room, sent, committed):
    first = services.request_control(room.participant)
    with pytest.raises(RemoteError) as refused:
        services.request_control(room.other)
    assert refused.value.code == "remote_busy"
    waiting = make_participant(room.meeting, name="Lou Lobby", state=Participant.State.LOBBY)
    gone = make_participant(room.meeting, name="Lee Left", state=Participant.State.LEFT)
    services.stop_session(room.participant, first.pk)
    for outsider in (waiting, gone):
        with pytest.raises(PermissionDenied):
            services.request_control(outsider)
    assert list(RemoteSession.objects.values_list("requester_id", "state")) == [(room.participant.pk, State.ENDED)]


# --- Answer ------------------------------------------------------------------------------


def test_it_gives_control_to_the_first_yes_and_tells_the_others_who_took_it(room, sent, committed):
    session = services.request_control(room.participant)
    sent.clear()
    with committed():
        services.answer_request(room.presenter, session.pk, True)
    session = _session(session)
    assert (session.state, session.controller, session.consent) == (State.APPROVED, room.presenter, "pending")
    assert session.approved_at is not None
    [(event, body)] = sent.room(room.meeting)
    assert event == "remote.session"
    assert (body["state"], body["controller_id"], body["controller_name"], body["consent"]) == (
        "approved",
        room.presenter.pk,
        "Pia Presenter",
        "pending",
    )
    assert sent.helper(room.participant) == []  # no helper paired: nobody to ask yet
    with pytest.raises(RemoteError) as taken:
        services.answer_request(room.organizer, session.pk, True)
    assert taken.value.code == "remote_taken"
    assert "Pia Presenter" in taken.value.message
    # A late "no", or the controller's second "yes", changes nothing.
    services.answer_request(room.organizer, session.pk, False)
    services.answer_request(room.presenter, session.pk, True)
    assert _session(session).controller == room.presenter
    assert _session(session).state == State.APPROVED


def test_it_refuses_answers_from_participants_the_requester_and_for_unknown_or_ended_sessions(room):
    session = services.request_control(room.organizer)
    with pytest.raises(PermissionDenied):
        services.answer_request(room.participant, session.pk, True)
    with pytest.raises(PermissionDenied):
        services.answer_request(room.organizer, session.pk, True)  # one's own request
    other_meeting = _room()
    foreign = services.request_control(other_meeting.participant)
    for bad_id in (foreign.pk, 999_999, 0, -1, 2**40, True):
        with pytest.raises(RemoteError) as missing:
            services.answer_request(room.presenter, bad_id, True)
        assert missing.value.code == "not_found", bad_id
    services.stop_session(room.organizer, session.pk)
    with pytest.raises(RemoteError) as over:
        services.answer_request(room.presenter, session.pk, True)
    assert over.value.code == "not_found"
    assert _session(session).controller is None
    assert _session(foreign).state == State.REQUESTED


def test_it_ends_a_request_once_everyone_available_has_said_no(room, sent, committed):
    session = services.request_control(room.participant)
    services.answer_request(room.presenter, session.pk, False)
    services.answer_request(room.presenter, session.pk, False)  # twice counts once
    services.answer_request(room.creator, session.pk, False)
    assert _session(session).state == State.REQUESTED
    assert _session(session).declined_by == [room.presenter.pk, room.creator.pk]
    sent.clear()
    with committed():
        services.answer_request(room.organizer, session.pk, False)
    session = _session(session)
    assert (session.state, session.reason) == (State.ENDED, Reason.DECLINED)
    assert [body["reason"] for _e, body in sent.room(room.meeting)] == ["declined"]


def test_it_ends_a_request_when_the_last_one_who_had_not_answered_leaves(room):
    session = services.request_control(room.participant)
    services.answer_request(room.presenter, session.pk, False)
    room_services.leave_meeting(room.creator)
    assert _session(session).state == State.REQUESTED  # the organizer may still answer
    room_services.leave_meeting(room.organizer)
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.DECLINED)


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_simultaneous_yeses_win():
    for _round in range(6):
        room = _room()
        session = services.request_control(room.participant)
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def answer(index: int, person: Participant, session_id: int = session.pk, results: list = results, barrier=barrier) -> None:
            try:
                barrier.wait(timeout=10)
                services.answer_request(person, session_id, True)
                results[index] = ("ok", person.pk)
            except RemoteError as refused:
                results[index] = (refused.code, refused.message)
            except BaseException as error:  # reported by the assertion below
                results[index] = ("crashed", error)
            finally:
                connection.close()

        threads = [threading.Thread(target=answer, args=(i, person)) for i, person in enumerate((room.presenter, room.organizer))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        kinds = sorted(result[0] for result in results)
        assert kinds == ["ok", "remote_taken"], results
        winner = next(result[1] for result in results if result[0] == "ok")
        assert _session(session).controller_id == winner


# --- Stop ------------------------------------------------------------------------------------


def test_it_lets_the_requester_cancel_and_the_controller_stop_and_nobody_else(room, sent, committed):
    first = services.request_control(room.participant)
    with pytest.raises(PermissionDenied):
        services.stop_session(room.presenter, first.pk)  # not (yet) the controller
    with committed():
        services.stop_session(room.participant, first.pk)
    assert (_session(first).state, _session(first).reason) == (State.ENDED, Reason.CANCELLED)
    services.stop_session(room.participant, first.pk)  # again: nothing more
    assert _session(first).reason == Reason.CANCELLED

    second = _approved(room)
    for stranger in (room.other, room.organizer, room.creator):
        with pytest.raises(PermissionDenied):
            services.stop_session(stranger, second.pk)
    assert _session(second).state == State.APPROVED
    sent.clear()
    with committed():
        services.stop_session(room.presenter, second.pk)
    assert (_session(second).state, _session(second).reason) == (State.ENDED, Reason.STOPPED)
    assert sent.helper(room.participant) == [("control.stopped", {"session_id": second.pk, "reason": "stopped"})]
    with pytest.raises(RemoteError):
        services.stop_session(room.participant, 424242)


# --- Pairing, consent, relay ------------------------------------------------------------


def test_it_pairs_a_helper_asks_it_for_consent_and_relays_only_while_active(room, sent, committed, caplog):
    caplog.set_level(logging.INFO, logger="meetings.remote")
    code, ttl = services.create_pairing_code(room.participant, room.participant.session_key, room.participant.channel_name)
    assert ttl == 120
    assert len(code) == 9 and code[4] == "-"
    assert all(char in services.CODE_ALPHABET for char in code.replace("-", ""))
    pairing = HelperPairing.objects.get(participant=room.participant)
    assert code not in (pairing.code_hash, pairing.session_key_hash)
    assert room.participant.session_key not in (pairing.code_hash, pairing.session_key_hash)
    with committed():
        paired = services.pair_helper(code.lower().replace("-", " "), "helper-1", "x11", SCREENS)
    assert (paired.participant_id, paired.participant_name, paired.meeting_title, paired.old_channel, paired.ask) == (
        room.participant.pk,
        "Paul Participant",
        room.meeting.title,
        "",
        None,
    )
    assert sent.of(participant_group(room.participant.pk)) == [("remote.helper", {"paired": True})]
    assert services.room_remote(room.participant)["helper_paired"] is True
    assert services.room_remote(room.other)["helper_paired"] is False

    session = services.request_control(room.participant)
    with pytest.raises(PermissionDenied):
        services.relay_target(room.presenter, session.pk)  # before approval
    sent.clear()
    with committed():
        services.answer_request(room.presenter, session.pk, True)
    assert sent.helper(room.participant) == [("control.request", {"session_id": session.pk, "controller_name": "Pia Presenter"})]
    with pytest.raises(PermissionDenied):
        services.relay_target(room.presenter, session.pk)  # before consent
    with pytest.raises(RemoteError):
        services.helper_consent("helper-1", 999_999, True)
    with pytest.raises(PermissionDenied):
        services.helper_consent("some-other-socket", session.pk, True)
    sent.clear()
    with committed():
        services.helper_consent("helper-1", session.pk, True)
    session = _session(session)
    assert (session.state, session.consent) == (State.ACTIVE, "given")
    assert session.active_at is not None
    assert [(e, b["state"], b["consent"], b["helper_paired"]) for e, b in sent.room(room.meeting)] == [
        ("remote.session", "active", "given", True)
    ]
    assert services.relay_target(room.presenter, session.pk) == room.participant.pk
    for not_controller in (room.organizer, room.creator, room.participant, room.other):
        with pytest.raises(PermissionDenied):
            services.relay_target(not_controller, session.pk)
    with pytest.raises(PermissionDenied):
        services.relay_target(room.presenter, session.pk + 1)
    sent.clear()
    with committed():
        services.helper_stop("helper-1", session.pk)
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.STOPPED)
    assert sent.helper(room.participant) == [("control.stopped", {"session_id": session.pk, "reason": "stopped"})]
    with pytest.raises(PermissionDenied):
        services.relay_target(room.presenter, session.pk)  # after stop
    messages = [r.getMessage() for r in caplog.records if r.name == "meetings.remote" and r.levelno == logging.INFO]
    assert any(m.startswith("Remote control started") and "Pia Presenter" in m and "Paul Participant" in m for m in messages)
    assert any(m.startswith("Remote control ended (stopped") for m in messages)


def test_it_ends_the_session_when_the_person_at_the_computer_refuses(room, sent, committed):
    _pair(room.participant)
    session = _approved(room)
    sent.clear()
    with committed():
        services.helper_consent("helper-1", session.pk, False)
    session = _session(session)
    assert (session.state, session.reason, session.consent) == (State.ENDED, Reason.REFUSED, "refused")
    assert sent.helper(room.participant) == [("control.stopped", {"session_id": session.pk, "reason": "refused"})]
    with pytest.raises(RemoteError):
        services.helper_consent("helper-1", session.pk, True)  # too late
    assert _session(session).state == State.ENDED


def test_it_asks_a_helper_that_pairs_after_the_approval(room):
    session = _approved(room)
    paired = _pair(room.participant)
    assert paired.ask == {"session_id": session.pk, "controller_name": "Pia Presenter"}


def test_it_refuses_the_consent_of_a_helper_for_someone_elses_session(room):
    _pair(room.other, "helper-of-other")
    session = _approved(room)
    with pytest.raises(RemoteError) as refused:
        services.helper_consent("helper-of-other", session.pk, True)
    assert refused.value.code == "not_found"
    assert _session(session).state == State.APPROVED


def _code(person: Participant, session_key: str | None = None) -> str:
    return services.create_pairing_code(person, session_key or person.session_key or "user-browser-session", person.channel_name)[0]


def _refused(code, channel: str = "helper-x") -> None:
    with pytest.raises(RemoteError) as refused:
        services.pair_helper(code, channel, "x11", SCREENS)
    assert refused.value.code == "invalid_code"


def test_it_refuses_reused_expired_replaced_unknown_and_malformed_codes(room):
    code = _code(room.participant)
    services.pair_helper(code, "helper-1", "x11", SCREENS)
    _refused(code)  # used
    expired = _code(room.other)
    HelperPairing.objects.filter(participant=room.other).update(expires_at=timezone.now() - timedelta(seconds=1))
    _refused(expired)
    first, second = _code(room.presenter), _code(room.presenter)
    _refused(first)  # replaced by a newer code
    for garbage in ("", "ABCD", "ABCD-EFG0", "ABCD-EFGHI", "ÀBCD-EFGH", None, 12345678, "A" * 500):
        _refused(garbage)
    services.pair_helper(second, "helper-2", "x11", SCREENS)
    assert HelperPairing.objects.filter(paired=True).count() == 2
    assert not HelperPairing.objects.get(participant=room.other).paired


def test_it_refuses_a_code_once_its_participant_is_out_or_its_browser_session_changed(room):
    # Foreign: the participant the code was made for left the meeting.
    left = _code(room.participant)
    room_services.leave_meeting(room.participant)
    _refused(left)
    # Another browser session of the same person (a user) took over the room socket.
    code = _code(room.organizer, "browser-a")
    Participant.objects.filter(pk=room.organizer.pk).update(channel_name="room-socket-of-browser-b")
    _refused(code)
    # A guest's code made with another session key than the guest's own.
    guest_code = _code(room.other, "not-the-guests-session")
    _refused(guest_code)
    # The page that asked went offline.
    offline = _code(room.presenter)
    Participant.objects.filter(pk=room.presenter.pk).update(connected=False)
    _refused(offline)
    assert not HelperPairing.objects.filter(paired=True).exists()


def test_it_refuses_bad_helper_descriptions(room):
    code = _code(room.participant)
    bad = [
        ("x11", "not a list"),
        ("x11", [{"x": 0, "y": 0, "width": 0, "height": 720}]),
        ("x11", [{"x": 0, "y": 0, "width": 1280}]),
        ("x11", [{"x": 0.5, "y": 0, "width": 1280, "height": 720}]),
        ("x11", [{"x": True, "y": 0, "width": 1280, "height": 720}]),
        ("x11", [{"x": 10**9, "y": 0, "width": 1280, "height": 720}]),
        ("x11", SCREENS * 17),
        ("x" * 41, SCREENS),
        ("x11\n", SCREENS),
        (None, SCREENS),
    ]
    for platform, screens in bad:
        with pytest.raises(ValidationError):
            services.pair_helper(code, "helper-1", platform, screens)
    services.pair_helper(code, "helper-1", "x11", SCREENS)  # the code was not spent


def test_it_limits_pairing_attempts_per_address():
    limit, _seconds = services.PAIR_ATTEMPTS
    assert all(services.pairing_attempt_allowed("192.0.2.1") for _ in range(limit))
    assert not services.pairing_attempt_allowed("192.0.2.1")
    assert services.pairing_attempt_allowed("192.0.2.2")


def test_it_replaces_an_older_helper_and_ends_the_session_it_consented_to(room, sent, committed):
    session = _active(room, "helper-1")
    with committed():
        paired = _pair(room.participant, "helper-2")
    assert paired.old_channel == "helper-1"
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.HELPER_GONE)
    # The old socket closing later changes nothing; the new one going does.
    assert services.helper_gone("helper-1") is False
    assert HelperPairing.objects.get(participant=room.participant).paired
    assert services.helper_gone("helper-2") is True
    assert not HelperPairing.objects.get(participant=room.participant).paired


def test_it_ends_the_session_when_the_helper_goes_away(room, sent, committed):
    session = _active(room)
    sent.clear()
    with committed():
        services.helper_gone("helper-1")
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.HELPER_GONE)
    assert ("remote.helper", {"paired": False}) in sent.of(participant_group(room.participant.pk))
    requested = services.request_control(room.participant)
    _pair(room.participant, "helper-3")
    services.helper_gone("helper-3")
    assert _session(requested).state == State.REQUESTED  # not yet counting on a helper


# --- Hooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "change", "reason"),
    [
        ("participant", "leave", Reason.LEFT),
        ("participant", "kick", Reason.KICKED),
        ("participant", "role", Reason.ROLE),
        ("participant", "drop", Reason.DISCONNECTED),
        ("presenter", "leave", Reason.LEFT),
        ("presenter", "kick", Reason.KICKED),
        ("presenter", "role", Reason.ROLE),
        ("presenter", "drop", Reason.DISCONNECTED),
    ],
)
def test_it_ends_the_session_when_the_requester_or_the_controller_goes(room, sent, committed, who, change, reason):
    session = _active(room)
    person = getattr(room, who)
    sent.clear()
    with committed():
        if change == "leave":
            room_services.leave_meeting(person)
        elif change == "kick":
            room_services.kick_participant(room.creator, person.pk)
        elif change == "role":
            new_role = Role.PRESENTER if who == "participant" else Role.PARTICIPANT
            room_services.change_role(room.creator, person.pk, new_role)
        else:
            room_services.disconnect_participant(person, person.channel_name)
    session = _session(session)
    assert (session.state, session.reason) == (State.ENDED, reason)
    assert ("control.stopped", {"session_id": session.pk, "reason": reason}) in sent.helper(room.participant)
    with pytest.raises(PermissionDenied):
        services.relay_target(room.presenter, session.pk)


def test_it_keeps_the_session_when_the_controller_stays_able_to_answer(room):
    session = services.request_control(room.participant)
    services.answer_request(room.organizer, session.pk, True)
    room_services.change_role(room.creator, room.organizer.pk, Role.PRESENTER)
    room_services.leave_meeting(room.other)
    assert _session(session).state == State.APPROVED


def test_it_ends_the_session_and_dismisses_helpers_when_the_meeting_ends(room, sent, committed):
    session = _active(room)
    _pair(room.other, "helper-of-other")
    sent.clear()
    with committed():
        room_services.end_meeting_as(room.creator)
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.MEETING_END)
    assert ("helper.closed", {"reason": "meeting_end"}) in sent.helper(room.participant)
    assert ("helper.closed", {"reason": "meeting_end"}) in sent.helper(room.other)
    assert not HelperPairing.objects.filter(paired=True).exists()


def test_it_dismisses_the_helper_of_someone_who_leaves(room, sent, committed):
    _pair(room.other, "helper-of-other")
    with committed():
        room_services.leave_meeting(room.other)
    assert sent.helper(room.other) == [("helper.closed", {"reason": "left"})]
    assert not HelperPairing.objects.get(participant=room.other).paired


# --- The remote share ------------------------------------------------------------------


def test_it_lets_the_requester_share_whatever_the_policy_and_ties_share_and_session(room, sent, committed):
    Meeting.objects.filter(pk=room.meeting.pk).update(share_policy=SharePolicy.ORGANIZERS)
    with pytest.raises(PermissionDenied):
        room_services.start_share(room.participant, kind="remote", stream_id="s1")  # no session
    session = services.request_control(room.participant)
    with pytest.raises(PermissionDenied):
        room_services.start_share(room.participant, kind="remote", stream_id="s1")  # not approved
    services.answer_request(room.presenter, session.pk, True)
    with pytest.raises(PermissionDenied):
        room_services.start_share(room.other, kind="remote", stream_id="s1")  # not the requester
    room_services.start_share(room.participant, kind="remote", stream_id="s1")
    # The organizer saves the settings (the share policy among them): the share stays.
    room_services.update_meeting_settings(Meeting.objects.get(pk=room.meeting.pk), room.creator.user, share_policy=SharePolicy.PRESENTERS)
    assert Meeting.objects.get(pk=room.meeting.pk).share_kind == "remote"
    assert _session(session).state == State.APPROVED
    # Stopping the share ends the session.
    with committed():
        room_services.stop_share(room.participant)
    assert (_session(session).state, _session(session).reason) == (State.ENDED, Reason.SHARE_ENDED)

    # Ending the session ends the share.
    second = _approved(room)
    room_services.start_share(room.participant, kind="remote", stream_id="s2")
    sent.clear()
    with committed():
        services.stop_session(room.presenter, second.pk)
    meeting = Meeting.objects.get(pk=room.meeting.pk)
    assert (meeting.share_participant_id, meeting.share_kind) == (None, "")
    assert ("share.stopped", {"participant_id": room.participant.pk, "kind": "remote"}) in sent.room(room.meeting)
    assert _session(second).reason == Reason.STOPPED

    # A kicked sharer: the session says kicked, not "share ended".
    third = _approved(room)
    room_services.start_share(room.participant, kind="remote", stream_id="s3")
    room_services.kick_participant(room.creator, room.participant.pk)
    assert (_session(third).state, _session(third).reason) == (State.ENDED, Reason.KICKED)


def test_it_leaves_the_session_alone_when_a_screen_share_stops(room):
    session = _approved(room)
    room_services.start_share(room.presenter, kind="screen", stream_id="screen-1")
    room_services.stop_share(room.presenter)
    assert _session(session).state == State.APPROVED


# --- Pages: the helper's download and instructions, the admin ---------------------------


def test_it_serves_the_helper_and_its_instructions_to_everyone(client):
    download = client.get("/remote/helper/parley_helper.py")
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="parley_helper.py"'
    assert b"".join(download.streaming_content) == (Path(services.__file__).parent / "helper" / "parley_helper.py").read_bytes()
    page = client.get("/remote/helper/")
    assert page.status_code == 200
    assert b"/remote/helper/parley_helper.py" in page.content
    assert b"--server http://testserver --code" in page.content
    assert b"--lang" not in page.content
    assert client.post("/remote/helper/parley_helper.py").status_code == 405


def test_it_asks_the_helper_for_french_on_a_french_page(client):
    page = client.get("/remote/helper/", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert b"--code XXXX-XXXX --lang fr</code>" in page.content


def test_it_shows_sessions_and_pairings_read_only_in_the_admin(client, room):
    _active(room)
    client.force_login(make_user(is_staff=True, is_superuser=True))
    for model in ("remotesession", "helperpairing"):
        changelist = client.get(f"/admin/remote/{model}/")
        assert changelist.status_code == 200, model
        assert client.get(f"/admin/remote/{model}/add/").status_code == 403
    pairing = HelperPairing.objects.get(participant=room.participant)
    detail = client.get(f"/admin/remote/helperpairing/{pairing.pk}/change/")
    assert detail.status_code == 200
    assert pairing.code_hash.encode() not in detail.content
