"""Remote control over the sockets: the ``remote.*`` messages of the room socket and
the desktop helper's socket (/ws/helper/), through the real ASGI app.

The whole way (pair, request, answer, consent, input, stop) and its refusals: input
from a non-controller, before approval or consent, after stop, out of range, of an
unknown kind, with a bad key, or a flood — refused, and nothing reaches the helper.
"""

from __future__ import annotations

import ipaddress

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from config.asgi import application
from core.ratelimit import RateWindow
from meetings import services as room_services
from meetings.models import Meeting, Participant, SharePolicy
from meetings.remote import services
from meetings.remote.models import HelperPairing, RemoteSession
from tests.sockets import GOOD_ORIGIN, TIMEOUT, Room, RoomSocket, Seat, db, disconnect_all, open_everyone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

HELPER_PATH = "/ws/helper/"
SCREENS = [{"x": 0, "y": 0, "width": 1280, "height": 720}]
CLICK = {"kind": "click", "x": 0.25, "y": 0.75, "button": "left", "count": 1}


@pytest.fixture
async def sockets():
    class Pool:
        def __init__(self):
            self.opened: list[WebsocketCommunicator] = []

        def _communicator(
            self, path: str, cookie: str | None, origin: bytes | None = GOOD_ORIGIN, client: tuple[str, str] | None = None
        ) -> WebsocketCommunicator:
            headers = [(b"host", b"127.0.0.1")]
            if origin:
                headers.append((b"origin", origin))
            if cookie:
                headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
            if client:  # (peer, X-Forwarded-For)
                headers.append((b"x-forwarded-for", client[1].encode()))
            communicator = WebsocketCommunicator(application, path, headers=headers)
            if client:  # read when the application starts, at connect
                communicator.scope["client"] = (client[0], 40000)
            self.opened.append(communicator)
            return communicator

        async def open(self, room: Room, seat: Seat) -> RoomSocket:
            communicator = self._communicator(room.path, seat.cookie)
            connected, _code = await communicator.connect(timeout=TIMEOUT)
            assert connected
            socket = RoomSocket(communicator)
            socket.first = await socket.until("room.snapshot")
            return socket

        async def helper(self, origin: bytes | None = GOOD_ORIGIN, client: tuple[str, str] | None = None) -> RoomSocket:
            communicator = self._communicator(HELPER_PATH, None, origin, client)
            connected, _code = await communicator.connect(timeout=TIMEOUT)
            assert connected
            return RoomSocket(communicator)

        async def handshake(self, path: str, origin: bytes | None) -> bool:
            connected, _code = await self._communicator(path, None, origin).connect(timeout=TIMEOUT)
            return connected

    pool = Pool()
    yield pool
    await disconnect_all(pool.opened)


async def _paired_helper(sockets, requester: RoomSocket) -> RoomSocket:
    """The requester's page asks for a code; a helper pairs with it."""
    code = (await requester.ok("remote.pair"))["code"]
    helper = await sockets.helper()
    ack = await helper.ok("helper.pair", {"code": code, "platform": "x11", "screens": SCREENS})
    assert set(ack) == {"participant_name", "meeting_title"}
    assert (await requester.until("remote.helper"))["body"] == {"paired": True}
    return helper


async def _active_session(sockets, room: Room, s: dict[str, RoomSocket]) -> tuple[int, RoomSocket]:
    """The participant asked, the presenter allowed, the person at the computer consented."""
    helper = await _paired_helper(sockets, s["participant"])
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": session_id, "allow": True})
    await helper.until("control.request", session_id=session_id)
    await helper.ok("control.consent", {"session_id": session_id, "allow": True})
    await s["presenter"].until("remote.session", id=session_id, state="active")
    return session_id, helper


async def _state(session_id: int) -> tuple[str, str]:
    session = await db(RemoteSession.objects.get, pk=session_id)
    return session.state, session.reason


# --- The whole way -------------------------------------------------------------------------


