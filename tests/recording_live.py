"""Live pieces of the recording tests (a pytest plugin): Python aiortc participants
that join like browsers (``participants``), the media worker as a process of its own
(``start_media_worker``), and what the tests wait for.

The participants send a moving test pattern of their colour and a tone of their own
(``TONES`` by name). A worker runs on the live database and Redis against a web
server (``asgi_server`` unless told another), with its spool in the test's directory
(the same spool for the same id, as on one machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core import processes
from media_server.models import Recording
from meetings.models import Participant, RoomType
from tests.aiortc_participants import AiortcParticipant, ParticipantsLoop
from tests.factories import make_extension, make_meeting
from tests.fixtures_live import LiveProcess, LiveServer, session_cookie_for
from tests.media_server.recorded import media_end_or_zero

TONES = {"Olivia Owner": 440.0, "Bob Guest": 1000.0, "Cleo Late": 1750.0}
STATE_TIMEOUT = 30.0
MEDIA_TIMEOUT = 30.0


@pytest.fixture
def participants():
    """``participants.join(server, meeting, name, color, user=None)`` → a joined
    participant on a loop of its own thread; all are closed at the end."""
    loop = ParticipantsLoop()
    joined: list[AiortcParticipant] = []

    class Participants:
        def join(self, server, meeting, name: str, color, *, user=None) -> AiortcParticipant:
            cookie = session_cookie_for(user) if user is not None else None
            person = AiortcParticipant(server.url, meeting.public_id, name, color=color, frequency=TONES[name], session_cookie=cookie)
            joined.append(person)
            loop.run(person.join())
            return person

        def run(self, coroutine, timeout: float = 60.0):
            return loop.run(coroutine, timeout)

    yield Participants()
    loop.close(joined)
    for person in joined:
        if person.errors:
            print(f"--- {person.name}'s media errors ---", *person.errors, sep="\n")
    # The server is done with their sockets before the tables are emptied (its writes
    # racing the TRUNCATE could deadlock it).
    ids = [person.id for person in joined if person.id]
    processes.wait_until(
        lambda: not Participant.objects.filter(pk__in=ids, connected=True).exists(), timeout=STATE_TIMEOUT, what="the sockets to close"
    )


@pytest.fixture
def start_media_worker(request, live_env, tmp_path):
    """``start_media_worker(worker_id, server=None, **settings)``: a worker process
    against ``server`` (default ``asgi_server``) with these settings in its environment."""
    workers: list[LiveProcess] = []

    def start(worker_id: str = "worker-a", *, server: LiveServer | None = None, **settings: str) -> LiveProcess:
        server = server or request.getfixturevalue("asgi_server")
        spool = tmp_path / "spool" / worker_id
        command = [sys.executable, "manage.py", "media_worker", "--id", worker_id, "--spool", str(spool)]
        env = live_env.with_(PARLEY_BASE_URL=server.url, ALLOWED_HOSTS="127.0.0.1,localhost", **settings)
        worker = LiveProcess(f"media worker {worker_id}", command, env)
        workers.append(worker)
        worker.wait_for_line(f"media worker {worker_id} ready")
        return worker

    yield start
    for worker in workers:
        if worker.alive():
            worker.stop()
        print(f"--- {worker.name} {worker.pid} output ---\n{worker.output(150)}")
    # As above: the server notes the recorder sockets' end before the tables are emptied
    # (in an ended meeting it closed them itself, long before).
    recorders = Participant.objects.filter(is_recorder=True, connected=True, meeting__ended_at__isnull=True)
    processes.wait_until(lambda: not recorders.exists(), timeout=STATE_TIMEOUT, what="the recorder to leave")


def spool_file(tmp_path: Path, worker_id: str = "worker-a") -> Path | None:
    """The file a worker started by ``start_media_worker`` is recording, if any."""
    return next((tmp_path / "spool" / worker_id).glob("recording-*"), None)


def stored_path(live_env, recording: Recording) -> Path:
    """Where the worker stored a recording's file (local storage in its data directory)."""
    path = Path(live_env.variables["PARLEY_DATA_DIR"]) / "media" / str(recording.file.name)
    assert path.is_file(), path
    return path


def shared_meeting():
    owner = make_extension(display_name="Olivia Owner", room_type=RoomType.SHARED)
    return owner, make_meeting(owner, title="Recorded sync", room_type=RoomType.SHARED)


def wait_for(condition, what: str, timeout: float = STATE_TIMEOUT, worker: LiveProcess | None = None):
    try:
        return processes.wait_until(condition, timeout=timeout, what=what, interval=0.1)
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n--- worker output ---\n{worker.output() if worker else ''}")


def recording_in(meeting, segment: int, states: tuple[str, ...]) -> Recording | None:
    return Recording.objects.filter(meeting=meeting, segment=segment, state__in=states).first()


def wait_media_from(worker: LiveProcess, *people: AiortcParticipant) -> None:
    """Until the worker receives video and audio from each of them."""
    for person in people:
        for kind in ("video", "audio"):
            worker.wait_for_line(f"receiving {kind} from participant {person.id}", timeout=MEDIA_TIMEOUT)


def wait_janus_media_from(worker: LiveProcess, *people, generation: int = 1) -> None:
    """Until the worker receives each one's camera and voice through Janus."""
    for person in people:
        for kind in ("video", "audio"):
            line = f"receiving {kind} from participant {person.id} through Janus (camera, generation {generation})"
            worker.wait_for_line(line, timeout=MEDIA_TIMEOUT)


def recording_started(meeting, worker: LiveProcess) -> float:
    """Once the worker took the job: when its media clock started (about; the file's
    times are counted from there)."""
    recording = wait_for(lambda: recording_in(meeting, 1, ("recording",)), "the worker to take the job", worker=worker)
    return recording.started_at.timestamp()


def recorded_past(worker: LiveProcess, tmp_path, seconds: float) -> None:
    """Until the file being recorded holds ``seconds`` of media."""

    def there() -> bool:
        spool = spool_file(tmp_path)
        return spool is not None and media_end_or_zero(spool) >= seconds

    wait_for(there, f"{seconds:.1f} s recorded", worker=worker)
