"""Writing recordings (media_server.encoding): each preset's file read back with PyAV
(codecs, size, duration, sound, moving picture), and the crash safety: a copy taken
mid-recording, a file cut anywhere, and a recording process killed with SIGKILL all
open and play what was written before."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import av
import numpy as np
import pytest

from media_server import presets
from media_server.encoding import Recorder
from media_server.mixing import AudioMixer, MediaClock, Mixdown, VideoCompositor, VideoOut
from tests.fixtures_live import REPO_DIR
from tests.media_server.media import SMALL, read_back, record, synthetic_audio, synthetic_video

CODECS = {"webm_720p": ("vp8", "opus"), "mp4_1080p": ("h264", "aac"), "audio_opus": (None, "opus")}


def test_it_lists_the_presets_and_refuses_unknown_ones():
    assert [key for key, _label in presets.preset_choices()] == ["webm_720p", "mp4_1080p", "audio_opus"]
    assert str(presets.get_preset("audio_opus").label) == "Audio only, Opus"
    assert presets.DEFAULT_PRESET in presets.PRESETS
    assert not presets.get_preset("audio_opus").has_video
    assert presets.is_known("mp4_1080p")
    for bad in ("", "webm", None, ["webm_720p"]):
        assert not presets.is_known(bad)
        with pytest.raises(presets.UnknownPreset):
            presets.get_preset(bad)


@pytest.mark.parametrize("key", list(presets.PRESETS))
def test_it_records_each_preset_and_reads_it_back(key, tmp_path):
    preset = presets.get_preset(key)
    path = tmp_path / f"out.{preset.extension}"
    recorder = record(path, preset, seconds=2.0)
    recorder.close()
    recorder.close()  # twice is harmless
    got = read_back(path)
    video_codec, audio_codec = CODECS[key]
    assert (got.video_codec, got.audio_codec) == (video_codec, audio_codec)
    assert got.duration == pytest.approx(2.0, rel=0.1)
    assert got.audio_end == pytest.approx(2.0, rel=0.1)
    assert got.audio_peak > 3000  # not silent
    if preset.has_video:
        assert got.size == SMALL
        assert got.video_end == pytest.approx(2.0, rel=0.1)
        # The picture moves: the first and last frames differ where the bar went.
        assert np.abs(got.lumas[0] - got.lumas[-1]).max() > 100
        assert len(got.lumas) == pytest.approx(60, abs=3)
    else:
        assert got.size is None


@pytest.mark.parametrize("key", ["webm_720p", "mp4_1080p"])
def test_it_records_at_the_presets_real_size(key, tmp_path):
    preset = presets.get_preset(key)
    path = tmp_path / f"real.{preset.extension}"
    record(path, preset, seconds=0.3, size=None).close()
    got = read_back(path)
    assert got.size == (preset.width, preset.height) == {"webm_720p": (1280, 720), "mp4_1080p": (1920, 1080)}[key]


def test_it_takes_composed_frames_of_any_size_and_mono_or_stereo_audio(tmp_path):
    preset = presets.get_preset("webm_720p")
    path = tmp_path / "mixed.webm"
    with Recorder(path, preset, size=SMALL) as recorder:
        compositor = VideoCompositor(320, 180)
        compositor.add_source("a", "Alice")
        for index in range(15):
            recorder.write_video(compositor.compose(), index)  # scaled to the recorder's size
        recorder.write_video(compositor.compose(), 3)  # not after the last: ignored
        mono = synthetic_audio(0, 48_000 // 2)[:, :1]
        recorder.write_audio(mono, 0)
        recorder.write_audio(synthetic_audio(0, 960), 0)  # overlaps what was written: cut
        assert recorder.video_frames == 15
        assert recorder.duration == pytest.approx(0.5)
    got = read_back(path)
    assert got.size == SMALL
    assert got.audio_peak > 3000


def test_it_records_what_the_mixdown_produces_in_sync(tmp_path):
    """Clock → mixer and compositor → recorder, as the worker drives them."""
    preset = presets.get_preset("webm_720p")
    now = [0.0]
    clock = MediaClock(preset.fps, time_fn=lambda: now[0])
    compositor, mixer = VideoCompositor(*SMALL), AudioMixer()
    compositor.add_source("a", "Alice")
    mixer.add_source("a")
    mixdown = Mixdown(clock, compositor, mixer)
    clock.start()
    with Recorder(tmp_path / "sync.webm", preset, size=SMALL) as recorder:
        for step in range(50):  # one second in 20 ms steps
            mixer.push_samples("a", synthetic_audio(step * 960, 960))
            compositor.push_camera("a", av.VideoFrame.from_ndarray(synthetic_video(step, SMALL), format="yuv420p"))
            now[0] += 0.02
            for item in mixdown.due():
                if isinstance(item, VideoOut):
                    recorder.write_video(item.frame, item.pts)
                else:
                    recorder.write_audio(item.samples, item.pts)
    got = read_back(tmp_path / "sync.webm")
    assert got.audio_end == pytest.approx(1.0, abs=0.05)
    assert got.video_end == pytest.approx(1.0, abs=0.05)
    assert got.audio_peak > 3000


# --- crash safety --------------------------------------------------------------------


@pytest.mark.parametrize("key", list(presets.PRESETS))
def test_it_leaves_a_playable_file_while_recording(key, tmp_path):
    preset = presets.get_preset(key)
    path = tmp_path / f"live.{preset.extension}"
    copy = tmp_path / f"copy.{preset.extension}"

    def copy_once_at_two_seconds(recorder: Recorder) -> None:
        if not copy.exists() and recorder.duration >= 2.2:
            shutil.copyfile(path, copy)

    record(path, preset, seconds=3.0, on_progress=copy_once_at_two_seconds).close()
    got = read_back(copy, partial=True)
    assert 1.0 <= got.duration <= 2.3
    assert got.audio_peak > 3000
    if preset.has_video:
        assert len(got.lumas) >= 30


@pytest.mark.parametrize("key", list(presets.PRESETS))
def test_it_plays_a_file_cut_anywhere_up_to_the_cut(key, tmp_path):
    preset = presets.get_preset(key)
    path = tmp_path / f"whole.{preset.extension}"
    record(path, preset, seconds=3.0).close()
    data = path.read_bytes()
    durations = []
    for fraction in (0.35, 0.6, 0.85):
        cut = tmp_path / f"cut.{preset.extension}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        got = read_back(cut, partial=True)
        assert got.audio_peak > 3000
        durations.append(got.duration)
    assert durations == sorted(durations)
    assert durations[0] >= 0.5 and durations[-1] >= 2.0


RECORDING_PROCESS = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    from media_server import presets
    from media_server.encoding import Recorder
    from tests.media_server.media import synthetic_audio, synthetic_video

    preset = presets.get_preset({key!r})
    recorder = Recorder({path!r}, preset, size=(160, 96) if preset.has_video else None)
    start = time.monotonic()
    audio_pts = video_index = 0
    while True:  # in real time, until killed
        now = time.monotonic() - start
        while (audio_pts + 960) / 48000 <= now:
            recorder.write_audio(synthetic_audio(audio_pts, 960), audio_pts)
            audio_pts += 960
        while preset.has_video and (video_index + 1) / preset.fps <= now:
            recorder.write_video(synthetic_video(video_index, (160, 96)), video_index)
            video_index += 1
        print(f"{{recorder.duration:.3f}}", flush=True)
        time.sleep(0.01)
    """
)


@pytest.mark.integration
@pytest.mark.parametrize("key", list(presets.PRESETS))
def test_it_keeps_what_was_recorded_when_the_process_is_killed(key, tmp_path):
    preset = presets.get_preset(key)
    path = tmp_path / f"killed.{preset.extension}"
    code = RECORDING_PROCESS.format(repo=str(REPO_DIR), key=key, path=str(path))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        recorded = 0.0
        # Killed after ~1.7 s of media: the clusters (0.5 s) up to 1.5 s are on disk.
        while recorded < 1.7:
            line = process.stdout.readline()
            assert line, "the recording process ended early"
            assert time.monotonic() < deadline, "the recording process is too slow"
            recorded = float(line)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    got = read_back(path, partial=True)
    assert got.duration >= 1.0
    assert got.audio_peak > 3000
    if preset.has_video:
        assert len(got.lumas) >= 28
        assert np.abs(got.lumas[0] - got.lumas[-1]).max() > 100
