"""Concurrent writes of the request flow against a real database.

Each thread has its own database connection, as two web workers would; a barrier
releases them at the same moment. PostgreSQL serialises the conditional UPDATEs on
the row lock, SQLite serialises writers: either way there must be one winner.
"""

import threading

import pytest
from django.db import connection

from meetings.models import Meeting, RoomType
from rooms import services
from rooms.models import MeetingRequest
from tests.factories import make_extension, make_queue, make_request

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 20


def _together(*calls):
    """Run each call in its own thread, all released at once; return (kind, value) per call."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", call())
        except services.RequestUnavailable as exc:
            results[index] = ("unavailable", exc)
        except BaseException as exc:  # reported by the assertions below
            results[index] = ("crashed", exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a claim hung"
    return results


def test_it_gives_exactly_one_winner_when_two_agents_claim_at_once():
    ada, bob = make_extension(display_name="Ada"), make_extension(display_name="Bob")
    queue = make_queue(agents=[ada, bob])
    for round_number in range(ROUNDS):
        request = make_request(queue, name=f"Visitor {round_number}")
        agents = (ada, bob) if round_number % 2 else (bob, ada)
        results = _together(*(lambda agent=agent, pk=request.pk: services.claim_meeting_request(pk, agent) for agent in agents))
        assert not [r for r in results if r[0] == "crashed"], results
        winners = [(agent, value) for agent, (kind, value) in zip(agents, results, strict=True) if kind == "ok"]
        losers = [value for kind, value in results if kind == "unavailable"]
        assert len(winners) == 1 and len(losers) == 1, results
        (winner, meeting), loss = winners[0], losers[0]
        assert loss.code == "already_taken"
        assert loss.taken_by == winner.display_name
        assert winner.display_name in loss.message
        request.refresh_from_db()
        assert (request.status, request.claimed_by, request.meeting) == (MeetingRequest.Status.ACCEPTED, winner, meeting)
        assert meeting.owner == winner.user
        assert meeting.invitations.count() == 1
        assert Meeting.objects.count() == round_number + 1


def test_it_never_both_cancels_and_grants_a_request():
    ada = make_extension(display_name="Ada")
    for _round in range(ROUNDS):
        request = make_request(ada)
        stale = MeetingRequest.objects.get(pk=request.pk)
        results = _together(
            lambda pk=request.pk: services.claim_meeting_request(pk, ada),
            lambda stale=stale: services.cancel_meeting_request(stale),
        )
        assert not [r for r in results if r[0] == "crashed"], results
        request.refresh_from_db()
        claim_kind, claim_value = results[0]
        if claim_kind == "ok":
            assert (request.status, request.claimed_by, request.meeting) == (MeetingRequest.Status.ACCEPTED, ada, claim_value)
        else:
            assert claim_value.code == "cancelled"
            assert (request.status, request.claimed_by, request.meeting) == (MeetingRequest.Status.CANCELLED, None, None)
        assert Meeting.objects.filter(requests=request).count() == (1 if claim_kind == "ok" else 0)


def test_it_puts_two_simultaneous_visitors_of_a_shared_room_into_one_room():
    owner = make_extension(room_type=RoomType.SHARED)
    for round_number in range(5):
        results = _together(
            *(
                lambda key=f"s{round_number}-{n}": services.create_meeting_request(
                    target=owner, name="V", email="v@example.org", session_key=key, ip=None
                )
                for n in range(2)
            )
        )
        assert [kind for kind, _value in results] == ["ok", "ok"], results
        rooms = {MeetingRequest.objects.get(pk=value.pk).meeting_id for _kind, value in results}
        assert len(rooms) == 1
        assert Meeting.objects.filter(is_personal_room=True).count() == 1
