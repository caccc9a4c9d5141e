"""The media worker: takes recording jobs, joins the meeting as the hidden recorder
peer, records, stores the file and finalizes (docs/recording.md).

One asyncio loop per process. For each job:

- the file is opened in the spool directory first, so that whatever happens next
  leaves a playable file there (``Recorder`` writes cluster by cluster);
- the recorder socket (``/ws/recorder/<id>/?token=…``) brings the roster, the room's
  events and the participants' offers; ``media_server.peer`` answers them and feeds
  every received frame to the compositor and the mixer at once;
- in a meeting on the SFU (the roster's ``media``, then ``media.topology``), nobody
  offers: ``media_server.sfu.subscriber`` subscribes to the meeting's Janus room and
  feeds the same mix; a meeting that moves from the mesh to the SFU while recorded is
  handed over person by person (each one's mesh connection closes once their media
  come through Janus), and a new Janus room (generation) is followed;
- a thread of its own ticks the media clock, asks the compositor and the mixer what is
  due and writes it (the encoders must not hold up the event loop, which receives
  the media);
- the lease is renewed every ``HEARTBEAT_SECONDS``; when the recording is stopped, the
  meeting ends or the lease is lost, the file is closed and stored (``finalize``, or
  ``store_orphan`` when the recording is no longer ours).

Every ``PARLEY_MEDIA_CHECKPOINT_SECONDS`` what the file gained is stored as a part
(``services.store_part``): when a worker dies, the sweep interrupts its recording and
a Celery task rebuilds the file from the parts, on any machine. A worker that starts
again with the same id and spool stores the partial files its previous run left there
(a SIGKILL leaves no chance to do it before); that file, longer than the parts, then
replaces the rebuilt one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from websockets.asyncio.client import ClientConnection

from media_server import services
from media_server.encoding import Recorder, media_duration
from media_server.mixing import AudioMixer, AudioOut, MediaClock, Mixdown, VideoCompositor
from media_server.peer import RecorderPeers, ice_servers_for_aiortc
from media_server.presets import Preset, get_preset
from media_server.sfu.subscriber import CAMERA_STREAM, SCREEN_STREAM, JanusRecording
from meetings.ice import ice_servers

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # between two looks for a job when there is none
SWEEP_SECONDS = 5.0  # between two sweeps of expired leases (beat does it too)
DEFAULT_JOBS = 2  # recordings at a time: each takes about half a core at 720p
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 4.0)
CLOSE_ENDED = 4410  # the meeting has ended (docs/protocol.md)
CLOSE_REFUSED = (4401, 4403, 4404)
SPOOL_NAME = re.compile(r"^recording-(?P<id>\d+)-(?P<segment>\d+)\.\w+$")
JANUS_STREAMS = (CAMERA_STREAM, SCREEN_STREAM)


def spool_path(spool: Path, job: services.ClaimedJob, preset: Preset) -> Path:
    return spool / f"recording-{job.recording_id}-{job.segment}.{preset.extension}"


def default_worker_id() -> str:
    """Stable across restarts on one machine: what finds the previous run's files."""
    return socket.gethostname() or "media-worker"


def default_spool(worker_id: str) -> Path:
    base = getattr(settings, "PARLEY_MEDIA_SPOOL", "") or Path(settings.DATA_DIR) / "media-spool"
    return Path(base) / re.sub(r"[^A-Za-z0-9_.-]", "_", worker_id)


def web_url() -> str:
    """Where this worker reaches the web tier: PARLEY_MEDIA_WEB_URL, default PARLEY_BASE_URL."""
    configured = settings.PARLEY_MEDIA_WEB_URL
    return (configured or settings.PARLEY_BASE_URL).rstrip("/")


def recorder_socket_url(recording_id: int, token: str) -> str:
    """The web tier's recorder socket, ws:// for http:// and wss:// for https://."""
    parts = urlsplit(web_url())
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path}/ws/recorder/{recording_id}/"
    return urlunsplit((scheme, parts.netloc, path, f"token={quote(token, safe='')}", ""))


