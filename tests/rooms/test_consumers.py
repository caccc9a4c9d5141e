"""The request-flow WebSockets, through the real ASGI application.

Going through ``config.asgi.application`` exercises the Origin check and the session
authentication exactly as a browser meets them. Works with the in-memory channel
layer and, when REDIS_URL is set, with channels-redis.
"""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from config.asgi import application
from core.protocol import MAX_FRAME_BYTES
from meetings.models import Meeting
from rooms import services
from rooms.models import MeetingRequest
from tests.factories import make_extension, make_queue, make_request, make_user
from tests.sockets import disconnect_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

GOOD_ORIGIN = b"http://127.0.0.1"  # the site itself: the Host header the sockets send
TIMEOUT = 5


# --- Helpers ---------------------------------------------------------------------------------


def _login_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _visitor_session() -> str:
    store = SessionStore()
    store["visitor"] = True
    store.create()
    return store.session_key


def _headers(cookie: str | None, origin: bytes | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"127.0.0.1")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


@pytest.fixture
async def sockets():
    """Open sockets through ``sockets.open``; every one is closed at the end of the test."""

    class Sockets:
        def __init__(self):
            self.opened = []

        async def open(self, path: str, *, cookie: str | None = None, origin: bytes | None = GOOD_ORIGIN):
            communicator = WebsocketCommunicator(application, path, headers=_headers(cookie, origin))
            self.opened.append(communicator)
            connected, code = await communicator.connect(timeout=TIMEOUT)
            return communicator, connected, code

    pool = Sockets()
    yield pool
    await disconnect_all(pool.opened)


@pytest.fixture
def agent():
    extension = make_extension(display_name="Ada Agent")
    extension.cookie = _login_cookie(extension.user)
    return extension


async def _next(communicator) -> dict:
    return await communicator.receive_json_from(timeout=TIMEOUT)


async def _until(communicator, kind: str) -> tuple[dict, list[dict]]:
    """Read messages until one of type ``kind``; return it and the others seen."""
    seen = []
    for _ in range(20):
        message = await _next(communicator)
        if message["type"] == kind:
            return message, seen
        seen.append(message)
    raise AssertionError(f"no {kind} among {seen}")


async def _ping_works(communicator, ping_id: str = "alive") -> None:
    await communicator.send_json_to({"type": "ping", "id": ping_id})
    assert await _next(communicator) == {"type": "ack", "id": ping_id, "body": {}}


def _request_state(pk: int) -> tuple:
    request = MeetingRequest.objects.get(pk=pk)
    return (
        request.status,
        request.closed_at,
        request.claimed_by_id,
        sorted(request.ignored_by.values_list("pk", flat=True)),
        Meeting.objects.count(),
    )


# --- Connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example.com",
        b"https://127.0.0.1.evil.example.com",
        b"null",
        None,
        # Another program on the same machine: the host is allowed, the port is not the site's.
        b"http://127.0.0.1:9999",
        b"http://localhost:9999",
        b"https://127.0.0.1",  # another scheme
    ],
)
async def test_it_refuses_a_socket_from_a_foreign_or_missing_origin(sockets, agent, origin):
    _socket, connected, _code = await sockets.open("/ws/client/", cookie=agent.cookie, origin=origin)
    assert connected is False


async def test_it_refuses_a_visitor_socket_from_a_foreign_origin(sockets):
    session_key = await database_sync_to_async(_visitor_session)()
    request = await database_sync_to_async(make_request)(session_key=session_key)
    _socket, connected, _code = await sockets.open(f"/ws/requests/{request.token}/", cookie=session_key, origin=b"http://evil.example.com")
    assert connected is False


async def test_it_closes_the_client_socket_of_an_anonymous_visitor_with_4401(sockets):
    _socket, connected, code = await sockets.open("/ws/client/")
    assert (connected, code) == (False, 4401)


async def test_it_closes_the_client_socket_of_a_user_without_extension_with_4401(sockets):
    user = await database_sync_to_async(make_user)()
    cookie = await database_sync_to_async(_login_cookie)(user)
    _socket, connected, code = await sockets.open("/ws/client/", cookie=cookie)
    assert (connected, code) == (False, 4401)


# --- The agent's web client ------------------------------------------------------------------


