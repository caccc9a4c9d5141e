"""Recording: CPU seconds per recorded minute, the pipeline vs a plain PyAV pipeline.

Four sources at 640×360, 30 fps (moving test patterns pre-encoded to VP8 packets, so
that decoding is counted as in the worker) and a 48 kHz tone each (20 ms frames, as
aiortc hands them over) are recorded into the 720p WebM preset for ``--seconds`` of
media time, as fast as the process goes (no real-time pacing):

- ``parley``: media_server.mixing (VideoCompositor with names, AudioMixer, Mixdown on a
  media clock stepped by hand) into media_server.encoding.Recorder;
- ``plain-yuv`` (the baseline): the same decode, the same 2×2 tiling by numpy slicing of
  the yuv420p planes, the same sum of the tones, the same encoders and options, written
  by PyAV directly; no names, no caches, no locks;
- ``plain-rgb``: the same, tiling in RGB (the first thing one writes with
  ``to_ndarray(format="rgb24")``), for reference.

CPU is ``resource.getrusage`` (user + system, every thread of this process). Figures
are printed, never asserted. Run through ``benchmarks/run.sh recording_cpu``.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from media_server import presets
from media_server.encoding import Recorder
from media_server.mixing import AudioMixer, AudioOut, MediaClock, Mixdown, VideoCompositor

SOURCE_SIZE = (640, 360)
FPS = 30
CLIP_FRAMES = 60  # each source loops a 2 s clip (the first packet is a key frame)
TONES = (330.0, 440.0, 550.0, 660.0, 770.0, 880.0)


# --- synthetic sources -------------------------------------------------------------------


def pattern(index: int, frame: int, size: tuple[int, int]) -> np.ndarray:
    """A moving test pattern, different for each source: a coloured background with a
    moving square and a moving bar."""
    width, height = size
    rng = np.random.default_rng(index)
    base = rng.integers(40, 200, size=3)
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[:] = base
    x = (frame * (6 + index)) % (width - 80)
    y = (frame * (3 + index)) % (height - 80)
    picture[y : y + 80, x : x + 80] = 255 - base
    bar = (frame * 10) % width
    picture[:, bar : bar + 12] = 250
    return picture


def encode_clip(index: int, size: tuple[int, int] = SOURCE_SIZE, frames: int = CLIP_FRAMES) -> list[bytes]:
    """VP8 packets (realtime, as a browser sends) of one source's looping clip."""
    codec: Any = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = size
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.bit_rate = 800_000
    codec.gop_size = frames
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    codec.open()
    packets: list[bytes] = []
    for number in range(frames):
        frame = av.VideoFrame.from_ndarray(pattern(index, number, size), format="rgb24").reformat(format="yuv420p")
        frame.pts = number
        packets.extend(bytes(packet) for packet in codec.encode(frame))
    packets.extend(bytes(packet) for packet in codec.encode(None))
    return packets[:frames]


