"""The media worker in an SFU meeting: aiortc subscribed to the meeting's Janus room,
every received frame handed to a ``MediaSink`` as the mesh peers do
(docs/recording.md, "Recording a meeting on the SFU").

One Janus session (the recorder participant's tokens) holds two handles:

- the **watcher**, joined as a publisher that never publishes: Janus pushes to it who
  publishes what (``publishers``), who stops (``unpublished``, ``leaving``,
  ``kicked``) and the end of the room (``destroyed``). Events, not polling
  ``listparticipants``: nothing is late by a polling period, and a publisher that does
  not publish takes no publisher slot. (Browsers hear of it as an attendee whose id is
  the recorder's, which they ignore.)
- the **subscriber**, one multistream handle: ``join`` with every stream published,
  ``subscribe`` as streams appear; when a publisher goes, Janus renegotiates by itself
  (its m-lines turn inactive). Janus gives the next stream an inactive m-line again
  with a new SSRC, which aiortc 1.16 cannot receive on a running receiver (it routes
  RTP by the SSRCs it learnt when the receiver started): so rather than a subscribe
  that would recycle an m-line, the subscription is made again on a new handle
  (every tile freezes for the time it takes, a fraction of a second).

A feed is a participant by its id: their camera and microphone are the publisher
whose id is theirs, their screen the one with ``SCREEN_FEED_OFFSET`` added; the
stream's type says audio or video. The stream ids the sink gets are ``CAMERA_STREAM``
and ``SCREEN_STREAM``.

``JanusRecording.run`` follows one room until cancelled: tokens renewed before they
expire, the session started again with backoff whenever Janus goes away, the room is
gone or the tokens are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from media_server.mixing import camera_tile_height
from media_server.peer import MediaSink
from media_server.sfu.client import Handle, JanusClient
from media_server.sfu.janus import SCREEN_FEED_OFFSET, JanusError, feed_owner

logger = logging.getLogger(__name__)

CAMERA_STREAM = "janus:camera"
SCREEN_STREAM = "janus:screen"
RECORDER_DISPLAY = "Parley recorder"
# Between two attempts at the room (Janus away, room not there yet, tokens refused).
RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
# A session that lasted this long was fine: the next failure retries at once.
STEADY_SECONDS = 20.0
# Tokens are renewed halfway through their life, and retried this often if refused.
RENEW_RETRY_SECONDS = 5.0

Credentials = Callable[[], Awaitable[dict[str, Any]]]


class RoomLost(Exception):
    """The session cannot go on: Janus closed it, the room is gone, or we were kicked."""


# --- What is published ------------------------------------------------------------------


@dataclass(frozen=True)
class FeedStream:
    """One audio or video stream of a publisher (``mid`` is the publisher's)."""

    feed: int
    mid: str
    kind: str  # "audio" or "video"

    @property
    def participant_id(self) -> int:
        return feed_owner(self.feed)[0]

    @property
    def stream_id(self) -> str:
        return SCREEN_STREAM if feed_owner(self.feed)[1] else CAMERA_STREAM


def published_streams(publisher: dict[str, Any]) -> list[FeedStream]:
    """The audio and video streams of a ``publishers`` entry (no data channels)."""
    feed = publisher["id"]
    return [
        FeedStream(feed, str(stream["mid"]), stream["type"])
        for stream in publisher.get("streams") or []
        if stream.get("type") in ("audio", "video") and stream.get("mid") is not None and not stream.get("disabled")
    ]


class Publishers:
    """Who publishes what in the room, as the watcher hears it."""

    def __init__(self, own_id: int):
        self.own_id = own_id
        self.streams: dict[int, list[FeedStream]] = {}

    def apply(self, data: dict[str, Any]) -> bool:
        """Take a watcher's event (or its ``joined`` answer); True if anything changed."""
        changed = False
        for publisher in data.get("publishers") or []:
            feed = publisher.get("id")
            if isinstance(feed, int) and feed != self.own_id:
                streams = published_streams(publisher)
                changed |= self.streams.get(feed) != streams
                self.streams[feed] = streams
        for gone in ("unpublished", "leaving", "kicked"):
            feed = data.get(gone)
            if isinstance(feed, int) and self.streams.pop(feed, None) is not None:
                changed = True
        return changed

    def wanted(self) -> set[FeedStream]:
        return {stream for streams in self.streams.values() for stream in streams}

    def cameras(self) -> int:
        return sum(1 for feed, streams in self.streams.items() if feed < SCREEN_FEED_OFFSET and any(s.kind == "video" for s in streams))

    def sharing(self) -> bool:
        return any(feed >= SCREEN_FEED_OFFSET for feed in self.streams)


def substream_for(tile_height: int) -> int:
    """The simulcast layer (Janus substream: 2 is the 720p top, 1 360p, 0 180p) that
    fills a tile of this height without decoding more than it shows."""
    if tile_height > 360:
        return 2
    return 1 if tile_height > 180 else 0


def we_are_out(data: dict[str, Any], own_id: int) -> bool:
    """A watcher's event saying the room or our place in it is gone."""
    return data.get("videoroom") == "destroyed" or data.get("leaving") in ("ok", own_id) or data.get("kicked") == own_id


# --- One subscriber handle and its peer connection ----------------------------------------


Deliver = Callable[[FeedStream, Any], None]
Ended = Callable[[FeedStream], None]


class Subscription:
    """A multistream subscriber handle and the RTCPeerConnection that answers it.
    ``carrying`` says which stream each of our m-lines (by mid) carries now."""

    def __init__(self, handle: Handle, ice_servers: list[RTCIceServer], deliver: Deliver, ended: Ended, failed: Callable[[], None]):
        self.handle = handle
        self.deliver = deliver
        self.ended = ended
        self.failed = failed
        # Everything on one transport from the start: with aiortc's default (balanced)
        # policy, an answer to an offer of several m-lines of a kind puts the later ones
        # on a transport that bundling then throws away (they never receive).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.carrying: dict[str, FeedStream] = {}
        self.inactive: set[str] = set()  # m-lines Janus would give the next stream again
        self.used: set[str] = set()  # m-lines that carried a stream (their receiver knows its SSRC)
        self.recycled = False  # a new stream on a used m-line: aiortc cannot receive it
        self.layers: dict[str, tuple[FeedStream, int]] = {}  # camera m-line → (stream, substream asked)
        self.readers: set[asyncio.Task] = set()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def subscribed(self) -> set[FeedStream]:
        return set(self.carrying.values())

    async def join(self, room: int, token: str, streams: set[FeedStream]) -> None:
        body = {"request": "join", "ptype": "subscriber", "room": room, "token": token, "streams": _requested(streams)}
        await self.take(*await self.handle.message(body))

    async def add(self, streams: set[FeedStream]) -> None:
        await self.take(*await self.handle.message({"request": "subscribe", "streams": _requested(streams)}))

    async def choose_layer(self, substream: int) -> None:
        """Ask Janus for this simulcast layer of every camera received (where it is
        not asked already: a recycled m-line starts again at Janus's default, the top)."""
        cameras = {mid: stream for mid, stream in self.carrying.items() if stream.kind == "video" and stream.feed < SCREEN_FEED_OFFSET}
        changed = [mid for mid, stream in cameras.items() if self.layers.get(mid) != (stream, substream)]
        if changed:
            await self.handle.message({"request": "configure", "streams": [{"mid": mid, "substream": substream} for mid in changed]})
            self.layers.update({mid: (cameras[mid], substream) for mid in changed})

    async def take(self, data: dict[str, Any], jsep: dict[str, Any] | None) -> None:
        """An answer or event of the handle: what each m-line carries, and Janus's offer
        (answered at once; Janus sends no other offer before it has our answer)."""
        if isinstance(data.get("streams"), list):
            self._map(data["streams"])
        if jsep and jsep.get("type") == "offer":
            await self._answer(jsep)

    def _map(self, streams: list[dict[str, Any]]) -> None:
        carrying: dict[str, FeedStream] = {}
        inactive: set[str] = set()
        for entry in streams:
            mid = str(entry.get("mid"))
            if entry.get("type") in ("audio", "video") and entry.get("active", True) and isinstance(entry.get("feed_id"), int):
                carrying[mid] = FeedStream(entry["feed_id"], str(entry.get("feed_mid")), entry["type"])
            elif entry.get("type") in ("audio", "video"):
                inactive.add(mid)
        for mid, stream in self.carrying.items():
            if carrying.get(mid) != stream:
                self.ended(stream)
        self.recycled |= any(mid in self.used and self.carrying.get(mid) != stream for mid, stream in carrying.items())
        self.used |= set(carrying)
        self.carrying, self.inactive = carrying, inactive

    async def _answer(self, offer: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"  # the recorder never sends
        await self.pc.setLocalDescription(await self.pc.createAnswer())  # gathers: candidates inside
        answer = {"type": self.pc.localDescription.type, "sdp": self.pc.localDescription.sdp}
        await self.handle.message({"request": "start"}, jsep=answer)

    async def add_candidate(self, candidate: dict[str, Any]) -> None:
        if candidate.get("completed") or not candidate.get("candidate"):
            return
        ice = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
        ice.sdpMid, ice.sdpMLineIndex = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(ice)

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None) or ""
        task = asyncio.create_task(self._read(track, mid), name=f"janus {track.kind} {mid}")
        self.readers.add(task)
        task.add_done_callback(self.readers.discard)

    async def _read(self, track: MediaStreamTrack, mid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                # Looked up each time: a renegotiation may have turned the m-line off.
                stream = self.carrying.get(mid)
                if stream is not None:
                    self.deliver(stream, frame)

    async def _on_state(self) -> None:
        if self.pc.connectionState == "failed":
            self.failed()

    async def close(self) -> None:
        """Hang up (what it carried is not reported as ended: the caller decides)."""
        await self.pc.close()
        for task in list(self.readers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.handle.detach()


def _requested(streams: set[FeedStream]) -> list[dict[str, Any]]:
    return [{"feed": stream.feed, "mid": stream.mid} for stream in sorted(streams, key=lambda s: (s.feed, s.mid))]


# --- Following the room ------------------------------------------------------------------


class JanusRecording:
    """The recorder's subscription to one meeting's Janus room, kept up until cancelled.

    ``credentials()`` returns ``media_server.sfu.services.credentials`` of the
    recorder participant (asked at every start and halfway through the tokens' life);
    ``on_media(participant_id)`` is called on the first frame of each participant."""

    def __init__(
        self,
        credentials: Credentials,
        sink: MediaSink,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        on_media: Callable[[int], None] | None = None,
        canvas: tuple[int, int] | None = None,
        label: str = "",
    ):
        self.credentials = credentials
        self.sink = sink
        self.canvas = canvas  # the mix's (width, height): cameras come in the layer their tile needs
        self.ice_servers = ice_servers or []
        self.on_media = on_media
        self.label = label
        self.creds: dict[str, Any] = {}
        self.client: JanusClient | None = None
        self.watcher: Handle | None = None
        self.subscription: Subscription | None = None
        self.publishers = Publishers(0)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: set[int] = set()  # participants whose media came (for on_media)
        self.first_frames: set[tuple[int, str, str]] = set()  # (participant, stream, kind) logged this subscription
        self.sessions = 0  # Janus sessions tried (one per attempt at the room)
        self.subscriptions = 0  # subscriber handles made
        self.failures = 0  # subscriptions in a row that failed

    async def run(self) -> None:
        """Follow the room until cancelled: a session, and another after a pause
        whenever one ends (a session that lasted retries at once)."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Janus away, room gone, tokens refused, aiortc failed
                logger.warning("%sJanus: %s", self.label, _describe(error))
            finally:
                await self._end_session()
            attempt = 0 if time.monotonic() - started > STEADY_SECONDS else attempt + 1
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1] if attempt else 0.0)

    # --- One session ---------------------------------------------------------------

    async def _session(self) -> None:
        """Connect, join as the watcher, subscribe, then handle what Janus says (one
        message at a time: offers are answered in order) until the session is lost."""
        self.sessions += 1
        self.creds = await self.credentials()
        self.client = await JanusClient(self.creds["server"], token=self.creds["core_token"]).connect()
        self.inbox = asyncio.Queue()
        self.watcher = await self.client.attach(opaque_id="parley-recorder", events=self.inbox)
        self.publishers = Publishers(self.creds["publisher_id"])
        joined, _jsep = await self.watcher.message(
            {
                "request": "join",
                "ptype": "publisher",
                "room": self.creds["room"],
                "id": self.creds["publisher_id"],
                "display": RECORDER_DISPLAY,
                "token": self.creds["room_token"],
            }
        )
        logger.info("%sJanus: watching room %s (generation %s)", self.label, self.creds["room"], self.creds.get("generation"))
        self.publishers.apply(joined)
        renewal = asyncio.create_task(self._renew_tokens(), name="janus tokens")
        try:
            await self._sync()
            while True:
                await self._on_message(await self.inbox.get())
                if self.inbox.empty():  # a burst of events: one renegotiation after it
                    await self._sync()
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)

    async def _end_session(self) -> None:
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            for stream in subscription.subscribed:
                self._ended(stream)
            with contextlib.suppress(Exception):
                await subscription.close()
        client, self.client, self.watcher = self.client, None, None
        if client is not None:
            await client.close()

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("janus")
        if kind == "closed":
            raise RoomLost("the connection to Janus closed")
        if kind == "timeout":
            raise RoomLost("the Janus session timed out")
        data = ((message.get("plugindata") or {}).get("data")) or {}
        sender = message.get("sender")
        if self.watcher is not None and sender == self.watcher.id:
            if kind in ("hangup", "detached") or we_are_out(data, self.publishers.own_id):
                raise RoomLost(f"out of the room ({kind} {data})")
            self.publishers.apply(data)
            return
        subscription = self.subscription
        if subscription is None or sender != subscription.handle.id:
            return  # a subscription dropped meanwhile, or a resync
        if kind in ("hangup", "detached", "failed"):
            logger.info("%sJanus: the subscription %s (%s); subscribing again", self.label, kind, message.get("reason") or "")
            await self._drop_subscription(keep=self.publishers.wanted())
        elif data.get("videoroom") == "destroyed":
            raise RoomLost("the room was destroyed")
        elif kind == "event":
            await subscription.take(data, message.get("jsep"))
        elif kind == "trickle":
            await subscription.add_candidate(message.get("candidate") or {})

    async def _sync(self) -> None:
        """Subscribe to what is published and not subscribed yet (one request). A
        refusal (a feed gone meanwhile) or a failed negotiation: the subscription is
        made again a moment later."""
        try:
            await self._subscribe_to(self.publishers.wanted())
        except (RoomLost, asyncio.CancelledError):
            raise
        except Exception as error:
            self.failures += 1
            delay = RETRY_SECONDS[min(self.failures, len(RETRY_SECONDS)) - 1]
            logger.warning("%sJanus: subscribing failed (%s); again in %.1f s", self.label, _describe(error), delay)
            await self._drop_subscription(keep=self.publishers.wanted())
            asyncio.get_running_loop().call_later(delay, self.inbox.put_nowait, {"janus": "resync"})
        else:
            self.failures = 0
            await self._choose_layers()

    async def _choose_layers(self) -> None:
        """Each camera in the simulcast layer that fills its tile of the mix: decoding
        720p to draw it at 360p would cost the recorder for nothing."""
        if self.canvas is None or self.subscription is None:
            return
        height = camera_tile_height(self.publishers.cameras(), *self.canvas, sharing=self.publishers.sharing())
        try:
            await self.subscription.choose_layer(substream_for(height))
        except JanusError as error:  # the top layer stays: a heavier decode, not a lost picture
            logger.warning("%sJanus: choosing the layers failed (%s)", self.label, _describe(error))

    async def _subscribe_to(self, wanted: set[FeedStream]) -> None:
        subscription = self.subscription
        if subscription is not None and subscription.recycled:
            logger.info("%sJanus: a stream came on a used m-line; subscribing again", self.label)
            await self._drop_subscription(keep=wanted)
            subscription = None
        if not wanted:
            return
        if subscription is None:
            await self._subscribe(wanted)
            return
        added, removed = wanted - subscription.subscribed, subscription.subscribed - wanted
        if added and (subscription.inactive or removed):
            # Janus would put them on inactive m-lines, which aiortc cannot take again.
            logger.info("%sJanus: %d new stream(s) and m-lines left by others; subscribing again", self.label, len(added))
            await self._drop_subscription(keep=wanted)
            await self._subscribe(wanted)
        elif added:
            await subscription.add(added)

    async def _subscribe(self, streams: set[FeedStream]) -> None:
        assert self.client is not None
        handle = await self.client.attach(opaque_id="parley-recorder", events=self.inbox)

        def failed() -> None:  # aiortc gave up on the connection: a message like Janus's hangup
            self.inbox.put_nowait({"janus": "failed", "sender": handle.id})

        self.subscription = Subscription(handle, self.ice_servers, self._deliver, self._ended, failed)
        self.first_frames.clear()
        self.subscriptions += 1
        await self.subscription.join(self.creds["room"], self.creds["room_token"], streams)

    async def _drop_subscription(self, keep: set[FeedStream] | None = None) -> None:
        """Close the subscription; what is not in ``keep`` has ended (the rest keeps its
        last picture until the next subscription brings it again)."""
        subscription, self.subscription = self.subscription, None
        if subscription is None:
            return
        for stream in subscription.subscribed - (keep or set()):
            self._ended(stream)
        await subscription.close()

    # --- Media to the sink ------------------------------------------------------------

    def _deliver(self, stream: FeedStream, frame: Any) -> None:
        participant_id = stream.participant_id
        key = (participant_id, stream.stream_id, stream.kind)
        if key not in self.first_frames:
            self.first_frames.add(key)
            logger.info(
                "%sreceiving %s from participant %s through Janus (%s, generation %s)",
                self.label,
                stream.kind,
                participant_id,
                "screen" if stream.stream_id == SCREEN_STREAM else "camera",
                self.creds.get("generation"),
            )
        if participant_id not in self.seen:
            self.seen.add(participant_id)
            if self.on_media is not None:
                self.on_media(participant_id)
        if stream.kind == "video":
            self.sink.video_frame(participant_id, stream.stream_id, frame)
        else:
            self.sink.audio_frame(participant_id, stream.stream_id, frame)

    def _ended(self, stream: FeedStream) -> None:
        self.sink.track_ended(stream.participant_id, stream.stream_id, stream.kind)

    # --- Tokens ------------------------------------------------------------------------

    async def _renew_tokens(self) -> None:
        """Janus checks the core token on every request, keep-alives included: a fresh
        one halfway through the old one's life (the room token is used at each join)."""
        while True:
            await asyncio.sleep(max(1.0, float(self.creds.get("expires_in") or 60) / 2))
            while True:
                try:
                    fresh = await self.credentials()
                    break
                except Exception as error:
                    logger.warning("%sJanus: tokens not renewed (%s); trying again", self.label, _describe(error))
                    await asyncio.sleep(RENEW_RETRY_SECONDS)
            if (fresh["server"], fresh["room"]) != (self.creds["server"], self.creds["room"]):
                logger.info("%sJanus: the room moved (generation %s)", self.label, fresh.get("generation"))
                await self.inbox.put({"janus": "closed"})
                return
            self.creds = fresh
            if self.client is not None:
                self.client.token = fresh["core_token"]


def _describe(error: BaseException) -> str:
    if isinstance(error, JanusError):
        return f"{error} (code {error.code})"
    return str(error) or type(error).__name__
