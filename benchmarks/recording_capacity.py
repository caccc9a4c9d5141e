"""Recording: how many sources one worker process records at 30 fps in real time.

Each step records ``--seconds`` of real time into the 720p WebM preset through the
pipeline (media_server.mixing + media_server.encoding) from N sources: each a 640×360
30 fps VP8 stream (pre-encoded moving test patterns, decoded here as the worker
decodes what it receives) and a tone in 20 ms frames. The loop is the worker's: the
sources' frames arrive on their schedule, the Mixdown on the wall clock says what is
due, late output frames are skipped (never waited for). A step passes when fewer than
``--max-dropped`` % of the output frames were skipped; N goes 2, 4, 6, 8… until a step
fails (or ``--max-sources``). Each camera is decoded in a thread of its own, as aiortc
does (``--decode-in-loop``: in the recording loop's thread instead).

Printed per step: output frames, dropped %, CPU share (of one core), peak RSS of the
process. Figures are printed, never asserted. Run through
``benchmarks/run.sh recording_capacity``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time

from benchmarks.recording_cpu import CLIP_FRAMES, FPS, SOURCE_SIZE, VideoSource, cpu_seconds, encode_clip, make_sources
from media_server import presets
from media_server.encoding import Recorder
from media_server.mixing import AudioMixer, AudioOut, MediaClock, Mixdown, VideoCompositor


class DecodingThread(threading.Thread):
    """One camera as aiortc receives it: its own thread decodes each VP8 packet when it
    is due and hands the frame to the compositor."""

    def __init__(self, source_id: str, video: VideoSource, compositor: VideoCompositor, clock: MediaClock) -> None:
        super().__init__(daemon=True)
        self.source_id, self.video, self.compositor, self.clock = source_id, video, compositor, clock
        self.stopping = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stopping.is_set():
            wait = index / FPS - self.clock.now()
            if wait > 0 and self.stopping.wait(wait):
                return
            frame = self.video.next_frame()
            if frame is not None:
                self.compositor.push_camera(self.source_id, frame)
            index += 1


def record_in_real_time(
    path: str, clips: list[list[bytes]], sources: int, seconds: float, *, decode_threads: bool
) -> tuple[int, int, float]:
    """(output frames written, output frames skipped, CPU seconds) of one real-time run."""
    preset = presets.get_preset("webm_720p")
    videos, audios = make_sources(sources, clips)
    clock = MediaClock(preset.fps)
    compositor, mixer = VideoCompositor(preset.width, preset.height), AudioMixer()
    for index in range(sources):
        compositor.add_source(str(index), f"Participant {index + 1}")
        mixer.add_source(str(index))
    mixdown = Mixdown(clock, compositor, mixer)
    decoders = [DecodingThread(str(index), video, compositor, clock) for index, video in enumerate(videos)] if decode_threads else []
    source_frames = audio_frames = 0
    cpu = cpu_seconds()
    with Recorder(path, preset) as recorder:
        clock.start()
        for decoder in decoders:
            decoder.start()
        while (now := clock.now()) < seconds:
            # What the network delivered since the last turn: camera frames at 30 fps
            # (unless the decoding threads do it), 20 ms of sound from each.
            while not decoders and source_frames <= now * FPS:
                for index, video in enumerate(videos):
                    frame = video.next_frame()
                    if frame is not None:
                        compositor.push_camera(str(index), frame)
                source_frames += 1
            while audio_frames * 0.02 <= now:
                for index, audio in enumerate(audios):
                    mixer.push(str(index), audio.next_frame())
                audio_frames += 1
            for item in mixdown.due(now):
                if isinstance(item, AudioOut):
                    recorder.write_audio(item.samples, item.pts)
                else:
                    recorder.write_video(item.frame, item.pts)
            wake = min(mixdown.next_deadline(), audio_frames * 0.02, seconds if decoders else source_frames / FPS)
            if wake > clock.now():
                time.sleep(wake - clock.now())
        for decoder in decoders:
            decoder.stopping.set()
        for decoder in decoders:
            decoder.join()
    return mixdown.video_frames, mixdown.dropped_frames, cpu_seconds() - cpu


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="real time recorded per step")
    parser.add_argument("--max-dropped", type=float, default=1.0, help="percent of output frames a step may skip")
    parser.add_argument("--max-sources", type=int, default=24)
    parser.add_argument("--decode-in-loop", action="store_true", help="decode in the recording loop's thread, not one thread per source")
    options = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"pre-encoding 4 VP8 clips of {CLIP_FRAMES} frames at {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]}")
    clips = [encode_clip(index) for index in range(4)]
    where = "the recording loop's thread" if options.decode_in_loop else "a thread per source, as aiortc does"
    print(f"decoding in {where}")
    print(f"peak RSS before recording: {peak_rss_mb():.0f} MB")
    with tempfile.TemporaryDirectory(prefix="parley-rec-warm-") as folder:
        # A short warm-up: the encoders' libraries, the font, the first allocations.
        record_in_real_time(os.path.join(folder, "warm.webm"), clips, 2, 1.0, decode_threads=not options.decode_in_loop)
    print(f"peak RSS after a 1 s warm-up with 2 sources: {peak_rss_mb():.0f} MB\n")
    print(f"{'sources':>7} {'frames':>7} {'dropped':>8} {'dropped %':>9} {'CPU %':>6} {'peak RSS MB':>11}")
    best = 0
    with tempfile.TemporaryDirectory(prefix="parley-rec-capacity-") as folder:
        for sources in range(2, options.max_sources + 1, 2):
            path = os.path.join(folder, f"{sources}.webm")
            written, dropped, cpu = record_in_real_time(path, clips, sources, options.seconds, decode_threads=not options.decode_in_loop)
            percent = 100 * dropped / max(1, written + dropped)
            print(f"{sources:7d} {written:7d} {dropped:8d} {percent:9.2f} {100 * cpu / options.seconds:6.0f} {peak_rss_mb():11.0f}")
            os.remove(path)
            if percent >= options.max_dropped:
                break
            best = sources
    print(f"\nlargest number of sources recorded in real time at {FPS} fps with < {options.max_dropped:g}% dropped frames: {best}")
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
