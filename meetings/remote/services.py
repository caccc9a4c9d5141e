"""Writes of remote control (docs/remote-control.md): request, answer, stop, the
desktop helper's pairing, consent and stop, and the end of a session when a person
or the meeting goes away.

Rules (``meetings.permissions.can``): any joined participant may request
(``request_remote_control``); organizers and presenters answer
(``answer_remote_control``), the first "allow" wins. Consent is the helper's: the
session becomes ``active`` only when the person at the computer allows it, and input
is relayed only from the controller of an active session.

Lock order, as in the room: the meeting row, then participant rows, then the session,
then the helper pairing. Events go out after commit: ``remote.requested`` (organizers
and presenters), ``remote.session`` (the room), ``remote.helper`` (the participant's
own sockets), and ``control.*`` to the requester's helper (its group).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from core.realtime import broadcast
from meetings import services as meeting_services
from meetings.models import Meeting, Participant, Role
from meetings.permissions import can
from meetings.remote.access import RemoteError, helper_pairing, locked_session
from meetings.remote.events import CODE_ALPHABET, CODE_LENGTH, normalise_code
from meetings.remote.models import HelperPairing, RemoteSession
from meetings.roomkit import PRESENTERS, authorise, lock_room, send_to_participant, to_room, valid_id

logger = logging.getLogger("meetings.remote")

State = RemoteSession.State
Reason = RemoteSession.Reason
CODE_TTL = 120
# Pairing attempts per client address (wrong codes close the socket; new sockets count too).
PAIR_ATTEMPTS = (20, 60)
SCREENS_MAX = 16
SCREEN_COORDINATE_MAX = 65536
PLATFORM_MAX = 40
# How a person's change in the room ends the session they take part in.
CHANGE_REASONS = {
    "left": Reason.LEFT,
    "moved": Reason.LEFT,
    "timeout": Reason.LEFT,
    "kicked": Reason.KICKED,
    "role": Reason.ROLE,
    "disconnected": Reason.DISCONNECTED,
}
# Changes after which a person's helper has nothing left to do.
GONE = {"left", "moved", "timeout", "kicked"}


def helper_group(participant_id: int) -> str:
    """The live helper socket of one participant (at most one member)."""
    return f"remote-helper-{participant_id}"


# --- Payloads -------------------------------------------------------------------------


def _helper_paired(participant_id: int) -> bool:
    return HelperPairing.objects.filter(participant_id=participant_id, paired=True).exists()


def session_payload(session: RemoteSession) -> dict:
    controller = session.controller
    return {
        "id": session.pk,
        "state": session.state,
        "requester_id": session.requester_id,
        "requester_name": session.requester.display_name,
        "controller_id": session.controller_id,
        "controller_name": controller.display_name if controller else None,
        "helper_paired": _helper_paired(session.requester_id),
        "consent": session.consent or None,
        "reason": session.reason or None,
    }


def _open_session(meeting: Meeting) -> RemoteSession | None:
    """The meeting's session under way (locked), if any."""
    sessions = RemoteSession.objects.select_for_update(of=("self",)).select_related("requester", "controller")
    return sessions.filter(meeting=meeting).exclude(state=State.ENDED).first()


def room_remote(participant: Participant) -> dict:
    """The snapshot section: the session under way and this participant's own helper."""
    return remote_for(participant, remote_room(participant.meeting_id))


@dataclass(frozen=True)
class RemoteRoom:
    """The room's part of the snapshot section, read once for the sockets of a room
    that join together: the session under way, and whose helpers are paired (in a
    storm of 200 arrivals, one query instead of one per socket)."""

    session: dict | None
    paired: frozenset[int]


def remote_room(meeting_id: int) -> RemoteRoom:
    paired = HelperPairing.objects.filter(participant__meeting_id=meeting_id, paired=True).values_list("participant_id", flat=True)
    return RemoteRoom(session_under_way(meeting_id), frozenset(paired))


def session_under_way(meeting_id: int) -> dict | None:
    """The payload of the meeting's session under way, or None."""
    session = (
        RemoteSession.objects.select_related("requester", "controller").filter(meeting_id=meeting_id).exclude(state=State.ENDED).first()
    )
    return session_payload(session) if session else None


def remote_for(participant: Participant, room: RemoteRoom) -> dict:
    """The snapshot section for ``participant``, given ``remote_room``."""
    return {"session": room.session, "helper_paired": participant.pk in room.paired}


# --- Shared steps ---------------------------------------------------------------------


