"""The WebSocket envelope shared by every Parley socket (see docs/protocol.md).

Client → server: ``{"type": str, "id": str|null, "body": object}``.
Server → client: replies ``{"type": "ack"|"error", "id": <request id>, "body": ...}``
and events ``{"type": <event>, "id": null, "body": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from websockets.frames import Frame, Opcode

from core import outage

logger = logging.getLogger(__name__)

LEAVE_TIMEOUT = 2.0  # seconds a closing socket waits to leave one group

MAX_FRAME_BYTES = 16 * 1024
# Frames a socket may send, of any type: (messages, seconds).
FRAME_RATE = (600, 10)
# Deeper JSON is refused: no Parley message nests anywhere near this.
MAX_JSON_DEPTH = 20
TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A \uD800-\uDFFF escape may leave a lone surrogate, which no database or layer can store.
SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


class ErrorCode:
    BAD_JSON = "bad_json"
    BAD_ENVELOPE = "bad_envelope"
    TOO_LARGE = "too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"
    SHARE_BUSY = "share_busy"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class CloseCode:
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    REPLACED = 4409
    ENDED = 4410
    UNAVAILABLE = 4503


async def take_turns(
    sources: list[Callable[[], Awaitable[Any]]], dispatch: Callable[[Any], Awaitable[None]], turn: asyncio.Lock | None = None
) -> None:
    """Read every source, each in its order, and dispatch one message at a time, until
    a dispatch raises (``StopConsumer`` when the socket closed).

    What Channels' ``await_many_dispatch`` does, at a fraction of the cost per message:
    that one waits on every source with a fresh ``asyncio.wait`` and starts a new task
    per message. In a 200-person room each event is 200 messages, one per socket: under
    daphne, which wrote none of the frames before all of them were dispatched, that
    cost was most of the time to the first copy (benchmarks/README.md). Here each source has a
    reader of its own for the socket's life, and a lock (first come, first served)
    keeps the dispatches one at a time, as Channels' consumers expect (``turn``: the
    caller's, which is held while a message is dispatched)."""
    turn = turn or asyncio.Lock()

    async def read(source: Callable[[], Awaitable[Any]]) -> None:
        while True:
            message = await source()
            async with turn:
                await dispatch(message)

    readers = [asyncio.ensure_future(read(source)) for source in sources]
    try:
        done, _pending = await asyncio.wait(readers, return_when=asyncio.FIRST_EXCEPTION)
        for reader in done:
            reader.result()
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader


class ClientGone(Exception):
    """The browser went away while a frame was on its way to it. (uvicorn raises an
    ``OSError`` then, as the ASGI spec allows: not to be taken for Redis failing.)"""


# The close code a socket that vanished without a closing handshake counts as.
ABNORMAL_CLOSURE = 1006


