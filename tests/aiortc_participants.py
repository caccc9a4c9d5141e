"""Python participants for the recording tests: each joins a real meeting like a
browser (the HTTP join form with a session cookie, then the room WebSocket with that
cookie) and sends the media recorder a moving test pattern (640×360, 30 fps: a
coloured background of its own, a moving white bar and the frame counter in binary)
and a sine tone of its own frequency.

As docs/recording.md asks of a browser, a participant opens one peer connection to
the recorder when it learns of it (snapshot ``recorder`` or ``recorder.joined``) and
is always the offerer there, sending only. Offers from other participants are not
answered: the recording tests need the recorder's side only, and the machine is small.

In a meeting on the SFU (snapshot ``media``, ``media.topology``) it publishes to Janus
instead (:class:`JanusPublisher`: camera and microphone as its participant id, a
screen as a second publisher), closes its recorder connection once its Janus publisher
is up, opens none while the room is on the SFU, and publishes again in a new room
(``generation``).

The participants live on an asyncio loop in a thread of their own
(:class:`ParticipantsLoop`), so that synchronous tests (the ORM, the live-process
fixtures) drive them with ``loop.run(coroutine)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import json
import logging
import math
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Coroutine
from http.cookiejar import Cookie, CookieJar
from typing import Any, TypeVar

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame, VideoFrame
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from media_server.peer import allow_loopback_candidates
from media_server.sfu.client import JanusClient
from media_server.sfu.janus import SCREEN_FEED_OFFSET

T = TypeVar("T")
# ICE checks are logged at INFO, a dozen lines per connection.
logging.getLogger("aioice").setLevel(logging.WARNING)

WIDTH, HEIGHT = 640, 360
SAMPLE_RATE = 48_000
AUDIO_PTIME = 0.020
BAR_WIDTH, BAR_STEP = 32, 8
COUNTER_BITS, COUNTER_BLOCK = 12, 16
AMPLITUDE = 0.3  # of full scale: loud enough to measure, far from clipping when mixed
REPLY_TIMEOUT = 15.0
JANUS_CONNECT_TIMEOUT = 15.0
# What a participant publishes to Janus: smaller than for the mesh (the machine is small).
JANUS_WIDTH, JANUS_HEIGHT = 320, 180
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, as the encoders and the compositor assume."""
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


