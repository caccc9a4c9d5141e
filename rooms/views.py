"""Pages of the PBX side: home, Click2Meet and the visitor's waiting page. Views read
freely but write only through ``rooms.services``."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.views import session_key_for
from rooms import access, services
from rooms.forms import MeetingRequestForm
from rooms.models import Extension, MeetingRequest, Queue

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
                ip=request.META.get("REMOTE_ADDR") or None,
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
