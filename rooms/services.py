"""Writes of the PBX domain: extensions, queues and the meeting request flow.

Each function validates and authorises, changes the database in one transaction,
then broadcasts and e-mails after commit.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Refused
from core.locks import lock_for_transaction
from core.mail import queue_email
from core.realtime import broadcast
from meetings import services as meeting_services
from meetings.models import Meeting, RoomType
from meetings.report import report_context
from rooms.groups import extension_group, request_group
from rooms.models import Extension, MeetingRequest, Queue
from rooms.slugs import normalize_slug, validate_click2meet_slug

logger = logging.getLogger(__name__)

# The web client's history of requests: those that stopped waiting in the last day.
RECENT_REQUESTS_HOURS = 24
RECENT_REQUESTS_SHOWN = 10


class RequestUnavailable(Refused):
    """The request can no longer be taken: someone else took it, or it ended."""

    def __init__(self, message: str, *, code: str, taken_by: str | None = None):
        super().__init__(code, message)
        self.taken_by = taken_by


class RateLimited(Exception):
    pass


# --- Slugs ----------------------------------------------------------------------------


def clean_slug(slug: str, *, instance: Extension | Queue | None = None) -> str:
    """Normalise and validate a Click2Meet slug, unique across extensions and queues."""
    slug = normalize_slug(slug)
    validate_click2meet_slug(slug)
    extensions = Extension.objects.filter(slug=slug)
    queues = Queue.objects.filter(slug=slug)
    if isinstance(instance, Extension) and instance.pk:
        extensions = extensions.exclude(pk=instance.pk)
    if isinstance(instance, Queue) and instance.pk:
        queues = queues.exclude(pk=instance.pk)
    if extensions.exists() or queues.exists():
        raise ValidationError(_("This Click2Meet URL is already used by another extension or queue."), code="slug_taken")
    return slug


def find_click2meet_target(slug: str) -> Extension | Queue | None:
    slug = normalize_slug(slug)
    return Extension.objects.select_related("user").filter(slug=slug).first() or Queue.objects.filter(slug=slug).first()


# --- Extensions -----------------------------------------------------------------------


def save_extension(extension: Extension) -> Extension:
    """Create or update an extension; a new one gets its welcome e-mail."""
    extension.slug = clean_slug(extension.slug, instance=extension)
    extension.full_clean(validate_unique=True)
    created = extension.pk is None
    with transaction.atomic():
        extension.save()
        if created:
            send_welcome_email(extension, reason="created")
    return extension


def send_welcome_email(extension: Extension, *, reason: str = "resent") -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = extension.user
    set_password_url = settings.PARLEY_BASE_URL + reverse(
        "password_reset_confirm",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)},
    )
    key = f"welcome:{extension.pk}:initial" if reason == "created" else f"welcome:{extension.pk}:{uuid.uuid4().hex}"
    with transaction.atomic():
        queue_email(
            kind="welcome",
            key=key,
            to=extension.email,
            context={
                "extension": extension,
                "click2meet_url": extension.click2meet_url,
                "client_url": settings.PARLEY_BASE_URL + reverse("client"),
                "set_password_url": set_password_url,
                "username": user.get_username(),
            },
        )
        Extension.objects.filter(pk=extension.pk).update(welcome_sent_at=timezone.now())


def save_queue(queue: Queue) -> Queue:
    queue.slug = clean_slug(queue.slug, instance=queue)
    queue.full_clean(validate_unique=True)
    queue.save()
    return queue


# --- Meeting requests -----------------------------------------------------------------


def check_request_rate(ip: str | None) -> None:
    """At most PARLEY_REQUEST_RATE_LIMIT requests per address in any window of
    PARLEY_REQUEST_RATE_WINDOW seconds, counted from the requests themselves.

    Call inside the transaction that creates the request: the address's lock, held
    until that transaction ends, makes simultaneous requests count one after the
    other, each seeing the rows of those before it. The database, not the cache, so
    that the limit holds while Redis is down."""
    if not ip:
        return
    lock_for_transaction(f"c2m-rate:{ip}")
    if requests_in_window(ip) >= settings.PARLEY_REQUEST_RATE_LIMIT:
        raise RateLimited()


def requests_in_window(ip: str) -> int:
    since = timezone.now() - timedelta(seconds=settings.PARLEY_REQUEST_RATE_WINDOW)
    return MeetingRequest.objects.filter(visitor_ip=ip, created_at__gt=since).count()


def notified_agents(target: Extension | Queue) -> list[Extension]:
    if isinstance(target, Extension):
        return [target]
    return list(target.agents.filter(is_available=True).select_related("user"))


def create_meeting_request(*, target: Extension | Queue, name: str, email: str, session_key: str, ip: str | None) -> MeetingRequest:
    """A visitor asks for a meeting. Notifies the extension or the queue's agents."""
    with transaction.atomic():
        check_request_rate(ip)
        request = MeetingRequest.objects.create(
            extension=target if isinstance(target, Extension) else None,
            queue=target if isinstance(target, Queue) else None,
            visitor_name=name.strip(),
            visitor_email=email.strip(),
            visitor_session=session_key,
            visitor_ip=ip,
            expires_at=timezone.now() + timedelta(seconds=settings.PARLEY_REQUEST_TIMEOUT),
        )
        if isinstance(target, Extension) and target.room_type == RoomType.SHARED:
            # A shared room is a group room people join at any time: no one has to
            # take the request, the visitor goes straight to the extension's room.
            _accept_into_shared_room(request, target)
        else:
            _notify_agents(request)
    _schedule_expiry(request)
    return request


