"""How features plug into the meeting room, on the server side (the browser's side is
``static/js/room/features.js``; docs/architecture.md shows both).

The room's own messages (presence, signalling, moderation, lobby, sharing: see
``meetings.room_handlers``), chat and reactions (``meetings.chat``) and every feature
(polls, documents, remote control, recording) register the same way, from their
``AppConfig.ready``:

- **handlers** for client messages on the room socket::

      @room_handler("poll.vote", bucket="poll")
      async def vote(room: RoomSocket, body: dict) -> dict:
          ...                               # room.participant, room.call(...), ProtocolError
          return {"ok": True}               # the ack body

  Handlers run for joined participants only (lobby guests get ``forbidden``) unless
  registered with ``lobby=True``. ``bucket`` names a per-socket rate limit declared
  with ``rate``.

- **snapshot sections**: ``@snapshot_section("poll")`` adds ``snapshot["poll"] =
  fn(participant)`` to the ``room.snapshot`` a joined participant gets first, so that
  a late joiner or a reconnecting page sees the feature's current state. The sockets
  that join together are read together (``meetings.snapshots``), and a section can say
  what of it is the same for all of them: with ``shared=True`` it reads only the
  meeting (never who asks) and is read once; with ``room=read`` (a function of the
  meeting), ``read(meeting)`` is read once and the section is called as
  ``fn(participant, what_read_returned)`` for each person.

- **participant fields**: ``@participant_fields`` adds ``fn(participant)`` (a dict) to
  every participant object of docs/protocol.md (``annotate_allowed``).

- **hooks** that run inside the transaction of a room change, so that a feature can
  end what a person was doing: ``@on_participant_change`` gets ``(meeting,
  participant, what)`` with ``what`` one of ``joined``, ``left``, ``kicked``,
  ``timeout``, ``moved`` (out of the room), ``role`` (the role changed) or
  ``disconnected`` (the live socket closed; the person may come back within the
  reconnect grace); ``@on_meeting_end`` gets ``(meeting)`` before the meeting's end is
  committed, and ``@after_meeting_end`` the same once every ``on_meeting_end`` hook has
  settled what the meeting leaves (polls closed, recordings stopped): the meeting
  report is sent from there.

- **lobby status sections**: ``@lobby_status_section("recording")`` adds
  ``body["recording"] = fn(meeting_id)`` to the ``lobby.status`` bodies of people
  waiting (``waiting`` / ``no_organizer``).

- **share kinds** beyond ``screen``: ``share_kind("remote", may_share)`` lets
  ``share.start {"kind": "remote"}`` through when ``may_share(participant)`` (the
  participant row, locked, of a joined person) is true, instead of the share policy;
  with ``follows_policy=False`` a later change of the share policy does not end it
  either (remote control); ``@on_share_stopped`` gets ``(meeting, kind,
  participant_id)`` when any share ends.

- **meeting settings**: ``meeting_setting("recording_preset", form_field=…,
  default=…)`` adds a setting to the meeting's settings page, its ``meeting.settings``
  event and its admin page; it is stored in ``Meeting.feature_settings`` and read with
  ``meeting.setting(name)``.

- **capacity**: ``@capacity_limit`` gets ``(meeting)`` and returns ``(limit, reason)``
  or None: a meeting admits at most the smallest limit and its own maximum; the person
  refused is told the reason (a mesh without a media server holds only a few people).

- **room page config**: ``@room_config_section`` adds ``fn(meeting, participant)`` (a
  dict) to the configuration the room page starts with (the recording presets).

- **room page parts**: ``room_part("polls", "meetings/room/_polls.html")`` names the
  markup a feature adds to the room page. The page does not carry it: the browser's
  feature registry (``static/js/room/features.js``) fetches it the first time the
  feature is needed (a panel opens, a share starts, an event or a snapshot section
  needs it) from ``meetings.views.meeting_room_part`` (``/m/<id>/room/parts/polls/``),
  which renders it for the caller's participant with the room page's context
  (``meeting``, ``participant``, ``is_extension_user``), for the same people as the room
  page. A top-level element of a part goes at the end of ``#meeting-room``, into the
  element named by its ``data-room-parent``, or before the one named by its
  ``data-room-before``.

- **participant rights**: a right that organizers may turn off for someone
  (``rights_off`` on the participant) is moderated with
  ``meetings.services.set_right``; ``meetings.permissions`` reads it.

The meeting app knows nothing of the features; the features know the room.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from django import forms

    from meetings.models import Meeting, Participant

T = TypeVar("T")


class RoomSocket(Protocol):
    """What a room message handler gets: the caller's live socket."""

    public_id: str
    participant: Participant
    participant_id: int
    role: str
    state: str
    channel_layer: Any

    async def call(self, what: str, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (sync) service; its refusals become protocol errors."""
        ...


Handler = Callable[[RoomSocket, dict], Awaitable[dict | None]]
ParticipantHook = Callable[["Meeting", "Participant", str], None]
MeetingHook = Callable[["Meeting"], None]
ShareStoppedHook = Callable[["Meeting", str, "int | None"], None]


@dataclass(frozen=True)
class RoomHandler:
    function: Handler
    bucket: str | None = None
    lobby: bool = False


@dataclass(frozen=True)
class MeetingSetting:
    name: str
    # The settings page's field: its label, choices and validation.
    form_field: Callable[[], forms.Field]
    default: Callable[[], Any]


handlers: dict[str, RoomHandler] = {}
snapshot_sections: dict[str, Callable[..., Any]] = {}
# Sections that read only the meeting: the same for everyone in the room.
shared_snapshot_sections: set[str] = set()
# Sections made of a part of the room, read once (``room(meeting)``), and a part of
# each person's: ``fn(participant, what room() read)``.
snapshot_room_reads: dict[str, Callable[[Meeting], Any]] = {}
participant_field_hooks: list[Callable[[Participant], dict[str, Any]]] = []
lobby_status_sections: dict[str, Callable[[int], Any]] = {}
participant_hooks: list[ParticipantHook] = []
meeting_end_hooks: list[MeetingHook] = []
after_meeting_end_hooks: list[MeetingHook] = []
share_kinds: dict[str, Callable[[Participant], bool]] = {}
share_stopped_hooks: list[ShareStoppedHook] = []
# Share kinds that their feature alone allows: a change of the share policy leaves them be.
policy_free_share_kinds: set[str] = set()
# Per-socket rate limits: bucket name → (messages, seconds).
rates: dict[str, tuple[int, int]] = {}
meeting_settings: dict[str, MeetingSetting] = {}
room_config_sections: list[Callable[[Meeting, Participant], dict[str, Any]]] = []
capacity_limits: list[Callable[[Meeting], tuple[int, str] | None]] = []
# Markup of the room page loaded on first need: part name → template.
room_parts: dict[str, str] = {}


def room_handler(message_type: str, *, bucket: str | None = None, lobby: bool = False) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        if message_type in handlers:
            raise ValueError(f"Room message {message_type!r} is registered twice.")
        handlers[message_type] = RoomHandler(function, bucket, lobby)
        return function

    return register


def rate(bucket: str, messages: int, seconds: int) -> None:
    rates[bucket] = (messages, seconds)


def snapshot_section(name: str, *, shared: bool = False, room: Callable[[Meeting], Any] | None = None):
    if shared and room is not None:
        raise ValueError("A shared snapshot section reads the room itself: give shared or room, not both.")

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        snapshot_sections[name] = function
        if shared:
            shared_snapshot_sections.add(name)
        if room is not None:
            snapshot_room_reads[name] = room
        return function

    return register


def participant_fields(function: Callable[[Participant], dict[str, Any]]) -> Callable[[Participant], dict[str, Any]]:
    participant_field_hooks.append(function)
    return function


def lobby_status_section(name: str):
    def register(function: Callable[[int], Any]) -> Callable[[int], Any]:
        lobby_status_sections[name] = function
        return function

    return register


def on_participant_change(function: ParticipantHook) -> ParticipantHook:
    """``function(meeting, participant, what)``; ``meeting`` and ``participant`` locked."""
    participant_hooks.append(function)
    return function


def on_meeting_end(function: MeetingHook) -> MeetingHook:
    meeting_end_hooks.append(function)
    return function


def after_meeting_end(function: MeetingHook) -> MeetingHook:
    after_meeting_end_hooks.append(function)
    return function


def participant_changed(meeting: Meeting, participant: Participant, what: str) -> None:
    for hook in participant_hooks:
        hook(meeting, participant, what)


def meeting_ended(meeting: Meeting) -> None:
    for hook in meeting_end_hooks:
        hook(meeting)
    for hook in after_meeting_end_hooks:
        hook(meeting)


def share_kind(kind: str, may_share: Callable[[Participant], bool], *, follows_policy: bool = True) -> None:
    share_kinds[kind] = may_share
    if not follows_policy:
        policy_free_share_kinds.add(kind)


def on_share_stopped(function: ShareStoppedHook) -> ShareStoppedHook:
    share_stopped_hooks.append(function)
    return function


def share_stopped(meeting: Meeting, kind: str, participant_id: int | None) -> None:
    for hook in share_stopped_hooks:
        hook(meeting, kind, participant_id)


def meeting_setting(name: str, *, form_field: Callable[[], forms.Field], default: Callable[[], Any]) -> None:
    meeting_settings[name] = MeetingSetting(name, form_field, default)


def room_config_section(
    function: Callable[[Meeting, Participant], dict[str, Any]],
) -> Callable[[Meeting, Participant], dict[str, Any]]:
    room_config_sections.append(function)
    return function


def capacity_limit(function: Callable[[Meeting], tuple[int, str] | None]) -> Callable[[Meeting], tuple[int, str] | None]:
    capacity_limits.append(function)
    return function


def capacity(meeting: Meeting) -> tuple[int, str | None]:
    """How many people the meeting admits, and why fewer than its own maximum (or None)."""
    limit, reason = meeting.max_participants, None
    for function in capacity_limits:
        found = function(meeting)
        if found is not None and found[0] < limit:
            limit, reason = found
    return limit, reason


def room_part(name: str, template: str) -> None:
    """``template`` is the markup of the room page's part ``name`` (a slug), served on
    first need by ``meetings.views.meeting_room_part``."""
    if name in room_parts:
        raise ValueError(f"Room part {name!r} is registered twice.")
    room_parts[name] = template
