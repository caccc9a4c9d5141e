"""An asyncio client of Janus's WebSocket API (subprotocol ``janus-protocol``): a
session, its plugin handles, requests and their answers, events, keep-alives.

The media worker subscribes to group rooms with it (aiortc does the WebRTC side); the
tests and the load benchmark publish and subscribe with it too. The browser has its own
counterpart (``static/js/room/janus.js``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

import websockets
from websockets.typing import Subprotocol

from media_server.sfu.janus import PLUGIN, JanusError

logger = logging.getLogger(__name__)

# Janus ends a session after 60 s without a request; a keep-alive every 25 s is safe.
KEEPALIVE_SECONDS = 25
ANSWER_TIMEOUT = 10.0


class JanusClient:
    """One session. ``token`` (a core token) goes with every request; assign a fresh
    one to ``client.token`` before the old one expires."""

    def __init__(self, url: str, *, token: str | None = None, answer_timeout: float = ANSWER_TIMEOUT):
        self.url = url
        self.token = token
        self.answer_timeout = answer_timeout
        self.session_id: int | None = None
        self.handles: dict[int, Handle] = {}
        self._socket: Any = None
        # Answers by transaction: an ``ack`` and its ``event`` may arrive back to back.
        self._pending: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task] = []
        self.closed = asyncio.Event()

    async def connect(self) -> JanusClient:
        self._socket = await websockets.connect(self.url, subprotocols=[Subprotocol("janus-protocol")], open_timeout=self.answer_timeout)
        self._tasks.append(asyncio.create_task(self._receive(), name="janus-receive"))
        answer = await self._request({"janus": "create"})
        self.session_id = answer["data"]["id"]
        self._tasks.append(asyncio.create_task(self._keepalive(), name="janus-keepalive"))
        return self

    async def attach(self, *, opaque_id: str = "", plugin: str = PLUGIN, events: asyncio.Queue | None = None) -> Handle:
        """A new handle; its events go to ``events`` when given (handles may share one
        queue: each message names its handle as ``sender``)."""
        answer = await self._request({"janus": "attach", "plugin": plugin, "opaque_id": opaque_id})
        handle = Handle(self, answer["data"]["id"], events)
        self.handles[handle.id] = handle
        return handle

    async def close(self) -> None:
        if self._socket is not None and self.session_id is not None and not self.closed.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._request({"janus": "destroy"}), 2)
        for task in self._tasks:
            task.cancel()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        self.closed.set()

    # --- Plumbing ---------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        if self.token:
            message["token"] = self.token
        if self.session_id is not None and message.get("janus") not in ("create",):
            message.setdefault("session_id", self.session_id)
        await self._socket.send(json.dumps(message))

    async def _request(self, message: dict[str, Any], *, expect_event: bool = False) -> dict[str, Any]:
        """Send and wait for the answer: ``success`` (or, with ``expect_event``, the
        ``event`` that follows an ``ack``); an ``error`` raises ``JanusError``."""
        transaction = secrets.token_hex(8)
        message["transaction"] = transaction
        answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pending[transaction] = answers
        try:
            await self._send(message)
            async with asyncio.timeout(self.answer_timeout):
                reply = await answers.get()
                while reply.get("janus") == "ack" and expect_event:
                    reply = await answers.get()
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") == "error":
            error = reply.get("error") or {}
            raise JanusError(int(error.get("code") or 0), str(error.get("reason")))
        return reply

    async def _receive(self) -> None:
        try:
            async for text in self._socket:
                message = json.loads(text)
                waiting = self._pending.get(message.get("transaction") or "")
                if waiting is not None:
                    waiting.put_nowait(message)
                    continue
                handle = self.handles.get(message.get("sender") or 0)
                if handle is not None:
                    handle.events.put_nowait(message)
                elif message.get("janus") == "timeout":
                    # The session is gone (no keep-alive for 60 s): its handles too.
                    logger.warning("Janus session %s timed out", self.session_id)
                    for handle in self.handles.values():
                        handle.events.put_nowait({"janus": "timeout", "sender": handle.id})
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for waiting in self._pending.values():
                waiting.put_nowait({"janus": "error", "error": {"code": 0, "reason": "Janus closed the connection"}})
            for handle in self.handles.values():
                handle.events.put_nowait({"janus": "closed", "sender": handle.id})

    async def _keepalive(self) -> None:
        # One lost answer is not the end of the session: keep going until the socket closes.
        while not self.closed.is_set():
            await asyncio.sleep(KEEPALIVE_SECONDS)
            try:
                await self._request({"janus": "keepalive"})
            except Exception:
                logger.warning("Janus keep-alive of session %s failed", self.session_id)


class Handle:
    """A handle on a plugin (the VideoRoom): requests with an optional JSEP, trickle,
    and the events Janus sends on its own (``events``)."""

    def __init__(self, client: JanusClient, handle_id: int, events: asyncio.Queue | None = None):
        self.client = client
        self.id = handle_id
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue() if events is None else events

    async def request(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict | None]:
        """A plugin request answered at once (``exists``, ``listparticipants``…)."""
        message: dict[str, Any] = {"janus": "message", "handle_id": self.id, "body": body}
        if jsep:
            message["jsep"] = jsep
        reply = await self.client._request(message)
        return _plugin_data(reply), reply.get("jsep")

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict | None]:
        """An asynchronous plugin request (``join``, ``publish``, ``start``…): its event
        and JSEP. A plugin error raises ``JanusError`` with the plugin's code."""
        message: dict[str, Any] = {"janus": "message", "handle_id": self.id, "body": body}
        if jsep:
            message["jsep"] = jsep
        reply = await self.client._request(message, expect_event=True)
        return _plugin_data(reply), reply.get("jsep")

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        message = {"janus": "trickle", "handle_id": self.id, "candidate": candidate or {"completed": True}}
        await self.client._request(message)

    async def detach(self) -> None:
        with contextlib.suppress(Exception):
            await self.client._request({"janus": "detach", "handle_id": self.id})
        self.client.handles.pop(self.id, None)


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data = ((reply.get("plugindata") or {}).get("data")) or {}
    if "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error")))
    return data