def _notify_agents(request: MeetingRequest) -> None:
    payload = request_payload(request)
    for agent in notified_agents(request.target):
        broadcast(extension_group(agent.pk), "request.created", payload)
        queue_email(
            kind="meeting_request",
            key=f"request:{request.pk}:agent:{agent.pk}",
            to=agent.email,
            context={"request": request, "agent": agent, "client_url": settings.PARLEY_BASE_URL + reverse("client")},
        )


def _accept_into_shared_room(request: MeetingRequest, extension: Extension) -> None:
    meeting = personal_room(extension)
    invitation = meeting_services.create_invitation(meeting, name=request.visitor_name, email=request.visitor_email, invited_by=None)
    request.status = MeetingRequest.Status.ACCEPTED
    request.claimed_by = extension
    request.closed_at = timezone.now()
    request.meeting = meeting
    request.visitor_invitation = invitation
    request.save(update_fields=["status", "claimed_by", "closed_at", "meeting", "visitor_invitation"])
    payload = request_payload(request)
    broadcast(extension_group(extension.pk), "request.joined_room", payload)
    queue_email(
        kind="room_visitor",
        key=f"request:{request.pk}:room:{extension.pk}",
        to=extension.email,
        context={"request": request, "agent": extension, "join_url": meeting.join_url},
    )


def personal_room(extension: Extension) -> Meeting:
    """The extension's standing shared room (its Click2Meet room), made on demand."""
    with transaction.atomic():
        # Lock the extension so that two visitors arriving together get one room.
        Extension.objects.select_for_update().filter(pk=extension.pk).first()
        meeting = Meeting.objects.filter(owner=extension.user, is_personal_room=True, ended_at__isnull=True).first()
        if meeting is None:
            meeting = meeting_services.create_meeting(
                extension.user, title=_("%(name)s's room") % {"name": extension.display_name}, room_type=RoomType.SHARED
            )
            meeting.is_personal_room = True
            meeting.save(update_fields=["is_personal_room"])
    return meeting


def _schedule_expiry(request: MeetingRequest) -> None:
    if request.status != MeetingRequest.Status.WAITING:
        return
    from rooms.tasks import expire_meeting_request

    def enqueue() -> None:
        try:
            expire_meeting_request.apply_async((request.pk,), countdown=settings.PARLEY_REQUEST_TIMEOUT)
        except Exception:
            logger.exception("Could not schedule the expiry of request %s; the periodic sweep will expire it", request.pk)

    transaction.on_commit(enqueue)


