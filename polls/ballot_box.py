"""Poll votes that arrive together are written together (``services.vote_many``).

One vote at a time, each its own transaction and its own hop to the database thread,
a burst of 200 votes was taken in at about 120 a second. Here the first vote of a
quiet moment is written at once (no added wait when alone); the votes that arrive
while a batch is being written make the next batch, up to ``MAX_BATCH``. Each caller
gets its own result: its ballot, or its own refusal raised, as ``services.vote``
does. The ack goes only once the batch is committed.

Per web process and event loop, as ``polls.live_summary``: the database keeps the
counts exact whichever process wrote a vote (its row locks and the ballots' unique
constraint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from core.consumers import db_call, per_event_loop
from meetings.models import Participant
from polls import live_summary, services
from polls.models import Ballot

logger = logging.getLogger(__name__)

MAX_BATCH = 200

Write = Callable[[Sequence[services.VoteRequest]], Awaitable[list[Ballot | Exception]]]


class BallotBox:
    def __init__(self, write: Write | None = None, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        # On the sockets' database threads (one batch at a time per loop, so one
        # connection at a time).
        self._write = write or db_call(services.vote_many)
        self._waiting: list[tuple[services.VoteRequest, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None
        # Runs with committed votes the summary's pacer was not told of yet, and since when.
        self._untold: dict[int, float] = {}

    @property
    def waiting(self) -> int:
        """Votes waiting for the batch being written to end."""
        return len(self._waiting)

    async def cast(self, participant: Participant, run_id: object, answers: object) -> Ballot:
        """The caller's vote, written with those that came with it; its ballot, or its refusal raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._waiting.append((services.VoteRequest(participant, run_id, answers), future))
        if self._writer is None:
            # Starts on the loop's next turn: the votes read meanwhile join this first batch.
            self._writer = loop.create_task(self._write_all())
        # A caller that goes away (its socket closed) does not take its vote back: it
        # is in the batch; only its result is dropped.
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                try:
                    results: list[Ballot | Exception] = await self._write([request for request, _future in batch])
                except Exception as error:  # the write itself failed (the database is down…)
                    logger.exception("Could not write %d poll votes", len(batch))
                    results = [error] * len(batch)
                for (_request, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                self._tell_pacer({result.run_id for result in results if isinstance(result, Ballot)})
        finally:
            self._writer = None
            self._tell_pacer(set(), flush=True)

    def _tell_pacer(self, counted: set[int], *, flush: bool = False) -> None:
        """The organizers' summary counts a burst once it is all written: a run with
        votes still waiting here is told with their batch (one summary then counts the
        burst, rather than one for the first batch and the next a pacer's interval
        later), but no later than ``live_summary.INTERVAL`` after its first untold vote."""
        now = asyncio.get_running_loop().time()
        for run_id in counted:
            self._untold.setdefault(run_id, now)
        still_coming = set() if flush else {r.run_id for r, _future in self._waiting if isinstance(r.run_id, int)}
        for run_id, since in list(self._untold.items()):
            if run_id not in still_coming or now - since >= live_summary.INTERVAL:
                del self._untold[run_id]
                live_summary.pacer().vote_counted(run_id)


# This event loop's ballot box (one per loop: its tasks and futures belong to it).
box = per_event_loop(BallotBox)


async def cast(participant: Participant, run_id: object, answers: object) -> Ballot:
    """``poll.vote``: this loop's ``BallotBox.cast``."""
    return await box().cast(participant, run_id, answers)
