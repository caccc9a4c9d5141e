"""``/ws/recorder/<recording_id>/?token=…``: the media worker's recorder peer.

Only for the media worker: the token it got when it claimed the job (signed
recording id, segment and worker id; TOKEN_MAX_AGE seconds to connect) is the only
credential; anything else is closed with 4403. The worker sends an ``Origin`` header
of the server's own address (``AllowedHostsOriginValidator``).

The socket joins its recorder participant's group (signals addressed to it) and the
meeting's group, then gets ``room.roster`` and the room events it needs. It sends
``signal`` (validated as a browser's, only to joined participants) and
``recorder.heartbeat``. The consumer never touches the ORM.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from django.core.exceptions import PermissionDenied

from core.consumers import call_service, db_call, send_event
from core.protocol import FRAME_RATE, CloseCode, EnvelopeConsumer, ErrorCode, ProtocolError, require_fields
from core.ratelimit import RateWindow
from core.webrtc import SIGNAL_RATE, validate_signal
from media_server import services
from meetings.roomkit import meeting_group, participant_group

logger = logging.getLogger(__name__)

# What the recorder needs of the room's events.
FORWARDED = {
    "participant.joined",
    "participant.updated",
    "participant.left",
    "share.started",
    "share.stopped",
    "signal",
    "recording.state",
    "meeting.ended",
    # Mesh or SFU, and a new Janus room (generation): where the recorder gets the media.
    "media.topology",
}
TOKEN_MAX_CHARS = 1024


class RecorderConsumer(EnvelopeConsumer):
    max_frame_bytes = 64 * 1024
    handlers = {
        "ping": "handle_ping",
        "signal": "handle_signal",
        "recorder.heartbeat": "handle_heartbeat",
    }

    async def connect(self) -> None:
        self.session: services.RecorderSession | None = None
        self.registered = False
        self.closing = False
        self.joined_groups: list[str] = []
        self.buckets = {"all": RateWindow(*FRAME_RATE), "signal": RateWindow(*SIGNAL_RATE)}
        await self.accept()
        recording_id = self.scope["url_route"]["kwargs"]["recording_id"]
        tokens = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("token", [])
        if len(tokens) != 1 or len(tokens[0]) > TOKEN_MAX_CHARS:
            await self._close(CloseCode.FORBIDDEN)
            return
        try:
            self.session = await db_call(services.open_recorder)(recording_id, tokens[0])
            for group in (participant_group(self.session.participant_id), meeting_group(self.session.meeting_public_id)):
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined_groups.append(group)
            roster = await db_call(services.recorder_connected)(self.session, self.channel_name)
        except PermissionDenied:
            logger.warning("Recorder socket for recording %s refused", recording_id)
            await self._close(CloseCode.FORBIDDEN)
            return
        except Exception:
            logger.exception("Recorder socket for recording %s could not start", recording_id)
            await self._close(CloseCode.UNAVAILABLE)
            return
        self.registered = True
        await self.reply("room.roster", None, roster)

    async def disconnect(self, code):
        await self.leave_groups(*self.joined_groups)
        if self.registered and self.session is not None:
            await db_call(services.recorder_left)(self.session, self.channel_name)

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing or not self.registered:
            return
        if not self.buckets["all"].take():
            await self.reply("error", None, {"code": ErrorCode.RATE_LIMITED, "message": "Too many messages; slow down."})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    # --- Handlers -----------------------------------------------------------------

    async def handle_ping(self, body):
        require_fields(body, {})
        return {}

    async def handle_signal(self, body):
        if not self.buckets["signal"].take():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many signals; wait a few seconds.")
        to, payload = validate_signal(body)
        assert self.session is not None
        await call_service(services.check_recorder_signal, self.session, to)
        await send_event(self.channel_layer, participant_group(to), "signal", {"from": self.session.participant_id, **payload})
        return {}

    async def handle_heartbeat(self, body):
        require_fields(body, {})
        assert self.session is not None
        return {"state": await call_service(services.recorder_heartbeat, self.session)}

    # --- Events from the channel layer ------------------------------------------

    async def parley_event(self, event: dict[str, Any]) -> None:
        if self.closing or self.session is None:
            return
        name, body = event["event"], event["body"]
        if name == "recorder.left" and body.get("id") == self.session.participant_id:
            # Interrupted (lease expired) or the meeting is gone: this socket is done.
            await self._close(CloseCode.FORBIDDEN)
            return
        if name not in FORWARDED or event.get("audience"):
            return
        await self.reply(name, None, body)
        if name == "meeting.ended":
            await self._close(CloseCode.ENDED)
