"""core.protocol: the JSON of a frame, its nesting measured on the text before parsing;
how a socket's messages are taken in turn."""

import asyncio
import json

import pytest
from channels.exceptions import StopConsumer
from uvicorn.protocols.utils import ClientDisconnected

from core import outage
from core.protocol import ABNORMAL_CLOSURE, EnvelopeConsumer, event_frame, load_json, nesting_exceeds, take_turns, wire_frame
from tests.sockets import parse_text_frame
from tests.waiting import until


@pytest.mark.parametrize(
    ("text", "deeper_than_20"),
    [
        ("[" * 20 + "]" * 20, False),
        ("[" * 21 + "]" * 21, True),
        ('{"a": "' + "[" * 40 + '"}', False),  # brackets inside a string do not nest
        ('{"a": "\\"' + "[" * 40 + '"}', False),  # an escaped quote does not end the string
        ('{"a": "\\\\", "b": ' + "[" * 21 + "]" * 21 + "}", True),  # an escaped backslash does
        ("[" * 100_000, True),
        ('"' + "[" * 50, False),  # not JSON at all: left to the parser
    ],
)
def test_it_measures_json_nesting_on_the_text_without_recursion(text, deeper_than_20):
    assert nesting_exceeds(text, 20) is deeper_than_20


def test_it_accepts_a_chat_message_full_of_brackets():
    text = "[" * 40 + "{" * 40
    assert load_json(json.dumps({"type": "chat.send", "body": {"text": text}}))["body"]["text"] == text


# --- take_turns: a socket's two sources, dispatched one message at a time ----------------------


class Source:
    """Messages put in by the test, read one at a time."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def put(self, *messages) -> None:
        for message in messages:
            self.queue.put_nowait(message)

    async def __call__(self):
        message = await self.queue.get()
        if isinstance(message, BaseException):
            raise message
        return message


class Dispatches:
    """Records each dispatch's start and end; ``slow`` ones wait for ``go``."""

    def __init__(self, slow=()):
        self.log: list[str] = []
        self.slow = set(slow)
        self.go = asyncio.Event()
        self.running = 0

    async def __call__(self, message) -> None:
        if message == "stop":
            raise StopConsumer
        self.running += 1
        assert self.running == 1, "two dispatches at once"
        self.log.append(f"start {message}")
        if message in self.slow:
            await self.go.wait()
        self.log.append(f"end {message}")
        self.running -= 1


def _turns(sources, dispatch):
    return asyncio.ensure_future(take_turns(sources, dispatch))


async def test_it_dispatches_each_sources_messages_in_order_one_at_a_time():
    browser, layer, dispatch = Source(), Source(), Dispatches(slow={"b1"})
    running = _turns([browser, layer], dispatch)
    browser.put("b1", "b2")
    layer.put("l1", "l2")
    await until(lambda: dispatch.log == ["start b1"])
    dispatch.go.set()
    await until(lambda: len(dispatch.log) == 8)
    starts = [entry.split()[1] for entry in dispatch.log if entry.startswith("start")]
    assert [m for m in starts if m[0] == "b"] == ["b1", "b2"] and [m for m in starts if m[0] == "l"] == ["l1", "l2"]
    # Neither source waits for the other to run dry: they take turns.
    assert starts.index("l1") < starts.index("b2")
    running.cancel()


async def test_it_stops_when_a_dispatch_says_the_socket_is_done_and_stops_reading():
    browser, layer, dispatch = Source(), Source(), Dispatches()
    running = _turns([browser, layer], dispatch)
    browser.put("stop")
    with pytest.raises(StopConsumer):
        await asyncio.wait_for(running, 5)
    # Its readers are gone once it returned: nothing more is read.
    layer.put("l1")
    assert dispatch.log == [] and layer.queue.qsize() == 1


async def test_it_raises_a_failed_read_and_cancels_the_other_reader():
    browser, layer, dispatch = Source(), Source(), Dispatches()
    running = _turns([browser, layer], dispatch)
    layer.put(ConnectionError("Redis went away"))
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(running, 5)
    browser.put("b1")
    assert dispatch.log == [] and browser.queue.qsize() == 1


