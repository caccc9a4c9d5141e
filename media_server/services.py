"""Writes of recordings (docs/recording.md): start and stop by organizers, the media
worker's job cycle, the hidden recorder participant, the e-mail with the links.

The API the media worker (another process, same database) calls::

    claim_job(worker_id: str) -> ClaimedJob | None
        # Takes the oldest pending recording (SELECT … FOR UPDATE SKIP LOCKED): exactly
        # one worker gets it. State → recording, lease LEASE_SECONDS from now. The
        # ClaimedJob carries the recorder-socket token (valid TOKEN_MAX_AGE s to connect).
    recorder_token(recording_id: int, worker_id: str) -> str
        # A fresh token to reconnect the recorder socket (same checks as heartbeat).
    recorder_sfu_credentials(recording_id: int, worker_id: str) -> dict
        # Janus tokens of the recorder participant, for an SFU meeting (asked again
        # before they expire); RecordingLost when the job is not this worker's.
    heartbeat(recording_id: int, worker_id: str) -> str
        # Renews the lease (call every HEARTBEAT_SECONDS). Returns "recording" (go on),
        # "finalizing" (stop asked / meeting ended: stop, store, finalize) or "lost"
        # (no longer this worker's: stop, keep the spool file for store_orphan).
    finalize(recording_id: int, worker_id: str, file_path: str, duration: float, size: int) -> Recording
        # Stores the file through default_storage under a generated name; state → done.
        # Idempotent; raises RecordingLost when the recording is not this worker's.
    store_orphan(recording_id: int, file_path: str, duration: float, size: int) -> bool
        # A partial file left in the spool by a dead run: the recording is marked
        # interrupted if still active (a new segment follows as with an expired lease)
        # and the file is stored as it is. False when there is nothing to store it in.
    store_part(recording_id: int, worker_id: str, file_path: str, size: int, duration: float) -> bool
        # A checkpoint: what the spool file (its first ``size`` bytes) gained since the
        # stored parts end, stored as the next part. False when it gained nothing;
        # RecordingLost when the recording is not this worker's.
    sweep_expired_leases(now=None) -> int
        # Interrupts recordings whose lease ran out (beat every 5 s; the worker may call it).
        # An interrupted recording with parts and no file is rebuilt from them by a
        # Celery task (assemble_parts), on any machine; asked again every 30 minutes
        # should that task be lost.

The recorder socket (media_server/consumers.py) calls ``open_recorder``,
``recorder_connected``, ``recorder_left``, ``check_recorder_signal``; the room socket
calls ``start_recording`` / ``stop_recording`` (media_server/room.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.mail import queue_email
from media_server.encoding import media_duration
from media_server.models import Recording, format_duration
from media_server.presets import get_preset, is_known
from media_server.sfu import services as sfu_services
from meetings import services as meeting_services
from meetings.models import Meeting, Participant, Role
from meetings.roomkit import RoomError, authorise, lock_room, send_to_participant, to_room

logger = logging.getLogger(__name__)

LEASE_SECONDS = 10
HEARTBEAT_SECONDS = 2
TOKEN_MAX_AGE = 60
TOKEN_SALT = "parley.recorder"
State = Recording.State

# heartbeat() answers.
GO_ON = "recording"
FINISH = "finalizing"
LOST = "lost"


class RecordingBusy(RoomError):
    def __init__(self) -> None:
        super().__init__("recording_busy", _("This meeting is already being recorded."))


class RecordingLost(Exception):
    """The recording is not (or no longer) held by this worker."""


@dataclass(frozen=True)
class ClaimedJob:
    recording_id: int
    segment: int
    preset: str
    meeting_id: int
    meeting_public_id: str
    meeting_title: str
    token: str
    lease_seconds: int = LEASE_SECONDS


@dataclass(frozen=True)
class RecorderSession:
    """A recorder socket whose token was accepted."""

    recording_id: int
    worker_id: str
    participant_id: int
    meeting_public_id: str


# --- Payloads and events --------------------------------------------------------------


def recording_payload(recording: Recording) -> dict:
    preset = get_preset(recording.preset) if is_known(recording.preset) else None
    return {
        "id": recording.pk,
        "state": recording.state,
        "preset": recording.preset,
        "preset_label": str(preset.label) if preset else recording.preset,
        "started_at": (recording.started_at or recording.created_at).isoformat(),
        "started_by_name": recording.started_by_name,
        "segment": recording.segment,
    }


def active_recording(meeting_id: int) -> Recording | None:
    return Recording.objects.filter(meeting_id=meeting_id, state__in=Recording.ACTIVE_STATES).first()


def is_recording(meeting_id: int) -> bool:
    return Recording.objects.filter(meeting_id=meeting_id, state__in=Recording.ACTIVE_STATES).exists()


def room_recording(participant: Participant) -> dict | None:
    """The snapshot's ``recording``: the active recording or None."""
    current = active_recording(participant.meeting_id)
    return recording_payload(current) if current else None


