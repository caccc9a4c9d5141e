"""A room's events through the real web server (uvicorn with ``core.serve``'s protocol,
in this process), the real application, Redis and PostgreSQL: each socket between its
turns gets other people's events written at once (``parley.write_now``, the frame made
once), in order; an event that changes a socket (a kick) still waits for its turn."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection

from config.asgi import application
from core import serve
from tests.fixtures_live import browser_socket, next_message, served_in_this_process
from tests.sockets import Seat, db, make_room, parse_text_frame

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

MESSAGES = 5  # the chat limit: 5 per 10 s


class WrittenAtOnce:
    """A spy on the server's ``write_now``: which event types it wrote, to which socket."""

    def __init__(self, monkeypatch):
        self.written: list[tuple[serve.WebSocketProtocol, str]] = []
        original = serve.WebSocketProtocol.write_now

        def write_now(protocol: serve.WebSocketProtocol, frame: bytes) -> bool:
            done = original(protocol, frame)
            if done:
                self.written.append((protocol, json.loads(parse_text_frame(frame))["type"]))
            return done

        monkeypatch.setattr(serve.WebSocketProtocol, "write_now", write_now)

    def types(self) -> list[str]:
        return [kind for _protocol, kind in self.written]


async def _open(url: str, path: str, seat: Seat) -> ClientConnection:
    socket = await browser_socket(url, path, seat.cookie)
    await next_message(socket, "room.snapshot")
    return socket


async def _chat_texts(socket: ClientConnection) -> list[str]:
    return [(await next_message(socket, "chat.message"))["body"]["text"] for _ in range(MESSAGES)]


async def test_it_writes_other_peoples_events_at_once_in_order_and_a_kick_in_its_turn(live_redis, monkeypatch):
    spy = WrittenAtOnce(monkeypatch)
    room = await db(make_room)
    sockets: list[ClientConnection] = []
    async with served_in_this_process(application) as url:
        try:
            creator, presenter, participant = sockets = [
                await _open(url, room.path, seat) for seat in (room.creator, room.presenter, room.participant)
            ]
            for number in range(MESSAGES):
                await creator.send(json.dumps({"type": "chat.send", "id": f"c{number}", "body": {"text": f"message {number}"}}))
            expected = [f"message {number}" for number in range(MESSAGES)]
            assert await _chat_texts(presenter) == expected
            assert await _chat_texts(participant) == expected
            # The two listeners were between turns: every copy of theirs was written at once.
            assert spy.types().count("chat.message") >= 2 * MESSAGES
            await creator.send(json.dumps({"type": "moderate.kick", "id": "k", "body": {"participant_id": room.participant.id}}))
            assert (await next_message(participant, "you.kicked"))["body"]["by"] == "Cora Creator"
            async with asyncio.timeout(10):
                await participant.wait_closed()
            assert participant.close_code == 4403
            assert "you.kicked" not in spy.types()
        finally:
            for socket in sockets:
                await socket.close()
