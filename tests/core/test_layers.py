"""The channel layer (core.layers) against a Redis of its own: one publish per group
event, fanned out inside each process; and Redis failing — killed or stopped with
SIGSTOP — reaches every socket waiting on the layer as a Redis error (the consumer
closes 4503), after which a new socket subscribes afresh."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
import redis
import redis.exceptions

from core import layers, outage, processes
from core.protocol import event_frame
from tests.waiting import until

pytestmark = [pytest.mark.integration]

# The watchdog notices a hung Redis within WATCHDOG_SECONDS + PING_TIMEOUT.
NOTICE_TIMEOUT = layers.WATCHDOG_SECONDS + layers.PING_TIMEOUT + 3


class PrivateRedis:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = processes.spawn(processes.redis_server_command(self.port), stdout=subprocess.DEVNULL)
        process = self.process
        processes.wait_until(lambda: processes.redis_ping(self.url), timeout=10, what="redis", alive=lambda: process.poll() is None)

    def signal(self, number: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, number)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def publishes(self) -> int:
        stats = redis.Redis.from_url(self.url).info("commandstats")
        return int(stats.get("cmdstat_publish", {}).get("calls", 0))


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(processes.free_port())
    yield server
    if server.process is not None and server.process.poll() is None:
        server.signal(signal.SIGCONT)
        server.kill()
    outage.forget()


def make_layer(server: PrivateRedis) -> layers.RedisChannelLayer:
    host = {"address": server.url, "socket_connect_timeout": 2, "socket_timeout": 4}
    return layers.RedisChannelLayer(hosts=[host], prefix="test")


async def members(layer: layers.RedisChannelLayer, group: str, count: int) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return channels


async def works_again(layer: layers.RedisChannelLayer) -> None:
    """A socket that comes now joins a group and gets its events."""
    (fresh,) = await members(layer, "room", 1)
    await layer.group_send("room", {"type": "parley.event", "event": "back", "body": {}})
    assert (await asyncio.wait_for(layer.receive(fresh), 5))["event"] == "back"


async def receive_all(layer: layers.RedisChannelLayer, channels: list[str]) -> list[dict]:
    return await asyncio.wait_for(asyncio.gather(*(layer.receive(channel) for channel in channels)), 5)


async def test_it_publishes_a_group_event_once_for_every_process_and_socket(private_redis):
    here, there = make_layer(private_redis), make_layer(private_redis)  # two web processes
    try:
        ours, theirs = await members(here, "room", 50), await members(there, "room", 3)
        outsider = await members(here, "another-room", 1)
        before = private_redis.publishes()
        await here.group_send("room", {"type": "parley.event", "event": "chat.message", "body": {"text": "hi"}})
        received = await receive_all(here, ours) + await receive_all(there, theirs)
        assert [message["body"]["text"] for message in received] == ["hi"] * 53
        assert private_redis.publishes() - before == 1
        # Decoded once in each process, its frame encoded once for all its sockets.
        assert all(message is received[0] for message in received[:50])
        assert received[50] is not received[0]
        assert event_frame(received[0]) is event_frame(received[49])
        assert json.loads(event_frame(received[0])) == {"type": "chat.message", "id": None, "body": {"text": "hi"}}
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(here.receive(outsider[0]), 0.3)
    finally:
        await here.flush()
        await there.flush()


async def test_it_sends_to_one_socket_of_another_process_and_stops_after_a_discard(private_redis):
    here, there = make_layer(private_redis), make_layer(private_redis)
    try:
        (target,) = await members(there, "room", 1)
        await here.send(target, {"type": "room.replaced"})
        assert await asyncio.wait_for(there.receive(target), 5) == {"type": "room.replaced"}
        (stays,) = await members(there, "room", 1)
        await there.group_discard("room", target)
        await here.group_send("room", {"type": "parley.event", "event": "x", "body": {}})
        assert (await asyncio.wait_for(there.receive(stays), 5))["event"] == "x"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(there.receive(target), 0.3)
    finally:
        await here.flush()
        await there.flush()


async def test_it_fails_every_waiting_read_when_redis_dies_then_recovers(private_redis):
    layer = make_layer(private_redis)
    try:
        channels = await members(layer, "room", 3)
        reads = [asyncio.ensure_future(layer.receive(channel)) for channel in channels]
        private_redis.kill()
        done, pending = await asyncio.wait(reads, timeout=NOTICE_TIMEOUT)
        assert not pending
        for read in done:
            assert isinstance(read.exception(), redis.exceptions.ConnectionError)
        assert outage.redis_in_trouble()

        private_redis.start()  # same port
        outage.forget()  # the product waits HOLD_SECONDS before trying Redis again
        await works_again(layer)
    finally:
        await layer.flush()


async def test_it_fails_every_waiting_read_when_redis_hangs(private_redis):
    layer = make_layer(private_redis)
    try:
        channels = await members(layer, "room", 2)
        reads = [asyncio.ensure_future(layer.receive(channel)) for channel in channels]
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        private_redis.signal(signal.SIGSTOP)
        done, pending = await asyncio.wait(reads, timeout=NOTICE_TIMEOUT)
        assert not pending, f"the reads still wait {NOTICE_TIMEOUT} s after Redis stopped"
        assert all(isinstance(read.exception(), redis.exceptions.RedisError) for read in done)
        assert loop.time() - stopped < NOTICE_TIMEOUT

        private_redis.signal(signal.SIGCONT)
        outage.forget()
        await works_again(layer)
    finally:
        private_redis.signal(signal.SIGCONT)
        await layer.flush()


async def test_it_fails_the_next_read_of_a_socket_that_was_busy_when_redis_failed(private_redis):
    layer = make_layer(private_redis)
    try:
        (busy,) = await members(layer, "room", 1)  # not reading: handling a message
        layer._get_layer().fail_local_channels(redis.exceptions.ConnectionError("gone"))
        with pytest.raises(redis.exceptions.ConnectionError):
            await asyncio.wait_for(layer.receive(busy), 1)
    finally:
        await layer.flush()


async def test_it_joins_a_group_only_once_redis_confirmed_the_subscription(private_redis):
    here, there = make_layer(private_redis), make_layer(private_redis)
    try:
        channel = await here.new_channel()
        shard = here._get_layer()._shards[0]
        # Redis's confirmations held back: until one is seen, the join is not done.
        held: list = []
        confirm, shard._confirm = shard._confirm, held.append
        joining = asyncio.ensure_future(here.group_add("room", channel))
        done, _pending = await asyncio.wait([joining], timeout=0.5)
        assert not done, "group_add returned before Redis confirmed the subscription"
        assert held  # Redis did confirm; the layer waits for having read it
        shard._confirm = confirm
        for name in held:
            confirm(name)
        await asyncio.wait_for(joining, 5)
        # Subscribed for sure: an event published at once reaches the socket.
        await there.group_send("room", {"type": "parley.event", "event": "x", "body": {}})
        assert (await asyncio.wait_for(here.receive(channel), 5))["event"] == "x"
    finally:
        await here.flush()
        await there.flush()


# --- A group event handed out in one pass (core.layers.hand_out) ------------------------


class Taker:
    """A socket's ``take_at_once``: takes, refuses or fails, and notes what it was offered."""

    def __init__(self, answer: bool | Exception = True):
        self.answer = answer
        self.offered: list[dict] = []

    def __call__(self, message: dict) -> bool:
        self.offered.append(message)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_it_hands_a_group_event_at_once_to_the_sockets_that_take_it_and_queues_it_for_the_others(private_redis, caplog):
    layer = make_layer(private_redis)
    try:
        takes, refuses, fails, plain, busy = await members(layer, "room", 5)
        takers = {takes: Taker(), refuses: Taker(False), fails: Taker(RuntimeError("its transport broke")), busy: Taker()}
        for channel, taker in takers.items():
            layer.deliver_at_once(channel, taker)
        await layer.send(busy, {"type": "parley.event", "event": "earlier", "body": {}})  # not read yet
        await until(lambda: not layer._get_layer().channels[busy].empty())
        await layer.group_send("room", {"type": "parley.event", "event": "chat.message", "body": {"text": "hi"}})
        queued = await receive_all(layer, [refuses, fails, plain])
        assert [message["event"] for message in queued] == ["chat.message"] * 3
        # Decoded once: the socket that took it at once had the message the others read.
        assert takers[takes].offered == [queued[0]] and takers[takes].offered[0] is queued[0]
        assert takers[refuses].offered == takers[fails].offered == [queued[0]]
        assert "could not take a message at once" in caplog.text
        # A socket with a message waiting is not offered the next: it stays in order.
        assert takers[busy].offered == []
        assert [(await layer.receive(busy))["event"] for _ in range(2)] == ["earlier", "chat.message"]
        assert layer._get_layer().channels[takes].empty()  # (a read cancelled would drop the channel)
        layer.stop_delivering_at_once(takes)
        await layer.group_send("room", {"type": "parley.event", "event": "after", "body": {}})
        assert (await asyncio.wait_for(layer.receive(takes), 5))["event"] == "after"
        assert len(takers[takes].offered) == 1
    finally:
        await layer.flush()
