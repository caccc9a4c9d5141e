"""The meeting request flow of rooms.services: create, claim, ignore, cancel, expire."""

import random
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from core.models import OutboundEmail
from meetings import services as meeting_services
from meetings.models import Meeting, RoomType
from rooms import services
from rooms.groups import extension_group, request_group
from rooms.models import MeetingRequest
from tests.factories import make_extension, make_queue, make_request, record_events
from tests.listeners import GroupListener

pytestmark = pytest.mark.django_db

WAITING = MeetingRequest.Status.WAITING
ACCEPTED = MeetingRequest.Status.ACCEPTED


@pytest.fixture
def ip():
    """The visitor's address (the rate limit counts per address)."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def events(monkeypatch):
    return record_events(monkeypatch)


def _request(target, ip, *, name="Vera Visitor", email="vera@example.org", session_key="visitor-session"):
    return services.create_meeting_request(target=target, name=name, email=email, session_key=session_key, ip=ip)


def _token(url: str) -> str:
    return url.split("?invite=", 1)[1]


# --- Creating a request -----------------------------------------------------------------


def test_it_creates_a_waiting_request_and_notifies_a_private_extension_live(committed, ip, mailoutbox, settings):
    agent = make_extension(display_name="Ada Agent")
    listener = GroupListener(extension_group(agent.pk))
    before = timezone.now()
    try:
        with committed():
            request = _request(agent, ip, name="  Vera Visitor ", email=" vera@example.org ")
        message = listener.next_event(timeout=5)
    finally:
        listener.close()
    request.refresh_from_db()
    assert (request.status, request.extension, request.queue) == (WAITING, agent, None)
    assert (request.visitor_name, request.visitor_email, request.visitor_session, request.visitor_ip) == (
        "Vera Visitor",
        "vera@example.org",
        "visitor-session",
        ip,
    )
    timeout = timedelta(seconds=settings.PARLEY_REQUEST_TIMEOUT)
    assert before + timeout <= request.expires_at <= timezone.now() + timeout
    assert message["event"] == "request.created"
    assert message["body"]["id"] == request.pk
    assert message["body"]["visitor_name"] == "Vera Visitor"
    assert message["body"]["status"] == "waiting"
    email = OutboundEmail.objects.get(kind="meeting_request")
    assert email.to == agent.email
    assert email.key == f"request:{request.pk}:agent:{agent.pk}"
    assert [m.to for m in mailoutbox] == [[agent.email]]


def test_it_schedules_the_expiry_of_a_waiting_request(committed, ip, settings):
    agent = make_extension()
    with mock.patch("rooms.tasks.expire_meeting_request.apply_async") as apply_async, committed():
        request = _request(agent, ip)
    apply_async.assert_called_once_with((request.pk,), countdown=settings.PARLEY_REQUEST_TIMEOUT)


def test_it_notifies_only_the_available_agents_of_a_queue(committed, ip, events, mailoutbox):
    ada, bob = make_extension(), make_extension()
    away = make_extension(available=False)
    outsider = make_extension()
    queue = make_queue(agents=[ada, bob, away])
    with committed():
        request = _request(queue, ip)
    assert (request.queue, request.extension, request.status) == (queue, None, WAITING)
    notified = {group for group, body in events.named("request.created")}
    assert notified == {extension_group(ada.pk), extension_group(bob.pk)}
    assert all(body["queue"] == queue.name for _group, body in events.named("request.created"))
    assert events.of(extension_group(away.pk)) == []
    assert events.of(extension_group(outsider.pk)) == []
    assert sorted(OutboundEmail.objects.filter(kind="meeting_request").values_list("to", flat=True)) == sorted([ada.email, bob.email])
    assert sorted(m.to[0] for m in mailoutbox) == sorted([ada.email, bob.email])


@pytest.mark.usefixtures("fixed_signing_time")  # the link is made twice, compared
def test_it_accepts_a_shared_room_request_at_once_into_the_personal_room(committed, ip, events):
    owner = make_extension(room_type=RoomType.SHARED, display_name="Sam Shared")
    with mock.patch("rooms.tasks.expire_meeting_request.apply_async") as apply_async, committed():
        request = _request(owner, ip, name="Vera", email="vera@example.org")
    apply_async.assert_not_called()
    request = MeetingRequest.objects.get(pk=request.pk)
    assert (request.status, request.claimed_by) == (ACCEPTED, owner)
    assert request.closed_at is not None
    room = request.meeting
    assert (room.owner, room.is_personal_room, room.room_type) == (owner.user, True, RoomType.SHARED)
    invitation = room.invitations.get(email="vera@example.org")
    status = services.visitor_status(request)
    assert status["status"] == "accepted"
    assert status["join_url"] == meeting_services.invitation_url(invitation, absolute=False)
    assert status["taken_by"] == "Sam Shared"
    assert meeting_services.resolve_invitation(room, _token(status["join_url"])) == invitation
    assert [e for e, _b in events.of(extension_group(owner.pk))] == ["request.joined_room"]
    assert OutboundEmail.objects.filter(kind="room_visitor", to=owner.email).count() == 1
    assert not OutboundEmail.objects.filter(kind="meeting_request").exists()


def test_it_puts_every_visitor_of_a_shared_room_into_the_same_room(committed, ip):
    owner = make_extension(room_type=RoomType.SHARED)
    with committed():
        first = _request(owner, ip, name="Vera", email="vera@example.org", session_key="s1")
        second = _request(owner, ip, name="Walt", email="walt@example.org", session_key="s2")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.meeting == second.meeting
    assert Meeting.objects.filter(owner=owner.user, is_personal_room=True).count() == 1
    assert services.visitor_status(second)["join_url"] != services.visitor_status(first)["join_url"]
    assert first.meeting.invitations.count() == 2


def test_it_rate_limits_requests_per_address_and_creates_nothing_past_the_limit(committed, ip, settings, mailoutbox):
    settings.PARLEY_REQUEST_RATE_LIMIT = 2
    agent = make_extension()
    with committed():
        _request(agent, ip)
        _request(agent, ip)
        with pytest.raises(services.RateLimited):
            _request(agent, ip)
    assert MeetingRequest.objects.count() == 2
    assert OutboundEmail.objects.count() == 2
    assert len(mailoutbox) == 2
    other_ip = ip.rsplit(".", 1)[0] + (".1" if not ip.endswith(".1") else ".2")
    with committed():
        _request(agent, other_ip)
    assert MeetingRequest.objects.count() == 3


def test_it_counts_the_requests_an_address_made_in_the_window(ip, settings):
    settings.PARLEY_REQUEST_RATE_WINDOW = 600
    agent, queue = make_extension(), make_queue([make_extension()])
    make_request(agent, ip=ip)
    make_request(queue, ip=ip, status=MeetingRequest.Status.CANCELLED)  # any target, any outcome
    _age(make_request(agent, ip=ip), seconds=599)
    _age(make_request(agent, ip=ip), seconds=601)  # out of the window
    make_request(agent, ip="192.0.2.1")
    make_request(agent, ip=None)
    assert services.requests_in_window(ip) == 3


def test_it_limits_from_the_requests_in_the_database_not_a_counter_elsewhere(ip, settings):
    """Requests made by another web process, or while Redis was down, count too."""
    settings.PARLEY_REQUEST_RATE_LIMIT = 3
    agent = make_extension()
    for _ in range(3):
        make_request(agent, ip=ip)
    with pytest.raises(services.RateLimited):
        _request(agent, ip)
    assert MeetingRequest.objects.count() == 3


def test_it_allows_requests_again_after_the_rate_window(ip, settings):
    settings.PARLEY_REQUEST_RATE_LIMIT = 1
    settings.PARLEY_REQUEST_RATE_WINDOW = 60
    agent = make_extension()
    first = _request(agent, ip)
    with pytest.raises(services.RateLimited):
        _request(agent, ip)
    _age(first, seconds=61)
    _request(agent, ip)
    assert MeetingRequest.objects.count() == 2


def _age(request: MeetingRequest, *, seconds: int) -> None:
    """Make ``request`` as if it had been made ``seconds`` ago."""
    MeetingRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


# --- Claiming ---------------------------------------------------------------------------


@pytest.mark.usefixtures("fixed_signing_time")  # the link is made twice, compared
def test_it_gives_the_claiming_agent_a_private_meeting_with_an_invitation_for_the_visitor(committed, events):
    ada, bob = make_extension(display_name="Ada"), make_extension(display_name="Bob")
    queue = make_queue(agents=[ada, bob])
    request = make_request(queue, name="Vera", email="vera@example.org")
    with committed():
        meeting = services.claim_meeting_request(request.pk, ada)
    assert (meeting.owner, meeting.room_type, meeting.queue) == (ada.user, RoomType.PRIVATE, queue)
    request.refresh_from_db()
    assert (request.status, request.claimed_by, request.meeting) == (ACCEPTED, ada, meeting)
    assert request.closed_at is not None
    invitation = meeting.invitations.get()
    assert (invitation.name, invitation.email, invitation.invited_by) == ("Vera", "vera@example.org", ada.user)
    status = services.visitor_status(request)
    assert status["status"] == "accepted"
    assert status["join_url"] == meeting_services.invitation_url(invitation, absolute=False)
    assert status["taken_by"] == "Ada"
    [(event, body)] = events.of(request_group(request.token))
    assert event == "request.status"
    assert body["status"] == "accepted"
    assert body["join_url"] == status["join_url"]
    taken = events.named("request.taken")
    assert {group for group, _b in taken} == {extension_group(ada.pk), extension_group(bob.pk)}
    assert all(body["taken_by"] == "Ada" for _g, body in taken)


def test_it_lets_the_visitor_join_the_claimed_meeting_with_the_link_and_keeps_others_out(committed):
    ada = make_extension()
    request = make_request(ada)
    meeting = services.claim_meeting_request(request.pk, ada)
    request.refresh_from_db()
    invitation = meeting_services.resolve_invitation(meeting, _token(services.visitor_status(request)["join_url"]))
    visitor = meeting_services.join_meeting(meeting, session_key="visitor-session", invitation=invitation)
    assert visitor.display_name == request.visitor_name
    with pytest.raises(meeting_services.JoinRefused) as excinfo:
        meeting_services.join_meeting(meeting, session_key="someone-else", name="Eve")
    assert excinfo.value.code == "private_room"


def test_it_tells_the_second_agent_who_took_the_request():
    ada, bob = make_extension(display_name="Ada"), make_extension(display_name="Bob")
    queue = make_queue(agents=[ada, bob])
    request = make_request(queue)
    meeting = services.claim_meeting_request(request.pk, ada)
    with pytest.raises(services.RequestUnavailable) as excinfo:
        services.claim_meeting_request(request.pk, bob)
    assert excinfo.value.code == "already_taken"
    assert excinfo.value.taken_by == "Ada"
    assert "Ada" in excinfo.value.message
    assert list(Meeting.objects.all()) == [meeting]
    request.refresh_from_db()
    assert request.claimed_by == ada


def test_it_refuses_a_claim_by_an_agent_outside_the_queue():
    ada, outsider = make_extension(), make_extension()
    request = make_request(make_queue(agents=[ada]))
    with pytest.raises(PermissionDenied):
        services.claim_meeting_request(request.pk, outsider)
    request.refresh_from_db()
    assert (request.status, request.claimed_by) == (WAITING, None)
    assert not Meeting.objects.exists()


def test_it_refuses_a_claim_of_another_extensions_personal_request():
    ada, bob = make_extension(), make_extension()
    request = make_request(ada)
    with pytest.raises(PermissionDenied):
        services.claim_meeting_request(request.pk, bob)
    assert MeetingRequest.objects.get(pk=request.pk).status == WAITING


def test_it_refuses_a_claim_of_an_expired_request():
    ada = make_extension()
    request = make_request(ada, expires_in=-1)
    with pytest.raises(services.RequestUnavailable) as excinfo:
        services.claim_meeting_request(request.pk, ada)
    assert excinfo.value.code == "expired"
    assert excinfo.value.taken_by is None
    assert not Meeting.objects.exists()
    assert services.visitor_status(MeetingRequest.objects.get(pk=request.pk))["status"] == "expired"


@pytest.mark.parametrize("status", ["expired", "cancelled", "declined"])
def test_it_refuses_a_claim_of_a_closed_request(status):
    ada = make_extension()
    request = make_request(ada, status=status)
    with pytest.raises(services.RequestUnavailable) as excinfo:
        services.claim_meeting_request(request.pk, ada)
    assert excinfo.value.code == status
    assert not Meeting.objects.exists()


# --- Ignoring ---------------------------------------------------------------------------


def test_it_declines_a_personal_request_that_its_extension_ignores(committed, events):
    ada = make_extension()
    request = make_request(ada)
    with committed():
        services.ignore_meeting_request(request.pk, ada)
    request.refresh_from_db()
    assert request.status == MeetingRequest.Status.DECLINED
    assert request.closed_at is not None
    assert events.of(request_group(request.token))[0][1]["status"] == "declined"
    assert {e for e, _b in events.of(extension_group(ada.pk))} == {"request.closed", "request.ignored"}


def test_it_declines_a_queue_request_only_once_every_available_agent_ignored_it(committed, events):
    ada, bob = make_extension(), make_extension()
    away = make_extension(available=False)
    request = make_request(make_queue(agents=[ada, bob, away]))
    with committed():
        services.ignore_meeting_request(request.pk, ada)
    request.refresh_from_db()
    assert request.status == WAITING
    assert list(request.ignored_by.all()) == [ada]
    assert request not in services.waiting_requests_for(ada)
    assert request in services.waiting_requests_for(bob)
    assert events.of(request_group(request.token)) == []
    assert [e for e, _b in events.of(extension_group(ada.pk))] == ["request.ignored"]
    assert events.of(extension_group(bob.pk)) == []
    with committed():
        services.ignore_meeting_request(request.pk, bob)
    request.refresh_from_db()
    assert request.status == MeetingRequest.Status.DECLINED
    assert events.of(request_group(request.token))[-1][1]["status"] == "declined"


def test_it_refuses_to_ignore_a_taken_request_or_someone_elses():
    ada, bob, outsider = make_extension(display_name="Ada"), make_extension(), make_extension()
    request = make_request(make_queue(agents=[ada, bob]))
    with pytest.raises(PermissionDenied):
        services.ignore_meeting_request(request.pk, outsider)
    services.claim_meeting_request(request.pk, ada)
    with pytest.raises(services.RequestUnavailable) as excinfo:
        services.ignore_meeting_request(request.pk, bob)
    assert (excinfo.value.code, excinfo.value.taken_by) == ("already_taken", "Ada")
    request.refresh_from_db()
    assert request.status == ACCEPTED
    assert not request.ignored_by.exists()


# --- Cancelling and expiring --------------------------------------------------------------


def test_it_cancels_a_waiting_request_and_tells_the_agents(committed, events):
    ada = make_extension()
    request = make_request(ada)
    with committed():
        services.cancel_meeting_request(request)
    request.refresh_from_db()
    assert request.status == MeetingRequest.Status.CANCELLED
    assert request.closed_at is not None
    assert events.of(request_group(request.token))[0][1]["status"] == "cancelled"
    assert [e for e, _b in events.of(extension_group(ada.pk))] == ["request.closed"]


def test_it_does_not_cancel_a_request_that_was_already_taken(committed, events):
    ada = make_extension()
    request = make_request(ada)
    stale = MeetingRequest.objects.get(pk=request.pk)
    services.claim_meeting_request(request.pk, ada)
    with committed():
        services.cancel_meeting_request(stale)
    request.refresh_from_db()
    assert (request.status, request.claimed_by) == (ACCEPTED, ada)
    assert events.sent == []


def test_it_expires_overdue_requests_once_and_broadcasts_it(committed, events):
    ada, bob = make_extension(), make_extension()
    queue = make_queue(agents=[ada, bob])
    overdue_personal = make_request(ada, expires_in=-5)
    overdue_queue = make_request(queue, expires_in=-1)
    fresh = make_request(ada, expires_in=300)
    taken = make_request(ada, expires_in=-5, status=ACCEPTED)
    with committed():
        assert services.expire_meeting_requests() == 2
    with committed():
        assert services.expire_meeting_requests() == 0
    statuses = dict(MeetingRequest.objects.values_list("pk", "status"))
    assert statuses == {overdue_personal.pk: "expired", overdue_queue.pk: "expired", fresh.pk: WAITING, taken.pk: ACCEPTED}
    assert MeetingRequest.objects.get(pk=overdue_queue.pk).closed_at is not None
    assert [b["status"] for _e, b in events.of(request_group(overdue_personal.token))] == ["expired"]
    assert [b["status"] for _e, b in events.of(request_group(overdue_queue.token))] == ["expired"]
    assert events.of(request_group(fresh.token)) == []
    closed_for_bob = [b["id"] for e, b in events.of(extension_group(bob.pk)) if e == "request.closed"]
    assert closed_for_bob == [overdue_queue.pk]
    assert len(events.sent) == 2 + 1 + 2  # two visitor pages, one agent for ada's request, two agents for the queue


def test_it_expires_with_an_explicit_clock():
    ada = make_extension()
    request = make_request(ada, expires_in=60)
    assert services.expire_meeting_requests(now=timezone.now()) == 0
    assert services.expire_meeting_requests(now=timezone.now() + timedelta(seconds=61)) == 1
    assert MeetingRequest.objects.get(pk=request.pk).status == "expired"


# --- What agents and visitors see ---------------------------------------------------------


def test_it_lists_the_waiting_requests_an_agent_can_answer_newest_first():
    ada, bob = make_extension(), make_extension()
    queue = make_queue(agents=[ada, bob])
    other_queue = make_queue(agents=[bob])
    personal = make_request(ada)
    queued = make_request(queue)
    make_request(bob)
    make_request(other_queue)
    make_request(ada, expires_in=-1)
    make_request(ada, status=ACCEPTED)
    ignored = make_request(queue)
    ignored.ignored_by.add(ada)
    MeetingRequest.objects.filter(pk=personal.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    assert list(services.waiting_requests_for(ada)) == [queued, personal]
    assert set(services.waiting_requests_for(bob)) >= {queued, ignored}


def _closed(request, status, *, ago_minutes: int, by=None):
    at = timezone.now() - timedelta(minutes=ago_minutes)
    MeetingRequest.objects.filter(pk=request.pk).update(status=status, closed_at=at, claimed_by=by)
    return request


def test_it_lists_the_requests_that_stopped_waiting_for_an_agent_in_the_last_day_latest_first():
    ada, bob = make_extension(display_name="Ada"), make_extension(display_name="Bob")
    queue = make_queue(agents=[ada, bob])
    taken = _closed(make_request(queue), ACCEPTED, ago_minutes=5, by=bob)
    expired = _closed(make_request(ada), MeetingRequest.Status.EXPIRED, ago_minutes=30)
    _closed(make_request(bob), MeetingRequest.Status.DECLINED, ago_minutes=1)  # not Ada's
    _closed(make_request(ada), MeetingRequest.Status.CANCELLED, ago_minutes=25 * 60)  # too old
    make_request(queue)  # still waiting
    assert services.recent_requests_for(ada) == [taken, expired]
    payload = services.request_payload(MeetingRequest.objects.get(pk=taken.pk))
    assert (payload["taken_by"], payload["taken_by_id"]) == ("Bob", bob.pk)
    assert payload["closed_at"] == MeetingRequest.objects.get(pk=taken.pk).closed_at.isoformat()


def test_it_keeps_the_history_to_the_latest_few_and_leaves_out_shared_room_visitors(committed, ip):
    ada = make_extension()
    for minutes in range(services.RECENT_REQUESTS_SHOWN + 2):
        _closed(make_request(ada), MeetingRequest.Status.EXPIRED, ago_minutes=minutes + 1)
    shared = make_extension(room_type=RoomType.SHARED)
    with committed():
        _request(shared, ip)  # straight into the extension's room: nobody had to answer
    assert len(services.recent_requests_for(ada)) == services.RECENT_REQUESTS_SHOWN
    assert services.recent_requests_for(shared) == []


def test_it_shows_a_waiting_visitor_only_status_and_expiry():
    request = make_request(make_extension())
    assert services.visitor_status(request) == {"status": "waiting", "expires_at": request.expires_at.isoformat()}
