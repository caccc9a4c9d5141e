"""Cheap aiortc bots for ``benchmarks/sfu_load.py``: publishers that replay a 360p VP8
clip encoded once, subscribers that count frames instead of decoding them, Janus
VideoRoom publishers and subscribers, and mesh peers.

How the bots stay cheap (their CPU is printed beside Janus's):

- **Publishers never encode.** :func:`make_clip` encodes a few seconds of a 640×360
  moving pattern once, with the options aiortc's own VP8 encoder uses (libvpx realtime,
  CBR at the chosen bitrate), plus an all-intra copy of the same frames and a second of
  Opus. :class:`ReplayVideoTrack` hands aiortc's sender those packets (``av.Packet``:
  aiortc packetizes them without encoding), paced in real time, looping. A keyframe
  request (PLI/FIR from Janus or a peer) is honoured by sending the intra copy of the
  next frame, so a subscriber's first frame comes as soon as it would from a browser.
- **Subscribers never decode**, in one of two ways (``--receiver``):

  ``frames`` — aiortc's receiver looks its decoder up with ``get_decoder``, imported by
  name into ``aiortc.rtcrtpreceiver`` (so that is the name to replace, not
  ``aiortc.codecs.get_decoder``, which the receiver no longer reads).
  :func:`count_instead_of_decoding` replaces it with one that returns a
  :class:`CountingDecoder`: it counts the reassembled frames and their bytes and returns
  no picture. SRTP, the jitter buffer, NACK, REMB and receiver reports still run: Janus
  sees a complete receiver. Measured here, that path still costs aiortc 120–150 µs per
  packet (13–16 millicores per forwarded stream), several times what Janus spends
  forwarding it.

  ``rtp`` (the default of the load parts) — :func:`count_rtp_headers` goes further: the
  ICE socket's ``datagram_received`` (aioice) counts each RTP packet from its clear
  header (payload type, sequence number, marker bit, SSRC, size) and drops it before
  SRTP; STUN, DTLS and RTCP take the usual path. Loss is the gaps in each SSRC's
  sequence numbers, a video frame is a packet with the marker bit. The subscriber sends
  no NACK, REMB or receiver report (Janus forwards all the same); 15–20 µs per packet,
  most of it the socket's receive.

A bot process (``python -m benchmarks.sfu_bots --clip …``) holds many bots on one asyncio
loop and takes commands as JSON lines on stdin (answers on stdout), so that
``sfu_load`` (synchronous, with Django) can spread bots over a few processes and read
each one's CPU from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import logging
import math
import pickle
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aioice.ice
import av
import numpy as np
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs import get_decoder as real_get_decoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
AUDIO_PTIME = 0.020
CONNECT_TIMEOUT = 30.0

logging.getLogger("aioice").setLevel(logging.WARNING)
logger = logging.getLogger("sfu_bots")


# --- The clip: encoded once, replayed by every publisher ---------------------------------


@dataclass
class Clip:
    width: int
    height: int
    fps: int
    bitrate: int
    video: list[bytes]  # the stream as encoded (keyframe first)
    keyframe: list[bool]
    intra: list[bytes]  # every frame again as a keyframe (sent when one is asked for)
    audio: list[bytes]  # Opus, 20 ms each

    @property
    def video_kbps(self) -> float:
        return sum(map(len, self.video)) * 8 / (len(self.video) / self.fps) / 1000

    @property
    def audio_kbps(self) -> float:
        return sum(map(len, self.audio)) * 8 / (len(self.audio) * AUDIO_PTIME) / 1000

    def save(self, path: Path) -> None:
        # A dict, not the instance: a bot process runs this module as __main__.
        path.write_bytes(pickle.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Clip:
        return cls(**pickle.loads(path.read_bytes()))


def _pattern(index: int, width: int, height: int, texture: np.ndarray, rng: np.random.Generator) -> av.VideoFrame:
    """A panning noise texture (what a camera's detail costs an encoder), a moving bar
    and a patch of fresh noise (motion that prediction cannot guess), in yuv420p."""
    x = (index * 3) % (texture.shape[1] - width)
    luma = texture[:height, x : x + width].copy()
    bar = (index * 8) % (width - 40)
    luma[:, bar : bar + 40] = 220
    luma[height // 3 : height // 3 + 48, width // 2 : width // 2 + 64] = rng.integers(16, 235, (48, 64), dtype=np.uint8)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    chroma[: height // 4, :] = 100 + (index % 60)
    return av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")


def _vp8_context(width: int, height: int, fps: int, bitrate: int, *, intra: bool) -> Any:
    # aiortc's Vp8Encoder options (libvpx realtime, CBR), so the replay is what aiortc
    # (and, give or take, a browser) would send.
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fractions.Fraction(fps, 1)
    rate = bitrate * (6 if intra else 1)
    codec.bit_rate = rate
    codec.gop_size = 1 if intra else 3000
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        "bufsize": str(rate),
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(rate),
        "maxrate": str(rate),
        "noise-sensitivity": "4",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "1",
        "undershoot-pct": "100",
    }
    codec.thread_count = 1
    return codec


def make_clip(*, seconds: float = 8.0, fps: int = 24, bitrate: int = 500_000, width: int = 640, height: int = 360) -> Clip:
    rng = np.random.default_rng(7)
    blocks = rng.integers(40, 200, (height // 8 + 1, (width * 3) // 8 + 1), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((8, 8), dtype=np.uint8))[:height, : width * 3]
    frames = int(seconds * fps)
    normal = _vp8_context(width, height, fps, bitrate, intra=False)
    intra = _vp8_context(width, height, fps, bitrate, intra=True)
    video: list[bytes] = []
    keyframe: list[bool] = []
    intra_packets: list[bytes] = []
    for index in range(frames):
        frame = _pattern(index, width, height, texture, rng)
        frame.pts = index
        frame.time_base = fractions.Fraction(1, fps)
        packets = list(normal.encode(frame))
        video.append(b"".join(bytes(p) for p in packets))
        keyframe.append(any(p.is_keyframe for p in packets))
        intra_packets.append(b"".join(bytes(p) for p in intra.encode(frame)))
    # One second of a 440 Hz tone, mono Opus at a browser's voice rate.
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate = 48_000
    opus.layout = "mono"
    opus.format = "s16"
    opus.bit_rate = 32_000
    opus.time_base = AUDIO_TIME_BASE
    opus.options = {"application": "voip"}
    samples = int(48_000 * AUDIO_PTIME)
    audio: list[bytes] = []
    for index in range(60):
        t = (np.arange(samples) + index * samples) / 48_000
        wave = (0.2 * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        sound.sample_rate = 48_000
        sound.pts = index * samples
        audio += [bytes(p) for p in opus.encode(sound)]
    audio = audio[:50]
    return Clip(width, height, fps, bitrate, video, keyframe, intra_packets, audio)


class PatternTrack(MediaStreamTrack):
    """The clip's picture drawn live (a camera for the peers that encode), paced in real time."""

    kind = "video"

    def __init__(self, fps: int, width: int = 640, height: int = 360):
        super().__init__()
        self.fps, self.width, self.height = fps, width, height
        rng = np.random.default_rng(7)
        blocks = rng.integers(40, 200, (height // 8 + 1, (width * 3) // 8 + 1), dtype=np.uint8)
        self.texture = np.kron(blocks, np.ones((8, 8), dtype=np.uint8))[:height, : width * 3]
        self.rng = rng
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self.sent / self.fps - now
            if delay > 0:
                await asyncio.sleep(delay)
        frame = _pattern(self.sent, self.width, self.height, self.texture, self.rng)
        frame.pts = self.sent * (90_000 // self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return frame


class ReplayVideoTrack(MediaStreamTrack):
    """The clip's VP8 packets in real time, looping; the first frame and any frame asked
    for as a keyframe come from the intra copy."""

    kind = "video"

    def __init__(self, clip: Clip, offset: int = 0):
        super().__init__()
        self.clip = clip
        self.offset = offset % len(clip.video)
        self.sender: RTCRtpSender | None = None
        self.sent = 0
        self.keyframes_asked = 0
        self._start: float | None = None

    def _keyframe_asked(self) -> bool:
        # aiortc's sender notes a PLI/FIR in a private flag that only its own encoder
        # reads; pre-encoded packets bypass the encoder, so read (and clear) it here.
        sender = self.sender
        if sender is not None and getattr(sender, "_RTCRtpSender__force_keyframe", False):
            sender._RTCRtpSender__force_keyframe = False  # type: ignore[attr-defined]
            self.keyframes_asked += 1
            return True
        return False

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self.sent / self.clip.fps - now
            if delay > 0:
                await asyncio.sleep(delay)
        index = (self.offset + self.sent) % len(self.clip.video)
        wanted = self.sent == 0 or self._keyframe_asked()
        data = self.clip.intra[index] if wanted and not self.clip.keyframe[index] else self.clip.video[index]
        packet = av.Packet(data)
        packet.pts = self.sent * (90_000 // self.clip.fps)
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet


class ReplayAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clip: Clip, offset: int = 0):
        super().__init__()
        self.clip = clip
        self.offset = offset
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self.sent * AUDIO_PTIME - now
            if delay > 0:
                await asyncio.sleep(delay)
        packet = av.Packet(self.clip.audio[(self.offset + self.sent) % len(self.clip.audio)])
        packet.pts = self.sent * int(48_000 * AUDIO_PTIME)
        packet.time_base = AUDIO_TIME_BASE
        self.sent += 1
        return packet


# --- Receiving without decoding ---------------------------------------------------------

COUNTS: Counter = Counter()  # "video frames", "video bytes", "audio frames", "audio bytes"


class CountingDecoder:
    """Stands in for aiortc's decoder: counts each reassembled frame, returns no picture."""

    def __init__(self, kind: str):
        self.kind = kind

    def decode(self, encoded_frame: Any) -> list:
        COUNTS[f"{self.kind} frames"] += 1
        COUNTS[f"{self.kind} bytes"] += len(encoded_frame.data)
        return []


def count_instead_of_decoding() -> None:
    """Every receiver created from now on in this process counts instead of decoding."""
    import aiortc.rtcrtpreceiver

    def get_decoder(codec: Any) -> Any:
        return CountingDecoder(codec.mimeType.split("/")[0].lower())

    aiortc.rtcrtpreceiver.get_decoder = get_decoder


def decode_for_real() -> None:
    import aiortc.rtcrtpreceiver

    aiortc.rtcrtpreceiver.get_decoder = real_get_decoder


PAYLOAD_KINDS: dict[int, str] = {}  # RTP payload type → "audio" / "video", from the remote descriptions
RTP_STREAMS: dict[int, list] = {}  # SSRC → [first sequence number, highest (extended), packets, kind]


def learn_payload_types(sdp: str) -> None:
    from aiortc.sdp import SessionDescription

    for media in SessionDescription.parse(sdp).media:
        for codec in media.rtp.codecs:
            if codec.payloadType is not None:
                PAYLOAD_KINDS[codec.payloadType] = media.kind


def _count_rtp(data: bytes) -> None:
    kind = PAYLOAD_KINDS.get(data[1] & 0x7F, "other")
    ssrc = int.from_bytes(data[8:12], "big")
    seq = data[2] << 8 | data[3]
    stream = RTP_STREAMS.get(ssrc)
    if stream is None:
        RTP_STREAMS[ssrc] = stream = [seq, seq, 0, kind]
    else:
        ahead = (seq - stream[1]) & 0xFFFF
        if 0 < ahead < 0x8000:
            stream[1] += ahead
    stream[2] += 1
    COUNTS[f"{kind} bytes"] += len(data)
    if kind == "video" and data[1] & 0x80:
        COUNTS["video frames"] += 1


def count_rtp_headers() -> None:
    """RTP is counted from its clear header where the ICE socket receives it, and dropped
    (RTCP — second byte 192–223 — STUN and DTLS go on as usual)."""
    protocol = aioice.ice.StunProtocol
    usual = protocol.datagram_received

    def datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) >= 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
            _count_rtp(data)
            return
        usual(self, data, addr)

    protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]


def rtp_totals() -> dict[str, int]:
    totals: Counter = Counter()
    for first, highest, packets, kind in RTP_STREAMS.values():
        totals[f"{kind} received"] += packets
        totals[f"{kind} lost"] += max(0, highest - first + 1 - packets)
        totals[f"{kind} streams"] += 1
    return dict(totals)


# --- Connections --------------------------------------------------------------------------


def only_addresses(addresses: list[str]) -> None:
    """Gather host candidates on these addresses only (e.g. the benchmark's veth end)."""

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return list(addresses)

    aioice.ice.get_host_addresses = get_host_addresses


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


def prefer_vp8(pc: RTCPeerConnection) -> None:
    capabilities = RTCRtpSender.getCapabilities("video")
    codecs = [c for c in capabilities.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(codecs)


async def until_connected(pc: RTCPeerConnection, timeout: float = CONNECT_TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise ConnectionError(f"peer connection {pc.connectionState}")
            await asyncio.sleep(0.01)


class Marks:
    """First time of each milestone, seconds on this process's monotonic clock."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.at.setdefault(name, time.monotonic())

    def watch(self, pc: RTCPeerConnection, prefix: str = "") -> None:
        @pc.on("iceconnectionstatechange")
        def _ice() -> None:
            if pc.iceConnectionState in ("connected", "completed"):
                self.mark(prefix + "ice_connected")

        @pc.on("connectionstatechange")
        def _dtls() -> None:
            if pc.connectionState == "connected":
                self.mark(prefix + "pc_connected")

    def relative(self, origin: str) -> dict[str, float]:
        start = self.at[origin]
        return {name: round((value - start) * 1000, 1) for name, value in self.at.items()}


async def first_video_frame(pc: RTCPeerConnection, marks: Marks, name: str = "first_frame", expect: int = 1) -> None:
    """Marks ``name`` at the first decoded frame of any remote video track, and
    ``name + '_all'`` once each of ``expect`` tracks has produced one."""
    tracks: list[MediaStreamTrack] = []
    got = asyncio.Event()

    @pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            tracks.append(track)
            got.set()

    # Tracks of a remote offer are there before we are asked.
    for receiver in pc.getReceivers():
        if receiver.track is not None and receiver.track.kind == "video" and receiver.track not in tracks:
            tracks.append(receiver.track)
    done = 0

    async def read(track: MediaStreamTrack) -> None:
        nonlocal done
        with contextlib.suppress(MediaStreamError):
            await track.recv()
            marks.mark(name)
            done += 1
            if done >= expect:
                marks.mark(name + "_all")
            while True:  # keep draining: an unread queue grows
                await track.recv()

    readers: list[asyncio.Task] = []
    while True:
        for track in tracks[len(readers) :]:
            readers.append(asyncio.create_task(read(track)))
        if done >= expect:
            return
        got.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(got.wait(), 0.02)


@dataclass
class JanusBot:
    """A Janus session with one VideoRoom handle and its peer connection."""

    client: Any
    handle: Any
    pc: RTCPeerConnection
    role: str
    feed: int = 0
    tracks: list[MediaStreamTrack] = field(default_factory=list)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()
        with contextlib.suppress(Exception):
            await self.client.close()


async def janus_publish(url: str, creds: dict[str, Any], clip: Clip, *, offset: int = 0, marks: Marks | None = None) -> JanusBot:
    from media_server.sfu.client import JanusClient

    client = await JanusClient(url, token=creds["core_token"]).connect()
    try:
        handle = await client.attach(opaque_id=f"bench-pub-{creds['publisher_id']}")
        pc = new_pc()
        video, audio = ReplayVideoTrack(clip, offset), ReplayAudioTrack(clip, offset)
        video.sender = pc.addTrack(video)
        pc.addTrack(audio)
        prefer_vp8(pc)
        if marks:
            marks.watch(pc, "pub_")
        await pc.setLocalDescription(await pc.createOffer())
        body = {
            "request": "joinandconfigure",
            "ptype": "publisher",
            "room": creds["room"],
            "id": creds["publisher_id"],
            "display": f"bench {creds['publisher_id']}",
            "token": creds["room_token"],
        }
        _data, jsep = await handle.message(body, jsep={"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False})
        if not jsep:
            raise ConnectionError("Janus sent no answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
        await until_connected(pc)
        return JanusBot(client, handle, pc, "publisher", creds["publisher_id"], [video, audio])
    except BaseException:
        await client.close()
        raise


async def janus_subscribe(
    url: str, creds: dict[str, Any], feeds: list[int], *, listen: bool = False, marks: Marks | None = None
) -> JanusBot:
    """One multistream subscription to ``feeds`` (video and audio of each). ``listen``:
    first join the room as a publisher that publishes nothing, as the product's page does
    for everyone (it brings the room's events: who publishes, who talks)."""
    from media_server.sfu.client import JanusClient

    client = await JanusClient(url, token=creds["core_token"]).connect()
    if marks:
        marks.mark("session")
    try:
        if listen:
            room = await client.attach(opaque_id=f"bench-{creds['publisher_id']}")
            body = {
                "request": "join",
                "ptype": "publisher",
                "room": creds["room"],
                "id": creds["publisher_id"],
                "display": f"bench {creds['publisher_id']}",
                "token": creds["room_token"],
            }
            await room.message(body)
        handle = await client.attach(opaque_id=f"bench-sub-{creds['publisher_id']}")
        if marks:
            marks.mark("attached")
        body = {
            "request": "join",
            "ptype": "subscriber",
            "room": creds["room"],
            "streams": [{"feed": feed} for feed in feeds],
            "token": creds["room_token"],
        }
        _data, jsep = await handle.message(body)
        if not jsep:
            raise ConnectionError("Janus sent no offer")
        if marks:
            marks.mark("offer")
        pc = new_pc()
        frames = None
        if marks:
            marks.watch(pc)
        learn_payload_types(jsep["sdp"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
        if marks:
            frames = asyncio.create_task(first_video_frame(pc, marks, expect=len(feeds)))
        await pc.setLocalDescription(await pc.createAnswer())
        if marks:
            marks.mark("answer")
        await handle.message({"request": "start"}, jsep={"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False})
        if marks:
            marks.mark("described")
        await until_connected(pc)
        bot = JanusBot(client, handle, pc, "subscriber")
        if frames is not None:
            await asyncio.wait_for(frames, CONNECT_TIMEOUT)
        return bot
    except BaseException:
        await client.close()
        raise


async def receiver_totals(pcs: list[RTCPeerConnection]) -> dict[str, int]:
    """Packets received and lost over these connections' inbound RTP streams, by kind."""
    totals: Counter = Counter()
    for pc in pcs:
        for receiver in pc.getReceivers():
            with contextlib.suppress(Exception):
                report = await receiver.getStats()
                for stats in report.values():
                    if getattr(stats, "type", "") == "inbound-rtp":
                        totals[f"{stats.kind} received"] += stats.packetsReceived
                        totals[f"{stats.kind} lost"] += max(0, stats.packetsLost)
                        totals[f"{stats.kind} streams"] += 1
    return dict(totals)


async def sender_totals(pcs: list[RTCPeerConnection]) -> dict[str, int]:
    totals: Counter = Counter()
    for pc in pcs:
        for sender in pc.getSenders():
            with contextlib.suppress(Exception):
                report = await sender.getStats()
                for stats in report.values():
                    if getattr(stats, "type", "") == "outbound-rtp":
                        totals[f"{stats.kind} bytes sent"] += stats.bytesSent
                        totals[f"{stats.kind} packets sent"] += stats.packetsSent
    return dict(totals)


# --- The bot process ----------------------------------------------------------------------


class BotServer:
    """Commands (JSON lines on stdin) → answers (JSON lines on stdout)."""

    def __init__(self, clip: Clip | None, encode_fps: int = 24):
        self.clip = clip
        self.encode_fps = encode_fps
        self.janus: list[JanusBot] = []
        self.mesh: dict[str, RTCPeerConnection] = {}
        self.mesh_tracks: list[MediaStreamTrack] = []
        self.relay: Any = None
        self.sources: dict[str, MediaStreamTrack] = {}
        self.drains: list[asyncio.Task] = []
        self.hosts: list[asyncio.Task] = []
        self.gate = asyncio.Semaphore(4)

    # Janus ---------------------------------------------------------------------------

    async def cmd_publish(self, url: str, creds: list[dict[str, Any]]) -> dict[str, Any]:
        clip = self.clip
        assert clip is not None

        async def one(index: int, c: dict[str, Any]) -> JanusBot:
            async with self.gate:
                return await janus_publish(url, c, clip, offset=index * 37)

        bots = await asyncio.gather(*(one(i, c) for i, c in enumerate(creds)))
        self.janus += bots
        return {"feeds": [b.feed for b in bots]}

    async def cmd_subscribe(self, url: str, subscriptions: list[dict[str, Any]]) -> dict[str, Any]:
        async def one(item: dict[str, Any]) -> JanusBot:
            async with self.gate:
                return await janus_subscribe(url, item["creds"], item["feeds"], listen=item.get("listen", False))

        bots = await asyncio.gather(*(one(s) for s in subscriptions))
        self.janus += bots
        return {"subscribers": len(bots)}

    async def cmd_stats(self) -> dict[str, Any]:
        subscribers = [b.pc for b in self.janus if b.role == "subscriber"]
        publishers = [b.pc for b in self.janus if b.role == "publisher"]
        states = Counter(b.pc.connectionState for b in self.janus)
        keyframes = sum(t.keyframes_asked for b in self.janus for t in b.tracks if isinstance(t, ReplayVideoTrack))
        mesh = list(self.mesh.values())
        received = Counter(await receiver_totals(subscribers + mesh)) + Counter(rtp_totals())
        return {
            "received": dict(received),
            "sent": await sender_totals(publishers + mesh),
            "counted": dict(COUNTS),
            "states": dict(states) | {f"mesh {k}": v for k, v in Counter(pc.connectionState for pc in mesh).items()},
            "keyframes_asked": keyframes,
        }

    async def cmd_close_janus(self) -> dict[str, Any]:
        bots, self.janus = self.janus, []
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)
        return {"closed": len(bots)}

    async def cmd_join(self, url: str, creds: dict[str, Any], feeds: list[int]) -> dict[str, Any]:
        """One timed subscription (decoding for real): ms from credentials in hand."""
        marks = Marks()
        marks.mark("ready")
        bot = await janus_subscribe(url, creds, feeds, marks=marks)
        result = marks.relative("ready")
        await bot.close()
        return {"marks": result}

    # Mesh ----------------------------------------------------------------------------

    async def cmd_mesh_offer(self, key: str, send: str = "replay", receive: bool = True) -> dict[str, Any]:
        """A connection to another peer, offered from here (``send``: replay, encode or none)."""
        pc = self._mesh_pc(key, send)
        if receive and send == "none":
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
        prefer_vp8(pc)
        await pc.setLocalDescription(await pc.createOffer())
        return {"sdp": pc.localDescription.sdp}

    async def cmd_mesh_answer(self, key: str, sdp: str, send: str = "replay") -> dict[str, Any]:
        pc = self._mesh_pc(key, None)
        learn_payload_types(sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._add_media(pc, send)
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp}

    async def cmd_mesh_accept(self, key: str, sdp: str) -> dict[str, Any]:
        pc = self.mesh[key]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        await until_connected(pc)
        return {"state": pc.connectionState}

    async def cmd_mesh_sending(self, enabled: bool) -> dict[str, Any]:
        """Pause (or resume) what this process's mesh connections send: the tracks are
        still read, their frames dropped (aiortc's disabled sender)."""
        senders = [sender for pc in self.mesh.values() for sender in pc.getSenders()]
        for sender in senders:
            sender._enabled = enabled
        return {"senders": len(senders)}

    async def cmd_mesh_connected(self) -> dict[str, Any]:
        await asyncio.gather(*(until_connected(pc) for pc in self.mesh.values()))
        return {"connected": len(self.mesh)}

    async def cmd_mesh_close(self) -> dict[str, Any]:
        pcs, self.mesh = list(self.mesh.values()), {}
        for task in self.drains:
            task.cancel()
        self.drains = []
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        for track in self.mesh_tracks:
            track.stop()
        self.mesh_tracks = []
        for track in self.sources.values():
            track.stop()
        self.sources = {}
        self.relay = None
        return {"closed": len(pcs)}

    # Mesh through Parley's room socket (``signal`` messages), and directly -----------

    async def cmd_room_host(self, url: str, origin: str, cookie: str) -> dict[str, Any]:
        """A participant already in a mesh room: answers every offer it is sent over the
        room socket with the replayed camera and microphone."""
        ws, snapshot = await _room_socket(url, origin, cookie)
        self.hosts.append(asyncio.create_task(self._host(ws)))
        return {"id": snapshot["self"]["id"]}

    async def _host(self, ws: Any) -> None:
        pcs: dict[int, RTCPeerConnection] = {}
        try:
            async for raw in ws:
                message = json.loads(raw)
                body = message.get("body") or {}
                description = body.get("description")
                if message.get("type") != "signal" or not description or description.get("type") != "offer":
                    continue
                old = pcs.pop(body["from"], None)
                if old is not None:
                    await old.close()
                pc = pcs[body["from"]] = new_pc()
                await pc.setRemoteDescription(RTCSessionDescription(**description))
                self._add_media(pc, "replay")
                await pc.setLocalDescription(await pc.createAnswer())
                answer = {"to": body["from"], "description": {"type": "answer", "sdp": pc.localDescription.sdp}}
                await ws.send(json.dumps({"type": "signal", "id": "a", "body": answer}))
        finally:
            for pc in pcs.values():
                await pc.close()

    async def cmd_room_join(self, url: str, origin: str, cookie: str) -> dict[str, Any]:
        """A newcomer in a mesh room: room.snapshot in hand, it offers (receive only) to the
        person there through the room socket; ms to its first decoded frame."""
        marks = Marks()
        ws, snapshot = await _room_socket(url, origin, cookie)
        marks.mark("ready")
        pc = new_pc()
        marks.watch(pc)
        try:
            pc.addTransceiver("video", direction="recvonly")
            pc.addTransceiver("audio", direction="recvonly")
            prefer_vp8(pc)
            frames = asyncio.create_task(first_video_frame(pc, marks))
            await pc.setLocalDescription(await pc.createOffer())
            target = snapshot["participants"][0]["id"]
            offer = {"to": target, "description": {"type": "offer", "sdp": pc.localDescription.sdp}}
            await ws.send(json.dumps({"type": "signal", "id": "o", "body": offer}))
            async with asyncio.timeout(CONNECT_TIMEOUT):
                async for raw in ws:
                    message = json.loads(raw)
                    description = (message.get("body") or {}).get("description")
                    if message.get("type") == "signal" and description and description.get("type") == "answer":
                        await pc.setRemoteDescription(RTCSessionDescription(**description))
                        marks.mark("described")
                        break
                    if message.get("type") == "error":
                        raise RuntimeError(f"room socket: {message['body']}")
            await until_connected(pc)
            await asyncio.wait_for(frames, CONNECT_TIMEOUT)
        finally:
            await pc.close()
            await ws.close()
        return {"marks": marks.relative("ready")}

    async def cmd_direct_join(self) -> dict[str, Any]:
        """The baseline: the same two connections, their descriptions handed over in this
        process (no server at all)."""
        marks = Marks()
        marks.mark("ready")
        host, joiner = new_pc(), new_pc()
        marks.watch(joiner)
        try:
            joiner.addTransceiver("video", direction="recvonly")
            joiner.addTransceiver("audio", direction="recvonly")
            prefer_vp8(joiner)
            frames = asyncio.create_task(first_video_frame(joiner, marks))
            await joiner.setLocalDescription(await joiner.createOffer())
            await host.setRemoteDescription(joiner.localDescription)
            self._add_media(host, "replay")
            await host.setLocalDescription(await host.createAnswer())
            await joiner.setRemoteDescription(host.localDescription)
            marks.mark("described")
            await until_connected(joiner)
            await asyncio.wait_for(frames, CONNECT_TIMEOUT)
        finally:
            await joiner.close()
            await host.close()
        return {"marks": marks.relative("ready")}

    def _mesh_pc(self, key: str, send: str | None) -> RTCPeerConnection:
        pc = new_pc()
        self.mesh[key] = pc

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            self.drains.append(asyncio.create_task(_drain(track)))

        if send is not None:
            self._add_media(pc, send)
        return pc

    def _add_media(self, pc: RTCPeerConnection, send: str) -> None:
        if send == "replay":
            assert self.clip is not None
            video, audio = ReplayVideoTrack(self.clip, len(self.mesh) * 37), ReplayAudioTrack(self.clip)
            video.sender = pc.addTrack(video)
            pc.addTrack(audio)
            self.mesh_tracks += [video, audio]
        elif send == "encode":
            # A browser-like peer: one camera and one microphone, encoded again for
            # every connection (aiortc's VP8 and Opus encoders), as a mesh does.
            if self.relay is None:
                from aiortc.contrib.media import MediaRelay

                from tests.aiortc_participants import SineTrack

                self.relay = MediaRelay()
                self.sources = {"video": PatternTrack(self.encode_fps), "audio": SineTrack(440)}
            pc.addTrack(self.relay.subscribe(self.sources["video"]))
            pc.addTrack(self.relay.subscribe(self.sources["audio"]))
        prefer_vp8(pc)


async def _room_socket(url: str, origin: str, cookie: str) -> tuple[Any, dict[str, Any]]:
    """A participant's room socket (its session cookie) and its ``room.snapshot``."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    ws = await connect(url, origin=Origin(origin), additional_headers={"Cookie": cookie}, compression=None, ping_interval=None)
    async with asyncio.timeout(CONNECT_TIMEOUT):
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "room.snapshot":
                return ws, message["body"]
    raise ConnectionError("the room socket closed before its snapshot")


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def fixed_bitrate_encoders(bitrate: int) -> None:
    """Mesh peers encode at the product's 360p preset's bitrate (a browser caps its sender
    at the preset's maxBitrate; aiortc would otherwise follow REMB up to 1.5 Mb/s)."""
    import aiortc.codecs.vpx as vpx

    class FixedVp8Encoder(vpx.Vp8Encoder):
        @property
        def target_bitrate(self) -> int:
            return bitrate

        @target_bitrate.setter
        def target_bitrate(self, value: int) -> None:
            pass

    import aiortc.rtcrtpsender

    real_get_encoder = aiortc.rtcrtpsender.get_encoder

    def get_encoder(codec: Any) -> Any:
        if codec.mimeType.lower() == "video/vp8":
            return FixedVp8Encoder()
        return real_get_encoder(codec)

    aiortc.rtcrtpsender.get_encoder = get_encoder


async def serve(server: BotServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pending: set[asyncio.Task] = set()

    async def handle(line: bytes) -> None:
        request = json.loads(line)
        try:
            method = getattr(server, "cmd_" + request["cmd"])
            result = await method(**request.get("args", {}))
            answer = {"id": request["id"], "ok": True, "result": result}
        except Exception as error:
            answer = {"id": request["id"], "ok": False, "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        if line.strip() == b"quit":
            break
        task = asyncio.create_task(handle(line))
        pending.add(task)
        task.add_done_callback(pending.discard)
    for task in server.hosts:
        task.cancel()
    await server.cmd_close_janus()
    await server.cmd_mesh_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A process of cheap aiortc bots (see the module's docstring).")
    parser.add_argument("--clip", type=Path, help="the pickled clip made by sfu_load")
    parser.add_argument("--decode", action="store_true", help="decode received video for real (timed joins)")
    parser.add_argument(
        "--receiver", choices=("rtp", "frames"), default="rtp", help="without --decode: count RTP headers (default) or frames"
    )
    parser.add_argument("--address", action="append", default=[], help="gather ICE candidates on this address only")
    parser.add_argument("--encode-bitrate", type=int, default=0, help="mesh peers that encode: fixed VP8 bitrate")
    parser.add_argument("--encode-fps", type=int, default=24)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not args.decode:
        count_instead_of_decoding()
        if args.receiver == "rtp":
            count_rtp_headers()
    if args.address:
        only_addresses(args.address)
    if args.encode_bitrate:
        fixed_bitrate_encoders(args.encode_bitrate)
    clip = Clip.load(args.clip) if args.clip else None
    asyncio.run(serve(BotServer(clip, args.encode_fps)))


if __name__ == "__main__":
    main()