def room_recorder(participant: Participant) -> dict | None:
    """The snapshot's ``recorder``: the connected recorder peer or None."""
    recorder = _connected_recorders(participant.meeting_id).first()
    return {"id": recorder.pk} if recorder else None


def _connected_recorders(meeting_id: int):
    return Participant.objects.filter(meeting_id=meeting_id, is_recorder=True, state=Participant.State.JOINED, connected=True)


def _announce(meeting: Meeting, changed: Recording) -> None:
    """``recording.state`` to the room and to everyone waiting in the lobby, after commit."""
    current = active_recording(meeting.pk)
    body = {"recording": recording_payload(current or changed), "active": current is not None}
    to_room(meeting, "recording.state", body)
    for waiting_id in meeting.participants.filter(state=Participant.State.LOBBY).values_list("pk", flat=True):
        send_to_participant(waiting_id, "recording.state", body)


# --- Start and stop (organizers, from the room) ---------------------------------------


def _lock_organizer(participant: Participant) -> tuple[Meeting, Participant]:
    meeting, current = lock_room(participant)
    authorise(current, "record", message=_("Only organizers can record."))
    return meeting, current


def start_recording(participant: Participant, preset: str | None = None) -> Recording:
    """An organizer starts recording (``preset``: a key of media_server.presets, by
    default the meeting's). One active recording per meeting (``RecordingBusy``)."""
    if preset is not None and not is_known(preset):
        raise ValidationError(_("This recording format is not available."))
    with transaction.atomic():
        meeting, current = _lock_organizer(participant)
        key = preset or meeting.setting("recording_preset")
        if not is_known(key):
            raise ValidationError(_("This recording format is not available."))
        if is_recording(meeting.pk):
            raise RecordingBusy
        recording = Recording.objects.create(
            meeting=meeting,
            segment=_next_segment(meeting),
            preset=key,
            started_by=current,
            started_by_name=current.display_name,
            started_by_user=current.user,
        )
        _announce(meeting, recording)
    return recording


def _next_segment(meeting: Meeting) -> int:
    last = meeting.recordings.order_by("-segment").values_list("segment", flat=True).first()
    return (last or 0) + 1


def stop_recording(participant: Participant) -> Recording:
    """An organizer stops the active recording: a pending one fails (nothing was
    recorded), a running one goes to finalizing (its worker learns it on its next
    heartbeat, stores the file and finalizes). ``RoomError("not_found")`` if none."""
    with transaction.atomic():
        meeting, _current = _lock_organizer(participant)
        recording = meeting.recordings.select_for_update().filter(state__in=Recording.ACTIVE_STATES).first()
        if recording is None:
            raise RoomError("not_found", _("This meeting is not being recorded."))
        _stop(recording, reason=_("Stopped before a media worker took it."))
        _announce(meeting, recording)
    return recording


def _stop(recording: Recording, *, reason: str) -> None:
    """A locked active recording stops: pending → failed, recording → finalizing."""
    now = timezone.now()
    recording.stop_requested = True
    recording.ended_at = now
    if recording.state == State.PENDING:
        recording.state = State.FAILED
        recording.error = reason
    else:
        recording.state = State.FINALIZING
    recording.save(update_fields=["stop_requested", "ended_at", "state", "error"])


# --- The worker's job cycle -----------------------------------------------------------


