"""The organizers' live poll summary, paced: at most one per run every ``INTERVAL``.

A summary is every vote so far (with the voters' names when not anonymous), and it
is computed on the one thread a web process runs its database work on. Sent after
each vote, a burst of 200 votes meant 200 summaries of up to 200 ballots each, on that
thread, queued in front of the votes themselves. Paced, the first vote of a quiet
moment is sent at once and the votes that follow within ``INTERVAL`` share one
summary sent at its end, which counts them all. Votes are written in batches
(``polls.ballot_box``), which tell the pacer of a burst once it is all written.

Per web process and event loop: each process paces the votes it received; the
organizer gets the last word whichever process sends it, since each summary is the
whole state read from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.consumers import db_call, per_event_loop
from polls import services

logger = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds: at most four summaries a second per run


class SummaryPacer:
    def __init__(self, interval: float = INTERVAL, publish: Callable[[int], Awaitable[None]] | None = None):
        self.interval = interval
        # On the sockets' database threads: with several (PostgreSQL) a summary due
        # during a burst does not wait for the batch of votes being written.
        self._publish = publish or db_call(services.publish_summary)
        self._last_sent: dict[int, float] = {}
        self._due: dict[int, asyncio.Task] = {}

    def vote_counted(self, run_id: int) -> None:
        """A vote of ``run_id`` was committed: make sure a summary that counts it goes out."""
        if run_id in self._due:
            return  # the summary already due reads the database after this commit
        loop = asyncio.get_running_loop()
        self._forget_old(loop.time())
        delay = max(0.0, self._last_sent.get(run_id, float("-inf")) + self.interval - loop.time())
        self._due[run_id] = loop.create_task(self._send_after(run_id, delay))

    async def _send_after(self, run_id: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        # Out of ``_due`` before reading: a vote committed from now on asks for another.
        del self._due[run_id]
        self._last_sent[run_id] = asyncio.get_running_loop().time()
        try:
            await self._publish(run_id)
        except Exception:
            logger.exception("Could not send the summary of poll run %s", run_id)

    def _forget_old(self, now: float) -> None:
        for run_id in [r for r, sent in self._last_sent.items() if now - sent > self.interval]:
            del self._last_sent[run_id]

    async def drain(self) -> None:
        """Wait for the summaries due (tests, shutdown)."""
        while self._due:
            await asyncio.gather(*self._due.values(), return_exceptions=True)


# This event loop's pacer (one per loop: its tasks belong to it).
pacer = per_event_loop(SummaryPacer)
