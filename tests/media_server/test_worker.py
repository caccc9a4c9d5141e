"""The media worker end to end: a real web server, Redis and PostgreSQL, the worker as a
process of its own (``manage.py media_worker``), and Python aiortc participants that
join like browsers and send a moving test pattern and a tone of their own.

The recorded file is read back with PyAV: the preset's codecs and size, a duration
within 10% of the time recorded, both tones in the sound, pictures that move, and a
participant who joins mid-recording in the picture from then on. The kill test
SIGKILLs the worker mid-recording: the partial file plays, the restarted worker
stores it as an interrupted segment, records the next one, and the organizer gets
the links when the meeting ends.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from channels.db import database_sync_to_async
from django.urls import reverse
from django.utils import timezone

from media_server.encoding import Recorder
from media_server.mixing import AudioMixer
from media_server.models import Recording
from media_server.peer import RecorderPeers
from media_server.presets import get_preset
from media_server.worker import MediaWorker, MeetingMix, media_duration, recorder_socket_url, web_origin
from tests.aiortc_participants import SineTrack, TestPatternTrack
from tests.fixtures_live import LiveProcess
from tests.media_server.recorded import decoded_audio, decoded_video, media_end, media_end_or_zero, share_of_color, tone_share
from tests.recording_live import MEDIA_TIMEOUT, TONES, recording_in, shared_meeting, stored_path, wait_for, wait_media_from

PRESET = "webm_720p"
RED, GREEN, BLUE, YELLOW = (200, 40, 40), (40, 170, 60), (40, 60, 200), (230, 210, 40)


# --- The pieces ---------------------------------------------------------------------------


def two_people_recorded(asgi_server, participants, worker: LiveProcess):
    """Olivia (the owner) and Bob in a meeting; Olivia starts recording, the worker takes
    it and receives both. → owner, meeting, olivia, bob, the recording."""
    owner, meeting = shared_meeting()
    olivia = participants.join(asgi_server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(asgi_server, meeting, "Bob Guest", GREEN)
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    recording = wait_for(lambda: recording_in(meeting, 1, ("recording",)), "the worker to take the job", worker=worker)
    wait_media_from(worker, olivia, bob)
    return owner, meeting, olivia, bob, recording


# --- Tests --------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_records_the_meeting_mixed_with_a_late_joiner_into_the_preset(asgi_server, live_env, start_media_worker, participants):
    worker = start_media_worker()
    owner, meeting = shared_meeting()
    olivia = participants.join(asgi_server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(asgi_server, meeting, "Bob Guest", GREEN)

    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    wait_for(lambda: recording_in(meeting, 1, ("recording",)), "the worker to take the job", worker=worker)
    wait_media_from(worker, olivia, bob)
    time.sleep(2.0)  # two people recorded for a while (not a wait for a condition)

    cleo_joining = time.time()
    cleo = participants.join(asgi_server, meeting, "Cleo Late", BLUE)
    wait_media_from(worker, cleo)
    cleo_in = time.time()
    time.sleep(2.0)  # three people recorded for a while
    participants.run(olivia.request("recording.stop"))

    recording = wait_for(lambda: recording_in(meeting, 1, ("done",)), "the recording to be stored", worker=worker)
    path = stored_path(live_env, recording)
    preset = get_preset(PRESET)

    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("vp8", preset.width, preset.height)
        assert audio.codec_context.name == "opus"
    recorded = (recording.ended_at - recording.started_at).total_seconds()
    duration = media_end(path)
    assert abs(duration - recorded) <= 0.1 * recorded, (duration, recorded)
    assert recording.duration == pytest.approx(duration, abs=0.2)
    assert recording.size == path.stat().st_size

    sound, rate = decoded_audio(path)
    assert np.sqrt(np.mean(sound**2)) > 300, "the mix is silent"
    # Media time ≈ wall time since the worker took the job (its clock starts then).
    cleo_joined_at = cleo_joining - recording.started_at.timestamp()
    cleo_seen_at = cleo_in - recording.started_at.timestamp()
    start = sound[int((cleo_joined_at - 1.5) * rate) : int((cleo_joined_at - 0.5) * rate)]
    end = sound[-rate:]
    for frequency in (TONES["Olivia Owner"], TONES["Bob Guest"]):
        assert tone_share(start, rate, frequency) > 0.2, frequency
        assert tone_share(end, rate, frequency) > 0.15, frequency
    assert tone_share(start, rate, TONES["Cleo Late"]) < 0.01  # not there before she joined
    assert tone_share(end, rate, TONES["Cleo Late"]) > 0.15  # there at the end

    pictures = list(decoded_video(path))
    # A loaded machine skips frames rather than falling behind: count loosely.
    assert len(pictures) * 5 >= duration * preset.fps * 0.3, len(pictures)
    changed = sum(not np.array_equal(a, b) for (_t, a), (_u, b) in zip(pictures, pictures[1:], strict=False))
    assert changed >= len(pictures) * 0.8, "the picture does not move"
    # Cleo appears from when she joined: none of her blue before, a tile of her own
    # once she is in; Olivia and Bob are there at the end too.
    before = [share_of_color(p, BLUE) for t, p in pictures if t < cleo_joined_at - 0.2]
    after = [p for t, p in pictures if t > cleo_seen_at + 0.5]
    assert before and after
    assert max(before) < 0.005, before
    assert min(share_of_color(p, BLUE) for p in after) > 0.05
    assert min(share_of_color(p, RED) for p in after) > 0.05
    assert min(share_of_color(p, GREEN) for p in after) > 0.05


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_puts_a_shared_screen_in_the_large_place_while_it_is_shared(asgi_server, live_env, start_media_worker, participants):
    worker = start_media_worker()
    owner, meeting = shared_meeting()
    olivia = participants.join(asgi_server, meeting, "Olivia Owner", RED, user=owner.user)
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    wait_for(lambda: recording_in(meeting, 1, ("recording",)), "the worker to take the job", worker=worker)
    wait_media_from(worker, olivia)
    seen = time.time()  # her camera is in the mix from about now (a loaded machine: seconds after the start)
    time.sleep(1.0)  # the camera alone for a while

    sharing = time.time()
    participants.run(olivia.share_screen(YELLOW))  # a new offer with the screen's own stream
    worker.wait_for_line(f"receiving video from participant {olivia.id}", occurrences=2, timeout=MEDIA_TIMEOUT)
    shared = time.time()
    time.sleep(1.5)  # the screen for a while
    participants.run(olivia.request("recording.stop"))

    recording = wait_for(lambda: recording_in(meeting, 1, ("done",)), "the recording to be stored", worker=worker)
    start = recording.started_at.timestamp()
    pictures = list(decoded_video(stored_path(live_env, recording), every=3))
    alone = [p for t, p in pictures if seen - start + 0.5 < t < sharing - start - 0.2]
    screen = [p for t, p in pictures if t > shared - start + 0.5]
    assert alone and screen
    # Alone: her camera fills the picture's width, no screen.
    assert max(share_of_color(p, YELLOW) for p in alone) < 0.005
    assert min(share_of_color(p, RED) for p in alone) > 0.4
    # Sharing: the screen takes the large place, her camera a small tile beside it.
    for picture in screen:
        yellow, red = share_of_color(picture, YELLOW), share_of_color(picture, RED)
        assert yellow > 0.3 and 0.01 < red < yellow / 3, (yellow, red)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_keeps_what_a_killed_worker_recorded_and_goes_on_after_its_restart(
    asgi_server, live_env, start_media_worker, participants, celery_worker, tmp_path
):
    worker = start_media_worker("worker-k")
    owner, meeting, olivia, bob, first = two_people_recorded(asgi_server, participants, worker)
    spool = next((tmp_path / "spool" / "worker-k").glob("recording-*"))
    wait_for(lambda: media_end_or_zero(spool) >= 1.5, "1.5 s on disk", worker=worker)

    worker.kill()

    # What is on disk plays: it opens and its pictures decode.
    assert media_end_or_zero(spool) >= 1.5
    assert len(list(decoded_video(spool, every=1))) >= 20
    first.refresh_from_db()
    assert first.state == "recording"  # nobody knows yet

    worker = start_media_worker("worker-k")
    first = wait_for(lambda: recording_in(meeting, 1, ("interrupted",)), "the partial segment to be stored", worker=worker)
    assert first.file and first.duration >= 1.5
    wait_for(lambda: not spool.exists(), "the stored file to leave the spool", worker=worker)
    assert len(list(decoded_video(stored_path(live_env, first), every=1))) >= 20  # stored as it was: it plays
    wait_for(lambda: recording_in(meeting, 2, ("recording",)), "the next segment to be taken", worker=worker)
    wait_media_from(worker, olivia, bob)
    time.sleep(1.5)  # the second segment records for a while

    participants.run(olivia.request("meeting.end"))

    second = wait_for(lambda: recording_in(meeting, 2, ("done",)), "the second segment to be stored", worker=worker)
    assert second.duration >= 1.0
    path = stored_path(live_env, second)
    assert media_end(path) >= 1.0

    def mail() -> str | None:
        for message in live_env.outbox.glob("*.log"):
            text = message.read_text()
            if "recordings" in text or reverse("recording_download", args=[second.pk]) in text:
                return text
        return None

    text = wait_for(mail, "the e-mail with the links", worker=worker)
    assert owner.user.email in text
    for recording in (first, second):
        assert asgi_server.url + reverse("recording_download", args=[recording.pk]) in text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_rebuilds_what_a_killed_worker_recorded_on_another_machine_from_its_checkpoints(
    asgi_server, live_env, start_media_worker, participants, celery_worker, tmp_path
):
    worker = start_media_worker("machine-a", PARLEY_MEDIA_CHECKPOINT_SECONDS="1")
    _owner, meeting, _olivia, _bob, first = two_people_recorded(asgi_server, participants, worker)
    wait_for(lambda: Recording.objects.filter(pk=first.pk, parts_duration__gte=2.0).first(), "2 s in checkpoints", worker=worker)

    worker.kill()
    shutil.rmtree(tmp_path / "spool" / "machine-a")  # that machine is gone with its disk
    checkpointed = Recording.objects.get(pk=first.pk)

    worker = start_media_worker("machine-b", PARLEY_MEDIA_CHECKPOINT_SECONDS="1")
    first = wait_for(
        lambda: Recording.objects.filter(pk=first.pk, state="interrupted").exclude(file="").first(), "the rebuilt file", worker=worker
    )
    assert (first.size, first.parts) == (checkpointed.parts_size, 0)
    path = stored_path(live_env, first)
    # Up to the last checkpoint, less the cluster that was being built then.
    assert checkpointed.parts_duration - 1.0 <= media_end(path) <= checkpointed.parts_duration
    assert first.duration == pytest.approx(media_end(path), abs=0.05)
    assert len(list(decoded_video(path, every=1))) >= 30  # it plays, pictures and all
    assert not list((Path(live_env.variables["PARLEY_DATA_DIR"]) / "media" / "recordings" / "parts").glob("*/*"))
    # The meeting goes on in a new segment, recorded by the other machine.
    wait_for(lambda: recording_in(meeting, 2, ("recording",)), "the next segment to be taken", worker=worker)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_stores_the_recording_as_interrupted_when_the_worker_is_told_to_stop(asgi_server, live_env, start_media_worker, participants):
    worker = start_media_worker()
    owner, meeting = shared_meeting()
    olivia = participants.join(asgi_server, meeting, "Olivia Owner", RED, user=owner.user)
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    wait_for(lambda: recording_in(meeting, 1, ("recording",)), "the worker to take the job", worker=worker)
    wait_media_from(worker, olivia)
    time.sleep(1.0)  # recorded for a while

    worker.process.send_signal(signal.SIGTERM)  # as manage.py parley stops its children
    assert worker.process.wait(timeout=20) == 0

    first = Recording.objects.get(meeting=meeting, segment=1)
    assert first.state == "interrupted" and first.file and first.duration >= 1.0
    assert media_end(stored_path(live_env, first)) >= 1.0
    # The meeting goes on: the next segment waits for a worker.
    assert recording_in(meeting, 2, ("pending",))


# --- Units: routing, peers, spool (no processes) ----------------------------------------------


class FakeCompositor:
    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def video_frame(color=(10, 20, 30)) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((36, 64, 3), color, dtype=np.uint8), format="rgb24")


def audio_frame(value: int = 1000) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.full((1, 960), value, dtype=np.int16), format="s16", layout="mono")
    frame.sample_rate = 48_000
    return frame


def test_it_routes_cameras_the_shared_screen_and_sound_by_participant_and_stream():
    compositor = FakeCompositor()
    mix = MeetingMix(compositor, AudioMixer())  # type: ignore[arg-type]
    mix.roster({"participants": [{"id": 1, "name": "Ann", "camera": True, "mic": True}], "share": None})
    mix.joined({"id": 2, "name": "Bob", "camera": False, "mic": True})
    mix.share_started({"participant_id": 1, "kind": "screen", "stream_id": "screen-a", "name": "Ann"})
    camera, screen = video_frame(), video_frame((200, 0, 0))

    mix.video_frame(1, "camera-a", camera)
    mix.video_frame(1, "screen-a", screen)
    mix.video_frame(2, "camera-b", camera)  # Bob says his camera is off: not shown
    mix.video_frame(9, "camera-x", camera)  # not in the roster: dropped
    mix.audio_frame(2, "camera-b", audio_frame())
    mix.audio_frame(9, "camera-x", audio_frame())

    assert compositor.calls == [
        ("add_source", "1", "Ann"),
        ("add_source", "2", "Bob"),
        ("camera_stopped", "2"),
        ("push_camera", "1", camera),
        ("push_screen", "1", screen),
    ]
    assert mix.mixer.source_ids == ["2/camera-b"]
    assert np.abs(mix.mixer.mix()).max() > 0

    compositor.calls.clear()
    mix.updated({"id": 1, "name": "Ann B.", "camera": False, "mic": True})
    mix.share_stopped(1)
    mix.video_frame(1, "screen-a", screen)  # the share is over: not a screen any more, and her camera is off
    mix.left(2)
    assert compositor.calls == [
        ("add_source", "1", "Ann B."),
        ("camera_stopped", "1"),
        ("screen_stopped", "1"),
        ("remove_source", "2"),
    ]
    assert mix.mixer.source_ids == []

    compositor.calls.clear()
    mix.roster({"participants": [{"id": 3, "name": "Cleo", "camera": True, "mic": True}], "share": None})  # after a reconnect
    assert compositor.calls == [("remove_source", "1"), ("add_source", "3", "Cleo")]


class StreamCounter:
    """A MediaSink that counts frames by (participant, stream, kind)."""

    def __init__(self):
        self.frames: dict[tuple[int, str, str], int] = {}

    def video_frame(self, participant_id, stream_id, frame):
        self._count(participant_id, stream_id, "video")

    def audio_frame(self, participant_id, stream_id, frame):
        self._count(participant_id, stream_id, "audio")

    def _count(self, *key):
        self.frames[key] = self.frames.get(key, 0) + 1

    def track_ended(self, participant_id, stream_id, kind):
        pass


async def test_it_receives_every_track_of_a_first_offer_with_a_microphone_a_camera_and_a_screen():
    # As a browser that offers while already sharing (a new recorder, a fresh connection):
    # audio first, then two videos. aiortc's default bundle policy left the second video
    # on a transport that bundling stops.
    answers: list[dict] = []

    async def send(body: dict) -> None:
        answers.append(body)

    counter = StreamCounter()
    peers = RecorderPeers(send, counter)
    browser = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    browser.addTransceiver(SineTrack(440.0), direction="sendonly")
    browser.addTransceiver(TestPatternTrack(RED, width=320, height=180), direction="sendonly")
    screen = browser.addTransceiver(TestPatternTrack(YELLOW, width=320, height=180), direction="sendonly")
    screen.sender._stream_id = "screen-1"
    try:
        await browser.setLocalDescription(await browser.createOffer())
        await peers.on_signal({"from": 3, "description": {"type": "offer", "sdp": browser.localDescription.sdp}})
        await browser.setRemoteDescription(RTCSessionDescription(**answers[0]["description"]))
        async with asyncio.timeout(15):
            while len(counter.frames) < 3:
                await asyncio.sleep(0.05)
        kinds = sorted((stream == "screen-1", kind) for _person, stream, kind in counter.frames)
        assert kinds == [(False, "audio"), (False, "video"), (True, "video")], counter.frames
    finally:
        await browser.close()
        await peers.close()


async def test_it_refuses_bad_signals_without_keeping_a_connection_or_answering():
    sent: list[dict] = []

    async def send(body: dict) -> None:
        sent.append(body)

    peers = RecorderPeers(send, MeetingMix(None, AudioMixer()))
    await peers.on_signal({"from": 3, "description": {"type": "offer", "sdp": "v=0\r\nnot an offer\r\n"}})
    await peers.on_signal({"from": 3, "description": {"type": "answer", "sdp": "v=0\r\n"}})  # we never offer
    await peers.on_signal(
        {"from": 4, "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}
    )
    await peers.on_signal({"from": "3", "description": {"type": "offer", "sdp": "v=0"}})
    assert peers.peers == {} and sent == []
    await peers.close()


def test_it_builds_the_recorder_socket_address_from_the_web_url(settings, monkeypatch):
    monkeypatch.delenv("PARLEY_MEDIA_WEB_URL", raising=False)
    settings.PARLEY_MEDIA_WEB_URL = ""
    settings.PARLEY_BASE_URL = "https://meet.example.org/parley"
    assert recorder_socket_url(7, "a:b/c") == "wss://meet.example.org/parley/ws/recorder/7/?token=a%3Ab%2Fc"
    settings.PARLEY_MEDIA_WEB_URL = "http://10.0.0.5:8000/"
    assert recorder_socket_url(7, "t") == "ws://10.0.0.5:8000/ws/recorder/7/?token=t"
    assert web_origin() == "http://10.0.0.5:8000"


def write_partial_webm(path: Path, seconds: float) -> None:
    """A WebM cut mid-way, as a SIGKILL leaves it: what was on disk while recording."""
    live = path.with_name("live.tmp")
    with Recorder(live, get_preset("audio_opus")) as recorder:
        for index in range(int(seconds * 50)):
            recorder.write_audio(np.full((960, 2), 500, dtype=np.int16), index * 960)
        data = live.read_bytes()  # before close(): no index, no duration
    path.write_bytes(data[: len(data) - 100])  # and cut in the middle of a cluster
    live.unlink()


def a_recording_in_progress() -> Recording:
    _owner, meeting = shared_meeting()
    return Recording.objects.create(
        meeting=meeting, segment=1, preset="audio_opus", state="recording", worker_id="w", lease_expires_at=timezone.now()
    )


def refreshed(recording: Recording) -> tuple[Recording, bool]:
    recording.refresh_from_db()
    return recording, Recording.objects.filter(meeting=recording.meeting, segment=2, state="pending").exists()


@pytest.mark.django_db(transaction=True)
async def test_it_stores_the_files_a_previous_run_left_in_its_spool_and_ignores_others(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    recording = await database_sync_to_async(a_recording_in_progress)()
    spool = tmp_path / "spool"
    spool.mkdir()
    partial = spool / f"recording-{recording.pk}-1.webm"
    write_partial_webm(partial, 2.0)
    (spool / "notes.txt").write_text("not a recording")
    assert 1.0 <= media_duration(partial) <= 2.0

    await MediaWorker("w", spool).store_orphans()

    recording, next_segment_waits = await database_sync_to_async(refreshed)(recording)
    assert recording.state == "interrupted" and recording.file
    assert 1.0 <= recording.duration <= 2.0
    assert not partial.exists() and (spool / "notes.txt").exists()
    assert next_segment_waits  # the meeting goes on: a new segment waits for a worker
