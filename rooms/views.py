"""Pages of the PBX side: home, Click2Meet and the visitor's waiting page, the
health check and the developer outbox. Views read freely but write only through
``rooms.services``."""

from __future__ import annotations

import logging
import math
import zoneinfo
from functools import wraps

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rooms import access, services
from rooms.forms import MeetingRequestForm
from rooms.models import Extension, MeetingRequest, OutboundEmail, Queue

logger = logging.getLogger(__name__)

TZ_COOKIE = "parley_tz"


# --- Helpers shared with meetings.views -----------------------------------------------


def session_key_for(request) -> str:
    """Guests are known by their browser session: make sure this browser has one."""
    if not request.session.session_key:
        request.session.save()
        # Saving alone does not send the cookie; a modified session does.
        request.session.modified = True
    return request.session.session_key


def browser_timezone(view):
    """Show and read dates in the browser's time zone (cookie set by base.js)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        name = request.COOKIES.get(TZ_COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name and len(name) < 64 else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            return view(request, *args, **kwargs)
        with timezone.override(zone):
            return view(request, *args, **kwargs)

    return wrapper


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


# --- Health ---------------------------------------------------------------------------


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: the database is not reachable")
        return "error"
    return "ok"


def _redis_state() -> str:
    url = settings.REDIS_URL
    if not url:
        return "not_configured"
    client = None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as error:
        logger.warning("Health check: Redis is not reachable: %s", error)
        return "unavailable"
    finally:
        if client is not None:
            client.close()
    return "ok"


def _channel_layer_state(redis_state: str) -> str:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if not backend:
        return "not_configured"
    if "InMemory" in backend:
        return "in_memory"  # live updates within this one process only
    return "ok" if redis_state == "ok" else "unavailable"


@never_cache
def health(request):
    database = _database_state()
    redis_state = _redis_state()
    layer = _channel_layer_state(redis_state)
    healthy = database == "ok" and redis_state in ("ok", "not_configured") and layer in ("ok", "in_memory")
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "redis": redis_state,
        "channel_layer": layer,
        "version": settings.VERSION,
    }
    return JsonResponse(body, status=200 if healthy else 503)


# --- The developer outbox -------------------------------------------------------------


def _staff_outbox(request) -> None:
    if not settings.PARLEY_OUTBOX_PAGE:
        raise Http404
    if not request.user.is_staff:
        raise PermissionDenied


@login_required
@browser_timezone
def outbox(request):
    _staff_outbox(request)
    page = Paginator(OutboundEmail.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "rooms/outbox.html", {"page": page})


@login_required
@browser_timezone
def outbox_message(request, pk: int):
    _staff_outbox(request)
    email = get_object_or_404(OutboundEmail, pk=pk)
    # Links open in a new tab: our own pages refuse to be framed (X-Frame-Options).
    srcdoc = '<base target="_blank">' + email.body_html
    return render(request, "rooms/outbox_message.html", {"email": email, "srcdoc": srcdoc})
