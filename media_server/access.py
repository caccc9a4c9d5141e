"""Who may download a recording, shared by the download view and the web client."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from media_server.models import Recording
from meetings.models import Role

CLIENT_RECORDINGS_SHOWN = 20


def _managed_by(user) -> Q:
    """Meetings the user owns or was an organizer of."""
    organized = Q(meeting__participants__user=user, meeting__participants__role=Role.ORGANIZER)
    return Q(meeting__owner=user) | organized


def may_download(user, recording: Recording) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return Recording.objects.filter(_managed_by(user), pk=recording.pk).exists()


def recording_for_download(user, recording_id: int) -> Recording:
    """A stored recording the user may download: ``Http404`` when there is no file
    (yet), ``PermissionDenied`` for anyone but its meeting's owner and organizers, or staff."""
    recording = Recording.objects.select_related("meeting").filter(pk=recording_id).first()
    if recording is None or not recording.file:
        raise Http404
    if not may_download(user, recording):
        raise PermissionDenied
    return recording


def recordings_for_client(user) -> list[Recording]:
    """The web client's list: the stored recordings of the user's meetings, newest first."""
    if user is None or not user.is_authenticated:
        return []
    stored = Recording.objects.filter(_managed_by(user)).exclude(file="").select_related("meeting").distinct()
    return list(stored.order_by("-created_at", "-pk")[:CLIENT_RECORDINGS_SHOWN])
