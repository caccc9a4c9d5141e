"""``manage.py parley``: the one command that runs the product on embedded defaults."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import psutil
import pytest

from core import processes
from tests.fixtures_live import LiveProcess

pytestmark = pytest.mark.integration

START_TIMEOUT = 120.0  # a fresh SQLite database runs every migration first
STOP_TIMEOUT = 40.0
# What the command must provide itself: nothing of the test run's services leaks in.
FOREIGN = (
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_FILE_PATH",
    "EMAIL_HOST",
    "SECRET_KEY",
    "PARLEY_BASE_URL",
    "PARLEY_DATA_DIR",
    "ALLOWED_HOSTS",
    "JANUS_URLS",
    "JANUS_PUBLIC_URLS",
)


@pytest.fixture
def start_parley(tmp_path):
    started: list[LiveProcess] = []

    def start(*args: str) -> tuple[LiveProcess, str]:
        port = processes.free_port()
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN and not k.startswith("PYTEST_")}
        env.update(PARLEY_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
        parley = LiveProcess("manage.py parley", [sys.executable, "manage.py", "parley", "--port", str(port), *args], env)
        started.append(parley)
        parley.wait_for_line("Parley is running at", timeout=START_TIMEOUT)
        parley.wait_for_line(" ready.")  # the Celery worker, with its pool processes
        return parley, f"http://127.0.0.1:{port}"

    yield start
    for parley in started:
        if parley.alive():
            parley.stop()
        print(f"--- manage.py parley output ---\n{parley.output(200)}")


def get(url: str, opener=None) -> tuple[int, str, str]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=10) as response:
            return response.status, response.read().decode(), response.geturl()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), url


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the login form like a browser; returns the URL it lands on."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    status, page, _url = get(f"{base_url}/accounts/login/", opener)
    assert status == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base_url}/accounts/login/", data=form, headers={"Referer": f"{base_url}/accounts/login/"})
    with opener.open(request, timeout=10) as response:
        return urllib.parse.urlsplit(response.geturl()).path


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def still_running(procs: list[psutil.Process]) -> list[str]:
    """The processes that outlived their supervisor (zombies count as gone)."""
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    running = []
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid} {' '.join(process.cmdline()[:4])}")
    return running


def test_it_runs_everything_with_demo_data_and_stops_every_child_on_sigterm(start_parley):
    parley, base_url = start_parley("--demo")

    status, body, _url = get(f"{base_url}/health/")
    assert status == 200, body
    assert json.loads(body)["redis"] == "ok"
    status, page, _url = get(f"{base_url}/ada/")
    assert status == 200
    assert 'id="request-form"' in page

    admin_password = re.search(r"user admin\s+password (\S+)", parley.output()).group(1)
    agent_password = re.search(r"user ada\s+password (\S+)", parley.output()).group(1)
    assert admin_password != agent_password
    assert log_in(base_url, "ada", agent_password) == "/client/"
    assert log_in(base_url, "ada", admin_password) == "/accounts/login/"

    children = descendants(parley.pid)
    names = " ".join(" ".join(p.cmdline()) for p in children)
    assert "core.serve" in names and "celery" in names and "redis-server" in names and "media_worker" in names
    # Group rooms out of the box: a Janus of its own (installed by scripts/run.sh).
    assert "janus -C" in names and "group rooms: Janus at ws://127.0.0.1:" in parley.output()
    parley.process.send_signal(signal.SIGTERM)
    assert parley.process.wait(timeout=STOP_TIMEOUT) == 0
    assert still_running(children) == []


def test_it_stops_everything_and_fails_when_a_child_dies(start_parley):
    parley, base_url = start_parley("--no-demo")
    assert "Demo accounts" not in parley.output()
    children = descendants(parley.pid)
    web = next(p for p in children if "core.serve" in p.cmdline())

    web.kill()

    assert parley.process.wait(timeout=STOP_TIMEOUT) != 0
    parley.wait_for_line("web server exited")
    assert still_running(children) == []
    assert not processes.port_open("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
