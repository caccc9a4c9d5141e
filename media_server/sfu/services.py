"""Group rooms through Janus: the meeting's topology (mesh or SFU), where it is placed,
who may publish and subscribe in it, and keeping Janus in step with the roster.

- **Topology.** A meeting is a mesh until ``PARLEY_SFU_THRESHOLD`` people are in it
  (or at once, for a shared room with ``PARLEY_SFU_SHARED_ROOMS``); then it gets an
  ``SfuRoom`` on the least loaded available server, opened there by a task, and the
  room is told (``media.topology``). It goes back to a mesh only when nobody is left.
- **Credentials.** A joined participant asks the room socket for ``sfu.credentials``:
  short-lived tokens signed for Janus, for this room only. Nobody else gets them:
  people waiting in the lobby, kicked, banned or gone.
- **Eviction.** Leaving, a kick or a timeout also removes the person from Janus: their
  publisher is kicked and their sessions (subscriptions too) destroyed.
- **Health.** A periodic sweep pings every server: one that stops answering gets no new
  meeting and its meetings move to another; a server that lost its rooms (restarted)
  gets them back. Each time, ``generation`` grows and browsers publish again.

Janus is reached only from tasks (network work, with retries), never inside a
transaction of the room.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from media_server.models import JanusServerState, JanusSession, SfuRoom
from media_server.sfu import janus
from meetings.models import Meeting, Participant, RoomType
from meetings.roomkit import RoomError, current_participant, lock_meeting, require_joined, to_room

logger = logging.getLogger(__name__)

# A server is let go after this many failed checks in a row (a check every few seconds).
FAILURES_BEFORE_DOWN = 2
GONE = {"left", "kicked", "timeout", "moved"}
IDENTITY_PREFIX = "p="


# --- Topology --------------------------------------------------------------------------


def topology_payload(sfu_room: SfuRoom | None) -> dict[str, Any]:
    """The room's ``media`` snapshot section and ``media.topology`` event body."""
    if sfu_room is None:
        return {"mode": "mesh"}
    server = janus.server(sfu_room.server)
    return {
        "mode": "sfu",
        "state": sfu_room.state,
        "server": server.public_url if server else None,
        "room": sfu_room.janus_room,
        "generation": sfu_room.generation,
    }


def room_topology(participant: Participant) -> dict[str, Any]:
    return topology_payload(SfuRoom.objects.filter(meeting_id=participant.meeting_id).first())


def _present(meeting: Meeting) -> int:
    return meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False).count()


def _wants_sfu(meeting: Meeting, present: int) -> bool:
    if not janus.configured():
        return False
    shared_at_once = settings.PARLEY_SFU_SHARED_ROOMS and meeting.room_type == RoomType.SHARED
    return shared_at_once or present >= settings.PARLEY_SFU_THRESHOLD


def participant_changed(meeting: Meeting, participant: Participant, what: str) -> None:
    """The room's hook (``meeting`` locked): move to the SFU when the room fills, take
    people who leave out of Janus, close the Janus room when nobody is left."""
    if participant.is_recorder:
        return
    sfu_room = SfuRoom.objects.select_for_update().filter(meeting=meeting).first()
    if what == "joined":
        if sfu_room is None and _wants_sfu(meeting, _present(meeting)):
            _open(meeting)
        return
    if what not in GONE or sfu_room is None:
        return
    participant_id = participant.pk
    transaction.on_commit(lambda: _enqueue("evict_participant", sfu_room.pk, participant_id))
    if _present(meeting) == 0:
        _close(sfu_room)


def meeting_ended(meeting: Meeting) -> None:
    sfu_room = SfuRoom.objects.select_for_update().filter(meeting=meeting).first()
    if sfu_room is not None:
        _close(sfu_room)


def _open(meeting: Meeting) -> SfuRoom | None:
    server = _least_loaded_server()
    if server is None:
        logger.warning("Meeting %s needs the SFU but no Janus server is available; it stays a mesh", meeting.public_id)
        return None
    sfu_room = SfuRoom.objects.create(meeting=meeting, server=server, janus_room=janus.new_room_id(), secret=janus.new_room_secret())
    to_room(meeting, "media.topology", topology_payload(sfu_room))
    transaction.on_commit(lambda: _enqueue("open_sfu_room", sfu_room.pk, sfu_room.generation))
    return sfu_room


def _close(sfu_room: SfuRoom) -> None:
    server, room_id, secret = sfu_room.server, sfu_room.janus_room, sfu_room.secret
    sfu_room.delete()
    transaction.on_commit(lambda: _enqueue("destroy_janus_room", server, room_id, secret))


def _enqueue(task_name: str, *args) -> None:
    from media_server.sfu import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception:
        # The broker is down: the health sweep finds what was left undone.
        logger.exception("Could not enqueue %s%s", task_name, args)


