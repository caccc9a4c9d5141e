"""The batching of poll votes (``polls.ballot_box``), with a fake ``vote_many``: which
votes are written together, what each caller gets, when the summary's pacer hears of
them. The real writes are in test_services.py and, through sockets, test_room.py."""

from __future__ import annotations

import asyncio

import pytest

from polls import live_summary
from polls.ballot_box import BallotBox, box
from polls.models import Ballot
from polls.services import PollError, VoteRequest
from tests.waiting import until

TIMEOUT = 5.0


class Pacer:
    def __init__(self):
        self.told: list[int] = []

    def vote_counted(self, run_id: int) -> None:
        self.told.append(run_id)


@pytest.fixture
def pacer(monkeypatch) -> Pacer:
    fake = Pacer()
    monkeypatch.setattr(live_summary, "pacer", lambda: fake)
    return fake


class Writes:
    """A fake ``vote_many``: a ballot for every vote whose answers are "yes", else
    ``already_voted``. ``hold()`` keeps the next write waiting until ``release()``."""

    def __init__(self):
        self.batches: list[list[int]] = []  # the participant ids of each batch
        self.gates: list[asyncio.Event] = []  # the holds, in order
        self.failure: Exception | None = None

    def hold(self) -> None:
        self.gates.append(asyncio.Event())

    def release(self) -> None:
        """Let the oldest hold go."""
        next(gate for gate in self.gates if not gate.is_set()).set()

    async def __call__(self, requests: list[VoteRequest]) -> list[Ballot | Exception]:
        self.batches.append([request.participant.pk for request in requests])
        held = [gate for gate in self.gates if not gate.is_set()]
        if held:
            await asyncio.wait_for(held[0].wait(), TIMEOUT)
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        return [
            Ballot(run_id=request.run_id, participant_id=request.participant.pk)
            if request.answers == "yes"
            else PollError("already_voted", "You have already answered this poll.")
            for request in requests
        ]


class Voter:
    def __init__(self, pk: int):
        self.pk = pk


def _within(awaitable):
    return asyncio.wait_for(awaitable, TIMEOUT)


async def test_it_writes_the_first_vote_of_a_quiet_moment_at_once_and_alone(pacer):
    writes = Writes()
    ballots = BallotBox(writes)
    ballot = await _within(ballots.cast(Voter(1), 7, "yes"))
    assert (ballot.run_id, ballot.participant_id) == (7, 1)
    assert writes.batches == [[1]]
    assert pacer.told == [7]


async def test_it_writes_the_votes_that_came_during_a_write_together_next(pacer):
    writes = Writes()
    ballots = BallotBox(writes)
    writes.hold()
    first = asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))
    await until(lambda: writes.batches)
    others = [asyncio.ensure_future(ballots.cast(Voter(n), 7, "yes")) for n in range(2, 7)]
    await until(lambda: ballots.waiting == 5)
    writes.release()
    results = await _within(asyncio.gather(first, *others))
    assert [ballot.participant_id for ballot in results] == [1, 2, 3, 4, 5, 6]
    assert writes.batches == [[1], [2, 3, 4, 5, 6]]
    # One summary for the burst, once it was all written.
    assert pacer.told == [7]


async def test_it_caps_a_batch(pacer):
    writes = Writes()
    ballots = BallotBox(writes, max_batch=3)
    writes.hold()
    votes = [asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))]
    await until(lambda: writes.batches)
    votes += [asyncio.ensure_future(ballots.cast(Voter(n), 7, "yes")) for n in range(2, 9)]
    await until(lambda: ballots.waiting == 7)
    writes.release()
    await _within(asyncio.gather(*votes))
    assert writes.batches == [[1], [2, 3, 4], [5, 6, 7], [8]]


async def test_it_gives_each_caller_its_own_result(pacer):
    writes = Writes()
    ballots = BallotBox(writes)
    writes.hold()
    votes = [asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))]
    await until(lambda: writes.batches)
    votes += [asyncio.ensure_future(ballots.cast(Voter(n), 7, "yes" if n % 2 else "again")) for n in range(2, 6)]
    await until(lambda: ballots.waiting == 4)
    writes.release()
    results = await _within(asyncio.gather(*votes, return_exceptions=True))
    assert [result.participant_id if isinstance(result, Ballot) else result.code for result in results] == [
        1,
        "already_voted",
        3,
        "already_voted",
        5,
    ]


async def test_it_fails_only_the_batch_whose_write_failed(pacer):
    writes = Writes()
    ballots = BallotBox(writes)
    writes.hold()
    writes.failure = ConnectionError("the database went away")
    failing = [asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))]
    await until(lambda: writes.batches)
    later = [asyncio.ensure_future(ballots.cast(Voter(n), 7, "yes")) for n in (2, 3)]
    await until(lambda: ballots.waiting == 2)
    writes.release()
    with pytest.raises(ConnectionError):
        await _within(failing[0])
    assert [ballot.participant_id for ballot in await _within(asyncio.gather(*later))] == [2, 3]
    assert pacer.told == [7]
    # And the box goes on.
    assert (await _within(ballots.cast(Voter(4), 7, "yes"))).participant_id == 4


async def test_it_tells_the_pacer_of_a_run_at_once_when_no_vote_of_it_is_waiting(pacer):
    writes = Writes()
    ballots = BallotBox(writes)
    writes.hold()
    first = asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))
    await until(lambda: writes.batches)
    others = [asyncio.ensure_future(ballots.cast(Voter(2), 8, "yes"))]
    await until(lambda: ballots.waiting == 1)
    writes.hold()
    writes.release()  # the first batch; the second (run 8) is held
    await _within(first)
    assert pacer.told == [7]
    writes.release()
    await _within(asyncio.gather(*others))
    assert pacer.told == [7, 8]


async def test_it_tells_the_pacer_no_later_than_its_interval_while_votes_keep_coming(pacer, monkeypatch):
    monkeypatch.setattr(live_summary, "INTERVAL", 0.0)
    writes = Writes()
    ballots = BallotBox(writes)
    writes.hold()
    first = asyncio.ensure_future(ballots.cast(Voter(1), 7, "yes"))
    await until(lambda: writes.batches)
    second = asyncio.ensure_future(ballots.cast(Voter(2), 7, "yes"))
    await until(lambda: ballots.waiting == 1)
    writes.hold()
    writes.release()
    await _within(first)
    assert pacer.told == [7]  # a vote of run 7 is waiting, but the interval is over
    writes.release()
    await _within(second)
    assert pacer.told == [7, 7]


async def test_it_keeps_one_box_per_event_loop():
    assert box() is box()
    other = await asyncio.to_thread(lambda: asyncio.run(_box_of_this_loop()))
    assert other is not box()


async def _box_of_this_loop() -> BallotBox:
    return box()
