"""Shared test set-up: fast hashing, Celery run in-process unless a test starts a
real worker, and the plugins with live-process fixtures."""

import contextlib

import pytest
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.core.cache import cache

from config.celery import app as celery_app

pytest_plugins = ["tests.fixtures_live"]


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PARLEY_BASE_URL = "http://testserver"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
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
async def fresh_channel_layer():
    """A channel layer made in this test's event loop, for the Channels tests.

    channels-redis keeps receive state per layer object: a consumer task of an earlier
    test's (closed) loop must not leave a lock of that loop behind for this one.
    """
    channel_layers.backends.clear()
    yield
    layer = channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    if hasattr(layer, "close_pools"):
        await layer.close_pools()
