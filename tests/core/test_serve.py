"""core.serve: the web tier's process and its options. (The live tests run every web
server through it: tests/fixtures_live.py.)"""

import asyncio
import json

import pytest
import websockets.asyncio.client
import websockets.exceptions

from core import processes, serve
from core.protocol import wire_frame, write_now_extension
from tests.fixtures_live import served_in_this_process


def test_it_is_how_the_web_tier_starts():
    assert processes.web_command("127.0.0.1", 8000)[1:] == ["-m", "core.serve", "--host", "127.0.0.1", "--port", "8000"]


def test_it_serves_with_parleys_options():
    options = serve.options("0.0.0.0", 8000)
    # Parley reads X-Forwarded-For itself, only from its trusted proxies.
    assert options["proxy_headers"] is False
    assert options["ws_max_size"] == processes.WEBSOCKET_MAX_MESSAGE_BYTES
    assert (options["ws_ping_interval"], options["ws_ping_timeout"], options["ws_per_message_deflate"]) == (20.0, 30.0, False)
    assert (options["loop"], options["ws"], options["lifespan"]) == ("uvloop", serve.WebSocketProtocol, "off")
    assert options["timeout_graceful_shutdown"] == serve.GRACEFUL_SHUTDOWN_SECONDS


def test_it_logs_at_the_settings_level(settings):
    settings.LOG_LEVEL = "WARNING"
    assert serve.options("127.0.0.1", 8000)["log_level"] == "warning"


# --- parley.write_now: a prepared frame written at once ----------------------------------


class OneSocketApp:
    """An ASGI app that writes through ``parley.write_now`` at each step of a socket's
    life and notes what the server answered."""

    def __init__(self):
        self.answers: dict[str, bool] = {}
        self.done = asyncio.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()
        write = write_now_extension(scope)
        assert write is not None
        await send({"type": "websocket.accept"})
        self.answers["open"] = write(wire_frame({"event": "chat.message", "body": {"text": "héllo " * 30}}))
        await send({"type": "websocket.send", "text": "sent the usual way"})
        protocol = write.__self__  # type: ignore[attr-defined]
        protocol.pause_writing()  # as the transport does when the browser reads slower than we write
        self.answers["paused"] = write(wire_frame({"event": "x", "body": {}}))
        protocol.resume_writing()
        self.answers["resumed"] = write(wire_frame({"event": "big", "body": {"text": "x" * 70_000}}))
        await receive()  # the browser's "bye"
        await send({"type": "websocket.close", "code": 1000})
        self.answers["closed"] = write(wire_frame({"event": "late", "body": {}}))
        self.done.set()


async def test_it_writes_a_prepared_frame_at_once_only_while_the_socket_can_take_it():
    app = OneSocketApp()
    async with (
        served_in_this_process(app) as url,
        websockets.asyncio.client.connect(url.replace("http", "ws", 1), max_size=2**20) as browser,
    ):
        first = json.loads(await asyncio.wait_for(browser.recv(), 5))
        assert first == {"type": "chat.message", "id": None, "body": {"text": "héllo " * 30}}
        assert await asyncio.wait_for(browser.recv(), 5) == "sent the usual way"
        assert json.loads(await asyncio.wait_for(browser.recv(), 5))["body"]["text"] == "x" * 70_000
        await browser.send("bye")
        await asyncio.wait_for(app.done.wait(), 5)
        with pytest.raises(websockets.exceptions.ConnectionClosedOK):
            await asyncio.wait_for(browser.recv(), 5)  # nothing after the close frame
    assert app.answers == {"open": True, "paused": False, "resumed": True, "closed": False}
