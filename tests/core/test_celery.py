"""A real Celery worker process and a real Redis: request e-mail, in-app
notification, and no mail lost or doubled when the worker or the broker fails."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from config.asgi import application
from core import tasks
from core.layers import RedisChannelLayer
from core.models import OutboundEmail
from rooms import services
from tests.factories import make_extension

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

DELIVERY_TIMEOUT = 30.0


def deliveries(outbox: Path, email: OutboundEmail) -> int:
    """How many times the file backend wrote this message (by its Message-ID)."""
    return sum(path.read_text(errors="replace").count(f"Message-ID: {email.message_id}") for path in outbox.glob("*.log"))


def delivered_text(outbox: Path, email: OutboundEmail) -> str:
    return "\n".join(text for path in outbox.glob("*.log") if email.message_id in (text := path.read_text(errors="replace")))


def sent_email(outbox: Path, **lookup) -> OutboundEmail:
    """Wait until the worker marked the mail sent and its file is there."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        email = OutboundEmail.objects.filter(**lookup).first()
        if email is not None and email.status == OutboundEmail.Status.SENT and deliveries(outbox, email):
            return email
        if time.monotonic() > deadline:
            state = f"{email.status}, attempts {email.attempts}, {email.last_error!r}" if email else "no row"
            pytest.fail(f"the mail {lookup} was not delivered within {DELIVERY_TIMEOUT:.0f} s ({state})")
        time.sleep(0.05)


def visitor_request(agent, *, name="Vera Visitor", email="vera@example.org"):
    return services.create_meeting_request(target=agent, name=name, email=email, session_key="visitor-session", ip="203.0.113.9")


@pytest.fixture
def agent():
    return make_extension(display_name="Grace Hopper", email="grace@example.com")


@pytest.fixture
def agent_session_cookie(agent, client) -> str:
    client.force_login(agent.user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_it_mails_the_agent_through_the_worker_and_notifies_the_web_client_through_redis(
    celery_worker, live_env, agent, agent_session_cookie
):
    assert isinstance(get_channel_layer(), RedisChannelLayer)
    socket = WebsocketCommunicator(
        application,
        "/ws/client/",
        headers=[(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1"), (b"cookie", agent_session_cookie.encode())],
    )
    connected, _code = await socket.connect(timeout=10)
    assert connected
    try:
        snapshot = await socket.receive_json_from(timeout=10)
        assert snapshot == {"type": "requests.snapshot", "id": None, "body": {"requests": [], "recent": []}}

        request = await database_sync_to_async(visitor_request)(agent)

        event = await socket.receive_json_from(timeout=10)
        assert event["type"] == "request.created"
        assert event["body"]["id"] == request.pk
        assert event["body"]["visitor_name"] == "Vera Visitor"
    finally:
        await socket.disconnect()

    email = await database_sync_to_async(sent_email)(live_env.outbox, kind="meeting_request", to="grace@example.com")
    text = delivered_text(live_env.outbox, email)
    assert "To: grace@example.com" in text
    assert "Vera Visitor" in text
    assert settings.PARLEY_BASE_URL + reverse("client") in text
    assert deliveries(live_env.outbox, email) == 1


def test_it_delivers_a_mail_exactly_once_after_a_worker_was_killed(start_celery_worker, live_env, agent):
    first = start_celery_worker()
    first.kill()
    # Queued while no worker runs: it waits in Redis for the next one.
    request = visitor_request(agent)
    second = start_celery_worker()

    email = sent_email(live_env.outbox, kind="meeting_request", key=f"request:{request.pk}:agent:{agent.pk}")
    second.wait_for_line("succeeded")
    assert deliveries(live_env.outbox, email) == 1
    assert not first.alive()


def test_it_sends_a_mail_that_could_not_be_enqueued_when_the_sweep_runs(celery_worker, live_env, agent, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.send_email, "delay", broker_down)
    request = visitor_request(agent)
    email = OutboundEmail.objects.get(key=f"request:{request.pk}:agent:{agent.pk}")
    assert email.status == OutboundEmail.Status.PENDING
    monkeypatch.undo()

    # The sweep leaves mails younger than a minute to their own task.
    OutboundEmail.objects.filter(pk=email.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    tasks.resend_stalled_emails.delay()

    email = sent_email(live_env.outbox, pk=email.pk)
    celery_worker.wait_for_line("succeeded", occurrences=2)  # the sweep, then the send it enqueued
    assert deliveries(live_env.outbox, email) == 1
    assert email.attempts == 1
