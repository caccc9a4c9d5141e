"""The media worker's Janus subscription (media_server.sfu.subscriber) against a real
Janus, in this process: aiortc publishers come and go, and every frame reaches the sink
as (participant, camera or screen, kind). No database: the tokens are minted here."""

from __future__ import annotations

import asyncio
import time
import types
from collections import Counter

import numpy as np
import pytest

from media_server.mixing import camera_tile_height
from media_server.sfu import janus
from media_server.sfu.subscriber import CAMERA_STREAM, SCREEN_STREAM, JanusRecording, Publishers, RoomLost, substream_for, we_are_out
from tests.aiortc_participants import JanusPublisher

RECORDER = 900
RED, GREEN, BLUE, YELLOW = (200, 40, 40), (40, 170, 60), (40, 60, 200), (230, 210, 40)
TOKEN_TTL = 3  # seconds: the subscription outlives its first tokens
WAIT = 15.0


class FrameLog:
    """A MediaSink that counts frames and remembers each video stream's colour."""

    def __init__(self):
        self.frames: Counter[tuple[int, str, str]] = Counter()
        self.colors: dict[tuple[int, str], tuple[int, ...]] = {}
        self.ended: list[tuple[int, str, str]] = []
        self.last_at: dict[tuple[int, str, str], float] = {}
        self.longest_pause: Counter[tuple[int, str, str]] = Counter()

    def video_frame(self, participant_id, stream_id, frame):
        key = (participant_id, stream_id, "video")
        now = time.monotonic()
        if key in self.last_at:
            self.longest_pause[key] = max(self.longest_pause[key], now - self.last_at[key])
        self.last_at[key] = now
        if self.frames[key] % 10 == 0:
            picture = frame.to_ndarray(format="rgb24")
            height, width = picture.shape[:2]
            # Below the frame counter, beside the moving bar most of the time: the median.
            self.colors[(participant_id, stream_id)] = tuple(int(c) for c in np.median(picture[height // 2 :, :], axis=(0, 1)))
        self.frames[key] += 1

    def audio_frame(self, participant_id, stream_id, frame):
        self.frames[(participant_id, stream_id, "audio")] += 1

    def track_ended(self, participant_id, stream_id, kind):
        self.ended.append((participant_id, stream_id, kind))


def close_to(color, expected, tolerance=45) -> bool:
    return color is not None and max(abs(a - b) for a, b in zip(color, expected, strict=True)) < tolerance


async def until(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_it_follows_publishers_as_they_come_and_go_on_one_subscription(janus_server):
    api = janus.AdminApi(janus_server.admin_url)
    room = janus.new_room_id()
    api.create_room(room, "secret", publishers=10, description="subscriber test")
    asked: list[float] = []

    async def credentials():
        asked.append(time.monotonic())
        return {
            "server": janus_server.public_url,
            "room": room,
            "generation": 1,
            "publisher_id": RECORDER,
            "core_token": janus.core_token(f"p={RECORDER}", ttl=TOKEN_TTL),
            "room_token": janus.room_token(room, ttl=TOKEN_TTL),
            "expires_in": TOKEN_TTL,
        }

    def publisher(feed: int) -> JanusPublisher:
        return JanusPublisher(janus_server.public_url, janus.core_token(f"p={feed}"), room, janus.room_token(room), feed)

    log = FrameLog()
    media_from: list[int] = []
    recording = JanusRecording(credentials, log, on_media=media_from.append, canvas=(1280, 720))
    ann = await publisher(1).start(RED, 440.0)
    following = asyncio.create_task(recording.run())
    started: list[JanusPublisher] = [ann]
    try:
        await until(lambda: log.frames[(1, CAMERA_STREAM, "video")] and log.frames[(1, CAMERA_STREAM, "audio")], "Ann's camera and voice")
        # The recorder is in the room without publishing.
        assert {p["id"]: p["publisher"] for p in api.publishers(room)} == {1: True, RECORDER: False}
        # Ann alone fills the 720p mix: her top layer.
        await until(lambda: camera_layers(recording) == {1: 2}, "the top layer asked of Ann's camera")

        # Bob comes: the subscription grows (renegotiated, not made again).
        started.append(bob := await publisher(2).start(GREEN, 1000.0))
        await until(lambda: close_to(log.colors.get((2, CAMERA_STREAM)), GREEN), "Bob's green camera")
        # Ann shares her screen: a second publisher, her id plus the offset.
        started.append(await publisher(1 + janus.SCREEN_FEED_OFFSET).start(YELLOW))
        await until(lambda: close_to(log.colors.get((1, SCREEN_STREAM)), YELLOW), "Ann's yellow screen")
        assert close_to(log.colors.get((1, CAMERA_STREAM)), RED)
        assert recording.subscriptions == 1
        assert media_from == [1, 2]
        # Two cameras beside a screen: small tiles, the lowest layer (asked of Janus, accepted).
        await until(lambda: camera_layers(recording) == {1: 0, 2: 0}, "the low layer asked of both cameras")

        # Bob goes: his streams end (Janus renegotiates by itself).
        await bob.close()
        await until(lambda: {(2, CAMERA_STREAM, "video"), (2, CAMERA_STREAM, "audio")} <= set(log.ended), "Bob's streams to end")

        # Cid comes once the first tokens have expired: the subscription is made again
        # (Janus would recycle Bob's m-lines) with renewed tokens.
        await until(lambda: time.monotonic() > asked[0] + TOKEN_TTL + 0.5, "the first tokens to expire")
        assert len(asked) >= 2
        ann_frames = log.frames[(1, CAMERA_STREAM, "video")]
        log.longest_pause.clear()
        started.append(await publisher(3).start(BLUE, 1750.0))
        await until(lambda: close_to(log.colors.get((3, CAMERA_STREAM)), BLUE), "Cid's blue camera")
        await until(lambda: log.frames[(3, CAMERA_STREAM, "audio")], "Cid's voice")  # not only the first m-line of a kind
        await until(lambda: log.frames[(1, CAMERA_STREAM, "video")] > ann_frames + 10, "Ann's camera to go on")
        assert log.frames[(1, SCREEN_STREAM, "video")] and recording.subscriptions == 2
        # Ann's picture paused while the subscription was made again (printed for the record).
        print(f"Ann's camera paused {log.longest_pause[(1, CAMERA_STREAM, 'video')]:.2f} s at the new subscription")
        assert not following.done()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        for started_publisher in started:
            await started_publisher.close()


def camera_layers(recording: JanusRecording) -> dict[int, int]:
    """Participant → the substream asked of their camera on the current subscription."""
    subscription = recording.subscription
    return {stream.participant_id: layer for stream, layer in subscription.layers.values()} if subscription else {}


def test_it_asks_for_the_layer_that_fills_the_tile_in_the_mix():
    assert [substream_for(camera_tile_height(n, 1280, 720, sharing=False)) for n in (1, 2, 3, 4, 9, 17, 25)] == [2, 2, 1, 1, 1, 0, 0]
    assert substream_for(camera_tile_height(1, 1920, 1080, sharing=True)) == 1  # the strip beside a screen
    assert substream_for(camera_tile_height(3, 1280, 720, sharing=True)) == 0
    assert camera_tile_height(0, 1280, 720, sharing=False) == 0


def test_it_reads_who_publishes_what_from_the_watchers_events():
    publishers = Publishers(own_id=9)
    video = {"type": "video", "mid": "0", "codec": "vp8"}
    audio = {"type": "audio", "mid": "1", "codec": "opus"}
    data = {"type": "data", "mid": "2"}
    assert publishers.apply(
        {"videoroom": "joined", "publishers": [{"id": 1, "streams": [video, audio, data]}, {"id": 9, "streams": [video]}]}
    )
    screen = 5 + janus.SCREEN_FEED_OFFSET
    assert publishers.apply({"videoroom": "event", "publishers": [{"id": screen, "streams": [video, {**audio, "disabled": True}]}]})
    assert not publishers.apply({"videoroom": "event", "publishers": [{"id": 1, "streams": [video, audio]}]})  # the same again
    wanted = {(s.participant_id, s.stream_id, s.kind, s.mid) for s in publishers.wanted()}
    assert wanted == {(1, CAMERA_STREAM, "video", "0"), (1, CAMERA_STREAM, "audio", "1"), (5, SCREEN_STREAM, "video", "0")}
    assert publishers.apply({"videoroom": "event", "unpublished": screen})
    assert publishers.apply({"videoroom": "event", "leaving": 1})
    assert not publishers.apply({"videoroom": "event", "leaving": 1})
    assert publishers.wanted() == set()
    assert we_are_out({"videoroom": "destroyed"}, 9) and we_are_out({"videoroom": "event", "kicked": 9}, 9)
    assert not we_are_out({"videoroom": "event", "leaving": 1}, 9)


async def test_it_starts_again_with_backoff_while_janus_is_away(janus_server):
    api = janus.AdminApi(janus_server.admin_url)
    room = janus.new_room_id()
    api.create_room(room, "secret", publishers=10, description="subscriber test")

    async def credentials():
        return {
            "server": janus_server.public_url,
            "room": room,
            "generation": 1,
            "publisher_id": RECORDER,
            "core_token": janus.core_token(f"p={RECORDER}"),
            "room_token": janus.room_token(room),
            "expires_in": 300,
        }

    def publisher() -> JanusPublisher:
        return JanusPublisher(janus_server.public_url, janus.core_token("p=1"), room, janus.room_token(room), 1)

    log = FrameLog()
    recording = JanusRecording(credentials, log)
    ann = await publisher().start(RED)
    following = asyncio.create_task(recording.run())
    try:
        await until(lambda: log.frames[(1, CAMERA_STREAM, "video")], "Ann's camera")
        janus_server.kill()
        await until(lambda: (1, CAMERA_STREAM, "video") in log.ended, "her picture to end with the connection")
        await ann.close()
        frames, sessions = log.frames[(1, CAMERA_STREAM, "video")], recording.sessions
        await until(lambda: recording.sessions >= sessions + 2, "two more attempts while Janus is away")
        janus_server.start()  # the same address, its rooms gone: the room comes back a moment later
        api.create_room(room, "secret", publishers=10, description="subscriber test")
        ann = await publisher().start(RED)
        await until(lambda: log.frames[(1, CAMERA_STREAM, "video")] > frames, "her camera again")
        assert not following.done()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await ann.close()


async def test_it_starts_over_when_the_room_or_the_session_is_gone():
    recording = JanusRecording(lambda: None, FrameLog())  # type: ignore[arg-type,return-value]
    recording.watcher = types.SimpleNamespace(id=7)  # type: ignore[assignment]
    recording.publishers = Publishers(own_id=RECORDER)
    for message in (
        {"janus": "closed", "sender": 7},
        {"janus": "timeout", "sender": 7},
        {"janus": "event", "sender": 7, "plugindata": {"data": {"videoroom": "destroyed"}}},
        {"janus": "event", "sender": 7, "plugindata": {"data": {"videoroom": "event", "kicked": RECORDER}}},
        {"janus": "hangup", "sender": 7},
    ):
        with pytest.raises(RoomLost):
            await recording._on_message(message)
    await recording._on_message({"janus": "event", "sender": 7, "plugindata": {"data": {"videoroom": "event", "leaving": 3}}})
