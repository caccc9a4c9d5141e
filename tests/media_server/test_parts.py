"""Checkpoints of a recording (media_server.services.store_part) and the rebuilding of
an interrupted recording from them on any machine (assemble_parts): bytes in order,
retried calls, another worker's parts refused, a missing part, the longer spool file
preferred, the parts deleted once a file is stored, and the e-mail waiting for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage

from core.models import OutboundEmail
from media_server import services, tasks
from media_server.models import Recording
from media_server.presets import get_preset
from meetings import services as meeting_services
from tests.media_server.helpers import WORKER, Room, claimed, expire, spool_file
from tests.media_server.media import read_back, record

pytestmark = pytest.mark.django_db

State = Recording.State
FIRST, SECOND, THIRD = b"\x1a\x45\xdf\xa3 header and cluster 1 ", b"cluster 2 ", b"cluster 3"


@pytest.fixture
def room() -> Room:
    return Room()


class Spool:
    """A spool file that grows, as the worker's does."""

    def __init__(self, tmp_path):
        self.path = tmp_path / "recording.webm"
        self.path.write_bytes(b"")

    def grow(self, data: bytes) -> int:
        """Append ``data``; the file's size."""
        with self.path.open("ab") as handle:
            handle.write(data)
        return self.path.stat().st_size


def checkpoint(recording: Recording, spool: Spool, data: bytes, duration: float, worker: str = WORKER) -> bool:
    return services.store_part(recording.pk, worker, str(spool.path), spool.grow(data), duration)


@pytest.fixture
def recording_with_parts(room, tmp_path) -> tuple[Recording, Spool]:
    recording = claimed(room)
    spool = Spool(tmp_path)
    for data, duration in ((FIRST, 10.0), (SECOND, 20.0), (THIRD, 30.0)):
        assert checkpoint(recording, spool, data, duration) is True
    recording.refresh_from_db()
    return recording, spool


@pytest.fixture
def assemblies(monkeypatch) -> list[int]:
    """Recording ids the assembly task was enqueued for (run by hand in these tests)."""
    enqueued: list[int] = []
    monkeypatch.setattr(tasks.assemble_parts, "delay", enqueued.append)
    return enqueued


def stored_parts(recording: Recording, count: int = 3) -> list[bytes | None]:
    found = []
    for index in range(count):
        name = services.part_name(recording.pk, index)
        found.append(default_storage.open(name, "rb").read() if default_storage.exists(name) else None)
    return found


# --- Checkpoints ------------------------------------------------------------------------


def test_it_stores_each_checkpoint_as_what_the_file_gained(recording_with_parts):
    recording, _spool = recording_with_parts
    assert (recording.parts, recording.parts_size, recording.parts_duration) == (3, len(FIRST + SECOND + THIRD), 30.0)
    assert stored_parts(recording) == [FIRST, SECOND, THIRD]


def test_it_stores_nothing_when_the_file_gained_nothing(recording_with_parts):
    recording, spool = recording_with_parts
    assert services.store_part(recording.pk, WORKER, str(spool.path), spool.path.stat().st_size, 31.0) is False
    recording.refresh_from_db()
    assert (recording.parts, recording.parts_duration) == (3, 30.0)


def test_it_carries_on_where_the_stored_parts_end_after_a_failed_checkpoint(room, tmp_path, monkeypatch):
    recording = claimed(room)
    spool = Spool(tmp_path)
    assert checkpoint(recording, spool, FIRST, 1.0) is True

    class StorageAway:
        def __getattr__(self, name):
            return getattr(default_storage, name)

        def save(self, name, content):
            raise OSError("the storage is unreachable")

    with monkeypatch.context() as patched, pytest.raises(OSError):
        patched.setattr(services, "default_storage", StorageAway())
        checkpoint(recording, spool, SECOND, 2.0)
    assert checkpoint(recording, spool, THIRD, 3.0) is True  # the next one takes both
    recording.refresh_from_db()
    assert (recording.parts, recording.parts_size, recording.parts_duration) == (2, len(FIRST + SECOND + THIRD), 3.0)
    assert stored_parts(recording) == [FIRST, SECOND + THIRD, None]


def test_it_refuses_parts_of_another_worker_or_after_the_recording(room, tmp_path, assemblies):
    recording = claimed(room)
    spool = Spool(tmp_path)
    with pytest.raises(services.RecordingLost):
        checkpoint(recording, spool, FIRST, 1.0, worker="host-b:9")
    expire(recording)
    services.sweep_expired_leases()
    with pytest.raises(services.RecordingLost):
        services.store_part(recording.pk, WORKER, str(spool.path), spool.path.stat().st_size, 1.0)
    recording.refresh_from_db()
    assert (recording.parts, stored_parts(recording, 1)) == (0, [None])
    assert assemblies == []  # nothing to rebuild


# --- Rebuilding -------------------------------------------------------------------------


def test_it_rebuilds_an_interrupted_recording_from_its_parts_and_mails_once_it_is_stored(recording_with_parts, room, assemblies, committed):
    recording, _spool = recording_with_parts
    meeting_services.end_meeting(room.meeting, room.owner)  # the worker is asked to finish
    expire(recording)  # ... but it died
    with committed():
        services.sweep_expired_leases()
    assert assemblies == [recording.pk]
    assert not OutboundEmail.objects.filter(kind="recording_ready").exists()  # the file is on its way

    with committed():
        assert services.assemble_parts(recording.pk) is True
    recording.refresh_from_db()
    assert (recording.state, recording.size, recording.parts) == (State.INTERRUPTED, len(FIRST + SECOND + THIRD), 0)
    assert "rebuilt" in recording.error
    with default_storage.open(recording.file.name, "rb") as stored:
        assert stored.read() == FIRST + SECOND + THIRD
    assert recording.file.name.endswith("." + get_preset(recording.preset).extension)
    assert stored_parts(recording) == [None, None, None]
    mail = OutboundEmail.objects.get(kind="recording_ready")
    assert f"/client/recordings/{recording.pk}/download/" in mail.body_text
    assert services.assemble_parts(recording.pk) is False  # a second run changes nothing


