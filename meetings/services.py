"""Writes of meetings: create, settings, invitations, join/leave, end, and the room:
presence, media state, moderation, lobby, sharing, chat and reactions.

Each service validates and authorises (``meetings.permissions.can``), changes the
database in a transaction, and publishes its events after commit
(``core.realtime.broadcast``): to the meeting's group, to organizers only (the
``audience`` the room consumer filters on), or to one participant's own group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from core import presence
from core.mail import queue_email
from core.realtime import broadcast
from meetings import access, owners, room_features
from meetings.ice import ice_servers
from meetings.models import Invitation, Meeting, Participant, Role, RoomType
from meetings.permissions import can_manage_meeting, role_may_share
from meetings.roomkit import (
    ORGANIZERS,
    RoomError,
    announce_online,
    authorise,
    lock_meeting,
    lock_room,
    lock_target,
    locked_participant,
    meeting_group,
    participant_group,
    replace_socket,
    send_to_participant,
    share_meeting,
    to_room,
    valid_id,
)

logger = logging.getLogger(__name__)

INVITATION_SALT = "parley.invitation"
MEETING_LINK_SALT = "parley.meeting-link"


class JoinRefused(Exception):
    """A join that the rules refuse; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInvitation(Exception):
    pass


class InvalidMeetingLink(Exception):
    pass


# --- Creating and configuring ---------------------------------------------------------


def create_meeting(owner, *, title: str, scheduled_at=None, room_type: str | None = None, queue=None) -> Meeting:
    """A meeting takes its room type and moderation from its owner (``meetings.owners``:
    the extension); staff without one get a shared room without moderation."""
    known = owners.owner_for(owner)
    if known is None and not owner.is_staff:
        raise PermissionDenied
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": _("Give the meeting a title.")})
    known = known or owners.Owner(display_name="")
    kind = room_type or known.room_type
    moderate = known.moderate_participants
    return Meeting.objects.create(
        title=title[:200],
        owner=owner,
        queue=queue,
        scheduled_at=scheduled_at,
        room_type=kind,
        moderate_participants=moderate,
        lobby_enabled=moderate and kind == RoomType.SHARED,
        max_participants=settings.PARLEY_MAX_PARTICIPANTS,
    )


# The meeting's own settings (columns); features add theirs (``room_features.meeting_setting``).
SETTINGS_FIELDS = ("title", "scheduled_at", "lobby_enabled", "share_policy", "max_participants")


def settings_initial(meeting: Meeting) -> dict:
    """Every setting of the meeting, its own and the features', by name."""
    own = {field: getattr(meeting, field) for field in SETTINGS_FIELDS}
    return {**own, **{name: meeting.setting(name) for name in room_features.meeting_settings}}


def update_meeting_settings(meeting: Meeting, actor, **changes) -> Meeting:
    if not can_manage_meeting(actor, meeting):
        raise PermissionDenied
    if meeting.is_ended:
        raise ValidationError(_("This meeting has ended."))
    unknown = set(changes) - set(SETTINGS_FIELDS) - set(room_features.meeting_settings)
    if unknown:
        raise ValueError(f"Unknown meeting settings: {sorted(unknown)}")
    columns = [field for field in changes if field in SETTINGS_FIELDS]
    for field in columns:
        setattr(meeting, field, changes[field])
    try:
        meeting.full_clean()
        if "max_participants" in changes and not 2 <= meeting.max_participants <= settings.PARLEY_MAX_PARTICIPANTS:
            raise ValidationError({"max_participants": _("From 2 to %(max)d people.") % {"max": settings.PARLEY_MAX_PARTICIPANTS}})
        features = {name: _clean_feature_setting(name, value) for name, value in changes.items() if name not in SETTINGS_FIELDS}
    except ValidationError:
        # Refused: the caller's object goes back to what is stored.
        meeting.refresh_from_db(fields=columns)
        raise
    if features:
        meeting.feature_settings = {**meeting.feature_settings, **features}
    with transaction.atomic():
        meeting.save(update_fields=columns + (["feature_settings"] if features else []))
        broadcast(meeting_group(meeting.public_id), "meeting.settings", meeting_settings_payload(meeting))
        if "share_policy" in changes:
            _end_share_no_longer_allowed(meeting.pk)
    return meeting


def _clean_feature_setting(name: str, value):
    try:
        return room_features.meeting_settings[name].form_field().clean(value)
    except ValidationError as invalid:
        raise ValidationError({name: invalid.messages}) from None


def _end_share_no_longer_allowed(meeting_id: int) -> None:
    meeting = lock_meeting(meeting_id)
    sharer = meeting.share_participant
    governed = meeting.share_kind not in room_features.policy_free_share_kinds
    if sharer is not None and governed and not role_may_share(sharer.role, meeting.share_policy):
        _stop_share(meeting)


def meeting_settings_payload(meeting: Meeting) -> dict:
    return {
        "title": meeting.title,
        "lobby_enabled": meeting.lobby_enabled,
        "share_policy": meeting.share_policy,
        "max_participants": meeting.max_participants,
        **{name: meeting.setting(name) for name in room_features.meeting_settings},
    }


# --- Invitations ----------------------------------------------------------------------


def create_invitation(meeting: Meeting, *, name: str, email: str, invited_by, role: str = Role.PARTICIPANT) -> Invitation:
    return Invitation.objects.create(meeting=meeting, name=name.strip()[:100], email=email.strip(), role=role, invited_by=invited_by)


def invitation_token(invitation: Invitation) -> str:
    return signing.TimestampSigner(salt=INVITATION_SALT).sign(f"{invitation.meeting.public_id}:{invitation.pk}")


