"""Home, login pages, Click2Meet, the visitor's waiting page, health and the outbox."""

from __future__ import annotations

import ipaddress
import itertools
import json

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core.models import OutboundEmail
from meetings.models import Participant, RoomType
from rooms.models import MeetingRequest
from tests.factories import PASSWORD, make_extension, make_meeting, make_queue, make_request, make_user

pytestmark = pytest.mark.django_db

_addresses = itertools.count(1)


@pytest.fixture
def ip():
    """The visitor's address (the rate limit counts per address)."""
    return f"198.51.100.{next(_addresses) % 250 + 1}"


@pytest.fixture
def agent():
    return make_extension("nikola", display_name="Nikola Tesla")


def _request(client, slug, ip, *, forwarded_for: str | None = None, **data):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return client.post(
        reverse("click2meet", args=[slug]), {"name": "Vera Visitor", "email": "vera@example.org", **data}, REMOTE_ADDR=ip, **headers
    )


# --- Home and the login pages ---------------------------------------------------------


def test_it_sends_home_visitors_where_they_belong(client, agent):
    assert client.get(reverse("home"))["Location"] == reverse("login")
    client.force_login(agent.user)
    assert client.get(reverse("home"))["Location"] == reverse("client")
    staff = Client()
    staff.force_login(make_user(is_staff=True))
    assert staff.get(reverse("home"))["Location"] == reverse("admin:index")