# --- Placement -------------------------------------------------------------------------


def available_servers() -> list[str]:
    down = set(JanusServerState.objects.filter(available=False).values_list("url", flat=True))
    return [server.admin_url for server in janus.servers() if server.admin_url not in down]


def _least_loaded_server(exclude: str | None = None) -> str | None:
    """The available server with the fewest people in its meetings (the order of
    JANUS_URLS breaks ties)."""
    candidates = [url for url in available_servers() if url != exclude]
    if not candidates:
        return None
    present = Count("meeting__participants", filter=Q(meeting__participants__state=Participant.State.JOINED))
    load = dict(SfuRoom.objects.filter(server__in=candidates).values("server").annotate(people=present).values_list("server", "people"))
    return min(candidates, key=lambda url: (load.get(url, 0), candidates.index(url)))


def open_room(sfu_room_id: int, generation: int) -> str:
    """Create the meeting's room on its Janus server (the task's work); idempotent."""
    sfu_room = SfuRoom.objects.select_related("meeting").filter(pk=sfu_room_id).first()
    if sfu_room is None or sfu_room.generation != generation:
        return "gone"
    if sfu_room.state == SfuRoom.State.READY:
        return "ready"
    meeting = sfu_room.meeting
    api = janus.AdminApi(sfu_room.server)
    try:
        api.create_room(sfu_room.janus_room, sfu_room.secret, publishers=_publisher_slots(meeting), description=meeting.public_id)
    except janus.JanusError as error:
        if error.code != janus.ROOM_EXISTS:  # a retry after a lost answer: it is there
            SfuRoom.objects.filter(pk=sfu_room.pk).update(attempts=sfu_room.attempts + 1)
            raise
    with transaction.atomic():
        lock_meeting(meeting.pk)
        updated = SfuRoom.objects.filter(pk=sfu_room.pk, generation=generation).update(
            state=SfuRoom.State.READY, ready_at=timezone.now(), attempts=0
        )
        if not updated:
            return "gone"
        sfu_room.refresh_from_db()
        to_room(meeting, "media.topology", topology_payload(sfu_room))
    return "ready"


def _publisher_slots(meeting: Meeting) -> int:
    # Every person may publish a camera and a screen.
    return max(2 * meeting.max_participants, 4)


def destroy_room(server: str, room_id: int, secret: str) -> None:
    janus.AdminApi(server).destroy_room(room_id, secret)


def move_room(sfu_room_id: int, *, reason: str, generation: int | None = None) -> SfuRoom | None:
    """Make the meeting's room again, on the least loaded available server (the same
    one if it restarted): a new room id and secret, the next generation. With
    ``generation``, only if the room is still that one (two checks that saw the same
    loss make it again once)."""
    with transaction.atomic():
        sfu_room = SfuRoom.objects.select_related("meeting").filter(pk=sfu_room_id).first()
        if sfu_room is None:
            return None
        lock_meeting(sfu_room.meeting_id)
        sfu_room = SfuRoom.objects.select_for_update().select_related("meeting").get(pk=sfu_room_id)
        if generation is not None and sfu_room.generation != generation:
            return sfu_room
        target = sfu_room.server if reason == "restarted" else _least_loaded_server(exclude=sfu_room.server)
        if target is None:
            logger.warning("Meeting %s: no other Janus server is available; it waits for %s", sfu_room.meeting.public_id, sfu_room.server)
            return sfu_room
        JanusSession.objects.filter(participant__meeting=sfu_room.meeting, server=sfu_room.server).delete()
        sfu_room.server = target
        sfu_room.janus_room = janus.new_room_id()
        sfu_room.secret = janus.new_room_secret()
        sfu_room.state = SfuRoom.State.OPENING
        sfu_room.generation += 1
        sfu_room.ready_at = None
        sfu_room.attempts = 0
        sfu_room.save()
        logger.info(
            "Meeting %s: SFU room made again on %s (%s), generation %d", sfu_room.meeting.public_id, target, reason, sfu_room.generation
        )
        to_room(sfu_room.meeting, "media.topology", topology_payload(sfu_room))
        pk, generation = sfu_room.pk, sfu_room.generation
        transaction.on_commit(lambda: _enqueue("open_sfu_room", pk, generation))
    return sfu_room


# --- Credentials -----------------------------------------------------------------------


