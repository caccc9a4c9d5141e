"""``/ws/meetings/<public_id>/``: the meeting room socket (docs/protocol.md).

The consumer is a router: it takes identity from the session, keeps the socket's
presence, rate-limits, and hands each message to the handler registered for its type
in ``meetings.room_features`` (the room's own in ``meetings.room_handlers``, chat in
``meetings.chat``, the features' in their ``room`` modules). It never touches the
ORM: handlers call services through ``call``. Services publish events after commit;
the consumer passes them on (filtering those meant for one audience), most of them at
once between its turns (``EnvelopeConsumer.take_at_once``), and acts in its turn on the
ones about its own socket: a role change, kicked, replaced, ended, accepted or
rejected from the lobby.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from core import online
from core.consumers import ChannelLayerDown, call_service, db_call
from core.protocol import FRAME_RATE, CloseCode, EnvelopeConsumer, ErrorCode, ProtocolError, event_frame
from core.ratelimit import RateWindow
from core.realtime import audience_group
from meetings import room_features, services, snapshots
from meetings.models import Participant, Role
from meetings.roomkit import ORGANIZERS, PRESENTERS, RoomError, meeting_group, participant_group

logger = logging.getLogger(__name__)

JOINED = Participant.State.JOINED
LOBBY = Participant.State.LOBBY

# Who receives an event published with an ``audience``.
AUDIENCES = {ORGANIZERS: {Role.ORGANIZER}, PRESENTERS: {Role.ORGANIZER, Role.PRESENTER}}
# Events that change the socket that passes them on (``parley_event``): they wait for
# its turn. The others it may pass on at once (``EnvelopeConsumer.take_at_once``).
SOCKET_EVENTS = frozenset({"you.kicked", "meeting.ended", "lobby.status"})
ABOUT_ME_EVENTS = frozenset({"participant.updated", "participant.left"})


# --- The consumer ---------------------------------------------------------------------


class RoomConsumer(EnvelopeConsumer):
    """One participant's live socket in a meeting room (or in its lobby)."""

    max_frame_bytes = 64 * 1024

    # --- Connecting ---------------------------------------------------------------

    async def connect(self) -> None:
        self.participant: Participant | None = None
        self.participant_id: int | None = None
        self.role = self.state = ""
        self.registered = False
        self.closing = False
        self.joined_groups: list[str] = []
        self.frames = RateWindow(*FRAME_RATE)
        self.buckets = {name: RateWindow(*rate) for name, rate in room_features.rates.items()}
        self.public_id = self.scope["url_route"]["kwargs"]["public_id"]
        # Accept first: a browser sees the close code only on an accepted socket.
        await self.accept()
        session = self.scope.get("session")
        try:
            participant = await db_call(services.room_participant)(
                self.public_id, self.scope.get("user"), session.session_key if session else None
            )
            await self._join_group(participant_group(participant.pk))
            old_channel = await db_call(services.connect_participant)(participant, self.channel_name)
        except Http404:
            await self._close(CloseCode.NOT_FOUND)
            return
        except PermissionDenied:
            await self._close(CloseCode.FORBIDDEN)
            return
        except RoomError:
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
            status = await db_call(services.lobby_status)(participant)
            await self.reply("lobby.status", None, status)

    async def _join_group(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as error:
            raise ChannelLayerDown from error
        self.joined_groups.append(group)

    async def _enter_room(self) -> None:
        """Into the meeting's group first, then the snapshot: nothing falls in between.
        (Sockets that join together share one read: ``meetings.snapshots``.)"""
        if self.participant is None:  # only a registered socket enters
            return
        try:
            await self._join_group(meeting_group(self.public_id))
            snapshot = await snapshots.room_snapshot(self.participant)
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
        await self.leave_groups(*self.joined_groups)
        if self.registered:
            await db_call(services.disconnect_participant)(self.participant, self.channel_name)

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
        if not self.frames.take():
            await self.reply("error", None, {"code": ErrorCode.RATE_LIMITED, "message": "Too many messages; slow down."})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    def handler_for(self, kind: str):
        """Every message of the room is registered in ``room_features`` (the room's own
        in ``meetings.room_handlers``): run it with its checks."""
        registered = room_features.handlers.get(kind)
        if registered is None:
            return None

        async def handle(body: dict):
            if not registered.lobby:
                self._require_joined()
            if registered.bucket:
                self._limit(registered.bucket)
            return await registered.function(self, body)

        return handle

    def _require_joined(self) -> None:
        if self.state != JOINED:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Wait until an organizer lets you in.")

    def _limit(self, bucket: str) -> None:
        if not self.buckets[bucket].take():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many messages of this kind; wait a few seconds.")

    async def call(self, what: str, function, /, *args, **kwargs):
        """Run a (sync) service for a handler; its refusals become protocol errors, and
        refused rights are logged with the room and the person."""
        try:
            return await call_service(function, *args, **kwargs)
        except ProtocolError as error:
            if error.code == ErrorCode.FORBIDDEN:
                logger.warning(
                    "Room %s: %s refused to participant %s (%s): %s", self.public_id, what, self.participant_id, self.role, error.message
                )
            raise

    # --- Events from the channel layer ------------------------------------------

    async def parley_event(self, event: dict[str, Any]) -> None:
        mine = self.event_for_me(event)
        if mine is None:
            return
        name, body = event["event"], event["body"]
        if name == "participant.updated" and self._about_me(body) and body["role"] != self.role:
            self.role = body["role"]
            with contextlib.suppress(ChannelLayerDown):  # the next snapshot puts it right
                await self._follow_role()
        await self.send(text_data=event_frame(mine))
        if name == "you.kicked":
            await self._close(CloseCode.FORBIDDEN)
        elif name == "meeting.ended":
            await self._close(CloseCode.ENDED)
        elif name == "participant.left" and self._about_me(body):
            # Left in another tab, moved to another meeting: this socket is done.
            await self._close(CloseCode.FORBIDDEN)
        elif name == "lobby.status" and body.get("status") == "rejected":
            await self._close(CloseCode.FORBIDDEN)
        elif name == "lobby.status" and body.get("status") == "accepted" and self.state == LOBBY:
            await self._enter_room()

    def event_for_me(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if self.closing or event.get("except") == self.channel_name:
            return None
        name, body = event["event"], event["body"]
        audience = event.get("audience")
        if audience and self.role not in AUDIENCES.get(audience, ()):
            return None
        if name == online.EVENT and self.participant_id in body["ids"]:
            # Its own arrival: its snapshot said it (and it is the only socket told so).
            others = [participant_id for participant_id in body["ids"] if participant_id != self.participant_id]
            return {"event": name, "body": {"ids": others}} if others else None
        return event

    def needs_turn(self, event: dict[str, Any]) -> bool:
        """The events that change this socket (its role, its state, closing it) are
        handled in its turn; every other one may be passed on at once."""
        name, body = event["event"], event["body"]
        return name in SOCKET_EVENTS or (name in ABOUT_ME_EVENTS and self._about_me(body))

    def _about_me(self, body: Any) -> bool:
        return isinstance(body, dict) and self.participant_id in (body.get("id"), body.get("participant_id"))

    async def room_replaced(self, event: dict[str, Any]) -> None:
        """A newer socket of the same participant took over."""
        if not self.closing:
            self.registered = False  # the new socket owns the presence now
            await self._send_and_close("session.replaced", {}, CloseCode.REPLACED)
