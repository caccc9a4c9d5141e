"""The recording presets: the one list of what a recording can be written as.

Each preset says everything the pipeline needs (container, codecs, size, rates,
encoder options) and what the download needs (extension, content type).
``meetings.models.Meeting.recording_preset`` takes its choices from ``preset_choices``.
Pure data: no models, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Every preset mixes audio at this rate; the mixer works in 20 ms frames of it.
AUDIO_RATE = 48_000
AUDIO_FRAME_SAMPLES = 960

DEFAULT_PRESET = "webm_720p"


@dataclass(frozen=True)
class Preset:
    key: str
    label: str | Promise  # a lazy translation: str() it where it is shown
    container: str  # the FFmpeg muxer name
    extension: str
    content_type: str
    audio_codec: str
    audio_bitrate: int
    audio_channels: int = 2
    audio_rate: int = AUDIO_RATE
    video_codec: str | None = None
    width: int = 0
    height: int = 0
    fps: int = 0
    video_bitrate: int = 0
    # Seconds between key frames: a fragment (MP4) or a cut point (WebM) at least this often.
    keyframe_seconds: int = 2
    video_threads: int = 1
    video_options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


# Written cluster by cluster, every cluster at most half a second long, and flushed to the file
# as soon as it is closed: a file cut anywhere (worker killed, disk copy mid-way) plays up
# to its last whole cluster.
_WEBM_CONTAINER = {"cluster_time_limit": "500", "cluster_size_limit": str(2 * 1024 * 1024), "flush_packets": "1"}

PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            key="webm_720p",
            label=_("720p WebM, VP8/Opus"),
            container="webm",
            extension="webm",
            content_type="video/webm",
            video_codec="libvpx",
            width=1280,
            height=720,
            fps=30,
            video_bitrate=2_500_000,
            # Realtime mode, the fastest speed setting that still looks right, no look-ahead.
            video_options={"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
            # libvpx's threads cost three times the CPU for the same frames (measured):
            # one thread, and a worker records more meetings on its cores.
            video_threads=1,
            audio_codec="libopus",
            audio_bitrate=96_000,
            container_options=_WEBM_CONTAINER,
        ),
        Preset(
            key="mp4_1080p",
            label=_("1080p MP4, H.264/AAC"),
            container="mp4",
            extension="mp4",
            content_type="video/mp4",
            video_codec="libx264",
            width=1920,
            height=1080,
            fps=30,
            video_bitrate=4_500_000,
            video_options={"preset": "veryfast", "tune": "zerolatency"},
            video_threads=2,  # sliced threads: the same CPU, less time per frame
            audio_codec="aac",
            audio_bitrate=128_000,
            # A self-contained fragment at every key frame and at least every second: no
            # index at the end to lose.
            container_options={"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1"},
        ),
        Preset(
            key="audio_opus",
            label=_("Audio only, Opus"),
            container="webm",
            extension="webm",
            content_type="audio/webm",
            audio_codec="libopus",
            audio_bitrate=96_000,
            container_options=_WEBM_CONTAINER,
        ),
    )
}


class UnknownPreset(ValueError):
    pass


def get_preset(key: str) -> Preset:
    try:
        return PRESETS[key]
    except (KeyError, TypeError):
        raise UnknownPreset(f"unknown recording preset {key!r}") from None


def is_known(key: object) -> bool:
    return isinstance(key, str) and key in PRESETS


def preset_choices() -> list[tuple[str, str | Promise]]:
    """(key, label) pairs for a model field's ``choices``."""
    return [(preset.key, preset.label) for preset in PRESETS.values()]
