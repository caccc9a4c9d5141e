"""The channel layer: channels-redis's pub/sub layer, which says when Redis fails.

Why pub/sub (benchmarks/README.md, "Where a broadcast's time went"): channels-redis's
list layer stores one copy of a group message per socket in Redis, and each process
pops them back one round trip at a time, so a 200-person room cost 200 writes and
200 blocking pops per event. The pub/sub layer publishes an event once; every web
process subscribed to the group receives it once and hands it to its own sockets.
Groups live in the processes that hold the sockets (a process that dies takes its
subscriptions with it, nothing to expire).

What it does not do by itself, and Parley needs (docs/protocol.md, close 4503): tell
its sockets that Redis went away. Its receiver logs a failed read and tries again a
second later, and a Redis that hangs (stopped, not refusing) is never noticed, since
the receiver only polls with short reads. Here a watchdog pings Redis every
``WATCHDOG_SECONDS`` on a connection of its own; when that ping or the receiver
fails, every socket of this process waiting on the layer gets the error (the
consumer closes it with 4503, the page reconnects with backoff), the process drops
its subscriptions, and the next socket subscribes afresh.

And a subscription counts once Redis confirmed it, not once the command is sent: a
socket joins its room's group, then reads the snapshot, and an event published in
between must reach it (docs/protocol.md, ``room.snapshot``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import redis.exceptions
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

from core import outage

logger = logging.getLogger(__name__)

# How often the watchdog pings Redis, and how long a ping may take: with the
# connection's 4 s read timeout a hung Redis is noticed within about 5 s.
WATCHDOG_SECONDS = 1.0
PING_TIMEOUT = 4.0


class LayerDown:
    """Put in a socket's queue instead of a message: its read raises ``error``."""

    def __init__(self, error: BaseException, channel: str, layer: _LoopLayer):
        self.error, self.channel, self.layer = error, channel, layer


# Decoded group messages kept for the sockets that have not read them yet.
DECODED_CACHE_SIZE = 256


class RedisChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose failures reach the sockets (see the module).

    A group message reaches every local socket as the same bytes; it is decoded once
    and the sockets share the decoded message, which they only read (and
    ``core.protocol.event_frame`` encodes its frame once for all of them)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._decoded: OrderedDict[int, tuple[bytes, dict]] = OrderedDict()

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    def deserialize(self, message: Any) -> dict:
        if isinstance(message, LayerDown):
            message.layer.failed.pop(message.channel, None)
            raise message.error
        cached = self._decoded.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1]
        decoded = super().deserialize(message)
        self._decoded[id(message)] = (message, decoded)
        if len(self._decoded) > DECODED_CACHE_SIZE:
            self._decoded.popitem(last=False)
        return decoded


