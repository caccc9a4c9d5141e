"""Access helpers of polls: the object or ``Http404`` / ``PermissionDenied``.

A poll belongs to one user: another user's poll is "not found" (never "forbidden"), so
ids cannot be probed. A run belongs to its meeting: whoever manages the meeting sees
its results.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from meetings.access import meeting_by_public_id
from meetings.models import Meeting, Participant, Role
from meetings.permissions import can_manage_meeting
from polls import services
from polls.models import Poll, PollRun


def repository_user(user):
    """The user, when they have a Polling Repository (extension users, staff)."""
    if not services.may_keep_polls(user):
        raise PermissionDenied
    return user


def poll_for_owner(user, pk: int) -> Poll:
    poll = Poll.objects.filter(pk=pk, owner_id=user.pk).first() if user.is_authenticated else None
    if poll is None:
        raise Http404
    return poll


def run_for_manager(user, pk: int) -> PollRun:
    run = PollRun.objects.select_related("meeting").filter(pk=pk).first()
    if run is None:
        raise Http404
    if not can_manage_meeting(user, run.meeting):
        raise PermissionDenied
    return run


def run_of_meeting(public_id: str, run_id: int) -> PollRun:
    """A run named by its meeting's link: 404 when it is not of that meeting."""
    meeting = meeting_by_public_id(public_id)
    run = PollRun.objects.filter(pk=run_id, meeting=meeting).first()
    if run is None:
        raise Http404
    run.meeting = meeting
    return run


def managed_meetings(user) -> QuerySet[Meeting]:
    """The meetings ``can_manage_meeting`` lets ``user`` manage (owner, or an organizer
    in the meeting), as one query for lists."""
    if not user.is_authenticated:
        return Meeting.objects.none()
    organizer = Participant.objects.filter(user=user, role=Role.ORGANIZER, state=Participant.State.JOINED)
    return Meeting.objects.filter(Q(owner=user) | Q(pk__in=organizer.values("meeting_id")))
