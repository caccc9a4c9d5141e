"""The recording download (who may, local storage and S3), the organizer's web client
list, the admin (recordings and presets) and the meeting report's recordings section."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse

from media_server import report
from media_server.models import Recording
from meetings.models import Participant, Role, RoomType
from tests.factories import make_extension, make_meeting, make_participant, make_user

pytestmark = pytest.mark.django_db

DATA = b"\x1a\x45\xdf\xa3 a small webm"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class Setup:
    def __init__(self):
        owner = make_extension(room_type=RoomType.SHARED)
        self.owner = owner.user
        self.meeting = make_meeting(owner, title="Quarterly review", ended=True)
        self.organizer = make_user()
        self.member = make_user()
        self.outsider = make_extension().user
        self.staff = make_user(is_staff=True)
        left = Participant.State.LEFT
        make_participant(self.meeting, user=self.owner, role=Role.ORGANIZER, state=left)
        make_participant(self.meeting, user=self.organizer, role=Role.ORGANIZER, state=left)
        make_participant(self.meeting, user=self.member, role=Role.PRESENTER, state=left)
        name = default_storage.save(f"recordings/{self.meeting.public_id}/01-test.webm", ContentFile(DATA))
        self.recording = Recording.objects.create(
            meeting=self.meeting, segment=1, preset="webm_720p", state=Recording.State.DONE, file=name, size=len(DATA), duration=125.0
        )
        self.url = reverse("recording_download", args=[self.recording.pk])


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_it_lets_the_owner_the_organizers_and_staff_download(setup):
    for user in (setup.owner, setup.organizer, setup.staff):
        response = logged_in(user).get(setup.url)
        assert response.status_code == 200, user
        assert b"".join(response.streaming_content) == DATA
        assert response["Content-Type"] == "video/webm"
        assert response["Content-Disposition"] == f'attachment; filename="recording-{setup.meeting.public_id}-01.webm"'


def test_it_refuses_participants_outsiders_and_anonymous_visitors(setup):
    for user in (setup.member, setup.outsider):
        assert logged_in(user).get(setup.url).status_code == 403, user
    anonymous = Client().get(setup.url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert logged_in(setup.owner).post(setup.url).status_code == 405


def test_it_answers_404_for_a_recording_without_a_file_or_none_at_all(setup):
    pending = Recording.objects.create(meeting=setup.meeting, segment=2, preset="webm_720p", state=Recording.State.FINALIZING)
    client = logged_in(setup.owner)
    assert client.get(reverse("recording_download", args=[pending.pk])).status_code == 404
    assert client.get(reverse("recording_download", args=[999999])).status_code == 404
    # An outsider learns nothing more from a missing file than from a forbidden one.
    assert logged_in(setup.outsider).get(reverse("recording_download", args=[pending.pk])).status_code == 404


def test_it_redirects_to_a_short_lived_signed_url_with_s3_storage(setup, settings):
    settings.AWS_STORAGE_BUCKET_NAME = "parley-test"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "parley-test",
                "endpoint_url": "http://127.0.0.1:9",
                "region_name": "us-east-1",
                "access_key": "test-key",
                "secret_key": "test-secret",
                "querystring_auth": True,
                "querystring_expire": 600,
                "signature_version": "s3v4",
            },
        },
    }
    response = logged_in(setup.owner).get(setup.url)
    assert response.status_code == 302
    location = urlparse(response["Location"])
    query = parse_qs(location.query)
    assert location.path == f"/parley-test/{setup.recording.file.name}"
    assert query["X-Amz-Expires"] == ["600"] and query["X-Amz-Signature"]
    assert query["response-content-disposition"] == [f'attachment; filename="recording-{setup.meeting.public_id}-01.webm"']
    assert logged_in(setup.outsider).get(setup.url).status_code == 403


def test_it_lists_the_recordings_in_the_organizers_web_client(setup):
    page = logged_in(setup.owner).get(reverse("client")).content.decode()
    assert 'id="recordings"' in page and "Quarterly review" in page
    assert setup.url in page and "2:05" in page and str(filesizeformat(len(DATA))) in page
    assert setup.url not in logged_in(setup.outsider).get(reverse("client")).content.decode()


def test_it_shows_recordings_and_the_presets_in_the_admin(setup):
    client = logged_in(make_user(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:media_server_recording_changelist")).content.decode()
    for text in ("Quarterly review", "720p WebM, VP8/Opus", "2:05", "1080p MP4, H.264/AAC", "Audio only, Opus", "Presets"):
        assert text in page, text
    detail = client.get(reverse("admin:media_server_recording_change", args=[setup.recording.pk])).content.decode()
    assert setup.url in detail


def test_it_puts_the_links_in_the_meeting_report(setup):
    failed = Recording.objects.create(
        meeting=setup.meeting, segment=2, preset="audio_opus", state=Recording.State.FAILED, error="No media worker"
    )
    pieces = report.recordings(setup.meeting)
    assert [piece["title"] for piece in pieces] == ["Recording, part 1", "Recording, part 2"]
    assert f"http://testserver{setup.url}" in pieces[0]["text"] and f"http://testserver{setup.url}" in pieces[0]["html"]
    assert "download" not in pieces[1]["text"].lower() and failed.get_state_display() in pieces[1]["text"]


def test_it_deletes_a_recording_and_its_file_from_the_admin(setup, django_capture_on_commit_callbacks):
    client = logged_in(make_user(is_staff=True, is_superuser=True))
    name = setup.recording.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:media_server_recording_delete", args=[setup.recording.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Recording.objects.filter(pk=setup.recording.pk).exists()
    assert not default_storage.exists(name)
