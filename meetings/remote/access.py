"""Access helpers of remote control: the object, or a refusal with a stable code."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from meetings.models import Meeting
from meetings.remote.models import HelperPairing, RemoteSession
from meetings.roomkit import RoomError, valid_id


class RemoteError(RoomError):
    """A refusal with a stable code of docs/remote-control.md: ``remote_busy``,
    ``no_controller``, ``remote_taken``, ``not_found``, ``invalid_code``."""


def locked_session(meeting: Meeting, session_id) -> RemoteSession:
    """The session ``session_id`` of this (locked) meeting, locked; ``not_found`` otherwise."""
    session = None
    if valid_id(session_id):
        session = (
            RemoteSession.objects.select_for_update(of=("self",))
            .select_related("requester", "controller")
            .filter(pk=session_id, meeting=meeting)
            .first()
        )
    if session is None:
        raise RemoteError("not_found", _("There is no such remote control request."))
    return session


def helper_pairing(channel_name: str) -> HelperPairing:
    """The pairing whose live helper socket is ``channel_name``; ``PermissionDenied``
    for a socket that never paired or was replaced by a newer helper."""
    pairing = (
        HelperPairing.objects.select_related("participant").filter(helper_channel=channel_name, paired=True).first()
        if channel_name
        else None
    )
    if pairing is None:
        raise PermissionDenied(_("This helper is not paired."))
    return pairing