def claim_job(worker_id: str) -> ClaimedJob | None:
    """The oldest pending recording of a running meeting, for this worker only."""
    if not worker_id or len(worker_id) > 200:
        raise ValueError("worker_id is 1 to 200 characters")
    now = timezone.now()
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("meeting")
            .filter(state=State.PENDING, meeting__ended_at__isnull=True)
            .order_by("created_at", "pk")
            .first()
        )
        if recording is None:
            return None
        recording.state = State.RECORDING
        recording.worker_id = worker_id
        recording.lease_expires_at = now + timedelta(seconds=LEASE_SECONDS)
        recording.started_at = now
        recording.save(update_fields=["state", "worker_id", "lease_expires_at", "started_at"])
        _announce(recording.meeting, recording)
    meeting = recording.meeting
    return ClaimedJob(
        recording_id=recording.pk,
        segment=recording.segment,
        preset=recording.preset,
        meeting_id=meeting.pk,
        meeting_public_id=meeting.public_id,
        meeting_title=meeting.title,
        token=_sign_token(recording, worker_id),
    )


def _sign_token(recording: Recording, worker_id: str) -> str:
    return signing.dumps({"r": recording.pk, "s": recording.segment, "w": worker_id}, salt=TOKEN_SALT, compress=True)


def recorder_token(recording_id: int, worker_id: str) -> str:
    recording = Recording.objects.filter(pk=recording_id, worker_id=worker_id, state__in=(State.RECORDING, State.FINALIZING)).first()
    if recording is None:
        raise RecordingLost(recording_id)
    return _sign_token(recording, worker_id)


def recorder_sfu_credentials(recording_id: int, worker_id: str) -> dict:
    """What the worker needs to subscribe to the meeting's Janus room, as its hidden
    recorder participant (``media_server.sfu.services.credentials``: refused while the
    recorder socket is not connected, the room is a mesh or not ready yet)."""
    recording = Recording.objects.select_related("recorder").filter(pk=recording_id, worker_id=worker_id, state=State.RECORDING).first()
    if recording is None or recording.recorder is None:
        raise RecordingLost(recording_id)
    return sfu_services.credentials(recording.recorder)


def heartbeat(recording_id: int, worker_id: str) -> str:
    """Renew the lease of a recording this worker holds; say what to do next."""
    lease = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id, worker_id=worker_id).first()
        if recording is None or recording.state not in (State.RECORDING, State.FINALIZING):
            return LOST
        recording.lease_expires_at = lease
        recording.save(update_fields=["lease_expires_at"])
        return recording.state


def finalize(recording_id: int, worker_id: str, file_path: str, duration: float, size: int) -> Recording:
    """Store the worker's finished file and mark the recording done.

    The upload runs outside any transaction (it may take a while with S3); the lease
    should be kept alive meanwhile. A recording the sweep marked interrupted in between
    still takes its complete file."""
    recording = Recording.objects.select_related("meeting").filter(pk=recording_id).first()
    if recording is None or recording.worker_id != worker_id:
        raise RecordingLost(recording_id)
    if recording.state == State.DONE:
        return recording  # finalized already (a retried call)
    if recording.state not in (State.RECORDING, State.FINALIZING, State.INTERRUPTED) or recording.file:
        raise RecordingLost(recording_id)
    name = _store_file(recording, file_path)
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=recording.meeting_id)
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.file:  # stored by a concurrent call: keep the first, drop ours
            default_storage.delete(name)
            return recording
        now = timezone.now()
        recording.file.name = name
        recording.duration = max(0.0, float(duration))
        recording.size = max(0, int(size))
        recording.state = State.DONE
        recording.error = ""
        recording.ended_at = recording.ended_at or now
        recording.finalized_at = now
        recording.lease_expires_at = None
        _drop_parts(recording)
        recording.save(
            update_fields=["file", "duration", "size", "state", "error", "ended_at", "finalized_at", "lease_expires_at", *PART_FIELDS]
        )
        _announce(meeting, recording)
        _mail_when_settled(meeting)
    return recording


