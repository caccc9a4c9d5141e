"""Waiting in async tests for a condition, never for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Until ``condition()`` is true, letting the event loop run in between; fails
    after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(interval)
