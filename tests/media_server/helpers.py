"""Recording set-ups shared by the media_server tests: a meeting with its people, whose
recording a worker claimed (synthetic media are in tests/media_server/media.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from media_server import services
from media_server.models import Recording
from meetings.models import Participant, Role, RoomType
from tests.factories import make_extension, make_meeting, make_participant, make_user

WORKER = "host-a:101"


class Room:
    def __init__(self):
        owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED, email="cora@example.com")
        owner.user.email = "cora@example.com"
        owner.user.save()
        self.meeting = make_meeting(owner, room_type=RoomType.SHARED, lobby_enabled=True, recording_preset="audio_opus")
        self.owner = owner.user
        self.creator = make_participant(self.meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator")
        self.other_user = make_user(email="olaf@example.com")
        self.organizer = make_participant(self.meeting, user=self.other_user, role=Role.ORGANIZER, name="Olaf Organizer")
        self.presenter = make_participant(self.meeting, name="Pia Presenter", role=Role.PRESENTER)
        self.participant = make_participant(self.meeting, name="Paul Participant")
        self.guest = make_participant(self.meeting, name="Gus Guest", state=Participant.State.LOBBY)


def spool_file(tmp_path, name: str = "part.webm", data: bytes = b"\x1a\x45\xdf\xa3 webm bytes") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def claimed(room: Room, worker: str = WORKER) -> Recording:
    services.start_recording(room.creator)
    job = services.claim_job(worker)
    assert job is not None
    return Recording.objects.get(pk=job.recording_id)


def expire(recording: Recording) -> None:
    Recording.objects.filter(pk=recording.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