def _store_file(recording: Recording, source) -> str:
    """Store a spool file (a path) or an open file under a generated name."""
    preset = get_preset(recording.preset) if is_known(recording.preset) else None
    fallback = os.path.splitext(source)[1] if isinstance(source, str) else ""
    extension = preset.extension if preset else fallback.lstrip(".") or "bin"
    # Unguessable: with S3 the name is part of the signed URL only the view hands out.
    name = f"recordings/{recording.meeting.public_id}/{recording.segment:02d}-{secrets.token_urlsafe(8)}.{extension}"
    if not isinstance(source, str):
        return default_storage.save(name, File(source))
    with open(source, "rb") as handle:
        return default_storage.save(name, File(handle))


def sweep_expired_leases(now=None) -> int:
    """Recordings whose worker stopped renewing its lease are interrupted; one that
    was recording in a running meeting, not stopped, goes on in a new pending segment."""
    now = now or timezone.now()
    count = 0
    expired = Recording.objects.filter(state__in=(State.RECORDING, State.FINALIZING), lease_expires_at__lt=now)
    for recording_id, meeting_id in expired.values_list("pk", "meeting_id"):
        with transaction.atomic():
            meeting = Meeting.objects.select_for_update().get(pk=meeting_id)
            recording = expired.select_for_update(skip_locked=True).filter(pk=recording_id).first()
            if recording is None:
                continue  # renewed meanwhile, or another sweeper has it
            _interrupt(meeting, recording, _("The media worker stopped responding."))
            count += 1
    _ask_again_for_lost_rebuilds()
    return count


def _interrupt(meeting: Meeting, recording: Recording, reason: str) -> Recording | None:
    """Mark a locked recording interrupted; returns the segment that follows, if any."""
    was_recording = recording.state == State.RECORDING
    recording.state = State.INTERRUPTED
    recording.error = reason
    recording.ended_at = recording.ended_at or timezone.now()
    recording.lease_expires_at = None
    recording.save(update_fields=["state", "error", "ended_at", "lease_expires_at"])
    _recorder_gone(meeting, recording.recorder_id)
    if recording.parts and not recording.file:
        recording_id = recording.pk
        transaction.on_commit(lambda: _enqueue_assembly(recording_id))
    follower = None
    if was_recording and not recording.stop_requested and not meeting.is_ended and not is_recording(meeting.pk):
        follower = Recording.objects.create(
            meeting=meeting,
            segment=_next_segment(meeting),
            preset=recording.preset,
            started_by=recording.started_by,
            started_by_name=recording.started_by_name,
            started_by_user=recording.started_by_user,
        )
    _announce(meeting, follower or recording)
    _mail_when_settled(meeting)
    return follower


def store_orphan(recording_id: int, file_path: str, duration: float, size: int) -> bool:
    """A partial file of a dead run, found in the spool after a restart: kept as it is.

    It replaces a file rebuilt from the parts meanwhile when it holds more (the spool
    has what came after the last checkpoint)."""
    recording = Recording.objects.select_related("meeting").filter(pk=recording_id).first()
    if recording is None or recording.state in (State.PENDING, State.FAILED) or not _orphan_adds(recording, size):
        return False
    name = _store_file(recording, file_path)
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=recording.meeting_id)
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if not _orphan_adds(recording, size):
            default_storage.delete(name)
            return False
        if recording.state in (State.RECORDING, State.FINALIZING):
            _interrupt(meeting, recording, _("The media worker stopped; the file was recovered after its restart."))
        replaced = recording.file.name
        recording.file.name = name
        recording.duration = max(0.0, float(duration))
        recording.size = max(0, int(size))
        recording.finalized_at = timezone.now()
        _drop_parts(recording)
        recording.save(update_fields=["file", "duration", "size", "finalized_at", *PART_FIELDS])
        if replaced:
            transaction.on_commit(lambda: default_storage.delete(replaced))
        _mail_when_settled(meeting)
    return True


def _orphan_adds(recording: Recording, size: int) -> bool:
    """No file yet, or a file rebuilt from parts that holds less than the orphan."""
    return not recording.file or (recording.state == State.INTERRUPTED and (recording.size or 0) < size)


# --- Checkpoints: parts stored while recording ----------------------------------------

PART_FIELDS = ("parts", "parts_size", "parts_duration")


def part_name(recording_id: int, index: int) -> str:
    return f"recordings/parts/{recording_id}/{index:05d}.part"


