"""Mixing a meeting into one picture and one sound: pure, no network, no models.

- ``VideoCompositor`` keeps the latest frame of each source and composes the picture:
  a grid of the participants with their names; while a screen is shared the screen
  takes the large place (left) and the cameras a strip (right); a participant without
  camera gets a placeholder tile with their initials. It never waits: a late source
  shows its last frame (or its placeholder).
- ``AudioMixer`` keeps per source a queue of 48 kHz samples; every 20 ms frame sums
  what each source has (a silent source, or one that fell behind, adds silence) in
  int32, clipped to int16.
- ``MediaClock`` gives both their timestamps from one start, and ``Mixdown`` says what
  is due at a given moment (every audio frame; the latest video frame, skipping the
  ones a slow process missed), so the worker's loop is: sleep, ``due()``, write.

Pictures are composed in yuv420p with numpy slicing (no RGB round trip); scaling is
libswscale's (``VideoFrame.reformat``), done once per new source frame. Names are
rendered once per participant with Pillow and copied in, never drawn per frame.
The compositor is safe to feed from one thread while another composes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from media_server.presets import AUDIO_FRAME_SAMPLES, AUDIO_RATE

# Limited-range YUV: black, and the neutral chroma of every grey.
Y_BLACK = 16
Y_WHITE = 235
UV_NEUTRAL = 128
Y_PLACEHOLDER = 48  # the dark grey of a tile without camera
Y_LABEL_BOX = 32
SCREEN_SHARE_FRACTION = 0.75
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")


class Rect(NamedTuple):
    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows) of the grid for ``count`` tiles: 1, 2 side by side, 2×2, 3×2, 3×3…"""
    if count <= 0:
        return (0, 0)
    columns = math.ceil(math.sqrt(count))
    return (columns, math.ceil(count / columns))


def grid_layout(count: int, width: int, height: int) -> list[Rect]:
    """``count`` equal tiles filling the canvas row by row, the last row centred."""
    columns, rows = grid_shape(count)
    if not count:
        return []
    tile_w, tile_h = _even(width / columns), _even(height / rows)
    top = (height - tile_h * rows) // 2 // 2 * 2
    rects = []
    for index in range(count):
        row, column = divmod(index, columns)
        in_row = min(columns, count - row * columns)
        left = (width - tile_w * in_row) // 2 // 2 * 2
        rects.append(Rect(left + column * tile_w, top + row * tile_h, tile_w, tile_h))
    return rects


def share_layout(count: int, width: int, height: int) -> tuple[Rect, list[Rect]]:
    """The screen on the left (75% of the width) and ``count`` camera tiles stacked in
    the strip on the right, 16:9 when there is room, centred vertically."""
    screen_w = _even(width * SCREEN_SHARE_FRACTION)
    screen = Rect(0, 0, screen_w, height)
    if not count:
        return screen, []
    strip_w = width - screen_w
    tile_h = _even(min(height / count, strip_w * 9 / 16))
    top = (height - tile_h * count) // 2 // 2 * 2
    return screen, [Rect(screen_w, top + index * tile_h, strip_w, tile_h) for index in range(count)]


def camera_tile_height(count: int, width: int, height: int, *, sharing: bool) -> int:
    """The height each of ``count`` camera tiles is drawn at (0 for no camera)."""
    if count <= 0:
        return 0
    tiles = share_layout(count, width, height)[1] if sharing else grid_layout(count, width, height)
    return tiles[0].height


