"""Server → browser events over the channel layer, sent only after commit.

Each app builds the names of its groups in one place (``meetings.roomkit``,
``rooms.groups``) so that its producers (services) and consumers agree on them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from core import online, outage

logger = logging.getLogger(__name__)

# A publish from a web request or a task waits this long at most (a hung Redis).
PUBLISH_TIMEOUT = 1.5


def audience_group(group: str, audience: str) -> str:
    """The sockets of ``group`` that are of one kind (e.g. organizers): they join it
    beside ``group``, so an event for a few people is not delivered to everyone."""
    return f"{group}-{audience}"


def broadcast(group: str, event_type: str, body: dict[str, Any], *, audience: str | None = None, except_channel: str = "") -> None:
    """Send ``{type, body}`` to every socket of ``group`` once the transaction commits.

    With ``audience`` (e.g. ``"organizers"``) it goes to ``audience_group(group,
    audience)`` only, and is marked so that a socket whose role just changed still
    passes it on only if it is of that kind.

    With ``except_channel``, that one socket does not pass it on. (The channel layer
    decides who is in a group when the event arrives, not when it is sent: a socket
    joining the group right after may get it.)

    A failure of the channel layer (Redis down) is logged and swallowed: the change
    is already committed, and pages read the same state from the database.
    """
    message = {"type": "parley.event", "event": event_type, "body": body}
    if audience:
        message["audience"] = audience
    if except_channel:
        message["except"] = except_channel
    transaction.on_commit(lambda: send_now(group, message))


def announce_online(group: str, participant_id: int) -> None:
    """Once the transaction commits: ``participant_id``'s socket is online. ``group``
    hears it as ``participants.online``, with the arrivals that follow closely
    (``core.online``: a storm of arrivals is told in a few events)."""
    message = {**online.event_message([participant_id]), "gather": True}
    transaction.on_commit(lambda: send_now(group, message))


def send_now(group: str, message: dict[str, Any]) -> bool:
    """Publish at once; False when the channel layer failed (or Redis failed a moment
    ago: a request does not wait for a hung Redis more than once)."""
    target = audience_group(group, message["audience"]) if message.get("audience") else group
    if outage.redis_in_trouble():
        logger.warning("Redis in trouble: %s to %s not published", message.get("event"), group)
        return False
    try:
        async_to_sync(_group_send)(group, target, message)
    except Exception as error:
        outage.noticed(error)
        logger.exception("Could not publish %s to %s: live updates are unavailable", message.get("event"), group)
        return False
    return True


async def _group_send(group: str, target: str, message: dict[str, Any]) -> None:
    """Publish ``message`` to ``target`` (``group`` or one audience of it), after the
    arrivals this process holds for ``group``; or hold it with them."""
    if message.get("gather"):
        await asyncio.wait_for(online.announce(group, message["body"]["ids"][0]), PUBLISH_TIMEOUT)
        return
    await asyncio.wait_for(online.flush(group), PUBLISH_TIMEOUT)
    await asyncio.wait_for(get_channel_layer().group_send(target, message), PUBLISH_TIMEOUT)


def send_to_channel(channel_name: str, message: dict[str, Any]) -> None:
    """Send ``message`` to one socket's channel once the transaction commits; a failure
    of the channel layer is logged and swallowed, as in ``broadcast``."""

    def send() -> None:
        if outage.redis_in_trouble():
            logger.warning("Redis in trouble: %s to channel %s not sent", message.get("type"), channel_name)
            return
        try:
            async_to_sync(_channel_send)(channel_name, message)
        except Exception as error:
            outage.noticed(error)
            logger.exception("Could not send %s to channel %s", message.get("type"), channel_name)

    transaction.on_commit(send)


async def _channel_send(channel_name: str, message: dict[str, Any]) -> None:
    await asyncio.wait_for(get_channel_layer().send(channel_name, message), PUBLISH_TIMEOUT)
