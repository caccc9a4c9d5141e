"""Room snapshots of sockets that join together, read together
(``meetings.snapshots``): with a fake read, which sockets share a read and what each
gets; through the real socket, that people who join at once all end up knowing each
other. The read itself (``services.room_snapshots``) is tested in
test_room_services.py."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from meetings.snapshots import SnapshotBox
from tests.sockets import new_guest_seat
from tests.waiting import until

TIMEOUT = 5.0


class Person:
    def __init__(self, pk: int, meeting_id: int = 1):
        self.pk = pk
        self.meeting_id = meeting_id


class Reads:
    """A fake ``room_snapshots``: ``{"self": pk}`` for everyone but ``refused`` ids.
    ``hold()`` keeps the next read waiting until ``release()``; ``failure`` fails the
    next read."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.holds: list[asyncio.Event] = []  # for the next reads, in order
        self.held: list[asyncio.Event] = []  # of reads under way
        self.refused: set[int] = set()
        self.failure: Exception | None = None

    def hold(self) -> None:
        self.holds.append(asyncio.Event())

    def release(self) -> None:
        self.held.pop(0).set()

    async def __call__(self, people):
        self.batches.append([person.pk for person in people])
        failure, self.failure = self.failure, None
        if self.holds:
            gate = self.holds.pop(0)
            self.held.append(gate)
            await asyncio.wait_for(gate.wait(), TIMEOUT)
        if failure is not None:
            raise failure
        return [PermissionDenied() if person.pk in self.refused else {"self": person.pk} for person in people]


def _within(awaitable):
    return asyncio.wait_for(awaitable, TIMEOUT)


async def test_it_reads_the_first_socket_of_a_quiet_moment_at_once_and_alone():
    reads = Reads()
    box = SnapshotBox(reads)
    assert await _within(box.snapshot(Person(1))) == {"self": 1}
    assert reads.batches == [[1]]


async def test_it_reads_the_sockets_that_ask_together_in_one_read():
    reads = Reads()
    box = SnapshotBox(reads)
    results = await _within(asyncio.gather(*(box.snapshot(Person(n)) for n in (1, 2, 3))))
    assert results == [{"self": 1}, {"self": 2}, {"self": 3}]
    assert reads.batches == [[1, 2, 3]]


async def test_it_reads_the_sockets_that_ask_during_a_read_together_next_and_never_in_it():
    reads = Reads()
    box = SnapshotBox(reads)
    reads.hold()
    first = asyncio.ensure_future(box.snapshot(Person(1)))
    await until(lambda: reads.batches)
    # They asked after the first read began: it may have missed what they announced.
    later = [asyncio.ensure_future(box.snapshot(Person(n))) for n in (2, 3, 4)]
    await until(lambda: box.waiting == 3)
    assert reads.batches == [[1]]
    reads.release()
    results = await _within(asyncio.gather(first, *later))
    assert [result["self"] for result in results] == [1, 2, 3, 4]
    assert reads.batches == [[1], [2, 3, 4]]


async def test_it_caps_a_read():
    reads = Reads()
    box = SnapshotBox(reads, max_batch=2)
    reads.hold()
    asks = [asyncio.ensure_future(box.snapshot(Person(1)))]
    await until(lambda: reads.batches)
    asks += [asyncio.ensure_future(box.snapshot(Person(n))) for n in range(2, 7)]
    await until(lambda: box.waiting == 5)
    reads.release()
    await _within(asyncio.gather(*asks))
    assert reads.batches == [[1], [2, 3], [4, 5], [6]]


async def test_it_reads_each_meeting_apart_and_does_not_make_one_wait_for_another():
    reads = Reads()
    box = SnapshotBox(reads)
    reads.hold()
    held = asyncio.ensure_future(box.snapshot(Person(1, meeting_id=1)))
    await until(lambda: reads.batches)
    assert await _within(box.snapshot(Person(2, meeting_id=2))) == {"self": 2}
    assert not held.done()
    reads.release()
    assert await _within(held) == {"self": 1}


async def test_it_raises_each_sockets_refusal_to_that_socket_only():
    reads = Reads()
    reads.refused = {2}
    box = SnapshotBox(reads)
    results = await _within(asyncio.gather(*(box.snapshot(Person(n)) for n in (1, 2, 3)), return_exceptions=True))
    assert results[0] == {"self": 1} and results[2] == {"self": 3}
    assert isinstance(results[1], PermissionDenied)


async def test_it_fails_only_the_read_that_failed():
    reads = Reads()
    box = SnapshotBox(reads)
    reads.hold()
    reads.failure = ConnectionError("the database went away")
    failing = asyncio.ensure_future(box.snapshot(Person(1)))
    await until(lambda: reads.batches)
    later = asyncio.ensure_future(box.snapshot(Person(2)))
    await until(lambda: box.waiting == 1)
    reads.release()
    with pytest.raises(ConnectionError):
        await _within(failing)
    assert await _within(later) == {"self": 2}


async def test_a_socket_that_goes_away_while_waiting_leaves_the_others_theirs():
    reads = Reads()
    box = SnapshotBox(reads)
    reads.hold()
    first = asyncio.ensure_future(box.snapshot(Person(1)))
    await until(lambda: reads.batches)
    gone, staying = asyncio.ensure_future(box.snapshot(Person(2))), asyncio.ensure_future(box.snapshot(Person(3)))
    await until(lambda: box.waiting == 2)
    gone.cancel()
    reads.release()
    assert await _within(staying) == {"self": 3}
    assert await _within(first) == {"self": 1}
    assert reads.batches == [[1], [2, 3]]


# --- Through the room socket ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_it_lets_people_who_join_at_once_all_see_each_other_online(sockets, room):
    guests = [await database_sync_to_async(new_guest_seat)(room.meeting, f"Guest {n}") for n in range(6)]
    seats = [room.creator, room.participant, *guests]
    opened = await _within(asyncio.gather(*(sockets.open(room, seat) for seat in seats)))
    everyone = {seat.id for seat in seats}
    for seat, socket in zip(seats, opened, strict=True):
        snapshot = socket.first["body"]
        assert snapshot["self"]["id"] == seat.id
        online = {p["id"] for p in snapshot["participants"] if p["connection"] == "online"}
        # Whoever was not online in the snapshot is announced once they are.
        for other in everyone - online - {seat.id}:
            await socket.until_online(other)
