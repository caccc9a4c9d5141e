"""Synthetic media for the media_server tests, written with the recorder and read
back with PyAV. No Django here: the crash test's recording process imports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from media_server import presets
from media_server.encoding import Recorder

SMALL = (160, 96)


def synthetic_video(index: int, size: tuple[int, int]) -> np.ndarray:
    """A yuv420p picture with a bright bar moving across a dark one."""
    width, height = size
    picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    picture[:height] = 40
    x = (index * 4) % (width - 16)
    picture[:height, x : x + 16] = 220
    return picture


def synthetic_audio(start: int, count: int, frequency: float = 440.0) -> np.ndarray:
    t = (np.arange(count) + start) / presets.AUDIO_RATE
    wave = (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)
    return np.repeat(wave[:, None], 2, axis=1)


def record(path: Path, preset: presets.Preset, seconds: float, size: tuple[int, int] | None = SMALL, on_progress=None) -> Recorder:
    """``seconds`` of synthetic media, audio and video interleaved as the clock would."""
    recorder = Recorder(path, preset, size=size if preset.has_video else None)
    frame_samples = presets.AUDIO_FRAME_SAMPLES
    video_index = 0
    for audio_pts in range(0, int(seconds * presets.AUDIO_RATE), frame_samples):
        recorder.write_audio(synthetic_audio(audio_pts, frame_samples), audio_pts)
        while preset.has_video and video_index * presets.AUDIO_RATE / preset.fps <= audio_pts:
            recorder.write_video(synthetic_video(video_index, (recorder.width, recorder.height)), video_index)
            video_index += 1
        if on_progress:
            on_progress(recorder)
    return recorder


@dataclass
class ReadBack:
    video_codec: str | None = None
    audio_codec: str | None = None
    size: tuple[int, int] | None = None
    video_end: float = 0.0
    audio_end: float = 0.0
    lumas: list[np.ndarray] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    error: str | None = None

    @property
    def duration(self) -> float:
        return max(self.video_end, self.audio_end)

    @property
    def audio_peak(self) -> int:
        return int(max((np.abs(chunk).max() for chunk in self.audio), default=0))


def read_back(path: Path, *, partial: bool = False) -> ReadBack:
    """Decode the whole file; a partial file may end in an error after what it holds."""
    result = ReadBack()
    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is not None:
            result.video_codec = video.codec_context.name
            result.size = (video.codec_context.width, video.codec_context.height)
        if audio is not None:
            result.audio_codec = audio.codec_context.name
        try:
            for frame in container.decode(*container.streams):
                start = float(frame.pts * frame.time_base)
                if isinstance(frame, av.VideoFrame):
                    result.video_end = max(result.video_end, start + 1 / 30)
                    if len(result.lumas) < 400:
                        result.lumas.append(frame.to_ndarray()[: frame.height].astype(np.int16))
                else:
                    result.audio_end = max(result.audio_end, start + frame.samples / frame.sample_rate)
                    samples = frame.to_ndarray()
                    # Decoders give floats in [-1, 1] (Opus, AAC): on the int16 scale.
                    result.audio.append(samples * 32768 if samples.dtype.kind == "f" else samples)
        except av.FFmpegError as error:
            if not partial:
                raise
            result.error = str(error)
    return result