def store_part(recording_id: int, worker_id: str, file_path: str, size: int, duration: float) -> bool:
    """A checkpoint: store what the spool file gained since the last stored part (its
    first ``size`` bytes are written, ``duration`` seconds encoded) as the next part.

    Where the next part starts is read from the row, so a call retried after a failure
    (whether or not the last part was written down) carries on where the stored parts
    end. The upload runs outside any transaction; the part counts only if the
    recording is still this worker's when it is written down (else it is deleted
    again). False when the file gained nothing."""
    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is None or recording.worker_id != worker_id or recording.state not in (State.RECORDING, State.FINALIZING):
        raise RecordingLost(recording_id)
    index, offset = recording.parts, recording.parts_size
    if size <= offset:
        return False
    with open(file_path, "rb") as spool:
        spool.seek(offset)
        content = spool.read(size - offset)
    name = part_name(recording_id, index)
    if default_storage.exists(name):  # left by an attempt that was never written down
        default_storage.delete(name)
    default_storage.save(name, ContentFile(content))
    counted = Recording.objects.filter(
        pk=recording_id, worker_id=worker_id, parts=index, parts_size=offset, state__in=(State.RECORDING, State.FINALIZING)
    ).update(parts=index + 1, parts_size=offset + len(content), parts_duration=max(0.0, float(duration)))
    if not counted:
        default_storage.delete(name)
        raise RecordingLost(recording_id)
    return True


# A rebuild asked for is not asked again for this long (its retries last ~20 minutes).
REBUILD_AGAIN_AFTER = 30 * 60


def _enqueue_assembly(recording_id: int) -> None:
    from media_server.tasks import assemble_parts

    try:
        first_ask = cache.add(f"parley:rebuild:{recording_id}", 1, timeout=REBUILD_AGAIN_AFTER)
    except Exception:  # the cache (Redis) away: asking twice only costs a second run
        first_ask = True
    if first_ask:
        assemble_parts.delay(recording_id)


def _ask_again_for_lost_rebuilds() -> None:
    """A rebuild whose task was lost (the broker away at that moment) is asked again."""
    waiting = Recording.objects.filter(state=State.INTERRUPTED, parts__gt=0, file="").values_list("pk", flat=True)
    for recording_id in waiting:
        _enqueue_assembly(recording_id)


def assemble_parts(recording_id: int) -> bool:
    """Rebuild an interrupted recording's file from the parts its worker stored (the
    worker is dead and its spool may be out of reach). The parts follow one another,
    so their concatenation is the spool file as it was at the last checkpoint: a file
    cut after a whole cluster or fragment, which plays. A missing part ends the file
    there. True when a file was stored."""
    recording = Recording.objects.select_related("meeting").filter(pk=recording_id).first()
    if recording is None or recording.state != State.INTERRUPTED or not recording.parts:
        return False
    count = recording.parts
    name, duration = "", 0.0
    with tempfile.NamedTemporaryFile() as rebuilt:
        copied = _copy_parts(recording_id, count, rebuilt)
        if copied:
            rebuilt.flush()
            duration = media_duration(Path(rebuilt.name))  # what plays, not what was encoded
            rebuilt.seek(0)
            name = _store_file(recording, rebuilt)
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=recording.meeting_id)
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.parts != count or recording.file or not name:
            if name:
                default_storage.delete(name)  # a spool file was stored meanwhile
            stored = False
        else:
            recording.file.name = name
            recording.size = copied
            recording.duration = duration
            recording.finalized_at = timezone.now()
            recording.error = _("The media worker stopped; the file was rebuilt from what it had stored while recording.")
            stored = True
        _drop_parts(recording)
        recording.save(update_fields=["file", "size", "duration", "finalized_at", "error", *PART_FIELDS])
        _announce(meeting, recording)
        _mail_when_settled(meeting)
    return stored


def _copy_parts(recording_id: int, count: int, out) -> int:
    """Append the parts to ``out`` up to the first missing one; the bytes copied."""
    for index in range(count):
        name = part_name(recording_id, index)
        if not default_storage.exists(name):
            logger.warning("Recording %s: part %s is missing; the rebuilt file ends before it", recording_id, index)
            break
        with default_storage.open(name, "rb") as part:
            shutil.copyfileobj(part, out)
    return out.tell()


