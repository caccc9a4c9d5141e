"""A web process killed outright (SIGKILL) while three people are in a room, with real
web server, Redis and PostgreSQL: two reconnect to the restarted web tier, the third never
comes back and is let go within the reconnect grace plus a sweep, as if their socket
had closed."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import ClientConnection

from meetings import services
from meetings.models import Participant
from tests.fixtures_live import LiveServer, browser_socket, next_message, start_web_server
from tests.sockets import Seat, db, make_room

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HEARTBEAT, GRACE = 1, 2  # seconds: the web processes beat every second; 2 s to come back


async def _open(server: LiveServer, path: str, seat: Seat) -> ClientConnection:
    """A room socket as the seat's browser opens it; returns once its snapshot came."""
    socket = await browser_socket(server.url, path, seat.cookie)
    await next_message(socket, "room.snapshot", timeout=15)
    return socket


def _connected(seat: Seat) -> tuple[str, bool, str]:
    row = Participant.objects.get(pk=seat.id)
    return row.state, row.connected, row.web_process


async def test_it_lets_go_of_a_person_whose_web_process_was_killed_and_who_never_came_back(live_redis, tmp_path, settings):
    settings.PARLEY_WEB_HEARTBEAT_SECONDS, settings.PARLEY_RECONNECT_GRACE = HEARTBEAT, GRACE
    room = await db(make_room)
    people = [room.creator, room.presenter, room.participant]
    env = {"PARLEY_WEB_HEARTBEAT_SECONDS": str(HEARTBEAT), "PARLEY_RECONNECT_GRACE": str(GRACE)}
    first = await asyncio.to_thread(start_web_server, live_redis, tmp_path / "a", "web A", None, env)
    second: LiveServer | None = None
    sockets: list[ClientConnection] = []
    try:
        sockets = [await _open(first, room.path, seat) for seat in people]
        states = [await db(_connected, seat) for seat in people]
        assert {(state, connected) for state, connected, _process in states} == {("joined", True)}
        assert len({process for _state, _connected, process in states}) == 1 and states[0][2]

        first.process.kill()
        killed_at = time.monotonic()
        second = await asyncio.to_thread(start_web_server, live_redis, tmp_path / "b", "web B", None, env)
        back = [await _open(second, room.path, seat) for seat in people[:2]]
        sockets += back

        # The presence sweep (Celery beat's task, run here every half second).
        while (await db(_connected, room.participant))[0] == Participant.State.JOINED:
            assert time.monotonic() - killed_at < 3 * HEARTBEAT + GRACE + 5, "the third person is still in the room"
            await db(services.sweep_disconnected)
            await asyncio.sleep(0.5)
        print(f"let go {time.monotonic() - killed_at:.1f} s after the kill (heartbeat {HEARTBEAT} s, grace {GRACE} s)")
        for socket in back:
            await next_message(socket, "participant.left", timeout=15, participant_id=room.participant.id, reason="timeout")
        # The two who came back are in the room, on the new process.
        for seat in people[:2]:
            state, connected, process = await db(_connected, seat)
            assert (state, connected) == ("joined", True) and process != states[0][2]
    finally:
        for socket in sockets:
            await socket.close()
        for server in (first, second):
            if server is not None and server.process.alive():
                server.process.stop()