def invitation_url(invitation: Invitation, *, absolute: bool = True) -> str:
    path = reverse("meeting_join", args=[invitation.meeting.public_id]) + "?invite=" + invitation_token(invitation)
    return settings.PARLEY_BASE_URL + path if absolute else path


def resolve_invitation(meeting: Meeting, token: str) -> Invitation:
    """The invitation a personal link stands for; tampered, expired or foreign links are refused."""
    try:
        value = signing.TimestampSigner(salt=INVITATION_SALT).unsign(token, max_age=settings.PARLEY_INVITATION_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidInvitation(_("This invitation link has expired. Ask the organizer for a new one.")) from None
    except signing.BadSignature:
        raise InvalidInvitation(_("This invitation link is not valid. Check that you copied it whole.")) from None
    public_id, _sep, pk = value.rpartition(":")
    invitation = Invitation.objects.filter(pk=pk, meeting=meeting).first() if pk.isdigit() else None
    if public_id != meeting.public_id or invitation is None:
        raise InvalidInvitation(_("This invitation link is not valid. Check that you copied it whole."))
    return invitation


# --- The meeting link -----------------------------------------------------------------
#
# What *Copy meeting link* copies: the meeting's address with a signature that only the
# server makes (``?link=``), for the organizer to send to anyone. It is not a personal
# invitation: it brings in any number of people, each as a participant (never more),
# through the lobby where the meeting admits people one by one (``link_waits_in_lobby``),
# and a banned person stays out. It opens a private room, which the bare address does
# not (an invitee sees the address in their own link, not this signature); it lasts as
# long as the meeting.


def meeting_link_token(meeting: Meeting) -> str:
    return signing.Signer(salt=MEETING_LINK_SALT).signature(meeting.public_id)


def meeting_link_url(meeting: Meeting, *, absolute: bool = True) -> str:
    path = reverse("meeting_join", args=[meeting.public_id]) + "?link=" + meeting_link_token(meeting)
    return settings.PARLEY_BASE_URL + path if absolute else path


def check_meeting_link(meeting: Meeting, token: str) -> None:
    """Refuse a meeting link that the server did not make for this meeting."""
    if not constant_time_compare(token, meeting_link_token(meeting)):
        raise InvalidMeetingLink(_("This meeting link is not valid. Check that you copied it whole."))


def link_waits_in_lobby(meeting: Meeting) -> bool:
    """Whether people who come with the meeting link wait for an organizer: where the
    meeting has its lobby on, and in a private room that moderates participants (the
    link is what lets them in at all)."""
    return meeting.lobby_enabled or (meeting.room_type == RoomType.PRIVATE and meeting.moderate_participants)


def invite_people(meeting: Meeting, actor, rows: list[tuple[str, str]]) -> list[Invitation]:
    """Invite each (name, e-mail); each gets a personal link by e-mail."""
    if not can_manage_meeting(actor, meeting):
        raise PermissionDenied
    if meeting.is_ended:
        raise ValidationError(_("This meeting has ended."))
    invitations = []
    with transaction.atomic():
        for name, email in rows:
            invitation = create_invitation(meeting, name=name, email=email, invited_by=actor)
            queue_email(
                kind="invitation",
                key=f"invitation:{invitation.pk}",
                to=invitation.email,
                context={
                    "invitation": invitation,
                    "meeting": meeting,
                    "inviter": owners.display_name(actor),
                    "join_url": invitation_url(invitation),
                },
            )
            invitations.append(invitation)
    return invitations


# --- Joining and leaving --------------------------------------------------------------


def join_meeting(
    meeting: Meeting,
    *,
    user=None,
    session_key: str = "",
    name: str = "",
    email: str = "",
    invitation: Invitation | None = None,
    by_link: bool = False,
) -> Participant:
    """Enter a meeting with the right role, or raise ``JoinRefused``.

    A person is active in one meeting at a time: joining here marks them as having
    left any other meeting they were in, and that meeting's room is told so.

    A personal invitation link is one person: a browser that comes with it takes over
    the participant the link already brought in (``_take_over_invitation``), rather
    than adding a second person of the same name.

    In a meeting with a lobby (``lobby_enabled``: a shared room with *Moderate
    participants*) everyone but organizers waits in the lobby (state ``lobby``) until an
    organizer accepts them. Only someone still admitted (state ``joined``: a reload, a
    second tab, a reconnect) goes straight back in; someone who left, timed out, was
    kicked without a ban or was rejected passes the lobby again.

    ``by_link``: the person came with the meeting link (checked by the caller,
    ``check_meeting_link``): a private room lets them in as a participant, through the
    lobby where ``link_waits_in_lobby``.
    """
    user = user if user is not None and user.is_authenticated else None
    if user is None and not session_key:
        raise JoinRefused("no_session", _("Your browser must accept cookies to join."))
    if invitation is not None and invitation.meeting_id != meeting.pk:
        raise JoinRefused("invalid_invitation", _("This invitation link is not valid. Check that you copied it whole."))
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
        if meeting.is_ended:
            raise JoinRefused("meeting_ended", _("This meeting has ended."))
        existing = _find_participant(meeting, user, session_key)
        if existing is not None and existing.is_banned:
            raise JoinRefused("banned", _("You were removed from this meeting and cannot come back."))
        if invitation is not None:
            existing = _take_over_invitation(meeting, invitation, existing, user=user, session_key=session_key)
        is_owner = user is not None and user.pk == meeting.owner_id
        if meeting.room_type == RoomType.PRIVATE and not (is_owner or invitation or existing or by_link):
            raise JoinRefused("private_room", _("This is a private room. Only invited people can join."))
        others_present = meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False)
        if existing is not None:
            others_present = others_present.exclude(pk=existing.pk)
        if others_present.count() >= room_features.capacity(meeting)[0]:
            raise JoinRefused("meeting_full", _full_message(meeting))
        role = Role.ORGANIZER if is_owner else (invitation.role if invitation else (existing.role if existing else Role.PARTICIPANT))
        name = (name or (invitation.name if invitation else "") or (owners.display_name(user) if user else "")).strip()[:100]
        if not name:
            raise JoinRefused("name_required", _("Please give your name."))
        admitted = existing is not None and existing.state == Participant.State.JOINED
        lobby = meeting.lobby_enabled or (by_link and invitation is None and link_waits_in_lobby(meeting))
        to_lobby = lobby and role != Role.ORGANIZER and not admitted
        now = timezone.now()
        participant = existing or Participant(meeting=meeting, user=user, session_key="" if user else session_key)
        participant.meeting = meeting
        participant.display_name = name
        participant.email = (email or (invitation.email if invitation else "") or (user.email if user else "")).strip()
        participant.role = role
        participant.invitation = invitation or participant.invitation
        participant.state = Participant.State.LOBBY if to_lobby else Participant.State.JOINED
        participant.joined_at = now
        participant.left_at = None
        if not admitted:
            participant.mic_on = participant.camera_on = False
        if not participant.connected:
            # The room page opens its socket next; a seat whose socket never comes is
            # let go by the presence sweep after the reconnect grace.
            participant.disconnected_at = now
        try:
            participant.save()
        except IntegrityError:
            raise JoinRefused("already_joining", _("You are already joining this meeting in another tab.")) from None
        if invitation and not invitation.used_at:
            Invitation.objects.filter(pk=invitation.pk).update(used_at=now)
        if to_lobby:
            to_room(meeting, "lobby.request", participant_payload(participant), audience=ORGANIZERS)
            return participant
        if meeting.started_at is None:
            Meeting.objects.filter(pk=meeting.pk).update(started_at=now)
        _leave_other_meetings(participant)
        to_room(meeting, "participant.joined", participant_payload(participant))
        if not admitted:
            room_features.participant_changed(meeting, participant, "joined")
    return participant


