"""Access helpers for meetings: the object or ``Http404`` / ``PermissionDenied``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from meetings.models import Meeting, Participant
from meetings.permissions import can_manage_meeting


def meeting_by_public_id(public_id: str) -> Meeting:
    meeting = Meeting.objects.select_related("owner").filter(public_id=public_id).first() if public_id else None
    if meeting is None:
        raise Http404
    return meeting


def meeting_for_manager(user, public_id: str) -> Meeting:
    meeting = meeting_by_public_id(public_id)
    if not can_manage_meeting(user, meeting):
        raise PermissionDenied
    return meeting


def participant_for_session(meeting: Meeting, user, session_key: str | None) -> Participant:
    """The caller's own participant row in this meeting (identity from the session)."""
    # The media worker's recorder is no one's session (it has a token of its own).
    qs = meeting.participants.select_related("meeting").filter(is_recorder=False)
    if user is not None and user.is_authenticated:
        participant = qs.filter(user=user).first()
    elif session_key:
        participant = qs.filter(user__isnull=True, session_key=session_key).first()
    else:
        participant = None
    if participant is None:
        raise PermissionDenied
    return participant
