"""Channels test helpers of the meeting room socket (/ws/meetings/<public_id>/),
shared by the socket tests of every feature.

A ``Room`` of seats (a participant and its session cookie), ``RoomSocket`` (replies
and events read in order), and, as a pytest plugin (listed in tests/conftest.py), the
fixtures ``room`` (creator, another organizer, a presenter and a participant),
``lobby_room`` (the same with a lobby and moderation) and ``sockets`` (a pool of room
sockets closed at the end of the test). Tests that use them need
``django_db(transaction=True)``: the app reads the database from other threads.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from config.asgi import application
from core.protocol import WRITE_NOW
from meetings import services
from meetings.models import Meeting, Participant, Role, RoomType
from tests.factories import make_extension, make_meeting, make_participant, make_user

GOOD_ORIGIN = b"http://127.0.0.1"  # the site itself: the Host header the sockets send
TIMEOUT = 5
QUIET = 0.3  # how long "receives nothing" waits

SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


# --- Set-up -------------------------------------------------------------------------------------


def login_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def guest_session() -> str:
    store = SessionStore()
    store["guest"] = True
    store.create()
    return store.session_key


@dataclass
class Seat:
    participant: Participant
    cookie: str

    @property
    def id(self) -> int:
        return self.participant.pk


@dataclass
class Room:
    meeting: Meeting
    seats: dict[str, Seat] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/ws/meetings/{self.meeting.public_id}/"

    def __getattr__(self, name: str) -> Seat:
        try:
            return self.__dict__["seats"][name]
        except KeyError:
            raise AttributeError(name) from None


def new_guest_seat(meeting, name: str, role: str = Role.PARTICIPANT, state: str = Participant.State.JOINED) -> Seat:
    key = guest_session()
    return Seat(make_participant(meeting, session_key=key, name=name, role=role, state=state), key)


def make_room(*, lobby: bool = False, moderate: bool = False) -> Room:
    """The creator (an extension user), another organizer (a user), a presenter and a
    participant (guests)."""
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    meeting = make_meeting(owner, room_type=RoomType.SHARED, lobby_enabled=lobby, moderate_participants=moderate)
    other = make_user()
    room = Room(meeting)
    room.seats["creator"] = Seat(
        make_participant(meeting, user=owner.user, role=Role.ORGANIZER, name="Cora Creator"), login_cookie(owner.user)
    )
    room.seats["organizer"] = Seat(make_participant(meeting, user=other, role=Role.ORGANIZER, name="Olaf Organizer"), login_cookie(other))
    room.seats["presenter"] = new_guest_seat(meeting, "Pia Presenter", Role.PRESENTER)
    room.seats["participant"] = new_guest_seat(meeting, "Paul Participant")
    return room


def join_lobby(room: Room, name: str) -> Seat:
    """A guest asks to come in through the join service, as the join page does."""
    key = guest_session()
    participant = services.join_meeting(room.meeting, session_key=key, name=name)
    assert participant.state == Participant.State.LOBBY
    return Seat(participant, key)


def join_with_link(room: Room, invitation) -> Seat:
    """A new browser (a session of its own) joins with a personal invitation link, as
    the join page does."""
    key = guest_session()
    return Seat(services.join_meeting(room.meeting, session_key=key, invitation=invitation), key)


@pytest.fixture
async def room() -> Room:
    return await database_sync_to_async(make_room)()


@pytest.fixture
async def lobby_room() -> Room:
    return await database_sync_to_async(make_room)(lobby=True, moderate=True)


def db(function, *args, **kwargs):
    return database_sync_to_async(function)(*args, **kwargs)


# --- A test client of the room socket ---------------------------------------------------------------


class Closed(Exception):
    def __init__(self, code):
        super().__init__(f"closed with {code}")
        self.code = code


class RoomSocket:
    """Reads replies and events in order; keeps what a test skipped for later reads."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.inbox: list[dict] = []
        self.counter = 0
        self.close_code: int | None = None

    async def _read(self, timeout: float = TIMEOUT) -> dict:
        if self.close_code is not None:
            raise Closed(self.close_code)
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.close_code = output.get("code")
            raise Closed(self.close_code)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def until(self, kind: str, **match) -> dict:
        """The next message of type ``kind`` whose body has the given items."""

        def fits(message):
            body = message["body"] if isinstance(message["body"], dict) else {}
            return message["type"] == kind and all(body.get(k) == v for k, v in match.items())

        for message in self.inbox:
            if fits(message):
                self.inbox.remove(message)
                return message
        for _ in range(100):
            message = await self._read()
            if fits(message):
                return message
            self.inbox.append(message)
        raise AssertionError(f"no {kind} {match} among {self.inbox}")

    async def until_online(self, participant_id: int) -> None:
        """Until a ``participants.online`` names ``participant_id`` (arrivals come
        together: the others it names stay to be waited for)."""

        def take(message) -> bool:
            if message["type"] != "participants.online" or participant_id not in message["body"]["ids"]:
                return False
            message["body"]["ids"].remove(participant_id)
            return True

        for message in self.inbox:
            if take(message):
                if not message["body"]["ids"]:
                    self.inbox.remove(message)
                return
        for _ in range(100):
            message = await self._read()
            if take(message):
                if message["body"]["ids"]:
                    self.inbox.append(message)
                return
            self.inbox.append(message)
        raise AssertionError(f"no participants.online naming {participant_id} among {self.inbox}")

    async def send(self, kind: str, body=None, **envelope) -> str:
        self.counter += 1
        request_id = envelope.pop("id", f"r{self.counter}")
        await self.communicator.send_json_to({"type": kind, "id": request_id, "body": {} if body is None else body, **envelope})
        return request_id

    async def reply_to(self, request_id: str | None) -> dict:
        for message in self.inbox:
            if message["type"] in ("ack", "error") and message["id"] == request_id:
                self.inbox.remove(message)
                return message
        for _ in range(100):
            message = await self._read()
            if message["type"] in ("ack", "error") and message["id"] == request_id:
                return message
            self.inbox.append(message)
        raise AssertionError(f"no reply to {request_id}")

    async def request(self, kind: str, body=None) -> dict:
        return await self.reply_to(await self.send(kind, body))

    async def ok(self, kind: str, body=None) -> dict:
        reply = await self.request(kind, body)
        assert reply["type"] == "ack", reply
        return reply["body"]

    async def refused(self, kind: str, body=None) -> str:
        reply = await self.request(kind, body)
        assert reply["type"] == "error", reply
        assert reply["body"]["message"]
        return reply["body"]["code"]

    async def ping_works(self) -> None:
        assert await self.ok("ping") == {}

    async def drain(self) -> list[dict]:
        """Everything that arrives within QUIET seconds (inbox included)."""
        seen, self.inbox = self.inbox, []
        # receive_nothing, not a timed-out receive_output: that one cancels the app.
        while self.close_code is None and not await self.communicator.receive_nothing(QUIET):
            seen.append(await self._read())
        return seen

    async def nothing(self) -> None:
        assert await self.drain() == []

    async def closed(self) -> int:
        """Read until the server closes; returns the close code."""
        try:
            for _ in range(100):
                self.inbox.append(await self._read())
        except Closed as closed:
            return closed.code
        raise AssertionError("the socket stayed open")