async def test_it_sends_the_agent_a_snapshot_then_live_requests(sockets, agent):
    waiting = await database_sync_to_async(make_request)(agent, name="Early Bird")
    await database_sync_to_async(make_request)(agent, status=MeetingRequest.Status.ACCEPTED)
    socket, connected, _code = await sockets.open("/ws/client/", cookie=agent.cookie)
    assert connected
    snapshot = await _next(socket)
    assert (snapshot["type"], snapshot["id"]) == ("requests.snapshot", None)
    assert [r["id"] for r in snapshot["body"]["requests"]] == [waiting.pk]
    assert snapshot["body"]["requests"][0]["visitor_name"] == "Early Bird"

    request = await database_sync_to_async(services.create_meeting_request)(
        target=agent, name="Vera Visitor", email="vera@example.org", session_key="visitor-session", ip=None
    )
    created = await _next(socket)
    assert (created["type"], created["id"]) == ("request.created", None)
    assert created["body"]["id"] == request.pk
    assert created["body"]["visitor_name"] == "Vera Visitor"
    assert created["body"]["status"] == "waiting"


async def test_it_sends_the_recent_history_in_the_snapshot_and_who_took_a_request_live(sockets, agent):
    colleague = await database_sync_to_async(make_extension)(display_name="Bob")
    queue = await database_sync_to_async(make_queue)(agents=[agent, colleague])
    earlier = await database_sync_to_async(make_request)(queue, name="Early Bird")
    await database_sync_to_async(services.claim_meeting_request)(earlier.pk, colleague)
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    snapshot = (await _next(socket))["body"]
    assert snapshot["requests"] == []
    [recent] = snapshot["recent"]
    assert (recent["id"], recent["status"], recent["taken_by"], recent["taken_by_id"]) == (earlier.pk, "accepted", "Bob", colleague.pk)
    assert recent["closed_at"]

    request = await database_sync_to_async(make_request)(queue, name="Vera")
    await database_sync_to_async(services.claim_meeting_request)(request.pk, colleague)
    taken, _seen = await _until(socket, "request.taken")
    assert (taken["body"]["id"], taken["body"]["taken_by_id"]) == (request.pk, colleague.pk)
    assert taken["body"]["closed_at"]


async def test_it_sends_queue_requests_to_every_available_agent_live(sockets, agent):
    colleague = await database_sync_to_async(make_extension)(display_name="Bob")
    colleague.cookie = await database_sync_to_async(_login_cookie)(colleague.user)
    queue = await database_sync_to_async(make_queue)(agents=[agent, colleague])
    first, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    second, _c, _ = await sockets.open("/ws/client/", cookie=colleague.cookie)
    for socket in (first, second):
        assert (await _next(socket))["type"] == "requests.snapshot"
    request = await database_sync_to_async(services.create_meeting_request)(
        target=queue, name="Vera", email="vera@example.org", session_key="s", ip=None
    )
    for socket in (first, second):
        message = await _next(socket)
        assert (message["type"], message["body"]["id"], message["body"]["queue"]) == ("request.created", request.pk, queue.name)
    # Bob takes it: Ada is told who.
    await database_sync_to_async(services.claim_meeting_request)(request.pk, colleague)
    taken, _seen = await _until(first, "request.taken")
    assert (taken["body"]["id"], taken["body"]["taken_by"]) == (request.pk, "Bob")


async def test_it_acknowledges_request_ignore_and_declines_a_personal_request(sockets, agent):
    request = await database_sync_to_async(make_request)(agent)
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)  # snapshot
    await socket.send_json_to({"type": "request.ignore", "id": "c1", "body": {"request_id": request.pk}})
    ack, events = await _until(socket, "ack")
    assert ack == {"type": "ack", "id": "c1", "body": {"request_id": request.pk}}
    events += [await _next(socket) for _ in range(2 - len(events))]
    assert {e["type"] for e in events} == {"request.ignored", "request.closed"}
    assert all(e["body"]["id"] == request.pk for e in events)
    state = await database_sync_to_async(_request_state)(request.pk)
    assert state[0] == MeetingRequest.Status.DECLINED
    assert state[3] == [agent.pk]