class EnvelopeConsumer(AsyncWebsocketConsumer):
    """Parses and validates envelopes, dispatches to ``handle_<type>`` methods named
    in ``handlers``, and turns ``ProtocolError`` into an error reply. A bad message
    gets an error; the connection and everyone else carry on."""

    handlers: dict[str, str] = {}
    max_frame_bytes = MAX_FRAME_BYTES

    async def __call__(self, scope, receive, send):
        """The channel layer failing (Redis down, or hung past the read timeout) ends
        the socket with 4503, as for a socket that could not join its groups, instead
        of a traceback and 1011: the page says live updates are unavailable and
        reconnects with backoff. A browser gone while a frame was sent to it
        (``ClientGone``) is only a closed socket: its disconnect runs, nothing else."""
        try:
            await self._serve(scope, receive, send)
        except ClientGone:
            # Its disconnect did not run (the send ended the socket's turn): presence.
            with contextlib.suppress(Exception):
                await self.disconnect(ABNORMAL_CLOSURE)
        except outage.REDIS_ERRORS as error:
            outage.noticed(error)
            logger.warning("%s: the channel layer failed (%s: %s); closing with 4503", type(self).__name__, type(error).__name__, error)
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": CloseCode.UNAVAILABLE})
            with contextlib.suppress(Exception):  # what the socket's disconnect does (presence)
                await self.disconnect(CloseCode.UNAVAILABLE)

    async def _serve(self, scope, receive, send) -> None:
        """Channels' ``AsyncConsumer.__call__``, with the socket's two sources (the
        browser, the channel layer) read by ``take_turns`` instead of Channels'
        ``await_many_dispatch``."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)

        async def send_to_browser(message: dict) -> None:
            try:
                await send(message)
            except OSError as error:
                raise ClientGone from error

        self.base_send = send_to_browser
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            sources.append(self.channel_receive)
        self.turn = asyncio.Lock()
        self.write_now: Callable[[bytes], bool] | None = write_now_extension(scope)
        at_once = self.write_now is not None and hasattr(self.channel_layer, "deliver_at_once")
        if at_once:
            self.channel_layer.deliver_at_once(self.channel_name, self.take_at_once)
        try:
            with contextlib.suppress(StopConsumer):
                await take_turns(sources, self.dispatch, self.turn)
        finally:
            if at_once:
                self.channel_layer.stop_delivering_at_once(self.channel_name)

    async def dispatch(self, message):
        """Channels' own ``dispatch`` first closes stale database connections, on the
        single thread that runs every database call: in a 200-person room each
        broadcast queued 200 such hops there, ahead of real work. Every database call
        of ours goes through ``database_sync_to_async``, which closes stale connections
        itself, so the hop is skipped."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data=None, bytes_data=None):
        request_id = None
        try:
            if bytes_data is not None or text_data is None:
                raise ProtocolError(ErrorCode.BAD_ENVELOPE, "Text frames only.")
            if len(text_data.encode()) > self.max_frame_bytes:
                raise ProtocolError(ErrorCode.TOO_LARGE, f"Messages are at most {self.max_frame_bytes} bytes.")
            kind, request_id, body = parse_envelope(load_json(text_data))
            handler = self.handler_for(kind)
            if handler is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"Unknown message type {kind!r}.")
            result = await handler(body)
            await self.reply("ack", request_id, result or {})
        except ProtocolError as error:
            await self.reply("error", request_id, {"code": error.code, "message": error.message})

    async def leave_groups(self, *groups: str) -> None:
        """Leave groups on the way out. Nothing is waited for while Redis is in
        trouble: channels-redis forgets a group's members after its group expiry."""
        for group in groups:
            if outage.redis_in_trouble():
                return
            try:
                await asyncio.wait_for(self.channel_layer.group_discard(group, self.channel_name), LEAVE_TIMEOUT)
            except Exception as error:
                outage.noticed(error)

    def handler_for(self, kind: str):
        """The coroutine function that handles messages of type ``kind``, or None."""
        method = self.handlers.get(kind)
        return getattr(self, method) if method else None

    async def reply(self, kind: str, request_id: str | None, body: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": kind, "id": request_id, "body": body}))

    async def parley_event(self, event: dict[str, Any]) -> None:
        """Group events published by ``core.realtime.broadcast``."""
        mine = self.event_for_me(event)
        if mine is not None:
            await self.send(text_data=event_frame(mine))

    # --- A group event passed on at once (core.layers, core.serve) -----------------

    def event_for_me(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The group event as this socket passes it on (the same dict, or a copy of its
        own), or None when it is not for this socket. Reads the socket's state only."""
        return None if event.get("except") == self.channel_name else event

    def needs_turn(self, event: dict[str, Any]) -> bool:
        """Must this group event wait for the socket's turn (``parley_event`` changes the
        socket, or may)? Every event does unless a consumer says otherwise."""
        return True

    def take_at_once(self, message: dict[str, Any]) -> bool:
        """Pass a group message on now, in the channel layer's hand-out, instead of in
        this socket's turn: True when done (written, or not for this socket), False
        when it must be queued as usual.

        Only when nothing is ahead of it: the layer calls this only while the socket's
        queue is empty, and the socket must not be in a turn (handling a browser
        message or an earlier event, which may still write). So the frames keep the
        order they would have had, and what a reply or an event changes in the socket
        is done before the next event is looked at. The server's ``write_now``
        refuses while its socket cannot take a frame at once (closing, or the
        browser reading slower than we write): the message then waits in the queue,
        as every message did before."""
        if self.turn.locked() or self.write_now is None or message.get("type") != "parley.event" or self.needs_turn(message):
            return False
        mine = self.event_for_me(message)
        return mine is None or self.write_now(wire_frame(mine))


# Where ``event_frame`` keeps a group event's encoded frame, in the event itself.
FRAME_KEY = "__frame__"
# And where ``wire_frame`` keeps it as a WebSocket frame.
WIRE_KEY = "__wire__"
# The ASGI extension of Parley's web server (core.serve) that writes a prepared frame.
WRITE_NOW = "parley.write_now"


def write_now_extension(scope: dict[str, Any]) -> Callable[[bytes], bool] | None:
    """The server's ``write_now(frame) -> bool`` for this socket, if it offers one."""
    extension = scope.get("extensions", {}).get(WRITE_NOW)
    return extension.get("write") if isinstance(extension, dict) else None


def event_frame(event: dict[str, Any]) -> str:
    """The text frame of a group event (``{type, id: null, body}``), encoded once
    however many sockets of this process pass it on: the channel layer hands them the
    same message (``core.layers``)."""
    frame = event.get(FRAME_KEY)
    if frame is None:
        frame = event[FRAME_KEY] = json.dumps({"type": event["event"], "id": None, "body": event["body"]})
    return frame


def wire_frame(event: dict[str, Any]) -> bytes:
    """The group event's text frame as it goes on the wire from a server (one final,
    unmasked frame, no extension), made once for every socket of this process."""
    wire = event.get(WIRE_KEY)
    if wire is None:
        wire = event[WIRE_KEY] = Frame(Opcode.TEXT, event_frame(event).encode()).serialize(mask=False)
    return wire


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # Two values for one key would let the server and a client read different messages.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, at most MAX_JSON_DEPTH deep.

    The depth is measured on the text before parsing: the json module recurses, and a
    RecursionError inside it is both costly and bad for the interpreter's state.
    """
    if nesting_exceeds(text, MAX_JSON_DEPTH):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, f"Messages nest at most {MAX_JSON_DEPTH} levels deep.")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "A key appears twice in an object.") from None
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_JSON, "Not valid JSON.") from None
    if SURROGATE_ESCAPE_RE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ProtocolError(ErrorCode.BAD_JSON, "Strings must be valid Unicode.") from None
    return value


BRACKET_OR_QUOTE_RE = re.compile(r'[\[\]{}"]')


def nesting_exceeds(text: str, limit: int) -> bool:
    """Do ``[``/``{`` outside JSON strings nest deeper than ``limit``? Linear, no recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual message: too few brackets to be too deep
    depth = 0
    position = 0
    while match := BRACKET_OR_QUOTE_RE.search(text, position):
        char = match.group()
        position = match.end()
        if char == '"':
            position = _string_end(text, position)
            if position < 0:
                return False  # an unterminated string: not JSON, the parser says so
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _string_end(text: str, start: int) -> int:
    """The index after the quote that closes a string opened before ``start``, or -1."""
    while (quote := text.find('"', start)) >= 0:
        backslashes = 0
        while text[quote - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return quote + 1
        start = quote + 1
    return -1


def parse_envelope(message: Any) -> tuple[str, str | None, dict]:
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "A message is a JSON object.")
    unknown = set(message) - {"type", "id", "body"}
    if unknown:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, f"Unknown fields: {', '.join(sorted(unknown))}.")
    kind = message.get("type")
    request_id = message.get("id")
    body = message.get("body", {})
    if not isinstance(kind, str) or not TYPE_RE.match(kind):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "“type” must be a short lowercase name.")
    if request_id is not None and (not isinstance(request_id, str) or not ID_RE.match(request_id)):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "“id” must be null or 1-64 letters, digits, - or _.")
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "“body” must be an object.")
    return kind, request_id, body


def require_fields(body: dict, spec: dict[str, type]) -> dict:
    """Exactly these fields, each of the given type (bool is not an int)."""
    unknown = set(body) - set(spec)
    if unknown:
        raise ProtocolError(ErrorCode.INVALID, f"Unknown fields: {', '.join(sorted(unknown))}.")
    for name, kind in spec.items():
        value = body.get(name)
        if value is None or (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise ProtocolError(ErrorCode.INVALID, f"“{name}” must be a {kind.__name__}.")
    return body