def _take_over_invitation(
    meeting: Meeting, invitation: Invitation, existing: Participant | None, *, user, session_key: str
) -> Participant | None:
    """The participant this browser joins as, given the invitation link it came with
    (``meeting`` locked).

    The link's participant (the one it brought in before, from another browser) becomes
    this browser's: its session (or user) is now this one's, and the other browser's
    socket is told ``session.replaced`` and closed (4409); that browser no longer maps
    to anyone here, so only the link brings it back. Its rights, role and state stay
    (a banned link is refused: a new browser does not lift a ban). A participant this
    browser had of its own leaves first and lets go of this browser."""
    holders = list(meeting.participants.select_for_update().filter(invitation=invitation, is_recorder=False).order_by("-joined_at"))
    if any(holder.is_banned for holder in holders):
        raise JoinRefused("banned", _("You were removed from this meeting and cannot come back."))
    if not holders or existing in holders:
        return existing
    holder = holders[0]
    holder.meeting = meeting
    if existing is not None:
        existing.meeting = meeting
        _let_go_of_browser(meeting, existing)
    with _watch_organizers(meeting):
        if holder.channel_name:
            replace_socket(holder.channel_name)
        holder.user = user
        holder.session_key = "" if user is not None else session_key
        holder.channel_name = holder.web_process = ""
        holder.connected = False
        holder.disconnected_at = timezone.now()
        _save(holder, "user", "session_key", "channel_name", "web_process", "connected", "disconnected_at")
    logger.info("Meeting %s: participant %s taken over by another browser with its invitation link", meeting.public_id, holder.pk)
    return holder


def _let_go_of_browser(meeting: Meeting, participant: Participant) -> None:
    """``participant`` (locked) leaves and no longer stands for its browser's session
    or user, which another participant of this meeting takes."""
    if participant.state == Participant.State.JOINED:
        _remove_from_room(meeting, participant, state=Participant.State.LEFT, reason="moved")
    elif participant.state == Participant.State.LOBBY:
        _leave_lobby(meeting, participant, state=Participant.State.LEFT, outcome="left")
    participant.user = None
    participant.session_key = f"released-{participant.pk}"  # no browser session looks like this
    _save(participant, "user", "session_key")


def _full_message(meeting: Meeting) -> str:
    limit, reason = room_features.capacity(meeting)
    full = _("This meeting is full (%(count)d participants).") % {"count": limit}
    return f"{full} {reason}" if reason else full


def _find_participant(meeting: Meeting, user, session_key: str) -> Participant | None:
    if user is not None:
        return meeting.participants.filter(user=user).first()
    return meeting.participants.filter(user__isnull=True, session_key=session_key).first()


def _leave_other_meetings(participant: Participant) -> None:
    others = Participant.objects.filter(state=Participant.State.JOINED).exclude(pk=participant.pk)
    others = (
        others.filter(user=participant.user)
        if participant.user_id
        else others.filter(user__isnull=True, session_key=participant.session_key)
    )
    for meeting_id, other_id in others.values_list("meeting_id", "pk"):
        meeting = lock_meeting(meeting_id)
        other = locked_participant(meeting, other_id)
        if other is not None and other.state == Participant.State.JOINED:
            _remove_from_room(meeting, other, state=Participant.State.LEFT, reason="moved")