def _frames(request_id: int) -> list[tuple[str, str, str | None]]:
    """(frame, expected error code, expected reply id)."""
    envelope = lambda body, **extra: json.dumps({"type": "request.ignore", "id": "e1", "body": body, **extra})  # noqa: E731
    return [
        ("{not json", "bad_json", None),
        ("[1, 2, 3]", "bad_envelope", None),
        ('"request.ignore"', "bad_envelope", None),
        (envelope({"request_id": request_id}, extra=1), "bad_envelope", None),
        (json.dumps({"type": "request.ignore", "id": "bad id!", "body": {"request_id": request_id}}), "bad_envelope", None),
        (json.dumps({"type": "request.ignore", "id": 7, "body": {"request_id": request_id}}), "bad_envelope", None),
        (json.dumps({"type": "Request.Ignore", "id": "e1", "body": {"request_id": request_id}}), "bad_envelope", None),
        (json.dumps({"type": "request.ignore", "id": "e1", "body": [request_id]}), "bad_envelope", None),
        (json.dumps({"type": "request.claim", "id": "e2", "body": {"request_id": request_id}}), "unknown_type", "e2"),
        (envelope({"request_id": str(request_id)}), "invalid", "e1"),
        (envelope({"request_id": True}), "invalid", "e1"),
        (envelope({"request_id": float(request_id)}), "invalid", "e1"),
        (envelope({"request_id": None}), "invalid", "e1"),
        (envelope({}), "invalid", "e1"),
        (envelope({"request_id": request_id, "reason": "busy"}), "invalid", "e1"),
        (
            json.dumps({"type": "request.ignore", "id": "e3", "body": {"request_id": request_id, "pad": "x" * MAX_FRAME_BYTES}}),
            "too_large",
            None,
        ),
    ]


async def test_it_answers_each_bad_message_with_an_error_and_changes_nothing(sockets, agent):
    request = await database_sync_to_async(make_request)(agent)
    before = await database_sync_to_async(_request_state)(request.pk)
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)  # snapshot
    for number, (frame, code, reply_id) in enumerate(_frames(request.pk)):
        await socket.send_to(text_data=frame)
        reply = await _next(socket)
        assert reply["type"] == "error", frame[:80]
        assert (reply["body"]["code"], reply["id"]) == (code, reply_id), frame[:80]
        assert reply["body"]["message"]
        await _ping_works(socket, f"p{number}")
        assert await database_sync_to_async(_request_state)(request.pk) == before, frame[:80]


async def test_it_refuses_a_binary_frame(sockets, agent):
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)
    await socket.send_to(bytes_data=b'{"type": "ping"}')
    reply = await _next(socket)
    assert (reply["type"], reply["body"]["code"]) == ("error", "bad_envelope")
    await _ping_works(socket)


async def test_it_accepts_a_frame_just_under_the_size_limit(sockets, agent):
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)
    frame = json.dumps({"type": "ping", "id": "big", "body": {}})
    frame = frame[:-1] + " " * (MAX_FRAME_BYTES - len(frame)) + "}"
    assert len(frame.encode()) == MAX_FRAME_BYTES
    await socket.send_to(text_data=frame)
    assert await _next(socket) == {"type": "ack", "id": "big", "body": {}}


async def test_it_answers_not_found_for_another_agents_request(sockets, agent):
    stranger = await database_sync_to_async(make_extension)()
    foreign = await database_sync_to_async(make_request)(stranger)
    before = await database_sync_to_async(_request_state)(foreign.pk)
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)
    for request_id in (foreign.pk, 987_654_321):
        await socket.send_json_to({"type": "request.ignore", "id": "n1", "body": {"request_id": request_id}})
        reply = await _next(socket)
        assert (reply["type"], reply["id"], reply["body"]["code"]) == ("error", "n1", "not_found")
        await _ping_works(socket)
    assert await database_sync_to_async(_request_state)(foreign.pk) == before


async def test_it_answers_unavailable_for_a_taken_request(sockets, agent):
    colleague = await database_sync_to_async(make_extension)(display_name="Bob")
    queue = await database_sync_to_async(make_queue)(agents=[agent, colleague])
    request = await database_sync_to_async(make_request)(queue)
    await database_sync_to_async(services.claim_meeting_request)(request.pk, colleague)
    before = await database_sync_to_async(_request_state)(request.pk)
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    snapshot = await _next(socket)
    assert snapshot["body"]["requests"] == []
    await socket.send_json_to({"type": "request.ignore", "id": "u1", "body": {"request_id": request.pk}})
    reply = await _next(socket)
    assert (reply["type"], reply["id"], reply["body"]["code"]) == ("error", "u1", "unavailable")
    assert "Bob" in reply["body"]["message"]
    await _ping_works(socket)
    assert await database_sync_to_async(_request_state)(request.pk) == before


