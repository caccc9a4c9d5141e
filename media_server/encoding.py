"""Writing a recording to disk with PyAV, in the container and codecs of its preset.

``Recorder(path, preset)`` takes composed video frames (yuv420p at the preset's size)
and mixed audio (48 kHz s16), each with its timestamp from the media clock: video pts
count frames (time base 1/fps), audio pts count samples (time base 1/48000), both from
the same start, so the tracks stay in sync whatever the encoders' delays.

The file on disk is playable at any moment: WebM is written cluster by cluster (half a
second at most each) and MP4 as fragments (a second at most), each flushed to the file as it
is completed. A worker killed mid-recording leaves a file that plays up to its last
whole cluster or fragment; ``close()`` only adds the index and the duration.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from media_server.presets import Preset

logger = logging.getLogger(__name__)

PIXEL_FORMAT = "yuv420p"


class Recorder:
    def __init__(self, path: str | os.PathLike[str], preset: Preset, *, size: tuple[int, int] | None = None) -> None:
        """``size`` overrides the preset's video size (tests record small frames)."""
        self.path = os.fspath(path)
        self.preset = preset
        self.width, self.height = size or preset.size
        self.closed = False
        self.video_frames = 0
        self.audio_samples = 0
        self._last_video_pts = -1
        self._last_audio_end = 0
        # The muxer may change the streams' time bases (WebM counts milliseconds): the
        # frames keep the clock's own.
        self._video_time_base = Fraction(1, preset.fps) if preset.has_video else Fraction(1, 1)
        self._audio_time_base = Fraction(1, preset.audio_rate)
        self._container: Any = av.open(self.path, mode="w", format=preset.container, container_options=dict(preset.container_options))
        try:
            self._video = self._add_video_stream() if preset.has_video else None
            self._audio = self._add_audio_stream()
        except Exception:
            self._container.close()
            raise

    def _add_video_stream(self) -> Any:
        preset = self.preset
        stream = self._container.add_stream(preset.video_codec, rate=preset.fps, options=dict(preset.video_options))
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = PIXEL_FORMAT
        stream.bit_rate = preset.video_bitrate
        stream.time_base = Fraction(1, preset.fps)
        context = stream.codec_context
        context.gop_size = preset.fps * preset.keyframe_seconds
        context.thread_count = preset.video_threads
        return stream

    def _add_audio_stream(self) -> Any:
        preset = self.preset
        stream = self._container.add_stream(preset.audio_codec, rate=preset.audio_rate)
        stream.bit_rate = preset.audio_bitrate
        stream.layout = "stereo" if preset.audio_channels == 2 else "mono"
        stream.time_base = Fraction(1, preset.audio_rate)
        return stream

    # --- writing ------------------------------------------------------------------------

    def write_video(self, frame: av.VideoFrame | np.ndarray, pts: int) -> None:
        """One composed frame at ``pts`` (frame count since the clock's start). A frame
        whose pts is not after the last one is ignored (the encoder needs them rising)."""
        if self._video is None or self.closed or pts <= self._last_video_pts:
            return
        if isinstance(frame, np.ndarray):
            frame = av.VideoFrame.from_ndarray(frame, format=PIXEL_FORMAT)
        if frame.width != self.width or frame.height != self.height or frame.format.name != PIXEL_FORMAT:
            frame = frame.reformat(width=self.width, height=self.height, format=PIXEL_FORMAT)
        frame.pts = pts
        frame.time_base = self._video_time_base
        self._last_video_pts = pts
        self.video_frames += 1
        self._mux(self._video.encode(frame))

    def write_audio(self, samples: np.ndarray, pts: int) -> None:
        """Mixed samples (int16, shape (n, channels)) starting at ``pts`` (sample count
        since the clock's start). Samples that overlap what was already written are cut."""
        if self.closed or len(samples) == 0:
            return
        if pts < self._last_audio_end:
            samples = samples[self._last_audio_end - pts :]
            pts = self._last_audio_end
            if len(samples) == 0:
                return
        channels = self.preset.audio_channels
        if samples.ndim == 1:
            samples = samples.reshape(-1, 1)
        if samples.shape[1] != channels:
            samples = _to_channels(samples, channels)
        packed = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo" if channels == 2 else "mono")
        frame.sample_rate = self.preset.audio_rate
        frame.pts = pts
        frame.time_base = self._audio_time_base
        self._last_audio_end = pts + len(samples)
        self.audio_samples += len(samples)
        self._mux(self._audio.encode(frame))

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            self._container.mux(packet)

    @property
    def duration(self) -> float:
        """Media seconds written so far (the longer of the two tracks)."""
        video = (self._last_video_pts + 1) / self.preset.fps if self._video is not None and self._last_video_pts >= 0 else 0.0
        return max(video, self._last_audio_end / self.preset.audio_rate)

    def close(self) -> None:
        """Drain the encoders and write the index; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            for stream in (self._video, self._audio):
                if stream is not None:
                    self._mux(stream.encode(None))
        finally:
            self._container.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _to_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return samples.mean(axis=1, dtype=np.int32).astype(np.int16).reshape(-1, 1)
    return np.repeat(samples[:, :1], channels, axis=1)


def media_duration(path: Path) -> float:
    """Seconds of media in a file, read from its packets (a cut file has no index)."""
    end = 0.0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, OSError, EOFError) as error:
        # Whatever was read before the cut counts; an unreadable file counts 0.
        logger.info("%s: read up to %.1f s (%s)", path.name, end, error)
    return end
