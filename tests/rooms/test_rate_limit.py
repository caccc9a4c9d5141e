"""The Click2Meet rate limit under simultaneous requests, with Redis up and down.

Twelve visitors' requests from one address arrive at once; the limit is five: exactly
five are accepted and five mails stored, the others answered 429 — in this process
(one database connection per thread, as web workers have) and through real web
processes.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.models import OutboundEmail
from rooms.models import MeetingRequest
from tests.factories import make_extension
from tests.fixtures_live import UNREACHABLE_REDIS, start_web_server

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 5  # the default, which the web processes run with
REQUESTS = 12
VISITOR_IP = "203.0.113.50"


@pytest.fixture(params=["redis up", "redis down"])
def redis_state(request):
    if request.param == "redis down":
        request.getfixturevalue("redis_down")
    return request.param


def _together(calls) -> list:
    """Run each call in a thread of its own, all released at once; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # reported by the assertions
            results[index] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


def _assert_exactly_the_limit_accepted(statuses: list) -> None:
    assert sorted(statuses, key=str) == [302] * LIMIT + [429] * (REQUESTS - LIMIT), statuses
    assert MeetingRequest.objects.count() == LIMIT
    assert OutboundEmail.objects.filter(kind="meeting_request").count() == LIMIT


def test_it_accepts_exactly_the_limit_of_simultaneous_requests_from_one_address(redis_state, settings, mailoutbox):
    settings.PARLEY_REQUEST_RATE_LIMIT = LIMIT
    agent = make_extension()
    url = reverse("click2meet", args=[agent.slug])

    def visit(number: int) -> int:
        data = {"name": f"Visitor {number}", "email": f"v{number}@example.org"}
        return Client().post(url, data, REMOTE_ADDR=VISITOR_IP).status_code

    statuses = _together([lambda number=number: visit(number) for number in range(REQUESTS)])
    _assert_exactly_the_limit_accepted(statuses)
    assert len(mailoutbox) == LIMIT  # sent at once (tasks run in-process here)


# --- Through real web processes ---------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 302 to the waiting page is the answer we count


class Visitor:
    """A browser of its own: it loads the Click2Meet form, then sends it."""

    def __init__(self, url: str, number: int):
        self.url = url
        self.number = number
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)
        with self.opener.open(url, timeout=30) as page:
            match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        assert match, f"no form at {url}"
        self.csrf_token = match.group(1)

    def send(self) -> int:
        data = {"csrfmiddlewaretoken": self.csrf_token, "name": f"Visitor {self.number}", "email": f"v{self.number}@example.org"}
        try:
            with self.opener.open(self.url, urllib.parse.urlencode(data).encode(), timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as answer:
            return answer.code


@pytest.fixture
def web_processes(redis_state, request, tmp_path):
    """Two web server processes on the test database, both on the test Redis or both on
    a closed port."""
    if redis_state == "redis up":
        yield [request.getfixturevalue("asgi_server"), request.getfixturevalue("second_asgi_server")]
        return
    servers = [start_web_server(UNREACHABLE_REDIS, tmp_path / name, name=f"web {name}") for name in ("a", "b")]
    yield servers
    for server in servers:
        server.process.stop()
        print(f"--- {server.process.name} output ---\n{server.process.output()}")


@pytest.mark.integration
def test_it_accepts_exactly_the_limit_of_simultaneous_requests_through_web_processes(web_processes):
    """All from 127.0.0.1, spread over two processes (each runs one view at a time)."""
    agent = make_extension()
    click2meet = reverse("click2meet", args=[agent.slug])
    visitors = [Visitor(web_processes[number % 2].url + click2meet, number) for number in range(REQUESTS)]
    statuses = _together([visitor.send for visitor in visitors])
    _assert_exactly_the_limit_accepted(statuses)