def leave_meeting(participant: Participant) -> None:
    """Leave the room (or the lobby); idempotent. A share of the person ends."""
    with transaction.atomic():
        meeting = lock_meeting(participant.meeting_id)
        current = locked_participant(meeting, participant.pk)
        if current is None:
            return
        if current.state == Participant.State.JOINED:
            _remove_from_room(meeting, current, state=Participant.State.LEFT, reason="left")
        elif current.state == Participant.State.LOBBY:
            _leave_lobby(meeting, current, state=Participant.State.LEFT, outcome="left")


def participant_payload(participant: Participant) -> dict:
    """The participant object of docs/protocol.md (``participant.meeting`` is read)."""
    return {
        "id": participant.pk,
        "name": participant.display_name,
        "role": participant.role,
        "is_creator": participant.is_creator,
        "state": participant.state,
        "connection": "online" if participant.connected else "reconnecting",
        "mic": participant.mic_on,
        "camera": participant.camera_on,
        "mic_allowed": participant.mic_allowed,
        "camera_allowed": participant.camera_allowed,
        "chat_allowed": participant.chat_allowed,
        **{name: value for hook in room_features.participant_field_hooks for name, value in hook(participant).items()},
    }


# --- The room: shared helpers ---------------------------------------------------------
#
# Locks, rights and events of the room come from ``meetings.roomkit`` (one lock order
# for every app); this is what only the meeting's own services need.


class ShareBusy(RoomError):
    def __init__(self, sharer: Participant):
        super().__init__("share_busy", _("%(name)s is already sharing. Only one share at a time.") % {"name": sharer.display_name})
        self.sharer_id = sharer.pk


def _save(participant: Participant, *fields: str) -> None:
    participant.save(update_fields=list(fields))


def _organizer_online(meeting_id: int) -> bool:
    """An organizer is in the meeting with a live socket (the lobby can be answered)."""
    return Participant.objects.filter(meeting_id=meeting_id, role=Role.ORGANIZER, state=Participant.State.JOINED, connected=True).exists()


def _lobby_status_body(meeting_id: int, online: bool) -> dict:
    sections = {name: section(meeting_id) for name, section in room_features.lobby_status_sections.items()}
    return {"status": "waiting" if online else "no_organizer", **sections}


def _watch_presence(meeting: Meeting, participant: Participant):
    """Around a change of ``participant``'s socket alone: only an organizer's can
    change whether an organizer is online (two queries saved on every guest's
    connect and disconnect)."""
    return _watch_organizers(meeting) if participant.role == Role.ORGANIZER else nullcontext()


@contextmanager
def _watch_organizers(meeting: Meeting):
    """Tell the lobby when the first organizer comes online or the last one goes."""
    before = _organizer_online(meeting.pk)
    yield
    after = _organizer_online(meeting.pk)
    if after != before:
        for waiting_id in meeting.participants.filter(state=Participant.State.LOBBY).values_list("pk", flat=True):
            send_to_participant(waiting_id, "lobby.status", _lobby_status_body(meeting.pk, after))


def _remove_from_room(meeting: Meeting, participant: Participant, *, state: str, reason: str) -> None:
    """``participant`` (locked, joined) is out of the room; its share ends."""
    with _watch_organizers(meeting):
        participant.state = state
        participant.left_at = timezone.now()
        _save(participant, "state", "left_at")
    _end_share_of(meeting, participant)
    room_features.participant_changed(meeting, participant, reason)
    to_room(meeting, "participant.left", {"participant_id": participant.pk, "reason": reason})


def _leave_lobby(meeting: Meeting, participant: Participant, *, state: str, outcome: str) -> None:
    participant.state = state
    participant.left_at = timezone.now()
    _save(participant, "state", "left_at")
    to_room(meeting, "lobby.removed", {"participant_id": participant.pk, "outcome": outcome}, audience=ORGANIZERS)


# --- The room: who may connect, what a socket is told first ---------------------------


def _check_may_connect(meeting: Meeting, participant: Participant | None) -> Participant:
    if meeting.is_ended:
        raise RoomError("ended", _("This meeting has ended."))
    if participant is None or participant.is_banned:
        raise PermissionDenied
    if participant.state not in (Participant.State.JOINED, Participant.State.LOBBY):
        # Left, kicked or rejected: back in only through the join page.
        raise PermissionDenied
    return participant


def room_participant(public_id: str, user, session_key: str | None) -> Participant:
    """The caller's participant for a room socket: ``Http404`` (no such meeting),
    ``RoomError("ended")``, ``PermissionDenied`` (not joined nor waiting, banned)."""
    participant = access.participant_for_room(public_id, user, session_key)
    return _check_may_connect(participant.meeting, participant)


def room_snapshot(participant: Participant) -> dict:
    """What a joined participant's socket gets first (docs/protocol.md)."""
    result = room_snapshots([participant])[0]
    if isinstance(result, PermissionDenied):
        raise result
    return result


def room_snapshots(participants: Sequence[Participant]) -> list[dict | PermissionDenied]:
    """The snapshots of several sockets of one meeting (``meetings.snapshots`` gathers
    those that ask together), each of which joined the meeting's group before this
    read began: every change missing here reaches them as an event. What is the same
    for everyone (the people, the share, the meeting, the shared feature sections) is
    read once. Each gets its own snapshot, or ``PermissionDenied`` if it is no longer
    in the room (not joined, the meeting ended)."""
    rows = Participant.objects.select_related("meeting", "meeting__owner").in_bulk([p.pk for p in participants])
    current = [rows.get(p.pk) for p in participants]
    allowed = [row for row in current if row is not None and row.state == Participant.State.JOINED and not row.meeting.is_ended]
    if not allowed:
        return [PermissionDenied() for _participant in participants]
    meeting = allowed[0].meeting
    if any(row.meeting_id != meeting.pk for row in allowed):
        raise ValueError("room_snapshots reads the sockets of one meeting at a time.")
    for row in allowed:
        row.meeting = meeting
    room = _room_view(meeting, with_lobby=any(row.role == Role.ORGANIZER for row in allowed), reader=allowed[0])
    return [_snapshot_of(row, room) if row in allowed else PermissionDenied() for row in current]


