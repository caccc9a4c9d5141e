"""Real Janus processes for the group-room tests (a pytest plugin).

Janus gathers no ICE candidate on loopback: scripts/test-inner.sh gives the test
namespace a veth pair of its own (10.203.0.1 and .2, both ends inside), and each Janus
here gathers on 10.203.0.1 only. Its APIs listen on loopback. The settings of the test
process point at it (``JANUS_*``); ``LiveJanus.environment`` is what live processes
(the web server, Celery, the media worker) need; ``start_sfu_stack`` starts a Janus with a
web server and a Celery worker that use it.
"""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from config.celery import app as celery_app
from core import processes
from media_server.sfu import embedded, janus
from tests.fixtures_live import LiveProcess, LiveServer, start_web_server, wait_until_database_settles

JANUS_ADDRESS = "10.203.0.1"
START_TIMEOUT = 20.0
# Each Janus of a test gets its own RTP ports (two may run side by side).
_rtp_ranges = itertools.count()


def test_network_ready() -> bool:
    return any(name == "parley-va" for _index, name in socket.if_nameindex())


@dataclass
class LiveJanus:
    directory: Path
    ports: embedded.Ports
    secret: embedded.Secrets
    events_url: str
    name: str
    process: LiveProcess | None = field(default=None, repr=False)

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.admin}/admin"

    @property
    def public_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports.websocket}/"

    def environment(self) -> dict[str, str]:
        return embedded.environment(ports=self.ports, secret=self.secret)

    def start(self) -> LiveJanus:
        config = embedded.write_config(
            self.directory,
            ports=self.ports,
            secret=self.secret,
            events_url=self.events_url,
            name=self.name,
            ice_enforce_list=JANUS_ADDRESS,
        )
        self.process = LiveProcess(self.name, embedded.command(config), env={"PATH": "/usr/bin:/bin"})
        api = janus.AdminApi(self.admin_url, timeout=0.5)
        try:
            processes.wait_until(lambda: _answers(api), timeout=START_TIMEOUT, what=self.name, alive=self.process.alive)
        except (TimeoutError, RuntimeError) as error:
            pytest.fail(f"{error}\n--- {self.name} output ---\n{self.process.output()}")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def restart(self) -> LiveJanus:
        """Killed and started again on the same ports: its rooms are gone."""
        if self.process is not None and self.process.alive():
            self.kill()
        return self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.alive():
            self.process.stop()


def _answers(api: janus.AdminApi) -> bool:
    try:
        api.ping()
    except janus.JanusError:
        return False
    return True


def make_janus(directory: Path, *, name: str, events_url: str, secret: embedded.Secrets | None = None) -> LiveJanus:
    if not test_network_ready():
        pytest.fail("Janus needs the test network (veth parley-va): run the suite with scripts/test.sh.")
    if not embedded.installed():
        pytest.fail("Janus is not installed (apt-get install janus); scripts/test.sh installs it.")
    first = 20000 + 500 * (next(_rtp_ranges) % 40)
    ports = embedded.Ports(admin=processes.free_port(), websocket=processes.free_port(), rtp_first=first, rtp_last=first + 499)
    return LiveJanus(directory, ports, secret or embedded.Secrets.new(), events_url, name).start()


def use_janus(settings, *servers: LiveJanus) -> None:
    """Point the test process's settings at these servers (they share one secret set)."""
    secret = servers[0].secret
    settings.JANUS_URLS = [server.admin_url for server in servers]
    settings.JANUS_PUBLIC_URLS = [server.public_url for server in servers]
    settings.JANUS_TOKEN_SECRET = secret.token
    settings.JANUS_ADMIN_SECRET = secret.admin
    settings.JANUS_ROOM_ADMIN_KEY = secret.room_admin_key
    settings.JANUS_EVENTS_SECRET = secret.events


@pytest.fixture
def _tasks_in_process():
    """Tests that use a Janus from this process run their tasks here, at once (they are
    in the integration lane for the Janus process they start, not for a worker)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def janus_server(tmp_path, settings, _tasks_in_process):
    """One Janus; its events go nowhere (tests of the event endpoint post them)."""
    server = make_janus(tmp_path / "janus", name="janus-a", events_url="http://127.0.0.1:9/unused/")
    use_janus(settings, server)
    yield server
    server.stop()


@pytest.fixture
def janus_pair(tmp_path, settings, _tasks_in_process):
    """Two Janus servers with the same secrets, in the order of JANUS_URLS."""
    first = make_janus(tmp_path / "janus-a", name="janus-a", events_url="http://127.0.0.1:9/unused/")
    second = make_janus(tmp_path / "janus-b", name="janus-b", events_url="http://127.0.0.1:9/unused/", secret=first.secret)
    use_janus(settings, first, second)
    yield first, second
    for server in (first, second):
        server.stop()


@dataclass
class SfuStack:
    """A Janus, and a web server and a Celery worker that use it."""

    janus: LiveJanus
    server: LiveServer
    celery: LiveProcess

    def environment(self) -> dict[str, str]:
        """What another live process (the media worker) needs to use this Janus."""
        return self.janus.environment()


@pytest.fixture
def start_sfu_stack(tmp_path, settings, live_redis, start_celery_worker):
    """``start_sfu_stack(**settings)``: a Janus (this process's settings point at it),
    a web server with ``settings`` that moves rooms to it, and the Celery worker (with beat:
    the servers' health checks, the presence sweep) that opens them there. Stopped after the test, once the database has settled."""
    stacks: list[SfuStack] = []

    def start(**extra: str) -> SfuStack:
        # Janus's events go to the web server the stack starts (its port chosen first).
        port = processes.free_port()
        server = make_janus(tmp_path / "janus", name="janus-a", events_url=f"http://127.0.0.1:{port}/sfu/events/")
        use_janus(settings, server)
        environment = {**server.environment(), **extra}
        web = start_web_server(live_redis, tmp_path / "web", name="web server with Janus", port=port, extra_env=environment)
        stack = SfuStack(server, web, start_celery_worker(beat=True, **environment))
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        wait_until_database_settles()
        stack.server.process.stop()
        print(f"--- {stack.server.process.name} output ---\n{stack.server.process.output()}")
        stack.janus.stop()


JANUS_FIXTURES = {"janus_server", "janus_pair", "start_sfu_stack"}


def pytest_collection_modifyitems(config, items):
    """A test that starts Janus starts a real process: it belongs to the integration lane."""
    for item in items:
        if JANUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
