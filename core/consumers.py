"""What every Parley socket shares beyond the envelope: running a service from a
consumer, and sending an event to a group from one."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from core.errors import Refused
from core.protocol import ErrorCode, ProtocolError

T = TypeVar("T")


class ChannelLayerDown(Exception):
    """The channel layer (Redis) refused a group operation: the socket closes 4503."""


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def db_call(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``function`` (sync, using the database) as a coroutine function run on the web
    process's database threads (PARLEY_DB_THREADS). With one thread, Channels' own
    thread-sensitive thread; with several, a pool of them: one socket's call waiting on
    the database (a row lock, a slow query) no longer holds up every other socket's.
    Stale connections are closed around each call, as ``database_sync_to_async`` does."""
    if settings.PARLEY_DB_THREADS == 1:
        return database_sync_to_async(function)
    return database_sync_to_async(function, thread_sensitive=False, executor=_database_threads())


def _database_threads() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.PARLEY_DB_THREADS, thread_name_prefix="parley-db")
        return _executor


async def call_service(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a (sync) service on the database threads (``db_call``). Its refusals become
    protocol errors: ``PermissionDenied`` → ``forbidden``, ``ValidationError`` →
    ``invalid``, ``Refused`` → its own code. Consumers never touch the ORM themselves.

    An async service (one that runs its own database work, such as
    ``polls.ballot_box.cast``, which batches votes) is awaited here instead."""
    try:
        if inspect.iscoroutinefunction(function):
            return await cast(Callable[..., Awaitable[T]], function)(*args, **kwargs)
        return await db_call(function)(*args, **kwargs)
    except PermissionDenied as denied:
        raise ProtocolError(ErrorCode.FORBIDDEN, str(denied) or "Your role does not allow this.") from None
    except ValidationError as invalid:
        raise ProtocolError(ErrorCode.INVALID, " ".join(invalid.messages)) from None
    except Refused as refused:
        raise ProtocolError(refused.code, refused.message) from None


async def send_event(channel_layer, group: str, event: str, body: dict[str, Any]) -> None:
    """An event for every socket of ``group`` now (not after a commit: nothing is
    stored). The channel layer down is ``unavailable`` for the sender."""
    try:
        await channel_layer.group_send(group, {"type": "parley.event", "event": event, "body": body})
    except Exception:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "The live service is unavailable; try again.") from None