def _publish(meeting: Meeting, session: RemoteSession) -> None:
    to_room(meeting, "remote.session", session_payload(session))


def _describe(meeting: Meeting, session: RemoteSession) -> str:
    controller = f"{session.controller_id} ({session.controller.display_name})" if session.controller else "-"
    return f"meeting {meeting.public_id}, requester {session.requester_id} ({session.requester.display_name}), controller {controller}"


def _available_controllers(meeting: Meeting, requester_id: int):
    """Organizers and presenters in the meeting with a live socket, but the requester."""
    return meeting.participants.filter(
        state=Participant.State.JOINED, connected=True, is_banned=False, role__in=(Role.ORGANIZER, Role.PRESENTER)
    ).exclude(pk=requester_id)


def _end(meeting: Meeting, session: RemoteSession, reason: str, *, stop_share: bool = True) -> None:
    """End a session (locked, open): tell the room and the helper; its share ends too."""
    was = session.state
    session.state, session.reason, session.ended_at = State.ENDED, reason, timezone.now()
    if reason == Reason.REFUSED:
        session.consent = RemoteSession.Consent.REFUSED
    session.save(update_fields=["state", "reason", "ended_at", "consent"])
    logger.info("Remote control ended (%s, was %s): %s", reason, was, _describe(meeting, session))
    _publish(meeting, session)
    if was in (State.APPROVED, State.ACTIVE):
        broadcast(helper_group(session.requester_id), "control.stopped", {"session_id": session.pk, "reason": reason})
    if stop_share and meeting.share_kind == "remote" and meeting.share_participant_id == session.requester_id:
        meeting_services.end_share(meeting)


def _ask_helper(session: RemoteSession) -> dict:
    return {"session_id": session.pk, "controller_name": session.controller.display_name if session.controller else ""}


# --- The room: request, answer, stop --------------------------------------------------


def request_control(participant: Participant) -> RemoteSession:
    """Ask for remote control: ``remote_busy`` while a session is under way,
    ``no_controller`` when no organizer or presenter (but the requester) is online."""
    with transaction.atomic():
        meeting, current = lock_room(participant)
        authorise(current, "request_remote_control")
        busy = _open_session(meeting)
        if busy is not None:
            raise RemoteError("remote_busy", _("A remote control session is already under way in this meeting."))
        if not _available_controllers(meeting, current.pk).exists():
            raise RemoteError("no_controller", _("No organizer or presenter is available to take control."))
        session = RemoteSession.objects.create(meeting=meeting, requester=current)
        logger.info("Remote control requested: %s", _describe(meeting, session))
        payload = session_payload(session)
        to_room(meeting, "remote.requested", payload, audience=PRESENTERS)
        to_room(meeting, "remote.session", payload)
    return session


def answer_request(participant: Participant, session_id: int, allow: bool) -> RemoteSession:
    """An organizer or presenter answers; the first "allow" takes control, a later one
    is ``remote_taken``; when everyone available said no, the request ends."""
    with transaction.atomic():
        meeting, current = lock_room(participant)
        authorise(current, "answer_remote_control")
        session = locked_session(meeting, session_id)
        if session.requester_id == current.pk:
            raise PermissionDenied(_("Someone else answers your own request."))
        if session.state == State.ENDED:
            raise RemoteError("not_found", _("This remote control request is over."))
        if session.state != State.REQUESTED:
            if allow and session.controller_id != current.pk:
                name = session.controller.display_name if session.controller else "?"
                raise RemoteError("remote_taken", _("%(name)s has already taken control.") % {"name": name})
            return session  # a "no" after someone said yes, or a second "yes": nothing changes
        if allow:
            _approve(meeting, session, current)
        else:
            if current.pk not in session.declined_by:
                session.declined_by = [*session.declined_by, current.pk]
                session.save(update_fields=["declined_by"])
            _end_if_everyone_declined(meeting, session)
    return session


def _approve(meeting: Meeting, session: RemoteSession, controller: Participant) -> None:
    session.state, session.controller, session.consent = State.APPROVED, controller, RemoteSession.Consent.PENDING
    session.approved_at = timezone.now()
    session.save(update_fields=["state", "controller", "consent", "approved_at"])
    logger.info("Remote control approved: %s", _describe(meeting, session))
    _publish(meeting, session)
    if _helper_paired(session.requester_id):
        broadcast(helper_group(session.requester_id), "control.request", _ask_helper(session))


