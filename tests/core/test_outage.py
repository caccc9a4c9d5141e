"""Redis in trouble (core.outage): noticed once, publishes from requests and tasks are
skipped for a moment instead of each waiting for a hung Redis; /health/ tells a Redis
that hangs from one that is down."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from django.urls import reverse
from kombu.exceptions import OperationalError

from config.celery import app as celery_app
from core import outage, realtime
from core.tasks import send_email

pytestmark = pytest.mark.django_db


def test_it_remembers_a_redis_failure_for_a_moment(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(outage.time, "monotonic", lambda: clock[0])
    outage.noticed(ValueError("a bug, not Redis"))
    assert not outage.redis_in_trouble()
    outage.noticed(redis.exceptions.TimeoutError("Timeout reading"))
    assert outage.redis_in_trouble()
    clock[0] += outage.HOLD_SECONDS + 0.1
    assert not outage.redis_in_trouble()


def test_it_publishes_nothing_while_redis_is_in_trouble(monkeypatch):
    layer_used = []
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: layer_used.append(True))
    outage.noticed(redis.exceptions.ConnectionError("refused"))
    assert realtime.send_now("meeting-x", {"type": "parley.event", "event": "chat.message", "body": {}}) is False
    assert layer_used == []


def test_it_notices_a_publish_that_fails(monkeypatch):
    class Hung:
        async def group_send(self, group, message):
            raise redis.exceptions.TimeoutError("Timeout reading from redis")

    monkeypatch.setattr(realtime, "get_channel_layer", Hung)
    assert realtime.send_now("meeting-x", {"type": "parley.event", "event": "chat.message", "body": {}}) is False
    assert outage.redis_in_trouble()


def test_it_refuses_to_queue_a_task_at_once_while_redis_is_in_trouble(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    outage.noticed(redis.exceptions.TimeoutError("Timeout reading"))
    started = time.monotonic()
    with pytest.raises(OperationalError):
        send_email.delay(1)
    assert time.monotonic() - started < 0.5


@pytest.fixture
def silent_redis():
    """A port that accepts connections (the kernel's backlog) and never answers: a
    Redis stopped with SIGSTOP looks like this."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_it_reports_a_redis_that_hangs_as_hung_within_a_couple_of_seconds(client, settings, silent_redis):
    settings.REDIS_URL = silent_redis
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "core.layers.RedisChannelLayer", "CONFIG": {"hosts": [silent_redis]}}}
    started = time.monotonic()
    response = client.get(reverse("health"))
    assert time.monotonic() - started < 2.5
    body = response.json()
    assert (response.status_code, body["redis"], body["channel_layer"], body["status"]) == (503, "hung", "hung", "degraded")
