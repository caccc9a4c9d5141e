"""Reading a recorded file back with PyAV, for the tests of the media worker: its
pictures and sound, where its media end, a tone's part of the sound, a colour's part
of a picture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np


def decoded_video(path: Path, every: int = 5) -> Iterator[tuple[float, np.ndarray]]:
    """(time, RGB picture) of every ``every``-th video frame."""
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every == 0:
                yield float(frame.time), frame.to_ndarray(format="rgb24")


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    """The whole sound as mono float samples, and its rate."""
    chunks, rate = [], 48_000
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            samples = frame.to_ndarray().astype(np.float64)
            if frame.format.name.startswith(("flt", "dbl")):
                samples *= 32767  # decoders give floats in [-1, 1]; compare as 16-bit
            if frame.format.is_packed and len(frame.layout.channels) > 1:
                samples = samples.reshape(-1, len(frame.layout.channels)).T
            chunks.append(samples.mean(axis=0) if samples.shape[0] > 1 else samples[0])
    return (np.concatenate(chunks) if chunks else np.zeros(0)), rate


def media_end(path: Path) -> float:
    end = 0.0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end


def media_end_or_zero(path: Path) -> float:
    """``media_end`` of a file being written (0 while it is not readable yet)."""
    try:
        return media_end(path)
    except (av.FFmpegError, OSError):
        return 0.0


def tone_share(samples: np.ndarray, rate: int, frequency: float) -> float:
    """The part of the sound's power within 20 Hz of ``frequency`` (a tone mixed with
    one other of the same loudness has about half)."""
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = power[(freqs > frequency - 20) & (freqs < frequency + 20)]
    return float(band.sum() / (power.sum() + 1e-9))


def share_of_color(picture: np.ndarray, color: tuple[int, int, int], tolerance: int = 50) -> float:
    distance = np.abs(picture.astype(np.int16) - np.array(color, dtype=np.int16)).max(axis=2)
    return float((distance < tolerance).mean())