async def test_it_runs_a_session_from_request_to_stop_and_relays_the_controllers_input(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    snapshot = s["participant"].first["body"]
    assert snapshot["remote"] == {"session": None, "helper_paired": False}
    helper = await _paired_helper(sockets, s["participant"])

    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    requested = await s["presenter"].until("remote.requested")
    assert (requested["body"]["id"], requested["body"]["requester_name"], requested["body"]["helper_paired"]) == (
        session_id,
        "Paul Participant",
        True,
    )
    await s["creator"].until("remote.requested", id=session_id)
    for socket in s.values():
        await socket.until("remote.session", id=session_id, state="requested")
    assert "remote.requested" not in [m["type"] for m in await s["participant"].drain()]  # not for participants

    await s["presenter"].ok("remote.answer", {"session_id": session_id, "allow": True})
    reply = await s["creator"].request("remote.answer", {"session_id": session_id, "allow": True})
    assert (reply["type"], reply["body"]["code"]) == ("error", "remote_taken")
    assert "Pia Presenter" in reply["body"]["message"]
    request = await helper.until("control.request")
    assert request["body"] == {"session_id": session_id, "controller_name": "Pia Presenter"}
    # Approved, but the person at the computer has not said yes: no input.
    assert await s["presenter"].refused("remote.input", {"session_id": session_id, "event": CLICK}) == "forbidden"

    await helper.ok("control.consent", {"session_id": session_id, "allow": True})
    active = await s["participant"].until("remote.session", id=session_id, state="active")
    assert (active["body"]["consent"], active["body"]["controller_id"]) == ("given", room.presenter.id)
    await helper.nothing()

    await s["presenter"].ok("remote.input", {"session_id": session_id, "event": CLICK})
    relayed = await helper.until("control.input")
    assert relayed["body"] == {"session_id": session_id, "event": {**CLICK, "x": 0.25, "y": 0.75}}
    await s["presenter"].ok("remote.input", {"session_id": session_id, "event": {"kind": "text", "text": "Hello, World 42!"}})
    assert (await helper.until("control.input"))["body"]["event"] == {"kind": "text", "text": "Hello, World 42!"}

    await s["participant"].ok("remote.stop", {"session_id": session_id})
    assert (await helper.until("control.stopped"))["body"] == {"session_id": session_id, "reason": "stopped"}
    for socket in s.values():
        await socket.until("remote.session", id=session_id, state="ended", reason="stopped")
    assert await s["presenter"].refused("remote.input", {"session_id": session_id, "event": CLICK}) == "forbidden"
    await s["presenter"].ok("remote.stop", {"session_id": session_id})  # already over: fine
    await helper.nothing()
    assert await _state(session_id) == ("ended", "stopped")


async def test_it_relays_nothing_from_anyone_but_the_controller_nor_anything_invalid(sockets, room):
    s = await open_everyone(sockets, room, "creator", "organizer", "presenter", "participant")
    session_id, helper = await _active_session(sockets, room, s)
    for name in ("creator", "organizer", "participant"):
        assert await s[name].refused("remote.input", {"session_id": session_id, "event": CLICK}) == "forbidden", name
    bad_events = [
        {"kind": "move", "x": 1.01, "y": 0.5},
        {"kind": "move", "x": -0.01, "y": 0.5},
        {"kind": "move", "x": "0.5", "y": 0.5},
        {"kind": "move", "x": True, "y": 0.5},
        {"kind": "move", "x": 0.5},
        {"kind": "move", "x": 0.5, "y": 0.5, "extra": 1},
        {"kind": "teleport", "x": 0.5, "y": 0.5},
        {"x": 0.5, "y": 0.5},
        {"kind": "click", "x": 0.5, "y": 0.5, "button": "left", "count": 3},
        {"kind": "down", "x": 0.5, "y": 0.5, "button": "fourth"},
        {"kind": "wheel", "x": 0.5, "y": 0.5, "dx": 0, "dy": 11},
        {"kind": "wheel", "x": 0.5, "y": 0.5, "dx": 0.5, "dy": 1},
        {"kind": "key", "key": "Meta", "action": "press"},
        {"kind": "key", "key": "F13", "action": "press"},
        {"kind": "key", "key": "Enter", "action": "hold"},
        {"kind": "key", "key": "a", "action": "press", "modifiers": ["hyper"]},
        {"kind": "key", "key": "a", "action": "press", "modifiers": ["ctrl", "ctrl"]},
        {"kind": "key", "key": "ab", "action": "press"},
        {"kind": "text", "text": ""},
        {"kind": "text", "text": "x" * 201},
        {"kind": "text", "text": "line\nbreak"},
    ]
    for event in bad_events:
        assert await s["presenter"].refused("remote.input", {"session_id": session_id, "event": event}) == "invalid", event
    for body in ({"session_id": session_id}, {"session_id": str(session_id), "event": CLICK}, {"session_id": session_id, "event": []}):
        assert await s["presenter"].refused("remote.input", body) == "invalid"
    assert await s["presenter"].refused("remote.input", {"session_id": session_id + 1, "event": CLICK}) == "forbidden"
    await helper.nothing()
    # The valid ones still go through, and the session carries on.
    key = {"kind": "key", "key": "A", "action": "press", "modifiers": ["shift", "ctrl"]}
    await s["presenter"].ok("remote.input", {"session_id": session_id, "event": key})
    assert (await helper.until("control.input"))["body"]["event"] == {**key, "modifiers": ["shift", "ctrl"]}
    assert await _state(session_id) == ("active", "")


async def test_it_refuses_a_flood_of_input(sockets, room, monkeypatch):
    # A clock that stands still: the window does not move on while the test sends.
    monkeypatch.setattr(RateWindow.__init__, "__defaults__", (lambda: 0.0,))
    s = await open_everyone(sockets, room, "presenter", "participant")
    session_id, helper = await _active_session(sockets, room, s)
    limit = 400  # per 10 s (docs/remote-control.md)
    move = {"session_id": session_id, "event": {"kind": "move", "x": 0.5, "y": 0.5}}
    request_ids = [await s["presenter"].send("remote.input", move) for _ in range(limit + 5)]
    replies = [await s["presenter"].reply_to(request_id) for request_id in request_ids]
    kinds = [reply["type"] if reply["type"] == "ack" else reply["body"]["code"] for reply in replies]
    assert kinds == ["ack"] * limit + ["rate_limited"] * 5
    relayed = [m for m in await helper.drain() if m["type"] == "control.input"]
    assert len(relayed) == limit
    # Other messages of the socket still work.
    await s["presenter"].ping_works()


async def test_it_refuses_input_and_answers_before_their_time(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    assert await s["presenter"].refused("remote.input", {"session_id": 1, "event": CLICK}) == "forbidden"
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    assert await s["presenter"].refused("remote.input", {"session_id": session_id, "event": CLICK}) == "forbidden"
    assert await s["participant"].refused("remote.answer", {"session_id": session_id, "allow": True}) == "forbidden"
    assert await s["presenter"].refused("remote.answer", {"session_id": 987654, "allow": True}) == "not_found"
    assert await s["presenter"].refused("remote.answer", {"session_id": session_id, "allow": "yes"}) == "invalid"
    assert await s["creator"].refused("remote.stop", {"session_id": session_id}) == "forbidden"
    reply = await s["participant"].request("remote.request")
    assert (reply["type"], reply["body"]["code"]) == ("error", "remote_busy")
    await s["participant"].ok("remote.stop", {"session_id": session_id})
    await s["presenter"].until("remote.session", id=session_id, state="ended", reason="cancelled")


async def test_it_says_when_nobody_can_answer(sockets, room):
    s = await open_everyone(sockets, room, "participant")
    reply = await s["participant"].request("remote.request")
    assert (reply["type"], reply["body"]["code"]) == ("error", "no_controller")
    assert await db(RemoteSession.objects.count) == 0


async def test_it_refuses_remote_messages_from_the_lobby(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    await db(Participant.objects.filter(pk=room.participant.id).update, state=Participant.State.LOBBY)
    # A socket opened before still thinks it is in the room: the services check the row.
    assert await s["participant"].refused("remote.request") == "forbidden"
    assert await s["participant"].refused("remote.pair") == "forbidden"
    communicator = sockets._communicator(room.path, room.participant.cookie)
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    waiting = RoomSocket(communicator)
    await waiting.until("lobby.status")
    for kind, body in (("remote.request", {}), ("remote.pair", {}), ("remote.input", {"session_id": 1, "event": CLICK})):
        assert await waiting.refused(kind, body) == "forbidden"
    assert await db(RemoteSession.objects.count) == 0
    assert not await db(HelperPairing.objects.exists)


# --- The helper socket -----------------------------------------------------------------------


async def _refused_pairing(sockets, body: dict, code: str = "invalid_code", client: tuple[str, str] | None = None) -> None:
    helper = await sockets.helper(client=client)
    reply = await helper.request("helper.pair", body)
    assert (reply["type"], reply["body"]["code"]) == ("error", code), reply
    assert await helper.closed() == 4403


async def test_it_refuses_wrong_reused_expired_and_foreign_codes_and_closes(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant", "creator")
    code = (await s["participant"].ok("remote.pair"))["code"]
    assert (await s["participant"].ok("remote.pair"))["code"] != code
    await _refused_pairing(sockets, {"code": code, "platform": "x11", "screens": SCREENS})  # replaced
    for wrong in ("ABCD-EFGH", "not a code", ""):
        await _refused_pairing(sockets, {"code": wrong, "platform": "x11", "screens": SCREENS})
    await _refused_pairing(sockets, {"code": 1234, "platform": "x11", "screens": SCREENS}, "invalid")
    await _refused_pairing(sockets, {"code": "ABCD-EFGH", "platform": "x11", "screens": "all"}, "invalid")

    code = (await s["participant"].ok("remote.pair"))["code"]
    helper = await sockets.helper()
    await helper.ok("helper.pair", {"code": code, "platform": "x11", "screens": SCREENS})
    await _refused_pairing(sockets, {"code": code, "platform": "x11", "screens": SCREENS})  # reused
    assert await helper.refused("helper.pair", {"code": code, "platform": "x11", "screens": SCREENS}) == "invalid"
    await helper.ping_works()

    expired = (await s["creator"].ok("remote.pair"))["code"]
    await db(HelperPairing.objects.filter(participant_id=room.creator.id).update, expires_at=timezone.now())
    await _refused_pairing(sockets, {"code": expired, "platform": "x11", "screens": SCREENS})

    foreign = (await s["presenter"].ok("remote.pair"))["code"]
    await s["presenter"].communicator.disconnect()  # the page that asked is gone
    await s["creator"].until("participant.updated", id=room.presenter.id, connection="reconnecting")
    await _refused_pairing(sockets, {"code": foreign, "platform": "x11", "screens": SCREENS})
    assert await db(HelperPairing.objects.filter(paired=True).count) == 1


async def test_it_refuses_a_helper_that_has_not_paired_and_foreign_origins(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": session_id, "allow": True})
    helper = await sockets.helper()
    assert await helper.refused("control.consent", {"session_id": session_id, "allow": True}) == "forbidden"
    assert await helper.refused("control.stop", {"session_id": session_id}) == "forbidden"
    assert await helper.refused("remote.input", {"session_id": session_id, "event": CLICK}) == "unknown_type"
    assert await sockets.handshake(HELPER_PATH, b"http://evil.example.com") is False
    assert await _state(session_id) == ("approved", "")
    # Another participant's helper cannot consent for this session either.
    s_other = await sockets.open(room, room.creator)
    other_helper = await _paired_helper(sockets, s_other)
    assert await other_helper.refused("control.consent", {"session_id": session_id, "allow": True}) == "not_found"
    assert await _state(session_id) == ("approved", "")


async def test_it_limits_pairing_attempts(sockets, room, monkeypatch):
    monkeypatch.setattr(services, "PAIR_ATTEMPTS", (3, 60))
    for _ in range(3):
        await _refused_pairing(sockets, {"code": "ABCD-EFGH", "platform": "x11", "screens": SCREENS})
    await _refused_pairing(sockets, {"code": "ABCD-EFGH", "platform": "x11", "screens": SCREENS}, "rate_limited")


async def test_it_counts_pairing_attempts_per_client_behind_a_trusted_proxy(sockets, room, monkeypatch, settings):
    monkeypatch.setattr(services, "PAIR_ATTEMPTS", (1, 60))
    settings.PARLEY_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.2")]
    wrong = {"code": "ABCD-EFGH", "platform": "x11", "screens": SCREENS}
    await _refused_pairing(sockets, wrong, client=("10.0.0.2", "203.0.113.10"))
    await _refused_pairing(sockets, wrong, client=("10.0.0.2", "203.0.113.11"))  # another person
    await _refused_pairing(sockets, wrong, "rate_limited", client=("10.0.0.2", "203.0.113.10"))
    # A peer that is no trusted proxy is counted under its own address, whatever it forwards.
    await _refused_pairing(sockets, wrong, client=("198.51.100.9", "203.0.113.12"))
    await _refused_pairing(sockets, wrong, "rate_limited", client=("198.51.100.9", "203.0.113.13"))


async def test_it_asks_a_helper_that_pairs_after_the_approval(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": session_id, "allow": True})
    helper = await _paired_helper(sockets, s["participant"])
    assert (await helper.until("control.request"))["body"] == {"session_id": session_id, "controller_name": "Pia Presenter"}
    await s["presenter"].until("remote.session", id=session_id, helper_paired=True)


async def test_it_ends_the_session_when_the_person_at_the_computer_refuses_or_stops(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    helper = await _paired_helper(sockets, s["participant"])
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": session_id, "allow": True})
    await helper.until("control.request")
    await helper.ok("control.consent", {"session_id": session_id, "allow": False})
    ended = await s["presenter"].until("remote.session", id=session_id, state="ended")
    assert (ended["body"]["reason"], ended["body"]["consent"]) == ("refused", "refused")
    assert (await helper.until("control.stopped"))["body"] == {"session_id": session_id, "reason": "refused"}

    second = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": second, "allow": True})
    await helper.until("control.request", session_id=second)
    await helper.ok("control.consent", {"session_id": second, "allow": True})
    await helper.ok("control.stop", {"session_id": second})
    await s["presenter"].until("remote.session", id=second, state="ended", reason="stopped")
    assert await s["presenter"].refused("remote.input", {"session_id": second, "event": CLICK}) == "forbidden"
    assert [(m["type"], m["body"]) for m in await helper.drain()] == [("control.stopped", {"session_id": second, "reason": "stopped"})]


async def test_it_ends_the_session_when_the_helper_or_the_controllers_socket_goes(sockets, room):
    s = await open_everyone(sockets, room, "creator", "presenter", "participant")
    session_id, helper = await _active_session(sockets, room, s)
    await helper.communicator.disconnect()
    await s["creator"].until("remote.session", id=session_id, state="ended", reason="helper_gone")
    assert (await s["participant"].until("remote.helper"))["body"] == {"paired": False}

    helper = await _paired_helper(sockets, s["participant"])
    second = (await s["participant"].ok("remote.request"))["session_id"]
    await s["presenter"].ok("remote.answer", {"session_id": second, "allow": True})
    await helper.until("control.request", session_id=second)
    await helper.ok("control.consent", {"session_id": second, "allow": True})
    await s["presenter"].communicator.disconnect()
    assert (await helper.until("control.stopped"))["body"] == {"session_id": second, "reason": "disconnected"}
    await s["creator"].until("remote.session", id=second, state="ended", reason="disconnected")


async def test_it_replaces_an_older_helper_of_the_same_participant(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    first = await _paired_helper(sockets, s["participant"])
    second = await _paired_helper(sockets, s["participant"])
    assert await first.closed() == 4409
    await second.ping_works()
    assert await db(HelperPairing.objects.filter(paired=True).count) == 1


async def test_it_closes_the_helper_when_its_participant_leaves(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    helper = await _paired_helper(sockets, s["participant"])
    await db(room_services.leave_meeting, room.participant.participant)
    assert (await helper.until("helper.closed"))["body"] == {"reason": "left"}
    assert await helper.closed() == 4410


async def test_it_lets_the_requester_share_the_screen_and_ends_the_session_with_the_share(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    await db(Meeting.objects.filter(pk=room.meeting.pk).update, share_policy=SharePolicy.ORGANIZERS)
    assert await s["participant"].refused("share.start", {"kind": "remote", "stream_id": "s1"}) == "forbidden"
    session_id, helper = await _active_session(sockets, room, s)
    await s["participant"].ok("share.start", {"kind": "remote", "stream_id": "s1"})
    assert (await s["presenter"].until("share.started"))["body"]["kind"] == "remote"
    await s["participant"].ok("share.stop")
    assert (await helper.until("control.stopped"))["body"] == {"session_id": session_id, "reason": "share_ended"}
    await s["presenter"].until("remote.session", id=session_id, state="ended", reason="share_ended")


async def test_it_shows_the_session_under_way_in_the_snapshot(sockets, room):
    s = await open_everyone(sockets, room, "presenter", "participant")
    session_id = (await s["participant"].ok("remote.request"))["session_id"]
    late = await sockets.open(room, room.creator)
    remote = late.first["body"]["remote"]
    assert remote["helper_paired"] is False
    assert (remote["session"]["id"], remote["session"]["state"], remote["session"]["requester_id"]) == (
        session_id,
        "requested",
        room.participant.id,
    )
