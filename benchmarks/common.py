"""Shared by the benchmarks: the loopback-only guard, server processes, meetings
with guest participants made through the services, percentiles and tables.

Run the benchmarks through ``benchmarks/run.sh``: it provides the loopback-only
network namespace, a private Redis and the database this module expects.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def require_loopback_only() -> None:
    """Every load goes to 127.0.0.1 only; refuse to run where other interfaces exist
    (Chromium's ICE and DNS would use them)."""
    others = [name for _index, name in socket.if_nameindex() if name != "lo"]
    if others:
        sys.exit(f"benchmarks run in a loopback-only network namespace; this process sees {', '.join(others)}. Use benchmarks/run.sh.")


TEST_NETWORK = ("parley-va", "parley-vb")


def require_test_network() -> None:
    """Loopback and the benchmark's own veth pair only (``add_test_network`` in
    run-inner.sh: both ends inside this namespace, 10.203.0.1 and .2), and no route
    that leaves it. Janus gathers no ICE candidate on loopback: it needs such an address."""
    names = {name for _index, name in socket.if_nameindex()}
    others = sorted(names - {"lo", *TEST_NETWORK})
    if others or not set(TEST_NETWORK) <= names:
        sys.exit(
            f"this benchmark runs in a namespace with loopback and the veth pair {'/'.join(TEST_NETWORK)} only; "
            f"this process sees {', '.join(sorted(names))}. Use benchmarks/run.sh."
        )
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                sys.exit(f"a default route exists (via {fields[0]}): traffic could leave the namespace. Use benchmarks/run.sh.")


def setup_django(*, janus: bool = False) -> None:
    """Django for the benchmark process. ``janus``: rooms of more than PARLEY_MESH_MAX
    people need a media server, as in production; a Janus is started on loopback (its
    APIs only: the benchmark's clients send no media) and its settings exported, for
    this process and the servers it starts."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))
    if janus:
        start_janus()
    import django

    django.setup()


def start_janus() -> None:
    """An embedded Janus for the run (stopped when the benchmark ends); its settings go
    into ``os.environ``."""
    import atexit

    from core import processes
    from media_server.sfu import embedded, janus

    if not embedded.installed():
        raise SystemExit("Janus is not installed: run through benchmarks/run.sh, which installs it.")
    ports = embedded.Ports(admin=processes.free_port(), websocket=processes.free_port())
    secret = embedded.Secrets.new()
    # Before anything reads Django's settings (the admin API client does).
    os.environ.update(embedded.environment(ports=ports, secret=secret))
    # No Parley events endpoint is needed: no browser opens a Janus session here.
    config = embedded.write_config(log_dir() / "janus", ports=ports, secret=secret, events_url="", name="bench-janus")
    log = (log_dir() / "janus.log").open("w")
    process = processes.spawn(embedded.command(config), env={"PATH": "/usr/bin:/bin"}, stdout=log, stderr=subprocess.STDOUT)
    atexit.register(process.terminate)
    admin_url = f"http://127.0.0.1:{ports.admin}/admin"

    def answers() -> bool:
        try:
            janus.AdminApi(admin_url, timeout=0.5).ping()
        except janus.JanusError:
            return False
        return True

    processes.wait_until(answers, timeout=30, what="Janus", alive=lambda: process.poll() is None)


@contextlib.contextmanager
def django_beside_playwright() -> Iterator[None]:
    """Playwright's sync API marks its event loop as running in this thread, which
    makes Django refuse ORM calls; the benchmark code around it is synchronous."""
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


def off_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` in a fresh thread and return its result. Playwright's sync API
    keeps an event loop running in the main thread, where the services' broadcasts
    (``async_to_sync``) would fail; in another thread they work as in a web request."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_closing_connections, function, *args, **kwargs).result()


def _closing_connections(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from django.db import connections

    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


# --- Server processes -------------------------------------------------------------------


class Server:
    """A child server on a loopback port, its output in a log file."""

    def __init__(self, name: str, command: list[str], port: int, env: dict[str, str], log_dir: Path):
        from core import processes

        self.name = name
        self.port = port
        self.log_path = log_dir / f"{name}-{port}.log"
        self._log = self.log_path.open("w")
        self.process = processes.spawn(command, env=env, cwd=REPO_DIR, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            processes.wait_until(
                lambda: processes.port_open("127.0.0.1", port),
                timeout=START_TIMEOUT,
                what=name,
                alive=lambda: self.process.poll() is None,
            )
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise SystemExit(f"{exc}\n{self.tail()}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        from core import processes

        processes.stop(self.process, timeout=15)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_dir() -> Path:
    path = Path(os.environ.get("PARLEY_BENCH_LOG_DIR") or os.environ.get("TMPDIR") or "/tmp")
    path.mkdir(parents=True, exist_ok=True)
    return path


def parley_env(port: int, channel_layer: str = "redis", extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a web process serving Parley on ``port``. ``channel_layer``
    "redis" keeps REDIS_URL (channels-redis), "memory" removes it (in-memory layer,
    this process only)."""
    env = dict(os.environ)
    env.pop(ASYNC_UNSAFE, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PARLEY_BASE_URL=f"http://127.0.0.1:{port}",
        LOG_LEVEL=os.environ.get("PARLEY_BENCH_SERVER_LOG_LEVEL", "WARNING"),
        PYTHONUNBUFFERED="1",
    )
    if channel_layer == "memory":
        env.pop("REDIS_URL", None)
    elif not env.get("REDIS_URL"):
        raise SystemExit("REDIS_URL is not set: run through benchmarks/run.sh, which starts a private Redis.")
    env.update(extra_env or {})
    return env


def start_web(*, channel_layer: str = "redis", extra_env: dict[str, str] | None = None) -> Server:
    """One web process serving Parley as deployed (``core.serve``; ``channel_layer``:
    see ``parley_env``)."""
    from core import processes

    port = processes.free_port()
    env = parley_env(port, channel_layer, extra_env)
    return Server(f"web-{channel_layer}", processes.web_command("127.0.0.1", port), port, env, log_dir())


def daphne_command(port: int) -> list[str]:
    """The same application under daphne on uvloop (the web server until uvicorn, kept
    for comparison): the message size limit ``core.serve`` sets, no access log."""
    from core import processes

    limit = str(processes.WEBSOCKET_MAX_MESSAGE_BYTES)
    on_uvloop = "import uvloop; uvloop.install(); from daphne.cli import CommandLineInterface; CommandLineInterface.entrypoint()"
    return [
        sys.executable,
        "-c",
        on_uvloop,
        "-v",
        "0",
        "--websocket-max-message-size",
        limit,
        "--websocket-max-frame-size",
        limit,
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "config.asgi:application",
    ]


def start_daphne_server(*, channel_layer: str = "redis", extra_env: dict[str, str] | None = None) -> Server:
    """One daphne process serving Parley's ``config.asgi:application``."""
    from core import processes

    port = processes.free_port()
    return Server(f"daphne-{channel_layer}", daphne_command(port), port, parley_env(port, channel_layer, extra_env), log_dir())


class ServerGroup:
    """Web processes serving one site side by side (sharing Redis and the database):
    client ``i`` goes to ``url(i)``, round-robin; CPU is their sum."""

    def __init__(self, servers: Sequence[Server]):
        self.servers = list(servers)

    def url(self, index: int = 0) -> str:
        return self.servers[index % len(self.servers)].url

    @property
    def pids(self) -> list[int]:
        return [server.process.pid for server in self.servers]

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_webs(count: int, *, channel_layer: str = "redis") -> ServerGroup:
    """``count`` web processes, each on its port (its PARLEY_BASE_URL its own)."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(start_web(channel_layer=channel_layer))
    except BaseException:
        ServerGroup(servers).stop()
        raise
    return ServerGroup(servers)


STATIC_CHOICES = ("collected", "sources")


def add_static_option(parser: Any) -> None:
    parser.add_argument(
        "--static",
        choices=STATIC_CHOICES,
        default="collected",
        help="collected: the static files as production serves them, collected by collectstatic (hashed, "
        "JS and CSS minified, compressed; the default); sources: static/ as written, as embedded mode serves it",
    )


def static_env(static: str) -> dict[str, str]:
    """What daphne needs to serve ``static`` ("collected" or "sources"). Collected: runs
    ``collectstatic`` first, into the run's temporary PARLEY_DATA_DIR (run.sh's)."""
    if static == "sources":
        return {"PARLEY_COLLECTED_STATIC": "0"}
    env = {k: v for k, v in os.environ.items() if k != ASYNC_UNSAFE}
    env["PARLEY_COLLECTED_STATIC"] = "1"
    started = time.monotonic()
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "-v", "0"], cwd=REPO_DIR, env=env, check=True)
    print(f"static files collected (minified, hashed, compressed) in {time.monotonic() - started:.1f} s", flush=True)
    return {"PARLEY_COLLECTED_STATIC": "1"}


def start_bare_server() -> Server:
    from core import processes

    port = processes.free_port()
    env = {k: v for k, v in os.environ.items() if k != ASYNC_UNSAFE}
    command = [sys.executable, "-m", "benchmarks.bare_ws_server", "--port", str(port)]
    return Server("bare-ws", command, port, env, log_dir())


# --- Meetings and guests ----------------------------------------------------------------


@dataclass
class Guest:
    participant_id: int
    session_key: str
    name: str


@dataclass
class BenchMeeting:
    public_id: str
    guests: list[Guest]


def bench_owner():
    """A staff user owns the benchmark meetings (no extension: no lobby, no moderation)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    owner = user_model.objects.filter(username="parley-bench").first()
    return owner or user_model.objects.create_user(username="parley-bench", email="bench@example.com", is_staff=True)