async def test_it_answers_forbidden_when_the_login_lost_its_extension(sockets, agent):
    request = await database_sync_to_async(make_request)(await database_sync_to_async(make_queue)(agents=[agent]))
    socket, _c, _ = await sockets.open("/ws/client/", cookie=agent.cookie)
    await _next(socket)
    await database_sync_to_async(agent.delete)()
    await socket.send_json_to({"type": "request.ignore", "id": "f1", "body": {"request_id": request.pk}})
    reply = await _next(socket)
    assert (reply["type"], reply["id"], reply["body"]["code"]) == ("error", "f1", "forbidden")
    await _ping_works(socket)
    assert (await database_sync_to_async(_request_state)(request.pk))[:4] == (MeetingRequest.Status.WAITING, None, None, [])


# --- The waiting visitor ------------------------------------------------------------------------


async def test_it_closes_a_visitor_socket_of_another_session_with_4404(sockets):
    owner_session = await database_sync_to_async(_visitor_session)()
    other_session = await database_sync_to_async(_visitor_session)()
    request = await database_sync_to_async(make_request)(session_key=owner_session)
    for path, cookie in (
        (f"/ws/requests/{request.token}/", other_session),
        (f"/ws/requests/{request.token}/", None),
        ("/ws/requests/no-such-token/", owner_session),
    ):
        _socket, connected, code = await sockets.open(path, cookie=cookie)
        assert (connected, code) == (False, 4404), path


async def test_it_shows_the_visitor_waiting_then_accepted_with_the_join_link(sockets, agent):
    session_key = await database_sync_to_async(_visitor_session)()
    request = await database_sync_to_async(services.create_meeting_request)(
        target=agent, name="Vera", email="vera@example.org", session_key=session_key, ip=None
    )
    socket, connected, _code = await sockets.open(f"/ws/requests/{request.token}/", cookie=session_key)
    assert connected
    waiting = await _next(socket)
    assert (waiting["type"], waiting["id"], waiting["body"]["status"]) == ("request.status", None, "waiting")
    assert "join_url" not in waiting["body"]
    await _ping_works(socket)

    meeting = await database_sync_to_async(services.claim_meeting_request)(request.pk, agent)
    accepted = await _next(socket)
    assert accepted["type"] == "request.status"
    assert accepted["body"]["status"] == "accepted"
    assert accepted["body"]["taken_by"] == "Ada Agent"
    assert accepted["body"]["join_url"].startswith(f"/m/{meeting.public_id}/?invite=")


async def test_it_tells_the_visitor_when_the_request_expires(sockets, agent):
    session_key = await database_sync_to_async(_visitor_session)()
    request = await database_sync_to_async(make_request)(agent, session_key=session_key, expires_in=1)
    socket, _c, _ = await sockets.open(f"/ws/requests/{request.token}/", cookie=session_key)
    assert (await _next(socket))["body"]["status"] == "waiting"
    await database_sync_to_async(MeetingRequest.objects.filter(pk=request.pk).update)(expires_at=request.created_at)
    assert await database_sync_to_async(services.expire_meeting_requests)() == 1
    expired = await _next(socket)
    assert (expired["type"], expired["body"]["status"]) == ("request.status", "expired")


async def test_it_refuses_agent_messages_on_the_visitor_socket(sockets, agent):
    session_key = await database_sync_to_async(_visitor_session)()
    request = await database_sync_to_async(make_request)(agent, session_key=session_key)
    socket, _c, _ = await sockets.open(f"/ws/requests/{request.token}/", cookie=session_key)
    await _next(socket)
    await socket.send_json_to({"type": "request.ignore", "id": "v1", "body": {"request_id": request.pk}})
    reply = await _next(socket)
    assert (reply["type"], reply["body"]["code"]) == ("error", "unknown_type")
    await _ping_works(socket)
    assert (await database_sync_to_async(_request_state)(request.pk))[0] == MeetingRequest.Status.WAITING
