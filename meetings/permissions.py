"""Roles and permissions of meetings, in one place, enforced on the server.

``can(participant, action, target=None)`` answers every question of the meeting room:
who may share, moderate, change roles, run the lobby, end the meeting, chat, react and
signal, and the names that later features (documents, polls, remote control) use. A
later feature adds its action here, never a rule of its own elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from meetings.models import Participant, Role, SharePolicy

# Which roles a share policy lets share.
SHARING_ROLES: dict[str, frozenset[str]] = {
    SharePolicy.ORGANIZERS: frozenset({Role.ORGANIZER}),
    SharePolicy.PRESENTERS: frozenset({Role.ORGANIZER, Role.PRESENTER}),
    SharePolicy.EVERYONE: frozenset({Role.ORGANIZER, Role.PRESENTER, Role.PARTICIPANT}),
}


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


def role_may_share(role: str, share_policy: str) -> bool:
    return role in SHARING_ROLES.get(share_policy, frozenset())


# --- can() ------------------------------------------------------------------------------


def _is_organizer(actor: Participant) -> bool:
    return actor.role == Role.ORGANIZER


def _presenter_or_organizer(actor: Participant) -> bool:
    return actor.role in (Role.ORGANIZER, Role.PRESENTER)


def _may_act_on(actor: Participant, target: Participant) -> bool:
    """The creator cannot be moderated by anyone but themselves."""
    if target.meeting_id != actor.meeting_id:
        return False
    return not target.is_creator or actor.is_creator


def _moderate(actor: Participant, target: Participant | None) -> bool:
    # Without a target: may this person moderate at all (menus, early refusals)?
    return _is_organizer(actor) and (target is None or _may_act_on(actor, target))


def _kick(actor: Participant, target: Participant | None) -> bool:
    return _moderate(actor, target) and (target is None or target.pk != actor.pk)


def _stop_share(actor: Participant, sharer: Participant | None) -> bool:
    if sharer is not None and sharer.pk == actor.pk:
        return True
    return _moderate(actor, sharer)


def _share(actor: Participant, _target) -> bool:
    return role_may_share(actor.role, actor.meeting.share_policy)


def _everyone(actor: Participant, _target) -> bool:
    return True


RULES: dict[str, Callable[[Participant, Participant | None], bool]] = {
    "share": _share,
    "share_document": _share,
    "stop_share": _stop_share,
    "moderate": _moderate,
    "kick": _kick,
    "change_role": _moderate,
    "manage_lobby": lambda actor, _t: _is_organizer(actor),
    "end_meeting": lambda actor, _t: _is_organizer(actor),
    "chat": lambda actor, _t: actor.chat_allowed,
    "annotate": lambda actor, _t: actor.has_right("annotate"),
    "media": _everyone,
    "react": _everyone,
    "signal": _everyone,
    "run_poll": lambda actor, _t: _presenter_or_organizer(actor),
    "answer_poll": _everyone,
    "answer_remote_control": lambda actor, _t: _presenter_or_organizer(actor),
    "request_remote_control": _everyone,
    "record": lambda actor, _t: _is_organizer(actor),
}

# The media worker's hidden recorder peer may only exchange WebRTC signals.
RECORDER_ACTIONS = frozenset({"signal"})


def can(participant: Participant | None, action: str, target: Participant | None = None) -> bool:
    """May ``participant`` (a row of this meeting) do ``action`` (to ``target``)?

    Only people in the meeting (state joined, not banned, meeting not ended) may do
    anything; someone waiting in the lobby may do nothing, the recorder only signal. An unknown action is a
    programming error and raises ``KeyError``.
    """
    rule = RULES[action]
    if participant is None or participant.state != Participant.State.JOINED or participant.is_banned:
        return False
    if participant.meeting.is_ended:
        return False
    if participant.is_recorder:
        return action in RECORDER_ACTIONS
    return rule(participant, target)