def create_meeting_with_guests(title: str, count: int) -> BenchMeeting:
    """A meeting and ``count`` guests who joined it through the service, each with a
    session of their own (the cookie a browser would carry)."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from meetings import services

    if count > settings.PARLEY_MAX_PARTICIPANTS:
        raise SystemExit(f"{count} participants need PARLEY_MAX_PARTICIPANTS >= {count} (run.sh sets 250).")
    meeting = services.create_meeting(bench_owner(), title=title)
    guests = []
    for index in range(count):
        session = SessionStore()
        session.create()
        name = f"Guest {index + 1}"
        participant = services.join_meeting(meeting, session_key=session.session_key or "", name=name)
        guests.append(Guest(participant.pk, session.session_key or "", name))
    return BenchMeeting(meeting.public_id, guests)


def end_meetings(public_ids: Sequence[str]) -> None:
    from meetings import services
    from meetings.models import Meeting

    owner = bench_owner()
    for meeting in Meeting.objects.filter(public_id__in=public_ids):
        services.end_meeting(meeting, owner)


def session_cookie_name() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME


# --- Figures ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> str:
    if baseline != baseline or value != value or baseline == 0:  # NaN or zero
        return "n/a"
    return f"{value / baseline:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(widths[i]) if i else cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ms(value: float) -> str:
    return "n/a" if value != value else f"{value:.1f}"


class Deadline:
    """A hard bound on a benchmark's wall time."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())
