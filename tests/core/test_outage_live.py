"""Redis failing under a running web tier, with a real web server, Redis and PostgreSQL
processes: killed (refusing connections) or stopped with SIGSTOP (accepting, never
answering). Room sockets are closed with 4503, never 1011 with a traceback; pages
answer from the database; ``/health/`` says what hangs. And a frame past a server's
usual 1 MiB limit gets the protocol's ``too_large`` on a live server."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from core import processes
from core.models import OutboundEmail
from rooms.models import MeetingRequest
from tests.factories import make_extension
from tests.fixtures_live import LiveProcess, LiveServer, browser_socket, next_message, start_web_server
from tests.sockets import Room, Seat, db, make_room

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@dataclass
class Tier:
    """A web process on a Redis of its own (the test stops or kills that Redis)."""

    redis: LiveProcess
    web: LiveServer
    room: Room
    slug: str


@pytest.fixture
def tier(tmp_path, transactional_db) -> Iterator[Tier]:
    port = processes.free_port()
    redis = LiveProcess("redis", processes.redis_server_command(port), dict(os.environ))
    processes.wait_until(lambda: processes.port_open("127.0.0.1", port), timeout=10, what="redis", alive=redis.alive)
    web = start_web_server(f"redis://127.0.0.1:{port}/0", tmp_path / "web", "web server")
    room = make_room()
    slug = make_extension(display_name="Ada Agent").slug
    yield Tier(redis, web, room, slug)
    with_signal(redis, signal.SIGCONT)
    web.process.stop()
    print(f"--- web server output ---\n{web.process.output(60)}")
    if redis.alive():
        redis.stop()


def with_signal(process: LiveProcess, number: int) -> None:
    if process.alive():
        os.kill(process.pid, number)


async def open_socket(tier: Tier, seat: Seat) -> ClientConnection:
    return await browser_socket(tier.web.url, tier.room.path, seat.cookie)


async def close_code(socket: ClientConnection, timeout: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def timed_get(url: str, opener=None) -> tuple[int, str, float]:
    started = time.monotonic()
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=30) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - started


def ask_for_a_meeting(base_url: str, slug: str) -> tuple[int, float]:
    """A visitor's Click2Meet request through the form, as a browser posts it."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    status, page, _took = timed_get(f"{base_url}/{slug}/", opener)
    assert status == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"name": "Vera Visitor", "email": "vera@example.org", "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base_url}/{slug}/", data=form, headers={"Referer": f"{base_url}/{slug}/"})
    started = time.monotonic()
    with opener.open(request, timeout=30) as response:
        return response.status, time.monotonic() - started


async def test_it_closes_open_and_new_sockets_with_4503_when_redis_dies(tier: Tier):
    socket = await open_socket(tier, tier.room.participant)
    await next_message(socket, "room.snapshot")

    tier.redis.kill()

    assert await close_code(socket, timeout=10) == 4503
    fresh = await open_socket(tier, tier.room.creator)
    assert await close_code(fresh, timeout=10) == 4503
    assert tier.web.process.count("Exception inside application") == 0, tier.web.process.output()
    assert tier.web.process.count("closing with 4503") >= 1


async def test_it_keeps_answering_while_redis_hangs_and_says_so(tier: Tier):
    socket = await open_socket(tier, tier.room.participant)
    await next_message(socket, "room.snapshot")

    with_signal(tier.redis, signal.SIGSTOP)
    stopped = time.monotonic()

    # An open socket still answers (a ping needs no Redis)...
    await socket.send(json.dumps({"type": "ping", "id": "p1", "body": {}}))
    assert (await next_message(socket, "ack", timeout=2))["id"] == "p1"
    # ...until its channel-layer read times out: 4503, the page reconnects later.
    assert await close_code(socket, timeout=15) == 4503
    print(f"open socket closed with 4503 {time.monotonic() - stopped:.1f} s after Redis stopped")
    # The health page says what hangs, quickly.
    status, body, took = await asyncio.to_thread(timed_get, f"{tier.web.url}/health/")
    health = json.loads(body)
    assert (status, health["redis"], health["channel_layer"], health["database"]) == (503, "hung", "hung", "ok")
    assert took < 2.5, took
    # Pages answer from the database; a visitor's request is stored, its mail waits.
    status, _page, took = await asyncio.to_thread(timed_get, f"{tier.web.url}/{tier.slug}/")
    assert status == 200 and took < 2.5, took
    status, took = await asyncio.to_thread(ask_for_a_meeting, tier.web.url, tier.slug)
    print(f"Click2Meet request answered in {took:.1f} s with Redis stopped")
    assert status == 200 and took < 3, took
    assert await db(MeetingRequest.objects.count) == 1
    assert await db(OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING).count) >= 1
    # A new socket is told at once that live updates are unavailable.
    fresh = await open_socket(tier, tier.room.creator)
    assert await close_code(fresh, timeout=10) == 4503

    with_signal(tier.redis, signal.SIGCONT)
    deadline = time.monotonic() + 15
    while True:  # the web process tries Redis again after a moment
        again = await open_socket(tier, tier.room.creator)
        try:
            await next_message(again, "room.snapshot", timeout=6)
            break
        except (ConnectionClosed, TimeoutError):
            assert time.monotonic() < deadline, "the room did not come back with Redis"
        finally:
            await again.close()
    assert tier.web.process.count("Exception inside application") == 0, tier.web.process.output()


async def test_it_answers_a_frame_past_a_mebibyte_with_too_large_and_keeps_the_socket(asgi_server, live_redis):
    room = await db(make_room)
    async with await browser_socket(asgi_server.url, room.path, room.participant.cookie) as socket:
        await next_message(socket, "room.snapshot")
        await socket.send(json.dumps({"type": "ping", "id": "big", "body": {"pad": "x" * (2 * 2**20)}}))
        reply = await next_message(socket, "error")
        assert (reply["id"], reply["body"]["code"]) == (None, "too_large")
        await socket.send(json.dumps({"type": "ping", "id": "after", "body": {}}))
        assert (await next_message(socket, "ack"))["id"] == "after"