class _LoopLayer(RedisPubSubLoopLayer):
    channels: dict[str, asyncio.Queue]
    groups: dict[str, set[str]]
    _shards: list[RedisSingleShardConnection]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        # Channels that failed while their socket was not waiting on them (it was busy
        # with a message): their next read raises.
        self.failed: dict[str, BaseException] = {}
        # Channels made while Redis was down, not subscribed yet (see new_channel).
        self.unsubscribed: set[str] = set()
        # Sockets that pass a group message on at once when they can (hand_out).
        self.takers: dict[str, Callable[[dict], bool]] = {}

    def deliver_at_once(self, channel: str, taker: Callable[[dict], bool]) -> None:
        """``taker(message)`` is offered each group message of ``channel`` while its
        queue is empty; True means it passed the message on (``EnvelopeConsumer.take_at_once``)."""
        self.takers[channel] = taker

    def stop_delivering_at_once(self, channel: str) -> None:
        self.takers.pop(channel, None)

    def hand_out(self, group: str, data: bytes) -> None:
        """A group message, received once from Redis, to this process's sockets in the
        group, in one pass: each socket that can takes it at once (its frame, made
        once, written to it); the others get it in their queue, read in their turn.

        This is what a copy used to cost every socket: a task woken, the message read,
        dispatched and sent through the ASGI stack, framed for each socket
        (benchmarks/README.md, "Fourth pass")."""
        message = None
        for channel in self.groups.get(group, ()):
            queue = self.channels.get(channel)
            if queue is None:
                continue
            taker = self.takers.get(channel)
            if taker is not None and queue.empty():
                if message is None:
                    message = self.channel_layer.deserialize(data)
                try:
                    if taker(message):
                        continue
                except Exception:  # one socket's failure must not cost the others their copy
                    logger.exception("Channel layer: a socket could not take a message at once")
            queue.put_nowait(data)

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A socket's channel. Channels makes it before the socket is accepted: with
        Redis down the socket would be refused with a bare 403 and the page would not
        know why. So it is made anyway, and subscribed by its first ``group_add``,
        which fails after the socket was accepted: it closes with 4503."""
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        self.unsubscribed.add(channel)
        if not outage.redis_in_trouble():
            try:
                await self._get_shard(channel).subscribe(channel)
                self.unsubscribed.discard(channel)
            except Exception as error:
                outage.noticed(error)
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        if outage.redis_in_trouble():  # failed a moment ago: do not wait for it again
            raise redis.exceptions.ConnectionError("Redis failed a moment ago.")
        if channel in self.unsubscribed:
            await self._get_shard(channel).subscribe(channel)
            self.unsubscribed.discard(channel)
        await super().group_add(group, channel)

    def fail_local_channels(self, error: BaseException) -> None:
        """Every socket of this process reading the layer gets ``error``; the layer
        forgets them and their groups (a socket that comes later subscribes again)."""
        for channel, queue in self.channels.items():
            queue.put_nowait(LayerDown(error, channel, self))
            self.failed[channel] = error
        self.channels = {}
        self.groups = {}
        self.unsubscribed = set()
        self.takers = {}

    async def receive(self, channel: str) -> Any:
        error = self.failed.pop(channel, None)
        if error is not None:
            raise error
        return await super().receive(channel)


class _Shard(RedisSingleShardConnection):
    """One Redis of the layer: a receiver, and a watchdog beside it."""

    channel_layer: _LoopLayer
    _redis: Any
    _pubsub: Any
    _receive_task: asyncio.Task | None
    _subscribed_to: set[str]

    def __init__(self, host: dict, channel_layer: _LoopLayer):
        super().__init__(host, channel_layer)
        self._watchdog: asyncio.Task | None = None
        # Subscriptions Redis has confirmed, and those waited for.
        self._confirmed: set[str] = set()
        self._confirming: dict[str, asyncio.Future] = {}

    async def subscribe(self, channel: str) -> None:
        """Subscribed once Redis says so, not once the command is sent: a socket joins
        the room's group, then reads its snapshot, and an event published in between
        must reach it."""
        if channel in self._confirmed:
            return
        confirmation = self._confirming.get(channel)
        if confirmation is None:
            confirmation = self._confirming[channel] = asyncio.get_running_loop().create_future()
        await super().subscribe(channel)
        await asyncio.wait_for(asyncio.shield(confirmation), PING_TIMEOUT)

    async def unsubscribe(self, channel: str) -> None:
        self._confirmed.discard(channel)
        await super().unsubscribe(channel)

    def _confirm(self, name: bytes | str) -> None:
        channel = name.decode() if isinstance(name, bytes) else name
        self._confirmed.add(channel)
        confirmation = self._confirming.pop(channel, None)
        if confirmation is not None and not confirmation.done():
            confirmation.set_result(None)

    def _ensure_receiver(self) -> None:
        if self._receive_task is None:
            self._receive_task = asyncio.ensure_future(self._do_receiving())
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _do_receiving(self) -> None:
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                return  # dropped after a failure: the next subscription starts another
            if not pubsub.subscribed:
                await asyncio.sleep(0.1)
                continue
            try:
                message = await pubsub.get_message(timeout=0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as error:
                await self._lost(error)
                return
            if message is None or message["type"] != "message":
                if message is not None and message["type"] == "subscribe":
                    self._confirm(message["channel"])
                continue
            try:
                self._hand_out(message)
            except Exception:  # one bad message must not leave the process deaf
                logger.exception("Channel layer: could not hand out a message")

    def _hand_out(self, message: dict) -> None:
        """channels-redis's ``_receive_message``, with a group's message handed out by
        the layer (``_LoopLayer.hand_out``)."""
        name, data = message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            layer.channels[name].put_nowait(data)
        elif name in layer.groups:
            layer.hand_out(name, data)

    async def _watch(self) -> None:
        while self._redis is not None:
            await asyncio.sleep(WATCHDOG_SECONDS)
            redis_client = self._redis
            if redis_client is None or not self._subscribed_to:
                continue
            try:
                await asyncio.wait_for(redis_client.ping(), PING_TIMEOUT)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as error:
                await self._lost(error)
                return

    async def _lost(self, error: BaseException) -> None:
        """Redis failed under this process: its sockets are told, the connections
        dropped (without waiting on Redis), the receiver and watchdog end."""
        outage.noticed(error)
        if not isinstance(error, redis.exceptions.RedisError):
            error = redis.exceptions.ConnectionError(f"The channel layer lost Redis ({type(error).__name__}: {error}).")
        logger.warning("Channel layer: %s; closing this process's sockets", error)
        self.channel_layer.fail_local_channels(error)
        current = asyncio.current_task()
        for task in (self._receive_task, self._watchdog):
            if task is not None and task is not current:
                task.cancel()
        self._receive_task = self._watchdog = None
        redis_client, pubsub = self._redis, self._pubsub
        self._redis = self._pubsub = None
        self._subscribed_to = set()
        self._confirmed = set()
        for confirmation in self._confirming.values():
            if not confirmation.done():
                confirmation.set_exception(error)
                confirmation.exception()  # retrieved here: nobody may be waiting any more
        self._confirming = {}
        with contextlib.suppress(Exception):
            if pubsub is not None:
                await asyncio.wait_for(pubsub.aclose(), 1)
        with contextlib.suppress(Exception):
            if redis_client is not None:
                await asyncio.wait_for(redis_client.aclose(close_connection_pool=True), 1)

    async def flush(self) -> None:
        self._confirmed = set()
        for confirmation in self._confirming.values():
            confirmation.cancel()
        self._confirming = {}
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await super().flush()
