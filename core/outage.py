"""Redis in trouble, noticed once, remembered for a moment.

Redis carries the channel layer, the cache and the Celery broker. When it is down
every publish fails at once; when it hangs (stopped, not refusing) every publish waits
for its read timeout. A request that publishes three times would then answer only
after three timeouts. So the first failure a process sees is remembered for
``HOLD_SECONDS``: meanwhile publishes from web requests are skipped at once (pages
read the same state from the database; the outbox and the beat sweeps do later what
was skipped), and the process tries Redis again afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

HOLD_SECONDS = 5.0
# What the channel layer, the cache and Celery's publish raise when Redis is down or hangs.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OperationalError, OSError, asyncio.TimeoutError)

_until = 0.0


def redis_in_trouble() -> bool:
    return time.monotonic() < _until


def noticed(error: BaseException) -> None:
    """Remember that Redis failed (only errors of Redis count)."""
    global _until
    if isinstance(error, REDIS_ERRORS):
        if not redis_in_trouble():
            logger.warning("Redis failed (%s: %s); publishes are skipped for %.0f s", type(error).__name__, error, HOLD_SECONDS)
        _until = time.monotonic() + HOLD_SECONDS


def forget() -> None:
    """For tests: Redis is fine again."""
    global _until
    _until = 0.0
