"""WebSockets of the request flow: the agent's web client and the waiting visitor."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from core.consumers import db_call
from core.protocol import CloseCode, EnvelopeConsumer, ErrorCode, ProtocolError, require_fields
from rooms import access, services
from rooms.groups import extension_group, request_group


class ClientConsumer(EnvelopeConsumer):
    """``/ws/client/``: live meeting requests for a logged-in extension user."""

    handlers = {"request.ignore": "handle_ignore", "ping": "handle_ping"}

    async def connect(self):
        try:
            self.extension = await db_call(access.extension_for)(self.scope.get("user"))
        except PermissionDenied:
            await self.close(code=CloseCode.UNAUTHORIZED)
            return
        self.group = extension_group(self.extension.pk)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:
            await self.close(code=CloseCode.UNAVAILABLE)
            return
        await self.accept()
        snapshot = await db_call(_snapshot)(self.extension)
        await self.reply("requests.snapshot", None, snapshot)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.leave_groups(self.group)

    async def handle_ping(self, body):
        require_fields(body, {})
        return {}

    async def handle_ignore(self, body):
        require_fields(body, {"request_id": int})
        try:
            await db_call(_ignore)(self.scope["user"], body["request_id"])
        except Http404:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such request.") from None
        except PermissionDenied:
            # The login lost its extension after connecting: refuse, keep the socket.
            raise ProtocolError(ErrorCode.FORBIDDEN, "Not allowed.") from None
        except services.RequestUnavailable as exc:
            raise ProtocolError(ErrorCode.UNAVAILABLE, exc.message) from None
        return {"request_id": body["request_id"]}


def _snapshot(extension) -> dict:
    """The requests still waiting for this agent, and the recent ones that stopped waiting."""
    return {
        "requests": [services.request_payload(r) for r in services.waiting_requests_for(extension)],
        "recent": [services.request_payload(r) for r in services.recent_requests_for(extension)],
    }


def _ignore(user, request_id: int) -> None:
    agent, request = access.request_for_agent(user, request_id)
    services.ignore_meeting_request(request.pk, agent)


class VisitorRequestConsumer(EnvelopeConsumer):
    """``/ws/requests/<token>/``: the visitor's waiting page follows its request."""

    handlers = {"ping": "handle_ping"}

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        session = self.scope.get("session")
        try:
            status = await db_call(_visitor_status)(token, session.session_key if session else None)
        except Http404:
            await self.close(code=CloseCode.NOT_FOUND)
            return
        self.group = request_group(token)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:
            await self.close(code=CloseCode.UNAVAILABLE)
            return
        await self.accept()
        await self.reply("request.status", None, status)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.leave_groups(self.group)

    async def handle_ping(self, body):
        require_fields(body, {})
        return {}


def _visitor_status(token: str, session_key: str | None) -> dict:
    return services.visitor_status(access.request_for_visitor(token, session_key))
