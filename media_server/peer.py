"""The recorder's hidden, receive-only WebRTC side (aiortc).

One ``RTCPeerConnection`` per participant. Browsers are always the offerer towards
the recorder (docs/recording.md): we answer, with our candidates inside the answer,
and add the candidates they trickle. Of their candidates, in the offer and trickled
alike, aiortc gets only those ``media_server.candidates`` allows
(``PARLEY_MEDIA_PEER_NETWORKS``). Every received track gets a task that reads its
frames and hands each one to a :class:`MediaSink` at once, so a participant whose
frames come late or not at all never holds anyone else up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription, candidate_from_sdp

from core.networks import Networks
from media_server.candidates import Refusal, candidate_refusal, configured_networks, filter_sdp

logger = logging.getLogger(__name__)

SendSignal = Callable[[dict[str, Any]], Awaitable[None]]

_original_host_addresses = aioice.ice.get_host_addresses


def _host_addresses_or_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    # aioice never offers loopback; on a machine (or a test's network namespace)
    # with nothing else, loopback is the only way browsers on it can reach us.
    addresses = _original_host_addresses(use_ipv4, use_ipv6)
    if not addresses and use_ipv4:
        return ["127.0.0.1"]
    return addresses


def allow_loopback_candidates() -> None:
    """Gather 127.0.0.1 when the machine has no other address (idempotent)."""
    aioice.ice.get_host_addresses = _host_addresses_or_loopback


class MediaSink(Protocol):
    """Where received media goes. Called on the event loop; must return at once.
    ``stream_id`` is the sender's ``msid`` stream from a mesh peer, and
    ``media_server.sfu.subscriber.CAMERA_STREAM`` or ``SCREEN_STREAM`` from Janus."""

    def video_frame(self, participant_id: int, stream_id: str, frame: Any) -> None: ...

    def audio_frame(self, participant_id: int, stream_id: str, frame: Any) -> None: ...

    def track_ended(self, participant_id: int, stream_id: str, kind: str) -> None: ...


def ice_servers_for_aiortc(servers: list[dict]) -> list[RTCIceServer]:
    """``meetings.ice.ice_servers()`` entries as aiortc wants them."""
    return [RTCIceServer(urls=server["urls"], username=server.get("username"), credential=server.get("credential")) for server in servers]


def _has_media(sdp: object) -> bool:
    try:
        return isinstance(sdp, str) and any(media.kind in ("audio", "video") for media in SessionDescription.parse(sdp).media)
    except Exception:  # aiortc's parser asserts and raises on what it cannot read
        return False


def _ice_ufrag(sdp: str) -> str | None:
    description = SessionDescription.parse(sdp)
    for media in description.media:
        if media.ice and media.ice.usernameFragment:
            return media.ice.usernameFragment
    return None


def _stream_ids(sdp: str) -> dict[str, str]:
    """mid → the sender's stream id of that m-line (its ``a=msid``): how a shared
    screen is told apart from a camera (share.started carries the stream id)."""
    return {media.rtp.muxId: media.msid.split()[0] for media in SessionDescription.parse(sdp).media if media.rtp.muxId and media.msid}


class Peer:
    """The connection with one participant."""

    def __init__(self, participant_id: int, ice_servers: list[RTCIceServer], sink: MediaSink):
        self.participant_id = participant_id
        self.sink = sink
        # Browsers bundle everything; so do we from the start (aiortc's default, balanced,
        # answers a second video on a transport that bundling then stops).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.remote_ufrag: str | None = None
        self.candidates_refused = False  # then its end of candidates is not passed on either
        self.stream_ids: dict[str, str] = {}
        self.readers: set[asyncio.Task] = set()
        self.lock = asyncio.Lock()  # one signal of this participant at a time, in order
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        stream_id = self.stream_ids.get(mid or "", "")
        logger.info("track %s from participant %s (stream %s)", track.kind, self.participant_id, stream_id)
        task = asyncio.create_task(self._read(track, mid or ""), name=f"{track.kind} of {self.participant_id}")
        self.readers.add(task)
        task.add_done_callback(self.readers.discard)

    async def _on_state(self) -> None:
        logger.info("participant %s: connection %s", self.participant_id, self.pc.connectionState)

    async def _read(self, track: MediaStreamTrack, mid: str) -> None:
        deliver = self.sink.video_frame if track.kind == "video" else self.sink.audio_frame
        first = True
        try:
            while True:
                frame = await track.recv()
                if first:
                    logger.info("receiving %s from participant %s", track.kind, self.participant_id)
                    first = False
                # Looked up each time: a renegotiation may give the m-line another stream.
                deliver(self.participant_id, self.stream_ids.get(mid, ""), frame)
        except MediaStreamError:
            pass
        finally:
            self.sink.track_ended(self.participant_id, self.stream_ids.get(mid, ""), track.kind)

    async def answer(self, offer: dict) -> dict:
        self.stream_ids = _stream_ids(offer["sdp"])  # read when the tracks arrive
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        self.remote_ufrag = _ice_ufrag(offer["sdp"])
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"  # the recorder sends nothing
        await self.pc.setLocalDescription(await self.pc.createAnswer())  # gathers: candidates inside
        return {"type": self.pc.localDescription.type, "sdp": self.pc.localDescription.sdp}

    async def add_candidate(self, candidate: dict | None) -> None:
        if candidate is None or not candidate.get("candidate"):
            await self.pc.addIceCandidate(None)
            return
        ice = candidate_from_sdp(candidate["candidate"].removeprefix("candidate:"))
        ice.sdpMid = candidate.get("sdpMid")
        ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(ice)

    async def close(self) -> None:
        await self.pc.close()  # ends the tracks: the readers finish by themselves
        for task in list(self.readers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class RecorderPeers:
    """All the participants' connections of one recording."""

    def __init__(
        self, send_signal: SendSignal, sink: MediaSink, ice_servers: list[RTCIceServer] | None = None, networks: Networks | None = None
    ):
        self.send_signal = send_signal
        self.sink = sink
        self.ice_servers = ice_servers or []
        self.networks = networks if networks is not None else configured_networks()
        self.peers: dict[int, Peer] = {}
        self.refusals_logged: set[int] = set()  # participants whose refused candidates were logged
        allow_loopback_candidates()

    async def on_signal(self, body: dict) -> None:
        """A ``signal`` event from a participant: an offer or a trickled candidate."""
        sender = body.get("from")
        if not isinstance(sender, int):
            return
        description = body.get("description")
        if description is not None:
            if description.get("type") != "offer":
                logger.warning("participant %s sent an %s; the recorder only answers", sender, description.get("type"))
                return
            await self._on_offer(sender, description)
        elif "candidate" in body and sender in self.peers:
            peer = self.peers[sender]
            if not self._candidate_allowed(peer, body["candidate"]):
                return
            async with peer.lock:
                try:
                    await peer.add_candidate(body["candidate"])
                except Exception:
                    logger.warning("participant %s: unusable candidate %r", sender, body["candidate"], exc_info=True)

    def _candidate_allowed(self, peer: Peer, candidate: object) -> bool:
        """Whether a trickled candidate goes to aiortc. Once one of the peer's candidates
        was refused, its end of candidates does not either: aioice would then give up
        as soon as the allowed ones fail, while the browser's own checks may still come
        from a refused address (a peer-reflexive candidate, learned only while more
        candidates are expected)."""
        text = candidate.get("candidate") if isinstance(candidate, dict) else None
        if not text or not isinstance(text, str):
            return not peer.candidates_refused
        reason = candidate_refusal(text, self.networks)
        if reason is not None:
            peer.candidates_refused = True
            self._log_refused(peer.participant_id, [Refusal(text, reason)])
        return reason is None

    def _log_refused(self, sender: int, refused: list[Refusal]) -> None:
        """Once per participant and recording: a browser may trickle many."""
        if not refused:
            return
        if sender in self.refusals_logged:
            logger.debug("participant %s: ICE candidates refused: %s", sender, refused)
            return
        self.refusals_logged.add(sender)
        first = refused[0]
        logger.warning(
            "participant %s: ICE candidate %r refused (%s); the recorder connects only to PARLEY_MEDIA_PEER_NETWORKS "
            "(further refusals of this participant are logged at DEBUG)",
            sender,
            first.candidate,
            first.reason,
        )

    async def _on_offer(self, sender: int, offer: dict) -> None:
        if not _has_media(offer.get("sdp")):
            logger.warning("participant %s sent an offer without audio or video; ignored", sender)
            return
        # aiortc adds the offer's candidates itself: only the allowed ones stay in it.
        sdp, refused = filter_sdp(offer["sdp"], self.networks)
        self._log_refused(sender, refused)
        offer = {**offer, "sdp": sdp}
        peer = self.peers.get(sender)
        if peer is not None and (peer.remote_ufrag != _ice_ufrag(offer["sdp"]) or peer.pc.connectionState in ("failed", "closed")):
            # An ICE restart (aiortc cannot restart ICE): start over with a new connection.
            await self.drop(sender)
            peer = None
        if peer is None:
            peer = self.peers[sender] = Peer(sender, self.ice_servers, self.sink)
        peer.candidates_refused = peer.candidates_refused or bool(refused)
        async with peer.lock:
            try:
                answer = await peer.answer(offer)
            except Exception:
                logger.warning("participant %s: offer refused", sender, exc_info=True)
                await self.drop(sender)
                return
        await self.send_signal({"to": sender, "description": answer})

    async def drop(self, participant_id: int) -> None:
        """The participant left: close its connection (its tiles go with its tracks)."""
        peer = self.peers.pop(participant_id, None)
        if peer is not None:
            await peer.close()

    async def close(self) -> None:
        for participant_id in list(self.peers):
            await self.drop(participant_id)
