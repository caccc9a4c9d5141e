"""The pacing of the organizers' live poll summary (``polls.live_summary``)."""

from __future__ import annotations

import asyncio

from polls.live_summary import SummaryPacer, pacer

INTERVAL = 0.2


class Published:
    """A fake ``publish_summary`` that records when each run's summary went out and
    how many votes had been counted by then."""

    def __init__(self):
        self.votes: dict[int, int] = {}
        self.sent: list[tuple[int, int, float]] = []  # (run, votes counted, loop time)

    def count(self, run_id: int) -> None:
        self.votes[run_id] = self.votes.get(run_id, 0) + 1

    async def __call__(self, run_id: int) -> None:
        self.sent.append((run_id, self.votes.get(run_id, 0), asyncio.get_running_loop().time()))


async def test_it_sends_the_first_vote_of_a_quiet_moment_at_once():
    published = Published()
    paced = SummaryPacer(INTERVAL, published)
    started = asyncio.get_running_loop().time()
    published.count(1)
    paced.vote_counted(1)
    await paced.drain()
    [(run_id, counted, at)] = published.sent
    assert (run_id, counted) == (1, 1)
    assert at - started < INTERVAL / 2


async def test_it_sends_one_summary_counting_a_whole_burst_at_the_end_of_the_interval():
    published = Published()
    paced = SummaryPacer(INTERVAL, published)
    published.count(1)
    paced.vote_counted(1)
    await paced.drain()
    for _ in range(50):
        published.count(1)
        paced.vote_counted(1)
    await paced.drain()
    assert [(run, counted) for run, counted, _at in published.sent] == [(1, 1), (1, 51)]
    assert published.sent[1][2] - published.sent[0][2] >= INTERVAL * 0.9


async def test_it_paces_each_run_on_its_own():
    published = Published()
    paced = SummaryPacer(INTERVAL, published)
    for run_id in (1, 2, 1, 2):
        published.count(run_id)
        paced.vote_counted(run_id)
    await paced.drain()
    assert sorted((run, counted) for run, counted, _at in published.sent) == [(1, 2), (2, 2)]


async def test_it_asks_for_another_summary_for_a_vote_counted_while_one_is_being_read():
    published = Published()
    reading = asyncio.Event()
    release = asyncio.Event()

    async def slow_publish(run_id: int) -> None:
        counted = published.votes[run_id]  # what the database said when the read began
        reading.set()
        await release.wait()
        published.sent.append((run_id, counted, asyncio.get_running_loop().time()))

    paced = SummaryPacer(INTERVAL, slow_publish)
    published.count(1)
    paced.vote_counted(1)
    await reading.wait()
    published.count(1)  # committed after the summary being read began
    paced.vote_counted(1)
    release.set()
    await paced.drain()
    assert [counted for _run, counted, _at in published.sent] == [1, 2]


async def test_it_keeps_pacing_after_a_failed_send():
    calls: list[int] = []

    async def failing(run_id: int) -> None:
        calls.append(run_id)
        raise RuntimeError("database gone")

    paced = SummaryPacer(0.01, failing)
    paced.vote_counted(7)
    await paced.drain()
    paced.vote_counted(7)
    await paced.drain()
    assert calls == [7, 7]


async def test_it_gives_each_event_loop_its_own_pacer():
    here = pacer()
    assert pacer() is here
    elsewhere = await asyncio.to_thread(lambda: asyncio.run(_pacer_of_a_new_loop()))
    assert elsewhere is not here


async def _pacer_of_a_new_loop() -> SummaryPacer:
    return pacer()