def parse_text_frame(wire: bytes) -> str:
    """The text of one server → browser WebSocket frame, read as a browser reads it."""
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError(f"not one whole frame: {wire!r}")
    assert frame.opcode is Opcode.TEXT and frame.fin and not reader.buffer, frame
    return frame.data.decode()


def offer_write_now(communicator: WebsocketCommunicator) -> list[str]:
    """Give the socket what Parley's web server gives it (``core.serve``): the ASGI
    extension ``parley.write_now``. The frames it writes are parsed back as a browser
    would and land in the communicator's output, in order with what the app sends the
    usual way; they are also listed in the list returned."""
    written: list[str] = []

    def write_now(wire: bytes) -> bool:
        if communicator.future.done():
            return False
        text = parse_text_frame(wire)
        written.append(text)
        communicator.output_queue.put_nowait({"type": "websocket.send", "text": text})
        return True

    communicator.scope["extensions"] = {**communicator.scope.get("extensions", {}), WRITE_NOW: {"write": write_now}}
    return written


class SocketPool:
    """Room sockets through the real ASGI app; every one opened is closed at the end of
    the test (the ``sockets`` fixture). Like Parley's web server, it offers the sockets
    ``parley.write_now`` (``offer_write_now``) unless ``plain`` (daphne offers none)."""

    def __init__(self, *, plain: bool = False):
        self.opened: list[WebsocketCommunicator] = []
        self.plain = plain
        self.written_at_once: dict[WebsocketCommunicator, list[str]] = {}

    def communicator(self, path: str, cookie: str | None, origin: bytes | None = GOOD_ORIGIN):
        headers = [(b"host", b"127.0.0.1")]
        if origin:
            headers.append((b"origin", origin))
        if cookie:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        if not self.plain:
            self.written_at_once[communicator] = offer_write_now(communicator)
        self.opened.append(communicator)
        return communicator

    async def open(self, room: Room, seat: Seat, first: str = "room.snapshot") -> RoomSocket:
        """A socket of ``seat`` with its first message (``room.snapshot`` or ``lobby.status``) read."""
        communicator = self.communicator(room.path, seat.cookie)
        connected, _code = await communicator.connect(timeout=TIMEOUT)
        assert connected
        socket = RoomSocket(communicator)
        socket.first = await socket.until(first)
        return socket

    async def refused(self, path: str, cookie: str | None) -> int:
        """The close code of a socket the room does not let in."""
        communicator = self.communicator(path, cookie)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        if not connected:
            return code
        return await RoomSocket(communicator).closed()

    async def handshake(self, path: str, cookie: str | None, origin: bytes | None) -> bool:
        connected, _code = await self.communicator(path, cookie, origin).connect(timeout=TIMEOUT)
        return connected


