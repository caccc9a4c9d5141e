"""``/ws/helper/``: the desktop helper's socket (docs/remote-control.md).

The helper has no browser session: it proves who it is with a pairing code, once per
socket. The consumer never touches the ORM; the services decide. It passes on the
events of its participant's helper group, and input only for the session this socket
made active (a stale or foreign session's input is dropped here, and again in the helper).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from core.clientip import scope_client_ip
from core.consumers import call_service, db_call
from core.protocol import CloseCode, EnvelopeConsumer, ErrorCode, ProtocolError, require_fields
from core.ratelimit import RateWindow
from meetings.remote import services

logger = logging.getLogger("meetings.remote")

RATE = (60, 10)  # messages per socket and seconds
FORWARDED = {"control.request", "control.stopped", "control.input", "helper.closed"}


class HelperConsumer(EnvelopeConsumer):
    handlers = {
        "ping": "handle_ping",
        "helper.pair": "handle_pair",
        "control.consent": "handle_consent",
        "control.stop": "handle_stop",
    }

    async def connect(self) -> None:
        self.participant_id: int | None = None
        self.group: str | None = None
        self.active_session_id: int | None = None
        self.closing = False
        self.close_after: int | None = None  # a refusal that ends this socket, once answered
        self.after_reply: list[tuple[str, dict]] = []  # events that follow the reply
        self.bucket = RateWindow(*RATE)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.leave_groups(self.group)
        if self.participant_id is not None:
            await db_call(services.helper_gone)(self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if not self.bucket.take():
            await self.reply("error", None, {"code": ErrorCode.RATE_LIMITED, "message": "Too many messages; slow down."})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)
        for event, body in self.after_reply:
            await self.reply(event, None, body)
        self.after_reply = []
        if self.close_after is not None:
            await self._close(self.close_after)

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    def _require_paired(self) -> None:
        if self.participant_id is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Pair first (helper.pair).")

    # --- Messages from the helper ----------------------------------------------------

    async def handle_ping(self, body):
        require_fields(body, {})
        return {}

    async def handle_pair(self, body):
        if self.participant_id is not None:
            raise ProtocolError(ErrorCode.INVALID, "This helper is paired already.")
        # One attempt per socket: any refusal closes it.
        self.close_after = CloseCode.FORBIDDEN
        require_fields(body, {"code": str, "platform": str, "screens": list})
        address = scope_client_ip(self.scope) or ""
        if not await db_call(services.pairing_attempt_allowed)(address):
            logger.warning("Helper pairing attempts over the limit from %s", address)
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many pairing attempts; wait a minute.")
        owner_id = await db_call(services.code_owner)(body["code"])
        if owner_id is not None:
            # Join before pairing: an event published once the pairing commits reaches us.
            try:
                await self.channel_layer.group_add(services.helper_group(owner_id), self.channel_name)
            except Exception:
                raise ProtocolError(ErrorCode.UNAVAILABLE, "The live service is unavailable; try again.") from None
            self.group = services.helper_group(owner_id)
        try:
            paired = await call_service(services.pair_helper, body["code"], self.channel_name, body["platform"], body["screens"])
        except ProtocolError:
            if self.group:
                await self.channel_layer.group_discard(self.group, self.channel_name)
                self.group = None
            raise
        self.close_after = None
        self.participant_id = paired.participant_id
        if paired.old_channel:
            with contextlib.suppress(Exception):  # the old socket may be gone already
                await self.channel_layer.send(paired.old_channel, {"type": "remote.helper_replaced"})
        if paired.ask:
            self.after_reply.append(("control.request", paired.ask))
        return {"participant_name": paired.participant_name, "meeting_title": paired.meeting_title}

    async def handle_consent(self, body):
        self._require_paired()
        require_fields(body, {"session_id": int, "allow": bool})
        await call_service(services.helper_consent, self.channel_name, body["session_id"], body["allow"])
        if body["allow"]:
            # Set before the next message is handled: input may follow at once.
            self.active_session_id = body["session_id"]
        return {}

    async def handle_stop(self, body):
        self._require_paired()
        require_fields(body, {"session_id": int})
        if self.active_session_id == body["session_id"]:
            self.active_session_id = None  # no more input, whatever the database says
        await call_service(services.helper_stop, self.channel_name, body["session_id"])
        return {}

    # --- Events from the channel layer --------------------------------------------

    async def parley_event(self, event: dict[str, Any]) -> None:
        name, body = event["event"], event["body"]
        if self.closing or self.participant_id is None or name not in FORWARDED:
            return
        if name == "control.input" and body.get("session_id") != self.active_session_id:
            return  # not the session this helper consented to
        if name == "control.stopped" and body.get("session_id") == self.active_session_id:
            self.active_session_id = None
        await self.reply(name, None, body)
        if name == "helper.closed":
            await self._close(CloseCode.ENDED)

    async def remote_helper_replaced(self, event: dict[str, Any]) -> None:
        """A newer helper of the same participant took over."""
        if not self.closing:
            self.active_session_id = None
            self.participant_id = None  # its pairing is the new socket's now
            await self._close(CloseCode.REPLACED)