@dataclass
class _RoomView:
    """What every snapshot of one read shares."""

    people: list[tuple[int, dict]]
    lobby: list[tuple[int, dict]]
    share: dict | None
    meeting: dict
    sections: dict[str, Any]
    # What the sections with a part of the room read of it (``snapshot_section(room=…)``).
    reads: dict[str, Any]


def _room_view(meeting: Meeting, *, with_lobby: bool, reader: Participant) -> _RoomView:
    people = meeting.participants.exclude(is_recorder=True)
    joined = _of_meeting(people.filter(state=Participant.State.JOINED), meeting)
    waiting = _of_meeting(people.filter(state=Participant.State.LOBBY), meeting) if with_lobby else []
    return _RoomView(
        people=[(p.pk, participant_payload(p)) for p in joined],
        lobby=[(p.pk, participant_payload(p)) for p in waiting],
        share=share_payload(meeting),
        meeting={
            "title": meeting.title,
            "public_id": meeting.public_id,
            "lobby_enabled": meeting.lobby_enabled,
            "share_policy": meeting.share_policy,
            "max_participants": meeting.max_participants,
            "moderate_participants": meeting.moderate_participants,
            "started_at": meeting.started_at.isoformat() if meeting.started_at else None,
            "owner_name": owners.display_name(meeting.owner),
        },
        # A shared section reads only the meeting: any one reader gives everyone's.
        sections={name: room_features.snapshot_sections[name](reader) for name in room_features.shared_snapshot_sections},
        reads={name: read(meeting) for name, read in room_features.snapshot_room_reads.items()},
    )


def _snapshot_of(current: Participant, room: _RoomView) -> dict:
    organizer = current.role == Role.ORGANIZER
    meeting = current.meeting
    return {
        "self": participant_payload(current),
        "participants": [payload for pk, payload in room.people if pk != current.pk],
        "lobby": [payload for pk, payload in room.lobby if pk != current.pk] if organizer else [],
        "share": room.share,
        "meeting": {
            **room.meeting,
            # Organizers may hand out the meeting link (the Info panel copies it).
            **({"join_url": meeting_link_url(meeting, absolute=False)} if organizer else {}),
        },
        "ice_servers": ice_servers(participant_group(current.pk)),
        "version": settings.VERSION,
        **{name: _section_of(name, section, current, room) for name, section in room_features.snapshot_sections.items()},
    }


def _section_of(name: str, section, current: Participant, room: _RoomView) -> Any:
    if name in room.sections:
        return room.sections[name]
    if name in room.reads:
        return section(current, room.reads[name])
    return section(current)


def _of_meeting(people, meeting: Meeting) -> list[Participant]:
    """Rows of ``meeting`` given the meeting already loaded: in a 200-person room,
    joining the meeting to every row cost a snapshot 199 more objects to build."""
    rows = list(people)
    for row in rows:
        row.meeting = meeting
    return rows


def lobby_status(participant: Participant) -> dict:
    """``{"status": "waiting"|"no_organizer"}`` for someone in the lobby."""
    return _lobby_status_body(participant.meeting_id, _organizer_online(participant.meeting_id))


# --- Presence -------------------------------------------------------------------------


def connect_participant(participant: Participant, channel_name: str) -> str:
    """Make ``channel_name`` the one live socket of ``participant``.

    Returns the channel of the socket it replaces ("" if none): the caller tells that
    one ``session.replaced``. The given object gets the current ``state`` and ``role``.
    Refuses like ``room_participant`` when the participant may no longer be here.
    """
    try:
        return _connect(participant, channel_name, exclusive=participant.role == Role.ORGANIZER)
    except _OrganizerNow:  # promoted since it was read: organizer presence needs the lock
        return _connect(participant, channel_name, exclusive=True)


class _OrganizerNow(Exception):
    pass


def _connect(participant: Participant, channel_name: str, *, exclusive: bool) -> str:
    """``connect_participant``. Only an organizer's socket changes whether an organizer
    is online (the lobby is told), so only it locks the meeting for itself; guests'
    sockets share the lock and connect side by side."""
    with transaction.atomic():
        meeting = lock_meeting(participant.meeting_id) if exclusive else share_meeting(participant.meeting_id)
        current = _check_may_connect(meeting, locked_participant(meeting, participant.pk))
        if current.role == Role.ORGANIZER and not exclusive:
            raise _OrganizerNow
        old_channel = current.channel_name if current.channel_name != channel_name else ""
        was_connected = current.connected
        with _watch_presence(meeting, current):
            current.channel_name = channel_name
            current.web_process = presence.this_process()
            current.connected = True
            current.disconnected_at = None
            _save(current, "channel_name", "web_process", "connected", "disconnected_at")
        if current.state == Participant.State.JOINED and not was_connected:
            announce_online(meeting, current.pk)
    participant.state, participant.role = current.state, current.role
    return old_channel


