"""Room sockets connecting while others connect or the meeting changes, against a real
PostgreSQL (``meetings.roomkit.share_meeting``).

Guests' connects share the meeting's lock, so 200 people arriving together are not
queued one behind the other; an organizer's connect (it changes whether the lobby has
an organizer) and any change of the meeting itself still exclude them. Each thread has
its own database connection, as two database threads of a web process do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core import processes
from meetings import services
from meetings.models import Participant, Role, RoomType
from meetings.roomkit import RoomError, lock_meeting, share_meeting
from tests.factories import make_extension, make_meeting, make_participant

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database for a write"),
]

WAIT = 10  # seconds: only reached when the test fails


@pytest.fixture
def meeting():
    owner = make_extension(display_name="Cora Creator", room_type=RoomType.SHARED)
    return make_meeting(owner, room_type=RoomType.SHARED)


@contextmanager
def meeting_held(lock: Callable, meeting_id: int, then: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Another connection holds the meeting with ``lock`` (as another socket's connect
    or a change of the meeting would) until the block ends, then runs ``then`` in that
    transaction and commits."""
    held, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                lock(meeting_id)
                held.set()
                release.wait(WAIT)
                then()
        except BaseException as error:  # reported below
            failure.append(error)
            held.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(WAIT) and not failure, failure
    try:
        yield
    finally:
        release.set()
        thread.join(WAIT)
    assert not failure, failure


def connect_without_waiting(person: Participant) -> None:
    """Connect, and fail at once (lock timeout) rather than wait for a lock."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")
        services.connect_participant(person, f"channel-{person.pk}")


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
        return cursor.fetchone()[0] > 0


def test_it_connects_a_guest_while_another_guests_connect_holds_the_meeting(meeting):
    guest = make_participant(meeting, session_key="guest-1", name="Gus")
    with meeting_held(share_meeting, meeting.pk):
        connect_without_waiting(guest)
    assert Participant.objects.get(pk=guest.pk).connected is True


def test_it_makes_an_organizers_connect_wait_for_the_guests_connects(meeting):
    organizer = make_participant(meeting, session_key="org-1", name="Olga", role=Role.ORGANIZER)
    with meeting_held(share_meeting, meeting.pk), pytest.raises(OperationalError, match="lock timeout"):
        connect_without_waiting(organizer)
    assert Participant.objects.get(pk=organizer.pk).connected is False


def test_it_makes_a_guests_connect_wait_for_the_meeting_to_end_then_refuses_it(meeting):
    guest = make_participant(meeting, session_key="guest-1", name="Gus")
    outcome: list[BaseException | str] = []

    def connect() -> None:
        try:
            services.connect_participant(guest, "channel-1")
            outcome.append("connected")
        except BaseException as error:
            outcome.append(error)
        finally:
            connection.close()

    def end() -> None:
        meeting.ended_at = timezone.now()
        meeting.save(update_fields=["ended_at"])

    with meeting_held(lock_meeting, meeting.pk, then=end):
        connecting = threading.Thread(target=connect)
        connecting.start()
        processes.wait_until(waiting_on_a_lock, timeout=WAIT, what="the connect waiting on the lock", alive=connecting.is_alive)
        assert outcome == []
    connecting.join(WAIT)
    [refused] = outcome
    assert isinstance(refused, RoomError) and refused.code == "ended"
    assert Participant.objects.get(pk=guest.pk).connected is False
