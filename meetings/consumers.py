"""``/ws/meetings/<public_id>/``: the meeting room socket (docs/protocol.md).

The consumer never touches the ORM: it validates frames, takes identity from the
session, rate-limits, and calls ``meetings.services`` through
``database_sync_to_async``. Services publish events after commit; the consumer passes
them on (filtering those meant for organizers) and acts on the ones about its own
socket: kicked, replaced, ended, accepted or rejected from the lobby.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from core.protocol import CloseCode, EnvelopeConsumer, ErrorCode, ProtocolError, require_fields
from core.realtime import audience_group, meeting_group, participant_group
from meetings import room_features, services
from meetings.models import Participant, Role

logger = logging.getLogger(__name__)

JOINED = Participant.State.JOINED
LOBBY = Participant.State.LOBBY

SDP_MAX_BYTES = 60 * 1024
CANDIDATE_MAX = 1024
SDP_LINE = re.compile(r"[a-z]=.*", re.DOTALL)
# Per socket: (messages, seconds). Features add theirs (``room_features.rate``).
RATES = {"all": (600, 10), "chat": (5, 10), "reaction": (10, 10), "signal": (300, 10)}
# Who receives an event published with an ``audience``.
AUDIENCES = {services.ORGANIZERS: {Role.ORGANIZER}, services.PRESENTERS: {Role.ORGANIZER, Role.PRESENTER}}


class TokenBucket:
    """``capacity`` messages, refilled evenly over ``seconds``."""

    def __init__(self, capacity: int, seconds: float, clock=time.monotonic):
        self.capacity = capacity
        self.per_second = capacity / seconds
        self.tokens = float(capacity)
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


# --- Validation of signals ------------------------------------------------------------


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID, message)


def _int_field(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"“{name}” must be an int.")
    return value


def valid_sdp(sdp: Any) -> bool:
    """A plausible SDP: starts with ``v=0``, ≤ 60 KiB, CRLF or LF lines ``x=...`` of
    printable text. The browsers check the rest; this keeps garbage off the others."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp.encode()) > SDP_MAX_BYTES:
        return False
    lines = sdp.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line break
    for line in lines:
        line = line.removesuffix("\r")
        if not SDP_LINE.fullmatch(line) or not line.isprintable():
            return False
    return True


def _description(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) != {"type", "sdp"}:
        raise _invalid("“description” is {type, sdp}.")
    if value["type"] not in ("offer", "answer"):
        raise _invalid("“description.type” is offer or answer.")
    if not valid_sdp(value["sdp"]):
        raise _invalid("“description.sdp” is not a valid SDP.")
    return {"type": value["type"], "sdp": value["sdp"]}


def _optional_text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise _invalid(f"“{name}” must be null or text of at most {limit} characters.")
    return value


def _candidate(value: Any) -> dict | None:
    if value is None:
        return None  # end of candidates
    required = {"candidate", "sdpMid", "sdpMLineIndex"}
    if not isinstance(value, dict) or not required <= set(value) <= required | {"usernameFragment"}:
        raise _invalid("“candidate” is {candidate, sdpMid, sdpMLineIndex} or null.")
    text = value["candidate"]
    if not isinstance(text, str) or len(text) > CANDIDATE_MAX or not text.isprintable():
        raise _invalid(f"“candidate.candidate” is text of at most {CANDIDATE_MAX} characters.")
    if text and not text.startswith("candidate:"):
        raise _invalid("“candidate.candidate” starts with “candidate:”.")
    index = value["sdpMLineIndex"]
    if index is not None and not 0 <= _int_field(index, "candidate.sdpMLineIndex") <= 1023:
        raise _invalid("“candidate.sdpMLineIndex” is out of range.")
    candidate = {"candidate": text, "sdpMid": _optional_text(value["sdpMid"], "candidate.sdpMid", 64), "sdpMLineIndex": index}
    if "usernameFragment" in value:
        candidate["usernameFragment"] = _optional_text(value["usernameFragment"], "candidate.usernameFragment", 256)
    return candidate