def disconnect_participant(participant: Participant, channel_name: str, *, at: datetime | None = None) -> bool:
    """The socket ``channel_name`` closed (``at``: when, if known to be earlier than
    now). Only the current socket counts: a replaced one changes nothing. The room sees
    the person as reconnecting."""
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().filter(pk=participant.meeting_id).first()
        if meeting is None:  # deleted (e.g. from the admin) while the socket was open
            return False
        current = locked_participant(meeting, participant.pk)
        if current is None or not channel_name or current.channel_name != channel_name:
            return False
        with _watch_presence(meeting, current):
            current.channel_name = current.web_process = ""
            current.connected = False
            current.disconnected_at = at or timezone.now()
            _save(current, "channel_name", "web_process", "connected", "disconnected_at")
        if current.state == Participant.State.JOINED and not meeting.is_ended:
            room_features.participant_changed(meeting, current, "disconnected")
            to_room(meeting, "participant.updated", participant_payload(current))
    return True


def release_lost_sockets(now: datetime) -> int:
    """The sockets of web processes whose heartbeat stopped (killed outright: no
    disconnect handler ran) count as closed from the last beat. Returns how many."""
    released = 0
    for process in presence.lost_processes(now):
        sockets = Participant.objects.filter(connected=True, web_process=process.name).order_by("pk")
        closed = sum(disconnect_participant(participant, participant.channel_name, at=process.last_seen) for participant in sockets)
        logger.warning("Web process %s stopped beating at %s: %d socket(s) of it closed", process.name, process.last_seen, closed)
        presence.forget(process)
        released += closed
    return released


def sweep_disconnected(now=None) -> int:
    """Let go of people whose socket stayed away longer than PARLEY_RECONNECT_GRACE:
    joined ones leave the room (``participant.left`` reason ``timeout``, their share
    ends), waiting ones leave the lobby (``lobby.removed`` outcome ``left``). Sockets
    of a web process that died count as away since its last heartbeat."""
    now = now or timezone.now()
    release_lost_sockets(now)
    cutoff = now - timedelta(seconds=settings.PARLEY_RECONNECT_GRACE)
    stale = Participant.objects.filter(
        state__in=(Participant.State.JOINED, Participant.State.LOBBY), connected=False, disconnected_at__lt=cutoff, is_recorder=False
    )
    count = 0
    for meeting_id in set(stale.values_list("meeting_id", flat=True)):
        with transaction.atomic():
            meeting = lock_meeting(meeting_id)
            for participant in stale.filter(meeting_id=meeting_id).select_for_update().order_by("pk"):
                participant.meeting = meeting
                if participant.state == Participant.State.JOINED:
                    _remove_from_room(meeting, participant, state=Participant.State.LEFT, reason="timeout")
                else:
                    _leave_lobby(meeting, participant, state=Participant.State.LEFT, outcome="left")
                count += 1
    return count


def check_signal(sender: Participant, target_id: int) -> None:
    """May ``sender`` send a WebRTC signal to ``target_id`` now? The target must be a
    joined participant of the same meeting with a live socket (``RoomError`` not_found)."""
    current = Participant.objects.select_related("meeting").filter(pk=sender.pk).first()
    if current is None:
        raise PermissionDenied
    authorise(current, "signal")
    if target_id == current.pk:
        raise ValidationError(_("A signal goes to someone else."))
    reachable = Participant.objects.filter(meeting_id=current.meeting_id, state=Participant.State.JOINED, connected=True)
    if not valid_id(target_id) or not reachable.filter(pk=target_id).exists():
        raise RoomError("not_found", _("This participant is not connected."))


# --- Media state and moderation -------------------------------------------------------

MEDIA_KINDS = {"mic": ("mic_on", "mic_allowed"), "camera": ("camera_on", "camera_allowed")}


def set_media_state(participant: Participant, *, mic: bool, camera: bool) -> Participant:
    """What the person says they send. Turning on what an organizer disallowed is refused."""
    with transaction.atomic():
        meeting, current = lock_room(participant)
        authorise(current, "media")
        if (mic and not current.mic_allowed) or (camera and not current.camera_allowed):
            raise PermissionDenied(_("An organizer has turned this off for you."))
        if (current.mic_on, current.camera_on) != (mic, camera):
            current.mic_on, current.camera_on = mic, camera
            _save(current, "mic_on", "camera_on")
            to_room(meeting, "participant.updated", participant_payload(current))
    return current


def _moderation(actor: Participant, target_id, action: str) -> tuple[Meeting, Participant, Participant]:
    """Lock, check the actor's right, find the target, check the right on the target."""
    meeting, current = lock_room(actor)
    authorise(current, action)
    target = lock_target(meeting, target_id)
    authorise(current, action, target)
    return meeting, current, target


def set_media_allowed(actor: Participant, target_id: int, kind: str, allowed: bool) -> Participant:
    """Allow or disallow someone's mic or camera; disallowing also turns it off."""
    if kind not in MEDIA_KINDS:
        raise ValidationError(_("“kind” is mic or camera."))
    on_field, allowed_field = MEDIA_KINDS[kind]
    with transaction.atomic():
        meeting, _actor, target = _moderation(actor, target_id, "moderate")
        changed = getattr(target, allowed_field) != allowed or (not allowed and getattr(target, on_field))
        if changed:
            setattr(target, allowed_field, allowed)
            if not allowed:
                setattr(target, on_field, False)
            _save(target, on_field, allowed_field)
            to_room(meeting, "participant.updated", participant_payload(target))
    return target


def set_chat_allowed(actor: Participant, target_id: int, allowed: bool) -> Participant:
    return _set_right(actor, target_id, "chat_allowed", allowed)


def _set_right(actor: Participant, target_id: int, field: str, allowed: bool) -> Participant:
    with transaction.atomic():
        meeting, _actor, target = _moderation(actor, target_id, "moderate")
        if getattr(target, field) != allowed:
            setattr(target, field, allowed)
            _save(target, field)
            to_room(meeting, "participant.updated", participant_payload(target))
    return target


