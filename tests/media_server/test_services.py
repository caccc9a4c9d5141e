"""media_server.services: every transition of a recording, who may start and stop,
the worker's job cycle (claim exactly once, lease, finalize, orphans), the sweep, the
meeting's end and its one e-mail, and the recorder participant kept out of the room's
roster, counts, polls and rights."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from core.models import OutboundEmail
from media_server import services, tasks
from media_server.models import Recording
from meetings import services as meeting_services
from meetings.models import Participant
from meetings.permissions import RULES, can
from meetings.roomkit import RoomError, meeting_group, participant_group
from polls import services as poll_services
from polls.models import PollRun
from tests.factories import make_meeting, make_participant, make_user
from tests.media_server.helpers import WORKER, Room, claimed, expire, spool_file

pytestmark = pytest.mark.django_db

State = Recording.State


class Sent:
    def __init__(self):
        self.messages: list[tuple[str, str, dict]] = []

    def __call__(self, group: str, message: dict) -> bool:
        self.messages.append((group, message["event"], message["body"]))
        return True

    def of(self, group: str, event: str | None = None) -> list:
        return [(e, b) for g, e, b in self.messages if g == group and (event is None or e == event)]


@pytest.fixture
def sent(monkeypatch):
    recorder = Sent()
    monkeypatch.setattr("core.realtime.send_now", recorder)
    return recorder


@pytest.fixture
def room() -> Room:
    return Room()


def _states(meeting) -> list[tuple]:
    return list(Recording.objects.filter(meeting=meeting).order_by("segment").values_list("segment", "state", "stop_requested"))


# --- Start and stop -------------------------------------------------------------------


def test_it_starts_a_recording_for_an_organizer_and_tells_the_room_and_the_lobby(room, sent, committed):
    with committed():
        recording = services.start_recording(room.organizer)
    assert (recording.state, recording.segment, recording.preset, recording.started_by_name) == (
        State.PENDING,
        1,
        "audio_opus",  # the meeting's default
        "Olaf Organizer",
    )
    body = {"recording": services.recording_payload(recording), "active": True}
    assert sent.of(meeting_group(room.meeting.public_id), "recording.state") == [("recording.state", body)]
    assert sent.of(participant_group(room.guest.pk)) == [("recording.state", body)]
    assert body["recording"]["preset_label"] == "Audio only, Opus"
    assert meeting_services.lobby_status(room.guest) == {"status": "no_organizer", "recording": True}


def test_it_takes_the_preset_asked_for(room):
    assert services.start_recording(room.creator, "mp4_1080p").preset == "mp4_1080p"


@pytest.mark.parametrize("who", ["presenter", "participant", "guest"])
def test_it_lets_only_organizers_start_and_stop(room, who):
    with pytest.raises(PermissionDenied):
        services.start_recording(getattr(room, who))
    services.start_recording(room.creator)
    with pytest.raises(PermissionDenied):
        services.stop_recording(getattr(room, who))
    assert _states(room.meeting) == [(1, State.PENDING, False)]


@pytest.mark.parametrize("preset", ["flac", "", "WEBM_720P", "webm-720p"])
def test_it_refuses_an_unknown_preset_and_records_nothing(room, preset):
    with pytest.raises(ValidationError):
        services.start_recording(room.creator, preset)
    assert not Recording.objects.exists()


def test_it_refuses_a_second_recording_while_one_is_active(room, sent, committed):
    services.start_recording(room.creator)
    with committed(), pytest.raises(services.RecordingBusy) as busy:
        services.start_recording(room.organizer)
    assert busy.value.code == "recording_busy"
    assert _states(room.meeting) == [(1, State.PENDING, False)]
    assert sent.messages == []


def test_it_refuses_in_an_ended_meeting(room):
    meeting_services.end_meeting(room.meeting, room.owner)
    room.creator.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.start_recording(room.creator)


def test_it_fails_a_pending_recording_that_is_stopped(room):
    services.start_recording(room.creator)
    stopped = services.stop_recording(room.organizer)
    assert (stopped.state, stopped.stop_requested, bool(stopped.error)) == (State.FAILED, True, True)
    with pytest.raises(RoomError) as none:
        services.stop_recording(room.creator)
    assert none.value.code == "not_found"
    # A new recording may start, as the next segment.
    assert services.start_recording(room.creator).segment == 2


def test_it_finalizes_a_running_recording_that_is_stopped_and_the_worker_learns_it(room, sent, committed):
    recording = claimed(room)
    assert services.heartbeat(recording.pk, WORKER) == services.GO_ON
    with committed():
        services.stop_recording(room.creator)
    assert _states(room.meeting) == [(1, State.FINALIZING, True)]
    assert sent.of(meeting_group(room.meeting.public_id), "recording.state")[-1][1]["active"] is False
    assert services.heartbeat(recording.pk, WORKER) == services.FINISH
    assert meeting_services.lobby_status(room.guest)["recording"] is False


# --- Claim, lease, finalize -----------------------------------------------------------


def test_it_hands_a_job_to_one_worker_with_a_token_and_a_lease(room):
    services.start_recording(room.creator)
    job = services.claim_job(WORKER)
    assert job is not None
    assert (job.segment, job.preset, job.meeting_public_id) == (1, "audio_opus", room.meeting.public_id)
    recording = Recording.objects.get(pk=job.recording_id)
    assert (recording.state, recording.worker_id) == (State.RECORDING, WORKER)
    assert timezone.now() < recording.lease_expires_at <= timezone.now() + timedelta(seconds=services.LEASE_SECONDS)
    assert services.claim_job("host-b:7") is None
    assert services.open_recorder(recording.pk, job.token).worker_id == WORKER


def test_it_does_not_hand_out_a_job_of_an_ended_meeting(room):
    services.start_recording(room.creator)
    room.meeting.__class__.objects.filter(pk=room.meeting.pk).update(ended_at=timezone.now())
    assert services.claim_job(WORKER) is None


def test_it_skips_a_job_another_worker_holds_locked_instead_of_waiting(room):
    """SKIP LOCKED: while one transaction holds the pending row, a second claim (its own
    database connection) returns at once with nothing."""
    services.start_recording(room.creator)
    results: list = []

    def other_worker():
        try:
            results.append(services.claim_job("host-b:7"))
        finally:
            connection.close()

    with transaction.atomic():
        list(Recording.objects.select_for_update().filter(state=State.PENDING))
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert results == [None]


@pytest.mark.django_db(transaction=True)
def test_it_gives_a_job_to_exactly_one_of_two_workers_claiming_at_once():
    room = Room()
    services.start_recording(room.creator)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def claim(worker: str) -> None:
        close_old_connections()
        try:
            barrier.wait(timeout=10)
            results[worker] = services.claim_job(worker)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(w,)) for w in ("host-a:1", "host-b:2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [w for w, job in results.items() if job is not None]
    assert len(results) == 2 and len(winners) == 1
    assert Recording.objects.get().worker_id == winners[0]


def test_it_renews_the_lease_only_for_the_worker_that_holds_it(room):
    recording = claimed(room)
    expire(recording)
    assert services.heartbeat(recording.pk, "host-b:7") == services.LOST
    recording.refresh_from_db()
    assert recording.lease_expires_at < timezone.now()
    assert services.heartbeat(recording.pk, WORKER) == services.GO_ON
    recording.refresh_from_db()
    assert recording.lease_expires_at > timezone.now()
    assert services.heartbeat(999999, WORKER) == services.LOST


def test_it_stores_the_finished_file_and_marks_it_done(room, tmp_path):
    recording = claimed(room)
    services.stop_recording(room.creator)
    path = spool_file(tmp_path, data=b"x" * 1234)
    done = services.finalize(recording.pk, WORKER, path, 12.4, 1234)
    assert (done.state, done.duration, done.size, done.lease_expires_at) == (State.DONE, 12.4, 1234, None)
    assert done.file.name.startswith(f"recordings/{room.meeting.public_id}/01-") and done.file.name.endswith(".webm")
    with default_storage.open(done.file.name, "rb") as stored:
        assert stored.read() == b"x" * 1234
    # A retried call changes nothing; another worker is refused.
    assert services.finalize(recording.pk, WORKER, path, 99, 99).file.name == done.file.name
    with pytest.raises(services.RecordingLost):
        services.finalize(recording.pk, "host-b:7", path, 1, 1)
    assert Recording.objects.get(pk=recording.pk).duration == 12.4


def test_it_refuses_to_finalize_for_a_worker_that_does_not_hold_the_job(room, tmp_path):
    recording = claimed(room)
    with pytest.raises(services.RecordingLost):
        services.finalize(recording.pk, "host-b:7", spool_file(tmp_path), 1, 1)
    assert _states(room.meeting) == [(1, State.RECORDING, False)]
    assert not Recording.objects.get(pk=recording.pk).file


# --- Expired leases -------------------------------------------------------------------


def test_it_interrupts_an_expired_recording_and_goes_on_in_a_new_segment(room, sent, committed):
    recording = claimed(room)
    untouched = services.sweep_expired_leases()
    assert untouched == 0
    expire(recording)
    with committed():
        assert tasks.sweep_expired_leases() == 1
    assert _states(room.meeting) == [(1, State.INTERRUPTED, False), (2, State.PENDING, False)]
    follower = Recording.objects.get(segment=2)
    assert (follower.preset, follower.started_by_id, follower.started_by_user_id) == ("audio_opus", room.creator.pk, room.owner.pk)
    last = sent.of(meeting_group(room.meeting.public_id), "recording.state")[-1][1]
    assert (last["active"], last["recording"]["segment"], last["recording"]["state"]) == (True, 2, "pending")
    assert services.heartbeat(recording.pk, WORKER) == services.LOST
    # The next worker takes the new segment.
    assert services.claim_job("host-b:7").segment == 2


def test_it_does_not_continue_a_stopped_recording_or_one_of_an_ended_meeting(room):
    first = claimed(room)
    services.stop_recording(room.creator)
    expire(first)
    assert services.sweep_expired_leases() == 1
    second = claimed(room)
    meeting_services.end_meeting(room.meeting, room.owner)
    expire(second)
    assert services.sweep_expired_leases() == 1
    assert _states(room.meeting) == [(1, State.INTERRUPTED, True), (2, State.INTERRUPTED, True)]


def test_it_stores_an_orphan_file_found_after_a_restart(room, tmp_path):
    recording = claimed(room)
    assert services.store_orphan(recording.pk, spool_file(tmp_path, data=b"partial"), 3.0, 7) is True
    recording.refresh_from_db()
    assert (recording.state, recording.size, recording.duration) == (State.INTERRUPTED, 7, 3.0)
    with default_storage.open(recording.file.name, "rb") as stored:
        assert stored.read() == b"partial"
    assert _states(room.meeting) == [(1, State.INTERRUPTED, False), (2, State.PENDING, False)]
    # Once stored, a second report of the same file is ignored.
    assert services.store_orphan(recording.pk, spool_file(tmp_path, data=b"other"), 1.0, 5) is False


# --- Meeting end and the e-mail -------------------------------------------------------


def test_it_fails_a_job_no_worker_took_when_the_meeting_ends_and_mails_that(room):
    services.start_recording(room.creator)
    meeting_services.end_meeting(room.meeting, room.owner)
    recording = Recording.objects.get()
    assert (recording.state, "media worker" in recording.error) == (State.FAILED, True)
    mail = OutboundEmail.objects.get(kind="recording_ready")
    assert mail.to == "cora@example.com"
    assert "/client/recordings/" not in mail.body_text and "could not be recorded" in mail.body_text


def test_it_mails_every_segment_once_after_the_last_one_is_finalized(room, tmp_path):
    first = claimed(room)
    expire(first)
    services.sweep_expired_leases()  # segment 1 interrupted, segment 2 pending
    second = Recording.objects.get(pk=services.claim_job("host-b:7").recording_id)
    services.store_orphan(first.pk, spool_file(tmp_path, "a.webm"), 4.0, 10)
    meeting_services.end_meeting(room.meeting, room.owner)
    assert _states(room.meeting) == [(1, State.INTERRUPTED, False), (2, State.FINALIZING, True)]
    assert not OutboundEmail.objects.filter(kind="recording_ready").exists()  # segment 2 may still bring a file

    services.finalize(second.pk, "host-b:7", spool_file(tmp_path, "b.webm"), 65.0, 20)
    mail = OutboundEmail.objects.get(kind="recording_ready")
    assert mail.to == "cora@example.com"
    for recording in (first, second):
        assert f"http://testserver/client/recordings/{recording.pk}/download/" in mail.body_text
        assert f"http://testserver/client/recordings/{recording.pk}/download/" in mail.body_html
    assert "1:05" in mail.body_text and "is ready" in mail.body_text
    # Nothing later sends it again.
    services.sweep_expired_leases()
    services.finalize(second.pk, "host-b:7", spool_file(tmp_path, "b.webm"), 65.0, 20)
    assert OutboundEmail.objects.filter(kind="recording_ready").count() == 1


def test_it_mails_each_organizer_who_started_a_recording(room, tmp_path):
    first = claimed(room)
    services.stop_recording(room.creator)
    services.finalize(first.pk, WORKER, spool_file(tmp_path), 2, 2)
    services.start_recording(room.organizer)
    second = Recording.objects.get(pk=services.claim_job(WORKER).recording_id)
    meeting_services.end_meeting(room.meeting, room.owner)
    services.finalize(second.pk, WORKER, spool_file(tmp_path), 2, 2)
    assert sorted(OutboundEmail.objects.filter(kind="recording_ready").values_list("to", flat=True)) == [
        "cora@example.com",
        "olaf@example.com",
    ]


# --- The recorder participant ---------------------------------------------------------


def _connected_recorder(room: Room) -> tuple[Recording, services.RecorderSession]:
    services.start_recording(room.creator)
    job = services.claim_job(WORKER)
    session = services.open_recorder(job.recording_id, job.token)
    services.recorder_connected(session, "chan-1")
    return Recording.objects.get(pk=job.recording_id), session


def test_it_keeps_the_recorder_out_of_the_roster_counts_polls_and_rights(room, sent, committed):
    with committed():
        recording, session = _connected_recorder(room)
    recorder = Participant.objects.get(pk=session.participant_id)
    assert (recorder.is_recorder, recorder.state, recorder.connected) == (True, Participant.State.JOINED, True)
    assert sent.of(meeting_group(room.meeting.public_id), "recorder.joined") == [("recorder.joined", {"id": recorder.pk})]

    snapshot = meeting_services.room_snapshot(room.participant)
    assert recorder.pk not in [p["id"] for p in snapshot["participants"]]
    assert snapshot["recorder"] == {"id": recorder.pk}
    assert snapshot["recording"]["id"] == recording.pk

    assert [action for action in RULES if can(recorder, action)] == ["signal"]
    # Browsers may signal it; organizers cannot act on it.
    meeting_services.check_signal(room.participant, recorder.pk)
    with pytest.raises(RoomError):
        meeting_services.kick_participant(room.creator, recorder.pk)
    # Not a seat: a meeting of 4 present people and a recorder is full at 4.
    room.meeting.__class__.objects.filter(pk=room.meeting.pk).update(max_participants=4)
    with pytest.raises(meeting_services.JoinRefused):
        meeting_services.join_meeting(room.meeting, session_key="x" * 32, name="Late")
    room.meeting.__class__.objects.filter(pk=room.meeting.pk).update(max_participants=5)
    assert meeting_services.join_meeting(room.meeting, session_key="y" * 32, name="Late").state == Participant.State.LOBBY


def test_it_does_not_count_the_recorder_as_someone_who_may_answer_a_poll(room):
    _connected_recorder(room)

    run = PollRun.objects.create(
        meeting=room.meeting,
        title="Q",
        definition=[],
        duration_seconds=60,
        started_by=room.creator,
        closes_at=timezone.now() + timedelta(minutes=1),
    )
    assert poll_services._eligible_count(run, 0) == 3  # organizer, presenter, participant


def test_it_lets_the_recorder_signal_only_joined_people_of_its_meeting(room):
    _recording, session = _connected_recorder(room)
    Participant.objects.filter(pk=room.participant.pk).update(connected=True)
    services.check_recorder_signal(session, room.participant.pk)
    for target in (room.guest.pk, make_participant(make_meeting(make_user())).pk, 2**40):
        with pytest.raises(RoomError):
            services.check_recorder_signal(session, target)


def test_it_lets_the_recorder_go_when_its_socket_closes_or_its_lease_expires(room, sent, committed):
    recording, session = _connected_recorder(room)
    with committed():
        services.recorder_left(session, "some-other-channel")  # a replaced socket: nothing
    assert Participant.objects.get(pk=session.participant_id).state == Participant.State.JOINED
    with committed():
        services.recorder_left(session, "chan-1")
    assert Participant.objects.get(pk=session.participant_id).state == Participant.State.LEFT
    assert sent.of(meeting_group(room.meeting.public_id), "recorder.left") == [("recorder.left", {"id": session.participant_id})]
    assert meeting_services.room_snapshot(room.participant)["recorder"] is None

    services.recorder_connected(session, "chan-2")
    expire(recording)
    with committed():
        services.sweep_expired_leases()
    assert Participant.objects.get(pk=session.participant_id).state == Participant.State.LEFT
    assert len(sent.of(meeting_group(room.meeting.public_id), "recorder.left")) == 2
