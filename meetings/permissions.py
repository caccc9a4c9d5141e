"""Roles and permissions of meetings, in one place, enforced on the server."""

from __future__ import annotations

from meetings.models import Participant, Role


def active_participant(user, meeting) -> Participant | None:
    if user is None or not user.is_authenticated:
        return None
    return meeting.participants.filter(user=user, state=Participant.State.JOINED).first()


def can_manage_meeting(user, meeting) -> bool:
    """Settings, invitations and ending: the owner, or an organizer in the meeting."""
    if user is None or not user.is_authenticated:
        return False
    if meeting.owner_id == user.pk:
        return True
    return meeting.participants.filter(user=user, role=Role.ORGANIZER, state=Participant.State.JOINED).exists()
