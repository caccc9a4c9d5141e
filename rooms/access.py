"""Access helpers: one per object, shared by views and consumers.

Each returns the object or raises ``Http404`` / ``PermissionDenied``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from rooms.models import Extension, MeetingRequest


def extension_for(user) -> Extension:
    """The extension of a logged-in staff user; anyone else is refused."""
    if not user or not user.is_authenticated:
        raise PermissionDenied
    try:
        return Extension.objects.select_related("user").get(user=user)
    except Extension.DoesNotExist:
        raise PermissionDenied from None


def request_for_agent(user, request_id: int) -> tuple[Extension, MeetingRequest]:
    from rooms.services import can_answer_request

    agent = extension_for(user)
    try:
        request = MeetingRequest.objects.select_related("extension", "queue", "claimed_by").get(pk=request_id)
    except (MeetingRequest.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    if not can_answer_request(agent, request):
        raise Http404  # do not reveal other people's requests
    return agent, request


def request_for_visitor(token: str, session_key: str | None) -> MeetingRequest:
    """Only the browser session that made a request may follow it."""
    request = MeetingRequest.objects.select_related("claimed_by", "meeting", "visitor_invitation__meeting").filter(token=token).first()
    if request is None or not session_key or request.visitor_session != session_key:
        raise Http404
    return request