def request_payload(request: MeetingRequest) -> dict:
    """What agents see of a request (their web client lists and notifications)."""
    target = request.target
    return {
        "id": request.pk,
        "visitor_name": request.visitor_name,
        "visitor_email": request.visitor_email,
        "target": str(target),
        "queue": request.queue.name if request.queue else None,
        "status": request.status,
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
        "taken_by": request.claimed_by.display_name if request.claimed_by else None,
        "taken_by_id": request.claimed_by_id,
        "closed_at": request.closed_at.isoformat() if request.closed_at else None,
    }


def can_answer_request(extension: Extension, request: MeetingRequest) -> bool:
    if request.extension_id is not None:
        return request.extension_id == extension.pk
    return request.queue is not None and request.queue.agents.filter(pk=extension.pk).exists()


def claim_meeting_request(request_id: int, agent: Extension):
    """The first agent who joins takes the request; returns the new meeting.

    The status change is a single conditional UPDATE, so of two agents clicking at
    once exactly one changes a row; the other gets ``RequestUnavailable``.
    """
    request = MeetingRequest.objects.select_related("extension", "queue").get(pk=request_id)
    if not can_answer_request(agent, request):
        raise PermissionDenied
    with transaction.atomic():
        won = MeetingRequest.objects.filter(pk=request_id, status=MeetingRequest.Status.WAITING, expires_at__gt=timezone.now()).update(
            status=MeetingRequest.Status.ACCEPTED, claimed_by=agent, closed_at=timezone.now()
        )
        request.refresh_from_db()
        if not won:
            raise _unavailable(request)
        meeting = meeting_services.create_meeting(
            agent.user,
            title=_("Meeting with %(name)s") % {"name": request.visitor_name},
            room_type=RoomType.PRIVATE,
            queue=request.queue,
        )
        invitation = meeting_services.create_invitation(
            meeting, name=request.visitor_name, email=request.visitor_email, invited_by=agent.user
        )
        request.meeting = meeting
        request.visitor_invitation = invitation
        request.save(update_fields=["meeting", "visitor_invitation"])
        payload = request_payload(request)
        broadcast(request_group(request.token), "request.status", visitor_status(request))
        for other in notified_agents(request.target):
            broadcast(extension_group(other.pk), "request.taken", payload)
    return meeting


def _unavailable(request: MeetingRequest) -> RequestUnavailable:
    if request.status == MeetingRequest.Status.ACCEPTED and request.claimed_by_id:
        name = request.claimed_by.display_name  # type: ignore[union-attr]
        return RequestUnavailable(_("%(name)s has already taken this request.") % {"name": name}, code="already_taken", taken_by=name)
    if request.status == MeetingRequest.Status.WAITING:  # still waiting but past its time
        return RequestUnavailable(_("This request has expired."), code="expired")
    return RequestUnavailable(
        _("This request is no longer waiting (%(status)s).") % {"status": request.get_status_display()}, code=request.status
    )


def ignore_meeting_request(request_id: int, agent: Extension) -> MeetingRequest:
    """Ignore: a personal request is declined; a queue request is hidden for this
    agent, and declined once every available agent of the queue ignored it."""
    with transaction.atomic():
        # of=self: PostgreSQL cannot lock the nullable side of the outer joins.
        request = MeetingRequest.objects.select_for_update(of=("self",)).select_related("queue", "extension").get(pk=request_id)
        if not can_answer_request(agent, request):
            raise PermissionDenied
        if request.status != MeetingRequest.Status.WAITING:
            raise _unavailable(request)
        request.ignored_by.add(agent)
        remaining = {a.pk for a in notified_agents(request.target)} - set(request.ignored_by.values_list("pk", flat=True))
        if not remaining:
            _close(request, MeetingRequest.Status.DECLINED)
        broadcast(extension_group(agent.pk), "request.ignored", request_payload(request))
    return request


