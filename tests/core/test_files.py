"""Stored files go with their rows (``core.files``): a meeting deleted in the admin
leaves no recording, poll results PDF or annotation export behind."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from documents.models import Export, Presentation
from media_server.models import Recording
from media_server.services import delete_recordings
from polls.models import PollRun
from tests.factories import make_extension, make_meeting

pytestmark = pytest.mark.django_db


def stored(name: str) -> str:
    return default_storage.save(name, ContentFile(b"bytes of " + name.encode()))


def meeting_with_files():
    meeting = make_meeting(make_extension("olivia"))
    recording = Recording.objects.create(meeting=meeting, segment=1, preset="webm_720p", file=stored("recordings/one.webm"))
    now = timezone.now()
    run = PollRun.objects.create(
        meeting=meeting,
        title="Lunch",
        definition={"questions": []},
        duration_seconds=60,
        started_at=now,
        closes_at=now,
        pdf=stored("polls/results/lunch.pdf"),
    )
    board = Presentation.objects.create(meeting=meeting, kind="whiteboard", name="Board", sharer_name="Olivia")
    export = Export.objects.create(presentation=board, format="png", page=1, file=stored("documents/exports/board.png"))
    return meeting, [recording.file.name, run.pdf.name, export.file.name]


def test_it_deletes_a_deleted_meetings_files_once_committed(django_capture_on_commit_callbacks):
    meeting, names = meeting_with_files()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        meeting.delete()
    assert all(default_storage.exists(name) for name in names)  # not before the commit
    for callback in callbacks:
        callback()
    assert [name for name in names if default_storage.exists(name)] == []


def test_it_keeps_the_files_when_the_deletion_is_rolled_back(django_capture_on_commit_callbacks):
    meeting, names = meeting_with_files()
    meeting_id = meeting.pk
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        meeting.delete()
        raise RuntimeError("the admin's request failed")
    assert all(default_storage.exists(name) for name in names)
    assert Recording.objects.filter(meeting_id=meeting_id).count() == 1


def test_it_deletes_only_the_deleted_recordings_file(django_capture_on_commit_callbacks):
    meeting, (recording_name, pdf_name, export_name) = meeting_with_files()
    with django_capture_on_commit_callbacks(execute=True):
        assert delete_recordings(Recording.objects.filter(meeting=meeting)) == 1
    assert not default_storage.exists(recording_name)
    assert default_storage.exists(pdf_name) and default_storage.exists(export_name)


def test_it_deletes_a_row_without_a_file_quietly(django_capture_on_commit_callbacks):
    meeting = make_meeting(make_extension("paul"))
    Recording.objects.create(meeting=meeting, segment=1, preset="webm_720p")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        meeting.delete()
    assert callbacks == []