def _end_if_everyone_declined(meeting: Meeting, session: RemoteSession) -> None:
    available = set(_available_controllers(meeting, session.requester_id).values_list("pk", flat=True))
    if session.declined_by and available <= set(session.declined_by):
        _end(meeting, session, Reason.DECLINED)


def stop_session(participant: Participant, session_id: int) -> RemoteSession:
    """The requester or the controller ends it now (``cancelled`` before approval)."""
    with transaction.atomic():
        meeting, current = lock_room(participant)
        if current.state != Participant.State.JOINED:
            raise PermissionDenied(_("You are not in this meeting."))
        session = locked_session(meeting, session_id)
        if current.pk not in (session.requester_id, session.controller_id):
            raise PermissionDenied(_("Only the requester or the controller stops remote control."))
        if session.state != State.ENDED:
            _end(meeting, session, Reason.CANCELLED if session.state == State.REQUESTED else Reason.STOPPED)
    return session


def relay_target(controller: Participant, session_id: int) -> int:
    """The hot path of input: the requester whose helper gets the controller's event,
    if ``session_id`` is active with this controller (``PermissionDenied`` otherwise).
    One indexed read, no lock: the session ends in its own transaction, and from then
    on this read refuses."""
    requester_id = None
    if valid_id(session_id):
        requester_id = (
            RemoteSession.objects.filter(pk=session_id, state=State.ACTIVE, controller_id=controller.pk)
            .values_list("requester_id", flat=True)
            .first()
        )
    if requester_id is None:
        raise PermissionDenied(_("Only the controller of an active remote control session sends input."))
    return requester_id


# --- Pairing the desktop helper --------------------------------------------------------


def _code_hash(code: str) -> str:
    return salted_hmac("parley.remote.pairing-code", code, algorithm="sha256").hexdigest()


def _session_hash(session_key: str) -> str:
    return salted_hmac("parley.remote.session-key", session_key, algorithm="sha256").hexdigest()


def new_code() -> str:
    compact = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{compact[:4]}-{compact[4:]}"


def create_pairing_code(participant: Participant, session_key: str, room_channel: str) -> tuple[str, int]:
    """A single-use code for this participant's helper, valid CODE_TTL seconds while
    the room socket ``room_channel`` (of browser session ``session_key``) stays the
    participant's live socket. A new code replaces the previous one."""
    if not session_key or not room_channel:
        raise PermissionDenied(_("Your browser session is required."))
    code = new_code()
    now = timezone.now()
    with transaction.atomic():
        _meeting, current = lock_room(participant)
        authorise(current, "request_remote_control")
        HelperPairing.objects.update_or_create(
            participant=current,
            defaults={
                "code_hash": _code_hash(code),
                "session_key_hash": _session_hash(session_key),
                "room_channel": room_channel,
                "created_at": now,
                "expires_at": now + timedelta(seconds=CODE_TTL),
                "used_at": None,
            },
        )
    return code, CODE_TTL


def pairing_attempt_allowed(address: str) -> bool:
    """At most PAIR_ATTEMPTS pairing attempts per client address and window."""
    limit, seconds = PAIR_ATTEMPTS
    key = f"remote-pair:{address or '?'}"
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds)
        return True


def code_owner(code) -> int | None:
    """The participant a code was made for (no checks: the helper's socket joins that
    participant's group before ``pair_helper`` decides, so that no event falls between)."""
    normalised = normalise_code(code) if isinstance(code, str) else None
    if normalised is None:
        return None
    return HelperPairing.objects.filter(code_hash=_code_hash(normalised)).values_list("participant_id", flat=True).first()


def clean_helper_info(platform, screens) -> tuple[str, list[dict]]:
    if not isinstance(platform, str) or len(platform) > PLATFORM_MAX or not platform.isprintable():
        raise ValidationError(_("“platform” is at most %(max)d printable characters.") % {"max": PLATFORM_MAX})
    if not isinstance(screens, list) or len(screens) > SCREENS_MAX:
        raise ValidationError(_("“screens” is a list of at most %(max)d screens.") % {"max": SCREENS_MAX})
    cleaned = []
    for screen in screens:
        if not isinstance(screen, dict) or set(screen) != {"x", "y", "width", "height"}:
            raise ValidationError(_("A screen is {x, y, width, height}."))
        values = [screen[name] for name in ("x", "y", "width", "height")]
        if any(not isinstance(value, int) or isinstance(value, bool) for value in values):
            raise ValidationError(_("A screen's x, y, width and height are whole numbers."))
        x, y, width, height = values
        if max(abs(x), abs(y)) > SCREEN_COORDINATE_MAX or not (
            1 <= width <= SCREEN_COORDINATE_MAX and 1 <= height <= SCREEN_COORDINATE_MAX
        ):
            raise ValidationError(_("A screen's geometry is out of range."))
        cleaned.append({"x": x, "y": y, "width": width, "height": height})
    return platform, cleaned


