"""What every Parley socket shares beyond the envelope: running a service from a
consumer, and sending an event to a group from one."""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar, cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from core.errors import Refused
from core.protocol import ErrorCode, ProtocolError

T = TypeVar("T")


class ChannelLayerDown(Exception):
    """The channel layer (Redis) refused a group operation: the socket closes 4503."""


class DaemonThreadPool(Executor):
    """A fixed pool of daemon threads. ``ThreadPoolExecutor``'s threads are joined when
    the interpreter exits: a call caught by SIGTERM while it waited on the event loop
    that had just stopped (a publish after commit goes through the loop) kept the web
    server (daphne then) from exiting until it was killed. The calls of a stopping process are abandoned
    instead (an open transaction is rolled back by the database)."""

    def __init__(self, workers: int, name: str):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True) for index in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self._calls.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args, kwargs = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)


_executor: DaemonThreadPool | None = None
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


def _database_threads() -> DaemonThreadPool:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = DaemonThreadPool(settings.PARLEY_DB_THREADS, "parley-db")
        return _executor


def per_event_loop(factory: Callable[[], T]) -> Callable[[], T]:
    """A function giving this event loop's own ``factory()`` object (its tasks and
    futures belong to that loop); those of closed loops are forgotten."""
    objects: dict[asyncio.AbstractEventLoop, T] = {}

    def current() -> T:
        loop = asyncio.get_running_loop()
        if loop not in objects:
            for closed in [other for other in objects if other.is_closed()]:
                del objects[closed]
            objects[loop] = factory()
        return objects[loop]

    return current


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
