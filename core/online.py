"""Sockets that came online, announced to their room many at a time.

When 200 people open a meeting together, announcing each arrival to the room on its
own costs 19,900 frames (everyone already there hears of everyone who comes after):
work that grows with the room squared, and each socket waited behind it for its
snapshot (benchmarks/README.md, issue 14's third pass). Instead, the
first arrival in a quiet room is announced at once, and those that follow within
``WINDOW`` seconds are held and announced together when it ends: one
``participants.online`` event (``{"ids": [...]}``) per room and window, per web
process. A single arrival is never delayed; a storm is told in a few events.

Order is kept: anything this process publishes to a room after an arrival
(``core.realtime`` calls ``flush`` first) goes out after that arrival's
announcement. Someone's socket that closes right after it opened is announced online,
then reconnecting, never the other way round. (Only the process holding a socket
changes whether it is online, so no other process's event has to be waited for.)

It lives on the event loop of the web process, as the sockets do: a loop with no
sockets (a task, a management command) has nothing held and flushes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from core import outage
from core.consumers import per_event_loop

logger = logging.getLogger(__name__)

# How long arrivals that follow one another are held (seconds): short enough to read
# as "at once" on everyone's screen.
WINDOW = 0.1
EVENT = "participants.online"
# A held announcement's publish waits this long at most (as ``core.realtime``'s do).
SEND_TIMEOUT = 1.5


class Arrivals:
    """This event loop's arrivals, per group."""

    def __init__(self) -> None:
        self.held: dict[str, list[int]] = {}
        self.quiet_at: dict[str, float] = {}  # group → when its window ends
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.sending: dict[str, asyncio.Future] = {}

    async def announce(self, group: str, participant_id: int) -> None:
        loop = asyncio.get_running_loop()
        self._forget_quiet_groups(loop.time())
        if group not in self.held and group not in self.quiet_at:
            await self._send(group, [participant_id])
            return
        self.held.setdefault(group, []).append(participant_id)
        if group not in self.timers:
            when = self.quiet_at.get(group, loop.time())
            self.timers[group] = loop.call_at(when, lambda: asyncio.ensure_future(self._flush_on_time(group)))

    async def flush(self, group: str) -> None:
        """Announce what is held for ``group`` (and wait for an announcement on its
        way): called before anything else is published to it."""
        sending = self.sending.get(group)
        if sending is not None:
            await asyncio.shield(sending)
        timer = self.timers.pop(group, None)
        if timer is not None:
            timer.cancel()
        ids = self.held.pop(group, None)
        if ids:
            await self._send(group, ids)

    async def _flush_on_time(self, group: str) -> None:
        try:
            await asyncio.wait_for(self.flush(group), SEND_TIMEOUT)
        except Exception as error:  # as core.realtime.send_now: the change is committed
            outage.noticed(error)
            logger.warning("Could not announce arrivals to %s: %s", group, error)

    async def _send(self, group: str, ids: list[int]) -> None:
        loop = asyncio.get_running_loop()
        self.quiet_at[group] = loop.time() + WINDOW
        done = self.sending[group] = loop.create_future()
        try:
            await get_channel_layer().group_send(group, event_message(ids))
        finally:
            done.set_result(None)
            if self.sending.get(group) is done:
                del self.sending[group]

    def _forget_quiet_groups(self, now: float) -> None:
        for group in [group for group, at in self.quiet_at.items() if at <= now and group not in self.held]:
            del self.quiet_at[group]


def event_message(ids: list[int]) -> dict[str, Any]:
    return {"type": "parley.event", "event": EVENT, "body": {"ids": ids}}


arrivals = per_event_loop(Arrivals)


async def announce(group: str, participant_id: int) -> None:
    """``participant_id``'s socket is online (committed): tell ``group``, maybe with others."""
    await arrivals().announce(group, participant_id)


async def flush(group: str) -> None:
    await arrivals().flush(group)