class VideoSource:
    """One participant's camera: its own VP8 decoder, fed the clip's packets in a loop."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.decoder: Any = av.CodecContext.create("vp8", "r")
        self.position = 0

    def next_frame(self) -> av.VideoFrame | None:
        packet = av.Packet(self.packets[self.position % len(self.packets)])
        self.position += 1
        frames = self.decoder.decode(packet)
        return frames[-1] if frames else None


class AudioSource:
    """One participant's microphone: a tone in 20 ms s16 stereo frames."""

    def __init__(self, frequency: float) -> None:
        self.frequency = frequency
        self.sample = 0

    def next_frame(self) -> av.AudioFrame:
        samples = presets.AUDIO_FRAME_SAMPLES
        t = (np.arange(samples) + self.sample) / presets.AUDIO_RATE
        wave = (np.sin(2 * np.pi * self.frequency * t) * 6000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = presets.AUDIO_RATE
        frame.pts = self.sample
        self.sample += samples
        return frame


def make_sources(count: int, clips: list[list[bytes]]) -> tuple[list[VideoSource], list[AudioSource]]:
    videos = [VideoSource(clips[index % len(clips)]) for index in range(count)]
    audios = [AudioSource(TONES[index % len(TONES)]) for index in range(count)]
    return videos, audios


# --- the two pipelines -------------------------------------------------------------------


def parley_pipeline(path: str, clips: list[list[bytes]], sources: int, seconds: float) -> None:
    preset = presets.get_preset("webm_720p")
    videos, audios = make_sources(sources, clips)
    now = [0.0]
    clock = MediaClock(preset.fps, time_fn=lambda: now[0])
    compositor, mixer = VideoCompositor(preset.width, preset.height), AudioMixer()
    for index in range(sources):
        compositor.add_source(str(index), f"Participant {index + 1}")
        mixer.add_source(str(index))
    mixdown = Mixdown(clock, compositor, mixer)
    clock.start()
    audio_frames = 0
    with Recorder(path, preset) as recorder:
        for tick in range(int(seconds * FPS)):
            for index, video in enumerate(videos):
                frame = video.next_frame()
                if frame is not None:
                    compositor.push_camera(str(index), frame)
            # The sources' audio up to this tick, as it arrives from the network.
            while audio_frames * 0.02 < (tick + 1) / FPS:
                for index, audio in enumerate(audios):
                    mixer.push(str(index), audio.next_frame())
                audio_frames += 1
            now[0] = tick / FPS
            write_due(recorder, mixdown)


def write_due(recorder: Recorder, mixdown: Mixdown) -> None:
    for item in mixdown.due():
        if isinstance(item, AudioOut):
            recorder.write_audio(item.samples, item.pts)
        else:
            recorder.write_video(item.frame, item.pts)


def plain_pipeline(path: str, clips: list[list[bytes]], sources: int, seconds: float, *, rgb: bool) -> None:
    preset = presets.get_preset("webm_720p")
    videos, audios = make_sources(sources, clips)
    width, height = preset.width, preset.height
    tile_w, tile_h = SOURCE_SIZE
    columns = math.ceil(math.sqrt(sources))
    container: Any = av.open(path, "w", format="webm", container_options=dict(preset.container_options))
    video = container.add_stream("libvpx", rate=FPS, options=dict(preset.video_options))
    video.width, video.height, video.pix_fmt, video.bit_rate = width, height, "yuv420p", preset.video_bitrate
    video.codec_context.gop_size = FPS * preset.keyframe_seconds
    video.codec_context.thread_count = preset.video_threads
    audio = container.add_stream("libopus", rate=presets.AUDIO_RATE)
    audio.bit_rate, audio.layout = preset.audio_bitrate, "stereo"
    latest: list[np.ndarray | None] = [None] * sources
    audio_pts = 0
    for tick in range(int(seconds * FPS)):
        for index, source in enumerate(videos):
            frame = source.next_frame()
            if frame is not None:
                latest[index] = frame.to_ndarray(format="rgb24") if rgb else frame.to_ndarray()
        canvas = np.zeros((height, width, 3), np.uint8) if rgb else np.full((height * 3 // 2, width), 128, np.uint8)
        if not rgb:
            canvas[:height] = 16
        for index, picture in enumerate(latest):
            if picture is None:
                continue
            x, y = (index % columns) * tile_w, (index // columns) * tile_h
            if rgb:
                canvas[y : y + tile_h, x : x + tile_w] = picture
            else:
                paste_yuv(canvas, picture, x, y, width, height, tile_w, tile_h)
        out = av.VideoFrame.from_ndarray(canvas, format="rgb24" if rgb else "yuv420p")
        if rgb:
            out = out.reformat(format="yuv420p")
        out.pts = tick
        out.time_base = Fraction(1, FPS)
        for packet in video.encode(out):
            container.mux(packet)
        while audio_pts < (tick + 1) * presets.AUDIO_RATE // FPS:
            total = sum((a.next_frame().to_ndarray().astype(np.int32) for a in audios), np.zeros((1, 1920), np.int32))
            mixed = av.AudioFrame.from_ndarray(np.clip(total, -32768, 32767).astype(np.int16), format="s16", layout="stereo")
            mixed.sample_rate, mixed.pts, mixed.time_base = presets.AUDIO_RATE, audio_pts, Fraction(1, presets.AUDIO_RATE)
            for packet in audio.encode(mixed):
                container.mux(packet)
            audio_pts += presets.AUDIO_FRAME_SAMPLES
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()


def paste_yuv(canvas: np.ndarray, picture: np.ndarray, x: int, y: int, width: int, height: int, tile_w: int, tile_h: int) -> None:
    canvas[y : y + tile_h, x : x + tile_w] = picture[:tile_h]
    quarter, tile_quarter = (height // 2) * (width // 2), (tile_h // 2) * (tile_w // 2)
    chroma = canvas[height:].reshape(-1)
    tile_chroma = picture[tile_h:].reshape(-1)
    for plane in range(2):
        target = chroma[plane * quarter : (plane + 1) * quarter].reshape(height // 2, width // 2)
        source = tile_chroma[plane * tile_quarter : (plane + 1) * tile_quarter].reshape(tile_h // 2, tile_w // 2)
        target[y // 2 : (y + tile_h) // 2, x // 2 : (x + tile_w) // 2] = source


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Measure:
    name: str
    cpu: float
    wall: float
    media: float
    size: int

    @property
    def cpu_per_minute(self) -> float:
        return self.cpu / self.media * 60


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, run: Callable[[str], None], media: float, folder: str) -> Measure:
    path = os.path.join(folder, f"{name}.webm")
    cpu, wall = cpu_seconds(), time.perf_counter()
    run(path)
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    size = os.path.getsize(path)
    checked = decoded_seconds(path)
    if abs(checked - media) > 0.1 * media:
        print(f"  warning: {name} wrote {checked:.1f} s of media instead of {media:.1f} s")
    return Measure(name, cpu, wall, media, size)


def decoded_seconds(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.video[0]
        last = max((float(packet.pts * packet.time_base) for packet in container.demux(stream) if packet.pts is not None), default=0.0)
    return last + 1 / FPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="media time recorded by each pipeline")
    parser.add_argument("--sources", type=int, default=4)
    options = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"pre-encoding {min(options.sources, 4)} VP8 clips of {CLIP_FRAMES} frames at {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]}")
    clips = [encode_clip(index) for index in range(min(options.sources, 4))]
    seconds, sources = options.seconds, options.sources
    with tempfile.TemporaryDirectory(prefix="parley-rec-bench-") as folder:
        # One short warm-up of each (imports, codec set-up, caches).
        parley_pipeline(os.path.join(folder, "warm.webm"), clips, sources, 1.0)
        plain_pipeline(os.path.join(folder, "warm2.webm"), clips, sources, 1.0, rgb=False)
        results = [
            measure("parley", lambda path: parley_pipeline(path, clips, sources, seconds), seconds, folder),
            measure("plain-yuv", lambda path: plain_pipeline(path, clips, sources, seconds, rgb=False), seconds, folder),
            measure("plain-rgb", lambda path: plain_pipeline(path, clips, sources, seconds, rgb=True), seconds, folder),
        ]
    print(
        f"\n{sources} sources {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]} {FPS} fps -> webm_720p (1280x720 VP8 + Opus), {seconds:.0f} s of media each"
    )
    print(f"{'pipeline':<10} {'CPU s':>7} {'wall s':>7} {'CPU s per recorded min':>23} {'x real time':>12} {'file MB':>8}")
    for result in results:
        print(
            f"{result.name:<10} {result.cpu:7.2f} {result.wall:7.2f} {result.cpu_per_minute:23.1f} "
            f"{result.media / result.wall:12.1f} {result.size / 1e6:8.2f}"
        )
    parley, baseline = results[0], results[1]
    print(f"\nratio parley / plain-yuv (CPU): {parley.cpu / baseline.cpu:.2f}x   parley / plain-rgb: {parley.cpu / results[2].cpu:.2f}x")


if __name__ == "__main__":
    main()
