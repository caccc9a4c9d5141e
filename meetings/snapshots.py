"""Room snapshots of sockets that join together are read together
(``services.room_snapshots``).

In a join storm (a class or a town hall opening at nine) every socket read the whole
room for itself: in a 200-person room, 200 reads of up to 199 people and of every
feature's state. Here the sockets of one meeting that ask for their snapshot while
another read of that meeting is under way wait for it to end, then make the next read
together (up to ``MAX_BATCH``). The first socket of a quiet moment is read at once.

Each socket asks only once it is in the meeting's group (``RoomConsumer._enter_room``),
and a read begins only after all of its sockets asked: whatever changes after the read
began reaches every one of them as an event, as when each read its own.

Per web process and event loop, as ``polls.ballot_box``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from django.core.exceptions import PermissionDenied

from core.consumers import db_call, per_event_loop
from meetings import services
from meetings.models import Participant

logger = logging.getLogger(__name__)

MAX_BATCH = 200

Read = Callable[[Sequence[Participant]], Awaitable[list[dict | PermissionDenied]]]


class SnapshotBox:
    def __init__(self, read: Read | None = None, max_batch: int = MAX_BATCH):
        self.max_batch = max_batch
        # On the sockets' database threads; one read at a time per meeting.
        self._read = read or db_call(services.room_snapshots)
        self._waiting: dict[int, list[tuple[Participant, asyncio.Future]]] = {}
        self._readers: dict[int, asyncio.Task] = {}

    @property
    def waiting(self) -> int:
        """Sockets waiting for a read under way to end."""
        return sum(len(waiting) for waiting in self._waiting.values())

    async def snapshot(self, participant: Participant) -> dict:
        """The caller's ``room.snapshot``, or its ``PermissionDenied`` raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        meeting_id = participant.meeting_id
        self._waiting.setdefault(meeting_id, []).append((participant, future))
        if meeting_id not in self._readers:
            # Starts on the loop's next turn: the sockets that ask meanwhile join this read.
            self._readers[meeting_id] = loop.create_task(self._read_all(meeting_id))
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _read_all(self, meeting_id: int) -> None:
        try:
            while waiting := self._waiting.pop(meeting_id, None):
                batch, rest = waiting[: self.max_batch], waiting[self.max_batch :]
                if rest:
                    self._waiting[meeting_id] = rest
                try:
                    results: list = await self._read([participant for participant, _future in batch])
                except Exception as error:  # the read itself failed (the database is down…)
                    logger.exception("Could not read the room snapshot of %d socket(s)", len(batch))
                    results = [error] * len(batch)
                for (_participant, future), result in zip(batch, results, strict=True):
                    if not future.done():  # its socket may have closed meanwhile
                        future.set_result(result)
        finally:
            del self._readers[meeting_id]


# This event loop's snapshot box (one per loop: its tasks and futures belong to it).
box = per_event_loop(SnapshotBox)


async def room_snapshot(participant: Participant) -> dict:
    """This loop's ``SnapshotBox.snapshot``."""
    return await box().snapshot(participant)