def test_it_renders_the_login_page_and_logs_in_to_the_client(client, agent):
    page = client.get(reverse("login"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="username"' in html and 'name="password"' in html and 'type="submit"' in html
    assert reverse("javascript-catalog") in html and reverse("set_language") in html
    response = client.post(reverse("login"), {"username": agent.user.username, "password": PASSWORD})
    assert response["Location"] == reverse("client")


def test_it_shows_login_errors(client, agent):
    response = client.post(reverse("login"), {"username": agent.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_it_lets_a_new_extension_choose_a_password_from_the_welcome_link(client, agent):
    uid = urlsafe_base64_encode(force_bytes(agent.user.pk))
    url = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(agent.user)})
    form_page = client.get(url, follow=True)
    assert 'name="new_password1"' in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a much better secret 42", "new_password2": "a much better secret 42"},
        follow=True,
    )
    assert "Your password is saved" in done.content.decode()
    agent.user.refresh_from_db()
    assert agent.user.check_password("a much better secret 42")
    broken = client.get(reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": "bad-token"}))
    assert "This link no longer works" in broken.content.decode()


def test_it_shows_the_staff_links_in_the_user_menu(client, settings):
    settings.PARLEY_OUTBOX_PAGE = True
    staff = make_extension(is_staff=True)
    client.force_login(staff.user)
    html = client.get(reverse("client")).content.decode()
    assert reverse("admin:index") in html and reverse("outbox") in html and reverse("logout") in html
    plain = Client()
    plain.force_login(make_extension().user)
    html = plain.get(reverse("client")).content.decode()
    assert reverse("admin:index") not in html and reverse("outbox") not in html


# --- Click2Meet -----------------------------------------------------------------------


def test_it_shows_the_click2meet_page_of_an_extension(client, agent):
    response = client.get("/nikola")  # the URL without the trailing slash works too
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nikola Tesla" in html
    assert 'id="request-form"' in html and 'id="request-submit"' in html and "csrfmiddlewaretoken" in html


def test_it_answers_404_for_an_unknown_slug(client):
    assert client.get(reverse("click2meet", args=["nobody-here"])).status_code == 404


def test_it_says_an_unavailable_extension_cannot_be_reached_and_takes_no_request(client, ip):
    away = make_extension("away", display_name="Ada Away", available=False)
    page = client.get(reverse("click2meet", args=[away.slug]))
    assert "Ada Away is not available right now." in page.content.decode()
    assert 'id="request-form"' not in page.content.decode()
    assert _request(client, away.slug, ip).status_code == 409
    assert not MeetingRequest.objects.exists() and not OutboundEmail.objects.exists()


def test_it_says_when_nobody_of_a_queue_is_available(client):
    queue = make_queue([make_extension(available=False)], slug="support", name="Support")
    page = client.get(reverse("click2meet", args=["support"]))
    assert "Nobody from Support is available right now." in page.content.decode()
    assert 'id="request-form"' not in page.content.decode()
    assert queue.requests.count() == 0


def test_it_sends_a_request_and_shows_the_waiting_page(client, agent, ip):
    response = _request(client, agent.slug, ip, name="  Vera Visitor  ")
    meeting_request = MeetingRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("request_status", args=[meeting_request.token])
    assert (meeting_request.visitor_name, meeting_request.visitor_ip, meeting_request.extension) == ("Vera Visitor", ip, agent)
    assert meeting_request.visitor_session == client.session.session_key
    assert OutboundEmail.objects.get(kind="meeting_request").to == agent.email
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="request-status"' in html and 'data-status="waiting"' in html
    assert reverse("request_cancel", args=[meeting_request.token]) in html


def test_it_notifies_every_available_agent_of_a_queue(client, ip):
    agents = [make_extension(), make_extension(), make_extension(available=False)]
    make_queue(agents, slug="sales", name="Sales")
    assert _request(client, "sales", ip).status_code == 302
    assert sorted(OutboundEmail.objects.values_list("to", flat=True)) == sorted([agents[0].email, agents[1].email])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": ""}, "Please give your name."),
        ({"name": "    "}, "Please give your name."),
        ({"name": "x" * 101}, "Ensure this value has at most 100 characters"),
        ({"email": ""}, "Please give your e-mail address."),
        ({"email": "vera@"}, "Enter a valid e-mail address"),
        ({"email": "not an address"}, "Enter a valid e-mail address"),
    ],
)
def test_it_shows_the_errors_of_the_request_form_and_sends_nothing(client, agent, ip, data, error):
    response = _request(client, agent.slug, ip, **data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert 'id="request-form"' in response.content.decode()
    assert not MeetingRequest.objects.exists() and not OutboundEmail.objects.exists()


def test_it_refuses_a_request_without_csrf_token(agent, ip):
    strict = Client(enforce_csrf_checks=True)
    assert _request(strict, agent.slug, ip).status_code == 403
    assert not MeetingRequest.objects.exists()


def test_it_answers_429_after_too_many_requests_from_one_address(client, agent, ip, settings):
    settings.PARLEY_REQUEST_RATE_LIMIT = 3
    settings.PARLEY_REQUEST_RATE_WINDOW = 600
    for _ in range(3):
        assert _request(client, agent.slug, ip).status_code == 302
    mails = OutboundEmail.objects.count()
    response = _request(client, agent.slug, ip)
    assert response.status_code == 429
    assert "Too many requests from your address; try again in 10 minutes." in response.content.decode()
    assert response["Retry-After"] == "600"
    assert OutboundEmail.objects.count() == mails == 3
    assert MeetingRequest.objects.count() == 3
    assert _request(Client(), agent.slug, "203.0.113.99").status_code == 302  # other addresses still get through


PROXY = "10.0.0.2"  # the TLS proxy in front of the web server


@pytest.fixture
def behind_proxy(settings):
    """Parley behind PROXY and, in front of it, a second proxy in 10.1.0.0/16."""
    settings.PARLEY_TRUSTED_PROXIES = [ipaddress.ip_network(PROXY), ipaddress.ip_network("10.1.0.0/16")]
    settings.PARLEY_REQUEST_RATE_LIMIT = 1


def _visitor_ips() -> list[str]:
    return list(MeetingRequest.objects.order_by("pk").values_list("visitor_ip", flat=True))


@pytest.mark.usefixtures("behind_proxy")
def test_it_counts_visitors_behind_a_trusted_proxy_apart(agent):
    assert _request(Client(), agent.slug, PROXY, forwarded_for="203.0.113.10").status_code == 302
    assert _request(Client(), agent.slug, PROXY, forwarded_for="203.0.113.11").status_code == 302  # someone else
    assert _request(Client(), agent.slug, PROXY, forwarded_for="203.0.113.10").status_code == 429  # the first again
    assert _visitor_ips() == ["203.0.113.10", "203.0.113.11"]


@pytest.mark.usefixtures("behind_proxy")
def test_it_believes_x_forwarded_for_only_from_a_trusted_proxy(agent):
    # A visitor reaching the web server directly forges the header: counted under its own address.
    assert _request(Client(), agent.slug, "198.51.100.9", forwarded_for="203.0.113.10").status_code == 302
    assert _request(Client(), agent.slug, "198.51.100.9", forwarded_for="203.0.113.12").status_code == 429
    # The same header through the proxy names the client.
    assert _request(Client(), agent.slug, PROXY, forwarded_for="203.0.113.10").status_code == 302
    assert _visitor_ips() == ["198.51.100.9", "203.0.113.10"]


@pytest.mark.usefixtures("behind_proxy")
def test_it_takes_the_client_from_the_right_of_a_chain_of_proxies(agent):
    # "forged, client, proxy2": the visitor wrote the first entry, proxy2 (trusted) saw the client.
    for forged in ("198.51.100.66", "198.51.100.67"):
        response = _request(Client(), agent.slug, PROXY, forwarded_for=f"{forged}, 203.0.113.10, 10.1.0.5")
    assert response.status_code == 429  # the second forged address changed nothing
    assert _visitor_ips() == ["203.0.113.10"]


@pytest.mark.usefixtures("behind_proxy")
def test_it_handles_malformed_x_forwarded_for_sanely(agent, settings):
    settings.PARLEY_REQUEST_RATE_LIMIT = 10
    cases = [
        ("unknown", PROXY),  # the client cannot be told: counted under the proxy that said so
        ("203.0.113.10, garbage", PROXY),
        ("garbage, 203.0.113.11", "203.0.113.11"),
        ("203.0.113.12:4711", "203.0.113.12"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("", PROXY),
    ]
    for forwarded, _client in cases:
        assert _request(Client(), agent.slug, PROXY, forwarded_for=forwarded).status_code == 302, forwarded
    assert _visitor_ips() == [client for _forwarded, client in cases]


@pytest.mark.usefixtures("fixed_signing_time")  # the link is made twice, compared
def test_it_sends_a_visitor_of_a_shared_room_straight_to_the_join_page(client, ip):
    host = make_extension("shared-sam", display_name="Sam Shared", room_type=RoomType.SHARED)
    response = client.get(_request(client, host.slug, ip)["Location"])
    meeting_request = MeetingRequest.objects.get()
    assert meeting_request.status == MeetingRequest.Status.ACCEPTED
    html = response.content.decode()
    assert 'data-status="accepted"' in html
    join_url = json.loads(client.get(reverse("request_status", args=[meeting_request.token]), {"format": "json"}).content)["join_url"]
    assert f'data-join-url="{join_url}"' in html
    join = client.get(join_url)
    assert join.status_code == 200 and 'value="Vera Visitor"' in join.content.decode()
    assert client.post(join_url.split("?")[0], {"name": "Vera Visitor", "invite": join_url.split("invite=")[1]}).status_code == 302
    assert Participant.objects.get(meeting__owner=host.user).role == "participant"


# --- The visitor's waiting page -------------------------------------------------------


def test_it_shows_a_request_only_to_the_session_that_made_it(client, agent, ip):
    _request(client, agent.slug, ip)
    meeting_request = MeetingRequest.objects.get()
    url = reverse("request_status", args=[meeting_request.token])
    assert client.get(url).status_code == 200
    stranger = Client()
    assert stranger.get(url).status_code == 404
    assert stranger.get(url, {"format": "json"}).status_code == 404
    assert stranger.post(reverse("request_cancel", args=[meeting_request.token])).status_code == 404
    meeting_request.refresh_from_db()
    assert meeting_request.status == MeetingRequest.Status.WAITING


def test_it_answers_the_status_as_json_for_polling(client, agent, ip):
    _request(client, agent.slug, ip)
    meeting_request = MeetingRequest.objects.get()
    response = client.get(reverse("request_status", args=[meeting_request.token]), {"format": "json"})
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "waiting" and body["expires_at"] == meeting_request.expires_at.isoformat()
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_it_reports_an_overdue_request_as_expired(client, agent):
    session = client.session
    session.save()
    overdue = make_request(agent, session_key=session.session_key, expires_in=-1)
    page = client.get(reverse("request_status", args=[overdue.token]))
    assert 'data-status="expired"' in page.content.decode()
    assert "Nobody answered in time" in page.content.decode()


def test_it_cancels_a_waiting_request(client, agent, ip):
    _request(client, agent.slug, ip)
    meeting_request = MeetingRequest.objects.get()
    response = client.post(reverse("request_cancel", args=[meeting_request.token]), follow=True)
    meeting_request.refresh_from_db()
    assert meeting_request.status == MeetingRequest.Status.CANCELLED
    assert 'data-status="cancelled"' in response.content.decode()
    assert client.get(reverse("request_cancel", args=[meeting_request.token])).status_code == 405


# --- Health ---------------------------------------------------------------------------


def test_it_reports_health_without_redis_configured(client, settings):
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json() | {"version": None} == {
        "status": "ok",
        "database": "ok",
        "redis": "not_configured",
        "channel_layer": "in_memory",
        "version": None,
    }


def test_it_reports_503_when_redis_is_unreachable(client, redis_down):
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert (body["database"], body["redis"], body["channel_layer"], body["status"]) == ("ok", "unavailable", "unavailable", "degraded")


def test_it_reports_503_when_the_database_fails(client, settings, monkeypatch):
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr("core.views.connection.cursor", broken_cursor)
    response = client.get(reverse("health"))
    assert response.status_code == 503 and response.json()["database"] == "error"


def test_it_renders_the_pages_with_redis_unreachable(client, agent, ip, redis_down, django_capture_on_commit_callbacks):
    assert client.get(reverse("click2meet", args=[agent.slug])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = _request(client, agent.slug, ip)
    assert response.status_code == 302
    meeting_request = MeetingRequest.objects.get()
    assert client.get(response["Location"]).status_code == 200
    assert client.get(response["Location"], {"format": "json"}).json()["status"] == "waiting"
    owner = Client()
    owner.force_login(agent.user)
    assert f'data-request-id="{meeting_request.pk}"' in owner.get(reverse("client")).content.decode()
    meeting = make_meeting(agent, room_type=RoomType.SHARED)
    assert client.get(reverse("meeting_join", args=[meeting.public_id])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("meeting_join", args=[meeting.public_id]), {"name": "Vera"}).status_code == 302
    assert client.get(reverse("meeting_room", args=[meeting.public_id])).status_code == 200


# --- The developer outbox -------------------------------------------------------------


@pytest.fixture
def email():
    return OutboundEmail.objects.create(
        key="test:1",
        kind="invitation",
        to="ada@example.org",
        subject="You are invited",
        body_text="Join here: http://testserver/m/abc/?invite=x",
        body_html='<p>Hello <a href="http://testserver/m/abc/">join</a> "quoted" &amp; more</p>',
    )


def test_it_shows_the_outbox_to_staff_only(client, settings, email):
    settings.PARLEY_OUTBOX_PAGE = True
    url = reverse("outbox")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(make_user())
    assert client.get(url).status_code == 403
    staff = Client()
    staff.force_login(make_user(is_staff=True))
    page = staff.get(url)
    assert page.status_code == 200
    assert "ada@example.org" in page.content.decode() and "You are invited" in page.content.decode()


def test_it_hides_the_outbox_when_it_is_turned_off(settings, email):
    settings.PARLEY_OUTBOX_PAGE = False
    staff = Client()
    staff.force_login(make_user(is_staff=True))
    assert staff.get(reverse("outbox")).status_code == 404
    assert staff.get(reverse("outbox_message", args=[email.pk])).status_code == 404


def test_it_shows_one_message_in_a_sandboxed_frame(settings, email):
    settings.PARLEY_OUTBOX_PAGE = True
    staff = Client()
    staff.force_login(make_user(is_staff=True))
    html = staff.get(reverse("outbox_message", args=[email.pk])).content.decode()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in html
    # The HTML is escaped into the srcdoc attribute, never injected into the page.
    assert 'srcdoc="&lt;base target=&quot;_blank&quot;&gt;&lt;p&gt;Hello &lt;a href=&quot;http://testserver/m/abc/&quot;&gt;' in html
    assert "&amp;quot;quoted&amp;quot;" not in html and "&quot;quoted&quot; &amp;amp; more" in html
    assert '<a href="http://testserver/m/abc/?invite=x"' in html  # the text version's link is clickable
    assert staff.get(reverse("outbox_message", args=[email.pk + 1000])).status_code == 404