def web_origin() -> str:
    parts = urlsplit(web_url())
    return f"{parts.scheme}://{parts.netloc}"


# --- Received media → compositor and mixer ----------------------------------------------


class MeetingMix:
    """What the recorder knows of the room (names, cameras, the share) and where
    received frames go. Lives on the event loop; the compositor and the mixer are
    thread-safe, so the recording thread composes meanwhile.

    Frames come from the mesh peers (stream ids are the browsers' ``msid`` streams)
    or from Janus (``CAMERA_STREAM``, ``SCREEN_STREAM``). From someone's first frame
    through Janus on, their mesh frames are dropped: while the room moves to the SFU,
    each person's picture and voice come from one path only."""

    def __init__(self, compositor: VideoCompositor | None, mixer: AudioMixer):
        self.compositor = compositor
        self.mixer = mixer
        self.names: dict[int, str] = {}
        self.camera: dict[int, bool] = {}
        self.share: tuple[int, str] | None = None  # (participant id, stream id)
        self.audio_sources: set[str] = set()
        self.frames_received: dict[int, int] = {}
        self.through_janus: set[int] = set()  # participants whose media come from Janus now
        self.last_mesh_frame: dict[int, float] = {}  # participant → when their last mesh frame came

    # Room events.

    def roster(self, body: dict) -> None:
        """The room as it is (on each connection: after a reconnect, who left meanwhile goes)."""
        people = body.get("participants") or []
        present = {person["id"] for person in people}
        for participant_id in [p for p in self.names if p not in present]:
            self.left(participant_id)
        for person in people:
            self.joined(person)
        if body.get("share"):
            self.share_started(body["share"])

    def joined(self, person: dict) -> None:
        participant_id = person["id"]
        self.names[participant_id] = person.get("name") or ""
        self.camera[participant_id] = bool(person.get("camera", True))
        if self.compositor is not None:
            self.compositor.add_source(str(participant_id), self.names[participant_id])
            if not self.camera[participant_id]:
                self.compositor.camera_stopped(str(participant_id))

    def updated(self, person: dict) -> None:
        participant_id = person.get("id")
        if participant_id not in self.names:
            self.joined(person)
            return
        camera = bool(person.get("camera", True))
        if self.compositor is not None:
            if person.get("name") and person["name"] != self.names[participant_id]:
                self.compositor.add_source(str(participant_id), person["name"])  # renames
            if self.camera[participant_id] and not camera:
                self.compositor.camera_stopped(str(participant_id))
        self.names[participant_id] = person.get("name") or self.names[participant_id]
        self.camera[participant_id] = camera

    def left(self, participant_id: int) -> None:
        self.names.pop(participant_id, None)
        self.camera.pop(participant_id, None)
        self.through_janus.discard(participant_id)
        if self.compositor is not None:
            self.compositor.remove_source(str(participant_id))
        for source in [s for s in self.audio_sources if s.startswith(f"{participant_id}/")]:
            self.mixer.remove_source(source)
            self.audio_sources.discard(source)
        if self.share and self.share[0] == participant_id:
            self.share = None

    def share_started(self, share: dict) -> None:
        self.share = (share["participant_id"], share.get("stream_id") or "")

    def share_stopped(self, participant_id: int) -> None:
        if self.share and self.share[0] == participant_id:
            self.share = None
        if self.compositor is not None:
            self.compositor.screen_stopped(str(participant_id))

    def janus_stopped(self) -> None:
        """No Janus subscription any more (the room is a mesh again): mesh frames count."""
        self.through_janus.clear()

    # MediaSink (media_server.peer): called for every received frame, never blocks.

    def _is_screen(self, participant_id: int, stream_id: str) -> bool:
        if stream_id == SCREEN_STREAM:  # Janus's screen feed: shown while their share lasts
            return self.share is not None and self.share[0] == participant_id
        return self.share is not None and self.share == (participant_id, stream_id) and bool(stream_id)

    def _takes(self, participant_id: int, stream_id: str) -> bool:
        """Whether a frame of this participant and stream goes into the mix."""
        if participant_id not in self.names:
            return False
        if stream_id in JANUS_STREAMS:
            if participant_id not in self.through_janus:
                self.through_janus.add(participant_id)
                self._log_handover(participant_id)
            return True
        if participant_id in self.through_janus:
            return False  # their mesh connection is on its way out
        self.last_mesh_frame[participant_id] = time.monotonic()
        return True

    def _log_handover(self, participant_id: int) -> None:
        last = self.last_mesh_frame.pop(participant_id, None)
        if last is not None:
            gap = time.monotonic() - last
            logger.info("participant %s: media through Janus now, %.2f s after their last mesh frame", participant_id, gap)

    def video_frame(self, participant_id: int, stream_id: str, frame: Any) -> None:
        self.frames_received[participant_id] = self.frames_received.get(participant_id, 0) + 1
        if self.compositor is None or not self._takes(participant_id, stream_id):
            return
        if self._is_screen(participant_id, stream_id):
            self.compositor.push_screen(str(participant_id), frame)
        elif stream_id == SCREEN_STREAM:
            return  # a screen feed before its share.started or after its share.stopped
        elif self.camera.get(participant_id, True):
            self.compositor.push_camera(str(participant_id), frame)

    def audio_frame(self, participant_id: int, stream_id: str, frame: Any) -> None:
        if not self._takes(participant_id, stream_id):
            return
        source = f"{participant_id}/{stream_id}"
        if source not in self.audio_sources:
            self.audio_sources.add(source)
            self.mixer.add_source(source)
        self.mixer.push(source, frame)

    def track_ended(self, participant_id: int, stream_id: str, kind: str) -> None:
        if kind == "audio":
            source = f"{participant_id}/{stream_id}"
            self.audio_sources.discard(source)
            self.mixer.remove_source(source)
        elif self.compositor is None or (participant_id in self.through_janus and stream_id not in JANUS_STREAMS):
            return  # a mesh track closed after Janus took over: the picture goes on
        elif self._is_screen(participant_id, stream_id) or stream_id == SCREEN_STREAM:
            self.compositor.screen_stopped(str(participant_id))
        else:
            self.compositor.camera_stopped(str(participant_id))