def fit_inside(source_w: int, source_h: int, box: Rect) -> Rect:
    """The largest rectangle of the source's aspect ratio centred in ``box`` (even sizes)."""
    scale = min(box.width / source_w, box.height / source_h)
    width, height = min(_even(source_w * scale), box.width), min(_even(source_h * scale), box.height)
    return Rect(box.x + (box.width - width) // 2 // 2 * 2, box.y + (box.height - height) // 2 // 2 * 2, width, height)


# --- pictures in yuv420p -----------------------------------------------------------------


class Planes:
    """A yuv420p picture as three numpy planes (views into one buffer)."""

    def __init__(self, width: int, height: int, buffer: np.ndarray | None = None) -> None:
        self.width, self.height = width, height
        if buffer is None:
            buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self.buffer = buffer
        quarter = (height // 2) * (width // 2)
        chroma = buffer[height:].reshape(-1)
        self.y = buffer[:height]
        self.u = chroma[:quarter].reshape(height // 2, width // 2)
        self.v = chroma[quarter:].reshape(height // 2, width // 2)

    @classmethod
    def filled(cls, width: int, height: int, luma: int) -> Planes:
        planes = cls(width, height)
        planes.y[:] = luma
        planes.u[:] = UV_NEUTRAL
        planes.v[:] = UV_NEUTRAL
        return planes

    @classmethod
    def from_frame(cls, frame: av.VideoFrame, width: int, height: int) -> Planes:
        """The frame scaled to width×height by libswscale (nothing done if it already is)."""
        if frame.width != width or frame.height != height or frame.format.name != "yuv420p":
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        return cls(width, height, frame.to_ndarray())

    def paste(self, other: Planes, x: int, y: int) -> None:
        """Copy ``other`` with its top left corner at (x, y) (even coordinates)."""
        self.y[y : y + other.height, x : x + other.width] = other.y
        cx, cy = x // 2, y // 2
        self.u[cy : cy + other.height // 2, cx : cx + other.width // 2] = other.u
        self.v[cy : cy + other.height // 2, cx : cx + other.width // 2] = other.v

    def fill(self, rect: Rect, luma: int) -> None:
        self.y[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = luma
        cx, cy, cw, ch = rect.x // 2, rect.y // 2, rect.width // 2, rect.height // 2
        self.u[cy : cy + ch, cx : cx + cw] = UV_NEUTRAL
        self.v[cy : cy + ch, cx : cx + cw] = UV_NEUTRAL

    def to_frame(self) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(self.buffer, format="yuv420p")


@lru_cache(maxsize=16)
def _font(size: int) -> Any:
    for path in FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def initials(name: str) -> str:
    words = [word for word in name.split() if word[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def _text_luma(text: str, width: int, height: int, font_size: int, background: int) -> np.ndarray:
    """Grey text centred on a grey background, as a (height, width) luma array."""
    image = Image.new("L", (width, height), background)
    draw = ImageDraw.Draw(image)
    draw.text((width / 2, height / 2), text, fill=Y_WHITE, font=_font(font_size), anchor="mm")
    return np.asarray(image, dtype=np.uint8)


def render_label(name: str, max_width: int, height: int) -> Planes:
    """A name on a dark box, ``height`` high and at most ``max_width`` wide (the name is
    shortened with an ellipsis when it does not fit)."""
    font = _font(max(8, int(height * 0.62)))
    pad = height // 2
    text = name
    while True:
        text_w = math.ceil(font.getlength(text))
        if text_w + 2 * pad <= max_width or len(text) <= 1:
            break
        text = text[:-2].rstrip() + "…" if len(text) > 2 else text[:1]
    width = min(max_width, _even(text_w + 2 * pad + 1))
    planes = Planes.filled(width, _even(height), Y_LABEL_BOX)
    planes.y[:] = _text_luma(text, width, planes.height, font.size, Y_LABEL_BOX)
    return planes


def render_placeholder(name: str, width: int, height: int) -> Planes:
    """The tile of a participant without camera: their initials, large, on dark grey."""
    planes = Planes.filled(width, height, Y_PLACEHOLDER)
    planes.y[:] = _text_luma(initials(name), width, height, max(10, int(min(width, height) * 0.35)), Y_PLACEHOLDER)
    return planes


# --- the compositor ----------------------------------------------------------------------


@dataclass
class _Source:
    name: str
    frame: av.VideoFrame | None = None
    serial: int = 0  # counts the frames received: a new one needs scaling again


class VideoCompositor:
    """The latest frame of every participant, composed on demand into one picture."""

    def __init__(self, width: int, height: int, *, labels: bool = True) -> None:
        self.width, self.height = width, height
        self.labels = labels
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}  # in joining order: the grid's order
        self._screen: _Source | None = None
        self._screen_owner: str | None = None
        # Scaled pictures, labels and placeholders, made once and reused.
        self._scaled: dict[tuple[str, Rect], tuple[int, Planes, Rect]] = {}
        self._label_cache: dict[tuple[str, int, int], Planes] = {}
        self._placeholder_cache: dict[tuple[str, int, int], Planes] = {}
        self._background = Planes.filled(width, height, Y_BLACK)
        self.composed = 0

    # --- feeding (any thread) ---

    def add_source(self, source_id: str, name: str) -> None:
        """A participant joins the picture (or is renamed); no frame yet: placeholder."""
        with self._lock:
            source = self._sources.get(source_id)
            if source is None:
                self._sources[source_id] = _Source(name)
            else:
                source.name = name

    def remove_source(self, source_id: str) -> None:
        with self._lock:
            self._sources.pop(source_id, None)
            if self._screen_owner == source_id:
                self._screen, self._screen_owner = None, None
            self._forget(source_id)

    def push_camera(self, source_id: str, frame: av.VideoFrame) -> None:
        """A camera frame: kept until the next one (frames of unknown sources are dropped)."""
        with self._lock:
            source = self._sources.get(source_id)
            if source is not None:
                source.frame = frame
                source.serial += 1

    def camera_stopped(self, source_id: str) -> None:
        """The camera is off: the placeholder again, not the last frame frozen."""
        with self._lock:
            source = self._sources.get(source_id)
            if source is not None:
                source.frame = None
                source.serial += 1

    def push_screen(self, source_id: str, frame: av.VideoFrame) -> None:
        """A shared-screen frame: the share layout until ``screen_stopped``."""
        with self._lock:
            if self._screen is None or self._screen_owner != source_id:
                self._screen, self._screen_owner = _Source(""), source_id
            self._screen.frame = frame
            self._screen.serial += 1

    def screen_stopped(self, source_id: str | None = None) -> None:
        with self._lock:
            if source_id is None or source_id == self._screen_owner:
                self._screen, self._screen_owner = None, None
                self._forget("\0screen")

    @property
    def source_ids(self) -> list[str]:
        with self._lock:
            return list(self._sources)

    @property
    def sharing(self) -> bool:
        return self._screen is not None and self._screen.frame is not None

    # --- composing ---

    def layout(self) -> tuple[Rect | None, list[tuple[str, Rect]]]:
        """(screen rectangle or None, [(source id, tile rectangle)]) as they are now."""
        with self._lock:
            ids = list(self._sources)
            sharing = self._screen is not None and self._screen.frame is not None
        if sharing:
            screen, tiles = share_layout(len(ids), self.width, self.height)
            return screen, list(zip(ids, tiles, strict=True))
        return None, list(zip(ids, grid_layout(len(ids), self.width, self.height), strict=True))

    def compose(self) -> av.VideoFrame:
        """The picture now, from the latest frames (never waits for anyone)."""
        with self._lock:
            sources = [(source_id, source.name, source.frame, source.serial) for source_id, source in self._sources.items()]
            screen = self._screen
            screen_state = (screen.frame, screen.serial) if screen is not None and screen.frame is not None else None
        canvas = Planes(self.width, self.height, self._background.buffer.copy())
        if screen_state is not None:
            screen_rect, rects = share_layout(len(sources), self.width, self.height)
            self._draw_frame(canvas, "\0screen", screen_state[0], screen_state[1], screen_rect)
        else:
            rects = grid_layout(len(sources), self.width, self.height)
        for (source_id, name, frame, serial), rect in zip(sources, rects, strict=True):
            if frame is None:
                canvas.paste(self._placeholder(name, rect.width, rect.height), rect.x, rect.y)
            else:
                self._draw_frame(canvas, source_id, frame, serial, rect)
            if self.labels:
                self._draw_label(canvas, name, rect)
        self.composed += 1
        return canvas.to_frame()

    def _draw_frame(self, canvas: Planes, key: str, frame: av.VideoFrame, serial: int, box: Rect) -> None:
        cached = self._scaled.get((key, box))
        if cached is None or cached[0] != serial or (cached[2].width, cached[2].height) != _fitted_size(frame, box):
            inner = fit_inside(frame.width, frame.height, box)
            cached = (serial, Planes.from_frame(frame, inner.width, inner.height), inner)
            # One scaled picture per source: a new layout replaces the old size.
            for stale in [k for k in self._scaled if k[0] == key]:
                del self._scaled[stale]
            self._scaled[(key, box)] = cached
        _serial, planes, inner = cached
        canvas.paste(planes, inner.x, inner.y)

    def _draw_label(self, canvas: Planes, name: str, rect: Rect) -> None:
        if not name:
            return
        height = _even(max(12, min(36, rect.height // 9)))
        margin = _even(height // 3)
        if rect.height < height + 2 * margin or rect.width < 4 * height:
            return
        key = (name, rect.width - 2 * margin, height)
        label = self._label_cache.get(key)
        if label is None:
            label = self._label_cache[key] = render_label(name, rect.width - 2 * margin, height)
        canvas.paste(label, rect.x + margin, rect.y + rect.height - margin - label.height)

    def _placeholder(self, name: str, width: int, height: int) -> Planes:
        key = (name, width, height)
        tile = self._placeholder_cache.get(key)
        if tile is None:
            tile = self._placeholder_cache[key] = render_placeholder(name, width, height)
        return tile

    def _forget(self, key: str) -> None:
        for stale in [k for k in self._scaled if k[0] == key]:
            del self._scaled[stale]


def _fitted_size(frame: av.VideoFrame, box: Rect) -> tuple[int, int]:
    inner = fit_inside(frame.width, frame.height, box)
    return (inner.width, inner.height)


# --- audio -------------------------------------------------------------------------------


class AudioMixer:
    """Per source a queue of 48 kHz s16 samples; ``mix()`` takes one 20 ms frame of each."""

    def __init__(
        self, *, channels: int = 2, sample_rate: int = AUDIO_RATE, frame_samples: int = AUDIO_FRAME_SAMPLES, max_queue_ms: int = 200
    ) -> None:
        self.channels, self.sample_rate, self.frame_samples = channels, sample_rate, frame_samples
        self.max_queue = sample_rate * max_queue_ms // 1000
        self._lock = threading.Lock()
        self._queues: dict[str, list[np.ndarray]] = {}
        self._queued: dict[str, int] = {}
        self._resamplers: dict[str, av.AudioResampler] = {}
        self._layout = "stereo" if channels == 2 else "mono"

    def add_source(self, source_id: str) -> None:
        with self._lock:
            self._queues.setdefault(source_id, [])
            self._queued.setdefault(source_id, 0)

    def remove_source(self, source_id: str) -> None:
        with self._lock:
            self._queues.pop(source_id, None)
            self._queued.pop(source_id, None)
            self._resamplers.pop(source_id, None)

    @property
    def source_ids(self) -> list[str]:
        with self._lock:
            return list(self._queues)

    def push(self, source_id: str, frame: av.AudioFrame) -> None:
        """A decoded frame of any rate, layout and format: resampled to the mix's."""
        resampler = self._resamplers.get(source_id)
        if resampler is None:
            resampler = self._resamplers[source_id] = av.AudioResampler(format="s16", layout=self._layout, rate=self.sample_rate)
        frame.pts = None  # the queue is the timing; the resampler must not pad gaps
        for out in resampler.resample(frame):
            self.push_samples(source_id, out.to_ndarray().reshape(-1, self.channels))

    def push_samples(self, source_id: str, samples: np.ndarray) -> None:
        """Samples already at the mix's rate: int16, shape (n, channels)."""
        with self._lock:
            queue = self._queues.get(source_id)
            if queue is None:
                return
            queue.append(samples)
            self._queued[source_id] += len(samples)
            # A source that got ahead (a burst after a stall) loses its oldest samples
            # rather than lagging behind the others for the rest of the meeting.
            excess = self._queued[source_id] - self.max_queue
            while excess > 0 and queue:
                head = queue[0]
                if len(head) <= excess:
                    queue.pop(0)
                    excess -= len(head)
                    self._queued[source_id] -= len(head)
                else:
                    queue[0] = head[excess:]
                    self._queued[source_id] -= excess
                    excess = 0

    def mix(self) -> np.ndarray:
        """One frame (int16, shape (frame_samples, channels)): the sum of every source's
        next samples, silence where a source has none, clipped."""
        total = np.zeros((self.frame_samples, self.channels), dtype=np.int32)
        with self._lock:
            for source_id, queue in self._queues.items():
                taken = self._take(queue, self.frame_samples)
                self._queued[source_id] -= len(taken)
                if len(taken):
                    total[: len(taken)] += taken
        return np.clip(total, -32768, 32767).astype(np.int16)

    @staticmethod
    def _take(queue: list[np.ndarray], count: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        needed = count
        while needed and queue:
            head = queue[0]
            if len(head) <= needed:
                parts.append(queue.pop(0))
                needed -= len(head)
            else:
                parts.append(head[:needed])
                queue[0] = head[needed:]
                needed = 0
        if not parts:
            return np.empty((0, 1), dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


# --- timing ------------------------------------------------------------------------------


class MediaClock:
    """Media time since ``start()``: video pts count frames (1/fps), audio pts count
    samples (1/48000), so both tracks share one origin."""

    def __init__(self, fps: int, sample_rate: int = AUDIO_RATE, time_fn: Callable[[], float] = time.monotonic) -> None:
        self.fps, self.sample_rate = fps, sample_rate
        self._time = time_fn
        self._start: float | None = None

    def start(self) -> None:
        self._start = self._time()

    def now(self) -> float:
        """Seconds of media time (0 before the start)."""
        return 0.0 if self._start is None else self._time() - self._start

    # A microsecond of slack: 0.1 + 1/30 s must be frame 4, not 3.99999 rounded down.
    def video_pts(self, seconds: float) -> int:
        return int(seconds * self.fps + 1e-6)

    def audio_pts(self, seconds: float) -> int:
        return int(seconds * self.sample_rate + 1e-6)


class VideoOut(NamedTuple):
    frame: av.VideoFrame
    pts: int


class AudioOut(NamedTuple):
    samples: np.ndarray
    pts: int


class Mixdown:
    """What the recorder must write at a given moment. Every 20 ms of audio is produced
    (mixing is cheap and gaps would be heard); video is produced at the fps from the
    latest frames, and a frame whose time went by while the process was busy is
    skipped (counted in ``dropped_frames``) rather than produced late."""

    def __init__(self, clock: MediaClock, compositor: VideoCompositor | None, mixer: AudioMixer) -> None:
        self.clock, self.compositor, self.mixer = clock, compositor, mixer
        self.next_video_pts = 0
        self.next_audio_pts = 0
        self.video_frames = 0
        self.dropped_frames = 0

    def due(self, seconds: float | None = None) -> Iterator[VideoOut | AudioOut]:
        now = self.clock.now() if seconds is None else seconds
        frame_samples = self.mixer.frame_samples
        # Audio up to now, in whole 20 ms frames, each before the video frame it precedes.
        while self.next_audio_pts + frame_samples <= self.clock.audio_pts(now):
            yield AudioOut(self.mixer.mix(), self.next_audio_pts)
            self.next_audio_pts += frame_samples
        if self.compositor is None:
            return
        current = self.clock.video_pts(now)
        if current >= self.next_video_pts:
            self.dropped_frames += current - self.next_video_pts
            yield VideoOut(self.compositor.compose(), current)
            self.video_frames += 1
            self.next_video_pts = current + 1

    def next_deadline(self) -> float:
        """Media time of the next thing due: sleep until then."""
        audio = (self.next_audio_pts + self.mixer.frame_samples) / self.clock.sample_rate
        if self.compositor is None:
            return audio
        return min(audio, self.next_video_pts / self.clock.fps)
