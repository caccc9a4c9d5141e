"""Listening to the channel layer from a synchronous test.

The pub/sub channel layer keeps its subscriptions per event loop, and each
``async_to_sync`` call of a sync test runs in a loop of its own that is closed after:
a channel made in one call is gone in the next. A listener keeps one loop running in
a thread of its own, subscribed for the whole test."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers


class GroupListener:
    """A channel in ``group`` on the configured channel layer; its messages in order."""

    def __init__(self, group: str, timeout: float = 10.0):
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = asyncio.run_coroutine_threadsafe(self._join(group), self.loop).result(timeout)
        self.reading = asyncio.run_coroutine_threadsafe(self._read(), self.loop)

    async def _join(self, group: str) -> str:
        channel = await self.layer.new_channel()
        await self.layer.group_add(group, channel)
        return channel

    async def _read(self) -> None:
        while True:
            self.messages.put(await self.layer.receive(self.channel))

    def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message, waiting at most ``timeout`` seconds (``queue.Empty`` then)."""
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.reading.cancel()

        async def flush() -> None:
            if hasattr(self.layer, "flush"):
                await self.layer.flush()

        asyncio.run_coroutine_threadsafe(flush(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