def credentials(participant: Participant) -> dict[str, Any]:
    """What a joined participant's browser (or the recorder) needs to publish and
    subscribe in the meeting's Janus room: refused to anyone not in the room."""
    row = current_participant(participant)
    require_joined(row)
    sfu_room = SfuRoom.objects.filter(meeting_id=row.meeting_id).first()
    if sfu_room is None:
        raise RoomError("not_found", _("This meeting is not on the media server."))
    if sfu_room.state != SfuRoom.State.READY:
        raise RoomError("unavailable", _("The media server is getting the room ready; try again in a moment."))
    server = janus.server(sfu_room.server)
    if server is None:
        raise RoomError("unavailable", _("The media server of this meeting is not configured any more."))
    ttl = settings.JANUS_TOKEN_TTL
    return {
        **topology_payload(sfu_room),
        "publisher_id": row.pk,
        "core_token": janus.core_token(f"{IDENTITY_PREFIX}{row.pk}", ttl=ttl),
        "room_token": janus.room_token(sfu_room.janus_room, ttl=ttl),
        "expires_in": ttl,
    }


# --- Eviction --------------------------------------------------------------------------


def evict(sfu_room_id: int, participant_id: int) -> int:
    """Take someone who left the room out of Janus: kick their publisher, destroy their
    sessions. Returns how many sessions were destroyed."""
    sfu_room = SfuRoom.objects.filter(pk=sfu_room_id).first()
    participant = Participant.objects.filter(pk=participant_id).first()
    if participant is not None and participant.state == Participant.State.JOINED:
        return 0  # back in the room meanwhile
    destroyed = 0
    if sfu_room is not None:
        api = janus.AdminApi(sfu_room.server)
        for feed_id in (participant_id, participant_id + janus.SCREEN_FEED_OFFSET):
            api.kick(sfu_room.janus_room, sfu_room.secret, feed_id)
    for session in list(JanusSession.objects.filter(participant_id=participant_id)):
        if janus.AdminApi(session.server).destroy_session(session.session_id):
            destroyed += 1
        session.delete()
    return destroyed


# --- What Janus tells us (its HTTP event handler) --------------------------------------


def participant_of_token(token: Any) -> int | None:
    """The participant a core token was minted for (None if it is not one of ours)."""
    descriptors = janus.verified_descriptors(token)
    if not descriptors:
        return None
    for descriptor in descriptors:
        if descriptor.startswith(IDENTITY_PREFIX) and descriptor[len(IDENTITY_PREFIX) :].isdigit():
            return int(descriptor[len(IDENTITY_PREFIX) :])
    return None


def handle_events(events: list[dict[str, Any]]) -> None:
    """Events of Janus's HTTP event handler (grouped or not), in order."""
    for event in events:
        try:
            _handle_event(event)
        except Exception:
            logger.exception("Janus event not handled: %s", str(event)[:300])


def _handle_event(event: dict[str, Any]) -> None:
    kind = event.get("type")
    body = event.get("event") or {}
    if kind == 2 and body.get("name") == "attached":
        _session_opened(event.get("session_id"), body.get("token"))
    elif kind == 1 and body.get("name") in ("destroyed", "timeout") and isinstance(event.get("session_id"), int):
        JanusSession.objects.filter(session_id=event["session_id"]).delete()
    elif kind == 64 and body.get("plugin") == janus.PLUGIN:
        data = body.get("data") or {}
        if data.get("event") == "joined" and isinstance(data.get("id"), int):
            _publisher_joined(event.get("session_id"), data["room"], data["id"])
        elif data.get("event") == "published" and isinstance(data.get("id"), int):
            _publisher_published(event.get("session_id"), data["room"], data["id"])
    elif kind == 256 and body.get("status") == "started":
        # A Janus (re)started: its rooms are gone. The sweep makes them again now.
        _enqueue("check_janus_servers")


def _session_opened(session_id: Any, token: Any) -> None:
    participant_id = participant_of_token(token)
    if participant_id is None or not isinstance(session_id, int):
        return
    participant = Participant.objects.filter(pk=participant_id).select_related("meeting__sfu_room").first()
    sfu_room = getattr(participant.meeting, "sfu_room", None) if participant else None
    if participant is None or sfu_room is None:
        return
    JanusSession.objects.get_or_create(server=sfu_room.server, session_id=session_id, defaults={"participant": participant})
    if participant.state != Participant.State.JOINED:
        # Opened with a token from before they left: they have no business there.
        transaction.on_commit(lambda: _enqueue("evict_participant", sfu_room.pk, participant.pk))


def _publisher_joined(session_id: Any, room_id: Any, publisher_id: int) -> None:
    """A publisher must be the person whose token opened the session (their camera's
    feed, or their screen's), in their own meeting's room, and in the room now: anyone
    else is kicked. The recorder joins with its own id only, to learn who publishes."""
    sfu_room = SfuRoom.objects.filter(janus_room=room_id).first()
    if sfu_room is None:
        return
    session = JanusSession.objects.filter(session_id=session_id).select_related("participant").first()
    owner = session.participant if session else None
    person, is_screen = janus.feed_owner(publisher_id)
    legitimate = (
        owner is not None
        and owner.pk == person
        and not (owner.is_recorder and is_screen)
        and owner.meeting_id == sfu_room.meeting_id
        and owner.state == Participant.State.JOINED
    )
    if not legitimate and session is not None:
        logger.warning("Janus room %s: publisher %s is not who opened session %s; kicked", room_id, publisher_id, session_id)
        janus.AdminApi(sfu_room.server).kick(sfu_room.janus_room, sfu_room.secret, publisher_id)
        if owner is None or owner.pk != person:
            janus.AdminApi(sfu_room.server).destroy_session(session.session_id)


