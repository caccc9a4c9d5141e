"""Recording a meeting on the SFU: the real media worker process subscribes to the
meeting's Janus room (a real Janus, the web server, Celery worker, Redis and PostgreSQL), and
aiortc participants publish there like browsers (a colour and a tone each).

The stored file is read back with PyAV: every publisher's tile in the picture (their
colour at the tile's place), every tone in the sound; nothing was uploaded to the
recorder through the room socket; a meeting that moves from the mesh to the SFU while
recorded, and a Janus restarted while recording, leave one file that goes on.
"""

from __future__ import annotations

import asyncio
import re
import time

import av
import numpy as np
import pytest

from media_server.mixing import AudioMixer, grid_layout
from media_server.models import SfuRoom
from media_server.presets import get_preset
from media_server.services import ClaimedJob
from media_server.sfu import services as sfu_services
from media_server.sfu.subscriber import CAMERA_STREAM, SCREEN_STREAM, JanusRecording
from media_server.worker import MeetingMix, RecordingSession
from tests.aiortc_participants import AiortcParticipant
from tests.fixtures_live import LiveProcess
from tests.media_server.recorded import decoded_audio, decoded_video, media_end, share_of_color, tone_share
from tests.recording_live import (
    MEDIA_TIMEOUT,
    TONES,
    recorded_past,
    recording_in,
    recording_started,
    shared_meeting,
    stored_path,
    wait_for,
    wait_janus_media_from,
    wait_media_from,
)

PRESET = "webm_720p"
RED, GREEN, BLUE, YELLOW = (200, 40, 40), (40, 170, 60), (40, 60, 200), (230, 210, 40)
RECORDED_SECONDS = 2.0  # of everyone in the picture, before stopping
HANDOVER = re.compile(r"participant (\d+): media through Janus now, ([\d.]+) s after their last mesh frame")


# --- The pieces ---------------------------------------------------------------------------


def published(*people: AiortcParticipant, generation: int = 1) -> bool:
    return all(person.janus is not None and person.janus_generation == generation for person in people)


def stopped_and_stored(participants, organizer: AiortcParticipant, meeting, live_env, worker: LiveProcess):
    participants.run(organizer.request("recording.stop"))
    recording = wait_for(lambda: recording_in(meeting, 1, ("done",)), "the recording to be stored", worker=worker)
    path = stored_path(live_env, recording)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        preset = get_preset(PRESET)
        assert (video.codec_context.name, video.width, video.height) == ("vp8", preset.width, preset.height)
        assert audio.codec_context.name == "opus"
    recorded = (recording.ended_at - recording.started_at).total_seconds()
    assert abs(media_end(path) - recorded) <= 0.1 * recorded, (media_end(path), recorded)
    return recording, path