def validate_signal(body: dict) -> tuple[int, dict]:
    """(target id, what the target receives besides ``from``)."""
    if set(body) not in ({"to", "description"}, {"to", "candidate"}):
        raise _invalid("A signal has “to” and either “description” or “candidate”; nothing else.")
    to = _int_field(body["to"], "to")
    if "description" in body:
        return to, {"description": _description(body["description"])}
    return to, {"candidate": _candidate(body["candidate"])}


def _participant_id(body: dict) -> int:
    target_id = body["participant_id"]
    if not 1 <= target_id <= services.ID_MAX:
        raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such participant.")
    return target_id


# --- The consumer ---------------------------------------------------------------------


class RoomConsumer(EnvelopeConsumer):
    """One participant's live socket in a meeting room (or in its lobby)."""

    max_frame_bytes = 64 * 1024
    handlers = {
        "ping": "handle_ping",
        "signal": "handle_signal",
        "media.state": "handle_media_state",
        "chat.send": "handle_chat",
        "reaction.send": "handle_reaction",
        "share.start": "handle_share_start",
        "share.stop": "handle_share_stop",
        "role.change": "handle_role_change",
        "moderate.media": "handle_moderate_media",
        "moderate.chat": "handle_moderate_chat",
        "moderate.annotate": "handle_moderate_annotate",
        "moderate.kick": "handle_moderate_kick",
        "lobby.accept": "handle_lobby_accept",
        "lobby.reject": "handle_lobby_reject",
        "lobby.accept_all": "handle_lobby_accept_all",
        "lobby.reject_all": "handle_lobby_reject_all",
        "meeting.end": "handle_meeting_end",
    }

    # --- Connecting ---------------------------------------------------------------

    async def connect(self) -> None:
        self.participant: Participant | None = None
        self.participant_id: int | None = None
        self.role = self.state = ""
        self.registered = False
        self.closing = False
        self.joined_groups: list[str] = []
        self.buckets = {name: TokenBucket(*rate) for name, rate in {**RATES, **room_features.rates}.items()}
        self.public_id = self.scope["url_route"]["kwargs"]["public_id"]
        # Accept first: a browser sees the close code only on an accepted socket.
        await self.accept()
        session = self.scope.get("session")
        try:
            participant = await database_sync_to_async(services.room_participant)(
                self.public_id, self.scope.get("user"), session.session_key if session else None
            )
            await self._join_group(participant_group(participant.pk))
            old_channel = await database_sync_to_async(services.connect_participant)(participant, self.channel_name)
        except Http404:
            await self._close(CloseCode.NOT_FOUND)
            return
        except PermissionDenied:
            await self._close(CloseCode.FORBIDDEN)
            return
        except services.RoomError:
            await self._close(CloseCode.ENDED)
            return
        except ChannelLayerDown:
            await self._close(CloseCode.UNAVAILABLE)
            return
        self.participant, self.registered = participant, True
        self.participant_id, self.role, self.state = participant.pk, participant.role, participant.state
        if old_channel:
            with contextlib.suppress(Exception):  # the old socket may be gone already
                await self.channel_layer.send(old_channel, {"type": "room.replaced"})
        if self.state == JOINED:
            await self._enter_room()
        else:
            status = await database_sync_to_async(services.lobby_status)(participant)
            await self.reply("lobby.status", None, status)

    async def _join_group(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as error:
            raise ChannelLayerDown from error
        self.joined_groups.append(group)

    async def _enter_room(self) -> None:
        """Into the meeting's group first, then the snapshot: nothing falls in between."""
        try:
            await self._join_group(meeting_group(self.public_id))
            snapshot = await database_sync_to_async(services.room_snapshot)(self.participant)
        except ChannelLayerDown:
            await self._close(CloseCode.UNAVAILABLE)
            return
        except PermissionDenied:
            await self._close(CloseCode.FORBIDDEN)
            return
        self.state, self.role = JOINED, snapshot["self"]["role"]
        try:
            await self._follow_role()
        except ChannelLayerDown:
            await self._close(CloseCode.UNAVAILABLE)
            return
        await self.reply("room.snapshot", None, snapshot)

    async def _follow_role(self) -> None:
        """Be in the audience groups of the current role (organizers, presenters) and
        in no other."""
        for audience, roles in AUDIENCES.items():
            group = audience_group(meeting_group(self.public_id), audience)
            if self.role in roles and group not in self.joined_groups:
                await self._join_group(group)
            elif self.role not in roles and group in self.joined_groups:
                self.joined_groups.remove(group)
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self.channel_name)

    async def disconnect(self, code):
        for group in self.joined_groups:
            with contextlib.suppress(Exception):  # Redis down: nothing to clean up
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.registered:
            await database_sync_to_async(services.disconnect_participant)(self.participant, self.channel_name)

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    async def _send_and_close(self, event: str, body: dict, code: int) -> None:
        await self.reply(event, None, body)
        await self._close(code)

    # --- Frames -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing or not self.registered:
            return
        if not self.buckets["all"].take():
            await self.reply("error", None, {"code": ErrorCode.RATE_LIMITED, "message": "Too many messages; slow down."})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    def handler_for(self, kind: str):
        handler = super().handler_for(kind)
        feature = room_features.handlers.get(kind)
        if handler is not None or feature is None:
            return handler

        async def handle(body: dict):
            if not feature.lobby:
                self._require_joined()
            if feature.bucket:
                self._limit(feature.bucket)
            return await feature.function(self, body)

        return handle

    def _require_joined(self) -> None:
        if self.state != JOINED:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Wait until an organizer lets you in.")

    def _limit(self, bucket: str) -> None:
        if not self.buckets[bucket].take():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many messages of this kind; wait a few seconds.")

    async def call(self, what: str, function, *args, **kwargs):
        """Run a (sync) service for a feature handler; refusals become protocol errors."""
        return await self._call(what, function, *args, **kwargs)

    async def _call(self, what: str, function, *args, **kwargs):
        """Run a service; its refusals become protocol errors (and forbidden ones are logged)."""
        try:
            return await database_sync_to_async(function)(*args, **kwargs)
        except PermissionDenied as denied:
            logger.warning(
                "Room %s: %s refused to participant %s (%s): %s",
                self.public_id,
                what,
                self.participant_id,
                self.role,
                denied or "forbidden",
            )
            raise ProtocolError(ErrorCode.FORBIDDEN, str(denied) or "Your role does not allow this.") from None
        except ValidationError as invalid:
            raise ProtocolError(ErrorCode.INVALID, " ".join(invalid.messages)) from None
        except services.RoomError as refused:
            raise ProtocolError(refused.code, refused.message) from None

    # --- Handlers -----------------------------------------------------------------

    async def handle_ping(self, body):
        require_fields(body, {})
        return {}

    async def handle_signal(self, body):
        self._require_joined()
        self._limit("signal")
        to, payload = validate_signal(body)
        await self._call("signal", services.check_signal, self.participant, to)
        message = {"type": "parley.event", "event": "signal", "body": {"from": self.participant_id, **payload}}
        try:
            await self.channel_layer.group_send(participant_group(to), message)
        except Exception:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "The live service is unavailable; try again.") from None
        return {}

    async def handle_media_state(self, body):
        self._require_joined()
        require_fields(body, {"mic": bool, "camera": bool})
        await self._call("media.state", services.set_media_state, self.participant, mic=body["mic"], camera=body["camera"])
        return {}

    async def handle_chat(self, body):
        self._require_joined()
        self._limit("chat")
        require_fields(body, {"text": str})
        message = await self._call("chat.send", services.post_chat_message, self.participant, body["text"])
        return {"id": message.pk}

    async def handle_reaction(self, body):
        self._require_joined()
        self._limit("reaction")
        require_fields(body, {"emoji": str})
        await self._call("reaction.send", services.send_reaction, self.participant, body["emoji"])
        return {}

    async def handle_share_start(self, body):
        self._require_joined()
        require_fields(body, {"kind": str, "stream_id": str})
        return await self._call("share.start", services.start_share, self.participant, kind=body["kind"], stream_id=body["stream_id"])

    async def handle_share_stop(self, body):
        self._require_joined()
        require_fields(body, {})
        await self._call("share.stop", services.stop_share, self.participant)
        return {}

    async def handle_role_change(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int, "role": str})
        await self._call("role.change", services.change_role, self.participant, _participant_id(body), body["role"])
        return {}

    async def handle_moderate_media(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int, "kind": str, "allowed": bool})
        if body["kind"] not in services.MEDIA_KINDS:
            raise _invalid("“kind” is mic or camera.")
        await self._call(
            "moderate.media", services.set_media_allowed, self.participant, _participant_id(body), body["kind"], body["allowed"]
        )
        return {}

    async def handle_moderate_chat(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int, "allowed": bool})
        await self._call("moderate.chat", services.set_chat_allowed, self.participant, _participant_id(body), body["allowed"])
        return {}

    async def handle_moderate_annotate(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int, "allowed": bool})
        await self._call("moderate.annotate", services.set_annotate_allowed, self.participant, _participant_id(body), body["allowed"])
        return {}

    async def handle_moderate_kick(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int})
        await self._call("moderate.kick", services.kick_participant, self.participant, _participant_id(body))
        return {}

    async def handle_lobby_accept(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int})
        await self._call("lobby.accept", services.accept_lobby, self.participant, _participant_id(body))
        return {}

    async def handle_lobby_reject(self, body):
        self._require_joined()
        require_fields(body, {"participant_id": int})
        await self._call("lobby.reject", services.reject_lobby, self.participant, _participant_id(body))
        return {}

    async def handle_lobby_accept_all(self, body):
        self._require_joined()
        require_fields(body, {})
        return {"count": await self._call("lobby.accept_all", services.accept_all_lobby, self.participant)}

    async def handle_lobby_reject_all(self, body):
        self._require_joined()
        require_fields(body, {})
        return {"count": await self._call("lobby.reject_all", services.reject_all_lobby, self.participant)}

    async def handle_meeting_end(self, body):
        self._require_joined()
        require_fields(body, {})
        await self._call("meeting.end", services.end_meeting_as, self.participant)
        return {}

    # --- Events from the channel layer ------------------------------------------

    async def parley_event(self, event: dict[str, Any]) -> None:
        if self.closing:
            return
        name, body = event["event"], event["body"]
        audience = event.get("audience")
        if audience and self.role not in AUDIENCES.get(audience, ()):
            return
        about_me = isinstance(body, dict) and self.participant_id in (body.get("id"), body.get("participant_id"))
        if name == "participant.updated" and about_me and body["role"] != self.role:
            self.role = body["role"]
            with contextlib.suppress(ChannelLayerDown):  # the next snapshot puts it right
                await self._follow_role()
        await self.reply(name, None, body)
        if name == "you.kicked":
            await self._close(CloseCode.FORBIDDEN)
        elif name == "meeting.ended":
            await self._close(CloseCode.ENDED)
        elif name == "participant.left" and about_me:
            # Left in another tab, moved to another meeting: this socket is done.
            await self._close(CloseCode.FORBIDDEN)
        elif name == "lobby.status" and body.get("status") == "rejected":
            await self._close(CloseCode.FORBIDDEN)
        elif name == "lobby.status" and body.get("status") == "accepted" and self.state == LOBBY:
            await self._enter_room()

    async def room_replaced(self, event: dict[str, Any]) -> None:
        """A newer socket of the same participant took over."""
        if not self.closing:
            self.registered = False  # the new socket owns the presence now
            await self._send_and_close("session.replaced", {}, CloseCode.REPLACED)


class ChannelLayerDown(Exception):
    pass