def _publisher_published(session_id: Any, room_id: Any, publisher_id: int) -> None:
    """The recorder only subscribes: media it publishes would reach every browser."""
    sfu_room = SfuRoom.objects.filter(janus_room=room_id).first()
    session = JanusSession.objects.filter(session_id=session_id).select_related("participant").first()
    if sfu_room is None or session is None or not session.participant.is_recorder:
        return
    logger.warning("Janus room %s: the recorder %s published; kicked", room_id, publisher_id)
    janus.AdminApi(sfu_room.server).kick(sfu_room.janus_room, sfu_room.secret, publisher_id)


# --- Health ----------------------------------------------------------------------------


def check_servers(now=None) -> dict[str, str]:
    """Ping every server; move the meetings of one that stopped answering, make again
    the rooms a restarted one lost, kick publishers who are no longer in the room."""
    now = now or timezone.now()
    results = {}
    for server in janus.servers():
        state, _created = JanusServerState.objects.get_or_create(url=server.admin_url)
        api = janus.AdminApi(server.admin_url, timeout=1.0)
        try:
            api.ping()
            listed_at = timezone.now()
            rooms = api.rooms()
        except janus.JanusError as error:
            results[server.admin_url] = _server_failed(state, now, error)
            continue
        if not state.available:
            logger.warning("Janus %s answers again", server.admin_url)
        JanusServerState.objects.filter(pk=state.pk).update(available=True, failures=0, checked_at=now, down_since=None)
        results[server.admin_url] = "ok"
        for sfu_room in SfuRoom.objects.filter(server=server.admin_url):
            if _lost(sfu_room, rooms, listed_at):
                move_room(sfu_room.pk, reason="restarted", generation=sfu_room.generation)
            elif sfu_room.state == SfuRoom.State.OPENING and sfu_room.created_at < now - timedelta(seconds=10):
                _enqueue("open_sfu_room", sfu_room.pk, sfu_room.generation)
            elif sfu_room.state == SfuRoom.State.READY:
                _kick_strangers(api, sfu_room)
    return results


def _lost(sfu_room: SfuRoom, rooms: set[int], listed_at) -> bool:
    """Janus does not have a room it had when it was listed (one made ready after the
    listing may simply not be in it)."""
    ready_before = sfu_room.ready_at is not None and sfu_room.ready_at < listed_at
    return sfu_room.state == SfuRoom.State.READY and ready_before and sfu_room.janus_room not in rooms


def _server_failed(state: JanusServerState, now, error: Exception) -> str:
    failures = state.failures + 1
    down = failures >= FAILURES_BEFORE_DOWN
    JanusServerState.objects.filter(pk=state.pk).update(
        failures=failures, checked_at=now, available=not down, down_since=state.down_since or (now if down else None)
    )
    if not down:
        return "failing"
    if state.available:
        logger.error("Janus %s does not answer (%s): no new meetings there, its meetings move", state.url, error)
    for sfu_room_id, generation in SfuRoom.objects.filter(server=state.url).values_list("pk", "generation"):
        move_room(sfu_room_id, reason="server down", generation=generation)
    return "down"


def _kick_strangers(api: janus.AdminApi, sfu_room: SfuRoom) -> None:
    """Publishers Janus has that the roster does not (left, kicked, never admitted)."""
    try:
        publishers = api.publishers(sfu_room.janus_room)
    except janus.JanusError:
        return
    present = set(Participant.objects.filter(meeting_id=sfu_room.meeting_id, state=Participant.State.JOINED).values_list("pk", flat=True))
    for publisher in publishers:
        publisher_id = publisher.get("id")
        if isinstance(publisher_id, int) and janus.feed_owner(publisher_id)[0] not in present:
            api.kick(sfu_room.janus_room, sfu_room.secret, publisher_id)


# --- Capacity --------------------------------------------------------------------------


def capacity(meeting: Meeting) -> tuple[int, str] | None:
    """Without a media server every browser sends one stream per other person: the room
    holds at most PARLEY_MESH_MAX people, and says so."""
    if janus.configured() and available_servers():
        return None
    limit = settings.PARLEY_MESH_MAX
    if janus.configured():
        return limit, _("The media server is unavailable, so this room holds at most %(count)d people for now.") % {"count": limit}
    return limit, _("Without a media server, a room holds at most %(count)d people.") % {"count": limit}