# --- The recording thread -------------------------------------------------------------


class RecordingThread(threading.Thread):
    """Ticks the media clock and writes what is due, until told to stop."""

    def __init__(self, recorder: Recorder, mixdown: Mixdown):
        super().__init__(name="recording", daemon=True)
        self.recorder = recorder
        self.mixdown = mixdown
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        clock = self.mixdown.clock
        clock.start()
        try:
            while not self.stopping.is_set():
                self._write_due()
                self.stopping.wait(max(0.0, self.mixdown.next_deadline() - clock.now()))
            self._write_due()  # up to the moment of the stop
        except BaseException as error:  # the session reports it and stores what is there
            self.error = error
            logger.exception("recording thread failed")

    def _write_due(self) -> None:
        for out in self.mixdown.due():
            if isinstance(out, AudioOut):
                self.recorder.write_audio(out.samples, out.pts)
            else:
                self.recorder.write_video(out.frame, out.pts)


# --- One job --------------------------------------------------------------------------


class RecordingSession:
    """Records one claimed job from start to finalize."""

    def __init__(self, worker_id: str, spool: Path, job: services.ClaimedJob):
        self.worker_id = worker_id
        self.job = job
        self.preset = get_preset(job.preset)
        self.path = spool_path(spool, job, self.preset)
        self.done = asyncio.Event()  # stop recording (stopped, meeting ended, lease lost, shutdown)
        self.outcome = services.FINISH
        compositor = VideoCompositor(self.preset.width, self.preset.height) if self.preset.has_video else None
        self.mix = MeetingMix(compositor, AudioMixer(channels=self.preset.audio_channels))
        self.mixdown = Mixdown(MediaClock(self.preset.fps or 50), compositor, self.mix.mixer)
        self.peers: RecorderPeers | None = None
        self.socket: ClientConnection | None = None
        self.signal_queues: dict[int, asyncio.Queue] = {}
        self.tasks: list[asyncio.Task] = []
        # An SFU meeting: the subscription to its Janus room, and the room's generation.
        self.janus: JanusRecording | None = None
        self.janus_task: asyncio.Task | None = None
        self.janus_generation: int | None = None
        self.handovers: set[asyncio.Task] = set()

    def _finish(self, outcome: str, why: str) -> None:
        if not self.done.is_set():
            logger.info("recording %s: %s", self.job.recording_id, why)
            self.outcome = outcome
            self.done.set()

    async def run(self) -> None:
        job = self.job
        logger.info(
            "recording %s (meeting %s, segment %s, %s) → %s", job.recording_id, job.meeting_public_id, job.segment, job.preset, self.path
        )
        recorder = await asyncio.to_thread(Recorder, self.path, self.preset)
        thread = RecordingThread(recorder, self.mixdown)
        thread.start()
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        room = asyncio.create_task(self._room(), name="recorder socket")
        watch = asyncio.create_task(self._watch(thread), name="watch")
        checkpoints = asyncio.create_task(self._checkpoints(recorder), name="checkpoints")
        try:
            await self.done.wait()
        finally:
            # The file ends now; then we leave the room.
            checkpoints.cancel()
            thread.stopping.set()
            await asyncio.to_thread(thread.join)
            await asyncio.to_thread(recorder.close)
            for task in (room, watch):
                task.cancel()
            await asyncio.gather(room, watch, checkpoints, return_exceptions=True)
            await self._leave_room()
            await self._stop_janus("the recording ends")
            logger.info(
                "recording %s: %.1f s written (%d video frames, %d skipped)",
                job.recording_id,
                recorder.duration,
                self.mixdown.video_frames,
                self.mixdown.dropped_frames,
            )
            try:
                await self._store(recorder.duration)
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)

    async def _watch(self, thread: RecordingThread) -> None:
        while thread.is_alive():
            await asyncio.sleep(0.5)
        if thread.error is not None:
            self._finish(services.LOST, f"the recording thread failed: {thread.error!r}")
        else:
            self._finish(services.FINISH, "the recording thread stopped")

    async def _store(self, duration: float) -> None:
        size = self.path.stat().st_size
        job = self.job
        if self.outcome == services.FINISH:
            try:
                await database_sync_to_async(services.finalize)(job.recording_id, self.worker_id, str(self.path), duration, size)
            except services.RecordingLost:
                self.outcome = services.LOST
            else:
                logger.info("recording %s stored (%.1f s, %d bytes)", job.recording_id, duration, size)
                self.path.unlink(missing_ok=True)
                return
        # No longer ours (the lease ran out, or we stop before the meeting does): kept
        # as an interrupted segment, as after a crash.
        stored = await database_sync_to_async(services.store_orphan)(job.recording_id, str(self.path), duration, size)
        logger.info("recording %s kept as interrupted (%s)", job.recording_id, "stored" if stored else "nothing to store it in")
        self.path.unlink(missing_ok=True)

    # --- Checkpoints -------------------------------------------------------------------

    async def _checkpoints(self, recorder: Recorder) -> None:
        """Every PARLEY_MEDIA_CHECKPOINT_SECONDS, store what the file gained as a part:
        if this process dies, any machine rebuilds the recording from the parts."""
        every = settings.PARLEY_MEDIA_CHECKPOINT_SECONDS
        if not every:
            return
        store_part = database_sync_to_async(services.store_part, thread_sensitive=False)  # an upload: off the DB thread
        while True:
            await asyncio.sleep(every)
            # Read before the size: what is on disk lags it by at most the cluster or
            # fragment being built (a second at most).
            duration = recorder.duration
            size = await asyncio.to_thread(lambda: self.path.stat().st_size)
            try:
                await store_part(self.job.recording_id, self.worker_id, str(self.path), size, duration)
            except services.RecordingLost:
                return  # the heartbeat tells the session
            except Exception:
                # The next checkpoint carries on where the stored parts end.
                logger.exception("recording %s: checkpoint failed; trying again", self.job.recording_id)

    # --- Heartbeat ---------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Renew the lease until the file is stored; say when to stop."""
        while True:
            await asyncio.sleep(services.HEARTBEAT_SECONDS)
            try:
                state = await database_sync_to_async(services.heartbeat)(self.job.recording_id, self.worker_id)
            except Exception:
                logger.exception("heartbeat failed; trying again")
                continue
            if state == services.LOST:
                self._finish(services.LOST, "the lease was lost")
            elif state == services.FINISH:
                self._finish(services.FINISH, "stopped")

    # --- The recorder socket --------------------------------------------------------

    async def _room(self) -> None:
        """Stay connected to the recorder socket until the recording stops."""
        token = self.job.token
        attempt = 0
        while not self.done.is_set():
            url = recorder_socket_url(self.job.recording_id, token)
            code: int | None = None
            try:
                async with websockets.connect(url, origin=web_origin(), max_size=2**20, ping_interval=20) as connection:  # type: ignore[arg-type]
                    attempt = 0
                    self.socket = connection
                    servers = ice_servers_for_aiortc(ice_servers(f"recorder-{self.worker_id}"))
                    self.peers = RecorderPeers(self._send_signal, self.mix, servers)
                    logger.info("recording %s: joined the meeting", self.job.recording_id)
                    try:
                        async for frame in connection:
                            await self._on_frame(frame)
                    finally:
                        code = connection.close_code
            except (OSError, websockets.WebSocketException) as error:
                logger.warning("recording %s: recorder socket: %s", self.job.recording_id, error)
            finally:
                await self._leave_room()
            if code == CLOSE_ENDED:
                self._finish(services.FINISH, "the meeting ended")
                return
            if code in CLOSE_REFUSED:
                self._finish(services.LOST, f"the recorder socket was refused ({code})")
                return
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1
            try:
                token = await database_sync_to_async(services.recorder_token)(self.job.recording_id, self.worker_id)
            except services.RecordingLost:
                self._finish(services.LOST, "the recording is no longer ours")
                return
            except Exception:
                logger.exception("recording %s: no fresh token; trying with the last one", self.job.recording_id)

    async def _leave_room(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        self.signal_queues.clear()
        peers, self.peers = self.peers, None
        if peers is not None:
            await peers.close()
        socket, self.socket = self.socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()

    async def _send_signal(self, body: dict) -> None:
        if self.socket is not None:
            what = body["description"]["type"] if body.get("description") else "candidate"
            logger.info("recording %s: signal to participant %s (%s)", self.job.recording_id, body.get("to"), what)
            await self.socket.send(json.dumps({"type": "signal", "id": None, "body": body}))

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
            kind, body = message["type"], message.get("body") or {}
        except (ValueError, KeyError, TypeError):
            logger.warning("recording %s: unreadable frame %r", self.job.recording_id, frame[:200])
            return
        mix = self.mix
        if kind == "room.roster":
            mix.roster(body)
            await self._follow_topology(body.get("media"))
        elif kind == "media.topology":
            await self._follow_topology(body)
        elif kind == "participant.joined":
            mix.joined(body)
        elif kind == "participant.updated":
            mix.updated(body)
        elif kind == "participant.left":
            await self._participant_left(body["participant_id"])
        elif kind == "share.started":
            mix.share_started(body)
        elif kind == "share.stopped":
            mix.share_stopped(body["participant_id"])
        elif kind == "signal":
            self._queue_signal(body)
        elif kind == "recording.state":
            self._recording_state(body)
        elif kind == "meeting.ended":
            self._finish(services.FINISH, "the meeting ended")
        elif kind == "error":
            logger.warning("recording %s: refused: %s", self.job.recording_id, body)

    def _recording_state(self, body: dict) -> None:
        recording = body.get("recording") or {}
        ours = recording.get("id") == self.job.recording_id
        if ours and recording.get("state") not in ("pending", "recording"):
            self._finish(services.FINISH, f"the recording is {recording.get('state')}")

    async def _participant_left(self, participant_id: int) -> None:
        self.mix.left(participant_id)
        self.signal_queues.pop(participant_id, None)
        if self.peers is not None:
            await self.peers.drop(participant_id)

    def _queue_signal(self, body: dict) -> None:
        """Each participant's signals in order, participants side by side (one slow
        negotiation does not delay the others). In an SFU meeting nobody uploads to the
        recorder: only the connections from before the move to Janus go on."""
        sender = body.get("from")
        if not isinstance(sender, int):
            return
        if self.janus is not None and (self.peers is None or sender not in self.peers.peers):
            if body.get("description"):
                logger.info("recording %s: offer of participant %s ignored: the meeting is on Janus", self.job.recording_id, sender)
            return
        queue = self.signal_queues.get(sender)
        if queue is None:
            queue = self.signal_queues[sender] = asyncio.Queue()
            self.tasks.append(asyncio.create_task(self._signals_of(queue), name=f"signals of {sender}"))
        queue.put_nowait(body)

    # --- An SFU meeting: Janus instead of the mesh -------------------------------------

    async def _follow_topology(self, topology: dict | None) -> None:
        """Mesh: browsers offer to the recorder. SFU and ready: subscribe in Janus (the
        mesh connections go on until each person's media comes through Janus). A new
        generation (Janus restarted, the room moved): leave the old room; subscribe to
        the new one once it is ready."""
        topology = topology or {"mode": "mesh"}
        if topology.get("mode") != "sfu":
            await self._stop_janus("the meeting is a mesh")
            return
        generation = topology.get("generation")
        if self.janus is not None and generation == self.janus_generation:
            return
        await self._stop_janus(f"the Janus room is made again (generation {generation})")
        if topology.get("state") == "ready":
            self._start_janus(generation)

    def _start_janus(self, generation: int | None) -> None:
        recording_id = self.job.recording_id
        logger.info("recording %s: the meeting is on Janus (generation %s): subscribing", recording_id, generation)
        servers = ice_servers_for_aiortc(ice_servers(f"recorder-{self.worker_id}"))
        self.janus = JanusRecording(
            self._janus_credentials,
            self.mix,
            ice_servers=servers,
            on_media=self._through_janus,
            canvas=self.preset.size if self.preset.has_video else None,
            label=f"recording {recording_id}: ",
        )
        self.janus_generation = generation
        self.janus_task = asyncio.create_task(self.janus.run(), name="janus")

    async def _stop_janus(self, why: str) -> None:
        task, self.janus_task, self.janus, self.janus_generation = self.janus_task, None, None, None
        if task is None:
            return
        logger.info("recording %s: leaving the Janus room: %s", self.job.recording_id, why)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.mix.janus_stopped()

    async def _janus_credentials(self) -> dict:
        return await database_sync_to_async(services.recorder_sfu_credentials)(self.job.recording_id, self.worker_id)

    def _through_janus(self, participant_id: int) -> None:
        """Their media come through Janus now: close their mesh connection, if any (the
        mix already ignores it)."""
        if self.peers is None or participant_id not in self.peers.peers:
            return
        logger.info("recording %s: participant %s moved to Janus; mesh connection closed", self.job.recording_id, participant_id)
        task = asyncio.create_task(self.peers.drop(participant_id), name=f"hand over {participant_id}")
        self.handovers.add(task)
        task.add_done_callback(self.handovers.discard)

    async def _signals_of(self, queue: asyncio.Queue) -> None:
        while True:
            body = await queue.get()
            if self.peers is None:
                continue
            try:
                await self.peers.on_signal(body)
            except Exception:
                logger.exception("recording %s: signal from %s failed", self.job.recording_id, body.get("from"))


# --- The process ----------------------------------------------------------------------


class MediaWorker:
    """Takes up to ``jobs`` recordings at a time, each in a session of its own."""

    def __init__(self, worker_id: str, spool: Path, *, jobs: int = DEFAULT_JOBS):
        self.worker_id = worker_id
        self.spool = spool
        self.jobs = jobs
        self.shutdown = asyncio.Event()
        self.sessions: dict[asyncio.Task, RecordingSession] = {}

    def stop(self) -> None:
        """Stop taking jobs; the current recordings are stored as interrupted segments
        (another worker takes their meetings up again)."""
        self.shutdown.set()
        for session in self.sessions.values():
            session._finish(services.LOST, "the worker is stopping")

    async def run(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        await self.store_orphans()
        logger.info("media worker %s ready (spool %s, %d job(s) at a time)", self.worker_id, self.spool, self.jobs)
        last_sweep = 0.0
        while not self.shutdown.is_set():
            if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                last_sweep = time.monotonic()
                await self._sweep()
                await self.store_orphans()  # files whose storing failed earlier (database away)
            job = await self._claim() if len(self.sessions) < self.jobs else None
            if job is not None:
                self._start(job)
                continue  # perhaps another one waits
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.shutdown.wait(), POLL_SECONDS)
        if self.sessions:
            await asyncio.gather(*self.sessions, return_exceptions=True)
        logger.info("media worker %s stopped", self.worker_id)

    def _start(self, job: services.ClaimedJob) -> None:
        try:
            session = RecordingSession(self.worker_id, self.spool, job)
        except Exception:
            logger.exception("recording %s cannot be recorded", job.recording_id)
            return
        task = asyncio.create_task(self._record(session), name=f"recording {job.recording_id}")
        self.sessions[task] = session
        task.add_done_callback(self.sessions.pop)

    async def _record(self, session: RecordingSession) -> None:
        try:
            await session.run()
        except Exception:
            logger.exception("recording %s failed", session.job.recording_id)

    async def _claim(self) -> services.ClaimedJob | None:
        try:
            return await database_sync_to_async(services.claim_job)(self.worker_id)
        except Exception:
            logger.exception("could not look for a job")
            return None

    async def _sweep(self) -> None:
        try:
            count = await database_sync_to_async(services.sweep_expired_leases)()
        except Exception:
            logger.exception("sweep of expired leases failed")
            return
        if count:
            logger.info("interrupted %d recording(s) whose worker stopped responding", count)

    async def store_orphans(self) -> None:
        """Store the partial files a previous run of this worker left in the spool
        (and any file of this run that could not be stored when its recording ended)."""
        recording = {session.path for session in self.sessions.values()}
        for path in sorted(self.spool.iterdir()):
            match = SPOOL_NAME.match(path.name)
            if not match or path in recording:
                continue
            duration = await asyncio.to_thread(media_duration, path)
            size = path.stat().st_size
            try:
                stored = await database_sync_to_async(services.store_orphan)(int(match["id"]), str(path), duration, size)
            except Exception:
                logger.exception("could not store %s; kept for the next start", path)
                continue
            logger.info("stored the partial file %s (%.1f s): %s", path.name, duration, "kept" if stored else "nothing to store it in")
            path.unlink(missing_ok=True)


def configure_logging() -> None:
    # ICE checks and RTP details are logged at INFO by aioice/aiortc: far too chatty.
    for name in ("aioice", "aiortc", "websockets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("media_server").setLevel(logging.INFO)


def run_worker(worker_id: str, spool: Path, *, jobs: int = DEFAULT_JOBS) -> None:
    """Run until SIGTERM/SIGINT (the current recordings are stored first)."""
    configure_logging()

    async def main() -> None:
        worker = MediaWorker(worker_id, spool, jobs=jobs)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()

    asyncio.run(main())
