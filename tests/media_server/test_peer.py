"""media_server.peer: the remote candidates a participant names reach aiortc only when
``media_server.candidates`` allows them, in the offer and trickled alike.

The first test records what reaches aiortc's ``addRemoteCandidate`` instead of letting
aioice act on it, so that no packet goes anywhere whatever the code does. The second
connects for real (loopback and the test namespace's own veth addresses)."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import ip_network

import pytest
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import RTCIceTransport

from core.networks import Networks
from media_server.peer import RecorderPeers
from tests.aiortc_participants import SineTrack

REFUSED_ADDRESSES = ("169.254.169.254", "fe80::1", "6c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6.local", "metadata.internal")


class Sink:
    def __init__(self):
        self.audio_frames = 0

    def video_frame(self, participant_id, stream_id, frame):
        pass

    def audio_frame(self, participant_id, stream_id, frame):
        self.audio_frames += 1

    def track_ended(self, participant_id, stream_id, kind):
        pass


def candidate(address: str, foundation: int = 9) -> str:
    return f"candidate:{foundation} 1 udp 2122260223 {address} 50000 typ host generation 0"


async def browser_offer() -> tuple[RTCPeerConnection, str]:
    """An offer as a browser sends the recorder: its own candidates inside."""
    browser = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    browser.addTransceiver(SineTrack(440.0), direction="sendonly")
    await browser.setLocalDescription(await browser.createOffer())
    return browser, browser.localDescription.sdp


def with_candidates(sdp: str, *addresses: str) -> str:
    """``sdp`` with a host candidate line for each address after its first m-line's."""
    lines = "".join(f"a={candidate(address, 90 + n)}\r\n" for n, address in enumerate(addresses))
    head, separator, rest = sdp.partition("a=candidate:")
    return head + lines + separator + rest


@pytest.fixture
def reached(monkeypatch) -> list:
    """The candidates that reach aiortc's ICE transport (which then does nothing)."""
    seen: list = []

    async def add_remote_candidate(self, candidate) -> None:
        seen.append(candidate)

    monkeypatch.setattr(RTCIceTransport, "addRemoteCandidate", add_remote_candidate)
    return seen


async def test_it_never_hands_a_refused_candidate_to_aiortc(reached, caplog):
    caplog.set_level(logging.DEBUG, logger="media_server.peer")
    answers: list[dict] = []

    async def send(body: dict) -> None:
        answers.append(body)

    peers = RecorderPeers(send, Sink())  # PARLEY_MEDIA_PEER_NETWORKS: the default
    browser, sdp = await browser_offer()
    try:
        await peers.on_signal({"from": 3, "description": {"type": "offer", "sdp": with_candidates(sdp, *REFUSED_ADDRESSES)}})
        assert answers, "the recorder answered"
        remote_sdp = peers.peers[3].pc.remoteDescription.sdp
        for address in REFUSED_ADDRESSES:
            assert address not in remote_sdp
        assert "a=end-of-candidates" not in remote_sdp  # more may come: its checks (peer-reflexive)
        offered = {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}
        assert offered and {c.ip for c in reached if c is not None} == offered  # the browser's own ones went through
        reached.clear()
        for address in REFUSED_ADDRESSES:
            await peers.on_signal({"from": 3, "candidate": {"candidate": candidate(address), "sdpMid": "0", "sdpMLineIndex": 0}})
        assert reached == []
        await peers.on_signal({"from": 3, "candidate": {"candidate": candidate("127.0.0.1"), "sdpMid": "0", "sdpMLineIndex": 0}})
        await peers.on_signal({"from": 3, "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})
        assert [c.ip for c in reached] == ["127.0.0.1"]  # and not the end of candidates
        # Said once for the participant, not once per candidate.
        warnings = [r for r in caplog.records if r.name == "media_server.peer" and r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "169.254.169.254" in warnings[0].getMessage()
    finally:
        await browser.close()
        await peers.close()


async def test_it_is_reached_through_the_browsers_checks_when_every_candidate_it_names_is_refused():
    answers: list[dict] = []

    async def send(body: dict) -> None:
        answers.append(body)

    sink = Sink()
    nowhere = Networks((ip_network("192.0.2.0/24"),))  # documentation addresses: none of the browser's
    peers = RecorderPeers(send, sink, networks=nowhere)
    browser, sdp = await browser_offer()
    try:
        await peers.on_signal({"from": 3, "description": {"type": "offer", "sdp": sdp}})
        assert "a=candidate:" not in peers.peers[3].pc.remoteDescription.sdp
        await browser.setRemoteDescription(RTCSessionDescription(**answers[0]["description"]))
        async with asyncio.timeout(15):
            while sink.audio_frames == 0:
                await asyncio.sleep(0.05)
    finally:
        await browser.close()
        await peers.close()