@pytest.fixture
async def sockets():
    pool = SocketPool()
    yield pool
    await disconnect_all(pool.opened)


# A consumer's read of the channel layer: channels-redis's pub/sub layer goes through a
# proxy coroutine; the list layer (the unreachable-Redis fixture) reads directly.
LAYER_READS = ("_async_proxy", "RedisChannelLayer.receive")


def _cancel_lost_reads() -> None:
    """Cancel again the channel-layer reads that were told to stop and go on.

    A consumer that stops cancels its read of the channel layer. Python 3.11 loses that
    cancellation when it arrives just as an ``asyncio.wait_for`` around a write of
    redis-py completes (CPython gh-86296, fixed in 3.12; the read was connecting to
    Redis, e.g. in a consumer refused at once): the read goes on waiting for a message
    that never comes, and its consumer with it."""
    for task in asyncio.all_tasks():
        if task.cancelling() and not task.done() and task.get_coro().__qualname__ in LAYER_READS:
            task.cancel()


async def disconnect_all(communicators: list[WebsocketCommunicator], timeout: float = TIMEOUT) -> None:
    """Disconnect every socket (side by side) and wait until each consumer has finished,
    at most ``timeout``; one still running then is cancelled, as ``disconnect`` does."""
    for communicator in communicators:
        if not communicator.future.done():
            await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    deadline = asyncio.get_running_loop().time() + timeout
    while not all(communicator.future.done() for communicator in communicators):
        if asyncio.get_running_loop().time() > deadline:
            break
        _cancel_lost_reads()
        await asyncio.sleep(0.01)
    # Raises what a consumer raised; cancels one that is still running.
    await asyncio.gather(*(communicator.disconnect(timeout=0.1) for communicator in communicators))


async def open_everyone(sockets, room: Room, *names: str) -> dict[str, RoomSocket]:
    """Sockets of these seats, each having seen the later ones come online."""
    opened: dict[str, RoomSocket] = {}
    for name in names:
        socket = await sockets.open(room, room.seats[name])
        for earlier in opened.values():
            await earlier.until_online(room.seats[name].id)
        opened[name] = socket
    return opened


async def all_quiet(sockets: dict[str, RoomSocket]) -> dict[str, list[str]]:
    """What each socket received within QUIET seconds (read side by side)."""
    drained = await asyncio.gather(*(socket.drain() for socket in sockets.values()))
    return {name: [m["type"] for m in messages] for name, messages in zip(sockets, drained, strict=True) if messages}