def set_right(actor: Participant, target_id: int, right: str, allowed: bool) -> Participant:
    """Organizers give someone a feature's right back, or turn it off (``rights_off``:
    e.g. ``annotate``, which ``meetings.permissions`` reads)."""
    with transaction.atomic():
        meeting, _actor, target = _moderation(actor, target_id, "moderate")
        if target.has_right(right) != allowed:
            target.rights_off = sorted(set(target.rights_off) - {right}) if allowed else sorted({*target.rights_off, right})
            _save(target, "rights_off")
            to_room(meeting, "participant.updated", participant_payload(target))
    return target


def change_role(actor: Participant, target_id: int, role: str) -> Participant:
    """Organizers change roles (the creator's only by the creator). A sharer whose new
    role may not share loses the share; a new organizer is shown who is waiting."""
    if role not in Role.values:
        raise ValidationError(_("“role” is organizer, presenter or participant."))
    with transaction.atomic():
        meeting, _actor, target = _moderation(actor, target_id, "change_role")
        if target.role == role:
            return target
        promoted = role == Role.ORGANIZER
        with _watch_organizers(meeting):
            target.role = role
            _save(target, "role")
        if meeting.share_participant_id == target.pk and not role_may_share(role, meeting.share_policy):
            _stop_share(meeting)
        room_features.participant_changed(meeting, target, "role")
        to_room(meeting, "participant.updated", participant_payload(target))
        if promoted:
            for waiting in meeting.participants.filter(state=Participant.State.LOBBY).select_related("meeting"):
                send_to_participant(target.pk, "lobby.request", participant_payload(waiting))
    return target


def kick_participant(actor: Participant, target_id: int, *, ban: bool | None = None) -> Participant:
    """Out of the room now. ``ban``: barred from coming back into this meeting, which
    only a meeting that moderates participants offers; unsaid, such a meeting bans
    (F11) and any other does not. A kick without a ban lets the person join again
    (through the lobby where there is one)."""
    with transaction.atomic():
        meeting, current, target = _moderation(actor, target_id, "kick")
        if ban and not meeting.moderate_participants:
            raise PermissionDenied(_("Only a meeting that moderates participants bans. Remove the person instead: they may come back."))
        banned = meeting.moderate_participants if ban is None else ban
        with _watch_organizers(meeting):
            target.is_banned = banned
            target.connected = False
            # Its socket closes on ``you.kicked``; that close must not count as a drop.
            target.channel_name = ""
            target.disconnected_at = timezone.now()
            _save(target, "is_banned", "connected", "channel_name", "disconnected_at")
        send_to_participant(target.pk, "you.kicked", {"by": current.display_name, "banned": banned})
        _remove_from_room(meeting, target, state=Participant.State.KICKED, reason="kicked")
    return target


# --- Lobby ----------------------------------------------------------------------------


def _lobby_manager(actor: Participant) -> Meeting:
    meeting, current = lock_room(actor)
    authorise(current, "manage_lobby")
    return meeting


def _admit(meeting: Meeting, waiting: Participant) -> None:
    if meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False).count() >= room_features.capacity(meeting)[0]:
        raise RoomError("unavailable", _full_message(meeting))
    waiting.state = Participant.State.JOINED
    waiting.joined_at = timezone.now()
    _save(waiting, "state", "joined_at")
    _leave_other_meetings(waiting)
    to_room(meeting, "lobby.removed", {"participant_id": waiting.pk, "outcome": "accepted"}, audience=ORGANIZERS)
    to_room(meeting, "participant.joined", participant_payload(waiting))
    send_to_participant(waiting.pk, "lobby.status", {"status": "accepted"})
    room_features.participant_changed(meeting, waiting, "joined")


def _refuse(meeting: Meeting, waiting: Participant) -> None:
    _leave_lobby(meeting, waiting, state=Participant.State.REJECTED, outcome="rejected")
    send_to_participant(waiting.pk, "lobby.status", {"status": "rejected"})


def accept_lobby(actor: Participant, target_id: int) -> Participant:
    """Let one waiting person in (``unavailable`` when the meeting is full)."""
    with transaction.atomic():
        meeting = _lobby_manager(actor)
        waiting = lock_target(meeting, target_id, Participant.State.LOBBY)
        _admit(meeting, waiting)
    return waiting


def reject_lobby(actor: Participant, target_id: int) -> Participant:
    with transaction.atomic():
        meeting = _lobby_manager(actor)
        waiting = lock_target(meeting, target_id, Participant.State.LOBBY)
        _refuse(meeting, waiting)
    return waiting


def accept_all_lobby(actor: Participant) -> int:
    """Let everyone in, first come first served, while there are seats; returns how many."""
    count = 0
    with transaction.atomic():
        meeting = _lobby_manager(actor)
        for waiting in meeting.participants.select_for_update().filter(state=Participant.State.LOBBY).order_by("joined_at", "pk"):
            waiting.meeting = meeting
            try:
                _admit(meeting, waiting)
            except RoomError:
                break  # full: the others keep waiting
            count += 1
    return count


def reject_all_lobby(actor: Participant) -> int:
    count = 0
    with transaction.atomic():
        meeting = _lobby_manager(actor)
        for waiting in meeting.participants.select_for_update().filter(state=Participant.State.LOBBY).order_by("joined_at", "pk"):
            waiting.meeting = meeting
            _refuse(meeting, waiting)
            count += 1
    return count


# --- Sharing --------------------------------------------------------------------------

# The permission each kind of share needs; documents and the whiteboard add theirs.
SHARE_ACTIONS = {"screen": "share"}
STREAM_ID_MAX = 128