def _middle(picture: np.ndarray, rect) -> np.ndarray:
    # The middle of the tile: away from the name label (bottom), the counter (top) and the edges.
    return picture[rect.y + rect.height // 3 : rect.y + 2 * rect.height // 3, rect.x + rect.width // 4 : rect.x + 3 * rect.width // 4]


def every_tile_has_its_color(picture: np.ndarray, colors: list[tuple[int, int, int]]) -> list[float]:
    """The share of each tile's middle that has its person's colour (tiles in joining order)."""
    height, width = picture.shape[:2]
    rects = grid_layout(len(colors), width, height)
    return [share_of_color(_middle(picture, rect), color) for rect, color in zip(rects, colors, strict=True)]


def no_upload_to_the_recorder(worker: LiveProcess, *people: AiortcParticipant) -> None:
    """The recorder socket sent no signal, nobody got one from it, no mesh track came."""
    assert worker.count("signal to participant") == 0
    assert worker.count("track video from participant") == worker.count("track audio from participant") == 0
    for person in people:
        assert not [body for name, body in person.events if name == "signal"], person.name


# --- Tests --------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_records_an_sfu_meeting_from_janus_with_every_tile_voice_and_screen(
    start_sfu_stack, start_media_worker, participants, live_env, tmp_path
):
    stack = start_sfu_stack(PARLEY_SFU_SHARED_ROOMS="1")  # the shared room is on Janus from its first person
    worker = start_media_worker(server=stack.server, **stack.environment())
    owner, meeting = shared_meeting()
    olivia = participants.join(stack.server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(stack.server, meeting, "Bob Guest", GREEN)
    cleo = participants.join(stack.server, meeting, "Cleo Late", BLUE)
    wait_for(lambda: published(olivia, bob, cleo), "everyone to publish to Janus")

    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    started = recording_started(meeting, worker)
    wait_janus_media_from(worker, olivia, bob, cleo)
    everyone_in = time.time() - started
    recorded_past(worker, tmp_path, everyone_in + RECORDED_SECONDS)
    # Olivia shares her screen: a second publisher in Janus, the large place in the picture.
    sharing = time.time() - started
    participants.run(olivia.share_screen(YELLOW))
    worker.wait_for_line(f"receiving video from participant {olivia.id} through Janus (screen, generation 1)", timeout=MEDIA_TIMEOUT)
    shared = time.time() - started
    recorded_past(worker, tmp_path, shared + 1.5)
    _recording, path = stopped_and_stored(participants, olivia, meeting, live_env, worker)

    pictures = list(decoded_video(path, every=3))
    grid = [p for t, p in pictures if everyone_in + 0.5 < t < sharing]
    screen = [p for t, p in pictures if t > shared + 0.5]
    assert len(grid) >= 5 and screen
    for picture in grid:
        shares = every_tile_has_its_color(picture, [RED, GREEN, BLUE])
        assert min(shares) > 0.5, shares
    for picture in screen:  # the screen large, the three cameras in the strip beside it
        yellow, cameras = share_of_color(picture, YELLOW), [share_of_color(picture, color) for color in (RED, GREEN, BLUE)]
        assert yellow > 0.3 and min(cameras) > 0.01 and max(cameras) < yellow / 3, (yellow, cameras)
    sound, rate = decoded_audio(path)
    end = sound[-rate:]
    assert np.sqrt(np.mean(end**2)) > 300, "the mix is silent"
    for name in ("Olivia Owner", "Bob Guest", "Cleo Late"):
        assert tone_share(end, rate, TONES[name]) > 0.1, name
    no_upload_to_the_recorder(worker, olivia, bob, cleo)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_takes_no_upload_from_the_browsers_of_an_sfu_meeting(start_sfu_stack, start_media_worker, participants, live_env, tmp_path):
    stack = start_sfu_stack(PARLEY_SFU_SHARED_ROOMS="1")
    worker = start_media_worker(server=stack.server, **stack.environment())
    owner, meeting = shared_meeting()
    olivia = participants.join(stack.server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(stack.server, meeting, "Bob Guest", GREEN)
    wait_for(lambda: published(olivia, bob), "both to publish to Janus")
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    started = recording_started(meeting, worker)
    wait_janus_media_from(worker, olivia, bob)
    recorder_id = participants.run(bob.wait_event("recorder.joined"))["id"]

    # A page that missed the move to the SFU offers anyway: the recorder does not answer.
    participants.run(bob.connect_recorder_anyway(recorder_id))
    worker.wait_for_line(f"offer of participant {bob.id} ignored: the meeting is on Janus")
    recorded_past(worker, tmp_path, time.time() - started + 1.0)  # time enough for an answer, had there been one

    assert worker.count("signal to participant") == 0
    assert not [body for name, body in bob.events + olivia.events if name == "signal"]
    assert bob.recorder_pc is not None and bob.recorder_pc.connectionState != "connected"
    assert olivia.recorder_pc is None  # she follows the SFU: she never offered
    no_upload_to_the_recorder(worker, olivia, bob)
    stopped_and_stored(participants, olivia, meeting, live_env, worker)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_goes_on_recording_a_meeting_that_moves_from_the_mesh_to_janus(
    start_sfu_stack, start_media_worker, participants, live_env, tmp_path
):
    stack = start_sfu_stack()  # a mesh until the third person
    worker = start_media_worker(server=stack.server, **stack.environment())
    owner, meeting = shared_meeting()
    olivia = participants.join(stack.server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(stack.server, meeting, "Bob Guest", GREEN)
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    started = recording_started(meeting, worker)
    wait_media_from(worker, olivia, bob)  # through the mesh
    mesh_from = time.time() - started + 0.5
    mesh_until = mesh_from + RECORDED_SECONDS
    recorded_past(worker, tmp_path, mesh_until)

    cleo = participants.join(stack.server, meeting, "Cleo Late", BLUE)  # the third: the room moves to Janus
    wait_janus_media_from(worker, olivia, bob, cleo)
    on_janus = time.time() - started
    recorded_past(worker, tmp_path, on_janus + RECORDED_SECONDS)
    recording, path = stopped_and_stored(participants, olivia, meeting, live_env, worker)

    assert SfuRoom.objects.get(meeting=meeting).generation == 1
    pictures = list(decoded_video(path, every=3))
    before = [p for t, p in pictures if mesh_from <= t <= mesh_until]
    after = [p for t, p in pictures if t > on_janus + 0.5]
    assert before and after
    for picture in before:
        assert min(every_tile_has_its_color(picture, [RED, GREEN])) > 0.5
    for picture in after:
        assert min(every_tile_has_its_color(picture, [RED, GREEN, BLUE])) > 0.5
    # Olivia's and Bob's pictures were handed over from the mesh to Janus: how long
    # each went without a new frame then (the gap of the switch).
    gaps = {int(person): float(gap) for line in worker.lines for person, gap in HANDOVER.findall(line)}
    print(f"mesh → Janus: {gaps}")
    assert set(gaps) == {olivia.id, bob.id}
    assert max(gaps.values()) < 3.0, gaps
    sound, rate = decoded_audio(path)
    for seconds in ((mesh_from, mesh_until), (on_janus, on_janus + RECORDED_SECONDS)):
        part = sound[int(seconds[0] * rate) : int(seconds[1] * rate)]
        assert tone_share(part, rate, TONES["Olivia Owner"]) > 0.1 and tone_share(part, rate, TONES["Bob Guest"]) > 0.1
    assert recording.duration >= on_janus + RECORDED_SECONDS - 0.5


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_subscribes_again_when_janus_restarts_and_the_file_goes_on(
    start_sfu_stack, start_media_worker, participants, live_env, tmp_path
):
    stack = start_sfu_stack(PARLEY_SFU_SHARED_ROOMS="1")
    worker = start_media_worker(server=stack.server, **stack.environment())
    owner, meeting = shared_meeting()
    olivia = participants.join(stack.server, meeting, "Olivia Owner", RED, user=owner.user)
    bob = participants.join(stack.server, meeting, "Bob Guest", GREEN)
    wait_for(lambda: published(olivia, bob), "both to publish to Janus")
    participants.run(olivia.request("recording.start", {"preset": PRESET}))
    started = recording_started(meeting, worker)
    wait_janus_media_from(worker, olivia, bob)
    first = time.time() - started + 0.5
    recorded_past(worker, tmp_path, first + 1.0)

    restarted_at = time.time() - started
    stack.janus.restart()  # its rooms are gone
    sfu_services.check_servers()  # what beat does every few seconds: the room is made again
    assert SfuRoom.objects.get(meeting=meeting).generation == 2
    wait_janus_media_from(worker, olivia, bob, generation=2)
    resumed = time.time() - started
    recorded_past(worker, tmp_path, resumed + RECORDED_SECONDS)
    recording, path = stopped_and_stored(participants, olivia, meeting, live_env, worker)

    print(f"Janus restarted at {restarted_at:.1f} s of the recording; media again at {resumed:.1f} s")
    pictures = list(decoded_video(path, every=3))
    before = [(t, p) for t, p in pictures if first < t < restarted_at - 0.3]
    after = [(t, p) for t, p in pictures if t > resumed + 0.5]
    assert before and after
    for t, picture in before + after:
        assert min(every_tile_has_its_color(picture, [RED, GREEN])) > 0.5, t
    sound, rate = decoded_audio(path)
    end = sound[-rate:]
    assert tone_share(end, rate, TONES["Olivia Owner"]) > 0.1 and tone_share(end, rate, TONES["Bob Guest"]) > 0.1
    no_upload_to_the_recorder(worker, olivia, bob)


# --- Units: Janus streams in the mix ------------------------------------------------------


class FakeCompositor:
    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def test_it_mixes_janus_feeds_and_hands_a_person_over_from_the_mesh():
    compositor = FakeCompositor()
    mix = MeetingMix(compositor, AudioMixer())  # type: ignore[arg-type]
    mix.roster({"participants": [{"id": 1, "name": "Ann", "camera": True}, {"id": 2, "name": "Bob", "camera": True}], "share": None})
    compositor.calls.clear()
    camera, screen = object(), object()
    voice = av.AudioFrame.from_ndarray(np.full((1, 960), 1000, dtype=np.int16), format="s16", layout="mono")
    voice.sample_rate = 48_000

    mix.video_frame(1, "mesh-stream-a", camera)  # Ann, still through the mesh
    mix.video_frame(1, CAMERA_STREAM, camera)  # her first frame through Janus
    mix.video_frame(1, "mesh-stream-a", camera)  # from then on, her mesh frames are dropped
    mix.audio_frame(1, "mesh-stream-a", voice)
    mix.track_ended(1, "mesh-stream-a", "video")  # her mesh connection closes: her picture goes on
    mix.video_frame(2, SCREEN_STREAM, screen)  # a screen feed before share.started: not shown
    mix.share_started({"participant_id": 2, "kind": "screen", "stream_id": "bob-screen"})
    mix.video_frame(2, SCREEN_STREAM, screen)
    mix.audio_frame(2, CAMERA_STREAM, voice)
    mix.track_ended(2, SCREEN_STREAM, "video")

    assert compositor.calls == [
        ("push_camera", "1", camera),
        ("push_camera", "1", camera),
        ("push_screen", "2", screen),
        ("screen_stopped", "2"),
    ]
    assert mix.mixer.source_ids == [f"2/{CAMERA_STREAM}"]
    mix.janus_stopped()  # the room is a mesh again: mesh frames count
    mix.video_frame(1, "mesh-stream-b", camera)
    assert compositor.calls[-1] == ("push_camera", "1", camera)


class FollowedRooms:
    """Stands in for JanusRecording.run: which rooms the worker follows, and when it
    lets go of them."""

    def __init__(self):
        self.following: list[int] = []
        self.let_go: list[int] = []

    def run_for(self, session: RecordingSession):
        async def run(recording) -> None:
            generation = session.janus_generation
            self.following.append(generation)
            try:
                await asyncio.Event().wait()
            finally:
                self.let_go.append(generation)

        return run


async def test_it_follows_the_rooms_topology_and_takes_no_new_offer_on_the_sfu(tmp_path, monkeypatch):
    job = ClaimedJob(recording_id=1, segment=1, preset=PRESET, meeting_id=1, meeting_public_id="m", meeting_title="t", token="x")
    session = RecordingSession("worker-a", tmp_path, job)
    rooms = FollowedRooms()
    monkeypatch.setattr(JanusRecording, "run", rooms.run_for(session))
    offer = {"from": 5, "description": {"type": "offer", "sdp": "v=0"}}

    async def topology(**body) -> None:
        await session._follow_topology(body)
        await asyncio.sleep(0)  # the subscription's task starts

    await topology(mode="mesh")
    session._queue_signal(offer)  # a mesh: offers are answered
    assert 5 in session.signal_queues
    await topology(mode="sfu", state="opening", generation=1)  # browsers stay on the mesh until it is ready
    await topology(mode="sfu", state="ready", generation=1)
    await topology(mode="sfu", state="ready", generation=1)  # the same room again (a roster after a reconnect)
    session.signal_queues.clear()
    session._queue_signal({**offer, "from": 6})  # on the SFU: no new upload to the recorder
    assert session.signal_queues == {}
    await topology(mode="sfu", state="opening", generation=2)  # Janus restarted: the old room is gone
    assert (rooms.following, rooms.let_go) == ([1], [1])
    await topology(mode="sfu", state="ready", generation=2)
    await topology(mode="mesh")  # everyone left
    assert (rooms.following, rooms.let_go, session.janus) == ([1, 2], [1, 2], None)
    await session._leave_room()
