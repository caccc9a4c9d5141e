"""Shared test set-up: fast hashing, Celery run in-process unless a test starts a
real worker, a Redis database per xdist worker, the tables emptied quickly after a
transactional test, and the plugins with live-process fixtures and the room socket
helpers."""

import contextlib
import os
import time
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings as django_settings
from django.core import signing
from django.core.cache import cache
from django.core.management.commands import flush
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

from config.celery import app as celery_app
from core import outage
from core.layers import RedisChannelLayer
from polls import live_summary

pytest_plugins = ["tests.fixtures_live", "tests.sockets", "tests.janus_live", "tests.recording_live"]

# --- xdist: a Redis database per worker ----------------------------------------------------
#
# Workers have a PostgreSQL test database each (pytest-django adds _gw0, _gw1…) but share
# scripts/test.sh's Redis server: channel-layer groups (participant-1 exists in every
# worker's database), rate-limit counters and Celery queues would meet there, and
# cache.clear() (FLUSHDB) in one worker would wipe another's. Each worker gets a database
# number of its own in REDIS_URL, set by the controller in the worker's environment
# before the worker reads Django's settings (config/settings.py reads REDIS_URL once).
REDIS_DATABASES = 16  # Redis's default "databases"; 0 stays for runs without xdist


def redis_database(url: str, number: int) -> str:
    """``url`` on database ``number`` (redis:// and rediss:// by path, unix:// by ?db=)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = urlencode({**dict(parse_qsl(parts.query)), "db": str(number)})
        return f"unix://{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{number}"))


def worker_number(worker_id: str) -> int:
    return int(worker_id.removeprefix("gw"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    url = os.environ.get("REDIS_URL")
    if not url:
        return  # each worker starts a Redis of its own (fixtures_live.redis_url)
    if len(specs) >= REDIS_DATABASES:
        raise pytest.UsageError(f"At most {REDIS_DATABASES - 1} xdist workers: each needs a Redis database of its own.")
    for number, spec in enumerate(specs, start=1):
        spec.env["REDIS_URL"] = redis_database(url, number)


def pytest_configure(config):
    """A worker whose REDIS_URL is not its own stops here, before a test shares state."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = django_settings.REDIS_URL
    if worker and url and url != redis_database(url, worker_number(worker) + 1):
        raise pytest.UsageError(f"xdist worker {worker} reads REDIS_URL={url}, not a Redis database of its own.")


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PARLEY_BASE_URL = "http://testserver"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    # Most tests are about other rules than the cap of a room without a media server
    # (tests/media_server/test_sfu.py checks that one).
    settings.PARLEY_MESH_MAX = settings.PARLEY_MAX_PARTICIPANTS
    # No heartbeat thread of the test process writing beside the tests' transactions
    # (the live web processes beat; tests/meetings/test_presence_live.py kills one).
    settings.PARLEY_WEB_HEARTBEAT_SECONDS = 0
    # A Redis failure one test provoked is not remembered into the next (core.outage).
    outage.forget()
    # Rate-limit counters live in the cache (Redis when configured): start each test clean.
    with contextlib.suppress(Exception):
        cache.clear()


@pytest.fixture(autouse=True)
def _celery_in_process(request):
    """Unit tests run tasks eagerly; tests marked ``integration`` use a real worker."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs the after-commit work (broadcasts, mail, tasks) as a
    real commit would, inside a test's transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def fixed_signing_time(monkeypatch):
    """Every signed link of the test carries the second the test started in.

    A test that finds a personal link in a mail or a page and makes the same link again
    to compare would fail when a second boundary falls between the two (the signature
    stamps the current second). Links are still checked against the real clock when
    they come back (max_age), and a signer with a timestamp of its own keeps it."""
    stamp = signing.TimestampSigner().timestamp()
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: stamp)


@pytest.fixture
async def fresh_channel_layer():
    """A channel layer made in this test's event loop, for the Channels tests.

    channels-redis keeps receive state per layer object: a consumer task of an earlier
    test's (closed) loop must not leave a lock of that loop behind for this one.
    """
    channel_layers.backends.clear()
    yield
    # A poll summary still due would run after this loop is gone, its thread waiting
    # for it forever with a database connection (never given back to the pool).
    await live_summary.pacer().drain()
    layer = channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    if isinstance(layer, RedisChannelLayer):
        await layer.flush()  # its connections belong to this test's loop


# --- Emptying the tables after a transactional test --------------------------------------
#
# pytest-django empties every table after a test marked django_db(transaction=True) (the
# Channels tests, whose consumers read the database from other threads) with Django's
# flush: PostgreSQL's TRUNCATE of the 35 tables (~0.2 s: each table gets new files), then
# the post_migrate signal, which makes the content types and permissions again (~0.1 s of
# queries). Here the flush deletes the rows instead (~0.01 s for the few a test leaves;
# Django's foreign keys are deferrable, so the order does not matter in the one
# transaction) and keeps the content types and permissions the migrations made, the
# same rows the other tests see; post_migrate then has nothing to make. Not after a test
# with live processes (the web server, workers): one may still be writing, and TRUNCATE waits
# for it where deletes would miss its rows or trip on its foreign keys.
MIGRATION_DATA = {"django_content_type", "auth_permission"}
LIVE_PROCESSES = {"asgi_server", "live_env"}  # the fixtures every live process needs
_truncate = PostgresOperations.sql_flush
_post_migrate = flush.emit_post_migrate_signal
_kept: set[str] = set()  # databases whose last flush kept the migrations' rows
_live_test = [False]  # the test being run (and flushed after) started live processes


def pytest_runtest_setup(item):
    _live_test[0] = bool(LIVE_PROCESSES & set(getattr(item, "fixturenames", ())))


def _flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or not tables or _live_test[0]:
        _kept.discard(self.connection.alias)
        return _truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    _kept.add(self.connection.alias)
    deleted = [table for table in tables if table not in MIGRATION_DATA]
    return ["SET CONSTRAINTS ALL DEFERRED;", *(f"DELETE FROM {self.quote_name(table)};" for table in deleted)]


def _post_migrate_unless_kept(verbosity, interactive, db, **kwargs):
    if db not in _kept:
        _post_migrate(verbosity, interactive, db, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _transactional_tests_flush_by_delete():
    with (
        mock.patch.object(PostgresOperations, "sql_flush", _flush_by_delete),
        mock.patch.object(flush, "emit_post_migrate_signal", _post_migrate_unless_kept),
    ):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, dropped only once no session uses it.

    The pool's connections, and those of live processes stopped just before, are
    closed by the client at once but their server processes exit a moment later; and a
    connection taken in a thread of a test's event loop that is gone (Channels tests)
    is never given back. Dropping the database with any of them there fails with
    "being accessed by other users" and leaves it behind. The session is over: wait a
    moment, then end what is left."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            name = connection.settings_dict["NAME"]
            connection.close()
            connection.close_pool()
            with connection._nodb_cursor() as cursor:
                deadline = time.monotonic() + 2
                while _other_sessions(cursor, name) and time.monotonic() < deadline:
                    time.sleep(0.05)
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
                )


def _other_sessions(cursor, name: str) -> int:
    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
    return cursor.fetchone()[0]
