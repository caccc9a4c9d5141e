"""Arrivals announced together (core.online), and kept in order with everything else a
web process publishes to the room (core.realtime)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from core import online, outage, realtime
from tests.waiting import until

ROOM = "meeting-abc"


class Layer:
    """A channel layer that records what is published (and may fail)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, object]] = []
        self.failure: BaseException | None = None
        self.arrived = asyncio.Event()
        self.gate: asyncio.Event | None = None  # when set, publishes wait for it
        self.waiting = asyncio.Event()

    async def group_send(self, group: str, message: dict) -> None:
        await asyncio.sleep(0)  # a real publish yields to the loop
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        self.published.append((group, message["event"], message["body"]))
        self.arrived.set()

    async def until(self, count: int) -> list:
        async with asyncio.timeout(5):
            while len(self.published) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.published


@pytest.fixture
def layer(monkeypatch) -> Layer:
    fake = Layer()
    monkeypatch.setattr(online, "get_channel_layer", lambda: fake)
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: fake)
    return fake


def arrival(participant_id: int) -> dict:
    return {**online.event_message([participant_id]), "gather": True}


def event(name: str) -> dict:
    return {"type": "parley.event", "event": name, "body": {}}


async def test_it_announces_the_first_arrival_in_a_quiet_room_at_once(layer):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    assert layer.published == [(ROOM, "participants.online", {"ids": [1]})]


async def test_it_holds_the_arrivals_that_follow_and_announces_them_together(layer):
    loop = asyncio.get_running_loop()
    start = loop.time()
    for participant_id in (1, 2, 3, 4):
        await realtime._group_send(ROOM, ROOM, arrival(participant_id))
    assert layer.published == [(ROOM, "participants.online", {"ids": [1]})]
    await layer.until(2)
    assert layer.published[1] == (ROOM, "participants.online", {"ids": [2, 3, 4]})
    assert loop.time() - start >= online.WINDOW * 0.9
    # Quiet again once a window went by without an arrival: the next goes at once.
    await until(lambda: online.arrivals().quiet_at[ROOM] <= loop.time())
    await realtime._group_send(ROOM, ROOM, arrival(5))
    assert layer.published[2:] == [(ROOM, "participants.online", {"ids": [5]})]


async def test_it_keeps_rooms_apart(layer):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    await realtime._group_send("meeting-other", "meeting-other", arrival(2))
    assert [body for _group, _event, body in layer.published] == [{"ids": [1]}, {"ids": [2]}]


async def test_it_announces_held_arrivals_before_anything_else_the_process_tells_the_room(layer):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    await realtime._group_send(ROOM, ROOM, arrival(2))
    await realtime._group_send(ROOM, ROOM, event("participant.updated"))  # e.g. 2's socket closed
    assert [(name, body) for _group, name, body in layer.published] == [
        ("participants.online", {"ids": [1]}),
        ("participants.online", {"ids": [2]}),
        ("participant.updated", {}),
    ]
    # Nothing left to announce later.
    assert (online.arrivals().held, online.arrivals().timers) == ({}, {})


async def test_it_announces_held_arrivals_before_an_event_for_one_audience_of_the_room(layer):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    await realtime._group_send(ROOM, ROOM, arrival(2))
    await realtime._group_send(ROOM, f"{ROOM}-organizers", event("lobby.request"))
    assert [(group, name) for group, name, _body in layer.published] == [
        (ROOM, "participants.online"),
        (ROOM, "participants.online"),
        (f"{ROOM}-organizers", "lobby.request"),
    ]


async def test_it_waits_for_an_announcement_on_its_way_before_the_next_event(layer):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    layer.gate = asyncio.Event()
    await realtime._group_send(ROOM, ROOM, arrival(2))  # held
    async with asyncio.timeout(5):
        await layer.waiting.wait()  # the window ended: 2's announcement is on its way
    later = asyncio.ensure_future(realtime._group_send(ROOM, ROOM, event("participant.updated")))
    for _ in range(20):  # turns of the loop (no time passes): it stays blocked
        await asyncio.sleep(0)
    assert not later.done()
    layer.gate.set()
    await later
    assert [(name, body) for _group, name, body in layer.published] == [
        ("participants.online", {"ids": [1]}),
        ("participants.online", {"ids": [2]}),
        ("participant.updated", {}),
    ]


async def test_it_logs_a_held_announcement_that_could_not_be_published(layer, caplog):
    await realtime._group_send(ROOM, ROOM, arrival(1))
    layer.failure = redis.exceptions.ConnectionError("refused")
    await realtime._group_send(ROOM, ROOM, arrival(2))
    await until(outage.redis_in_trouble)
    assert "Could not announce arrivals to meeting-abc" in caplog.text
    outage.forget()


@pytest.mark.django_db
def test_it_announces_an_arrival_after_commit_through_the_publish_of_every_event(monkeypatch, django_capture_on_commit_callbacks):
    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(realtime, "send_now", lambda group, message: published.append((group, message)) or True)
    with django_capture_on_commit_callbacks(execute=True):
        realtime.announce_online(ROOM, 7)
        assert published == []
    assert published == [(ROOM, {"type": "parley.event", "event": "participants.online", "body": {"ids": [7]}, "gather": True})]
