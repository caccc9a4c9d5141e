"""The room-service toolkit: what every service that changes a live meeting room
uses, whichever app it lives in (meetings, polls, documents, remote control,
recording).

**The lock order** is a correctness rule and lives here only: a write of the room
locks the meeting row first (``lock_meeting``; a guest's socket connecting shares
that lock with others, ``share_meeting``), then participant rows
(``locked_participant``, ``lock_room``, ``lock_target``), then its own feature's rows.
Writes that do not need the meeting (an annotation) lock the caller's row alone
(``lock_self``) and then their feature's rows, which keeps the same order. Two
commands of one meeting therefore serialise and never deadlock.

Events go out after commit: ``to_room`` to the meeting's sockets (or to one
audience of them), ``send_to_participant`` to one person's sockets, ``replace_socket``
to one socket that another browser took the place of.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils.translation import gettext as _

from core import realtime
from core.errors import Refused
from core.realtime import broadcast, send_to_channel
from meetings.models import Meeting, Participant
from meetings.permissions import can

# Audiences of room events (``to_room(..., audience=…)``): the sockets of organizers,
# and of organizers and presenters (those who run polls, answer remote control).
ORGANIZERS = "organizers"
PRESENTERS = "presenters"
# Ids in messages are positive 32-bit integers; anything else is "not found".
ID_MAX = 2**31 - 1


class RoomError(Refused):
    """A room command refused for a reason other than rights or input."""


def valid_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ID_MAX


# --- Groups and events ------------------------------------------------------------------


def meeting_group(public_id: str) -> str:
    """Every joined socket of a meeting's room (the lobby is not in it)."""
    return f"meeting-{public_id}"


def participant_group(participant_id: int) -> str:
    """Every socket of one meeting participant (direct events: signals, lobby, kick)."""
    return f"participant-{participant_id}"


def to_room(meeting: Meeting, event: str, body: dict, *, audience: str | None = None, except_channel: str = "") -> None:
    """``event`` for the room (or one ``audience`` of it), after commit; not for the
    socket ``except_channel`` (one that is joining: its snapshot, read after, says it)."""
    broadcast(meeting_group(meeting.public_id), event, body, audience=audience, except_channel=except_channel)


def announce_online(meeting: Meeting, participant_id: int) -> None:
    """After commit, the room hears that someone's socket is online
    (``participants.online``; arrivals that follow closely are told together)."""
    realtime.announce_online(meeting_group(meeting.public_id), participant_id)


def send_to_participant(participant_id: int, event: str, body: dict) -> None:
    """An event for every socket of one participant only, after commit."""
    broadcast(participant_group(participant_id), event, body)


def replace_socket(channel_name: str) -> None:
    """After commit, tell one room socket that it was replaced (``session.replaced``,
    then close 4409): its participant is another browser's now."""
    send_to_channel(channel_name, {"type": "room.replaced"})


# --- Reading and locking, in the one lock order ------------------------------------------


def current_participant(participant: Participant) -> Participant:
    """A fresh, unlocked copy of the caller's row (rights change while a socket is
    open: decide on the stored row, not the socket's copy), with its meeting."""
    try:  # get(), not first(): no ORDER BY to build for every chat message
        return Participant.objects.select_related("meeting").get(pk=participant.pk)
    except Participant.DoesNotExist:
        raise PermissionDenied(_("You are not in this meeting.")) from None


def lock_meeting(meeting_id: int) -> Meeting:
    return Meeting.objects.select_for_update().get(pk=meeting_id)


def share_meeting(meeting_id: int) -> Meeting:
    """The meeting row locked against its writers only (``FOR SHARE``), in the place of
    ``lock_meeting``, for changes that need the meeting to stay as read but not to
    exclude one another: the sockets of 200 guests arriving together connect side by
    side, and each still waits for (and is waited for by) a kick, a role change or
    the meeting's end. The ORM cannot say ``FOR SHARE``; SQLite locks the whole
    database for a write anyway."""
    if connection.vendor != "postgresql":
        return lock_meeting(meeting_id)
    rows = list(Meeting.objects.raw(f"SELECT * FROM {Meeting._meta.db_table} WHERE id = %s FOR SHARE", [meeting_id]))
    if not rows:
        raise Meeting.DoesNotExist
    return rows[0]


def locked_participant(meeting: Meeting, participant_id: int) -> Participant | None:
    """A participant of the locked ``meeting``, locked, or None."""
    participant = meeting.participants.select_for_update().filter(pk=participant_id).first()
    if participant is not None:
        participant.meeting = meeting
    return participant


def lock_room(participant: Participant) -> tuple[Meeting, Participant]:
    """The meeting and a fresh copy of ``participant``, both locked, in that order."""
    meeting = lock_meeting(participant.meeting_id)
    row = locked_participant(meeting, participant.pk)
    if row is None:
        raise PermissionDenied(_("You are not in this meeting."))
    return meeting, row


def lock_self(participant: Participant) -> Participant:
    """The caller's row alone, locked (with its meeting, unlocked): for writes that
    need no lock on the meeting, taken before any row of the feature."""
    row = Participant.objects.select_for_update(of=("self",)).select_related("meeting").filter(pk=participant.pk).first()
    if row is None:
        raise PermissionDenied(_("You are not in this meeting."))
    return row


def lock_target(meeting: Meeting, target_id: Any, state: str = Participant.State.JOINED) -> Participant:
    """Someone else of the locked ``meeting`` in ``state``, locked (never the recorder)."""
    if not valid_id(target_id):
        raise RoomError("not_found", _("There is no such participant."))
    row = meeting.participants.select_for_update().filter(pk=target_id, state=state, is_recorder=False).first()
    if row is None:
        message = _("Nobody with this id is waiting.") if state == Participant.State.LOBBY else _("There is no such participant.")
        raise RoomError("not_found", message)
    row.meeting = meeting
    return row


# --- Rights ------------------------------------------------------------------------------


def authorise(actor: Participant, action: str, target: Participant | None = None, *, message: str | None = None) -> None:
    """``PermissionDenied`` unless ``meetings.permissions.can`` allows it."""
    if not can(actor, action, target):
        raise PermissionDenied(message or _("Your role does not allow this."))


def require_joined(row: Participant) -> None:
    """In the room now: joined, not banned, the meeting not ended."""
    if row.state != Participant.State.JOINED or row.is_banned or row.meeting.is_ended:
        raise PermissionDenied(_("You are not in this meeting."))
