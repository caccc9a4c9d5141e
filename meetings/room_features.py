"""How later features (polls, documents, remote control) plug into the meeting room.

A feature app registers, from its ``AppConfig.ready``:

- **handlers** for client messages on the room socket::

      @room_handler("poll.vote", bucket="poll")
      async def vote(room, body):          # room: the RoomConsumer of the caller
          ...                               # room.participant, room.call(...), ProtocolError
          return {"ok": True}               # the ack body

  Handlers run for joined participants only (lobby guests get ``forbidden``) unless
  registered with ``lobby=True``. ``bucket`` names a per-socket rate limit declared
  with ``rate``.

- **snapshot sections**: ``@snapshot_section("poll")`` adds ``snapshot["poll"] =
  fn(participant)`` to the ``room.snapshot`` a joined participant gets first, so that
  a late joiner or a reconnecting page sees the feature's current state.

- **hooks** that run inside the transaction of a room change, so that a feature can
  end what a person was doing: ``@on_participant_change`` gets ``(meeting,
  participant, what)`` with ``what`` one of ``left``, ``kicked``, ``timeout``,
  ``moved`` (out of the room), ``role`` (the role changed) or ``disconnected`` (the
  live socket closed; the person may come back within the reconnect grace);
  ``@on_meeting_end`` gets ``(meeting)`` before the meeting report is rendered.

- **lobby status sections**: ``@lobby_status_section("recording")`` adds
  ``body["recording"] = fn(meeting_id)`` to the ``lobby.status`` bodies of people
  waiting (``waiting`` / ``no_organizer``).

- **share kinds** beyond ``screen``: ``share_kind("remote", may_share)`` lets
  ``share.start {"kind": "remote"}`` through when ``may_share(participant)`` (the
  participant row, locked, of a joined person) is true, instead of the share policy;
  with ``follows_policy=False`` a later change of the share policy does not end it
  either (remote control); ``@on_share_stopped`` gets ``(meeting, kind,
  participant_id)`` when any share ends.

The meeting app knows nothing of the features; the features know the room.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any, dict], Awaitable[dict | None]]


@dataclass(frozen=True)
class RoomHandler:
    function: Handler
    bucket: str | None = None
    lobby: bool = False


handlers: dict[str, RoomHandler] = {}
snapshot_sections: dict[str, Callable[[Any], Any]] = {}
lobby_status_sections: dict[str, Callable[[int], Any]] = {}
participant_hooks: list[Callable[[Any, Any, str], None]] = []
meeting_end_hooks: list[Callable[[Any], None]] = []
share_kinds: dict[str, Callable[[Any], bool]] = {}
share_stopped_hooks: list[Callable[[Any, str, int | None], None]] = []
# Share kinds that their feature alone allows: a change of the share policy leaves them be.
policy_free_share_kinds: set[str] = set()
# Extra per-socket rate limits: bucket name → (messages, seconds).
rates: dict[str, tuple[int, int]] = {}


def room_handler(message_type: str, *, bucket: str | None = None, lobby: bool = False):
    def register(function: Handler) -> Handler:
        if message_type in handlers:
            raise ValueError(f"Room message {message_type!r} is registered twice.")
        handlers[message_type] = RoomHandler(function, bucket, lobby)
        return function

    return register


def rate(bucket: str, messages: int, seconds: int) -> None:
    rates[bucket] = (messages, seconds)


def snapshot_section(name: str):
    def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        snapshot_sections[name] = function
        return function

    return register


def lobby_status_section(name: str):
    def register(function: Callable[[int], Any]) -> Callable[[int], Any]:
        lobby_status_sections[name] = function
        return function

    return register


def on_participant_change(function: Callable[[Any, Any, str], None]) -> Callable[[Any, Any, str], None]:
    """``function(meeting, participant, what)``; ``meeting`` and ``participant`` locked.

    ``what``: ``"joined"`` (came into the room, from the join page or the lobby), a
    reason for leaving the room (``"left"``, ``"kicked"``, ``"timeout"``, ``"moved"``),
    ``"disconnected"`` (socket gone, still in the room) or ``"role"``."""
    participant_hooks.append(function)
    return function


def on_meeting_end(function: Callable[[Any], None]) -> Callable[[Any], None]:
    meeting_end_hooks.append(function)
    return function


def participant_changed(meeting, participant, what: str) -> None:
    for hook in participant_hooks:
        hook(meeting, participant, what)


def meeting_ended(meeting) -> None:
    for hook in meeting_end_hooks:
        hook(meeting)


def share_kind(kind: str, may_share: Callable[[Any], bool], *, follows_policy: bool = True) -> None:
    share_kinds[kind] = may_share
    if not follows_policy:
        policy_free_share_kinds.add(kind)


def on_share_stopped(function: Callable[[Any, str, int | None], None]) -> Callable[[Any, str, int | None], None]:
    share_stopped_hooks.append(function)
    return function


def share_stopped(meeting, kind: str, participant_id: int | None) -> None:
    for hook in share_stopped_hooks:
        hook(meeting, kind, participant_id)