def share_payload(meeting: Meeting) -> dict | None:
    """The current share of the room, or None (reads ``meeting.share_participant``)."""
    sharer = meeting.share_participant
    return None if sharer is None else _share_body(meeting, sharer)


def _share_body(meeting: Meeting, sharer: Participant) -> dict:
    return {"participant_id": sharer.pk, "kind": meeting.share_kind, "stream_id": meeting.share_stream_id, "name": sharer.display_name}


def start_share(participant: Participant, *, kind: str, stream_id: str) -> dict:
    """Share into the room. One share at a time: anyone else's is ``ShareBusy``; the
    sharer starting again replaces their own share (a new stream)."""
    if kind not in SHARE_ACTIONS and kind not in room_features.share_kinds:
        raise ValidationError(_("This kind of share is not available."))
    if not isinstance(stream_id, str) or not 1 <= len(stream_id) <= STREAM_ID_MAX or not stream_id.isprintable():
        raise ValidationError(_("“stream_id” is 1 to %(max)d printable characters.") % {"max": STREAM_ID_MAX})
    with transaction.atomic():
        meeting, current = lock_room(participant)
        _authorise_share(current, kind)
        sharer = meeting.share_participant
        if sharer is not None and sharer.pk != current.pk:
            raise ShareBusy(sharer)
        # A share of another kind by the same sharer replaces what they shared before.
        replaced = meeting.share_kind if sharer is not None and meeting.share_kind != kind else ""
        meeting.share_participant = current
        meeting.share_kind = kind
        meeting.share_stream_id = stream_id
        meeting.share_started_at = timezone.now()
        meeting.save(update_fields=["share_participant", "share_kind", "share_stream_id", "share_started_at"])
        if replaced:
            # What the old share was part of (a presentation, a remote-control session) ends.
            room_features.share_stopped(meeting, replaced, current.pk)
        body = _share_body(meeting, current)
        to_room(meeting, "share.started", body)
    return body


def _authorise_share(current: Participant, kind: str) -> None:
    if kind in SHARE_ACTIONS:
        authorise(current, SHARE_ACTIONS[kind])
    elif not (current.state == Participant.State.JOINED and room_features.share_kinds[kind](current)):
        raise PermissionDenied(_("You may not share this now."))


def stop_share(participant: Participant) -> None:
    """The sharer stops, or an organizer stops anyone's share (not the creator's)."""
    with transaction.atomic():
        meeting, current = lock_room(participant)
        if current.state != Participant.State.JOINED:
            raise PermissionDenied(_("You are not in this meeting."))
        sharer = meeting.share_participant
        if sharer is None:
            raise RoomError("not_found", _("Nothing is being shared."))
        sharer.meeting = meeting
        authorise(current, "stop_share", sharer)
        _stop_share(meeting)


def _stop_share(meeting: Meeting) -> None:
    """Clear the share of a locked meeting and tell the room."""
    kind, sharer_id = meeting.share_kind, meeting.share_participant_id
    body = {"participant_id": sharer_id, "kind": kind}
    meeting.share_participant = None
    meeting.share_kind = meeting.share_stream_id = ""
    meeting.share_started_at = None
    meeting.save(update_fields=["share_participant", "share_kind", "share_stream_id", "share_started_at"])
    to_room(meeting, "share.stopped", body)
    room_features.share_stopped(meeting, kind, sharer_id)


def end_share(meeting: Meeting) -> None:
    """End the share of a locked meeting, whoever holds it: for a feature ending what it
    started (a remote-control session that stopped). The room is told, hooks run."""
    if meeting.share_participant_id is not None:
        _stop_share(meeting)


def _end_share_of(meeting: Meeting, participant: Participant) -> None:
    if meeting.share_participant_id == participant.pk:
        _stop_share(meeting)


# --- Ending ---------------------------------------------------------------------------


def end_meeting(meeting: Meeting, actor) -> bool:
    """End the meeting for everyone. Returns False if it had already ended.

    An organizer or the owner may end it, and so may a staff member (the admin).
    A queue or Click2Meet meeting sends its report to the agent who took it.
    """
    if not (can_manage_meeting(actor, meeting) or getattr(actor, "is_staff", False)):
        raise PermissionDenied
    return _finish_meeting(meeting, owners.display_name(actor) if actor else "")


def end_meeting_as(participant: Participant) -> bool:
    """``meeting.end`` from the room: an organizer in the meeting (a guest organizer too)."""
    current = Participant.objects.select_related("meeting").filter(pk=participant.pk).first()
    if current is None:
        raise PermissionDenied
    authorise(current, "end_meeting")
    return _finish_meeting(current.meeting, current.display_name)


def _finish_meeting(meeting: Meeting, by: str) -> bool:
    now = timezone.now()
    with transaction.atomic():
        cleared = {"share_participant": None, "share_kind": "", "share_stream_id": "", "share_started_at": None}
        if not Meeting.objects.filter(pk=meeting.pk, ended_at__isnull=True).update(ended_at=now, **cleared):
            return False
        meeting.ended_at = now
        present = meeting.participants.filter(state__in=(Participant.State.JOINED, Participant.State.LOBBY))
        waiting = list(present.filter(state=Participant.State.LOBBY).values_list("pk", flat=True))
        present.update(state=Participant.State.LEFT, left_at=now)
        body = {"by": by}
        broadcast(meeting_group(meeting.public_id), "meeting.ended", body)
        # The lobby is not in the room's group: tell each waiting person directly.
        for participant_id in waiting:
            send_to_participant(participant_id, "meeting.ended", body)
        room_features.meeting_ended(meeting)
    return True
