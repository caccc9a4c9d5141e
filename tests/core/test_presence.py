"""Web processes' heartbeat (core.presence): the row a process keeps alive, and which
processes count as lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core import presence
from core.models import WebProcess

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_thread(monkeypatch):
    """The first use records the process; the beating thread itself is not started."""
    started = []
    monkeypatch.setattr(presence, "_thread", None)
    monkeypatch.setattr(presence.threading, "Thread", lambda **kwargs: type("T", (), {"start": lambda self: started.append(kwargs)})())
    return started


def test_it_records_nothing_with_the_heartbeat_off(settings, no_thread):
    settings.PARLEY_WEB_HEARTBEAT_SECONDS = 0
    assert presence.this_process() == ""
    assert not WebProcess.objects.exists() and no_thread == []


def test_it_records_the_process_at_first_use_and_starts_beating_once(settings, no_thread):
    settings.PARLEY_WEB_HEARTBEAT_SECONDS = 5
    assert presence.this_process() == presence.PROCESS_NAME
    assert presence.this_process() == presence.PROCESS_NAME
    assert list(WebProcess.objects.values_list("name", flat=True)) == [presence.PROCESS_NAME]
    assert [kwargs["args"] for kwargs in no_thread] == [(5,)]


def test_it_counts_a_process_lost_after_three_missed_beats(settings):
    settings.PARLEY_WEB_HEARTBEAT_SECONDS = 5
    now = timezone.now()
    WebProcess.objects.create(name="quiet", last_seen=now - timedelta(seconds=14))
    WebProcess.objects.create(name="dead", last_seen=now - timedelta(seconds=16))
    assert [p.name for p in presence.lost_processes(now)] == ["dead"]
    settings.PARLEY_WEB_HEARTBEAT_SECONDS = 0  # off: nothing is judged
    assert presence.lost_processes(now) == []


def test_it_forgets_a_lost_process_unless_it_beat_again():
    seen = timezone.now() - timedelta(minutes=1)
    lost = WebProcess.objects.create(name="dead", last_seen=seen)
    back = WebProcess.objects.create(name="back", last_seen=seen)
    WebProcess.objects.filter(name="back").update(last_seen=timezone.now())
    presence.forget(lost)
    presence.forget(back)
    assert list(WebProcess.objects.values_list("name", flat=True)) == ["back"]