class TestPatternTrack(VideoStreamTrack):
    """640×360 at 30 fps: a background of the participant's colour, a white bar that
    moves 8 px a frame, and the frame number as 12 black/white blocks top left."""

    __test__ = False  # not a pytest class

    def __init__(self, color: tuple[int, int, int], *, width: int = WIDTH, height: int = HEIGHT):
        super().__init__()
        self.width, self.height = width, height
        y, u, v = rgb_to_yuv(color)
        self._luma = np.full((height, width), y, dtype=np.uint8)
        self._chroma = np.concatenate([np.full((height // 4, width), u, dtype=np.uint8), np.full((height // 4, width), v, dtype=np.uint8)])
        self.frames_sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._draw(self.frames_sent), format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        self.frames_sent += 1
        return frame

    def _draw(self, number: int) -> np.ndarray:
        luma = self._luma.copy()
        x = (number * BAR_STEP) % (self.width - BAR_WIDTH)
        luma[:, x : x + BAR_WIDTH] = 235
        for bit in range(COUNTER_BITS):
            left = bit * COUNTER_BLOCK
            luma[:COUNTER_BLOCK, left : left + COUNTER_BLOCK] = 235 if number >> bit & 1 else 16
        return np.concatenate([luma, self._chroma])


class SineTrack(AudioStreamTrack):
    """A sine tone of ``frequency`` Hz, 48 kHz mono, in 20 ms frames paced in real time."""

    def __init__(self, frequency: float):
        super().__init__()
        self.frequency = frequency
        self._samples = int(SAMPLE_RATE * AUDIO_PTIME)
        self._sent = 0
        self._began: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._began is None:
            self._began = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._began + self._sent / SAMPLE_RATE - time.monotonic()))
        t = (np.arange(self._samples) + self._sent) / SAMPLE_RATE
        wave = (AMPLITUDE * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += self._samples
        return frame


class JanusPublisher:
    """One publisher in a Janus room with aiortc: a test pattern of ``color`` and,
    with ``frequency``, a tone (the tests' stand-in for a browser's camera and
    microphone, or for its screen)."""

    def __init__(self, server: str, core_token: str, room: int, room_token: str, publisher_id: int):
        self.server, self.core_token, self.room, self.room_token = server, core_token, room, room_token
        self.publisher_id = publisher_id
        self.client: JanusClient | None = None
        self.pc: RTCPeerConnection | None = None
        self.tracks: list[Any] = []

    @classmethod
    def for_credentials(cls, creds: dict, *, screen: bool = False) -> JanusPublisher:
        """As ``sfu.credentials`` allow: the person's own feed, or their screen's."""
        feed = creds["publisher_id"] + (SCREEN_FEED_OFFSET if screen else 0)
        return cls(creds["server"], creds["core_token"], creds["room"], creds["room_token"], feed)

    async def start(self, color: tuple[int, int, int], frequency: float | None = None) -> JanusPublisher:
        """Publish, and return once the media flow (ICE and DTLS done)."""
        self.client = await JanusClient(self.server, token=self.core_token).connect()
        handle = await self.client.attach(opaque_id=f"test-{self.publisher_id}")
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        connected = asyncio.Event()
        pc.on("connectionstatechange", lambda: connected.set() if pc.connectionState == "connected" else None)
        self.tracks = [TestPatternTrack(color, width=JANUS_WIDTH, height=JANUS_HEIGHT)]
        if frequency is not None:
            self.tracks.append(SineTrack(frequency))
        for track in self.tracks:
            pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        body = {"request": "joinandconfigure", "ptype": "publisher", "room": self.room, "id": self.publisher_id, "token": self.room_token}
        _data, jsep = await handle.message(body, jsep={"type": "offer", "sdp": pc.localDescription.sdp})
        assert jsep is not None, _data
        await pc.setRemoteDescription(RTCSessionDescription(**jsep))
        await asyncio.wait_for(connected.wait(), JANUS_CONNECT_TIMEOUT)
        return self

    async def close(self) -> None:
        for track in self.tracks:
            track.stop()
        if self.pc is not None:
            await self.pc.close()
        if self.client is not None:
            await self.client.close()


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class AiortcParticipant:
    """One person in the meeting, joined through HTTP and the room socket."""

    def __init__(
        self,
        base_url: str,
        public_id: str,
        name: str,
        *,
        color: tuple[int, int, int],
        frequency: float,
        session_cookie: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.public_id = public_id
        self.name = name
        self.color = color
        self.frequency = frequency
        self.id: int | None = None
        self.snapshot: dict = {}
        self.events: list[tuple[str, dict]] = []
        self.recorder_id: int | None = None
        self.recorder_pc: RTCPeerConnection | None = None
        self.video: TestPatternTrack | None = None
        self.audio: SineTrack | None = None
        self.screen: TestPatternTrack | None = None
        self.screen_color: tuple[int, int, int] | None = None
        self.screen_stream_id = f"screen-{uuid.uuid4()}"
        # The SFU: the room's topology, our Janus publishers and their room's generation.
        self.topology: dict = {"mode": "mesh"}
        self.on_sfu = False
        self.janus: JanusPublisher | None = None
        self.janus_screen: JanusPublisher | None = None
        self.janus_generation: int | None = None
        self._jar = CookieJar()
        self._session_cookie = session_cookie
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._replies: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._new_event = asyncio.Event()
        self._media_events: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self._media_task: asyncio.Task | None = None
        self.errors: list[str] = []

    # --- Joining -------------------------------------------------------------------

    async def join(self) -> None:
        """Post the join form, open the room socket, wait for the snapshot, and say
        that camera and microphone are on."""
        await asyncio.to_thread(self._post_join_form)
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self._jar)
        ws_url = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + f"/ws/meetings/{self.public_id}/"
        self._socket = await connect(ws_url, origin=self.base_url, additional_headers={"Cookie": cookies})  # type: ignore[arg-type]
        self._reader = asyncio.create_task(self._read(), name=f"{self.name} socket")
        self._media_task = asyncio.create_task(self._handle_media_events(), name=f"{self.name} media")
        snapshot = await self.wait_event("room.snapshot")
        self.id = snapshot["self"]["id"]
        self.snapshot = snapshot
        await self.request("media.state", {"mic": True, "camera": True})

    def _post_join_form(self) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._jar))
        join_url = f"{self.base_url}/m/{self.public_id}/"
        if self._session_cookie:  # a logged-in person (the organizer)
            self._add_cookie(settings.SESSION_COOKIE_NAME, self._session_cookie)
        with opener.open(join_url, timeout=REPLY_TIMEOUT) as response:
            page = response.read().decode()
        token = CSRF_FIELD.search(page)
        if token is None:
            raise AssertionError(f"{self.name}: no join form at {join_url}:\n{page[:2000]}")
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "name": self.name, "email": ""}).encode()
        request = urllib.request.Request(join_url, data=form, headers={"Origin": self.base_url, "Referer": join_url})
        with opener.open(request, timeout=REPLY_TIMEOUT) as response:
            landed = response.geturl()
        if not landed.endswith(f"/m/{self.public_id}/room/"):
            raise AssertionError(f"{self.name}: joining ended on {landed}, not the room")

    def _add_cookie(self, name: str, value: str) -> None:
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        self._jar.set_cookie(Cookie(0, name, value, None, False, host, False, False, "/", True, False, None, False, None, None, {}))

    # --- The socket ----------------------------------------------------------------

    async def request(self, type_: str, body: dict | None = None) -> dict:
        """Send a message and return the ``ack`` body; raise :class:`Refused` on ``error``."""
        assert self._socket is not None
        request_id = f"p{next(self._ids)}"
        reply = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        await self._socket.send(json.dumps({"type": type_, "id": request_id, "body": body or {}}))
        kind, answer = await asyncio.wait_for(reply, REPLY_TIMEOUT)
        if kind == "error":
            raise Refused(answer["code"], answer["message"])
        return answer

    async def wait_event(self, type_: str, *, timeout: float = REPLY_TIMEOUT, after: int = 0) -> dict:
        """The body of the first event ``type_`` received (from index ``after`` on)."""
        deadline = time.monotonic() + timeout
        while True:
            for name, body in self.events[after:]:
                if name == type_:
                    return body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {type_} within {timeout:.0f} s; got {[n for n, _ in self.events]}")
            self._new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_event.wait(), remaining)

    async def _read(self) -> None:
        assert self._socket is not None
        with contextlib.suppress(Exception):
            async for frame in self._socket:
                message = json.loads(frame)
                await self._on_message(message["type"], message.get("id"), message.get("body") or {})
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(ConnectionError(f"{self.name}: the room socket closed"))

    async def _on_message(self, type_: str, request_id: str | None, body: dict) -> None:
        if type_ in ("ack", "error") and request_id in self._replies:
            reply = self._replies.pop(request_id)
            if not reply.done():
                reply.set_result((type_, body))
            return
        self.events.append((type_, body))
        self._new_event.set()
        if type_ in ("room.snapshot", "recorder.joined", "recorder.left", "signal", "media.topology"):
            # Handled in order by a task of their own: the reader must go on reading
            # (the replies to our own signals come through it).
            self._media_events.put_nowait((type_, body))

    async def _handle_media_events(self) -> None:
        while True:
            type_, body = await self._media_events.get()
            try:
                if type_ == "room.snapshot":
                    await self._follow_topology(body.get("media") or {"mode": "mesh"})
                    if body.get("recorder") and not self.on_sfu:
                        await self._connect_recorder(body["recorder"]["id"])
                elif type_ == "media.topology":
                    await self._follow_topology(body)
                elif type_ == "recorder.joined" and not self.on_sfu:
                    await self._connect_recorder(body["id"])
                elif type_ == "recorder.left" and body.get("id") == self.recorder_id:
                    await self._close_recorder()
                elif type_ == "signal" and body.get("from") == self.recorder_id:
                    await self._on_recorder_signal(body)
            except Exception as error:  # kept for the test's failure message
                self.errors.append(f"{type_}: {error!r}")

    # --- The recorder's peer connection ---------------------------------------------

    async def _connect_recorder(self, recorder_id: int) -> None:
        """Offer our camera and microphone to the recorder (we always offer there)."""
        if self.recorder_id == recorder_id and self.recorder_pc is not None:
            return
        await self._close_recorder()
        allow_loopback_candidates()
        self.recorder_id = recorder_id
        pc = self.recorder_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        # Fresh tracks for each connection: aiortc does not send a track again once
        # the connection that sent it was closed.
        self.video, self.audio = TestPatternTrack(self.color), SineTrack(self.frequency)
        pc.addTransceiver(self.video, direction="sendonly")
        pc.addTransceiver(self.audio, direction="sendonly")
        if self.screen_color is not None:
            self._add_screen(pc)
        await self._offer()

    def _add_screen(self, pc: RTCPeerConnection) -> None:
        assert self.screen_color is not None
        self.screen = TestPatternTrack(self.screen_color)
        transceiver = pc.addTransceiver(self.screen, direction="sendonly")
        # aiortc gives all its tracks one stream id; a browser's screen has its own.
        transceiver.sender._stream_id = self.screen_stream_id

    async def _offer(self) -> None:
        pc = self.recorder_pc
        assert pc is not None
        await pc.setLocalDescription(await pc.createOffer())  # gathers: the candidates go inside
        offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        await self.request("signal", {"to": self.recorder_id, "description": offer})

    async def connect_recorder_anyway(self, recorder_id: int) -> None:
        """Offer to the recorder whatever the topology (a page that missed the move to
        the SFU)."""
        await self._connect_recorder(recorder_id)

    async def share_screen(self, color: tuple[int, int, int]) -> None:
        """Share a "screen" (a test pattern of ``color``) like a browser: ``share.start``
        with its stream id, then a new offer to the recorder with the added track (on
        the SFU: a second publisher, the screen's feed)."""
        await self.request("share.start", {"kind": "screen", "stream_id": self.screen_stream_id})
        self.screen_color = color
        if self.janus is not None:
            creds = await self.request("sfu.credentials")
            self.janus_screen = await JanusPublisher.for_credentials(creds, screen=True).start(color)
        elif self.recorder_pc is not None:
            self._add_screen(self.recorder_pc)
            await self._offer()

    async def _on_recorder_signal(self, body: dict) -> None:
        pc = self.recorder_pc
        if pc is None:
            return
        if "description" in body and body["description"]["type"] == "answer":
            await pc.setRemoteDescription(RTCSessionDescription(**body["description"]))
        elif body.get("candidate") and body["candidate"].get("candidate"):
            candidate = candidate_from_sdp(body["candidate"]["candidate"].removeprefix("candidate:"))
            candidate.sdpMid = body["candidate"].get("sdpMid")
            candidate.sdpMLineIndex = body["candidate"].get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)

    async def _close_recorder(self) -> None:
        pc, self.recorder_pc, self.recorder_id = self.recorder_pc, None, None
        if pc is not None:
            await pc.close()
        for track in (self.video, self.audio, self.screen):
            if track is not None:
                track.stop()

    # --- The SFU -------------------------------------------------------------------

    async def _follow_topology(self, topology: dict) -> None:
        """Mesh, or the SFU: publish to Janus once the room is ready (again in a new
        room), then close the recorder connection."""
        self.topology = topology
        if topology.get("mode") != "sfu":
            self.on_sfu = False
            await self._unpublish()
            return
        if topology.get("generation") != self.janus_generation:
            await self._unpublish()
        if topology.get("state") == "ready" and self.janus is None:
            await self._publish()

    async def _publish(self) -> None:
        creds = await self.request("sfu.credentials")
        self.janus = await JanusPublisher.for_credentials(creds).start(self.color, self.frequency)
        if self.screen_color is not None:
            self.janus_screen = await JanusPublisher.for_credentials(creds, screen=True).start(self.screen_color)
        self.janus_generation = creds["generation"]
        self.on_sfu = True
        await self._close_recorder()  # Janus has our media now: nothing goes to the recorder

    async def _unpublish(self) -> None:
        publishers = (self.janus, self.janus_screen)
        self.janus = self.janus_screen = None
        self.janus_generation = None
        for publisher in publishers:
            if publisher is not None:
                await publisher.close()

    @property
    def media_connected(self) -> bool:
        return self.recorder_pc is not None and self.recorder_pc.connectionState == "connected"

    # --- Leaving -------------------------------------------------------------------

    async def close(self) -> None:
        """Drop the socket and the media, as a closed tab would."""
        if self._media_task is not None:
            self._media_task.cancel()
        await self._close_recorder()
        await self._unpublish()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


class ParticipantsLoop:
    """An asyncio loop in a thread of its own, for synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="aiortc participants", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self, participants: list[AiortcParticipant]) -> None:
        for participant in participants:
            with contextlib.suppress(Exception):
                self.run(participant.close(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
