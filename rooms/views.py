"""Pages of the PBX side: home, Click2Meet and the visitor's waiting page, and the
extension user's web client (their meetings, the requests that reach them). Views
read freely but write only through the services (``rooms.services``,
``meetings.services``)."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.clientip import client_ip
from core.views import add_form_errors, browser_timezone, session_key_for
from meetings import services as meeting_services
from meetings.forms import MeetingCreateForm
from meetings.models import Meeting, Participant
from rooms import access, services
from rooms.client import render_sections
from rooms.forms import MeetingRequestForm
from rooms.models import Extension, MeetingRequest, Queue

ENDED_MEETINGS_SHOWN = 10


# --- Home -----------------------------------------------------------------------------


def home(request):
    user = request.user
    if user.is_authenticated:
        if Extension.objects.filter(user=user).exists():
            return redirect("client")
        if user.is_staff:
            return redirect("admin:index")
    return redirect("login")


# --- Click2Meet -----------------------------------------------------------------------


def _target_name(target: Extension | Queue) -> str:
    return target.display_name if isinstance(target, Extension) else target.name


def _is_available(target: Extension | Queue) -> bool:
    if isinstance(target, Extension):
        return target.is_available
    return bool(services.notified_agents(target))


@require_http_methods(["GET", "HEAD", "POST"])
def click2meet(request, slug: str):
    target = services.find_click2meet_target(slug)
    if target is None:
        raise Http404
    available = _is_available(target)
    form = MeetingRequestForm(request.POST if request.method == "POST" and available else None)
    if request.method == "POST" and available and form.is_valid():
        try:
            meeting_request = services.create_meeting_request(
                target=target,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                session_key=session_key_for(request),
                ip=client_ip(request),
            )
        except services.RateLimited:
            return too_many_requests(request)
        return redirect("request_status", token=meeting_request.token)
    context = {
        "target": target,
        "target_name": _target_name(target),
        "is_queue": isinstance(target, Queue),
        "available": available,
        "form": form,
    }
    status = 409 if request.method == "POST" and not available else 200
    return render(request, "rooms/click2meet.html", context, status=status)


def too_many_requests(request):
    minutes = max(1, math.ceil(settings.PARLEY_REQUEST_RATE_WINDOW / 60))
    response = render(request, "errors/429.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(settings.PARLEY_REQUEST_RATE_WINDOW)
    return response


# --- The visitor's waiting page -------------------------------------------------------


@never_cache
@require_GET
def request_status(request, token: str):
    meeting_request = access.request_for_visitor(token, request.session.session_key)
    status = services.visitor_status(meeting_request)
    if request.GET.get("format") == "json":
        return JsonResponse(status)
    target = meeting_request.target
    context = {
        "meeting_request": meeting_request,
        "status": status,
        "target_name": _target_name(target),
        "click2meet_url": target.click2meet_url,
        "seconds_left": max(0, int((meeting_request.expires_at - timezone.now()).total_seconds())),
    }
    return render(request, "rooms/request_status.html", context)


@require_POST
def request_cancel(request, token: str):
    meeting_request = access.request_for_visitor(token, request.session.session_key)
    if meeting_request.status == MeetingRequest.Status.WAITING:
        services.cancel_meeting_request(meeting_request)
        messages.info(request, _("Your request was cancelled."))
    return redirect("request_status", token=token)


# --- The extension user's web client -------------------------------------------------------------------


def _meetings_of(user) -> dict:
    present = Count("participants", filter=Q(participants__state=Participant.State.JOINED, participants__is_recorder=False))
    mine = Meeting.objects.filter(owner=user).annotate(present=present)
    current = sorted(
        mine.filter(ended_at__isnull=True),
        # Live ones first, then by the time they are planned for.
        key=lambda m: (m.state != "live", m.scheduled_at or m.created_at),
    )
    for meeting in current:
        # What *Copy meeting link* copies, and whether those who use it wait in the lobby.
        meeting.link_url = meeting_services.meeting_link_url(meeting)  # type: ignore[attr-defined]
        meeting.link_lobby = meeting_services.link_waits_in_lobby(meeting)  # type: ignore[attr-defined]
    ended = list(mine.filter(ended_at__isnull=False).order_by("-ended_at")[:ENDED_MEETINGS_SHOWN])
    return {"current": current, "ended": ended}


def _render_client(request, extension: Extension, create_form: MeetingCreateForm):
    context = {
        "extension": extension,
        "create_form": create_form,
        "meetings": _meetings_of(request.user),
        "waiting_requests": list(services.waiting_requests_for(extension)),
        "recent_requests": services.recent_requests_for(extension),
        "sections": render_sections(request),
    }
    return render(request, "rooms/client.html", context)


@login_required
@browser_timezone
def client(request):
    extension = access.extension_for(request.user)
    return _render_client(request, extension, MeetingCreateForm())


@login_required
@require_POST
@browser_timezone
def meeting_create(request):
    extension = access.extension_for(request.user)
    form = MeetingCreateForm(request.POST)
    if form.is_valid():
        try:
            meeting = meeting_services.create_meeting(
                request.user, title=form.cleaned_data["title"], scheduled_at=form.cleaned_data["scheduled_at"]
            )
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            messages.success(request, _("Meeting “%(title)s” created. Copy its link or invite people.") % {"title": meeting.title})
            return redirect(reverse("client") + f"#meeting-{meeting.public_id}")
    return _render_client(request, extension, form)


# --- Meeting requests, the agent's side -----------------------------------------------


@login_required
@require_POST
def request_join(request, pk: int):
    agent, meeting_request = access.request_for_agent(request.user, pk)
    try:
        meeting = services.claim_meeting_request(meeting_request.pk, agent)
    except services.RequestUnavailable as unavailable:
        messages.error(request, unavailable.message)
        return redirect("client")
    messages.success(request, _("You took the request of %(name)s. Join the meeting now.") % {"name": meeting_request.visitor_name})
    return redirect("meeting_join", public_id=meeting.public_id)


@login_required
@require_POST
def request_ignore(request, pk: int):
    agent, meeting_request = access.request_for_agent(request.user, pk)
    try:
        services.ignore_meeting_request(meeting_request.pk, agent)
    except services.RequestUnavailable as unavailable:
        messages.warning(request, unavailable.message)
    else:
        messages.info(request, _("You ignored the request of %(name)s.") % {"name": meeting_request.visitor_name})
    return redirect("client")