def abandon_parts(recording_id: int, problem: str) -> None:
    """The parts could not be read back however often it was tried: the recording is
    settled without a file (and its e-mail goes)."""
    meeting_id = Recording.objects.filter(pk=recording_id).values_list("meeting_id", flat=True).first()
    if meeting_id is None:
        return
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=meeting_id)  # the meeting first, as everywhere
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or not recording.parts or recording.file:
            return
        recording.error = _("The media worker stopped and its file could not be rebuilt: %(problem)s") % {"problem": problem[:200]}
        _drop_parts(recording)
        recording.save(update_fields=["error", *PART_FIELDS])
        _announce(meeting, recording)
        _mail_when_settled(meeting)


def _drop_parts(recording: Recording) -> None:
    """Forget the recording's parts; their objects go once this commits."""
    recording_id, count = recording.pk, recording.parts
    recording.parts, recording.parts_size, recording.parts_duration = 0, 0, 0.0
    if count:
        transaction.on_commit(lambda: _delete_parts(recording_id, count))


def _delete_parts(recording_id: int, count: int) -> None:
    for index in range(count):
        try:
            default_storage.delete(part_name(recording_id, index))
        except Exception:
            logger.exception("Could not delete part %s of recording %s", index, recording_id)


def delete_recordings(recordings) -> int:
    """Delete recordings (the admin); their files go once that is committed
    (``core.files``, connected in ``MediaServerConfig.ready``)."""
    with transaction.atomic():
        count, _deleted = recordings.delete()
    return count


# --- Meeting end and the e-mail -------------------------------------------------------


def stop_for_meeting_end(meeting: Meeting) -> None:
    """Inside the meeting's end: what waits fails, what records finishes."""
    for recording in meeting.recordings.select_for_update().filter(state__in=Recording.ACTIVE_STATES):
        _stop(recording, reason=_("The meeting ended before a media worker took the recording."))
        if recording.state == State.FAILED:
            recording.error = _("No media worker took the recording before the meeting ended.")
            recording.save(update_fields=["error"])
    _mail_when_settled(meeting)


def _mail_when_settled(meeting: Meeting) -> None:
    """Once the meeting has ended and no segment may still bring a file, one e-mail
    (per person who started a recording) with the links of every segment."""
    if not meeting.is_ended:
        return
    recordings = list(meeting.recordings.order_by("segment"))
    if not recordings or any(r.state in Recording.UNSETTLED_STATES or _rebuilding(r) for r in recordings):
        return
    rows = [_mail_row(r) for r in recordings]
    for email in _recipients(meeting, recordings):
        queue_email(
            kind="recording_ready",
            key=f"recordings:{meeting.pk}:{email}",
            to=email,
            context={"meeting": meeting, "recordings": rows, "ready": any(row["url"] for row in rows)},
        )


def _rebuilding(recording: Recording) -> bool:
    """Interrupted, with parts the assembly task has yet to turn into its file."""
    return recording.state == State.INTERRUPTED and bool(recording.parts) and not recording.file


def _recipients(meeting: Meeting, recordings: list[Recording]) -> list[str]:
    emails = []
    for recording in recordings:
        user = recording.started_by_user
        if user is not None and user.email and user.email not in emails:
            emails.append(user.email)
    if not emails and meeting.owner.email:
        # Started by guest organizers only: the owner of the meeting gets it.
        emails.append(meeting.owner.email)
    return emails


def download_url(recording: Recording) -> str:
    return settings.PARLEY_BASE_URL + reverse("recording_download", args=[recording.pk])


def _mail_row(recording: Recording) -> dict:
    return {
        "segment": recording.segment,
        "state": recording.state,
        "state_label": recording.get_state_display(),
        "preset_label": recording_payload(recording)["preset_label"],
        "duration": format_duration(recording.duration),
        "size": recording.size,
        "url": download_url(recording) if recording.state in (State.DONE, State.INTERRUPTED) else "",
        "error": recording.error,
    }


# --- The recorder peer ----------------------------------------------------------------


