"""Writes of meetings: create, settings, invitations, join/leave, end, chat."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from meetings.models import ChatMessage, Invitation, Meeting, Participant, Role
from meetings.permissions import can_manage_meeting
from rooms.mail import queue_email
from rooms.models import Extension, RoomType
from rooms.realtime import broadcast, meeting_group

logger = logging.getLogger(__name__)

INVITATION_SALT = "parley.invitation"


class JoinRefused(Exception):
    """A join that the rules refuse; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInvitation(Exception):
    pass


# --- Creating and configuring ---------------------------------------------------------


def create_meeting(owner, *, title: str, scheduled_at=None, room_type: str | None = None, queue=None) -> Meeting:
    """A meeting takes its room type and moderation from the owner's extension."""
    extension = Extension.objects.filter(user=owner).first()
    if extension is None and not owner.is_staff:
        raise PermissionDenied
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": _("Give the meeting a title.")})
    moderate = extension.moderate_participants if extension else False
    kind = room_type or (extension.room_type if extension else RoomType.SHARED)
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


def personal_room(extension: Extension) -> Meeting:
    """The extension's standing shared room (its Click2Meet room), made on demand."""
    with transaction.atomic():
        # Lock the extension so that two visitors arriving together get one room.
        Extension.objects.select_for_update().filter(pk=extension.pk).first()
        meeting = Meeting.objects.filter(owner=extension.user, is_personal_room=True, ended_at__isnull=True).first()
        if meeting is None:
            meeting = create_meeting(
                extension.user, title=_("%(name)s's room") % {"name": extension.display_name}, room_type=RoomType.SHARED
            )
            meeting.is_personal_room = True
            meeting.save(update_fields=["is_personal_room"])
    return meeting


SETTINGS_FIELDS = ("title", "scheduled_at", "lobby_enabled", "share_policy", "recording_preset", "max_participants")


def update_meeting_settings(meeting: Meeting, actor, **changes) -> Meeting:
    if not can_manage_meeting(actor, meeting):
        raise PermissionDenied
    if meeting.is_ended:
        raise ValidationError(_("This meeting has ended."))
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Unknown meeting settings: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(meeting, field, value)
    try:
        meeting.full_clean()
        if "max_participants" in changes and not 2 <= meeting.max_participants <= settings.PARLEY_MAX_PARTICIPANTS:
            raise ValidationError({"max_participants": _("From 2 to %(max)d people.") % {"max": settings.PARLEY_MAX_PARTICIPANTS}})
    except ValidationError:
        # Refused: the caller's object goes back to what is stored.
        meeting.refresh_from_db(fields=list(changes))
        raise
    with transaction.atomic():
        meeting.save(update_fields=list(changes))
        broadcast(meeting_group(meeting.public_id), "meeting.settings", meeting_settings_payload(meeting))
    return meeting


def meeting_settings_payload(meeting: Meeting) -> dict:
    return {
        "title": meeting.title,
        "lobby_enabled": meeting.lobby_enabled,
        "share_policy": meeting.share_policy,
        "recording_preset": meeting.recording_preset,
        "max_participants": meeting.max_participants,
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
                    "inviter": _display_name(actor),
                    "join_url": invitation_url(invitation),
                },
            )
            invitations.append(invitation)
    return invitations


def _display_name(user) -> str:
    extension = Extension.objects.filter(user=user).first()
    return extension.display_name if extension else (user.get_full_name() or user.get_username())


# --- Joining and leaving --------------------------------------------------------------


