"""The sockets' database calls (core.consumers.db_call): side by side on PostgreSQL's
threads, so that one call waiting on the database does not hold up the others; on one
thread when PARLEY_DB_THREADS is 1 (SQLite's single writer)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest
from django.conf import settings

from core.consumers import DaemonThreadPool, db_call


def _meet(barrier: threading.Barrier) -> str:
    barrier.wait()  # returns only when the other call is running at the same time
    return threading.current_thread().name


# The pool's threads outlive a test: one that served an earlier test holds a connection,
# which db_call's close_old_connections checks, so these tests need database access.
@pytest.mark.django_db
async def test_it_runs_calls_side_by_side_on_the_database_threads(settings):
    settings.PARLEY_DB_THREADS = 4
    barrier = threading.Barrier(2, timeout=10)
    names = await asyncio.gather(db_call(_meet)(barrier), db_call(_meet)(barrier))
    assert len(set(names)) == 2
    assert all(name.startswith("parley-db") for name in names)


@pytest.mark.django_db
async def test_it_runs_every_call_on_one_thread_with_one_database_thread(settings):
    settings.PARLEY_DB_THREADS = 1
    names = await asyncio.gather(*(db_call(lambda: threading.current_thread().name)() for _ in range(3)))
    assert len(set(names)) == 1
    assert not names[0].startswith("parley-db")


def test_it_runs_calls_on_daemon_threads_and_gives_their_results_and_errors():
    pool = DaemonThreadPool(2, "test-pool")
    assert pool.submit(lambda a, b=0: a + b, 2, b=3).result(timeout=10) == 5
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(timeout=10)
    assert pool.submit(lambda: threading.current_thread().daemon).result(timeout=10)


# A call that never returns, as a publish waiting on an event loop that has stopped.
_STUCK_CALL = """
import threading, django
django.setup()
from core.consumers import DaemonThreadPool
pool = DaemonThreadPool(2, "parley-db")
started = threading.Event()
pool.submit(lambda: (started.set(), threading.Event().wait()))
started.wait(10)
print("exiting")
"""


@pytest.mark.integration
def test_a_call_that_never_returns_does_not_keep_the_process_from_exiting():
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", _STUCK_CALL], cwd=settings.BASE_DIR, env=environ, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "exiting"), result.stderr