# --- A browser that went away -----------------------------------------------------------


class PingConsumer(EnvelopeConsumer):
    handlers = {"ping": "handle_ping"}
    channel_layer_alias = "no such layer"  # the test needs no channel layer

    async def connect(self):
        await self.accept()

    async def disconnect(self, code):
        self.disconnected = code

    async def handle_ping(self, body):
        return {}


async def test_it_takes_a_browser_gone_during_a_send_for_a_closed_socket_not_for_redis_failing():
    """uvicorn raises ``ClientDisconnected`` (an ``OSError``) when a frame is sent to a
    socket whose browser left: the socket's disconnect runs, and the process does not
    take Redis for failing (which made it refuse every new socket for 5 s)."""
    incoming: asyncio.Queue = asyncio.Queue()
    for message in ({"type": "websocket.connect"}, {"type": "websocket.receive", "text": '{"type": "ping", "id": "1", "body": {}}'}):
        incoming.put_nowait(message)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        if message["type"] == "websocket.send":
            raise ClientDisconnected()
        sent.append(message)

    consumer = PingConsumer()
    async with asyncio.timeout(5):
        await consumer({"type": "websocket", "path": "/ws/test/", "headers": [], "subprotocols": []}, incoming.get, send)
    assert sent == [{"type": "websocket.accept", "subprotocol": None}]
    assert consumer.disconnected == ABNORMAL_CLOSURE
    assert not outage.redis_in_trouble()


# --- A group event passed on at once (take_at_once) ---------------------------------------


class QuickConsumer(EnvelopeConsumer):
    """Passes every event on at once but ``slow``, which changes the socket."""

    def needs_turn(self, event):
        return event["event"] == "slow"


def quick_consumer(write_answer: bool = True) -> tuple[QuickConsumer, list[bytes]]:
    consumer, written = QuickConsumer(), []
    consumer.channel_name, consumer.turn = "specific.me", asyncio.Lock()

    def write_now(frame: bytes) -> bool:
        written.append(frame)
        return write_answer

    consumer.write_now = write_now
    return consumer, written


def event(name: str = "chat.message", **extra) -> dict:
    return {"type": "parley.event", "event": name, "body": {"text": "hi"}, **extra}


async def test_it_writes_an_events_prepared_frame_at_once_between_turns():
    consumer, written = quick_consumer()
    message = event()
    assert consumer.take_at_once(message) is True
    assert written == [wire_frame(message)] and parse_text_frame(written[0]) == event_frame(message)
    # Not for this socket: done, nothing written.
    assert consumer.take_at_once(event(**{"except": "specific.me"})) is True
    assert len(written) == 1


async def test_it_leaves_an_event_to_the_sockets_turn_when_anything_may_be_ahead_of_it_or_it_changes_the_socket():
    consumer, written = quick_consumer()
    async with consumer.turn:  # a browser message or an earlier event being handled
        assert consumer.take_at_once(event()) is False
    assert consumer.take_at_once(event("slow")) is False
    assert consumer.take_at_once({"type": "room.replaced"}) is False
    assert written == []
    refusing, refused = quick_consumer(write_answer=False)  # the server's socket cannot take it now
    assert refusing.take_at_once(event()) is False and len(refused) == 1
    consumer.write_now = None  # a server without parley.write_now
    assert consumer.take_at_once(event()) is False


def test_it_passes_nothing_on_at_once_unless_a_consumer_says_which_events_may():
    assert EnvelopeConsumer().needs_turn(event()) is True


@pytest.mark.parametrize("length", [125, 126, 65_535, 65_536, 200_000])
def test_it_frames_an_event_as_a_browser_reads_it_at_every_length_encoding(length):
    overhead = len(event_frame({"event": "chat.message", "body": {"text": ""}}))
    message = {"event": "chat.message", "body": {"text": "x" * (length - overhead)}}
    text = parse_text_frame(wire_frame(message))
    assert len(text) == length and json.loads(text)["body"] == message["body"]


def test_it_frames_text_beyond_ascii():
    message = {"event": "chat.message", "body": {"text": "héllo 👋"}}
    assert json.loads(parse_text_frame(wire_frame(message)))["body"]["text"] == "héllo 👋"