def cancel_meeting_request(request: MeetingRequest) -> None:
    """The visitor gives up waiting."""
    with transaction.atomic():
        # One conditional UPDATE: an agent's claim at the same moment is never overwritten.
        if MeetingRequest.objects.filter(pk=request.pk, status=MeetingRequest.Status.WAITING).update(
            status=MeetingRequest.Status.CANCELLED, closed_at=timezone.now()
        ):
            request.refresh_from_db()
            _broadcast_closed(request)


def expire_meeting_requests(now=None) -> int:
    """Close every waiting request past its time. Safe to run any number of times."""
    now = now or timezone.now()
    count = 0
    for request in MeetingRequest.objects.filter(status=MeetingRequest.Status.WAITING, expires_at__lte=now).select_related(
        "extension", "queue"
    ):
        with transaction.atomic():
            if MeetingRequest.objects.filter(pk=request.pk, status=MeetingRequest.Status.WAITING).update(
                status=MeetingRequest.Status.EXPIRED, closed_at=now
            ):
                request.status = MeetingRequest.Status.EXPIRED
                _broadcast_closed(request)
                count += 1
    return count


def _close(request: MeetingRequest, status: str) -> None:
    request.status = status
    request.closed_at = timezone.now()
    request.save(update_fields=["status", "closed_at"])
    _broadcast_closed(request)


def _broadcast_closed(request: MeetingRequest) -> None:
    broadcast(request_group(request.token), "request.status", visitor_status(request))
    payload = request_payload(request)
    for agent in notified_agents(request.target):
        broadcast(extension_group(agent.pk), "request.closed", payload)


def visitor_status(request: MeetingRequest) -> dict:
    """What the waiting visitor's page shows."""
    status = request.status
    if status == MeetingRequest.Status.WAITING and request.expires_at <= timezone.now():
        status = MeetingRequest.Status.EXPIRED
    body: dict = {"status": status, "expires_at": request.expires_at.isoformat()}
    if status == MeetingRequest.Status.ACCEPTED:
        if request.visitor_invitation is not None:
            body["join_url"] = meeting_services.invitation_url(request.visitor_invitation, absolute=False)
        body["taken_by"] = request.claimed_by.display_name if request.claimed_by else None
    return body


def waiting_requests_for(agent: Extension):
    """Requests an agent can still answer, newest first (the web client list)."""
    return (
        MeetingRequest.objects.filter(status=MeetingRequest.Status.WAITING, expires_at__gt=timezone.now())
        .filter(Q(extension=agent) | Q(queue__agents=agent))
        .exclude(ignored_by=agent)
        .select_related("extension", "queue")
        .distinct()
    )


def recent_requests_for(agent: Extension) -> list[MeetingRequest]:
    """Requests of the agent or of its queues that stopped waiting in the last day,
    the latest first (the web client's history: who took each, or how it ended, and
    when). Visitors who went straight into a shared room asked nobody: not listed."""
    since = timezone.now() - timedelta(hours=RECENT_REQUESTS_HOURS)
    return list(
        MeetingRequest.objects.exclude(status=MeetingRequest.Status.WAITING)
        .filter(closed_at__gte=since)
        .filter(Q(extension=agent) | Q(queue__agents=agent))
        .exclude(meeting__is_personal_room=True)
        .select_related("extension", "queue", "claimed_by")
        .distinct()
        .order_by("-closed_at", "-pk")[:RECENT_REQUESTS_SHOWN]
    )


# --- The meeting report ----------------------------------------------------------------


def send_meeting_report(meeting: Meeting) -> None:
    """When a queue or Click2Meet meeting ends, the agent who took it gets its report
    (who, when, how long, chat, polls, recordings: ``meetings.report``). Registered as
    an ``after_meeting_end`` hook of the room, so the features have settled first."""
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
