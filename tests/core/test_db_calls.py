"""The sockets' database calls (core.consumers.db_call): side by side on PostgreSQL's
threads, so that one call waiting on the database does not hold up the others; on one
thread when PARLEY_DB_THREADS is 1 (SQLite's single writer)."""

from __future__ import annotations

import asyncio
import threading

from core.consumers import db_call


def _meet(barrier: threading.Barrier) -> str:
    barrier.wait()  # returns only when the other call is running at the same time
    return threading.current_thread().name


async def test_it_runs_calls_side_by_side_on_the_database_threads(settings):
    settings.PARLEY_DB_THREADS = 4
    barrier = threading.Barrier(2, timeout=10)
    names = await asyncio.gather(db_call(_meet)(barrier), db_call(_meet)(barrier))
    assert len(set(names)) == 2
    assert all(name.startswith("parley-db") for name in names)


async def test_it_runs_every_call_on_one_thread_with_one_database_thread(settings):
    settings.PARLEY_DB_THREADS = 1
    names = await asyncio.gather(*(db_call(lambda: threading.current_thread().name)() for _ in range(3)))
    assert len(set(names)) == 1
    assert not names[0].startswith("parley-db")