@dataclass(frozen=True)
class Paired:
    participant_id: int
    participant_name: str
    meeting_title: str
    old_channel: str  # the helper socket this one replaces, "" if none
    ask: dict | None  # control.request for this helper now (a session awaits consent)


def _code_still_valid(pairing: HelperPairing, participant: Participant, meeting: Meeting, now) -> bool:
    if pairing.used_at is not None or pairing.expires_at <= now:
        return False
    if meeting.is_ended or participant.state != Participant.State.JOINED or participant.is_banned:
        return False
    # Bound to the browser session and page that asked: that socket is still the live one.
    if not participant.connected or participant.channel_name != pairing.room_channel:
        return False
    return participant.user_id is not None or _session_hash(participant.session_key) == pairing.session_key_hash


def pair_helper(code, channel_name: str, platform, screens) -> Paired:
    """Pair the helper socket ``channel_name`` with the code's participant, once:
    ``invalid_code`` for an unknown, used, expired or stale code. A newer helper
    replaces the older (an active session then ends: consent was the other's)."""
    platform, screens = clean_helper_info(platform, screens)
    invalid = RemoteError("invalid_code", _("This code is not valid: it is used, expired or mistyped. Ask the meeting page for a new one."))
    owner_id = code_owner(code)
    if owner_id is None:
        raise invalid
    meeting_id = Participant.objects.filter(pk=owner_id).values_list("meeting_id", flat=True).first()
    if meeting_id is None:
        raise invalid
    now = timezone.now()
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
        participant = meeting.participants.select_for_update().filter(pk=owner_id).first()
        pairing = (
            HelperPairing.objects.select_for_update()
            .filter(participant_id=owner_id, code_hash=_code_hash(normalise_code(code) or ""))
            .first()
        )
        if participant is None or pairing is None or not _code_still_valid(pairing, participant, meeting, now):
            raise invalid
        participant.meeting = meeting
        old_channel = pairing.helper_channel if pairing.paired and pairing.helper_channel != channel_name else ""
        pairing.used_at = pairing.paired_at = now
        pairing.paired, pairing.helper_channel, pairing.platform, pairing.screens = True, channel_name, platform, screens
        pairing.save(update_fields=["used_at", "paired_at", "paired", "helper_channel", "platform", "screens"])
        logger.info(
            "Desktop helper paired (%s, %d screens): participant %s of meeting %s", platform, len(screens), owner_id, meeting.public_id
        )
        ask = _helper_arrived(meeting, participant, replaced=bool(old_channel))
        send_to_participant(owner_id, "remote.helper", {"paired": True})
    return Paired(owner_id, participant.display_name, meeting.title, old_channel, ask)


def _helper_arrived(meeting: Meeting, participant: Participant, *, replaced: bool) -> dict | None:
    session = _open_session(meeting)
    if session is None or session.requester_id != participant.pk:
        return None
    if session.state == State.ACTIVE and replaced:
        _end(meeting, session, Reason.HELPER_GONE)
        return None
    _publish(meeting, session)  # helper_paired changed
    return _ask_helper(session) if session.state == State.APPROVED else None


def _helper_session(channel_name: str, session_id: int) -> tuple[Meeting, RemoteSession]:
    """The (locked) session ``session_id`` of the helper's participant."""
    pairing = helper_pairing(channel_name)
    meeting = Meeting.objects.select_for_update().get(pk=pairing.participant.meeting_id)
    session = locked_session(meeting, session_id)
    current = HelperPairing.objects.select_for_update().filter(pk=pairing.pk, helper_channel=channel_name, paired=True).first()
    if current is None:
        raise PermissionDenied(_("This helper is not paired."))
    if session.requester_id != pairing.participant_id:
        raise RemoteError("not_found", _("There is no such remote control request."))
    return meeting, session


def helper_consent(channel_name: str, session_id: int, allow: bool) -> RemoteSession:
    """The person at the computer answers: allowed, the session is active; refused, it ends."""
    with transaction.atomic():
        meeting, session = _helper_session(channel_name, session_id)
        if session.state == State.ACTIVE and allow:
            return session
        if session.state != State.APPROVED:
            raise RemoteError("not_found", _("This remote control request is over."))
        if not allow:
            _end(meeting, session, Reason.REFUSED)
            return session
        session.state, session.consent, session.active_at = State.ACTIVE, RemoteSession.Consent.GIVEN, timezone.now()
        session.save(update_fields=["state", "consent", "active_at"])
        logger.info("Remote control started: %s", _describe(meeting, session))
        _publish(meeting, session)
    return session


