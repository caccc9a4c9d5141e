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


def participant_for_room(public_id: str, user, session_key: str | None) -> Participant:
    """The caller's own participant row in the meeting ``public_id``, with its meeting,
    in one query (a room socket's first read, 200 times in a class opening at nine):
    ``Http404`` when there is no such meeting, ``PermissionDenied`` when the caller is
    none of its participants. Identity from the session, as ``participant_for_session``."""
    people = Participant.objects.select_related("meeting").filter(meeting__public_id=public_id, is_recorder=False)
    participant = _own_row(people, user, session_key) if public_id else None
    if participant is None:
        meeting_by_public_id(public_id)  # Http404 when the meeting is not there
        raise PermissionDenied
    return participant


def _own_row(people, user, session_key: str | None) -> Participant | None:
    if user is not None and user.is_authenticated:
        return people.filter(user=user).first()
    if session_key:
        return people.filter(user__isnull=True, session_key=session_key).first()
    return None


def participant_for_session(meeting: Meeting, user, session_key: str | None) -> Participant:
    """The caller's own participant row in this meeting (identity from the session)."""
    # The media worker's recorder is no one's session (it has a token of its own).
    participant = _own_row(meeting.participants.select_related("meeting").filter(is_recorder=False), user, session_key)
    if participant is None:
        raise PermissionDenied
    return participant