def open_recorder(recording_id: int, token: str) -> RecorderSession:
    """Check a recorder socket's token and ready its hidden participant (not yet
    reachable). ``PermissionDenied`` for anything but the token of this recording's
    current segment and worker, given less than TOKEN_MAX_AGE seconds ago."""
    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        raise PermissionDenied from None
    if not isinstance(claims, dict) or claims.get("r") != recording_id:
        raise PermissionDenied
    with transaction.atomic():
        recording = Recording.objects.select_for_update().select_related("meeting").filter(pk=recording_id).first()
        if (
            recording is None
            or recording.segment != claims.get("s")
            or recording.worker_id != claims.get("w")
            or recording.state != State.RECORDING
            or recording.meeting.is_ended
        ):
            raise PermissionDenied
        meeting = recording.meeting
        recorder = Participant.objects.filter(pk=recording.recorder_id).first() if recording.recorder_id else None
        if recorder is None:
            recorder = Participant.objects.create(
                meeting=meeting,
                # Unique per meeting, and matches no browser session (nor can it be forged into one).
                session_key=f"recorder-{recording.pk}-{secrets.token_hex(16)}",
                display_name=_("Recorder"),
                role=Role.PARTICIPANT,
                state=Participant.State.JOINED,
                is_recorder=True,
                connected=False,
                disconnected_at=timezone.now(),
            )
            recording.recorder = recorder
            recording.save(update_fields=["recorder"])
    return RecorderSession(recording.pk, recording.worker_id, recorder.pk, meeting.public_id)


def recorder_connected(session: RecorderSession, channel_name: str) -> dict:
    """The recorder's socket is in its groups: it becomes reachable, the room is told
    (``recorder.joined``), and it gets the roster (``room.roster`` body)."""
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().get(pk=Recording.objects.get(pk=session.recording_id).meeting_id)
        recorder = meeting.participants.select_for_update().get(pk=session.participant_id)
        if meeting.is_ended:
            raise PermissionDenied
        recorder.state = Participant.State.JOINED
        recorder.connected = True
        recorder.channel_name = channel_name
        recorder.disconnected_at = None
        recorder.left_at = None
        recorder.save(update_fields=["state", "connected", "channel_name", "disconnected_at", "left_at"])
        to_room(meeting, "recorder.joined", {"id": recorder.pk})
        people = meeting.participants.filter(state=Participant.State.JOINED, is_recorder=False).select_related("meeting")
        return {
            "participants": [{"id": p.pk, "name": p.display_name, "camera": p.camera_on, "mic": p.mic_on} for p in people],
            "share": meeting_services.share_payload(meeting),
            # Mesh (browsers offer to the recorder) or the SFU (it subscribes in Janus).
            "media": sfu_services.room_topology(recorder),
        }


def recorder_left(session: RecorderSession, channel_name: str) -> None:
    """The recorder socket closed (only its current socket counts)."""
    with transaction.atomic():
        meeting_id = Recording.objects.filter(pk=session.recording_id).values_list("meeting_id", flat=True).first()
        meeting = Meeting.objects.select_for_update().filter(pk=meeting_id).first() if meeting_id else None
        if meeting is None:  # deleted (e.g. from the admin) while the socket was open
            return
        recorder = meeting.participants.select_for_update().filter(pk=session.participant_id, channel_name=channel_name).first()
        if recorder is not None:
            _recorder_gone(meeting, recorder.pk)


def _recorder_gone(meeting: Meeting, recorder_id: int | None) -> None:
    if recorder_id is None:
        return
    now = timezone.now()
    # Still joined, or already marked left by the meeting's end but still connected.
    gone = Participant.objects.filter(pk=recorder_id, is_recorder=True).filter(Q(state=Participant.State.JOINED) | Q(connected=True))
    if gone.update(state=Participant.State.LEFT, connected=False, channel_name="", left_at=now, disconnected_at=now):
        to_room(meeting, "recorder.left", {"id": recorder_id})


def check_recorder_signal(session: RecorderSession, target_id: int) -> None:
    """The recorder signals only joined, connected participants of its meeting."""
    recorder = Participant.objects.select_related("meeting").filter(pk=session.participant_id).first()
    if recorder is None:
        raise PermissionDenied
    meeting_services.check_signal(recorder, target_id)


def recorder_heartbeat(session: RecorderSession) -> str:
    return heartbeat(session.recording_id, session.worker_id)