def helper_stop(channel_name: str, session_id: int) -> RemoteSession:
    """The person at the computer stops it."""
    with transaction.atomic():
        meeting, session = _helper_session(channel_name, session_id)
        if session.state != State.ENDED:
            _end(meeting, session, Reason.STOPPED)
    return session


def helper_gone(channel_name: str) -> bool:
    """The helper socket closed; a replaced one changes nothing. The participant's
    session that counted on it ends (``helper_gone``)."""
    pairing = HelperPairing.objects.filter(helper_channel=channel_name, paired=True).values_list("pk", "participant__meeting_id").first()
    if not channel_name or pairing is None:
        return False
    pairing_id, meeting_id = pairing
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().filter(pk=meeting_id).first()
        current = HelperPairing.objects.select_for_update().filter(pk=pairing_id, helper_channel=channel_name, paired=True).first()
        if meeting is None or current is None:
            return False
        _unpair(current)
        session = _open_session(meeting)
        if session is not None and session.requester_id == current.participant_id:
            if session.state in (State.APPROVED, State.ACTIVE):
                _end(meeting, session, Reason.HELPER_GONE)
            else:
                _publish(meeting, session)
    return True


def _unpair(pairing: HelperPairing) -> None:
    pairing.paired, pairing.helper_channel = False, ""
    pairing.save(update_fields=["paired", "helper_channel"])
    send_to_participant(pairing.participant_id, "remote.helper", {"paired": False})
    logger.info("Desktop helper gone: participant %s", pairing.participant_id)


def _dismiss_helper(participant_id: int, reason: str) -> None:
    """The participant is out: their helper is told and closed."""
    pairing = HelperPairing.objects.select_for_update().filter(participant_id=participant_id, paired=True).first()
    if pairing is not None:
        broadcast(helper_group(participant_id), "helper.closed", {"reason": reason})
        _unpair(pairing)


# --- Hooks: the room changed -----------------------------------------------------------


def participant_changed(meeting: Meeting, participant: Participant, what: str) -> None:
    """A leave, kick, timeout, move, role change or dropped socket of the requester or
    the controller ends the session (a controller's role change only if they may no
    longer answer); another organizer or presenter going may leave nobody to answer."""
    if what == "joined":
        return  # someone coming in ends nothing
    session = _open_session(meeting)
    if session is not None:
        if participant.pk == session.requester_id:
            _end(meeting, session, CHANGE_REASONS.get(what, Reason.LEFT))
        elif participant.pk == session.controller_id:
            if not (what == "role" and can(participant, "answer_remote_control")):
                _end(meeting, session, CHANGE_REASONS.get(what, Reason.LEFT))
        elif session.state == State.REQUESTED:
            _end_if_everyone_declined(meeting, session)
    if what in GONE:
        _dismiss_helper(participant.pk, what)


def meeting_ended(meeting: Meeting) -> None:
    session = _open_session(meeting)
    if session is not None:
        # The meeting's share was cleared with the meeting's end.
        _end(meeting, session, Reason.MEETING_END, stop_share=False)
    paired = HelperPairing.objects.filter(participant__meeting=meeting, paired=True).values_list("participant_id", flat=True)
    for participant_id in list(paired):
        _dismiss_helper(participant_id, "meeting_end")


def share_stopped(meeting: Meeting, kind: str, participant_id: int | None) -> None:
    """The requester's remote share ended: so does the session."""
    if kind != "remote" or participant_id is None:
        return
    session = _open_session(meeting)
    if session is None or session.requester_id != participant_id or session.state not in (State.APPROVED, State.ACTIVE):
        return
    sharer_state = meeting.participants.filter(pk=participant_id).values_list("state", flat=True).first()
    if sharer_state == Participant.State.KICKED:
        reason = Reason.KICKED
    elif sharer_state != Participant.State.JOINED:
        reason = Reason.LEFT
    else:
        reason = Reason.SHARE_ENDED
    _end(meeting, session, reason)


def may_share_remote(participant: Participant) -> bool:
    """``share.start {"kind": "remote"}``: the requester of an approved or active session."""
    return RemoteSession.objects.filter(requester=participant, state__in=(State.APPROVED, State.ACTIVE)).exists()
