"""The recording's mixing, alone (media_server.mixing): layouts, the compositor's
picture (sources joining and leaving, screen share, placeholder, names), the audio
mix (two tones, a missing source, clipping) and the clock that drives both."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media_server import mixing
from media_server.mixing import AudioMixer, MediaClock, Mixdown, Rect, VideoCompositor

W, H = 320, 180
RATE = 48_000


def solid_frame(width: int, height: int, rgb: tuple[int, int, int]) -> av.VideoFrame:
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[:] = rgb
    return av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")


def luma(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray()[: frame.height].astype(int)


def region_mean(frame: av.VideoFrame, rect: Rect) -> float:
    return float(luma(frame)[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width].mean())


def tone(frequency: float, seconds: float, amplitude: int = 8000, channels: int = 2) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    wave = (np.sin(2 * np.pi * frequency * t) * amplitude).astype(np.int16)
    return np.repeat(wave[:, None], channels, axis=1)


def energy_at(samples: np.ndarray, frequency: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples[:, 0].astype(float)))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float(spectrum[np.argmin(np.abs(freqs - frequency))] / len(samples))


# --- layouts ---------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "shape"), [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (4, (2, 2)), (5, (3, 2)), (9, (3, 3)), (10, (4, 3))])
def test_it_picks_the_grid_shape(count, shape):
    assert mixing.grid_shape(count) == shape


@pytest.mark.parametrize("count", [1, 2, 3, 4, 6, 9, 13])
def test_it_lays_tiles_inside_the_canvas_without_overlap(count):
    rects = mixing.grid_layout(count, 1280, 720)
    assert len(rects) == count
    covered = np.zeros((720, 1280), dtype=int)
    for rect in rects:
        assert rect.x >= 0 and rect.y >= 0 and rect.x + rect.width <= 1280 and rect.y + rect.height <= 720
        # yuv420p: tiles on even coordinates with even sizes.
        assert rect.x % 2 == rect.y % 2 == rect.width % 2 == rect.height % 2 == 0
        covered[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] += 1
    assert covered.max() == 1


def test_it_gives_the_whole_canvas_to_one_and_halves_to_two():
    assert mixing.grid_layout(1, 1280, 720) == [Rect(0, 0, 1280, 720)]
    assert mixing.grid_layout(2, 1280, 720) == [Rect(0, 0, 640, 720), Rect(640, 0, 640, 720)]
    assert mixing.grid_layout(4, 1280, 720)[3] == Rect(640, 360, 640, 360)


def test_it_centres_an_incomplete_last_row():
    rects = mixing.grid_layout(3, 1280, 720)
    assert rects[2] == Rect(320, 360, 640, 360)


def test_it_gives_the_screen_three_quarters_and_the_cameras_a_strip():
    screen, strip = mixing.share_layout(3, 1280, 720)
    assert screen == Rect(0, 0, 960, 720)
    assert [rect.x for rect in strip] == [960] * 3
    assert all(rect.width == 320 and rect.height == 180 for rect in strip)
    assert strip[1].y == strip[0].y + 180
    # Many cameras shrink to share the height.
    _screen, many = mixing.share_layout(10, 1280, 720)
    assert many[-1].y + many[-1].height <= 720


def test_it_fits_a_picture_keeping_its_aspect_ratio():
    inner = mixing.fit_inside(640, 480, Rect(0, 0, 640, 360))
    assert (inner.width, inner.height) == (480, 360)
    assert inner.x == 80


# --- the compositor ----------------------------------------------------------------------


def test_it_composes_an_empty_meeting_as_black():
    frame = VideoCompositor(W, H).compose()
    assert (frame.width, frame.height, frame.format.name) == (W, H, "yuv420p")
    assert luma(frame).max() == mixing.Y_BLACK


def test_it_shows_each_camera_in_its_tile():
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "Alice")
    compositor.add_source("b", "Bob")
    compositor.push_camera("a", solid_frame(64, 36, (255, 255, 255)))
    compositor.push_camera("b", solid_frame(64, 36, (0, 0, 0)))
    frame = compositor.compose()
    left, right = mixing.grid_layout(2, W, H)
    inner_left, inner_right = mixing.fit_inside(64, 36, left), mixing.fit_inside(64, 36, right)
    assert region_mean(frame, inner_left) > 200
    assert region_mean(frame, inner_right) < 30


def test_it_adds_and_removes_sources_while_composing():
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "Alice")
    compositor.push_camera("a", solid_frame(64, 36, (255, 255, 255)))
    assert region_mean(compositor.compose(), Rect(0, 0, W, H)) > 200
    compositor.add_source("b", "Bob")
    assert compositor.layout()[1][1][0] == "b"
    second = compositor.compose()
    left, right = mixing.grid_layout(2, W, H)
    assert region_mean(second, mixing.fit_inside(64, 36, left)) > 200
    assert region_mean(second, right) < 60  # Bob has no camera yet: his placeholder
    compositor.remove_source("a")
    compositor.remove_source("unknown")  # harmless
    third = compositor.compose()
    assert compositor.source_ids == ["b"]
    assert region_mean(third, Rect(0, 0, W, H)) < 60


def test_it_keeps_the_last_frame_of_a_late_source():
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "Alice")
    compositor.push_camera("a", solid_frame(64, 36, (255, 255, 255)))
    first = compositor.compose()
    again = compositor.compose()  # no new frame: the same picture, no waiting
    assert np.array_equal(first.to_ndarray(), again.to_ndarray())
    compositor.push_camera("a", solid_frame(64, 36, (0, 0, 0)))
    assert region_mean(compositor.compose(), Rect(0, 0, W, H)) < 30


def test_it_ignores_frames_of_unknown_sources():
    compositor = VideoCompositor(W, H)
    compositor.push_camera("ghost", solid_frame(64, 36, (255, 255, 255)))
    assert compositor.source_ids == []
    assert luma(compositor.compose()).max() == mixing.Y_BLACK


def test_it_shows_a_placeholder_with_initials_for_a_camera_off():
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "ada lovelace")
    placeholder = luma(compositor.compose())
    # Dark grey with white letters in the middle, nothing at the edges.
    assert placeholder[0, 0] == mixing.Y_PLACEHOLDER
    middle = placeholder[H // 3 : 2 * H // 3, W // 3 : 2 * W // 3]
    assert middle.max() > 200
    compositor.push_camera("a", solid_frame(64, 36, (0, 0, 0)))
    compositor.camera_stopped("a")
    assert np.array_equal(luma(compositor.compose()), placeholder)
    assert mixing.initials("ada lovelace") == "AL"
    assert mixing.initials("Zoë") == "Z"
    assert mixing.initials("  ") == "?"


def test_it_draws_each_name_once_and_reuses_it(monkeypatch):
    compositor = VideoCompositor(640, 360)
    compositor.add_source("a", "Alice")
    compositor.push_camera("a", solid_frame(64, 36, (0, 0, 0)))
    rendered = []
    real = mixing.render_label
    monkeypatch.setattr(mixing, "render_label", lambda *args: rendered.append(args) or real(*args))
    first = luma(compositor.compose())
    for _ in range(3):
        compositor.push_camera("a", solid_frame(64, 36, (0, 0, 0)))
        compositor.compose()
    assert len(rendered) == 1
    # Light text on a dark box near the bottom left corner of the tile.
    bottom_left = first[300:360, 0:200]
    assert bottom_left.max() > 200
    assert first[:200].max() < 30


def test_it_shortens_a_name_that_does_not_fit():
    label = mixing.render_label("A very long name that will never fit in a small tile", 120, 16)
    assert label.width <= 120
    assert label.y.max() > 200


def test_it_switches_to_the_share_layout_and_back():
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "Alice")
    compositor.add_source("b", "Bob")
    for source in ("a", "b"):
        compositor.push_camera(source, solid_frame(64, 36, (0, 0, 0)))
    compositor.push_screen("b", solid_frame(160, 90, (255, 255, 255)))
    assert compositor.sharing
    screen_rect, tiles = compositor.layout()
    assert screen_rect == Rect(0, 0, 240, H)
    assert [rect.x for _id, rect in tiles] == [240, 240]
    shared = compositor.compose()
    assert region_mean(shared, mixing.fit_inside(160, 90, screen_rect)) > 200
    compositor.screen_stopped("a")  # not the one sharing: nothing changes
    assert compositor.sharing
    compositor.screen_stopped("b")
    assert compositor.layout()[0] is None
    assert region_mean(compositor.compose(), Rect(0, 0, W, H)) < 40


def test_it_ends_the_share_when_the_sharer_leaves():
    compositor = VideoCompositor(W, H)
    compositor.add_source("a", "Alice")
    compositor.push_screen("a", solid_frame(160, 90, (255, 255, 255)))
    compositor.remove_source("a")
    assert not compositor.sharing
    assert luma(compositor.compose()).max() == mixing.Y_BLACK


def test_it_scales_a_source_once_per_new_frame(monkeypatch):
    compositor = VideoCompositor(W, H, labels=False)
    compositor.add_source("a", "Alice")
    compositor.push_camera("a", solid_frame(640, 360, (255, 255, 255)))
    scaled = []
    real = mixing.Planes.from_frame
    monkeypatch.setattr(mixing.Planes, "from_frame", lambda *args: scaled.append(args) or real(*args))
    for _ in range(5):
        compositor.compose()
    assert len(scaled) == 1


# --- audio ---------------------------------------------------------------------------


def test_it_mixes_two_tones_into_one():
    mixer = AudioMixer()
    mixer.add_source("a")
    mixer.add_source("b")
    mixer.push_samples("a", tone(440, 0.2))
    mixer.push_samples("b", tone(1000, 0.2))
    mixed = np.concatenate([mixer.mix() for _ in range(10)])
    assert mixed.shape == (9600, 2) and mixed.dtype == np.int16
    assert energy_at(mixed, 440) > 1000
    assert energy_at(mixed, 1000) > 1000
    assert energy_at(mixed, 700) < 50


def test_it_resamples_any_input_to_48k_stereo():
    mixer = AudioMixer()
    mixer.add_source("a")
    wave = tone(440, 0.1, channels=1)[:, 0]
    # 0.1 s of mono at 16 kHz, as a decoder might hand it over.
    slow = np.ascontiguousarray(wave[::3]).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(slow, format="s16", layout="mono")
    frame.sample_rate = 16_000
    mixer.push("a", frame)
    mixer.push("a", frame)
    mixed = np.concatenate([mixer.mix() for _ in range(10)])
    assert energy_at(mixed, 440) > 1000
    assert np.array_equal(mixed[:, 0], mixed[:, 1])


def test_it_adds_silence_for_a_missing_or_late_source():
    mixer = AudioMixer()
    assert not mixer.mix().any()  # nobody: silence
    mixer.add_source("a")
    mixer.add_source("b")
    mixer.push_samples("a", tone(440, 0.03))  # 1.5 frames, then nothing
    first, second, third = mixer.mix(), mixer.mix(), mixer.mix()
    assert np.abs(first).max() > 7000
    assert np.abs(second[:480]).max() > 7000 and not second[480:].any()
    assert not third.any()
    mixer.remove_source("a")
    mixer.push_samples("a", tone(440, 0.02))  # gone: ignored
    assert not mixer.mix().any()


def test_it_clips_instead_of_wrapping_around():
    mixer = AudioMixer()
    for source in ("a", "b", "c"):
        mixer.add_source(source)
        mixer.push_samples(source, np.full((960, 2), 20000, dtype=np.int16))
    loud = mixer.mix()
    assert loud.min() == 32767
    for source in ("a", "b"):
        mixer.push_samples(source, np.full((960, 2), -30000, dtype=np.int16))
    assert mixer.mix().max() == -32768


def test_it_drops_the_oldest_samples_of_a_source_that_got_ahead():
    mixer = AudioMixer(max_queue_ms=40)
    mixer.add_source("a")
    mixer.push_samples("a", np.full((960, 2), 100, dtype=np.int16))
    mixer.push_samples("a", np.full((1920, 2), 200, dtype=np.int16))
    assert mixer.mix().min() == 200


# --- timing --------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_gives_audio_and_video_timestamps_from_one_clock():
    fake = FakeTime()
    clock = MediaClock(30, time_fn=fake)
    assert clock.now() == 0.0
    clock.start()
    fake.now += 2.0
    assert clock.now() == pytest.approx(2.0)
    assert clock.video_pts(clock.now()) == 60
    assert clock.audio_pts(clock.now()) == 96_000


def test_it_produces_every_audio_frame_and_skips_video_frames_it_missed():
    fake = FakeTime()
    clock = MediaClock(30, time_fn=fake)
    compositor, mixer = VideoCompositor(W, H), AudioMixer()
    mixdown = Mixdown(clock, compositor, mixer)
    clock.start()
    out = list(mixdown.due())
    assert [type(item).__name__ for item in out] == ["VideoOut"]  # frame 0; no whole audio frame yet
    fake.now += 0.5  # a stall of half a second
    out = list(mixdown.due())
    audio = [item for item in out if isinstance(item, mixing.AudioOut)]
    video = [item for item in out if isinstance(item, mixing.VideoOut)]
    assert [item.pts for item in audio] == list(range(0, 24_000, 960))
    assert [item.pts for item in video] == [15]
    assert mixdown.dropped_frames == 14
    assert mixdown.next_deadline() == pytest.approx(0.52)  # the next audio frame, before video frame 16
    fake.now += 1 / 30
    assert [item.pts for item in mixdown.due() if isinstance(item, mixing.VideoOut)] == [16]
    assert mixdown.dropped_frames == 14


def test_it_mixes_audio_only_without_a_compositor():
    fake = FakeTime()
    clock = MediaClock(30, time_fn=fake)
    mixdown = Mixdown(clock, None, AudioMixer())
    clock.start()
    fake.now += 0.1
    out = list(mixdown.due())
    assert all(isinstance(item, mixing.AudioOut) for item in out) and len(out) == 5