def test_it_ends_a_rebuilt_file_where_a_part_is_missing(recording_with_parts, assemblies, committed):
    recording, _spool = recording_with_parts
    default_storage.delete(services.part_name(recording.pk, 1))
    expire(recording)
    services.sweep_expired_leases()
    with committed():
        assert services.assemble_parts(recording.pk) is True
    recording.refresh_from_db()
    with default_storage.open(recording.file.name, "rb") as stored:
        assert stored.read() == FIRST
    assert recording.size == len(FIRST)


def test_it_prefers_the_longer_spool_file_of_a_restarted_worker(recording_with_parts, tmp_path, assemblies, committed):
    recording, spool = recording_with_parts
    expire(recording)
    services.sweep_expired_leases()
    with committed():
        services.assemble_parts(recording.pk)
    recording.refresh_from_db()
    rebuilt = recording.file.name
    spool.grow(b" cluster 4")
    whole = spool.path.read_bytes()
    assert services.store_orphan(recording.pk, spool_file(tmp_path, "short.webm", FIRST), 10.0, len(FIRST)) is False
    with committed():
        assert services.store_orphan(recording.pk, str(spool.path), 40.0, len(whole)) is True
    recording.refresh_from_db()
    assert (recording.size, recording.duration) == (len(whole), 40.0)
    with default_storage.open(recording.file.name, "rb") as stored:
        assert stored.read() == whole
    assert not default_storage.exists(rebuilt)


def test_it_does_not_rebuild_what_a_restarted_worker_stored_first(recording_with_parts, assemblies, committed):
    recording, spool = recording_with_parts
    with committed():
        assert services.store_orphan(recording.pk, str(spool.path), 30.0, spool.path.stat().st_size) is True
    assert stored_parts(recording) == [None, None, None]
    assert services.assemble_parts(recording.pk) is False


def test_it_drops_the_parts_once_the_worker_stores_the_whole_file(recording_with_parts, committed):
    recording, spool = recording_with_parts
    with committed():
        services.finalize(recording.pk, WORKER, str(spool.path), 31.0, spool.path.stat().st_size)
    recording.refresh_from_db()
    assert (recording.state, recording.parts, recording.parts_size) == (State.DONE, 0, 0)
    assert stored_parts(recording) == [None, None, None]


def test_it_settles_a_recording_whose_parts_cannot_be_read_after_every_retry(recording_with_parts, room, monkeypatch, committed):
    recording, _spool = recording_with_parts
    meeting_services.end_meeting(room.meeting, room.owner)
    expire(recording)
    monkeypatch.setattr(tasks.assemble_parts, "delay", lambda _id: None)
    services.sweep_expired_leases()

    def storage_away(_recording_id: int) -> bool:
        raise OSError("the storage is unreachable")

    monkeypatch.setattr(services, "assemble_parts", storage_away)
    with committed():
        assert tasks.assemble_parts.apply(args=[recording.pk], retries=tasks.assemble_parts.max_retries).get() is False
    recording.refresh_from_db()
    assert (recording.parts, bool(recording.file)) == (0, False)
    assert "could not be rebuilt: the storage is unreachable" in recording.error
    assert stored_parts(recording) == [None, None, None]
    assert OutboundEmail.objects.filter(kind="recording_ready").count() == 1


def test_it_rebuilds_a_real_recording_that_plays_up_to_the_last_checkpoint(room, tmp_path, assemblies, committed):
    recording = claimed(room)
    preset = get_preset(recording.preset)
    path = tmp_path / f"spool.{preset.extension}"
    checkpoints: list[tuple[int, float]] = []  # (bytes on disk, seconds encoded) at each part

    def checkpoint_each_second(recorder) -> None:
        if recorder.duration >= len(checkpoints) + 1:
            duration, size = recorder.duration, path.stat().st_size
            if services.store_part(recording.pk, WORKER, str(path), size, duration):
                checkpoints.append((size, duration))

    record(path, preset, seconds=3.5, on_progress=checkpoint_each_second)  # killed: never closed
    assert len(checkpoints) == 3
    expire(recording)
    services.sweep_expired_leases()
    with committed():
        assert services.assemble_parts(recording.pk) is True
    recording.refresh_from_db()
    last_size, last_duration = checkpoints[-1]
    with default_storage.open(recording.file.name, "rb") as stored:
        assert stored.read() == path.read_bytes()[:last_size]  # the spool file as it was then
    played = read_back(Path(default_storage.path(recording.file.name)), partial=True)
    assert played.audio_peak > 3000
    assert last_duration - 1.0 <= played.duration <= last_duration
    assert recording.duration == pytest.approx(played.duration, abs=0.05)


def test_it_asks_again_for_a_rebuild_whose_task_was_lost_but_not_every_sweep(recording_with_parts, assemblies, committed):
    recording, _spool = recording_with_parts
    expire(recording)
    with committed():
        services.sweep_expired_leases()
        services.sweep_expired_leases()  # beat, every 5 s
    assert assemblies == [recording.pk]
    cache.clear()  # half an hour later, the task never ran
    with committed():
        services.sweep_expired_leases()
    assert assemblies == [recording.pk, recording.pk]
