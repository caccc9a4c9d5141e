"""Plain factory functions shared by the test modules.

They write the ORM directly (no e-mail, no broadcast) so that a test sets up exactly
the state it needs and then exercises the service under test.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from meetings.models import Invitation, Meeting, Participant, Role, RoomType
from meetings.roomkit import meeting_group, participant_group
from rooms.models import Extension, MeetingRequest, Queue

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def _next() -> int:
    return next(_seq)


def make_user(
    username: str | None = None, *, password: str = PASSWORD, email: str | None = None, is_staff: bool = False, is_superuser: bool = False
):
    n = _next()
    username = username or f"user{n}"
    return get_user_model().objects.create_user(
        username=username,
        password=password,
        email=email if email is not None else f"{username}@example.com",
        is_staff=is_staff,
        is_superuser=is_superuser,
    )


def make_extension(
    slug: str | None = None,
    *,
    room_type: str = RoomType.PRIVATE,
    moderate: bool = False,
    available: bool = True,
    display_name: str | None = None,
    number: str | None = None,
    email: str | None = None,
    user=None,
    is_staff: bool = False,
) -> Extension:
    """An extension with its own login (a plain user, as the admin creates it)."""
    n = _next()
    user = user or make_user(f"ext{n}", is_staff=is_staff)
    return Extension.objects.create(
        user=user,
        number=number or str(1000 + n),
        display_name=display_name or f"Agent {n}",
        email=email or f"agent{n}@example.com",
        slug=slug or f"agent-{n}",
        room_type=room_type,
        moderate_participants=moderate,
        is_available=available,
    )


def make_queue(agents=(), *, slug: str | None = None, name: str | None = None, number: str | None = None) -> Queue:
    n = _next()
    queue = Queue.objects.create(number=number or str(8000 + n), name=name or f"Queue {n}", slug=slug or f"queue-{n}")
    queue.agents.set(agents)
    return queue


def make_meeting(
    owner_ext, *, title: str = "Weekly sync", room_type: str | None = None, queue=None, ended: bool = False, **fields
) -> Meeting:
    """A meeting owned by ``owner_ext`` (an Extension or a User)."""
    owner = owner_ext.user if isinstance(owner_ext, Extension) else owner_ext
    if "recording_preset" in fields:  # a feature's setting (media_server), not a column
        fields["feature_settings"] = {"recording_preset": fields.pop("recording_preset")}
    if room_type is None:
        room_type = owner_ext.room_type if isinstance(owner_ext, Extension) else RoomType.SHARED
    meeting = Meeting.objects.create(
        title=title,
        owner=owner,
        room_type=room_type,
        queue=queue,
        ended_at=timezone.now() if ended else None,
        **fields,
    )
    return meeting


def make_request(
    target=None,
    *,
    name: str = "Vera Visitor",
    email: str = "vera@example.org",
    session_key: str | None = None,
    ip: str | None = "203.0.113.7",
    status: str = MeetingRequest.Status.WAITING,
    expires_in: int = 600,
) -> MeetingRequest:
    """A meeting request as the visitor left it, without notifying anyone."""
    target = target or make_extension()
    return MeetingRequest.objects.create(
        extension=target if isinstance(target, Extension) else None,
        queue=target if isinstance(target, Queue) else None,
        visitor_name=name,
        visitor_email=email,
        visitor_session=session_key or secrets.token_hex(16),
        visitor_ip=ip,
        status=status,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )


def make_invitation(
    meeting: Meeting, *, name: str = "Ian Invitee", email: str = "ian@example.org", role: str = Role.PARTICIPANT, invited_by=None
) -> Invitation:
    return Invitation.objects.create(meeting=meeting, name=name, email=email, role=role, invited_by=invited_by)


def make_participant(
    meeting: Meeting,
    *,
    user=None,
    session_key: str = "",
    name: str = "Pat",
    role: str = Role.PARTICIPANT,
    state: str = Participant.State.JOINED,
    banned: bool = False,
) -> Participant:
    if user is None and not session_key:
        session_key = secrets.token_hex(16)
    return Participant.objects.create(
        meeting=meeting,
        user=user,
        session_key="" if user else session_key,
        display_name=name,
        role=role,
        state=state,
        is_banned=banned,
    )


class Events:
    """Broadcasts sent after commit, recorded instead of published."""

    def __init__(self):
        self.sent: list[tuple[str, str, dict]] = []

    def __call__(self, group: str, message: dict) -> bool:
        self.sent.append((group, message["event"], message["body"]))
        return True

    def of(self, group: str) -> list[tuple[str, dict]]:
        return [(event, body) for g, event, body in self.sent if g == group]

    def named(self, event: str) -> list[tuple[str, dict]]:
        return [(g, body) for g, e, body in self.sent if e == event]


def record_events(monkeypatch) -> Events:
    """Replace the channel-layer publish of ``core.realtime.broadcast`` by a recorder."""
    events = Events()
    monkeypatch.setattr("core.realtime.send_now", events)
    return events


class ChannelSends:
    """A channel layer whose ``send`` (to one socket's channel) is recorded instead."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    async def send(self, channel: str, message: dict) -> None:
        self.sent.append((channel, message))


def record_channel_sends(monkeypatch) -> ChannelSends:
    """Record what ``core.realtime.send_to_channel`` sends after commit."""
    layer = ChannelSends()
    monkeypatch.setattr("core.realtime.get_channel_layer", lambda: layer)
    return layer


class Sent:
    """Every message published after commit, with its audience (the room's messages
    to organizers or presenters only are told apart from those to everyone)."""

    def __init__(self):
        self.messages: list[tuple[str, dict]] = []

    def __call__(self, group: str, message: dict) -> bool:
        self.messages.append((group, message))
        return True

    def of(self, group: str) -> list[tuple[str, dict]]:
        return [(m["event"], m["body"]) for g, m in self.messages if g == group]

    def room(self, meeting, *, audience: str | None = None) -> list[tuple[str, dict]]:
        group = meeting_group(meeting.public_id)
        return [(m["event"], m["body"]) for g, m in self.messages if g == group and m.get("audience") == audience]

    def to(self, participant) -> list[tuple[str, dict]]:
        return self.of(participant_group(participant.pk))

    def clear(self) -> None:
        self.messages.clear()