def join_meeting(
    meeting: Meeting, *, user=None, session_key: str = "", name: str = "", email: str = "", invitation: Invitation | None = None
) -> Participant:
    """Enter a meeting with the right role, or raise ``JoinRefused``.

    A person is active in one meeting at a time: joining here marks them as having
    left any other meeting they were in, and that meeting's room is told so.
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
        is_owner = user is not None and user.pk == meeting.owner_id
        if meeting.room_type == RoomType.PRIVATE and not (is_owner or invitation or existing):
            raise JoinRefused("private_room", _("This is a private room. Only invited people can join."))
        others_present = meeting.participants.filter(state=Participant.State.JOINED)
        if existing is not None:
            others_present = others_present.exclude(pk=existing.pk)
        if others_present.count() >= meeting.max_participants:
            raise JoinRefused("meeting_full", _("This meeting is full (%(count)d participants).") % {"count": meeting.max_participants})
        role = Role.ORGANIZER if is_owner else (invitation.role if invitation else (existing.role if existing else Role.PARTICIPANT))
        name = (name or (invitation.name if invitation else "") or (_display_name(user) if user else "")).strip()[:100]
        if not name:
            raise JoinRefused("name_required", _("Please give your name."))
        participant = existing or Participant(meeting=meeting, user=user, session_key="" if user else session_key)
        participant.display_name = name
        participant.email = (email or (invitation.email if invitation else "") or (user.email if user else "")).strip()
        participant.role = role
        participant.invitation = invitation or participant.invitation
        participant.state = Participant.State.JOINED
        participant.joined_at = timezone.now()
        participant.left_at = None
        try:
            participant.save()
        except IntegrityError:
            raise JoinRefused("already_joining", _("You are already joining this meeting in another tab.")) from None
        if invitation and not invitation.used_at:
            Invitation.objects.filter(pk=invitation.pk).update(used_at=timezone.now())
        if meeting.started_at is None:
            Meeting.objects.filter(pk=meeting.pk).update(started_at=timezone.now())
        _leave_other_meetings(participant)
        broadcast(meeting_group(meeting.public_id), "participant.joined", participant_payload(participant))
    return participant


def _find_participant(meeting: Meeting, user, session_key: str) -> Participant | None:
    if user is not None:
        return meeting.participants.filter(user=user).first()
    return meeting.participants.filter(user__isnull=True, session_key=session_key).first()


def _leave_other_meetings(participant: Participant) -> None:
    others = Participant.objects.filter(state=Participant.State.JOINED).exclude(pk=participant.pk).select_related("meeting")
    others = (
        others.filter(user=participant.user)
        if participant.user_id
        else others.filter(user__isnull=True, session_key=participant.session_key)
    )
    for other in others:
        other.state = Participant.State.LEFT
        other.left_at = timezone.now()
        other.save(update_fields=["state", "left_at"])
        broadcast(meeting_group(other.meeting.public_id), "participant.moved", {"participant_id": other.pk})


def leave_meeting(participant: Participant) -> None:
    with transaction.atomic():
        updated = Participant.objects.filter(pk=participant.pk, state=Participant.State.JOINED).update(
            state=Participant.State.LEFT, left_at=timezone.now()
        )
        if updated:
            broadcast(meeting_group(participant.meeting.public_id), "participant.left", {"participant_id": participant.pk})


def participant_payload(participant: Participant) -> dict:
    return {
        "id": participant.pk,
        "name": participant.display_name,
        "role": participant.role,
        "is_creator": participant.is_creator,
        "state": participant.state,
    }


# --- Chat (kept for the report) -------------------------------------------------------

CHAT_MAX_LENGTH = 2000


def post_chat_message(participant: Participant, text: str) -> ChatMessage:
    text = (text or "").strip()
    if not text or len(text) > CHAT_MAX_LENGTH:
        raise ValidationError(_("A chat message has 1 to %(max)d characters.") % {"max": CHAT_MAX_LENGTH})
    if participant.state != Participant.State.JOINED or participant.meeting.is_ended:
        raise PermissionDenied
    with transaction.atomic():
        message = ChatMessage.objects.create(
            meeting=participant.meeting, participant=participant, sender_name=participant.display_name, text=text
        )
        broadcast(
            meeting_group(participant.meeting.public_id),
            "chat.message",
            {
                "id": message.pk,
                "participant_id": participant.pk,
                "name": message.sender_name,
                "text": text,
                "at": message.created_at.isoformat(),
            },
        )
    return message


# --- Ending ---------------------------------------------------------------------------


def end_meeting(meeting: Meeting, actor) -> bool:
    """End the meeting for everyone. Returns False if it had already ended.

    An organizer or the owner may end it, and so may a staff member (the admin).
    A queue or Click2Meet meeting sends its report to the agent who took it.
    """
    if not (can_manage_meeting(actor, meeting) or getattr(actor, "is_staff", False)):
        raise PermissionDenied
    now = timezone.now()
    with transaction.atomic():
        if not Meeting.objects.filter(pk=meeting.pk, ended_at__isnull=True).update(ended_at=now):
            return False
        meeting.ended_at = now
        meeting.participants.filter(state=Participant.State.JOINED).update(state=Participant.State.LEFT, left_at=now)
        broadcast(meeting_group(meeting.public_id), "meeting.ended", {"by": _display_name(actor) if actor else ""})
        _send_report(meeting)
    return True


def _send_report(meeting: Meeting) -> None:
    from meetings.report import report_context
    from rooms.models import MeetingRequest

    request = MeetingRequest.objects.filter(meeting=meeting).select_related("claimed_by").first()
    if request is None or request.claimed_by is None:
        return
    agent = request.claimed_by
    # The caller's instance may predate the first join (started_at is set by UPDATE).
    meeting.refresh_from_db(fields=["started_at", "ended_at"])
    queue_email(
        kind="meeting_report",
        key=f"report:{meeting.pk}",
        to=agent.email,
        context={**report_context(meeting), "agent": agent, "request": request},
    )
